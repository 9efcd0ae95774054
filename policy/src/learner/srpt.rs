//! Offline SRPT replay of a window of jobs on `cores` identical cores.
//!
//! Semantics (equal to ALPS' tick simulator whenever every input time is a
//! multiple of `tick_ns`; the implementation jumps from event to event):
//! - A job is a sequence of phases: `Cpu(ns)` needs a core, `Wait(ns)` is
//!   off-CPU time that consumes wall-clock time only (sleep, I/O).
//! - A job becomes runnable at its arrival (or when a wait ends). An idle
//!   core takes the runnable job with the smallest key at once (work
//!   conserving); a job whose CPU phase ends frees its core at once.
//! - Preemption is decided only at tick boundaries (multiples of
//!   `tick_ns`), and only against a running job that has run at least
//!   `min_quantum_ns` since it was last dispatched: the runnable job with the
//!   smallest key replaces the eligible running job with the largest key if
//!   its key is strictly smaller. No context-switch cost.
//! - Key: remaining CPU of the current burst (`SrptKey::RemainingBurst`; with
//!   one CPU phase per job this is classic SRPT), or remaining CPU over all
//!   the job's remaining bursts (`SrptKey::RemainingDemand`). Ties go to the
//!   earlier arrival, then the lower job index.
//!
//! Output per job: its waiting segments (runnable, not running), its run
//! segments (one per dispatch) and its completion time.

use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One phase of a replayed job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Needs this much CPU time.
    Cpu(u64),
    /// Off-CPU for this long (wall-clock time, no CPU).
    Wait(u64),
}

/// One job (invocation) to replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub arrival_ns: u64,
    pub function_id: u32,
    pub phases: Vec<Phase>,
}

impl Job {
    /// A job that is one continuous CPU run (baseline ALPS).
    pub fn cpu(arrival_ns: u64, function_id: u32, cpu_ns: u64) -> Self {
        Self {
            arrival_ns,
            function_id,
            phases: vec![Phase::Cpu(cpu_ns)],
        }
    }

    /// Total CPU demand over all phases.
    pub fn demand_ns(&self) -> u64 {
        self.phases
            .iter()
            .map(|p| match p {
                Phase::Cpu(c) => *c,
                Phase::Wait(_) => 0,
            })
            .sum()
    }
}

/// What the SRPT priority of a runnable job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum SrptKey {
    /// Remaining CPU of the current burst only.
    #[default]
    RemainingBurst,
    /// Remaining CPU of the current burst plus all later bursts.
    RemainingDemand,
}

/// Replay parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SrptParams {
    pub cores: u32,
    /// Preemption decisions happen only at multiples of this (ALPS: 1 ms).
    pub tick_ns: u64,
    /// A dispatched job is not preempted before it has run this long (ALPS: 8 ms).
    pub min_quantum_ns: u64,
    pub key: SrptKey,
}

impl Default for SrptParams {
    fn default() -> Self {
        Self {
            cores: 1,
            tick_ns: 1_000_000,
            min_quantum_ns: 8_000_000,
            key: SrptKey::RemainingBurst,
        }
    }
}

/// A half-open interval `[start_ns, end_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub start_ns: u64,
    pub end_ns: u64,
}

impl Segment {
    pub fn len_ns(&self) -> u64 {
        self.end_ns - self.start_ns
    }
}

/// The replayed schedule of one job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSchedule {
    /// Runnable but not running.
    pub waiting: Vec<Segment>,
    /// On a core, one segment per dispatch.
    pub running: Vec<Segment>,
    pub completion_ns: u64,
}

impl JobSchedule {
    pub fn wait_ns(&self) -> u64 {
        self.waiting.iter().map(Segment::len_ns).sum()
    }
    pub fn run_ns(&self) -> u64 {
        self.running.iter().map(Segment::len_ns).sum()
    }
}

