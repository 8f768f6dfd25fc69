//! Abstract interpretation of a relocated program: which instructions a
//! verifier that knows the relocated constants can reach.
//!
//! Values ([`Val`]) are known constants, load-time constants we do not
//! know (`Cfg`: unpinned `const volatile` globals, `.kconfig` without a
//! config), pointers to the stack or into a global section, or anything
//! (`Top`). A conditional jump whose operands are known takes one edge; on
//! `Cfg` operands both edges are feasible but the paths are marked as
//! depending on configuration, so what they reach is [`Reach::Config`]
//! rather than [`Reach::Feasible`]. States are kept at block entries, per
//! call string of static subprograms (global subprograms are verified on
//! their own with unknown arguments, as the kernel does); incoming edges
//! are joined. The lattice has finite height and the total work is capped,
//! so hostile code (loops, jumps out of range, calls to nowhere) ends.

use std::collections::{BTreeSet, HashMap};

use crate::fast::FastMap;

use super::layout::{LdRef, ProgramLayout};
use crate::insn::{
    Insn, BPF_ALU, BPF_ALU64, BPF_CALL, BPF_JMP, BPF_JMP32, BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_X,
};

/// An abstract register or stack value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Val {
    /// Known, the same on every path that gets here.
    Const(u64),
    /// Fixed when the program is loaded (so the verifier knows it) but not
    /// known here.
    Cfg,
    /// Anything: decided at run time.
    Top,
    /// `r10 + off` of the current frame.
    Stack(i64),
    /// Address `off` of a region of [`ProgramLayout::regions`].
    Data(u32, i64),
    /// The program's context (its `r1` at entry) plus `off`.
    Ctx(i64),
}

impl Val {
    fn is_ptr(self) -> bool {
        matches!(self, Val::Stack(_) | Val::Data(..) | Val::Ctx(_))
    }
}

/// How an instruction is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reach {
    /// Only through branches on load-time values we do not know.
    Config,
    /// On a path the kernel's types and known values leave feasible.
    Feasible,
}

/// Code the verifier rejects for its shape, not its types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// A jump whose target is outside the section holding the jump (or a
    /// block entry outside every executable section).
    JumpOutOfRange,
    /// A feasible path runs past the last instruction of the section
    /// (falls through it instead of ending in `exit` or a jump).
    FallsOffEnd,
    /// An opcode the interpreter does not accept (unknown ALU or jump
    /// operation, `call`/`exit` in class `JMP32`, a load/store mode other
    /// than `MEM`, `MEMSX` or atomics, a `BPF_LD` other than `ld_imm64`,
    /// `LD_ABS` and `LD_IND`, a load into `r10`). Holds the opcode byte.
    BadOpcode(u8),
    /// A register number above 10, or an ALU, `ld_imm64` or atomic fetch
    /// writing `r10` (the read-only frame pointer).
    BadRegister,
    /// A BPF-to-BPF call (`src_reg` = `BPF_PSEUDO_CALL`) whose target is
    /// not an instruction of the object.
    CallToNowhere,
    /// An `ld_imm64` in the last slot of its section, with no second half.
    TruncatedLdImm64,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::JumpOutOfRange => f.write_str("jump out of range"),
            Malformed::FallsOffEnd => f.write_str("falls off the end of the code"),
            Malformed::BadOpcode(c) => write!(f, "invalid opcode {c:#04x}"),
            Malformed::BadRegister => f.write_str("invalid register"),
            Malformed::CallToNowhere => f.write_str("call to no function"),
            Malformed::TruncatedLdImm64 => f.write_str("truncated ld_imm64"),
        }
    }
}

/// A load from the program's context the verifier refuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CtxFault {
    /// Through a context pointer moved by `off` (refused for every
    /// program type: "dereference of modified ctx ptr").
    Modified {
        /// How far the pointer was moved from the context's start, in
        /// bytes.
        off: i64,
    },
    /// At byte `off`, past the arguments the kernel's prototype of the
    /// attach target gives a BTF-typed program ([`Env::ctx_size`]).
    BeyondArgs {
        /// The load's byte offset into the context.
        off: i64,
    },
}

