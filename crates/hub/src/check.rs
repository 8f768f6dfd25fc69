//! `core check`: whether each program of a set of objects loads on each
//! kernel of an archive or bundle (or one BTF), and why not.
//!
//! Per kernel and object, every CO-RE relocation is applied as libbpf
//! does. Then, per program (with the subprograms it pulls in), the
//! instructions that fail the load if the verifier reaches them — poisoned
//! relocations, helpers and kfuncs the kernel lacks, maps of types it lacks
//! — are looked for along the feasible paths of the relocated code
//! ([`btfkit_core::flow`]): an existence check answering 0 is a constant
//! the verifier follows, so code it guards is dead on that kernel. What
//! fails regardless of paths is named too: a relocation libbpf cannot apply
//! (it aborts the load), a program type or attach target the kernel lacks.
//! A program *fails* when one of those is certain or reached on a path the
//! kernel's types decide, is *unknown* when only paths through load-time
//! values we do not know (`const volatile` globals, `.kconfig` externs
//! without a config) reach one, and is *ok* otherwise.

mod facts;
mod helper_types;
mod isa;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use btfkit_btf::{Btf, ParseOptions};
use btfkit_bundle::Bundle;
use btfkit_core::flow::{
    self, analyze, Bindings, CtxFault, Env, ExternKind, FlowResult, FuncInfo, Limits, LoadConfig,
    ProgramLayout, Reach, Val,
};
use btfkit_core::insn::{Insn, BPF_CALL, BPF_JMP, POISON_HELPER};
use btfkit_core::Patch;
use btfkit_core::{
    relocate_with, BpfObject, Detail, Outcome, ReloReport, RelocateOptions, Relocated, Target,
};

use crate::archive::scan;
use crate::{HubError, KernelError};
use facts::TargetFacts;

/// What became of a relocation on one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Patched with a value taken from a matching target.
    Resolved,
    /// No target, answered as such: an existence check is 0.
    Missing,
    /// No usable target: the instruction is poisoned (it must be dead code).
    Poisoned(String),
    /// The relocation cannot be applied: loading fails.
    Error(String),
    /// In a program that is not loaded.
    Skipped,
}

impl Verdict {
    /// The verdict's name in reports: `resolved`, `missing`, `poisoned`,
    /// `error` or `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Resolved => "resolved",
            Verdict::Missing => "missing",
            Verdict::Poisoned(_) => "poisoned",
            Verdict::Error(_) => "error",
            Verdict::Skipped => "skipped",
        }
    }

    /// Why the relocation was poisoned or cannot be applied; empty for the
    /// other verdicts.
    pub fn detail(&self) -> &str {
        match self {
            Verdict::Poisoned(s) | Verdict::Error(s) => s,
            _ => "",
        }
    }

    /// Poisoned or error: the relocation fails the load if the verifier
    /// reaches it (poisoned) or regardless (error).
    pub fn is_failure(&self) -> bool {
        matches!(self, Verdict::Poisoned(_) | Verdict::Error(_))
    }
}

/// One relocation of one object on one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelocCheck {
    /// The object's label (as given to [`CheckObject::new`]).
    pub object: String,
    /// The ELF section holding the instruction (`kprobe/do_sys_open`…).
    pub section: String,
    /// The program or subprogram holding the instruction, when known.
    pub program: Option<String>,
    /// Instruction index in the program (libbpf's `insn #N`).
    pub insn: Option<u32>,
    /// libbpf's `relo #N`.
    pub index: usize,
    /// The relocation kind as libbpf's debug output names it (`byte_off`,
    /// `field_exists`, `type_matches`…), or `kind#N` for a kind number
    /// this crate does not know.
    pub kind: String,
    /// The local spec in words and its access string.
    pub spec: String,
    /// What became of it on this kernel.
    pub verdict: Verdict,
    /// For a poisoned relocation: how a loaded program reaches it (None:
    /// on no feasible path, the verifier drops it).
    pub reach: Option<Reach>,
    /// A poisoned relocation no feasible path reaches.
    pub optional: bool,
}

impl RelocCheck {
    /// Identifies the relocation across kernels.
    pub fn id(&self) -> String {
        format!(
            "{} {} relo #{} {} {}",
            self.object,
            self.program.as_deref().unwrap_or(&self.section),
            self.index,
            self.kind,
            self.spec
        )
    }

    /// A failure that matters: an error, or a poisoned instruction a
    /// feasible path reaches.
    pub fn fails(&self) -> bool {
        self.verdict.is_failure() && !self.optional
    }
}

/// Whether a program loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProgVerdict {
    /// Nothing found that would make the verifier or libbpf refuse it.
    Ok,
    /// Depends on load-time values we do not know.
    Unknown,
    /// Something certain, or reached on a path the kernel's types decide,
    /// fails the load (see [`ProgramCheck::reasons`]).
    Fails,
}

