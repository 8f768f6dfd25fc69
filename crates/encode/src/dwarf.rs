//! DWARF compilation units to BTF types, one unit at a time.

// gimli names its constants as the DWARF standard does (DW_TAG_member).
#![allow(non_upper_case_globals)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use btfkit_btf::ir::{IrBtf, IrEnumValue, IrMember, IrParam, IrType};
use gimli::{AttributeValue, DwTag, EndianSlice, RunTimeEndian, UnitOffset};

use crate::elf::ElfDwarf;
use crate::EncodeError;

type R<'a> = EndianSlice<'a, RunTimeEndian>;
type Die<'u, 'a> = gimli::DebuggingInformationEntry<'u, 'u, R<'a>>;

/// The attributes the encoder reads, from one pass over a DIE's
/// attributes (looking each up by name would parse them all again).
#[derive(Default)]
struct Attrs<'a> {
    name: Option<AttributeValue<R<'a>>>,
    ty: Option<AttributeValue<R<'a>>>,
    byte_size: Option<u64>,
    bit_size: Option<u64>,
    data_bit_offset: Option<u64>,
    bit_offset: Option<u64>,
    member_location: Option<AttributeValue<R<'a>>>,
    encoding: Option<AttributeValue<R<'a>>>,
    const_value: Option<AttributeValue<R<'a>>>,
    count: Option<u64>,
    upper_bound: Option<AttributeValue<R<'a>>>,
    declaration: bool,
    external: bool,
}

impl<'a> Attrs<'a> {
    fn of(e: &Die<'_, 'a>) -> gimli::Result<Self> {
        use gimli::constants::*;
        let mut a = Attrs::default();
        let mut it = e.attrs();
        while let Some(at) = it.next()? {
            match at.name() {
                DW_AT_name => a.name = Some(at.value()),
                DW_AT_type => a.ty = Some(at.value()),
                DW_AT_byte_size => a.byte_size = at.udata_value(),
                DW_AT_bit_size => a.bit_size = at.udata_value(),
                DW_AT_data_bit_offset => a.data_bit_offset = at.udata_value(),
                DW_AT_bit_offset => a.bit_offset = at.udata_value(),
                DW_AT_data_member_location => a.member_location = Some(at.value()),
                DW_AT_encoding => a.encoding = Some(at.value()),
                DW_AT_const_value => a.const_value = Some(at.value()),
                DW_AT_count => a.count = at.udata_value(),
                DW_AT_upper_bound => a.upper_bound = Some(at.value()),
                DW_AT_declaration => a.declaration = true,
                DW_AT_external => a.external = true,
                _ => {}
            }
        }
        Ok(a)
    }
}

/// BTF integer encodings.
const BTF_INT_SIGNED: u8 = 1;
const BTF_INT_BOOL: u8 = 4;
/// Deepest chain of references followed while resolving one type.
const MAX_CHAIN: u32 = 256;

/// A variable defined at file scope.
pub struct GlobalVar {
    pub name: String,
    /// Its type, in the worker's id space.
    pub ty: u32,
    /// Its address (`DW_OP_addr`), when it has a static location.
    pub address: Option<u64>,
}

/// One worker's output: the types of its units, in one id space.
pub struct UnitTypes {
    /// The converted types, partly deduplicated within the worker.
    pub ir: IrBtf,
    /// Units converted.
    pub units: usize,
    /// Global variables, for the per-CPU section.
    pub vars: Vec<GlobalVar>,
    /// Types converted, before the worker's deduplication.
    pub converted: usize,
    /// DWARF constructs BTF cannot express, skipped, by what they were.
    pub skipped: BTreeMap<String, usize>,
}

fn dwarf_err(offset: u64, e: impl std::fmt::Display) -> EncodeError {
    EncodeError::Dwarf {
        offset,
        reason: e.to_string(),
    }
}

/// One DWARF: the input's own, or a split-DWARF file's (a `.dwo`, or one
/// unit's share of a `.dwp`).
struct Domain<'a> {
    dwarf: gimli::Dwarf<R<'a>>,
    /// `.debug_info` units, in section order.
    info: Vec<gimli::UnitHeader<R<'a>>>,
    /// `.debug_types` units (DWARF 4 type units).
    types: Vec<gimli::UnitHeader<R<'a>>>,
}

/// Which unit: domain, section, index there.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct UnitKey {
    domain: u32,
    debug_types: bool,
    index: u32,
}

/// Every unit of the input, with what resolves references between them.
struct Units<'a> {
    domains: Vec<Domain<'a>>,
    /// Type units by signature.
    sigs: Signatures,
}

impl<'a> Units<'a> {
    fn header(&self, k: UnitKey) -> &gimli::UnitHeader<R<'a>> {
        let d = &self.domains[k.domain as usize];
        if k.debug_types {
            &d.types[k.index as usize]
        } else {
            &d.info[k.index as usize]
        }
    }

    /// The `.debug_info` unit of `domain` that holds `offset`.
    fn info_unit_at(&self, domain: u32, offset: gimli::DebugInfoOffset) -> Option<UnitKey> {
        let units = &self.domains[domain as usize].info;
        let i = units.partition_point(|h| {
            h.offset()
                .as_debug_info_offset()
                .is_some_and(|o| o <= offset)
        });
        let i = i.checked_sub(1)?;
        let h = &units[i];
        let start = h.offset().as_debug_info_offset()?.0;
        (offset.0 < start + h.length_including_self()).then_some(UnitKey {
            domain,
            debug_types: false,
            index: i as u32,
        })
    }
}

fn section_offset(h: &gimli::UnitHeader<R<'_>>) -> u64 {
    match h.offset() {
        gimli::UnitSectionOffset::DebugInfoOffset(o) => o.0 as u64,
        gimli::UnitSectionOffset::DebugTypesOffset(o) => o.0 as u64,
    }
}

fn runtime_endian(file: &ElfDwarf<'_>) -> RunTimeEndian {
    if file.little_endian {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    }
}

