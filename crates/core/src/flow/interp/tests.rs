//! The interpreter on hand-written instruction sequences.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::insn::POISON_HELPER;

fn i(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst_reg: dst,
        src_reg: src,
        off,
        imm,
    }
}
fn mov64(dst: u8, imm: i32) -> Insn {
    i(0xb7, dst, 0, 0, imm)
}
fn mov32(dst: u8, imm: i32) -> Insn {
    i(0xb4, dst, 0, 0, imm)
}
fn alu64(op: u8, dst: u8, imm: i32) -> Insn {
    i(0x07 | op, dst, 0, 0, imm)
}
fn alu32(op: u8, dst: u8, imm: i32) -> Insn {
    i(0x04 | op, dst, 0, 0, imm)
}
fn jmp(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    i(0x05 | op, dst, 0, off, imm)
}
fn jmp32(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    i(0x06 | op, dst, 0, off, imm)
}
fn ja(off: i16) -> Insn {
    i(0x05, 0, 0, off, 0)
}
fn poison() -> Insn {
    i(0x85, 0, 0, 0, POISON_HELPER)
}
fn helper(id: i32) -> Insn {
    i(0x85, 0, 0, 0, id)
}
fn call(rel: i32) -> Insn {
    i(0x85, 0, 1, 0, rel)
}
fn exit() -> Insn {
    i(0x95, 0, 0, 0, 0)
}
/// r0 = ctx->something: an unknown run-time value.
fn unknown(dst: u8) -> Insn {
    i(0x79, dst, 1, 0, 0)
}

/// Sites: every poisoned call.
struct TestEnv {
    sites: HashSet<u32>,
    regions: HashMap<u32, Val>,
}

impl Env for TestEnv {
    fn load(&self, region: u32, _off: i64, _size: u32) -> Val {
        self.regions.get(&region).copied().unwrap_or(Val::Top)
    }
    fn extern_addr(&self, _ext: u32) -> Val {
        Val::Top
    }
    fn is_site(&self, addr: u32) -> bool {
        self.sites.contains(&addr)
    }
}

fn run_with(code: &[Insn], funcs: &[(&str, u32, u32, bool)], limits: Limits) -> FlowResult {
    let layout = ProgramLayout::from_insns(code, funcs);
    let sites = code
        .iter()
        .enumerate()
        .filter(|(_, x)| **x == poison())
        .map(|(a, _)| a as u32)
        .collect();
    let env = TestEnv {
        sites,
        regions: HashMap::new(),
    };
    analyze(&layout, code, 0, &env, &limits)
}

fn run(code: &[Insn]) -> FlowResult {
    run_with(
        code,
        &[("main", 0, code.len() as u32, true)],
        Limits::default(),
    )
}

/// Addresses of poisoned instructions reached.
fn reached(r: &FlowResult) -> Vec<(u32, Reach)> {
    let mut v: Vec<_> = r.sites.iter().map(|(a, r)| (*a, *r)).collect();
    v.sort();
    v
}

#[test]
fn decided_branch_skips_poison() {
    // r1 = 0 (field_exists answered "no"); if r1 == 0 goto out; poison
    let code = [
        mov64(1, 0),
        jmp(0x10, 1, 0, 1),
        poison(),
        mov64(0, 0),
        exit(),
    ];
    assert_eq!(reached(&run(&code)), vec![]);
    // The other answer reaches it.
    let code = [
        mov64(1, 1),
        jmp(0x10, 1, 0, 1),
        poison(),
        mov64(0, 0),
        exit(),
    ];
    assert_eq!(reached(&run(&code)), vec![(2, Reach::Feasible)]);
}

#[test]
fn unknown_values_keep_both_edges() {
    let code = [
        unknown(2),
        jmp(0x10, 2, 0, 1),
        poison(),
        mov64(0, 0),
        exit(),
    ];
    assert_eq!(reached(&run(&code)), vec![(2, Reach::Feasible)]);
}

#[test]
fn nested_guards() {
    // if (enum_exists) { if (field_exists) read new; else read old (poisoned) }
    let code = [
        mov64(1, 1),        // 0: BPF_FUNC_x exists
        jmp(0x10, 1, 0, 5), // 1: if !exists goto 7
        mov64(2, 1),        // 2: new field exists
        jmp(0x10, 2, 0, 2), // 3: if !new goto 6
        mov64(0, 1),        // 4: read new
        exit(),             // 5
        poison(),           // 6: read old (poisoned: no such field)
        mov64(0, 0),        // 7
        exit(),             // 8
    ];
    assert_eq!(reached(&run(&code)), vec![]);
}

