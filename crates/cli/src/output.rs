//! Writing a command's output: never over one of the command's inputs,
//! never inside an archive a build reads, and atomically (a temporary
//! file in the output's directory, then a rename), so that a failed or
//! interrupted write leaves no partial file.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why an output was not written.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("output {output} is the input {input}: refusing to overwrite an input")]
    IsAnInput { output: PathBuf, input: PathBuf },
    #[error("output {output} is inside the archive {archive} this command reads")]
    InsideArchive { output: PathBuf, archive: PathBuf },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Standard output whose write errors say where they happened ("standard
/// output: No space left on device"), keeping their kind (a closed pipe
/// is still recognized as one).
pub struct Stdout(std::io::StdoutLock<'static>);

/// [`Stdout`], locked for the command's whole output.
pub fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

fn on_stdout(e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("standard output: {e}"))
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(on_stdout)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.0.write_all(buf).map_err(on_stdout)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(on_stdout)
    }
}

/// Refuses `output` when it is the same file as one of `inputs` (by
/// device and inode, so another path to the same file counts too).
pub fn refuse_inputs(output: &Path, inputs: &[&Path]) -> Result<(), OutputError> {
    let Ok(out) = std::fs::metadata(output) else {
        return Ok(()); // not there yet: it cannot be an input
    };
    for input in inputs {
        if let Ok(m) = std::fs::metadata(input) {
            if m.dev() == out.dev() && m.ino() == out.ino() {
                return Err(OutputError::IsAnInput {
                    output: output.to_path_buf(),
                    input: input.to_path_buf(),
                });
            }
        }
    }
    Ok(())
}

/// Refuses `output` when it would land inside `dir` (followed through
/// symlinks on both sides).
pub fn refuse_inside(output: &Path, dir: &Path) -> Result<(), OutputError> {
    let Ok(dir_real) = dir.canonicalize() else {
        return Ok(());
    };
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let Ok(parent_real) = parent.canonicalize() else {
        return Ok(()); // the write will fail and say so
    };
    if parent_real.starts_with(&dir_real) {
        return Err(OutputError::InsideArchive {
            output: output.to_path_buf(),
            archive: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Writes `bytes` to `output` atomically, unless it is one of `inputs`.
pub fn write(output: &Path, bytes: &[u8], inputs: &[&Path]) -> Result<(), OutputError> {
    refuse_inputs(output, inputs)?;
    btfkit_hub::build::write_atomic(output, bytes).map_err(|source| OutputError::Write {
        path: output.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_inputs_and_archives_and_writes_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.btf");
        std::fs::write(&input, b"kernel").unwrap();
        let link = dir.path().join("link.btf");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        for out in [&input, &link] {
            let e = write(out, b"x", &[&input]).unwrap_err();
            assert!(matches!(e, OutputError::IsAnInput { .. }), "{e}");
        }
        assert_eq!(std::fs::read(&input).unwrap(), b"kernel");
        let archive = dir.path().join("archive");
        std::fs::create_dir_all(archive.join("debian/12")).unwrap();
        let inside = archive.join("debian/12/x.bundle");
        assert!(matches!(
            refuse_inside(&inside, &archive),
            Err(OutputError::InsideArchive { .. })
        ));
        let out = dir.path().join("out.btf");
        refuse_inside(&out, &archive).unwrap();
        write(&out, b"small", &[&input]).unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"small");
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
    }
}
