//! Parse-time checks of what types mean, with the kernel's own rules
//! (`kernel/bpf/btf.c`: each kind's `check_meta`, `btf_struct_resolve`,
//! `btf_int_check_member`, `btf_array_resolve`), so that every consumer
//! (C dumps, dedup, CO-RE, minimization) sees only sound BTF.
//!
//! What is checked, per kind:
//! - every kind: kind_flag only on STRUCT, UNION, ENUM, ENUM64, FWD and
//!   the tags (the kernel's "Invalid btf_info kind_flag"); a vlen only on
//!   kinds with members, values, parameters or variables (and a FUNC's
//!   linkage) ("vlen != 0").
//! - INT: no vlen or kind_flag; no encoding bits beyond signed, char and
//!   bool; offset + bits ≤ 128 and within the type's size.
//! - STRUCT/UNION: no void member; struct members in non-decreasing
//!   offset order, union members at offset 0; every member inside its
//!   struct (bitfields by their storage bits, the rest by their type's
//!   size); members whose type has no size (a forward declaration, a
//!   function) refused; a bitfield only of an int or enum, no wider than
//!   it; no struct containing itself by value.
//! - ENUM/ENUM64: size 1, 2, 4 or 8 (or 0 for a declaration without
//!   values).
//! - ARRAY: total size within `u32`.
//! - modifiers, typedefs, arrays: no reference cycle.
//! - FUNC: linkage static, global or extern, pointing to a FUNC_PROTO.
//! - VAR: linkage static, global or extern.
//! - every name referenced by a type is UTF-8.
//!
//! Left to the kernel's loader, because object files legitimately break
//! them before libbpf fixes them up: DATASEC sizes and variable offsets
//! (0 in an object), identifier syntax of names (pahole's INT names have
//! spaces, section names dots). Kinds this reader does not know (from a
//! kind-layout section) are skipped.

use crate::btf::Btf;
use crate::error::{Error, Result};
use crate::kind::{info_kind, Kind};
use crate::types::{Member, Type, TypeId};

/// A type that breaks a rule, as an [`Error::InvalidType`].
fn invalid(btf: &Btf<'_>, id: u32, reason: String) -> Error {
    let t = btf.type_by_id(TypeId(id));
    Error::InvalidType {
        id: TypeId(id),
        offset: btf.record_offset(TypeId(id)),
        kind: t.as_ref().map_or(Kind::Void, |t| t.kind()),
        name: t
            .ok()
            .and_then(|t| btf.str_at(t.name_off()).ok())
            .unwrap_or("?")
            .to_string(),
        reason,
    }
}

/// Type sections smaller than this are checked on one thread.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// Runs every check over the types of `btf` (not its base, which was
/// checked when it was parsed), on up to `threads` threads.
///
/// The parse's walk over the records gathered what the checks need of
/// each type into a dense table ([`Shape`]); each type is checked alone
/// from it, then the [`Value`] (what a member holding it by value sees)
/// of every typedef, modifier and array is resolved, and the members of
/// structs and unions are checked against the values of their types
/// instead of following references into records spread over the type
/// section, split between threads.
pub(crate) fn validate(btf: &Btf<'_>, shapes: &[Shape], threads: usize) -> Result<()> {
    check_names(btf)?;
    settle_pointer_size(btf, shapes);
    let composites = check_shapes(btf, shapes)?;
    let values = resolve_values(btf, shapes)?;
    let check = RefCheck {
        btf,
        shapes,
        values: &values,
    };
    let mut tight = if threads > 1 && btf.types_section().len() >= PARALLEL_MIN_BYTES {
        check.run_parallel(&composites, threads)?
    } else {
        check.run(&composites)?
    };
    check_by_value_cycles(btf, &mut tight)
}

/// Sets the pointer size members of pointer type take (libbpf's rule,
/// `Btf::pointer_size`) from the shapes: its usual way asks the name
/// index, which a parse with `lazy_names` has not built, and would build
/// it for this alone.
fn settle_pointer_size(btf: &Btf<'_>, shapes: &[Shape]) {
    if btf.base().is_some() || btf.ptr_size.get().is_some() {
        return;
    }
    let first = btf.first_id().0;
    let long = shapes.iter().enumerate().find_map(|(i, s)| {
        let is_long = s.kind == INT
            && matches!(s.word, 4 | 8)
            && btf
                .type_by_id(TypeId(first + i as u32))
                .ok()
                .and_then(|t| btf.str_at(t.name_off()).ok())
                .is_some_and(|n| crate::query::LONG_ALIASES.contains(&n));
        is_long.then_some(s.word)
    });
    let _ = btf.ptr_size.set(long.unwrap_or(8));
}