impl ProgVerdict {
    /// The verdict's name in reports: `ok`, `unknown` or `fails`.
    pub fn name(self) -> &'static str {
        match self {
            ProgVerdict::Ok => "ok",
            ProgVerdict::Unknown => "unknown",
            ProgVerdict::Fails => "fails",
        }
    }
}

/// What a reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonKind {
    /// A poisoned relocation is reached.
    Poisoned,
    /// libbpf cannot apply a relocation (it aborts the load).
    RelocError,
    /// A helper missing from `enum bpf_func_id`.
    Helper,
    /// A helper the program's type can never call.
    HelperProgType,
    /// A kfunc missing from the kernel's BTF.
    Kfunc,
    /// A map type missing from `enum bpf_map_type`.
    MapType,
    /// The program type is missing from `enum bpf_prog_type`.
    ProgType,
    /// A fentry/fexit/fmod_ret/lsm/tp_btf/iter target is missing.
    AttachTarget,
    /// An instruction newer than the kernel's verifier (by its version).
    InsnSet,
    /// A context load the verifier refuses: through a moved context
    /// pointer, or past the attach target's arguments.
    CtxAccess,
    /// The code is malformed where it is reached.
    Malformed,
    /// The analysis ran out of its work budget.
    Budget,
    /// The kernel's BTF could not be read.
    Kernel,
}

impl ReasonKind {
    /// The kind's name in reports (`poisoned`, `relocation_error`,
    /// `helper`, `kfunc`, `map_type`, `attach_target`…).
    pub fn name(self) -> &'static str {
        match self {
            ReasonKind::Poisoned => "poisoned",
            ReasonKind::RelocError => "relocation_error",
            ReasonKind::Helper => "helper",
            ReasonKind::HelperProgType => "helper_prog_type",
            ReasonKind::Kfunc => "kfunc",
            ReasonKind::MapType => "map_type",
            ReasonKind::ProgType => "prog_type",
            ReasonKind::AttachTarget => "attach_target",
            ReasonKind::InsnSet => "instruction_set",
            ReasonKind::CtxAccess => "ctx_access",
            ReasonKind::Malformed => "malformed",
            ReasonKind::Budget => "budget",
            ReasonKind::Kernel => "kernel",
        }
    }
}

/// Why a program fails (or may fail) on a kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// What the reason is about.
    pub kind: ReasonKind,
    /// The function holding the instruction (the program or a subprogram).
    pub func: Option<String>,
    /// Instruction index within `func`.
    pub insn: Option<u32>,
    /// What is missing, in words.
    pub message: String,
    /// Reached only through load-time values we do not know.
    pub conditional: bool,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let (Some(func), Some(i)) = (&self.func, self.insn) {
            write!(f, "{func} insn #{i}: ")?;
        }
        f.write_str(&self.message)?;
        if self.conditional {
            f.write_str(" (reached only through unknown load-time values)")?;
        }
        Ok(())
    }
}

/// One program of one object on one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramCheck {
    /// The object's label (as given to [`CheckObject::new`]).
    pub object: String,
    /// The program's name (its function's symbol).
    pub program: String,
    /// Its ELF section (`SEC("...")`), which gives libbpf its program type
    /// and attach target.
    pub section: String,
    /// Loaded by default (not a `SEC("?...")` program).
    pub autoload: bool,
    /// Whether it loads on this kernel.
    pub verdict: ProgVerdict,
    /// Why it fails or may fail; empty when [`ProgVerdict::Ok`].
    pub reasons: Vec<Reason>,
}

/// How many relocations (of loaded programs) came to each verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelocCounts {
    /// [`Verdict::Resolved`]: patched from a matching target.
    pub resolved: usize,
    /// [`Verdict::Missing`]: no target, answered as such (0 for an
    /// existence check).
    pub missing: usize,
    /// [`Verdict::Poisoned`], reached or not.
    pub poisoned: usize,
    /// [`Verdict::Error`]: libbpf would abort the load.
    pub errors: usize,
    /// Poisoned ones no feasible path reaches (`RelocCheck::optional`).
    pub guarded: usize,
}

impl RelocCounts {
    fn count(&mut self, verdict: &Verdict, optional: bool) {
        match verdict {
            Verdict::Resolved => self.resolved += 1,
            Verdict::Missing => self.missing += 1,
            Verdict::Poisoned(_) => self.poisoned += 1,
            Verdict::Error(_) => self.errors += 1,
            Verdict::Skipped => {}
        }
        self.guarded += usize::from(optional);
    }
}

