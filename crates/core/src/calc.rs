//! Matching a local spec against target candidates and computing the
//! relocation's original and new values (libbpf's `bpf_core_spec_match`,
//! `bpf_core_calc_relo` and `bpf_core_calc_relo_insn`).

use btfkit_btf::{Btf, Endian, Kind, TypeData, TypeId};

use crate::compat::{fields_are_compat, types_are_compat, types_match};
use crate::error::{MalformedBtf, ReloErrorKind};
use crate::kind::RelocKind;
use crate::spec::{btf_err, essential_name_len, is_flex_array, Accessor, Spec, SPEC_MAX_LEN};

/// A candidate target type: which target BTF (0 = vmlinux, then modules)
/// and which id in it.
#[derive(Clone, Copy, Debug)]
pub struct Cand<'t> {
    /// The target BTF holding the candidate.
    pub btf: &'t Btf<'t>,
    /// Its index in the [`Target`](crate::Target) (0 = vmlinux).
    pub btf_idx: usize,
    /// The candidate type's id in `btf`.
    pub id: TypeId,
}

impl PartialEq for Cand<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.btf_idx == o.btf_idx && self.id == o.id
    }
}

/// The outcome of a relocation before patching (`bpf_core_relo_res`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelocRes {
    /// Value the compiler put in the instruction (from the local spec).
    pub orig_val: u64,
    /// Value for the target.
    pub new_val: u64,
    /// The instruction must be poisoned.
    pub poison: bool,
    /// Check the instruction holds `orig_val` before patching.
    pub validate: bool,
    /// Memory sizes differ in a way a load/store cannot follow.
    pub fail_memsz_adjust: bool,
    /// Size in bytes of the local field, for load/store resizing: set by
    /// `FIELD_BYTE_OFFSET` on a non-bitfield member or an array element,
    /// 0 otherwise.
    pub orig_sz: u32,
    /// Size in bytes of the target field, as `orig_sz`.
    pub new_sz: u32,
    /// The local field's type (modifiers and typedefs skipped) when
    /// `orig_sz` is set, 0 otherwise.
    pub orig_type_id: TypeId,
    /// The target field's type, as `orig_type_id`.
    pub new_type_id: TypeId,
}

/// Outcome of matching one candidate.
pub enum Matched<'t> {
    No,
    Yes(Spec<'t>),
}

/// Tries to match `local` against a candidate type, producing the target
/// spec (libbpf's `bpf_core_spec_match`).
pub fn spec_match<'t>(local: &Spec<'_>, cand: &Cand<'t>) -> Result<Matched<'t>, ReloErrorKind> {
    let tb = cand.btf;
    let mut targ = Spec::for_target(tb, cand.id, local.kind);
    if local.kind.is_type_based() {
        let ok = if local.kind == RelocKind::TypeMatches {
            types_match(local.btf, local.root_type_id, tb, cand.id)?
        } else {
            types_are_compat(local.btf, local.root_type_id, tb, cand.id)?
        };
        return Ok(if ok { Matched::Yes(targ) } else { Matched::No });
    }
    if local.kind.is_enumval_based() {
        let t = tb.skip_mods_and_typedefs(cand.id).map_err(btf_err)?;
        let Some(vals) = t.enum_values() else {
            return Ok(Matched::No);
        };
        let lname = local.accessors[0].name.unwrap_or(b"");
        let ll = essential_name_len(lname);
        for (i, v) in vals.iter().enumerate() {
            let n = tb.str_bytes(v.name_off).map_err(btf_err)?;
            if essential_name_len(n) == ll && n[..ll] == lname[..ll] {
                targ.accessors.push(Accessor {
                    type_id: t.id(),
                    idx: i as u32,
                    name: Some(n),
                });
                targ.raw.push(i as u32);
                return Ok(Matched::Yes(targ));
            }
        }
        return Ok(Matched::No);
    }
    let mut tid = cand.id;
    for (i, lacc) in local.accessors.iter().enumerate() {
        let tt = tb.skip_mods_and_typedefs(tid).map_err(btf_err)?;
        tid = tt.id();
        if lacc.name.is_some() {
            match match_member(local.btf, lacc, tb, tid, &mut targ)? {
                Some(next) => tid = next,
                None => return Ok(Matched::No),
            }
        } else {
            // The root accessor indexes the root itself; later ones an array.
            if i > 0 {
                let Some(a) = tt.array() else {
                    return Ok(Matched::No);
                };
                let flex = is_flex_array(tb, targ.accessors.last(), a.nelems);
                if !flex && lacc.idx >= a.nelems {
                    return Ok(Matched::No);
                }
                tid = tb
                    .skip_mods_and_typedefs(a.elem_type)
                    .map_err(btf_err)?
                    .id();
            }
            if targ.raw.len() == SPEC_MAX_LEN {
                return Err(ReloErrorKind::SpecTooDeep(SPEC_MAX_LEN));
            }
            targ.accessors.push(Accessor {
                type_id: tid,
                idx: lacc.idx,
                name: None,
            });
            targ.raw.push(lacc.idx);
            let sz = tb.resolve_size(tid).map_err(btf_err)?;
            let add = (lacc.idx as u64).wrapping_mul(sz).wrapping_mul(8) as u32;
            targ.bit_offset = targ.bit_offset.wrapping_add(add);
        }
    }
    Ok(Matched::Yes(targ))
}

