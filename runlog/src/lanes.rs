//! Each peer's story through a run, as intervals and steps over time: when
//! it was down, cut off, leading, and how its term and applied index rose.
//! The timeline draws these instead of every event, so its size does not
//! grow with the number of log lines.

use crate::event::{Event, Kind};

/// One peer's story through a run. Times are seconds since the test began.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lane {
    /// From each crash to the next start; one still open ends at the run's
    /// end.
    pub down: Vec<(f64, f64)>,
    /// From each disconnection to the next connection; one still open ends
    /// at the run's end.
    pub cut_off: Vec<(f64, f64)>,
    /// `(from, to, term)`: while the peer said it leads in `term`, until it
    /// said otherwise (not leading, or another term), crashed, or the run
    /// ended. A leader that gave no term is shown in term 0.
    pub leading: Vec<(f64, f64, u64)>,
    /// `(when, term)` each time the peer's known term went up (the first
    /// term seen counts as a rise).
    pub terms: Vec<(f64, u64)>,
    /// `(when, index)` each time the highest index the peer applied (by a
    /// command or a snapshot) went up.
    pub applied: Vec<(f64, u64)>,
}

/// The time of the latest event, 0 for none: where open intervals end.
pub fn end_time(events: &[Event]) -> f64 {
    events.iter().map(|e| e.t).fold(0.0, f64::max)
}

/// The first failure of the run: its time and message.
pub fn failure(events: &[Event]) -> Option<(f64, &str)> {
    events.iter().find_map(|e| match &e.kind {
        Kind::Failed { message } => Some((e.t, message.as_str())),
        _ => None,
    })
}

/// What is still open for one peer while the events are read.
#[derive(Default)]
struct Open {
    down: Option<f64>,
    cut_off: Option<f64>,
    leading: Option<(f64, u64)>,
    term: Option<u64>,
    applied: Option<u64>,
}

