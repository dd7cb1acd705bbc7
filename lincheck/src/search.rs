//! The search for a linearization of one partition.
//!
//! Operations' calls and returns form one time-ordered list of events.
//! The operations whose calls come before the first return (the
//! "window") are the ones that may be placed next; the first return's
//! operation is due and must be placed before any later call's. The search
//! places a window operation the model accepts, removes its two events and
//! repeats; when nothing in the window fits, it undoes the last placement
//! and tries the next window operation after it instead. This is the
//! backtracking search of Wing and Gong as refined by Lowe: remembering
//! each (set of placed operations, state) pair already explored keeps it
//! from exploring the same situation twice.
//!
//! The model's [`Effect`]s let it prune much more, which keeps the KV
//! tests' histories fast:
//! - a read that fits is placed before anything else, and once placed is
//!   never taken back alone: if nothing can follow it, nothing could
//!   follow the prefix before it either, since moving a read that fits to
//!   the front keeps any linearization valid (it is in the window, and it
//!   leaves the state as it was);
//! - look-ahead asks the model whether each unplaced read due soon could
//!   still follow the state (see [`Model::could_become_legal`]). A read
//!   that could follow neither it nor any overwrite that may come first
//!   dooms the state; and a state that no read can observe before the next
//!   overwrite is remembered without its value, so that the orders of
//!   appends that a put will wipe out count as one.
//!
//! The memory of explored pairs stores sets compactly and stops growing at
//! a fixed size, which can cost speed but never correctness.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::mem::size_of;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::history::Operation;
use super::model::{Effect, Model};
use super::op_set::OpSet;
use super::outcome::PartitionVerdict;

/// How many placements or backtracks run between two looks at the clock.
const MOVES_PER_CLOCK_CHECK: u64 = 64;

/// How many overwrites look-ahead tries per read before assuming one may
/// help it.
const OVERWRITES_EXAMINED: usize = 16;

/// How many events look-ahead scans for reads and the updates that may
/// come before them; beyond that it assumes the least.
const EVENTS_SCANNED: usize = 256;

/// How much memory explored pairs may take, roughly, before the search
/// stops remembering more (states shared with other pairs not counted).
const VISITED_MEMORY: usize = 64 << 20;

/// Searches for a linearization of the `operations` of `history` (indices
/// into it) before `deadline` (`None`: no deadline).
pub(crate) fn linearize<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    operations: &[usize],
    deadline: Option<Instant>,
) -> PartitionVerdict {
    Search::new(model, history, operations).run(deadline)
}

/// One partition's search. Operations are numbered by call time: number
/// `i` is `indices[i]` in the history.
struct Search<'a, M: Model> {
    model: &'a M,
    indices: Vec<usize>,
    operations: Vec<&'a Operation<M::Input, M::Output>>,
    effects: Vec<Effect>,
    /// Whether the effects allow looking ahead: no [`Effect::Other`].
    look_ahead: bool,
    /// Unplaced operations' calls and returns (see [`call_event`]), in time
    /// order.
    events: DancingList,
    /// Unplaced reads, by return time.
    reads: DancingList,
    /// Unplaced overwrites, by call time.
    overwrites: DancingList,
    /// The state after the placed operations.
    state: M::State,
    placed: OpSet,
    /// The placed operations in order, each with the state before it.
    stack: Vec<(usize, M::State)>,
    visited: Visited<M::State>,
    longest: LongestPrefix,
}

/// What look-ahead found at the front of the event list.
struct NearOperations<'a, M: Model> {
    /// Unplaced reads called by the earliest-due read's return, in call
    /// order.
    reads: Vec<usize>,
    /// Unplaced updates, in call order, as far as scanned.
    updates: Vec<&'a Operation<M::Input, M::Output>>,
    /// How far the scan was asked to go.
    scan_until: Duration,
    /// The time of the first event left unscanned, if the scan stopped
    /// short.
    unscanned_from: Option<Duration>,
    /// Whether `reads` holds every read called by the earliest-due read's
    /// return.
    all_reads: bool,
}

impl<M: Model> NearOperations<'_, M> {
    /// Whether every event up to `time` was scanned.
    fn scanned_through(&self, time: Duration) -> bool {
        time <= self.scan_until
            && !matches!(self.unscanned_from, Some(unscanned) if unscanned <= time)
    }
}

/// What came of trying to place an operation next.
#[derive(PartialEq, Eq)]
enum Placement {
    /// Placed.
    Placed,
    /// The model does not accept it from the current state.
    Unfit,
    /// It fits, but look-ahead dooms the result or the search has been
    /// there before.
    Futile,
}

