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
//!
//! Cost: refinement only looks again at types whose references changed
//! class, and then only at those references, so N structs that differ
//! only N levels down cost N rounds of O(1) each, and so does one struct
//! referring to all N. The contextual resolution of declarations only tries
//! classes against each other when one of them reaches a declaration
//! that can stand for another type (or a class it already merged): two
//! other classes are distinct in the bisimulation and cannot match, and
//! trying them pairwise was O(N³) on N same-named nested structs
//! (issue 17; `tests/dedup_worst.rs`, `examples/dedup_worst.rs`).

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};

use crate::fast::{FastMap, FastSet};
use crate::ir::{IrBtf, IrType};

/// A deduplicated BTF and where every input type went.
#[derive(Clone, Debug)]
pub struct Deduped {
    /// The deduplicated types: the fixed prefix first, then one type per
    /// remaining class, in order of each class's first input type.
    pub btf: IrBtf,
    /// Input id -> output id.
    pub map: Vec<u32>,
    /// Refinement rounds run (for diagnostics).
    pub rounds: usize,
    /// Steps taken (for diagnostics and tests of the cost): class
    /// references read while refining, type pairs compared while
    /// matching through declarations. Grows linearly with the input on
    /// every shape tested (see `tests/dedup_worst.rs`).
    pub work: usize,
}

/// What [`Deduped::rounds`] and [`Deduped::work`] count.
#[derive(Default)]
struct Counters {
    rounds: usize,
    work: usize,
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
        IrType::TypeTag {
            name, attribute, ..
        } => out.extend([7, *name, u32::from(*attribute)]),
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
            name,
            component,
            attribute,
            ..
        } => out.extend([18, *name, *component as u32, u32::from(*attribute)]),
    }
}

/// Calls `f` with each referenced id, redirected through `alias`.
fn each_ref(t: &IrType, alias: &[u32], mut f: impl FnMut(u32)) {
    t.refs(|r| f(alias[r as usize]));
}

/// Classes of equal shallow descriptions.
fn initial_classes(ir: &IrBtf) -> (Vec<u32>, usize) {
    let mut map: FastMap<Vec<u32>, u32> = FastMap::default();
    let mut key = Vec::new();
    let mut class = Vec::with_capacity(ir.types.len());
    for t in &ir.types {
        shallow(t, &mut key);
        let c = match map.get(&key) {
            Some(&c) => c,
            None => {
                let c = map.len() as u32;
                map.insert(key.clone(), c);
                c
            }
        };
        class.push(c);
    }
    (class, map.len())
}

/// Splits classes until every member of a class refers to the same
/// classes.
///
/// Only types that refer to a type whose class changed in the previous
/// round are looked at again (the first round looks at all): a type none
/// of whose references changed class still has the signature its class
/// had. Of a class whose looked-at members fall into several groups, the
/// groups move to new classes, except, when every member was looked at,
/// the largest, which keeps the class (so its referrers need no look).
///
/// From the second round on, looked-at types are grouped by their change
/// list (position and new class of each reference that moved in the
/// last round) rather than by their full signature. That is exact: at
/// the start of a round the members of a class agree on their
/// signatures of the round before, and a moved reference's class is
/// fresh (it appears in no signature of the round before), so two
/// members have the same signature exactly when they have the same
/// change list. A round then costs the edges into moved types, not the
/// full degree of the types looking at them: one struct of N members
/// pointing to N types that split one per round was O(N²)
/// (`fanout` in `tests/dedup_worst.rs`).
fn refine(ir: &IrBtf, alias: &[u32], class: &mut [u32], count: &mut Counters) {
    let referrers = Referrers::new(ir, alias);
    let mut sizes = ClassSizes::new(class);
    let mut looked = LookedAt::all(ir, alias, class, count);
    let mut moved: Vec<(u32, u32)> = Vec::new();
    let mut changed: Vec<u32> = Vec::new();
    while !looked.keyed.is_empty() {
        count.rounds += 1;
        looked.split_classes(&mut sizes, &mut moved);
        // Class changes are applied only after the round: every
        // signature compared in it saw the classes as the round began.
        changed.clear();
        for &(i, id) in &moved {
            class[i as usize] = id;
            changed.push(i);
        }
        moved.clear();
        looked.referrers_of_moved(&referrers, &changed, class, count);
    }
}

/// Who refers to each type, with the position of the reference in the
/// referrer: the type graph reversed (CSR: `list[start[t]..start[t +
/// 1]]`). A type's references are those of the type it stands for.
struct Referrers {
    start: Vec<u32>,
    list: Vec<(u32, u32)>,
}

