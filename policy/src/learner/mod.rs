//! The learner: a sliding window of records in, a versioned `Policy` out.
//! Baseline ALPS (ATC'24, sections 5.1-5.2) and the I/O-aware ALPS-IO are
//! two configurations of one pipeline (see `policy/LEARNER.md`):
//!
//! 1. replay: each record becomes an SRPT job (`replay`): one continuous
//!    CPU job (ALPS) or its measured bursts and waits (`burst_replay`);
//! 2. SRPT simulation of the window on `cores` cores with `tick_ns` ticks
//!    and a `min_quantum_ns` minimum quantum (`srpt`);
//! 3. rank: functions by mean simulated wait (`rank`);
//! 4. slice: train_ts over the simulated run segments plus the two
//!    fine-tunes (`slice`), bounded by the artifact's 200 ms cap; in
//!    ALPS-IO, the learned burst length with headroom instead (`io`);
//! 5. I/O controls: CPU demand, burst length, wakeup-preemption budget.
//!
//! Pure and deterministic: no clock reads, no randomness, never panics on
//! odd input (an empty window gives an empty policy).
//!
//! Deviations of the public ALPS artifact that are NOT reproduced (the paper
//! is implemented): it sorts functions by mean slice instead of mean
//! simulated wait; it sends the function id as the priority instead of the
//! rank; it multiplies beta into the overload factor; it compares
//! priorities unsigned. Artifact details kept as options: the 200 ms slice
//! cap (`slice_cap_ns`, on by default: the paper gives no bound and the
//! live workload has 1 s functions whose alpha x ts would otherwise hold a
//! core for 2 s); "a later function cannot get a larger slice than an
//! earlier one" (`monotone_slices`, off by default: it only makes sense
//! when sorting by slice, and with ALPS-IO's burst slices it would cap every
//! lower-ranked CPU-bound function at the tiny slice of a top-ranked
//! sleeper).

pub mod io;
pub mod rank;
pub mod replay;
pub mod slice;
pub mod srpt;
pub mod window;

#[cfg(test)]
mod tests;

use crate::policy::{FunctionPolicy, IoControls, Policy, Variant};
use alps_probes::record::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use io::BudgetParams;
pub use slice::{FineTune, TrainMethod};
pub use srpt::{simulate, Job, JobSchedule, Phase, Segment, SrptKey, SrptParams};
pub use window::Window;

/// The I/O-aware elements; each one is a switch (all on: ALPS-IO, all off:
/// baseline ALPS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct IoSwitches {
    /// Replay each record as its measured bursts separated by its measured
    /// off-CPU waits (wall-clock aware) instead of one continuous CPU job.
    pub burst_replay: bool,
    /// SRPT key = remaining CPU over all remaining bursts (not only the
    /// current burst). Needs `burst_replay` to matter.
    pub demand_priority: bool,
    /// Slice bounded by the learned burst length (mean of the measured
    /// longest burst): a boosted task is demoted once a burst runs longer
    /// than the function's real bursts.
    pub burst_slice: bool,
    /// A per-function wakeup-preemption budget (per second) from the
    /// measured wakeup rate, bounded by a CPU share; off: unlimited.
    pub preempt_budget: bool,
    /// Futex waits are CPU-coupled (the lock holder's CPU is already in the
    /// records) and are not replayed as wall-clock waits; block I/O, sleep
    /// and other waits are. Needs `burst_replay` to matter.
    pub wait_reasons: bool,
    /// Rank by mean simulated slowdown (wait / CPU demand) instead of raw
    /// mean wait. Off in `alps_io()`: a small function that wakes often
    /// waits part of a quantum at every wakeup, so its slowdown looks large
    /// and it would sink below long functions (kept for the ablation).
    pub slowdown_weight: bool,
    /// Rank by the function's mean total CPU demand (SRPT order on true
    /// demand, summed over bursts); the replay's mean wait breaks ties. A
    /// sleep-heavy function then never outranks one that needs less CPU:
    /// its sleeps add waiting opportunities in the replay, not priority.
    pub demand_rank: bool,
    /// Backends order a running invocation by its remaining CPU demand
    /// (learned demand minus CPU used so far), so a job near its end is not
    /// overtaken by a new job that needs more (IoControls.remaining_priority).
    pub remaining_priority: bool,
}

