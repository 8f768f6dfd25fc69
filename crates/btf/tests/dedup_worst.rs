//! Dedup on its worst cases (issue 17): generated inputs whose result is
//! known exactly, and a bound on the work (`Deduped::work`) that fails
//! when the cost stops growing linearly (no timing: counted steps).

mod worst;

use btfkit_btf::dedup::{dedup, Deduped};
use btfkit_btf::ir::{IrBtf, IrType};

const N: usize = 2000;

/// `ir` followed by a copy of itself.
fn twice(ir: &IrBtf) -> IrBtf {
    let mut two = ir.clone();
    two.append(ir);
    two
}

/// Dedup of `ir` concatenated with itself gives back `ir`'s types (when
/// `ir` has no duplicates), the copy's every type mapped to its
/// original.
fn assert_twice_is_once(ir: &IrBtf) -> Deduped {
    let once = dedup(ir, 0);
    assert_eq!(once.btf.len(), ir.len(), "the input has no duplicates");
    let d = dedup(&twice(ir), 0);
    assert_eq!(d.btf.len(), ir.len());
    let n = ir.len();
    for i in 1..=n {
        assert_eq!(d.map[i + n], d.map[i], "copy of type {i}");
    }
    d
}

/// The work grows linearly: at most `per_type` steps per input type.
fn assert_linear_work(d: &Deduped, types: usize, per_type: usize) {
    assert!(
        d.work <= per_type * types,
        "{} steps for {types} types",
        d.work
    );
}

/// The input: N structs `foo` nested in one another, all of the
/// same shallow description, stay N distinct structs; concatenated with
/// itself it dedups back to N, each copy onto its original.
#[test]
fn nested_foo_stay_distinct() {
    let ir = worst::nested_foo(N);
    let d = dedup(&ir, 0);
    // int and the N foos.
    assert_eq!(d.btf.len(), N + 1);
    assert!(d.map == (0..=N as u32 + 1).collect::<Vec<_>>());
    // One refinement round per nesting level, each round touching a
    // type or two: linear work.
    assert!(d.rounds <= N + 2, "{} rounds", d.rounds);
    assert_linear_work(&d, ir.len(), 20);
    let d2 = assert_twice_is_once(&ir);
    assert_linear_work(&d2, 2 * ir.len(), 20);
}

/// The same at twice the size takes about twice the steps (the O(N³)
/// pairwise matching of same-named structs took 8 times as many).
#[test]
fn nested_foo_work_doubles_with_size() {
    let a = dedup(&twice(&worst::nested_foo(N)), 0).work;
    let b = dedup(&twice(&worst::nested_foo(2 * N)), 0).work;
    assert!(b <= 2 * a + 100, "{a} then {b} steps");
}

/// Chains of distinct names, by value and by pointer.
#[test]
fn chains_dedup_against_themselves() {
    for ir in [worst::chain_value(N), worst::chain_ptr(N)] {
        let d = assert_twice_is_once(&ir);
        assert_linear_work(&d, 2 * ir.len(), 20);
    }
}

/// One struct referring to N structs that split one per round.
#[test]
fn fanout_dedups_against_itself() {
    let ir = worst::fanout(N);
    let d = assert_twice_is_once(&ir);
    let wide = ir.len();
    let IrType::Struct { members, .. } = &d.btf.types[d.map[wide] as usize] else {
        panic!("wide is a struct")
    };
    assert_eq!(members.len(), N);
    // Member i points to the i-th foo (types 1 + 2i + 1 and 1 + 2i + 2:
    // foo, then its pointer).
    for (i, m) in members.iter().enumerate() {
        assert_eq!(m.ty, d.map[2 * i + 3], "member {i}");
    }
}

/// N structs `foo` that differ only at the bottom of a chain of
/// same-named structs: the two generated copies merge pairwise, the N
/// stay distinct.
#[test]
fn deep_differences_keep_structs_apart() {
    let ir = worst::deep_diff(N);
    let per = 2 * worst::DEEP + 4; // enum, leaf, (ptr, mid)*, ptr, foo
    assert_eq!(ir.len(), 1 + 2 * N * per);
    let d = dedup(&ir, 0);
    assert_eq!(d.btf.len(), 1 + N * per);
    let foo = |copy: usize, i: usize| 1 + (copy * N + i) * per + per;
    for i in 0..N {
        assert_eq!(d.map[foo(0, i)], d.map[foo(1, i)]);
    }
    let mut foos: Vec<u32> = (0..N).map(|i| d.map[foo(0, i)]).collect();
    foos.sort_unstable();
    foos.dedup();
    assert_eq!(foos.len(), N);
    assert_linear_work(&d, ir.len(), 20);
}

