//! Generators of the dedup worst cases, shared by the tests
//! (`tests/dedup_worst.rs`) and the benchmark (`examples/dedup_worst.rs`,
//! which includes this file by path).
//!
//! Each returns a standalone BTF of about `n` (a few times `n`) types
//! whose dedup result is known exactly (see the tests).

#![allow(dead_code)]

use btfkit_btf::ir::{IrBtf, IrEnumValue, IrMember, IrType};

pub fn member(name: u32, ty: u32, bit_offset: u32) -> IrMember {
    IrMember {
        name,
        ty,
        bit_offset,
        bitfield_size: 0,
    }
}

fn int(ir: &mut IrBtf) -> u32 {
    let name = ir.strings.intern("int");
    ir.push(IrType::Int {
        name,
        size: 4,
        encoding: 1,
        offset: 0,
        bits: 32,
    })
}

fn one_member(ir: &mut IrBtf, name: &str, size: u32, member_name: &str, ty: u32) -> u32 {
    let name = ir.strings.intern(name);
    let m = ir.strings.intern(member_name);
    ir.push(IrType::Struct {
        name,
        size,
        members: vec![member(m, ty, 0)],
    })
}

/// `struct foo { int x; }`, then `n - 1` times `struct foo { struct foo
/// x; }` containing the previous one: every one has the same shallow
/// description (name `foo`, 4 bytes, one member `x` at 0), they differ
/// only by nesting depth, so all `n` stay distinct. The input.
pub fn nested_foo(n: usize) -> IrBtf {
    let mut ir = IrBtf::new();
    let mut prev = int(&mut ir);
    for _ in 0..n {
        prev = one_member(&mut ir, "foo", 4, "x", prev);
    }
    ir
}

/// `struct foo_i { struct foo_{i-1} x; }` (distinct names), by value.
pub fn chain_value(n: usize) -> IrBtf {
    let mut ir = IrBtf::new();
    let mut prev = int(&mut ir);
    for i in 0..n {
        prev = one_member(&mut ir, &format!("foo_{i}"), 4, "x", prev);
    }
    ir
}

/// `struct foo_i { struct foo_{i-1} *p; }` (distinct names).
pub fn chain_ptr(n: usize) -> IrBtf {
    let mut ir = IrBtf::new();
    let mut prev = int(&mut ir);
    for i in 0..n {
        let p = ir.push(IrType::Ptr(prev));
        prev = one_member(&mut ir, &format!("foo_{i}"), 8, "p", p);
    }
    ir
}

/// One `struct wide` of `n` members, member `i` a pointer to the `i`-th
/// struct of a [`nested_foo`] chain: the chain splits one struct per
/// refinement round, and `wide` refers to all of them.
pub fn fanout(n: usize) -> IrBtf {
    let mut ir = IrBtf::new();
    let mut prev = int(&mut ir);
    let mut ptrs = Vec::with_capacity(n);
    for _ in 0..n {
        prev = one_member(&mut ir, "foo", 4, "x", prev);
        ptrs.push(ir.push(IrType::Ptr(prev)));
    }
    let wide = ir.strings.intern("wide");
    let m = ir.strings.intern("m");
    let members = ptrs
        .iter()
        .enumerate()
        .map(|(i, &p)| member(m, p, 64 * i as u32))
        .collect();
    ir.push(IrType::Struct {
        name: wide,
        size: 8 * n as u32,
        members,
    });
    ir
}

/// Depth of the chains under each struct of [`deep_diff`].
pub const DEEP: usize = 12;

/// `n` structs `foo`, each the head of its own chain `foo -> *mid ->
/// *mid ... -> *leaf` of [`DEEP`] same-named structs, whose leaf holds an
/// `enum e` of one value, `i`: they differ only at the bottom. The chains
/// are generated twice (same `i`s), so each pair of copies merges.
pub fn deep_diff(n: usize) -> IrBtf {
    let mut ir = IrBtf::new();
    let int = int(&mut ir);
    let (e, v) = (ir.strings.intern("e"), ir.strings.intern("v"));
    for _copy in 0..2 {
        for i in 0..n {
            let en = ir.push(IrType::Enum {
                name: e,
                size: 4,
                signed: false,
                is64: false,
                values: vec![IrEnumValue {
                    name: v,
                    value: i as u64,
                }],
            });
            let leaf_name = ir.strings.intern("leaf");
            let (a, b) = (ir.strings.intern("a"), ir.strings.intern("b"));
            let mut prev = ir.push(IrType::Struct {
                name: leaf_name,
                size: 8,
                members: vec![member(a, en, 0), member(b, int, 32)],
            });
            for _ in 0..DEEP {
                let p = ir.push(IrType::Ptr(prev));
                prev = one_member(&mut ir, "mid", 8, "next", p);
            }
            let p = ir.push(IrType::Ptr(prev));
            one_member(&mut ir, "foo", 8, "next", p);
        }
    }
    ir
}

/// A ring of `n` structs `node { struct node *next; }` but one, `head`'s
/// member named `first`: refinement has to go round the ring (`n`
/// rounds). The ring is generated twice, so the two copies merge node by
/// node into `n` structs and `n` pointers.
pub fn ptr_cycle(n: usize) -> IrBtf {
    let mut ir = IrBtf::new();
    let node = ir.strings.intern("node");
    let (next, first) = (ir.strings.intern("next"), ir.strings.intern("first"));
    for _copy in 0..2 {
        // struct i at base + 2i, its pointer to struct i+1 at base + 2i + 1.
        let base = ir.types.len() as u32;
        for i in 0..n as u32 {
            let to = base + 2 * ((i + 1) % n as u32);
            let name = if i == 0 { first } else { next };
            ir.push(IrType::Struct {
                name: node,
                size: 8,
                members: vec![member(name, base + 2 * i + 1, 0)],
            });
            ir.push(IrType::Ptr(to));
        }
    }
    ir
}

/// A case's generator: N → the BTF of the case at size N.
pub type Generator = fn(usize) -> IrBtf;

/// Every case by name, for the benchmark.
pub const CASES: &[(&str, Generator)] = &[
    ("nested_foo", nested_foo),
    ("chain_value", chain_value),
    ("chain_ptr", chain_ptr),
    ("fanout", fanout),
    ("deep_diff", deep_diff),
    ("ptr_cycle", ptr_cycle),
];