impl IoSwitches {
    pub fn all() -> Self {
        Self {
            burst_replay: true,
            demand_priority: true,
            burst_slice: true,
            preempt_budget: true,
            wait_reasons: true,
            slowdown_weight: false,
            demand_rank: true,
            remaining_priority: true,
        }
    }

    pub fn none() -> Self {
        Self::default()
    }
}

/// Learner configuration; baseline ALPS and ALPS-IO differ only here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LearnerConfig {
    pub variant: Variant,
    /// Sliding window length (ALPS default 5 s).
    pub window_ns: u64,
    /// Cap on records in the window (ALPS Table 2 uses 100; 0 = no cap).
    pub window_max_records: usize,
    /// Cores the SRPT replay simulates.
    pub cores: u32,
    /// SRPT simulator tick (ALPS: 1 ms).
    pub tick_ns: u64,
    /// Minimum quantum before preemption (ALPS: 8 ms).
    pub min_quantum_ns: u64,
    /// Ranks are in 1..=rank_max (ALPS: 100).
    pub rank_max: u32,
    pub train: TrainMethod,
    pub fine_tune: FineTune,
    /// Upper bound on any slice (artifact: 200 ms); 0 = none.
    pub slice_cap_ns: u64,
    /// Artifact rule: in rank order, no function gets a larger slice than
    /// the one before it.
    pub monotone_slices: bool,
    /// Records replay with at most this many bursts (cost bound).
    pub max_replay_bursts: usize,
    pub io: IoSwitches,
    pub budget: BudgetParams,
    /// `burst_slice`: slice = this x the function's measured longest burst.
    pub burst_headroom: f64,
    /// Upper bound on a burst slice; 0 = none.
    pub burst_slice_cap_ns: u64,
}

impl Default for LearnerConfig {
    fn default() -> Self {
        Self {
            variant: Variant::Alps,
            window_ns: 5_000_000_000,
            window_max_records: 100,
            cores: 2,
            tick_ns: 1_000_000,
            min_quantum_ns: 8_000_000,
            rank_max: 100,
            train: TrainMethod::Average,
            fine_tune: FineTune::default(),
            slice_cap_ns: 200_000_000,
            monotone_slices: false,
            max_replay_bursts: 256,
            io: IoSwitches::none(),
            budget: BudgetParams::default(),
            burst_headroom: 1.5,
            burst_slice_cap_ns: 5_000_000_000,
        }
    }
}

impl LearnerConfig {
    /// Baseline ALPS, paper defaults.
    pub fn alps() -> Self {
        Self::default()
    }

    /// ALPS-IO: every I/O-aware element on.
    pub fn alps_io() -> Self {
        Self {
            variant: Variant::AlpsIo,
            io: IoSwitches::all(),
            ..Self::default()
        }
    }

    /// The replay parameters this configuration uses.
    pub fn srpt_params(&self) -> SrptParams {
        SrptParams {
            cores: self.cores.max(1),
            tick_ns: self.tick_ns.max(1),
            min_quantum_ns: self.min_quantum_ns,
            key: if self.io.burst_replay && self.io.demand_priority {
                SrptKey::RemainingDemand
            } else {
                SrptKey::RemainingBurst
            },
        }
    }
}

/// Stateful learner: a sliding window of records, a policy version counter
/// and the last entry learned for every function seen.
#[derive(Debug, Clone)]
pub struct Learner {
    pub cfg: LearnerConfig,
    window: Window,
    version: u64,
    /// A function with no record in the current window keeps its last
    /// learned entry (as in ALPS, whose frontend only updates the kernel
    /// map's entries of the functions it replayed): otherwise a function
    /// rarer than one per window would fall back to the fair class, below
    /// every boosted task (measured: 9 ms functions waiting 600 ms).
    known: BTreeMap<u32, FunctionPolicy>,
}

