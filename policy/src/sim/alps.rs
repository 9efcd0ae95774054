//! ALPS (ATC'24) and ALPS-IO on the simulated clock, driven by the very same
//! learner code (`crate::learner`).
//!
//! Kernel side, as the ALPS patches on CFS: one fair run queue (the global
//! queue of `fair.rs`) ordered by the function's rank first (1 = highest; a
//! function without an entry has rank 0, i.e. highest, as in the kernel's
//! `entity_before` hook), then by vruntime. A running task keeps its CPU
//! until it has used its function's `slice_ns` since it was picked (slice
//! hook); after that (and at least every base slice) the tick re-picks in
//! (rank, vruntime) order. Blocking always takes the normal path. Wakeup
//! preemption stays plain vruntime (the woken task's vruntime is more than
//! the wakeup granularity below the running one's, and the running one has
//! used its slice).
//!
//! ALPS-IO additionally lets a woken task preempt a running task of a lower
//! rank, and rations every wakeup preemption by its function's
//! `wakeup_preempt_budget_per_s` (per simulated second; functions without
//! an entry are not limited). With `remaining_priority` its "rank" is the
//! task's estimated remaining CPU demand (learned demand minus CPU used, in
//! microseconds), so the queue runs in shortest-estimated-remaining order
//! as the stock-strict backend enforces it (there quantized to the FIFO
//! band's levels, with ties inside a function broken by CPU used). Slices
//! protect a task from preemption here, as in the kernel hooks, so they are
//! capped at `SLICE_CAP_NS` as in the scx backend.
//!
//! Frontend: every finished job's `Record` is observed; every
//! `alps_update_ns` of simulated time the learner relearns with the CPU
//! utilization of the period just ended. The first period runs with the
//! empty policy (plain fair).

use super::engine::{Enqueue, SimScheduler, TaskId, World};
use super::fair::FairQueue;
use crate::learner::{Learner, LearnerConfig};
use crate::policy::{Policy, Variant};
use alps_probes::record::Record;
use std::collections::HashMap;

pub struct Alps {
    learner: Learner,
    policy: Policy,
    io: bool,
    fair: FairQueue,
    base_slice_ns: u64,
    wakeup_gran_ns: u64,
    update_ns: u64,
    /// Function -> (simulated second, wakeup preemptions used in it).
    budget_used: HashMap<u32, (u64, u32)>,
    /// Dense copy of the policy: function id -> entry; functions without an
    /// entry (or ids beyond `DENSE_MAX`) read the default (rank 0, slice 0).
    dense: Vec<Entry>,
}

/// What the simulated kernel reads of a function's policy.
#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    rank: u32,
    slice_ns: u64,
    /// Learned demand when ordering by remaining demand, else 0.
    demand_ns: u64,
}

impl Entry {
    fn of(p: &crate::policy::FunctionPolicy) -> Self {
        Self {
            rank: p.rank,
            slice_ns: p.slice_ns.min(SLICE_CAP_NS),
            demand_ns: p.io.remaining_demand_ns(0).unwrap_or(0),
        }
    }
}

const DENSE_MAX: u32 = 1 << 20;

/// Longest protection a slice gives (as in the scx backend).
const SLICE_CAP_NS: u64 = 200_000_000;

impl Alps {
    pub fn new(
        variant: Variant,
        learner_cfg: Option<LearnerConfig>,
        cores: usize,
        tasks: usize,
        base_slice_ns: u64,
        wakeup_gran_ns: u64,
        update_ns: u64,
    ) -> Self {
        let cfg = learner_cfg.unwrap_or_else(|| {
            let base = match variant {
                Variant::Alps => LearnerConfig::alps(),
                Variant::AlpsIo => LearnerConfig::alps_io(),
            };
            LearnerConfig {
                cores: cores as u32,
                ..base
            }
        });
        Self {
            learner: Learner::new(cfg),
            policy: Policy {
                variant,
                ..Policy::default()
            },
            io: variant == Variant::AlpsIo,
            fair: FairQueue::new(tasks),
            base_slice_ns: base_slice_ns.max(1),
            wakeup_gran_ns,
            update_ns: update_ns.max(1),
            budget_used: HashMap::new(),
            dense: Vec::new(),
        }
    }

