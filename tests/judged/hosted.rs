//! What a judged process hosts, and how it carries out the judge's
//! requests: each on a worker of an elastic pool, since student code may
//! block in any of them and the others must go on.

use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use harness::protocol::{Applied, ClerkOp, FromPeer, Members, Refusal, Role, ToPeer};
use kvraft::{Clerk, KvServer};
use labrpc::{Pool, Server, Service};
use parking_lot::{Condvar, Mutex};
use raft::{ApplyMsg, Membership, MembershipError, Persister, Raft};

use crate::link::{exit_broken, Link};

/// A value set once, that readers wait for.
struct Ready<T> {
    value: Mutex<Option<Arc<T>>>,
    set: Condvar,
}

impl<T> Default for Ready<T> {
    fn default() -> Self {
        Ready {
            value: Mutex::new(None),
            set: Condvar::new(),
        }
    }
}

impl<T> Ready<T> {
    fn set(&self, value: T) {
        *self.value.lock() = Some(Arc::new(value));
        self.set.notify_all();
    }

    fn wait(&self) -> Arc<T> {
        let mut value = self.value.lock();
        loop {
            if let Some(value) = &*value {
                return Arc::clone(value);
            }
            self.set.wait(&mut value);
        }
    }
}

/// A snapshot the judge has the peer take: `Raft::snapshot(index, data)`.
type SnapshotRequest = Option<(u64, Vec<u8>)>;

/// The peer whose state the judge asks for.
enum Peer {
    Raft(Raft),
    Kv(KvServer),
}

impl Peer {
    fn raft(&self) -> &Raft {
        match self {
            Peer::Raft(raft) => raft,
            Peer::Kv(kv) => kv.raft(),
        }
    }
}

/// Everything the judge's requests reach, set once the role is built.
#[derive(Default)]
pub struct Host {
    /// Runs each request, since student code may block in any of them.
    pool: Pool,
    server: Ready<Server>,
    peer: Ready<Peer>,
    apply_done: Ready<Sender<SnapshotRequest>>,
    clerk_ops: Ready<Sender<(u64, ClerkOp)>>,
}

impl Host {
    /// Builds `role` and serves it; returns only if the role has no work
    /// of its own for this thread (the process ends when the judge goes).
    pub fn run(&self, link: &Arc<Link>, role: Role) {
        match role {
            Role::Raft {
                n,
                me,
                raft_state,
                snapshot,
                members,
            } => {
                let persister = restored(link, raft_state, snapshot);
                let (apply_tx, apply_rx) = crossbeam_channel::bounded(0);
                let ends = link.ends(n);
                let raft = match members {
                    // A part before 2E need not have `with_members`.
                    None => Raft::new(ends, me, persister, apply_tx),
                    Some(members) => Raft::with_members(ends, me, persister, apply_tx, members),
                };
                let (done_tx, done_rx) = crossbeam_channel::unbounded();
                self.apply_done.set(done_tx);
                self.serve_services(vec![raft.service()]);
                self.peer.set(Peer::Raft(raft.clone()));
                forward_applied(link, &raft, &apply_rx, &done_rx);
            }
            Role::KvServer {
                n,
                me,
                raft_state,
                snapshot,
                max_raft_state,
                members,
            } => {
                let persister = restored(link, raft_state, snapshot);
                let ends = link.ends(n);
                let kv = match members {
                    None => KvServer::new(ends, me, persister, max_raft_state),
                    Some(members) => {
                        KvServer::with_members(ends, me, persister, max_raft_state, members)
                    }
                };
                self.serve_services(kv.services());
                self.peer.set(Peer::Kv(kv));
            }
            Role::Clerk { n } => {
                let (ops_tx, ops_rx) = crossbeam_channel::unbounded();
                self.clerk_ops.set(ops_tx);
                run_clerk(link, Clerk::new(link.ends(n)), &ops_rx);
            }
            Role::Echo => {
                self.serve_services(vec![
                    Service::new("Echo").handle("Null", |request: Vec<u8>| request)
                ]);
            }
        }
        // The process lives on serving calls until the judge goes away.
        loop {
            thread::park();
        }
    }

    fn serve_services(&self, services: Vec<Service>) {
        let mut server = Server::new();
        for service in services {
            server.add_service(service);
        }
        self.server.set(server);
    }

