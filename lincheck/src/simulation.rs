//! Deterministic simulated KV servers that produce recorded histories for
//! the tests: clients issue overlapping calls, and each call takes effect
//! at one instant between its call and its return.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::kv::{KvInput, KvOperation};

/// What the clients do.
pub(crate) struct Workload {
    pub(crate) clients: usize,
    pub(crate) operations_per_client: usize,
    pub(crate) keys: usize,
    /// Percentages of Gets and Puts; the rest are Appends.
    pub(crate) get_percent: u32,
    pub(crate) put_percent: u32,
    /// Percentage of calls that stall, as a clerk cut off by a partition
    /// does, for 0.1 to 2 s.
    pub(crate) stall_percent: u32,
    pub(crate) seed: u64,
}

/// How the simulated service answers.
#[derive(Clone, Copy)]
pub(crate) enum Server {
    /// One copy of the data: every call reads and writes it when it takes
    /// effect, so the history is linearizable.
    Correct,
    /// Writes go to a leader, but Gets are served from a follower that
    /// applies each write only `lag` after the leader did.
    StaleFollowerReads { lag: Duration },
}

/// What a simulation recorded.
pub(crate) struct Simulated {
    pub(crate) history: Vec<KvOperation>,
    /// How many Gets read something other than the leader's value.
    pub(crate) stale_reads: usize,
    /// The leader's data at the end.
    pub(crate) data: HashMap<String, String>,
}

/// A recorded history of `workload` against `server`.
pub(crate) fn simulate(workload: &Workload, server: Server) -> Simulated {
    let mut rng = StdRng::seed_from_u64(workload.seed);
    let mut history = Vec::new();
    // When each operation takes effect, in microseconds.
    let mut effects = Vec::new();
    for client_id in 0..workload.clients {
        let mut now = rng.random_range(0..500);
        for sequence in 0..workload.operations_per_client {
            let key = format!("k{}", rng.random_range(0..workload.keys));
            let value = format!("{client_id}.{sequence};");
            let dice = rng.random_range(0..100);
            let input = if dice < workload.get_percent {
                KvInput::Get { key }
            } else if dice < workload.get_percent + workload.put_percent {
                KvInput::Put { key, value }
            } else {
                KvInput::Append { key, value }
            };
            // Request and reply each take 50 µs to 2 ms, unless the call
            // stalls; then the client thinks for up to 200 µs.
            let stall = if rng.random_range(0..100) < workload.stall_percent {
                rng.random_range(100_000..2_000_000)
            } else {
                0
            };
            let effect = now + stall + rng.random_range(50..2000);
            let returned = effect + rng.random_range(50..2000);
            history.push(KvOperation {
                client_id,
                input,
                output: String::new(),
                called_at: Duration::from_micros(now),
                returned_at: Duration::from_micros(returned),
            });
            effects.push(effect);
            now = returned + rng.random_range(0..200);
        }
    }
    let (stale_reads, data) = serve(&mut history, &effects, server);
    Simulated {
        history,
        stale_reads,
        data,
    }
}

/// Fills in the Gets' outputs by applying the operations in effect order;
/// returns how many reads were stale, and the leader's data at the end.
fn serve(
    history: &mut [KvOperation],
    effects: &[u64],
    server: Server,
) -> (usize, HashMap<String, String>) {
    let mut by_effect: Vec<usize> = (0..history.len()).collect();
    by_effect.sort_by_key(|&index| (effects[index], index));
    let lag = match server {
        Server::Correct => 0,
        Server::StaleFollowerReads { lag } => lag.as_micros() as u64,
    };
    let mut leader: HashMap<String, String> = HashMap::new();
    let mut follower: HashMap<String, String> = HashMap::new();
    // Writes the follower has yet to apply, as indices into `by_effect`.
    let mut follower_applied = 0;
    let mut stale_reads = 0;
    for position in 0..by_effect.len() {
        let index = by_effect[position];
        if let KvInput::Get { key } = &history[index].input {
            while follower_applied < position
                && effects[by_effect[follower_applied]] + lag <= effects[index]
            {
                apply(&mut follower, &history[by_effect[follower_applied]].input);
                follower_applied += 1;
            }
            let read = follower.get(key).cloned().unwrap_or_default();
            if leader.get(key).map_or("", String::as_str) != read {
                stale_reads += 1;
            }
            history[index].output = read;
        } else {
            apply(&mut leader, &history[index].input);
        }
    }
    (stale_reads, leader)
}

fn apply(data: &mut HashMap<String, String>, input: &KvInput) {
    match input {
        KvInput::Get { .. } => {}
        KvInput::Put { key, value } => {
            data.insert(key.clone(), value.clone());
        }
        KvInput::Append { key, value } => data.entry(key.clone()).or_default().push_str(value),
    }
}
