//! Running every CO-RE relocation of an object against a target: candidate
//! search (vmlinux, then modules), the per-object candidate cache that
//! libbpf prunes as relocations resolve, the decision and the patch. The
//! order of processing is libbpf's (`.BTF.ext` sections in order, records
//! in order), because pruning makes results depend on it.

use std::collections::HashMap;
use std::sync::OnceLock;

use btfkit_btf::{Btf, TypeId};

use crate::calc::{decide, Cand, RelocRes};
use crate::error::{ReloError, ReloErrorKind};
use crate::insn::{Insn, INSN_SIZE};
use crate::kind::RelocKind;
use crate::object::BpfObject;
use crate::patch::{patch_insn, Patch};
use crate::spec::{essential_name_len, Spec};

/// One BTF of the target: vmlinux, or a module's split BTF on it.
pub struct TargetBtf<'t> {
    pub name: String,
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
    pub fn new(vmlinux: &'t Btf<'t>) -> Self {
        Target {
            btfs: vec![TargetBtf::new("vmlinux", vmlinux)],
        }
    }

    pub fn add_module(&mut self, name: impl Into<String>, btf: &'t Btf<'t>) -> &mut Self {
        self.btfs.push(TargetBtf::new(name, btf));
        self
    }

    pub fn vmlinux(&self) -> &'t Btf<'t> {
        self.btfs[0].btf
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
    pub type_id: TypeId,
    pub raw: Vec<u32>,
}

/// The chosen target of a relocation.
#[derive(Clone, Debug)]
pub struct ResolvedTarget {
    /// Index of the target BTF (0 = vmlinux).
    pub btf_idx: usize,
    pub type_id: TypeId,
    /// Target spec in words and its low-level indices.
    pub spec: String,
    pub raw: String,
}

#[derive(Clone, Debug)]
pub enum Outcome {
    Skipped(SkipReason),
    Done {
        res: RelocRes,
        target: Option<ResolvedTarget>,
        /// Every candidate that matched, the deciding one first.
        matched: Vec<MatchedCand>,
        patch: Patch,
    },
    Failed(ReloErrorKind),
}

/// One relocation and what became of it.
#[derive(Clone, Debug)]
pub struct ReloReport {
    pub section: String,
    /// ELF index of the section (None when the section is missing).
    pub section_index: Option<usize>,
    /// Record index within its `.BTF.ext` section: libbpf's `relo #N`.
    pub index: usize,
    /// Instruction index within the section.
    pub insn_idx: u32,
    pub program: Option<String>,
    /// Instruction index within the program (libbpf's `insn #N`).
    pub prog_insn_idx: Option<u32>,
    pub kind: Option<RelocKind>,
    pub raw_kind: u32,
    pub local_type: TypeId,
    pub access: String,
    /// The local spec in words (`struct task_struct::real_parent`), when it parsed.
    pub local_spec: Option<String>,
    pub outcome: Outcome,
}

impl ReloReport {
    pub fn error(&self) -> Option<ReloError> {
        match &self.outcome {
            Outcome::Failed(kind) => Some(ReloError {
                section: self.section.clone(),
                index: self.index,
                kind: kind.clone(),
            }),
            _ => None,
        }
    }
}

/// Every relocation of an object against a target, with the patched
/// instructions of each executable section.
pub struct Relocated {
    pub reports: Vec<ReloReport>,
    /// ELF section index → its instructions after patching.
    pub insns: HashMap<usize, Vec<Insn>>,
}

impl Relocated {
    pub fn failures(&self) -> impl Iterator<Item = ReloError> + '_ {
        self.reports.iter().filter_map(ReloReport::error)
    }
}

/// Relocates all CO-RE relocations of `obj` against `target`. Failures are
/// reported per relocation; processing continues past them (libbpf stops
/// at the first, so its results agree with these up to that point).
pub fn relocate(obj: &BpfObject<'_>, target: &Target<'_>, opts: &RelocateOptions) -> Relocated {
    let local = obj.btf();
    let mut insns: HashMap<usize, Vec<Insn>> = HashMap::new();
    for s in obj.sections().iter().filter(|s| s.executable) {
        let v = s
            .data
            .chunks_exact(INSN_SIZE)
            .map(|c| Insn::decode(c.try_into().expect("8 bytes"), obj.endian()))
            .collect();
        insns.insert(s.index, v);
    }
    let mut reports = Vec::new();
    let mut cache: HashMap<TypeId, Vec<Cand<'_>>> = HashMap::new();
    let Some(ext) = obj.btf_ext() else {
        return Relocated { reports, insns };
    };
    for group in &ext.core_relo {
        let section = local
            .str_at(group.sec_name_off)
            .unwrap_or("<bad name>")
            .to_string();
        let sec = obj.section_by_name(&section).filter(|s| s.executable);
        for (index, relo) in group.core_relos().enumerate() {
            let access = local.str_at(relo.access_str_off).unwrap_or("").to_string();
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
                outcome: Outcome::Skipped(SkipReason::NoProgram),
            };
            report.outcome = match relocate_one(
                obj,
                target,
                opts,
                sec.map(|s| s.index),
                &relo,
                &mut report,
                &mut cache,
                &mut insns,
            ) {
                Ok(o) => o,
                Err(e) => Outcome::Failed(e),
            };
            reports.push(report);
        }
    }
    Relocated { reports, insns }
}

