//! Services (named sets of typed handlers) and servers that host them.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::reply_slot::reply_slot;
use crate::{OnReply, RpcError};

type Handler = Box<dyn Fn(&str, &[u8]) -> Result<Vec<u8>, RpcError> + Send + Sync>;
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
        self.handlers.insert(method.to_string(), Box::new(erased));
        self
    }

    fn dispatch(&self, method: &str, full_name: &str, request: &[u8]) -> Result<Vec<u8>, RpcError> {
        match self.handlers.get(method) {
            Some(handler) => handler(full_name, request),
            None => Err(RpcError::UnknownMethod {
                service: self.name.clone(),
                method: method.to_string(),
                available: self.handlers.keys().cloned().collect(),
            }),
        }
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

    /// The handler of a [`Server::forward`] server.
    pub(crate) fn forwarder(&self) -> Option<&ForwardFn> {
        self.forward.as_deref()
    }

    /// Runs the handler named by `full_name` (`"Service.Method"`) on
    /// `request` and returns its reply, as the network does for a call
    /// that reaches this server. A process hosting a server for a network
    /// elsewhere calls it.
    pub fn dispatch(&self, full_name: &str, request: &[u8]) -> Result<Vec<u8>, RpcError> {
        if let Some(forward) = &self.forward {
            let (filler, waiter) = reply_slot();
            forward(
                full_name,
                request.to_vec(),
                Box::new(move |reply| filler.fill(reply)),
            );
            return waiter.wait().unwrap_or(Err(RpcError::ServerGone));
        }
        let (service, method) = split_method(full_name)?;
        match self.services.get(service) {
            Some(svc) => svc.dispatch(method, full_name, request),
            None => Err(RpcError::UnknownService {
                service: service.to_string(),
                available: self.services.keys().cloned().collect(),
            }),
        }
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
