//! The kernel-independent shape of an object's code: one flat address
//! space over its executable sections, the functions in it, and what the
//! ELF relocations of the code say (libbpf's `bpf_program__record_reloc`):
//! BPF-to-BPF call targets, `ld_imm64` of maps, globals, externs and
//! subprogram addresses, and kfunc calls.
//!
//! Built once per object; each kernel's relocated instructions are then
//! laid out the same way by [`ProgramLayout::flatten`].

use std::collections::HashMap;

use crate::fast::{FastMap, FastSet};

use btfkit_btf::TypeData;
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget, SymbolKind};

use crate::insn::{Insn, BPF_CALL, BPF_JMP, BPF_JMP32, INSN_SIZE};
use crate::object::BpfObject;

/// `src_reg` of a BPF-to-BPF call.
pub const BPF_PSEUDO_CALL: u8 = 1;
/// `src_reg` of a kfunc call (after libbpf; clang leaves 0 or 2).
pub const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// Why [`ProgramLayout::build`] failed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// The `object` crate could not read the file again to walk the
    /// relocation sections. Holds its message.
    #[error("ELF: {0}")]
    Elf(String),
    /// The executable sections together hold more than `u32::MAX / 2`
    /// (2^31 - 1) instructions: flat addresses, with room for relative
    /// jumps past either end, would not fit in 32 bits.
    #[error("the executable sections hold more than 2^31 - 1 instructions")]
    TooBig,
}

/// An executable section in the flat address space.
#[derive(Clone, Debug)]
pub struct Span {
    /// ELF index of the section.
    pub elf_index: usize,
    /// Section name as in the ELF file.
    pub name: String,
    /// Flat address of its first instruction.
    pub base: u32,
    /// Length in instructions (8-byte slots).
    pub len: u32,
}

/// A function symbol: a program or a subprogram.
#[derive(Clone, Debug)]
pub struct FuncInfo {
    /// The function symbol's name.
    pub name: String,
    /// Flat address of its first instruction.
    pub entry: u32,
    /// Length in instructions (8-byte slots).
    pub len: u32,
    /// Global functions are verified on their own, with unknown arguments.
    pub global: bool,
    /// libbpf loads it by default (no `?` section prefix), as
    /// [`Program::autoload`](crate::Program::autoload).
    pub autoload: bool,
    /// A subprogram in `.text`, as
    /// [`Program::is_subprog`](crate::Program::is_subprog) (for
    /// [`ProgramLayout::from_insns`]: any function not at address 0).
    pub is_subprog: bool,
    /// Section name without the `?` prefix.
    pub section_name: String,
}

/// What an `ld_imm64` loads, by its ELF relocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LdRef {
    /// A map's address (by the map's symbol name).
    Map(String),
    /// A global variable's address: region (see [`ProgramLayout::regions`]) and offset.
    Data {
        /// Index into [`ProgramLayout::regions`].
        region: u32,
        /// Byte offset within the section: the symbol's value plus the
        /// instruction's `imm`.
        off: i64,
    },
    /// A subprogram's address (a callback for `bpf_loop` and friends).
    Func(u32),
    /// An extern: index into [`ProgramLayout::externs`].
    Extern(u32),
}

/// What sort of extern an [`Extern`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternKind {
    /// `extern T NAME __kconfig;` (a variable in `.kconfig`).
    Kconfig,
    /// `extern T NAME __ksym;` variable.
    Ksym,
    /// `extern T f(...) __ksym;`: a kfunc.
    Kfunc,
}

/// An extern the object's code refers to, resolved by libbpf at load time:
/// a `.kconfig` variable or extern function from the object's BTF, or an
/// undefined symbol an ELF relocation of the code names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extern {
    /// The symbol name (`CONFIG_X`, `LINUX_KERNEL_VERSION`, a kernel
    /// symbol or kfunc name).
    pub name: String,
    /// Kconfig variable, ksym variable or kfunc.
    pub kind: ExternKind,
    /// `__weak`: libbpf tolerates its absence (0 / a poisoned call).
    pub weak: bool,
    /// For a `.kconfig` variable: its region (loads through it read the value).
    pub region: Option<u32>,
}

/// A memory region global loads can read: a data section or a `.kconfig` extern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Region {
    /// A data section (`.rodata`, `.data`, `.bss`, `.rodata.str1.1`, ...)
    /// by name.
    Section(String),
    /// A `.kconfig` extern variable by name: loads at offset 0 read its
    /// value.
    Kconfig(String),
}

