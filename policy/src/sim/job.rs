//! The simulator's input: invocations as sequences of CPU bursts and
//! off-CPU waits, and the replay of measured `Record`s as such jobs.

use alps_probes::record::Record;
use serde::{Deserialize, Serialize};

/// Why a simulated task is off the CPU (maps onto the `Account` fields
/// `block_io_ns`, `futex_ns` and `sleep_ns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    BlockIo,
    Futex,
    Sleep,
}

/// One step of an invocation: a CPU burst or an off-CPU wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimPhase {
    /// Needs this much CPU time (ns) before its next voluntary sleep or exit.
    Cpu(u64),
    /// Off the CPU for this long (ns), for this reason.
    Wait { ns: u64, reason: WaitReason },
}

/// One invocation to simulate (a single task: `threads = 1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimJob {
    pub id: u64,
    pub function_id: u32,
    pub class: String,
    pub arrival_ns: u64,
    pub phases: Vec<SimPhase>,
}

impl SimJob {
    /// A single CPU burst (a CPU-bound function).
    pub fn cpu(id: u64, function_id: u32, class: &str, arrival_ns: u64, cpu_ns: u64) -> Self {
        Self {
            id,
            function_id,
            class: class.to_string(),
            arrival_ns,
            phases: vec![SimPhase::Cpu(cpu_ns)],
        }
    }

    /// Total CPU demand (sum of the CPU phases).
    pub fn cpu_ns(&self) -> u64 {
        self.phases
            .iter()
            .map(|p| match p {
                SimPhase::Cpu(ns) => *ns,
                SimPhase::Wait { .. } => 0,
            })
            .sum()
    }

    /// Total off-CPU time (sum of the waits).
    pub fn wait_ns(&self) -> u64 {
        self.phases
            .iter()
            .map(|p| match p {
                SimPhase::Cpu(_) => 0,
                SimPhase::Wait { ns, .. } => *ns,
            })
            .sum()
    }

    /// Replays a measured record: `bursts` CPU bursts of the mean burst
    /// length (the last absorbs the rounding, so they sum to `on_cpu_ns`),
    /// separated by the off-CPU time split evenly over the `bursts - 1` gaps
    /// (the last gap absorbs the rounding). Each gap is a run of consecutive
    /// waits, one per reason with that reason's share of the gap, so each
    /// reason's total is reproduced exactly (`other_blocked_ns` is replayed
    /// as `Sleep`). A record with one burst but off-CPU time gets its waits
    /// after the burst. Run-queue wait is not replayed: the simulated
    /// scheduler produces its own.
    pub fn from_record(rec: &Record) -> Self {
        let a = &rec.account;
        let bursts = a.bursts.max(1);
        let reasons = [
            (WaitReason::BlockIo, a.block_io_ns),
            (WaitReason::Futex, a.futex_ns),
            (WaitReason::Sleep, a.sleep_ns + a.other_blocked_ns),
        ];
        let gaps = if bursts > 1 { bursts - 1 } else { 1 };
        let mut phases = Vec::new();
        let burst = a.on_cpu_ns / bursts;
        for i in 0..bursts {
            let len = if i + 1 == bursts {
                a.on_cpu_ns - burst * (bursts - 1)
            } else {
                burst
            };
            phases.push(SimPhase::Cpu(len));
            let gap_index = if bursts > 1 { i } else { 0 };
            let has_gap = if bursts > 1 { i + 1 < bursts } else { true };
            if has_gap {
                for (reason, total) in reasons {
                    let share = total / gaps;
                    let ns = if gap_index + 1 == gaps {
                        total - share * (gaps - 1)
                    } else {
                        share
                    };
                    if ns > 0 {
                        phases.push(SimPhase::Wait { ns, reason });
                    }
                }
            }
        }
        Self {
            id: a.invocation_id,
            function_id: a.function_id,
            class: rec.class.clone(),
            arrival_ns: rec.arrival_ns,
            phases,
        }
    }
}

/// Jobs replaying exported live records (see [`SimJob::from_record`]).
pub fn jobs_from_records(records: &[Record]) -> Vec<SimJob> {
    records.iter().map(SimJob::from_record).collect()
}
