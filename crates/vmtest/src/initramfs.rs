//! The guest's initramfs: an uncompressed `newc` cpio archive (what the
//! kernel unpacks into its rootfs), and the shared libraries a
//! dynamically linked program needs in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader};
use object::Endianness;

use crate::HarnessError;

/// One entry of the archive.
enum Entry {
    Dir,
    File { data: Vec<u8>, mode: u32 },
    CharDevice { major: u32, minor: u32 },
}

/// An initramfs being assembled; paths are absolute guest paths.
#[derive(Default)]
pub struct Initramfs {
    entries: BTreeMap<String, Entry>,
}

impl Initramfs {
    /// Adds `path`'s parent directories.
    fn parents(&mut self, path: &str) {
        let mut p = Path::new(path);
        while let Some(parent) = p.parent() {
            let s = parent.to_string_lossy();
            if s != "/" && !s.is_empty() {
                self.entries.entry(s.into_owned()).or_insert(Entry::Dir);
            }
            p = parent;
        }
    }

    /// A directory.
    pub fn dir(&mut self, path: &str) {
        self.parents(path);
        self.entries.insert(path.to_string(), Entry::Dir);
    }

    /// A file with these contents.
    pub fn file(&mut self, path: &str, data: Vec<u8>, mode: u32) {
        self.parents(path);
        self.entries
            .insert(path.to_string(), Entry::File { data, mode });
    }

    /// A file copied from the host.
    pub fn copy(&mut self, path: &str, from: &Path, mode: u32) -> Result<(), HarnessError> {
        let data = std::fs::read(from).map_err(|e| HarnessError::io(from, e))?;
        self.file(path, data, mode);
        Ok(())
    }

    /// A character device node (`/dev/console` must exist before init
    /// runs: the kernel opens it for init's stdin, stdout and stderr).
    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        self.parents(path);
        self.entries
            .insert(path.to_string(), Entry::CharDevice { major, minor });
    }

    /// The archive's bytes: `newc` headers, 4-byte alignment, trailer.
    pub fn to_cpio(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let name = path.trim_start_matches('/');
            let (mode, data, rdev): (u32, &[u8], (u32, u32)) = match entry {
                Entry::Dir => (0o040755, &[], (0, 0)),
                Entry::File { data, mode } => (0o100000 | mode, data, (0, 0)),
                Entry::CharDevice { major, minor } => (0o020600, &[], (*major, *minor)),
            };
            push_entry(&mut out, ino as u32 + 1, mode, name, data, rdev);
        }
        push_entry(&mut out, 0, 0, "TRAILER!!!", &[], (0, 0));
        out
    }
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

