//! Simulator parameters.

use crate::learner::LearnerConfig;
use serde::{Deserialize, Serialize};

/// SFS (SC'22) parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SfsConfig {
    /// Requests whose inter-arrival times make up the slice (N = 100).
    pub window: usize,
    /// Slice before `window` arrivals have been seen (the SFS code starts at 20 ms).
    pub initial_slice_ns: u64,
    /// Floor of the slice (6 ms in the SFS code).
    pub min_slice_ns: u64,
    /// Overload: a new invocation skips the FIFO filter when the oldest
    /// queued FIFO invocation has waited longer than this many slices (3).
    pub overload_factor: f64,
}

impl Default for SfsConfig {
    fn default() -> Self {
        Self {
            window: 100,
            initial_slice_ns: 20_000_000,
            min_slice_ns: 6_000_000,
            overload_factor: 3.0,
        }
    }
}

/// Everything the engine and the policies need besides the jobs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    pub cores: usize,
    /// Cost of switching a core to a different task (the core is busy, the
    /// incoming task waits). ALPS Table 3 measured 3,512 ns for CFS.
    pub ctx_switch_ns: u64,
    /// Scheduler tick (4 ms = HZ 250). Slice expiry of EEVDF, the CFS-like
    /// fair class, RR and the SFS filter is only noticed on a tick boundary
    /// (multiples of `tick_ns` on the simulated clock). Arrivals, wakeups,
    /// blocking and exits are exact. 0 = exact slice expiry (hrtick).
    pub tick_ns: u64,
    /// EEVDF base slice (request size r), also the slice of the CFS-like fair
    /// class SFS demotes to and ALPS builds on. 3 ms is Linux'
    /// `sysctl_sched_base_slice` (0.75 ms x (1 + ilog2(min(cpus, 8)))) on
    /// machines with 8 or more CPUs.
    pub base_slice_ns: u64,
    /// CFS wakeup granularity of the fair class used by SFS and ALPS: a woken
    /// task preempts when its vruntime is this much below the running one's.
    pub wakeup_gran_ns: u64,
    /// SCHED_RR time slice (Linux `RR_TIMESLICE` = 100 ms).
    pub rr_quantum_ns: u64,
    pub sfs: SfsConfig,
    /// ALPS: the learner relearns every W on the simulated clock (5 s); the
    /// first window runs with an empty policy (= fair).
    pub alps_update_ns: u64,
    /// ALPS: learner configuration override (default: the variant's
    /// defaults with `cores` set to `cores`).
    pub learner: Option<LearnerConfig>,
    /// Reserved for randomized placement; every built-in policy is
    /// deterministic (ties are broken by task order).
    pub seed: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            cores: 2,
            ctx_switch_ns: 3_000,
            tick_ns: 4_000_000,
            base_slice_ns: 3_000_000,
            wakeup_gran_ns: 1_000_000,
            rr_quantum_ns: 100_000_000,
            sfs: SfsConfig::default(),
            alps_update_ns: 5_000_000_000,
            learner: None,
            seed: 0,
        }
    }
}

impl SimConfig {
    pub fn with_cores(cores: usize) -> Self {
        Self {
            cores,
            ..Self::default()
        }
    }
}
