//! The records the probes produce: one `Account` per invocation (where its
//! wall-clock time went), optionally one `Stint` per stay of one of its tasks
//! on a CPU, and the `Record` the runner writes (an account plus the
//! invocation's class and arrival/start/end times).
//!
//! These types are pure data (serde), shared by the runner, the learner, the
//! simulator and the dataset export: a simulated invocation is a `Record`
//! too, so live and simulated runs go through the same summaries.

use serde::{Deserialize, Serialize};

/// Per-invocation accounting, aggregated over every thread and child process
/// of the invocation. All times are in nanoseconds.
///
/// Invariant (checked by the tests): the parts, `on_cpu_ns + runq_wait_ns +
/// block_io_ns + futex_ns + sleep_ns + other_blocked_ns`, equal
/// `lifetime_ns`, the summed lifetime of the invocation's tasks, within 1%.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Account {
    pub function_id: u32,
    pub invocation_id: u64,
    /// Spawn (tag registration) to exit of the last task.
    pub wall_ns: u64,
    /// Exact CPU time: deltas of the kernel's `se.sum_exec_runtime`.
    pub on_cpu_ns: u64,
    /// Runnable but not running (both causes below).
    pub runq_wait_ns: u64,
    /// Run-queue wait that followed a wakeup (or fork).
    pub runq_wait_wakeup_ns: u64,
    /// Run-queue wait that followed an involuntary switch (preemption).
    pub runq_wait_preempt_ns: u64,
    /// Blocked waiting on block I/O (`in_iowait` at switch-out).
    pub block_io_ns: u64,
    /// Blocked inside a futex system call.
    pub futex_ns: u64,
    /// Other interruptible sleep (nanosleep, poll, pipes, sockets, ...).
    pub sleep_ns: u64,
    /// Other uninterruptible sleep, and time that a lost scheduler event
    /// left without a known reason.
    pub other_blocked_ns: u64,
    /// On-CPU runs between voluntary sleeps (the last run ends at exit).
    pub bursts: u64,
    pub mean_burst_ns: u64,
    pub max_burst_ns: u64,
    pub wakeups: u64,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
    pub block_requests: u64,
    pub block_bytes: u64,
    /// Tasks (threads and processes) the invocation ran, the first included.
    pub threads: u64,
    pub exit_code: i32,
    /// Sum over the invocation's tasks of (exit - start): what the parts add up to.
    pub lifetime_ns: u64,
}

impl Account {
    /// Off-CPU time of every reason (not counting run-queue wait).
    pub fn off_cpu_ns(&self) -> u64 {
        self.block_io_ns + self.futex_ns + self.sleep_ns + self.other_blocked_ns
    }

    /// Sum of the parts that must add up to `lifetime_ns`.
    pub fn parts_ns(&self) -> u64 {
        self.on_cpu_ns + self.runq_wait_ns + self.off_cpu_ns()
    }
}

/// Why a task left the CPU at the end of a stint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    Preempted,
    BlockIo,
    Futex,
    Sleep,
    OtherBlocked,
    Exit,
}

impl LeaveReason {
    /// From the reason code of `bpf/intf.h` (`enum alps_reason`).
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            0 => Self::Preempted,
            1 => Self::BlockIo,
            2 => Self::Futex,
            3 => Self::Sleep,
            4 => Self::OtherBlocked,
            5 => Self::Exit,
            _ => return None,
        })
    }

    /// A voluntary switch (the task slept or exited) ends a burst.
    pub fn ends_burst(self) -> bool {
        self != Self::Preempted
    }
}

/// One stay of one task of an invocation on a CPU (the timeline).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stint {
    pub invocation_id: u64,
    pub function_id: u32,
    pub tid: u32,
    pub cpu: u32,
    /// When the task became runnable before this stint (wakeup, fork or preemption).
    pub runnable_ns: u64,
    pub switch_in_ns: u64,
    pub switch_out_ns: u64,
    /// Exact CPU time of this stint (`sum_exec_runtime` delta).
    pub on_cpu_ns: u64,
    pub reason: LeaveReason,
}

/// One invocation as the runner writes it, the learner reads it, datasets
/// export it and the simulator emits it. Times are CLOCK_MONOTONIC ns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Workload class (e.g. `fib-short`, `io`, `deceptive`).
    pub class: String,
    /// Function body kind (`fib`, `io`, `blockio`, `futex`, `deceptive`, `cmd`).
    #[serde(default)]
    pub kind: String,
    /// When the arrival process released the invocation.
    pub arrival_ns: u64,
    /// When the runner launched it (spawn).
    pub start_ns: u64,
    /// When its last task exited.
    pub end_ns: u64,
    #[serde(flatten)]
    pub account: Account,
}

impl Record {
    /// Flow completion time: arrival to end (includes any launch delay).
    pub fn fct_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.arrival_ns)
    }
}

/// Counters the BPF side keeps (indices of `enum alps_counter` in
/// `bpf/intf.h`), summed over CPUs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeCounters {
    pub switches: u64,
    pub wakeups: u64,
    pub forks: u64,
    pub exits: u64,
    pub records: u64,
    /// Records the ring buffer had no room for.
    pub records_dropped: u64,
    pub stints: u64,
    pub stints_dropped: u64,
    /// Task-state or invocation map entries that could not be created.
    pub map_full: u64,
    /// Events whose predecessor never reached the program (detected by an
    /// impossible state transition) and were repaired.
    pub lost_events: u64,
}

impl ProbeCounters {
    /// Everything dropped anywhere: never silent.
    pub fn dropped(&self) -> u64 {
        self.records_dropped + self.stints_dropped + self.map_full
    }
}