// Kind numbers, for the passes that read records raw.
const INT: u8 = 1;
const PTR: u8 = 2;
const ARRAY: u8 = 3;
const STRUCT: u8 = 4;
const UNION: u8 = 5;
const ENUM: u8 = 6;
const FWD: u8 = 7;
const FUNC: u8 = 12;
const FUNC_PROTO: u8 = 13;
const VAR: u8 = 14;
const DATASEC: u8 = 15;
const FLOAT: u8 = 16;
const DECL_TAG: u8 = 17;
const TYPE_TAG: u8 = 18;
const ENUM64: u8 = 19;

/// Whether a kind refers to another type by value without a size of its
/// own (typedefs and modifiers, as `skip_mods_and_typedefs` follows them;
/// arrays multiply it).
fn is_chain(kind: u8) -> bool {
    Kind::from_raw(kind).is_modifier_or_typedef()
}

/// What the checks need of a type, from its own record: gathered by the
/// parse's walk over the records (`scan`), so that no check reads the
/// records again except those of structs and unions.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    /// Kind number.
    pub(crate) kind: u8,
    /// Whether `info` has a vlen (kinds without members must not).
    pub(crate) has_vlen: bool,
    /// Whether `info` has the kind_flag (only some kinds take it).
    pub(crate) kflag: bool,
    /// Size (INT, STRUCT, UNION, ENUM, FLOAT), referenced type (PTR,
    /// typedefs, modifiers, FUNC), element type (ARRAY).
    pub(crate) word: u32,
    /// INT data word; ARRAY element count; VAR linkage; otherwise vlen
    /// (a FUNC's linkage).
    pub(crate) extra: u32,
}

/// Kinds whose kind_flag means something (the kernel's `check_meta`s
/// refuse it on the others): bitfield encoding of STRUCT/UNION members,
/// signedness of ENUM/ENUM64, union-ness of FWD, attribute tags (6.13+).
/// Kinds this reader does not know are not judged.
fn takes_kflag(kind: u8) -> bool {
    matches!(
        kind,
        STRUCT | UNION | ENUM | FWD | ENUM64 | DECL_TAG | TYPE_TAG
    ) || kind > ENUM64
}

/// Kinds whose vlen means something: members, values, parameters,
/// variables, a FUNC's linkage. The kernel refuses a vlen on the others.
/// Kinds this reader does not know are not judged.
fn takes_vlen(kind: u8) -> bool {
    matches!(
        kind,
        STRUCT | UNION | ENUM | FUNC | FUNC_PROTO | DATASEC | ENUM64
    ) || kind > ENUM64
}

/// The checks of each type alone, and of each function's prototype.
/// Returns the indices of the structs and unions.
fn check_shapes(btf: &Btf<'_>, shapes: &[Shape]) -> Result<Vec<u32>> {
    let first = btf.first_id().0;
    let mut composites = Vec::new();
    for (idx, &shape) in shapes.iter().enumerate() {
        let reason = match shape.kind {
            STRUCT | UNION => {
                composites.push(idx as u32);
                continue;
            }
            FUNC => check_func(btf, shapes, shape),
            _ => check_alone(shape),
        };
        if let Some(reason) = reason {
            return Err(invalid(btf, first + idx as u32, reason));
        }
    }
    Ok(composites)
}

/// A FUNC: a known linkage, and a FUNC_PROTO under its typedefs.
fn check_func(btf: &Btf<'_>, shapes: &[Shape], shape: Shape) -> Option<String> {
    if let Some(reason) = check_alone(shape) {
        return Some(reason);
    }
    let proto = shape.word;
    let kind = kind_under_chain(btf, shapes, proto);
    (kind != Kind::FuncProto)
        .then(|| format!("refers to type id {proto} of kind {kind}, not a FUNC_PROTO"))
}

