//! BTF as a C header (`vmlinux.h`): every named type, or only some and
//! what they need, in an order a C compiler accepts, with the layout of
//! every struct reproduced exactly by clang for `-target bpf`.
//!
//! Ordering: a type is defined before any use that needs it complete (a
//! member or array element by value, the target of a typedef used by
//! value); a struct or union used only through pointers gets a forward
//! declaration. Anonymous structs, unions and enums are written inline
//! where they are used; anonymous enums nobody refers to are written at
//! top level (they carry constants programs use).
//!
//! Layout: member offsets are reproduced by computing where C would place
//! each member and writing unnamed bitfields (`long: 56;`) to fill any gap;
//! a struct whose members C could not place (misaligned, or a size that is
//! not a multiple of the alignment) is written `__attribute__((packed))`.
//! Enums of 1 or 8 bytes get a `mode` attribute where their values alone
//! would not give that size.
//!
//! Names: structs, unions, enums and forward declarations share one
//! namespace, typedefs and enumerators another; a name used again in the
//! same namespace gets `___2`, `___3`, ... in type id order, as bpftool
//! does.

use std::fmt::Write as _;

use std::borrow::Cow;

use crate::btf::Btf;
use crate::fast::FastMap;
use crate::types::{Member, TypeData, TypeId};
use crate::Error;

/// Deepest nesting of types followed before giving up.
const MAX_DEPTH: u32 = 2048;

/// The largest gap in a struct written as unnamed bitfields: 64 KiB,
/// 8,192 lines of `long: 64;`. Real kernels' largest is under a page
/// (members aligned to 4 KiB).
pub const MAX_PADDING_BYTES: u64 = 64 << 10;

/// Why a header could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CDumpError {
    /// Reading the BTF failed: a name that is not UTF-8, a type id that
    /// does not exist.
    #[error(transparent)]
    Btf(#[from] Error),
    /// A type has no C spelling, or a layout C cannot reproduce: for
    /// example an integer of an odd size, an enum of a size C cannot give
    /// it, a typedef without a name, a func/var/datasec/decl_tag used as a
    /// type, a kind this reader does not know, an array or struct over
    /// 4 GiB, a struct containing itself, members that overlap, a union
    /// member not at offset 0.
    #[error("type [{id}] cannot be written in C: {reason}")]
    Unrepresentable {
        /// The type's id.
        id: u32,
        /// Why it cannot be written.
        reason: String,
    },
    /// Types that need each other complete (by value, through typedefs
    /// or struct members), which no order of C definitions satisfies.
    #[error("type [{id}] is part of a cycle that C cannot express ({chain})")]
    Cycle {
        /// The type reached a second time.
        id: u32,
        /// The types involved: the ids being defined when it was reached
        /// (`[3], [7], ...`), or `[id] contains itself`.
        chain: String,
    },
    /// Types nested deeper than the walk allows (2048 levels), or a cycle
    /// of anonymous types, which C has no name to break.
    #[error("types nested more than {MAX_DEPTH} deep at [{id}], or in a cycle of unnamed types C cannot write")]
    TooDeep {
        /// The type at which the limit was reached.
        id: u32,
    },
    /// A gap in a struct too large to write as unnamed bitfields (one
    /// line per `long` of padding).
    #[error("type [{id}]: {bytes} bytes of padding {place}, more than the {MAX_PADDING_BYTES} a header is written with")]
    PaddingTooLarge {
        /// The struct or union.
        id: u32,
        /// Where the gap is (before which member, or at the end).
        place: String,
        /// Size of the gap in bytes (over [`MAX_PADDING_BYTES`]).
        bytes: u64,
    },
    /// A name in [`CDumpOptions::types`] matches no struct, union, enum,
    /// typedef or forward declaration.
    #[error("no type named {name:?}{}", near_list(near))]
    UnknownType {
        /// The name asked for.
        name: String,
        /// Up to 8 existing names close to it (by substring or edit
        /// distance), best first, for "did you mean".
        near: Vec<String>,
    },
    /// Writing to the output failed (or the walking thread could not be
    /// started).
    #[error("writing the header: {0}")]
    Io(#[from] std::io::Error),
}

fn near_list(near: &[String]) -> String {
    if near.is_empty() {
        String::new()
    } else {
        format!("; similar names: {}", near.join(", "))
    }
}

/// What to write.
#[derive(Clone, Debug, Default)]
pub struct CDumpOptions {
    /// Only these types (by name) and what they need; all when empty.
    pub types: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    New,
    Visiting,
    Done,
}

/// How a composite is laid out in the C we write.
#[derive(Clone, Copy)]
struct Layout {
    packed: bool,
    align: u32,
}

struct Dumper<'a, 'b> {
    btf: &'b Btf<'a>,
    /// Every type decoded once: kind data, size-or-type word, name.
    tdata: Vec<TypeData<'b>>,
    sizes: Vec<u32>,
    rnames: Vec<&'b str>,
    /// The string section as text, when it is UTF-8 and the BTF not split.
    strs: Option<&'b str>,
    ptr_size: u32,
    out: String,
    state: Vec<State>,
    declared: Vec<bool>,
    /// C names of tag types (struct/union/enum/fwd) and typedefs.
    names: Vec<Option<Cow<'b, str>>>,
    /// Enumerator names, per enum id.
    enumerators: FastMap<u32, Vec<Cow<'b, str>>>,
    referenced: Vec<bool>,
    /// Every composite's layout, computed before any text.
    layouts: Vec<Option<Layout>>,
    /// Definitions written ahead of time (in parallel), by type id.
    texts: Vec<(u32, u32, u32)>,
    /// The prepared definitions' text, one arena per worker.
    arenas: Vec<String>,
    /// Non-standard base type names already given a typedef.
    aliased: Vec<bool>,
}

/// Words C accepts in a base type's name.
fn is_c_base_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(' ').all(|w| {
            matches!(
                w,
                "unsigned"
                    | "signed"
                    | "char"
                    | "short"
                    | "int"
                    | "long"
                    | "_Bool"
                    | "__int128"
                    | "float"
                    | "double"
            )
        })
}

