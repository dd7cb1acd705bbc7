//! labrpc benchmark: `cargo bench -p labrpc` prints a table of null-RPC
//! latency and throughput on a reliable network.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use labrpc::{ClientEnd, Network, Server, Service};

const LATENCY_CALLS: usize = 20_000;
const THROUGHPUT_WINDOW: Duration = Duration::from_secs(2);

fn null_network() -> Network {
    let net = Network::with_seed(1);
    let mut server = Server::new();
    server.add_service(Service::new("Bench").handle("Null", |_: ()| ()));
    net.add_server("server", server);
    net
}

fn end(net: &Network, name: &str) -> ClientEnd {
    let end = net.make_end(name);
    net.connect(name, "server");
    net.enable(name, true);
    end
}

fn null_call(end: &ClientEnd) {
    end.call::<(), ()>("Bench.Null", &())
        .expect("a reliable null call failed");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn latencies(net: &Network) -> Vec<Duration> {
    let end = end(net, "latency");
    for _ in 0..1000 {
        null_call(&end); // warm up the handler pool
    }
    let mut samples: Vec<Duration> = (0..LATENCY_CALLS)
        .map(|_| {
            let started = Instant::now();
            null_call(&end);
            started.elapsed()
        })
        .collect();
    samples.sort();
    samples
}

fn throughput(net: &Network, callers: usize) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..callers)
        .map(|c| {
            let end = Arc::new(end(net, &format!("caller-{callers}-{c}")));
            thread::spawn(move || {
                let mut calls = 0u64;
                while started.elapsed() < THROUGHPUT_WINDOW {
                    null_call(&end);
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    let calls: u64 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    calls as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let net = null_network();
    let samples = latencies(&net);
    println!(
        "labrpc null RPC, reliable network ({} cores)",
        thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("{:<28} {:>12}", "measure", "value");
    println!(
        "{:<28} {:>9.1} us",
        "latency p50 (sequential)",
        percentile(&samples, 0.50).as_secs_f64() * 1e6
    );
    println!(
        "{:<28} {:>9.1} us",
        "latency p99 (sequential)",
        percentile(&samples, 0.99).as_secs_f64() * 1e6
    );
    for callers in [1, 4, 16] {
        println!(
            "{:<28} {:>9.0} /s",
            format!("throughput, {callers} callers"),
            throughput(&net, callers)
        );
    }
    net.cleanup();
}
