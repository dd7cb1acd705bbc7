//! The network: named client ends, named servers, the wiring between them,
//! and the fault model applied to every call.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::faults::{self, Knobs, Route};
use crate::pending_call::PendingCall;
use crate::pool::Pool;
use crate::remote::{OnReply, Transport};
use crate::reply_slot::reply_slot;
use crate::timer::Timer;
use crate::{RpcError, Server};

/// The environment variable that fixes the seed of [`Network::new`].
pub const SEED_ENV: &str = "LABRPC_SEED";

type RawReply = Result<Vec<u8>, RpcError>;

/// A simulated network of client ends and servers.
///
/// Cheap to clone: clones share one network. A new network is reliable,
/// without long delays or long reordering. All of its random choices come
/// from one RNG seeded by [`Network::seed`], so a failing run's fault
/// schedule can be replayed with `LABRPC_SEED`.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

/// One end of a connection from a client to a server, made by
/// [`Network::make_end`]. Cheap to clone; clones are the same end.
#[derive(Clone)]
pub struct ClientEnd {
    name: Arc<str>,
    carrier: Carrier,
}

/// What takes an end's calls: the network in this process, or a transport
/// to one in another.
#[derive(Clone)]
enum Carrier {
    Network(Arc<Inner>),
    Remote(Arc<dyn Transport>),
}

struct Inner {
    seed: u64,
    state: Mutex<State>,
    total_count: AtomicUsize,
    total_bytes: AtomicU64,
    next_call_id: AtomicU64,
    timer: Timer,
    pool: Pool,
}

struct State {
    knobs: Knobs,
    rng: StdRng,
    // Every call hashes names and call ids here under the lock, so the
    // maps use a fast hash; nothing hostile picks their keys.
    ends: FxHashMap<Arc<str>, EndState>,
    servers: FxHashMap<String, Arc<HostedServer>>,
    /// Calls whose handler is running, so a crash can fail them at once.
    in_flight: FxHashMap<u64, InFlight>,
    /// The largest request or reply carried so far, by method.
    largest: FxHashMap<Arc<str>, usize>,
    shut_down: bool,
}

#[derive(Default)]
struct EndState {
    server: Option<String>,
    enabled: bool,
    /// Whether requests that arrive are held (see [`Network::hold`]).
    holding: bool,
    /// The requests held, oldest first.
    held: Vec<Delivery>,
}

/// The order in which [`Network::deliver_held`] hands over held requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeldOrder {
    /// Oldest first, as they were sent.
    AsSent,
    /// Newest first: every request overtakes those sent before it.
    NewestFirst,
}

struct HostedServer {
    server: Server,
    /// Requests that reached this server instance.
    count: AtomicUsize,
}

struct InFlight {
    end: Arc<str>,
    server: Arc<HostedServer>,
    call: Arc<PendingCall>,
}

impl State {
    /// The server `end` reaches now, if it is enabled and connected to one.
    fn target(&self, end: &str) -> Option<Arc<HostedServer>> {
        let state = self.ends.get(end)?;
        if !state.enabled {
            return None;
        }
        self.servers.get(state.server.as_deref()?).cloned()
    }

    /// Whether a reply from `server` may still reach `end`.
    fn check_alive(&self, end: &str, server: &Arc<HostedServer>) -> Result<(), RpcError> {
        let Some(state) = self.ends.get(end).filter(|s| s.enabled) else {
            return Err(RpcError::Unreachable);
        };
        match state
            .server
            .as_deref()
            .and_then(|name| self.servers.get(name))
        {
            Some(current) if Arc::ptr_eq(current, server) => Ok(()),
            _ => Err(RpcError::ServerGone),
        }
    }

    /// Empties `end`'s queue of held requests.
    fn take_held(&mut self, end: &str) -> Vec<Delivery> {
        self.ends
            .get_mut(end)
            .map(|e| std::mem::take(&mut e.held))
            .unwrap_or_default()
    }

    /// Records a message of `bytes` for `method`, for [`Network::largest_message`].
    fn note_size(&mut self, method: &Arc<str>, bytes: usize) {
        match self.largest.get_mut(&**method) {
            Some(largest) => *largest = (*largest).max(bytes),
            None => {
                self.largest.insert(Arc::clone(method), bytes);
            }
        }
    }