#[allow(clippy::too_many_arguments)]
fn relocate_one<'t>(
    obj: &BpfObject<'_>,
    target: &Target<'t>,
    opts: &RelocateOptions,
    sec: Option<usize>,
    relo: &crate::ext::CoreRelo,
    report: &mut ReloReport,
    cache: &mut HashMap<TypeId, Vec<Cand<'t>>>,
    insns: &mut HashMap<usize, Vec<Insn>>,
) -> Result<Outcome, ReloErrorKind> {
    let local = obj.btf();
    if relo.insn_off % INSN_SIZE as u32 != 0 {
        return Err(ReloErrorKind::InsnOffsetMisaligned {
            insn_off: relo.insn_off,
        });
    }
    let sec = sec.ok_or(ReloErrorKind::NoSuchSection)?;
    let insn_idx = report.insn_idx as usize;
    let sec_len = insns.get(&sec).map_or(0, Vec::len);
    if insn_idx >= sec_len {
        // libbpf finds no program there and skips it silently; an offset
        // past the section is corrupt input, so say so.
        return Err(ReloErrorKind::InsnOutOfSection {
            insn_idx: report.insn_idx,
            insns: sec_len,
        });
    }
    let Some(prog) = obj.program_at(sec, insn_idx) else {
        return Ok(Outcome::Skipped(SkipReason::NoProgram));
    };
    report.program = Some(prog.name.clone());
    report.prog_insn_idx = Some((insn_idx - prog.insn_off) as u32);
    let selected = prog.is_subprog
        || opts
            .only_programs
            .as_ref()
            .is_none_or(|names| names.contains(&prog.name));
    if !selected || (!prog.autoload && !opts.include_non_autoload) {
        // Still describe the relocation, when it parses.
        if let Some(kind) = RelocKind::from_raw(relo.kind) {
            report.local_spec = Spec::parse(local, relo.type_id, kind, &report.access)
                .ok()
                .map(|s| s.describe());
        }
        return Ok(Outcome::Skipped(SkipReason::NotAutoloaded));
    }
    let kind = RelocKind::from_raw(relo.kind).ok_or(ReloErrorKind::UnknownKind(relo.kind))?;
    let lt = local
        .type_by_id(relo.type_id)
        .map_err(|_| ReloErrorKind::NoLocalType(relo.type_id))?;
    // Candidate search comes before parsing, as in libbpf: an anonymous
    // root fails there first.
    if kind != RelocKind::TypeIdLocal && !cache.contains_key(&relo.type_id) {
        let cands = target.find_cands(local, relo.type_id)?;
        cache.insert(relo.type_id, cands);
    }
    let local_spec = Spec::parse(local, relo.type_id, kind, &report.access)?;
    report.local_spec = Some(local_spec.describe());
    let (res, resolved, matched) = if kind == RelocKind::TypeIdLocal {
        let id = relo.type_id.0 as u64;
        let res = RelocRes {
            orig_val: id,
            new_val: id,
            validate: false,
            ..RelocRes::default()
        };
        (res, None, Vec::new())
    } else {
        if local.str_bytes(lt.name_off()).unwrap_or(b"").is_empty() {
            return Err(ReloErrorKind::AnonymousRoot {
                type_id: relo.type_id,
            });
        }
        let cands = cache.get_mut(&relo.type_id).expect("inserted above");
        let d = decide(&local_spec, cands)?;
        if !d.matched.is_empty() {
            *cands = d.matched.iter().map(|(c, _)| *c).collect();
        }
        let resolved = d.target().map(|(c, spec)| ResolvedTarget {
            btf_idx: c.btf_idx,
            type_id: c.id,
            spec: spec.describe(),
            raw: spec.raw_string(),
        });
        let matched = d
            .matched
            .iter()
            .map(|(c, spec)| MatchedCand {
                btf_idx: c.btf_idx,
                type_id: c.id,
                raw: spec.raw.clone(),
            })
            .collect();
        (d.res, resolved, matched)
    };
    let sec_insns = insns.get_mut(&sec).expect("executable section");
    let prog_idx = report.prog_insn_idx.expect("set above");
    let patch = patch_insn(&mut sec_insns[insn_idx..], prog_idx, &res)?;
    Ok(Outcome::Done {
        res,
        target: resolved,
        matched,
        patch,
    })
}
