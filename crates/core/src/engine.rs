//! Running every CO-RE relocation of an object against a target: candidate
//! search (vmlinux, then modules), the per-object candidate cache that
//! libbpf prunes as relocations resolve, the decision and the patch. The
//! order of processing is libbpf's (`.BTF.ext` sections in order, records
//! in order), because pruning makes results depend on it.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::OnceLock;

use btfkit_btf::{Btf, TypeId};

use crate::calc::{calc_relo, decide, spec_match, Cand, Decision, Matched, RelocRes};
use crate::error::{ReloError, ReloErrorKind};
use crate::fast::FastMap;
use crate::insn::{Insn, INSN_SIZE};
use crate::kind::RelocKind;
use crate::object::BpfObject;
use crate::patch::{patch_insn, Patch};
use crate::spec::{essential_name_len, Spec};

/// One BTF of the target: vmlinux, or a module's split BTF on it.
pub struct TargetBtf<'t> {
    /// `vmlinux`, or the module's name as given to [`Target::add_module`].
    pub name: String,
    /// The BTF itself.
    pub btf: &'t Btf<'t>,
    /// Types whose names carry a `___flavor` suffix, by essential name.
    flavored: OnceLock<HashMap<Vec<u8>, Vec<TypeId>>>,
}

impl<'t> TargetBtf<'t> {
    fn new(name: impl Into<String>, btf: &'t Btf<'t>) -> Self {
        TargetBtf {
            name: name.into(),
            btf,
            flavored: OnceLock::new(),
        }
    }

    fn flavored(&self) -> &HashMap<Vec<u8>, Vec<TypeId>> {
        self.flavored.get_or_init(|| {
            // Names with a flavor separator are rare (a few dozen in a
            // kernel): find them by scanning the string sections for
            // "___" rather than by looking at every type's name.
            let mut names = std::collections::BTreeSet::new();
            let sections = std::iter::once(self.btf.strings_section())
                .chain(self.btf.base().map(|b| b.strings_section()));
            for strs in sections {
                for pos in memchr::memmem::find_iter(strs, b"___") {
                    let start = memchr::memrchr(0, &strs[..pos]).map_or(0, |p| p + 1);
                    let end =
                        start + memchr::memchr(0, &strs[start..]).unwrap_or(strs.len() - start);
                    names.insert(&strs[start..end]);
                }
            }
            let first = self.btf.first_id();
            let mut map: HashMap<Vec<u8>, Vec<TypeId>> = HashMap::new();
            for name in names {
                let ess = essential_name_len(name);
                let Ok(s) = std::str::from_utf8(name) else {
                    continue;
                };
                if ess == name.len() {
                    continue;
                }
                let ids: Vec<TypeId> = self
                    .btf
                    .find_by_name(s)
                    .into_iter()
                    .filter(|&id| id >= first)
                    .collect();
                if !ids.is_empty() {
                    map.entry(name[..ess].to_vec()).or_default().extend(ids);
                }
            }
            for ids in map.values_mut() {
                ids.sort_unstable();
            }
            map
        })
    }