/// One kernel's results for all objects.
#[derive(Clone, Debug, Default)]
pub struct KernelResult {
    /// Every relocation's verdict, counted.
    pub counts: RelocCounts,
    /// The relocations (of loaded programs) that fail (poisoned or
    /// error), or with `CheckOptions::all_relocations` every one. A large
    /// object has tens of thousands of relocations per kernel, which a
    /// check over a whole archive would otherwise hold for every kernel.
    pub relocations: Vec<RelocCheck>,
    /// Every program, autoloaded ones first.
    pub programs: Vec<ProgramCheck>,
}

/// One kernel's results, or why it could not be checked.
#[derive(Debug)]
pub struct KernelCheck {
    /// The kernel's `distro/version/arch/release` key; for an archive file
    /// rejected before it had a key, its path.
    pub key: String,
    /// The kernel's results, or why its BTF could not be read or parsed
    /// (or why the archive scan rejected the file).
    pub result: Result<KernelResult, KernelError>,
}

impl KernelCheck {
    /// The kernel's verdict: the worst of its loaded programs (a kernel
    /// that cannot be read fails).
    pub fn verdict(&self) -> ProgVerdict {
        match &self.result {
            Ok(r) => r
                .programs
                .iter()
                .filter(|p| p.autoload)
                .map(|p| p.verdict)
                .max()
                .unwrap_or(ProgVerdict::Ok),
            Err(_) => ProgVerdict::Fails,
        }
    }

    /// Whether [`verdict`](Self::verdict) is [`ProgVerdict::Fails`].
    pub fn fails(&self) -> bool {
        self.verdict() == ProgVerdict::Fails
    }
}

/// An object prepared for checking: parsed once, its code laid out once.
pub struct CheckObject<'a> {
    /// The name results use for the object (typically its file name).
    pub label: String,
    /// The parsed object.
    pub obj: BpfObject<'a>,
    layout: Result<ProgramLayout, String>,
    map_types: HashMap<String, u32>,
}

impl<'a> CheckObject<'a> {
    /// Prepares `obj` under `label`: lays out its programs and subprograms
    /// and reads its maps' types from `.maps`. Never fails: an object whose
    /// code cannot be laid out gets every program reported
    /// [`ProgVerdict::Unknown`] with a [`ReasonKind::Malformed`] reason.
    pub fn new(label: impl Into<String>, obj: BpfObject<'a>) -> CheckObject<'a> {
        let layout = ProgramLayout::build(&obj).map_err(|e| e.to_string());
        let map_types = flow::btf_map_types(&obj).into_iter().collect();
        CheckObject {
            label: label.into(),
            obj,
            layout,
            map_types,
        }
    }
}

/// What is known about loading, besides the kernel's BTF.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Kernel config, pinned `const volatile` globals. `kernel_version`
    /// is used as given; when None it comes from the kernel's release (see
    /// `check_target`).
    pub load: LoadConfig,
    /// The flow analysis' budget per program (instructions interpreted,
    /// call depth); running out gives a [`ReasonKind::Budget`] reason.
    pub limits: Limits,
    /// Keep every relocation in `KernelResult::relocations`, each spec
    /// described in words (`RelocCheck::spec`); off, only failing ones are
    /// kept (describing costs more than deciding, and keeping all costs
    /// memory in proportion to relocations times kernels).
    pub all_relocations: bool,
}