impl Referrers {
    fn new(ir: &IrBtf, alias: &[u32]) -> Self {
        let n = ir.types.len();
        let mut start = vec![0u32; n + 1];
        for i in 0..n {
            each_ref(&ir.types[alias[i] as usize], alias, |r| {
                start[r as usize + 1] += 1
            });
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut list = vec![(0u32, 0u32); start[n] as usize];
        for i in 0..n {
            let mut pos = 0u32;
            each_ref(&ir.types[alias[i] as usize], alias, |r| {
                list[fill[r as usize] as usize] = (i as u32, pos);
                fill[r as usize] += 1;
                pos += 1;
            });
        }
        Referrers { start, list }
    }

    /// The (referrer, position) pairs of the references to `t`.
    fn of(&self, t: u32) -> &[(u32, u32)] {
        &self.list[self.start[t as usize] as usize..self.start[t as usize + 1] as usize]
    }
}

/// The number of types in each class, by class id, and the next fresh
/// id. Ids only grow (a split takes fresh ids), at most one new id per
/// type, so the sizes are sized once.
struct ClassSizes {
    size: Vec<u32>,
    next_id: u32,
}

impl ClassSizes {
    fn new(class: &[u32]) -> Self {
        let next_id = class.iter().map(|&c| c + 1).max().unwrap_or(0);
        let mut size = vec![0u32; next_id as usize + class.len()];
        for &c in class {
            size[c as usize] += 1;
        }
        ClassSizes { size, next_id }
    }

    /// Moves the groups of class `c`'s looked-at members to fresh
    /// classes (recorded in `moved` as (type, new class)), except, when
    /// `whole` (every member was looked at), the largest group, which
    /// keeps `c` so that its referrers need no look. A whole class in
    /// one group does not split.
    fn split(
        &mut self,
        c: u32,
        whole: bool,
        groups: &mut Vec<SignatureGroup>,
        moved: &mut Vec<(u32, u32)>,
    ) {
        if whole && groups.len() == 1 {
            return;
        }
        if whole {
            let big = (0..groups.len())
                .max_by_key(|&k| (groups[k].1.len(), std::cmp::Reverse(k)))
                .unwrap();
            groups.swap_remove(big);
        }
        for (_, group) in groups.drain(..) {
            let id = self.next_id;
            self.next_id += 1;
            self.size[c as usize] -= group.len() as u32;
            self.size[id as usize] = group.len() as u32;
            moved.extend(group.iter().map(|&i| (i, id)));
        }
    }
}

/// Members of one class with one signature: (where the signature is in
/// [`LookedAt::sigbuf`], its length), and the members.
type SignatureGroup = ((usize, usize), Vec<u32>);

/// The types one round of [`refine`] looks at, each with its signature:
/// the full list of referred classes in the first round, the change
/// list after.
struct LookedAt {
    /// (class, signature hash, type, where its signature starts in
    /// `sigbuf`).
    keyed: Vec<(u32, u64, u32, u32)>,
    /// The signatures, each ended by `u32::MAX` (no class id or position
    /// reaches it).
    sigbuf: Vec<u32>,
    hasher: foldhash::fast::FixedState,
    /// One class's looked-at members, grouped by signature (reused
    /// between classes).
    groups: Vec<SignatureGroup>,
    /// References into moved types: (referrer, position, new class)
    /// (reused between rounds).
    edges: Vec<(u32, u32, u32)>,
}

impl LookedAt {
    /// The first round's: every type, by the classes it refers to.
    fn all(ir: &IrBtf, alias: &[u32], class: &[u32], count: &mut Counters) -> Self {
        let mut looked = LookedAt {
            keyed: Vec::new(),
            sigbuf: Vec::new(),
            hasher: foldhash::fast::FixedState::with_seed(0x6274_666b),
            groups: Vec::new(),
            edges: Vec::new(),
        };
        for i in 0..ir.types.len() {
            let from = looked.sigbuf.len();
            each_ref(&ir.types[alias[i] as usize], alias, |r| {
                looked.sigbuf.push(class[r as usize])
            });
            count.work += looked.sigbuf.len() - from + 1;
            looked.push(class[i], i as u32, from);
        }
        looked
    }

    /// Keys type `t` of class `c` by the signature in `sigbuf[from..]`,
    /// and ends that signature.
    fn push(&mut self, c: u32, t: u32, from: usize) {
        let h = self.hasher.hash_one(&self.sigbuf[from..]);
        self.keyed.push((c, h, t, from as u32));
        self.sigbuf.push(u32::MAX);
    }

    /// The signature stored from `from`, up to its end marker.
    fn signature(&self, from: usize) -> &[u32] {
        let len = self.sigbuf[from..]
            .iter()
            .position(|&x| x == u32::MAX)
            .unwrap();
        &self.sigbuf[from..from + len]
    }

