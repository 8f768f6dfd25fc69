//! Crafted inputs: files under a test's directory, patched bytes, BTF
//! members, btfhub-style tarballs, and commands run under a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use btfkit_btf::{MemberSpec, TypeId};

/// Writes `bytes` to `root/rel` (a leading `/` in `rel` is ignored),
/// creating the directories on the way; returns the path.
pub fn write_under(root: &Path, rel: &str, bytes: &[u8]) -> PathBuf {
    let p = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Overwrites the little-endian `u32` at `off`.
pub fn put_u32(d: &mut [u8], off: usize, v: u32) {
    d[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

/// The little-endian `u32` at `off`.
pub fn get_u32(d: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(d[off..off + 4].try_into().unwrap())
}

/// A member for [`btfkit_btf::BtfBuilder`]: `bitfield_size` 0 for a
/// plain member.
pub fn member_spec(
    name: &str,
    type_id: TypeId,
    bit_offset: u32,
    bitfield_size: u8,
) -> MemberSpec<'_> {
    MemberSpec {
        name,
        type_id,
        bit_offset,
        bitfield_size,
    }
}

/// A `.tar.xz` of `members` (name, bytes), in order, as btfhub-archive
/// packs a kernel's BTF.
pub fn tar_xz(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let mut out = Vec::new();
    let mut enc = liblzma::write::XzEncoder::new(&mut out, 1);
    std::io::Write::write_all(&mut enc, &tar).unwrap();
    enc.finish().unwrap();
    out
}

/// Runs `cmd` (stdin closed, stdout and stderr captured), killing it and
/// failing the test if it still runs after `deadline`: a hang fails the
/// test instead of stalling the suite.
pub fn output_within(cmd: &mut Command, deadline: Duration) -> Output {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    // Drained on threads: a full pipe must not look like a hang.
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}
