//! Text dumps of every type: bpftool's `format raw` (byte for byte what
//! bpftool 7.1 prints) and JSON lines with the fields of bpftool's `-j`
//! output, one object per type. One deliberate difference in JSON: the
//! value of an unsigned 32-bit enum is the value itself, where bpftool
//! sign-extends the stored `s32` (0x80000000 becomes 18446744071562067968).

use std::io::{self, Write};

use crate::btf::Btf;
use crate::kind::Kind;
use crate::types::{
    func_linkage_name, var_linkage_name, Datasec, EnumValue, EnumValues, Members, Params, Type,
    TypeData, TypeId,
};

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

/// A field of a type, or of an entry of its list, as both dumps name it
/// (bpftool's names; [`Key::raw_name`] has the raw format's own two).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Size,
    BitsOffset,
    NrBits,
    Encoding,
    TypeId,
    IndexTypeId,
    NrElems,
    Vlen,
    BitfieldSize,
    Val,
    FwdKind,
    Linkage,
    RetTypeId,
    Offset,
    ComponentIdx,
    /// The number of a kind this reader does not know.
    KindNumber,
    SizeOrType,
    /// The length in bytes of an unknown kind's record.
    RecordBytes,
}

impl Key {
    /// The key in the JSON dump.
    fn json_name(self) -> &'static str {
        match self {
            Key::Size => "size",
            Key::BitsOffset => "bits_offset",
            Key::NrBits => "nr_bits",
            Key::Encoding => "encoding",
            Key::TypeId => "type_id",
            Key::IndexTypeId => "index_type_id",
            Key::NrElems => "nr_elems",
            Key::Vlen => "vlen",
            Key::BitfieldSize => "bitfield_size",
            Key::Val => "val",
            Key::FwdKind => "fwd_kind",
            Key::Linkage => "linkage",
            Key::RetTypeId => "ret_type_id",
            Key::Offset => "offset",
            Key::ComponentIdx => "component_idx",
            Key::KindNumber => "kind_number",
            Key::SizeOrType => "size_or_type",
            Key::RecordBytes => "record_bytes",
        }
    }

    /// The key in the raw format: the JSON one, except for an unknown
    /// kind's number and record length (in JSON, `kind` is the kind's
    /// name).
    fn raw_name(self) -> &'static str {
        match self {
            Key::KindNumber => "kind",
            Key::RecordBytes => "bytes",
            k => k.json_name(),
        }
    }
}

/// A field's value.
#[derive(Clone, Copy)]
enum Value {
    /// A number (ids, sizes, offsets, counts; a decl tag's component
    /// index is -1 for the declaration itself).
    Num(i64),
    /// A word of a fixed set (an encoding, a linkage, a forward
    /// declaration's kind): quoted in JSON.
    Word(&'static str),
    /// An enumerator's value, which each dump shows in its own way.
    Enumerator(EnumValue),
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Num(n.into())
    }
}

impl From<TypeId> for Value {
    fn from(id: TypeId) -> Self {
        id.0.into()
    }
}

/// The lists of entries a type can have.
#[derive(Clone, Copy)]
enum List {
    Members,
    Values,
    Params,
    Vars,
}

