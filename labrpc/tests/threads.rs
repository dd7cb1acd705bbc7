//! Waiting out a delay holds no thread: its own binary, so no other test's
//! threads are counted.

mod common;

use std::time::Duration;

use common::*;
use crossbeam_channel::unbounded;
use labrpc::RpcError;

fn threads_now() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line in /proc/self/status")
}

#[test]
fn ten_thousand_delayed_failures_use_few_threads() {
    let net = network_with(11, vec![math_service()]);
    net.set_long_delays(true);
    let end = net.make_end("disabled");
    net.connect("disabled", SERVER);
    let (tx, rx) = unbounded();
    for x in 0..10_000u64 {
        let tx = tx.clone();
        end.call_async("Math.Double", &x, move |r: Result<u64, RpcError>| {
            tx.send(r).unwrap()
        });
    }
    drop(tx);
    let mut most = threads_now();
    let mut failed = 0;
    while failed < 10_000 {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(reply) => {
                assert_eq!(reply, Err(RpcError::Unreachable));
                failed += 1;
            }
            Err(e) => assert!(
                e.is_timeout(),
                "calls were lost: {failed} of 10000 completed"
            ),
        }
        most = most.max(threads_now());
    }
    assert!(most <= 24, "{most} threads ran at once");
    net.cleanup();
}
