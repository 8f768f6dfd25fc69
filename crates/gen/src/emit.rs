//! Writing the kept types as a standalone BTF.
//!
//! Two reductions beyond what the marks say, both invisible to libbpf:
//! - references go to the type behind typedefs and modifiers (libbpf
//!   skips them everywhere but at a candidate's root), so only typedefs
//!   and modifiers that are candidates themselves are written;
//! - structurally identical types are written once. This matters for
//!   kernels whose BTF repeats types (pahole-era BTF without deduplication
//!   has a copy of `task_struct` per compilation unit, and every copy is a
//!   matching candidate): identical candidates lead libbpf to identical
//!   decisions. Equivalence is computed by partition refinement (same
//!   shape, references to equivalent types), which handles cycles.

use std::collections::{BTreeSet, HashMap};

use btfkit_btf::{BtfBuilder, Kind, TypeData, TypeId, WordKind};
use btfkit_core::Target;

use crate::mark::{Marks, Members, Node};
use crate::GenError;

/// A reference from a written type.
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

struct Ctx<'a, 't> {
    target: &'a Target<'t>,
    marks: &'a Marks,
}

impl Ctx<'_, '_> {
    fn node(&self, from: usize, id: TypeId) -> Node {
        if from == 0 || id < self.target.btf(from).1.first_id() {
            (0, id)
        } else {
            (from, id)
        }
    }

    /// The type behind typedefs and modifiers; None for void.
    fn collapse(&self, from: usize, id: TypeId) -> Result<Option<Node>, GenError> {
        let n = self.node(from, id);
        let t = self
            .target
            .btf(n.0)
            .1
            .skip_mods_and_typedefs(n.1)
            .map_err(GenError::Btf)?;
        Ok((!t.is_void()).then(|| self.node(n.0, t.id())))
    }

    /// The references a written node makes, as (target, through a pointer).
    fn refs(&self, node: Node) -> Result<Vec<(Option<Node>, bool)>, GenError> {
        let (owner, id) = node;
        let btf = self.target.btf(owner).1;
        let t = btf.type_by_id(id).map_err(GenError::Btf)?;
        let members = &self.marks.kept[&node];
        let mut out = Vec::new();
        match t.data() {
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                for (i, m) in ms.iter().enumerate() {
                    if members.keeps(i as u32) {
                        out.push((self.collapse(owner, m.type_id)?, false));
                    }
                }
            }
            TypeData::Enum(_) => {}
            _ => {
                let ptr = t.kind() == Kind::Ptr;
                let mut ids = Vec::new();
                t.for_each_type_ref(|r| ids.push(r));
                for r in ids {
                    // Pointees matter only to compatibility and matching
                    // walks; elsewhere a pointer is written as `void *`.
                    let c = if ptr && !self.marks.deep_ptrs.contains(&node) {
                        None
                    } else {
                        self.collapse(owner, r)?
                    };
                    out.push((c, ptr));
                }
            }
        }
        Ok(out)
    }
}

