//! What changed between two BTFs: named types added and removed, and for
//! types in both, struct/union layouts (members added, removed, moved,
//! resized, retyped), enum values and typedef targets.
//!
//! Types are matched by kind and name (the first of several with one
//! name). Members are matched by name, with anonymous struct/union members
//! flattened into their parent, the way C code names them
//! (`task->__state` whether or not it sits in an anonymous union).

use std::collections::BTreeMap;

#[cfg(feature = "json")]
use serde_json::{json, Value};

use crate::btf::Btf;
use crate::types::{TypeData, TypeId};
use crate::Error;

/// One member as code sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// The member's name (the key members are matched by).
    pub name: String,
    /// Bit offset from the start of the outer type.
    pub bit_offset: u64,
    /// Bitfield width (0: not a bitfield).
    pub bitfield_size: u32,
    /// Size in bytes of its type (as [`Btf::resolve_size`]; 0 when it has
    /// none).
    pub size: u64,
    /// Its type, spelled as C would (`unsigned int`, `struct list_head *`).
    pub type_name: String,
}

/// How one member changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Only in the second BTF (`b`).
    Added(MemberInfo),
    /// Only in the first BTF (`a`).
    Removed(MemberInfo),
    /// Present in both with another offset, size or type.
    Changed {
        /// The member in the first BTF.
        before: MemberInfo,
        /// The member in the second BTF.
        after: MemberInfo,
    },
}

/// How one named type changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeChange {
    /// `struct`, `union`, `enum` or `typedef`.
    pub kind: &'static str,
    /// The type's name.
    pub name: String,
    /// Size in bytes in the first BTF (`None` when it has no size).
    pub size_before: Option<u64>,
    /// Size in bytes in the second BTF.
    pub size_after: Option<u64>,
    /// Member changes of a struct or union (anonymous members flattened),
    /// sorted by bit offset (for a changed member, its offset in the second
    /// BTF).
    pub members: Vec<MemberChange>,
    /// Enumerators: (name, value before, value after); None where absent.
    pub enum_values: Vec<(String, Option<i128>, Option<i128>)>,
    /// A typedef's target, before and after, when it changed.
    pub target: Option<(String, String)>,
}

/// A named type present on one side only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedType {
    /// `struct`, `union`, `enum`, `typedef` or `func`.
    pub kind: &'static str,
    /// The type's name.
    pub name: String,
}

/// The whole difference.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfDiff {
    /// Named types only in the second BTF, by kind then name.
    pub added: Vec<NamedType>,
    /// Named types only in the first BTF, by kind then name.
    pub removed: Vec<NamedType>,
    /// Types in both that differ (functions are matched but not compared),
    /// by kind then name.
    pub changed: Vec<TypeChange>,
    /// Named types compared (in both).
    pub compared: usize,
}