/// See the module documentation.
#[derive(Clone, Debug, Default)]
pub struct ProgramLayout {
    /// The executable sections in ELF order, laid end to end from flat
    /// address 0.
    pub spans: Vec<Span>,
    /// Sorted by entry.
    pub funcs: Vec<FuncInfo>,
    /// Every extern found, in the order found; [`LdRef::Extern`] indexes it.
    pub externs: Vec<Extern>,
    /// Every memory region global loads can read, in the order found;
    /// [`LdRef::Data`], [`Extern::region`] and [`Val::Data`](super::Val::Data)
    /// index it.
    pub regions: Vec<Region>,
    calls: FastMap<u32, u32>,
    ldrefs: FastMap<u32, LdRef>,
    kfunc_calls: FastMap<u32, u32>,
    /// Block entries: jump targets, instructions after jumps, functions.
    leaders: FastSet<u32>,
    /// Per function (as `funcs`): the functions it calls or takes the
    /// address of.
    refs: Vec<Vec<u32>>,
    total: u32,
}

impl ProgramLayout {
    /// Reads the object's executable sections, functions and relocations.
    pub fn build(obj: &BpfObject<'_>) -> Result<ProgramLayout, LayoutError> {
        let mut l = ProgramLayout::default();
        let mut base: u64 = 0;
        for s in obj.sections().iter().filter(|s| s.executable) {
            let len = (s.data.len() / INSN_SIZE) as u64;
            l.spans.push(Span {
                elf_index: s.index,
                name: s.name.clone(),
                base: base as u32,
                len: len as u32,
            });
            base += len;
            if base > u32::MAX as u64 / 2 {
                return Err(LayoutError::TooBig);
            }
        }
        l.total = base as u32;
        for p in obj.programs() {
            if let Some(entry) = l.flat(p.section, p.insn_off) {
                l.funcs.push(FuncInfo {
                    name: p.name.clone(),
                    entry,
                    len: p.insn_cnt as u32,
                    global: p.global,
                    autoload: p.autoload,
                    is_subprog: p.is_subprog,
                    section_name: p.section_name.clone(),
                });
            }
        }
        l.funcs.sort_by_key(|f| f.entry);
        l.read_externs(obj);
        l.read_relocations(obj)?;
        l.find_leaders(obj);
        l.find_refs();
        Ok(l)
    }

    /// Flat address of instruction `idx` of ELF section `elf_index`.
    pub fn flat(&self, elf_index: usize, idx: usize) -> Option<u32> {
        let s = self.spans.iter().find(|s| s.elf_index == elf_index)?;
        (idx < s.len as usize).then(|| s.base + idx as u32)
    }

    /// The span holding `addr`.
    pub fn span_of(&self, addr: u32) -> Option<&Span> {
        let i = self.spans.partition_point(|s| s.base <= addr);
        let s = self.spans.get(i.checked_sub(1)?)?;
        (addr < s.base + s.len).then_some(s)
    }

    /// The function holding `addr`, and the instruction's index in it.
    pub fn locate(&self, addr: u32) -> Option<(&FuncInfo, u32)> {
        let i = self.funcs.partition_point(|f| f.entry <= addr);
        let f = self.funcs.get(i.checked_sub(1)?)?;
        (addr < f.entry + f.len).then(|| (f, addr - f.entry))
    }

    /// The function starting at `addr`.
    pub fn func_at(&self, addr: u32) -> Option<&FuncInfo> {
        self.locate(addr).filter(|(_, i)| *i == 0).map(|(f, _)| f)
    }

    /// Number of instructions in the flat address space (the sum of the
    /// spans' lengths).
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Callee of a BPF-to-BPF call at `addr` (None: not a resolvable call).
    pub fn call_target(&self, addr: u32) -> Option<u32> {
        self.calls.get(&addr).copied()
    }

    /// What the `ld_imm64` at `addr` loads, by its ELF relocation; `None`
    /// when no relocation this layout understands targets it.
    pub fn ldref(&self, addr: u32) -> Option<&LdRef> {
        self.ldrefs.get(&addr)
    }

    /// The extern a `call` at `addr` calls (a kfunc).
    pub fn kfunc_call(&self, addr: u32) -> Option<&Extern> {
        self.kfunc_calls
            .get(&addr)
            .and_then(|&i| self.externs.get(i as usize))
    }

