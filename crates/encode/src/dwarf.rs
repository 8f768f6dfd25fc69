//! DWARF compilation units to BTF types, one unit at a time.

// gimli names its constants as the DWARF standard does (DW_TAG_member).
#![allow(non_upper_case_globals)]

use std::collections::{BTreeMap, HashMap};

use btfkit_btf::ir::{IrBtf, IrEnumValue, IrMember, IrParam, IrType};
use gimli::{AttributeValue, DwTag, EndianSlice, RunTimeEndian, UnitOffset};

use crate::elf::ElfDwarf;
use crate::EncodeError;

type R<'d> = EndianSlice<'d, RunTimeEndian>;

/// BTF integer encodings.
const BTF_INT_SIGNED: u8 = 1;
const BTF_INT_BOOL: u8 = 4;
/// Deepest chain of references followed while resolving one type.
const MAX_CHAIN: u32 = 256;

/// One worker's output: the types of its units, in one id space.
pub struct UnitTypes {
    pub ir: IrBtf,
    pub units: usize,
    /// Global variables (name, type id), for the per-CPU section.
    pub vars: Vec<(String, u32)>,
    pub skipped: BTreeMap<String, usize>,
}

fn dwarf_err(offset: u64, e: impl std::fmt::Display) -> EncodeError {
    EncodeError::Dwarf {
        offset,
        reason: e.to_string(),
    }
}