/// A type's kind under typedefs and modifiers.
fn kind_under_chain(btf: &Btf<'_>, shapes: &[Shape], mut id: u32) -> Kind {
    let first = btf.first_id().0;
    for _ in 0..crate::MAX_CHAIN {
        let Some(i) = id.checked_sub(first).filter(|_| id != 0) else {
            return btf
                .skip_mods_and_typedefs(TypeId(id))
                .map_or(Kind::Void, |t| t.kind());
        };
        match shapes.get(i as usize) {
            Some(s) if is_chain(s.kind) => id = s.word,
            Some(s) => return Kind::from_raw(s.kind),
            None => return Kind::Void,
        }
    }
    Kind::Void
}

/// The checks of a type that need nothing but its own record.
fn check_alone(shape: Shape) -> Option<String> {
    if shape.kflag && !takes_kflag(shape.kind) {
        // The kernel: "Invalid btf_info kind_flag".
        return Some(
            "kind_flag is set: only STRUCT, UNION, ENUM, ENUM64, FWD and the tags take it".into(),
        );
    }
    if shape.has_vlen && !takes_vlen(shape.kind) {
        // The kernel: "vlen != 0".
        return Some(format!(
            "vlen is not 0: a {} has no members",
            Kind::from_raw(shape.kind).name()
        ));
    }
    match shape.kind {
        INT => check_int(shape),
        // Size 0 only for a declaration without values (clang writes
        // `enum e;` used as an incomplete type so).
        ENUM | ENUM64 if !matches!((shape.word, shape.extra), (1 | 2 | 4 | 8, _) | (0, 0)) => {
            Some(format!("size {} is not 1, 2, 4 or 8", shape.word))
        }
        // Static, global or extern (extern only in objects: libbpf
        // resolves it before the kernel sees it).
        FUNC | VAR if shape.extra > 2 => Some(format!("unknown linkage {}", shape.extra)),
        _ => None,
    }
}

fn check_int(shape: Shape) -> Option<String> {
    let (size, data) = (shape.word, shape.extra);
    let (encoding, offset, bits) = (data >> 24, (data >> 16) & 0xff, data & 0xff);
    if shape.has_vlen || shape.kflag {
        Some("an INT has no vlen or kind_flag".into())
    } else if data & !0x0fff_ffff != 0 {
        Some(format!("int data {data:#x} has bits beyond its fields set"))
    } else if offset + bits > 128 {
        Some(format!("offset {offset} + {bits} bits exceeds 128 bits"))
    } else if (offset + bits).div_ceil(8) > size {
        Some(format!(
            "{bits} bits at offset {offset} do not fit in {size} bytes"
        ))
    } else if encoding & !7 != 0 {
        // The kernel takes one of signed, char and bool; libbpf's writer
        // (`btf__add_int`) also combinations of them, harmless to every
        // reader: only unknown bits are refused.
        Some(format!("unknown encoding {encoding:#x}"))
    } else {
        None
    }
}

/// Names must be UTF-8. Real BTF is almost always ASCII throughout,
/// which one pass over the string section shows; only otherwise is each
/// referenced name checked (an object's string section also holds the
/// source lines of its line info, which need not be UTF-8).
fn check_names(btf: &Btf<'_>) -> Result<()> {
    if btf.strings_section().is_ascii() {
        return Ok(());
    }
    for t in btf.types() {
        let mut bad = None;
        t.for_each_str_off(|off| {
            if bad.is_none()
                && btf
                    .str_bytes(off)
                    .is_ok_and(|b| std::str::from_utf8(b).is_err())
            {
                bad = Some(off);
            }
        });
        if let Some(str_off) = bad {
            return Err(invalid(
                btf,
                t.id().0,
                format!("a name at string offset {str_off} is not valid UTF-8"),
            ));
        }
    }
    Ok(())
}

/// The second pass: members and functions, checked against the values
/// of the types they refer to.
struct RefCheck<'r, 'a> {
    btf: &'r Btf<'a>,
    shapes: &'r [Shape],
    values: &'r ChainValues,
}

impl RefCheck<'_, '_> {
    /// Checks the structs and unions at `indices`; returns the tight
    /// edges.
    fn run(&self, indices: &[u32]) -> Result<Vec<TightEdge>> {
        let first = self.btf.first_id().0;
        let mut tight = Vec::new();
        for &idx in indices {
            let t = self.btf.type_by_id(TypeId(first + idx))?;
            self.check_members(&t, &mut tight)?;
        }
        Ok(tight)
    }

