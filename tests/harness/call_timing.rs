//! Times a call between two judged processes through the judge's network:
//! what running every peer in a process of its own adds to each RPC.

use std::sync::Arc;
use std::time::Duration;

use labrpc::Network;

use crate::judged::{Answer, Judged, Wiring};
use crate::protocol::{Role, ToPeer};

/// Makes `calls` null calls, one after another, from one judged process to
/// another over a reliable network held by this process, and returns each
/// round trip as the caller measured it (`None` for a call that failed).
/// Like a test, it first pins itself and its processes to one CPU (see
/// `cpu.rs`).
pub fn time_null_calls(calls: usize) -> Result<Vec<Option<Duration>>, String> {
    crate::cpu::share_one_cpu();
    let net = Network::with_seed(1);
    let echo = |label: &str, ends| {
        let wiring = Wiring {
            ends,
            disk: None,
            applied: None,
            on_death: Box::new(|problem| eprintln!("{problem}")),
            env: Vec::new(),
            referee: None,
        };
        Judged::spawn(label, Role::Echo, wiring).map(Arc::new)
    };
    let server = echo("echo-server", Vec::new())?;
    net.add_server("echo-server", server.server());
    let end = net.make_end("caller");
    net.connect("caller", "echo-server");
    net.enable("caller", true);
    let caller = echo("echo-caller", vec![end])?;
    let answer = caller.ask(|req| ToPeer::TimeCalls { req, calls });
    net.cleanup();
    match answer {
        Some(Answer::CallTimes(nanos)) => Ok(nanos
            .into_iter()
            .map(|n| n.map(Duration::from_nanos))
            .collect()),
        _ => Err("the calling process ended without answering".into()),
    }
}