/// Bounds on the work per program.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Instructions interpreted, in all, before giving up.
    pub max_steps: u64,
    /// Static subprogram calls told apart (deeper calls share states).
    pub call_depth: usize,
    /// Byte order of the object (for byte swaps).
    pub big_endian: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: 2_000_000,
            call_depth: 8,
            big_endian: false,
        }
    }
}

/// What the interpreter asks of the kernel and of the load configuration.
pub trait Env {
    /// A load of `size` bytes at `off` of `region`.
    fn load(&self, region: u32, off: i64, size: u32) -> Val;
    /// The value of `ld_imm64` of extern `ext` (its address, or 0 for a
    /// missing weak kfunc).
    fn extern_addr(&self, ext: u32) -> Val;
    /// Whether reaching `addr` fails the load (a poisoned instruction, a
    /// helper the kernel lacks, ...): recorded when reached.
    fn is_site(&self, addr: u32) -> bool;
    /// Bytes of context a BTF-typed program (fentry, fexit, tp_btf, lsm)
    /// may read: 8 per argument of its attach target's prototype (and
    /// the return value where it can read it). `None`: not checked.
    fn ctx_size(&self) -> Option<i64> {
        None
    }
}

/// What the interpretation found.
#[derive(Clone, Debug, Default)]
pub struct FlowResult {
    /// Sites ([`Env::is_site`]) reached, and how.
    pub sites: HashMap<u32, Reach>,
    /// Malformed code reached: where, what, how.
    pub malformed: Vec<(u32, Malformed, Reach)>,
    /// Context loads the verifier refuses, reached: where, what, how.
    pub ctx_faults: Vec<(u32, CtxFault, Reach)>,
    /// The step budget ran out: what was found so far is incomplete.
    pub exhausted: bool,
    /// Instructions interpreted, counted against [`Limits::max_steps`].
    pub steps: u64,
}

impl FlowResult {
    fn reach(&mut self, addr: u32, r: Reach) {
        let e = self.sites.entry(addr).or_insert(r);
        *e = (*e).max(r);
    }

    fn ctx_fault(&mut self, addr: u32, f: CtxFault, r: Reach) {
        match self
            .ctx_faults
            .iter_mut()
            .find(|(a, x, _)| *a == addr && *x == f)
        {
            Some(e) => e.2 = e.2.max(r),
            None => self.ctx_faults.push((addr, f, r)),
        }
    }

