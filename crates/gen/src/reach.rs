//! Which candidates a relocation can see, over every subset of programs
//! libbpf may load.
//!
//! libbpf keeps one candidate list per local type for the whole object
//! load: a relocation that matches some of the list's candidates narrows
//! it to those (one that matches none leaves it as it is), and later
//! relocations of the same type see only what is left. Which relocations
//! run before a given one depends on which programs are loaded: its own
//! program's and the subprograms' always do, any other program's may or
//! may not. So a relocation can see any list reachable that way, and the
//! minimized BTF must keep, for each, what the candidates it sees and
//! matches need.
//!
//! The reachable lists are computed per local type as a set of states,
//! stepping through the type's relocations in libbpf's order: the
//! relocations that always run move every state, the optional ones add
//! the moved states to the unmoved ones. Treating each optional
//! relocation on its own (not program by program) can only add states, so
//! the result covers every subset. A relocation whose visible candidates
//! disagree fails (libbpf's ambiguity error, which fails the load): it
//! keeps nothing and leaves the list as it was, as btfkit's engine does.
//! Only types with two or more candidates
//! are analysed (with one, pruning changes nothing), and a relocation that
//! matches no candidate moves no state, so what is stepped through is
//! small; past `MAX_STATES` states the analysis stops distinguishing them
//! and keeps every candidate the relocation matches, which covers any
//! state.

use std::collections::BTreeMap;
use std::sync::Arc;

use btfkit_btf::TypeId;
use btfkit_core::{MatchedCand, RelocKind, UnprunedMatch};

/// Beyond this many reachable lists for one type, keep every match.
const MAX_STATES: usize = 64;
/// Beyond this many matching candidates (kernels whose BTF was never
/// deduplicated have hundreds of copies of a struct), keep every match
/// without walking: the copies match alike, so pruning keeps them all.
const MAX_WALKED_CANDIDATES: usize = 16;

/// A candidate list: `None` is the list as first found (every candidate),
/// `Some` the candidates left, in candidate order.
type State = Option<Vec<(usize, TypeId)>>;

/// Who loads a relocation.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Owner {
    /// A subprogram: loaded with every program.
    Subprog,
    /// Main program number n: loaded or not.
    Program(usize),
}

/// One relocation of a multi-candidate type that matched some candidate.
struct Step {
    owner: Owner,
    kind: RelocKind,
    /// Every initial candidate that matches it on its own.
    matched: Arc<[UnprunedMatch]>,
}

/// Relocations of multi-candidate types, in libbpf's order, by local type.
#[derive(Default)]
pub(crate) struct Reach {
    steps: BTreeMap<TypeId, Vec<Step>>,
    /// Main programs by name, numbered as first seen.
    programs: hashbrown::HashMap<String, usize>,
}

impl Reach {
    /// Records a relocation of `local_type` in program `program`
    /// (`subprog`: a subprogram), given every initial candidate that
    /// matches it on its own. Call in libbpf's order.
    pub(crate) fn push(
        &mut self,
        local_type: TypeId,
        program: &str,
        subprog: bool,
        kind: RelocKind,
        matched: &Arc<[UnprunedMatch]>,
    ) {
        if matched.is_empty() {
            return; // moves no state, and there is nothing to keep
        }
        let owner = if subprog {
            Owner::Subprog
        } else {
            Owner::Program(self.program_number(program))
        };
        self.steps.entry(local_type).or_default().push(Step {
            owner,
            kind,
            matched: matched.clone(),
        });
    }

    fn program_number(&mut self, name: &str) -> usize {
        // Kernels whose BTF has many copies of a type put most relocations
        // of a large object here: a scan would cost programs x relocations.
        if let Some(&n) = self.programs.get(name) {
            return n;
        }
        let n = self.programs.len();
        self.programs.insert(name.to_string(), n);
        n
    }

    /// Calls `keep` with every (kind, candidate) some relocation can see
    /// and match under some subset of programs.
    pub(crate) fn visible(&self, mut keep: impl FnMut(RelocKind, &MatchedCand)) {
        for steps in self.steps.values() {
            if steps
                .iter()
                .any(|s| s.matched.len() > MAX_WALKED_CANDIDATES)
            {
                keep_all(steps, &mut keep);
                continue;
            }
            // Where each program's relocations of this type start and end.
            let mut spans: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
            for (i, s) in steps.iter().enumerate() {
                if let Owner::Program(n) = s.owner {
                    spans.entry(n).or_insert((i, i)).1 = i;
                }
            }
            // One walk with every program optional: the subprograms'
            // relocations run under every subset. Until a program's first
            // relocation, a walk with that program loaded is the same
            // walk, so it records the states there and each program's own
            // walk covers only its span (its relocations are contiguous,
            // one function's in one section: the whole work is about one
            // pass over the type's relocations).
            let starts: BTreeMap<usize, usize> =
                spans.iter().map(|(&n, &(first, _))| (first, n)).collect();
            let mut at_start: BTreeMap<usize, Walk> = BTreeMap::new();
            let mut w = Walk::new(Owner::Subprog);
            for (i, s) in steps.iter().enumerate() {
                if let Some(&n) = starts.get(&i) {
                    at_start.insert(n, w.clone());
                }
                w.step(s, &mut keep);
            }
            for (n, (first, last)) in spans {
                let mut w = at_start.remove(&n).expect("recorded at its first step");
                w.focus = Owner::Program(n);
                for s in &steps[first..=last] {
                    w.step(s, &mut keep);
                }
            }
        }
    }
}

