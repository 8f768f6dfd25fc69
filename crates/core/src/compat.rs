//! Compatibility of local and target types, as libbpf decides it:
//! - `fields_are_compat` for the type of a matched field;
//! - `types_are_compat` for type-based relocations (exists, size, id);
//! - `types_match` for TYPE_MATCHES (`bpf_core_type_matches`).
//!
//! All three return `Ok(true/false)` for a decision and `Err` where libbpf
//! returns a negative error (malformed BTF, recursion limits).

use btfkit_btf::{Btf, Kind, Type, TypeData, TypeId};

use crate::error::{MalformedBtf, ReloErrorKind};
use crate::spec::{btf_err, essential_name_len};

type R = Result<bool, ReloErrorKind>;

/// Same kind, or both enums of either width.
pub fn kind_core_compat(a: Kind, b: Kind) -> bool {
    a == b || (a.is_enum() && b.is_enum())
}

fn int_offset(t: &Type<'_>) -> u32 {
    match t.data() {
        TypeData::Int(i) => i.bit_offset(),
        _ => 0,
    }
}

fn name<'b>(btf: &'b Btf<'_>, t: &Type<'_>) -> &'b [u8] {
    btf.str_bytes(t.name_off()).unwrap_or(b"")
}

/// Names equal up to their flavor suffix.
fn essential_eq(a: &[u8], b: &[u8]) -> bool {
    let (la, lb) = (essential_name_len(a), essential_name_len(b));
    la == lb && a[..la] == b[..lb]
}

fn too_deep() -> ReloErrorKind {
    ReloErrorKind::Btf(MalformedBtf::TooDeep)
}

/// libbpf's `bpf_core_fields_are_compat`.
pub fn fields_are_compat(lb: &Btf<'_>, lid: TypeId, tb: &Btf<'_>, tid: TypeId) -> R {
    let (mut lid, mut tid) = (lid, tid);
    // libbpf loops through arrays of arrays without a bound; cyclic BTF
    // would hang it. Real nesting stays far below this.
    for _ in 0..btfkit_btf::MAX_CHAIN {
        let lt = lb.skip_mods_and_typedefs(lid).map_err(btf_err)?;
        let tt = tb.skip_mods_and_typedefs(tid).map_err(btf_err)?;
        if lt.kind().is_composite() && tt.kind().is_composite() {
            return Ok(true);
        }
        if !kind_core_compat(lt.kind(), tt.kind()) {
            return Ok(false);
        }
        return Ok(match lt.kind() {
            Kind::Ptr | Kind::Float => true,
            Kind::Fwd | Kind::Enum | Kind::Enum64 => {
                let (ln, tn) = (name(lb, &lt), name(tb, &tt));
                let (ll, tl) = (essential_name_len(ln), essential_name_len(tn));
                ll == 0 || tl == 0 || (ll == tl && ln[..ll] == tn[..tl])
            }
            Kind::Int => int_offset(&lt) == 0 && int_offset(&tt) == 0,
            Kind::Array => {
                lid = lt.array().expect("array").elem_type;
                tid = tt.array().expect("array").elem_type;
                continue;
            }
            _ => false,
        });
    }
    Err(too_deep())
}

/// libbpf's `bpf_core_types_are_compat` (recursion level 32).
pub fn types_are_compat(lb: &Btf<'_>, lid: TypeId, tb: &Btf<'_>, tid: TypeId) -> R {
    types_are_compat_level(lb, lid, tb, tid, 32)
}

