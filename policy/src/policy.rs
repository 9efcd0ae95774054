//! The one `Policy` type: what the learner decides, per function.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which learner configuration produced a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Baseline ALPS (ATC'24): job size = on-CPU time only.
    #[default]
    Alps,
    /// I/O-aware ALPS: bursts, waits and wall-clock time.
    AlpsIo,
}

/// Controls only the I/O-aware variant sets (baseline ALPS leaves them at
/// their defaults, which mean "plain ALPS behaviour").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IoControls {
    /// Learned total CPU demand of one invocation (all bursts), ns.
    pub cpu_demand_ns: u64,
    /// Learned typical CPU burst between sleeps, ns.
    pub burst_ns: u64,
    /// Wakeup preemptions allowed per second of wall-clock time
    /// (0 = none; `u32::MAX` = unlimited, as in baseline ALPS).
    pub wakeup_preempt_budget_per_s: u32,
    /// Order a running invocation by its remaining CPU demand
    /// (`cpu_demand_ns` minus what it has used) rather than by its
    /// function's static rank: its priority rises as it runs (SRPT on true
    /// remaining demand). Backends that cannot re-prioritize ignore it.
    #[serde(default)]
    pub remaining_priority: bool,
}

impl IoControls {
    /// Estimated remaining CPU demand of an invocation that has used
    /// `used_ns` (`remaining_estimate_ns`); `None` without a learned demand
    /// or with `remaining_priority` off.
    pub fn remaining_demand_ns(&self, used_ns: u64) -> Option<u64> {
        (self.remaining_priority && self.cpu_demand_ns > 0)
            .then(|| remaining_estimate_ns(self.cpu_demand_ns, used_ns))
    }
}

/// Estimated remaining CPU demand of an invocation of a function with
/// learned demand `demand_ns` that has used `used_ns`: the difference while
/// it is below the demand; past it, the learner knows no more about this
/// invocation than about a new one, so the demand again (an overrunning
/// invocation sinks instead of rising to the top).
pub fn remaining_estimate_ns(demand_ns: u64, used_ns: u64) -> u64 {
    if used_ns < demand_ns {
        demand_ns - used_ns
    } else {
        demand_ns
    }
}

/// What one function gets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionPolicy {
    /// 1 = highest priority; within the learner's rank range.
    pub rank: u32,
    /// Time slice the function keeps the CPU for before fair scheduling
    /// applies again; 0 = plain fair slice.
    pub slice_ns: u64,
    #[serde(default)]
    pub io: IoControls,
}

/// A versioned policy for every function seen in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Policy {
    pub version: u64,
    pub variant: Variant,
    /// Records the window held when this policy was learned.
    pub window_records: usize,
    /// CPU utilization (percent of capacity) used by the overload fine-tune.
    pub cpu_utilization_pct: f64,
    /// Function id -> its policy.
    pub functions: BTreeMap<u32, FunctionPolicy>,
}

impl Policy {
    pub fn get(&self, function_id: u32) -> Option<&FunctionPolicy> {
        self.functions.get(&function_id)
    }
}
