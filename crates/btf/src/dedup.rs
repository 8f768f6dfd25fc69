//! Type deduplication: every set of types that describe the same thing
//! becomes one type.
//!
//! Two types are the same when they have the same kind and the same
//! "shallow" description (name, size, encoding, member names, offsets and
//! bitfield sizes, enum values, parameter names, ...) and the types they
//! refer to are, position by position, the same. That is the coarsest
//! bisimulation of the type graph, computed by partition refinement:
//! start from classes of equal shallow descriptions, split classes whose
//! members refer to different classes, until nothing splits. Cycles
//! (a struct pointing to itself through a list of others) need no special
//! case, and it merges everything libbpf's dedup merges.
//!
//! A forward declaration becomes the struct or union of its name and kind
//! when all types of that name and kind are one class (libbpf resolves
//! forward declarations the same way); then the partition is computed
//! again, since structs that differed only by pointing to a declaration
//! or to the definition are now the same.
//!
//! A prefix of the types can be fixed (a base BTF): those keep their ids,
//! and every other type equal to one of them becomes that one.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::ir::{IrBtf, IrType};

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A deduplicated BTF and where every input type went.
#[derive(Clone, Debug)]
pub struct Deduped {
    pub btf: IrBtf,
    /// Input id -> output id.
    pub map: Vec<u32>,
    /// Refinement rounds run (for diagnostics).
    pub rounds: usize,
}

/// The shallow description of a type: everything but the types it
/// refers to.
fn shallow(t: &IrType, out: &mut Vec<u32>) {
    out.clear();
    match t {
        IrType::Void => out.push(0),
        IrType::Int {
            name,
            size,
            encoding,
            offset,
            bits,
        } => out.extend([
            1,
            *name,
            *size,
            *encoding as u32,
            *offset as u32,
            *bits as u32,
        ]),
        IrType::Float { name, size } => out.extend([2, *name, *size]),
        IrType::Ptr(_) => out.push(3),
        IrType::Const(_) => out.push(4),
        IrType::Volatile(_) => out.push(5),
        IrType::Restrict(_) => out.push(6),
        IrType::TypeTag { name, .. } => out.extend([7, *name]),
        IrType::Typedef { name, .. } => out.extend([8, *name]),
        IrType::Array { nelems, .. } => out.extend([9, *nelems]),
        IrType::Struct {
            name,
            size,
            members,
        }
        | IrType::Union {
            name,
            size,
            members,
        } => {
            out.extend([
                if matches!(t, IrType::Struct { .. }) {
                    10
                } else {
                    11
                },
                *name,
                *size,
                members.len() as u32,
            ]);
            for m in members {
                out.extend([m.name, m.bit_offset, m.bitfield_size as u32]);
            }
        }
        IrType::Enum {
            name,
            size,
            signed,
            is64,
            values,
        } => {
            out.extend([
                12,
                *name,
                *size,
                *signed as u32,
                *is64 as u32,
                values.len() as u32,
            ]);
            for v in values {
                out.extend([v.name, v.value as u32, (v.value >> 32) as u32]);
            }
        }
        IrType::Fwd { name, is_union } => out.extend([13, *name, *is_union as u32]),
        IrType::Func { name, linkage, .. } => out.extend([14, *name, *linkage]),
        IrType::FuncProto { params, .. } => {
            out.extend([15, params.len() as u32]);
            out.extend(params.iter().map(|p| p.name));
        }
        IrType::Var { name, linkage, .. } => out.extend([16, *name, *linkage]),
        IrType::Datasec { name, size, vars } => {
            out.extend([17, *name, *size, vars.len() as u32]);
            for v in vars {
                out.extend([v.offset, v.size]);
            }
        }
        IrType::DeclTag {
            name, component, ..
        } => out.extend([18, *name, *component as u32]),
    }
}

/// Calls `f` with each referenced id, redirected through `alias`.
fn each_ref(t: &IrType, alias: &[u32], mut f: impl FnMut(u32)) {
    match t {
        IrType::Void
        | IrType::Int { .. }
        | IrType::Float { .. }
        | IrType::Fwd { .. }
        | IrType::Enum { .. } => {}
        IrType::Ptr(r) | IrType::Const(r) | IrType::Volatile(r) | IrType::Restrict(r) => {
            f(alias[*r as usize])
        }
        IrType::TypeTag { ty, .. } | IrType::Typedef { ty, .. } | IrType::Var { ty, .. } => {
            f(alias[*ty as usize])
        }
        IrType::Array { elem, index, .. } => {
            f(alias[*elem as usize]);
            f(alias[*index as usize]);
        }
        IrType::Struct { members, .. } | IrType::Union { members, .. } => {
            members.iter().for_each(|m| f(alias[m.ty as usize]))
        }
        IrType::Func { proto, .. } => f(alias[*proto as usize]),
        IrType::FuncProto { ret, params } => {
            f(alias[*ret as usize]);
            params.iter().for_each(|p| f(alias[p.ty as usize]));
        }
        IrType::Datasec { vars, .. } => vars.iter().for_each(|v| f(alias[v.ty as usize])),
        IrType::DeclTag { target, .. } => f(alias[*target as usize]),
    }
}

