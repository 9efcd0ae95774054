//! The learner. SKELETON: being written (issue 4).

use crate::policy::{Policy, Variant};
use alps_probes::record::Record;
use serde::{Deserialize, Serialize};

/// Learner configuration; baseline ALPS and ALPS-IO differ only here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnerConfig {
    pub variant: Variant,
    /// Sliding window length (ALPS default 5 s).
    pub window_ns: u64,
    /// Cap on records in the window (ALPS Table 2 uses 100).
    pub window_max_records: usize,
    /// Cores the SRPT replay simulates.
    pub cores: u32,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            variant: Variant::Alps,
            window_ns: 5_000_000_000,
            window_max_records: 100,
            cores: 2,
        }
    }
}

/// Stateful learner: a sliding window of records and a policy version counter.
#[derive(Debug, Clone)]
pub struct Learner {
    pub cfg: LearnerConfig,
}

impl Learner {
    pub fn new(cfg: LearnerConfig) -> Self {
        Self { cfg }
    }
    /// Add a finished invocation's record to the window.
    pub fn observe(&mut self, _rec: Record) {
        todo!()
    }
    /// Learn a new policy version from the window at time `now_ns`, given
    /// the measured CPU utilization (percent) for the overload fine-tune.
    pub fn learn(&mut self, _now_ns: u64, _cpu_util_pct: f64) -> Policy {
        todo!()
    }
}

/// One-shot learning from a set of records (what `alps learn` does).
pub fn learn(_records: &[Record], _cfg: &LearnerConfig, _cpu_util_pct: f64) -> Policy {
    todo!()
}