    /// Splits each class whose looked-at members have different
    /// signatures (see [`ClassSizes::split`]).
    fn split_classes(&mut self, sizes: &mut ClassSizes, moved: &mut Vec<(u32, u32)>) {
        // A class's looked-at members become adjacent, equal hashes
        // within.
        self.keyed.sort_unstable();
        let mut a = 0;
        while a < self.keyed.len() {
            let c = self.keyed[a].0;
            let mut b = a;
            while b < self.keyed.len() && self.keyed[b].0 == c {
                b += 1;
            }
            self.group_by_signature(a, b);
            let whole = (b - a) as u32 == sizes.size[c as usize];
            sizes.split(c, whole, &mut self.groups, moved);
            a = b;
        }
    }

    /// Groups `keyed[a..b]` (one class's looked-at members) by exact
    /// signature into `groups`. Equal hashes are adjacent; a collision
    /// only adds a group.
    fn group_by_signature(&mut self, a: usize, b: usize) {
        self.groups.clear();
        let mut k = a;
        while k < b {
            let h = self.keyed[k].1;
            let first = self.groups.len();
            while k < b && self.keyed[k].1 == h {
                let i = self.keyed[k].2;
                let from = self.keyed[k].3 as usize;
                let sig = self.signature(from);
                let at = (first..self.groups.len()).find(|&p| {
                    let (o, l) = self.groups[p].0;
                    self.sigbuf[o..o + l] == *sig
                });
                match at {
                    Some(p) => self.groups[p].1.push(i),
                    None => self.groups.push(((from, sig.len()), vec![i])),
                }
                k += 1;
            }
        }
    }

    /// The next round's: the referrers of the types that `changed` class,
    /// each by its change list (position and new class of each reference
    /// that moved).
    fn referrers_of_moved(
        &mut self,
        referrers: &Referrers,
        changed: &[u32],
        class: &[u32],
        count: &mut Counters,
    ) {
        self.edges.clear();
        for &t in changed {
            let c = class[t as usize];
            for &(r, pos) in referrers.of(t) {
                self.edges.push((r, pos, c));
            }
        }
        self.edges.sort_unstable();
        self.keyed.clear();
        self.sigbuf.clear();
        let mut e = 0;
        while e < self.edges.len() {
            let r = self.edges[e].0;
            let from = self.sigbuf.len();
            while e < self.edges.len() && self.edges[e].0 == r {
                self.sigbuf.extend([self.edges[e].1, self.edges[e].2]);
                e += 1;
            }
            count.work += (self.sigbuf.len() - from) / 2 + 1;
            self.push(class[r as usize], r, from);
        }
    }
}

/// The coarsest partition of the types, declarations standing for the
/// types `alias` says.
fn classify(ir: &IrBtf, shallow_class: &[u32], alias: &[u32], count: &mut Counters) -> Vec<u32> {
    let n = ir.types.len();
    let mut class = shallow_class.to_vec();
    for i in 0..n {
        class[i] = class[alias[i] as usize];
    }
    refine(ir, alias, &mut class, count);
    class
}

/// A name and what it names (0 struct, 1 union, 2 enum).
type DeclKey = (u32, u8);

/// What a definition defines: a named struct, union, or enum with
/// enumerators.
fn definition_key(t: &IrType) -> Option<DeclKey> {
    match t {
        IrType::Struct { name, .. } if *name != 0 => Some((*name, 0)),
        IrType::Union { name, .. } if *name != 0 => Some((*name, 1)),
        IrType::Enum { name, values, .. } if *name != 0 && !values.is_empty() => Some((*name, 2)),
        _ => None,
    }
}

/// What a forward declaration declares: a FWD, or an enum without
/// enumerators (`enum e;`, which libbpf resolves like a FWD).
fn declaration_key(t: &IrType) -> Option<DeclKey> {
    match t {
        IrType::Fwd { name, is_union } => Some((*name, *is_union as u8)),
        IrType::Enum { name, values, .. } if *name != 0 && values.is_empty() => Some((*name, 2)),
        _ => None,
    }
}

fn is_composite(t: &IrType) -> bool {
    matches!(t, IrType::Struct { .. } | IrType::Union { .. })
}

/// A bucket of struct and union classes that could match: in order of
/// first type, and the marked ones (see [`DeclMerge::marked`]) by
/// position, which are all an unmarked class can match.
#[derive(Default)]
struct Bucket {
    all: Vec<u32>,
    marked: BTreeMap<u32, u32>,
}

/// One pass of libbpf's struct deduplication over a partition (see
/// [`merge_through_declarations`]).
///
/// Matching two classes walks both type graphs in step. Most classes
/// share a bucket with many others that cannot match (N structs `foo`
/// nested in one another differ only at the bottom and hash alike), and
/// trying each against each walked O(N) deep: O(N³). What makes the
/// walk cheap to skip: the partition is the coarsest bisimulation, so a
/// walk that meets only plain classes (no declaration that could stand
/// for another type, no class merged by this pass) pairs up equal
/// classes only, and fails between two distinct ones. So two classes
/// neither of which reaches such a "tainted" class are never tried;
/// `marked` (reaches a tainted class) is kept up to date as merges
/// taint classes, each class marked once.
struct DeclMerge<'a> {
    ir: &'a IrBtf,
    shallow_class: &'a [u32],
    alias: &'a [u32],
    class: &'a [u32],
    /// A type standing for each class.
    rep: Vec<u32>,
    /// Classes in order of their first type.
    order: Vec<u32>,
    /// Union-find over classes: what each class was merged into.
    parent: Vec<u32>,
    /// The classes that refer to each class (CSR: `referrers[start[c]..
    /// start[c + 1]]`).
    start: Vec<u32>,
    referrers: Vec<u32>,
    /// The class reaches (or is) a declaration that can match another
    /// class, or a class merged by this pass.
    marked: Vec<bool>,
    /// Where a class that went into a bucket is: (bucket, position).
    slot: FastMap<u32, (u64, u32)>,
    buckets: FastMap<u64, Bucket>,
    /// The pairing of the current match: canonical side -> candidate side.
    hypot: FastMap<u32, u32>,
    /// Pairs of classes no walk can pair up until the next merge: each
    /// differs in itself (kind, size, names, declaration, number of
    /// references), or refers to such a pair. Real kernels' BTF before
    /// pahole deduplicated it (CentOS 8: 560,000 types, few equal) has
    /// buckets of many distinct copies of a struct whose walks all meet
    /// the same differing pairs.
    unequal: FastSet<(u32, u32)>,
    /// Pairs compared.
    work: usize,
    bufs: MatchBufs,
}

