//! Access specs: the parsed form of a relocation's access string against a
//! BTF. The low-level spec (`raw`) has one index per access-string element,
//! anonymous members included; the high-level spec (`accessors`) keeps only
//! the meaningful points: the root element, named fields, array indices.

use std::fmt::Write as _;

use btfkit_btf::{Btf, Kind, TypeData, TypeId};

use crate::error::{MalformedBtf, ReloErrorKind};
use crate::kind::RelocKind;

/// Longest access path, as in libbpf (`BPF_CORE_SPEC_MAX_LEN`).
pub const SPEC_MAX_LEN: usize = 64;

/// One high-level step of an access path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accessor<'b> {
    /// The struct/union holding the named member, or the element type of
    /// an array access (the root type for the first accessor).
    pub type_id: TypeId,
    pub idx: u32,
    /// Member or enumerator name; `None` for array indexing.
    pub name: Option<&'b [u8]>,
}

/// A relocation's spec against one BTF (local or a target candidate).
#[derive(Clone, Debug)]
pub struct Spec<'b> {
    pub btf: &'b Btf<'b>,
    pub root_type_id: TypeId,
    pub kind: RelocKind,
    pub raw: Vec<u32>,
    pub accessors: Vec<Accessor<'b>>,
    pub bit_offset: u32,
}

/// Length of a name without its `___flavor` suffix: the name up to the
/// last `X___Y` separator where X and Y are not underscores.
pub fn essential_name_len(name: &[u8]) -> usize {
    let n = name.len();
    if n < 5 {
        return n;
    }
    (0..=n - 5)
        .rev()
        .find(|&i| {
            name[i] != b'_'
                && name[i + 1] == b'_'
                && name[i + 2] == b'_'
                && name[i + 3] == b'_'
                && name[i + 4] != b'_'
        })
        .map_or(n, |i| i + 1)
}

pub(crate) fn btf_err(e: btfkit_btf::Error) -> ReloErrorKind {
    ReloErrorKind::Btf(e.into())
}

/// libbpf's `is_flex_arr`: a zero-length array that is the last member of
/// the struct the previous accessor names.
pub(crate) fn is_flex_array(btf: &Btf<'_>, prev: Option<&Accessor<'_>>, nelems: u32) -> bool {
    let Some(acc) = prev else { return false };
    if acc.name.is_none() || nelems > 0 {
        return false;
    }
    btf.type_by_id(acc.type_id)
        .is_ok_and(|t| t.vlen() > 0 && acc.idx == t.vlen() - 1)
}

/// Parses the access string ("0:1:2") into `raw`.
fn parse_access(access: &str) -> Result<Vec<u32>, ReloErrorKind> {
    let bad = |reason: &str| ReloErrorKind::BadAccessString {
        access: access.to_string(),
        reason: reason.to_string(),
    };
    if access.is_empty() || access.starts_with(':') {
        return Err(bad("empty or starts with ':'"));
    }
    let mut raw = Vec::new();
    for part in access.split(':') {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad("expected decimal indices separated by ':'"));
        }
        let v: u32 = part
            .parse()
            .ok()
            .filter(|&v| v <= i32::MAX as u32)
            .ok_or_else(|| bad("index does not fit 31 bits"))?;
        if raw.len() == SPEC_MAX_LEN {
            return Err(bad("more than 64 indices"));
        }
        raw.push(v);
    }
    Ok(raw)
}

