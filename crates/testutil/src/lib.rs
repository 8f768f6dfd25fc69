//! Test helpers shared by btfkit's crates: locating the shared kernel BTF
//! corpus, running the reference tools (bpftool, clang, a libbpf harness)
//! as oracles, and caching what they produce under the target directory.
//!
//! Policy: when `CI` is set, a missing corpus or reference tool fails the
//! test loudly; on a developer machine it is reported and the test skips
//! that part.

#![warn(missing_docs)]

mod files;
pub mod libbpf;

pub use files::{get_u32, member_spec, output_within, put_u32, tar_xz, write_under};

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Whether this run is CI (where nothing may be skipped).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Reports a missing prerequisite: fails under CI, otherwise prints why
/// the test skips and returns `None`.
pub fn missing<T>(what: &str) -> Option<T> {
    if in_ci() {
        panic!("{what} is required in CI but missing");
    }
    eprintln!("SKIP: {what} not available");
    None
}

/// Scratch space for decompressed corpus files and compiled fixtures.
pub fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_relative() {
                workspace_root().join(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join("btfkit-test-cache");
    std::fs::create_dir_all(&dir).expect("create cache dir");
    dir
}

/// A temporary name next to `path`, unique across processes and threads.
pub fn temp_sibling(path: &Path) -> PathBuf {
    static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().expect("file name").to_os_string();
    name.push(format!(".tmp{}.{n}", std::process::id()));
    path.with_file_name(name)
}

/// Whether `out` exists and is newer than `src`.
pub fn is_fresh(out: &Path, src: &Path) -> bool {
    let m = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    matches!((m(out), m(src)), (Some(o), Some(s)) if o >= s)
}

/// Writes `bytes` to `path` atomically (tests run in parallel).
pub fn write_atomic(path: &Path, bytes: &[u8]) {
    let tmp = temp_sibling(path);
    std::fs::write(&tmp, bytes).expect("write temp file");
    std::fs::rename(&tmp, path).expect("rename temp file");
}

/// The shared corpus (`BTFKIT_CORPUS`, default `../shared/corpus` from the
/// repository root; relative paths are taken from the repository root).
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("BTFKIT_CORPUS") {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_relative() {
                workspace_root().join(p)
            } else {
                p
            }
        }
        None => workspace_root().join("../shared/corpus"),
    };
    if dir.join("archive").is_dir() {
        Some(dir)
    } else {
        missing(&format!("kernel BTF corpus at {}", dir.display()))
    }
}

/// One kernel of the btfhub-layout archive.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// `distro/version/arch/release`.
    pub key: String,
    /// The kernel release (`uname -r`), from the file name.
    pub release: String,
    /// The `.btf.tar.xz` as found in the archive.
    pub archive: PathBuf,
}

impl Kernel {
    /// The raw BTF, decompressed once into the cache.
    pub fn raw_path(&self) -> PathBuf {
        let path = cache_dir().join(format!("{}.btf", self.key.replace('/', "_")));
        if !path.exists() {
            let bytes =
                btfkit_btf::load::read_btf_file(&self.archive).expect("decompress corpus kernel");
            write_atomic(&path, &bytes);
        }
        path
    }

    /// The raw BTF's bytes (decompressed into the cache first when
    /// needed, see [`Kernel::raw_path`]).
    pub fn raw_bytes(&self) -> Vec<u8> {
        std::fs::read(self.raw_path()).expect("read cached kernel BTF")
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// All kernels of the corpus archive, sorted by key.
pub fn corpus_kernels() -> Vec<Kernel> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let archive = dir.join("archive");
    let mut files = Vec::new();
    walk(&archive, &mut files);
    let mut kernels: Vec<Kernel> = files
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let release = name.strip_suffix(".btf.tar.xz")?.to_string();
            let rel = p.parent()?.strip_prefix(&archive).ok()?;
            let key = format!("{}/{release}", rel.to_str()?);
            Some(Kernel {
                key,
                release,
                archive: p,
            })
        })
        .collect();
    kernels.sort_by(|a, b| a.key.cmp(&b.key));
    assert!(
        kernels.len() >= 30 || !in_ci(),
        "corpus has only {} kernels",
        kernels.len()
    );
    kernels
}

