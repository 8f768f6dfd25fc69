//! # btfkit-btf
//!
//! The BTF layer of btfkit: a zero-copy, validating reader for raw BTF and
//! the `.BTF` section of ELF files (base and split BTF, classic and
//! kind-layout headers, either byte order), type queries with libbpf's
//! semantics, a writer, and dumps in bpftool's formats.
//!
//! ```no_run
//! use btfkit_btf::{Btf, Kind};
//! let bytes = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
//! let btf = Btf::parse(&bytes).unwrap();
//! let task = btf.find_first("task_struct", Kind::Struct).unwrap();
//! let pid = btf.find_member(task, "pid").unwrap().unwrap();
//! println!("task_struct.pid at bit {}", pid.bit_offset);
//! ```

#![warn(missing_docs)]

mod btf;
mod builder;
pub mod cdump;
pub mod dedup;
pub mod diff;
pub mod dump;
mod elf;
mod error;
mod fast;
mod header;
mod index;
pub mod input;
pub mod ir;
mod kind;
mod layout;
pub mod load;
mod query;
mod scan;
mod stat;
mod types;
mod validate;

pub use btf::{Btf, ParseOptions};
pub use builder::{BtfBuilder, MemberSpec, StringTable};
pub use elf::{elf_section, is_elf, parse_elf, parse_elf_with, wrap_in_elf};
pub use error::{error_chain, Error, Result, Section};
pub use header::{Endian, Header, BTF_MAGIC, HEADER_LEN_CLASSIC, HEADER_LEN_LAYOUT};
pub use kind::{
    info_kflag, info_kind, info_vlen, make_info, Kind, MAX_KIND, MAX_VLEN, NR_KNOWN_KINDS,
};
pub use layout::KindLayout;
pub use query::{FoundMember, MAX_CHAIN};
pub use stat::Stats;
pub use types::{
    func_linkage_name, var_linkage_name, Array, Datasec, EnumValue, EnumValues, Int, Member,
    Members, Param, Params, Type, TypeData, TypeId, VarSecInfo, WordKind, INT_BOOL, INT_CHAR,
    INT_SIGNED, TYPE_HEADER_SIZE,
};