/// A dump's format: what [`walk_type`] hands it, in the order both dumps
/// list a type's fields, it writes. The walk decides what a type's
/// fields are; a writer only how they look.
trait FieldWriter {
    /// A type's entry begins: its id, kind and name (`(anon)` when it has
    /// none).
    fn start(&mut self, t: &Type<'_>, name: &[u8]) -> io::Result<()>;
    /// A field of the type, or of the list entry begun last.
    fn field(&mut self, key: Key, value: Value) -> io::Result<()>;
    /// The type's list of entries begins.
    fn list(&mut self, list: List) -> io::Result<()>;
    /// An entry of the list begins: named (members, enumerators,
    /// parameters) or not (a section's variables).
    fn entry(&mut self, name: Option<&[u8]>) -> io::Result<()>;
    /// What a section's variable places: the kind and name of the type
    /// its entry refers to, when that type exists.
    fn var_target(&mut self, kind: Kind, name: &[u8]) -> io::Result<()>;
    /// The entry begun last ends.
    fn entry_end(&mut self) -> io::Result<()>;
    /// The list ends.
    fn list_end(&mut self) -> io::Result<()>;
    /// The type's entry ends.
    fn end(&mut self) -> io::Result<()>;
}

/// Hands every field of `t` to `w`, in bpftool's order.
fn walk_type(btf: &Btf<'_>, t: &Type<'_>, w: &mut impl FieldWriter) -> io::Result<()> {
    w.start(t, name_or_anon(btf, t.name_off()))?;
    match t.data() {
        TypeData::Int(i) => {
            w.field(Key::Size, i.size.into())?;
            w.field(Key::BitsOffset, i.bit_offset().into())?;
            w.field(Key::NrBits, i.bits().into())?;
            w.field(Key::Encoding, Value::Word(int_encoding_name(i.encoding())))?;
        }
        TypeData::Ptr(r)
        | TypeData::Const(r)
        | TypeData::Volatile(r)
        | TypeData::Restrict(r)
        | TypeData::Typedef(r)
        | TypeData::TypeTag(r) => w.field(Key::TypeId, r.into())?,
        TypeData::Array(a) => {
            w.field(Key::TypeId, a.elem_type.into())?;
            w.field(Key::IndexTypeId, a.index_type.into())?;
            w.field(Key::NrElems, a.nelems.into())?;
        }
        TypeData::Struct(ms) | TypeData::Union(ms) => walk_members(btf, t, ms, w)?,
        TypeData::Enum(vs) => walk_enum(btf, t, vs, w)?,
        TypeData::Fwd { is_union } => {
            let kind = if is_union { "union" } else { "struct" };
            w.field(Key::FwdKind, Value::Word(kind))?;
        }
        TypeData::Func { proto, linkage } => {
            w.field(Key::TypeId, proto.into())?;
            w.field(Key::Linkage, Value::Word(func_linkage_name(linkage)))?;
        }
        TypeData::FuncProto { ret, params } => walk_proto(btf, t, ret, params, w)?,
        TypeData::Var { type_id, linkage } => {
            w.field(Key::TypeId, type_id.into())?;
            w.field(Key::Linkage, Value::Word(var_linkage_name(linkage)))?;
        }
        TypeData::Datasec(ds) => walk_datasec(btf, t, ds, w)?,
        TypeData::Float { size } => w.field(Key::Size, size.into())?,
        TypeData::DeclTag {
            target,
            component_idx,
        } => {
            w.field(Key::TypeId, target.into())?;
            w.field(Key::ComponentIdx, Value::Num(component_idx.into()))?;
        }
        TypeData::Unknown { kind } => {
            w.field(Key::KindNumber, u32::from(kind).into())?;
            w.field(Key::Vlen, t.vlen().into())?;
            w.field(Key::SizeOrType, t.size_or_type().into())?;
            w.field(Key::RecordBytes, Value::Num(t.raw().len() as i64))?;
        }
        TypeData::Void => {}
    }
    w.end()
}

fn size_and_vlen(t: &Type<'_>, w: &mut impl FieldWriter) -> io::Result<()> {
    w.field(Key::Size, t.size_or_type().into())?;
    w.field(Key::Vlen, t.vlen().into())
}

/// A struct's or union's fields and members.
fn walk_members(
    btf: &Btf<'_>,
    t: &Type<'_>,
    ms: Members<'_>,
    w: &mut impl FieldWriter,
) -> io::Result<()> {
    size_and_vlen(t, w)?;
    w.list(List::Members)?;
    for m in ms.iter() {
        w.entry(Some(name_or_anon(btf, m.name_off)))?;
        w.field(Key::TypeId, m.type_id.into())?;
        w.field(Key::BitsOffset, m.bit_offset().into())?;
        if m.bitfield_size() != 0 {
            w.field(Key::BitfieldSize, m.bitfield_size().into())?;
        }
        w.entry_end()?;
    }
    w.list_end()
}

/// An enum's (or enum64's) fields and enumerators.
fn walk_enum(
    btf: &Btf<'_>,
    t: &Type<'_>,
    vs: EnumValues<'_>,
    w: &mut impl FieldWriter,
) -> io::Result<()> {
    let enc = if vs.is_signed() { "SIGNED" } else { "UNSIGNED" };
    w.field(Key::Encoding, Value::Word(enc))?;
    size_and_vlen(t, w)?;
    w.list(List::Values)?;
    for v in vs.iter() {
        w.entry(Some(name_or_anon(btf, v.name_off)))?;
        w.field(Key::Val, Value::Enumerator(v))?;
        w.entry_end()?;
    }
    w.list_end()
}

/// A function prototype's fields and parameters.
fn walk_proto(
    btf: &Btf<'_>,
    t: &Type<'_>,
    ret: TypeId,
    params: Params<'_>,
    w: &mut impl FieldWriter,
) -> io::Result<()> {
    w.field(Key::RetTypeId, ret.into())?;
    w.field(Key::Vlen, t.vlen().into())?;
    w.list(List::Params)?;
    for p in params.iter() {
        w.entry(Some(name_or_anon(btf, p.name_off)))?;
        w.field(Key::TypeId, p.type_id.into())?;
        w.entry_end()?;
    }
    w.list_end()
}

/// A data section's fields and variables, each with the type it places.
fn walk_datasec(
    btf: &Btf<'_>,
    t: &Type<'_>,
    ds: Datasec<'_>,
    w: &mut impl FieldWriter,
) -> io::Result<()> {
    size_and_vlen(t, w)?;
    w.list(List::Vars)?;
    for v in ds.iter() {
        w.entry(None)?;
        w.field(Key::TypeId, v.type_id.into())?;
        w.field(Key::Offset, v.offset.into())?;
        w.field(Key::Size, v.size.into())?;
        if let Ok(vt) = btf.type_by_id(v.type_id) {
            w.var_target(vt.kind(), name_or_anon(btf, vt.name_off()))?;
        }
        w.entry_end()?;
    }
    w.list_end()
}

/// `n` in decimal, as `write!` would print it but without the formatting
/// machinery, whose cost per call showed in dumps of millions of fields.
fn write_num(out: &mut impl Write, n: i64) -> io::Result<()> {
    // 19 digits and a sign: i64::MIN.
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    out.write_all(&buf[at..])
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
    walk_type(
        btf,
        t,
        &mut RawWriter {
            out,
            kind: t.kind(),
            sep: " ",
        },
    )
}

/// bpftool's raw format: `[id] KIND 'name' key=value ...`, each list
/// entry on a line of its own, indented by a tab.
struct RawWriter<'o, W: Write> {
    out: &'o mut W,
    /// The kind of the type being written.
    kind: Kind,
    /// What goes before the next field: a space, or nothing at the start
    /// of an unnamed entry.
    sep: &'static str,
}