fn kind_word(d: &TypeData<'_>) -> Option<&'static str> {
    Some(match d {
        TypeData::Struct(_) => "struct",
        TypeData::Union(_) => "union",
        TypeData::Enum(_) => "enum",
        TypeData::Typedef(_) => "typedef",
        TypeData::Func { .. } => "func",
        _ => return None,
    })
}

/// Named types by (kind, name): the first id of each.
fn named_types(btf: &Btf<'_>) -> Result<BTreeMap<(&'static str, String), TypeId>, Error> {
    let mut out = BTreeMap::new();
    for t in btf.all_types() {
        let Some(kind) = kind_word(&t.data()) else {
            continue;
        };
        let name = btf.name_of(&t)?;
        if name.is_empty() {
            continue;
        }
        out.entry((kind, name.to_string())).or_insert(t.id());
    }
    Ok(out)
}

/// A type's C spelling, for comparing members' types.
pub fn type_name(btf: &Btf<'_>, id: TypeId) -> String {
    spell(btf, id, 0)
}

fn spell(btf: &Btf<'_>, id: TypeId, depth: u32) -> String {
    if depth > 64 {
        return "...".into();
    }
    let Ok(t) = btf.type_by_id(id) else {
        return format!("<bad type {}>", id.0);
    };
    let name = btf.name_of(&t).unwrap_or("");
    let anon = |kw: &str| {
        if name.is_empty() {
            format!("{kw} (anon)")
        } else {
            format!("{kw} {name}")
        }
    };
    match t.data() {
        TypeData::Void => "void".into(),
        TypeData::Int(_) | TypeData::Float { .. } | TypeData::Typedef(_) => name.to_string(),
        TypeData::Struct(_) => anon("struct"),
        TypeData::Union(_) => anon("union"),
        TypeData::Enum(_) => anon("enum"),
        TypeData::Fwd { is_union } => anon(if is_union { "union" } else { "struct" }),
        TypeData::Ptr(r) => format!("{} *", spell(btf, r, depth + 1)),
        TypeData::Const(r) => format!("const {}", spell(btf, r, depth + 1)),
        TypeData::Volatile(r) => format!("volatile {}", spell(btf, r, depth + 1)),
        TypeData::Restrict(r) => format!("{} restrict", spell(btf, r, depth + 1)),
        TypeData::TypeTag(r) => format!("{} __tag({name})", spell(btf, r, depth + 1)),
        TypeData::Array(a) => format!("{}[{}]", spell(btf, a.elem_type, depth + 1), a.nelems),
        TypeData::FuncProto { ret, params } => {
            let ps: Vec<String> = params
                .iter()
                .map(|p| {
                    if p.type_id.is_void() {
                        "...".to_string()
                    } else {
                        spell(btf, p.type_id, depth + 1)
                    }
                })
                .collect();
            format!("{} (*)({})", spell(btf, ret, depth + 1), ps.join(", "))
        }
        _ => format!("<{:?}>", t.kind()),
    }
}

/// Members of a struct/union with anonymous members flattened.
pub fn flat_members(btf: &Btf<'_>, id: TypeId) -> Result<Vec<MemberInfo>, Error> {
    let mut out = Vec::new();
    flatten(btf, id, 0, &mut out, 0)?;
    Ok(out)
}

fn flatten(
    btf: &Btf<'_>,
    id: TypeId,
    base: u64,
    out: &mut Vec<MemberInfo>,
    depth: u32,
) -> Result<(), Error> {
    if depth > 64 {
        return Ok(());
    }
    let t = btf.type_by_id(id)?;
    let (TypeData::Struct(ms) | TypeData::Union(ms)) = t.data() else {
        return Ok(());
    };
    for m in ms.iter() {
        let name = btf.str_at(m.name_off)?;
        let off = base + m.bit_offset() as u64;
        if name.is_empty() {
            let inner = btf.skip_mods_and_typedefs(m.type_id)?;
            if matches!(inner.data(), TypeData::Struct(_) | TypeData::Union(_)) {
                flatten(btf, inner.id(), off, out, depth + 1)?;
            }
            continue;
        }
        out.push(MemberInfo {
            name: name.to_string(),
            bit_offset: off,
            bitfield_size: btf.member_bitfield_size(&m)?,
            size: btf.resolve_size(m.type_id).unwrap_or(0),
            type_name: type_name(btf, m.type_id),
        });
    }
    Ok(())
}

fn compare(
    a: &Btf<'_>,
    ia: TypeId,
    b: &Btf<'_>,
    ib: TypeId,
    kind: &'static str,
    name: &str,
) -> Result<Option<TypeChange>, Error> {
    let ta = a.type_by_id(ia)?;
    let tb = b.type_by_id(ib)?;
    let mut ch = TypeChange {
        kind,
        name: name.to_string(),
        size_before: a.resolve_size(ia).ok(),
        size_after: b.resolve_size(ib).ok(),
        members: Vec::new(),
        enum_values: Vec::new(),
        target: None,
    };
    match (ta.data(), tb.data()) {
        (TypeData::Struct(_) | TypeData::Union(_), TypeData::Struct(_) | TypeData::Union(_)) => {
            let ma = flat_members(a, ia)?;
            let mb = flat_members(b, ib)?;
            let by_name: BTreeMap<&str, &MemberInfo> =
                mb.iter().map(|m| (m.name.as_str(), m)).collect();
            let in_a: std::collections::HashSet<&str> =
                ma.iter().map(|m| m.name.as_str()).collect();
            for m in &ma {
                match by_name.get(m.name.as_str()) {
                    None => ch.members.push(MemberChange::Removed(m.clone())),
                    Some(n) if *n != m => ch.members.push(MemberChange::Changed {
                        before: m.clone(),
                        after: (*n).clone(),
                    }),
                    Some(_) => {}
                }
            }
            for m in &mb {
                if !in_a.contains(m.name.as_str()) {
                    ch.members.push(MemberChange::Added(m.clone()));
                }
            }
            // In layout order (of the newer layout where there is one).
            ch.members.sort_by_key(|m| match m {
                MemberChange::Added(x)
                | MemberChange::Removed(x)
                | MemberChange::Changed { after: x, .. } => x.bit_offset,
            });
        }
        (TypeData::Enum(va), TypeData::Enum(vb)) => {
            let mut vals: BTreeMap<String, (Option<i128>, Option<i128>)> = BTreeMap::new();
            for v in va.iter() {
                vals.entry(a.str_at(v.name_off)?.to_string()).or_default().0 = Some(v.value());
            }
            for v in vb.iter() {
                vals.entry(b.str_at(v.name_off)?.to_string()).or_default().1 = Some(v.value());
            }
            for (n, (x, y)) in vals {
                if x != y {
                    ch.enum_values.push((n, x, y));
                }
            }
        }
        (TypeData::Typedef(x), TypeData::Typedef(y)) => {
            let (sx, sy) = (type_name(a, x), type_name(b, y));
            if sx != sy {
                ch.target = Some((sx, sy));
            }
        }
        _ => {}
    }
    let unchanged = ch.size_before == ch.size_after
        && ch.members.is_empty()
        && ch.enum_values.is_empty()
        && ch.target.is_none();
    Ok((!unchanged).then_some(ch))
}

/// Compares `a` with `b`; with `only` non-empty, just those type names.
///
/// Named structs, unions, enums, typedefs and funcs are matched by kind and
/// name; `a` is "before", `b` "after". Errors come from reading either BTF:
/// a name that is not UTF-8, or a reference cycle in BTF parsed without
/// validation.
///
/// ```rust
/// use btfkit_btf::diff::{diff, MemberChange};
/// use btfkit_btf::{Btf, BtfBuilder, MemberSpec, INT_SIGNED};
///
/// // Before: struct s { int x; int y; };
/// // After:  struct s { int x; int flags; int y; };
/// let build = |grown: bool| -> btfkit_btf::Result<Vec<u8>> {
///     let mut b = BtfBuilder::new();
///     let int = b.add_int("int", 4, INT_SIGNED)?;
///     let m = |name, bit_offset| MemberSpec { name, type_id: int, bit_offset, bitfield_size: 0 };
///     let members = if grown {
///         vec![m("x", 0), m("flags", 32), m("y", 64)]
///     } else {
///         vec![m("x", 0), m("y", 32)]
///     };
///     b.add_struct("s", members.len() as u32 * 4, &members)?;
///     Ok(b.finish())
/// };
/// let (old, new) = (build(false)?, build(true)?);
/// let (a, b) = (Btf::parse(&old)?, Btf::parse(&new)?);
///
/// let d = diff(&a, &b, &[])?;
/// assert_eq!(d.compared, 1); // struct s (ints are not matched by name)
/// assert_eq!(d.changed.len(), 1);
/// let s = &d.changed[0];
/// assert_eq!((s.kind, s.name.as_str()), ("struct", "s"));
/// assert_eq!((s.size_before, s.size_after), (Some(8), Some(12)));
/// assert!(matches!(&s.members[0], MemberChange::Added(m) if m.name == "flags"));
/// assert!(matches!(
///     &s.members[1],
///     MemberChange::Changed { before, after } if before.bit_offset == 32 && after.bit_offset == 64
/// ));
/// // "~ struct s (size 8 -> 12)", "    + flags: int at offset 4", ...
/// print!("{}", d.detail_text());
/// # Ok::<(), btfkit_btf::Error>(())
/// ```
pub fn diff(a: &Btf<'_>, b: &Btf<'_>, only: &[String]) -> Result<BtfDiff, Error> {
    let na = named_types(a)?;
    let nb = named_types(b)?;
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut d = BtfDiff::default();
    for ((kind, name), &ia) in &na {
        if !wanted(name) {
            continue;
        }
        match nb.get(&(*kind, name.clone())) {
            None => d.removed.push(NamedType {
                kind,
                name: name.clone(),
            }),
            Some(&ib) => {
                d.compared += 1;
                if *kind == "func" {
                    continue;
                }
                if let Some(c) = compare(a, ia, b, ib, kind, name)? {
                    d.changed.push(c);
                }
            }
        }
    }
    for (kind, name) in nb.keys() {
        if wanted(name) && !na.contains_key(&(*kind, name.clone())) {
            d.added.push(NamedType {
                kind,
                name: name.clone(),
            });
        }
    }
    Ok(d)
}

#[cfg(feature = "json")]
fn member_json(m: &MemberInfo) -> Value {
    json!({
        "name": m.name, "bit_offset": m.bit_offset, "bitfield_size": m.bitfield_size,
        "size": m.size, "type": m.type_name,
    })
}

impl BtfDiff {
    /// Whether anything differs.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    /// The difference as JSON: `compared`, `added` and `removed` (lists of
    /// `{kind, name}`), and `changed`, with each member change marked
    /// `moved`, `resized` and `retyped`. Enum values are strings, since
    /// they may not fit an `i64`/`u64`. (Feature `json`, on by default.)
    #[cfg(feature = "json")]
    pub fn to_json(&self) -> Value {
        let nt = |v: &[NamedType]| {
            v.iter()
                .map(|t| json!({"kind": t.kind, "name": t.name}))
                .collect::<Vec<_>>()
        };
        json!({
            "compared": self.compared,
            "added": nt(&self.added),
            "removed": nt(&self.removed),
            "changed": self.changed.iter().map(|c| json!({
                "kind": c.kind,
                "name": c.name,
                "size_before": c.size_before,
                "size_after": c.size_after,
                "members": c.members.iter().map(|m| match m {
                    MemberChange::Added(x) => json!({"change": "added", "after": member_json(x)}),
                    MemberChange::Removed(x) => json!({"change": "removed", "before": member_json(x)}),
                    MemberChange::Changed { before, after } => json!({
                        "change": "changed",
                        "moved": before.bit_offset != after.bit_offset,
                        "resized": before.size != after.size || before.bitfield_size != after.bitfield_size,
                        "retyped": before.type_name != after.type_name,
                        "before": member_json(before), "after": member_json(after),
                    }),
                }).collect::<Vec<_>>(),
                "enum_values": c.enum_values.iter().map(|(n, x, y)| json!({
                    "name": n,
                    "before": x.map(|v| v.to_string()),
                    "after": y.map(|v| v.to_string()),
                })).collect::<Vec<_>>(),
                "target": c.target.as_ref().map(|(x, y)| json!({"before": x, "after": y})),
            })).collect::<Vec<_>>(),
        })
    }

    /// Text: per changed type, one line per member change.
    pub fn detail_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let pos = |m: &MemberInfo| {
            if m.bitfield_size > 0 {
                format!("bit {}:{}", m.bit_offset, m.bitfield_size)
            } else {
                format!("offset {}", m.bit_offset / 8)
            }
        };
        for t in &self.added {
            let _ = writeln!(s, "+ {} {}", t.kind, t.name);
        }
        for t in &self.removed {
            let _ = writeln!(s, "- {} {}", t.kind, t.name);
        }
        for c in &self.changed {
            let size = match (c.size_before, c.size_after) {
                (Some(x), Some(y)) if x != y => format!(" (size {x} -> {y})"),
                _ => String::new(),
            };
            let _ = writeln!(s, "~ {} {}{size}", c.kind, c.name);
            for m in &c.members {
                match m {
                    MemberChange::Added(x) => {
                        let _ = writeln!(s, "    + {}: {} at {}", x.name, x.type_name, pos(x));
                    }
                    MemberChange::Removed(x) => {
                        let _ = writeln!(s, "    - {}: {} at {}", x.name, x.type_name, pos(x));
                    }
                    MemberChange::Changed { before, after } => {
                        let mut what = Vec::new();
                        if before.bit_offset != after.bit_offset
                            || before.bitfield_size != after.bitfield_size
                        {
                            what.push(format!("moved {} -> {}", pos(before), pos(after)));
                        }
                        if before.size != after.size {
                            what.push(format!("resized {} -> {} bytes", before.size, after.size));
                        }
                        if before.type_name != after.type_name {
                            what.push(format!(
                                "retyped {} -> {}",
                                before.type_name, after.type_name
                            ));
                        }
                        let _ = writeln!(s, "    ~ {}: {}", before.name, what.join(", "));
                    }
                }
            }
            for (n, x, y) in &c.enum_values {
                let v = |o: &Option<i128>| o.map_or("-".to_string(), |v| v.to_string());
                let _ = writeln!(s, "    {}: {} -> {}", n, v(x), v(y));
            }
            if let Some((x, y)) = &c.target {
                let _ = writeln!(s, "    typedef of {x} -> {y}");
            }
        }
        s
    }

    /// Text: counts, then the names of what changed.
    pub fn summary_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let count = |k: &str| self.changed.iter().filter(|c| c.kind == k).count();
        let _ = writeln!(
            s,
            "{} named types in both: {} changed ({} structs, {} unions, {} enums, {} typedefs); {} added, {} removed",
            self.compared,
            self.changed.len(),
            count("struct"),
            count("union"),
            count("enum"),
            count("typedef"),
            self.added.len(),
            self.removed.len()
        );
        for c in &self.changed {
            let n = c.members.len() + c.enum_values.len() + usize::from(c.target.is_some());
            let size = match (c.size_before, c.size_after) {
                (Some(x), Some(y)) if x != y => format!(", size {x} -> {y}"),
                _ => String::new(),
            };
            let _ = writeln!(s, "~ {} {}: {n} changes{size}", c.kind, c.name);
        }
        for t in &self.added {
            let _ = writeln!(s, "+ {} {}", t.kind, t.name);
        }
        for t in &self.removed {
            let _ = writeln!(s, "- {} {}", t.kind, t.name);
        }
        s
    }
}
