//! Aya hand-off (feature `aya`): the resolved BTF as Aya's [`::aya::Btf`],
//! and objects loaded with it.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! static BUNDLE: &[u8] = &[]; // include_bytes!(concat!(env!("OUT_DIR"), "/btf.bundle"))
//! static OBJECT: &[u8] = &[]; // aya::include_bytes_aligned!("probe.bpf.o")
//! let resolved = btfkit_resolver::Resolver::new().bundle(BUNDLE).resolve()?;
//! let ebpf = btfkit_resolver::aya::load(OBJECT, &resolved)?;
//! # let _ = ebpf;
//! # Ok(())
//! # }
//! ```
//!
//! Aya 0.14 reads no `.kconfig` externs (objects declaring them do not
//! parse): pass kernel config values the program needs as globals
//! ([`EbpfLoader::set_global`](::aya::EbpfLoader::set_global)) or through a map, read from
//! [`crate::Kconfig`].

use crate::ResolvedBtf;

/// Why resolved BTF could not be handed to Aya, or an object not loaded
/// with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AyaError {
    /// Aya's own BTF parser refused the bytes btfkit resolved. (Aya's
    /// errors are boxed: they are hundreds of bytes.)
    #[error("Aya cannot read the BTF from {source_of_btf}")]
    Btf {
        /// Where the BTF came from (the resolver's rung).
        source_of_btf: String,
        /// Aya's error.
        #[source]
        source: Box<::aya::BtfError>,
    },
    /// Aya could not load the object with that BTF (CO-RE relocation,
    /// map creation or the kernel refusing a program).
    #[error("loading the BPF object with BTF from {source_of_btf}")]
    Load {
        /// Where the BTF came from (the resolver's rung).
        source_of_btf: String,
        /// Aya's error.
        #[source]
        source: Box<::aya::EbpfError>,
    },
}

/// The resolved BTF as Aya's BTF, for [`EbpfLoader::btf`](::aya::EbpfLoader::btf). The bytes
/// are parsed once more by Aya: it has no constructor from checked bytes.
pub fn aya_btf(resolved: &ResolvedBtf) -> Result<::aya::Btf, AyaError> {
    ::aya::Btf::parse(&resolved.bytes, ::aya::Endianness::default()).map_err(|source| {
        AyaError::Btf {
            source_of_btf: resolved.source.to_string(),
            source: Box::new(source),
        }
    })
}

/// Loads `object` (aligned bytes, e.g. `aya::include_bytes_aligned!`)
/// with its CO-RE relocations done against the resolved BTF. For more
/// loader settings (globals, map pinning), use [`aya_btf`] with
/// [`EbpfLoader`](::aya::EbpfLoader).
pub fn load(object: &[u8], resolved: &ResolvedBtf) -> Result<::aya::Ebpf, AyaError> {
    let btf = aya_btf(resolved)?;
    ::aya::EbpfLoader::new()
        .btf(Some(&btf))
        .load(object)
        .map_err(|source| AyaError::Load {
            source_of_btf: resolved.source.to_string(),
            source: Box::new(source),
        })
}