fn types_are_compat_level(lb: &Btf<'_>, lid: TypeId, tb: &Btf<'_>, tid: TypeId, level: i32) -> R {
    let (mut lid, mut tid) = (lid, tid);
    let lt = lb.type_by_id(lid).map_err(btf_err)?;
    let tt = tb.type_by_id(tid).map_err(btf_err)?;
    if !kind_core_compat(lt.kind(), tt.kind()) {
        return Ok(false);
    }
    let mut depth = 32;
    loop {
        depth -= 1;
        if depth < 0 {
            return Err(too_deep());
        }
        let lt = lb.skip_mods_and_typedefs(lid).map_err(btf_err)?;
        let tt = tb.skip_mods_and_typedefs(tid).map_err(btf_err)?;
        if !kind_core_compat(lt.kind(), tt.kind()) {
            return Ok(false);
        }
        match (lt.data(), tt.data()) {
            (TypeData::Void, _)
            | (TypeData::Struct(_), _)
            | (TypeData::Union(_), _)
            | (TypeData::Enum(_), _)
            | (TypeData::Fwd { .. }, _) => return Ok(true),
            (TypeData::Int(_), _) => return Ok(int_offset(&lt) == 0 && int_offset(&tt) == 0),
            (TypeData::Ptr(l), TypeData::Ptr(t)) => {
                lid = l;
                tid = t;
            }
            (TypeData::Array(l), TypeData::Array(t)) => {
                lid = l.elem_type;
                tid = t.elem_type;
            }
            (
                TypeData::FuncProto {
                    ret: lr,
                    params: lp,
                },
                TypeData::FuncProto {
                    ret: tr,
                    params: tp,
                },
            ) => {
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (l, t) in lp.iter().zip(tp.iter()) {
                    if level <= 0 {
                        return Err(too_deep());
                    }
                    let l = lb.skip_mods_and_typedefs(l.type_id).map_err(btf_err)?.id();
                    let t = tb.skip_mods_and_typedefs(t.type_id).map_err(btf_err)?.id();
                    if !types_are_compat_level(lb, l, tb, t, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = lb.skip_mods_and_typedefs(lr).map_err(btf_err)?.id();
                tid = tb.skip_mods_and_typedefs(tr).map_err(btf_err)?.id();
            }
            _ => return Ok(false),
        }
    }
}

/// Names match for TYPE_MATCHES: an anonymous target matches only an
/// anonymous local; otherwise names equal up to flavors.
fn names_match(lb: &Btf<'_>, l_off: u32, tb: &Btf<'_>, t_off: u32) -> bool {
    let l = lb.str_bytes(l_off).unwrap_or(b"");
    let t = tb.str_bytes(t_off).unwrap_or(b"");
    if t.is_empty() {
        return l.is_empty();
    }
    essential_eq(l, t)
}

/// libbpf's `bpf_core_types_match` (recursion level 32, not behind a pointer).
pub fn types_match(lb: &Btf<'_>, lid: TypeId, tb: &Btf<'_>, tid: TypeId) -> R {
    types_match_level(lb, lid, tb, tid, false, 32)
}

fn types_match_level(
    lb: &Btf<'_>,
    lid: TypeId,
    tb: &Btf<'_>,
    tid: TypeId,
    behind_ptr: bool,
    level: i32,
) -> R {
    if level <= 0 {
        return Err(too_deep());
    }
    let (mut lid, mut tid, mut behind_ptr) = (lid, tid, behind_ptr);
    let mut depth = 32;
    loop {
        depth -= 1;
        if depth < 0 {
            return Err(too_deep());
        }
        let lt = lb.skip_mods_and_typedefs(lid).map_err(btf_err)?;
        let tt = tb.skip_mods_and_typedefs(tid).map_err(btf_err)?;
        if !names_match(lb, lt.name_off(), tb, tt.name_off()) {
            return Ok(false);
        }
        let (lk, tk) = (lt.kind(), tt.kind());
        match lk {
            Kind::Void => return Ok(tk == Kind::Void),
            Kind::Fwd => {
                let lf = lt.kflag();
                return Ok(if behind_ptr {
                    if lk == tk {
                        lf == tt.kflag()
                    } else {
                        (tk == Kind::Struct && !lf) || (tk == Kind::Union && lf)
                    }
                } else {
                    lk == tk && lf == tt.kflag()
                });
            }
            Kind::Enum | Kind::Enum64 => {
                if !tk.is_enum() {
                    return Ok(false);
                }
                return Ok(enums_match(lb, &lt, tb, &tt));
            }
            Kind::Struct | Kind::Union => {
                if behind_ptr {
                    if lk == tk {
                        return Ok(true);
                    }
                    if tk != Kind::Fwd {
                        return Ok(false);
                    }
                    return Ok((lk == Kind::Union) == tt.kflag());
                }
                if lk != tk {
                    return Ok(false);
                }
                return composites_match(lb, &lt, tb, &tt, behind_ptr, level);
            }
            Kind::Int => {
                if lk != tk {
                    return Ok(false);
                }
                let (li, ti) = (lt.int().expect("int"), tt.int().expect("int"));
                return Ok(li.size == ti.size && li.is_signed() == ti.is_signed());
            }
            Kind::Ptr => {
                if lk != tk {
                    return Ok(false);
                }
                behind_ptr = true;
                lid = TypeId(lt.size_or_type());
                tid = TypeId(tt.size_or_type());
            }
            Kind::Array => {
                if lk != tk {
                    return Ok(false);
                }
                let (la, ta) = (lt.array().expect("array"), tt.array().expect("array"));
                if la.nelems != ta.nelems {
                    return Ok(false);
                }
                lid = la.elem_type;
                tid = ta.elem_type;
            }
            Kind::FuncProto => {
                if lk != tk {
                    return Ok(false);
                }
                let (lp, tp) = (lt.params().expect("proto"), tt.params().expect("proto"));
                if lp.len() != tp.len() {
                    return Ok(false);
                }
                for (l, t) in lp.iter().zip(tp.iter()) {
                    if !types_match_level(lb, l.type_id, tb, t.type_id, behind_ptr, level - 1)? {
                        return Ok(false);
                    }
                }
                lid = TypeId(lt.size_or_type());
                tid = TypeId(tt.size_or_type());
            }
            _ => return Ok(false),
        }
    }
}

fn enums_match(lb: &Btf<'_>, lt: &Type<'_>, tb: &Btf<'_>, tt: &Type<'_>) -> bool {
    if lt.size_or_type() != tt.size_or_type() {
        return false;
    }
    let (lv, tv) = (
        lt.enum_values().expect("enum"),
        tt.enum_values().expect("enum"),
    );
    if lv.len() > tv.len() {
        return false;
    }
    lv.iter().all(|l| {
        tv.iter()
            .any(|t| names_match(lb, l.name_off, tb, t.name_off))
    })
}

fn composites_match(
    lb: &Btf<'_>,
    lt: &Type<'_>,
    tb: &Btf<'_>,
    tt: &Type<'_>,
    behind_ptr: bool,
    level: i32,
) -> R {
    let (lm, tm) = (
        lt.members().expect("composite"),
        tt.members().expect("composite"),
    );
    if lm.len() > tm.len() {
        return Ok(false);
    }
    for l in lm.iter() {
        let mut matched = false;
        for t in tm.iter() {
            if !names_match(lb, l.name_off, tb, t.name_off) {
                continue;
            }
            if types_match_level(lb, l.type_id, tb, t.type_id, behind_ptr, level - 1)? {
                matched = true;
                break;
            }
        }
        if !matched {
            return Ok(false);
        }
    }
    Ok(true)
}
