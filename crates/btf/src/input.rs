//! Opening input files safely: one place that decides what btfkit agrees
//! to read.
//!
//! Every file btfkit takes as input (BTF, objects, kernel images and
//! packages, bundles, os-release and kernel-config overrides) is opened
//! through [`open`] or read through [`read`], so the same two rules hold
//! everywhere:
//!
//! - **Regular files only.** A directory, FIFO, socket or device is
//!   refused with an error that says what it is. `/dev/zero` would
//!   otherwise be read until memory runs out, and a FIFO would block
//!   forever. Symlinks are followed (the target is what is checked).
//! - **A size cap per kind of input** ([`Limit`]), enforced by the read
//!   itself, not by the size `stat` reports: files in procfs and sysfs
//!   (`/proc/config.gz`, `/sys/kernel/btf/vmlinux`) may report any size.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// What an input is, and so how large it may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Raw BTF, or a compressed btfhub file (`.btf`, `.btf.xz`,
    /// `.btf.tar.xz`) before unpacking: 256 MiB. The largest kernels' BTF
    /// is under 16 MiB.
    Btf,
    /// ELF files read whole: BPF objects, vmlinux, kernel images, debug
    /// packages, bundles: 4 GiB. A vmlinux with DWARF is about 1 GiB.
    Large,
    /// Small text files (os-release, `/proc/version_signature`): 64 KiB.
    Text,
    /// A kernel configuration, plain or gzip: 16 MiB (real ones are
    /// about 300 KiB).
    Config,
}

impl Limit {
    /// The most bytes an input of this kind may hold.
    pub const fn max_bytes(self) -> u64 {
        match self {
            Limit::Btf => 256 << 20,
            Limit::Large => 4 << 30,
            Limit::Text => 64 << 10,
            Limit::Config => 16 << 20,
        }
    }

    /// What the input is, for messages.
    pub const fn what(self) -> &'static str {
        match self {
            Limit::Btf => "BTF file",
            Limit::Large => "file",
            Limit::Text => "text file",
            Limit::Config => "kernel config",
        }
    }
}

/// The kind of a file that is not a regular file, for messages.
fn file_kind(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading when it is a regular file. A FIFO is opened
/// non-blocking, so that the check (not the open) is what refuses it.
/// Errors name the path.
pub fn open(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let in_file = |e: Error| e.in_file(path);
    // O_NONBLOCK: opening a FIFO with no writer would otherwise block
    // before the type can be checked. It has no effect on regular files.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| in_file(Error::Io(e)))?;
    let meta = file.metadata().map_err(|e| in_file(Error::Io(e)))?;
    if !meta.is_file() {
        return Err(in_file(Error::NotRegularFile {
            kind: file_kind(&meta.file_type()),
        }));
    }
    Ok(file)
}

/// Reads at most `limit.max_bytes()` from an opened input; more is an
/// error naming the limit.
pub fn read_opened(file: File, path: &Path, limit: Limit) -> Result<Vec<u8>> {
    let max = limit.max_bytes();
    let hint = file.metadata().map_or(0, |m| m.len()).min(max);
    let mut data = Vec::with_capacity(hint as usize);
    file.take(max + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::Io(e).in_file(path))?;
    if data.len() as u64 > max {
        return Err(Error::InputTooLarge {
            what: limit.what(),
            max,
        }
        .in_file(path));
    }
    Ok(data)
}

/// Reads a whole regular file of at most `limit.max_bytes()` bytes.
pub fn read(path: &Path, limit: Limit) -> Result<Vec<u8>> {
    read_opened(open(path)?, path, limit)
}

/// Reads a regular text file of at most `limit.max_bytes()`, replacing
/// bytes that are not UTF-8.
pub fn read_text(path: &Path, limit: Limit) -> Result<String> {
    let data = read(path, limit)?;
    Ok(match String::from_utf8(data) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_are_refused_by_kind() {
        let e = read(Path::new("/dev/zero"), Limit::Btf).unwrap_err();
        assert!(
            matches!(
                e.root(),
                Error::NotRegularFile {
                    kind: "a character device"
                }
            ),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            "/dev/zero: a character device, not a regular file"
        );
        let e = read(Path::new("/"), Limit::Text).unwrap_err();
        assert!(
            matches!(
                e.root(),
                Error::NotRegularFile {
                    kind: "a directory"
                }
            ),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("btfkit-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Returns at once: the open does not wait for a writer.
        let e = read(&fifo, Limit::Text).unwrap_err();
        assert!(
            matches!(e.root(), Error::NotRegularFile { kind: "a FIFO" }),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_stop_at_the_cap() {
        let dir = std::env::temp_dir().join(format!("btfkit-input-cap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("os-release");
        std::fs::write(&big, vec![b'x'; (64 << 10) + 1]).unwrap();
        let e = read_text(&big, Limit::Text).unwrap_err();
        assert!(
            matches!(e.root(), Error::InputTooLarge { max: 65536, .. }),
            "{e}"
        );
        assert!(
            e.to_string().ends_with("text file larger than 65536 bytes"),
            "{e}"
        );
        std::fs::write(&big, b"ID=debian\n").unwrap();
        assert_eq!(read_text(&big, Limit::Text).unwrap(), "ID=debian\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
