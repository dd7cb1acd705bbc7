//! The fault model: loss, delays, reordering, crashes, blocked handlers.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossbeam_channel::{bounded, unbounded, Receiver};
use labrpc::{ClientEnd, Network, RpcError, Server, Service};

/// Runs `calls` calls of `Math.Double` from `threads` threads; returns how
/// many succeeded.
fn successes(net: &Network, threads: usize, calls: usize) -> usize {
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let end = end_to_server(net, &format!("client-{t}"));
            thread::spawn(move || {
                (0..calls / threads)
                    .filter(|&x| timed_double(&end, x as u64).0.is_ok())
                    .count()
            })
        })
        .collect();
    workers.into_iter().map(|w| w.join().unwrap()).sum()
}

#[test]
fn unreliable_network_delivers_about_81_percent() {
    let net = network_with(rand::random(), vec![math_service()]);
    net.set_reliable(false);
    let ok = successes(&net, 20, 2000);
    // 0.9 (request kept) x 0.9 (reply kept) = 0.81: 1620 expected, standard
    // deviation 17.5; the window is over 8 deviations wide on each side.
    assert!(
        (1480..=1760).contains(&ok),
        "{ok} of 2000 calls succeeded; expected about 1620 (seed {})",
        net.seed()
    );
    net.cleanup();
}

#[test]
fn same_seed_gives_same_drop_decisions() {
    let outcomes = |seed: u64| -> Vec<bool> {
        let net = network_with(seed, vec![math_service()]);
        net.set_reliable(false);
        let end = end_to_server(&net, "client");
        let seen = (0..120).map(|x| timed_double(&end, x).0.is_ok()).collect();
        net.cleanup();
        seen
    };
    let first = outcomes(77);
    assert_eq!(first, outcomes(77));
    assert!(first.contains(&false), "an unreliable network lost nothing");
}

/// A server whose "Gate.Wait" handler blocks until the returned sender
/// sends (or is dropped), reporting each entry on `entered`.
fn gated_network(seed: u64) -> (Network, crossbeam_channel::Sender<()>, Receiver<()>) {
    let (release, gate) = unbounded::<()>();
    let (entered_tx, entered) = unbounded();
    let service = Service::new("Gate").handle("Wait", move |_: ()| {
        entered_tx.send(()).unwrap();
        let _ = gate.recv();
    });
    (
        network_with(seed, vec![service, math_service()]),
        release,
        entered,
    )
}

#[test]
fn server_deleted_during_call_never_replies_positively() {
    let (net, release, entered) = gated_network(6);
    let end = end_to_server(&net, "client");
    let (tx, rx) = bounded(1);
    end.call_async("Gate.Wait", &(), move |r: Result<(), RpcError>| {
        tx.send(r).unwrap()
    });
    entered.recv().unwrap();
    net.delete_server(SERVER);
    // The caller learns at once, while the handler is still blocked...
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(2)).unwrap(),
        Err(RpcError::ServerGone)
    );
    // ...and the handler finishing later changes nothing.
    release.send(()).unwrap();
    let mut replacement = Server::new();
    replacement.add_service(math_service());
    net.add_server(SERVER, replacement);
    assert_eq!(end.call::<u64, u64>("Math.Double", &2), Ok(4));
    net.cleanup();
}

#[test]
fn replaced_server_fails_calls_in_flight() {
    let (net, release, entered) = gated_network(7);
    let end = end_to_server(&net, "client");
    let caller = thread::spawn(move || end.call::<(), ()>("Gate.Wait", &()));
    entered.recv().unwrap();
    let mut replacement = Server::new();
    replacement.add_service(math_service());
    net.add_server(SERVER, replacement);
    release.send(()).unwrap();
    assert_eq!(caller.join().unwrap(), Err(RpcError::ServerGone));
    net.cleanup();
}