/// One lane per peer, `0..=` the highest peer any event names (a peer
/// with no events gets an empty lane, so lane `i` is always S`i`).
pub fn lanes(events: &[Event]) -> Vec<Lane> {
    let count = events
        .iter()
        .filter_map(|e| e.peer)
        .max()
        .map_or(0, |p| p + 1);
    let mut lanes = vec![Lane::default(); count];
    let mut open: Vec<Open> = (0..count).map(|_| Open::default()).collect();
    for event in events {
        let Some(peer) = event.peer else { continue };
        let (lane, open) = (&mut lanes[peer], &mut open[peer]);
        let t = event.t;
        if let Some(term) = event.term {
            if open.term.is_none_or(|known| term > known) {
                lane.terms.push((t, term));
                open.term = Some(term);
            }
        }
        match &event.kind {
            Kind::Crashed { .. } => {
                open.down.get_or_insert(t);
                if let Some((from, term)) = open.leading.take() {
                    lane.leading.push((from, t, term));
                }
            }
            Kind::Started => {
                if let Some(from) = open.down.take() {
                    lane.down.push((from, t));
                }
            }
            Kind::Disconnected => {
                open.cut_off.get_or_insert(t);
            }
            Kind::Connected => {
                if let Some(from) = open.cut_off.take() {
                    lane.cut_off.push((from, t));
                }
            }
            Kind::State { leader } => {
                let now = leader.then(|| event.term.unwrap_or(0));
                let same = matches!((open.leading, now), (Some((_, was)), Some(is)) if was == is);
                if !same {
                    if let Some((from, term)) = open.leading.take() {
                        lane.leading.push((from, t, term));
                    }
                    open.leading = now.map(|term| (t, term));
                }
            }
            Kind::Applied { index, .. } | Kind::Snapshot { index, .. }
                if open.applied.is_none_or(|highest| *index > highest) =>
            {
                lane.applied.push((t, *index));
                open.applied = Some(*index);
            }
            _ => {}
        }
    }
    let end = end_time(events);
    for (lane, open) in lanes.iter_mut().zip(open) {
        if let Some(from) = open.down {
            lane.down.push((from, end));
        }
        if let Some(from) = open.cut_off {
            lane.cut_off.push((from, end));
        }
        if let Some((from, term)) = open.leading {
            lane.leading.push((from, end, term));
        }
    }
    lanes
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An event of `peer` at `t`, with no term.
    pub(crate) fn at(t: f64, peer: usize, kind: Kind) -> Event {
        Event {
            t,
            peer: Some(peer),
            term: None,
            kind,
        }
    }

    /// A State report of `peer` at `t` in `term`.
    fn state(t: f64, peer: usize, term: u64, leader: bool) -> Event {
        Event {
            term: Some(term),
            ..at(t, peer, Kind::State { leader })
        }
    }

    /// An event no peer owns.
    pub(crate) fn global(t: f64, kind: Kind) -> Event {
        Event {
            t,
            peer: None,
            term: None,
            kind,
        }
    }

    fn network(t: f64) -> Event {
        global(
            t,
            Kind::Network {
                text: "unreliable".into(),
            },
        )
    }

    #[test]
    fn one_lane_per_peer_up_to_the_highest() {
        let events = [at(0.0, 2, Kind::Started), network(1.0)];
        let lanes = lanes(&events);
        assert_eq!(lanes.len(), 3);
        assert!(lanes.iter().all(|l| *l == Lane::default()));
        assert!(super::lanes(&[network(0.0)]).is_empty());
    }

    #[test]
    fn end_time_is_the_latest_event() {
        assert_eq!(end_time(&[]), 0.0);
        assert_eq!(end_time(&[network(1.5), network(4.0), network(3.0)]), 4.0);
    }

    #[test]
    fn the_failure_is_the_first_failed_event() {
        assert_eq!(failure(&[network(1.0)]), None);
        let failed = |t, m: &str| global(t, Kind::Failed { message: m.into() });
        let events = [
            network(0.5),
            failed(2.0, "two leaders"),
            failed(3.0, "later"),
        ];
        assert_eq!(failure(&events), Some((2.0, "two leaders")));
    }

    #[test]
    fn down_runs_from_a_crash_to_the_next_start() {
        let events = [
            at(0.0, 0, Kind::Started),
            at(1.0, 0, Kind::Crashed { cleanup: false }),
            at(1.5, 0, Kind::Crashed { cleanup: false }),
            at(2.0, 0, Kind::Started),
            at(3.0, 0, Kind::Crashed { cleanup: true }),
            network(5.0),
        ];
        assert_eq!(lanes(&events)[0].down, [(1.0, 2.0), (3.0, 5.0)]);
    }

    #[test]
    fn cut_off_runs_from_a_disconnection_to_the_next_connection() {
        let events = [
            at(0.0, 1, Kind::Connected),
            at(1.0, 1, Kind::Disconnected),
            at(2.0, 1, Kind::Connected),
            at(2.5, 1, Kind::Connected),
            at(3.0, 1, Kind::Disconnected),
            network(4.0),
        ];
        let lane = &lanes(&events)[1];
        assert_eq!(lane.cut_off, [(1.0, 2.0), (3.0, 4.0)]);
        assert!(lane.down.is_empty());
    }

    #[test]
    fn leading_ends_when_the_peer_says_otherwise_crashes_or_the_run_ends() {
        let events = [
            state(1.0, 0, 2, true),
            state(1.5, 0, 2, true),
            state(2.0, 0, 2, false),
            state(3.0, 0, 3, true),
            state(4.0, 0, 5, true),
            at(5.0, 0, Kind::Crashed { cleanup: false }),
            at(6.0, 0, Kind::Started),
            state(7.0, 0, 6, true),
            network(9.0),
        ];
        assert_eq!(
            lanes(&events)[0].leading,
            [(1.0, 2.0, 2), (3.0, 4.0, 3), (4.0, 5.0, 5), (7.0, 9.0, 6)]
        );
    }

    #[test]
    fn terms_record_each_rise() {
        let log = |t, term| Event {
            term: Some(term),
            ..at(
                t,
                0,
                Kind::Log {
                    level: "INFO".into(),
                    topic: "raft".into(),
                    text: "hi".into(),
                },
            )
        };
        let events = [
            at(0.0, 0, Kind::Started),
            log(0.5, 1),
            log(1.0, 1),
            state(2.0, 0, 3, false),
            log(3.0, 2),
            log(4.0, 4),
        ];
        assert_eq!(lanes(&events)[0].terms, [(0.5, 1), (2.0, 3), (4.0, 4)]);
    }

    #[test]
    fn applied_keeps_the_highest_index_from_commands_and_snapshots() {
        let applied = |t, index| {
            at(
                t,
                2,
                Kind::Applied {
                    index,
                    entry_term: Some(1),
                },
            )
        };
        let events = [
            applied(1.0, 1),
            applied(2.0, 2),
            at(
                3.0,
                2,
                Kind::Snapshot {
                    index: 10,
                    entry_term: None,
                },
            ),
            applied(4.0, 9),
            applied(5.0, 11),
        ];
        assert_eq!(
            lanes(&events)[2].applied,
            [(1.0, 1), (2.0, 2), (3.0, 10), (5.0, 11)]
        );
    }
}
