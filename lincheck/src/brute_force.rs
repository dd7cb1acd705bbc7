//! A check of the search against brute force: on many small random KV
//! histories, the search must say "linearizable" exactly when some order
//! of the operations that respects real time explains every Get.

use std::collections::HashMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{check_kv, CheckOutcome, KvInput, KvOperation};

/// Whether some order of `history` that respects real time (an operation
/// that returned before another was called comes first) explains every
/// Get, trying them all.
fn linearizable_by_brute_force(history: &[KvOperation]) -> bool {
    fn extend(
        history: &[KvOperation],
        placed: &mut Vec<bool>,
        data: &HashMap<String, String>,
    ) -> bool {
        let unplaced = || (0..history.len()).filter(|&other| !placed[other]);
        let may_go_next = |candidate: usize| {
            unplaced().all(|other| history[other].returned_at >= history[candidate].called_at)
        };
        let candidates: Vec<usize> = unplaced()
            .filter(|&candidate| may_go_next(candidate))
            .collect();
        if candidates.is_empty() {
            return true;
        }
        candidates.into_iter().any(|candidate| {
            let operation = &history[candidate];
            let mut after = data.clone();
            match &operation.input {
                KvInput::Get { key } => {
                    if after.get(key).map_or("", String::as_str) != operation.output {
                        return false;
                    }
                }
                KvInput::Put { key, value } => {
                    after.insert(key.clone(), value.clone());
                }
                KvInput::Append { key, value } => {
                    after.entry(key.clone()).or_default().push_str(value)
                }
            }
            placed[candidate] = true;
            let found = extend(history, placed, &after);
            placed[candidate] = false;
            found
        })
    }
    extend(history, &mut vec![false; history.len()], &HashMap::new())
}

/// A small history on one or two keys whose calls overlap a lot: each
/// operation takes effect at a random instant within its interval, and
/// then, half the time, one Get's output is replaced by a plausible wrong
/// value. Values are short and overlap, to make spelling them ambiguous.
fn random_history(rng: &mut StdRng) -> Vec<KvOperation> {
    const WRITTEN: [&str; 4] = ["a", "b", "ab", "x"];
    const READ: [&str; 10] = ["", "a", "b", "ab", "ba", "x", "xa", "xab", "aab", "bx"];
    let keys = if rng.random_bool(0.2) { 2 } else { 1 };
    let count = rng.random_range(1..=7);
    let mut history = Vec::new();
    let mut effects = Vec::new();
    for client_id in 0..count {
        let key = format!("k{}", rng.random_range(0..keys));
        let value = WRITTEN[rng.random_range(0..WRITTEN.len())].to_string();
        let input = match rng.random_range(0..100) {
            0..40 => KvInput::Get { key },
            40..65 => KvInput::Put { key, value },
            _ => KvInput::Append { key, value },
        };
        let called_at = rng.random_range(0..12);
        let returned_at = called_at + rng.random_range(0..8);
        effects.push((rng.random_range(called_at * 4..=returned_at * 4), client_id));
        history.push(KvOperation {
            client_id,
            input,
            output: String::new(),
            called_at: Duration::from_millis(called_at),
            returned_at: Duration::from_millis(returned_at),
        });
    }
    effects.sort_unstable();
    let mut data: HashMap<String, String> = HashMap::new();
    for (_, index) in effects {
        match &history[index].input {
            KvInput::Get { key } => {
                history[index].output = data.get(key).cloned().unwrap_or_default()
            }
            KvInput::Put { key, value } => {
                data.insert(key.clone(), value.clone());
            }
            KvInput::Append { key, value } => data.entry(key.clone()).or_default().push_str(value),
        }
    }
    let gets: Vec<usize> = (0..count)
        .filter(|&index| matches!(history[index].input, KvInput::Get { .. }))
        .collect();
    if !gets.is_empty() && rng.random_bool(0.5) {
        let get = gets[rng.random_range(0..gets.len())];
        history[get].output = READ[rng.random_range(0..READ.len())].to_string();
    }
    history
}

#[test]
fn the_search_agrees_with_brute_force_on_small_random_histories() {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut verdicts = [0; 2];
    for _ in 0..3000 {
        let history = random_history(&mut rng);
        let expected = linearizable_by_brute_force(&history);
        let outcome = check_kv(&history, Duration::from_secs(10));
        let found = match outcome {
            CheckOutcome::Linearizable => true,
            CheckOutcome::NotLinearizable(_) => false,
            CheckOutcome::Inconclusive { .. } => panic!("inconclusive on {history:#?}"),
        };
        assert_eq!(found, expected, "on {history:#?}");
        verdicts[usize::from(found)] += 1;
    }
    // Both answers must be well represented for the comparison to mean much.
    assert!(verdicts.iter().all(|&count| count > 500), "{verdicts:?}");
}
