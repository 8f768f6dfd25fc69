//! Userspace CO-RE: one uprobe object for every version of an
//! application, as bpftime does it.
//!
//! The probe (`bpf/uprobe.bpf.c`) reads `struct app_data` of
//! `testdata/uprobe/app.c` through CO-RE relocations. Its target BTF is
//! the running kernel's with the application's merged in: the
//! application's DWARF encoded as BTF ([`btfkit_encode::encode`]) and
//! deduplicated into the kernel's ([`btfkit_encode::merge`], kernel ids
//! unchanged). Aya relocates the object against that BTF, so the probe
//! reads `value` at offset 8 in version 1 and at 32 in version 2.

use std::path::Path;

use aya::maps::Array;
use aya::programs::uprobe::{UProbeAttachLocation, UProbeScope};
use aya::programs::UProbe;
use aya::{Btf as AyaBtf, EbpfLoader, Endianness};
use btfkit_btf::Btf;
use btfkit_encode::{EncodeError, EncodeOptions};

// `bpf/build.sh` builds the probe per architecture, as it reads its
// argument from registers: aarch64 takes the arm64 object, anything else
// the x86-64 one (there are no others).

/// The probe object for the target architecture (`bpf/build.sh`).
#[cfg(not(target_arch = "aarch64"))]
pub static UPROBE_OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/uprobe.bpf.o");
/// The probe object for the target architecture (`bpf/build.sh`).
#[cfg(target_arch = "aarch64")]
pub static UPROBE_OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/uprobe.arm64.bpf.o");
/// [`UPROBE_OBJECT`]'s file, for messages.
#[cfg(not(target_arch = "aarch64"))]
const UPROBE_OBJECT_FILE: &str = "crates/tracer/bpf/uprobe.bpf.o";
#[cfg(target_arch = "aarch64")]
const UPROBE_OBJECT_FILE: &str = "crates/tracer/bpf/uprobe.arm64.bpf.o";

/// The probed function.
pub const PROBED_FUNCTION: &str = "process_data";

/// Why probing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UprobeError {
    /// Encoding the application's DWARF as BTF, or merging it into the
    /// kernel's, failed (no DWARF, not ELF…).
    #[error("{app}: {source}")]
    Encode {
        /// The application's path.
        app: String,
        /// The encoder's error.
        #[source]
        source: EncodeError,
    },
    /// The kernel's or the application's BTF does not parse.
    #[error("{what}: {detail}")]
    Btf {
        /// Which BTF (`kernel BTF`, `application BTF`).
        what: String,
        /// The parser's error.
        detail: String,
    },
    /// Aya could not parse the target BTF, or loading, attaching or
    /// reading the probe's map failed.
    #[error("{what}: {detail}")]
    Bpf {
        /// The operation that failed.
        what: String,
        /// Aya's error.
        detail: String,
    },
    /// The application ran but the probe never did (the map's hit count is
    /// still 0): [`PROBED_FUNCTION`] was not called in `app` while `run`
    /// ran.
    #[error("the probe on {function} did not fire")]
    NotHit {
        /// The probed function ([`PROBED_FUNCTION`]).
        function: String,
    },
    /// The application could not be read (not a regular file, too large,
    /// unreadable); the error names it.
    #[error(transparent)]
    Read(#[from] btfkit_btf::Error),
    /// Running the application failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What the probe read from the application's `struct app_data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// Times the probe ran.
    pub hits: u32,
    /// `app_data.id`.
    pub id: i32,
    /// `app_data.value`, read at the offset CO-RE relocated for the
    /// running version of the application.
    pub value: i64,
    /// `app_data.name`, up to its NUL (at most 15 bytes).
    pub name: String,
}

/// `struct seen` of bpf/uprobe.bpf.c.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawSeen {
    hits: u32,
    id: i32,
    value: i64,
    name: [u8; 16],
}

// SAFETY: `RawSeen` is `repr(C)`: u32, i32, i64 and 16 bytes, 32 bytes
// without padding, and any bit pattern is a valid value, which is what
// `Pod` (bytes copied from the kernel's map) requires.
unsafe impl aya::Pod for RawSeen {}

/// The CO-RE target for probing `app`: `kernel` (raw BTF of the running
/// kernel) with the BTF encoded from `app`'s DWARF merged in.
pub fn target_btf(app: &Path, kernel: &[u8]) -> Result<Vec<u8>, UprobeError> {
    let elf = btfkit_encode::read_for_encoding(app)?;
    let encode_err = |source| UprobeError::Encode {
        app: app.display().to_string(),
        source,
    };
    let (app_btf, _) =
        btfkit_encode::encode(&elf, None, &EncodeOptions::default()).map_err(encode_err)?;
    let btf_err = |what: &str, e: btfkit_btf::Error| UprobeError::Btf {
        what: what.to_string(),
        detail: e.to_string(),
    };
    let kernel = Btf::parse(kernel).map_err(|e| btf_err("kernel BTF", e))?;
    let app_parsed = Btf::parse(&app_btf).map_err(|e| btf_err("application BTF", e))?;
    let (merged, _) = btfkit_encode::merge(&kernel, &[app_parsed]).map_err(encode_err)?;
    Ok(merged)
}

/// Loads the probe with `target` as its CO-RE target BTF, attaches it to
/// [`PROBED_FUNCTION`] in `app` (every process running it), calls `run`
/// (which runs the application) and returns what the probe read.
pub fn probe(
    app: &Path,
    target: &[u8],
    run: impl FnOnce() -> std::io::Result<()>,
) -> Result<Seen, UprobeError> {
    let bpf = |what: &str, e: &dyn std::fmt::Display| UprobeError::Bpf {
        what: what.to_string(),
        detail: e.to_string(),
    };
    let btf = AyaBtf::parse(target, Endianness::default()).map_err(|e| bpf("target BTF", &e))?;
    let mut ebpf = EbpfLoader::new()
        .btf(Some(&btf))
        .load(UPROBE_OBJECT)
        .map_err(|e| bpf(&format!("loading {UPROBE_OBJECT_FILE}"), &e))?;
    let program: &mut UProbe = ebpf
        .program_mut("on_process_data")
        .ok_or_else(|| bpf(UPROBE_OBJECT_FILE, &"no program on_process_data"))?
        .try_into()
        .map_err(|e| bpf("on_process_data", &e))?;
    program
        .load()
        .map_err(|e| bpf("loading on_process_data", &e))?;
    program
        .attach(
            UProbeAttachLocation::Symbol(PROBED_FUNCTION),
            app,
            UProbeScope::AllProcesses,
        )
        .map_err(|e| {
            bpf(
                &format!("attaching to {PROBED_FUNCTION} in {}", app.display()),
                &e,
            )
        })?;
    run()?;
    let map = ebpf
        .map("seen")
        .ok_or_else(|| bpf(UPROBE_OBJECT_FILE, &"no map seen"))?;
    let seen: Array<_, RawSeen> = Array::try_from(map).map_err(|e| bpf("map seen", &e))?;
    let raw = seen.get(&0, 0).map_err(|e| bpf("map seen", &e))?;
    if raw.hits == 0 {
        return Err(UprobeError::NotHit {
            function: PROBED_FUNCTION.to_string(),
        });
    }
    let end = raw
        .name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(raw.name.len());
    Ok(Seen {
        hits: raw.hits,
        id: raw.id,
        value: raw.value,
        name: String::from_utf8_lossy(&raw.name[..end]).into_owned(),
    })
}