    fn malformed(&mut self, addr: u32, m: Malformed, r: Reach) {
        match self
            .malformed
            .iter_mut()
            .find(|(a, x, _)| *a == addr && *x == m)
        {
            Some(e) => e.2 = e.2.max(r),
            None => self.malformed.push((addr, m, r)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    off: i64,
    size: u32,
    val: Val,
}

/// The abstract machine state at one point.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    regs: [Val; 11],
    /// Known stack slots, sorted by offset; absent ones are `Top`.
    stack: Vec<Slot>,
    /// The path got here through a branch on a `Cfg` value.
    cfg: bool,
}

const MAX_SLOTS: usize = 128;

impl State {
    fn entry(cfg: bool) -> State {
        let mut regs = [Val::Top; 11];
        regs[10] = Val::Stack(0);
        State {
            regs,
            stack: Vec::new(),
            cfg,
        }
    }

    fn reach(&self) -> Reach {
        if self.cfg {
            Reach::Config
        } else {
            Reach::Feasible
        }
    }

    fn stack_load(&self, off: i64, size: u32) -> Val {
        self.stack
            .iter()
            .find(|s| s.off == off && s.size == size)
            .map_or(Val::Top, |s| s.val)
    }

    fn stack_store(&mut self, off: i64, size: u32, val: Val) {
        let end = off.saturating_add(size as i64);
        self.stack
            .retain(|s| s.off.saturating_add(s.size as i64) <= off || s.off >= end);
        let val = match val {
            Val::Const(c) if size < 8 => Val::Const(c & ((1u64 << (size * 8)) - 1)),
            v if v.is_ptr() && size != 8 => Val::Top,
            v => v,
        };
        if val != Val::Top && self.stack.len() < MAX_SLOTS {
            let i = self.stack.partition_point(|s| s.off < off);
            self.stack.insert(i, Slot { off, size, val });
        }
    }

    /// A callee may write through stack pointers it is given: forget the
    /// slots at and above the lowest one passed.
    fn clobber_for_call(&mut self) {
        let lowest = self.regs[1..=5]
            .iter()
            .filter_map(|v| match v {
                Val::Stack(o) => Some(*o),
                _ => None,
            })
            .min();
        if let Some(p) = lowest {
            self.stack
                .retain(|s| s.off.saturating_add(s.size as i64) <= p);
        }
        for r in &mut self.regs[0..=5] {
            *r = Val::Top;
        }
    }

    /// Joins `other` into `self`; whether `self` changed.
    fn join(&mut self, other: &State) -> bool {
        let before = self.clone();
        let tainted = self.cfg || other.cfg;
        for (a, b) in self.regs.iter_mut().zip(other.regs.iter()) {
            *a = join_val(*a, *b, tainted);
        }
        self.stack.retain_mut(|s| {
            match other
                .stack
                .iter()
                .find(|o| o.off == s.off && o.size == s.size)
            {
                Some(o) => {
                    s.val = join_val(s.val, o.val, tainted);
                    s.val != Val::Top
                }
                None => false,
            }
        });
        self.cfg &= other.cfg;
        *self != before
    }
}

/// The join of two values from different paths: equal values stay; two
/// different constants are fixed at load time only if a path depended on
/// the load configuration, otherwise chosen at run time.
fn join_val(a: Val, b: Val, tainted: bool) -> Val {
    match (a, b) {
        _ if a == b => a,
        (Val::Const(_) | Val::Cfg, Val::Const(_) | Val::Cfg) if tainted => Val::Cfg,
        _ => Val::Top,
    }
}

/// Which sites and malformed code are reachable from `entry` (a flat
/// address of `layout`) in `insns` (the kernel's relocated instructions,
/// flattened by the layout).
pub fn analyze(
    layout: &ProgramLayout,
    insns: &[Insn],
    entry: u32,
    env: &dyn Env,
    limits: &Limits,
) -> FlowResult {
    let mut m = Machine {
        layout,
        insns,
        env,
        limits,
        states: FastMap::new(),
        work: BTreeSet::new(),
        ctxs: vec![Vec::new()],
        ctx_ids: HashMap::from([(Vec::new(), 0)]),
        out: FlowResult::default(),
    };
    let mut start = State::entry(false);
    start.regs[1] = Val::Ctx(0);
    m.propagate(0, entry, start);
    m.run();
    m.out
}

struct Machine<'a> {
    layout: &'a ProgramLayout,
    insns: &'a [Insn],
    env: &'a dyn Env,
    limits: &'a Limits,
    /// (context, block entry) -> joined state.
    states: FastMap<(u32, u32), State>,
    /// (block entry, context), in address order: forward code converges
    /// in one pass.
    work: BTreeSet<(u32, u32)>,
    /// Interned call strings (return sites of static calls).
    ctxs: Vec<Vec<u32>>,
    ctx_ids: HashMap<Vec<u32>, u32>,
    out: FlowResult,
}

/// What one instruction does to control flow. (The states are moved
/// once per block end: boxing them would cost more than it saves.)
#[allow(clippy::large_enum_variant)]
enum Next {
    /// Go on at pc + n.
    Fall(u32),
    /// Both or one of: the jump target, the next instruction.
    Branch {
        target: i64,
        taken: Option<State>,
        fall: Option<State>,
    },
    Stop,
}

impl Machine<'_> {
    fn propagate(&mut self, ctx: u32, addr: u32, st: State) {
        use hashbrown::hash_map::Entry;
        match self.states.entry((ctx, addr)) {
            Entry::Vacant(v) => {
                v.insert(st);
                self.work.insert((addr, ctx));
            }
            Entry::Occupied(mut o) => {
                if o.get_mut().join(&st) {
                    self.work.insert((addr, ctx));
                }
            }
        }
    }