fn load_dwarf<'a>(file: &'a ElfDwarf<'_>, split: bool) -> Result<gimli::Dwarf<R<'a>>, EncodeError> {
    let endian = runtime_endian(file);
    gimli::Dwarf::load(|id| -> Result<R<'a>, gimli::Error> {
        let name = if split {
            id.dwo_name()
        } else {
            Some(id.name())
        };
        Ok(EndianSlice::new(
            name.map_or(&[][..], |n| file.section(n)),
            endian,
        ))
    })
    .map_err(|e| dwarf_err(0, e))
}

fn collect_headers<'a>(
    mut it: impl FnMut() -> gimli::Result<Option<gimli::UnitHeader<R<'a>>>>,
) -> Result<Vec<gimli::UnitHeader<R<'a>>>, EncodeError> {
    let mut out = Vec::new();
    loop {
        match it() {
            Ok(Some(h)) => out.push(h),
            Ok(None) => return Ok(out),
            Err(e) => {
                let at = out
                    .last()
                    .map_or(0, |h| section_offset(h) + h.length_including_self() as u64);
                return Err(dwarf_err(at, e));
            }
        }
    }
}

fn domain<'a>(dwarf: gimli::Dwarf<R<'a>>) -> Result<Domain<'a>, EncodeError> {
    let mut it = dwarf.units();
    let info = collect_headers(|| it.next())?;
    let mut it = dwarf.type_units();
    let types = collect_headers(|| it.next())?;
    Ok(Domain { dwarf, info, types })
}

/// Where split DWARF is looked for.
#[derive(Clone, Debug, Default)]
pub struct SplitSearch {
    /// Directories searched for `.dwo` files (after the unit's own
    /// `DW_AT_comp_dir`).
    pub dirs: Vec<PathBuf>,
    /// A DWARF package (`.dwp`) holding the split units.
    pub dwp: Option<PathBuf>,
}

/// A skeleton unit: its types live in a `.dwo` (or the `.dwp`).
struct Skeleton {
    /// Index in the input's `.debug_info` units.
    index: usize,
    dwo_id: Option<gimli::DwoId>,
    /// `DW_AT_dwo_name` (relative to `comp_dir`).
    name: String,
    comp_dir: Option<String>,
}

fn skeletons(main: &Domain<'_>) -> Result<Vec<Skeleton>, EncodeError> {
    let mut out = Vec::new();
    for (index, h) in main.info.iter().enumerate() {
        let skeleton = match h.type_() {
            gimli::UnitType::Skeleton(_) => true,
            gimli::UnitType::Compilation => h.version() < 5,
            _ => false,
        };
        if !skeleton {
            continue;
        }
        let off = section_offset(h);
        let unit = main.dwarf.unit(*h).map_err(|e| dwarf_err(off, e))?;
        let Some(name) = unit.dwo_name().map_err(|e| dwarf_err(off, e))? else {
            continue;
        };
        let name = main
            .dwarf
            .attr_string(&unit, name)
            .map_err(|e| dwarf_err(off, e))?
            .to_string_lossy()
            .into_owned();
        out.push(Skeleton {
            index,
            dwo_id: unit.dwo_id,
            name,
            comp_dir: unit.comp_dir.map(|d| d.to_string_lossy().into_owned()),
        });
    }
    Ok(out)
}

fn find_dwo(sk: &Skeleton, search: &SplitSearch) -> Option<PathBuf> {
    let name = Path::new(&sk.name);
    let mut candidates = Vec::new();
    match &sk.comp_dir {
        Some(dir) => candidates.push(Path::new(dir).join(name)),
        None => candidates.push(name.to_path_buf()),
    }
    for d in &search.dirs {
        candidates.push(d.join(name));
        if let Some(base) = name.file_name() {
            candidates.push(d.join(base));
        }
    }
    candidates.into_iter().find(|p| p.is_file())
}

/// How [`convert_units`] converts.
#[derive(Clone, Debug)]
pub struct ConvertOptions {
    /// Worker threads: at least one runs, and no more than there are
    /// units. Default: one per core.
    pub jobs: usize,
    /// Multi-dimensional arrays as arrays of arrays (as clang writes them
    /// for BPF programs), else flattened (as pahole does). Default: flat.
    pub nested_arrays: bool,
    /// Each worker deduplicates its output after converting this many
    /// types. Default: [`COMPACT_EVERY`].
    pub compact_every: usize,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            nested_arrays: false,
            compact_every: COMPACT_EVERY,
        }
    }
}

/// Converts every unit, on `opts.jobs` threads: the input's compilation,
/// partial and type units, and the split units its skeletons point to
/// (found through `search`).
pub fn convert_units(
    file: &ElfDwarf<'_>,
    search: &SplitSearch,
    opts: &ConvertOptions,
) -> Result<Vec<UnitTypes>, EncodeError> {
    let main = domain(load_dwarf(file, false)?)?;
    if main.info.is_empty() && main.types.is_empty() {
        return Err(EncodeError::NoDwarf);
    }
    let skels = skeletons(&main)?;
    // The split units' domains borrow the split files' buffers and parsed
    // sections: both are kept here until the conversion ends.
    let split_bytes = SplitBytes::read(&skels, search)?;
    let split_files = split_bytes.parse()?;
    let mut domains = vec![main];
    split_files.add_domains(&mut domains, &split_bytes.in_dwp)?;
    let (work, sigs) = work_list(&domains, &skels);
    let units = Units { domains, sigs };
    convert_in_workers(file, &units, &work, opts)
}