/// The corpus kernel with this key.
pub fn corpus_kernel(key: &str) -> Option<Kernel> {
    corpus_kernels().into_iter().find(|k| k.key == key)
}

/// A module's split BTF from the corpus, with the kernel that is its base.
#[derive(Clone, Debug)]
pub struct Module {
    /// The module's name (the file name without `.btf.xz`).
    pub name: String,
    /// Raw split BTF, decompressed into the cache.
    pub raw: PathBuf,
    /// The corpus kernel the module's BTF is split on.
    pub base: Kernel,
}

/// The module BTFs of the corpus (`modules/<distro>/<version>/<arch>/<release>/<m>.btf.xz`).
pub fn corpus_modules() -> Vec<Module> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let root = dir.join("modules");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut mods: Vec<Module> = files
        .into_iter()
        .filter_map(|p| {
            let name = p
                .file_name()?
                .to_str()?
                .strip_suffix(".btf.xz")?
                .to_string();
            let key = p.parent()?.strip_prefix(&root).ok()?.to_str()?.to_string();
            let base = corpus_kernel(&key)?;
            let raw = cache_dir().join(format!("{}_{name}.btf", key.replace('/', "_")));
            if !raw.exists() {
                let bytes = btfkit_btf::load::read_btf_file(&p).expect("decompress module BTF");
                write_atomic(&raw, &bytes);
            }
            Some(Module { name, raw, base })
        })
        .collect();
    mods.sort_by(|a, b| a.name.cmp(&b.name));
    assert!(
        mods.len() >= 4 || !in_ci(),
        "corpus has only {} module BTFs",
        mods.len()
    );
    mods
}

/// Full path of a tool on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// A reference tool, or `None` (fatal in CI) when it is not installed.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    which(tool).or_else(|| missing(&format!("reference tool `{tool}`")))
}

/// Runs a command and returns its stdout; panics with its stderr on failure.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// `bpftool <args>`, or `None` when bpftool is missing outside CI.
pub fn bpftool(args: &[&str]) -> Option<Vec<u8>> {
    let tool = require_tool("bpftool")?;
    Some(run_ok(Command::new(tool).args(args)))
}

/// BPF C sources kept in the repository for tests.
pub fn bpf_sources() -> Vec<PathBuf> {
    let dir = workspace_root().join("testdata/bpf");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("testdata/bpf")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(".bpf.c")))
        .collect();
    v.sort();
    v
}

/// A BPF object compiled from a test source.
#[derive(Clone, Debug)]
pub struct BpfObject {
    /// The compiled object, in the cache.
    pub path: PathBuf,
    /// e.g. `allkinds.bpf.c clang-16 bpfeb`
    pub label: String,
}

/// Compiles `src` with `clang` for `target` (`bpfel`/`bpfeb`) into the cache.
pub fn compile_bpf(src: &Path, clang: &str, target: &str) -> PathBuf {
    let stem = src
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".c");
    let out = cache_dir().join(format!("{stem}.{clang}.{target}.o"));
    if is_fresh(&out, src) {
        return out;
    }
    let tmp = temp_sibling(&out);
    let arch_inc = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    run_ok(
        Command::new(clang)
            .args(["-g", "-O2", "-target", target, "-c"])
            .arg(format!("-I{arch_inc}"))
            .arg(format!(
                "-I{}",
                workspace_root().join("testdata/bpf").display()
            ))
            .arg(src)
            .arg("-o")
            .arg(&tmp),
    );
    std::fs::rename(&tmp, &out).expect("rename object");
    out
}

/// Every test source compiled with every available clang (14 as `clang`,
/// and `clang-16`), little- and big-endian. Sources whose first line is
/// `// requires: clang-16` are only built with clang-16.
pub fn bpf_objects() -> Vec<BpfObject> {
    let mut clangs = Vec::new();
    if require_tool("clang").is_some() {
        clangs.push("clang");
    }
    if require_tool("clang-16").is_some() {
        clangs.push("clang-16");
    }
    let mut objs = Vec::new();
    for src in bpf_sources() {
        let text = std::fs::read_to_string(&src).expect("read source");
        let needs16 = text
            .lines()
            .next()
            .is_some_and(|l| l.contains("requires: clang-16"));
        for &clang in &clangs {
            if needs16 && clang != "clang-16" {
                continue;
            }
            for target in ["bpfel", "bpfeb"] {
                let path = compile_bpf(&src, clang, target);
                objs.push(BpfObject {
                    label: format!(
                        "{} {clang} {target}",
                        src.file_name().unwrap().to_str().unwrap()
                    ),
                    path,
                });
            }
        }
    }
    objs
}