/// Finds the target member named like the local accessor's member in
/// struct/union `tid`, descending into anonymous members; on success
/// returns the member's type and extends the target spec
/// (libbpf's `bpf_core_match_member`).
fn match_member<'t>(
    lb: &Btf<'_>,
    lacc: &Accessor<'_>,
    tb: &'t Btf<'t>,
    tid: TypeId,
    spec: &mut Spec<'t>,
) -> Result<Option<TypeId>, ReloErrorKind> {
    let tt = tb.skip_mods_and_typedefs(tid).map_err(btf_err)?;
    let tid = tt.id();
    let Some(tms) = tt.members() else {
        return Ok(None);
    };
    let lt = lb.type_by_id(lacc.type_id).map_err(btf_err)?;
    let lm = lt.members().and_then(|m| m.get(lacc.idx as usize)).ok_or({
        ReloErrorKind::Btf(MalformedBtf::NoMember {
            type_id: lacc.type_id,
            idx: lacc.idx,
        })
    })?;
    let lname = lb.str_bytes(lm.name_off).map_err(btf_err)?;
    for (i, m) in tms.iter().enumerate() {
        if spec.raw.len() == SPEC_MAX_LEN {
            return Err(ReloErrorKind::SpecTooDeep(SPEC_MAX_LEN));
        }
        let bit_offset = m.bit_offset();
        // Speculate that this member is the one.
        spec.bit_offset = spec.bit_offset.wrapping_add(bit_offset);
        spec.raw.push(i as u32);
        let tname = tb.str_bytes(m.name_off).map_err(btf_err)?;
        if tname.is_empty() {
            if let Some(found) = match_member(lb, lacc, tb, m.type_id, spec)? {
                return Ok(Some(found));
            }
        } else if tname == lname {
            spec.accessors.push(Accessor {
                type_id: tid,
                idx: i as u32,
                name: Some(tname),
            });
            if fields_are_compat(lb, lm.type_id, tb, m.type_id)? {
                return Ok(Some(m.type_id));
            }
            // libbpf pops the accessor but keeps the low-level step: the
            // caller abandons this candidate either way.
            spec.accessors.pop();
            return Ok(None);
        }
        spec.bit_offset = spec.bit_offset.wrapping_sub(bit_offset);
        spec.raw.pop();
    }
    Ok(None)
}

/// Why a value computation asks for poisoning instead of a value.
enum CalcErr {
    Poison,
    Fail(ReloErrorKind),
}

impl From<ReloErrorKind> for CalcErr {
    fn from(e: ReloErrorKind) -> Self {
        CalcErr::Fail(e)
    }
}

struct FieldVal {
    val: u64,
    field_sz: u32,
    type_id: TypeId,
    validate: bool,
}

