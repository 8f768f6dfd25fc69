//! The crate's errors: [`HubError`] stops an operation; [`KernelError`]
//! is one kernel's failure inside a build or check, which the others
//! survive; [`Rejection`] is why an archive scan could not use a file;
//! [`ExtractError`] is why no BTF came out of a kernel artifact.
//!
//! Each error says its own part once and keeps its cause as
//! [`source`](std::error::Error::source): print the chain (`{:#}` with
//! anyhow, or walk `source()`) for the whole story.

use std::io;
use std::path::PathBuf;

use btfkit_bundle::BundleError;
use btfkit_core::ObjectError;
use btfkit_gen::GenError;

/// Errors that stop a whole operation. Per-kernel failures during a build
/// or check are not among them: they are recorded in the kernel's result
/// ([`KernelError`]) and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HubError {
    /// The archive path is not a directory.
    #[error("archive {}: not a directory", path.display())]
    NotADirectory {
        /// The path given as the archive.
        path: PathBuf,
    },
    /// The cache directory cannot be created.
    #[error("cache {}", path.display())]
    Cache {
        /// The cache directory.
        path: PathBuf,
        /// Why it cannot be created.
        #[source]
        source: io::Error,
    },
    /// An output file (a minimized BTF of `--tree`) cannot be written.
    #[error("writing {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The write error.
        #[source]
        source: io::Error,
    },
    /// The bundle cannot be assembled from the minimized BTFs.
    #[error("assembling the bundle")]
    Bundle(#[source] BundleError),
    /// A BPF object does not parse ([`parse_objects`](crate::parse_objects)).
    #[error("object {label}")]
    Object {
        /// The object's label.
        label: String,
        /// What is wrong with it.
        #[source]
        source: ObjectError,
    },
    /// No BTF could be extracted from the input, or what was extracted
    /// does not parse ([`extract::extract`](crate::extract::extract),
    /// [`extract::validate`](crate::extract::validate)).
    #[error(transparent)]
    Extract(#[from] ExtractError),
    /// A btfhub tarball could not be packed
    /// ([`extract::btfhub_tarball`](crate::extract::btfhub_tarball)).
    #[error("packing {member} into a tarball")]
    Pack {
        /// The tarball's member (`<release>.btf`).
        member: String,
        /// The tar or xz error.
        #[source]
        source: io::Error,
    },
    /// A distro, version, arch or release that cannot be one folder or
    /// file name of an archive (see `btfkit_bundle::key_component_problem`).
    #[error("{origin} {value:?} is not a valid key component: {problem}")]
    KeyComponent {
        /// Where the value came from: a flag (`--release`), or an input.
        origin: String,
        /// The offending value.
        value: String,
        /// What is wrong with it, from `key_component_problem` (`"it is
        /// empty"`, `"it contains '/'"`…).
        problem: &'static str,
    },
}

/// Why one kernel of an archive or bundle failed in a build or check.
/// Which kernel is said by the result holding the error (its key and
/// path), so the error itself is only the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// The archive scan could not use the file.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// Its BTF could not be read, decompressed, taken out of its tarball
    /// or parsed (the error names the file).
    #[error(transparent)]
    Btf(#[from] btfkit_btf::Error),
    /// Its bundle entry could not be read.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// Minimizing its BTF for the objects failed.
    #[error(transparent)]
    Minimize(#[from] GenError),
}

/// Why an archive scan could not use a file (or folder) that looks like a
/// kernel's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// A folder of the archive could not be listed.
    #[error("cannot read directory")]
    ReadDir(#[source] io::Error),
    /// Its path is not UTF-8, so no key can name it.
    #[error("path is not UTF-8")]
    NotUtf8,
    /// It is not at the depth the layout puts kernels.
    #[error("not at <distro>/<version>/<arch>/<release>.btf[.tar.xz|.xz]")]
    Layout,
    /// One of its folders or its name cannot be a key component.
    #[error("{what} {value:?} is not a valid key component: {problem}")]
    KeyComponent {
        /// `distro`, `version`, `arch` or `release`.
        what: &'static str,
        /// The folder or file name.
        value: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Its architecture folder is none btfhub uses.
    #[error("unknown architecture folder {0:?}")]
    UnknownArch(String),
    /// It is a symlink that does not resolve.
    #[error("cannot resolve symlink {}", link.display())]
    BrokenLink {
        /// The symlink.
        link: PathBuf,
        /// Why it does not resolve.
        #[source]
        source: io::Error,
    },
    /// It is a symlink to a file outside the archive, which is not read.
    #[error("symlink to {}, outside the archive: not read", target.display())]
    LinkOutside {
        /// Where the link leads.
        target: PathBuf,
    },
    /// Another file has the same key (say `aarch64/R` and `arm64/R`).
    #[error("duplicate key, also at {}", list(others))]
    DuplicateKey {
        /// The other files with this key.
        others: Vec<PathBuf>,
    },
}

fn list(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// Why no BTF came out of a kernel artifact.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    /// Decompressing (or reading a member of) the input failed.
    #[error("{what}")]
    Decode {
        /// The format (`xz`, `zstd`…) or the member being read.
        what: String,
        /// The decoder's error.
        #[source]
        source: io::Error,
    },
    /// Decompressed output over the limit (1 GiB).
    #[error("{what}: output exceeds {limit} bytes")]
    TooLarge {
        /// The format or member.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// A compressed stream ends before its end marker.
    #[error("{format}: unexpected end of data")]
    Truncated {
        /// The format.
        format: &'static str,
    },
    /// An lz4 legacy payload without a single block.
    #[error("lz4 legacy: no blocks")]
    Lz4NoBlocks,
    /// An `ar` archive (a `.deb`) whose structure is damaged.
    #[error("ar: {problem} at offset {offset}")]
    Ar {
        /// What is wrong (`bad member header`, `bad size`, `member
        /// control.tar.xz truncated`).
        problem: String,
        /// The member header's offset in the archive.
        offset: usize,
    },
    /// An RPM package that cannot be read (the error says which part).
    #[error(transparent)]
    Rpm(#[from] crate::rpm::RpmError),
    /// A tar archive whose structure is damaged.
    #[error("tar")]
    Tar(#[source] io::Error),
    /// A Debian package without a member it must have.
    #[error("deb: no {member}")]
    DebMember {
        /// `control.tar`, `data.tar` or `control file in control.tar.xz`.
        member: String,
    },
    /// A Debian package without a kernel image.
    #[error("deb {package}: no kernel image in {member}")]
    NoKernelImage {
        /// The package name.
        package: String,
        /// The data member searched.
        member: String,
    },
    /// A package's file whose bytes are not those the package lists a
    /// digest of (a Debian package's `md5sums`): damaged in the package
    /// where its compression has no check, or replaced.
    #[error("{member}: {algorithm} {actual}, the package lists {expected}")]
    MemberDigest {
        /// The file's path in the package.
        member: String,
        /// `MD5`.
        algorithm: &'static str,
        /// The digest the package lists, in hex.
        expected: String,
        /// The digest of the bytes read, in hex.
        actual: String,
    },
    /// Compression nested more than a few levels deep.
    #[error("nested compression too deep")]
    TooDeep,
    /// An ELF file whose section table cannot be read.
    #[error("ELF")]
    Elf(#[source] btfkit_btf::Error),
    /// An ELF file with neither `.BTF` nor DWARF to encode.
    #[error("ELF without a .BTF section (kernel built without CONFIG_DEBUG_INFO_BTF?) nor DWARF to encode (its debug package's vmlinux has it)")]
    NoBtfSection,
    /// A kernel module (relocatable ELF) without `.BTF`: its DWARF encodes
    /// only as split BTF on its kernel's (`btfkit btf encode --base`).
    #[error("kernel module without a .BTF section: encode its DWARF on its kernel's BTF (btfkit btf encode MODULE --base VMLINUX_BTF)")]
    ModuleWithoutBtf,
    /// The input could not be opened or read (the error names it).
    #[error(transparent)]
    Open(btfkit_btf::Error),
    /// A package member in a compression packages do not use.
    #[error("{what} in an unknown compression")]
    UnknownCompression {
        /// What it is.
        what: &'static str,
    },
    /// The vmlinux's DWARF could not be encoded.
    #[error("encoding the DWARF")]
    Encode {
        /// The encoder's error.
        #[source]
        source: btfkit_encode::EncodeError,
    },
    /// A kernel module's BTF could not be made.
    #[error("module {path}")]
    Module {
        /// The module's file in the package.
        path: String,
        /// Why.
        #[source]
        source: Box<ExtractError>,
    },
    /// Two module files of a package give one module name.
    #[error("module {name} twice: {first} and {second}")]
    DuplicateModule {
        /// The module name.
        name: String,
        /// The first file.
        first: String,
        /// The second.
        second: String,
    },
    /// A bzImage whose payload is in no known compression.
    #[error("bzImage payload in an unknown compression")]
    UnknownPayload,
    /// Nothing recognizable.
    #[error("no BTF found (not ELF, BTF, a known kernel image or package, or compressed)")]
    NotFound,
    /// What was extracted does not parse.
    #[error("extracted BTF does not parse{}", if *without_base {
        " (a module's split BTF needs its kernel's BTF as base)"
    } else {
        ""
    })]
    Invalid {
        /// It was parsed without a base (a module's BTF needs one).
        without_base: bool,
        /// The parse error.
        #[source]
        source: btfkit_btf::Error,
    },
}
