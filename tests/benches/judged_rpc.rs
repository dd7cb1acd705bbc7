//! `cargo bench --bench judged_rpc`: the round trip of a null RPC between
//! two judged processes through the judge's network, beside the same call
//! inside one process, as a table.

use std::time::{Duration, Instant};

use labrpc::{Network, Server, Service};

const CALLS: usize = 20_000;
const WARM_UP: usize = 1_000;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn in_process(calls: usize) -> Vec<Duration> {
    let net = Network::with_seed(1);
    let mut server = Server::new();
    server.add_service(Service::new("Echo").handle("Null", |request: Vec<u8>| request));
    net.add_server("server", server);
    let end = net.make_end("caller");
    net.connect("caller", "server");
    net.enable("caller", true);
    let times = (0..calls)
        .map(|_| {
            let at = Instant::now();
            end.call::<Vec<u8>, Vec<u8>>("Echo.Null", &Vec::new())
                .expect("a reliable null call failed");
            at.elapsed()
        })
        .collect();
    net.cleanup();
    times
}

fn row(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "| {name:<38} | {:>7} | {:>8.1} | {:>8.1} | {:>8.1} |",
        samples.len(),
        us(percentile(&samples, 0.5)),
        us(percentile(&samples, 0.99)),
        us(*samples.last().expect("samples")),
    );
}

fn main() {
    // First, before time_null_calls pins this thread to one CPU.
    let inside: Vec<Duration> = in_process(WARM_UP + CALLS)
        .into_iter()
        .skip(WARM_UP)
        .collect();
    let across = harness::time_null_calls(WARM_UP + CALLS).unwrap_or_else(|problem| {
        eprintln!("judged_rpc: {problem}");
        std::process::exit(1)
    });
    let failed = across.iter().filter(|t| t.is_none()).count();
    if failed > 0 {
        eprintln!("judged_rpc: {failed} calls failed on a reliable network");
        std::process::exit(1);
    }
    let across: Vec<Duration> = across.into_iter().skip(WARM_UP).flatten().collect();
    println!(
        "| null RPC, reliable network             |   calls |  p50 µs  |  p99 µs  |  max µs  |"
    );
    println!(
        "|----------------------------------------|---------|----------|----------|----------|"
    );
    row("in one process", inside);
    row("between two judged processes", across);
}