fn indent(s: &mut String, lvl: usize) {
    for _ in 0..lvl {
        s.push('\t');
    }
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// Names close to `name`, for an unknown type name.
pub fn similar_names(btf: &Btf<'_>, name: &str) -> Vec<String> {
    similar(btf, name)
}

/// Candidates close to `name` (for an unknown `--type`).
fn similar(btf: &Btf<'_>, name: &str) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, String)> = Vec::new();
    for t in btf.all_types() {
        let Ok(n) = btf.name_of(&t) else { continue };
        if n.is_empty() {
            continue;
        }
        let nl = n.to_lowercase();
        let score = if nl.contains(&lower) || lower.contains(&nl) {
            nl.len().abs_diff(lower.len())
        } else {
            let d = strsim(&nl, &lower);
            if d > lower.len().max(3) / 3 {
                continue;
            }
            d + 100
        };
        scored.push((score, n.to_string()));
    }
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(8).map(|(_, n)| n).collect()
}

/// Levenshtein distance.
fn strsim(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

impl<'a, 'b> Dumper<'a, 'b> {
    fn new(btf: &'b Btf<'a>) -> Result<Self, CDumpError> {
        let n = btf.next_id().0 as usize;
        let strs = if btf.base().is_none() {
            std::str::from_utf8(btf.strings_section()).ok()
        } else {
            None
        };
        // Decoding every type is the first cost of a dump: split over the
        // cores, each filling its own part of the tables.
        let mut tdata: Vec<TypeData<'b>> = vec![TypeData::Void; n];
        let mut sizes: Vec<u32> = vec![0; n];
        let mut rnames: Vec<&'b str> = vec![""; n];
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .clamp(1, 8);
        let per = n.div_ceil(threads).max(4096);
        let results: Vec<Result<(), CDumpError>> = std::thread::scope(|sc| {
            let hs: Vec<_> = tdata
                .chunks_mut(per)
                .zip(sizes.chunks_mut(per))
                .zip(rnames.chunks_mut(per))
                .enumerate()
                .map(|(c, ((td, sz), nm))| {
                    sc.spawn(move || -> Result<(), CDumpError> {
                        let from = c * per;
                        for k in 0..td.len() {
                            let t = btf.type_by_id(TypeId((from + k) as u32))?;
                            td[k] = t.data();
                            sz[k] = t.size_or_type();
                            let fast = strs
                                .and_then(|all| all.get(t.name_off() as usize..))
                                .map(|tail| &tail[..tail.find('\0').unwrap_or(tail.len())]);
                            nm[k] = match fast {
                                Some(n) => n,
                                None => btf.name_of(&t)?,
                            };
                        }
                        Ok(())
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("decoder")).collect()
        });
        for r in results {
            r?;
        }
        Ok(Dumper {
            btf,
            strs,
            tdata,
            sizes,
            rnames,
            ptr_size: btf.pointer_size(),
            out: String::new(),
            state: vec![State::New; n],
            declared: vec![false; n],
            names: vec![None; n],
            enumerators: FastMap::default(),
            referenced: vec![false; n],
            layouts: vec![None; n],
            texts: Vec::new(),
            arenas: Vec::new(),
            aliased: vec![false; n],
        })
    }
}

/// The names types and enumerators get in the header: per type id, the
/// C name of a struct, union, enum, forward declaration or typedef (with
/// `___N` where a name repeats), and per enum id its enumerators' names.
#[derive(Clone, Debug)]
pub struct CNames {
    /// Indexed by type id (0 to the last id): the C name of each struct,
    /// union, enum, fwd or typedef, with its `___N` suffix when renamed
    /// (an anonymous enum used in two places is named
    /// `__btfkit_anon_enum_<id>`); `None` for other anonymous types and
    /// other kinds.
    pub types: Vec<Option<String>>,
    /// Per enum (or enum64) type id, its enumerators' C names in
    /// declaration order, with `___N` suffixes where a name repeats.
    pub enumerators: std::collections::HashMap<u32, Vec<String>>,
}

/// The C names [`dump_c`] gives `btf`'s types.
pub fn c_names(btf: &Btf<'_>) -> Result<CNames, CDumpError> {
    on_walk_stack(|| c_names_here(btf))?
}

fn c_names_here(btf: &Btf<'_>) -> Result<CNames, CDumpError> {
    let mut d = Dumper::new(btf)?;
    d.assign_names()?;
    d.mark_referenced()?;
    Ok(CNames {
        types: d
            .names
            .into_iter()
            .map(|n| n.map(Cow::into_owned))
            .collect(),
        enumerators: d
            .enumerators
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(Cow::into_owned).collect()))
            .collect(),
    })
}

/// `btf` as a C header.
///
/// ```rust
/// use btfkit_btf::cdump::{dump_c, CDumpOptions};
/// use btfkit_btf::{Btf, BtfBuilder, MemberSpec, INT_SIGNED};
///
/// let mut b = BtfBuilder::new();
/// let int = b.add_int("int", 4, INT_SIGNED)?;
/// let long = b.add_int("long", 8, INT_SIGNED)?;
/// b.add_struct(
///     "pair",
///     16,
///     &[
///         MemberSpec { name: "a", type_id: int, bit_offset: 0, bitfield_size: 0 },
///         MemberSpec { name: "b", type_id: long, bit_offset: 64, bitfield_size: 0 },
///     ],
/// )?;
/// let bytes = b.finish();
/// let btf = Btf::parse(&bytes)?;
///
/// let header = dump_c(&btf, &CDumpOptions::default())?;
/// assert!(header.contains("struct pair {\n\tint a;\n\tlong b;\n};"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn dump_c(btf: &Btf<'_>, opts: &CDumpOptions) -> Result<String, CDumpError> {
    let mut out = Vec::new();
    dump_c_to(btf, opts, &mut out)?;
    Ok(String::from_utf8(out).expect("the header is built from str pieces"))
}

/// Writes `btf` as a C header to `w`, as it goes.
///
/// The types are walked on a thread of this module's own, whose stack
/// holds the deepest nesting allowed (`MAX_DEPTH`) whatever the caller's
/// stack is; the caller's thread writes the header's pieces as they come.
pub fn dump_c_to(
    btf: &Btf<'_>,
    opts: &CDumpOptions,
    w: &mut dyn std::io::Write,
) -> Result<(), CDumpError> {
    // A few pieces of 64 KiB in flight: the walk runs ahead of the writer
    // by that much at most.
    let (tx, rx) = std::sync::mpsc::sync_channel::<String>(4);
    std::thread::scope(|sc| {
        let walker = walk_thread()
            .spawn_scoped(sc, move || {
                write_header(btf, opts, &mut |piece| tx.send(piece).is_ok())
            })
            .map_err(CDumpError::Io)?;
        let mut written = Ok(());
        for piece in rx.iter() {
            written = w.write_all(piece.as_bytes());
            if written.is_err() {
                // Dropping the receiver stops the walk at its next piece.
                break;
            }
        }
        drop(rx);
        let walked = walker.join().expect("the header's walk does not panic");
        written?;
        walked
    })
}

/// Stack of the threads that walk types recursively. The deepest walk,
/// writing a declarator, takes four frames per level of nesting, each
/// under 2 KiB even in sanitized builds: `MAX_DEPTH` levels need ~16 MiB.
/// The stack is reserved address space; only the pages a walk touches are
/// ever backed by memory.
const WALK_STACK_BYTES: usize = 64 << 20;

/// A thread with a stack for `MAX_DEPTH` levels of any walk of this module.
fn walk_thread() -> std::thread::Builder {
    std::thread::Builder::new()
        .name("btfkit-cdump".into())
        .stack_size(WALK_STACK_BYTES)
}

/// Runs `f` on a thread with a stack for `MAX_DEPTH` levels of any walk.
fn on_walk_stack<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T, CDumpError> {
    std::thread::scope(|sc| {
        let h = walk_thread().spawn_scoped(sc, f).map_err(CDumpError::Io)?;
        Ok(h.join().expect("the walk does not panic"))
    })
}

/// The header, in pieces handed to `emit` (which says whether to go on).
fn write_header(
    btf: &Btf<'_>,
    opts: &CDumpOptions,
    emit: &mut dyn FnMut(String) -> bool,
) -> Result<(), CDumpError> {
    let mut d = Dumper::new(btf)?;
    let n = d.tdata.len();
    d.prepare()?;
    if opts.types.is_empty() {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        d.prepare_texts(threads)?;
    }
    let roots: Vec<TypeId> = if opts.types.is_empty() {
        (1..n as u32).map(TypeId).collect()
    } else {
        let mut roots = Vec::new();
        for name in &opts.types {
            let found: Vec<TypeId> = btf
                .find_by_name(name)
                .into_iter()
                .filter(|&id| {
                    btf.type_by_id(id).is_ok_and(|t| {
                        matches!(
                            t.data(),
                            TypeData::Struct(_)
                                | TypeData::Union(_)
                                | TypeData::Enum(_)
                                | TypeData::Typedef(_)
                                | TypeData::Fwd { .. }
                        )
                    })
                })
                .collect();
            if found.is_empty() {
                return Err(CDumpError::UnknownType {
                    name: name.clone(),
                    near: similar(btf, name),
                });
            }
            roots.extend(found);
        }
        roots
    };
    d.out
        .push_str("#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n");
    d.out.push_str(
        "#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n#endif\n\n",
    );
    let filtered = !opts.types.is_empty();
    for id in roots {
        d.top_level(id, filtered)?;
        if d.out.len() >= 1 << 16 && !emit(std::mem::take(&mut d.out)) {
            return Ok(());
        }
    }
    d.out.push_str("#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n#endif /* __VMLINUX_H__ */\n");
    emit(std::mem::take(&mut d.out));
    Ok(())
}

impl<'a, 'b> Dumper<'a, 'b> {
    fn data(&self, id: TypeId) -> Result<TypeData<'b>, CDumpError> {
        match self.tdata.get(id.0 as usize) {
            Some(d) => Ok(*d),
            None => Err(self.btf.type_by_id(id).err().map_or_else(
                || Self::unrepresentable(id, "no such type"),
                CDumpError::from,
            )),
        }
    }

    fn raw_name(&self, id: TypeId) -> Result<&'b str, CDumpError> {
        self.data(id)?;
        Ok(self.rnames[id.0 as usize])
    }

    /// A string of the string section; the section was checked to be UTF-8
    /// once, so names are sliced, not validated one by one.
    fn name_at(&self, off: u32) -> Result<&'b str, CDumpError> {
        if let Some(all) = self.strs {
            if let Some(tail) = all.get(off as usize..) {
                let end = tail.find('\0').unwrap_or(tail.len());
                return Ok(&tail[..end]);
            }
        }
        Ok(self.btf.str_at(off)?)
    }

    fn size_word(&self, id: TypeId) -> u32 {
        self.sizes.get(id.0 as usize).copied().unwrap_or(0)
    }

    fn unrepresentable(id: TypeId, reason: impl Into<String>) -> CDumpError {
        CDumpError::Unrepresentable {
            id: id.0,
            reason: reason.into(),
        }
    }

    /// C names, deduplicated per namespace in id order.
    fn assign_names(&mut self) -> Result<(), CDumpError> {
        let (names, enumerators) = self.names_of()?;
        self.names = names;
        self.enumerators = enumerators;
        Ok(())
    }

    /// C names of types and enumerators, deduplicated per namespace in id
    /// order.
    #[allow(clippy::type_complexity)]
    fn names_of(
        &self,
    ) -> Result<(Vec<Option<Cow<'b, str>>>, FastMap<u32, Vec<Cow<'b, str>>>), CDumpError> {
        let mut tags: FastMap<&'b str, usize> = FastMap::default();
        let mut idents: FastMap<&'b str, usize> = FastMap::default();
        fn uniq<'s>(map: &mut FastMap<&'s str, usize>, name: &'s str) -> Cow<'s, str> {
            let c = map.entry(name).or_insert(0);
            *c += 1;
            if *c == 1 {
                Cow::Borrowed(name)
            } else {
                Cow::Owned(format!("{name}___{c}"))
            }
        }
        let n = self.tdata.len();
        let mut names: Vec<Option<Cow<'b, str>>> = vec![None; n];
        let mut enumerators: FastMap<u32, Vec<Cow<'b, str>>> = FastMap::default();
        for i in 1..n as u32 {
            let id = TypeId(i);
            let name: &'b str = self.rnames[i as usize];
            match self.tdata[i as usize] {
                TypeData::Struct(_)
                | TypeData::Union(_)
                | TypeData::Enum(_)
                | TypeData::Fwd { .. }
                    if !name.is_empty() =>
                {
                    names[i as usize] = Some(uniq(&mut tags, name));
                }
                TypeData::Typedef(_) => {
                    if name.is_empty() {
                        return Err(Self::unrepresentable(id, "a typedef without a name"));
                    }
                    names[i as usize] = Some(uniq(&mut idents, name));
                }
                _ => {}
            }
            if let TypeData::Enum(vals) = self.tdata[i as usize] {
                let mut v = Vec::with_capacity(vals.len());
                for e in vals.iter() {
                    let en: &'b str = self.name_at(e.name_off)?;
                    v.push(uniq(&mut idents, en));
                }
                enumerators.insert(i, v);
            }
        }
        Ok((names, enumerators))
    }

    /// Types some other type refers to (anonymous enums among them are
    /// written inline, not at top level).
    fn mark_referenced(&mut self) -> Result<(), CDumpError> {
        let (referenced, twice) = self.references_of();
        self.apply_references(referenced, twice);
        Ok(())
    }

    fn apply_references(&mut self, referenced: Vec<bool>, twice: Vec<usize>) {
        self.referenced = referenced;
        for ri in twice {
            // An anonymous enum used in two places cannot be written
            // inline twice (its enumerators would be defined twice): it
            // gets a name and one definition.
            self.names[ri] = Some(Cow::Owned(format!("__btfkit_anon_enum_{ri}")));
        }
    }

    /// Which types are referred to, and which anonymous enums twice.
    fn references_of(&self) -> (Vec<bool>, Vec<usize>) {
        let n = self.tdata.len();
        let mut referenced = vec![false; n];
        let mut twice = Vec::new();
        let mut refs: Vec<TypeId> = Vec::new();
        for i in 1..n {
            refs.clear();
            match self.tdata[i] {
                TypeData::Ptr(r)
                | TypeData::Typedef(r)
                | TypeData::Volatile(r)
                | TypeData::Const(r)
                | TypeData::Restrict(r)
                | TypeData::TypeTag(r)
                | TypeData::Var { type_id: r, .. } => refs.push(r),
                TypeData::Func { proto, .. } => refs.push(proto),
                TypeData::Array(a) => refs.push(a.elem_type),
                TypeData::Struct(ms) | TypeData::Union(ms) => {
                    refs.extend(ms.iter().map(|m| m.type_id))
                }
                TypeData::FuncProto { ret, params } => {
                    refs.push(ret);
                    refs.extend(params.iter().map(|p| p.type_id));
                }
                _ => continue,
            }
            for &r in &refs {
                let ri = r.0 as usize;
                let Some(&seen) = referenced.get(ri) else {
                    continue;
                };
                if seen
                    && self.rnames[ri].is_empty()
                    && matches!(self.tdata[ri], TypeData::Enum(_))
                    && !twice.contains(&ri)
                {
                    twice.push(ri);
                }
                referenced[ri] = true;
            }
        }
        (referenced, twice)
    }

    fn top_level(&mut self, id: TypeId, filtered: bool) -> Result<(), CDumpError> {
        match self.data(id)? {
            TypeData::Struct(_) | TypeData::Union(_) if self.names[id.0 as usize].is_some() => {
                self.define_composite(id, 0)
            }
            TypeData::Enum(_) if self.names[id.0 as usize].is_some() => self.define_enum(id),
            TypeData::Enum(_) if !self.referenced[id.0 as usize] || filtered => {
                // A standalone anonymous enum: its constants.
                if self.state[id.0 as usize] == State::New {
                    self.state[id.0 as usize] = State::Done;
                    let mut body = String::new();
                    self.definition_text(id, &mut body)?;
                    self.out.push_str(&body);
                }
                Ok(())
            }
            TypeData::Typedef(_) => self.need(id, false, 0),
            TypeData::Fwd { .. } => self.need(id, true, 0),
            _ => Ok(()),
        }
    }

    /// Makes `id` usable where it appears: defined when used by value,
    /// declared when only reached through a pointer.
    fn need(&mut self, id: TypeId, through_ptr: bool, depth: u32) -> Result<(), CDumpError> {
        if depth > MAX_DEPTH {
            return Err(CDumpError::TooDeep { id: id.0 });
        }
        let named = self.names[id.0 as usize].is_some();
        match self.data(id)? {
            TypeData::Void | TypeData::Float { .. } => Ok(()),
            TypeData::Int(_) => self.alias_base(id),
            TypeData::Ptr(t) => self.need(t, true, depth + 1),
            TypeData::Const(t)
            | TypeData::Volatile(t)
            | TypeData::Restrict(t)
            | TypeData::TypeTag(t) => self.need(t, through_ptr, depth + 1),
            TypeData::Array(a) => self.need(a.elem_type, false, depth + 1),
            TypeData::FuncProto { ret, params } => {
                self.need(ret, through_ptr, depth + 1)?;
                for p in params.iter() {
                    if !p.type_id.is_void() {
                        self.need(p.type_id, through_ptr, depth + 1)?;
                    }
                }
                Ok(())
            }
            TypeData::Struct(ms) | TypeData::Union(ms) => {
                if named {
                    if through_ptr {
                        self.declare(id)
                    } else {
                        self.define_composite(id, depth + 1)
                    }
                } else {
                    // Written inline: what its members need comes first.
                    let i = id.0 as usize;
                    if self.state[i] == State::Visiting {
                        return Err(self.cycle(id));
                    }
                    let before = self.state[i];
                    self.state[i] = State::Visiting;
                    for m in ms.iter() {
                        self.need(m.type_id, false, depth + 1)?;
                    }
                    self.state[i] = before;
                    Ok(())
                }
            }
            TypeData::Enum(_) if named => self.define_enum(id),
            TypeData::Enum(_) => Ok(()),
            TypeData::Fwd { .. } => self.declare(id),
            TypeData::Typedef(t) => {
                let i = id.0 as usize;
                match self.state[i] {
                    State::Visiting => {
                        // Reached again through a pointer while its target
                        // is being defined (`typedef struct s s_t;` with
                        // `s_t *next` inside struct s): a typedef of a
                        // forward-declared struct is enough.
                        if through_ptr {
                            if let Some(target) = self.forward_declarable(t)? {
                                self.declare(target)?;
                                self.write_typedef(id, t, depth)?;
                                return Ok(());
                            }
                        }
                        return Err(self.cycle(id));
                    }
                    State::Done => return self.need(t, through_ptr, depth + 1),
                    State::New => {}
                }
                if self.raw_name(id)? == "__builtin_va_list" {
                    // A compiler built-in that cannot be redefined, and
                    // whose layout is the compiler's, not the kernel's:
                    // uses are written as its target type instead.
                    self.state[i] = State::Done;
                    return self.need(t, through_ptr, depth + 1);
                }
                self.state[i] = State::Visiting;
                self.need(t, through_ptr, depth + 1)?;
                if self.state[i] == State::Visiting {
                    self.write_typedef(id, t, depth)?;
                }
                Ok(())
            }
            TypeData::Func { .. }
            | TypeData::Var { .. }
            | TypeData::Datasec(_)
            | TypeData::DeclTag { .. } => Err(Self::unrepresentable(
                id,
                "a function, variable or section is not a type",
            )),
            TypeData::Unknown { kind } => {
                Err(Self::unrepresentable(id, format!("unknown kind {kind}")))
            }
        }
    }

    fn write_typedef(&mut self, id: TypeId, target: TypeId, depth: u32) -> Result<(), CDumpError> {
        let _ = (target, depth);
        self.emit_definition(id)?;
        self.state[id.0 as usize] = State::Done;
        Ok(())
    }

    /// The named struct or union behind modifiers, if `id` is one.
    fn forward_declarable(&self, mut id: TypeId) -> Result<Option<TypeId>, CDumpError> {
        for _ in 0..MAX_DEPTH {
            match self.data(id)? {
                TypeData::Const(t)
                | TypeData::Volatile(t)
                | TypeData::Restrict(t)
                | TypeData::TypeTag(t) => id = t,
                TypeData::Struct(_) | TypeData::Union(_) | TypeData::Fwd { .. }
                    if self.names[id.0 as usize].is_some() =>
                {
                    return Ok(Some(id))
                }
                _ => return Ok(None),
            }
        }
        Err(CDumpError::TooDeep { id: id.0 })
    }

    fn cycle(&self, id: TypeId) -> CDumpError {
        let chain: Vec<String> = self
            .state
            .iter()
            .enumerate()
            .filter(|(_, s)| **s == State::Visiting)
            .map(|(i, _)| format!("[{i}]"))
            .collect();
        CDumpError::Cycle {
            id: id.0,
            chain: chain.join(", "),
        }
    }

    /// A base type whose BTF name is not C (GCC's `__Poly8_t`, ...) gets
    /// a typedef to the standard type of its size and sign.
    fn alias_base(&mut self, id: TypeId) -> Result<(), CDumpError> {
        let name = self.raw_name(id)?;
        if is_c_base_name(name) || self.aliased[id.0 as usize] {
            return Ok(());
        }
        let TypeData::Int(i) = self.data(id)? else {
            return Ok(());
        };
        let std = match (i.size, i.is_signed()) {
            (1, true) => "signed char",
            (1, false) => "unsigned char",
            (2, true) => "short",
            (2, false) => "unsigned short",
            (4, true) => "int",
            (4, false) => "unsigned int",
            (8, true) => "long long",
            (8, false) => "unsigned long long",
            (16, true) => "__int128",
            (16, false) => "unsigned __int128",
            _ => {
                return Err(Self::unrepresentable(
                    id,
                    format!("{}-byte integer {name:?}", i.size),
                ))
            }
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Self::unrepresentable(id, format!("integer named {name:?}")));
        }
        let _ = write!(self.out, "typedef {std} {name};\n\n");
        self.aliased[id.0 as usize] = true;
        Ok(())
    }

    fn declare(&mut self, id: TypeId) -> Result<(), CDumpError> {
        let i = id.0 as usize;
        if self.declared[i] || self.state[i] == State::Done {
            return Ok(());
        }
        self.declared[i] = true;
        let kw = self.tag_keyword(id)?;
        let name = self.names[i].clone().unwrap_or_default().into_owned();
        let _ = write!(self.out, "{kw} {name};\n\n");
        Ok(())
    }

    fn tag_keyword(&self, id: TypeId) -> Result<&'static str, CDumpError> {
        Ok(match self.data(id)? {
            TypeData::Union(_) | TypeData::Fwd { is_union: true } => "union",
            TypeData::Enum(_) => "enum",
            _ => "struct",
        })
    }

    fn define_enum(&mut self, id: TypeId) -> Result<(), CDumpError> {
        let i = id.0 as usize;
        if self.state[i] == State::Done {
            return Ok(());
        }
        self.state[i] = State::Done;
        self.emit_definition(id)
    }

    /// `enum NAME { ... }` with its size attribute, at indentation `lvl`.
    fn enum_text(&self, id: TypeId, lvl: usize) -> Result<String, CDumpError> {
        let t = self.btf.type_by_id(id)?;
        let TypeData::Enum(vals) = t.data() else {
            return Err(Self::unrepresentable(id, "not an enum"));
        };
        let mut s = String::from("enum");
        if let Some(n) = &self.names[id.0 as usize] {
            s.push(' ');
            s.push_str(n);
        }
        if vals.is_empty() {
            // A declaration of an enum without values.
            return Ok(s);
        }
        s.push_str(" {\n");
        let names = &self.enumerators[&id.0];
        for (e, name) in vals.iter().zip(names) {
            let v = e.value();
            let lit = if vals.is_64() || v > i32::MAX as i128 || v < i32::MIN as i128 {
                if v < 0 {
                    format!("{v}LL")
                } else {
                    format!("{v}ULL")
                }
            } else {
                v.to_string()
            };
            indent(&mut s, lvl + 1);
            let _ = writeln!(s, "{name} = {lit},");
        }
        indent(&mut s, lvl);
        s.push('}');
        let size = t.size_or_type();
        let needs_word = vals
            .iter()
            .all(|e| e.value() <= u32::MAX as i128 && e.value() >= i32::MIN as i128);
        match size {
            1 => s.push_str(" __attribute__((mode(byte)))"),
            2 => s.push_str(" __attribute__((mode(HI)))"),
            8 if needs_word => s.push_str(" __attribute__((mode(word)))"),
            4 | 8 => {}
            n => return Err(Self::unrepresentable(id, format!("a {n}-byte enum"))),
        }
        Ok(s)
    }

    /// Size in bytes of a type as the written C has it (libbpf's
    /// `btf__resolve_size`, over the decoded table).
    fn size_of(&self, id: TypeId) -> Result<u64, CDumpError> {
        let mut nelems: u64 = 1;
        let mut cur = id;
        for _ in 0..MAX_DEPTH {
            let size = match self.data(cur)? {
                TypeData::Int(_)
                | TypeData::Struct(_)
                | TypeData::Union(_)
                | TypeData::Enum(_)
                | TypeData::Float { .. } => self.size_word(cur) as u64,
                TypeData::Ptr(_) => self.ptr_size as u64,
                TypeData::Typedef(r)
                | TypeData::Volatile(r)
                | TypeData::Const(r)
                | TypeData::Restrict(r)
                | TypeData::TypeTag(r) => {
                    cur = r;
                    continue;
                }
                TypeData::Array(a) => {
                    nelems = nelems
                        .checked_mul(a.nelems as u64)
                        .filter(|&n| n <= u32::MAX as u64)
                        .ok_or_else(|| Self::unrepresentable(id, "an array too large"))?;
                    cur = a.elem_type;
                    continue;
                }
                _ => return Ok(self.btf.resolve_size(id)?),
            };
            return nelems
                .checked_mul(size)
                .filter(|&s| s <= u32::MAX as u64)
                .ok_or_else(|| Self::unrepresentable(id, "a size over 4 GiB"));
        }
        Err(CDumpError::TooDeep { id: id.0 })
    }

    /// Alignment in bytes of a type as clang gives it to the written C.
    fn align_of(&self, id: TypeId, depth: u32) -> Result<u32, CDumpError> {
        self.align_in(id, &self.layouts, depth)
    }

    fn align_in(
        &self,
        id: TypeId,
        layouts: &[Option<Layout>],
        depth: u32,
    ) -> Result<u32, CDumpError> {
        if depth > MAX_DEPTH {
            return Err(CDumpError::TooDeep { id: id.0 });
        }
        Ok(match self.data(id)? {
            TypeData::Int(_) | TypeData::Float { .. } | TypeData::Enum(_) => {
                let size = self.size_word(id);
                let cap = if self.ptr_size >= 8 { 16 } else { 8 };
                if size.is_power_of_two() {
                    size.min(cap)
                } else {
                    1
                }
            }
            TypeData::Ptr(_) => self.ptr_size,
            TypeData::Typedef(t)
            | TypeData::Const(t)
            | TypeData::Volatile(t)
            | TypeData::Restrict(t)
            | TypeData::TypeTag(t) => self.align_in(t, layouts, depth + 1)?,
            TypeData::Array(a) => self.align_in(a.elem_type, layouts, depth + 1)?,
            TypeData::Struct(_) | TypeData::Union(_) => {
                layouts
                    .get(id.0 as usize)
                    .copied()
                    .flatten()
                    .ok_or_else(|| Self::unrepresentable(id, "a struct containing itself"))?
                    .align
            }
            _ => return Err(Self::unrepresentable(id, "used by value but has no layout")),
        })
    }

    /// A member's bitfield width: from the member (kind_flag set), or from
    /// an int type narrower than its storage.
    fn member_bits(&self, id: TypeId, m: &Member) -> Result<u32, CDumpError> {
        let _ = id;
        if m.bitfield_size() != 0 {
            return Ok(m.bitfield_size());
        }
        let mut cur = m.type_id;
        for _ in 0..MAX_DEPTH {
            match self.data(cur)? {
                TypeData::Typedef(r)
                | TypeData::Volatile(r)
                | TypeData::Const(r)
                | TypeData::Restrict(r)
                | TypeData::TypeTag(r) => cur = r,
                TypeData::Int(i) if i.bits() != 0 && i.bits() as u64 != i.size as u64 * 8 => {
                    return Ok(i.bits())
                }
                _ => return Ok(0),
            }
        }
        Err(CDumpError::TooDeep { id: cur.0 })
    }

    /// A composite's layout, computed by [`Self::compute_layouts`].
    fn layout(&self, id: TypeId) -> Result<Layout, CDumpError> {
        self.layouts
            .get(id.0 as usize)
            .copied()
            .flatten()
            .ok_or_else(|| Self::unrepresentable(id, "a struct containing itself"))
    }

    /// The struct or union a member's storage is, behind typedefs,
    /// modifiers and arrays (not pointers).
    fn stored_composite(&self, mut id: TypeId) -> Result<Option<TypeId>, CDumpError> {
        for _ in 0..MAX_DEPTH {
            match self.data(id)? {
                TypeData::Typedef(t)
                | TypeData::Const(t)
                | TypeData::Volatile(t)
                | TypeData::Restrict(t)
                | TypeData::TypeTag(t) => id = t,
                TypeData::Array(a) => id = a.elem_type,
                TypeData::Struct(_) | TypeData::Union(_) => return Ok(Some(id)),
                _ => return Ok(None),
            }
        }
        Err(CDumpError::TooDeep { id: id.0 })
    }

    /// Whether each composite must be packed and its alignment in the C
    /// we write, members' composites first.
    fn layouts_of(&self) -> Result<Vec<Option<Layout>>, CDumpError> {
        let n = self.tdata.len();
        let mut layouts = vec![None; n];
        let mut visiting = vec![false; n];
        for i in 1..n {
            if matches!(self.tdata[i], TypeData::Struct(_) | TypeData::Union(_)) {
                self.compute_layout(TypeId(i as u32), 0, &mut layouts, &mut visiting)?;
            }
        }
        Ok(layouts)
    }

    fn compute_layout(
        &self,
        id: TypeId,
        depth: u32,
        layouts: &mut Vec<Option<Layout>>,
        visiting: &mut Vec<bool>,
    ) -> Result<(), CDumpError> {
        let i = id.0 as usize;
        if layouts[i].is_some() {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(CDumpError::TooDeep { id: id.0 });
        }
        let (ms, is_union) = match self.data(id)? {
            TypeData::Struct(ms) => (ms, false),
            TypeData::Union(ms) => (ms, true),
            _ => return Err(Self::unrepresentable(id, "not a struct or union")),
        };
        if visiting[i] {
            return Err(CDumpError::Cycle {
                id: id.0,
                chain: format!("[{}] contains itself", id.0),
            });
        }
        visiting[i] = true;
        for m in ms.iter() {
            if let Some(c) = self.stored_composite(m.type_id)? {
                self.compute_layout(c, depth + 1, layouts, visiting)?;
            }
        }
        visiting[i] = false;
        let size_bits = self.size_word(id) as u64 * 8;
        let mut packed = false;
        let mut max_align = 1u32;
        let mut cur = 0u64;
        for m in ms.iter() {
            let a = self.align_in(m.type_id, layouts, depth + 1)?;
            max_align = max_align.max(a);
            let off = m.bit_offset() as u64;
            let bits = self.member_bits(id, &m)? as u64;
            if bits > 0 {
                let unit = self.size_of(m.type_id)? * 8;
                if unit == 0 || off / unit != (off + bits - 1) / unit {
                    packed = true;
                }
                if !is_union {
                    if off < cur {
                        packed = true;
                    }
                    cur = off + bits;
                }
            } else {
                if off % (a as u64 * 8) != 0 {
                    packed = true;
                }
                if !is_union {
                    if off < cur {
                        packed = true;
                    }
                    cur = off + self.size_of(m.type_id)? * 8;
                }
            }
        }
        if size_bits % (max_align as u64 * 8) != 0 {
            packed = true;
        }
        layouts[i] = Some(Layout {
            packed,
            align: if packed { 1 } else { max_align },
        });
        Ok(())
    }

    /// Names, references and layouts, on two threads.
    fn prepare(&mut self) -> Result<(), CDumpError> {
        let this = &*self;
        let (names, rest) = std::thread::scope(|sc| {
            let names = sc.spawn(|| this.names_of());
            let refs = this.references_of();
            let layouts = this.layouts_of();
            (names.join().expect("names"), (refs, layouts))
        });
        let (names, enumerators) = names?;
        self.names = names;
        self.enumerators = enumerators;
        let ((referenced, twice), layouts) = rest;
        self.apply_references(referenced, twice);
        self.layouts = layouts?;
        Ok(())
    }

    /// Appends the definition of `id` to the output: the prepared one, or
    /// one written now.
    fn emit_definition(&mut self, id: TypeId) -> Result<(), CDumpError> {
        match self.texts.get(id.0 as usize) {
            Some(&(arena, start, len)) if len != u32::MAX => {
                let (start, len) = (start as usize, len as usize);
                self.out
                    .push_str(&self.arenas[arena as usize][start..start + len]);
            }
            _ => {
                let mut t = String::new();
                self.definition_text(id, &mut t)?;
                self.out.push_str(&t);
            }
        }
        Ok(())
    }

    /// `struct s {...};`, `enum e {...};` or `typedef ... t;`, with the
    /// blank line after it, appended to `s`.
    fn definition_text(&self, id: TypeId, s: &mut String) -> Result<(), CDumpError> {
        match self.data(id)? {
            TypeData::Struct(_) | TypeData::Union(_) => self.composite_into(id, 0, 0, s)?,
            TypeData::Enum(_) => s.push_str(&self.enum_text(id, 0)?),
            TypeData::Typedef(t) => {
                let name = self.names[id.0 as usize].as_deref().unwrap_or_default();
                s.push_str("typedef ");
                s.push_str(&self.decl(t, name, 0, 0, true)?);
            }
            _ => return Err(Self::unrepresentable(id, "has no definition")),
        }
        s.push_str(";\n\n");
        Ok(())
    }

    /// Writes every definition ahead of the ordering pass, on all cores.
    fn prepare_texts(&mut self, threads: usize) -> Result<(), CDumpError> {
        let n = self.tdata.len();
        let wanted: Vec<bool> = (0..n)
            .map(|i| match self.tdata[i] {
                TypeData::Struct(_) | TypeData::Union(_) | TypeData::Enum(_) => {
                    self.names[i].is_some()
                }
                TypeData::Typedef(_) => self.rnames[i] != "__builtin_va_list",
                _ => false,
            })
            .collect();
        const CHUNK: usize = 512;
        let next = std::sync::atomic::AtomicUsize::new(0);
        let this = &*self;
        type Prepared = (String, Vec<(u32, u32, u32)>);
        let results: Vec<Result<Prepared, CDumpError>> = std::thread::scope(|sc| {
            let workers: Vec<_> = (0..threads.max(1))
                .map(|_| {
                    walk_thread().spawn_scoped(sc, || {
                        let mut arena = String::new();
                        let mut index = Vec::new();
                        loop {
                            let start = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
                            if start >= n {
                                return Ok((arena, index));
                            }
                            let end = (start + CHUNK).min(n);
                            for (i, _) in wanted[start..end].iter().enumerate().filter(|(_, w)| **w)
                            {
                                let i = start + i;
                                {
                                    let at = arena.len();
                                    this.definition_text(TypeId(i as u32), &mut arena)?;
                                    index.push((i as u32, at as u32, (arena.len() - at) as u32));
                                }
                            }
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.map_err(CDumpError::Io)
                        .and_then(|h| h.join().expect("text worker"))
                })
                .collect()
        });
        self.texts = vec![(0, 0, u32::MAX); n];
        for (w, r) in results.into_iter().enumerate() {
            let (arena, index) = r?;
            for (i, at, len) in index {
                self.texts[i as usize] = (w as u32, at, len);
            }
            self.arenas.push(arena);
        }
        Ok(())
    }

    fn define_composite(&mut self, id: TypeId, depth: u32) -> Result<(), CDumpError> {
        let i = id.0 as usize;
        match self.state[i] {
            State::Done => return Ok(()),
            State::Visiting => return Err(self.cycle(id)),
            State::New => {}
        }
        self.state[i] = State::Visiting;
        let (TypeData::Struct(ms) | TypeData::Union(ms)) = self.data(id)? else {
            return Err(Self::unrepresentable(id, "not a struct or union"));
        };
        for m in ms.iter() {
            self.need(m.type_id, false, depth + 1)?;
        }
        let _ = depth;
        self.emit_definition(id)?;
        self.state[i] = State::Done;
        Ok(())
    }

    /// Unnamed bitfields filling bits `from..to`, none crossing a unit
    /// of its own type. `place` says where the gap is, for the error when
    /// it is larger than [`MAX_PADDING_BYTES`]: each `long` of padding is
    /// a line, and hostile BTF can claim gigabytes.
    fn padding(
        &self,
        id: TypeId,
        place: impl FnOnce() -> String,
        (mut from, to): (u64, u64),
        lvl: usize,
        s: &mut String,
    ) -> Result<(), CDumpError> {
        let bytes = to.saturating_sub(from) / 8;
        if bytes > MAX_PADDING_BYTES {
            return Err(CDumpError::PaddingTooLarge {
                id: id.0,
                place: place(),
                bytes,
            });
        }
        let long_bits = self.ptr_size as u64 * 8;
        while from < to {
            let gap = to - from;
            let (ty, bits) = [
                ("char", 8u64),
                ("short", 16),
                ("int", 32),
                ("long", long_bits),
            ]
            .into_iter()
            .map(|(ty, unit)| (ty, gap.min(unit - from % unit)))
            .find(|&(ty, w)| w == gap || ty == "long")
            .expect("long always fits");
            indent(s, lvl);
            let _ = writeln!(s, "{ty}: {bits};");
            from += bits;
        }
        Ok(())
    }

    /// `struct NAME { ... }` (or anonymous) at indentation `lvl`.
    fn composite_text(&self, id: TypeId, lvl: usize, depth: u32) -> Result<String, CDumpError> {
        let mut s = String::new();
        self.composite_into(id, lvl, depth, &mut s)?;
        Ok(s)
    }

    /// [`Self::composite_text`], appended to `s`.
    fn composite_into(
        &self,
        id: TypeId,
        lvl: usize,
        depth: u32,
        s: &mut String,
    ) -> Result<(), CDumpError> {
        if depth > MAX_DEPTH {
            return Err(CDumpError::TooDeep { id: id.0 });
        }
        let size_bits = self.size_word(id) as u64 * 8;
        let (ms, kw) = match self.data(id)? {
            TypeData::Struct(ms) => (ms, "struct"),
            TypeData::Union(ms) => (ms, "union"),
            _ => return Err(Self::unrepresentable(id, "not a struct or union")),
        };
        let layout = self.layout(id)?;
        s.push_str(kw);
        if let Some(n) = &self.names[id.0 as usize] {
            s.push(' ');
            s.push_str(n);
        }
        s.push_str(" {\n");
        let is_union = kw == "union";
        let mut cur = 0u64;
        let mut max_align = 1u64;
        for m in ms.iter() {
            let name = self.name_at(m.name_off)?;
            let off = m.bit_offset() as u64;
            let bits = self.member_bits(id, &m)? as u64;
            let a = if layout.packed {
                1
            } else {
                self.align_of(m.type_id, depth + 1)? as u64
            };
            max_align = max_align.max(a);
            if !is_union {
                let natural = if bits > 0 {
                    let unit = self.size_of(m.type_id)? * 8;
                    if layout.packed || cur / unit == (cur + bits - 1) / unit {
                        cur
                    } else {
                        align_up(cur, unit)
                    }
                } else {
                    align_up(cur, a * 8)
                };
                if off != natural {
                    if off < cur {
                        return Err(Self::unrepresentable(
                            id,
                            format!("member {name:?} overlaps the one before"),
                        ));
                    }
                    let place = || format!("before member {name:?}");
                    self.padding(id, place, (cur, off), lvl + 1, s)?;
                }
            } else if off != 0 {
                return Err(Self::unrepresentable(
                    id,
                    format!("union member {name:?} at bit {off}"),
                ));
            }
            let declarator = if bits > 0 {
                format!("{name}: {bits}")
            } else {
                name.to_string()
            };
            let decl = self.decl(m.type_id, &declarator, lvl + 1, depth + 1, true)?;
            indent(s, lvl + 1);
            s.push_str(&decl);
            s.push_str(";\n");
            let end = off
                + if bits > 0 {
                    bits
                } else {
                    self.size_of(m.type_id)? * 8
                };
            cur = if is_union { cur.max(end) } else { end };
        }
        let natural_end = align_up(cur, max_align * 8);
        if size_bits > natural_end {
            if is_union {
                // Union members all start at 0: the padding goes in an
                // anonymous struct of unnamed bitfields (no alignment).
                indent(s, lvl + 1);
                s.push_str("struct {\n");
                let place = || "after the last member".to_string();
                self.padding(id, place, (0, size_bits), lvl + 2, s)?;
                indent(s, lvl + 1);
                s.push_str("};\n");
            } else {
                let place = || "after the last member".to_string();
                self.padding(id, place, (cur, size_bits), lvl + 1, s)?;
            }
        }
        indent(s, lvl);
        s.push('}');
        if layout.packed {
            s.push_str(" __attribute__((packed))");
        }
        Ok(())
    }

    /// A declaration of `name` with type `id`: `int *name[4]`,
    /// `void (*name)(int)`, anonymous types written inline at `lvl`.
    fn decl(
        &self,
        id: TypeId,
        name: &str,
        lvl: usize,
        depth: u32,
        by_value: bool,
    ) -> Result<String, CDumpError> {
        let mut quals: Vec<Qual<'b>> = Vec::new();
        self.render(id, name.to_string(), &mut quals, lvl, depth, by_value)
    }

    /// `by_value`: the type is used by value (not behind a pointer, not in
    /// a prototype).
    fn render(
        &self,
        id: TypeId,
        decl: String,
        quals: &mut Vec<Qual<'b>>,
        lvl: usize,
        depth: u32,
        by_value: bool,
    ) -> Result<String, CDumpError> {
        if depth > MAX_DEPTH {
            return Err(CDumpError::TooDeep { id: id.0 });
        }
        let wrap = |decl: String| {
            if decl.starts_with('*') {
                format!("({decl})")
            } else {
                decl
            }
        };
        Ok(match self.data(id)? {
            TypeData::Void => base("void", quals, &decl),
            TypeData::Int(_) | TypeData::Float { .. } => {
                base(self.rnames[id.0 as usize], quals, &decl)
            }
            TypeData::Ptr(t) => {
                let decl = flush(quals, decl);
                self.render(t, format!("*{decl}"), quals, lvl, depth + 1, false)?
            }
            TypeData::Const(t) => {
                quals.insert(0, Qual::Const);
                self.render(t, decl, quals, lvl, depth + 1, by_value)?
            }
            TypeData::Volatile(t) => {
                quals.insert(0, Qual::Volatile);
                self.render(t, decl, quals, lvl, depth + 1, by_value)?
            }
            TypeData::Restrict(t) => {
                quals.insert(0, Qual::Restrict);
                self.render(t, decl, quals, lvl, depth + 1, by_value)?
            }
            TypeData::TypeTag(t) => {
                quals.push(Qual::Tag(self.rnames[id.0 as usize]));
                self.render(t, decl, quals, lvl, depth + 1, by_value)?
            }
            TypeData::Array(a) => {
                // Qualifiers of an array type are its elements' (C11
                // 6.7.3p9): they stay with the element type.
                let decl = wrap(decl);
                self.render(
                    a.elem_type,
                    format!("{decl}[{}]", a.nelems),
                    quals,
                    lvl,
                    depth + 1,
                    by_value,
                )?
            }
            TypeData::FuncProto { ret, params } => {
                // C has no qualified function types (BTF can say
                // `volatile` here): such qualifiers are dropped.
                quals.clear();
                let decl = wrap(decl);
                let mut list = String::new();
                let mut r = Ok(());
                for p in params.iter() {
                    if !list.is_empty() {
                        list.push_str(", ");
                    }
                    if p.type_id.is_void() {
                        list.push_str("...");
                    } else {
                        match self
                            .name_at(p.name_off)
                            .and_then(|n| self.decl(p.type_id, n, lvl, depth + 1, false))
                        {
                            Ok(d) => list.push_str(&d),
                            Err(e) => {
                                r = Err(e);
                                break;
                            }
                        }
                    }
                }
                if list.is_empty() {
                    list.push_str("void");
                }
                r?;
                self.render(ret, format!("{decl}({list})"), quals, lvl, depth + 1, false)?
            }
            TypeData::Struct(_) | TypeData::Union(_) => {
                let kw = self.tag_keyword(id)?;
                match &self.names[id.0 as usize] {
                    Some(n) => base2(kw, n, quals, &decl),
                    None => {
                        let text = self.composite_text(id, lvl, depth + 1)?;
                        base(&text, quals, &decl)
                    }
                }
            }
            TypeData::Enum(vals) if vals.is_empty() && by_value => {
                // An enum without values is incomplete in C; by value it
                // is written as the integer of its size.
                let int = match (self.size_word(id), vals.is_signed()) {
                    (1, true) => "signed char",
                    (1, false) => "unsigned char",
                    (2, true) => "short",
                    (2, false) => "unsigned short",
                    (8, true) => "long long",
                    (8, false) => "unsigned long long",
                    (_, true) => "int",
                    (_, false) => "unsigned int",
                };
                base(int, quals, &decl)
            }
            TypeData::Enum(_) => match &self.names[id.0 as usize] {
                Some(n) => base2("enum", n, quals, &decl),
                None => {
                    let text = self.enum_text(id, lvl)?;
                    base(&text, quals, &decl)
                }
            },
            TypeData::Fwd { is_union } => {
                let n = self.names[id.0 as usize].as_deref().unwrap_or_default();
                base2(if is_union { "union" } else { "struct" }, n, quals, &decl)
            }
            TypeData::Typedef(t) if self.rnames[id.0 as usize] == "__builtin_va_list" => {
                self.render(t, decl, quals, lvl, depth + 1, by_value)?
            }
            TypeData::Typedef(_) => base(
                self.names[id.0 as usize].as_deref().unwrap_or_default(),
                quals,
                &decl,
            ),
            TypeData::Func { .. }
            | TypeData::Var { .. }
            | TypeData::Datasec(_)
            | TypeData::DeclTag { .. } => {
                return Err(Self::unrepresentable(
                    id,
                    "a function, variable or section is not a type",
                ))
            }
            TypeData::Unknown { kind } => {
                return Err(Self::unrepresentable(id, format!("unknown kind {kind}")))
            }
        })
    }
}

/// A qualifier gathered on the way to a declaration's base type.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Qual<'b> {
    Const,
    Volatile,
    Restrict,
    Tag(&'b str),
}

impl Qual<'_> {
    fn write(&self, s: &mut String) {
        match self {
            Qual::Const => s.push_str("const"),
            Qual::Volatile => s.push_str("volatile"),
            Qual::Restrict => s.push_str("restrict"),
            Qual::Tag(t) => {
                s.push_str("__attribute__((btf_type_tag(\"");
                s.push_str(t);
                s.push_str("\")))");
            }
        }
    }
}

/// Unique qualifiers, in order.
fn unique<'q, 'b>(quals: &'q [Qual<'b>]) -> impl Iterator<Item = &'q Qual<'b>> {
    quals
        .iter()
        .enumerate()
        .filter(|(i, q)| !quals[..*i].contains(q))
        .map(|(_, q)| q)
}

