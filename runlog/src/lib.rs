//! The events of one test run, as the harness records them for a failing
//! run, and the ways to look at them.

pub mod event;

pub use event::{read_events, Event, Kind, ReadError};