    /// Removes the in-flight calls that `matches` selects.
    fn take_in_flight(&mut self, matches: impl Fn(&InFlight) -> bool) -> Vec<Arc<PendingCall>> {
        let ids: Vec<u64> = self
            .in_flight
            .iter()
            .filter(|(_, f)| matches(f))
            .map(|(id, _)| *id)
            .collect();
        ids.iter()
            .filter_map(|id| self.in_flight.remove(id))
            .map(|f| f.call)
            .collect()
    }
}

fn fail_all(calls: Vec<Arc<PendingCall>>, error: RpcError) {
    for call in calls {
        call.complete(Err(error.clone()));
    }
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// A network seeded from `LABRPC_SEED` if it is set to a number, else at
    /// random.
    pub fn new() -> Network {
        let seed = match std::env::var(SEED_ENV) {
            Ok(text) => text.trim().parse().unwrap_or_else(|_| {
                log::warn!("labrpc: {SEED_ENV}={text:?} is not a number; using a random seed");
                rand::rng().random()
            }),
            Err(_) => rand::rng().random(),
        };
        Network::with_seed(seed)
    }

    /// A network whose random choices all come from `seed`.
    pub fn with_seed(seed: u64) -> Network {
        Network {
            inner: Arc::new(Inner {
                seed,
                state: Mutex::new(State {
                    knobs: Knobs {
                        reliable: true,
                        long_delays: false,
                        long_reordering: false,
                    },
                    rng: StdRng::seed_from_u64(seed),
                    ends: FxHashMap::default(),
                    servers: FxHashMap::default(),
                    in_flight: FxHashMap::default(),
                    largest: FxHashMap::default(),
                    shut_down: false,
                }),
                total_count: AtomicUsize::new(0),
                total_bytes: AtomicU64::new(0),
                next_call_id: AtomicU64::new(0),
                timer: Timer::start(),
                pool: Pool::new(),
            }),
        }
    }

    /// The seed of this network's RNG; `LABRPC_SEED=<seed>` replays it.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// Reliable: no delay and no loss. Unreliable: each request is delayed
    /// 0-26 ms, and requests and replies are each lost with probability 0.1.
    pub fn set_reliable(&self, reliable: bool) {
        self.inner.state.lock().knobs.reliable = reliable;
    }

    /// With long delays, a call to a disabled end or a missing server fails
    /// after 0-6999 ms instead of 0-99 ms.
    pub fn set_long_delays(&self, on: bool) {
        self.inner.state.lock().knobs.long_delays = on;
    }

    /// With long reordering, two thirds of replies are held back 200-2200 ms.
    pub fn set_long_reordering(&self, on: bool) {
        self.inner.state.lock().knobs.long_reordering = on;
    }

    /// Makes a client end called `name`, disabled and connected to nothing.
    /// Making an end under a name already in use resets that end, and every
    /// handle to it, to disabled and unconnected.
    pub fn make_end(&self, name: &str) -> ClientEnd {
        let name: Arc<str> = Arc::from(name);
        let previous = self
            .inner
            .state
            .lock()
            .ends
            .insert(Arc::clone(&name), EndState::default());
        if previous.is_some() {
            log::warn!("labrpc: end {name:?} made twice; it is reset");
        }
        ClientEnd {
            name,
            carrier: Carrier::Network(Arc::clone(&self.inner)),
        }
    }

    /// Connects `end` to the server called `server` (which need not exist
    /// yet). Connecting an end again moves it to the new server.
    pub fn connect(&self, end: &str, server: &str) {
        let mut state = self.inner.state.lock();
        match state.ends.get_mut(end) {
            Some(e) => e.server = Some(server.to_string()),
            None => log::warn!("labrpc: connect of unknown end {end:?} ignored"),
        }
    }

    /// Enables or disables `end`. Disabling fails its calls in flight: their
    /// replies can no longer arrive.
    pub fn enable(&self, end: &str, enabled: bool) {
        let cut = {
            let mut state = self.inner.state.lock();
            match state.ends.get_mut(end) {
                Some(e) => e.enabled = enabled,
                None => {
                    log::warn!("labrpc: enable of unknown end {end:?} ignored");
                    return;
                }
            }
            if enabled {
                Vec::new()
            } else {
                let mut cut = state.take_in_flight(|f| &*f.end == end);
                cut.extend(state.take_held(end).into_iter().map(|d| d.call));
                cut
            }
        };
        fail_all(cut, RpcError::Unreachable);
    }

    /// Holds the requests on `end`, or stops holding them. While held, a
    /// request that would reach its server waits at the network,
    /// undelivered and unanswered; requests held stay so after holding
    /// stops, until [`deliver_held`](Network::deliver_held). Tests use it
    /// to deliver a request late, or requests out of order, on purpose.
    pub fn hold(&self, end: &str, on: bool) {
        let mut state = self.inner.state.lock();
        match state.ends.get_mut(end) {
            Some(e) => e.holding = on,
            None => log::warn!("labrpc: hold of unknown end {end:?} ignored"),
        }
    }

    /// How many requests `end` holds.
    pub fn held_count(&self, end: &str) -> usize {
        let state = self.inner.state.lock();
        state.ends.get(end).map_or(0, |e| e.held.len())
    }

    /// Hands the requests held on `end` to their server, in `order`, and
    /// returns how many there were; whether later ones are held does not
    /// change. Each handler runs to completion on the calling thread before
    /// the next starts, so they run in exactly that order (use it with
    /// handlers that do not block).
    pub fn deliver_held(&self, end: &str, order: HeldOrder) -> usize {
        let mut held = self.inner.state.lock().take_held(end);
        if order == HeldOrder::NewestFirst {
            held.reverse();
        }
        let count = held.len();
        for delivery in held {
            Inner::handle_here(&self.inner, delivery);
        }
        count
    }

    /// Takes the requests held on `end` off it, unanswered. They are then
    /// the caller's, not the end's: disabling the end, or crashing and
    /// replacing its server, no longer fails them. Tests use it for a
    /// request that was sent before its server restarted and arrives
    /// after ([`deliver_taken`](Network::deliver_taken)).
    pub fn take_held(&self, end: &str) -> TakenRequests {
        TakenRequests(self.inner.state.lock().take_held(end))
    }

    /// Hands `taken` (from [`take_held`](Network::take_held) on `end`),
    /// oldest first, to the server `end` reaches now, each handled before
    /// the next, and returns how many there were. If `end` is disabled or
    /// reaches no server, they fail as unreachable.
    pub fn deliver_taken(&self, end: &str, mut taken: TakenRequests) -> usize {
        let deliveries = std::mem::take(&mut taken.0);
        let count = deliveries.len();
        for mut delivery in deliveries {
            let target = self.inner.state.lock().target(end);
            match target {
                Some(server) => {
                    delivery.server = server;
                    Inner::handle_here(&self.inner, delivery);
                }
                None => delivery.call.complete(Err(RpcError::Unreachable)),
            }
        }
        count
    }

    /// Adds `server` under `name`, replacing (crashing) any server of that
    /// name.
    pub fn add_server(&self, name: &str, server: Server) {
        let hosted = Arc::new(HostedServer {
            server,
            count: AtomicUsize::new(0),
        });
        let previous = self
            .inner
            .state
            .lock()
            .servers
            .insert(name.to_string(), hosted);
        if let Some(previous) = previous {
            self.fail_calls_to(&previous);
        }
    }

    /// Deletes (crashes) the server called `name`: calls in flight to it
    /// fail, and it never gives another positive reply.
    pub fn delete_server(&self, name: &str) {
        let removed = self.inner.state.lock().servers.remove(name);
        if let Some(removed) = removed {
            self.fail_calls_to(&removed);
        }
    }

    fn fail_calls_to(&self, server: &Arc<HostedServer>) {
        let cut = self
            .inner
            .state
            .lock()
            .take_in_flight(|f| Arc::ptr_eq(&f.server, server));
        fail_all(cut, RpcError::ServerGone);
    }

    /// Requests that reached the server now called `server`; 0 if none.
    pub fn rpc_count(&self, server: &str) -> usize {
        let state = self.inner.state.lock();
        state
            .servers
            .get(server)
            .map_or(0, |s| s.count.load(Ordering::Relaxed))
    }

    /// Every call made on this network, delivered or not.
    pub fn total_count(&self) -> usize {
        self.inner.total_count.load(Ordering::Relaxed)
    }

    /// Request bytes of every call plus reply bytes of every delivered reply.
    pub fn total_bytes(&self) -> u64 {
        self.inner.total_bytes.load(Ordering::Relaxed)
    }

    /// The size in bytes of the largest request or delivered reply this
    /// network has carried, of any method; 0 before the first call.
    pub fn largest_message(&self) -> usize {
        let state = self.inner.state.lock();
        state.largest.values().copied().max().unwrap_or(0)
    }

    /// The size in bytes of the largest request or delivered reply of
    /// `method` (e.g. `"Raft.InstallSnapshot"`) this network has carried;
    /// 0 if it carried none.
    pub fn largest_message_of(&self, method: &str) -> usize {
        let state = self.inner.state.lock();
        state.largest.get(method).copied().unwrap_or(0)
    }

    /// Stops the network: calls in flight and later calls fail with
    /// [`RpcError::Shutdown`], and its timer thread exits.
    pub fn cleanup(&self) {
        let cut = {
            let mut state = self.inner.state.lock();
            state.shut_down = true;
            let mut cut = state.take_in_flight(|_| true);
            for end in state.ends.values_mut() {
                cut.extend(std::mem::take(&mut end.held).into_iter().map(|d| d.call));
            }
            cut
        };
        fail_all(cut, RpcError::Shutdown);
        self.inner.timer.stop();
    }
}