/// What look-ahead concludes about a state the search could move to.
#[derive(PartialEq, Eq)]
enum Outlook {
    /// Some read may observe it.
    Observable,
    /// No read can observe it before the next overwrite, so it does not
    /// matter.
    Unobservable,
    /// This unplaced read can never follow it.
    Doomed(usize),
}

impl<'a, M: Model> Search<'a, M> {
    fn new(
        model: &'a M,
        history: &'a [Operation<M::Input, M::Output>],
        operations: &[usize],
    ) -> Self {
        let mut indices = operations.to_vec();
        indices.sort_by_key(|&index| (history[index].called_at, due(&history[index]), index));
        let operations: Vec<_> = indices.iter().map(|&index| &history[index]).collect();
        let effects: Vec<_> = operations
            .iter()
            .map(|operation| model.effect(&operation.input))
            .collect();
        let count = operations.len();
        let mut events: Vec<(Duration, bool, usize)> = Vec::with_capacity(2 * count);
        for (number, operation) in operations.iter().enumerate() {
            // At equal times calls come first: operations that merely touch
            // count as concurrent, which never rejects a correct history.
            events.push((operation.called_at, false, call_event(number)));
            events.push((due(operation), true, return_event(number)));
        }
        events.sort_unstable();
        let with_effect = |effect| {
            let effects = &effects;
            (0..count).filter(move |&number| effects[number] == effect)
        };
        let mut reads: Vec<usize> = with_effect(Effect::Read).collect();
        reads.sort_by_key(|&number| (due(operations[number]), number));
        let overwrites = DancingList::new(count, with_effect(Effect::Overwrite));
        Search {
            model,
            look_ahead: !effects.contains(&Effect::Other),
            events: DancingList::new(2 * count, events.iter().map(|&(_, _, event)| event)),
            reads: DancingList::new(count, reads),
            overwrites,
            state: model.init(),
            placed: OpSet::new(count),
            stack: Vec::new(),
            visited: Visited::default(),
            longest: LongestPrefix::default(),
            indices,
            operations,
            effects,
        }
    }