    /// Own types (not the base's) whose essential name is `essential`,
    /// ascending by id.
    fn by_essential_name(&self, essential: &[u8]) -> Vec<TypeId> {
        let first = self.btf.first_id();
        let mut ids: Vec<TypeId> = match std::str::from_utf8(essential) {
            Ok(s) => self
                .btf
                .find_by_name(s)
                .into_iter()
                .filter(|&id| id >= first)
                .filter(|&id| {
                    // A target named exactly `a___b` has essential name `a`.
                    let n = self
                        .btf
                        .type_by_id(id)
                        .ok()
                        .and_then(|t| self.btf.str_bytes(t.name_off()).ok());
                    n.is_some_and(|n| essential_name_len(n) == n.len())
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        if let Some(more) = self.flavored().get(essential) {
            ids.extend(more.iter().filter(|&&id| id >= first));
            ids.sort_unstable();
        }
        ids
    }
}

/// Where relocations are resolved: a vmlinux BTF and optionally module
/// BTFs split on it (searched only when vmlinux has no candidate, as
/// libbpf does when it loads module BTFs itself).
pub struct Target<'t> {
    btfs: Vec<TargetBtf<'t>>,
}

impl<'t> Target<'t> {
    /// A target of one kernel BTF (`/sys/kernel/btf/vmlinux`, or a BTF
    /// file for another kernel), without modules. The BTF is borrowed, and
    /// the per-BTF index of `___flavor` names is built on first use.
    pub fn new(vmlinux: &'t Btf<'t>) -> Self {
        Target {
            btfs: vec![TargetBtf::new("vmlinux", vmlinux)],
        }
    }

    /// Adds a module's BTF, split BTF on the vmlinux BTF given to
    /// [`Target::new`] (as `/sys/kernel/btf/<module>` is). Only the
    /// module's own types are candidates from it. Modules are searched only
    /// for types vmlinux has no candidate for, and then all of them, in the
    /// order added. Its index in [`ResolvedTarget::btf_idx`] and
    /// [`MatchedCand::btf_idx`] is its position: 1 for the first module
    /// added, 2 for the next, and so on.
    pub fn add_module(&mut self, name: impl Into<String>, btf: &'t Btf<'t>) -> &mut Self {
        self.btfs.push(TargetBtf::new(name, btf));
        self
    }

    /// The vmlinux BTF (target BTF 0).
    pub fn vmlinux(&self) -> &'t Btf<'t> {
        self.btfs[0].btf
    }

    /// How many BTFs the target has (vmlinux, then modules).
    pub fn btf_count(&self) -> usize {
        self.btfs.len()
    }

    /// Name and BTF of target BTF `idx` (0 is vmlinux).
    pub fn btf(&self, idx: usize) -> (&str, &'t Btf<'t>) {
        (&self.btfs[idx].name, self.btfs[idx].btf)
    }

    /// Candidates for a local root type (libbpf's `bpf_core_find_cands`):
    /// same kind (enum and enum64 mix), same essential name, in id order;
    /// vmlinux first, modules only when vmlinux has none.
    pub fn find_cands(
        &self,
        local: &Btf<'_>,
        local_id: TypeId,
    ) -> Result<Vec<Cand<'t>>, ReloErrorKind> {
        let lt = local
            .type_by_id(local_id)
            .map_err(|_| ReloErrorKind::NoLocalType(local_id))?;
        let lname = local.str_bytes(lt.name_off()).unwrap_or(b"");
        if lname.is_empty() {
            return Err(ReloErrorKind::AnonymousRoot { type_id: local_id });
        }
        let ess = &lname[..essential_name_len(lname)];
        let mut cands = Vec::new();
        for (idx, tb) in self.btfs.iter().enumerate() {
            if idx == 1 && !cands.is_empty() {
                break;
            }
            for id in tb.by_essential_name(ess) {
                let Ok(t) = tb.btf.type_by_id(id) else {
                    continue;
                };
                if crate::compat::kind_core_compat(t.kind(), lt.kind()) {
                    cands.push(Cand {
                        btf: tb.btf,
                        btf_idx: idx,
                        id,
                    });
                }
            }
        }
        Ok(cands)
    }
}

/// Relocation knobs.
#[derive(Clone, Debug, Default)]
pub struct RelocateOptions {
    /// Also relocate programs libbpf would not load by default (sections
    /// with the `?` prefix). Off, as in libbpf.
    pub include_non_autoload: bool,
    /// Load only these programs (by name), as with libbpf's
    /// `bpf_program__set_autoload(other, false)`; subprograms in `.text`
    /// are always relocated. `None`: every program.
    pub only_programs: Option<Vec<String>>,
}

/// What a relocation pass computes besides libbpf's decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detail {
    /// Describe specs in words: `ReloReport::local_spec` and
    /// `ResolvedTarget::{spec, raw}`. Off, they stay `None` and empty:
    /// formatting them costs more than deciding, and only explaining and
    /// reporting read them.
    pub describe: bool,
    /// Fill `ReloReport::unpruned` (see there).
    pub unpruned: bool,
}