/// Pairs to compare (with the index in the trail of the pair that
/// reached them); the pairs walked, with theirs; two reference lists.
#[derive(Default)]
struct MatchBufs {
    work: Vec<(u32, u32, u32)>,
    trail: Vec<(u32, u32, u32)>,
    ra: Vec<u32>,
    rb: Vec<u32>,
}

impl<'a> DeclMerge<'a> {
    fn new(ir: &'a IrBtf, shallow_class: &'a [u32], alias: &'a [u32], class: &'a [u32]) -> Self {
        let classes = class.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
        let mut rep = vec![u32::MAX; classes];
        let mut order = Vec::new();
        for (i, &c) in class.iter().enumerate() {
            if rep[c as usize] == u32::MAX {
                rep[c as usize] = alias[i];
                order.push(c);
            }
        }
        let mut m = DeclMerge {
            ir,
            shallow_class,
            alias,
            class,
            rep,
            order,
            parent: (0..classes as u32).collect(),
            start: Vec::new(),
            referrers: Vec::new(),
            marked: vec![false; classes],
            slot: FastMap::default(),
            buckets: FastMap::default(),
            hypot: FastMap::default(),
            unequal: FastSet::default(),
            work: 0,
            bufs: MatchBufs::default(),
        };
        m.build_referrers();
        m.mark_open_declarations();
        m
    }