    fn ctx_id(&mut self, s: Vec<u32>) -> u32 {
        if let Some(&i) = self.ctx_ids.get(&s) {
            return i;
        }
        let i = self.ctxs.len() as u32;
        self.ctxs.push(s.clone());
        self.ctx_ids.insert(s, i);
        i
    }

    fn run(&mut self) {
        while let Some((addr, ctx)) = self.work.pop_first() {
            let Some(st) = self.states.get(&(ctx, addr)).cloned() else {
                continue;
            };
            if !self.block(ctx, addr, st) {
                self.out.exhausted = true;
                return;
            }
        }
    }

    /// Interprets the block at `start`; false when the budget ran out.
    fn block(&mut self, ctx: u32, start: u32, mut st: State) -> bool {
        let Some(span) = self.layout.span_of(start) else {
            self.out
                .malformed(start, Malformed::JumpOutOfRange, st.reach());
            return true;
        };
        let (lo, hi) = (span.base as i64, (span.base + span.len) as i64);
        let mut pc = start;
        loop {
            if self.out.steps >= self.limits.max_steps {
                return false;
            }
            self.out.steps += 1;
            if pc as i64 >= hi {
                self.out
                    .malformed(pc.saturating_sub(1), Malformed::FallsOffEnd, st.reach());
                return true;
            }
            if pc != start && self.layout.is_leader(pc) {
                self.propagate(ctx, pc, st);
                return true;
            }
            if self.env.is_site(pc) {
                // The verifier would stop here; going on finds every site
                // the program reaches, not only the first.
                self.out.reach(pc, st.reach());
            }
            let insn = self.insns.get(pc as usize).copied().unwrap_or_default();
            match self.step(ctx, pc, hi as u32, insn, &mut st) {
                Next::Fall(n) => pc += n,
                Next::Stop => return true,
                Next::Branch {
                    target,
                    taken,
                    fall,
                } => {
                    if let Some(t) = taken {
                        if target < lo || target >= hi {
                            self.out.malformed(pc, Malformed::JumpOutOfRange, t.reach());
                        } else {
                            self.propagate(ctx, target as u32, t);
                        }
                    }
                    match fall {
                        Some(f) if pc + 1 < hi as u32 => self.propagate(ctx, pc + 1, f),
                        Some(f) => self.out.malformed(pc, Malformed::FallsOffEnd, f.reach()),
                        None => {}
                    }
                    return true;
                }
            }
        }
    }

    fn step(&mut self, ctx: u32, pc: u32, end: u32, insn: Insn, st: &mut State) -> Next {
        if insn.dst_reg > 10 || insn.src_reg > 10 && insn.class() != BPF_JMP {
            self.out.malformed(pc, Malformed::BadRegister, st.reach());
            return Next::Stop;
        }
        match insn.class() {
            BPF_ALU | BPF_ALU64 => self.alu(pc, insn, st),
            BPF_JMP | BPF_JMP32 => self.jump(ctx, pc, insn, st),
            BPF_LDX => self.ldx(pc, insn, st),
            BPF_ST | BPF_STX => self.store(pc, insn, st),
            _ /* BPF_LD */ => self.ld(ctx, pc, end, insn, st),
        }
    }

    fn bad(&mut self, pc: u32, m: Malformed, st: &State) -> Next {
        self.out.malformed(pc, m, st.reach());
        Next::Stop
    }