#[test]
fn two_hundred_blocked_handlers_do_not_starve_another_call() {
    let (net, release, entered) = gated_network(8);
    let end = end_to_server(&net, "client");
    let (done_tx, done) = unbounded();
    for _ in 0..200 {
        let done_tx = done_tx.clone();
        end.call_async("Gate.Wait", &(), move |r: Result<(), RpcError>| {
            done_tx.send(r).unwrap()
        });
    }
    for _ in 0..200 {
        entered
            .recv_timeout(Duration::from_secs(10))
            .expect("a handler never started");
    }
    let (reply, took) = timed_double(&end, 5);
    assert_eq!(reply, Ok(10));
    assert!(took < Duration::from_secs(1), "the call took {took:?}");
    drop(release);
    for _ in 0..200 {
        assert_eq!(done.recv_timeout(Duration::from_secs(10)).unwrap(), Ok(()));
    }
    net.cleanup();
}

/// Starts `n` calls at once through an end that reaches no server, and
/// returns how long each took to fail.
fn failure_delays(long_delays: bool, n: usize) -> Vec<Duration> {
    let net = network_with(rand::random(), vec![math_service()]);
    net.set_long_delays(long_delays);
    let end = net.make_end("client");
    net.connect("client", SERVER);
    let (tx, rx) = unbounded();
    let started = Instant::now();
    for x in 0..n as u64 {
        let tx = tx.clone();
        end.call_async("Math.Double", &x, move |r: Result<u64, RpcError>| {
            tx.send((r, started.elapsed())).unwrap()
        });
    }
    drop(tx);
    let delays = rx
        .iter()
        .map(|(r, took)| {
            assert_eq!(r, Err(RpcError::Unreachable));
            took
        })
        .collect();
    net.cleanup();
    delays
}

#[test]
fn failures_come_after_0_to_7_seconds_with_long_delays() {
    let delays = failure_delays(true, 40);
    let longest = *delays.iter().max().unwrap();
    // Slack above 7 s for a loaded machine; below, P(all 40 under 3.5 s) = 2^-40.
    assert!(
        longest < Duration::from_millis(7500),
        "a failure took {longest:?}"
    );
    assert!(
        longest > Duration::from_millis(3500),
        "the longest failure took only {longest:?}"
    );
}

#[test]
fn failures_come_within_100_ms_without_long_delays() {
    let delays = failure_delays(false, 40);
    let longest = *delays.iter().max().unwrap();
    assert!(
        longest < Duration::from_millis(600),
        "a failure took {longest:?}"
    );
    assert!(
        longest > Duration::from_millis(50),
        "the longest failure took only {longest:?}"
    );
}

/// Issues `n` calls in order, one every 5 ms, and returns the order in which
/// their replies arrived.
fn reply_order(end: &ClientEnd, n: u64) -> Vec<u64> {
    let (tx, rx) = unbounded();
    for x in 0..n {
        let tx = tx.clone();
        end.call_async("Math.Double", &x, move |r: Result<u64, RpcError>| {
            tx.send(r.map(|doubled| doubled / 2)).unwrap()
        });
        thread::sleep(Duration::from_millis(5));
    }
    drop(tx);
    rx.iter().map(|r| r.unwrap()).collect()
}

#[test]
fn long_reordering_reorders_replies() {
    let (net, end) = math_network();
    let in_order: Vec<u64> = (0..20).collect();
    assert_eq!(reply_order(&end, 20), in_order);
    net.set_long_reordering(true);
    let reordered = reply_order(&end, 20);
    assert_ne!(reordered, in_order, "20 replies kept their order");
    net.cleanup();
}

#[test]
fn cleanup_fails_calls_in_flight() {
    let (net, _release, entered) = gated_network(9);
    let end = Arc::new(end_to_server(&net, "client"));
    let caller = {
        let end = Arc::clone(&end);
        thread::spawn(move || end.call::<(), ()>("Gate.Wait", &()))
    };
    entered.recv().unwrap();
    net.cleanup();
    assert_eq!(caller.join().unwrap(), Err(RpcError::Shutdown));
}