    /// Install a policy directly (tests, or replaying a learned policy).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
        let dense_len = self
            .policy
            .functions
            .keys()
            .copied()
            .filter(|&f| f < DENSE_MAX)
            .max()
            .map_or(0, |f| f as usize + 1);
        self.dense.clear();
        self.dense.resize(dense_len, Entry::default());
        for (&f, p) in &self.policy.functions {
            if f < DENSE_MAX {
                self.dense[f as usize] = Entry::of(p);
            }
        }
    }

    #[inline]
    fn lookup(&self, function: u32) -> Entry {
        if function < DENSE_MAX {
            self.dense
                .get(function as usize)
                .copied()
                .unwrap_or_default()
        } else {
            self.policy
                .get(function)
                .map_or(Entry::default(), Entry::of)
        }
    }

    /// The ordering key (lower first): the function's rank, or with
    /// remaining_priority 1 + the estimated remaining demand in us (for a
    /// function without an entry in ALPS-IO, 1 + the CPU it has used).
    fn rank(&self, w: &World, t: TaskId) -> u32 {
        let task = w.task(t);
        let e = self.lookup(task.function_id);
        // ALPS-IO orders a function without an entry by attained service,
        // as the stock-strict backend does.
        let las = self.io && e.rank == 0;
        if e.demand_ns == 0 && !las {
            return e.rank;
        }
        let in_progress = w.ran_now(t).saturating_sub(task.ran_since_pick_ns);
        let used = (task.cpu_ns - task.remaining_cpu_ns) + in_progress;
        let rem = if las {
            used
        } else {
            crate::policy::remaining_estimate_ns(e.demand_ns, used)
        };
        (1 + rem / 1_000).min(u64::from(u32::MAX)) as u32
    }

    fn slice(&self, w: &World, t: TaskId) -> u64 {
        self.lookup(w.task(t).function_id).slice_ns
    }

    fn rekey(&mut self, w: &World) {
        for t in self.fair.queued_tasks() {
            self.fair.remove(t);
            let r = self.rank(w, t);
            self.fair.push(t, r);
        }
    }

    /// ALPS-IO: may `function` preempt now? (Consumes one if so.)
    fn take_budget(&mut self, now: u64, function: u32) -> bool {
        if !self.io {
            return true;
        }
        let Some(limit) = self
            .policy
            .get(function)
            .map(|p| p.io.wakeup_preempt_budget_per_s)
        else {
            return true;
        };
        if limit == u32::MAX {
            return true;
        }
        let sec = now / 1_000_000_000;
        let e = self.budget_used.entry(function).or_insert((sec, 0));
        if e.0 != sec {
            *e = (sec, 0);
        }
        if e.1 < limit {
            e.1 += 1;
            true
        } else {
            false
        }
    }
}

impl SimScheduler for Alps {
    fn enqueue(&mut self, w: &mut World, t: TaskId, why: Enqueue) -> Option<usize> {
        match why {
            Enqueue::Arrival => self.fair.place_new(t),
            Enqueue::Wakeup => self.fair.place_wakeup(t, self.base_slice_ns),
            Enqueue::Preempted { .. } => self.fair.charge(w, t),
        }
        let r = self.rank(w, t);
        self.fair.push(t, r);
        None
    }

    fn pick_next(&mut self, _w: &mut World, _core: usize) -> Option<TaskId> {
        self.fair.pop()
    }

    fn check_preempt(&mut self, w: &mut World, t: TaskId, _h: Option<usize>) -> Option<usize> {
        let tr = self.rank(w, t);
        let tv = self.fair.vruntime[t as usize];
        // The running task that loses most: the worst (rank, vruntime).
        let mut victim: Option<((u32, i64), usize)> = None;
        for c in 0..w.ncores() {
            let Some(r) = w.running(c) else { continue };
            let rr = self.rank(w, r);
            let rslice = self.slice(w, r);
            let ran = w.ran_now(r);
            let rv = self.fair.vruntime[r as usize] + ran as i64;
            let slice_used = ran >= rslice;
            let by_vruntime = slice_used && rv > tv + self.wakeup_gran_ns as i64;
            let by_rank = self.io && tr < rr;
            if (by_vruntime || by_rank) && !matches!(victim, Some((k, _)) if (rr, rv) <= k) {
                victim = Some(((rr, rv), c));
            }
        }
        let (_, c) = victim?;
        self.take_budget(w.now, w.task(t).function_id).then_some(c)
    }

    fn budget(&mut self, w: &World, _core: usize, t: TaskId) -> u64 {
        let keep = self.slice(w, t).max(self.base_slice_ns);
        keep.saturating_sub(w.task(t).ran_since_pick_ns)
    }

    fn on_tick(&mut self, w: &mut World, _core: usize, t: TaskId) -> Option<u64> {
        let ran = w.task(t).ran_since_pick_ns;
        let keep = self.slice(w, t).max(self.base_slice_ns);
        if ran < keep {
            return Some(keep - ran);
        }
        let mine = (self.rank(w, t), self.fair.vruntime_now(w, t));
        match self.fair.head_key() {
            Some(head) if head < mine => None,
            _ => Some(self.base_slice_ns),
        }
    }

    fn on_block(&mut self, w: &mut World, _core: usize, t: TaskId) {
        self.fair.charge(w, t);
    }

    fn update_period_ns(&self) -> Option<u64> {
        Some(self.update_ns)
    }

    fn on_job_done(&mut self, rec: &Record) {
        self.learner.observe(rec.clone());
    }

    fn on_policy_update(&mut self, w: &mut World, cpu_util_pct: f64) {
        let p = self.learner.learn(w.now, cpu_util_pct);
        self.set_policy(p);
        self.rekey(w);
    }

    fn final_policy(&self) -> Option<Policy> {
        Some(self.policy.clone())
    }
}