/// The error for a split-DWARF file that could not be read or parsed.
fn split_err(file: &Path, reason: impl std::fmt::Display) -> EncodeError {
    EncodeError::Split {
        file: file.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The error for skeletons whose split units were found nowhere: the
/// first of them, and how many there are.
fn missing_dwo(first: &Skeleton, count: usize) -> EncodeError {
    EncodeError::MissingDwo {
        name: first.name.clone(),
        comp_dir: first.comp_dir.clone().unwrap_or_default(),
        count,
    }
}

/// A split-DWARF file, whose path the skeleton unit names: only a regular
/// file, of at most 4 GiB (a name like `/dev/zero` would read forever).
fn read_split_file(path: &Path) -> Result<Vec<u8>, EncodeError> {
    use btfkit_btf::input::{read, Limit};
    read(path, Limit::Large).map_err(|e| split_err(path, e.root()))
}

/// The split-DWARF files the skeletons point to, read into memory.
struct SplitBytes<'s> {
    /// Each `.dwo` found, with its path.
    dwo: Vec<(PathBuf, Vec<u8>)>,
    /// The `.dwp`, read only when some skeleton's `.dwo` was not found.
    dwp: Option<(PathBuf, Vec<u8>)>,
    /// The skeletons whose `.dwo` was not found: their units are looked
    /// up in the `.dwp`.
    in_dwp: Vec<&'s Skeleton>,
}

impl<'s> SplitBytes<'s> {
    /// Reads each skeleton's `.dwo`, and the `.dwp` when a `.dwo` is
    /// missing; fails when one is missing and there is no `.dwp`.
    fn read(skels: &'s [Skeleton], search: &SplitSearch) -> Result<Self, EncodeError> {
        let mut dwo = Vec::new();
        let mut in_dwp = Vec::new();
        for sk in skels {
            match find_dwo(sk, search) {
                Some(p) => {
                    let bytes = read_split_file(&p)?;
                    dwo.push((p, bytes));
                }
                None => in_dwp.push(sk),
            }
        }
        let dwp = match (in_dwp.first(), &search.dwp) {
            (None, _) => None,
            (Some(_), Some(p)) if p.is_file() => Some((p.clone(), read_split_file(p)?)),
            (Some(first), _) => return Err(missing_dwo(first, in_dwp.len())),
        };
        Ok(SplitBytes { dwo, dwp, in_dwp })
    }

    /// Each file parsed as ELF.
    fn parse(&self) -> Result<SplitFiles<'_>, EncodeError> {
        Ok(SplitFiles {
            dwo: self
                .dwo
                .iter()
                .map(parse_split_file)
                .collect::<Result<_, _>>()?,
            dwp: self.dwp.as_ref().map(parse_split_file).transpose()?,
        })
    }
}

fn parse_split_file(
    (path, bytes): &(PathBuf, Vec<u8>),
) -> Result<(&Path, ElfDwarf<'_>), EncodeError> {
    let file = ElfDwarf::load_split(bytes).map_err(|e| split_err(path, e))?;
    Ok((path.as_path(), file))
}

/// The split-DWARF files, parsed, with their paths (for errors).
struct SplitFiles<'b> {
    dwo: Vec<(&'b Path, ElfDwarf<'b>)>,
    dwp: Option<(&'b Path, ElfDwarf<'b>)>,
}

impl SplitFiles<'_> {
    /// Adds a domain for each `.dwo`, then one for each unit of the
    /// `.dwp` that an `in_dwp` skeleton points to, after the input's own
    /// (`domains[0]`, which the split units refer back to).
    fn add_domains<'a>(
        &'a self,
        domains: &mut Vec<Domain<'a>>,
        in_dwp: &[&Skeleton],
    ) -> Result<(), EncodeError> {
        for (path, file) in &self.dwo {
            let mut dwarf = load_dwarf(file, true).map_err(|e| split_err(path, e))?;
            dwarf.make_dwo(&domains[0].dwarf);
            domains.push(domain(dwarf).map_err(|e| split_err(path, e))?);
        }
        if let Some((path, file)) = &self.dwp {
            add_dwp_domains(path, file, domains, in_dwp)?;
        }
        Ok(())
    }
}

/// Adds the domain of each `in_dwp` skeleton's unit in the `.dwp`
/// `file`, found by the skeleton's DWO id.
fn add_dwp_domains<'a>(
    path: &Path,
    file: &'a ElfDwarf<'_>,
    domains: &mut Vec<Domain<'a>>,
    in_dwp: &[&Skeleton],
) -> Result<(), EncodeError> {
    let endian = runtime_endian(file);
    let empty = EndianSlice::new(&[][..], endian);
    let dwp = gimli::DwarfPackage::load(
        |id| -> Result<R<'_>, gimli::Error> {
            Ok(EndianSlice::new(
                id.dwo_name().map_or(&[][..], |n| file.section(n)),
                endian,
            ))
        },
        empty,
    )
    .map_err(|e| split_err(path, dwarf_err(0, e)))?;
    for sk in in_dwp {
        let found = match sk.dwo_id {
            Some(id) => dwp
                .find_cu(id, &domains[0].dwarf)
                .map_err(|e| split_err(path, dwarf_err(0, e)))?,
            None => None,
        };
        let Some(dwarf) = found else {
            return Err(missing_dwo(sk, in_dwp.len()));
        };
        domains.push(domain(dwarf).map_err(|e| split_err(path, e))?);
    }
    Ok(())
}

/// Type units by signature (DW_FORM_ref_sig8 targets).
type Signatures = HashMap<u64, (UnitKey, UnitOffset)>;