    /// Every kfunc call site.
    pub fn kfunc_calls(&self) -> impl Iterator<Item = (u32, &Extern)> + '_ {
        self.kfunc_calls
            .iter()
            .filter_map(|(&a, &i)| Some((a, self.externs.get(i as usize)?)))
    }

    /// Every `ld_imm64` of a map: (address, map name).
    pub fn map_loads(&self) -> impl Iterator<Item = (u32, &str)> + '_ {
        self.ldrefs.iter().filter_map(|(&a, r)| match r {
            LdRef::Map(m) => Some((a, m.as_str())),
            _ => None,
        })
    }

    #[cfg(test)]
    pub(crate) fn set_ldref_for_tests(&mut self, addr: u32, r: LdRef) {
        self.ldrefs.insert(addr, r);
    }

    /// Whether a basic block starts at `addr`: a function entry, a call or
    /// jump target, or the instruction after a jump.
    pub fn is_leader(&self, addr: u32) -> bool {
        self.leaders.contains(&addr)
    }

    /// The functions a program pulls in (itself first): the closure of its
    /// calls and of the subprogram addresses it loads, as libbpf appends
    /// subprograms to a program.
    pub fn program_funcs(&self, entry: u32) -> Vec<&FuncInfo> {
        let mut seen: FastSet<u32> = FastSet::new();
        let mut stack = vec![entry];
        let mut out = Vec::new();
        while let Some(e) = stack.pop() {
            let Some(i) = self.func_index(e) else {
                continue;
            };
            if !seen.insert(e) {
                continue;
            }
            out.push(&self.funcs[i]);
            stack.extend(self.refs.get(i).into_iter().flatten().copied());
        }
        out
    }

    /// Index in `funcs` of the function starting at `addr`.
    fn func_index(&self, addr: u32) -> Option<usize> {
        self.funcs.binary_search_by_key(&addr, |f| f.entry).ok()
    }

    fn find_refs(&mut self) {
        let mut refs = vec![Vec::new(); self.funcs.len()];
        let targets =
            self.calls
                .iter()
                .map(|(&a, &t)| (a, t))
                .chain(self.ldrefs.iter().filter_map(|(&a, r)| match r {
                    LdRef::Func(t) => Some((a, *t)),
                    _ => None,
                }));
        for (a, t) in targets {
            let i = self.funcs.partition_point(|f| f.entry <= a);
            if let Some(i) = i
                .checked_sub(1)
                .filter(|&i| a < self.funcs[i].entry + self.funcs[i].len)
            {
                refs[i].push(t);
            }
        }
        for r in &mut refs {
            r.sort_unstable();
            r.dedup();
        }
        self.refs = refs;
    }

    /// One kernel's instructions (ELF section index -> relocated
    /// instructions, as `Relocated::insns`) in the flat address space.
    pub fn flatten(&self, insns: &HashMap<usize, Vec<Insn>>) -> Vec<Insn> {
        let mut out = Vec::with_capacity(self.total as usize);
        for s in &self.spans {
            let v = insns.get(&s.elf_index).map_or(&[][..], Vec::as_slice);
            out.extend((0..s.len as usize).map(|i| v.get(i).copied().unwrap_or_default()));
        }
        out
    }

    /// `.kconfig` variables and extern functions, from the object's BTF.
    fn read_externs(&mut self, obj: &BpfObject<'_>) {
        let btf = obj.btf();
        for t in btf.types() {
            match t.data() {
                TypeData::Datasec(ds) if btf.name_of(&t).is_ok_and(|n| n == ".kconfig") => {
                    for v in ds.iter() {
                        let Ok(vt) = btf.type_by_id(v.type_id) else {
                            continue;
                        };
                        if let Ok(name) = btf.name_of(&vt) {
                            self.add_extern(name, ExternKind::Kconfig);
                        }
                    }
                }
                TypeData::Func { linkage: 2, .. } => {
                    if let Ok(name) = btf.name_of(&t) {
                        self.add_extern(name, ExternKind::Kfunc);
                    }
                }
                _ => {}
            }
        }
    }

    fn add_extern(&mut self, name: &str, kind: ExternKind) -> u32 {
        if let Some(i) = self.externs.iter().position(|e| e.name == name) {
            return i as u32;
        }
        let region = (kind == ExternKind::Kconfig).then(|| {
            self.regions.push(Region::Kconfig(name.to_string()));
            (self.regions.len() - 1) as u32
        });
        self.externs.push(Extern {
            name: name.to_string(),
            kind,
            weak: false,
            region,
        });
        (self.externs.len() - 1) as u32
    }

    fn section_region(&mut self, name: &str) -> u32 {
        let r = Region::Section(name.to_string());
        match self.regions.iter().position(|x| *x == r) {
            Some(i) => i as u32,
            None => {
                self.regions.push(r);
                (self.regions.len() - 1) as u32
            }
        }
    }

    fn read_relocations(&mut self, obj: &BpfObject<'_>) -> Result<(), LayoutError> {
        let file = object::File::parse(obj.data()).map_err(|e| LayoutError::Elf(e.to_string()))?;
        let spans = self.spans.clone();
        for span in &spans {
            let Ok(sec) = file.section_by_index(object::SectionIndex(span.elf_index)) else {
                continue;
            };
            let sec_meta = obj.section(span.elf_index).cloned();
            let Some(sec_meta) = sec_meta else { continue };
            let mut relocated: FastSet<u32> = FastSet::new();
            for (off, rel) in sec.relocations() {
                let RelocationTarget::Symbol(si) = rel.target() else {
                    continue;
                };
                let Ok(sym) = file.symbol_by_index(si) else {
                    continue;
                };
                if off % INSN_SIZE as u64 != 0 || off / INSN_SIZE as u64 >= span.len as u64 {
                    continue;
                }
                let idx = (off / INSN_SIZE as u64) as usize;
                let Some(insn) = obj.insn(&sec_meta, idx) else {
                    continue;
                };
                let addr = span.base + idx as u32;
                relocated.insert(addr);
                self.record(&file, &sym, insn, addr);
            }
            // Calls within a section need no ELF relocation.
            for idx in 0..span.len {
                let addr = span.base + idx;
                if relocated.contains(&addr) {
                    continue;
                }
                let Some(insn) = obj.insn(&sec_meta, idx as usize) else {
                    continue;
                };
                if insn.code == BPF_JMP | BPF_CALL && insn.src_reg == BPF_PSEUDO_CALL {
                    let t = idx as i64 + insn.imm as i64 + 1;
                    if (0..span.len as i64).contains(&t) {
                        self.calls.insert(addr, span.base + t as u32);
                    }
                }
            }
        }
        Ok(())
    }

    /// One ELF relocation of instruction `addr` against `sym`.
    fn record<'d>(
        &mut self,
        file: &object::File<'d>,
        sym: &object::Symbol<'d, '_>,
        insn: Insn,
        addr: u32,
    ) {
        let name = sym.name().unwrap_or("").to_string();
        let is_call = insn.code == BPF_JMP | BPF_CALL;
        let Some(si) = sym.section_index() else {
            // An extern.
            let kind = if is_call {
                ExternKind::Kfunc
            } else {
                self.externs
                    .iter()
                    .find(|e| e.name == name)
                    .map_or(ExternKind::Ksym, |e| e.kind)
            };
            let i = self.add_extern(&name, kind);
            if let Some(e) = self.externs.get_mut(i as usize) {
                e.weak |= sym.is_weak();
            }
            if is_call {
                self.kfunc_calls.insert(addr, i);
            } else if insn.is_ld_imm64() {
                self.ldrefs.insert(addr, LdRef::Extern(i));
            }
            return;
        };
        let Ok(tsec) = file.section_by_index(si) else {
            return;
        };
        let tname = tsec.name().unwrap_or("").to_string();
        let texec = self.spans.iter().find(|s| s.elf_index == si.0).cloned();
        if is_call {
            if let Some(ts) = texec {
                let t = (sym.address() / INSN_SIZE as u64) as i64 + insn.imm as i64 + 1;
                if (0..ts.len as i64).contains(&t) {
                    self.calls.insert(addr, ts.base + t as u32);
                }
            }
            return;
        }
        if !insn.is_ld_imm64() {
            return;
        }
        let off = (sym.address() as i64).wrapping_add(insn.imm as i64);
        let r = if tname == ".maps" || tname == "maps" {
            let map = if sym.kind() == SymbolKind::Section {
                // Legacy maps by section symbol: the map at that offset.
                file.symbols()
                    .find(|s| s.section_index() == Some(si) && s.address() as i64 == off)
                    .and_then(|s| s.name().ok().map(str::to_string))
                    .unwrap_or_default()
            } else {
                name
            };
            LdRef::Map(map)
        } else if let Some(ts) = texec {
            let t = off / INSN_SIZE as i64;
            if !(0..ts.len as i64).contains(&t) {
                return;
            }
            LdRef::Func(ts.base + t as u32)
        } else {
            LdRef::Data {
                region: self.section_region(&tname),
                off,
            }
        };
        self.ldrefs.insert(addr, r);
    }

    fn find_leaders(&mut self, obj: &BpfObject<'_>) {
        let mut leaders: FastSet<u32> = self.funcs.iter().map(|f| f.entry).collect();
        leaders.extend(self.calls.values().copied());
        for span in &self.spans {
            let Some(sec) = obj.section(span.elf_index) else {
                continue;
            };
            let code: Vec<Insn> = (0..span.len as usize)
                .filter_map(|i| obj.insn(sec, i))
                .collect();
            span_leaders(span, &code, &mut leaders);
        }
        self.leaders = leaders;
    }

    /// A layout for bare code (one section, no ELF relocations): `funcs`
    /// are (name, entry, length, global). Calls resolve by their
    /// immediates. For tests and for code from elsewhere.
    pub fn from_insns(code: &[Insn], funcs: &[(&str, u32, u32, bool)]) -> ProgramLayout {
        let span = Span {
            elf_index: 0,
            name: ".text".into(),
            base: 0,
            len: code.len().min(u32::MAX as usize / 2) as u32,
        };
        let mut l = ProgramLayout {
            total: span.len,
            ..ProgramLayout::default()
        };
        for &(name, entry, len, global) in funcs {
            l.funcs.push(FuncInfo {
                name: name.to_string(),
                entry,
                len,
                global,
                autoload: true,
                is_subprog: entry != 0,
                section_name: ".text".into(),
            });
        }
        l.funcs.sort_by_key(|f| f.entry);
        for (idx, insn) in code.iter().enumerate().take(span.len as usize) {
            if insn.code == BPF_JMP | BPF_CALL && insn.src_reg == BPF_PSEUDO_CALL {
                let t = idx as i64 + insn.imm as i64 + 1;
                if (0..span.len as i64).contains(&t) {
                    l.calls.insert(idx as u32, t as u32);
                }
            }
        }
        let mut leaders: FastSet<u32> = l.funcs.iter().map(|f| f.entry).collect();
        leaders.extend(l.calls.values().copied());
        span_leaders(&span, code, &mut leaders);
        l.leaders = leaders;
        l.spans.push(span);
        l.find_refs();
        l
    }
}