    /// Carries out one message of the judge.
    pub fn take(self: &Arc<Host>, link: &Arc<Link>, message: ToPeer) {
        match message {
            ToPeer::Reply { call, outcome } => link.complete(call, outcome),
            ToPeer::ApplyDone { snapshot } => {
                if self.apply_done.wait().send(snapshot).is_err() {
                    exit_broken("the apply thread is gone");
                }
            }
            ToPeer::Clerk { req, op } => {
                if self.clerk_ops.wait().send((req, op)).is_err() {
                    exit_broken("the clerk thread is gone");
                }
            }
            ToPeer::Handle {
                call,
                method,
                request,
            } => self.on_thread(link, move |host, link| {
                let outcome = host.server.wait().dispatch(&method, &request);
                link.send(&FromPeer::Handled { call, outcome });
            }),
            ToPeer::Start { req, command } => self.on_thread(link, move |host, link| {
                let result = host.peer.wait().raft().start(command);
                link.send(&FromPeer::Started { req, result });
            }),
            ToPeer::GetState { req } => self.on_thread(link, move |host, link| {
                let (term, leader) = host.peer.wait().raft().get_state();
                link.send(&FromPeer::State { req, term, leader });
            }),
            ToPeer::ReadIndex { req } => self.on_thread(link, move |host, link| {
                let index = host.peer.wait().raft().read_index();
                link.send(&FromPeer::ReadIndexed { req, index });
            }),
            ToPeer::ChangeMembership { req, members } => self.on_thread(link, move |host, link| {
                let result = host.peer.wait().raft().change_membership(members);
                let result = result.map_err(|refusal| match refusal {
                    MembershipError::NotLeader => Refusal::NotLeader,
                    MembershipError::ChangeInProgress => Refusal::ChangeInProgress,
                    MembershipError::Invalid(why) => Refusal::Invalid(why),
                });
                link.send(&FromPeer::MembershipChanged { req, result });
            }),
            ToPeer::GetMembership { req } => self.on_thread(link, move |host, link| {
                let members = members_of(host.peer.wait().raft().membership());
                link.send(&FromPeer::Membership { req, members });
            }),
            ToPeer::TimeCalls { req, calls } => self.on_thread(link, move |_, link| {
                let end = link.ends(1).remove(0);
                let nanos = (0..calls)
                    .map(|_| {
                        let at = Instant::now();
                        let reply = end.call::<Vec<u8>, Vec<u8>>("Echo.Null", &Vec::new());
                        reply.ok().map(|_| at.elapsed().as_nanos() as u64)
                    })
                    .collect();
                link.send(&FromPeer::CallTimes { req, nanos });
            }),
            ToPeer::Init(_) => exit_broken("a second Init"),
        }
    }

    fn on_thread(
        self: &Arc<Host>,
        link: &Arc<Link>,
        job: impl FnOnce(&Host, &Arc<Link>) + Send + 'static,
    ) {
        let host = Arc::clone(self);
        let link = Arc::clone(link);
        self.pool.execute(move || job(&host, &link));
    }
}

/// A persister holding the judge's copy, that tells the judge every save.
fn restored(link: &Arc<Link>, raft_state: Vec<u8>, snapshot: Vec<u8>) -> Arc<Persister> {
    let link = Arc::clone(link);
    Arc::new(Persister::restored(
        raft_state,
        snapshot,
        move |state, snapshot| {
            link.send(&FromPeer::Saved {
                raft_state: state.to_vec(),
                snapshot: snapshot.map(<[u8]>::to_vec),
            })
        },
    ))
}

/// Hands each applied message to the judge and takes the next one only
/// once the judge is done with it, calling `Raft::snapshot` from this
/// thread when the judge asks, as a service reading `apply_ch` would.
fn forward_applied(
    link: &Link,
    raft: &Raft,
    apply_rx: &Receiver<ApplyMsg>,
    done_rx: &Receiver<SnapshotRequest>,
) {
    for msg in apply_rx {
        let applied = match msg {
            ApplyMsg::Command {
                index,
                term,
                command,
            } => Applied::Command {
                index,
                term,
                command,
            },
            ApplyMsg::Snapshot { index, term, data } => Applied::Snapshot { index, term, data },
            ApplyMsg::Membership {
                index,
                term,
                membership,
            } => Applied::Membership {
                index,
                term,
                members: members_of(membership),
            },
        };
        link.send(&FromPeer::Applied(applied));
        match done_rx.recv() {
            Ok(Some((index, data))) => {
                raft.snapshot(index, data);
                link.send(&FromPeer::SnapshotTaken);
            }
            Ok(None) => {}
            Err(_) => return,
        }
    }
}

/// A configuration as the judge reads it.
fn members_of(membership: Membership) -> Members {
    match membership {
        Membership::Stable(members) => Members::Stable(members),
        Membership::Joint { old, new } => Members::Joint { old, new },
    }
}

/// Runs the clerk's operations one at a time, in the order they came.
fn run_clerk(link: &Link, mut clerk: Clerk, ops: &Receiver<(u64, ClerkOp)>) {
    for (req, op) in ops {
        let value = match op {
            ClerkOp::Get(key) => clerk.get(&key),
            ClerkOp::Put(key, value) => {
                clerk.put(&key, &value);
                String::new()
            }
            ClerkOp::Append(key, value) => {
                clerk.append(&key, &value);
                String::new()
            }
        };
        link.send(&FromPeer::ClerkDone { req, value });
    }
}
