//! A test's processes share one CPU.
//!
//! Every RPC between peers crosses three processes (caller, judge,
//! callee), and each crossing wakes a blocked thread. Waking a thread on
//! another CPU that has gone idle costs tens of microseconds on a virtual
//! machine (on the 2-core machine this suite is tuned for: a ping-pong
//! between two processes takes 60 µs on two CPUs, 12 µs on one), which
//! would make every call four times slower than it need be. The test's
//! threads mostly sleep, so one CPU is plenty; the next test picks again.

use std::mem;

/// Pins the calling thread, and so every thread and process it starts
/// from now on, to the CPU it is running on. Where that fails, nothing
/// changes: the tests only run slower.
pub(crate) fn share_one_cpu() {
    // SAFETY: sched_getcpu has no arguments; a negative result is a failure.
    let cpu = unsafe { libc::sched_getcpu() };
    let Ok(cpu) = usize::try_from(cpu) else {
        return;
    };
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes inside
    // it for any cpu below CPU_SETSIZE, which sched_getcpu's result is;
    // sched_setaffinity reads exactly the size it is given.
    unsafe {
        let mut set: libc::cpu_set_t = mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set);
    }
}
