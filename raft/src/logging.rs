// @solution-file 2A
//! Per-peer log lines.

/// Logs through `log` at `$level`, prefixed `S{me} T{term} ` so that a
/// run's log can be split per peer.
macro_rules! peer_log {
    ($level:ident, $core:expr, $($arg:tt)+) => {
        log::$level!("S{} T{} {}", $core.me, $core.term, format_args!($($arg)+))
    };
}