impl Learner {
    pub fn new(cfg: LearnerConfig) -> Self {
        let window = Window::new(cfg.window_ns, cfg.window_max_records);
        Self {
            cfg,
            window,
            version: 0,
            known: BTreeMap::new(),
        }
    }

    /// Add a finished invocation's record to the window.
    pub fn observe(&mut self, rec: Record) {
        self.window.push(rec);
    }

    /// Records currently in the window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Version of the last policy learned (0 before the first).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Learn a new policy version from the window at time `now_ns`, given
    /// the measured CPU utilization (percent) for the overload fine-tune.
    pub fn learn(&mut self, now_ns: u64, cpu_util_pct: f64) -> Policy {
        self.window.trim(now_ns);
        self.version += 1;
        let recs: Vec<&Record> = self.window.records().collect();
        let mut p = learn_refs(&recs, &self.cfg, cpu_util_pct);
        p.version = self.version;
        for (f, fp) in &self.known {
            p.functions.entry(*f).or_insert_with(|| fp.clone());
        }
        self.known = p.functions.clone();
        p
    }
}

/// One-shot learning from exactly these records (what `alps learn` does;
/// no window trimming). The policy has version 1.
pub fn learn(records: &[Record], cfg: &LearnerConfig, cpu_util_pct: f64) -> Policy {
    let recs: Vec<&Record> = records.iter().collect();
    let mut p = learn_refs(&recs, cfg, cpu_util_pct);
    p.version = 1;
    p
}

/// The rank sort key of a function (lower = higher priority); the
/// tie-break is the other of (demand, wait).
pub fn rank_key(cfg: &LearnerConfig, f: &FunctionReplay) -> f64 {
    if cfg.io.demand_rank {
        f.mean_demand_ns
    } else if cfg.io.slowdown_weight {
        f.mean_slowdown
    } else {
        f.mean_wait_ns
    }
}

/// What the replay says about one function (exposed for tests, the
/// simulator and ablation reports).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionReplay {
    pub invocations: usize,
    /// Mean simulated waiting (runnable, not running) per invocation, ns.
    pub mean_wait_ns: f64,
    /// Mean of wait / CPU demand per invocation.
    pub mean_slowdown: f64,
    /// Mean CPU demand per invocation, ns.
    pub mean_demand_ns: f64,
    /// Simulated run segment lengths, ns, in start-time order.
    pub run_segments_ns: Vec<f64>,
}

/// Replay the records under `cfg` and summarize per function.
pub fn replay_functions(recs: &[&Record], cfg: &LearnerConfig) -> BTreeMap<u32, FunctionReplay> {
    let origin = recs.iter().map(|r| r.arrival_ns).min().unwrap_or(0);
    let jobs: Vec<Job> = recs
        .iter()
        .map(|r| replay::job_for(r, origin, &cfg.io, cfg.max_replay_bursts))
        .collect();
    let sched = simulate(&jobs, &cfg.srpt_params());
    let mut segs: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    let mut out: BTreeMap<u32, FunctionReplay> = BTreeMap::new();
    for (job, s) in jobs.iter().zip(&sched) {
        let f = out.entry(job.function_id).or_default();
        let demand = job.demand_ns();
        let wait = s.wait_ns();
        f.invocations += 1;
        f.mean_wait_ns += wait as f64;
        f.mean_slowdown += wait as f64 / demand.max(1) as f64;
        f.mean_demand_ns += demand as f64;
        segs.entry(job.function_id)
            .or_default()
            .extend(s.running.iter().map(|g| (g.start_ns, g.len_ns())));
    }
    for (fid, f) in out.iter_mut() {
        let n = f.invocations.max(1) as f64;
        f.mean_wait_ns /= n;
        f.mean_slowdown /= n;
        f.mean_demand_ns /= n;
        if let Some(mut v) = segs.remove(fid) {
            v.sort_unstable();
            f.run_segments_ns = v.into_iter().map(|(_, l)| l as f64).collect();
        }
    }
    out
}