impl Default for Detail {
    /// What `relocate` computes: descriptions, no unpruned matches.
    fn default() -> Self {
        Detail {
            describe: true,
            unpruned: false,
        }
    }
}

/// Why a relocation was not processed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The instruction belongs to no program (libbpf: eliminated weak subprogram).
    NoProgram,
    /// The program is not loaded by default (`?` section).
    NotAutoloaded,
}

/// A candidate that matched a relocation, with its low-level target spec
/// (what BTF minimization keeps of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedCand {
    /// Index of the target BTF (0 = vmlinux).
    pub btf_idx: usize,
    /// The candidate's root type id in that BTF.
    pub type_id: TypeId,
    /// The target's low-level spec: one index per step of the access path
    /// in the target type, anonymous members included (what an access
    /// string for the target would say). One enumerator index for
    /// enumerator kinds; empty for type-based kinds.
    pub raw: Vec<u32>,
}

/// A candidate that matches a relocation on its own (`Detail::unpruned`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnprunedMatch {
    /// The candidate and its target spec.
    pub cand: MatchedCand,
    /// What it decides: the field's bit offset, poisoning and the new
    /// value; `None` when computing them fails. Candidates libbpf sees
    /// together must agree on all three, or the relocation fails as
    /// ambiguous.
    pub decision: Option<(u32, bool, u64)>,
}

/// The chosen target of a relocation.
#[derive(Clone, Debug)]
pub struct ResolvedTarget {
    /// Index of the target BTF (0 = vmlinux).
    pub btf_idx: usize,
    /// The deciding candidate's root type id in that BTF.
    pub type_id: TypeId,
    /// Target spec in words (`struct task_struct::real_parent`,
    /// `enum pid_type::PIDTYPE_TGID`); empty unless
    /// [`Detail::describe`] was on.
    pub spec: String,
    /// The target's low-level spec as an access string (`0:52`), as in
    /// [`MatchedCand::raw`]; empty unless [`Detail::describe`] was on (and
    /// always for type-based kinds).
    pub raw: String,
}

/// What became of one relocation.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The relocation was not processed, as libbpf would not process it;
    /// its instruction is unchanged.
    Skipped(SkipReason),
    /// The relocation was computed and its instruction patched (or
    /// poisoned). Relocations with no matching target end here too:
    /// existence and type-based kinds with value 0, the others poisoned.
    Done {
        /// The computed values (libbpf's `struct bpf_core_relo_res`):
        /// `orig_val`, the value the compiler put in the instruction for
        /// the local types; `new_val`, the value for the target; whether
        /// the instruction is poisoned and whether `orig_val` was checked
        /// against it; and for field offsets the field sizes in bytes,
        /// which may resize a load or store.
        res: RelocRes,
        /// The deciding candidate: `None` for `TYPE_ID_LOCAL` (which needs
        /// no target) and when no candidate matched.
        target: Option<ResolvedTarget>,
        /// Every candidate that matched, the deciding one first. Shared by
        /// every relocation decided the same way: a kernel whose BTF holds
        /// many copies of a type would otherwise cost a list per relocation.
        matched: Arc<[MatchedCand]>,
        /// What patching did to the instruction.
        patch: Patch,
    },
    /// The relocation failed; its instruction is unchanged. libbpf fails
    /// the load in the same situation, with [`ReloErrorKind::errno`]
    /// (except where the variant says libbpf skips the record).
    Failed(ReloErrorKind),
}

