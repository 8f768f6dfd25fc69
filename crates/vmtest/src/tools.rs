//! BPF objects of real tools: the five libbpf-based tools whose `core
//! check` verdicts cried wolf (bindsnoop, biopattern, runqlat, runqlen,
//! runqslower), as Debian builds them (`libbpf-tools` of trixie, one
//! package per architecture). Each tool embeds its object (a libbpf skeleton), found
//! in the binary by its ELF header (machine EM_BPF) and cut at the end of
//! its section header table.

use std::path::{Path, PathBuf};

use crate::apt::Apt;
use crate::kernel::{self, Arch};
use crate::HarnessError;

/// The tools named by the `core check` issue.
const TOOLS: &[&str] = &[
    "bindsnoop",
    "biopattern",
    "runqlat",
    "runqlen",
    "runqslower",
];

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

/// The tools' objects for `arch`, extracted once into `dir`.
pub fn objects(apt: &Apt, arch: Arch, dir: &Path) -> Result<Vec<PathBuf>, HarnessError> {
    let outs: Vec<PathBuf> = TOOLS
        .iter()
        .map(|t| dir.join(format!("{t}.bpf.o")))
        .collect();
    if outs.iter().all(|p| p.exists()) {
        return Ok(outs);
    }
    std::fs::create_dir_all(dir).map_err(|e| HarnessError::io(dir, e))?;
    // A stable release's build: the same objects run after run.
    let deb = apt.download_from("libbpf-tools", arch.debian(), Some(TOOLS_SUITE))?;
    for (tool, out) in TOOLS.iter().zip(&outs) {
        let member = kernel::find_member(&deb, |p| p.ends_with(&format!("/{tool}-libbpf")))?
            .ok_or_else(|| HarnessError::Tool {
                tool: "libbpf-tools".into(),
                detail: format!("no {tool}-libbpf in {}", deb.display()),
            })?;
        let bin = dir.join(format!("{tool}-libbpf"));
        kernel::extract_member(&deb, &member, &bin)?;
        let data = std::fs::read(&bin).map_err(|e| HarnessError::io(&bin, e))?;
        let obj = embedded_object(&data).ok_or_else(|| HarnessError::Elf {
            path: bin.clone(),
            detail: "not exactly one embedded BPF object".into(),
        })?;
        crate::prepare::write_atomic(out, obj)?;
    }
    Ok(outs)
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
