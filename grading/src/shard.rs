//! Shards: which share of a grading's work one of N independent jobs runs.
//!
//! Shards count from 1: `--shard 1/4` ... `--shard 4/4`. `--shard auto`
//! takes the shard from the batch system's environment:
//!
//! - Slurm job arrays: `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`
//!   (with `SLURM_ARRAY_TASK_MIN`, so `--array=0-3` and `--array=1-4` both
//!   work; the array's step must be 1);
//! - Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX` (0-based), with the
//!   count in `GRADE_SHARD_COUNT`, which the Job's manifest sets to its
//!   `completions` (Kubernetes does not pass that on by itself).
//!
//! The work is split by [`assign`]: longest expected run first, each onto
//! the shard that would then end soonest, so shards end at about the same
//! time however uneven the tests are.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One shard of a grading: the `index`-th (from 1) of `count`. As read from
/// a report it is unchecked: see [`Shard::checked`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    /// From 1 to `count`.
    pub index: u32,
    /// How many shards the work is split into.
    pub count: u32,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// Shard `index` of `count`, or why not.
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 {
            return Err("a grading cannot be split into 0 shards".into());
        }
        if index == 0 || index > count {
            return Err(format!(
                "shard {index}/{count} does not exist: shards count from 1, as in 1/{count} ... {count}/{count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// This shard if it exists (as one read from a file may not).
    pub fn checked(self) -> Result<Shard, String> {
        Shard::new(self.index, self.count)
    }
}

/// What `--shard` said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardArg {
    /// `I/N`.
    Fixed(Shard),
    /// `auto`: from Slurm's or Kubernetes' environment.
    Auto,
}

impl FromStr for ShardArg {
    type Err = String;

    fn from_str(text: &str) -> Result<ShardArg, String> {
        if text.eq_ignore_ascii_case("auto") {
            return Ok(ShardArg::Auto);
        }
        let number = |word: &str| {
            word.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{text}` is not I/N (as in 2/4) or auto"))
        };
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not I/N (as in 2/4) or auto"))?;
        Shard::new(number(index)?, number(count)?).map(ShardArg::Fixed)
    }
}

/// The Slurm variables `--shard auto` reads.
const SLURM: [&str; 2] = ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT"];
/// The Kubernetes variable `--shard auto` reads, and the one its manifest
/// sets to the number of completions.
const KUBERNETES: [&str; 2] = ["JOB_COMPLETION_INDEX", "GRADE_SHARD_COUNT"];

impl ShardArg {
    /// The shard, reading the environment through `var` for `auto`.
    pub fn resolve(self, var: impl Fn(&str) -> Option<String>) -> Result<Shard, String> {
        let number = |name: &str| -> Result<Option<u32>, String> {
            var(name)
                .map(|value| {
                    value
                        .trim()
                        .parse::<u32>()
                        .map_err(|_| format!("--shard auto: {name}={value} is not a whole number"))
                })
                .transpose()
        };
        let auto = |shard: Result<Shard, String>| shard.map_err(|e| format!("--shard auto: {e}"));
        match self {
            ShardArg::Fixed(shard) => Ok(shard),
            ShardArg::Auto => match (number(SLURM[0])?, number(SLURM[1])?) {
                (Some(id), Some(count)) => {
                    if number("SLURM_ARRAY_TASK_STEP")?.is_some_and(|step| step != 1) {
                        return Err("--shard auto: the Slurm array's step must be 1".into());
                    }
                    let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
                    let index = id.checked_sub(min).ok_or_else(|| {
                        format!("--shard auto: SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}")
                    })?;
                    auto(Shard::new(index + 1, count))
                }
                _ => match (number(KUBERNETES[0])?, number(KUBERNETES[1])?) {
                    (Some(index), Some(count)) => auto(Shard::new(index + 1, count)),
                    (Some(_), None) => Err(format!(
                        "--shard auto: {} is set but {} is not (set it to the Job's completions)",
                        KUBERNETES[0], KUBERNETES[1]
                    )),
                    _ => Err(format!(
                        "--shard auto: neither Slurm's {} nor Kubernetes' {} and {} are set",
                        SLURM.join(" and "),
                        KUBERNETES[0],
                        KUBERNETES[1]
                    )),
                },
            },
        }
    }
}

/// Splits work among `count` shards: `items` are (group, expected seconds),
/// where a group costs `setup` seconds on each shard that runs any of its
/// items (a submission, built once per each shard that grades it). Returns
/// the shard (0-based) of each item.
///
/// With at least as many groups as shards (a course), whole groups are
/// split, so that each submission is built once; with fewer (one
/// submission), its items are. Either way greedily, longest first (ties in
/// order), each onto the shard whose load (seconds plus `setup` per group)
/// it raises the least, then the lowest shard: deterministic, and no
/// shard's load is over the mean load plus the longest piece.
pub fn assign(items: &[(usize, f64)], count: usize, setup: f64) -> Vec<usize> {
    let count = count.max(1);
    let mut groups: Vec<usize> = items.iter().map(|&(group, _)| group).collect();
    groups.sort_unstable();
    groups.dedup();
    if groups.len() < count {
        return greedy(items, count, setup);
    }
    let whole: Vec<(usize, f64)> = groups
        .iter()
        .map(|&group| {
            let seconds = items.iter().filter(|i| i.0 == group).map(|i| i.1).sum();
            (group, seconds)
        })
        .collect();
    let shard_of_group = greedy(&whole, count, setup);
    items
        .iter()
        .map(|(group, _)| shard_of_group[groups.binary_search(group).expect("a group")])
        .collect()
}

/// [`assign`]'s greedy step on `pieces`, each (group, seconds).
fn greedy(pieces: &[(usize, f64)], count: usize, setup: f64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by(|&a, &b| pieces[b].1.total_cmp(&pieces[a].1).then(a.cmp(&b)));
    let mut load = vec![0.0_f64; count];
    let mut groups: Vec<Vec<usize>> = vec![Vec::new(); count];
    let mut shard_of = vec![0; pieces.len()];
    for piece in order {
        let (group, seconds) = pieces[piece];
        let cost = |shard: usize| {
            let new_group = !groups[shard].contains(&group);
            load[shard] + seconds + if new_group { setup } else { 0.0 }
        };
        let best = (0..count)
            .min_by(|&a, &b| cost(a).total_cmp(&cost(b)).then(a.cmp(&b)))
            .expect("at least one shard");
        load[best] = cost(best);
        if !groups[best].contains(&group) {
            groups[best].push(group);
        }
        shard_of[piece] = best;
    }
    shard_of
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ShardArg, String> {
        text.parse()
    }

    #[test]
    fn shards_count_from_one() {
        assert_eq!(
            parse("2/4"),
            Ok(ShardArg::Fixed(Shard { index: 2, count: 4 }))
        );
        assert_eq!(parse("AUTO"), Ok(ShardArg::Auto));
        for (text, expected) in [
            (
                "0/4",
                "shard 0/4 does not exist: shards count from 1, as in 1/4 ... 4/4",
            ),
            ("5/4", "shard 5/4 does not exist"),
            ("1/0", "cannot be split into 0 shards"),
            ("2", "`2` is not I/N (as in 2/4) or auto"),
            ("a/4", "`a/4` is not I/N"),
            ("-1/4", "`-1/4` is not I/N"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    fn resolve(vars: &[(&str, &str)]) -> Result<Shard, String> {
        ShardArg::Auto.resolve(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn auto_reads_slurm_and_kubernetes() {
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
        ];
        assert_eq!(resolve(&slurm), Ok(Shard { index: 4, count: 4 }));
        let from_one = [
            ("SLURM_ARRAY_TASK_ID", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
        ];
        assert_eq!(resolve(&from_one), Ok(Shard { index: 1, count: 4 }));
        let kubernetes = [("JOB_COMPLETION_INDEX", "0"), ("GRADE_SHARD_COUNT", "3")];
        assert_eq!(resolve(&kubernetes), Ok(Shard { index: 1, count: 3 }));
        for (vars, expected) in [
            (&[][..], "neither Slurm's SLURM_ARRAY_TASK_ID"),
            (&[("JOB_COMPLETION_INDEX", "1")], "GRADE_SHARD_COUNT is not"),
            (
                &[("JOB_COMPLETION_INDEX", "3"), ("GRADE_SHARD_COUNT", "3")],
                "shard 4/3 does not exist",
            ),
            (
                &[
                    ("SLURM_ARRAY_TASK_ID", "x"),
                    ("SLURM_ARRAY_TASK_COUNT", "2"),
                ],
                "SLURM_ARRAY_TASK_ID=x is not a whole number",
            ),
            (
                &[
                    ("SLURM_ARRAY_TASK_ID", "2"),
                    ("SLURM_ARRAY_TASK_COUNT", "2"),
                    ("SLURM_ARRAY_TASK_STEP", "2"),
                ],
                "step must be 1",
            ),
        ] {
            let error = resolve(vars).unwrap_err();
            assert!(error.contains(expected), "{vars:?}: {error}");
        }
    }

    /// Uneven items in three groups: a mix like a course's.
    fn items() -> Vec<(usize, f64)> {
        (0..60)
            .map(|i| (i % 3, f64::from((i * 37 % 23) as u32) + 0.5))
            .collect()
    }

    /// Each shard's load: its items' seconds plus `setup` per group.
    fn loads(items: &[(usize, f64)], shards: &[usize], count: usize, setup: f64) -> Vec<f64> {
        (0..count)
            .map(|shard| {
                let mine: Vec<&(usize, f64)> = items
                    .iter()
                    .zip(shards)
                    .filter(|(_, &s)| s == shard)
                    .map(|(item, _)| item)
                    .collect();
                let mut groups: Vec<usize> = mine.iter().map(|(g, _)| *g).collect();
                groups.sort();
                groups.dedup();
                mine.iter().map(|(_, s)| s).sum::<f64>() + setup * groups.len() as f64
            })
            .collect()
    }

    #[test]
    fn every_item_goes_to_one_shard_the_same_every_time() {
        let items = items();
        for count in [1, 2, 4, 7, 100] {
            let shards = assign(&items, count, 5.0);
            assert_eq!(shards.len(), items.len());
            assert!(shards.iter().all(|&s| s < count), "{shards:?}");
            assert_eq!(assign(&items, count, 5.0), shards, "not deterministic");
        }
        assert!(assign(&items, 1, 0.0).iter().all(|&s| s == 0));
        assert!(assign(&[], 4, 0.0).is_empty());
    }

    #[test]
    fn the_longest_shard_is_within_the_bound() {
        let items = items();
        let total: f64 = items.iter().map(|i| i.1).sum();
        let longest_item = items.iter().map(|i| i.1).fold(0.0, f64::max);
        let largest_group = (0..3)
            .map(|g| items.iter().filter(|i| i.0 == g).map(|i| i.1).sum::<f64>())
            .fold(0.0, f64::max);
        for (count, setup) in [(2, 0.0), (3, 10.0), (4, 0.0), (7, 0.0), (4, 30.0), (5, 2.0)] {
            let loads = loads(&items, &assign(&items, count, setup), count, setup);
            let max = loads.iter().copied().fold(0.0, f64::max);
            // The pieces are whole groups with fewer shards than groups.
            let piece = if count <= 3 {
                largest_group
            } else {
                longest_item
            };
            let setups = setup * 3.0 * count as f64;
            let bound = (total + setups) / count as f64 + piece + setup;
            assert!(
                max <= bound + 1e-9,
                "{count} shards, setup {setup}: {loads:?}"
            );
        }
    }

    #[test]
    fn balance_is_by_time_not_by_count() {
        // One long item and six short ones on two shards: the long one
        // alone on one shard.
        let items = [
            (0, 1.0),
            (0, 1.0),
            (0, 12.0),
            (0, 1.0),
            (0, 1.0),
            (0, 1.0),
            (0, 1.0),
        ];
        let shards = assign(&items, 2, 0.0);
        assert_eq!(shards, [1, 1, 0, 1, 1, 1, 1]);
    }

    #[test]
    fn a_costly_setup_keeps_groups_together() {
        // Two submissions of four 1-second runs on two shards: each is
        // built on one shard only.
        let items: Vec<(usize, f64)> = (0..8).map(|i| (i / 4, 1.0)).collect();
        let shards = assign(&items, 2, 10.0);
        assert!(shards[..4].iter().all(|&s| s == shards[0]), "{shards:?}");
        assert!(shards[4..].iter().all(|&s| s == shards[4]), "{shards:?}");
        assert_ne!(shards[0], shards[4]);
    }
}
