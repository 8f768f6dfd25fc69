//! Digests of package contents, checked as the bytes are read: an RPM's
//! header digests (SHA-256, SHA-1), and the digest a package lists for
//! each file it installs (a Debian package's `md5sums`, an RPM header's
//! `FILEDIGESTS`). A walk that stops after the kernel image never reads a
//! compressed stream's own checksum at its end; the file's digest is what
//! checks the image's bytes then.

use std::collections::HashMap;
use std::io::{self, Read};

use md5::digest::DynDigest;

/// A digest algorithm packages use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algorithm {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl Algorithm {
    /// The algorithm of rpm's `PGPHASHALGO_*` number (`FILEDIGESTALGO`);
    /// `None` for those no package of a kernel uses (RIPEMD-160, MD2,
    /// TIGER-192, HAVAL), which are then not checked.
    pub(crate) fn from_rpm(n: u64) -> Option<Algorithm> {
        Some(match n {
            1 => Algorithm::Md5,
            2 => Algorithm::Sha1,
            8 => Algorithm::Sha256,
            9 => Algorithm::Sha384,
            10 => Algorithm::Sha512,
            11 => Algorithm::Sha224,
            _ => return None,
        })
    }

    /// Its usual name: `MD5`, `SHA-256`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha1 => "SHA-1",
            Algorithm::Sha224 => "SHA-224",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha384 => "SHA-384",
            Algorithm::Sha512 => "SHA-512",
        }
    }

    /// A new hash state.
    pub(crate) fn hasher(self) -> Hasher {
        let state: Box<dyn DynDigest + Send> = match self {
            Algorithm::Md5 => Box::new(md5::Md5::default()),
            Algorithm::Sha1 => Box::new(sha1::Sha1::default()),
            Algorithm::Sha224 => Box::new(sha2::Sha224::default()),
            Algorithm::Sha256 => Box::new(sha2::Sha256::default()),
            Algorithm::Sha384 => Box::new(sha2::Sha384::default()),
            Algorithm::Sha512 => Box::new(sha2::Sha512::default()),
        };
        Hasher { state }
    }

    /// The digest of `data`, in lowercase hex.
    pub(crate) fn hex_of(self, data: &[u8]) -> String {
        let mut h = self.hasher();
        h.update(data);
        h.finish()
    }
}

/// A hash being computed.
pub(crate) struct Hasher {
    state: Box<dyn DynDigest + Send>,
}

impl Hasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.state.update(data);
    }

    /// The digest, in lowercase hex.
    pub(crate) fn finish(self) -> String {
        hex(&self.state.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A digest a package lists for a file, and whether the bytes read match
/// it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    pub(crate) algorithm: Algorithm,
    /// Lowercase hex.
    pub(crate) hex: String,
}

/// A digest that does not match: what was listed, what was read.
#[derive(Debug)]
pub(crate) struct Mismatch {
    pub(crate) algorithm: &'static str,
    pub(crate) expected: String,
    pub(crate) actual: String,
}

impl Listed {
    /// Checks a finished hash of the file's bytes against the listing.
    pub(crate) fn check(&self, hasher: Hasher) -> Result<(), Mismatch> {
        let actual = hasher.finish();
        if actual == self.hex {
            return Ok(());
        }
        Err(Mismatch {
            algorithm: self.algorithm.name(),
            expected: self.hex.clone(),
            actual,
        })
    }
}

/// The MD5s a Debian package lists in `md5sums`, by path (without a
/// leading `./` or `/`), for the files `keep` selects: a `-dbg` package
/// lists thousands of modules, only the kernel image matters.
pub(crate) fn parse_md5sums(text: &str, keep: impl Fn(&str) -> bool) -> HashMap<String, Listed> {
    text.lines()
        .filter_map(|l| l.split_once("  "))
        .filter(|(sum, _)| sum.len() == 32 && sum.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(sum, path)| (path.trim_start_matches("./").trim_start_matches('/'), sum))
        .filter(|(path, _)| keep(path))
        .map(|(path, sum)| {
            let listed = Listed {
                algorithm: Algorithm::Md5,
                hex: sum.to_ascii_lowercase(),
            };
            (path.to_string(), listed)
        })
        .collect()
}

/// A reader that hashes what passes through it.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R, algorithm: Algorithm) -> Self {
        HashingReader {
            inner,
            hasher: algorithm.hasher(),
        }
    }

    /// The hash of what was read.
    pub(crate) fn into_hasher(self) -> Hasher {
        self.hasher
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        let abc: [(Algorithm, &str); 6] = [
            (Algorithm::Md5, "900150983cd24fb0d6963f7d28e17f72"),
            (Algorithm::Sha1, "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                Algorithm::Sha224,
                "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7",
            ),
            (
                Algorithm::Sha256,
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            ),
            (
                Algorithm::Sha384,
                "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed\
                 8086072ba1e7cc2358baeca134c825a7",
            ),
            (
                Algorithm::Sha512,
                "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
                 2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
            ),
        ];
        for (algorithm, want) in abc {
            assert_eq!(algorithm.hex_of(b"abc"), want, "{}", algorithm.name());
        }
    }

    #[test]
    fn md5sums_lines_are_read_as_dpkg_writes_them() {
        let text = "d41d8cd98f00b204e9800998ecf8427e  usr/lib/debug/boot/vmlinux-6.1.0-56-amd64\n\
                    0123456789ABCDEF0123456789abcdef  ./usr/lib/modules/6.1.0/kernel/x.ko\n\
                    not a line\n\
                    00ff  usr/short\n";
        let sums = parse_md5sums(text, |_| true);
        assert_eq!(sums.len(), 2);
        assert_eq!(
            sums["usr/lib/modules/6.1.0/kernel/x.ko"].hex,
            "0123456789abcdef0123456789abcdef"
        );
        let only = parse_md5sums(text, |p| p.contains("vmlinux"));
        assert_eq!(only.len(), 1);
    }

    #[test]
    fn a_changed_byte_fails_the_check() {
        let empty = Listed {
            algorithm: Algorithm::Md5,
            hex: "d41d8cd98f00b204e9800998ecf8427e".into(),
        };
        let mut r = HashingReader::new(&b""[..], Algorithm::Md5);
        io::copy(&mut r, &mut io::sink()).unwrap();
        empty.check(r.into_hasher()).unwrap();
        let mut r = HashingReader::new(&b"x"[..], Algorithm::Md5);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let m = empty.check(r.into_hasher()).unwrap_err();
        assert_eq!(m.actual, "9dd4e461268c8034f5c8564e155c67a6");
    }
}
