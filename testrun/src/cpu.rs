//! The CPU a run's code under test used, as its harness reports it.

/// A share of one core above which a run is flagged as busy: a test's
/// processes share one core, of which a thread that never sleeps takes
/// most, and the reference stays under 61 %. With more jobs than cores a
/// test gets less than its core, so a busy run may escape the flag; the
/// flag never falsely accuses. The harness warns at the same share
/// (`tests/harness/cpu_time.rs`).
pub const BUSY_SHARE: f64 = 0.8;

/// The CPU the judged processes (the code under test) of one run used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// Their CPU seconds, all processes together.
    pub seconds: f64,
    /// The test's wall seconds.
    pub wall: f64,
}

impl CpuUse {
    /// The CPU seconds per wall second: 1.0 is one core kept busy.
    pub fn share(&self) -> f64 {
        self.seconds / self.wall.max(1e-3)
    }

    /// Whether the run used more than [`BUSY_SHARE`] of a core.
    pub fn busy(&self) -> bool {
        self.share() > BUSY_SHARE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_is_busy_above_the_share() {
        let run = |seconds| CpuUse {
            seconds,
            wall: 10.0,
        };
        assert!((run(2.5).share() - 0.25).abs() < 1e-9);
        assert!(!run(8.0).busy());
        assert!(run(8.1).busy());
    }
}