/// The candidate lists a type can have at one point, for the relocations
/// of `focus`.
#[derive(Clone)]
struct Walk {
    focus: Owner,
    states: Vec<State>,
    /// Too many states: every match of `focus` is kept from here on.
    saturated: bool,
}

impl Walk {
    fn new(focus: Owner) -> Self {
        Walk {
            focus,
            states: vec![None],
            saturated: false,
        }
    }

    /// Keeps what relocation `s` sees (if `focus` owns it), then moves the
    /// states past it.
    fn step(&mut self, s: &Step, keep: &mut impl FnMut(RelocKind, &MatchedCand)) {
        if s.owner == self.focus {
            if self.saturated {
                s.matched.iter().for_each(|m| keep(s.kind, &m.cand));
            } else {
                for st in &self.states {
                    if let Some(seen) = decides(st, &s.matched) {
                        seen.into_iter().for_each(|m| keep(s.kind, &m.cand));
                    }
                }
            }
        }
        if self.saturated {
            return;
        }
        let always = s.owner == Owner::Subprog || s.owner == self.focus;
        let moved: Vec<State> = self.states.iter().map(|st| step(st, &s.matched)).collect();
        if always {
            self.states = moved;
        } else {
            self.states.extend(moved);
        }
        self.states.sort_unstable();
        self.states.dedup();
        self.saturated = self.states.len() > MAX_STATES;
    }
}

/// Every match of every relocation, once per spec (steps of one spec share
/// their list).
fn keep_all(steps: &[Step], keep: &mut impl FnMut(RelocKind, &MatchedCand)) {
    let mut done = std::collections::HashSet::new();
    for s in steps {
        if done.insert((s.kind, Arc::as_ptr(&s.matched) as *const u8 as usize)) {
            s.matched.iter().for_each(|m| keep(s.kind, &m.cand));
        }
    }
}

fn sees(state: &State, cand: &MatchedCand) -> bool {
    state
        .as_ref()
        .is_none_or(|s| s.contains(&(cand.btf_idx, cand.type_id)))
}

/// The matching candidates `state` shows a relocation, or None when they
/// disagree (the relocation fails).
fn decides<'m>(state: &State, matched: &'m [UnprunedMatch]) -> Option<Vec<&'m UnprunedMatch>> {
    let seen: Vec<&UnprunedMatch> = matched.iter().filter(|m| sees(state, &m.cand)).collect();
    let first = seen.first().map(|m| m.decision);
    let agree = seen
        .iter()
        .all(|m| m.decision.is_some() && Some(m.decision) == first);
    agree.then_some(seen)
}

/// libbpf's narrowing: the candidates left that match, unless none does
/// (or they disagree: the relocation fails and narrows nothing).
fn step(state: &State, matched: &[UnprunedMatch]) -> State {
    match decides(state, matched) {
        Some(seen) if !seen.is_empty() => Some(
            seen.iter()
                .map(|m| (m.cand.btf_idx, m.cand.type_id))
                .collect(),
        ),
        _ => state.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Candidate `id` matching relocation `relo`; the candidates of one
    /// relocation agree.
    fn m(id: u32, relo: u32) -> UnprunedMatch {
        UnprunedMatch {
            cand: MatchedCand {
                btf_idx: 0,
                type_id: TypeId(id),
                raw: vec![relo],
            },
            decision: Some((0, false, relo as u64)),
        }
    }

    /// A candidate that neither "all programs" nor "each program alone"
    /// shows a relocation, but a pair of programs does.
    #[test]
    fn a_pair_of_programs_can_show_what_neither_all_nor_one_does() {
        let (x, y, z) = (1, 2, 3);
        let t = TypeId(10);
        let mut r = Reach::default();
        let k = RelocKind::FieldByteOffset;
        r.push(t, "q", false, k, &Arc::from([m(y, 0), m(z, 0)]));
        r.push(t, "q2", false, k, &Arc::from([m(z, 1)]));
        r.push(t, "p", false, k, &Arc::from([m(x, 2)]));
        r.push(t, "p", false, k, &Arc::from([m(x, 3), m(y, 3)]));
        let mut kept = Vec::new();
        r.visible(|_, c| kept.push((c.type_id.0, c.raw[0])));
        // Loading q and p: relocation 0 leaves {y, z}, 2 matches none of
        // them and leaves it, 3 sees y.
        assert!(kept.contains(&(y, 3)), "{kept:?}");
        // p alone: 2 leaves {x}, 3 sees x.
        assert!(kept.contains(&(x, 3)));
    }

    /// Candidates that disagree fail the relocation: nothing is kept for
    /// that list, and the list is not narrowed.
    #[test]
    fn disagreeing_candidates_keep_nothing() {
        let t = TypeId(10);
        let mut r = Reach::default();
        let k = RelocKind::FieldByteOffset;
        let mut other = m(2, 0);
        other.decision = Some((32, false, 4));
        r.push(t, "p", false, k, &Arc::from([m(1, 0), other]));
        let mut kept = Vec::new();
        r.visible(|_, c| kept.push(c.type_id.0));
        assert!(kept.is_empty(), "{kept:?}");
    }

    /// A program's own earlier relocation always narrows the list first.
    #[test]
    fn a_programs_own_relocations_always_come_first() {
        let t = TypeId(10);
        let mut r = Reach::default();
        let k = RelocKind::FieldByteOffset;
        r.push(t, "p", false, k, &Arc::from([m(1, 0)]));
        r.push(t, "p", false, k, &Arc::from([m(1, 1), m(2, 1)]));
        let mut kept = Vec::new();
        r.visible(|_, c| kept.push((c.type_id.0, c.raw[0])));
        assert_eq!(kept, vec![(1, 0), (1, 1)]);
    }
}