/// Normalized phase list: alternating, all positive; a job is a slice of
/// the shared arena.
struct Norm {
    phases: Vec<Phase>,
    /// Per phase: CPU of all later phases of the same job.
    later_cpu: Vec<u64>,
    range: Vec<(usize, usize)>,
}

fn normalize(jobs: &[Job]) -> Norm {
    let total: usize = jobs.iter().map(|j| j.phases.len()).sum();
    let mut phases: Vec<Phase> = Vec::with_capacity(total);
    let mut range = Vec::with_capacity(jobs.len());
    for job in jobs {
        let start = phases.len();
        for p in &job.phases {
            let last = if phases.len() > start {
                phases.last_mut()
            } else {
                None
            };
            match (*p, last) {
                (Phase::Cpu(0), _) | (Phase::Wait(0), _) => {}
                (Phase::Cpu(c), Some(Phase::Cpu(prev))) => *prev = prev.saturating_add(c),
                (Phase::Wait(w), Some(Phase::Wait(prev))) => *prev = prev.saturating_add(w),
                (p, _) => phases.push(p),
            }
        }
        range.push((start, phases.len()));
    }
    let mut later_cpu = vec![0u64; phases.len()];
    for &(s, e) in &range {
        let mut acc = 0u64;
        for i in (s..e).rev() {
            later_cpu[i] = acc;
            if let Phase::Cpu(c) = phases[i] {
                acc = acc.saturating_add(c);
            }
        }
    }
    Norm {
        phases,
        later_cpu,
        range,
    }
}

#[derive(Clone, Copy)]
struct Running {
    job: usize,
    /// Dispatch time.
    since: u64,
    /// Remaining CPU of the burst at dispatch.
    rem0: u64,
}

struct Sim<'a> {
    jobs: &'a [Job],
    norm: Norm,
    params: SrptParams,
    tick: u64,
    /// Current phase index (into the arena) per job.
    cur: Vec<usize>,
    /// Remaining CPU of the current burst per job (valid while not running).
    rem: Vec<u64>,
    ready_since: Vec<u64>,
    /// (key, arrival, job)
    ready: BinaryHeap<Reverse<(u64, u64, usize)>>,
    sleeping: BinaryHeap<Reverse<(u64, usize)>>,
    cores: Vec<Option<Running>>,
    out: Vec<JobSchedule>,
}