    fn run(mut self, deadline: Option<Instant>) -> PartitionVerdict {
        // Where to go on trying in the window: from its start, or after the
        // call of an operation just taken back.
        let mut resume_after = None;
        for moves in 0.. {
            if moves % MOVES_PER_CLOCK_CHECK == 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                return PartitionVerdict::Undecided;
            }
            let Some(first_event) = self.events.first() else {
                return PartitionVerdict::Linearizable {
                    order: self
                        .stack
                        .iter()
                        .map(|&(number, _)| self.indices[number])
                        .collect(),
                };
            };
            let progressed = match resume_after.take() {
                Some(event) => self.place_other(self.events.after(event)),
                None => match self.place_read() {
                    Some(placed) => placed,
                    None => self.place_other(Some(first_event)),
                },
            };
            if !progressed {
                self.longest.offer(&self.stack, None, self.first_due());
                match self.take_back() {
                    Some(number) => resume_after = Some(call_event(number)),
                    None => return self.longest.into_verdict(&self.indices),
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// Places the first read in the window that fits: `Some(true)` if that
    /// led somewhere new, `Some(false)` if not, which dooms the prefix too
    /// (see the module's documentation); `None` if no read fits.
    fn place_read(&mut self) -> Option<bool> {
        let mut next = self.events.first();
        while let Some(event) = next.filter(|&event| is_call(event)) {
            let number = event / 2;
            if self.effects[number] == Effect::Read {
                match self.try_place(number) {
                    Placement::Placed => return Some(true),
                    Placement::Futile => return Some(false),
                    Placement::Unfit => {}
                }
            }
            next = self.events.after(event);
        }
        None
    }

    /// Places the first operation other than a read in the window from
    /// event `from` on that fits and leads somewhere new; false if none.
    fn place_other(&mut self, from: Option<usize>) -> bool {
        let mut next = from;
        while let Some(event) = next.filter(|&event| is_call(event)) {
            let number = event / 2;
            if self.effects[number] != Effect::Read && self.try_place(number) == Placement::Placed {
                return true;
            }
            next = self.events.after(event);
        }
        false
    }

    /// The unplaced operation due first, which ends the window.
    fn first_due(&self) -> usize {
        let first_return = self.events.iter().find(|&event| !is_call(event));
        first_return.expect("every unplaced call has its return after it") / 2
    }

    /// Places `number` next if the model accepts it, look-ahead finds no
    /// doomed read, and the search has not been in the resulting situation.
    fn try_place(&mut self, number: usize) -> Placement {
        let operation = self.operations[number];
        let Some(next_state) = self
            .model
            .step(&self.state, &operation.input, &operation.output)
        else {
            return Placement::Unfit;
        };
        self.placed.insert(number);
        self.lift(number);
        let new = match self.outlook(&next_state) {
            Outlook::Doomed(read) => {
                self.longest.offer(&self.stack, Some(number), read);
                false
            }
            Outlook::Unobservable => self.visited.insert(&self.placed, None),
            Outlook::Observable => self.visited.insert(&self.placed, Some(&next_state)),
        };
        if new {
            self.longest.pushed(self.stack.len(), number);
            let earlier_state = std::mem::replace(&mut self.state, next_state);
            self.stack.push((number, earlier_state));
            return Placement::Placed;
        }
        self.unlift(number);
        self.placed.remove(number);
        Placement::Futile
    }

    /// Undoes placements back to and including the last one that is not a
    /// read, and returns that one; `None` when nothing is left to undo.
    fn take_back(&mut self) -> Option<usize> {
        loop {
            let (number, earlier_state) = self.stack.pop()?;
            self.longest.popped(self.stack.len());
            self.placed.remove(number);
            self.state = earlier_state;
            self.unlift(number);
            if self.effects[number] != Effect::Read {
                return Some(number);
            }
        }
    }

    /// Looks ahead from `state`, the state after the placed operations.
    ///
    /// The earliest-due unplaced read must be placed by its return, after
    /// only updates called by then. When it can follow `state`, the state
    /// is observable; when it cannot, it needs an overwrite first, or the
    /// state is doomed. Then any read that observes `state` (or a state
    /// that updates lead to from it) must come before that overwrite, so
    /// must be called by the earliest-due read's return; if none of those
    /// can follow `state` either, the state is unobservable.
    fn outlook(&self, state: &M::State) -> Outlook {
        if !self.look_ahead {
            return Outlook::Observable;
        }
        let Some(earliest) = self.reads.first() else {
            // Only updates and overwrites remain, which fit anywhere.
            return Outlook::Unobservable;
        };
        let horizon = due(self.operations[earliest]);
        let near = self.scan_near(horizon, horizon);
        match self.read_outlook(state, earliest, &near) {
            Outlook::Unobservable => {}
            decided => return decided,
        }
        let scan_until = near
            .reads
            .iter()
            .map(|&read| due(self.operations[read]))
            .max()
            .unwrap_or(horizon);
        let near = self.scan_near(horizon, scan_until);
        let mut outlook = if near.all_reads {
            Outlook::Unobservable
        } else {
            Outlook::Observable
        };
        for &read in near.reads.iter().filter(|&&read| read != earliest) {
            match self.read_outlook(state, read, &near) {
                Outlook::Unobservable => {}
                Outlook::Observable => outlook = Outlook::Observable,
                doomed => return doomed,
            }
        }
        outlook
    }

    /// What the unplaced read `number` says of `state`: it can follow it
    /// (observable), only some overwrite first (unobservable by it), or
    /// neither (doomed).
    fn read_outlook(
        &self,
        state: &M::State,
        number: usize,
        near: &NearOperations<'a, M>,
    ) -> Outlook {
        let read_due = due(self.operations[number]);
        let updates = near.scanned_through(read_due).then(|| {
            let called = near
                .updates
                .partition_point(|update| update.called_at <= read_due);
            &near.updates[..called]
        });
        if self.could_follow(state, number, updates) {
            Outlook::Observable
        } else if self.overwrite_may_help(state, number, updates) {
            Outlook::Unobservable
        } else {
            Outlook::Doomed(number)
        }
    }

    /// Scans the events up to `scan_until` for the unplaced reads called by
    /// `horizon` and the unplaced updates.
    fn scan_near(&self, horizon: Duration, scan_until: Duration) -> NearOperations<'a, M> {
        let mut near = NearOperations {
            reads: Vec::new(),
            updates: Vec::new(),
            scan_until,
            unscanned_from: None,
            all_reads: true,
        };
        for (scanned, event) in self.events.iter().enumerate() {
            let time = self.event_time(event);
            if time > scan_until {
                break;
            }
            if scanned == EVENTS_SCANNED {
                near.unscanned_from = Some(time);
                near.all_reads = horizon < time;
                break;
            }
            let number = event / 2;
            match self.effects[number] {
                Effect::Read if is_call(event) && time <= horizon => near.reads.push(number),
                Effect::Update if is_call(event) => near.updates.push(self.operations[number]),
                _ => {}
            }
        }
        near
    }

    /// Whether the read `number` could follow `state`, after `updates`.
    fn could_follow(
        &self,
        state: &M::State,
        number: usize,
        updates: Option<&[&Operation<M::Input, M::Output>]>,
    ) -> bool {
        let read = self.operations[number];
        self.model
            .could_become_legal(state, &read.input, &read.output, updates)
    }

    /// Whether some unplaced overwrite that could come before the read
    /// `number` would let it follow, after `updates`.
    fn overwrite_may_help(
        &self,
        state: &M::State,
        number: usize,
        updates: Option<&[&Operation<M::Input, M::Output>]>,
    ) -> bool {
        let read_due = due(self.operations[number]);
        self.overwrites
            .iter()
            .take_while(|&overwrite| self.operations[overwrite].called_at <= read_due)
            .take(OVERWRITES_EXAMINED + 1)
            .enumerate()
            .any(|(examined, overwrite)| {
                let overwrite = self.operations[overwrite];
                let after = self.model.step(state, &overwrite.input, &overwrite.output);
                match after {
                    _ if examined == OVERWRITES_EXAMINED => true,
                    Some(after) => self.could_follow(&after, number, updates),
                    // Overwrites fit anywhere; assume nothing of one that does not.
                    None => true,
                }
            })
    }

    fn event_time(&self, event: usize) -> Duration {
        let operation = self.operations[event / 2];
        if is_call(event) {
            operation.called_at
        } else {
            due(operation)
        }
    }

    /// Takes a placed operation out of the lists of unplaced ones.
    fn lift(&mut self, number: usize) {
        self.events.remove(call_event(number));
        self.events.remove(return_event(number));
        match self.effects[number] {
            Effect::Read => self.reads.remove(number),
            Effect::Overwrite => self.overwrites.remove(number),
            Effect::Update | Effect::Other => {}
        }
    }

    /// Undoes the last `lift`, which must have been of `number`.
    fn unlift(&mut self, number: usize) {
        match self.effects[number] {
            Effect::Read => self.reads.restore(number),
            Effect::Overwrite => self.overwrites.restore(number),
            Effect::Update | Effect::Other => {}
        }
        self.events.restore(return_event(number));
        self.events.restore(call_event(number));
    }
}

/// When an operation is due: its return, or its call if a faulty clock put
/// the return first (the walk needs every call before its return).
fn due<I, O>(operation: &Operation<I, O>) -> Duration {
    operation.returned_at.max(operation.called_at)
}

fn call_event(number: usize) -> usize {
    2 * number
}

fn return_event(number: usize) -> usize {
    2 * number + 1
}

fn is_call(event: usize) -> bool {
    event & 1 == 0
}

/// An ordered list of some of the items `0..capacity`, doubly linked
/// through two arrays so that removing an item and restoring it cost O(1),
/// provided restores undo removals last first (Knuth's dancing links).
struct DancingList {
    /// `next[item]`, and at index `capacity` the first item; `END` ends.
    next: Vec<usize>,
    /// `prev[item]`, where `capacity` stands for the list's head.
    prev: Vec<usize>,
}

/// "No item": past the end of a [`DancingList`].
const END: usize = usize::MAX;

impl DancingList {
    fn new(capacity: usize, order: impl IntoIterator<Item = usize>) -> DancingList {
        let mut list = DancingList {
            next: vec![END; capacity + 1],
            prev: vec![END; capacity + 1],
        };
        let mut last = capacity;
        for item in order {
            list.next[last] = item;
            list.prev[item] = last;
            last = item;
        }
        list
    }

    fn first(&self) -> Option<usize> {
        self.after(self.next.len() - 1)
    }

    fn after(&self, item: usize) -> Option<usize> {
        Some(self.next[item]).filter(|&next| next != END)
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        std::iter::successors(self.first(), |&item| self.after(item))
    }

    fn remove(&mut self, item: usize) {
        let (prev, next) = (self.prev[item], self.next[item]);
        self.next[prev] = next;
        if next != END {
            self.prev[next] = prev;
        }
    }

    /// Undoes `remove(item)`: the item still knows its old neighbours.
    fn restore(&mut self, item: usize) {
        let (prev, next) = (self.prev[item], self.next[item]);
        self.next[prev] = item;
        if next != END {
            self.prev[next] = item;
        }
    }
}

/// The (placed operations, state) pairs the search has been in, keyed by a
/// combined hash; the sets and states themselves are kept to rule out
/// collisions. A state of `None` stands for any state no read can observe.
/// Pairs and their sets' words live in two growing arrays, so remembering
/// a pair costs no allocation of its own.
struct Visited<S> {
    /// For each combined hash, the last pair recorded with it.
    last_by_hash: HashMap<u64, usize, BuildHasherDefault<QuickHasher>>,
    pairs: Vec<VisitedPair<S>>,
    /// The pairs' sets' mixed words (see [`OpSet::mixed_words`]), end to
    /// end.
    words: Vec<u64>,
}

struct VisitedPair<S> {
    full_words: usize,
    /// Where this pair's mixed words are in `Visited::words`.
    words: Range<usize>,
    state: Option<S>,
    /// The pair recorded before this one with the same combined hash.
    earlier_same_hash: Option<usize>,
}

impl<S> Default for Visited<S> {
    fn default() -> Self {
        Visited {
            last_by_hash: HashMap::default(),
            pairs: Vec::new(),
            words: Vec::new(),
        }
    }
}

impl<S: Clone + Eq + Hash> Visited<S> {
    /// Records the pair (once full, only looks it up); false if the search
    /// has been there before.
    fn insert(&mut self, placed: &OpSet, state: Option<&S>) -> bool {
        let mut hasher = QuickHasher::default();
        state.hash(&mut hasher);
        let key = placed.hash() ^ hasher.finish();
        let last = self.last_by_hash.get(&key).copied();
        let same_hash = std::iter::successors(last, |&pair| self.pairs[pair].earlier_same_hash);
        let seen = same_hash.map(|pair| &self.pairs[pair]).any(|pair| {
            pair.full_words == placed.full_words()
                && self.words[pair.words.clone()] == *placed.mixed_words()
                && pair.state.as_ref() == state
        });
        let memory = self.pairs.len() * size_of::<VisitedPair<S>>() + self.words.len() * 8;
        if !seen && memory < VISITED_MEMORY {
            let start = self.words.len();
            self.words.extend_from_slice(placed.mixed_words());
            self.pairs.push(VisitedPair {
                full_words: placed.full_words(),
                words: start..self.words.len(),
                state: state.cloned(),
                earlier_same_hash: last,
            });
            self.last_by_hash.insert(key, self.pairs.len() - 1);
        }
        !seen
    }
}

/// A hasher that is cheap even unoptimized, for keys that are hashes
/// already and for states that hash to a few words (as [`KeyValue`] does);
/// the search hashes once or twice per step.
///
/// [`KeyValue`]: super::KeyValue
#[derive(Default)]
struct QuickHasher(u64);

impl Hasher for QuickHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        bytes
            .iter()
            .for_each(|&byte| self.write_u64(u64::from(byte)));
    }

