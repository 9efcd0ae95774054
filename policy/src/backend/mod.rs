//! Enforcement backends: the only code in this crate that changes how the
//! kernel schedules. Every backend implements [`Backend`] and can undo
//! everything it did; the stock backends also register each change with a
//! guardian process that undoes it if the agent dies without doing so.
//!
//! - [`stock`]: Linux 6.x without sched_ext. `stock-soft` maps rank and
//!   slice to nice and the EEVDF custom slice; `stock-strict` puts functions
//!   in a SCHED_FIFO band ordered by rank and demotes a task to the fair
//!   class once its current burst has used its slice; the SFS peer baseline
//!   runs on the same machinery.

pub mod guard;
pub mod sched;
#[cfg(feature = "scx")]
pub mod scx;
pub mod stock;

use crate::policy::Policy;

/// An invocation whose first process has just been spawned.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub invocation_id: u64,
    pub function_id: u32,
    /// The root process (its threads and children start in the fair class:
    /// every boost sets SCHED_RESET_ON_FORK).
    pub pid: i32,
    /// CLOCK_MONOTONIC ns of the arrival and of the spawn.
    pub arrival_ns: u64,
    pub spawn_ns: u64,
}

/// What a backend does. Calls come from several runner threads (the
/// runner wraps the backend in a mutex).
pub trait Backend: Send {
    /// `stock-soft`, `stock-strict`, `sfs`, `scx`, `none`.
    fn name(&self) -> &'static str;
    /// A new policy version: applies to running and future invocations.
    fn apply(&mut self, policy: &Policy) -> anyhow::Result<()>;
    /// The scheduling attributes a new invocation of `function_id` starts
    /// with: the runner's child sets them on itself before exec (as ALPS
    /// tags a function at exec), so a boosted function never waits in the
    /// fair class to be launched. `None`: the stock fair class.
    fn spawn_attr(&mut self, _function_id: u32) -> Option<sched::SchedAttr> {
        None
    }
    /// An invocation started: give it its function's treatment.
    fn started(&mut self, inv: &Started) -> anyhow::Result<()>;
    /// An invocation's root exited (called before it is reaped, so its pid
    /// cannot have been reused yet): forget it.
    fn ended(&mut self, invocation_id: u64);
    /// Undo every change; idempotent.
    fn restore(&mut self) -> anyhow::Result<()>;
    /// Counters and latencies for the run's summary.
    fn stats(&self) -> serde_json::Value;
}

/// The stock scheduler, untouched (the EEVDF baseline).
#[derive(Debug, Default)]
pub struct NoBackend;

impl Backend for NoBackend {
    fn name(&self) -> &'static str {
        "none"
    }
    fn apply(&mut self, _: &Policy) -> anyhow::Result<()> {
        Ok(())
    }
    fn started(&mut self, _: &Started) -> anyhow::Result<()> {
        Ok(())
    }
    fn ended(&mut self, _: u64) {}
    fn restore(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
    fn stats(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// CLOCK_MONOTONIC in ns (the clock the probes' bpf_ktime_get_ns uses).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