/// The units to convert, in order: every unit but the skeletons (whose
/// types are in their split units); and the type units by signature.
fn work_list(domains: &[Domain<'_>], skels: &[Skeleton]) -> (Vec<UnitKey>, Signatures) {
    let mut work = Vec::new();
    let mut sigs = Signatures::new();
    for (di, d) in domains.iter().enumerate() {
        for (debug_types, list) in [(false, &d.info), (true, &d.types)] {
            for (i, h) in list.iter().enumerate() {
                let key = UnitKey {
                    domain: di as u32,
                    debug_types,
                    index: i as u32,
                };
                if let Some((signature, offset)) = type_unit_signature(h) {
                    // The first unit of a signature answers for it.
                    sigs.entry(signature).or_insert((key, offset));
                } else if is_skeleton(h, key, skels) {
                    continue;
                }
                work.push(key);
            }
        }
    }
    (work, sigs)
}

/// A type unit's signature and the offset of its type.
fn type_unit_signature(h: &gimli::UnitHeader<R<'_>>) -> Option<(u64, UnitOffset)> {
    match h.type_() {
        gimli::UnitType::Type {
            type_signature,
            type_offset,
        }
        | gimli::UnitType::SplitType {
            type_signature,
            type_offset,
        } => Some((type_signature.0, type_offset)),
        _ => None,
    }
}

/// Whether a unit is a skeleton: its types are in its split unit.
fn is_skeleton(h: &gimli::UnitHeader<R<'_>>, key: UnitKey, skels: &[Skeleton]) -> bool {
    match h.type_() {
        gimli::UnitType::Skeleton(_) => true,
        // A DWARF 4 (GNU) skeleton is a compilation unit.
        _ => {
            key.domain == 0
                && !key.debug_types
                && skels.iter().any(|sk| sk.index == key.index as usize)
        }
    }
}

/// Converts the `work` units on `opts.jobs` threads and returns each
/// worker's output.
fn convert_in_workers<'a>(
    file: &ElfDwarf<'a>,
    units: &Units<'a>,
    work: &[UnitKey],
    opts: &ConvertOptions,
) -> Result<Vec<UnitTypes>, EncodeError> {
    let jobs = opts.jobs.clamp(1, work.len().max(1));
    // Contiguous runs of units per worker keep the output order
    // independent of scheduling.
    let per = work.len().div_ceil(jobs).max(1);
    let results: Vec<Result<UnitTypes, EncodeError>> = std::thread::scope(|s| {
        let workers: Vec<_> = work
            .chunks(per)
            .map(|run| s.spawn(move || convert_run(file, units, run, opts)))
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().expect("encoder worker"))
            .collect()
    });
    results.into_iter().collect()
}

/// One worker's share: a run of units converted into one id space,
/// deduplicated every `opts.compact_every` types.
fn convert_run<'a>(
    file: &ElfDwarf<'a>,
    units: &Units<'a>,
    run: &[UnitKey],
    opts: &ConvertOptions,
) -> Result<UnitTypes, EncodeError> {
    let mut w = Worker::new(file, units, opts.nested_arrays);
    for &key in run {
        let off = section_offset(units.header(key));
        w.unit(key).map_err(|e| dwarf_err(off, e))?;
        w.out.units += 1;
        if w.out.ir.len() - w.compacted >= opts.compact_every && w.foreign.is_empty() {
            w.compact();
        }
    }
    w.compact();
    Ok(w.out)
}

/// Types a worker converts between deduplications of its output, by
/// default: large enough that deduplicating costs little per type, small
/// enough that the worker's memory is reused rather than grown.
pub const COMPACT_EVERY: usize = 1 << 18;

struct Worker<'f, 'a> {
    file: &'f ElfDwarf<'a>,
    units: &'f Units<'a>,
    out: UnitTypes,
    /// Units converted for references into them from elsewhere, kept
    /// while this worker runs (a unit is converted once per worker).
    foreign: HashMap<UnitKey, Rc<UnitCtx<'a>>>,
    /// Id of the index type of arrays for units without an `int` (type
    /// units, usually): a signed 32-bit `int`, which dedup merges with the
    /// program's own, rather than pahole's extra `__ARRAY_SIZE_TYPE__`.
    index_type: Option<u32>,
    /// The current unit's `int`, the index type pahole uses.
    unit_int: Option<u32>,
    /// Multi-dimensional arrays as arrays of arrays (else flattened).
    nested_arrays: bool,
    /// Types in `out` after the last [`Worker::compact`].
    compacted: usize,
    /// Interned names by (domain, .debug_str offset).
    str_ids: HashMap<(u32, usize), u32, foldhash::fast::RandomState>,
}

/// What a DIE becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A BTF type with this id.
    Type(u32),
    /// Stands for the type it refers to (atomic qualifier).
    Transparent,
    /// A stand-in for a type defined in a type unit (DW_AT_signature).
    Signature,
    /// Not representable: references to it are void.
    Skip,
}

/// A unit being converted: its DIEs' slots.
struct UnitCtx<'a> {
    key: UnitKey,
    unit: gimli::Unit<R<'a>>,
    slots: HashMap<UnitOffset, Slot>,
    funcs: Vec<UnitOffset>,
    vars: Vec<UnitOffset>,
}

fn type_tag_kind(tag: DwTag) -> Option<&'static str> {
    use gimli::constants::*;
    Some(match tag {
        DW_TAG_base_type => "base",
        DW_TAG_pointer_type | DW_TAG_reference_type | DW_TAG_rvalue_reference_type => "ptr",
        DW_TAG_const_type => "const",
        DW_TAG_volatile_type => "volatile",
        DW_TAG_restrict_type => "restrict",
        DW_TAG_atomic_type => "atomic",
        DW_TAG_typedef => "typedef",
        DW_TAG_structure_type | DW_TAG_class_type => "struct",
        DW_TAG_union_type => "union",
        DW_TAG_enumeration_type => "enum",
        DW_TAG_array_type => "array",
        DW_TAG_subroutine_type => "proto",
        DW_TAG_unspecified_type => "unspecified",
        DW_TAG_ptr_to_member_type => "ptr_to_member",
        DW_TAG_string_type => "string",
        DW_TAG_set_type => "set",
        DW_TAG_file_type => "file",
        DW_TAG_subrange_type => return None,
        _ => return None,
    })
}

impl<'f, 'a> Worker<'f, 'a> {
    fn new(file: &'f ElfDwarf<'a>, units: &'f Units<'a>, nested_arrays: bool) -> Self {
        Worker {
            file,
            units,
            out: UnitTypes {
                ir: IrBtf::new(),
                units: 0,
                vars: Vec::new(),
                converted: 0,
                skipped: BTreeMap::new(),
            },
            foreign: HashMap::new(),
            index_type: None,
            unit_int: None,
            nested_arrays,
            str_ids: HashMap::default(),
            compacted: 0,
        }
    }