    fn alu(&mut self, pc: u32, insn: Insn, st: &mut State) -> Next {
        let is64 = insn.class() == BPF_ALU64;
        let op = insn.code & 0xf0;
        if insn.dst_reg == 10 {
            return self.bad(pc, Malformed::BadRegister, st);
        }
        let dst = st.regs[insn.dst_reg as usize];
        if op == 0xd0 {
            // Byte swap: imm is the width.
            let v = match dst {
                Val::Const(c) => Val::Const(bswap(
                    c,
                    insn.imm,
                    is64,
                    insn.code & BPF_X != 0,
                    self.limits.big_endian,
                )),
                Val::Cfg => Val::Cfg,
                _ => Val::Top,
            };
            st.regs[insn.dst_reg as usize] = v;
            return Next::Fall(1);
        }
        if op > 0xc0 {
            return self.bad(pc, Malformed::BadOpcode(insn.code), st);
        }
        let src = if insn.code & BPF_X != 0 {
            st.regs[insn.src_reg as usize]
        } else {
            Val::Const(insn.imm as i64 as u64)
        };
        st.regs[insn.dst_reg as usize] = alu_val(op, is64, insn.off, dst, src);
        Next::Fall(1)
    }

    fn jump(&mut self, ctx: u32, pc: u32, insn: Insn, st: &mut State) -> Next {
        let is32 = insn.class() == BPF_JMP32;
        let op = insn.code & 0xf0;
        match op {
            0x00 => {
                let off = if is32 {
                    insn.imm as i64
                } else {
                    insn.off as i64
                };
                Next::Branch {
                    target: pc as i64 + off + 1,
                    taken: Some(st.clone()),
                    fall: None,
                }
            }
            BPF_CALL if !is32 => self.call(ctx, pc, insn, st),
            0x90 if !is32 => Next::Stop,
            0x80 | 0x90 | 0xe0 | 0xf0 => self.bad(pc, Malformed::BadOpcode(insn.code), st),
            _ => {
                if insn.src_reg > 10 {
                    return self.bad(pc, Malformed::BadRegister, st);
                }
                let a = st.regs[insn.dst_reg as usize];
                let b = if insn.code & BPF_X != 0 {
                    st.regs[insn.src_reg as usize]
                } else {
                    Val::Const(insn.imm as i64 as u64)
                };
                let target = pc as i64 + insn.off as i64 + 1;
                let (taken, fall) = match decide(op, a, b, is32) {
                    Decision::Taken => (Some(st.clone()), None),
                    Decision::NotTaken => (None, Some(st.clone())),
                    Decision::Both { cfg } => {
                        let mut t = st.clone();
                        let mut f = st.clone();
                        t.cfg |= cfg;
                        f.cfg |= cfg;
                        // What the verifier learns from equality.
                        if let (false, Val::Const(_), Val::Top | Val::Cfg) = (is32, b, a) {
                            match op {
                                0x10 => t.regs[insn.dst_reg as usize] = b,
                                0x50 => f.regs[insn.dst_reg as usize] = b,
                                _ => {}
                            }
                        }
                        (Some(t), Some(f))
                    }
                };
                Next::Branch {
                    target,
                    taken,
                    fall,
                }
            }
        }
    }

    fn call(&mut self, ctx: u32, pc: u32, insn: Insn, st: &mut State) -> Next {
        if insn.src_reg == super::layout::BPF_PSEUDO_CALL && self.layout.kfunc_call(pc).is_none() {
            let Some(callee) = self.layout.call_target(pc) else {
                return self.bad(pc, Malformed::CallToNowhere, st);
            };
            let global = self.layout.func_at(callee).is_some_and(|f| f.global);
            let mut entry = State::entry(st.cfg);
            let cctx = if global {
                0
            } else {
                // Static subprograms see the caller's arguments (pointers
                // into the caller's frame become unknown in the callee's).
                for r in 1..=5 {
                    entry.regs[r] = match st.regs[r] {
                        Val::Stack(_) => Val::Top,
                        v => v,
                    };
                }
                let mut s = self.ctxs[ctx as usize].clone();
                s.push(pc);
                if s.len() > self.limits.call_depth {
                    s.remove(0);
                }
                self.ctx_id(s)
            };
            self.propagate(cctx, callee, entry);
        }
        // Helpers, kfuncs and subprograms return an unknown r0 and clobber
        // r1-r5; the callee-saved registers survive.
        st.clobber_for_call();
        Next::Fall(1)
    }