#[test]
fn alu32_and_alu64_differ() {
    // 64-bit: 0xffffffff + 1 = 0x100000000 != 0; 32-bit: wraps to 0.
    let code64 = [
        mov32(1, -1),
        alu64(0x00, 1, 1),
        jmp(0x10, 1, 0, 1),
        poison(),
        exit(),
    ];
    assert_eq!(reached(&run(&code64)), vec![(3, Reach::Feasible)]);
    let code32 = [
        mov32(1, -1),
        alu32(0x00, 1, 1),
        jmp(0x10, 1, 0, 1),
        poison(),
        exit(),
    ];
    assert_eq!(reached(&run(&code32)), vec![]);
    // JMP32 compares the low halves only.
    let c = [
        i(0x18, 1, 0, 0, 0),
        i(0, 0, 0, 0, 1), // r1 = 1 << 32
        jmp32(0x10, 1, 0, 1),
        poison(),
        exit(),
    ];
    assert_eq!(reached(&run(&c)), vec![]);
    let c = [
        i(0x18, 1, 0, 0, 0),
        i(0, 0, 0, 0, 1),
        jmp(0x10, 1, 0, 1),
        poison(),
        exit(),
    ];
    assert_eq!(reached(&run(&c)), vec![(3, Reach::Feasible)]);
}

#[test]
fn alu_semantics() {
    assert_eq!(alu_const(0x30, true, 0, 7, 0), 0); // div by 0
    assert_eq!(alu_const(0x90, true, 0, 7, 0), 7); // mod by 0
    assert_eq!(alu_const(0xc0, false, 0, 0x8000_0000, 4), 0xf800_0000); // arsh32
    assert_eq!(alu_const(0xc0, true, 0, 0x8000_0000, 4), 0x0800_0000); // arsh64
    assert_eq!(alu_const(0x60, false, 0, 1, 33), 2); // lsh32 masks the shift
    assert_eq!(alu_const(0x80, false, 0, 1, 0), 0xffff_ffff); // neg32
    assert_eq!(alu_const(0x30, true, 1, (-7i64) as u64, 2), (-3i64) as u64); // sdiv
    assert_eq!(alu_const(0xb0, true, 8, 0, 0x80), (-128i64) as u64); // movsx
    assert_eq!(cond(0x60, (-1i64) as u64, 0, false), Some(false)); // jsgt
    assert_eq!(cond(0x20, (-1i64) as u64, 0, false), Some(true)); // jgt
    assert_eq!(cond(0x40, 6, 4, false), Some(true)); // jset
    assert_eq!(bswap(0x1234, 16, false, true, false), 0x3412);
    assert_eq!(bswap(0x1_1234, 16, false, false, false), 0x1234);
}

#[test]
fn stack_spills_keep_constants() {
    let code = [
        mov64(1, 0),
        i(0x7b, 10, 1, -8, 0), // *(u64 *)(r10 - 8) = r1
        unknown(1),
        i(0x79, 2, 10, -8, 0), // r2 = *(u64 *)(r10 - 8)
        jmp(0x10, 2, 0, 1),
        poison(),
        exit(),
    ];
    assert_eq!(reached(&run(&code)), vec![]);
    // A helper given the slot's address may overwrite it.
    let code = [
        mov64(1, 0),
        i(0x7b, 10, 1, -8, 0),
        i(0xbf, 1, 10, 0, 0), // r1 = r10
        alu64(0x00, 1, -8),   // r1 += -8
        helper(4),
        i(0x79, 2, 10, -8, 0),
        jmp(0x10, 2, 0, 1),
        poison(),
        exit(),
    ];
    assert_eq!(reached(&run(&code)), vec![(7, Reach::Feasible)]);
}

#[test]
fn loops_terminate() {
    // for (;;) r1 += 1 : an infinite loop, and a counted one.
    let code = [mov64(1, 0), alu64(0x00, 1, 1), ja(-2), exit()];
    let r = run(&code);
    assert!(!r.exhausted && r.steps < 100, "{r:?}");
    let code = [
        mov64(1, 0),
        alu64(0x00, 1, 1),
        jmp(0xa0, 1, 10, -2), // while (r1 < 10)
        jmp(0x10, 1, 10, 1),  // r1 unknown after the join: both edges
        poison(),
        exit(),
    ];
    let r = run(&code);
    assert!(!r.exhausted);
    assert_eq!(reached(&r), vec![(4, Reach::Feasible)]);
    // The budget stops anything.
    let r = run_with(
        &code,
        &[("main", 0, 6, true)],
        Limits {
            max_steps: 3,
            ..Limits::default()
        },
    );
    assert!(r.exhausted);
}

