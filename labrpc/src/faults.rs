//! The fault model: what happens to one call, decided up front from the
//! network's seeded RNG. The constants are those of the MIT 6.824 labrpc,
//! so results compare with the Go labs.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;

/// Upper bound (exclusive, ms) of the delay before a failure to an
/// unreachable server is reported, with long delays on.
const LONG_DELAY_MS: u64 = 7000;
/// The same without long delays, so KV clerks fail over quickly.
const SHORT_FAILURE_DELAY_MS: u64 = 100;
/// Upper bound (exclusive, ms) of the request delay on an unreliable network.
const UNRELIABLE_DELAY_MS: u64 = 27;
/// Chance, in thousandths, that an unreliable network loses a request, and
/// separately a reply.
const DROP_PER_MILLE: u32 = 100;
/// Chance, out of 900, that long reordering holds a reply back.
const REORDER_OUT_OF_900: u32 = 600;
/// A held reply waits 200 + rand(0..rand(0..2000)) ms: 200-2200 ms, skewed short.
const REORDER_BASE_MS: u64 = 200;
const REORDER_SPREAD_MS: u64 = 2000;

/// The network's switches, read once per call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Knobs {
    pub reliable: bool,
    pub long_delays: bool,
    pub long_reordering: bool,
}

/// What the network will do with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// No server can be reached: fail after `after`.
    Fail { after: Duration },
    /// Deliver the request after `delay`, unless it is lost on the way;
    /// then lose the reply, or hold it back, or return it at once.
    Deliver {
        delay: Duration,
        lose_request: bool,
        lose_reply: bool,
        hold_reply: Option<Duration>,
    },
}

/// Draws the fate of one call. The number and order of draws depend only on
/// the knobs and on `reachable`, so one seed replays one schedule.
pub(crate) fn plan(rng: &mut StdRng, knobs: Knobs, reachable: bool) -> Route {
    if !reachable {
        let bound = if knobs.long_delays {
            LONG_DELAY_MS
        } else {
            SHORT_FAILURE_DELAY_MS
        };
        return Route::Fail {
            after: Duration::from_millis(rng.random_range(0..bound)),
        };
    }
    let (delay, lose_request, lose_reply) = if knobs.reliable {
        (Duration::ZERO, false, false)
    } else {
        (
            Duration::from_millis(rng.random_range(0..UNRELIABLE_DELAY_MS)),
            rng.random_range(0..1000) < DROP_PER_MILLE,
            rng.random_range(0..1000) < DROP_PER_MILLE,
        )
    };
    let hold_reply = if knobs.long_reordering && rng.random_range(0..900) < REORDER_OUT_OF_900 {
        let spread = rng.random_range(0..REORDER_SPREAD_MS);
        let extra = rng.random_range(0..=spread);
        Some(Duration::from_millis(REORDER_BASE_MS + extra))
    } else {
        None
    };
    Route::Deliver {
        delay,
        lose_request,
        lose_reply,
        hold_reply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const ALL_OFF: Knobs = Knobs {
        reliable: true,
        long_delays: false,
        long_reordering: false,
    };

    #[test]
    fn reliable_delivery_is_immediate() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            assert_eq!(
                plan(&mut rng, ALL_OFF, true),
                Route::Deliver {
                    delay: Duration::ZERO,
                    lose_request: false,
                    lose_reply: false,
                    hold_reply: None
                }
            );
        }
    }

    #[test]
    fn held_replies_stay_within_200_to_2200_ms() {
        let mut rng = StdRng::seed_from_u64(2);
        let knobs = Knobs {
            long_reordering: true,
            ..ALL_OFF
        };
        let mut held = 0;
        for _ in 0..3000 {
            if let Route::Deliver {
                hold_reply: Some(d),
                ..
            } = plan(&mut rng, knobs, true)
            {
                held += 1;
                assert!((200..=2200).contains(&d.as_millis()), "held {d:?}");
            }
        }
        // Expect 2000 of 3000; 1800..2200 is over 9 standard deviations wide.
        assert!((1800..2200).contains(&held), "{held} of 3000 held");
    }
}