    fn ldx(&mut self, pc: u32, insn: Insn, st: &mut State) -> Next {
        let mode = insn.code & 0xe0;
        if (mode != 0x60 && mode != 0x80) || insn.dst_reg == 10 {
            return self.bad(pc, Malformed::BadOpcode(insn.code), st);
        }
        let size = insn.mem_size();
        let v = match st.regs[insn.src_reg as usize] {
            Val::Stack(o) => st.stack_load(o.wrapping_add(insn.off as i64), size),
            Val::Data(r, o) => self.env.load(r, o.wrapping_add(insn.off as i64), size),
            Val::Ctx(o) => {
                self.ctx_load(pc, o, insn.off as i64, st);
                Val::Top
            }
            _ => Val::Top,
        };
        let v = match v {
            Val::Const(c) if mode == 0x80 && size < 8 => {
                let sh = 64 - size * 8;
                Val::Const((((c << sh) as i64) >> sh) as u64)
            }
            Val::Const(c) if size < 8 => Val::Const(c & ((1u64 << (size * 8)) - 1)),
            v if v.is_ptr() && size != 8 => Val::Top,
            v => v,
        };
        st.regs[insn.dst_reg as usize] = v;
        Next::Fall(1)
    }

    /// Checks a load at `insn_off` from the context pointer moved by
    /// `moved`, as the verifier does: the pointer itself unmoved, and for
    /// BTF-typed programs the offset within the prototype's arguments.
    fn ctx_load(&mut self, pc: u32, moved: i64, insn_off: i64, st: &State) {
        let fault = if moved != 0 {
            Some(CtxFault::Modified { off: moved })
        } else {
            self.env
                .ctx_size()
                .filter(|&size| insn_off >= size)
                .map(|_| CtxFault::BeyondArgs { off: insn_off })
        };
        if let Some(f) = fault {
            self.out.ctx_fault(pc, f, st.reach());
        }
    }

    fn store(&mut self, pc: u32, insn: Insn, st: &mut State) -> Next {
        let mode = insn.code & 0xe0;
        let size = insn.mem_size();
        let base = st.regs[insn.dst_reg as usize];
        let val = match (insn.class(), mode) {
            (BPF_ST, 0x60) => Val::Const(insn.imm as i64 as u64),
            (BPF_STX, 0x60) => st.regs[insn.src_reg as usize],
            (BPF_STX, 0xc0) => {
                // Atomics: the memory is unknown afterwards; fetching
                // forms write a register too.
                if insn.imm & 0x01 != 0 {
                    if insn.src_reg == 10 {
                        return self.bad(pc, Malformed::BadRegister, st);
                    }
                    st.regs[insn.src_reg as usize] = Val::Top;
                }
                if insn.imm == 0xf1 {
                    st.regs[0] = Val::Top;
                }
                Val::Top
            }
            _ => return self.bad(pc, Malformed::BadOpcode(insn.code), st),
        };
        if let Val::Stack(o) = base {
            st.stack_store(o.wrapping_add(insn.off as i64), size, val);
        }
        Next::Fall(1)
    }