/// One relocation and what became of it.
#[derive(Clone, Debug)]
///
/// Names are shared (`Arc<str>`): a large object's reports repeat the same
/// few section, program and access strings tens of thousands of times.
pub struct ReloReport {
    /// Name of the section the relocated instruction is in, as the
    /// `.BTF.ext` record group names it (`<bad name>` when that name is
    /// not a valid `.BTF` string).
    pub section: Arc<str>,
    /// ELF index of the section (None when the section is missing).
    pub section_index: Option<usize>,
    /// Record index within its `.BTF.ext` section: libbpf's `relo #N`.
    pub index: usize,
    /// Instruction index within the section.
    pub insn_idx: u32,
    /// Name of the program or subprogram holding the instruction; `None`
    /// when the relocation failed before it was found or no function
    /// holds the instruction ([`SkipReason::NoProgram`]).
    pub program: Option<Arc<str>>,
    /// Instruction index within the program (libbpf's `insn #N`).
    pub prog_insn_idx: Option<u32>,
    /// The relocation kind; `None` when `raw_kind` is not one this crate
    /// knows.
    pub kind: Option<RelocKind>,
    /// The record's `enum bpf_core_relo_kind` value as stored.
    pub raw_kind: u32,
    /// The record's root type id in the object's BTF.
    pub local_type: TypeId,
    /// The record's access string (`0:1:2`), empty when its offset is not
    /// a valid `.BTF` string.
    pub access: Arc<str>,
    /// The local spec in words (`struct task_struct::real_parent`), when it
    /// parsed (and `Detail::describe` was on).
    pub local_spec: Option<String>,
    /// With `Detail::unpruned`, for a processed relocation whose root type
    /// has two or more candidates before any pruning: every one of them
    /// that matches the local spec on its own, in candidate order. This is
    /// what the relocation could match under any set of loaded programs
    /// (pruning only ever narrows the candidates to a subset of these);
    /// empty otherwise.
    /// Shared by the relocations of one spec: kernels with hundreds of
    /// duplicate candidates make it long.
    pub unpruned: Arc<[UnprunedMatch]>,
    /// What became of the relocation.
    pub outcome: Outcome,
}

impl ReloReport {
    /// The failure of this relocation with its section and record index,
    /// when its outcome is [`Outcome::Failed`].
    pub fn error(&self) -> Option<ReloError> {
        match &self.outcome {
            Outcome::Failed(kind) => Some(ReloError {
                section: self.section.to_string(),
                index: self.index,
                kind: kind.clone(),
            }),
            _ => None,
        }
    }

    /// The local access in words (`struct task_struct::real_parent`),
    /// read from the object's own BTF (`local_btf`): what `local_spec`
    /// holds when [`Detail::describe`] was on. None when the access does
    /// not parse (that is then the relocation's error) or the kind is
    /// unknown.
    pub fn describe_local(&self, local_btf: &Btf<'_>) -> Option<String> {
        let kind = self.kind?;
        Spec::parse(local_btf, self.local_type, kind, &self.access)
            .ok()
            .map(|s| s.describe())
    }
}

/// Every relocation of an object against a target, with the patched
/// instructions of each executable section.
pub struct Relocated {
    /// One report per CO-RE relocation record, in `.BTF.ext` order.
    pub reports: Vec<ReloReport>,
    /// ELF section index → its instructions after patching.
    pub insns: HashMap<usize, Vec<Insn>>,
}

impl Relocated {
    /// The failed relocations, in report order (libbpf would stop at the
    /// first).
    pub fn failures(&self) -> impl Iterator<Item = ReloError> + '_ {
        self.reports.iter().filter_map(ReloReport::error)
    }
}

/// Relocates all CO-RE relocations of `obj` against `target`. Failures are
/// reported per relocation; processing continues past them (libbpf stops
/// at the first, so its results agree with these up to that point).
pub fn relocate(obj: &BpfObject<'_>, target: &Target<'_>, opts: &RelocateOptions) -> Relocated {
    relocate_with(obj, target, opts, Detail::default())
}

/// A local spec's identity: root type, access string (by offset, of which
/// the string is a function) and raw kind. Parsing it, and matching it
/// against a candidate list, depend on nothing else.
type SpecKey = (TypeId, u32, u32);

/// One local type's candidates as pruning leaves them.
struct TypeCands<'t> {
    cands: Vec<Cand<'t>>,
    /// Changes whenever `cands` does. Pruning only ever shrinks the list,
    /// so a version names one content and decisions can be memoized by it.
    version: u32,
    /// The list as first found (kept for `Detail::unpruned`).
    initial: Vec<Cand<'t>>,
}