    /// `run` over `threads` slices of `indices`; the error reported is
    /// the one of the lowest type id, as on one thread.
    fn run_parallel(&self, indices: &[u32], threads: usize) -> Result<Vec<TightEdge>> {
        let per = indices.len().div_ceil(threads).max(1);
        let results: Vec<Result<Vec<TightEdge>>> = std::thread::scope(|s| {
            let mut slices = indices.chunks(per);
            let mine = slices.next().unwrap_or(&[]);
            let handles: Vec<_> = slices.map(|c| s.spawn(move || self.run(c))).collect();
            let mut results = vec![self.run(mine)];
            results.extend(
                handles
                    .into_iter()
                    .map(|h| h.join().expect("validation thread")),
            );
            results
        });
        let mut tight = Vec::new();
        for r in results {
            tight.extend(r?);
        }
        Ok(tight)
    }

    fn check_members(&self, t: &Type<'_>, tight: &mut Vec<TightEdge>) -> Result<()> {
        let size = t.size_or_type();
        let is_union = t.kind() == Kind::Union;
        let mut last = 0u32;
        for (i, m) in t.members().expect("a struct or union").iter().enumerate() {
            let member_err = |reason: String| {
                let name = self.btf.str_at(m.name_off).unwrap_or("?");
                let at = m.bit_offset();
                invalid(
                    self.btf,
                    t.id().0,
                    format!("member #{i} {name:?} at bit {at}: {reason}"),
                )
            };
            let off = m.bit_offset();
            if is_union && off != 0 {
                return Err(member_err("a union member must be at offset 0".into()));
            }
            if off < last {
                return Err(member_err(format!(
                    "comes before the previous member (bit {last})"
                )));
            }
            last = off;
            let value = self.value(m.type_id.0).map_err(member_err)?;
            let need = member_bytes(&m, &value).map_err(member_err)?;
            let byte_off = off / 8;
            if byte_off > size || size - byte_off < need {
                let what = if is_union { "union" } else { "struct" };
                return Err(member_err(format!(
                    "needs {need} bytes at byte {byte_off}, beyond the {size}-byte {what}"
                )));
            }
            if value.composite() != 0 && (value.zero_elems || need == size) {
                tight.push(TightEdge {
                    from: t.id().0,
                    to: value.composite(),
                    member: i as u32,
                });
            }
        }
        Ok(())
    }

    /// The value of a member's type: this BTF's from the table, a base's
    /// asked of the base.
    fn value(&self, id: u32) -> std::result::Result<Value, String> {
        if id == 0 {
            return Err("has type void".into());
        }
        let Some(i) = id.checked_sub(self.btf.first_id().0) else {
            return base_value(self.btf, id);
        };
        let shape = self.shapes[i as usize];
        Ok(if is_chain(shape.kind) || shape.kind == ARRAY {
            self.values.get(i as usize)
        } else {
            terminal_value(self.btf, id, shape)
        })
    }
}

/// The bytes a member needs from its byte offset, by the kernel's rules:
/// a bitfield (kind_flag bitfield size, or an INT with fewer bits than
/// its size in a struct without kind_flag) its bits plus the bit offset
/// within the first byte; any other member its type's size, starting on
/// a byte boundary.
fn member_bytes(m: &Member, value: &Value) -> std::result::Result<u32, String> {
    let bit_in_byte = m.bit_offset() % 8;
    let bitfield = m.bitfield_size();
    let kind = Kind::from_raw(value.kind);
    if !value.sized {
        return Err(format!("type id {} of kind {kind} has no size", m.type_id));
    }
    match value.kind {
        INT => {
            let (int_offset, int_bits) = ((value.aux >> 16) & 0xff, value.aux & 0xff);
            if bitfield > int_bits {
                return Err(format!(
                    "bitfield of {bitfield} bits in a {int_bits}-bit int"
                ));
            }
            // A kind_flag bitfield gives its width in the member; without
            // kind_flag the INT's own offset and bits describe it.
            let bits = if bitfield > 0 { bitfield } else { int_bits };
            let start = bit_in_byte + int_offset;
            if start % 8 + bits > 128 {
                let at = start % 8;
                return Err(format!(
                    "{bits} bits from bit {at} of a byte span more than 128 bits"
                ));
            }
            Ok((start + bits).div_ceil(8))
        }
        ENUM | ENUM64 => {
            let width = value.size * 8;
            if bitfield > width {
                return Err(format!("bitfield of {bitfield} bits in a {width}-bit enum"));
            }
            // The kernel wants whole enums byte aligned; pahole's older
            // output put enum bitfields in structs without kind_flag, so
            // only the bounds are held to.
            Ok((bit_in_byte + if bitfield > 0 { bitfield } else { width }).div_ceil(8))
        }
        _ if bitfield > 0 => Err(format!("bitfield of {kind} type")),
        _ if bit_in_byte != 0 => Err("not byte aligned".into()),
        _ => Ok(value.size),
    }
}

