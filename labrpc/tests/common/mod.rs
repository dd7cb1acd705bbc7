//! Scenario helpers shared by the labrpc tests.

#![allow(dead_code)] // Each test binary uses its own subset.

use std::time::{Duration, Instant};

use labrpc::{ClientEnd, Network, RpcError, Server, Service};

/// The name of the server every helper creates.
pub const SERVER: &str = "server";

/// A service with methods of several argument and reply types.
pub fn math_service() -> Service {
    Service::new("Math")
        .handle("Double", |x: u64| 2 * x)
        .handle("Concat", |(a, b): (String, String)| a + &b)
        .handle("Sum", |xs: Vec<i32>| xs.iter().sum::<i32>())
        .handle("Null", |_: ()| ())
}

/// A network with one server hosting `services`, on the given seed.
pub fn network_with(seed: u64, services: Vec<Service>) -> Network {
    let net = Network::with_seed(seed);
    let mut server = Server::new();
    for service in services {
        server.add_service(service);
    }
    net.add_server(SERVER, server);
    net
}

/// An enabled end connected to [`SERVER`].
pub fn end_to_server(net: &Network, name: &str) -> ClientEnd {
    let end = net.make_end(name);
    net.connect(name, SERVER);
    net.enable(name, true);
    end
}

/// A network with the math service and one enabled end to it.
pub fn math_network() -> (Network, ClientEnd) {
    let net = network_with(1, vec![math_service()]);
    let end = end_to_server(&net, "client");
    (net, end)
}

/// Calls `Math.Double` and returns the outcome and how long it took.
pub fn timed_double(end: &ClientEnd, x: u64) -> (Result<u64, RpcError>, Duration) {
    let started = Instant::now();
    let reply = end.call("Math.Double", &x);
    (reply, started.elapsed())
}
