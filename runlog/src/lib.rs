//! The events of one test run, as the harness records them for a failing
//! run, and the ways to look at them: [`columns`] prints them per peer for
//! a terminal, and [`timeline`] draws each peer's story (from [`lanes`]) as
//! one self-contained HTML page.

pub mod columns;
pub mod event;
pub mod lanes;
pub mod timeline;

pub use event::{read_events, Event, Kind, ReadError};

/// The variable naming the directory the harness saves a failed run's
/// events and timeline in (the runner sets it to its output directory).
pub const RUN_DIR_VAR: &str = "RAFT_LABS_RUN_DIR";

/// Starts the failure report's line naming a failed run's HTML timeline
/// (`timeline of this run: <path> (open it in a browser)`); its events
/// file has the same name ending `.jsonl`. The runner reads it back.
pub const TIMELINE_LINE: &str = "timeline of this run: ";