/// Compiles (once) and returns a C program linked with libbpf from
/// `testdata/oracle/<name>.c`: the libbpf oracle harnesses.
pub fn libbpf_oracle(name: &str) -> Option<PathBuf> {
    let cc = require_tool("cc")?;
    if !Path::new("/usr/include/bpf/btf.h").exists() {
        return missing("libbpf-dev (/usr/include/bpf/btf.h)");
    }
    let src = workspace_root().join(format!("testdata/oracle/{name}.c"));
    let out = cache_dir().join(format!("oracle-{name}"));
    if !is_fresh(&out, &src) {
        let tmp = temp_sibling(&out);
        run_ok(
            Command::new(cc)
                .args(["-O2", "-o"])
                .arg(&tmp)
                .arg(&src)
                .arg("-lbpf"),
        );
        std::fs::rename(&tmp, &out).expect("rename oracle");
    }
    Some(out)
}

/// Uses every read-side API on `btf` (decoding, names, dumps, queries,
/// lookups, rewriting) and discards the results: the bad-input and fuzz
/// tests run it on damaged BTF, where nothing may panic.
pub fn exercise(btf: &btfkit_btf::Btf<'_>) {
    use btfkit_btf::{dump, BtfBuilder, TypeData};
    let mut sink = std::io::sink();
    let _ = dump::dump_raw(btf, &mut sink);
    let _ = dump::dump_json(btf, &mut sink);
    let _ = btf.stats();
    let _ = btf.pointer_size();
    for t in btf.types().take(2000) {
        let id = t.id();
        let _ = btf.name_of(&t);
        let _ = btf.resolve_size(id);
        let _ = btf.align_of(id);
        let _ = btf.skip_mods_and_typedefs(id);
        match t.data() {
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                for m in ms.iter() {
                    let _ = btf.str_bytes(m.name_off);
                    let _ = btf.member_bitfield_size(&m);
                    if let Ok(name) = btf.str_at(m.name_off) {
                        let _ = btf.find_member(id, name);
                    }
                }
            }
            TypeData::Enum(_) => {
                let _ = btf.enum_values_named(id);
            }
            _ => {}
        }
        if let Ok(name) = btf.name_of(&t) {
            let _ = btf.find_by_name(name);
        }
    }
    let _ = btf.to_bytes();
    if let Ok(b) = BtfBuilder::from_btf(btf) {
        let _ = b.finish_elf();
    }
}

/// Whether this process runs as root (loading BPF programs needs it).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes sure tracefs is mounted at /sys/kernel/tracing (tracepoint
/// attachment needs it); mounts it when possible. Returns whether it is
/// available.
pub fn ensure_tracefs() -> bool {
    let events = Path::new("/sys/kernel/tracing/events");
    if events.is_dir() {
        return true;
    }
    let _ = Command::new("mount")
        .args(["-t", "tracefs", "tracefs", "/sys/kernel/tracing"])
        .status();
    events.is_dir() || missing::<()>("tracefs at /sys/kernel/tracing").is_some()
}

/// A real Debian `linux-image-*.deb` whose kernel is in the corpus, with
/// that kernel: from the cache, else downloaded with `apt-get download`
/// (a package registry, so allowed in CI) and kept in the cache.
pub fn debian_kernel_deb() -> Option<(PathBuf, Kernel)> {
    let candidates = [
        "6.1.0-56-cloud-amd64",
        "6.12.117+deb12-cloud-amd64",
        "6.1.0-52-cloud-amd64",
        "6.1.0-47-cloud-amd64",
    ];
    debian_deb("debs", &candidates, "")
}

