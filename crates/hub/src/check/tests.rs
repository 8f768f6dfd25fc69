//! Per-program verdicts through the library API (the CLI tests cover the
//! corpus matrix and the host verifier).

use super::*;
use btfkit_testutil as tu;

fn tools() -> Vec<u8> {
    std::fs::read(tu::workspace_root().join("testdata/core/check/tools.bpf.o")).unwrap()
}

fn verdicts(r: &KernelResult) -> HashMap<&str, ProgVerdict> {
    r.programs
        .iter()
        .map(|p| (p.program.as_str(), p.verdict))
        .collect()
}

#[test]
fn release_keys() {
    assert_eq!(
        release_of("debian/12/x86_64/6.1.0-56-amd64"),
        Some("6.1.0-56-amd64")
    );
    assert_eq!(release_of("x/"), None);
}

#[test]
fn guarded_rename_on_4_19_and_6_1() {
    let bytes = tools();
    let objects = [CheckObject::new(
        "tools.bpf.o",
        BpfObject::parse(&bytes).unwrap(),
    )];
    for key in [
        "bclinux/21.10U3/x86_64/4.19.90-2107.6.0.0248.35.oe1.bclinux.x86_64",
        "debian/12/x86_64/6.1.0-56-amd64",
    ] {
        let Some(k) = tu::corpus_kernel(key) else {
            return;
        };
        let raw = k.raw_bytes();
        let btf = Btf::parse(&raw).unwrap();
        let target = Target::new(&btf);
        let r = check_target(&objects, &target, release_of(key), &CheckOptions::default());
        let v = verdicts(&r);
        let new = key.starts_with("debian");
        assert_eq!(v["boottime_guarded"], ProgVerdict::Ok, "{key}");
        assert_eq!(v["state_flavors"], ProgVerdict::Ok, "{key}");
        assert_eq!(v["kversion_guard"], ProgVerdict::Ok, "{key}");
        assert_eq!(
            v["boottime_unguarded"],
            if new {
                ProgVerdict::Fails
            } else {
                ProgVerdict::Ok
            },
            "{key}"
        );
        // The optional program is reported, apart.
        let opt = r
            .programs
            .iter()
            .find(|p| p.program == "optional_unguarded")
            .unwrap();
        assert!(!opt.autoload);
        // On 6.1 real_start_time is poisoned twice among the loaded
        // programs: dead code in boottime_guarded, reached in
        // boottime_unguarded.
        if new {
            let old: Vec<&RelocCheck> = r
                .relocations
                .iter()
                .filter(|x| x.spec.contains("real_start_time") && x.verdict.is_failure())
                .collect();
            let guarded = old.iter().filter(|x| x.optional).count();
            let reached = old
                .iter()
                .filter(|x| x.reach == Some(Reach::Feasible))
                .count();
            assert!(guarded >= 2 && reached == 1, "{old:#?}");
        }
    }
}

/// Damaged objects (bytes flipped anywhere, code included) are checked
/// without a panic or a hang: jumps out of range, calls to nowhere, loops.
#[test]
fn damaged_objects_never_panic() {
    let good = tools();
    let target_bytes = good.clone();
    let own = BpfObject::parse(&target_bytes).unwrap();
    let target = Target::new(own.btf());
    // Code bytes (file ranges of executable sections) get most flips.
    let code: Vec<(usize, usize)> = own
        .sections()
        .iter()
        .filter(|s| s.executable && !s.data.is_empty())
        .map(|s| (s.file_offset as usize, s.data.len()))
        .collect();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut checked = 0;
    for _ in 0..400 {
        let mut bytes = good.clone();
        for _ in 0..8 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = if x & 3 != 0 {
                let (off, len) = code[(x >> 8) as usize % code.len()];
                off + (x >> 20) as usize % len
            } else {
                (x % bytes.len() as u64) as usize
            };
            bytes[i] ^= (x >> 32) as u8 | 1;
        }
        let Ok(obj) = BpfObject::parse(&bytes) else {
            continue;
        };
        let objects = [CheckObject::new("damaged", obj)];
        let opts = CheckOptions {
            limits: Limits {
                max_steps: 100_000,
                ..Limits::default()
            },
            ..CheckOptions::default()
        };
        let _ = check_target(&objects, &target, Some("6.1.0"), &opts);
        checked += 1;
    }
    assert!(checked > 50, "{checked}");
}
