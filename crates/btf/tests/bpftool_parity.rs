//! `btf dump` raw and JSON output against bpftool 7.1, on every corpus
//! kernel, every corpus module (split on its base) and BPF objects built
//! from `testdata/bpf` with each available clang, in both byte orders.

use btfkit_btf::{dump, Btf};
use btfkit_testutil as tu;

fn ours_raw(btf: &Btf<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    dump::dump_raw(btf, &mut out).unwrap();
    out
}

/// Our JSON lines as values, to compare with bpftool's `{"types": [...]}`.
fn ours_json(btf: &Btf<'_>) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    dump::dump_json(btf, &mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// bpftool's `-j` types, with its one known difference undone: bpftool
/// writes the value of an unsigned 32-bit enum through a sign-extending
/// conversion of the stored `s32` (so 0x80000000 appears as
/// 18446744071562067968); btfkit writes the value itself.
fn bpftool_json(args: &[&str]) -> Option<Vec<serde_json::Value>> {
    let mut full = vec!["-j"];
    full.extend_from_slice(args);
    let out = tu::bpftool(&full)?;
    let mut v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let types = v["types"].as_array_mut().unwrap();
    for t in types.iter_mut() {
        if t["kind"] == "ENUM" && t["encoding"] == "UNSIGNED" {
            for val in t["values"].as_array_mut().unwrap() {
                let x = val["val"].as_u64().unwrap();
                val["val"] = (x & 0xffff_ffff).into();
            }
        }
    }
    Some(types.clone())
}

fn assert_same_json(what: &str, ours: &[serde_json::Value], theirs: &[serde_json::Value]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: JSON type count");
    if let Some((a, b)) = ours.iter().zip(theirs).find(|(a, b)| a != b) {
        panic!("{what}: JSON differs:\n ours    {a}\n bpftool {b}");
    }
}

fn assert_same_text(what: &str, ours: &[u8], theirs: &[u8]) {
    if ours != theirs {
        let o = String::from_utf8_lossy(ours);
        let t = String::from_utf8_lossy(theirs);
        let line = o.lines().zip(t.lines()).position(|(a, b)| a != b);
        panic!(
            "{what}: raw dump differs from bpftool at line {:?}: ours {:?} / bpftool {:?} ({} vs {} bytes)",
            line.map(|l| l + 1),
            line.and_then(|l| o.lines().nth(l)),
            line.and_then(|l| t.lines().nth(l)),
            ours.len(),
            theirs.len()
        );
    }
}

#[test]
fn corpus_kernels_raw_and_json() {
    let kernels = tu::corpus_kernels();
    for k in &kernels {
        let raw = k.raw_path();
        let p = raw.to_str().unwrap();
        let Some(theirs) = tu::bpftool(&["btf", "dump", "file", p, "format", "raw"]) else {
            return;
        };
        let bytes = k.raw_bytes();
        let btf = Btf::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", k.key));
        assert_same_text(&k.key, &ours_raw(&btf), &theirs);
        // JSON on a few kernels (bpftool's JSON of a kernel is large).
        if k.key.contains("6.1.0-56-amd64") || k.key.contains("centos") || k.key.contains("4.19") {
            let theirs = bpftool_json(&["btf", "dump", "file", p, "format", "raw"]).unwrap();
            assert_same_json(&k.key, &ours_json(&btf), &theirs);
        }
    }
    eprintln!("checked {} kernels", kernels.len());
}

#[test]
fn corpus_modules_split_on_base() {
    let mods = tu::corpus_modules();
    for m in &mods {
        let base_path = m.base.raw_path();
        let (mp, bp) = (m.raw.to_str().unwrap(), base_path.to_str().unwrap());
        let Some(theirs) = tu::bpftool(&["btf", "dump", "file", mp, "-B", bp, "format", "raw"])
        else {
            return;
        };
        let base_bytes = m.base.raw_bytes();
        let base = Btf::parse(&base_bytes).unwrap();
        let bytes = std::fs::read(&m.raw).unwrap();
        let btf = Btf::parse_split(&bytes, &base).unwrap_or_else(|e| panic!("{}: {e}", m.name));
        assert_eq!(
            btf.first_id(),
            base.next_id(),
            "{}: ids continue after the base",
            m.name
        );
        assert_eq!(
            btf.start_str_off(),
            base.str_end(),
            "{}: strings continue after the base",
            m.name
        );
        assert_same_text(&m.name, &ours_raw(&btf), &theirs);
        let theirs = bpftool_json(&["btf", "dump", "file", mp, "-B", bp, "format", "raw"]).unwrap();
        assert_same_json(&m.name, &ours_json(&btf), &theirs);
    }
    eprintln!("checked {} modules", mods.len());
}

#[test]
fn bpf_objects_both_byte_orders() {
    let objs = tu::bpf_objects();
    assert!(!objs.is_empty() || !tu::in_ci());
    for o in &objs {
        let p = o.path.to_str().unwrap();
        let Some(theirs) = tu::bpftool(&["btf", "dump", "file", p, "format", "raw"]) else {
            return;
        };
        let bytes = std::fs::read(&o.path).unwrap();
        let btf = Btf::parse_any(&bytes, None).unwrap_or_else(|e| panic!("{}: {e}", o.label));
        assert_same_text(&o.label, &ours_raw(&btf), &theirs);
        let theirs = bpftool_json(&["btf", "dump", "file", p, "format", "raw"]).unwrap();
        assert_same_json(&o.label, &ours_json(&btf), &theirs);
    }
    eprintln!("checked {} objects", objs.len());
}

#[test]
fn host_vmlinux() {
    let path = "/sys/kernel/btf/vmlinux";
    if !std::path::Path::new(path).exists() {
        tu::missing::<()>("/sys/kernel/btf/vmlinux");
        return;
    }
    let Some(theirs) = tu::bpftool(&["btf", "dump", "file", path, "format", "raw"]) else {
        return;
    };
    let bytes = btfkit_btf::load::load_btf_file(path).unwrap();
    let btf = Btf::parse(&bytes).unwrap();
    assert_same_text(path, &ours_raw(&btf), &theirs);
}