fn learn_refs(recs: &[&Record], cfg: &LearnerConfig, cpu_util_pct: f64) -> Policy {
    let util = if cpu_util_pct.is_finite() {
        cpu_util_pct
    } else {
        0.0
    };
    let mut policy = Policy {
        version: 0,
        variant: cfg.variant,
        window_records: recs.len(),
        cpu_utilization_pct: util,
        functions: BTreeMap::new(),
    };
    if recs.is_empty() {
        return policy;
    }
    let replayed = replay_functions(recs, cfg);
    let inputs: Vec<rank::RankInput> = replayed
        .iter()
        .map(|(&function_id, f)| rank::RankInput {
            function_id,
            key: rank_key(cfg, f),
            demand_ns: if cfg.io.demand_rank {
                f.mean_wait_ns
            } else {
                f.mean_demand_ns
            },
        })
        .collect();
    let ranks = rank::rank_functions(&inputs, cfg.rank_max);
    let mut by_fn: BTreeMap<u32, Vec<&Record>> = BTreeMap::new();
    for r in recs {
        by_fn.entry(r.account.function_id).or_default().push(r);
    }
    let mut order: Vec<(u32, u32)> = ranks.iter().map(|(&f, &r)| (r, f)).collect();
    order.sort_unstable();
    // The window's wall-clock span: wakeup rates are per second of it.
    let span_ns = recs
        .iter()
        .map(|r| r.end_ns.max(r.arrival_ns))
        .max()
        .unwrap_or(0)
        .saturating_sub(recs.iter().map(|r| r.arrival_ns).min().unwrap_or(0));
    let mut prev_slice = u64::MAX;
    for (rank, fid) in order {
        let f = &replayed[&fid];
        let frecs = &by_fn[&fid];
        let ts = slice::learn_slice(&f.run_segments_ns, cfg.train, &cfg.fine_tune, cpu_util_pct);
        let mut slice_ns = ts.min(u64::MAX as f64).round() as u64;
        if cfg.slice_cap_ns > 0 {
            slice_ns = slice_ns.min(cfg.slice_cap_ns);
        }
        let burst_ns = io::burst_bound_ns(frecs);
        if cfg.io.burst_slice && burst_ns > 0 {
            // Hold priority for one real burst, with headroom: a burst that
            // runs longer is not one the learner has seen. Not shrunk under
            // overload (a slice below the real burst demotes every
            // invocation mid-burst, below every boosted task: measured, that
            // left 9 ms functions waiting 850 ms) and not bound by the 200 ms
            // cap (that bounds ALPS' ts slices; a burst slice at the
            // priority of the task's remaining demand cannot delay any task
            // that needs less), and given also when the replay's segments are
            // unpredictable (ts_u = 0): the burst is measured, not predicted.
            slice_ns = (cfg.burst_headroom.max(0.0) * burst_ns as f64).round() as u64;
            if cfg.burst_slice_cap_ns > 0 {
                slice_ns = slice_ns.min(cfg.burst_slice_cap_ns);
            }
        }
        if cfg.monotone_slices {
            slice_ns = slice_ns.min(prev_slice);
            prev_slice = slice_ns;
        }
        let any_io = cfg.io != IoSwitches::none();
        let budget = if cfg.io.preempt_budget {
            let cost = io::mean_burst_ns(frecs);
            io::preempt_budget_per_s(
                io::aggregate_wakeup_rate_per_s(frecs, span_ns),
                cost,
                &cfg.budget,
            )
        } else {
            u32::MAX
        };
        let controls = IoControls {
            cpu_demand_ns: if any_io { io::cpu_demand_ns(frecs) } else { 0 },
            burst_ns: if cfg.io.burst_slice { burst_ns } else { 0 },
            wakeup_preempt_budget_per_s: budget,
            remaining_priority: cfg.io.remaining_priority,
        };
        policy.functions.insert(
            fid,
            FunctionPolicy {
                rank,
                slice_ns,
                io: controls,
            },
        );
    }
    policy
}
