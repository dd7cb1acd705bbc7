//! `judged`: the process a test runs each Raft peer, KV server and clerk
//! in. It is the only binary that links the student's `raft` and `kvraft`;
//! the test itself (the judge) starts it, talks to it over the socket that
//! is its stdin (see `harness::protocol`), and routes every call it makes
//! through the judge's network. When the judge goes away, it ends.

mod hosted;
mod link;
mod report;

use std::sync::Arc;

use harness::protocol::ToPeer;

use crate::hosted::Host;
use crate::link::{exit_broken, Link};

fn main() {
    let (link, mut inbox) = Link::from_stdin();
    report::install_logger(&link);
    report::die_on_panic(&link);
    let ToPeer::Init(role) = inbox.next() else {
        exit_broken("the judge's first message was not Init")
    };
    let host = Arc::new(Host::default());
    {
        // Messages are read on a thread of their own from the start: a
        // constructor that makes calls needs their replies to return.
        let host = Arc::clone(&host);
        let link = Arc::clone(&link);
        std::thread::Builder::new()
            .name("judged-inbox".into())
            .spawn(move || loop {
                host.take(&link, inbox.next());
            })
            .unwrap_or_else(|e| exit_broken(&format!("cannot start a thread: {e}")));
    }
    host.run(&link, role);
}
