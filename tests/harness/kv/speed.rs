//! MIT's `TestSpeed`: sequential operations must each complete in a
//! fraction of a heartbeat interval, so a server must not wait for the next
//! heartbeat to commit.

use std::time::Instant;

use super::appends::{append_value, check_client_appends};
use super::config::Config;
use crate::config::fail;
use crate::Net;

/// How many sequential appends are timed.
const OPS: usize = 1000;
/// At least 3 operations per 100 ms heartbeat interval: 33.3 ms per op.
const MAX_MS_PER_OP: f64 = 100.0 / 3.0;

/// One clerk, three servers: one Get (a leader is ready), then 1000
/// sequential Appends, which must average at most 33.3 ms each.
#[track_caller]
pub fn speed_test(max_raft_state: Option<usize>) {
    let cfg = Config::new(3, Net::Reliable, max_raft_state);
    let mut ck = cfg.make_client(&cfg.all());
    cfg.begin("ops complete fast enough");
    ck.get("x");
    let started = Instant::now();
    for j in 0..OPS {
        ck.append("x", &append_value(0, j));
    }
    let ms_per_op = started.elapsed().as_secs_f64() * 1000.0 / OPS as f64;
    check_client_appends(0, &ck.get("x"), OPS);
    if ms_per_op > MAX_MS_PER_OP {
        fail(format!(
            "operations completed too slowly: {ms_per_op:.3} ms/op > {MAX_MS_PER_OP:.1} ms/op; \
             Raft should start replicating at once in start(), and the server should answer as \
             soon as the operation is applied"
        ));
    }
    println!("speed: {ms_per_op:.3} ms/op");
    cfg.end();
}