impl ClientEnd {
    /// An end named `name` whose calls go through `transport` to a network
    /// in another process. To the code holding it, it is an end like any
    /// other.
    pub fn remote(name: &str, transport: Arc<dyn Transport>) -> ClientEnd {
        ClientEnd {
            name: Arc::from(name),
            carrier: Carrier::Remote(transport),
        }
    }

    /// This end's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Calls `method` (`"Service.Method"`) with `args` and blocks until the
    /// reply or a failure. It always returns: a lost message or an
    /// unreachable server shows up as an [`RpcError`] after a delay.
    ///
    /// ```
    /// # use labrpc::{Network, Server, Service};
    /// # let net = Network::new();
    /// # let mut server = Server::new();
    /// # server.add_service(Service::new("Math").handle("Double", |x: u32| 2 * x));
    /// # net.add_server("s", server);
    /// # let end = net.make_end("e");
    /// # net.connect("e", "s");
    /// # net.enable("e", true);
    /// let reply: u32 = end.call("Math.Double", &21u32).unwrap();
    /// assert_eq!(reply, 42);
    /// ```
    pub fn call<A, R>(&self, method: &str, args: &A) -> Result<R, RpcError>
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
    {
        let (filler, waiter) = reply_slot();
        self.call_async(method, args, move |reply| filler.fill(reply));
        waiter.wait().unwrap_or(Err(RpcError::Shutdown))
    }