/// Converts every unit, on `jobs` threads.
pub fn convert_units(
    file: &ElfDwarf<'_>,
    jobs: usize,
    nested_arrays: bool,
) -> Result<Vec<UnitTypes>, EncodeError> {
    let endian = if file.little_endian {
        RunTimeEndian::Little
    } else {
        RunTimeEndian::Big
    };
    let dwarf = gimli::Dwarf::load(|id| -> Result<R<'_>, gimli::Error> {
        Ok(EndianSlice::new(file.section(id.name()), endian))
    })
    .map_err(|e| dwarf_err(0, e))?;
    let mut headers = Vec::new();
    let mut it = dwarf.units();
    loop {
        match it.next() {
            Ok(Some(h)) => headers.push(h),
            Ok(None) => break,
            Err(e) => {
                return Err(dwarf_err(
                    headers.last().map_or(0, |h: &gimli::UnitHeader<R<'_>>| {
                        h.offset().as_debug_info_offset().map_or(0, |o| o.0 as u64)
                    }),
                    e,
                ))
            }
        }
    }
    if headers.is_empty() {
        return Err(EncodeError::NoDwarf);
    }
    let jobs = jobs.clamp(1, headers.len());
    // Contiguous runs of units per worker keep the output order
    // independent of scheduling.
    let per = headers.len().div_ceil(jobs);
    let results: Vec<Result<UnitTypes, EncodeError>> = std::thread::scope(|s| {
        let hs: Vec<_> = headers
            .chunks(per)
            .map(|chunk| {
                let dwarf = &dwarf;
                s.spawn(move || {
                    let mut w = Worker::new(file, nested_arrays);
                    for h in chunk {
                        let off = h.offset().as_debug_info_offset().map_or(0, |o| o.0 as u64);
                        let unit = dwarf.unit(*h).map_err(|e| dwarf_err(off, e))?;
                        w.unit(dwarf, &unit).map_err(|e| dwarf_err(off, e))?;
                        w.out.units += 1;
                    }
                    Ok(w.out)
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("encoder worker"))
            .collect()
    });
    results.into_iter().collect()
}

struct Worker<'f, 'd> {
    file: &'f ElfDwarf<'d>,
    out: UnitTypes,
    /// Id of the index type of arrays (`__ARRAY_SIZE_TYPE__`), per worker,
    /// for units without an `int`.
    index_type: Option<u32>,
    /// The current unit's `int`, the index type pahole uses.
    unit_int: Option<u32>,
    /// Multi-dimensional arrays as arrays of arrays (else flattened).
    nested_arrays: bool,
}

/// What a DIE becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// A BTF type with this id.
    Type(u32),
    /// Stands for the type it refers to (atomic qualifier).
    Transparent,
    /// Not representable: references to it are void.
    Skip,
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

impl<'f, 'd> Worker<'f, 'd> {
    fn new(file: &'f ElfDwarf<'d>, nested_arrays: bool) -> Self {
        Worker {
            file,
            out: UnitTypes {
                ir: IrBtf::new(),
                units: 0,
                vars: Vec::new(),
                skipped: BTreeMap::new(),
            },
            index_type: None,
            unit_int: None,
            nested_arrays,
        }
    }

    fn skip(&mut self, what: &str) {
        *self.out.skipped.entry(what.to_string()).or_default() += 1;
    }

    fn index_type(&mut self) -> u32 {
        if let Some(i) = self.unit_int {
            return i;
        }
        if let Some(i) = self.index_type {
            return i;
        }
        let name = self.out.ir.strings.intern("__ARRAY_SIZE_TYPE__");
        let id = self.out.ir.push(IrType::Int {
            name,
            size: 4,
            encoding: 0,
            offset: 0,
            bits: 32,
        });
        self.index_type = Some(id);
        id
    }

    fn unit(
        &mut self,
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
    ) -> gimli::Result<()> {
        self.unit_int = None;
        // Pass 1: which DIE becomes which type.
        let mut slots: HashMap<UnitOffset, Slot> = HashMap::new();
        let mut order: Vec<(UnitOffset, DwTag)> = Vec::new();
        let mut funcs: Vec<UnitOffset> = Vec::new();
        let mut vars: Vec<UnitOffset> = Vec::new();
        {
            let mut cursor = unit.entries();
            let mut depth = 0isize;
            while let Some((delta, e)) = cursor.next_dfs()? {
                depth += delta;
                let tag = e.tag();
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
                        if k == "base"
                            && self.unit_int.is_none()
                            && self.name(dwarf, unit, e)?.as_deref() == Some("int")
                        {
                            self.unit_int = Some(id);
                        }
                    }
                    None if tag == gimli::DW_TAG_subprogram => funcs.push(e.offset()),
                    None if tag == gimli::DW_TAG_variable && depth == 1 => vars.push(e.offset()),
                    None => {}
                }
            }
        }
        // Pass 2: fill them in.
        for (off, tag) in order {
            let Slot::Type(id) = slots[&off] else {
                continue;
            };
            let ty = self.convert(dwarf, unit, &slots, off, tag)?;
            self.out.ir.types[id as usize] = ty;
        }
        for off in funcs {
            self.function(dwarf, unit, &slots, off)?;
        }
        for off in vars {
            let e = unit.entry(off)?;
            if e.attr_value(gimli::DW_AT_declaration)?.is_some() {
                continue;
            }
            let Some(name) = self.name(dwarf, unit, &e)? else {
                continue;
            };
            let ty = self.type_ref(&slots, unit, &e)?;
            self.out.vars.push((name, ty));
        }
        Ok(())
    }

    fn name(
        &self,
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
        e: &gimli::DebuggingInformationEntry<R<'d>>,
    ) -> gimli::Result<Option<String>> {
        match e.attr_value(gimli::DW_AT_name)? {
            Some(v) => Ok(Some(
                dwarf.attr_string(unit, v)?.to_string_lossy().into_owned(),
            )),
            None => Ok(None),
        }
    }

    fn name_id(
        &mut self,
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
        e: &gimli::DebuggingInformationEntry<R<'d>>,
    ) -> gimli::Result<u32> {
        Ok(match self.name(dwarf, unit, e)? {
            Some(n) => self.out.ir.strings.intern(&n),
            None => 0,
        })
    }

    /// The BTF id a `DW_AT_type` reference resolves to (void when absent
    /// or not representable).
    fn type_ref(
        &mut self,
        slots: &HashMap<UnitOffset, Slot>,
        unit: &gimli::Unit<R<'d>>,
        e: &gimli::DebuggingInformationEntry<R<'d>>,
    ) -> gimli::Result<u32> {
        let mut attr = e.attr_value(gimli::DW_AT_type)?;
        for _ in 0..MAX_CHAIN {
            let off = match attr {
                None => return Ok(0),
                Some(AttributeValue::UnitRef(o)) => o,
                Some(_) => {
                    self.skip("reference across units");
                    return Ok(0);
                }
            };
            match slots.get(&off) {
                Some(Slot::Type(id)) => return Ok(*id),
                Some(Slot::Transparent) => attr = unit.entry(off)?.attr_value(gimli::DW_AT_type)?,
                Some(Slot::Skip) | None => return Ok(0),
            }
        }
        Ok(0)
    }

    fn udata(
        e: &gimli::DebuggingInformationEntry<R<'d>>,
        at: gimli::DwAt,
    ) -> gimli::Result<Option<u64>> {
        Ok(e.attr_value(at)?.and_then(|v| v.udata_value()))
    }

    fn convert(
        &mut self,
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
        slots: &HashMap<UnitOffset, Slot>,
        off: UnitOffset,
        tag: DwTag,
    ) -> gimli::Result<IrType> {
        use gimli::constants::*;
        let e = unit.entry(off)?;
        let name = self.name_id(dwarf, unit, &e)?;
        let size = Self::udata(&e, DW_AT_byte_size)?.unwrap_or(0) as u32;
        Ok(match tag {
            DW_TAG_base_type => {
                let enc = match e.attr_value(DW_AT_encoding)? {
                    Some(AttributeValue::Encoding(x)) => x,
                    _ => DwAte(0),
                };
                let bits = Self::udata(&e, DW_AT_bit_size)?.unwrap_or(size as u64 * 8) as u8;
                match enc {
                    DW_ATE_float if matches!(size, 2 | 4 | 8 | 12 | 16) => {
                        IrType::Float { name, size }
                    }
                    DW_ATE_boolean => IrType::Int {
                        name,
                        size,
                        encoding: BTF_INT_BOOL,
                        offset: 0,
                        bits,
                    },
                    DW_ATE_signed | DW_ATE_signed_char => IrType::Int {
                        name,
                        size,
                        encoding: BTF_INT_SIGNED,
                        offset: 0,
                        bits,
                    },
                    DW_ATE_unsigned | DW_ATE_unsigned_char | DW_ATE_UTF => IrType::Int {
                        name,
                        size,
                        encoding: 0,
                        offset: 0,
                        bits,
                    },
                    _ if size > 0 && size <= 16 => {
                        self.skip("base type of another encoding (as an integer)");
                        IrType::Int {
                            name,
                            size,
                            encoding: 0,
                            offset: 0,
                            bits,
                        }
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
            DW_TAG_pointer_type | DW_TAG_reference_type | DW_TAG_rvalue_reference_type => {
                IrType::Ptr(self.type_ref(slots, unit, &e)?)
            }
            DW_TAG_const_type => IrType::Const(self.type_ref(slots, unit, &e)?),
            DW_TAG_volatile_type => IrType::Volatile(self.type_ref(slots, unit, &e)?),
            DW_TAG_restrict_type => IrType::Restrict(self.type_ref(slots, unit, &e)?),
            DW_TAG_typedef => IrType::Typedef {
                name,
                ty: self.type_ref(slots, unit, &e)?,
            },
            DW_TAG_structure_type | DW_TAG_class_type | DW_TAG_union_type => {
                let is_union = tag == DW_TAG_union_type;
                if e.attr_value(DW_AT_declaration)?.is_some() {
                    return Ok(IrType::Fwd { name, is_union });
                }
                let members = self.members(dwarf, unit, slots, off, is_union)?;
                if is_union {
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
                }
            }
            DW_TAG_enumeration_type => self.enumeration(dwarf, unit, slots, off, name, size)?,
            DW_TAG_array_type => {
                let elem = self.type_ref(slots, unit, &e)?;
                let mut dims = Vec::new();
                let mut tree = unit.entries_tree(Some(off))?;
                let root = tree.root()?;
                let mut children = root.children();
                while let Some(child) = children.next()? {
                    let c = child.entry();
                    if c.tag() != DW_TAG_subrange_type {
                        continue;
                    }
                    let n = if let Some(count) = Self::udata(c, DW_AT_count)? {
                        count
                    } else if let Some(ub) = c.attr_value(DW_AT_upper_bound)? {
                        match ub {
                            AttributeValue::Sdata(v) if v < 0 => 0,
                            v => v.udata_value().map_or(0, |u| u + 1),
                        }
                    } else {
                        0
                    };
                    dims.push(n.min(u32::MAX as u64) as u32);
                }
                if dims.is_empty() {
                    dims.push(0);
                }
                let index = self.index_type();
                if !self.nested_arrays {
                    // a[2][3] as a[6], as pahole writes it (and the
                    // kernels' own BTF has it).
                    let total = dims
                        .iter()
                        .try_fold(1u64, |acc, &n| acc.checked_mul(n as u64))
                        .filter(|&t| t <= u32::MAX as u64);
                    return Ok(IrType::Array {
                        elem,
                        index,
                        nelems: total.unwrap_or(0) as u32,
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
                IrType::Array {
                    elem: inner,
                    index,
                    nelems: dims[0],
                }
            }
            DW_TAG_subroutine_type => self.proto(dwarf, unit, slots, off, false)?,
            _ => IrType::Void,
        })
    }

    fn members(
        &mut self,
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
        slots: &HashMap<UnitOffset, Slot>,
        off: UnitOffset,
        is_union: bool,
    ) -> gimli::Result<Vec<IrMember>> {
        use gimli::constants::*;
        let mut out = Vec::new();
        let mut tree = unit.entries_tree(Some(off))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let c = child.entry();
            if c.tag() != DW_TAG_member {
                continue;
            }
            // Static members (C++) have no storage in the object.
            if c.attr_value(DW_AT_external)?.is_some() || c.attr_value(DW_AT_declaration)?.is_some()
            {
                self.skip("static member");
                continue;
            }
            let name = self.name_id(dwarf, unit, c)?;
            let ty = self.type_ref(slots, unit, c)?;
            let byte_off = match c.attr_value(DW_AT_data_member_location)? {
                None => 0,
                Some(AttributeValue::Exprloc(expr)) => {
                    // DW_OP_plus_uconst N, the only form C compilers emit.
                    let mut ops = expr.operations(unit.encoding());
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
            let bit_size = Self::udata(c, DW_AT_bit_size)?.unwrap_or(0);
            let bit_offset = if let Some(dbo) = Self::udata(c, DW_AT_data_bit_offset)? {
                dbo
            } else if let Some(old) = Self::udata(c, DW_AT_bit_offset)? {
                // DWARF 2/3: bits from the most significant end of a storage
                // unit of DW_AT_byte_size (or the type's size).
                let storage = Self::udata(c, DW_AT_byte_size)?.unwrap_or(0) * 8;
                if self.file.little_endian {
                    (byte_off * 8 + storage).saturating_sub(old + bit_size)
                } else {
                    byte_off * 8 + old
                }
            } else {
                byte_off * 8
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
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
        _slots: &HashMap<UnitOffset, Slot>,
        off: UnitOffset,
        name: u32,
        size: u32,
    ) -> gimli::Result<IrType> {
        use gimli::constants::*;
        let mut raw: Vec<(u32, AttributeValue<R<'d>>)> = Vec::new();
        let mut tree = unit.entries_tree(Some(off))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let c = child.entry();
            if c.tag() != DW_TAG_enumerator {
                continue;
            }
            let n = self.name_id(dwarf, unit, c)?;
            if let Some(v) = c.attr_value(DW_AT_const_value)? {
                raw.push((n, v));
            }
        }
        let size = if size == 0 { 4 } else { size };
        let bits = (size * 8).min(64);
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
    fn proto(
        &mut self,
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
        slots: &HashMap<UnitOffset, Slot>,
        off: UnitOffset,
        names: bool,
    ) -> gimli::Result<IrType> {
        use gimli::constants::*;
        let e = unit.entry(off)?;
        let ret = self.type_ref(slots, unit, &e)?;
        let mut params = Vec::new();
        let mut tree = unit.entries_tree(Some(off))?;
        let root = tree.root()?;
        let mut children = root.children();
        while let Some(child) = children.next()? {
            let c = child.entry();
            match c.tag() {
                DW_TAG_formal_parameter => {
                    let name = if names {
                        self.name_id(dwarf, unit, c)?
                    } else {
                        0
                    };
                    let ty = self.type_ref(slots, unit, c)?;
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
    fn function(
        &mut self,
        dwarf: &gimli::Dwarf<R<'d>>,
        unit: &gimli::Unit<R<'d>>,
        slots: &HashMap<UnitOffset, Slot>,
        off: UnitOffset,
    ) -> gimli::Result<()> {
        use gimli::constants::*;
        let e = unit.entry(off)?;
        if e.attr_value(DW_AT_declaration)?.is_some() {
            return Ok(());
        }
        if e.attr_value(DW_AT_low_pc)?.is_none() && e.attr_value(DW_AT_ranges)?.is_none() {
            return Ok(());
        }
        let mut decl = off;
        for _ in 0..4 {
            let d = unit.entry(decl)?;
            match d
                .attr_value(DW_AT_abstract_origin)?
                .or(d.attr_value(DW_AT_specification)?)
            {
                Some(AttributeValue::UnitRef(o)) => decl = o,
                Some(_) => return Ok(()),
                None => break,
            }
        }
        let d = unit.entry(decl)?;
        let Some(name) = self.name(dwarf, unit, &d)? else {
            return Ok(());
        };
        if !self.file.functions.contains(&name) {
            return Ok(());
        }
        let proto = self.proto(dwarf, unit, slots, decl, true)?;
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
