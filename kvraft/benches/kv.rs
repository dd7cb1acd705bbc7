//! KV service benchmark: three servers on a reliable network, measured
//! through real clerks. Prints the latency of one clerk's sequential Puts
//! and Gets, each apart; then, for 1, 10, 50 and 200 concurrent clerks and
//! three workloads (Puts and Gets alternating, only Gets, only Puts),
//! throughput, latency, and RPCs and persists per operation, for each
//! [`Mode`] of the reference: as it is, with Gets through the log (3A's
//! way, [`GETS_THROUGH_LOG_VAR`]) and unbatched ([`UNBATCHED_VAR`]). Each
//! mode runs in a process of its own, since the switches are read once per
//! process, three times, the modes taking turns; each cell is the median.
//!
//! `cargo bench -p kvraft`

use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kvraft::{Clerk, KvServer, GETS_THROUGH_LOG_VAR};
use labrpc::{ClientEnd, Network, Server};
use raft::Persister;
use raft::UNBATCHED_VAR;

const SERVERS: usize = 3;
/// Snapshots keep the log, which Raft persists whole, short.
const MAX_RAFT_STATE: Option<usize> = Some(64 * 1024);
/// Sequential operations timed one by one.
const SEQUENTIAL_OPS: usize = 5000;
/// Concurrent clerk counts of the throughput rows.
const CLERK_COUNTS: [usize; 4] = [1, 10, 50, 200];
/// How long each throughput cell runs.
const THROUGHPUT_RUN: Duration = Duration::from_secs(2);
/// How many times each mode is measured, the modes taking turns; each cell
/// reports the run with the median throughput, since on a shared 2-core
/// machine one run of a cell varies by a third or more.
const REPEATS: usize = 3;
/// Keys each clerk cycles through, so values stay small.
const KEYS_PER_CLERK: usize = 4;

/// A KV service on its own network.
struct Cluster {
    net: Network,
    servers: Vec<KvServer>,
    persisters: Vec<Arc<Persister>>,
    clerks_made: usize,
}

impl Cluster {
    fn start() -> Cluster {
        let net = Network::new();
        let persisters: Vec<Arc<Persister>> =
            (0..SERVERS).map(|_| Arc::new(Persister::new())).collect();
        let servers = (0..SERVERS)
            .map(|i| {
                let ends = Cluster::ends(&net, &format!("kv{i}"));
                let kv = KvServer::new(ends, i, Arc::clone(&persisters[i]), MAX_RAFT_STATE);
                let mut server = Server::new();
                for service in kv.services() {
                    server.add_service(service);
                }
                net.add_server(&format!("server-{i}"), server);
                kv
            })
            .collect();
        Cluster {
            net,
            servers,
            persisters,
            clerks_made: 0,
        }
    }

    /// Enabled ends from `from` to every server.
    fn ends(net: &Network, from: &str) -> Vec<ClientEnd> {
        (0..SERVERS)
            .map(|j| {
                let name = format!("{from}-to-{j}");
                let end = net.make_end(&name);
                net.connect(&name, &format!("server-{j}"));
                net.enable(&name, true);
                end
            })
            .collect()
    }

    fn clerk(&mut self) -> Clerk {
        self.clerks_made += 1;
        Clerk::new(Cluster::ends(
            &self.net,
            &format!("clerk{}", self.clerks_made),
        ))
    }

    /// Waits out the first election, so no measurement includes it.
    fn await_leader(&mut self) {
        self.clerk().get("warm-up");
    }

    /// Saves of Raft state so far, on every server together.
    fn saves(&self) -> u64 {
        self.persisters.iter().map(|p| p.save_count()).sum()
    }

    fn stop(self) {
        for kv in &self.servers {
            kv.kill();
        }
        self.net.cleanup();
    }
}

