//! KV service benchmark: three servers on a reliable network, measured
//! through real clerks. Prints the latency of one clerk's sequential Puts
//! and Gets, each apart, and the throughput of 1, 10 and 50 concurrent
//! clerks for three workloads: Puts and Gets alternating, only Gets, only
//! Puts.
//!
//! `cargo bench -p kvraft`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kvraft::{Clerk, KvServer};
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

/// Operations per second of `clerks` clerks running `workload` concurrently.
fn throughput(clerks: Vec<Clerk>, workload: Workload) -> f64 {
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
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let mut cluster = Cluster::start();
    let mut clerk = cluster.clerk();
    // The first operation waits out the first election.
    clerk.get("warm-up");

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
    println!();
    println!(
        "concurrent clerks, {} s each, ops/s",
        THROUGHPUT_RUN.as_secs()
    );
    print!("  clerks");
    for workload in Workload::ALL {
        print!(" {:>10}", workload.name());
    }
    println!();
    for count in CLERK_COUNTS {
        print!("  {count:6}");
        for workload in Workload::ALL {
            let clerks = (0..count).map(|_| cluster.clerk()).collect();
            print!(" {:10.0}", throughput(clerks, workload));
        }
        println!();
    }
    cluster.stop();
}
