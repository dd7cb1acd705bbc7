//! A call's outcome, handed on exactly once, by whichever holder has it
//! first.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::{OnReply, RpcError};

/// Runs a call's [`OnReply`] exactly once: with the first outcome given,
/// or, if every holder drops it first, with the error it was made with.
pub(crate) struct PendingCall {
    on_reply: Mutex<Option<OnReply>>,
    if_dropped: RpcError,
}

impl PendingCall {
    pub(crate) fn new(on_reply: OnReply, if_dropped: RpcError) -> Arc<PendingCall> {
        Arc::new(PendingCall {
            on_reply: Mutex::new(Some(on_reply)),
            if_dropped,
        })
    }

    /// Hands on `outcome`, unless an outcome was handed on already.
    pub(crate) fn complete(&self, outcome: Result<Vec<u8>, RpcError>) {
        let on_reply = self.on_reply.lock().take();
        if let Some(on_reply) = on_reply {
            on_reply(outcome);
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if let Some(on_reply) = self.on_reply.get_mut().take() {
            on_reply(Err(self.if_dropped.clone()));
        }
    }
}
