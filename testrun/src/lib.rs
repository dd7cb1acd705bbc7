//! Running a test as a tree of processes, shared by the grader (`grade`)
//! and the student's repeat runner (`labs`): the test is the leader of a
//! process group that a timeout or Ctrl-C kills whole ([`supervise`],
//! [`groups`]); no process it starts outlives it ([`reaper`]); its output
//! is kept, capped ([`capture`], [`run`]); it passes only with the
//! harness's completion record ([`completion`]); and what the harness
//! printed (the seed, the CPU line, the panic message) is read back
//! ([`output`], [`cpu`]). [`cargo`] reads which binaries a build made.

pub mod capture;
pub mod cargo;
pub mod completion;
pub mod cpu;
pub mod error;
pub mod groups;
pub mod output;
pub mod reaper;
pub mod run;
pub mod supervise;

pub use error::Error;