/// Checks every program of `objects` against one kernel. `release` (for
/// `LINUX_KERNEL_VERSION`) is the kernel's release string when known.
pub fn check_target(
    objects: &[CheckObject<'_>],
    target: &Target<'_>,
    release: Option<&str>,
    opts: &CheckOptions,
) -> KernelResult {
    let mut facts = TargetFacts::new(target);
    let mut load = opts.load.clone();
    if load.kernel_version.is_none() {
        load.kernel_version = release.and_then(flow::kernel_version_of);
    }
    facts.insn_set = isa::InsnSet::of(release, load.kernel_version);
    let mut out = KernelResult::default();
    for o in objects {
        check_object(o, target, &facts, &load, opts, &mut out);
    }
    out.programs.sort_by_key(|p| !p.autoload);
    out
}

fn check_object(
    o: &CheckObject<'_>,
    target: &Target<'_>,
    facts: &TargetFacts<'_>,
    load: &LoadConfig,
    opts: &CheckOptions,
    out: &mut KernelResult,
) {
    let (limits, all) = (&opts.limits, opts.all_relocations);
    let detail = Detail {
        describe: all,
        ..Detail::default()
    };
    let rel = relocate_with(&o.obj, target, &RelocateOptions::default(), detail);
    let layout = match &o.layout {
        Ok(l) => l,
        Err(e) => {
            // Without a layout nothing can be analyzed: report each program.
            for p in o.obj.programs().iter().filter(|p| !p.is_subprog) {
                out.programs.push(ProgramCheck {
                    object: o.label.clone(),
                    program: p.name.clone(),
                    section: p.section_name.clone(),
                    autoload: p.autoload,
                    verdict: ProgVerdict::Unknown,
                    reasons: vec![plain(ReasonKind::Malformed, format!("object: {e}"))],
                });
            }
            return;
        }
    };
    let bindings = Bindings::new(&o.obj, layout, load);
    let mut ctx = ObjectRun::new(o, layout, &rel, facts, &bindings, limits);
    let loaded: Vec<_> = layout
        .funcs
        .iter()
        .filter(|f| f.autoload && !f.is_subprog)
        .collect();
    for f in &loaded {
        let pc = ctx.program(f);
        out.programs.push(pc);
    }
    let kept = reloc_checks(o, layout, &rel, &ctx.reached, all, &mut out.counts);
    out.relocations.extend(kept);
    // Programs libbpf does not load by default, as if userspace enabled
    // them all (their relocations then take part in candidate pruning).
    if layout.funcs.iter().any(|f| !f.autoload && !f.is_subprog) {
        let all = RelocateOptions {
            include_non_autoload: true,
            ..RelocateOptions::default()
        };
        let rel = relocate_with(&o.obj, target, &all, detail);
        let mut ctx = ObjectRun::new(o, layout, &rel, facts, &bindings, limits);
        for f in layout.funcs.iter().filter(|f| !f.autoload && !f.is_subprog) {
            out.programs.push(ctx.program(f));
        }
    }
}

fn plain(kind: ReasonKind, message: String) -> Reason {
    Reason {
        kind,
        func: None,
        insn: None,
        message,
        conditional: false,
    }
}

/// The relocation table of one object on one kernel: every verdict
/// counted into `counts`; the failing relocations (all with `all`)
/// returned, the others never described.
fn reloc_checks(
    o: &CheckObject<'_>,
    layout: &ProgramLayout,
    rel: &Relocated,
    reached: &HashMap<u32, Reach>,
    all: bool,
    counts: &mut RelocCounts,
) -> Vec<RelocCheck> {
    let mut kept = Vec::new();
    for r in &rel.reports {
        let verdict = reloc_verdict(r);
        let reach = match verdict {
            Verdict::Poisoned(_) => r
                .section_index
                .and_then(|s| layout.flat(s, r.insn_idx as usize))
                .and_then(|a| reached.get(&a).copied()),
            _ => None,
        };
        let optional = matches!(verdict, Verdict::Poisoned(_)) && reach.is_none();
        counts.count(&verdict, optional);
        if !all && !verdict.is_failure() {
            continue;
        }
        kept.push(RelocCheck {
            object: o.label.clone(),
            section: r.section.to_string(),
            program: r.program.as_deref().map(str::to_string),
            insn: r.prog_insn_idx,
            index: r.index,
            kind: r
                .kind
                .map_or_else(|| format!("kind#{}", r.raw_kind), |k| k.name().to_string()),
            spec: format!("{} ({})", describe(&o.obj, r), r.access),
            verdict,
            reach,
            optional,
        });
    }
    kept
}

fn reloc_verdict(r: &ReloReport) -> Verdict {
    match &r.outcome {
        Outcome::Skipped(_) => Verdict::Skipped,
        Outcome::Failed(e) => Verdict::Error(e.to_string()),
        Outcome::Done {
            patch: Patch::Poisoned(why),
            ..
        } => Verdict::Poisoned(why.to_string()),
        Outcome::Done { target: None, .. }
            if r.kind != Some(btfkit_core::RelocKind::TypeIdLocal) =>
        {
            Verdict::Missing
        }
        Outcome::Done { .. } => Verdict::Resolved,
    }
}

/// The relocation's local spec in words: as the pass described it, or
/// described now (failing relocations, when the pass did not describe).
fn describe(obj: &BpfObject<'_>, r: &ReloReport) -> String {
    if let Some(s) = &r.local_spec {
        return s.clone();
    }
    let described = matches!(
        r.outcome,
        Outcome::Failed(_)
            | Outcome::Done {
                patch: Patch::Poisoned(_),
                ..
            }
    )
    .then(|| r.describe_local(obj.btf()))
    .flatten();
    described.unwrap_or_else(|| format!("[{}]", r.local_type))
}

/// An instruction that fails the load if the verifier reaches it.
#[derive(Clone, Debug)]
enum Site {
    /// Poisoned by relocation report #i (None: poisoned, origin unknown).
    Poison(Option<usize>),
    Helper(String),
    /// A helper some program types can never call (helper id): a reason
    /// only for programs of those types that reach it.
    RestrictedHelper(i32),
    Kfunc(String),
    MapType {
        map: String,
        map_type: String,
    },
    /// What the instruction needs that the kernel's verifier lacks.
    InsnSet(String),
}

/// One object's relocated code on one kernel, ready to analyze programs.
struct ObjectRun<'a> {
    o: &'a CheckObject<'a>,
    layout: &'a ProgramLayout,
    rel: &'a Relocated,
    facts: &'a TargetFacts<'a>,
    limits: &'a Limits,
    insns: Vec<Insn>,
    env: KernelEnv<'a>,
    /// Relocation errors: flat address, report index (sorted).
    errors: Vec<(u32, usize)>,
    /// How analyzed programs reach each site.
    reached: HashMap<u32, Reach>,
}