impl<W: Write> FieldWriter for RawWriter<'_, W> {
    fn start(&mut self, t: &Type<'_>, name: &[u8]) -> io::Result<()> {
        write!(self.out, "[{}] {} '", t.id(), kind_name(t.kind()))?;
        self.out.write_all(name)?;
        self.out.write_all(b"'")
    }

    fn field(&mut self, key: Key, value: Value) -> io::Result<()> {
        // bpftool prints a VAR as "type_id=%u, linkage=%s".
        let sep = if key == Key::Linkage && self.kind == Kind::Var {
            ", "
        } else {
            self.sep
        };
        self.sep = " ";
        self.out.write_all(sep.as_bytes())?;
        self.out.write_all(key.raw_name().as_bytes())?;
        self.out.write_all(b"=")?;
        match value {
            Value::Num(n) => write_num(self.out, n),
            Value::Word(w) => self.out.write_all(w.as_bytes()),
            Value::Enumerator(v) => match (v.is_64, v.signed) {
                (false, true) => write!(self.out, "{}", v.bits as u32 as i32),
                (false, false) => write!(self.out, "{}", v.bits as u32),
                (true, true) => write!(self.out, "{}LL", v.bits as i64),
                (true, false) => write!(self.out, "{}ULL", v.bits),
            },
        }
    }

    fn list(&mut self, _: List) -> io::Result<()> {
        Ok(())
    }

    fn entry(&mut self, name: Option<&[u8]>) -> io::Result<()> {
        self.out.write_all(b"\n\t")?;
        match name {
            Some(name) => {
                self.out.write_all(b"'")?;
                self.out.write_all(name)?;
                self.out.write_all(b"'")?;
                self.sep = " ";
            }
            None => self.sep = "",
        }
        Ok(())
    }

    fn var_target(&mut self, kind: Kind, name: &[u8]) -> io::Result<()> {
        write!(self.out, " ({} '", kind_name(kind))?;
        self.out.write_all(name)?;
        self.out.write_all(b"')")
    }

    fn entry_end(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn list_end(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn end(&mut self) -> io::Result<()> {
        Ok(())
    }
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
    walk_type(
        btf,
        t,
        &mut JsonWriter {
            out,
            sep: ",",
            entries: 0,
        },
    )
}

/// One JSON object per type: its fields as keys, its list as an array of
/// objects.
struct JsonWriter<'o, W: Write> {
    out: &'o mut W,
    /// What goes before the next key: a comma, or nothing first in an
    /// object.
    sep: &'static str,
    /// Entries written in the current list.
    entries: usize,
}

