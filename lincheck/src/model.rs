//! The sequential specification a history is checked against.

use std::hash::Hash;

use super::history::Operation;

/// A sequential object: the state it starts in and how each operation moves
/// it, so the checker can ask whether some order of a history's operations
/// explains every output.
pub trait Model {
    /// What a client asks for.
    type Input;
    /// What a client gets back.
    type Output;
    /// The object's state. The checker clones, hashes and compares states
    /// often, so all three should be cheap.
    type State: Clone + Eq + Hash;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// The state after applying `input` to `state`, or `None` if the object
    /// could not have answered `output` from `state`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: &Self::Output,
    ) -> Option<Self::State>;

    /// What `input` does to the state, as far as the search may rely on
    /// it to prune. The default, [`Effect::Other`] for every operation,
    /// relies on nothing.
    fn effect(&self, _input: &Self::Input) -> Effect {
        Effect::Other
    }

    /// Whether the [`Effect::Read`] `(input, output)` could be legal from
    /// `state` or from some state that reads and [`Effect::Update`]s lead
    /// to from it. When `updates` is given, only those updates may be
    /// used, each at most once; otherwise any. `false` must be certain:
    /// the search relies on it to abandon partial linearizations early
    /// (see [`Effect`]). The default, `true`, never prunes.
    fn could_become_legal(
        &self,
        _state: &Self::State,
        _input: &Self::Input,
        _output: &Self::Output,
        _updates: Option<&[&Operation<Self::Input, Self::Output>]>,
    ) -> bool {
        true
    }

    /// Splits a history into parts whose operations never affect one
    /// another, each checked on its own (a history is linearizable when all
    /// its parts are). The default keeps the history whole.
    fn partition(&self, history: &[Operation<Self::Input, Self::Output>]) -> Vec<Partition> {
        vec![Partition {
            name: "history".to_string(),
            operations: (0..history.len()).collect(),
        }]
    }

    /// Describes an operation for people, e.g. `get("x") -> "1"`.
    fn describe_operation(&self, input: &Self::Input, output: &Self::Output) -> String;

    /// Describes a state for people.
    fn describe_state(&self, state: &Self::State) -> String;
}

/// A part of a history that can be checked on its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// A name for people, e.g. `key "x"`.
    pub name: String,
    /// Indices into the history, in history order.
    pub operations: Vec<usize>,
}

/// What an operation does to the state, which lets the search prune.
///
/// A read that fits is placed before anything else, since postponing one
/// never helps. When a partition has no [`Effect::Other`] operation, the
/// search also looks ahead with [`Model::could_become_legal`]:
/// - a partial linearization is doomed when an unplaced read due soon can
///   follow neither its state nor any overwrite that may come first; two
///   concurrent appends placed in the wrong order, for instance, are
///   exposed by the next read of the key, however far off it is;
/// - when no read can observe the state before the next overwrite, the
///   state no longer matters, and partial linearizations that differ only
///   in it count as one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Never changes the state: from any state, `step` returns it
    /// unchanged or `None` (e.g. a Get).
    Read,
    /// Legal from every state, and changes it only in ways
    /// [`Model::could_become_legal`] accounts for (e.g. an Append).
    Update,
    /// Legal from every state, and sets it to one that does not depend on
    /// the state before (e.g. a Put).
    Overwrite,
    /// Anything else; the search relies on nothing.
    Other,
}