/// The state of one pass over an object's relocations: libbpf's candidate
/// cache, and memos of what is a pure function of a spec. Large objects
/// repeat the same reads from many programs (a security tool's 35,000
/// relocations are a few hundred distinct specs), so each spec is parsed
/// and matched once, and the pass costs little more than reading the
/// records.
struct Pass<'l, 't> {
    detail: Detail,
    cands: FastMap<TypeId, TypeCands<'t>>,
    specs: FastMap<SpecKey, Result<Spec<'l>, ReloErrorKind>>,
    decisions: FastMap<(SpecKey, u32), Result<Rc<Decided<'t>>, ReloErrorKind>>,
    unpruned: FastMap<SpecKey, Arc<[UnprunedMatch]>>,
    /// The empty lists every report without matches gets (an empty
    /// `Arc<[T]>` is still an allocation).
    no_unpruned: Arc<[UnprunedMatch]>,
    no_matched: Arc<[MatchedCand]>,
}

/// A memoized decision with the report's view of its matches.
struct Decided<'t> {
    decision: Decision<'t>,
    matched: Arc<[MatchedCand]>,
}

impl<'t> Decided<'t> {
    fn new(decision: Decision<'t>) -> Self {
        let matched = decision
            .matched
            .iter()
            .map(|(c, spec)| MatchedCand {
                btf_idx: c.btf_idx,
                type_id: c.id,
                raw: spec.raw.clone(),
            })
            .collect();
        Decided { decision, matched }
    }
}

impl<'l, 't> Pass<'l, 't> {
    fn new(detail: Detail) -> Self {
        Pass {
            detail,
            cands: FastMap::default(),
            specs: FastMap::default(),
            decisions: FastMap::default(),
            unpruned: FastMap::default(),
            no_unpruned: Arc::from([]),
            no_matched: Arc::from([]),
        }
    }

    /// Finds the candidates of `type_id` once (libbpf's candidate cache);
    /// a failed search is retried by the next relocation, as in libbpf.
    fn ensure_cands(
        &mut self,
        target: &Target<'t>,
        local: &Btf<'_>,
        type_id: TypeId,
    ) -> Result<(), ReloErrorKind> {
        if !self.cands.contains_key(&type_id) {
            let cands = target.find_cands(local, type_id)?;
            let initial = if self.detail.unpruned {
                cands.clone()
            } else {
                Vec::new()
            };
            self.cands.insert(
                type_id,
                TypeCands {
                    cands,
                    version: 0,
                    initial,
                },
            );
        }
        Ok(())
    }

    /// The parsed local spec (memoized).
    fn spec(
        &mut self,
        local: &'l Btf<'l>,
        key: SpecKey,
        kind: RelocKind,
        access: &str,
    ) -> Result<&Spec<'l>, ReloErrorKind> {
        self.specs
            .entry(key)
            .or_insert_with(|| Spec::parse(local, key.0, kind, access))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// libbpf's decision over the current candidates of the spec's root,
    /// pruning them to those that matched (memoized per candidate list).
    fn decide(&mut self, key: SpecKey) -> Result<Rc<Decided<'t>>, ReloErrorKind> {
        let tc = self.cands.get_mut(&key.0).expect("candidates found first");
        let d = match self.decisions.get(&(key, tc.version)) {
            Some(d) => d.clone(),
            None => {
                let spec = self.specs[&key].as_ref().expect("parsed first");
                let d = decide(spec, &tc.cands).map(|d| Rc::new(Decided::new(d)));
                self.decisions.insert((key, tc.version), d.clone());
                d
            }
        }?;
        let matched = &d.decision.matched;
        if !matched.is_empty() && matched.len() != tc.cands.len() {
            tc.cands = matched.iter().map(|(c, _)| *c).collect();
            tc.version += 1;
        }
        Ok(d)
    }

    /// `ReloReport::unpruned` for the spec (memoized).
    fn unpruned(&mut self, key: SpecKey) -> Arc<[UnprunedMatch]> {
        if !self.detail.unpruned {
            return self.no_unpruned.clone();
        }
        let initial = &self.cands[&key.0].initial;
        if initial.len() < 2 {
            return self.no_unpruned.clone();
        }
        let spec = self.specs[&key].as_ref().expect("parsed first");
        self.unpruned
            .entry(key)
            .or_insert_with(|| matching_alone(spec, initial).into())
            .clone()
    }
}