fn shape(ctx: &Ctx<'_, '_>, index: &HashMap<Node, usize>, node: Node) -> Result<Shape, GenError> {
    let (owner, id) = node;
    let btf = ctx.target.btf(owner).1;
    let t = btf.type_by_id(id).map_err(GenError::Btf)?;
    let refs = ctx
        .refs(node)?
        .into_iter()
        .map(|(n, _)| {
            n.and_then(|n| index.get(&n))
                .map_or(Ref::Void, |&i| Ref::Node(i))
        })
        .collect();
    let mut key = Vec::new();
    let push_str = |key: &mut Vec<u8>, off: u32| -> Result<(), GenError> {
        let s = btf.str_bytes(off).map_err(GenError::Btf)?;
        key.extend_from_slice(&(s.len() as u32).to_le_bytes());
        key.extend_from_slice(s);
        Ok(())
    };
    key.extend_from_slice(&t.info().to_le_bytes()[3..]); // kind and kind_flag
    let members = &ctx.marks.kept[&node];
    match t.data() {
        TypeData::Struct(ms) | TypeData::Union(ms) => {
            push_str(&mut key, t.name_off())?;
            key.extend_from_slice(&t.size_or_type().to_le_bytes());
            for (i, m) in ms.iter().enumerate() {
                if members.keeps(i as u32) {
                    push_str(&mut key, m.name_off)?;
                    key.extend_from_slice(&m.raw_offset.to_le_bytes());
                }
            }
        }
        TypeData::Enum(_) if *members != Members::All => {
            push_str(&mut key, t.name_off())?;
            key.extend_from_slice(&t.size_or_type().to_le_bytes());
        }
        _ => {
            let raw = t.raw();
            let mut roles = vec![None; raw.len() / 4];
            t.word_positions(|pos, wk| roles[pos / 4] = Some(wk));
            for (w, role) in raw.chunks_exact(4).zip(&roles) {
                match role {
                    Some(WordKind::Str) => {
                        push_str(&mut key, u32::from_le_bytes(w.try_into().expect("4 bytes")))?
                    }
                    Some(WordKind::TypeId) => key.extend_from_slice(&[0xff; 4]),
                    None => key.extend_from_slice(w),
                }
            }
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

/// The nodes written: candidate roots and what they reach through
/// collapsed references.
fn written(ctx: &Ctx<'_, '_>) -> Result<Vec<Node>, GenError> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<Node> = ctx.marks.roots.iter().rev().copied().collect();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        for (r, _) in ctx.refs(n)? {
            if let Some(r) = r {
                if !seen.contains(&r) {
                    stack.push(r);
                }
            }
        }
    }
    Ok(seen.into_iter().collect())
}

/// Builds the minimized BTF. With `merge`, structurally identical types
/// are written once. Returns the raw BTF and its type count.
pub(crate) fn emit(
    target: &Target<'_>,
    marks: &Marks,
    merge: bool,
) -> Result<(Vec<u8>, usize), GenError> {
    let ctx = Ctx { target, marks };
    let order = written(&ctx)?;
    let index: HashMap<Node, usize> = order.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let shapes = order
        .iter()
        .map(|n| shape(&ctx, &index, *n))
        .collect::<Result<Vec<_>, _>>()?;
    let cls = classes(&shapes, merge);
    // One representative per class (its first node); ids follow a
    // depth-first walk from the candidate roots sorted by name, so that
    // kernels with the same types produce the same layout of output (it
    // compresses far better across kernels, and identical results become
    // byte-identical whatever the kernels' own type order).
    let mut rep_of_class: HashMap<usize, usize> = HashMap::new();
    for (i, &c) in cls.iter().enumerate() {
        rep_of_class.entry(c).or_insert(i);
    }
    let mut roots: Vec<(Vec<u8>, u8, usize)> = marks
        .roots
        .iter()
        .filter_map(|n| index.get(n))
        .map(|&i| {
            let (owner, id) = order[i];
            let btf = target.btf(owner).1;
            let t = btf.type_by_id(id).map_err(GenError::Btf)?;
            Ok((
                btf.str_bytes(t.name_off()).map_err(GenError::Btf)?.to_vec(),
                t.kind().to_raw(),
                i,
            ))
        })
        .collect::<Result<_, GenError>>()?;
    roots.sort();
    let mut class_id: HashMap<usize, TypeId> = HashMap::new();
    let mut reps = Vec::new();
    let mut stack: Vec<usize> = roots
        .iter()
        .rev()
        .map(|r| rep_of_class[&cls[r.2]])
        .collect();
    while let Some(i) = stack.pop() {
        if class_id.contains_key(&cls[i]) {
            continue;
        }
        class_id.insert(cls[i], TypeId(reps.len() as u32 + 1));
        reps.push(i);
        for r in shapes[i].refs.iter().rev() {
            if let Ref::Node(n) = r {
                let rep = rep_of_class[&cls[*n]];
                if !class_id.contains_key(&cls[rep]) {
                    stack.push(rep);
                }
            }
        }
    }
    let new_id = |r: &Ref| match r {
        Ref::Void => TypeId(0),
        Ref::Node(n) => class_id[&cls[*n]],
    };
    let mut b = BtfBuilder::new();
    for &i in &reps {
        let node = order[i];
        let btf = target.btf(node.0).1;
        let t = btf.type_by_id(node.1).map_err(GenError::Btf)?;
        let shape = &shapes[i];
        let members = &marks.kept[&node];
        let name = btf.str_bytes(t.name_off()).map_err(GenError::Btf)?;
        let got = match t.data() {
            TypeData::Struct(ms) | TypeData::Union(ms) => {
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
                    .map(|(&(n, off), r)| (n, new_id(r), off))
                    .collect();
                b.add_composite_raw(t.kind(), name, t.size_or_type(), t.kflag(), &parts)
            }
            TypeData::Enum(_) if *members != Members::All => {
                b.add_enum_without_values(t.kind(), name, t.size_or_type(), t.kflag())
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