    /// Deduplicates the output so far. Done here, in parallel and every
    /// [`COMPACT_EVERY`] types, the global deduplication sees a fraction of
    /// the types (most units repeat the same headers' types) and the
    /// worker's memory stays bounded; deduplicating a part changes
    /// nothing the global deduplication would have found. Only between
    /// units, with no other unit's conversion kept (their type ids would
    /// change).
    fn compact(&mut self) {
        let out = &mut self.out;
        out.converted += out.ir.len() - self.compacted;
        let d = btfkit_btf::dedup::dedup(&out.ir, 0);
        for v in &mut out.vars {
            v.ty = d.map[v.ty as usize];
        }
        out.ir = d.btf;
        self.compacted = out.ir.len();
        self.index_type = self.index_type.map(|t| d.map[t as usize]);
    }

    fn skip(&mut self, what: &str) {
        *self.out.skipped.entry(what.to_string()).or_default() += 1;
    }

    fn dwarf(&self, cx: &UnitCtx<'a>) -> &'f gimli::Dwarf<R<'a>> {
        &self.units.domains[cx.key.domain as usize].dwarf
    }

    fn index_type(&mut self) -> u32 {
        if let Some(i) = self.unit_int {
            return i;
        }
        if let Some(i) = self.index_type {
            return i;
        }
        let name = self.out.ir.strings.intern("int");
        let id = self.out.ir.push(IrType::Int {
            name,
            size: 4,
            encoding: 1, // BTF_INT_SIGNED
            offset: 0,
            bits: 32,
        });
        self.index_type = Some(id);
        id
    }

    /// One unit of the work list: its types (unless a reference from
    /// another unit already converted them here), functions and
    /// variables.
    fn unit(&mut self, key: UnitKey) -> gimli::Result<()> {
        let cx = match self.foreign.get(&key) {
            Some(cx) => cx.clone(),
            None => {
                let cx = self.types_of(key)?;
                // Not kept: a later reference into it converts it again
                // (dedup merges the copies), which bounds memory to the
                // units in flight.
                self.foreign.remove(&key);
                cx
            }
        };
        for &off in &cx.funcs {
            self.function(&cx, off)?;
        }
        for &off in &cx.vars {
            let e = cx.unit.entry(off)?;
            if e.attr_value(gimli::DW_AT_declaration)?.is_some() {
                continue;
            }
            // A definition of a declared variable (`DEFINE_PER_CPU` after
            // `DECLARE_PER_CPU`) has its location; the declaration it
            // points to has its name and type.
            let decl = match e.attr_value(gimli::DW_AT_specification)? {
                Some(gimli::AttributeValue::UnitRef(o)) => cx.unit.entry(o)?,
                Some(_) => continue,
                None => e.clone(),
            };
            let Some(name) = self.name(&cx, &decl)? else {
                continue;
            };
            let ty = self.type_ref(&cx, &decl)?;
            let address = match e.attr_value(gimli::DW_AT_location)? {
                Some(gimli::AttributeValue::Exprloc(expr)) => {
                    let mut ops = expr.operations(cx.unit.encoding());
                    match ops.next() {
                        Ok(Some(gimli::Operation::Address { address })) => Some(address),
                        _ => None,
                    }
                }
                _ => None,
            };
            self.out.vars.push(GlobalVar { name, ty, address });
        }
        Ok(())
    }