/// libbpf's `bpf_core_calc_field_relo`, for one side (`None`: no target).
fn calc_field(kind: RelocKind, spec: Option<&Spec<'_>>) -> Result<FieldVal, CalcErr> {
    let mut out = FieldVal {
        val: 0,
        field_sz: 0,
        type_id: TypeId(0),
        validate: true,
    };
    if kind == RelocKind::FieldExists {
        out.val = spec.is_some() as u64;
        return Ok(out);
    }
    let Some(spec) = spec else {
        return Err(CalcErr::Poison);
    };
    let btf = spec.btf;
    let acc = spec
        .accessors
        .last()
        .expect("field specs have a root accessor");
    if acc.name.is_none() {
        // An array element (or the root) as a whole.
        let sz = btf.resolve_size(acc.type_id).map_err(btf_err)?;
        match kind {
            RelocKind::FieldByteOffset => {
                out.val = (spec.bit_offset / 8) as u64;
                out.field_sz = sz as u32;
                out.type_id = acc.type_id;
            }
            RelocKind::FieldByteSize => out.val = sz,
            _ => return Err(ReloErrorKind::ArrayAccess { kind: kind.name() }.into()),
        }
        return Ok(out);
    }
    let t = btf.type_by_id(acc.type_id).map_err(btf_err)?;
    let m = t.members().and_then(|ms| ms.get(acc.idx as usize)).ok_or({
        ReloErrorKind::Btf(MalformedBtf::NoMember {
            type_id: acc.type_id,
            idx: acc.idx,
        })
    })?;
    let mt = btf.skip_mods_and_typedefs(m.type_id).map_err(btf_err)?;
    let field_type_id = mt.id();
    let bit_off = spec.bit_offset;
    let mut bit_sz = m.bitfield_size();
    let bitfield = bit_sz > 0;
    let (byte_off, byte_sz);
    if bitfield {
        // The smallest naturally aligned load, starting from the member's
        // type size, that covers the whole bitfield.
        let mut sz = mt.size_or_type();
        if sz == 0 {
            return Err(ReloErrorKind::Btf(MalformedBtf::ZeroSizedBitfield {
                type_id: field_type_id,
            })
            .into());
        }
        let mut off = bit_off / 8 / sz * sz;
        while bit_off as u64 + bit_sz as u64 - off as u64 * 8 > sz as u64 * 8 {
            if sz >= 8 {
                return Err(ReloErrorKind::BitfieldTooWide.into());
            }
            sz *= 2;
            off = bit_off / 8 / sz * sz;
        }
        byte_sz = sz;
        byte_off = off;
    } else {
        byte_sz = btf.resolve_size(field_type_id).map_err(btf_err)? as u32;
        byte_off = bit_off / 8;
        bit_sz = byte_sz.wrapping_mul(8);
    }
    // Bitfield positions are the compiler's choice: only signedness and
    // the right shift are unambiguous enough to check.
    out.validate = !bitfield;
    match kind {
        RelocKind::FieldByteOffset => {
            out.val = byte_off as u64;
            if !bitfield {
                out.field_sz = byte_sz;
                out.type_id = field_type_id;
            }
        }
        RelocKind::FieldByteSize => out.val = byte_sz as u64,
        RelocKind::FieldSigned => {
            let signed = match mt.data() {
                TypeData::Enum(v) => v.is_signed(),
                TypeData::Int(i) => i.is_signed(),
                _ => false,
            };
            out.val = signed as u64;
            out.validate = true;
        }
        RelocKind::FieldLshiftU64 => {
            // In the byte order of the BTF's target (libbpf uses the host's).
            out.val = match btf.endian() {
                Endian::Little => {
                    64u64.wrapping_sub(bit_off as u64 + bit_sz as u64 - byte_off as u64 * 8)
                }
                Endian::Big => {
                    (8u64.wrapping_sub(byte_sz as u64)).wrapping_mul(8)
                        + (bit_off as u64 - byte_off as u64 * 8)
                }
            };
        }
        RelocKind::FieldRshiftU64 => {
            out.val = 64u64.wrapping_sub(bit_sz as u64);
            out.validate = true;
        }
        _ => unreachable!("field-based kinds only"),
    }
    Ok(out)
}

/// libbpf's `bpf_core_calc_type_relo`.
fn calc_type(kind: RelocKind, spec: Option<&Spec<'_>>) -> Result<(u64, bool), CalcErr> {
    let Some(spec) = spec else {
        return Ok((0, true));
    };
    Ok(match kind {
        // Type ids change when objects are linked: never validated.
        RelocKind::TypeIdTarget => (spec.root_type_id.0 as u64, false),
        RelocKind::TypeExists | RelocKind::TypeMatches => (1, true),
        RelocKind::TypeSize => (
            spec.btf.resolve_size(spec.root_type_id).map_err(btf_err)?,
            true,
        ),
        _ => unreachable!("type-based kinds other than TypeIdLocal"),
    })
}

/// libbpf's `bpf_core_calc_enumval_relo`. A 32-bit enumerator is
/// sign-extended from its stored `s32`, as libbpf does.
fn calc_enumval(kind: RelocKind, spec: Option<&Spec<'_>>) -> Result<u64, CalcErr> {
    match kind {
        RelocKind::EnumvalExists => Ok(spec.is_some() as u64),
        _ => {
            let Some(spec) = spec else {
                return Err(CalcErr::Poison);
            };
            let acc = spec.accessors[0];
            let t = spec.btf.type_by_id(acc.type_id).map_err(btf_err)?;
            let v = t
                .enum_values()
                .and_then(|vs| vs.get(acc.idx as usize))
                .ok_or({
                    ReloErrorKind::Btf(MalformedBtf::NoEnumerator {
                        type_id: acc.type_id,
                        idx: acc.idx,
                    })
                })?;
            Ok(if v.is_64 {
                v.bits
            } else {
                v.bits as u32 as i32 as i64 as u64
            })
        }
    }
}