    fn ty(&self, c: u32) -> &'a IrType {
        &self.ir.types[self.rep[c as usize] as usize]
    }

    fn shallow_of(&self, c: u32) -> u32 {
        self.shallow_class[self.rep[c as usize] as usize]
    }

    /// The classes `c`'s type refers to, in order.
    fn refs(&self, c: u32, out: &mut Vec<u32>) {
        out.clear();
        each_ref(self.ty(c), self.alias, |r| out.push(self.class[r as usize]));
    }

    fn find(&mut self, mut c: u32) -> u32 {
        while self.parent[c as usize] != c {
            let p = self.parent[c as usize];
            self.parent[c as usize] = self.parent[p as usize];
            c = p;
        }
        c
    }

    /// The class graph reversed.
    fn build_referrers(&mut self) {
        let mut start = vec![0u32; self.rep.len() + 1];
        let mut refs = Vec::new();
        for &c in &self.order {
            self.refs(c, &mut refs);
            refs.iter().for_each(|&r| start[r as usize + 1] += 1);
        }
        for i in 0..self.rep.len() {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut referrers = vec![0u32; start[self.rep.len()] as usize];
        for &c in &self.order {
            self.refs(c, &mut refs);
            for &r in &refs {
                referrers[fill[r as usize] as usize] = c;
                fill[r as usize] += 1;
            }
        }
        self.start = start;
        self.referrers = referrers;
    }

    /// Taints the declarations that can match a class other than their
    /// own: those of a name and kind that has a definition, or more than
    /// one class of declarations. (A lone declaration of an undefined
    /// name pairs only with itself.)
    fn mark_open_declarations(&mut self) {
        let mut defs: FastMap<DeclKey, u32> = FastMap::default();
        let mut decls: FastMap<DeclKey, u32> = FastMap::default();
        for &c in &self.order {
            let t = self.ty(c);
            if let Some(k) = definition_key(t) {
                *defs.entry(k).or_default() += 1;
            } else if let Some(k) = declaration_key(t) {
                *decls.entry(k).or_default() += 1;
            }
        }
        for i in 0..self.order.len() {
            let c = self.order[i];
            if let Some(k) = declaration_key(self.ty(c)) {
                if defs.contains_key(&k) || decls[&k] > 1 {
                    self.taint(c);
                }
            }
        }
    }

    /// Marks `c` and every class that reaches it (each class once).
    fn taint(&mut self, c: u32) {
        if self.marked[c as usize] {
            return;
        }
        self.marked[c as usize] = true;
        let mut stack = vec![c];
        while let Some(x) = stack.pop() {
            if let Some(&(h, pos)) = self.slot.get(&x) {
                let b = self.buckets.get_mut(&h).expect("bucket of a slot");
                b.marked.insert(pos, x);
            }
            let (a, b) = (self.start[x as usize], self.start[x as usize + 1]);
            for k in a..b {
                let r = self.referrers[k as usize];
                if !self.marked[r as usize] {
                    self.marked[r as usize] = true;
                    stack.push(r);
                }
            }
        }
    }

    /// Which bucket `c` goes into: a hash of its shallow description and
    /// of what its references lead to, through the same chains of
    /// pointers, modifiers, typedefs and arrays, up to a type of a
    /// shallow description or one defining or declaring a name.
    fn bucket_of(&self, c: u32, refs: &mut Vec<u32>) -> u64 {
        let hasher = foldhash::fast::FixedState::with_seed(0x6677_6473);
        let mut h = hasher.build_hasher();
        self.shallow_of(c).hash(&mut h);
        self.refs(c, refs);
        for &r0 in refs.iter() {
            let mut r = r0;
            for _ in 0..32 {
                let t = self.ty(r);
                if let Some(k) = definition_key(t).or_else(|| declaration_key(t)) {
                    k.hash(&mut h);
                    break;
                }
                self.shallow_of(r).hash(&mut h);
                match t {
                    IrType::Ptr(x)
                    | IrType::Const(x)
                    | IrType::Volatile(x)
                    | IrType::Restrict(x)
                    | IrType::Typedef { ty: x, .. }
                    | IrType::TypeTag { ty: x, .. }
                    | IrType::Array { elem: x, .. } => {
                        r = self.class[self.alias[*x as usize] as usize]
                    }
                    _ => break,
                }
            }
            0xffu8.hash(&mut h);
        }
        h.finish()
    }

    /// Whether `c`'s type graph matches `canon`'s, a declaration matching
    /// any struct or union of its name and kind; `hypot` is left holding
    /// the pairing.
    fn matches(&mut self, c: u32, canon: u32) -> bool {
        // The buffers are kept across calls (a pass makes many).
        let mut bufs = std::mem::take(&mut self.bufs);
        let ok = self.walk(c, canon, &mut bufs);
        self.bufs = bufs;
        ok
    }

    fn walk(&mut self, c: u32, canon: u32, bufs: &mut MatchBufs) -> bool {
        let MatchBufs {
            work,
            trail,
            ra,
            rb,
        } = bufs;
        self.hypot.clear();
        work.clear();
        trail.clear();
        work.push((c, canon, u32::MAX));
        while let Some((a, b, from)) = work.pop() {
            self.work += 1;
            let (a, b) = (self.find(a), self.find(b));
            if a == b {
                continue;
            }
            if let Some(&h) = self.hypot.get(&b) {
                // A conflict with this walk's pairing: says nothing of
                // the pair elsewhere.
                if h != a {
                    return false;
                }
                continue;
            }
            self.hypot.insert(b, a);
            if self.unequal.contains(&(a, b)) {
                self.record_unequal(trail, from);
                return false;
            }
            let (ta, tb) = (self.ty(a), self.ty(b));
            match (declaration_key(ta), declaration_key(tb)) {
                (Some(x), None) if definition_key(tb) == Some(x) => continue,
                (None, Some(x)) if definition_key(ta) == Some(x) => continue,
                (Some(x), Some(y)) if x == y => continue,
                (None, None) => {}
                _ => {
                    self.unequal.insert((a, b));
                    self.record_unequal(trail, from);
                    return false;
                }
            }
            self.refs(a, ra);
            self.refs(b, rb);
            if self.shallow_of(a) != self.shallow_of(b) || ra.len() != rb.len() {
                self.unequal.insert((a, b));
                self.record_unequal(trail, from);
                return false;
            }
            let here = trail.len() as u32;
            trail.push((a, b, from));
            work.extend(ra.iter().zip(rb.iter()).map(|(&x, &y)| (x, y, here)));
        }
        true
    }

    /// Records as unequal the pairs that led from the walk's start to one
    /// that differs in itself: a walk that reaches them always meets it.
    fn record_unequal(&mut self, trail: &[(u32, u32, u32)], mut at: u32) {
        while let Some(&(a, b, from)) = trail.get(at as usize) {
            if !self.unequal.insert((a, b)) {
                break;
            }
            at = from;
        }
    }

    /// Makes one everything the last match paired up: a declaration its
    /// definition, a struct its canonical. Returns whether anything
    /// merged.
    fn merge_matched(&mut self) -> bool {
        let pairs: Vec<(u32, u32)> = self.hypot.iter().map(|(&b, &a)| (b, a)).collect();
        let mut merged = false;
        for (b, a) in pairs {
            let (a, b) = (self.find(a), self.find(b));
            if a == b {
                continue;
            }
            let (fa, fb) = (
                declaration_key(self.ty(a)).is_some(),
                declaration_key(self.ty(b)).is_some(),
            );
            let from = if fb && !fa {
                self.parent[b as usize] = a;
                b
            } else if is_composite(self.ty(a)) || fa {
                self.parent[a as usize] = b;
                a
            } else {
                continue;
            };
            self.taint(from);
            merged = true;
        }
        if merged {
            // Merged classes have new references: what differed may not.
            self.unequal.clear();
        }
        merged
    }

    /// Tries class `c` against the earlier classes of its bucket (only
    /// the marked ones when `c` is unmarked: no other can match), merges
    /// it into the first that matches or else adds it to the bucket.
    fn place(&mut self, c: u32, refs: &mut Vec<u32>, candidates: &mut Vec<u32>) -> bool {
        let h = self.bucket_of(c, refs);
        let bucket = self.buckets.entry(h).or_default();
        candidates.clear();
        if self.marked[c as usize] {
            candidates.extend_from_slice(&bucket.all);
        } else {
            candidates.extend(bucket.marked.values());
        }
        for &canon in candidates.iter() {
            if self.matches(c, canon) {
                return self.merge_matched();
            }
        }
        let bucket = self.buckets.get_mut(&h).expect("bucket");
        let pos = bucket.all.len() as u32;
        bucket.all.push(c);
        if self.marked[c as usize] {
            bucket.marked.insert(pos, c);
        }
        self.slot.insert(c, (h, pos));
        false
    }
}