/// `relocate`, computing only what `detail` asks for besides the decisions
/// (which are the same either way).
pub fn relocate_with(
    obj: &BpfObject<'_>,
    target: &Target<'_>,
    opts: &RelocateOptions,
    detail: Detail,
) -> Relocated {
    let mut insns: HashMap<usize, Vec<Insn>> = HashMap::new();
    for s in obj.sections().iter().filter(|s| s.executable) {
        let v = s
            .data
            .chunks_exact(INSN_SIZE)
            .map(|c| Insn::decode(c.try_into().expect("8 bytes"), obj.endian()))
            .collect();
        insns.insert(s.index, v);
    }
    let mut reports = Vec::with_capacity(obj.btf_ext().map_or(0, |e| e.core_relo_count()));
    run(obj, target, opts, detail, &mut insns, |r| reports.push(r));
    Relocated { reports, insns }
}

/// `relocate_with`, handing each report to `each` in order instead of
/// collecting them, and keeping no relocated copy of the object: for
/// callers that want the decisions only (BTFGen). Only the instructions
/// relocations touch are decoded, so memory stays proportional to them.
pub fn relocate_each(
    obj: &BpfObject<'_>,
    target: &Target<'_>,
    opts: &RelocateOptions,
    detail: Detail,
    each: impl FnMut(ReloReport),
) {
    let mut insns = SparseInsns {
        obj,
        changed: FastMap::default(),
    };
    run(obj, target, opts, detail, &mut insns, each);
}

/// Where a pass reads and patches instructions.
trait InsnStore {
    /// Instructions in executable section `sec` (0 when it has none).
    fn len(&self, sec: usize) -> usize;
    /// Patches instruction `idx` of `sec` (and the next, for ld_imm64).
    fn patch(
        &mut self,
        sec: usize,
        idx: usize,
        prog_idx: u32,
        res: &RelocRes,
    ) -> Result<Patch, ReloErrorKind>;
}

/// Every executable section decoded: what `Relocated::insns` returns.
impl InsnStore for HashMap<usize, Vec<Insn>> {
    fn len(&self, sec: usize) -> usize {
        self.get(&sec).map_or(0, Vec::len)
    }

    fn patch(
        &mut self,
        sec: usize,
        idx: usize,
        prog_idx: u32,
        res: &RelocRes,
    ) -> Result<Patch, ReloErrorKind> {
        let insns = self.get_mut(&sec).expect("executable section");
        patch_insn(&mut insns[idx..], prog_idx, res)
    }
}

/// The object's instructions as read from its sections, with the ones
/// patches changed on top. `patch_insn` looks at no more than two
/// instructions, so a two-instruction window gives it exactly what the
/// whole section would. Only changed instructions are kept (a later
/// relocation of the same instruction must see the patched one): with a
/// target like the BTF the object was built against, most patches write
/// what was there.
struct SparseInsns<'a, 'o> {
    obj: &'a BpfObject<'o>,
    /// By `(section << 32) | index`.
    changed: FastMap<u64, Insn>,
}

impl<'o> SparseInsns<'_, 'o> {
    fn key(sec: usize, idx: usize) -> u64 {
        ((sec as u64) << 32) | idx as u64
    }

    fn original(&self, data: &[u8], idx: usize) -> Option<Insn> {
        let b = data.get(idx * INSN_SIZE..(idx + 1) * INSN_SIZE)?;
        Some(Insn::decode(b.try_into().ok()?, self.obj.endian()))
    }

    fn get(&self, data: &[u8], sec: usize, idx: usize) -> Option<Insn> {
        match self.changed.get(&Self::key(sec, idx)) {
            Some(i) => Some(*i),
            None => self.original(data, idx),
        }
    }

    fn data(&self, sec: usize) -> &'o [u8] {
        self.obj
            .section(sec)
            .filter(|s| s.executable)
            .map_or(&[][..], |s| s.data)
    }
}

impl InsnStore for SparseInsns<'_, '_> {
    fn len(&self, sec: usize) -> usize {
        self.data(sec).len() / INSN_SIZE
    }

