//! Marking what the minimized BTF keeps: types, and for structs and
//! unions the members that relocations walk through.
//!
//! Nodes are (owner, id): owner 0 is vmlinux, k > 0 the k-th module; a
//! module's references below its first id are vmlinux types.

use std::collections::{BTreeMap, BTreeSet};

use btfkit_btf::{Btf, TypeData, TypeId};
use btfkit_core::{MatchedCand, RelocKind, Target};

/// A type of the target: which BTF owns it, and its id there.
pub type Node = (usize, TypeId);

/// How a kept struct/union keeps its members (for enums: whether the
/// values are kept, `All`, or not).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Members {
    /// Only these member indices.
    #[default]
    None,
    Some(BTreeSet<u32>),
    All,
}

impl Members {
    fn add(&mut self, idx: u32) {
        match self {
            Members::All => {}
            Members::Some(s) => {
                s.insert(idx);
            }
            Members::None => *self = Members::Some(BTreeSet::from([idx])),
        }
    }
    pub(crate) fn keeps(&self, idx: u32) -> bool {
        match self {
            Members::All => true,
            Members::Some(s) => s.contains(&idx),
            Members::None => false,
        }
    }
}

/// Everything kept so far.
#[derive(Clone, Default)]
pub(crate) struct Marks {
    /// Kept types; for composites, which members.
    pub(crate) kept: BTreeMap<Node, Members>,
    /// Candidate roots: the types relocations matched. Only these keep
    /// their typedef/modifier identity; every other reference is written
    /// to the type behind its typedefs and modifiers, which is all libbpf
    /// looks at.
    pub(crate) roots: BTreeSet<Node>,
    /// Pointers whose pointee matters (reached by type compatibility or
    /// matching walks); every other pointer is written as `void *`, which
    /// field relocations cannot tell apart.
    pub(crate) deep_ptrs: BTreeSet<Node>,
    /// Nodes whose references were walked (pointees not followed).
    walked: BTreeSet<Node>,
    /// Nodes whose references were walked, pointees included.
    walked_through_ptrs: BTreeSet<Node>,
}

/// What a relocation kind needs of a matched candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Need {
    Field,
    Matches,
    Enumval,
    Type,
    Nothing,
}

impl Need {
    pub(crate) fn of(kind: RelocKind) -> Need {
        match kind {
            k if k.is_field_based() => Need::Field,
            RelocKind::TypeMatches => Need::Matches,
            k if k.is_enumval_based() => Need::Enumval,
            RelocKind::TypeIdLocal => Need::Nothing,
            _ => Need::Type,
        }
    }
}

/// The (need, candidate, access path) triples already marked.
#[derive(Default)]
pub(crate) struct Seen(hashbrown::HashSet<SeenKey>);

#[derive(Hash, PartialEq, Eq)]
pub(crate) struct SeenKey {
    need: Need,
    btf_idx: usize,
    type_id: TypeId,
    raw: Vec<u32>,
}

/// A `SeenKey` borrowing its path, to look up without allocating. Hashes
/// alike: the fields in the same order, and a `Vec` hashes as its slice.
#[derive(Hash)]
struct SeenRef<'a> {
    need: Need,
    btf_idx: usize,
    type_id: TypeId,
    raw: &'a [u32],
}

impl hashbrown::Equivalent<SeenKey> for SeenRef<'_> {
    fn equivalent(&self, k: &SeenKey) -> bool {
        self.need == k.need
            && self.btf_idx == k.btf_idx
            && self.type_id == k.type_id
            && self.raw == k.raw.as_slice()
    }
}

impl Seen {
    /// Whether this is new (and remembers it).
    pub(crate) fn insert(&mut self, kind: RelocKind, c: &MatchedCand) -> bool {
        let need = Need::of(kind);
        // Only field needs depend on the access path.
        let raw: &[u32] = if need == Need::Field { &c.raw } else { &[] };
        let key = SeenRef {
            need,
            btf_idx: c.btf_idx,
            type_id: c.type_id,
            raw,
        };
        if self.0.contains(&key) {
            return false;
        }
        self.0.insert(SeenKey {
            need,
            btf_idx: c.btf_idx,
            type_id: c.type_id,
            raw: raw.to_vec(),
        })
    }
}