/// Block entries of one section's code: jump targets and what follows a jump.
fn span_leaders(span: &Span, code: &[Insn], leaders: &mut FastSet<u32>) {
    let mut idx = 0usize;
    while idx < code.len().min(span.len as usize) {
        let insn = code[idx];
        let class = insn.class();
        if class == BPF_JMP || class == BPF_JMP32 {
            let op = insn.code & 0xf0;
            if op != BPF_CALL && op != 0x90 {
                let off = if class == BPF_JMP32 && op == 0 {
                    insn.imm as i64
                } else {
                    insn.off as i64
                };
                let t = idx as i64 + off + 1;
                if (0..span.len as i64).contains(&t) {
                    leaders.insert(span.base + t as u32);
                }
                leaders.insert(span.base + idx as u32 + 1);
            }
        }
        idx += if insn.is_ld_imm64() { 2 } else { 1 };
    }
}

/// The map type of every BTF-defined map of the object (`.maps`: the
/// `type` member is `int (*)[N]`, N the `enum bpf_map_type` value), by
/// map name.
pub fn btf_map_types(obj: &BpfObject<'_>) -> Vec<(String, u32)> {
    let btf = obj.btf();
    let mut out = Vec::new();
    for t in btf.types() {
        let TypeData::Datasec(ds) = t.data() else {
            continue;
        };
        if btf.name_of(&t).ok() != Some(".maps") {
            continue;
        }
        for v in ds.iter() {
            let Ok(var) = btf.type_by_id(v.type_id) else {
                continue;
            };
            let TypeData::Var { type_id, .. } = var.data() else {
                continue;
            };
            let Some(ty) = map_type_of(btf, type_id) else {
                continue;
            };
            out.push((btf.name_of(&var).unwrap_or("").to_string(), ty));
        }
    }
    out
}

fn map_type_of(btf: &btfkit_btf::Btf<'_>, def: btfkit_btf::TypeId) -> Option<u32> {
    let st = btf.skip_mods_and_typedefs(def).ok()?;
    let TypeData::Struct(ms) = st.data() else {
        return None;
    };
    let m = ms
        .iter()
        .find(|m| btf.str_at(m.name_off).is_ok_and(|n| n == "type"))?;
    let ptr = btf.skip_mods_and_typedefs(m.type_id).ok()?;
    let TypeData::Ptr(arr) = ptr.data() else {
        return None;
    };
    btf.skip_mods_and_typedefs(arr)
        .ok()?
        .array()
        .map(|a| a.nelems)
}