impl<'a> ObjectRun<'a> {
    fn new(
        o: &'a CheckObject<'a>,
        layout: &'a ProgramLayout,
        rel: &'a Relocated,
        facts: &'a TargetFacts<'a>,
        bindings: &'a Bindings,
        limits: &'a Limits,
    ) -> Self {
        let insns = layout.flatten(&rel.insns);
        let mut poisoned_by: HashMap<u32, usize> = HashMap::new();
        let mut errors = Vec::new();
        for (i, r) in rel.reports.iter().enumerate() {
            let Some(a) = r
                .section_index
                .and_then(|s| layout.flat(s, r.insn_idx as usize))
            else {
                continue;
            };
            match &r.outcome {
                Outcome::Done {
                    patch: Patch::Poisoned(_),
                    ..
                } => {
                    poisoned_by.insert(a, i);
                }
                Outcome::Failed(_) => {
                    errors.push((a, i));
                }
                _ => {}
            }
        }
        let missing_kfuncs: HashSet<u32> = layout
            .externs
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == ExternKind::Kfunc && !facts.has_func(&e.name))
            .map(|(i, _)| i as u32)
            .collect();
        errors.sort_unstable();
        let sites = find_sites(o, layout, &insns, facts, &poisoned_by);
        let mut site_addrs: Vec<u32> = sites.keys().copied().collect();
        site_addrs.sort_unstable();
        let mut site_bits = vec![false; insns.len()];
        for &a in &site_addrs {
            site_bits[a as usize] = true;
        }
        ObjectRun {
            o,
            layout,
            rel,
            facts,
            limits,
            insns,
            env: KernelEnv {
                layout,
                bindings,
                sites,
                site_addrs,
                site_bits,
                missing_kfuncs,
            },
            errors,
            reached: HashMap::new(),
        }
    }

    /// The verdict of a program (with the subprograms it pulls in).
    fn program(&mut self, main: &'a FuncInfo) -> ProgramCheck {
        let entry = main.entry;
        let mut funcs = self.layout.program_funcs(entry);
        if funcs.is_empty() {
            funcs.push(main);
        }
        let mut reasons = self.static_reasons(main.entry, &main.section_name);
        let ranges: Vec<(u32, u32)> = funcs.iter().map(|f| (f.entry, f.entry + f.len)).collect();
        for &(a, i) in &self.errors {
            if in_ranges(&ranges, a) {
                let r = &self.rel.reports[i];
                let e = r.error().map_or_else(String::new, |e| e.kind.to_string());
                reasons.push(self.at(
                    a,
                    ReasonKind::RelocError,
                    format!("relo #{} cannot be applied: {e}", r.index),
                    Reach::Feasible,
                ));
            }
        }
        // A strong kfunc libbpf cannot resolve fails the load wherever it
        // is called (a weak one is a site: its call is poisoned).
        let mut kfuncs: Vec<(u32, String)> = self
            .layout
            .kfunc_calls()
            .filter(|(a, e)| !e.weak && in_ranges(&ranges, *a) && !self.facts.has_func(&e.name))
            .map(|(a, e)| (a, e.name.clone()))
            .collect();
        kfuncs.sort();
        for (a, name) in kfuncs {
            reasons.push(self.at(
                a,
                ReasonKind::Kfunc,
                format!("kfunc {name} is not in the kernel's BTF"),
                Reach::Feasible,
            ));
        }
        self.refused_anywhere(&ranges, &mut reasons);
        let has_site = ranges.iter().any(|&(lo, hi)| {
            let i = self.env.site_addrs.partition_point(|&a| a < lo);
            self.env.site_addrs.get(i).is_some_and(|&a| a < hi)
        });
        let ctx = self.facts.ctx_args(&main.section_name);
        if has_site || ctx.is_some() {
            let env = ProgramEnv {
                kernel: &self.env,
                ctx_size: ctx.as_ref().map(|c| c.size()),
            };
            let r = analyze(self.layout, &self.insns, entry, &env, self.limits);
            let prog_type = flow::secdef::sec_def(&main.section_name).map(|d| d.prog_type);
            self.flow_reasons(&r, prog_type, &mut reasons);
            self.ctx_reasons(&r, ctx.as_ref(), &mut reasons);
        }
        reasons.dedup();
        let verdict = if reasons
            .iter()
            .any(|r| !r.conditional && r.kind != ReasonKind::Budget)
        {
            ProgVerdict::Fails
        } else if reasons.is_empty() {
            ProgVerdict::Ok
        } else {
            ProgVerdict::Unknown
        };
        ProgramCheck {
            object: self.o.label.clone(),
            program: main.name.clone(),
            section: main.section_name.clone(),
            autoload: main.autoload,
            verdict,
            reasons,
        }
    }

    /// Instructions of the program (its functions' `ranges`) the kernel's
    /// verifier refuses wherever they are, reached or not.
    fn refused_anywhere(&self, ranges: &[(u32, u32)], out: &mut Vec<Reason>) {
        let Some(set) = self.facts.insn_set.filter(|s| s.refuses_anywhere()) else {
            return;
        };
        for &(lo, hi) in ranges {
            let end = (hi as usize).min(self.insns.len());
            for a in lo as usize..end {
                if let Some(m) = set.missing(&self.insns[a]).filter(|m| m.anywhere) {
                    let reason = self.at(a as u32, ReasonKind::InsnSet, m.message, Reach::Feasible);
                    out.push(reason);
                }
            }
        }
    }

    /// What fails a program whatever its code does: its type or attach
    /// target missing from the kernel.
    fn static_reasons(&self, _entry: u32, section: &str) -> Vec<Reason> {
        let mut out = Vec::new();
        let Some(def) = flow::secdef::sec_def(section) else {
            return out;
        };
        if self
            .facts
            .prog_types
            .as_ref()
            .is_some_and(|s| !s.contains(def.prog_type))
        {
            out.push(plain(
                ReasonKind::ProgType,
                format!(
                    "program type {} is not in enum bpf_prog_type",
                    def.prog_type
                ),
            ));
            return out;
        }
        if let Some(t) = def.attach {
            let found = match t.kind {
                flow::secdef::AttachKind::Func => self.facts.has_func(&t.name),
                flow::secdef::AttachKind::Typedef => self.facts.has_typedef(&t.name),
            };
            if !found {
                let what = match t.kind {
                    flow::secdef::AttachKind::Func => "function",
                    flow::secdef::AttachKind::Typedef => "typedef",
                };
                out.push(plain(
                    ReasonKind::AttachTarget,
                    format!("attach target {what} {} is not in the kernel's BTF", t.name),
                ));
            }
        }
        out
    }

    fn flow_reasons(&mut self, r: &FlowResult, prog_type: Option<&str>, out: &mut Vec<Reason>) {
        let mut sites: Vec<(u32, Reach)> = r.sites.iter().map(|(a, r)| (*a, *r)).collect();
        sites.sort();
        for (a, reach) in sites {
            let e = self.reached.entry(a).or_insert(reach);
            *e = (*e).max(reach);
            let Some(site) = self.env.sites.get(&a) else {
                continue;
            };
            if let Site::RestrictedHelper(id) = site {
                let version = self.facts.insn_set.map(|s| s.version());
                let Some(t) = prog_type.filter(|t| helper_types::refuses(t, *id, version)) else {
                    continue;
                };
                let msg = format!(
                    "helper {} cannot be called by {t} programs{}",
                    helper_name(*id),
                    if helper_types::refuses(t, *id, None) {
                        ""
                    } else {
                        " of this kernel's version"
                    }
                );
                out.push(self.at(a, ReasonKind::HelperProgType, msg, reach));
                continue;
            }
            let (kind, msg) = self.site_message(site);
            out.push(self.at(a, kind, msg, reach));
        }
        for (a, m, reach) in &r.malformed {
            out.push(self.at(*a, ReasonKind::Malformed, m.to_string(), *reach));
        }
        if r.exhausted {
            out.push(plain(
                ReasonKind::Budget,
                format!(
                    "analysis stopped after {} instructions: the rest is not checked",
                    r.steps
                ),
            ));
        }
    }

    fn ctx_reasons(&self, r: &FlowResult, ctx: Option<&facts::CtxArgs>, out: &mut Vec<Reason>) {
        for (a, fault, reach) in &r.ctx_faults {
            let msg = match (fault, ctx) {
                (CtxFault::Modified { off }, _) => {
                    format!("loads through the context pointer moved by {off} (dereference of modified ctx ptr)")
                }
                (CtxFault::BeyondArgs { off }, Some(c)) => format!(
                    "reads ctx[{}] but the kernel's {} has {} argument{}{}",
                    off / 8,
                    c.target,
                    c.args,
                    if c.args == 1 { "" } else { "s" },
                    if c.retval { " and a return value" } else { "" }
                ),
                (CtxFault::BeyondArgs { off }, None) => format!("reads ctx at {off}"),
            };
            out.push(self.at(*a, ReasonKind::CtxAccess, msg, *reach));
        }
    }

    fn site_message(&self, site: &Site) -> (ReasonKind, String) {
        match site {
            Site::Poison(Some(i)) => {
                let r = &self.rel.reports[*i];
                let kind = r.kind.map_or("?", |k| k.name());
                let spec = describe(&self.o.obj, r);
                let why = match &r.outcome {
                    Outcome::Done {
                        patch: Patch::Poisoned(w),
                        ..
                    } => w.to_string(),
                    _ => String::new(),
                };
                (
                    ReasonKind::Poisoned,
                    format!(
                        "relo #{} {kind} {spec} ({}) is poisoned: {why}",
                        r.index, r.access
                    ),
                )
            }
            Site::Poison(None) => (
                ReasonKind::Poisoned,
                "poisoned instruction (call 0xbad2310)".to_string(),
            ),
            Site::Helper(name) => (
                ReasonKind::Helper,
                format!("helper {name} is not in enum bpf_func_id"),
            ),
            Site::RestrictedHelper(id) => (
                ReasonKind::HelperProgType,
                format!(
                    "helper {} (some program types cannot call it)",
                    helper_name(*id)
                ),
            ),
            Site::Kfunc(name) => (
                ReasonKind::Kfunc,
                format!("weak kfunc {name} is not in the kernel's BTF (its call is poisoned)"),
            ),
            Site::MapType { map, map_type } => (
                ReasonKind::MapType,
                format!("map {map}: map type {map_type} is not in enum bpf_map_type"),
            ),
            Site::InsnSet(what) => (ReasonKind::InsnSet, what.clone()),
        }
    }

    /// A reason at flat address `a`.
    fn at(&self, a: u32, kind: ReasonKind, message: String, reach: Reach) -> Reason {
        let (func, insn) = match self.layout.locate(a) {
            Some((f, i)) => (Some(f.name.clone()), Some(i)),
            None => (None, None),
        };
        Reason {
            kind,
            func,
            insn,
            message,
            conditional: reach == Reach::Config,
        }
    }
}

