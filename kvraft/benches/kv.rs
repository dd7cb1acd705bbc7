//! KV service benchmark: three servers on a reliable network, measured
//! through real clerks. Prints the latency of one clerk's sequential
//! operations and the throughput of 1, 10 and 50 concurrent clerks.
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

/// One operation of clerk `who`'s workload: alternately a Put and a Get of
/// one of its keys.
fn operate(clerk: &mut Clerk, who: usize, step: usize) {
    let key = format!("{who}-{}", step / 2 % KEYS_PER_CLERK);
    if step % 2 == 1 {
        clerk.get(&key);
    } else {
        clerk.put(&key, &step.to_string());
    }
}

/// Latencies of `SEQUENTIAL_OPS` operations, sorted.
fn sequential_latencies(clerk: &mut Clerk) -> Vec<Duration> {
    let mut latencies: Vec<Duration> = (0..SEQUENTIAL_OPS)
        .map(|step| {
            let started = Instant::now();
            operate(clerk, 0, step);
            started.elapsed()
        })
        .collect();
    latencies.sort();
    latencies
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Operations per second of `clerks` clerks running concurrently.
fn throughput(clerks: Vec<Clerk>) -> f64 {
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
                        operate(&mut clerk, who, step);
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

    let latencies = sequential_latencies(&mut clerk);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "KV benchmark: {SERVERS} servers, reliable network, max_raft_state {MAX_RAFT_STATE:?}"
    );
    println!();
    println!("sequential, 1 clerk, {SEQUENTIAL_OPS} ops (Put/Get alternating)");
    println!("  p50 {:7.3} ms", ms(percentile(&latencies, 0.50)));
    println!("  p99 {:7.3} ms", ms(percentile(&latencies, 0.99)));
    println!();
    println!("concurrent clerks, {} s each", THROUGHPUT_RUN.as_secs());
    println!("  clerks      ops/s");
    for count in CLERK_COUNTS {
        let clerks = (0..count).map(|_| cluster.clerk()).collect();
        println!("  {count:6} {:10.0}", throughput(clerks));
    }
    cluster.stop();
}