impl Sim<'_> {
    fn key(&self, job: usize, rem: u64) -> u64 {
        match self.params.key {
            SrptKey::RemainingBurst => rem,
            SrptKey::RemainingDemand => rem.saturating_add(self.norm.later_cpu[self.cur[job]]),
        }
    }

    /// Job `j` is at the start of phase `cur[j]` (or past its end) at `t`.
    fn enter_phase(&mut self, j: usize, t: u64) {
        let (_, end) = self.norm.range[j];
        if self.cur[j] >= end {
            self.out[j].completion_ns = t;
            return;
        }
        match self.norm.phases[self.cur[j]] {
            Phase::Cpu(c) => {
                self.rem[j] = c;
                self.make_ready(j, t);
            }
            Phase::Wait(w) => self.sleeping.push(Reverse((t.saturating_add(w), j))),
        }
    }

    fn make_ready(&mut self, j: usize, t: u64) {
        self.ready_since[j] = t;
        let k = self.key(j, self.rem[j]);
        self.ready.push(Reverse((k, self.jobs[j].arrival_ns, j)));
    }

    fn dispatch(&mut self, core: usize, j: usize, t: u64) {
        if t > self.ready_since[j] {
            self.out[j].waiting.push(Segment {
                start_ns: self.ready_since[j],
                end_ns: t,
            });
        }
        self.cores[core] = Some(Running {
            job: j,
            since: t,
            rem0: self.rem[j],
        });
    }

    /// Take the job off `core` at `t`; returns it with its remaining burst.
    fn undispatch(&mut self, core: usize, t: u64) -> (usize, u64) {
        let r = self.cores[core].take().expect("running job");
        if t > r.since {
            self.out[r.job].running.push(Segment {
                start_ns: r.since,
                end_ns: t,
            });
        }
        (r.job, r.rem0 - (t - r.since))
    }

    fn fill_idle(&mut self, t: u64) {
        for core in 0..self.cores.len() {
            if self.cores[core].is_some() {
                continue;
            }
            match self.ready.pop() {
                Some(Reverse((_, _, j))) => self.dispatch(core, j, t),
                None => break,
            }
        }
    }

    fn running_key(&self, r: &Running, t: u64) -> u64 {
        self.key(r.job, r.rem0 - (t - r.since))
    }

    fn preempt_at_tick(&mut self, t: u64) {
        while let Some(&Reverse((kb, _, jb))) = self.ready.peek() {
            // Eligible victim with the largest (key, arrival, index).
            let mut victim: Option<(usize, (u64, u64, usize))> = None;
            for (c, slot) in self.cores.iter().enumerate() {
                if let Some(r) = slot {
                    if t - r.since < self.params.min_quantum_ns {
                        continue;
                    }
                    let k = (self.running_key(r, t), self.jobs[r.job].arrival_ns, r.job);
                    if victim.is_none_or(|(_, vk)| k > vk) {
                        victim = Some((c, k));
                    }
                }
            }
            let Some((core, (kv, _, _))) = victim else {
                break;
            };
            if kb >= kv {
                break;
            }
            self.ready.pop();
            let (j, rem) = self.undispatch(core, t);
            self.rem[j] = rem;
            self.make_ready(j, t);
            self.dispatch(core, jb, t);
        }
    }

    fn ceil_tick(&self, t: u64) -> u64 {
        t.div_ceil(self.tick).saturating_mul(self.tick)
    }

    /// Earliest time after `t` at which anything can happen.
    fn next_event(&self, t: u64, next_arrival: Option<u64>) -> Option<u64> {
        let mut next = next_arrival;
        let mut take = |x: u64| {
            if next.is_none_or(|n| x < n) {
                next = Some(x);
            }
        };
        if let Some(Reverse((w, _))) = self.sleeping.peek() {
            take(*w);
        }
        let best_ready = self.ready.peek().map(|Reverse((k, _, _))| *k);
        for r in self.cores.iter().flatten() {
            let done = r.since + r.rem0;
            take(done);
            if let Some(kb) = best_ready {
                let e =
                    self.ceil_tick((r.since.saturating_add(self.params.min_quantum_ns)).max(t + 1));
                if e < done && self.running_key(r, e) > kb {
                    take(e);
                }
            }
        }
        next
    }
}