/// What the clerks of a throughput row do.
#[derive(Clone, Copy, PartialEq)]
enum Workload {
    /// Alternately a Put and a Get of one of the clerk's keys.
    Mixed,
    /// Only Gets.
    Gets,
    /// Only Puts.
    Puts,
}

impl Workload {
    const ALL: [Workload; 3] = [Workload::Mixed, Workload::Gets, Workload::Puts];

    fn name(self) -> &'static str {
        match self {
            Workload::Mixed => "mixed",
            Workload::Gets => "gets",
            Workload::Puts => "puts",
        }
    }

    /// Whether step `step` of this workload is a Get.
    fn is_get(self, step: usize) -> bool {
        match self {
            Workload::Mixed => step % 2 == 1,
            Workload::Gets => true,
            Workload::Puts => false,
        }
    }
}

/// Step `step` of clerk `who`'s `workload`, on one of its keys.
fn operate(clerk: &mut Clerk, who: usize, workload: Workload, step: usize) {
    let key = format!("{who}-{}", step / 2 % KEYS_PER_CLERK);
    if workload.is_get(step) {
        clerk.get(&key);
    } else {
        clerk.put(&key, &step.to_string());
    }
}

/// Latencies of `SEQUENTIAL_OPS` alternating operations, sorted: the Puts'
/// and the Gets'.
fn sequential_latencies(clerk: &mut Clerk) -> (Vec<Duration>, Vec<Duration>) {
    let (mut puts, mut gets) = (Vec::new(), Vec::new());
    for step in 0..SEQUENTIAL_OPS {
        let started = Instant::now();
        operate(clerk, 0, Workload::Mixed, step);
        let took = started.elapsed();
        if Workload::Mixed.is_get(step) {
            gets.push(took);
        } else {
            puts.push(took);
        }
    }
    puts.sort();
    gets.sort();
    (puts, gets)
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// One cell of the throughput table.
#[derive(Clone, Copy)]
struct Measured {
    ops_per_sec: f64,
    p50: Duration,
    p99: Duration,
    /// Every RPC the network carried (clerks' and Raft's) per operation.
    rpcs_per_op: f64,
    /// Saves of Raft state, on all servers together, per operation.
    persists_per_op: f64,
}

impl Measured {
    /// The cell as one line of numbers, for the parent process to read.
    fn to_line(self) -> String {
        format!(
            "{} {} {} {} {}",
            self.ops_per_sec,
            self.p50.as_secs_f64(),
            self.p99.as_secs_f64(),
            self.rpcs_per_op,
            self.persists_per_op
        )
    }

    fn from_line(line: &str) -> Result<Measured, String> {
        let numbers: Vec<f64> = line
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("a bad cell {line:?}: {e}"))?;
        let [ops_per_sec, p50, p99, rpcs_per_op, persists_per_op] = numbers[..] else {
            return Err(format!(
                "a cell of {} numbers, not 5: {line:?}",
                numbers.len()
            ));
        };
        Ok(Measured {
            ops_per_sec,
            p50: Duration::from_secs_f64(p50),
            p99: Duration::from_secs_f64(p99),
            rpcs_per_op,
            persists_per_op,
        })
    }
}

/// What `count` fresh clerks of `cluster` achieve running `workload`
/// concurrently for [`THROUGHPUT_RUN`].
fn throughput(cluster: &mut Cluster, count: usize, workload: Workload) -> Measured {
    let clerks: Vec<Clerk> = (0..count).map(|_| cluster.clerk()).collect();
    let (rpcs_before, saves_before) = (cluster.net.total_count(), cluster.saves());
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let mut latencies: Vec<Duration> = thread::scope(|scope| {
        let workers: Vec<_> = clerks
            .into_iter()
            .enumerate()
            .map(|(who, mut clerk)| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let began = Instant::now();
                        operate(&mut clerk, who, workload, latencies.len());
                        latencies.push(began.elapsed());
                    }
                    latencies
                })
            })
            .collect();
        thread::sleep(THROUGHPUT_RUN);
        stop.store(true, Ordering::Relaxed);
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed();
    latencies.sort();
    let done = latencies.len().max(1) as f64;
    Measured {
        ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        rpcs_per_op: (cluster.net.total_count() - rpcs_before) as f64 / done,
        persists_per_op: (cluster.saves() - saves_before) as f64 / done,
    }
}