/// A helper's name from linux/bpf.h (`#id` when newer than the table).
fn helper_name(id: i32) -> String {
    btfkit_core::bpf_tables::HELPERS
        .iter()
        .find(|(v, _)| *v as i64 == id as i64)
        .map_or_else(|| format!("#{id}"), |(_, n)| n.to_string())
}

/// Whether `a` is in one of the half-open `ranges`.
fn in_ranges(ranges: &[(u32, u32)], a: u32) -> bool {
    ranges.iter().any(|&(lo, hi)| a >= lo && a < hi)
}

/// The instructions of an object that fail the load on this kernel if
/// reached.
fn find_sites(
    o: &CheckObject<'_>,
    layout: &ProgramLayout,
    insns: &[Insn],
    facts: &TargetFacts<'_>,
    poisoned_by: &HashMap<u32, usize>,
) -> HashMap<u32, Site> {
    let mut sites = HashMap::new();
    let mut a = 0usize;
    while a < insns.len() {
        let insn = insns[a];
        let addr = a as u32;
        a += if insn.is_ld_imm64() { 2 } else { 1 };
        // (Refused anywhere: `ObjectRun::program` says so, unreached.)
        if let Some(m) = facts.insn_set.and_then(|s| s.missing(&insn)) {
            if !m.anywhere {
                sites.insert(addr, Site::InsnSet(m.message));
            }
            continue;
        }
        if insn.code != BPF_JMP | BPF_CALL {
            continue;
        }
        if let Some(e) = layout.kfunc_call(addr) {
            if e.weak && !facts.has_func(&e.name) {
                sites.insert(addr, Site::Kfunc(e.name.clone()));
            }
            continue;
        }
        if insn.src_reg != 0 {
            continue;
        }
        if insn.imm == POISON_HELPER {
            sites.insert(addr, Site::Poison(poisoned_by.get(&addr).copied()));
            // A poisoned ld_imm64 is two poisoned calls: skip the second.
            if poisoned_by.contains_key(&addr)
                && insns.get(a) == Some(&insn)
                && !poisoned_by.contains_key(&(a as u32))
            {
                a += 1;
            }
        } else if let Some(name) = facts.missing_helper(insn.imm) {
            sites.insert(addr, Site::Helper(name));
        } else if helper_types::restricted(insn.imm) {
            sites.insert(addr, Site::RestrictedHelper(insn.imm));
        }
    }
    for (addr, map) in layout.map_loads() {
        let Some(&ty) = o.map_types.get(map) else {
            continue;
        };
        if let Some(name) = facts.missing_map_type(ty) {
            sites.insert(
                addr,
                Site::MapType {
                    map: map.to_string(),
                    map_type: name,
                },
            );
        }
    }
    sites
}