#[test]
fn calls_follow_arguments_per_call_site() {
    // main: f(0); f(1) with a guard in f: poison reached via the second call only.
    let code = [
        mov64(1, 0), // 0
        call(4),     // 1 -> 6
        mov64(1, 0), // 2
        call(2),     // 3 -> 6
        mov64(0, 0), // 4
        exit(),      // 5
        // f (static): if r1 == 0 return; poison
        jmp(0x10, 1, 0, 1), // 6
        poison(),           // 7
        exit(),             // 8
    ];
    let funcs = [("main", 0, 6, true), ("f", 6, 3, false)];
    assert_eq!(reached(&run_with(&code, &funcs, Limits::default())), vec![]);
    let mut code2 = code;
    code2[2] = mov64(1, 1);
    assert_eq!(
        reached(&run_with(&code2, &funcs, Limits::default())),
        vec![(7, Reach::Feasible)]
    );
    // A global function is verified with unknown arguments.
    let gfuncs = [("main", 0, 6, true), ("f", 6, 3, true)];
    assert_eq!(
        reached(&run_with(&code, &gfuncs, Limits::default())),
        vec![(7, Reach::Feasible)]
    );
    // r0 is unknown after a call; callee-saved registers survive.
    let code = [
        mov64(6, 0),
        mov64(0, 0),
        helper(5),
        jmp(0x10, 6, 0, 1),
        poison(),
        jmp(0x10, 0, 0, 1),
        poison(),
        exit(),
    ];
    assert_eq!(reached(&run(&code)), vec![(6, Reach::Feasible)]);
}

#[test]
fn config_values_make_reach_conditional() {
    // r1 = *(u32 *)rodata_knob; if r1 == 0 goto out; poison
    let code = [
        i(0x18, 2, 0, 0, 0),
        i(0, 0, 0, 0, 0),
        i(0x61, 1, 2, 0, 0),
        jmp(0x10, 1, 0, 1),
        poison(),
        exit(),
    ];
    let mut layout = ProgramLayout::from_insns(&code, &[("main", 0, 6, true)]);
    layout.set_ldref_for_tests(0, LdRef::Data { region: 0, off: 0 });
    let mut env = TestEnv {
        sites: HashSet::from([4]),
        regions: HashMap::from([(0, Val::Cfg)]),
    };
    let r = analyze(&layout, &code, 0, &env, &Limits::default());
    assert_eq!(reached(&r), vec![(4, Reach::Config)]);
    env.regions.insert(0, Val::Const(0));
    let r = analyze(&layout, &code, 0, &env, &Limits::default());
    assert_eq!(reached(&r), vec![]);
    env.regions.insert(0, Val::Const(3));
    let r = analyze(&layout, &code, 0, &env, &Limits::default());
    assert_eq!(reached(&r), vec![(4, Reach::Feasible)]);
}

#[test]
fn hostile_code_ends() {
    // Jumps out of range, calls to nowhere, falling off the end, bad
    // registers and opcodes: reported, never a panic or a hang.
    let cases: Vec<Vec<Insn>> = vec![
        vec![ja(100)],
        vec![ja(-100)],
        vec![call(1000), exit()],
        vec![mov64(1, 0)],
        vec![i(0xb7, 12, 0, 0, 0), exit()],
        vec![i(0xff, 0, 0, 0, 0), exit()],
        vec![i(0x18, 1, 0, 0, 0)],
        vec![ja(-1)],
        vec![call(-1), exit()],
        vec![i(0x06, 0, 0, 0, i32::MAX)],
        vec![i(0xbf, 10, 1, 0, 0), exit()],
    ];
    for code in cases {
        let r = run(&code);
        assert!(!r.exhausted || r.steps <= Limits::default().max_steps);
    }
    let r = run(&[ja(100)]);
    assert_eq!(r.malformed[0].1, Malformed::JumpOutOfRange);
    let r = run(&[mov64(1, 0)]);
    assert_eq!(r.malformed[0].1, Malformed::FallsOffEnd);
    // Recursion: the call string is bounded.
    let r = run_with(
        &[call(-1), exit()],
        &[("main", 0, 2, false)],
        Limits::default(),
    );
    assert!(!r.exhausted);
}

#[test]
fn pointer_arithmetic_wraps() {
    // r1 = r10 + huge; *(r1 + off) = 0; r2 = *(r1 + off): no overflow panic.
    let code = [
        i(0xbf, 1, 10, 0, 0),
        i(0x18, 2, 0, 0, -1),
        i(0, 0, 0, 0, 0x7fff_ffff),
        i(0x0f, 1, 2, 0, 0), // r1 += r2
        i(0x7a, 1, 0, 0x7fff, 0),
        i(0x79, 3, 1, 0x7fff, 0),
        exit(),
    ];
    let r = run(&code);
    assert!(r.malformed.is_empty(), "{r:?}");
}

#[test]
fn random_code_never_panics() {
    // A small deterministic fuzz: arbitrary instruction words.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..3000 {
        let n = (x % 40) as usize + 1;
        let code: Vec<Insn> = (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut b = x.to_le_bytes();
                if x & 2 == 0 {
                    // Mostly valid registers, to get past the decoder's checks.
                    b[1] &= 0xaa;
                }
                Insn::decode(&b, btfkit_btf::Endian::Little)
            })
            .collect();
        let _ = run_with(
            &code,
            &[("main", 0, n as u32, x & 1 == 0)],
            Limits {
                max_steps: 50_000,
                ..Limits::default()
            },
        );
    }
}