/// Two copies of a ring of N structs (one head) merge node by node.
#[test]
fn pointer_rings_merge_node_by_node() {
    let ir = worst::ptr_cycle(N);
    let d = dedup(&ir, 0);
    assert_eq!(d.btf.len(), 2 * N);
    for i in 1..=2 * N {
        assert_eq!(d.map[i], d.map[i + 2 * N], "type {i}");
    }
    assert!(d.rounds <= 2 * N + 2, "{} rounds", d.rounds);
    assert_linear_work(&d, ir.len(), 20);
}

/// A base keeps its ids and a case merged into it (as `btf merge` does)
/// maps onto it entirely.
#[test]
fn case_merged_into_itself_as_base() {
    let ir = worst::nested_foo(N);
    let m = ir.len();
    let d = dedup(&twice(&ir), m as u32);
    assert_eq!(d.btf.len(), m);
    assert!(d.map[..=m] == (0..=m as u32).collect::<Vec<_>>());
    assert!(d.map[m + 1..] == (1..=m as u32).collect::<Vec<_>>());
}

/// Declarations in play: N nested `foo`s twice, the second copy's
/// innermost one pointing to a declared `struct bar` where the first's
/// points to one of bar's two (different) definitions. The chains merge
/// through the declaration, level by level.
#[test]
fn nested_foo_through_a_declaration() {
    let mut ir = IrBtf::new();
    let (bar, a, p, x) = (
        ir.strings.intern("bar"),
        ir.strings.intern("a"),
        ir.strings.intern("p"),
        ir.strings.intern("x"),
    );
    let foo = ir.strings.intern("foo");
    let int_n = ir.strings.intern("int");
    let int = ir.push(IrType::Int {
        name: int_n,
        size: 4,
        encoding: 1,
        offset: 0,
        bits: 32,
    });
    let bar1 = ir.push(IrType::Struct {
        name: bar,
        size: 4,
        members: vec![worst::member(a, int, 0)],
    });
    let pbar = ir.push(IrType::Ptr(bar1));
    let bar2 = ir.push(IrType::Struct {
        name: bar,
        size: 4,
        members: vec![worst::member(p, pbar, 0)],
    });
    let fwd = ir.push(IrType::Fwd {
        name: bar,
        is_union: false,
    });
    let chain = |ir: &mut IrBtf, to: u32| {
        let mut prev = ir.push(IrType::Ptr(to));
        let mut ids = Vec::new();
        for _ in 0..200 {
            prev = ir.push(IrType::Struct {
                name: foo,
                size: 8,
                members: vec![worst::member(x, prev, 0)],
            });
            ids.push(prev);
        }
        ids
    };
    let defined = chain(&mut ir, bar1);
    let declared = chain(&mut ir, fwd);
    let d = dedup(&ir, 0);
    for (&a, &b) in defined.iter().zip(&declared) {
        assert_eq!(d.map[a as usize], d.map[b as usize]);
    }
    assert_eq!(d.map[fwd as usize], d.map[bar1 as usize]);
    assert_ne!(d.map[bar1 as usize], d.map[bar2 as usize]);
    // int, bar, ptr (both chains' too), bar, 200 foo.
    assert_eq!(d.btf.len(), 204, "{:?}", d.btf.types);
}

/// The fanout at twice the size takes about twice the steps: a round
/// looks at the references into the types that moved, not at the wide
/// struct's N references again (that was O(N²): 4 times the steps).
#[test]
fn fanout_work_doubles_with_size() {
    let a = dedup(&twice(&worst::fanout(N)), 0).work;
    let b = dedup(&twice(&worst::fanout(2 * N)), 0).work;
    assert!(2 * b <= 5 * a, "{a} then {b} steps");
    let d = dedup(&worst::fanout(2 * N), 0);
    assert_linear_work(&d, worst::fanout(2 * N).len(), 20);
}
