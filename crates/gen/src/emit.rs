//! Writing the kept types as a standalone BTF, with structurally
//! identical types merged.
//!
//! Merging matters for kernels whose BTF repeats types (pahole-era BTF
//! without deduplication has a copy of `task_struct` per compilation
//! unit, and every copy is a matching candidate): identical candidates
//! lead libbpf to identical decisions, so one copy is enough. Equivalence
//! is computed by partition refinement (types with the same shape whose
//! references lead to equivalent types), which handles reference cycles.

use std::collections::HashMap;

use btfkit_btf::{BtfBuilder, TypeData, TypeId, WordKind};
use btfkit_core::Target;

use crate::mark::{Marks, Members, Node};
use crate::GenError;

/// A reference from a kept type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ref {
    Void,
    Node(usize),
}

struct Shape {
    /// Everything about the record except where its references lead.
    key: Vec<u8>,
    refs: Vec<Ref>,
}

fn shape(
    target: &Target<'_>,
    nodes: &HashMap<Node, usize>,
    node: Node,
    members: &Members,
) -> Result<Shape, GenError> {
    let (owner, id) = node;
    let btf = target.btf(owner).1;
    let vmlinux_end = target.vmlinux().next_id();
    let resolve = |r: TypeId| -> Ref {
        if r.is_void() {
            return Ref::Void;
        }
        let n = if owner == 0 || r < vmlinux_end {
            (0, r)
        } else {
            (owner, r)
        };
        nodes.get(&n).map_or(Ref::Void, |&i| Ref::Node(i))
    };
    let t = btf.type_by_id(id).map_err(GenError::Btf)?;
    let mut key = Vec::new();
    let mut refs = Vec::new();
    let push_str = |key: &mut Vec<u8>, off: u32| -> Result<(), GenError> {
        let s = btf.str_bytes(off).map_err(GenError::Btf)?;
        key.extend_from_slice(&(s.len() as u32).to_le_bytes());
        key.extend_from_slice(s);
        Ok(())
    };
    key.extend_from_slice(&t.info().to_le_bytes()[3..]); // kind and kind_flag
    if let Some(ms) = t.members() {
        push_str(&mut key, t.name_off())?;
        key.extend_from_slice(&t.size_or_type().to_le_bytes());
        for (i, m) in ms.iter().enumerate() {
            if members.keeps(i as u32) {
                push_str(&mut key, m.name_off)?;
                key.extend_from_slice(&m.raw_offset.to_le_bytes());
                refs.push(resolve(m.type_id));
            }
        }
        return Ok(Shape { key, refs });
    }
    let raw = t.raw();
    let mut roles = vec![None; raw.len() / 4];
    t.word_positions(|pos, wk| roles[pos / 4] = Some(wk));
    for (w, role) in raw.chunks_exact(4).zip(&roles) {
        let v = u32::from_le_bytes(w.try_into().expect("4 bytes"));
        match role {
            Some(WordKind::Str) => push_str(&mut key, v)?,
            Some(WordKind::TypeId) => {
                key.extend_from_slice(&[0xff; 4]);
                refs.push(resolve(TypeId(v)));
            }
            None => key.extend_from_slice(w),
        }
    }
    Ok(Shape { key, refs })
}

/// Assigns each node an equivalence class: same shape, and references to
/// equivalent types in the same order. Class numbers follow first
/// appearance, so the result is deterministic.
fn classes(shapes: &[Shape], merge: bool) -> Vec<usize> {
    if !merge {
        return (0..shapes.len()).collect();
    }
    let number = |keys: Vec<Vec<u8>>| -> (Vec<usize>, usize) {
        let mut ids: HashMap<Vec<u8>, usize> = HashMap::new();
        let cls = keys
            .into_iter()
            .map(|k| {
                let next = ids.len();
                *ids.entry(k).or_insert(next)
            })
            .collect();
        (cls, ids.len())
    };
    let (mut cls, mut count) = number(shapes.iter().map(|s| s.key.clone()).collect());
    loop {
        let keys = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut k = (cls[i] as u64).to_le_bytes().to_vec();
                for r in &s.refs {
                    let c = match r {
                        Ref::Void => u64::MAX,
                        Ref::Node(n) => cls[*n] as u64,
                    };
                    k.extend_from_slice(&c.to_le_bytes());
                }
                k
            })
            .collect();
        let (next, next_count) = number(keys);
        if next_count == count {
            return cls;
        }
        cls = next;
        count = next_count;
    }
}

/// Builds the minimized BTF. With `merge`, structurally identical types
/// are written once.
pub(crate) fn emit(
    target: &Target<'_>,
    marks: &Marks,
    merge: bool,
) -> Result<(Vec<u8>, usize), GenError> {
    let order: Vec<Node> = marks.kept.keys().copied().collect();
    let index: HashMap<Node, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let shapes = order
        .iter()
        .map(|n| shape(target, &index, *n, &marks.kept[n]))
        .collect::<Result<Vec<_>, _>>()?;
    let cls = classes(&shapes, merge);
    // Representatives in node order get ids 1, 2, ...
    let mut class_id: HashMap<usize, TypeId> = HashMap::new();
    let mut reps = Vec::new();
    for (i, &c) in cls.iter().enumerate() {
        if !class_id.contains_key(&c) {
            class_id.insert(c, TypeId(reps.len() as u32 + 1));
            reps.push(i);
        }
    }
    let new_id = |r: &Ref| match r {
        Ref::Void => TypeId(0),
        Ref::Node(n) => class_id[&cls[*n]],
    };
    let mut b = BtfBuilder::new();
    for &i in &reps {
        let (owner, id) = order[i];
        let btf = target.btf(owner).1;
        let t = btf.type_by_id(id).map_err(GenError::Btf)?;
        let shape = &shapes[i];
        let got = match t.data() {
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                let members = &marks.kept[&order[i]];
                let mut kept = Vec::new();
                for (j, m) in ms.iter().enumerate() {
                    if members.keeps(j as u32) {
                        kept.push((
                            btf.str_bytes(m.name_off).map_err(GenError::Btf)?,
                            m.raw_offset,
                        ));
                    }
                }
                let parts: Vec<(&[u8], TypeId, u32)> = kept
                    .iter()
                    .zip(&shape.refs)
                    .map(|(&(name, off), r)| (name, new_id(r), off))
                    .collect();
                let name = btf.str_bytes(t.name_off()).map_err(GenError::Btf)?;
                b.add_composite_raw(t.kind(), name, t.size_or_type(), t.kflag(), &parts)
            }
            _ => {
                let mut refs = shape.refs.iter();
                b.add_type_from(btf, &t, |_| {
                    Ok(new_id(refs.next().expect("one per reference")))
                })
            }
        }
        .map_err(GenError::Btf)?;
        debug_assert_eq!(got, class_id[&cls[i]]);
    }
    Ok((b.finish(), reps.len()))
}
