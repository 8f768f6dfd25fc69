//! BPF objects of real tools: every libbpf-based tool of Debian's
//! `libbpf-tools` (trixie, one package per architecture; 57 tools, among
//! them the five whose `core check` verdicts once cried wolf: bindsnoop,
//! biopattern, runqlat, runqlen, runqslower). Each tool embeds its object
//! (a libbpf skeleton), found in the binary by its ELF header (machine
//! EM_BPF) and cut at the end of its section header table.

use std::path::{Path, PathBuf};

use crate::apt::Apt;
use crate::kernel::{self, Arch};
use crate::HarnessError;

/// The tools every guest's `core-check-verifier` runs (the others run in
/// `core-check-tools`).
pub const NAMED: &[&str] = &[
    "bindsnoop",
    "biopattern",
    "runqlat",
    "runqlen",
    "runqslower",
];

/// Where the tools are in the package: `/usr/sbin/NAME-libbpf` (the
/// per-filesystem names are symlinks to shared tools, not listed).
const TOOL_SUFFIX: &str = "-libbpf";

const EM_BPF: u16 = 247;

/// Where the package comes from (trixie: libbpf-tools 0.31).
const TOOLS_SUITE: &str = "trixie";

/// The embedded BPF object of a program, if it has exactly one.
fn embedded_object(bin: &[u8]) -> Option<&[u8]> {
    let mut found = None;
    let mut at = 0;
    while let Some(i) = memfind(&bin[at..], b"\x7fELF\x02\x01").map(|i| i + at) {
        at = i + 1;
        let h = bin.get(i..i + 64)?;
        let u16_at = |o: usize| u16::from_le_bytes([h[o], h[o + 1]]);
        if u16_at(18) != EM_BPF {
            continue;
        }
        let shoff = u64::from_le_bytes(h[40..48].try_into().ok()?) as usize;
        let end = shoff.checked_add(usize::from(u16_at(58)) * usize::from(u16_at(60)))?;
        if found.is_some() {
            return None;
        }
        found = Some(bin.get(i..i.checked_add(end)?)?);
    }
    found
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The tools' objects for `arch`, extracted once into `dir` (a `done`
/// file lists them once every one is written).
pub fn objects(apt: &Apt, arch: Arch, dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
    let done = dir.join("objects.list");
    if let Ok(list) = std::fs::read_to_string(&done) {
        let outs: Vec<PathBuf> = list.lines().map(|l| dir.join(l)).collect();
        if !outs.is_empty() && outs.iter().all(|p| p.exists()) {
            return Ok(outs);
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| HarnessError::io(dir, e))?;
    // A stable release's build: the same objects run after run.
    let deb = apt.download_from("libbpf-tools", arch.debian(), Some(TOOLS_SUITE))?;
    let members = kernel::members(&deb, |p| p.ends_with(TOOL_SUFFIX))?;
    if members.is_empty() {
        return Err(HarnessError::Tool {
            tool: "libbpf-tools".into(),
            detail: format!("no *{TOOL_SUFFIX} program in {}", deb.display()),
        });
    }
    let mut names = Vec::new();
    for member in &members {
        let tool = member
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(TOOL_SUFFIX))
            .unwrap_or(member);
        let bin = dir.join(format!("{tool}{TOOL_SUFFIX}"));
        kernel::extract_member(&deb, member, &bin)?;
        let data = std::fs::read(&bin).map_err(|e| HarnessError::io(&bin, e))?;
        let obj = embedded_object(&data).ok_or_else(|| HarnessError::Elf {
            path: bin.clone(),
            detail: "not exactly one embedded BPF object".into(),
        })?;
        let name = format!("{tool}.bpf.o");
        crate::prepare::write_atomic(&dir.join(&name), obj)?;
        std::fs::remove_file(&bin).map_err(|e| HarnessError::io(&bin, e))?;
        names.push(name);
    }
    crate::prepare::write_atomic(&done, format!("{}\n", names.join("\n")).as_bytes())?;
    Ok(names.iter().map(|n| dir.join(n)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_one_bpf_object_in_a_binary() {
        let mut obj = vec![0u8; 64];
        obj[..6].copy_from_slice(b"\x7fELF\x02\x01");
        obj[18..20].copy_from_slice(&EM_BPF.to_le_bytes());
        obj[40..48].copy_from_slice(&64u64.to_le_bytes()); // shoff
        obj[58..60].copy_from_slice(&64u16.to_le_bytes()); // shentsize
        obj[60..62].copy_from_slice(&2u16.to_le_bytes()); // shnum
        obj.resize(64 + 128, 7);
        let mut host = b"\x7fELF\x02\x01 host program".to_vec();
        host.resize(100, 0);
        let mut bin = host.clone();
        bin.extend_from_slice(&obj);
        bin.extend_from_slice(b"trailing data");
        assert_eq!(embedded_object(&bin), Some(&obj[..]));
        let mut two = bin.clone();
        two.extend_from_slice(&obj);
        assert_eq!(embedded_object(&two), None, "ambiguous");
        assert_eq!(embedded_object(&host), None);
    }
}
