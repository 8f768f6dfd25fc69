//! Digests of package files as they are read: a Debian package lists the
//! MD5 of every file it installs (`md5sums` in `control.tar`), which is
//! the only check of the image's own bytes when the data tarball's
//! compression has none, or when the walk stops before the compressed
//! stream's end (where zstd keeps its checksum).

use std::collections::HashMap;
use std::io::{self, Read};

use md5::{Digest, Md5};

use crate::ExtractError;

/// The MD5s a package lists, by path (without a leading `./` or `/`),
/// for the files `keep` selects: a `-dbg` package lists thousands of
/// modules, only the kernel image matters.
pub(crate) fn parse_md5sums(text: &str, keep: impl Fn(&str) -> bool) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .filter(|(sum, _)| sum.len() == 32 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(sum, path)| (path.trim_start_matches("./").trim_start_matches('/'), sum))
        .filter(|(path, _)| keep(path))
        .map(|(path, sum)| (path.to_string(), sum.to_ascii_lowercase()))
        .collect()
}

/// A reader that hashes what passes through it.
pub(crate) struct Md5Reader<R> {
    inner: R,
    hash: Md5,
}

impl<R: Read> Md5Reader<R> {
    pub(crate) fn new(inner: R) -> Self {
        Md5Reader {
            inner,
            hash: Md5::new(),
        }
    }

    /// Checks the bytes read against `expected` (lowercase hex).
    pub(crate) fn check(self, member: &str, expected: &str) -> Result<(), ExtractError> {
        let actual: String = self
            .hash
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if actual == expected {
            return Ok(());
        }
        Err(ExtractError::MemberDigest {
            member: member.to_string(),
            algorithm: "MD5",
            expected: expected.to_string(),
            actual,
        })
    }
}

impl<R: Read> Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5sums_lines_are_read_as_dpkg_writes_them() {
        let text = "d41d8cd98f00b204e9800998ecf8427e  usr/lib/debug/boot/vmlinux-6.1.0-56-amd64\n\
                    0123456789ABCDEF0123456789abcdef  ./usr/lib/modules/6.1.0/kernel/x.ko\n\
                    not a line\n\
                    00ff  usr/short\n";
        let sums = parse_md5sums(text, |_| true);
        assert_eq!(sums.len(), 2);
        assert_eq!(
            sums["usr/lib/modules/6.1.0/kernel/x.ko"],
            "0123456789abcdef0123456789abcdef"
        );
        let only = parse_md5sums(text, |p| p.contains("vmlinux"));
        assert_eq!(only.len(), 1);
    }

    #[test]
    fn a_changed_byte_fails_the_check() {
        let empty = "d41d8cd98f00b204e9800998ecf8427e";
        let mut r = Md5Reader::new(&b""[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        r.check("f", empty).unwrap();
        let mut r = Md5Reader::new(&b"x"[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let e = r.check("usr/f", empty).unwrap_err().to_string();
        assert!(
            e.starts_with("usr/f: MD5 9dd4e461268c8034f5c8564e155c67a6"),
            "{e}"
        );
    }
}