impl<'b> Spec<'b> {
    /// The local spec of a relocation (libbpf's `bpf_core_parse_spec`).
    pub fn parse(
        btf: &'b Btf<'b>,
        root: TypeId,
        kind: RelocKind,
        access: &str,
    ) -> Result<Spec<'b>, ReloErrorKind> {
        let mut spec = Spec {
            btf,
            root_type_id: root,
            kind,
            raw: Vec::new(),
            accessors: Vec::new(),
            bit_offset: 0,
        };
        if access.is_empty() || access.starts_with(':') {
            return Err(ReloErrorKind::BadAccessString {
                access: access.to_string(),
                reason: "empty or starts with ':'".into(),
            });
        }
        if kind.is_type_based() {
            if access != "0" {
                return Err(ReloErrorKind::BadAccessString {
                    access: access.to_string(),
                    reason: "type-based relocations take \"0\"".into(),
                });
            }
            return Ok(spec);
        }
        spec.raw = parse_access(access)?;
        let t = btf.skip_mods_and_typedefs(root).map_err(btf_err)?;
        let mut id = t.id();
        let first = spec.raw[0];
        if kind.is_enumval_based() {
            let vals = t
                .enum_values()
                .ok_or(ReloErrorKind::NotAnEnum { type_id: root })?;
            if spec.raw.len() > 1 {
                return Err(ReloErrorKind::BadAccessString {
                    access: access.to_string(),
                    reason: "enumerator relocations take one index".into(),
                });
            }
            let v = vals
                .get(first as usize)
                .ok_or_else(|| ReloErrorKind::AccessOutOfRange {
                    access: access.to_string(),
                    pos: 0,
                    index: first,
                    limit: vals.len() as u32,
                })?;
            spec.accessors.push(Accessor {
                type_id: id,
                idx: first,
                name: Some(btf.str_bytes(v.name_off).map_err(btf_err)?),
            });
            return Ok(spec);
        }
        spec.accessors.push(Accessor {
            type_id: id,
            idx: first,
            name: None,
        });
        let sz = btf.resolve_size(id).map_err(btf_err)?;
        spec.bit_offset = (first as u64).wrapping_mul(sz).wrapping_mul(8) as u32;
        for pos in 1..spec.raw.len() {
            let t = btf.skip_mods_and_typedefs(id).map_err(btf_err)?;
            id = t.id();
            let idx = spec.raw[pos];
            match t.data() {
                TypeData::Struct(ms) | TypeData::Union(ms) => {
                    let m =
                        ms.get(idx as usize)
                            .ok_or_else(|| ReloErrorKind::AccessOutOfRange {
                                access: access.to_string(),
                                pos,
                                index: idx,
                                limit: ms.len() as u32,
                            })?;
                    spec.bit_offset = spec.bit_offset.wrapping_add(m.bit_offset());
                    if m.name_off != 0 {
                        let name = btf.str_bytes(m.name_off).map_err(btf_err)?;
                        if name.is_empty() {
                            return Err(ReloErrorKind::Btf(MalformedBtf::EmptyMemberName {
                                type_id: id,
                                idx,
                            }));
                        }
                        spec.accessors.push(Accessor {
                            type_id: id,
                            idx,
                            name: Some(name),
                        });
                    }
                    id = m.type_id;
                }
                TypeData::Array(a) => {
                    let elem = btf.skip_mods_and_typedefs(a.elem_type).map_err(btf_err)?;
                    id = elem.id();
                    let flex = is_flex_array(btf, spec.accessors.last(), a.nelems);
                    if !flex && idx >= a.nelems {
                        return Err(ReloErrorKind::AccessOutOfRange {
                            access: access.to_string(),
                            pos,
                            index: idx,
                            limit: a.nelems,
                        });
                    }
                    spec.accessors.push(Accessor {
                        type_id: id,
                        idx,
                        name: None,
                    });
                    let sz = btf.resolve_size(id).map_err(btf_err)?;
                    let add = (idx as u64).wrapping_mul(sz).wrapping_mul(8) as u32;
                    spec.bit_offset = spec.bit_offset.wrapping_add(add);
                }
                _ => {
                    return Err(ReloErrorKind::AccessIntoScalar {
                        access: access.to_string(),
                        pos,
                        type_id: id,
                        kind: t.kind().to_string(),
                    })
                }
            }
        }
        Ok(spec)
    }

    /// An empty spec of a target candidate, to be filled by matching.
    pub(crate) fn for_target(btf: &'b Btf<'b>, root: TypeId, kind: RelocKind) -> Spec<'b> {
        Spec {
            btf,
            root_type_id: root,
            kind,
            raw: Vec::new(),
            accessors: Vec::new(),
            bit_offset: 0,
        }
    }

    /// The spec in words: `struct task_struct::real_parent`,
    /// `struct sk_buff::cb[3]`, `enum pid_type::PIDTYPE_TGID`.
    pub fn describe(&self) -> String {
        let btf = self.btf;
        let mut out = type_words(btf, self.root_type_id);
        if self.kind.is_type_based() {
            return out;
        }
        if self.kind.is_enumval_based() {
            if let Some(a) = self.accessors.first() {
                let _ = write!(out, "::{}", String::from_utf8_lossy(a.name.unwrap_or(b"?")));
            }
            return out;
        }
        for (i, a) in self.accessors.iter().enumerate() {
            match (i, a.name) {
                (0, _) if a.idx == 0 => {}
                (_, None) => {
                    let _ = write!(out, "[{}]", a.idx);
                }
                (_, Some(n)) => {
                    let _ = write!(out, "::{}", String::from_utf8_lossy(n));
                }
            }
        }
        out
    }

    /// The low-level spec as an access string.
    pub fn raw_string(&self) -> String {
        let mut s = String::new();
        for (i, v) in self.raw.iter().enumerate() {
            if i > 0 {
                s.push(':');
            }
            let _ = write!(s, "{v}");
        }
        s
    }
}

/// `struct foo`, `union bar`, `typedef baz`, `enum e`, or `<kind> [id]`
/// for anonymous types.
pub fn type_words(btf: &Btf<'_>, id: TypeId) -> String {
    let Ok(t) = btf.type_by_id(id) else {
        return format!("[{id}]");
    };
    let kw = match t.kind() {
        Kind::Struct => "struct",
        Kind::Union => "union",
        Kind::Enum | Kind::Enum64 => "enum",
        Kind::Typedef => "typedef",
        Kind::Fwd => {
            if t.kflag() {
                "union"
            } else {
                "struct"
            }
        }
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::Ptr => "ptr",
        Kind::Array => "array",
        Kind::FuncProto => "func_proto",
        k => return format!("{} [{id}]", k.name().to_ascii_lowercase()),
    };
    match btf.name_of(&t) {
        Ok("") | Err(_) => format!("{kw} <anon>"),
        Ok(n) => format!("{kw} {n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn essential_names() {
        for (name, ess) in [
            ("task_struct", "task_struct"),
            ("task_struct___v2", "task_struct"),
            ("task_struct___old___new", "task_struct___old"),
            ("a___b", "a"),
            ("___a", "___a"),
            ("a___", "a___"),
            ("a____b", "a____b"),
            ("ab___c_", "ab"),
            ("", ""),
            ("x", "x"),
        ] {
            assert_eq!(&name[..essential_name_len(name.as_bytes())], ess, "{name}");
        }
    }

    #[test]
    fn access_strings() {
        assert_eq!(parse_access("0:1:23").unwrap(), vec![0, 1, 23]);
        for bad in ["", ":0", "0:", "0::1", "0:x", "-1", "0:+1", "99999999999"] {
            assert!(parse_access(bad).is_err(), "{bad}");
        }
        let long = vec!["0"; 65].join(":");
        assert!(matches!(
            parse_access(&long),
            Err(ReloErrorKind::BadAccessString { .. })
        ));
    }
}