/// `const volatile BASE TAGS DECL`.
fn base(b: &str, quals: &mut Vec<Qual<'_>>, decl: &str) -> String {
    base2("", b, quals, decl)
}

/// As [`base`], with a keyword (`struct`) before the base name.
fn base2(kw: &str, b: &str, quals: &mut Vec<Qual<'_>>, decl: &str) -> String {
    let mut s = String::with_capacity(kw.len() + b.len() + decl.len() + 16);
    for q in unique(quals).filter(|q| !matches!(q, Qual::Tag(_))) {
        q.write(&mut s);
        s.push(' ');
    }
    if !kw.is_empty() {
        s.push_str(kw);
        s.push(' ');
    }
    s.push_str(b);
    for q in unique(quals).filter(|q| matches!(q, Qual::Tag(_))) {
        s.push(' ');
        q.write(&mut s);
    }
    quals.clear();
    if !decl.is_empty() {
        s.push(' ');
        s.push_str(decl);
    }
    s
}

/// Qualifiers met before a pointer, array or function belong in the
/// declarator (`*const p`).
fn flush(quals: &mut Vec<Qual<'_>>, decl: String) -> String {
    if quals.is_empty() {
        return decl;
    }
    let mut s = String::with_capacity(decl.len() + 16);
    for q in unique(quals) {
        if !s.is_empty() {
            s.push(' ');
        }
        q.write(&mut s);
    }
    quals.clear();
    if !decl.is_empty() {
        s.push(' ');
        s.push_str(&decl);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::{BtfBuilder, MemberSpec};

    fn m(name: &str, type_id: TypeId, bit_offset: u32, bitfield_size: u8) -> MemberSpec<'_> {
        MemberSpec {
            name,
            type_id,
            bit_offset,
            bitfield_size,
        }
    }

    #[test]
    fn declarators() {
        let mut b = BtfBuilder::new();
        let int = b.add_int("int", 4, 1).unwrap();
        let ch = b.add_int("char", 1, 2).unwrap();
        let pc = b.add_ptr(ch).unwrap();
        let cc = b.add_const(ch).unwrap();
        let pcc = b.add_ptr(cc).unwrap();
        let cpc = b.add_const(pc).unwrap();
        let arr = b.add_array(pc, int, 4).unwrap();
        let parr = b.add_ptr(arr).unwrap();
        let proto = b.add_func_proto(int, &[("", pc), ("n", int)]).unwrap();
        let pproto = b.add_ptr(proto).unwrap();
        let vproto = b
            .add_func_proto(TypeId(0), &[("", int), ("", TypeId(0))])
            .unwrap();
        let pv = b.add_ptr(vproto).unwrap();
        let s = b
            .add_struct(
                "s",
                48,
                &[
                    m("a", pcc, 0, 0),
                    m("b", cpc, 64, 0),
                    m("c", parr, 128, 0),
                    m("f", pproto, 192, 0),
                    m("g", pv, 256, 0),
                    m("x", int, 320, 3),
                ],
            )
            .unwrap();
        let _ = s;
        let bytes = b.finish();
        let btf = Btf::parse(&bytes).unwrap();
        let h = dump_c(&btf, &CDumpOptions::default()).unwrap();
        for want in [
            "\tconst char *a;",
            "\tchar *const b;",
            "\tchar *(*c)[4];",
            "\tint (*f)(char *, int n);",
            "\tvoid (*g)(int, ...);",
            "\tint x: 3;",
        ] {
            assert!(h.contains(want), "{want}\n{h}");
        }
    }
}