    fn patch(
        &mut self,
        sec: usize,
        idx: usize,
        prog_idx: u32,
        res: &RelocRes,
    ) -> Result<Patch, ReloErrorKind> {
        let data = self.data(sec);
        let first = self
            .get(data, sec, idx)
            .expect("the caller checked the index");
        let mut window = [first; 2];
        let n = match self.get(data, sec, idx + 1) {
            Some(next) => {
                window[1] = next;
                2
            }
            None => 1,
        };
        let before = window;
        let patch = patch_insn(&mut window[..n], prog_idx, res)?;
        for i in (0..n).filter(|&i| window[i] != before[i]) {
            let at = idx + i;
            if self.original(data, at) == Some(window[i]) {
                self.changed.remove(&Self::key(sec, at));
            } else {
                self.changed.insert(Self::key(sec, at), window[i]);
            }
        }
        Ok(patch)
    }
}

/// The strings reports share, made once each.
#[derive(Default)]
struct SharedNames {
    /// By access string offset.
    access: FastMap<u32, Arc<str>>,
    /// By position in `BpfObject::programs`.
    programs: FastMap<usize, Arc<str>>,
}

impl SharedNames {
    fn access(&mut self, local: &Btf<'_>, off: u32) -> Arc<str> {
        self.access
            .entry(off)
            .or_insert_with(|| local.str_at(off).unwrap_or("").into())
            .clone()
    }

    /// The name of `obj.programs()[at]`.
    fn program(&mut self, obj: &BpfObject<'_>, at: usize) -> Arc<str> {
        self.programs
            .entry(at)
            .or_insert_with(|| obj.programs()[at].name.as_str().into())
            .clone()
    }
}