/// Replay `jobs` under SRPT; one schedule per job, in input order.
pub fn simulate(jobs: &[Job], params: &SrptParams) -> Vec<JobSchedule> {
    let n = jobs.len();
    let norm = normalize(jobs);
    let cur: Vec<usize> = norm.range.iter().map(|r| r.0).collect();
    let mut sim = Sim {
        jobs,
        norm,
        params: *params,
        tick: params.tick_ns.max(1),
        cur,
        rem: vec![0; n],
        ready_since: vec![0; n],
        ready: BinaryHeap::new(),
        sleeping: BinaryHeap::new(),
        cores: vec![None; params.cores.max(1) as usize],
        out: vec![JobSchedule::default(); n],
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&j| (jobs[j].arrival_ns, j));
    let mut next_arr = 0usize;
    let mut t = match order.first() {
        Some(&j) => jobs[j].arrival_ns,
        None => return sim.out,
    };
    loop {
        // 1. Bursts that end now free their cores.
        for core in 0..sim.cores.len() {
            if let Some(r) = sim.cores[core] {
                if r.since + r.rem0 <= t {
                    let (j, _) = sim.undispatch(core, t);
                    sim.cur[j] += 1;
                    sim.enter_phase(j, t);
                }
            }
        }
        // 2. Wakeups and arrivals become runnable.
        while let Some(&Reverse((w, j))) = sim.sleeping.peek() {
            if w > t {
                break;
            }
            sim.sleeping.pop();
            sim.cur[j] += 1;
            sim.enter_phase(j, t);
        }
        while next_arr < n && jobs[order[next_arr]].arrival_ns <= t {
            let j = order[next_arr];
            next_arr += 1;
            sim.enter_phase(j, t);
        }
        // 3. Idle cores take work; 4. preemption at tick boundaries.
        sim.fill_idle(t);
        if t % sim.tick == 0 {
            sim.preempt_at_tick(t);
        }
        let arr = order.get(next_arr).map(|&j| jobs[j].arrival_ns);
        match sim.next_event(t, arr) {
            Some(nt) => t = nt,
            None => break,
        }
    }
    sim.out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn seg(a: u64, b: u64) -> Segment {
        Segment {
            start_ns: a * MS,
            end_ns: b * MS,
        }
    }

    fn params(cores: u32, minq_ms: u64, key: SrptKey) -> SrptParams {
        SrptParams {
            cores,
            tick_ns: MS,
            min_quantum_ns: minq_ms * MS,
            key,
        }
    }

    /// One core, 8 ms quantum. A=20 ms at 0, B=5 ms at 2, C=3 ms at 10.
    /// t=0 A runs. B arrives at 2 but A is protected until 8: at 8 A has 12
    /// left > 5, so B runs 8..13. C arrives at 10, but B is protected (and
    /// ends at 13); at 13 the core takes C (3 < A's 12): C 13..16, A 16..28.
    #[test]
    fn one_core_min_quantum_hand_schedule() {
        let jobs = vec![
            Job::cpu(0, 1, 20 * MS),
            Job::cpu(2 * MS, 2, 5 * MS),
            Job::cpu(10 * MS, 3, 3 * MS),
        ];
        let s = simulate(&jobs, &params(1, 8, SrptKey::RemainingBurst));
        assert_eq!(s[0].running, vec![seg(0, 8), seg(16, 28)]);
        assert_eq!(s[0].waiting, vec![seg(8, 16)]);
        assert_eq!(s[0].completion_ns, 28 * MS);
        assert_eq!(s[1].waiting, vec![seg(2, 8)]);
        assert_eq!(s[1].running, vec![seg(8, 13)]);
        assert_eq!(s[2].waiting, vec![seg(10, 13)]);
        assert_eq!(s[2].running, vec![seg(13, 16)]);
    }

    /// Without a quantum, SRPT preempts at the next tick: A=10 at 0, B=2 at
    /// 3 -> A 0..3, B 3..5, A 5..12.
    #[test]
    fn zero_quantum_preempts_at_arrival_tick() {
        let jobs = vec![Job::cpu(0, 1, 10 * MS), Job::cpu(3 * MS, 2, 2 * MS)];
        let s = simulate(&jobs, &params(1, 0, SrptKey::RemainingBurst));
        assert_eq!(s[0].running, vec![seg(0, 3), seg(5, 12)]);
        assert_eq!(s[1].running, vec![seg(3, 5)]);
        assert_eq!(s[1].wait_ns(), 0);
    }

    /// Mid-tick arrival: B arrives at 3.5 ms, preemption waits for tick 4.
    #[test]
    fn preemption_only_at_tick_boundaries() {
        let jobs = vec![
            Job::cpu(0, 1, 10 * MS),
            Job::cpu(3 * MS + MS / 2, 2, 2 * MS),
        ];
        let s = simulate(&jobs, &params(1, 0, SrptKey::RemainingBurst));
        assert_eq!(
            s[1].waiting,
            vec![Segment {
                start_ns: 3 * MS + MS / 2,
                end_ns: 4 * MS
            }]
        );
        assert_eq!(s[1].running, vec![seg(4, 6)]);
        assert_eq!(s[0].running, vec![seg(0, 4), seg(6, 12)]);
    }

    /// Two cores, all at 0: 4, 6, 3, 9 ms. SRPT: cores take 3 and 4; at 3
    /// the 6 starts, at 4 the 9 starts. Completions 3, 4, 9, 13.
    #[test]
    fn two_cores_hand_schedule() {
        let jobs: Vec<Job> = [4, 6, 3, 9]
            .iter()
            .enumerate()
            .map(|(i, c)| Job::cpu(0, i as u32, c * MS))
            .collect();
        let s = simulate(&jobs, &params(2, 8, SrptKey::RemainingBurst));
        let done: Vec<u64> = s.iter().map(|x| x.completion_ns / MS).collect();
        assert_eq!(done, vec![4, 9, 3, 13]);
        assert_eq!(s[1].waiting, vec![seg(0, 3)]);
        assert_eq!(s[3].waiting, vec![seg(0, 4)]);
    }

    /// Bursts and waits: X = cpu 2, wait 10, cpu 2; Y = cpu 8 at 0. Burst
    /// key: X (2) runs 0..2, Y 2..10, X wakes at 12, runs 12..14. Waits only
    /// count runnable time.
    #[test]
    fn waits_consume_wall_time_not_cpu() {
        let jobs = vec![
            Job {
                arrival_ns: 0,
                function_id: 1,
                phases: vec![Phase::Cpu(2 * MS), Phase::Wait(10 * MS), Phase::Cpu(2 * MS)],
            },
            Job::cpu(0, 2, 8 * MS),
        ];
        let s = simulate(&jobs, &params(1, 8, SrptKey::RemainingBurst));
        assert_eq!(s[0].running, vec![seg(0, 2), seg(12, 14)]);
        assert_eq!(s[0].wait_ns(), 0);
        assert_eq!(s[0].completion_ns, 14 * MS);
        assert_eq!(s[1].running, vec![seg(2, 10)]);
        assert_eq!(s[1].waiting, vec![seg(0, 2)]);
    }

    /// Burst key vs demand key: D = cpu 1, wait 1, cpu 9 (demand 10) and
    /// C = cpu 5, both at 0, no quantum. Burst key: D's 1 < 5, D runs 0..1,
    /// C 1..6 (D wakes at 2, key 9 > C's 4 left), D 6..15. Demand key: C
    /// (5) < D (10): C 0..5, D 5..6, sleeps, D 7..16.
    #[test]
    fn demand_key_orders_by_total_remaining_cpu() {
        let jobs = vec![
            Job {
                arrival_ns: 0,
                function_id: 1,
                phases: vec![Phase::Cpu(MS), Phase::Wait(MS), Phase::Cpu(9 * MS)],
            },
            Job::cpu(0, 2, 5 * MS),
        ];
        let s = simulate(&jobs, &params(1, 0, SrptKey::RemainingBurst));
        assert_eq!(s[0].running, vec![seg(0, 1), seg(6, 15)]);
        assert_eq!(s[1].running, vec![seg(1, 6)]);
        let s = simulate(&jobs, &params(1, 0, SrptKey::RemainingDemand));
        assert_eq!(s[1].running, vec![seg(0, 5)]);
        assert_eq!(s[0].running, vec![seg(5, 6), seg(7, 16)]);
        assert_eq!(s[0].waiting, vec![seg(0, 5)]);
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        assert!(simulate(&[], &SrptParams::default()).is_empty());
        let jobs = vec![
            Job::cpu(5, 1, 0),
            Job {
                arrival_ns: 7,
                function_id: 2,
                phases: vec![Phase::Wait(3), Phase::Cpu(0), Phase::Wait(0)],
            },
        ];
        let s = simulate(
            &jobs,
            &SrptParams {
                cores: 0,
                tick_ns: 0,
                min_quantum_ns: 0,
                key: SrptKey::RemainingDemand,
            },
        );
        assert_eq!(s[0].completion_ns, 5);
        assert_eq!(s[1].completion_ns, 10);
        assert!(s[1].running.is_empty());
    }
}
