//! Issue 17, rows 1, 1b, 1c and 8, end to end: BTF that breaks the
//! kernel's rules is refused by every command that reads it, in one line
//! that names the file, the type (id, kind, name) and the member; and a
//! header whose padding would be gigabytes is refused, not written.

mod common;

use std::path::Path;

use btfkit_btf::{Btf, BtfBuilder, Kind, INT_SIGNED};
use btfkit_testutil as tu;
use common::{btfkit, fails};

/// Writes `data` to `dir/name`, returns its path as a string.
fn file(dir: &Path, name: &str, data: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_str().unwrap().to_string()
}

/// Every reading command refuses `path`, each in one line that starts
/// with the file and says all of `says`.
fn every_reader_refuses(path: &str, dir: &Path, says: &[&str]) {
    let out = dir.join("out.btf");
    let out = out.to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["btf", "stat", path],
        &["btf", "dump", path],
        &["btf", "dump", "--format", "c", path],
        &["btf", "dump", "--format", "json", path],
        &["btf", "merge", path, path, "-o", out],
    ];
    for args in commands {
        let err = fails(args);
        assert!(err.contains(path), "{args:?}: {err}");
        for s in says {
            assert!(err.contains(s), "{args:?}: {err:?} does not say {s:?}");
        }
        // Said once: the type's description appears one time.
        assert_eq!(err.matches("type id").count(), 1, "{args:?}: {err}");
    }
    assert!(!Path::new(out).exists());
}

#[test]
fn a_bitfield_far_outside_its_struct() {
    // Row 1c: a 4-byte struct with a bitfield at bit 16777215.
    let dir = tempfile::tempdir().unwrap();
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_struct("s", 4, &[tu::member_spec("f", int, 0x00ff_ffff, 1)])
        .unwrap();
    let path = file(dir.path(), "bitfield.btf", &b.finish());
    every_reader_refuses(
        &path,
        dir.path(),
        &[
            "type id 2",
            "STRUCT \"s\"",
            "\"f\"",
            "beyond the 4-byte struct",
        ],
    );
}

#[test]
fn an_int_of_255_bits_in_4_bytes() {
    // Row 8: was accepted by `stat` and said twice by `merge`, with no
    // file name.
    let dir = tempfile::tempdir().unwrap();
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, INT_SIGNED).unwrap();
    let mut d = b.finish();
    d[24 + 12..24 + 16].copy_from_slice(&(255u32 | 255 << 16).to_le_bytes());
    let path = file(dir.path(), "int.btf", &d);
    every_reader_refuses(
        &path,
        dir.path(),
        &["type id 1", "INT \"int\"", "exceeds 128 bits"],
    );
}

#[test]
fn a_name_that_is_not_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_composite_raw(Kind::Struct, b"caf\xe9", 4, false, &[(b"x", int, 0)])
        .unwrap();
    let path = file(dir.path(), "name.btf", &b.finish());
    every_reader_refuses(&path, dir.path(), &["type id 2", "not valid UTF-8"]);
}

/// Row 1b: the corpus's Debian 12 kernel with task_struct.pid moved to
/// bit 2130706464 (two bytes changed) used to give a 369 MB header.
#[test]
fn a_real_kernel_with_one_member_moved() {
    let Some(k) = tu::corpus_kernel("debian/12/x86_64/6.1.0-56-amd64") else {
        return tu::missing("the corpus").unwrap_or(());
    };
    let dir = tempfile::tempdir().unwrap();
    let mut data = k.raw_bytes();
    let at = {
        let btf = Btf::parse(&data).unwrap();
        let task = btf.find_first("task_struct", Kind::Struct).unwrap();
        let t = btf.type_by_id(task).unwrap();
        let idx = t
            .members()
            .unwrap()
            .iter()
            .position(|m| btf.str_at(m.name_off).unwrap() == "pid")
            .unwrap();
        btf.record_offset(task) + 12 + idx * 12 + 8
    };
    let old = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
    let moved = if old >> 24 != 0 {
        old | 0x007f_0000
    } else {
        2_130_706_464
    };
    data[at..at + 4].copy_from_slice(&moved.to_le_bytes());
    let path = file(dir.path(), "moved.btf", &data);
    every_reader_refuses(&path, dir.path(), &["STRUCT \"task_struct\"", "\"pid\""]);
}

/// Row 1: sound by the kernel's rules, but 4 GiB of padding.
#[test]
fn gigabytes_of_padding() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = BtfBuilder::new();
    let int = b.add_int("int", 4, INT_SIGNED).unwrap();
    b.add_struct(
        "huge",
        u32::MAX,
        &[tu::member_spec("far", int, u32::MAX - 31, 0)],
    )
    .unwrap();
    let path = file(dir.path(), "huge.btf", &b.finish());
    let err = fails(&["btf", "dump", "--format", "c", &path]);
    assert!(err.contains(&path), "{err}");
    assert!(err.contains("before member \"far\""), "{err}");
    // The other dumps print it: it is valid BTF.
    assert!(btfkit(&["btf", "stat", &path]).status.success());
}

/// A dump to a full device names what it could not write.
#[test]
fn writing_to_a_full_device_names_stdout() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut b = BtfBuilder::new();
    b.add_int("int", 4, INT_SIGNED).unwrap();
    let path = file(dir.path(), "ok.btf", &b.finish());
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_btfkit"))
        .args(["btf", "dump", &path])
        .stdout(full)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(err.contains("standard output"), "{err}");
}