    fn ld(&mut self, ctx: u32, pc: u32, end: u32, insn: Insn, st: &mut State) -> Next {
        let _ = ctx;
        if !insn.is_ld_imm64() {
            let mode = insn.code & 0xe0;
            if insn.class() == BPF_LD && (mode == 0x20 || mode == 0x40) {
                // LD_ABS / LD_IND: r0 is the packet data, r1-r5 clobbered.
                st.clobber_for_call();
                return Next::Fall(1);
            }
            return self.bad(pc, Malformed::BadOpcode(insn.code), st);
        }
        if pc + 1 >= end {
            return self.bad(pc, Malformed::TruncatedLdImm64, st);
        }
        if insn.dst_reg == 10 {
            return self.bad(pc, Malformed::BadRegister, st);
        }
        let hi = self.insns.get(pc as usize + 1).copied().unwrap_or_default();
        let v = match self.layout.ldref(pc) {
            Some(LdRef::Map(_)) => Val::Top,
            Some(LdRef::Data { region, off }) => Val::Data(*region, *off),
            Some(LdRef::Extern(i)) => self.env.extern_addr(*i),
            Some(LdRef::Func(t)) => {
                // A callback: the verifier checks it where it is passed,
                // with unknown arguments.
                let t = *t;
                self.propagate(0, t, State::entry(st.cfg));
                Val::Top
            }
            None if insn.src_reg == 0 => {
                Val::Const((insn.imm as u32 as u64) | ((hi.imm as u32 as u64) << 32))
            }
            None => Val::Top,
        };
        st.regs[insn.dst_reg as usize] = v;
        Next::Fall(2)
    }
}

enum Decision {
    Taken,
    NotTaken,
    Both { cfg: bool },
}

/// Whether a conditional jump is taken: known when both operands are; a
/// pointer the verifier knows is not null compares unequal to 0.
fn decide(op: u8, a: Val, b: Val, is32: bool) -> Decision {
    match (a, b) {
        (Val::Const(x), Val::Const(y)) => match cond(op, x, y, is32) {
            Some(true) => Decision::Taken,
            Some(false) => Decision::NotTaken,
            None => Decision::Both { cfg: false },
        },
        (p, Val::Const(0)) if p.is_ptr() && !is32 && (op == 0x10 || op == 0x50) => {
            if op == 0x10 {
                Decision::NotTaken
            } else {
                Decision::Taken
            }
        }
        (Val::Const(_) | Val::Cfg, Val::Const(_) | Val::Cfg) => Decision::Both { cfg: true },
        _ => Decision::Both { cfg: false },
    }
}

/// A conditional jump on known operands (None: not a comparison).
fn cond(op: u8, a: u64, b: u64, is32: bool) -> Option<bool> {
    let (ua, ub, sa, sb) = if is32 {
        let (a, b) = (a as u32, b as u32);
        (a as u64, b as u64, a as i32 as i64, b as i32 as i64)
    } else {
        (a, b, a as i64, b as i64)
    };
    Some(match op {
        0x10 => ua == ub,
        0x20 => ua > ub,
        0x30 => ua >= ub,
        0x40 => ua & ub != 0,
        0x50 => ua != ub,
        0x60 => sa > sb,
        0x70 => sa >= sb,
        0xa0 => ua < ub,
        0xb0 => ua <= ub,
        0xc0 => sa < sb,
        0xd0 => sa <= sb,
        _ => return None,
    })
}

/// An ALU operation on abstract values.
fn alu_val(op: u8, is64: bool, off: i16, dst: Val, src: Val) -> Val {
    const ADD: u8 = 0x00;
    const SUB: u8 = 0x10;
    const MOV: u8 = 0xb0;
    const NEG: u8 = 0x80;
    match (op, dst, src) {
        (MOV, _, s) if is64 && off == 0 => s,
        (MOV, _, Val::Const(c)) => Val::Const(alu_const(op, is64, off, 0, c)),
        (MOV, _, Val::Cfg) => Val::Cfg,
        (MOV, _, _) => Val::Top,
        (NEG, Val::Const(c), _) => Val::Const(alu_const(op, is64, off, c, 0)),
        (NEG, Val::Cfg, _) => Val::Cfg,
        (NEG, _, _) => Val::Top,
        (ADD | SUB, Val::Stack(o), Val::Const(c)) if is64 => Val::Stack(ptr_add(op == SUB, o, c)),
        (ADD | SUB, Val::Data(r, o), Val::Const(c)) if is64 => {
            Val::Data(r, ptr_add(op == SUB, o, c))
        }
        (ADD, Val::Const(c), Val::Stack(o)) if is64 => Val::Stack(ptr_add(false, o, c)),
        (ADD | SUB, Val::Ctx(o), Val::Const(c)) if is64 => Val::Ctx(ptr_add(op == SUB, o, c)),
        (ADD, Val::Const(c), Val::Ctx(o)) if is64 => Val::Ctx(ptr_add(false, o, c)),
        (_, Val::Const(a), Val::Const(b)) => Val::Const(alu_const(op, is64, off, a, b)),
        (_, Val::Const(_) | Val::Cfg, Val::Const(_) | Val::Cfg) => Val::Cfg,
        _ => Val::Top,
    }
}