/// An edge of the contains-by-value graph that could lie on a cycle: a
/// struct or union `from` holding `to` by value where the bounds check
/// alone cannot rule a cycle out (see [`check_by_value_cycles`]).
struct TightEdge {
    from: u32,
    to: u32,
    member: u32,
}

/// Cycles of by-value containment (`struct foo { struct foo f; }`,
/// possibly through other structs, typedefs and arrays), which the
/// kernel refuses ("Loop detected") and on which any size-driven walk
/// would recurse forever.
///
/// Only tight edges can lie on such a cycle: around a cycle every struct
/// holds the next within its size, so all the sizes are equal and each
/// held whole (or an array of zero elements breaks the chain of
/// inequalities); every other edge was ruled out by the bounds check.
fn check_by_value_cycles(btf: &Btf<'_>, edges: &mut [TightEdge]) -> Result<()> {
    if edges.is_empty() {
        return Ok(());
    }
    edges.sort_unstable_by_key(|e| e.from);
    let out = |node: u32| {
        let start = edges.partition_point(|e| e.from < node);
        let end = edges.partition_point(|e| e.from <= node);
        start..end
    };
    const ON_STACK: u8 = 1;
    const DONE: u8 = 2;
    let first = btf.first_id().0;
    let mut state = vec![0u8; btf.len()];
    let slot = |id: u32| (id - first) as usize;
    for root in edges.iter().map(|e| e.from) {
        if state[slot(root)] != 0 {
            continue;
        }
        let mut stack = vec![(root, out(root))];
        state[slot(root)] = ON_STACK;
        while let Some((node, range)) = stack.last_mut() {
            let Some(i) = range.next() else {
                state[slot(*node)] = DONE;
                stack.pop();
                continue;
            };
            let edge = &edges[i];
            match state[slot(edge.to)] {
                0 => {
                    state[slot(edge.to)] = ON_STACK;
                    stack.push((edge.to, out(edge.to)));
                }
                ON_STACK => {
                    return Err(invalid(
                        btf,
                        edge.from,
                        format!(
                            "contains itself by value (member #{} leads back to type id {})",
                            edge.member, edge.to
                        ),
                    ));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// A type as a member holding it by value sees it: through typedefs and
/// modifiers, and for the size and the composite through arrays.
#[derive(Clone, Copy, Default)]
struct Value {
    /// Kind number under typedefs and modifiers (ARRAY for arrays).
    kind: u8,
    /// Whether the type has a size (not a forward declaration, function,
    /// void).
    sized: bool,
    /// Some array on the way has no elements.
    zero_elems: bool,
    /// Size in bytes, arrays multiplied out.
    size: u32,
    /// The INT data word of an INT; the id of the struct or union of this
    /// BTF held by value (through arrays), or 0, otherwise.
    aux: u32,
}

impl Value {
    fn composite(&self) -> u32 {
        if self.kind == INT {
            0
        } else {
            self.aux
        }
    }
}

/// The value of a type that refers to nothing by value.
fn terminal_value(btf: &Btf<'_>, id: u32, shape: Shape) -> Value {
    let sized = matches!(
        shape.kind,
        INT | STRUCT | UNION | ENUM | ENUM64 | FLOAT | PTR
    );
    Value {
        kind: shape.kind,
        sized,
        zero_elems: false,
        size: match shape.kind {
            PTR => btf.pointer_size(),
            _ if sized => shape.word,
            _ => 0,
        },
        aux: match shape.kind {
            INT => shape.extra,
            STRUCT | UNION => id,
            _ => 0,
        },
    }
}

/// A base type's value (split BTF): the base was checked when it was
/// parsed, and cannot hold this BTF's types, so there is no composite.
fn base_value(btf: &Btf<'_>, id: u32) -> std::result::Result<Value, String> {
    let Some(base) = btf.base() else {
        return Err(format!("type id {id} does not exist"));
    };
    let in_base = |e: Error| format!("in the base BTF: {e}");
    let outer = base.type_by_id(TypeId(id)).map_err(in_base)?;
    let t = base.skip_mods_and_typedefs(TypeId(id)).map_err(in_base)?;
    let size = base.resolve_size(TypeId(id)).ok();
    let is_array = base
        .skip_mods_and_typedefs(outer.id())
        .is_ok_and(|u| u.kind() == Kind::Array);
    Ok(Value {
        kind: if is_array { ARRAY } else { info_kind(t.info()) },
        sized: size.is_some(),
        zero_elems: false,
        size: size.unwrap_or(0) as u32,
        aux: t.int().map_or(0, |i| i.data),
    })
}

/// Resolves the [`Value`] of every own typedef, modifier and array (the
/// other types' values need only their shape) in id order, memoized and
/// iteratively (a chain of any length costs once and cannot overflow the
/// stack). Reference cycles through typedefs, modifiers and arrays, and
/// arrays larger than 4 GiB, are errors of the type they are found from.
fn resolve_values(btf: &Btf<'_>, shapes: &[Shape]) -> Result<ChainValues> {
    const BUSY: u8 = 1;
    const DONE: u8 = 2;
    let first = btf.first_id().0;
    let mut values = ChainValues::new(shapes.len());
    let mut state = vec![0u8; shapes.len()];
    let mut path: Vec<usize> = Vec::new();
    for start in 0..shapes.len() {
        let kind = shapes[start].kind;
        if state[start] == DONE || !(is_chain(kind) || kind == ARRAY) {
            continue;
        }
        let fail = |reason: String| invalid(btf, first + start as u32, reason);
        path.clear();
        let mut i = start;
        // Down the chain to a type whose value is known or final.
        let mut value = loop {
            let shape = shapes[i];
            if state[i] == DONE {
                break values.get(i);
            }
            if state[i] == BUSY {
                let id = first + i as u32;
                return Err(fail(format!("reference cycle through type id {id}")));
            }
            if !is_chain(shape.kind) && shape.kind != ARRAY {
                break terminal_value(btf, first + i as u32, shape);
            }
            state[i] = BUSY;
            path.push(i);
            let next = shape.word;
            if next == 0 {
                break terminal_value(
                    btf,
                    0,
                    Shape {
                        kind: 0,
                        has_vlen: false,
                        kflag: false,
                        word: 0,
                        extra: 0,
                    },
                );
            }
            match next.checked_sub(first) {
                Some(n) => i = n as usize,
                None => break base_value(btf, next).map_err(fail)?,
            }
        };
        // Back up: arrays multiply, the rest pass the value through.
        while let Some(p) = path.pop() {
            let shape = shapes[p];
            if shape.kind == ARRAY {
                let size = value.size as u64 * shape.extra as u64;
                if size > u32::MAX as u64 {
                    let id = first + p as u32;
                    return Err(fail(format!("array type id {id} is larger than 4 GiB")));
                }
                value = Value {
                    kind: ARRAY,
                    size: size as u32,
                    zero_elems: value.zero_elems || shape.extra == 0,
                    aux: value.composite(),
                    ..value
                };
            }
            values.set(p, value);
            state[p] = DONE;
        }
    }
    Ok(values)
}

/// The values of the typedefs, modifiers and arrays, by type index: a
/// few percent of a kernel's types, so they are stored densely behind an
/// index that stays zero (untouched, unallocated pages) for the rest.
struct ChainValues {
    /// Per type: 0, or 1 + the position of its value in `values`.
    slot: Vec<u32>,
    values: Vec<Value>,
}

impl ChainValues {
    fn new(types: usize) -> Self {
        ChainValues {
            slot: vec![0; types],
            values: Vec::new(),
        }
    }

    fn get(&self, idx: usize) -> Value {
        match self.slot[idx] {
            0 => Value::default(),
            s => self.values[s as usize - 1],
        }
    }

    fn set(&mut self, idx: usize, v: Value) {
        self.values.push(v);
        self.slot[idx] = self.values.len() as u32;
    }
}