/// libbpf's struct deduplication on the classes of the partition: the
/// struct and union classes of equal shallow descriptions, in order,
/// are each merged into the first earlier one whose type graph they
/// match, where a declaration matches any struct or union of its name
/// and kind (and is then taken to be it). Sets `alias` for every merged
/// type; returns whether anything merged.
fn merge_through_declarations(
    ir: &IrBtf,
    shallow_class: &[u32],
    alias: &mut [u32],
    class: &[u32],
    work: &mut usize,
) -> bool {
    let mut m = DeclMerge::new(ir, shallow_class, alias, class);
    let (mut refs, mut candidates) = (Vec::new(), Vec::new());
    let mut merged = false;
    for k in 0..m.order.len() {
        let c = m.order[k];
        if is_composite(m.ty(c)) {
            merged |= m.place(c, &mut refs, &mut candidates);
        }
    }
    *work += m.work;
    if !merged {
        return false;
    }
    let mut redirect = vec![u32::MAX; m.rep.len()];
    for &c in &m.order.clone() {
        let f = m.find(c);
        if f != c {
            redirect[c as usize] = m.rep[f as usize];
        }
    }
    for (a, &c) in alias.iter_mut().zip(class) {
        if redirect[c as usize] != u32::MAX {
            *a = redirect[c as usize];
        }
    }
    true
}