    /// Starts a call and returns at once; `on_reply` runs exactly once with
    /// the outcome [`call`](ClientEnd::call) would have returned.
    ///
    /// A peer that must not block on a slow or unreachable server (a Raft
    /// leader sending heartbeats) uses this instead of a thread per call.
    /// `on_reply` must be brief: send the reply on a channel, or record it
    /// under a short lock.
    ///
    /// Usually `on_reply` runs later, on a network thread. But it may run
    /// at once, on the calling thread, before `call_async` returns: when
    /// `args` do not serialize, when the network has been cleaned up, and
    /// when a failure is due without delay. So never call `call_async`
    /// while holding a lock that `on_reply` takes: that deadlocks, rarely.
    /// Sending on a channel from `on_reply` is always safe.
    pub fn call_async<A, R, F>(&self, method: &str, args: &A, on_reply: F)
    where
        A: Serialize,
        R: DeserializeOwned + Send + 'static,
        F: FnOnce(Result<R, RpcError>) + Send + 'static,
    {
        let request = match postcard::to_allocvec(args) {
            Ok(bytes) => bytes,
            Err(e) => return on_reply(Err(RpcError::EncodeArgs(e.to_string()))),
        };
        let decode_as = method.to_string();
        self.call_bytes(method, request, move |raw: RawReply| {
            on_reply(raw.and_then(|bytes| {
                postcard::from_bytes(&bytes).map_err(|e| RpcError::DecodeReply {
                    method: decode_as,
                    reason: e.to_string(),
                })
            }))
        });
    }

