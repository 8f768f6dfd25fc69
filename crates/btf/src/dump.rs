//! Text dumps of every type: bpftool's `format raw` (byte for byte what
//! bpftool 7.1 prints) and JSON lines with the fields of bpftool's `-j`
//! output, one object per type. One deliberate difference in JSON: the
//! value of an unsigned 32-bit enum is the value itself, where bpftool
//! sign-extends the stored `s32` (0x80000000 becomes 18446744071562067968).

use std::io::{self, Write};

use crate::btf::Btf;
use crate::kind::Kind;
use crate::types::{func_linkage_name, var_linkage_name, Type, TypeData};

/// Name bytes as bpftool prints them: `(anon)` for offset 0.
fn name_or_anon<'b>(btf: &'b Btf<'_>, off: u32) -> &'b [u8] {
    if off == 0 {
        return b"(anon)";
    }
    btf.str_bytes(off).unwrap_or(b"(invalid)")
}

fn int_encoding_name(enc: u8) -> &'static str {
    match enc {
        0 => "(none)",
        1 => "SIGNED",
        2 => "CHAR",
        4 => "BOOL",
        _ => "UNKN",
    }
}

fn kind_name(k: Kind) -> &'static str {
    k.name()
}

/// Writes every type of `btf` (its own types, not the base's) in bpftool's
/// raw format.
pub fn dump_raw(btf: &Btf<'_>, out: &mut impl Write) -> io::Result<()> {
    for t in btf.types() {
        write_raw_type(btf, &t, out)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One type in bpftool's raw format, without the trailing newline.
pub fn write_raw_type(btf: &Btf<'_>, t: &Type<'_>, out: &mut impl Write) -> io::Result<()> {
    write!(out, "[{}] {} '", t.id(), kind_name(t.kind()))?;
    out.write_all(name_or_anon(btf, t.name_off()))?;
    out.write_all(b"'")?;
    match t.data() {
        TypeData::Int(i) => write!(
            out,
            " size={} bits_offset={} nr_bits={} encoding={}",
            i.size,
            i.bit_offset(),
            i.bits(),
            int_encoding_name(i.encoding())
        )?,
        TypeData::Ptr(r)
        | TypeData::Const(r)
        | TypeData::Volatile(r)
        | TypeData::Restrict(r)
        | TypeData::Typedef(r)
        | TypeData::TypeTag(r) => write!(out, " type_id={r}")?,
        TypeData::Array(a) => write!(
            out,
            " type_id={} index_type_id={} nr_elems={}",
            a.elem_type, a.index_type, a.nelems
        )?,
        TypeData::Struct(ms) | TypeData::Union(ms) => {
            write!(out, " size={} vlen={}", t.size_or_type(), t.vlen())?;
            for m in ms.iter() {
                out.write_all(b"\n\t'")?;
                out.write_all(name_or_anon(btf, m.name_off))?;
                write!(
                    out,
                    "' type_id={} bits_offset={}",
                    m.type_id,
                    m.bit_offset()
                )?;
                if m.bitfield_size() != 0 {
                    write!(out, " bitfield_size={}", m.bitfield_size())?;
                }
            }
        }
        TypeData::Enum(vs) => {
            let enc = if vs.is_signed() { "SIGNED" } else { "UNSIGNED" };
            write!(
                out,
                " encoding={enc} size={} vlen={}",
                t.size_or_type(),
                t.vlen()
            )?;
            for v in vs.iter() {
                out.write_all(b"\n\t'")?;
                out.write_all(name_or_anon(btf, v.name_off))?;
                match (vs.is_64(), vs.is_signed()) {
                    (false, true) => write!(out, "' val={}", v.bits as u32 as i32)?,
                    (false, false) => write!(out, "' val={}", v.bits as u32)?,
                    (true, true) => write!(out, "' val={}LL", v.bits as i64)?,
                    (true, false) => write!(out, "' val={}ULL", v.bits)?,
                }
            }
        }
        TypeData::Fwd { is_union } => write!(
            out,
            " fwd_kind={}",
            if is_union { "union" } else { "struct" }
        )?,
        TypeData::Func { proto, linkage } => write!(
            out,
            " type_id={proto} linkage={}",
            func_linkage_name(linkage)
        )?,
        TypeData::FuncProto { ret, params } => {
            write!(out, " ret_type_id={ret} vlen={}", t.vlen())?;
            for p in params.iter() {
                out.write_all(b"\n\t'")?;
                out.write_all(name_or_anon(btf, p.name_off))?;
                write!(out, "' type_id={}", p.type_id)?;
            }
        }
        TypeData::Var { type_id, linkage } => write!(
            out,
            " type_id={type_id}, linkage={}",
            var_linkage_name(linkage)
        )?,
        TypeData::Datasec(ds) => {
            write!(out, " size={} vlen={}", t.size_or_type(), t.vlen())?;
            for v in ds.iter() {
                write!(
                    out,
                    "\n\ttype_id={} offset={} size={}",
                    v.type_id, v.offset, v.size
                )?;
                if let Ok(vt) = btf.type_by_id(v.type_id) {
                    write!(out, " ({} '", kind_name(vt.kind()))?;
                    out.write_all(name_or_anon(btf, vt.name_off()))?;
                    out.write_all(b"')")?;
                }
            }
        }
        TypeData::Float { size } => write!(out, " size={size}")?,
        TypeData::DeclTag {
            target,
            component_idx,
        } => write!(out, " type_id={target} component_idx={component_idx}")?,
        TypeData::Unknown { kind } => write!(
            out,
            " kind={kind} vlen={} size_or_type={} bytes={}",
            t.vlen(),
            t.size_or_type(),
            t.raw().len()
        )?,
        TypeData::Void => {}
    }
    Ok(())
}

/// JSON string literal of name bytes (lossy for non-UTF-8), escaped as
/// serde_json does (and bpftool's JSON writer for names): `"`, `\\` and
/// control characters; everything else as is.
fn json_str(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Writes one JSON object per line per type, with the keys and values of
/// bpftool's `btf dump -j ... format raw` entries.
pub fn dump_json(btf: &Btf<'_>, out: &mut impl Write) -> io::Result<()> {
    for t in btf.types() {
        write_json_type(btf, &t, out)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// One type as a JSON object (the keys of bpftool's `-j` raw dump),
/// without the trailing newline.
pub fn write_json_type(btf: &Btf<'_>, t: &Type<'_>, out: &mut impl Write) -> io::Result<()> {
    let name = |off| json_str(name_or_anon(btf, off));
    write!(
        out,
        "{{\"id\":{},\"kind\":\"{}\",\"name\":{}",
        t.id(),
        kind_name(t.kind()),
        name(t.name_off())
    )?;
    match t.data() {
        TypeData::Int(i) => write!(
            out,
            ",\"size\":{},\"bits_offset\":{},\"nr_bits\":{},\"encoding\":\"{}\"",
            i.size,
            i.bit_offset(),
            i.bits(),
            int_encoding_name(i.encoding())
        )?,
        TypeData::Ptr(r)
        | TypeData::Const(r)
        | TypeData::Volatile(r)
        | TypeData::Restrict(r)
        | TypeData::Typedef(r)
        | TypeData::TypeTag(r) => write!(out, ",\"type_id\":{r}")?,
        TypeData::Array(a) => write!(
            out,
            ",\"type_id\":{},\"index_type_id\":{},\"nr_elems\":{}",
            a.elem_type, a.index_type, a.nelems
        )?,
        TypeData::Struct(ms) | TypeData::Union(ms) => {
            write!(
                out,
                ",\"size\":{},\"vlen\":{},\"members\":[",
                t.size_or_type(),
                t.vlen()
            )?;
            for (i, m) in ms.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                write!(
                    out,
                    "{sep}{{\"name\":{},\"type_id\":{},\"bits_offset\":{}",
                    name(m.name_off),
                    m.type_id,
                    m.bit_offset()
                )?;
                if m.bitfield_size() != 0 {
                    write!(out, ",\"bitfield_size\":{}", m.bitfield_size())?;
                }
                out.write_all(b"}")?;
            }
            out.write_all(b"]")?;
        }
        TypeData::Enum(vs) => {
            let enc = if vs.is_signed() { "SIGNED" } else { "UNSIGNED" };
            write!(
                out,
                ",\"encoding\":\"{enc}\",\"size\":{},\"vlen\":{},\"values\":[",
                t.size_or_type(),
                t.vlen()
            )?;
            for (i, v) in vs.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                write!(
                    out,
                    "{sep}{{\"name\":{},\"val\":{}}}",
                    name(v.name_off),
                    v.value()
                )?;
            }
            out.write_all(b"]")?;
        }
        TypeData::Fwd { is_union } => write!(
            out,
            ",\"fwd_kind\":\"{}\"",
            if is_union { "union" } else { "struct" }
        )?,
        TypeData::Func { proto, linkage } => write!(
            out,
            ",\"type_id\":{proto},\"linkage\":\"{}\"",
            func_linkage_name(linkage)
        )?,
        TypeData::FuncProto { ret, params } => {
            write!(
                out,
                ",\"ret_type_id\":{ret},\"vlen\":{},\"params\":[",
                t.vlen()
            )?;
            for (i, p) in params.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                write!(
                    out,
                    "{sep}{{\"name\":{},\"type_id\":{}}}",
                    name(p.name_off),
                    p.type_id
                )?;
            }
            out.write_all(b"]")?;
        }
        TypeData::Var { type_id, linkage } => write!(
            out,
            ",\"type_id\":{type_id},\"linkage\":\"{}\"",
            var_linkage_name(linkage)
        )?,
        TypeData::Datasec(ds) => {
            write!(
                out,
                ",\"size\":{},\"vlen\":{},\"vars\":[",
                t.size_or_type(),
                t.vlen()
            )?;
            for (i, v) in ds.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                write!(
                    out,
                    "{sep}{{\"type_id\":{},\"offset\":{},\"size\":{}}}",
                    v.type_id, v.offset, v.size
                )?;
            }
            out.write_all(b"]")?;
        }
        TypeData::Float { size } => write!(out, ",\"size\":{size}")?,
        TypeData::DeclTag {
            target,
            component_idx,
        } => write!(
            out,
            ",\"type_id\":{target},\"component_idx\":{component_idx}"
        )?,
        TypeData::Unknown { kind } => write!(
            out,
            ",\"kind_number\":{kind},\"vlen\":{},\"size_or_type\":{},\"record_bytes\":{}",
            t.vlen(),
            t.size_or_type(),
            t.raw().len()
        )?,
        TypeData::Void => {}
    }
    out.write_all(b"}")
}
