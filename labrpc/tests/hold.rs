//! Held ends: requests wait at the network until a test delivers them, in
//! the order it chooses.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use crossbeam_channel::Receiver;
use labrpc::{ClientEnd, HeldOrder, Network, RpcError, Server, Service};

/// A network whose server records the values `Log.Push` receives, in
/// order, with an enabled end to it.
fn log_network() -> (Network, ClientEnd, Arc<Mutex<Vec<u64>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let net = Network::with_seed(7);
    net.add_server(SERVER, log_server(&seen));
    let end = end_to_server(&net, "client");
    (net, end, seen)
}

/// Starts `Log.Push(x)` without waiting; its outcome arrives on the receiver.
fn push(end: &ClientEnd, x: u64) -> Receiver<Result<usize, RpcError>> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    end.call_async("Log.Push", &x, move |reply| {
        let _ = tx.send(reply);
    });
    rx
}

const PATIENCE: Duration = Duration::from_secs(5);

/// The log length each of `replies` answers, waiting for each in turn.
fn answers(replies: &[Receiver<Result<usize, RpcError>>]) -> Vec<usize> {
    replies
        .iter()
        .map(|r| r.recv_timeout(PATIENCE).unwrap().unwrap())
        .collect()
}

#[test]
fn held_requests_wait_and_can_be_delivered_newest_first() {
    let (net, end, seen) = log_network();
    net.hold("client", true);
    let replies: Vec<_> = (1..=3).map(|x| push(&end, x)).collect();
    assert_eq!(net.held_count("client"), 3);
    assert!(
        replies[0].recv_timeout(Duration::from_millis(100)).is_err(),
        "a held request was answered"
    );
    assert!(seen.lock().unwrap().is_empty());
    assert_eq!(
        net.rpc_count(SERVER),
        0,
        "held requests are not counted yet"
    );

    assert_eq!(net.deliver_held("client", HeldOrder::NewestFirst), 3);
    assert_eq!(*seen.lock().unwrap(), [3, 2, 1]);
    let lengths = answers(&replies);
    assert_eq!(lengths, [3, 2, 1], "each reply answers its own request");
    assert_eq!(net.rpc_count(SERVER), 3);
    net.cleanup();
}

#[test]
fn a_held_request_waits_while_later_ones_pass() {
    let (net, end, seen) = log_network();
    net.hold("client", true);
    let late = push(&end, 1);
    net.hold("client", false);
    assert_eq!(end.call::<u64, usize>("Log.Push", &2), Ok(1));
    assert!(late.recv_timeout(Duration::from_millis(100)).is_err());

    net.hold("client", true);
    let held_again = push(&end, 3);
    assert_eq!(net.deliver_held("client", HeldOrder::AsSent), 2);
    assert_eq!(late.recv_timeout(PATIENCE).unwrap(), Ok(2));
    assert_eq!(held_again.recv_timeout(PATIENCE).unwrap(), Ok(3));
    assert_eq!(*seen.lock().unwrap(), [2, 1, 3]);
    net.cleanup();
}

#[test]
fn disabling_a_held_end_fails_what_it_holds() {
    let (net, end, seen) = log_network();
    net.hold("client", true);
    let held = push(&end, 1);
    net.enable("client", false);
    assert_eq!(
        held.recv_timeout(PATIENCE).unwrap(),
        Err(RpcError::Unreachable)
    );
    assert_eq!(net.deliver_held("client", HeldOrder::AsSent), 0);
    assert!(seen.lock().unwrap().is_empty());
    net.cleanup();
}

/// A server of the `Log` service that records what it receives in `seen`.
fn log_server(seen: &Arc<Mutex<Vec<u64>>>) -> Server {
    let log = Arc::clone(seen);
    let mut server = Server::new();
    server.add_service(Service::new("Log").handle("Push", move |x: u64| {
        let mut log = log.lock().unwrap();
        log.push(x);
        log.len()
    }));
    server
}

#[test]
fn taken_requests_reach_the_server_that_replaced_theirs() {
    let (net, end, old_seen) = log_network();
    net.hold("client", true);
    let replies: Vec<_> = (1..=2).map(|x| push(&end, x)).collect();
    let taken = net.take_held("client");
    assert_eq!(taken.len(), 2);
    let methods: Vec<&str> = taken.requests().map(|(method, _)| method).collect();
    assert_eq!(methods, ["Log.Push", "Log.Push"]);
    assert_eq!(net.held_count("client"), 0);

    // The server crashes (its end is cut, then it is replaced) while the
    // requests are taken: they are not failed.
    net.enable("client", false);
    let new_seen = Arc::new(Mutex::new(Vec::new()));
    net.add_server(SERVER, log_server(&new_seen));
    net.enable("client", true);
    assert!(
        replies[0].recv_timeout(Duration::from_millis(100)).is_err(),
        "a taken request was answered before it was delivered"
    );

    assert_eq!(net.deliver_taken("client", taken), 2);
    let lengths = answers(&replies);
    assert_eq!(lengths, [1, 2]);
    assert_eq!(*new_seen.lock().unwrap(), [1, 2]);
    assert!(old_seen.lock().unwrap().is_empty());
    net.cleanup();
}

#[test]
fn taken_requests_fail_when_dropped_or_their_end_is_cut() {
    let (net, end, seen) = log_network();
    net.hold("client", true);
    let dropped = push(&end, 1);
    drop(net.take_held("client"));
    assert_eq!(
        dropped.recv_timeout(PATIENCE).unwrap(),
        Err(RpcError::Unreachable)
    );

    let cut = push(&end, 2);
    let taken = net.take_held("client");
    net.enable("client", false);
    assert_eq!(net.deliver_taken("client", taken), 1);
    assert_eq!(
        cut.recv_timeout(PATIENCE).unwrap(),
        Err(RpcError::Unreachable)
    );
    assert!(seen.lock().unwrap().is_empty());
    net.cleanup();
}