/// Classes of equal shallow descriptions.
fn initial_classes(ir: &IrBtf) -> (Vec<u32>, usize) {
    let mut map: FastMap<Vec<u32>, u32> = FastMap::default();
    let mut key = Vec::new();
    let mut class = Vec::with_capacity(ir.types.len());
    for t in &ir.types {
        shallow(t, &mut key);
        let next = map.len() as u32;
        let c = *map.entry(key.clone()).or_insert(next);
        class.push(c);
    }
    (class, map.len())
}

/// Splits classes until every member of a class refers to the same
/// classes. Returns the number of classes.
fn refine(
    ir: &IrBtf,
    alias: &[u32],
    class: &mut Vec<u32>,
    mut count: usize,
    rounds: &mut usize,
) -> usize {
    let hasher = foldhash::fast::FixedState::with_seed(0x6274_666b);
    let n = ir.types.len();
    let mut next = vec![0u32; n];
    loop {
        *rounds += 1;
        // (old class, hash of referenced classes) -> [(new class, witness)]
        let mut map: FastMap<(u32, u64), Vec<(u32, u32)>> = FastMap::default();
        let mut new_count = 0u32;
        for i in 0..n {
            let t = &ir.types[alias[i] as usize];
            let mut h = hasher.build_hasher();
            each_ref(t, alias, |r| class[r as usize].hash(&mut h));
            let key = (class[alias[i] as usize], h.finish());
            let slot = map.entry(key).or_default();
            let mut found = None;
            for &(c, w) in slot.iter() {
                // Same referenced classes, position by position?
                let wt = &ir.types[alias[w as usize] as usize];
                let mut a = Vec::new();
                each_ref(wt, alias, |r| a.push(class[r as usize]));
                let mut same = true;
                let mut k = 0;
                each_ref(t, alias, |r| {
                    same &= a.get(k) == Some(&class[r as usize]);
                    k += 1;
                });
                if same && k == a.len() {
                    found = Some(c);
                    break;
                }
            }
            next[i] = match found {
                Some(c) => c,
                None => {
                    let c = new_count;
                    new_count += 1;
                    slot.push((c, i as u32));
                    c
                }
            };
        }
        std::mem::swap(class, &mut next);
        if new_count as usize == count {
            return count;
        }
        count = new_count as usize;
    }
}