    /// [`call_async`](ClientEnd::call_async) with the request already
    /// serialized and the reply left as bytes: what a process that routes
    /// other processes' calls uses.
    pub fn call_bytes<F>(&self, method: &str, request: Vec<u8>, on_reply: F)
    where
        F: FnOnce(Result<Vec<u8>, RpcError>) + Send + 'static,
    {
        match &self.carrier {
            Carrier::Network(net) => Inner::send(
                net,
                Arc::clone(&self.name),
                Arc::from(method),
                request,
                Box::new(on_reply),
            ),
            Carrier::Remote(transport) => {
                transport.send(&self.name, method, request, Box::new(on_reply))
            }
        }
    }
}

/// Requests taken off an end, unanswered (see [`Network::take_held`]).
/// Dropped undelivered, they fail as unreachable.
pub struct TakenRequests(Vec<Delivery>);

impl TakenRequests {
    /// How many requests there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each request's method (`"Service.Method"`) and bytes, oldest first.
    pub fn requests(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0
            .iter()
            .map(|delivery| (&*delivery.method, delivery.request.as_slice()))
    }
}

impl Drop for TakenRequests {
    fn drop(&mut self) {
        fail_all(
            self.0.drain(..).map(|delivery| delivery.call).collect(),
            RpcError::Unreachable,
        );
    }
}

/// One call on its way through the network.
struct Delivery {
    end: Arc<str>,
    server: Arc<HostedServer>,
    method: Arc<str>,
    request: Vec<u8>,
    call: Arc<PendingCall>,
    lose_reply: bool,
    hold_reply: Option<Duration>,
}

impl State {
    /// A request arrives at the far side of the network: it is held if its
    /// end is held, else admitted if its server is still the one its end
    /// reaches (counted, and recorded as in flight under a new call id),
    /// else failed.
    fn arrive(&mut self, next_call_id: &AtomicU64, delivery: Delivery) -> Arrival {
        if let Some(end) = self.ends.get_mut(&*delivery.end).filter(|e| e.holding) {
            end.held.push(delivery);
            return Arrival::Held;
        }
        match self.admit(next_call_id, delivery) {
            Ok((id, delivery)) => Arrival::Admitted(id, delivery),
            Err((call, error)) => Arrival::Failed(call, error),
        }
    }

    /// Admits `delivery` (see [`State::arrive`]) whether or not its end is
    /// held: its call id, or the call to fail and why.
    fn admit(
        &mut self,
        next_call_id: &AtomicU64,
        delivery: Delivery,
    ) -> Result<(u64, Delivery), (Arc<PendingCall>, RpcError)> {
        if let Err(e) = self.check_alive(&delivery.end, &delivery.server) {
            return Err((delivery.call, e));
        }
        let id = next_call_id.fetch_add(1, Ordering::Relaxed);
        delivery.server.count.fetch_add(1, Ordering::Relaxed);
        self.in_flight.insert(
            id,
            InFlight {
                end: Arc::clone(&delivery.end),
                server: Arc::clone(&delivery.server),
                call: Arc::clone(&delivery.call),
            },
        );
        Ok((id, delivery))
    }
}

/// What became of a request that reached the far side of the network.
enum Arrival {
    /// Its end holds it.
    Held,
    /// Its handler may run: the call is in flight under this id.
    Admitted(u64, Delivery),
    /// Its server is gone or its end cut: it fails so.
    Failed(Arc<PendingCall>, RpcError),
}

impl Inner {
    fn send(
        this: &Arc<Inner>,
        end: Arc<str>,
        method: Arc<str>,
        request: Vec<u8>,
        on_done: OnReply,
    ) {
        this.total_count.fetch_add(1, Ordering::Relaxed);
        this.total_bytes
            .fetch_add(request.len() as u64, Ordering::Relaxed);
        let call = PendingCall::new(on_done, RpcError::Shutdown);
        let mut state = this.state.lock();
        if state.shut_down {
            drop(state);
            return call.complete(Err(RpcError::Shutdown));
        }
        state.note_size(&method, request.len());
        let target = state.target(&end);
        let knobs = state.knobs;
        let route = faults::plan(&mut state.rng, knobs, target.is_some());
        match (target, route) {
            (
                Some(server),
                Route::Deliver {
                    delay,
                    lose_request,
                    lose_reply,
                    hold_reply,
                },
            ) => {
                if lose_request {
                    drop(state);
                    return this.fail_after(delay, call);
                }
                let delivery = Delivery {
                    end,
                    server,
                    method,
                    request,
                    call,
                    lose_reply,
                    hold_reply,
                };
                if delay.is_zero() {
                    // It arrives now: one turn of the lock serves both.
                    let arrival = state.arrive(&this.next_call_id, delivery);
                    drop(state);
                    Inner::run_handler(this, arrival);
                } else {
                    drop(state);
                    let net = Arc::clone(this);
                    this.timer
                        .schedule(delay, move || Inner::dispatch(&net, delivery));
                }
            }
            (_, Route::Fail { after }) | (None, Route::Deliver { delay: after, .. }) => {
                drop(state);
                this.fail_after(after, call)
            }
        }
    }

