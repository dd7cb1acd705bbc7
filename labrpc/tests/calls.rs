//! Calls on a reliable network: typing, services, wiring, counting.

mod common;

use std::thread;

use common::*;
use labrpc::{ClientEnd, RpcError, Service};

#[test]
fn basic_call() {
    let (net, end) = math_network();
    assert_eq!(end.call::<u64, u64>("Math.Double", &21), Ok(42));
    net.cleanup();
}

#[test]
fn one_service_with_several_methods_and_types() {
    let (net, end) = math_network();
    assert_eq!(end.call::<u64, u64>("Math.Double", &7), Ok(14));
    let pair = ("rust".to_string(), "acean".to_string());
    assert_eq!(end.call("Math.Concat", &pair), Ok("rustacean".to_string()));
    assert_eq!(end.call::<_, i32>("Math.Sum", &vec![1, -2, 30]), Ok(29));
    assert_eq!(end.call::<_, ()>("Math.Null", &()), Ok(()));
    net.cleanup();
}

#[test]
fn several_services_on_one_server() {
    let text = Service::new("Text").handle("Upper", |s: String| s.to_uppercase());
    let net = network_with(2, vec![math_service(), text]);
    let end = end_to_server(&net, "client");
    assert_eq!(end.call::<u64, u64>("Math.Double", &4), Ok(8));
    assert_eq!(
        end.call("Text.Upper", &"raft".to_string()),
        Ok("RAFT".to_string())
    );
    net.cleanup();
}

#[test]
fn disabled_end_fails_and_re_enabled_end_works_again() {
    let (net, end) = math_network();
    assert_eq!(end.call::<u64, u64>("Math.Double", &1), Ok(2));
    net.enable("client", false);
    assert_eq!(
        end.call::<u64, u64>("Math.Double", &1),
        Err(RpcError::Unreachable)
    );
    net.enable("client", true);
    assert_eq!(end.call::<u64, u64>("Math.Double", &1), Ok(2));
    net.cleanup();
}

#[test]
fn end_without_a_server_fails() {
    let net = network_with(3, vec![math_service()]);
    let end = net.make_end("lost");
    net.connect("lost", "no-such-server");
    net.enable("lost", true);
    assert_eq!(
        end.call::<u64, u64>("Math.Double", &1),
        Err(RpcError::Unreachable)
    );
    net.cleanup();
}

#[test]
fn counts_per_server_and_in_total() {
    let net = network_with(4, vec![math_service()]);
    let mut other = labrpc::Server::new();
    other.add_service(math_service());
    net.add_server("other", other);
    let to_server = end_to_server(&net, "a");
    let to_other = net.make_end("b");
    net.connect("b", "other");
    net.enable("b", true);
    let disabled = net.make_end("c");
    net.connect("c", SERVER);

    for x in 0..5 {
        to_server.call::<u64, u64>("Math.Double", &x).unwrap();
    }
    for x in 0..3 {
        to_other.call::<u64, u64>("Math.Double", &x).unwrap();
    }
    assert!(disabled.call::<u64, u64>("Math.Double", &0).is_err());

    assert_eq!(net.rpc_count(SERVER), 5);
    assert_eq!(net.rpc_count("other"), 3);
    assert_eq!(net.rpc_count("nobody"), 0);
    // The failed call counts in the total, not at any server.
    assert_eq!(net.total_count(), 9);
    net.cleanup();
}

#[test]
fn byte_counts_cover_requests_and_delivered_replies() {
    let (net, end) = math_network();
    let pair = ("a".repeat(1000), "b".repeat(2000));
    let request = postcard::to_allocvec(&pair).unwrap().len() as u64;
    let reply: String = end.call("Math.Concat", &pair).unwrap();
    let reply_len = postcard::to_allocvec(&reply).unwrap().len() as u64;
    assert_eq!(net.total_bytes(), request + reply_len);

    // A call that reaches no server still costs its request bytes.
    net.enable("client", false);
    assert!(end.call::<_, String>("Math.Concat", &pair).is_err());
    assert_eq!(net.total_bytes(), 2 * request + reply_len);
    net.cleanup();
}

#[test]
fn the_largest_message_is_kept_per_method() {
    let (net, end) = math_network();
    assert_eq!(net.largest_message(), 0);
    let pair = ("a".repeat(1000), "b".repeat(2000));
    let request = postcard::to_allocvec(&pair).unwrap().len();
    let reply: String = end.call("Math.Concat", &pair).unwrap();
    let reply_len = postcard::to_allocvec(&reply).unwrap().len();
    end.call::<u64, u64>("Math.Double", &7).unwrap();
    assert_eq!(
        net.largest_message_of("Math.Concat"),
        request.max(reply_len)
    );
    assert_eq!(net.largest_message_of("Math.Double"), 1);
    assert_eq!(net.largest_message_of("Math.Nothing"), 0);
    assert_eq!(net.largest_message(), request.max(reply_len));

    // A larger request that reaches no server still counts: it was sent.
    net.enable("client", false);
    let big = ("c".repeat(9000), String::new());
    assert!(end.call::<_, String>("Math.Concat", &big).is_err());
    let big_len = postcard::to_allocvec(&big).unwrap().len();
    assert_eq!(net.largest_message_of("Math.Concat"), big_len);
    net.cleanup();
}

/// Calls `Math.Double` `calls` times on each end, each end on its own
/// thread, checking every reply.
fn double_concurrently(ends: Vec<ClientEnd>, calls: u64) {
    let workers: Vec<_> = ends
        .into_iter()
        .enumerate()
        .map(|(t, end)| {
            thread::spawn(move || {
                for x in 0..calls {
                    let arg = t as u64 * 10_000 + x;
                    assert_eq!(end.call::<u64, u64>("Math.Double", &arg), Ok(2 * arg));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}

#[test]
fn many_concurrent_clients() {
    let net = network_with(5, vec![math_service()]);
    let ends = (0..32)
        .map(|c| end_to_server(&net, &format!("client-{c}")))
        .collect();
    double_concurrently(ends, 100);
    assert_eq!(net.rpc_count(SERVER), 3200);
    net.cleanup();
}

#[test]
fn many_concurrent_calls_on_one_end() {
    let (net, end) = math_network();
    double_concurrently(vec![end; 16], 200);
    assert_eq!(net.rpc_count(SERVER), 3200);
    net.cleanup();
}

#[test]
fn async_call_reports_its_reply_once() {
    let (net, end) = math_network();
    let (tx, rx) = crossbeam_channel::unbounded();
    for x in 0..50u64 {
        let tx = tx.clone();
        end.call_async("Math.Double", &x, move |reply: Result<u64, RpcError>| {
            tx.send((x, reply)).unwrap();
        });
    }
    drop(tx);
    let mut replies: Vec<_> = rx.iter().collect();
    replies.sort_by_key(|(x, _)| *x);
    assert_eq!(replies.len(), 50);
    for (x, reply) in replies {
        assert_eq!(reply, Ok(2 * x));
    }
    net.cleanup();
}

#[test]
fn calls_after_cleanup_fail_with_shutdown() {
    let (net, end) = math_network();
    net.cleanup();
    assert_eq!(
        end.call::<u64, u64>("Math.Double", &1),
        Err(RpcError::Shutdown)
    );
}