fn push_entry(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8], rdev: (u32, u32)) {
    let nlink = if mode & 0o170000 == 0o040000 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        0, // mtime: reproducible
        data.len() as u32,
        0, // devmajor
        0, // devminor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

/// Where a program's libraries are looked up: roots (`/` for the host; for
/// arm64 the libraries the cross build linked, then its sysroot), each
/// with directories under it, searched in order.
pub struct LibrarySearch {
    /// (root, directories relative to it); the ELF interpreter's path is
    /// looked up under each root too.
    pub roots: Vec<(PathBuf, Vec<String>)>,
}

/// The ELF interpreter and `DT_NEEDED` names of a dynamically linked
/// program or library (none for a static one).
fn dynamic_deps(path: &Path) -> Result<(Option<String>, Vec<String>), HarnessError> {
    let data = std::fs::read(path).map_err(|e| HarnessError::io(path, e))?;
    let bad = |detail: String| HarnessError::Elf {
        path: path.to_path_buf(),
        detail,
    };
    let header = elf::FileHeader64::<Endianness>::parse(&*data).map_err(|e| bad(e.to_string()))?;
    let endian = header.endian().map_err(|e| bad(e.to_string()))?;
    let mut interp = None;
    for ph in header
        .program_headers(endian, &*data)
        .map_err(|e| bad(e.to_string()))?
    {
        if let Some(i) = ph
            .interpreter(endian, &*data)
            .map_err(|e| bad(e.to_string()))?
        {
            interp = Some(String::from_utf8_lossy(i).into_owned());
        }
    }
    let sections = header
        .sections(endian, &*data)
        .map_err(|e| bad(e.to_string()))?;
    let mut needed = Vec::new();
    // `dynamic` gives the table and its linked string table's index.
    if let Some((dyns, strtab)) = sections
        .dynamic(endian, &*data)
        .map_err(|e| bad(e.to_string()))?
    {
        let strings = sections
            .strings(endian, &*data, strtab)
            .map_err(|e| bad(e.to_string()))?;
        for d in dyns {
            if d.d_tag(endian) == elf::DT_NEEDED {
                let name = strings
                    .get(d.d_val(endian) as u32)
                    .map_err(|()| bad("bad DT_NEEDED string".into()))?;
                needed.push(String::from_utf8_lossy(name).into_owned());
            }
        }
    }
    Ok((interp, needed))
}

use object::read::elf::Dyn;

impl LibrarySearch {
    /// Every library `programs` need, recursively, with the guest path
    /// each goes to (the interpreter at its own path, the others in the
    /// directory they were found in).
    pub fn closure(&self, programs: &[PathBuf]) -> Result<BTreeMap<String, PathBuf>, HarnessError> {
        let mut found: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut todo: Vec<PathBuf> = programs.to_vec();
        let mut seen_names = std::collections::BTreeSet::new();
        while let Some(p) = todo.pop() {
            let (interp, needed) = dynamic_deps(&p)?;
            if let Some(i) = interp {
                let host = self
                    .roots
                    .iter()
                    .map(|(root, _)| root.join(i.trim_start_matches('/')))
                    .find(|h| h.exists())
                    .ok_or_else(|| HarnessError::MissingLibrary {
                        name: i.clone(),
                        program: p.clone(),
                    })?;
                found.insert(i, host);
            }
            for name in needed {
                if !seen_names.insert(name.clone()) {
                    continue;
                }
                let (guest, host) = self
                    .roots
                    .iter()
                    .flat_map(|(root, dirs)| {
                        dirs.iter()
                            .map(|d| (format!("/{d}/{name}"), root.join(d).join(&name)))
                    })
                    .find(|(_, h)| h.exists())
                    .ok_or_else(|| HarnessError::MissingLibrary {
                        name: name.clone(),
                        program: p.clone(),
                    })?;
                todo.push(host.clone());
                found.insert(guest, host);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_aligned_and_terminated() {
        let mut i = Initramfs::default();
        i.file("/bin/x", b"abc".to_vec(), 0o755);
        i.char_device("/dev/console", 5, 1);
        let c = i.to_cpio();
        assert!(c.starts_with(b"070701"));
        assert_eq!(c.len() % 4, 0);
        let text = String::from_utf8_lossy(&c);
        for name in ["bin\0", "bin/x\0", "dev/console\0", "TRAILER!!!\0"] {
            assert!(text.contains(name), "{name}");
        }
        // The file's header: mode 0100755, size 3.
        let at = text.find("bin/x\0").unwrap() - 110;
        assert_eq!(&text[at + 14..at + 22], "000081ed");
        assert_eq!(&text[at + 54..at + 62], "00000003");
    }

    #[test]
    fn host_program_libraries_resolve() {
        let search = LibrarySearch {
            roots: vec![(
                PathBuf::from("/"),
                vec![
                    "lib/x86_64-linux-gnu".into(),
                    "usr/lib/x86_64-linux-gnu".into(),
                ],
            )],
        };
        let sh = PathBuf::from("/bin/ls");
        if !sh.exists() || std::env::consts::ARCH != "x86_64" {
            return;
        }
        let libs = search.closure(&[sh]).unwrap();
        assert!(libs.keys().any(|k| k.ends_with("/libc.so.6")), "{libs:?}");
        assert!(libs.keys().any(|k| k.contains("ld-linux")), "{libs:?}");
    }
}
