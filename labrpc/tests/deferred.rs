//! Deferred handlers: answered later, from anywhere, through a responder.

mod common;

use std::thread;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver};
use labrpc::{Responder, RpcError, Server, Service};

use common::{end_to_server, network_with, SERVER};

/// A service whose "Later.Keep" handler hands each call's responder out on
/// the returned channel, answering nothing itself.
fn keeping_service() -> (Service, Receiver<(u64, Responder<u64>)>) {
    let (kept_tx, kept) = unbounded();
    let service = Service::new("Later").handle_deferred("Keep", move |x: u64, responder| {
        kept_tx.send((x, responder)).unwrap();
    });
    (service, kept)
}

#[test]
fn an_answer_sent_from_another_thread_reaches_the_caller() {
    let (service, kept) = keeping_service();
    let net = network_with(21, vec![service]);
    let end = end_to_server(&net, "client");
    let answering = thread::spawn(move || {
        for _ in 0..3 {
            let (x, responder) = kept.recv().unwrap();
            responder.send(x + 1);
        }
    });
    for x in [1u64, 5, 9] {
        assert_eq!(end.call::<u64, u64>("Later.Keep", &x), Ok(x + 1));
    }
    answering.join().unwrap();
    net.cleanup();
}

#[test]
fn a_responder_dropped_unanswered_fails_the_call_as_server_gone() {
    let (service, kept) = keeping_service();
    let net = network_with(22, vec![service]);
    let end = end_to_server(&net, "client");
    let dropping = thread::spawn(move || drop(kept.recv().unwrap()));
    assert_eq!(
        end.call::<u64, u64>("Later.Keep", &1),
        Err(RpcError::ServerGone)
    );
    dropping.join().unwrap();
    net.cleanup();
}

#[test]
fn a_panicking_deferred_handler_fails_only_its_call() {
    let service = Service::new("Later").handle_deferred("Check", |x: u64, responder| {
        assert!(x > 0, "{x} is not positive");
        responder.send(x);
    });
    let net = network_with(23, vec![service]);
    let end = end_to_server(&net, "client");
    assert_eq!(
        end.call::<u64, u64>("Later.Check", &0),
        Err(RpcError::HandlerPanicked {
            method: "Later.Check".into(),
            message: "0 is not positive".into()
        })
    );
    assert_eq!(end.call::<u64, u64>("Later.Check", &3), Ok(3));
    net.cleanup();
}

#[test]
fn a_crash_fails_a_waiting_deferred_call_at_once_and_its_late_answer_is_lost() {
    let (service, kept) = keeping_service();
    let net = network_with(24, vec![service]);
    let end = end_to_server(&net, "client");
    let (done_tx, done) = unbounded();
    end.call_async("Later.Keep", &7u64, move |r: Result<u64, RpcError>| {
        done_tx.send(r).unwrap()
    });
    let (_, responder) = kept.recv().unwrap();
    net.delete_server(SERVER);
    assert_eq!(
        done.recv_timeout(Duration::from_secs(2)).unwrap(),
        Err(RpcError::ServerGone)
    );
    responder.send(8);
    assert!(done.try_recv().is_err(), "the call completed twice");
    net.cleanup();
}

#[test]
fn dispatch_waits_for_a_deferred_answer() {
    let (service, kept) = keeping_service();
    let mut server = Server::new();
    server.add_service(service);
    let answering = thread::spawn(move || {
        let (x, responder) = kept.recv().unwrap();
        responder.send(x * 3);
    });
    let request = postcard::to_allocvec(&4u64).unwrap();
    let reply = server.dispatch("Later.Keep", &request).unwrap();
    assert_eq!(postcard::from_bytes::<u64>(&reply).unwrap(), 12);
    answering.join().unwrap();
}