/// A real Debian debug package (`linux-image-<release>-dbg`, ~850 MB: a
/// vmlinux with DWARF, and a `.BTF` section) whose kernel is in the
/// corpus, with that kernel; cached as [`debian_kernel_deb`] does.
pub fn debian_debug_deb() -> Option<(PathBuf, Kernel)> {
    debian_deb("debug-pkg", &["6.1.0-56-amd64", "6.1.0-52-amd64"], "-dbg")
}

/// The first package `linux-image-<release><suffix>` of `candidates`
/// whose kernel the corpus has, cached under `cache_dir()/<folder>`.
fn debian_deb(folder: &str, candidates: &[&str], suffix: &str) -> Option<(PathBuf, Kernel)> {
    let dir = cache_dir().join(folder);
    std::fs::create_dir_all(&dir).expect("create deb cache");
    let cached = |package: &str| {
        std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{package}_")) && n.ends_with(".deb"))
            })
    };
    // Tests running at once share the cache: one downloads while the
    // others wait, then find the package there. (Released on drop.)
    let lock = std::fs::File::create(dir.join(".lock")).expect("create the cache's lock");
    lock.lock().expect("lock the deb cache");
    let mut tried = Vec::new();
    for release in candidates {
        let Some(kernel) = corpus_kernel(&format!("debian/12/x86_64/{release}")) else {
            continue;
        };
        let package = format!("linux-image-{release}{suffix}");
        if let Some(p) = cached(&package) {
            return Some((p, kernel));
        }
        // Into a directory of its own, moved into the cache whole: a
        // download cut short leaves no package there.
        let part = dir.join(format!(".download-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&part);
        std::fs::create_dir_all(&part).expect("create the download directory");
        let out = Command::new("apt-get")
            .args(["download", "-q", &package])
            .current_dir(&part)
            .output();
        if out.as_ref().is_ok_and(|o| o.status.success()) {
            for f in std::fs::read_dir(&part).into_iter().flatten().flatten() {
                let _ = std::fs::rename(f.path(), dir.join(f.file_name()));
            }
        }
        let _ = std::fs::remove_dir_all(&part);
        match out {
            Ok(o) if o.status.success() => {
                if let Some(p) = cached(&package) {
                    return Some((p, kernel));
                }
                tried.push(format!(
                    "{package}: downloaded, but not found in {}",
                    dir.display()
                ));
            }
            Ok(o) => tried.push(format!(
                "{package}: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )),
            Err(e) => tried.push(format!("{package}: {e}")),
        }
    }
    missing(&format!(
        "a Debian linux-image{suffix} package from the corpus ({})",
        tried.join("; ")
    ))
}

/// The named types of a BTF as a set of layouts, from its raw dump
/// (`btfkit btf dump`, bpftool's format): each named struct, union, enum
/// and typedef (and FUNC by name) is its kind, name, size and members or
/// values, type ids and FUNC linkage left out. A name defined several
/// times (two drivers' `struct slot`) counts once per layout, so the
/// order an encoder met them in does not matter (`bench/layouts.py`).
pub fn named_layouts(raw_dump: &str) -> std::collections::BTreeSet<Vec<String>> {
    let strip_ids = |s: &str| {
        s.split_whitespace()
            .filter(|w| !w.starts_with("type_id=") && !w.starts_with("linkage="))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = std::collections::BTreeSet::new();
    let mut cur: Option<Vec<String>> = None;
    for line in raw_dump.lines() {
        if line.starts_with('[') {
            out.extend(cur.take());
            let mut words = line.splitn(3, ' ');
            let (_, kind, rest) = (
                words.next(),
                words.next().unwrap_or(""),
                words.next().unwrap_or(""),
            );
            let Some((name, rest)) = rest.strip_prefix('\'').and_then(|r| r.split_once('\''))
            else {
                continue;
            };
            let keep = ["STRUCT", "UNION", "ENUM", "ENUM64", "TYPEDEF", "FUNC"].contains(&kind);
            if keep && name != "(anon)" {
                cur = Some(vec![kind.to_string(), name.to_string(), strip_ids(rest)]);
            }
        } else if let Some(c) = cur.as_mut().filter(|c| c[0] != "TYPEDEF" && c[0] != "FUNC") {
            c.push(strip_ids(line.trim()));
        }
    }
    out.extend(cur);
    out
}
