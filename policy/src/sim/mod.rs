//! A multi-core discrete-event scheduler simulator.
//!
//! Invocations ([`SimJob`]) are sequences of CPU bursts and off-CPU waits;
//! the engine ([`engine`]) moves them between cores under one policy (a
//! [`SimScheduler`]) and emits one `alps_probes::record::Record` per job,
//! the same type the live runner writes, so the same summaries apply.
//! Policies: EEVDF-like fair sharing, FIFO, RR, clairvoyant SRPT, SFS, and
//! ALPS / ALPS-IO driven by the crate's learner on the simulated clock.
//! See `README.md` in this directory for the model and its simplifications.
//!
//! ```
//! use alps_policy::sim::{simulate, SimConfig, SimJob, SimPolicy};
//! let jobs = vec![SimJob::cpu(1, 0, "a", 0, 10_000_000), SimJob::cpu(2, 0, "b", 0, 2_000_000)];
//! let cfg = SimConfig { cores: 1, ctx_switch_ns: 0, ..SimConfig::default() };
//! let out = simulate(&jobs, "srpt".parse::<SimPolicy>().unwrap(), &cfg);
//! assert_eq!(out.records[1].end_ns, 2_000_000);
//! assert_eq!(out.records[0].end_ns, 12_000_000);
//! ```

pub mod alps;
pub mod config;
pub mod eevdf;
pub mod engine;
pub mod fair;
pub mod fifo;
pub mod job;
pub mod rr;
pub mod sfs;
pub mod srpt;

pub use config::{SfsConfig, SimConfig};
pub use engine::{run, Enqueue, SimResult, SimScheduler, SimStats, TaskId, World};
pub use job::{jobs_from_records, SimJob, SimPhase, WaitReason};

use crate::policy::Variant;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The built-in policies (CLI names: `eevdf`, `fifo`, `rr`, `srpt`, `sfs`,
/// `alps`, `alps-io`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimPolicy {
    Eevdf,
    Fifo,
    Rr,
    Srpt,
    Sfs,
    Alps,
    AlpsIo,
}

impl SimPolicy {
    pub const ALL: [SimPolicy; 7] = [
        SimPolicy::Eevdf,
        SimPolicy::Fifo,
        SimPolicy::Rr,
        SimPolicy::Srpt,
        SimPolicy::Sfs,
        SimPolicy::Alps,
        SimPolicy::AlpsIo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SimPolicy::Eevdf => "eevdf",
            SimPolicy::Fifo => "fifo",
            SimPolicy::Rr => "rr",
            SimPolicy::Srpt => "srpt",
            SimPolicy::Sfs => "sfs",
            SimPolicy::Alps => "alps",
            SimPolicy::AlpsIo => "alps-io",
        }
    }

    /// Parses a comma-separated list (`eevdf,srpt,sfs,alps,alps-io`).
    pub fn parse_list(s: &str) -> Result<Vec<SimPolicy>, UnknownPolicy> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::parse)
            .collect()
    }
}

impl fmt::Display for SimPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy name `SimPolicy::from_str` does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown simulator policy `{0}` (known: eevdf, fifo, rr, srpt, sfs, alps, alps-io)")]
pub struct UnknownPolicy(pub String);

impl FromStr for SimPolicy {
    type Err = UnknownPolicy;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(
            match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
                "eevdf" | "cfs" | "fair" => SimPolicy::Eevdf,
                "fifo" => SimPolicy::Fifo,
                "rr" => SimPolicy::Rr,
                "srpt" => SimPolicy::Srpt,
                "sfs" => SimPolicy::Sfs,
                "alps" => SimPolicy::Alps,
                "alps-io" | "alpsio" => SimPolicy::AlpsIo,
                _ => return Err(UnknownPolicy(s.to_string())),
            },
        )
    }
}

/// Simulate `jobs` under one built-in policy.
pub fn simulate(jobs: &[SimJob], policy: SimPolicy, cfg: &SimConfig) -> SimResult {
    let n = jobs.len();
    match policy {
        SimPolicy::Eevdf => run(
            jobs,
            cfg,
            &mut eevdf::Eevdf::new(cfg.cores, n, cfg.base_slice_ns),
        ),
        SimPolicy::Fifo => run(jobs, cfg, &mut fifo::Fifo::new()),
        SimPolicy::Rr => run(jobs, cfg, &mut rr::RoundRobin::new(cfg.rr_quantum_ns)),
        SimPolicy::Srpt => run(jobs, cfg, &mut srpt::Srpt::new()),
        SimPolicy::Sfs => run(
            jobs,
            cfg,
            &mut sfs::Sfs::new(
                cfg.sfs.clone(),
                cfg.cores,
                n,
                cfg.base_slice_ns,
                cfg.wakeup_gran_ns,
            ),
        ),
        SimPolicy::Alps | SimPolicy::AlpsIo => {
            let variant = if policy == SimPolicy::Alps {
                Variant::Alps
            } else {
                Variant::AlpsIo
            };
            let mut s = alps::Alps::new(
                variant,
                cfg.learner.clone(),
                cfg.cores,
                n,
                cfg.base_slice_ns,
                cfg.wakeup_gran_ns,
                cfg.alps_update_ns,
            );
            run(jobs, cfg, &mut s)
        }
    }
}

/// Mean flow completion time (arrival to end) of a run's records, ns.
pub fn mean_fct_ns(records: &[alps_probes::record::Record]) -> f64 {
    if records.is_empty() {
        return 0.0;
    }
    records.iter().map(|r| r.fct_ns() as f64).sum::<f64>() / records.len() as f64
}