/// Original and new values for one candidate (or for no target at all).
pub fn calc_relo(local: &Spec<'_>, targ: Option<&Spec<'_>>) -> Result<RelocRes, ReloErrorKind> {
    let kind = local.kind;
    let mut res = RelocRes {
        validate: true,
        ..RelocRes::default()
    };
    let outcome: Result<(), CalcErr> = (|| {
        if kind.is_field_based() {
            let l = calc_field(kind, Some(local))?;
            res.orig_val = l.val;
            res.orig_sz = l.field_sz;
            res.orig_type_id = l.type_id;
            res.validate = l.validate;
            let t = calc_field(kind, targ)?;
            res.new_val = t.val;
            res.new_sz = t.field_sz;
            res.new_type_id = t.type_id;
            if res.orig_sz != res.new_sz {
                // Only pointers (32-bit kernel pointers read as 64-bit) and
                // unsigned integers survive a change of load size.
                let lt = local.btf.type_by_id(res.orig_type_id).map_err(btf_err)?;
                let tt = targ
                    .expect("sizes differ only with a target")
                    .btf
                    .type_by_id(res.new_type_id)
                    .map_err(btf_err)?;
                let safe = (lt.kind() == Kind::Ptr && tt.kind() == Kind::Ptr)
                    || matches!((lt.data(), tt.data()), (TypeData::Int(a), TypeData::Int(b))
                        if a.encoding() != btfkit_btf::INT_SIGNED && b.encoding() != btfkit_btf::INT_SIGNED);
                res.fail_memsz_adjust = !safe;
            }
        } else if kind.is_type_based() {
            let (o, v) = calc_type(kind, Some(local))?;
            res.orig_val = o;
            res.validate = v;
            res.new_val = calc_type(kind, targ)?.0;
        } else {
            res.orig_val = calc_enumval(kind, Some(local))?;
            res.new_val = calc_enumval(kind, targ)?;
        }
        Ok(())
    })();
    match outcome {
        Ok(()) => Ok(res),
        Err(CalcErr::Poison) => {
            res.poison = true;
            Ok(res)
        }
        Err(CalcErr::Fail(e)) => Err(e),
    }
}

/// The decision for one relocation over its candidate list.
pub struct Decision<'t> {
    pub res: RelocRes,
    /// Every candidate that matched, with its target spec, in candidate
    /// order: the first decides, the others agree with it, and together
    /// they are the pruned candidate list.
    pub matched: Vec<(Cand<'t>, Spec<'t>)>,
}

impl<'t> Decision<'t> {
    /// The deciding candidate and its spec (None: no candidate matched).
    pub fn target(&self) -> Option<&(Cand<'t>, Spec<'t>)> {
        self.matched.first()
    }
}

/// Runs the local spec against every candidate (libbpf's
/// `bpf_core_calc_relo_insn` after the local spec is parsed): all matches
/// must agree; the caller replaces its candidate list with `matched` when
/// it is not empty.
pub fn decide<'t>(local: &Spec<'_>, cands: &[Cand<'t>]) -> Result<Decision<'t>, ReloErrorKind> {
    let mut decision = Decision {
        res: RelocRes::default(),
        matched: Vec::new(),
    };
    for cand in cands {
        let Matched::Yes(cspec) = spec_match(local, cand)? else {
            continue;
        };
        let res = calc_relo(local, Some(&cspec))?;
        match decision.matched.first() {
            None => decision.res = res,
            Some((_, first)) => {
                if cspec.bit_offset != first.bit_offset {
                    return Err(ReloErrorKind::FieldOffsetAmbiguity {
                        a: cspec.bit_offset,
                        b: first.bit_offset,
                    });
                }
                if res.poison != decision.res.poison || res.new_val != decision.res.new_val {
                    let show = |r: &RelocRes| {
                        format!(
                            "{} {}",
                            if r.poison { "failure" } else { "success" },
                            r.new_val
                        )
                    };
                    return Err(ReloErrorKind::DecisionAmbiguity {
                        a: show(&res),
                        b: show(&decision.res),
                    });
                }
            }
        }
        decision.matched.push((*cand, cspec));
    }
    if decision.matched.is_empty() {
        decision.res = calc_relo(local, None)?;
    }
    Ok(decision)
}
