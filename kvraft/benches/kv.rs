//! KV service benchmark: three servers on a reliable network, measured
//! through real clerks. Prints the latency of one clerk's sequential Puts
//! and Gets, each apart, and the throughput of 1, 10 and 50 concurrent
//! clerks for three workloads: Puts and Gets alternating, only Gets, only
//! Puts; then, from a second process with the reference's switch
//! [`GETS_THROUGH_LOG_VAR`] set, the first two with Gets through the log
//! (3A's way), to show what ReadIndex (3C) gains.
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

const SERVERS: usize = 3;
/// Snapshots keep the log, which Raft persists whole, short.
const MAX_RAFT_STATE: Option<usize> = Some(64 * 1024);
/// Sequential operations timed one by one.
const SEQUENTIAL_OPS: usize = 5000;
/// Concurrent clerk counts of the throughput rows.
const CLERK_COUNTS: [usize; 3] = [1, 10, 50];
/// How long each throughput row runs.
const THROUGHPUT_RUN: Duration = Duration::from_secs(3);
/// Keys each clerk cycles through, so values stay small.
const KEYS_PER_CLERK: usize = 4;

/// A KV service on its own network.
struct Cluster {
    net: Network,
    servers: Vec<KvServer>,
    clerks_made: usize,
}

impl Cluster {
    fn start() -> Cluster {
        let net = Network::new();
        let servers = (0..SERVERS)
            .map(|i| {
                let ends = Cluster::ends(&net, &format!("kv{i}"));
                let kv = KvServer::new(ends, i, Arc::new(Persister::new()), MAX_RAFT_STATE);
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

    fn stop(self) {
        for kv in &self.servers {
            kv.kill();
        }
        self.net.cleanup();
    }
}

/// What the clerks of a throughput row do.
#[derive(Clone, Copy)]
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

/// One cell of the throughput tables.
#[derive(Clone, Copy)]
struct Measured {
    ops_per_sec: f64,
    /// Every RPC the network carried (clerks' and Raft's) per operation.
    rpcs_per_op: f64,
}

/// What `count` fresh clerks of `cluster` achieve running `workload`
/// concurrently for [`THROUGHPUT_RUN`].
fn throughput(cluster: &mut Cluster, count: usize, workload: Workload) -> Measured {
    let clerks: Vec<Clerk> = (0..count).map(|_| cluster.clerk()).collect();
    let rpcs_before = cluster.net.total_count();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let done: usize = thread::scope(|scope| {
        let workers: Vec<_> = clerks
            .into_iter()
            .enumerate()
            .map(|(who, mut clerk)| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut step = 0;
                    while !stop.load(Ordering::Relaxed) {
                        operate(&mut clerk, who, workload, step);
                        step += 1;
                    }
                    step
                })
            })
            .collect();
        thread::sleep(THROUGHPUT_RUN);
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let rpcs = cluster.net.total_count() - rpcs_before;
    Measured {
        ops_per_sec: done as f64 / started.elapsed().as_secs_f64(),
        rpcs_per_op: rpcs as f64 / done.max(1) as f64,
    }
}

/// The argument with which the bench runs itself, with
/// [`GETS_THROUGH_LOG_VAR`] set, to measure Gets through the log: it then
/// prints only the cells of [`LOG_WORKLOADS`], one line per row.
const LOG_ROWS_ARG: &str = "--gets-through-log-rows";

/// The workloads measured again with Gets through the log.
const LOG_WORKLOADS: [Workload; 2] = [Workload::Mixed, Workload::Gets];

/// Each of `workloads` (columns) at each of [`CLERK_COUNTS`] (rows).
fn throughput_rows(cluster: &mut Cluster, workloads: &[Workload]) -> Vec<Vec<Measured>> {
    CLERK_COUNTS
        .iter()
        .map(|&count| {
            workloads
                .iter()
                .map(|&workload| throughput(cluster, count, workload))
                .collect()
        })
        .collect()
}

/// A cluster whose first election is over.
fn warm_cluster() -> (Cluster, Clerk) {
    let mut cluster = Cluster::start();
    let mut clerk = cluster.clerk();
    clerk.get("warm-up");
    (cluster, clerk)
}

/// Runs this bench again as a child process with Gets through the log
/// (the switch is read once per process) and reads its rows.
fn rows_with_gets_through_log() -> Result<Vec<Vec<Measured>>, String> {
    let me = std::env::current_exe().map_err(|e| format!("cannot find the bench binary: {e}"))?;
    let output = Command::new(&me)
        .arg(LOG_ROWS_ARG)
        .env(GETS_THROUGH_LOG_VAR, "1")
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", me.display()))?;
    if !output.status.success() {
        return Err(format!(
            "the run with Gets through the log failed ({})",
            output.status
        ));
    }
    let numbers: Vec<Vec<f64>> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| line.split_whitespace().map(str::parse).collect())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the run with Gets through the log printed a bad row: {e}"))?;
    let rows: Vec<Vec<Measured>> = numbers
        .iter()
        .map(|line| {
            line.chunks_exact(2)
                .map(|pair| Measured {
                    ops_per_sec: pair[0],
                    rpcs_per_op: pair[1],
                })
                .collect()
        })
        .collect();
    if rows.len() != CLERK_COUNTS.len() || rows.iter().any(|r| r.len() != LOG_WORKLOADS.len()) {
        return Err(format!(
            "the run with Gets through the log printed {} rows, not {}",
            rows.len(),
            CLERK_COUNTS.len()
        ));
    }
    Ok(rows)
}

fn main() -> ExitCode {
    if std::env::args().any(|arg| arg == LOG_ROWS_ARG) {
        let (mut cluster, _) = warm_cluster();
        for row in throughput_rows(&mut cluster, &LOG_WORKLOADS) {
            let cells: Vec<String> = row
                .iter()
                .map(|cell| format!("{} {}", cell.ops_per_sec, cell.rpcs_per_op))
                .collect();
            println!("{}", cells.join(" "));
        }
        cluster.stop();
        return ExitCode::SUCCESS;
    }
    let (mut cluster, mut clerk) = warm_cluster();
    let (puts, gets) = sequential_latencies(&mut clerk);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "KV benchmark: {SERVERS} servers, reliable network, max_raft_state {MAX_RAFT_STATE:?}"
    );
    println!();
    println!("sequential, 1 clerk, {SEQUENTIAL_OPS} ops (Put/Get alternating)");
    println!("  op        p50 ms    p99 ms");
    for (name, latencies) in [("put", &puts), ("get", &gets)] {
        println!(
            "  {name:4} {:9.3} {:9.3}",
            ms(percentile(latencies, 0.50)),
            ms(percentile(latencies, 0.99))
        );
    }
    let rows = throughput_rows(&mut cluster, &Workload::ALL);
    cluster.stop();
    let log_rows = match rows_with_gets_through_log() {
        Ok(log_rows) => log_rows,
        Err(problem) => {
            eprintln!("kv bench: {problem}");
            return ExitCode::FAILURE;
        }
    };
    print_table("ops/s", &rows, &log_rows, |cell| {
        format!("{:10.0}", cell.ops_per_sec)
    });
    print_table("RPCs per operation", &rows, &log_rows, |cell| {
        format!("{:10.2}", cell.rpcs_per_op)
    });
    let last = CLERK_COUNTS.len() - 1;
    let (gets, mixed_through_log) = (rows[last][1], log_rows[last][0]);
    println!();
    println!(
        "Gets by ReadIndex at {} clerks: {:.2} x the mixed throughput with Gets through the log",
        CLERK_COUNTS[last],
        gets.ops_per_sec / mixed_through_log.ops_per_sec
    );
    ExitCode::SUCCESS
}

/// One throughput table: a row per clerk count, the columns of
/// [`Workload::ALL`] with Gets by ReadIndex, then those of [`LOG_WORKLOADS`]
/// with Gets through the log.
fn print_table(
    what: &str,
    rows: &[Vec<Measured>],
    log_rows: &[Vec<Measured>],
    cell: impl Fn(&Measured) -> String,
) {
    println!();
    println!(
        "concurrent clerks, {} s each, {what}",
        THROUGHPUT_RUN.as_secs()
    );
    println!("          Gets by ReadIndex (3C)             Gets through the log (3A)");
    print!("  clerks");
    for workload in Workload::ALL.iter().chain(&LOG_WORKLOADS) {
        print!(" {:>10}", workload.name());
    }
    println!();
    for ((count, row), log_row) in CLERK_COUNTS.iter().zip(rows).zip(log_rows) {
        print!("  {count:6}");
        for measured in row.iter().chain(log_row) {
            print!(" {}", cell(measured));
        }
        println!();
    }
}