impl<W: Write> FieldWriter for JsonWriter<'_, W> {
    fn start(&mut self, t: &Type<'_>, name: &[u8]) -> io::Result<()> {
        write!(
            self.out,
            "{{\"id\":{},\"kind\":\"{}\",\"name\":{}",
            t.id(),
            kind_name(t.kind()),
            json_str(name)
        )
    }

    fn field(&mut self, key: Key, value: Value) -> io::Result<()> {
        self.out.write_all(self.sep.as_bytes())?;
        self.sep = ",";
        self.out.write_all(b"\"")?;
        self.out.write_all(key.json_name().as_bytes())?;
        self.out.write_all(b"\":")?;
        match value {
            Value::Num(n) => write_num(self.out, n),
            Value::Word(w) => {
                self.out.write_all(b"\"")?;
                self.out.write_all(w.as_bytes())?;
                self.out.write_all(b"\"")
            }
            Value::Enumerator(v) => write!(self.out, "{}", v.value()),
        }
    }

    fn list(&mut self, list: List) -> io::Result<()> {
        let key = match list {
            List::Members => "members",
            List::Values => "values",
            List::Params => "params",
            List::Vars => "vars",
        };
        self.entries = 0;
        write!(self.out, ",\"{key}\":[")
    }

    fn entry(&mut self, name: Option<&[u8]>) -> io::Result<()> {
        if self.entries > 0 {
            self.out.write_all(b",")?;
        }
        self.entries += 1;
        self.out.write_all(b"{")?;
        match name {
            Some(name) => {
                write!(self.out, "\"name\":{}", json_str(name))?;
                self.sep = ",";
            }
            None => self.sep = "",
        }
        Ok(())
    }

    fn var_target(&mut self, _: Kind, _: &[u8]) -> io::Result<()> {
        // bpftool's JSON gives only the variable's type id.
        Ok(())
    }

    fn entry_end(&mut self) -> io::Result<()> {
        self.sep = ",";
        self.out.write_all(b"}")
    }

    fn list_end(&mut self) -> io::Result<()> {
        self.out.write_all(b"]")
    }

    fn end(&mut self) -> io::Result<()> {
        self.out.write_all(b"}")
    }
}