/// A way of running the reference that the bench compares.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// As it is: Gets by ReadIndex, started entries saved together.
    Reference,
    /// Gets through the log, as in 3A.
    GetsThroughLog,
    /// Each started entry saved on its own, as before group commit.
    Unbatched,
}

impl Mode {
    const ALL: [Mode; 3] = [Mode::Reference, Mode::GetsThroughLog, Mode::Unbatched];

    fn name(self) -> &'static str {
        match self {
            Mode::Reference => "reference",
            Mode::GetsThroughLog => "gets-through-log",
            Mode::Unbatched => "unbatched",
        }
    }

    /// The workloads this mode changes.
    fn workloads(self) -> &'static [Workload] {
        match self {
            Mode::Reference => &Workload::ALL,
            Mode::GetsThroughLog => &[Workload::Mixed, Workload::Gets],
            Mode::Unbatched => &[Workload::Mixed, Workload::Puts],
        }
    }

    /// The switch this mode sets, if any.
    fn switch(self) -> Option<&'static str> {
        match self {
            Mode::Reference => None,
            Mode::GetsThroughLog => Some(GETS_THROUGH_LOG_VAR),
            Mode::Unbatched => Some(UNBATCHED_VAR),
        }
    }
}

/// The argument with which the bench runs itself as a child measuring one
/// mode (named next); the child prints one line per cell, workload by
/// workload, clerk count by clerk count.
const MODE_ARG: &str = "--measure-mode";

/// Measures `mode`'s cells in this process, each workload on a fresh
/// cluster: a cluster that has served 200 clerks runs the next workload
/// measurably slower.
fn measure_here(mode: Mode) {
    for &workload in mode.workloads() {
        let mut cluster = Cluster::start();
        cluster.await_leader();
        for count in CLERK_COUNTS {
            println!("{}", throughput(&mut cluster, count, workload).to_line());
        }
        cluster.stop();
    }
}

/// Runs this bench again as a child process measuring `mode`, and reads
/// its cells: `cells[w][c]` is workload `w` of the mode at clerk count `c`.
fn measure_in_child(mode: Mode) -> Result<Vec<Vec<Measured>>, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let mut child = Command::new(&me);
    child.args([MODE_ARG, mode.name()]).stderr(Stdio::inherit());
    for var in Mode::ALL.iter().filter_map(|m| m.switch()) {
        child.env_remove(var);
    }
    if let Some(var) = mode.switch() {
        child.env(var, "1");
    }
    let output = child
        .output()
        .map_err(|e| format!("cannot run {}: {e}", me.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the {} run failed ({})",
            mode.name(),
            output.status
        ));
    }
    let cells: Vec<Measured> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(Measured::from_line)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the {} run printed {e}", mode.name()))?;
    let wanted = mode.workloads().len() * CLERK_COUNTS.len();
    if cells.len() != wanted {
        return Err(format!(
            "the {} run printed {} cells, not {wanted}",
            mode.name(),
            cells.len()
        ));
    }
    Ok(cells
        .chunks(CLERK_COUNTS.len())
        .map(<[Measured]>::to_vec)
        .collect())
}

/// Per cell of `mode`, the run with the median throughput among `runs`.
fn medians(runs: &[(Mode, Vec<Vec<Measured>>)], mode: Mode) -> Vec<Vec<Measured>> {
    let of_mode: Vec<&Vec<Vec<Measured>>> = runs
        .iter()
        .filter(|(m, _)| *m == mode)
        .map(|(_, cells)| cells)
        .collect();
    (0..mode.workloads().len())
        .map(|w| {
            (0..CLERK_COUNTS.len())
                .map(|c| {
                    let mut cell: Vec<Measured> = of_mode.iter().map(|run| run[w][c]).collect();
                    cell.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
                    cell[cell.len() / 2]
                })
                .collect()
        })
        .collect()
}

