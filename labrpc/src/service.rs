//! Services (named sets of typed handlers) and servers that host them.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::pending_call::PendingCall;
use crate::reply_slot::reply_slot;
use crate::{OnReply, Pool, RpcError};

type RawReply = Result<Vec<u8>, RpcError>;
type BlockingFn = dyn Fn(&str, &[u8]) -> RawReply + Send + Sync;
type DeferredFn = dyn Fn(&str, &[u8], OnReply) + Send + Sync;

/// A method's handler, its types erased: it takes `("Service.Method",
/// request bytes)`.
enum Handler {
    /// Returns the reply, and may block first: it runs on a pool thread.
    Blocking(Arc<BlockingFn>),
    /// Returns at once and answers later through the [`OnReply`] it is
    /// given: it runs on the thread the request arrives on.
    Deferred(Box<DeferredFn>),
}
type ForwardFn = dyn Fn(&str, Vec<u8>, OnReply) + Send + Sync;
type Forward = Box<ForwardFn>;

/// A named set of handlers, such as `"Raft"` with `"RequestVote"` and
/// `"AppendEntries"`.
///
/// Each handler is a closure from a deserializable argument type to a
/// serializable reply type; the network serializes both ways, so a handler
/// never shares memory with its caller.
///
/// ```
/// use labrpc::Service;
/// let echo = Service::new("Echo")
///     .handle("Upper", |s: String| s.to_uppercase())
///     .handle("Len", |s: String| s.len() as u64);
/// assert_eq!(echo.name(), "Echo");
/// ```
pub struct Service {
    name: String,
    handlers: BTreeMap<String, Handler>,
}

impl Service {
    /// An empty service called `name`.
    pub fn new(name: &str) -> Service {
        Service {
            name: name.to_string(),
            handlers: BTreeMap::new(),
        }
    }

    /// The service's name, the part before the dot in `"Service.Method"`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds the handler for `method`; a later handler of the same name
    /// replaces an earlier one.
    ///
    /// The handler runs on a network thread and may block (a KV server waits
    /// for Raft to commit); other calls are served meanwhile. If it panics,
    /// its caller gets [`RpcError::HandlerPanicked`] and the server keeps
    /// serving.
    pub fn handle<A, R, F>(mut self, method: &str, handler: F) -> Service
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let erased = move |full_name: &str, request: &[u8]| {
            let args: A = postcard::from_bytes(request).map_err(|e| RpcError::DecodeArgs {
                method: full_name.to_string(),
                reason: e.to_string(),
            })?;
            let reply = catch_unwind(AssertUnwindSafe(|| handler(args))).map_err(|payload| {
                RpcError::HandlerPanicked {
                    method: full_name.to_string(),
                    message: panic_message(payload.as_ref()),
                }
            })?;
            postcard::to_allocvec(&reply).map_err(|e| RpcError::EncodeReply {
                method: full_name.to_string(),
                reason: e.to_string(),
            })
        };
        self.handlers
            .insert(method.to_string(), Handler::Blocking(Arc::new(erased)));
        self
    }

    /// Adds a handler for `method` that answers later: it is given the
    /// call's argument and a [`Responder`], returns at once, and whoever
    /// learns the answer (another thread, perhaps much later) sends it with
    /// [`Responder::send`]. A later handler of the same name replaces an
    /// earlier one.
    ///
    /// The handler runs on the thread that delivers the request, so it
    /// must not block; in exchange, a call costs no handler thread. A KV
    /// server whose requests wait for Raft to commit answers this way, from
    /// the thread that applies the log. If the handler panics, its caller
    /// gets [`RpcError::HandlerPanicked`].
    ///
    /// ```
    /// use labrpc::{Network, Server, Service};
    /// let net = Network::new();
    /// let mut server = Server::new();
    /// server.add_service(Service::new("Later").handle_deferred(
    ///     "Double",
    ///     |x: u32, responder| {
    ///         std::thread::spawn(move || responder.send(2 * x));
    ///     },
    /// ));
    /// net.add_server("s", server);
    /// let end = net.make_end("e");
    /// net.connect("e", "s");
    /// net.enable("e", true);
    /// assert_eq!(end.call::<u32, u32>("Later.Double", &21), Ok(42));
    /// net.cleanup();
    /// ```
    pub fn handle_deferred<A, R, F>(mut self, method: &str, handler: F) -> Service
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(A, Responder<R>) + Send + Sync + 'static,
    {
        let erased = move |full_name: &str, request: &[u8], on_reply: OnReply| {
            let args: A = match postcard::from_bytes(request) {
                Ok(args) => args,
                Err(e) => {
                    return on_reply(Err(RpcError::DecodeArgs {
                        method: full_name.to_string(),
                        reason: e.to_string(),
                    }))
                }
            };
            let answer = PendingCall::new(on_reply, RpcError::ServerGone);
            let responder = Responder {
                method: full_name.to_string(),
                answer: Arc::clone(&answer),
                reply: PhantomData,
            };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler(args, responder))) {
                answer.complete(Err(RpcError::HandlerPanicked {
                    method: full_name.to_string(),
                    message: panic_message(payload.as_ref()),
                }));
            }
        };
        self.handlers
            .insert(method.to_string(), Handler::Deferred(Box::new(erased)));
        self
    }

    /// The handler of `method`, or the error naming the methods there are.
    fn handler(&self, method: &str) -> Result<&Handler, RpcError> {
        self.handlers
            .get(method)
            .ok_or_else(|| RpcError::UnknownMethod {
                service: self.name.clone(),
                method: method.to_string(),
                available: self.handlers.keys().cloned().collect(),
            })
    }
}

