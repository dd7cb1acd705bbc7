//! The client library: sends each operation to the leader, retrying until
//! some server executes it.

// @solution 3A
use std::thread;
use std::time::Duration;

use labrpc::ClientEnd;
use rand::Rng;

use crate::rpc::{Op, Reply, Request, EXECUTE};

/// How long a clerk pauses after every server in turn has failed it (no
/// leader yet, or all unreachable), so an election is not met by a storm
/// of requests.
const ROUND_BACKOFF: Duration = Duration::from_millis(20);
// @stub
//> use labrpc::ClientEnd;
// @end

/// A client of the KV service.
///
/// Each call blocks until the operation has taken effect, exactly once,
/// retrying across lost messages, leader changes and crashes. The clerk
/// remembers which server led last and tries it first. One clerk runs one
/// operation at a time (the methods take `&mut self`); use several clerks
/// for concurrency.
///
/// ```no_run
/// # fn demo(servers: Vec<labrpc::ClientEnd>) {
/// let mut clerk = kvraft::Clerk::new(servers);
/// clerk.put("color", "red");
/// clerk.append("color", "dish");
/// assert_eq!(clerk.get("color"), "reddish");
/// assert_eq!(clerk.get("missing"), "");
/// # }
/// ```
pub struct Clerk {
    // @solution 3A
    servers: Vec<ClientEnd>,
    /// Random, so clerks need no coordination to be told apart.
    client: u64,
    next_seq: u64,
    leader: usize,
    // @stub
    //> // Your code here (3A): e.g. the clerk's id, its next sequence number,
    //> // and which server led last.
    //> servers: Vec<ClientEnd>,
    // @end
}

impl Clerk {
    /// A clerk that reaches the service's servers through `servers`, one end
    /// per server, in any order.
    ///
    /// # Panics
    ///
    /// If `servers` is empty.
    pub fn new(servers: Vec<ClientEnd>) -> Clerk {
        assert!(!servers.is_empty(), "a Clerk needs at least one server");
        // @solution 3A
        Clerk {
            servers,
            client: rand::rng().random(),
            next_seq: 1,
            leader: 0,
        }
        // @stub
        //> // Your code here (3A).
        //> Clerk { servers }
        // @end
    }

    /// The current value of `key`, or `""` if it was never written.
    pub fn get(&mut self, key: &str) -> String {
        // @solution 3A
        self.execute(Op::Get {
            key: key.to_string(),
        })
        // @stub
        //> // Your code here (3A): try the servers until one executes it.
        //> panic!(
        //>     "3A: Clerk::get is not implemented (get {key:?} on {} servers)",
        //>     self.servers.len()
        //> )
        // @end
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: &str, value: &str) {
        // @solution 3A
        self.execute(Op::Put {
            key: key.to_string(),
            value: value.to_string(),
        });
        // @stub
        //> // Your code here (3A).
        //> panic!("3A: Clerk::put is not implemented (put {value:?} in {key:?})")
        // @end
    }

    /// Appends `value` to the value of `key` (a missing key counts as `""`).
    pub fn append(&mut self, key: &str, value: &str) {
        // @solution 3A
        self.execute(Op::Append {
            key: key.to_string(),
            value: value.to_string(),
        });
        // @stub
        //> // Your code here (3A).
        //> panic!("3A: Clerk::append is not implemented (append {value:?} to {key:?})")
        // @end
    }
    // @solution 3A

    fn execute(&mut self, op: Op) -> String {
        let request = Request {
            client: self.client,
            seq: self.next_seq,
            op,
        };
        self.next_seq += 1;
        let mut failures = 0;
        loop {
            let reply: Result<Reply, _> = self.servers[self.leader].call(EXECUTE, &request);
            match reply {
                Ok(Ok(value)) => return value,
                Ok(Err(refusal)) => log::trace!(
                    "client {:x}: server end {} refused seq {}: {refusal:?}",
                    self.client,
                    self.leader,
                    request.seq
                ),
                Err(fault) if fault.is_network_fault() => log::trace!(
                    "client {:x}: server end {} unreachable for seq {}: {fault}",
                    self.client,
                    self.leader,
                    request.seq
                ),
                Err(bug) => panic!("the KV service cannot be called: {bug}"),
            }
            self.leader = (self.leader + 1) % self.servers.len();
            failures += 1;
            if failures % self.servers.len() == 0 {
                thread::sleep(ROUND_BACKOFF);
            }
        }
    }
    // @stub
    // @end
}