/// Ops/s of `mode`'s `workload` at 50 clerks.
fn at_fifty(table: &[(Mode, Vec<Vec<Measured>>)], mode: Mode, workload: Workload) -> f64 {
    let (_, cells) = table.iter().find(|(m, _)| *m == mode).unwrap();
    let w = mode
        .workloads()
        .iter()
        .position(|&w| w == workload)
        .unwrap();
    let c = CLERK_COUNTS.iter().position(|&c| c == 50).unwrap();
    cells[w][c].ops_per_sec
}

fn print_sequential() {
    let mut cluster = Cluster::start();
    cluster.await_leader();
    let mut clerk = cluster.clerk();
    let (puts, gets) = sequential_latencies(&mut clerk);
    cluster.stop();
    println!("sequential, 1 clerk, {SEQUENTIAL_OPS} ops (Put/Get alternating)");
    println!("  op        p50 ms    p99 ms");
    for (name, latencies) in [("put", &puts), ("get", &gets)] {
        println!(
            "  {name:4} {:9.3} {:9.3}",
            ms(percentile(latencies, 0.50)),
            ms(percentile(latencies, 0.99))
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|arg| arg == MODE_ARG) {
        let named = args.get(at + 1).map(String::as_str);
        let Some(mode) = Mode::ALL.into_iter().find(|m| Some(m.name()) == named) else {
            eprintln!("kv bench: {MODE_ARG} needs one of reference, gets-through-log, unbatched");
            return ExitCode::FAILURE;
        };
        measure_here(mode);
        return ExitCode::SUCCESS;
    }
    println!(
        "KV benchmark: {SERVERS} servers, reliable network, max_raft_state {MAX_RAFT_STATE:?}"
    );
    println!();
    print_sequential();
    let mut runs: Vec<(Mode, Vec<Vec<Measured>>)> = Vec::new();
    for _ in 0..REPEATS {
        for mode in Mode::ALL {
            match measure_in_child(mode) {
                Ok(cells) => runs.push((mode, cells)),
                Err(problem) => {
                    eprintln!("kv bench: {problem}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let table: Vec<(Mode, Vec<Vec<Measured>>)> = Mode::ALL
        .iter()
        .map(|&mode| (mode, medians(&runs, mode)))
        .collect();
    println!();
    println!(
        "concurrent clerks, {} s each, median of {REPEATS} runs; persists are on all {SERVERS} servers together",
        THROUGHPUT_RUN.as_secs()
    );
    println!(
        "  mode              workload  clerks     ops/s   p50 ms   p99 ms  RPCs/op  persists/op"
    );
    for (mode, cells) in &table {
        for (workload, row) in mode.workloads().iter().zip(cells) {
            for (count, cell) in CLERK_COUNTS.iter().zip(row) {
                println!(
                    "  {:16}  {:8}  {count:6}  {:8.0}  {:7.3}  {:7.3}  {:7.2}  {:11.2}",
                    mode.name(),
                    workload.name(),
                    cell.ops_per_sec,
                    ms(cell.p50),
                    ms(cell.p99),
                    cell.rpcs_per_op,
                    cell.persists_per_op
                );
            }
        }
    }
    println!();
    println!(
        "at 50 clerks: Gets by ReadIndex {:.2} x mixed with Gets through the log; Puts {:.2} x unbatched",
        at_fifty(&table, Mode::Reference, Workload::Gets)
            / at_fifty(&table, Mode::GetsThroughLog, Workload::Mixed),
        at_fifty(&table, Mode::Reference, Workload::Puts)
            / at_fifty(&table, Mode::Unbatched, Workload::Puts),
    );
    ExitCode::SUCCESS
}