    fn write_u64(&mut self, word: u64) {
        // Fold in a word, then spread it over all bits (a multiply-xorshift
        // round): the table uses both the low and the high bits.
        let mixed = (self.0 ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = mixed ^ (mixed >> 29);
    }

    fn write_usize(&mut self, word: usize) {
        self.write_u64(word as u64);
    }
}

/// The longest linearizable prefix found so far and the operation that
/// could not follow it. It tracks how much of it the search's stack still
/// shares, so that recording a new longest prefix copies only what changed.
#[derive(Default)]
struct LongestPrefix {
    prefix: Vec<usize>,
    unplaceable: Option<usize>,
    /// How many leading operations the stack has in common with `prefix`.
    shared: usize,
}

impl LongestPrefix {
    /// The stack grew from `depth` by `number`.
    fn pushed(&mut self, depth: usize, number: usize) {
        if self.shared == depth && self.prefix.get(depth) == Some(&number) {
            self.shared += 1;
        }
    }

    /// The stack shrank to `depth`.
    fn popped(&mut self, depth: usize) {
        self.shared = self.shared.min(depth);
    }

    /// Records `stack` followed by `then` as the longest prefix, with
    /// `unplaceable` unable to follow it, if it is the first or longer.
    fn offer<S>(&mut self, stack: &[(usize, S)], then: Option<usize>, unplaceable: usize) {
        let len = stack.len() + usize::from(then.is_some());
        if self.unplaceable.is_some() && len <= self.prefix.len() {
            return;
        }
        self.prefix.truncate(self.shared);
        self.prefix
            .extend(stack[self.shared..].iter().map(|&(number, _)| number));
        self.prefix.extend(then);
        self.shared = stack.len();
        self.unplaceable = Some(unplaceable);
    }

    fn into_verdict(self, indices: &[usize]) -> PartitionVerdict {
        PartitionVerdict::NotLinearizable {
            longest_prefix: self.prefix.iter().map(|&number| indices[number]).collect(),
            unplaceable: indices[self
                .unplaceable
                .expect("offered before the search gives up")],
        }
    }
}