fn ptr_add(sub: bool, o: i64, c: u64) -> i64 {
    if sub {
        o.wrapping_sub(c as i64)
    } else {
        o.wrapping_add(c as i64)
    }
}

/// The kernel's semantics of an ALU operation on constants: 32-bit forms
/// work on the low halves and zero-extend; division by zero gives 0 and
/// modulo by zero leaves the dividend; `off` 1 selects signed division,
/// and for `mov` 8/16/32 sign-extends.
fn alu_const(op: u8, is64: bool, off: i16, a: u64, b: u64) -> u64 {
    let (a, b) = if is64 {
        (a, b)
    } else {
        (a as u32 as u64, b as u32 as u64)
    };
    let mask = if is64 { 63 } else { 31 };
    let r = match op {
        0x00 => a.wrapping_add(b),
        0x10 => a.wrapping_sub(b),
        0x20 => a.wrapping_mul(b),
        0x30 => match (b, off, is64) {
            (0, _, _) => 0,
            (_, 1, true) => (a as i64).wrapping_div(b as i64) as u64,
            (_, 1, false) => (a as u32 as i32).wrapping_div(b as u32 as i32) as u32 as u64,
            _ => a / b,
        },
        0x40 => a | b,
        0x50 => a & b,
        0x60 => a << (b & mask),
        0x70 => a >> (b & mask),
        0x80 => {
            if is64 {
                (a as i64).wrapping_neg() as u64
            } else {
                (a as u32).wrapping_neg() as u64
            }
        }
        0x90 => match (b, off, is64) {
            (0, _, _) => a,
            (_, 1, true) => (a as i64).wrapping_rem(b as i64) as u64,
            (_, 1, false) => (a as u32 as i32).wrapping_rem(b as u32 as i32) as u32 as u64,
            _ => a % b,
        },
        0xa0 => a ^ b,
        0xb0 => match off {
            8 => b as u8 as i8 as i64 as u64,
            16 => b as u16 as i16 as i64 as u64,
            32 => b as u32 as i32 as i64 as u64,
            _ => b,
        },
        0xc0 => {
            if is64 {
                ((a as i64) >> (b & mask)) as u64
            } else {
                ((a as u32 as i32) >> (b & mask)) as u32 as u64
            }
        }
        _ => 0,
    };
    if is64 {
        r
    } else {
        r as u32 as u64
    }
}

/// `bswap`/`be`/`le` of a constant: `to_be` (or the unconditional 64-bit
/// form) swaps unless the object is big-endian already; the result is
/// truncated to `width` bits.
fn bswap(c: u64, width: i32, is64: bool, to_be: bool, big_endian: bool) -> u64 {
    let swap = is64 || (to_be != big_endian);
    match width {
        16 if swap => (c as u16).swap_bytes() as u64,
        16 => c as u16 as u64,
        32 if swap => (c as u32).swap_bytes() as u64,
        32 => c as u32 as u64,
        _ if swap => c.swap_bytes(),
        _ => c,
    }
}

#[cfg(test)]
mod tests;
