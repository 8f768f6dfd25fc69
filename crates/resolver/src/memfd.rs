//! Resolved BTF for loaders that take a path (libbpf's `btf_custom_path`,
//! libbpfgo's and libbpf-rs's equivalents), without a file on disk: a
//! sealed memory file, opened by path as `/proc/self/fd/N`.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! static BUNDLE: &[u8] = &[]; // include_bytes!("btf.bundle")
//! let resolved = btfkit_resolver::Resolver::new().bundle(BUNDLE).resolve()?;
//! let sealed = btfkit_resolver::SealedBtf::new(&resolved.bytes)?;
//! // bpf_object_open_opts.btf_custom_path = this path, in this process
//! println!("{}", sealed.path().display());
//! # Ok(())
//! # }
//! ```
//!
//! The seals (no write, no resize, no further seal) make the content
//! immutable for every opener, so a loader reads exactly the bytes the
//! resolver checked; the file lives as long as its descriptor.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{MemfdFlags, SealFlags};

/// Why the memory file could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemfdError {
    /// `memfd_create` failed (kernels before 3.17, or a seccomp filter).
    #[error("memfd_create")]
    Create(#[source] std::io::Error),
    /// Writing the BTF into it failed (memory limits).
    #[error("writing {len} bytes of BTF into the memory file")]
    Write {
        /// Bytes to write.
        len: usize,
        /// The write error.
        #[source]
        source: std::io::Error,
    },
    /// Sealing or changing its descriptor's flags failed.
    #[error("sealing the memory file")]
    Seal(#[source] std::io::Error),
}

/// BTF in a sealed memory file.
#[derive(Debug)]
pub struct SealedBtf {
    fd: OwnedFd,
}

impl SealedBtf {
    /// A memory file holding `bytes`, sealed against writes, resizing and
    /// further seals; its descriptor is closed on exec (see
    /// [`SealedBtf::into_inherited`]).
    pub fn new(bytes: &[u8]) -> Result<SealedBtf, MemfdError> {
        let fd = rustix::fs::memfd_create(
            "btfkit-btf",
            MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| MemfdError::Create(e.into()))?;
        let mut file = std::fs::File::from(fd);
        file.write_all(bytes).map_err(|source| MemfdError::Write {
            len: bytes.len(),
            source,
        })?;
        let fd = OwnedFd::from(file);
        rustix::fs::fcntl_add_seals(
            &fd,
            SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )
        .map_err(|e| MemfdError::Seal(e.into()))?;
        Ok(SealedBtf { fd })
    }

    /// The path that opens it in this process: `/proc/self/fd/N`.
    pub fn path(&self) -> PathBuf {
        fd_path(self.fd.as_fd())
    }

    /// Its descriptor stays open across `exec`, under the same number,
    /// so a program run from here opens the same path; returns the
    /// descriptor, which must live until then.
    pub fn into_inherited(self) -> Result<OwnedFd, MemfdError> {
        rustix::io::fcntl_setfd(&self.fd, rustix::io::FdFlags::empty())
            .map_err(|e| MemfdError::Seal(e.into()))?;
        Ok(self.fd)
    }
}

impl AsFd for SealedBtf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// `/proc/self/fd/N` for a descriptor.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