/// What the interpreter reads on this kernel.
struct KernelEnv<'a> {
    layout: &'a ProgramLayout,
    bindings: &'a Bindings,
    sites: HashMap<u32, Site>,
    /// The sites' addresses, sorted, and as a bitmap over the code (the
    /// interpreter asks once per instruction).
    site_addrs: Vec<u32>,
    site_bits: Vec<bool>,
    missing_kfuncs: HashSet<u32>,
}

/// The kernel's environment as one program sees it: its context's size.
struct ProgramEnv<'a> {
    kernel: &'a KernelEnv<'a>,
    ctx_size: Option<i64>,
}

impl Env for ProgramEnv<'_> {
    fn load(&self, region: u32, off: i64, size: u32) -> Val {
        self.kernel.load(region, off, size)
    }

    fn extern_addr(&self, ext: u32) -> Val {
        self.kernel.extern_addr(ext)
    }

    fn is_site(&self, addr: u32) -> bool {
        self.kernel.is_site(addr)
    }

    fn ctx_size(&self) -> Option<i64> {
        self.ctx_size
    }
}

impl Env for KernelEnv<'_> {
    fn load(&self, region: u32, off: i64, size: u32) -> Val {
        self.bindings.load(region, off, size)
    }

    fn extern_addr(&self, ext: u32) -> Val {
        match self.layout.externs.get(ext as usize) {
            Some(e) if e.kind == ExternKind::Kconfig => {
                e.region.map_or(Val::Top, |r| Val::Data(r, 0))
            }
            // `bpf_ksym_exists()`: libbpf loads 0 for a missing weak kfunc.
            Some(e)
                if e.kind == ExternKind::Kfunc && e.weak && self.missing_kfuncs.contains(&ext) =>
            {
                Val::Const(0)
            }
            _ => Val::Top,
        }
    }

    fn is_site(&self, addr: u32) -> bool {
        self.site_bits.get(addr as usize).copied().unwrap_or(false)
    }
}