/// Deduplicates `ir`; its first `fixed` types (after void) keep their ids.
pub fn dedup(ir: &IrBtf, fixed: u32) -> Deduped {
    let n = ir.types.len();
    let fixed = (fixed as usize).min(n - 1);
    // alias[i]: the type i stands for — itself, or for a forward
    // declaration the definition it is taken to be. Every declaration
    // starts out as the first definition of its name and kind; where the
    // definitions of a name turn out not to be one class, its
    // declarations stay declarations and the partition is computed again.
    let mut alias: Vec<u32> = (0..n as u32).collect();
    let mut first_def: FastMap<(u32, bool), u32> = FastMap::default();
    for (i, t) in ir.types.iter().enumerate() {
        match t {
            IrType::Struct { name, .. } if *name != 0 => {
                first_def.entry((*name, false)).or_insert(i as u32)
            }
            IrType::Union { name, .. } if *name != 0 => {
                first_def.entry((*name, true)).or_insert(i as u32)
            }
            _ => continue,
        };
    }
    for (i, t) in ir.types.iter().enumerate() {
        if let IrType::Fwd { name, is_union } = t {
            if let Some(&d) = first_def.get(&(*name, *is_union)) {
                alias[i] = d;
            }
        }
    }
    let mut rounds = 0;
    let mut class;
    loop {
        let (c, _) = initial_classes(ir);
        class = c;
        for i in 0..n {
            class[i] = class[alias[i] as usize];
        }
        // Classes in use (declarations taken as definitions left some
        // empty), for refine to see when a round splits nothing.
        let mut seen = vec![false; n];
        let mut k = 0;
        for &c in &class {
            if !seen[c as usize] {
                seen[c as usize] = true;
                k += 1;
            }
        }
        refine(ir, &alias, &mut class, k, &mut rounds);
        // Names whose definitions are not all one class.
        let mut split: FastMap<(u32, bool), bool> = FastMap::default();
        for (i, t) in ir.types.iter().enumerate() {
            let key = match t {
                IrType::Struct { name, .. } if *name != 0 => (*name, false),
                IrType::Union { name, .. } if *name != 0 => (*name, true),
                _ => continue,
            };
            let d = first_def[&key];
            if class[i] != class[d as usize] {
                split.insert(key, true);
            }
        }
        let mut changed = false;
        for (i, (t, a)) in ir.types.iter().zip(alias.iter_mut()).enumerate() {
            if let IrType::Fwd { name, is_union } = t {
                if *a != i as u32 && split.contains_key(&(*name, *is_union)) {
                    *a = i as u32;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }

    // Output ids: fixed types keep theirs; every other class gets the next
    // id, in order of its first type. A class holding a fixed type maps
    // to the first such type.
    let mut class_out: FastMap<u32, u32> = FastMap::default();
    let mut map = vec![0u32; n];
    for i in 0..=fixed {
        map[i] = i as u32;
        class_out
            .entry(class[alias[i] as usize])
            .or_insert(i as u32);
    }
    let mut out = IrBtf {
        strings: ir.strings.clone(),
        types: ir.types[..=fixed].to_vec(),
    };
    let mut reps: Vec<usize> = Vec::new();
    for i in fixed + 1..n {
        let c = class[alias[i] as usize];
        let next = out.types.len() as u32 + reps.len() as u32;
        let id = *class_out.entry(c).or_insert_with(|| {
            reps.push(alias[i] as usize);
            next
        });
        map[i] = id;
    }
    for &r in &reps {
        let mut t = ir.types[r].clone();
        t.refs_mut(|x| *x = map[alias[*x as usize] as usize]);
        out.types.push(t);
    }
    // A forward declaration that became a definition maps where it does.
    for i in 0..n {
        map[i] = map[alias[i] as usize];
    }
    Deduped {
        btf: out,
        map,
        rounds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::IrMember;

    fn member(name: u32, ty: u32, bit_offset: u32) -> IrMember {
        IrMember {
            name,
            ty,
            bit_offset,
            bitfield_size: 0,
        }
    }

    /// Two copies of `struct list { struct list *next; int v; }` (one
    /// seeing `struct list` only declared), a third differing in a
    /// member name.
    #[test]
    fn cycles_copies_and_declarations() {
        let mut ir = IrBtf::new();
        let int_n = ir.strings.intern("int");
        let list = ir.strings.intern("list");
        let next = ir.strings.intern("next");
        let v = ir.strings.intern("v");
        let w = ir.strings.intern("w");
        // Copy 1: [1] int, [2] ptr -> [3], [3] struct list
        let int1 = ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        let p1 = ir.push(IrType::Ptr(3));
        let s1 = ir.push(IrType::Struct {
            name: list,
            size: 16,
            members: vec![member(next, p1, 0), member(v, int1, 64)],
        });
        // Copy 2: pointer to a declaration.
        let int2 = ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        let fwd = ir.push(IrType::Fwd {
            name: list,
            is_union: false,
        });
        let p2 = ir.push(IrType::Ptr(fwd));
        let s2 = ir.push(IrType::Struct {
            name: list,
            size: 16,
            members: vec![member(next, p2, 0), member(v, int2, 64)],
        });
        // Another struct of another name, same shape.
        let other = ir.strings.intern("other");
        let p3 = ir.push(IrType::Ptr(0));
        let s3 = ir.push(IrType::Struct {
            name: other,
            size: 16,
            members: vec![member(next, p3, 0), member(w, int2, 64)],
        });
        let d = dedup(&ir, 0);
        assert_eq!(d.map[s1 as usize], d.map[s2 as usize]);
        assert_eq!(d.map[int1 as usize], d.map[int2 as usize]);
        assert_eq!(d.map[p1 as usize], d.map[p2 as usize]);
        assert_eq!(d.map[fwd as usize], d.map[s1 as usize]);
        assert_ne!(d.map[s3 as usize], d.map[s1 as usize]);
        // int, ptr->list, list, void*, other.
        assert_eq!(d.btf.len(), 5, "{:?}", d.btf.types);
        // The output is consistent: list's next points to list.
        let IrType::Struct { members, .. } = &d.btf.types[d.map[s1 as usize] as usize] else {
            panic!()
        };
        assert_eq!(
            d.btf.types[members[0].ty as usize],
            IrType::Ptr(d.map[s1 as usize])
        );
    }

    #[test]
    fn ambiguous_declarations_stay() {
        let mut ir = IrBtf::new();
        let n = ir.strings.intern("s");
        let a = ir.strings.intern("a");
        let int_n = ir.strings.intern("int");
        let int = ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        ir.push(IrType::Struct {
            name: n,
            size: 4,
            members: vec![member(a, int, 0)],
        });
        ir.push(IrType::Struct {
            name: n,
            size: 8,
            members: vec![member(a, int, 32)],
        });
        let fwd = ir.push(IrType::Fwd {
            name: n,
            is_union: false,
        });
        let d = dedup(&ir, 0);
        assert_eq!(d.btf.len(), 4);
        assert_eq!(
            d.btf.types[d.map[fwd as usize] as usize],
            IrType::Fwd {
                name: n,
                is_union: false
            }
        );
    }

    #[test]
    fn fixed_prefix_keeps_its_ids() {
        let mut ir = IrBtf::new();
        let int_n = ir.strings.intern("int");
        // A base with (oddly) two equal ints: both stay.
        ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        let p = ir.push(IrType::Ptr(2));
        let int3 = ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        let p3 = ir.push(IrType::Ptr(int3));
        let d = dedup(&ir, 3);
        assert_eq!(&d.map[..4], &[0, 1, 2, 3]);
        assert_eq!(d.map[int3 as usize], 1);
        assert_eq!(d.map[p3 as usize], p);
        assert_eq!(d.btf.len(), 3);
    }
}
