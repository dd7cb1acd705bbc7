//! Client ends with fresh random names: after a restart, the ends a crashed
//! instance still holds reach nobody.

use labrpc::{ClientEnd, Network};
use rand::distr::{Alphanumeric, SampleString};

/// The network name of server (or peer) `i`.
pub(crate) fn server_name(i: usize) -> String {
    format!("server-{i}")
}

/// New ends from one client to each of `n` servers, connected and still
/// disabled, with their names (end `j` reaches server `j`).
pub(crate) fn fresh_ends(net: &Network, n: usize) -> (Vec<String>, Vec<ClientEnd>) {
    let names: Vec<String> = (0..n)
        .map(|_| Alphanumeric.sample_string(&mut rand::rng(), 20))
        .collect();
    let ends = names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let end = net.make_end(name);
            net.connect(name, &server_name(j));
            end
        })
        .collect();
    (names, ends)
}