pub(crate) struct Marker<'a, 't> {
    pub(crate) target: &'a Target<'t>,
    pub(crate) marks: &'a mut Marks,
}

impl<'t> Marker<'_, 't> {
    /// The owner of `id` when reached from BTF `from`.
    fn node(&self, from: usize, id: TypeId) -> Node {
        if from == 0 || id < self.target.btf(from).1.first_id() {
            (0, id)
        } else {
            (from, id)
        }
    }

    fn btf(&self, owner: usize) -> &'t Btf<'t> {
        self.target.btf(owner).1
    }

    /// Keeps a type and what its layout needs: the types it refers to
    /// (typedef/modifier targets, array elements and index, prototype
    /// parameters) but not struct/union members, and pointees only with
    /// `follow_ptr` (otherwise a pointer to an unkept type becomes `void *`,
    /// which field relocations cannot tell apart).
    pub(crate) fn shallow(&mut self, from: usize, id: TypeId, follow_ptr: bool) {
        let mut stack = vec![self.node(from, id)];
        while let Some(node @ (owner, id)) = stack.pop() {
            if id.is_void() {
                continue;
            }
            // A walk that follows pointers covers one that does not.
            let fresh = if follow_ptr {
                self.marks.walked.insert(node);
                self.marks.walked_through_ptrs.insert(node)
            } else {
                self.marks.walked.insert(node)
            };
            if !fresh {
                continue;
            }
            self.marks.kept.entry(node).or_default();
            let Ok(t) = self.btf(owner).type_by_id(id) else {
                continue;
            };
            match t.data() {
                TypeData::Ptr(r) if follow_ptr => {
                    self.marks.deep_ptrs.insert(node);
                    stack.push(self.node(owner, r))
                }
                TypeData::Typedef(r)
                | TypeData::Volatile(r)
                | TypeData::Const(r)
                | TypeData::Restrict(r)
                | TypeData::TypeTag(r) => stack.push(self.node(owner, r)),
                TypeData::Array(a) => {
                    stack.push(self.node(owner, a.elem_type));
                    stack.push(self.node(owner, a.index_type));
                }
                TypeData::FuncProto { ret, params } => {
                    stack.push(self.node(owner, ret));
                    for p in params.iter() {
                        stack.push(self.node(owner, p.type_id));
                    }
                }
                _ => {}
            }
        }
    }

    /// Keeps member `idx` of struct/union `node` and its type.
    fn member(&mut self, node: Node, idx: u32) {
        let (owner, id) = node;
        let Ok(t) = self.btf(owner).type_by_id(id) else {
            return;
        };
        let Some(ms) = t.members() else { return };
        let Some(m) = ms.get(idx as usize) else {
            return;
        };
        self.marks.kept.entry(node).or_default().add(idx);
        // A zero-length array that is not the struct's last member must not
        // become the last kept one: libbpf treats only the last member as a
        // flexible array. Keeping the real last member preserves that.
        let last = ms.len() as u32 - 1;
        if idx != last {
            let btf = self.btf(owner);
            let is_empty_array = btf
                .skip_mods_and_typedefs(m.type_id)
                .ok()
                .and_then(|mt| mt.array())
                .is_some_and(|a| a.nelems == 0);
            if is_empty_array {
                self.member(node, last);
            }
        }
        self.shallow(owner, m.type_id, false);
    }

    /// What a candidate that matched a relocation of `kind` needs.
    pub(crate) fn matched(&mut self, kind: RelocKind, c: &MatchedCand) {
        let root = c.type_id;
        match Need::of(kind) {
            Need::Field => self.field(c.btf_idx, root, &c.raw),
            Need::Matches => self.matches(c.btf_idx, root),
            Need::Enumval => self.enumval(c.btf_idx, root),
            Need::Nothing => {}
            Need::Type => self.type_only(c.btf_idx, root),
        }
    }

    /// What a field relocation needs of one matched candidate: the root,
    /// every member on the low-level access path (anonymous ones
    /// included), and the types of those members.
    pub(crate) fn field(&mut self, from: usize, root: TypeId, raw: &[u32]) {
        self.marks.roots.insert(self.node(from, root));
        self.shallow(from, root, false);
        let mut node = self.node(from, root);
        for &idx in raw.iter().skip(1) {
            let btf = self.btf(node.0);
            let Ok(t) = btf.skip_mods_and_typedefs(node.1) else {
                return;
            };
            let here = (node.0, t.id());
            match t.data() {
                TypeData::Struct(ms) | TypeData::Union(ms) => {
                    let Some(m) = ms.get(idx as usize) else {
                        return;
                    };
                    self.member(here, idx);
                    node = self.node(node.0, m.type_id);
                }
                TypeData::Array(a) => node = self.node(node.0, a.elem_type),
                _ => return,
            }
        }
    }

    /// What type-based relocations (exists, size, id) need: the type and,
    /// through pointers, arrays and prototypes, the kinds it is made of
    /// (libbpf's type compatibility walks them, not struct members).
    pub(crate) fn type_only(&mut self, from: usize, root: TypeId) {
        self.marks.roots.insert(self.node(from, root));
        self.shallow(from, root, true);
    }

    /// What an enumerator relocation needs: the whole enum, values
    /// included (enums reached any other way keep only name, size and
    /// signedness, which is all field and type compatibility look at).
    pub(crate) fn enumval(&mut self, from: usize, root: TypeId) {
        self.marks.roots.insert(self.node(from, root));
        self.shallow(from, root, false);
        let btf = self.btf(self.node(from, root).0);
        if let Ok(t) = btf.skip_mods_and_typedefs(root) {
            let n = self.node(from, t.id());
            self.marks.kept.insert(n, Members::All);
        }
    }

    /// What TYPE_MATCHES needs: the graph libbpf's matching walks, with
    /// every member of structs and unions not behind a pointer.
    pub(crate) fn matches(&mut self, from: usize, root: TypeId) {
        self.marks.roots.insert(self.node(from, root));
        let mut stack = vec![(self.node(from, root), false)];
        let mut seen = BTreeSet::new();
        while let Some((node @ (owner, id), behind_ptr)) = stack.pop() {
            if id.is_void() || !seen.insert((node, behind_ptr)) {
                continue;
            }
            self.marks.kept.entry(node).or_default();
            let Ok(t) = self.btf(owner).type_by_id(id) else {
                continue;
            };
            let first = self.btf(owner).first_id();
            let push = |stack: &mut Vec<(Node, bool)>, r: TypeId, b: bool| {
                let n = if owner == 0 || r < first {
                    (0, r)
                } else {
                    (owner, r)
                };
                stack.push((n, b))
            };
            match t.data() {
                TypeData::Enum(_) => {
                    self.marks.kept.insert(node, Members::All);
                }
                TypeData::Struct(ms) | TypeData::Union(ms) => {
                    if behind_ptr {
                        continue;
                    }
                    self.marks.kept.insert(node, Members::All);
                    for m in ms.iter() {
                        push(&mut stack, m.type_id, false);
                    }
                }
                TypeData::Ptr(r) => {
                    self.marks.deep_ptrs.insert(node);
                    push(&mut stack, r, true)
                }
                TypeData::Typedef(r)
                | TypeData::Volatile(r)
                | TypeData::Const(r)
                | TypeData::Restrict(r)
                | TypeData::TypeTag(r) => push(&mut stack, r, behind_ptr),
                TypeData::Array(a) => {
                    push(&mut stack, a.elem_type, behind_ptr);
                    push(&mut stack, a.index_type, behind_ptr);
                }
                TypeData::FuncProto { ret, params } => {
                    push(&mut stack, ret, behind_ptr);
                    for p in params.iter() {
                        push(&mut stack, p.type_id, behind_ptr);
                    }
                }
                _ => {}
            }
        }
    }
}