fn check_bytes(
    objects: &[CheckObject<'_>],
    bytes: &[u8],
    key: &str,
    opts: &CheckOptions,
) -> Result<KernelResult, KernelError> {
    let btf = Btf::parse_with(
        std::borrow::Cow::Borrowed(bytes),
        None,
        ParseOptions {
            threads: 1,
            ..ParseOptions::default()
        },
    )?;
    let target = Target::new(&btf);
    Ok(check_target(objects, &target, release_of(key), opts))
}

/// The release of a `distro/version/arch/release` key.
pub fn release_of(key: &str) -> Option<&str> {
    key.rsplit('/').next().filter(|r| !r.is_empty())
}

/// Every kernel of a btfhub-layout archive, in parallel.
pub fn check_archive(
    archive: &Path,
    objects: &[CheckObject<'_>],
    jobs: usize,
    opts: &CheckOptions,
) -> Result<Vec<KernelCheck>, HubError> {
    if !archive.is_dir() {
        return Err(HubError::NotADirectory {
            path: archive.to_path_buf(),
        });
    }
    let (kernels, rejected) = scan(archive);
    let mut out: Vec<KernelCheck> = rejected
        .into_iter()
        .map(|r| KernelCheck {
            key: r.key.unwrap_or_else(|| r.path.display().to_string()),
            result: Err(r.reason.into()),
        })
        .collect();
    let jobs = match jobs {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(kernels.len().max(1));
    // Largest first, so that no big kernel starts last and leaves the other
    // workers idle while it finishes.
    let mut order: Vec<usize> = (0..kernels.len()).collect();
    let size = |i: usize| std::fs::metadata(&kernels[i].path).map_or(0, |m| m.len());
    order.sort_by_cached_key(|&i| std::cmp::Reverse(size(i)));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<KernelCheck>>> = kernels
        .iter()
        .map(|_| std::sync::Mutex::new(None))
        .collect();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(&i) = order.get(at) else { break };
                let k = &kernels[i];
                let key = k.key.to_string();
                let result = crate::build::load_kernel_btf(k)
                    .map_err(KernelError::from)
                    .and_then(|raw| check_bytes(objects, raw.bytes(), &key, opts));
                *slots[i].lock().expect("slot") = Some(KernelCheck { key, result });
            });
        }
    });
    out.extend(
        slots
            .into_iter()
            .map(|m| m.into_inner().expect("slot").expect("every kernel ran")),
    );
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// Every kernel of a bundle (its minimized BTFs relocate as the full ones
/// do, and keep what the checks beyond relocations look up when the bundle
/// was built for these objects).
pub fn check_bundle(
    bundle: &Bundle<'_>,
    objects: &[CheckObject<'_>],
    opts: &CheckOptions,
) -> Vec<KernelCheck> {
    bundle
        .entries()
        .map(|e| {
            let key = e.key().to_string();
            let result = bundle
                .get(&e)
                .map_err(KernelError::from)
                .and_then(|raw| check_bytes(objects, &raw, &key, opts));
            KernelCheck { key, result }
        })
        .collect()
}

#[cfg(test)]
mod tests;