/// Deduplicates `ir`; its first `fixed` types (after void) keep their ids.
///
/// Pass 0 for standalone BTF. For BTF that will be written as split BTF on
/// a base of N types, pass N: the base's types stay where they are and
/// every later type equal to one of them maps to it.
///
/// ```rust
/// use btfkit_btf::dedup::dedup;
/// use btfkit_btf::ir::IrBtf;
/// use btfkit_btf::{Btf, BtfBuilder, MemberSpec, INT_SIGNED};
///
/// // Two compilation units, each with its own `int` and `struct point`.
/// let mut b = BtfBuilder::new();
/// for _ in 0..2 {
///     let int = b.add_int("int", 4, INT_SIGNED)?;
///     b.add_struct(
///         "point",
///         8,
///         &[
///             MemberSpec { name: "x", type_id: int, bit_offset: 0, bitfield_size: 0 },
///             MemberSpec { name: "y", type_id: int, bit_offset: 32, bitfield_size: 0 },
///         ],
///     )?;
/// }
/// let bytes = b.finish();
/// let btf = Btf::parse(&bytes)?;
/// assert_eq!(btf.len(), 4);
///
/// let d = dedup(&IrBtf::from_btf(&btf)?, 0);
/// assert_eq!(d.btf.len(), 2); // one int, one struct point
/// assert_eq!(d.map, [0, 1, 2, 1, 2]); // input id -> output id
/// let out = d.btf.write(None, 0)?;
/// assert_eq!(Btf::parse(&out)?.len(), 2);
/// # Ok::<(), btfkit_btf::Error>(())
/// ```
pub fn dedup(ir: &IrBtf, fixed: u32) -> Deduped {
    let n = ir.types.len();
    let fixed = (fixed as usize).min(n - 1);
    // alias[i]: the type i stands for — itself, or for a forward
    // declaration the definition it is taken to be. Every declaration
    // starts out as the first definition of its name and kind; where the
    // definitions of a name turn out not to be one class, its
    // declarations stay declarations and the partition is computed again.
    let mut alias: Vec<u32> = (0..n as u32).collect();
    let (shallow_class, _) = initial_classes(ir);
    let mut first_def: FastMap<DeclKey, u32> = FastMap::default();
    // Names whose definitions differ already in their shallow description
    // (two drivers' `struct slot`): their declarations are not taken as
    // the first definition, which would only be undone below at the cost
    // of another partition.
    let mut ambiguous: FastMap<DeclKey, ()> = FastMap::default();
    for (i, t) in ir.types.iter().enumerate() {
        if let Some(k) = definition_key(t) {
            let d = *first_def.entry(k).or_insert(i as u32);
            if shallow_class[d as usize] != shallow_class[i] {
                ambiguous.insert(k, ());
            }
        }
    }
    for (i, t) in ir.types.iter().enumerate() {
        if let Some(k) = declaration_key(t) {
            if let (Some(&d), false) = (first_def.get(&k), ambiguous.contains_key(&k)) {
                alias[i] = d;
            }
        }
    }
    let mut count = Counters::default();
    let mut class;
    loop {
        class = classify(ir, &shallow_class, &alias, &mut count);
        // Names whose definitions are not all one class.
        let mut split: FastMap<DeclKey, bool> = FastMap::default();
        for (i, t) in ir.types.iter().enumerate() {
            let Some(key) = definition_key(t) else {
                continue;
            };
            let d = first_def[&key];
            if class[i] != class[d as usize] {
                split.insert(key, true);
            }
        }
        let mut changed = false;
        for (i, (t, a)) in ir.types.iter().zip(alias.iter_mut()).enumerate() {
            if let Some(k) = declaration_key(t) {
                if *a != i as u32 && split.contains_key(&k) {
                    *a = i as u32;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    // Where a name has several definitions, its declarations are
    // resolved in context, as libbpf does: structs that differ only in
    // pointing to a declaration where the other points to a definition
    // are merged, and the declaration becomes that definition.
    for _ in 0..8 {
        if !merge_through_declarations(ir, &shallow_class, &mut alias, &class, &mut count.work) {
            break;
        }
        class = classify(ir, &shallow_class, &alias, &mut count);
    }

    quotient(ir, fixed, &alias, &class, count)
}

/// The deduplicated BTF of a partition: one type per class.
fn quotient(ir: &IrBtf, fixed: usize, alias: &[u32], class: &[u32], count: Counters) -> Deduped {
    let n = ir.types.len();
    // Output ids: fixed types keep theirs; every other class gets the next
    // id, in order of its first type. A class holding a fixed type maps
    // to the first such type.
    let mut class_out: FastMap<u32, u32> = FastMap::default();
    let mut map = vec![0u32; n];
    for i in 0..=fixed {
        map[i] = i as u32;
        // A fixed declaration taken for a definition that is not fixed (a
        // base's `FWD kvm_io_device` for a module's `struct
        // kvm_io_device`) stays a declaration: the definition's class is
        // not its, or the definition would collapse onto it and lose its
        // size. (Types that refer to the declaration still match types
        // that refer to the definition, as in libbpf.)
        if alias[i] as usize <= fixed {
            class_out
                .entry(class[alias[i] as usize])
                .or_insert(i as u32);
        }
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
    // A forward declaration that became a definition maps where it does
    // (fixed types keep their ids).
    for i in fixed + 1..n {
        map[i] = map[alias[i] as usize];
    }
    Deduped {
        btf: out,
        map,
        rounds: count.rounds,
        work: count.work,
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

    /// A base that only declares `struct dev` (vmlinux's `FWD
    /// kvm_io_device`), and a module that defines it and embeds it by
    /// value: the module's definition is a new type and the embedding
    /// refers to it, not to the base's declaration (which has no size).
    #[test]
    fn a_fixed_declaration_never_takes_a_new_definition() {
        let mut ir = IrBtf::new();
        let int_n = ir.strings.intern("int");
        let dev_n = ir.strings.intern("dev");
        let holder_n = ir.strings.intern("holder");
        let a = ir.strings.intern("a");
        let int = ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        let base_fwd = ir.push(IrType::Fwd {
            name: dev_n,
            is_union: false,
        });
        let fixed = base_fwd;
        let def = ir.push(IrType::Struct {
            name: dev_n,
            size: 4,
            members: vec![member(a, int, 0)],
        });
        let module_fwd = ir.push(IrType::Fwd {
            name: dev_n,
            is_union: false,
        });
        let holder = ir.push(IrType::Struct {
            name: holder_n,
            size: 4,
            members: vec![member(a, module_fwd, 0)],
        });
        let d = dedup(&ir, fixed);
        assert_eq!(d.map[base_fwd as usize], base_fwd);
        let new_def = d.map[def as usize];
        assert!(new_def > fixed, "the definition collapsed onto {new_def}");
        assert_eq!(d.map[module_fwd as usize], new_def);
        let IrType::Struct { members, .. } = &d.btf.types[d.map[holder as usize] as usize] else {
            panic!("holder is a struct");
        };
        assert_eq!(members[0].ty, new_def);
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

    /// `struct s` has two definitions (two drivers' private structs);
    /// `struct holder { struct s *p; }` is defined in two units, one
    /// seeing only a declaration of `s`. As libbpf does, the holders
    /// merge and that declaration becomes the first definition; being
    /// equal, the unit's other declarations of `s` do too.
    #[test]
    fn declarations_resolved_in_context() {
        let mut ir = IrBtf::new();
        let s_n = ir.strings.intern("s");
        let holder_n = ir.strings.intern("holder");
        let a = ir.strings.intern("a");
        let p_n = ir.strings.intern("p");
        let int_n = ir.strings.intern("int");
        let int = ir.push(IrType::Int {
            name: int_n,
            size: 4,
            encoding: 1,
            offset: 0,
            bits: 32,
        });
        // Unit 1: s (4 bytes) and holder -> s.
        let s1 = ir.push(IrType::Struct {
            name: s_n,
            size: 4,
            members: vec![member(a, int, 0)],
        });
        let p1 = ir.push(IrType::Ptr(s1));
        let h1 = ir.push(IrType::Struct {
            name: holder_n,
            size: 8,
            members: vec![member(p_n, p1, 0)],
        });
        // Unit 2: holder -> declared s.
        let fwd = ir.push(IrType::Fwd {
            name: s_n,
            is_union: false,
        });
        let p2 = ir.push(IrType::Ptr(fwd));
        let h2 = ir.push(IrType::Struct {
            name: holder_n,
            size: 8,
            members: vec![member(p_n, p2, 0)],
        });
        // Unit 3: another s (8 bytes), and a lone declaration.
        let s3 = ir.push(IrType::Struct {
            name: s_n,
            size: 8,
            members: vec![member(a, int, 32)],
        });
        let lone = ir.push(IrType::Fwd {
            name: s_n,
            is_union: false,
        });
        let d = dedup(&ir, 0);
        assert_eq!(d.map[h1 as usize], d.map[h2 as usize]);
        assert_eq!(d.map[fwd as usize], d.map[s1 as usize]);
        assert_eq!(d.map[p1 as usize], d.map[p2 as usize]);
        assert_ne!(d.map[s1 as usize], d.map[s3 as usize]);
        assert_eq!(d.map[lone as usize], d.map[s1 as usize]);
        // int, s, ptr, holder, s (8).
        assert_eq!(d.btf.len(), 5, "{:?}", d.btf.types);
    }
}
