//! The judged process's end of its socket to the judge: frames out under
//! one lock (so each goes out whole, in the order it was sent), and the
//! calls this process's ends made, waiting for their replies.

use std::collections::HashMap;
use std::io::BufReader;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use harness::protocol::{read_frame, write_frame, FromPeer, ToPeer};
use labrpc::{ClientEnd, OnReply, RpcError, Transport};
use parking_lot::Mutex;

/// The socket to the judge, shared by every thread of the process.
pub struct Link {
    out: Mutex<UnixStream>,
    /// The calls in flight, by the id sent in [`FromPeer::Call`].
    calls: Mutex<HashMap<u64, OnReply>>,
    next_call: AtomicU64,
}

impl Link {
    /// The link over stdin, where the judge put its socket, and the reader
    /// for what the judge sends.
    pub fn from_stdin() -> (Arc<Link>, Inbox) {
        let fd = std::io::stdin()
            .as_fd()
            .try_clone_to_owned()
            .unwrap_or_else(|e| exit_broken(&format!("cannot take stdin: {e}")));
        let stream = UnixStream::from(fd);
        let reader = stream
            .try_clone()
            .unwrap_or_else(|e| exit_broken(&format!("cannot clone the socket: {e}")));
        let link = Arc::new(Link {
            out: Mutex::new(stream),
            calls: Mutex::new(HashMap::new()),
            next_call: AtomicU64::new(0),
        });
        (link, Inbox(BufReader::new(reader)))
    }

    /// Sends `message` to the judge. A judge that has gone away means the
    /// test is over: the process ends.
    pub fn send(&self, message: &FromPeer) {
        let mut out = self.out.lock();
        if write_frame(&mut *out, message).is_err() {
            std::process::exit(0);
        }
    }

    /// `n` ends whose calls go to the judge's network: end `j` is the
    /// judge's end `j` for this process.
    pub fn ends(self: &Arc<Link>, n: usize) -> Vec<ClientEnd> {
        (0..n)
            .map(|j| ClientEnd::remote(&j.to_string(), Arc::clone(self) as Arc<dyn Transport>))
            .collect()
    }

    /// Hands the outcome of call `call` to whoever made it.
    pub fn complete(&self, call: u64, outcome: Result<Vec<u8>, RpcError>) {
        let waiting = self.calls.lock().remove(&call);
        if let Some(on_reply) = waiting {
            on_reply(outcome);
        }
    }
}

impl Transport for Link {
    fn send(&self, end: &str, method: &str, request: Vec<u8>, on_reply: OnReply) {
        let Ok(end) = end.parse() else {
            return on_reply(Err(RpcError::Unreachable));
        };
        let call = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.calls.lock().insert(call, on_reply);
        Link::send(
            self,
            &FromPeer::Call {
                call,
                end,
                method: method.to_string(),
                request,
            },
        );
    }
}

/// What the judge sends, read on one thread.
pub struct Inbox(BufReader<UnixStream>);

impl Inbox {
    /// The next message; the process ends when the judge has gone away,
    /// and on a message it cannot read.
    pub fn next(&mut self) -> ToPeer {
        match read_frame(&mut self.0) {
            Ok(Some(message)) => message,
            Ok(None) => std::process::exit(0),
            Err(e) => exit_broken(&format!("cannot read the judge's message: {e}")),
        }
    }
}

/// Ends the process over a broken link (the judge reports the exit).
pub fn exit_broken(problem: &str) -> ! {
    eprintln!("judged: {problem}");
    std::process::exit(3)
}