/// The pass itself: every record of `.BTF.ext` in order.
fn run(
    obj: &BpfObject<'_>,
    target: &Target<'_>,
    opts: &RelocateOptions,
    detail: Detail,
    insns: &mut impl InsnStore,
    mut each: impl FnMut(ReloReport),
) {
    let local = obj.btf();
    let mut pass = Pass::new(detail);
    let Some(ext) = obj.btf_ext() else {
        return;
    };
    let mut names = SharedNames::default();
    for group in &ext.core_relo {
        let section: Arc<str> = local
            .str_at(group.sec_name_off)
            .unwrap_or("<bad name>")
            .into();
        let sec = obj.section_by_name(&section).filter(|s| s.executable);
        for (index, relo) in group.core_relos().enumerate() {
            let access = names.access(local, relo.access_str_off);
            let mut report = ReloReport {
                section: section.clone(),
                section_index: sec.map(|s| s.index),
                index,
                insn_idx: relo.insn_off / INSN_SIZE as u32,
                program: None,
                prog_insn_idx: None,
                kind: RelocKind::from_raw(relo.kind),
                raw_kind: relo.kind,
                local_type: relo.type_id,
                access,
                local_spec: None,
                unpruned: pass.no_unpruned.clone(),
                outcome: Outcome::Skipped(SkipReason::NoProgram),
            };
            report.outcome = match relocate_one(
                obj,
                target,
                opts,
                sec.map(|s| s.index),
                &relo,
                &mut report,
                &mut pass,
                &mut names,
                insns,
            ) {
                Ok(o) => o,
                Err(e) => Outcome::Failed(e),
            };
            each(report);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn relocate_one<'l, 't>(
    obj: &'l BpfObject<'_>,
    target: &Target<'t>,
    opts: &RelocateOptions,
    sec: Option<usize>,
    relo: &crate::ext::CoreRelo,
    report: &mut ReloReport,
    pass: &mut Pass<'l, 't>,
    names: &mut SharedNames,
    insns: &mut impl InsnStore,
) -> Result<Outcome, ReloErrorKind> {
    let local = obj.btf();
    if relo.insn_off % INSN_SIZE as u32 != 0 {
        return Err(ReloErrorKind::InsnOffsetMisaligned {
            insn_off: relo.insn_off,
        });
    }
    let sec = sec.ok_or(ReloErrorKind::NoSuchSection)?;
    let insn_idx = report.insn_idx as usize;
    let sec_len = insns.len(sec);
    if insn_idx >= sec_len {
        // libbpf finds no program there and skips it silently; an offset
        // past the section is corrupt input, so say so.
        return Err(ReloErrorKind::InsnOutOfSection {
            insn_idx: report.insn_idx,
            insns: sec_len,
        });
    }
    let Some(prog_at) = obj.program_index_at(sec, insn_idx) else {
        return Ok(Outcome::Skipped(SkipReason::NoProgram));
    };
    let prog = &obj.programs()[prog_at];
    report.program = Some(names.program(obj, prog_at));
    report.prog_insn_idx = Some((insn_idx - prog.insn_off) as u32);
    let key: SpecKey = (relo.type_id, relo.access_str_off, relo.kind);
    let selected = prog.is_subprog
        || opts
            .only_programs
            .as_ref()
            .is_none_or(|names| names.contains(&prog.name));
    if !selected || (!prog.autoload && !opts.include_non_autoload) {
        // Still describe the relocation, when it parses.
        if let Some(kind) = RelocKind::from_raw(relo.kind).filter(|_| pass.detail.describe) {
            report.local_spec = pass
                .spec(local, key, kind, &report.access)
                .ok()
                .map(Spec::describe);
        }
        return Ok(Outcome::Skipped(SkipReason::NotAutoloaded));
    }
    let kind = RelocKind::from_raw(relo.kind).ok_or(ReloErrorKind::UnknownKind(relo.kind))?;
    let lt = local
        .type_by_id(relo.type_id)
        .map_err(|_| ReloErrorKind::NoLocalType(relo.type_id))?;
    // Candidate search comes before parsing, as in libbpf: an anonymous
    // root fails there first.
    if kind != RelocKind::TypeIdLocal {
        pass.ensure_cands(target, local, relo.type_id)?;
    }
    let describe = pass.detail.describe;
    let local_spec = pass.spec(local, key, kind, &report.access)?;
    if describe {
        report.local_spec = Some(local_spec.describe());
    }
    let (res, resolved, matched) = if kind == RelocKind::TypeIdLocal {
        let id = relo.type_id.0 as u64;
        let res = RelocRes {
            orig_val: id,
            new_val: id,
            validate: false,
            ..RelocRes::default()
        };
        (res, None, pass.no_matched.clone())
    } else {
        if local.str_bytes(lt.name_off()).unwrap_or(b"").is_empty() {
            return Err(ReloErrorKind::AnonymousRoot {
                type_id: relo.type_id,
            });
        }
        report.unpruned = pass.unpruned(key);
        let d = pass.decide(key)?;
        let resolved = d.decision.target().map(|(c, spec)| ResolvedTarget {
            btf_idx: c.btf_idx,
            type_id: c.id,
            spec: if describe {
                spec.describe()
            } else {
                String::new()
            },
            raw: if describe {
                spec.raw_string()
            } else {
                String::new()
            },
        });
        (d.decision.res, resolved, d.matched.clone())
    };
    let prog_idx = report.prog_insn_idx.expect("set above");
    let patch = insns.patch(sec, insn_idx, prog_idx, &res)?;
    Ok(Outcome::Done {
        res,
        target: resolved,
        matched,
        patch,
    })
}

/// Every candidate that matches `local` by itself, with what it decides
/// (an error matching one candidate counts as no match: whenever that
/// candidate is among those considered the relocation fails, so nothing
/// needs keeping for it).
fn matching_alone(local: &Spec<'_>, cands: &[Cand<'_>]) -> Vec<UnprunedMatch> {
    cands
        .iter()
        .filter_map(|c| match spec_match(local, c) {
            Ok(Matched::Yes(spec)) => {
                let decision = calc_relo(local, Some(&spec))
                    .ok()
                    .map(|r| (spec.bit_offset, r.poison, r.new_val));
                Some(UnprunedMatch {
                    cand: MatchedCand {
                        btf_idx: c.btf_idx,
                        type_id: c.id,
                        raw: spec.raw,
                    },
                    decision,
                })
            }
            _ => None,
        })
        .collect()
}