    /// A unit's types, converted into this worker's id space.
    fn types_of(&mut self, key: UnitKey) -> gimli::Result<Rc<UnitCtx<'a>>> {
        let header = *self.units.header(key);
        let unit = self.dwarf_of(key).unit(header)?;
        let saved_int = self.unit_int.take();
        // Pass 1: which DIE becomes which type.
        let mut slots: HashMap<UnitOffset, Slot> = HashMap::new();
        let mut order: Vec<(UnitOffset, DwTag)> = Vec::new();
        let mut funcs: Vec<UnitOffset> = Vec::new();
        let mut vars: Vec<UnitOffset> = Vec::new();
        let mut int_die = None;
        {
            let mut cursor = unit.entries();
            let mut depth = 0isize;
            while let Some((delta, e)) = cursor.next_dfs()? {
                depth += delta;
                let tag = e.tag();
                // Whether the DIE has DW_AT_signature, from its
                // abbreviation (cheaper than parsing its attributes).
                let signed = || {
                    unit.abbreviations.get(e.code()).is_some_and(|a| {
                        a.attributes()
                            .iter()
                            .any(|s| s.name() == gimli::DW_AT_signature)
                    })
                };
                if type_tag_kind(tag).is_some() && signed() {
                    slots.insert(e.offset(), Slot::Signature);
                    continue;
                }
                match type_tag_kind(tag) {
                    Some("atomic") => {
                        slots.insert(e.offset(), Slot::Transparent);
                    }
                    Some(k @ ("unspecified" | "ptr_to_member" | "string" | "set" | "file")) => {
                        slots.insert(e.offset(), Slot::Skip);
                        self.skip(k);
                    }
                    Some(k) => {
                        let id = self.out.ir.push(IrType::Void);
                        slots.insert(e.offset(), Slot::Type(id));
                        order.push((e.offset(), tag));
                        if k == "base" && int_die.is_none() {
                            let name = match e.attr_value(gimli::DW_AT_name)? {
                                Some(v) => Some(self.dwarf_of(key).attr_string(&unit, v)?),
                                None => None,
                            };
                            if name.is_some_and(|n| n.slice() == b"int") {
                                int_die = Some(id);
                            }
                        }
                    }
                    None if tag == gimli::DW_TAG_subprogram => funcs.push(e.offset()),
                    None if tag == gimli::DW_TAG_variable && depth == 1 => vars.push(e.offset()),
                    None => {}
                }
            }
        }
        self.unit_int = int_die;
        let cx = Rc::new(UnitCtx {
            key,
            unit,
            slots,
            funcs,
            vars,
        });
        // Registered before pass 2, so references back into this unit
        // (cycles through other units) find it.
        self.foreign.insert(key, cx.clone());
        // Pass 2: fill them in.
        for (off, tag) in order {
            let Some(&Slot::Type(id)) = cx.slots.get(&off) else {
                continue;
            };
            let ty = self.convert(&cx, off, tag)?;
            self.out.ir.types[id as usize] = ty;
        }
        self.unit_int = saved_int;
        Ok(cx)
    }

    fn dwarf_of(&self, key: UnitKey) -> &'f gimli::Dwarf<R<'a>> {
        &self.units.domains[key.domain as usize].dwarf
    }

    fn name(&self, cx: &UnitCtx<'a>, e: &Die<'_, 'a>) -> gimli::Result<Option<String>> {
        match e.attr_value(gimli::DW_AT_name)? {
            Some(v) => Ok(Some(
                self.dwarf(cx)
                    .attr_string(&cx.unit, v)?
                    .to_string_lossy()
                    .into_owned(),
            )),
            None => Ok(None),
        }
    }

    /// A name attribute's value, interned (0 when absent).
    fn intern_name(
        &mut self,
        cx: &UnitCtx<'a>,
        v: Option<AttributeValue<R<'a>>>,
    ) -> gimli::Result<u32> {
        let Some(v) = v else {
            return Ok(0);
        };
        // Names are mostly offsets into .debug_str, shared by every unit:
        // interned once per offset.
        let key = match v {
            AttributeValue::DebugStrRef(o) => Some((cx.key.domain, o.0)),
            _ => None,
        };
        if let Some(&id) = key.and_then(|k| self.str_ids.get(&k)) {
            return Ok(id);
        }
        let s = self.dwarf(cx).attr_string(&cx.unit, v)?;
        let id = self.out.ir.strings.intern(&s.to_string_lossy());
        if let Some(k) = key {
            self.str_ids.insert(k, id);
        }
        Ok(id)
    }

    /// The BTF id a `DW_AT_type` reference resolves to (void when absent
    /// or not representable).
    fn type_ref(&mut self, cx: &UnitCtx<'a>, e: &Die<'_, 'a>) -> gimli::Result<u32> {
        let attr = e.attr_value(gimli::DW_AT_type)?;
        self.resolve(cx, attr, 0)
    }

    /// Follows a reference: within the unit, to another unit of the same
    /// DWARF (DW_FORM_ref_addr, as LTO and dwz write), or to a type unit
    /// by signature (DW_FORM_ref_sig8).
    fn resolve(
        &mut self,
        cx: &UnitCtx<'a>,
        attr: Option<AttributeValue<R<'a>>>,
        depth: u32,
    ) -> gimli::Result<u32> {
        if depth > MAX_CHAIN {
            return Ok(0);
        }
        match attr {
            None => Ok(0),
            Some(AttributeValue::UnitRef(o)) => self.slot(cx, o, depth),
            Some(AttributeValue::DebugInfoRef(o)) => {
                if let Some(uo) = gimli::UnitSectionOffset::from(o).to_unit_offset(&cx.unit) {
                    return self.slot(cx, uo, depth);
                }
                let Some(key) = self.units.info_unit_at(cx.key.domain, o) else {
                    self.skip("reference outside .debug_info");
                    return Ok(0);
                };
                let other = self.other_unit(key)?;
                match gimli::UnitSectionOffset::from(o).to_unit_offset(&other.unit) {
                    Some(uo) => self.slot(&other, uo, depth),
                    None => Ok(0),
                }
            }
            Some(AttributeValue::DebugTypesRef(sig)) => {
                let Some(&(key, off)) = self.units.sigs.get(&sig.0) else {
                    self.skip("reference to a missing type unit");
                    return Ok(0);
                };
                if key == cx.key {
                    return self.slot(cx, off, depth);
                }
                let other = self.other_unit(key)?;
                self.slot(&other, off, depth)
            }
            Some(AttributeValue::DebugInfoRefSup(_)) => {
                self.skip("reference into a supplementary (dwz) file");
                Ok(0)
            }
            Some(_) => {
                self.skip("reference of an unknown form");
                Ok(0)
            }
        }
    }

    fn slot(&mut self, cx: &UnitCtx<'a>, off: UnitOffset, depth: u32) -> gimli::Result<u32> {
        match cx.slots.get(&off) {
            Some(Slot::Type(id)) => Ok(*id),
            Some(Slot::Transparent) => {
                let next = cx.unit.entry(off)?.attr_value(gimli::DW_AT_type)?;
                self.resolve(cx, next, depth + 1)
            }
            Some(Slot::Signature) => {
                let next = cx.unit.entry(off)?.attr_value(gimli::DW_AT_signature)?;
                self.resolve(cx, next, depth + 1)
            }
            Some(Slot::Skip) | None => Ok(0),
        }
    }

    /// Another unit, converted here on first reference.
    fn other_unit(&mut self, key: UnitKey) -> gimli::Result<Rc<UnitCtx<'a>>> {
        match self.foreign.get(&key) {
            Some(cx) => Ok(cx.clone()),
            None => self.types_of(key),
        }
    }

    /// A type DIE (pass 2 of [`Worker::types_of`]) as a BTF type.
    fn convert(&mut self, cx: &UnitCtx<'a>, off: UnitOffset, tag: DwTag) -> gimli::Result<IrType> {
        use gimli::constants::*;
        let e = cx.unit.entry(off)?;
        let a = Attrs::of(&e)?;
        let name = self.intern_name(cx, a.name)?;
        let size = a.byte_size.unwrap_or(0) as u32;
        let ty = a.ty;
        Ok(match tag {
            DW_TAG_base_type => self.base_type(name, size, &a),
            DW_TAG_pointer_type | DW_TAG_reference_type | DW_TAG_rvalue_reference_type => {
                IrType::Ptr(self.resolve(cx, ty, 0)?)
            }
            DW_TAG_const_type => IrType::Const(self.resolve(cx, ty, 0)?),
            DW_TAG_volatile_type => IrType::Volatile(self.resolve(cx, ty, 0)?),
            DW_TAG_restrict_type => IrType::Restrict(self.resolve(cx, ty, 0)?),
            DW_TAG_typedef => IrType::Typedef {
                name,
                ty: self.resolve(cx, ty, 0)?,
            },
            DW_TAG_structure_type | DW_TAG_class_type | DW_TAG_union_type => {
                let is_union = tag == DW_TAG_union_type;
                if a.declaration {
                    IrType::Fwd { name, is_union }
                } else {
                    self.composite(cx, off, name, size, is_union)?
                }
            }
            DW_TAG_enumeration_type => self.enumeration(cx, off, name, size)?,
            DW_TAG_array_type => self.array(cx, off, ty)?,
            DW_TAG_subroutine_type => self.proto(cx, off, false)?,
            _ => IrType::Void,
        })
    }

    /// A base type: an integer (of the BTF encoding closest to the DWARF
    /// one), or a float of a size BTF allows.
    fn base_type(&mut self, name: u32, size: u32, a: &Attrs<'a>) -> IrType {
        use gimli::constants::*;
        let enc = match a.encoding {
            Some(AttributeValue::Encoding(x)) => x,
            _ => DwAte(0),
        };
        let bits = a.bit_size.unwrap_or(size as u64 * 8) as u8;
        let int = |size, encoding| IrType::Int {
            name,
            size,
            encoding,
            offset: 0,
            bits,
        };
        match enc {
            DW_ATE_float if matches!(size, 2 | 4 | 8 | 12 | 16) => IrType::Float { name, size },
            DW_ATE_boolean => int(size, BTF_INT_BOOL),
            DW_ATE_signed | DW_ATE_signed_char => int(size, BTF_INT_SIGNED),
            DW_ATE_unsigned | DW_ATE_unsigned_char | DW_ATE_UTF => int(size, 0),
            _ if size > 0 && size <= 16 => {
                self.skip("base type of another encoding (as an integer)");
                int(size, 0)
            }
            _ => {
                self.skip("base type without a size");
                IrType::Int {
                    name,
                    size: 0,
                    encoding: 0,
                    offset: 0,
                    bits: 0,
                }
            }
        }
    }

    /// A defined struct, class or union, with its members.
    fn composite(
        &mut self,
        cx: &UnitCtx<'a>,
        off: UnitOffset,
        name: u32,
        size: u32,
        is_union: bool,
    ) -> gimli::Result<IrType> {
        let members = self.members(cx, off, is_union)?;
        Ok(if is_union {
            IrType::Union {
                name,
                size,
                members,
            }
        } else {
            IrType::Struct {
                name,
                size,
                members,
            }
        })
    }

    /// An array of the element type `elem_ty`, with a length per
    /// dimension from its subranges.
    fn array(
        &mut self,
        cx: &UnitCtx<'a>,
        off: UnitOffset,
        elem_ty: Option<AttributeValue<R<'a>>>,
    ) -> gimli::Result<IrType> {
        // The element first, then the index type: the order in which
        // they take ids.
        let elem = self.resolve(cx, elem_ty, 0)?;
        let dims = array_dims(cx, off)?;
        let index = self.index_type();
        if !self.nested_arrays {
            // a[2][3] as a[6], as pahole writes it (and the kernels' own
            // BTF has it).
            return Ok(IrType::Array {
                elem,
                index,
                nelems: flattened_len(&dims),
            });
        }
        // a[2][3]: an array of 2 arrays of 3.
        let mut inner = elem;
        for &n in dims[1..].iter().rev() {
            inner = self.out.ir.push(IrType::Array {
                elem: inner,
                index,
                nelems: n,
            });
        }
        Ok(IrType::Array {
            elem: inner,
            index,
            nelems: dims[0],
        })
    }

    fn members(
        &mut self,
        cx: &UnitCtx<'a>,
        off: UnitOffset,
        is_union: bool,
    ) -> gimli::Result<Vec<IrMember>> {
        use gimli::constants::*;
        let mut out = Vec::new();
        let mut tree = cx.unit.entries_tree(Some(off))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let c = child.entry();
            if c.tag() != DW_TAG_member {
                continue;
            }
            let a = Attrs::of(c)?;
            // Static members (C++) have no storage in the object.
            if a.external || a.declaration {
                self.skip("static member");
                continue;
            }
            let ty = self.resolve(cx, a.ty, 0)?;
            // A member BTF cannot type (a C++ pointer to member, a broken
            // reference) would be a member of type void, which the
            // kernel refuses; the others keep their offsets without it.
            if ty == 0 {
                self.skip("member of a type BTF cannot express");
                continue;
            }
            let name = self.intern_name(cx, a.name)?;
            let byte_off = match a.member_location {
                None => 0,
                Some(AttributeValue::Exprloc(expr)) => {
                    // DW_OP_plus_uconst N, the only form C compilers emit.
                    let mut ops = expr.operations(cx.unit.encoding());
                    match ops.next()? {
                        Some(gimli::Operation::PlusConstant { value }) => value,
                        _ => {
                            self.skip("member location expression");
                            0
                        }
                    }
                }
                Some(v) => v.udata_value().unwrap_or(0),
            };
            let bit_size = a.bit_size.unwrap_or(0);
            let bit_offset = if let Some(dbo) = a.data_bit_offset {
                dbo
            } else if let Some(old) = a.bit_offset {
                // DWARF 2/3: bits from the most significant end of a storage
                // unit of DW_AT_byte_size (or the type's size).
                let storage = a.byte_size.unwrap_or(0).saturating_mul(8);
                if self.file.little_endian {
                    (byte_off.saturating_mul(8).saturating_add(storage))
                        .saturating_sub(old.saturating_add(bit_size))
                } else {
                    byte_off.saturating_mul(8).saturating_add(old)
                }
            } else {
                byte_off.saturating_mul(8)
            };
            let bit_offset = if is_union && bit_size == 0 {
                0
            } else {
                bit_offset
            };
            if bit_size > 255 || bit_offset > u32::MAX as u64 {
                self.skip("member beyond what BTF can encode");
                continue;
            }
            out.push(IrMember {
                name,
                ty,
                bit_offset: bit_offset as u32,
                bitfield_size: bit_size as u8,
            });
        }
        Ok(out)
    }

    fn enumeration(
        &mut self,
        cx: &UnitCtx<'a>,
        off: UnitOffset,
        name: u32,
        size: u32,
    ) -> gimli::Result<IrType> {
        use gimli::constants::*;
        let mut raw: Vec<(u32, AttributeValue<R<'a>>)> = Vec::new();
        let mut tree = cx.unit.entries_tree(Some(off))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let c = child.entry();
            if c.tag() != DW_TAG_enumerator {
                continue;
            }
            let a = Attrs::of(c)?;
            let n = self.intern_name(cx, a.name)?;
            if let Some(v) = a.const_value {
                raw.push((n, v));
            }
        }
        let size = if size == 0 { 4 } else { size };
        let bits = size.saturating_mul(8).min(64);
        let sext = |v: u64| -> u64 {
            if bits >= 64 {
                v
            } else {
                let shift = 64 - bits;
                (((v << shift) as i64) >> shift) as u64
            }
        };
        // Signed when a value is negative as DWARF gives it.
        let signed = raw
            .iter()
            .any(|(_, v)| matches!(v, AttributeValue::Sdata(x) if *x < 0));
        let values = raw
            .into_iter()
            .map(|(n, v)| {
                let value = match v {
                    AttributeValue::Sdata(x) => x as u64,
                    AttributeValue::Udata(x) => x,
                    AttributeValue::Data1(x) => {
                        if signed {
                            sext(x as u64)
                        } else {
                            x as u64
                        }
                    }
                    AttributeValue::Data2(x) => {
                        if signed {
                            sext(x as u64)
                        } else {
                            x as u64
                        }
                    }
                    AttributeValue::Data4(x) => {
                        if signed {
                            sext(x as u64)
                        } else {
                            x as u64
                        }
                    }
                    AttributeValue::Data8(x) => x,
                    other => other.udata_value().unwrap_or(0),
                };
                IrEnumValue { name: n, value }
            })
            .collect::<Vec<_>>();
        Ok(IrType::Enum {
            name,
            size,
            signed,
            is64: size > 4,
            values,
        })
    }

    /// A prototype from a subroutine type or subprogram's parameters.
    fn proto(&mut self, cx: &UnitCtx<'a>, off: UnitOffset, names: bool) -> gimli::Result<IrType> {
        use gimli::constants::*;
        let e = cx.unit.entry(off)?;
        let ret = self.type_ref(cx, &e)?;
        let mut params = Vec::new();
        let mut tree = cx.unit.entries_tree(Some(off))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let c = child.entry();
            match c.tag() {
                DW_TAG_formal_parameter => {
                    let a = Attrs::of(c)?;
                    let name = if names {
                        self.intern_name(cx, a.name)?
                    } else {
                        0
                    };
                    let ty = self.resolve(cx, a.ty, 0)?;
                    params.push(IrParam { name, ty });
                }
                DW_TAG_unspecified_parameters => params.push(IrParam { name: 0, ty: 0 }),
                _ => {}
            }
        }
        Ok(IrType::FuncProto { ret, params })
    }

    /// A function the binary contains: FUNC with its prototype. An
    /// out-of-line copy of an inlined function (or a C++ definition of a
    /// declared member) takes its name and parameters from the DIE it
    /// points to.
    fn function(&mut self, cx: &UnitCtx<'a>, off: UnitOffset) -> gimli::Result<()> {
        use gimli::constants::*;
        let e = cx.unit.entry(off)?;
        if e.attr_value(DW_AT_declaration)?.is_some() {
            return Ok(());
        }
        // No code address needed: a definition whose code the compiler
        // placed elsewhere (folded, or described only abstractly) still
        // names a function of the symbol table, and pahole encodes it.
        let mut decl = off;
        for _ in 0..4 {
            let d = cx.unit.entry(decl)?;
            match d
                .attr_value(DW_AT_abstract_origin)?
                .or(d.attr_value(DW_AT_specification)?)
            {
                Some(AttributeValue::UnitRef(o)) => decl = o,
                // An origin in another unit (LTO): not this unit's function.
                Some(_) => return Ok(()),
                None => break,
            }
        }
        let d = cx.unit.entry(decl)?;
        let Some(name) = self.name(cx, &d)? else {
            return Ok(());
        };
        if !self.file.functions.contains(&name) {
            return Ok(());
        }
        let proto = self.proto(cx, decl, true)?;
        let proto = self.out.ir.push(proto);
        let linkage = u32::from(
            d.attr_value(DW_AT_external)?.is_some() || e.attr_value(DW_AT_external)?.is_some(),
        );
        let name = self.out.ir.strings.intern(&name);
        self.out.ir.push(IrType::Func {
            name,
            proto,
            linkage,
        });
        Ok(())
    }
}