/// A deferred handler's promise to answer one call (see
/// [`Service::handle_deferred`]). It may be sent to any thread and kept as
/// long as the answer takes. Dropping it unanswered fails the call with
/// [`RpcError::ServerGone`]: this server will never answer it.
pub struct Responder<R> {
    /// `"Service.Method"`, for an error.
    method: String,
    answer: Arc<PendingCall>,
    reply: PhantomData<fn(R)>,
}

impl<R: Serialize> Responder<R> {
    /// Answers the call with `reply`.
    pub fn send(self, reply: R) {
        let bytes = postcard::to_allocvec(&reply).map_err(|e| RpcError::EncodeReply {
            method: self.method.clone(),
            reason: e.to_string(),
        });
        self.answer.complete(bytes);
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_string()
    }
}

/// A server: one or more services reachable under one name on the network.
///
/// A KV server hosts both `"KV"` and `"Raft"` on one server, so crashing the
/// server (deleting it from the network) silences both.
#[derive(Default)]
pub struct Server {
    services: BTreeMap<String, Arc<Service>>,
    /// Set by [`Server::forward`]: takes every call instead of the services.
    forward: Option<Forward>,
}

impl Server {
    /// A server with no services yet.
    pub fn new() -> Server {
        Server::default()
    }

    /// Adds `service`; a service of the same name is replaced.
    pub fn add_service(&mut self, service: Service) {
        self.services
            .insert(service.name.clone(), Arc::new(service));
    }

    /// A server that hands every call, whatever its service and method, to
    /// `handler` as `("Service.Method", request bytes, on_reply)`: a
    /// stand-in for a server that runs elsewhere (another process), which
    /// answers for itself, errors included, by calling `on_reply` once.
    ///
    /// The network calls `handler` on the thread that delivers the request,
    /// so it must not block: it passes the call on and returns.
    ///
    /// ```
    /// use labrpc::{Network, Server};
    /// let net = Network::new();
    /// net.add_server("s", Server::forward(|method, request, on_reply| {
    ///     on_reply(Ok(format!("{method} got {} bytes", request.len()).into_bytes()))
    /// }));
    /// let end = net.make_end("e");
    /// net.connect("e", "s");
    /// net.enable("e", true);
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// end.call_bytes("Any.Thing", vec![1, 2], move |reply| tx.send(reply).unwrap());
    /// assert_eq!(rx.recv().unwrap().unwrap(), b"Any.Thing got 2 bytes");
    /// net.cleanup();
    /// ```
    pub fn forward<F>(handler: F) -> Server
    where
        F: Fn(&str, Vec<u8>, OnReply) + Send + Sync + 'static,
    {
        Server {
            services: BTreeMap::new(),
            forward: Some(Box::new(handler)),
        }
    }

    /// Runs the handler named by `full_name` (`"Service.Method"`) on
    /// `request` and returns its reply, as the network does for a call
    /// that reaches this server, waiting for a deferred handler's answer.
    /// A process hosting a server for a network elsewhere may call it.
    pub fn dispatch(&self, full_name: &str, request: &[u8]) -> Result<Vec<u8>, RpcError> {
        // A handler that returns its reply needs no copy of the request.
        if let Ok(Handler::Blocking(handler)) = self.handler_of(full_name) {
            return handler(full_name, request);
        }
        let (filler, waiter) = reply_slot();
        self.serve_here(
            full_name,
            request.to_vec(),
            Box::new(move |reply| filler.fill(reply)),
        );
        waiter.wait().unwrap_or(Err(RpcError::ServerGone))
    }

    /// Serves a call of `full_name` on `request`, handing its outcome to
    /// `on_reply`, and returns without waiting for it: a handler that may
    /// block runs on `pool`; a deferred handler, and a forwarding server's
    /// handler, run here.
    pub fn serve(&self, full_name: &str, request: Vec<u8>, pool: &Pool, on_reply: OnReply) {
        match self.handler_of(full_name) {
            Ok(Handler::Blocking(handler)) => {
                let handler = Arc::clone(handler);
                let full_name = full_name.to_string();
                pool.execute(move || on_reply(handler(&full_name, &request)));
            }
            _ => self.serve_here(full_name, request, on_reply),
        }
    }

    /// Serves a call on this thread, whatever its handler: `dispatch` for
    /// a handler that answers later or a forwarder, `serve` for those two.
    fn serve_here(&self, full_name: &str, request: Vec<u8>, on_reply: OnReply) {
        if let Some(forward) = &self.forward {
            return forward(full_name, request, on_reply);
        }
        match self.handler_of(full_name) {
            Ok(Handler::Deferred(handler)) => handler(full_name, &request, on_reply),
            Ok(Handler::Blocking(handler)) => on_reply(handler(full_name, &request)),
            Err(error) => on_reply(Err(error)),
        }
    }

    /// The handler that `full_name` names, or the error saying why none.
    fn handler_of(&self, full_name: &str) -> Result<&Handler, RpcError> {
        let (service, method) = split_method(full_name)?;
        let svc = self
            .services
            .get(service)
            .ok_or_else(|| RpcError::UnknownService {
                service: service.to_string(),
                available: self.services.keys().cloned().collect(),
            })?;
        svc.handler(method)
    }
}

/// Splits `"Service.Method"` at its first dot.
pub(crate) fn split_method(full_name: &str) -> Result<(&str, &str), RpcError> {
    match full_name.split_once('.') {
        Some((service, method)) if !service.is_empty() && !method.is_empty() => {
            Ok((service, method))
        }
        _ => Err(RpcError::BadMethodName(full_name.to_string())),
    }
}