    fn fail_after(&self, delay: Duration, call: Arc<PendingCall>) {
        if delay.is_zero() {
            call.complete(Err(RpcError::Unreachable));
        } else {
            self.timer
                .schedule(delay, move || call.complete(Err(RpcError::Unreachable)));
        }
    }

    /// A delayed request arrives: it is held, or handed to its server's
    /// handler if the server is still the one the end reaches.
    fn dispatch(this: &Arc<Inner>, delivery: Delivery) {
        let arrival = this.state.lock().arrive(&this.next_call_id, delivery);
        Inner::run_handler(this, arrival);
    }

    /// Serves an admitted request (see [`Server::serve`]) and sends its
    /// reply when it comes; fails a refused one.
    fn run_handler(this: &Arc<Inner>, arrival: Arrival) {
        let (id, delivery) = match arrival {
            Arrival::Held => return,
            Arrival::Failed(call, error) => return call.complete(Err(error)),
            Arrival::Admitted(id, delivery) => (id, delivery),
        };
        let net = Arc::clone(this);
        let server = Arc::clone(&delivery.server);
        let mut delivery = delivery;
        let method = Arc::clone(&delivery.method);
        let request = std::mem::take(&mut delivery.request);
        server.server.serve(
            &method,
            request,
            &this.pool,
            Box::new(move |reply| Inner::reply(&net, id, delivery, reply)),
        );
    }

    /// Runs the handler of `delivery` on this thread and sends its reply,
    /// if its server is still the one its end reaches.
    fn handle_here(this: &Arc<Inner>, delivery: Delivery) {
        let admitted = this.state.lock().admit(&this.next_call_id, delivery);
        let (id, delivery) = match admitted {
            Ok(admitted) => admitted,
            Err((call, error)) => return call.complete(Err(error)),
        };
        let reply = delivery
            .server
            .server
            .dispatch(&delivery.method, &delivery.request);
        Inner::reply(this, id, delivery, reply);
    }

    /// The handler has returned: lose, hold or deliver its reply, deciding
    /// under one turn of the lock.
    fn reply(this: &Arc<Inner>, id: u64, delivery: Delivery, reply: RawReply) {
        let mut state = this.state.lock();
        if state.in_flight.remove(&id).is_none() {
            return; // A crash or a disabled end already failed this call.
        }
        if delivery.lose_reply {
            drop(state);
            return delivery.call.complete(Err(RpcError::Unreachable));
        }
        if let Some(hold) = delivery.hold_reply {
            drop(state);
            let net = Arc::clone(this);
            return this.timer.schedule(hold, move || {
                let result = net.state.lock().reply_outcome(&delivery, reply);
                net.complete(&delivery, result);
            });
        }
        let result = state.reply_outcome(&delivery, reply);
        drop(state);
        this.complete(&delivery, result);
    }

    /// Completes `delivery`'s call with `result`, counting a reply's bytes.
    fn complete(&self, delivery: &Delivery, result: RawReply) {
        if let Ok(bytes) = &result {
            self.total_bytes
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        delivery.call.complete(result);
    }
}

impl State {
    /// What a reply that reaches the caller's side now delivers: the
    /// handler's reply if the caller can still hear it from this server.
    fn reply_outcome(&mut self, delivery: &Delivery, reply: RawReply) -> RawReply {
        let outcome = self.check_alive(&delivery.end, &delivery.server).and(reply);
        if let Ok(bytes) = &outcome {
            self.note_size(&delivery.method, bytes.len());
        }
        outcome
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.timer.stop();
    }
}