/// The lengths of an array's dimensions, outermost first, from its
/// subrange DIEs (0 when unknown, as for a flexible array); at least one.
fn array_dims(cx: &UnitCtx<'_>, off: UnitOffset) -> gimli::Result<Vec<u32>> {
    let mut dims = Vec::new();
    let mut tree = cx.unit.entries_tree(Some(off))?;
    let root = tree.root()?;
    let mut children = root.children();
    while let Some(child) = children.next()? {
        let c = child.entry();
        if c.tag() != gimli::DW_TAG_subrange_type {
            continue;
        }
        let n = subrange_len(&Attrs::of(c)?);
        dims.push(n.min(u32::MAX as u64) as u32);
    }
    if dims.is_empty() {
        dims.push(0);
    }
    Ok(dims)
}

/// A subrange's element count: its `DW_AT_count`, else its upper bound
/// plus one (C arrays start at 0), else 0.
fn subrange_len(a: &Attrs<'_>) -> u64 {
    if let Some(count) = a.count {
        count
    } else if let Some(ub) = a.upper_bound {
        match ub {
            AttributeValue::Sdata(v) if v < 0 => 0,
            v => v.udata_value().map_or(0, |u| u.saturating_add(1)),
        }
    } else {
        0
    }
}

/// The element count of a multi-dimensional array flattened to one
/// dimension (0 when it overflows BTF's 32 bits).
fn flattened_len(dims: &[u32]) -> u32 {
    dims.iter()
        .try_fold(1u64, |acc, &n| acc.checked_mul(n as u64))
        .filter(|&t| t <= u32::MAX as u64)
        .unwrap_or(0) as u32
}
