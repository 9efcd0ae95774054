//! The event loop: per-core state, per-task state, a binary-heap event
//! queue, and the accounting that turns a simulated schedule into `Record`s.

use super::config::SimConfig;
use super::job::{SimJob, SimPhase, WaitReason};
use crate::policy::Policy;
use alps_probes::record::{Account, Record};
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Index of a task (a job, in arrival order) inside one run.
pub type TaskId = u32;

/// Why a task is (re)entering a run queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueue {
    /// A new invocation (fork).
    Arrival,
    /// Back from an off-CPU wait.
    Wakeup,
    /// Taken off `core` while still runnable (preemption or slice expiry).
    Preempted { core: usize },
}

/// A scheduling policy. The engine owns tasks and cores and keeps their
/// CPU counters exact (call [`World::update_core`] before reading a running
/// task's counters); the policy owns its run queues.
///
/// Protocol: a runnable task is `enqueue`d; the engine then dispatches on
/// the core the policy returned (or any idle core for a global queue) if it
/// is idle, or asks `check_preempt` which busy core, if any, to preempt. A
/// preempted task is `enqueue`d again with [`Enqueue::Preempted`] before the
/// core `pick_next`s. A running task is checked again after `budget` more
/// ns of CPU (`on_tick` then says preempt or continue), and leaves through
/// `on_block` or `on_exit`.
pub trait SimScheduler {
    /// Put a runnable task in a queue; returns the core whose queue holds it
    /// (per-core policies) or `None` (global queue).
    fn enqueue(&mut self, w: &mut World, t: TaskId, why: Enqueue) -> Option<usize>;
    /// Remove and return the task `core` runs next (may pull from other cores).
    fn pick_next(&mut self, w: &mut World, core: usize) -> Option<TaskId>;
    /// After `t` was enqueued and no idle core could take it: the busy core
    /// to preempt, if any (`hint` is what `enqueue` returned).
    fn check_preempt(&mut self, w: &mut World, t: TaskId, hint: Option<usize>) -> Option<usize>;
    /// CPU time `t` (just picked on `core`) may run before `on_tick`;
    /// `u64::MAX` = until it blocks or exits.
    fn budget(&mut self, w: &World, core: usize, t: TaskId) -> u64;
    /// The budget ran out: `None` = preempt now, `Some(ns)` = check again
    /// after `ns` (> 0) more CPU time.
    fn on_tick(&mut self, w: &mut World, core: usize, t: TaskId) -> Option<u64>;
    /// `t` left `core` to wait off-CPU.
    fn on_block(&mut self, _w: &mut World, _core: usize, _t: TaskId) {}
    /// `t` finished on `core` (not called for jobs that never ran).
    fn on_exit(&mut self, _w: &mut World, _core: usize, _t: TaskId) {}
    /// Whether budget checks land on scheduler-tick boundaries.
    fn tick_aligned(&self) -> bool {
        true
    }
    /// Period of `on_policy_update` on the simulated clock (ALPS).
    fn update_period_ns(&self) -> Option<u64> {
        None
    }
    /// A job finished: its record (the learner's input).
    fn on_job_done(&mut self, _rec: &Record) {}
    /// Periodic relearning, with the CPU utilization (percent) of the
    /// period just ended.
    fn on_policy_update(&mut self, _w: &mut World, _cpu_util_pct: f64) {}
    /// The policy in force at the end of the run (ALPS).
    fn final_policy(&self) -> Option<Policy> {
        None
    }
}

/// Engine-side state of one task.
#[derive(Debug, Clone, Default)]
pub struct TaskState {
    pub function_id: u32,
    /// Index into the flat phase array of the next phase to start.
    next_phase: u32,
    end_phase: u32,
    /// CPU left in the current burst.
    pub burst_left_ns: u64,
    /// CPU left in the whole job (clairvoyant SRPT reads this).
    pub remaining_cpu_ns: u64,
    /// The job's whole CPU demand (what it has used = this - remaining).
    pub cpu_ns: u64,
    /// CPU used since it was last picked.
    pub ran_since_pick_ns: u64,
    /// Core it last ran on (`usize::MAX` = never ran).
    pub last_core: usize,
    /// Core it is running on.
    pub running_on: Option<usize>,
    runnable_since: u64,
    wait_after_preempt: bool,
    dispatched_at: u64,
    acc: Acc,
    arrival_ns: u64,
}

/// Engine-side state of one core.
#[derive(Debug, Clone, Default)]
pub struct CoreState {
    pub current: Option<TaskId>,
    /// The task whose context the core holds (no switch cost to resume it).
    last_task: Option<TaskId>,
    /// When the current task starts making progress (after the switch).
    progress_start: u64,
    last_update: u64,
    gen: u32,
    pub busy_ns: u64,
}

#[derive(Debug, Clone, Copy)]
struct Phase {
    ns: u64,
    /// 0 = CPU, 1 = block I/O, 2 = futex, 3 = sleep.
    kind: u8,
}

/// Everything a policy may look at.
pub struct World {
    pub now: u64,
    pub cfg: SimConfig,
    pub tasks: Vec<TaskState>,
    pub cores: Vec<CoreState>,
    idle_mask: Vec<u64>,
    phases: Vec<Phase>,
}

impl World {
    /// Bring the running task of `core` up to `now` (CPU counters).
    #[inline]
    pub fn update_core(&mut self, core: usize) {
        let now = self.now;
        let c = &mut self.cores[core];
        let Some(t) = c.current else {
            c.last_update = now;
            return;
        };
        let from = c.last_update.max(c.progress_start);
        c.last_update = now;
        if now <= from {
            return;
        }
        let task = &mut self.tasks[t as usize];
        let d = (now - from).min(task.burst_left_ns);
        c.busy_ns += d;
        task.burst_left_ns -= d;
        task.remaining_cpu_ns -= d;
        task.ran_since_pick_ns += d;
        task.acc.on_cpu_ns += d;
    }

    /// CPU `t` has used since it was picked, as of `now`, without updating
    /// anything (cheap for scanning many cores).
    #[inline]
    pub fn ran_now(&self, t: TaskId) -> u64 {
        let task = &self.tasks[t as usize];
        let Some(core) = task.running_on else {
            return task.ran_since_pick_ns;
        };
        let c = &self.cores[core];
        let from = c.last_update.max(c.progress_start);
        task.ran_since_pick_ns + self.now.saturating_sub(from).min(task.burst_left_ns)
    }

    pub fn is_idle(&self, core: usize) -> bool {
        self.idle_mask[core / 64] & (1 << (core % 64)) != 0
    }

    /// The lowest-numbered idle core.
    #[inline]
    pub fn idle_core(&self) -> Option<usize> {
        for (i, &m) in self.idle_mask.iter().enumerate() {
            if m != 0 {
                return Some(i * 64 + m.trailing_zeros() as usize);
            }
        }
        None
    }

    fn set_idle(&mut self, core: usize, idle: bool) {
        let bit = 1u64 << (core % 64);
        if idle {
            self.idle_mask[core / 64] |= bit;
        } else {
            self.idle_mask[core / 64] &= !bit;
        }
    }

    /// What dispatching `t` on `core` now would cost in switching.
    pub fn switch_cost(&self, core: usize, t: TaskId) -> u64 {
        if self.cores[core].last_task == Some(t) {
            0
        } else {
            self.cfg.ctx_switch_ns
        }
    }

    pub fn running(&self, core: usize) -> Option<TaskId> {
        self.cores[core].current
    }

    pub fn task(&self, t: TaskId) -> &TaskState {
        &self.tasks[t as usize]
    }

    pub fn ncores(&self) -> usize {
        self.cores.len()
    }
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    /// Events processed (arrivals, wakeups, burst ends, budget checks,
    /// policy updates; superseded events are not counted).
    pub events: u64,
    /// Times a core switched to a different task.
    pub context_switches: u64,
    /// Involuntary switches (a running task replaced by another).
    pub preemptions: u64,
    pub wakeups: u64,
    /// First arrival to last exit.
    pub makespan_ns: u64,
    /// Per core: time running tasks plus context switches.
    pub busy_ns: Vec<u64>,
    /// ALPS: policies learned.
    pub policy_updates: u64,
}

impl SimStats {
    /// Busy time over `cores x makespan`.
    pub fn utilization(&self) -> f64 {
        if self.makespan_ns == 0 || self.busy_ns.is_empty() {
            return 0.0;
        }
        self.busy_ns.iter().sum::<u64>() as f64
            / (self.makespan_ns as f64 * self.busy_ns.len() as f64)
    }
}

/// What a run produces.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimResult {
    /// One record per job, in the order of the input jobs.
    pub records: Vec<Record>,
    pub stats: SimStats,
    /// ALPS: the policy in force at the end.
    pub final_policy: Option<Policy>,
}

const EV_CORE: u64 = 0;
const EV_WAKE: u64 = 1;
const EV_UPDATE: u64 = 2;

#[inline]
fn pack(kind: u64, idx: u32, gen: u32) -> u64 {
    (kind << 62) | ((idx as u64) << 32) | gen as u64
}

struct Engine<'a, S: SimScheduler> {
    w: World,
    s: &'a mut S,
    /// (time << 64 | payload): simultaneous events run in payload order
    /// (core events, then wakeups, then policy updates; by index), which
    /// is deterministic.
    heap: BinaryHeap<Reverse<u128>>,
    stats: SimStats,
    records: Vec<Option<Record>>,
    /// Task index -> input job index.
    order: Vec<usize>,
    jobs: &'a [SimJob],
    done: usize,
    last_end: u64,
}

/// Simulate `jobs` under the policy `sched`.
pub fn run<S: SimScheduler>(jobs: &[SimJob], cfg: &SimConfig, sched: &mut S) -> SimResult {
    assert!(cfg.cores > 0, "at least one core");
    assert!(jobs.len() < (1 << 30), "too many jobs");
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| jobs[i].arrival_ns);
    let mut phases = Vec::with_capacity(jobs.iter().map(|j| j.phases.len()).sum());
    let mut tasks = Vec::with_capacity(jobs.len());
    for &i in &order {
        let j = &jobs[i];
        let start = phases.len() as u32;
        let mut bursts = 0u64;
        let mut max_burst = 0u64;
        for p in &j.phases {
            let (ns, kind) = match *p {
                SimPhase::Cpu(ns) => (ns, 0u8),
                SimPhase::Wait { ns, reason } => (
                    ns,
                    match reason {
                        WaitReason::BlockIo => 1,
                        WaitReason::Futex => 2,
                        WaitReason::Sleep => 3,
                    },
                ),
            };
            if ns == 0 {
                continue;
            }
            // Merge consecutive CPU phases: one burst.
            if kind == 0 {
                if phases.len() as u32 > start {
                    let last: &mut Phase = phases.last_mut().expect("non-empty");
                    if last.kind == 0 {
                        last.ns += ns;
                        max_burst = max_burst.max(last.ns);
                        continue;
                    }
                }
                bursts += 1;
                max_burst = max_burst.max(ns);
            }
            phases.push(Phase { ns, kind });
        }
        let cpu = j.cpu_ns();
        tasks.push(TaskState {
            function_id: j.function_id,
            next_phase: start,
            end_phase: phases.len() as u32,
            remaining_cpu_ns: cpu,
            cpu_ns: cpu,
            last_core: usize::MAX,
            arrival_ns: j.arrival_ns,
            acc: Acc {
                bursts,
                max_burst_ns: max_burst,
                ..Acc::default()
            },
            ..TaskState::default()
        });
    }
    let words = cfg.cores.div_ceil(64);
    let mut idle_mask = vec![0u64; words];
    for c in 0..cfg.cores {
        idle_mask[c / 64] |= 1 << (c % 64);
    }
    let w = World {
        now: 0,
        cfg: cfg.clone(),
        tasks,
        cores: vec![CoreState::default(); cfg.cores],
        idle_mask,
        phases,
    };
    let mut e = Engine {
        w,
        s: sched,
        heap: BinaryHeap::with_capacity(cfg.cores * 2 + 64),
        stats: SimStats::default(),
        records: vec![None; jobs.len()],
        order,
        jobs,
        done: 0,
        last_end: 0,
    };
    e.run_loop();
    let first = e.w.tasks.first().map_or(0, |t| t.arrival_ns);
    e.stats.makespan_ns = e.last_end.saturating_sub(first);
    e.stats.busy_ns = e.w.cores.iter().map(|c| c.busy_ns).collect();
    let final_policy = e.s.final_policy();
    SimResult {
        records: e
            .records
            .into_iter()
            .map(|r| r.expect("every job finishes"))
            .collect(),
        stats: e.stats,
        final_policy,
    }
}

impl<S: SimScheduler> Engine<'_, S> {
    #[inline]
    fn push(&mut self, t: u64, payload: u64) {
        self.heap
            .push(Reverse(((t as u128) << 64) | payload as u128));
    }

    fn run_loop(&mut self) {
        let n = self.w.tasks.len();
        let mut next_arrival = 0usize;
        let period = self.s.update_period_ns();
        let mut busy_at_update = 0u64;
        if let (Some(p), Some(first)) = (period, self.w.tasks.first()) {
            let at = first.arrival_ns.saturating_add(p);
            self.push(at, pack(EV_UPDATE, 0, 0));
        }
        while self.done < n {
            let heap_t = self.heap.peek().map(|Reverse(k)| (*k >> 64) as u64);
            let arr_t = (next_arrival < n).then(|| self.w.tasks[next_arrival].arrival_ns);
            // Heap events first on ties: exits free cores before arrivals.
            let take_arrival = match (arr_t, heap_t) {
                (Some(a), Some(h)) => a < h,
                (Some(_), None) => true,
                _ => false,
            };
            if take_arrival {
                let t = next_arrival as TaskId;
                next_arrival += 1;
                self.w.now = self.w.tasks[t as usize].arrival_ns;
                self.stats.events += 1;
                self.w.tasks[t as usize].runnable_since = self.w.now;
                self.advance(t, Enqueue::Arrival);
                continue;
            }
            let Some(Reverse(key)) = self.heap.pop() else {
                unreachable!("jobs left but nothing scheduled")
            };
            let time = (key >> 64) as u64;
            let payload = key as u64;
            let kind = payload >> 62;
            let idx = ((payload >> 32) & 0x3fff_ffff) as u32;
            let gen = payload as u32;
            match kind {
                EV_CORE => {
                    let core = idx as usize;
                    if self.w.cores[core].gen != gen {
                        continue;
                    }
                    self.w.now = time;
                    self.stats.events += 1;
                    self.core_event(core);
                }
                EV_WAKE => {
                    self.w.now = time;
                    self.stats.events += 1;
                    self.advance(idx, Enqueue::Wakeup);
                }
                _ => {
                    self.w.now = time;
                    self.stats.events += 1;
                    let p = period.expect("update events need a period");
                    for c in 0..self.w.ncores() {
                        self.w.update_core(c);
                    }
                    let busy: u64 = self.w.cores.iter().map(|c| c.busy_ns).sum();
                    let util = (busy - busy_at_update) as f64 * 100.0
                        / (p as f64 * self.w.ncores() as f64);
                    busy_at_update = busy;
                    self.s.on_policy_update(&mut self.w, util.min(100.0));
                    self.stats.policy_updates += 1;
                    self.push(time.saturating_add(p), pack(EV_UPDATE, 0, 0));
                    // Running tasks' budgets may have changed.
                    for c in 0..self.w.ncores() {
                        if let Some(t) = self.w.cores[c].current {
                            let b = self.s.budget(&self.w, c, t);
                            self.schedule_core(c, b);
                        }
                    }
                }
            }
        }
    }

    /// Start the task's next phase(s) at `now`: run, wait, or exit.
    fn advance(&mut self, t: TaskId, why: Enqueue) {
        let now = self.w.now;
        let ti = t as usize;
        let task = &mut self.w.tasks[ti];
        if task.next_phase == task.end_phase {
            self.finish(t, None);
            return;
        }
        let p = self.w.phases[task.next_phase as usize];
        task.next_phase += 1;
        if p.kind == 0 {
            task.burst_left_ns = p.ns;
            task.runnable_since = now;
            task.wait_after_preempt = false;
            if why == Enqueue::Wakeup {
                task.acc.wakeups += 1;
                self.stats.wakeups += 1;
            }
            self.make_runnable(t, why);
        } else {
            match p.kind {
                1 => task.acc.block_io_ns += p.ns,
                2 => task.acc.futex_ns += p.ns,
                _ => task.acc.sleep_ns += p.ns,
            }
            self.push(now + p.ns, pack(EV_WAKE, t, 0));
        }
    }

    fn make_runnable(&mut self, t: TaskId, why: Enqueue) {
        let hint = self.s.enqueue(&mut self.w, t, why);
        let target = match hint {
            Some(c) if self.w.is_idle(c) => Some(c),
            Some(_) => None,
            None => self.w.idle_core(),
        };
        if let Some(c) = target {
            self.dispatch(c);
            return;
        }
        if let Some(c) = self.s.check_preempt(&mut self.w, t, hint) {
            self.preempt(c);
        }
    }

    fn preempt(&mut self, core: usize) {
        self.w.update_core(core);
        let Some(old) = self.w.cores[core].current else {
            self.dispatch(core);
            return;
        };
        self.stop_running(core, old);
        let task = &mut self.w.tasks[old as usize];
        task.runnable_since = self.w.now;
        task.wait_after_preempt = true;
        self.s
            .enqueue(&mut self.w, old, Enqueue::Preempted { core });
        self.dispatch(core);
        if self.w.cores[core].current != Some(old) {
            self.w.tasks[old as usize].acc.involuntary_switches += 1;
            self.stats.preemptions += 1;
        }
    }

    /// Bookkeeping when `t` leaves `core` (any reason): the part of the
    /// context switch it waited through counts as run-queue wait.
    fn stop_running(&mut self, core: usize, t: TaskId) {
        let now = self.w.now;
        let c = &mut self.w.cores[core];
        let switch_wait = c.progress_start.min(now) - self.w.tasks[t as usize].dispatched_at;
        c.current = None;
        c.gen = c.gen.wrapping_add(1);
        let task = &mut self.w.tasks[t as usize];
        task.running_on = None;
        add_runq(&mut task.acc, switch_wait, task.wait_after_preempt);
    }

    fn dispatch(&mut self, core: usize) {
        let now = self.w.now;
        let Some(t) = self.s.pick_next(&mut self.w, core) else {
            self.w.set_idle(core, true);
            let c = &mut self.w.cores[core];
            c.gen = c.gen.wrapping_add(1);
            return;
        };
        self.w.set_idle(core, false);
        let cs = if self.w.cores[core].last_task == Some(t) {
            0
        } else {
            self.stats.context_switches += 1;
            self.w.cores[core].busy_ns += self.w.cfg.ctx_switch_ns;
            self.w.cfg.ctx_switch_ns
        };
        let c = &mut self.w.cores[core];
        c.current = Some(t);
        c.last_task = Some(t);
        c.progress_start = now + cs;
        c.last_update = now;
        let task = &mut self.w.tasks[t as usize];
        debug_assert!(task.running_on.is_none());
        add_runq(
            &mut task.acc,
            now - task.runnable_since,
            task.wait_after_preempt,
        );
        task.dispatched_at = now;
        task.ran_since_pick_ns = 0;
        task.running_on = Some(core);
        task.last_core = core;
        let b = self.s.budget(&self.w, core, t);
        self.schedule_core(core, b);
    }

    /// (Re)schedule the next event of `core`: its burst end or, earlier, the
    /// budget check after `budget` more CPU ns.
    fn schedule_core(&mut self, core: usize, budget: u64) {
        let now = self.w.now;
        let c = &self.w.cores[core];
        let t = c.current.expect("running task");
        let start = c.progress_start.max(now);
        let end = start + self.w.tasks[t as usize].burst_left_ns;
        let mut at = start.saturating_add(budget);
        let tick = self.w.cfg.tick_ns;
        if at < end && tick > 0 && self.s.tick_aligned() {
            at = at.div_ceil(tick).saturating_mul(tick);
        }
        let when = at.min(end);
        let c = &mut self.w.cores[core];
        c.gen = c.gen.wrapping_add(1);
        let gen = c.gen;
        self.push(when, pack(EV_CORE, core as u32, gen));
    }

    fn core_event(&mut self, core: usize) {
        self.w.update_core(core);
        let t = self.w.cores[core]
            .current
            .expect("core event without a task");
        if self.w.tasks[t as usize].burst_left_ns == 0 {
            // The policy sees the task still running (its counters final).
            let task = &self.w.tasks[t as usize];
            let exits = task.next_phase == task.end_phase;
            if exits {
                self.s.on_exit(&mut self.w, core, t);
            } else {
                self.s.on_block(&mut self.w, core, t);
            }
            self.stop_running(core, t);
            if exits {
                self.finish(t, Some(core));
            } else {
                self.w.tasks[t as usize].acc.voluntary_switches += 1;
                self.advance(t, Enqueue::Wakeup);
            }
            self.dispatch(core);
        } else {
            match self.s.on_tick(&mut self.w, core, t) {
                None => self.preempt(core),
                Some(b) => self.schedule_core(core, b.max(1)),
            }
        }
    }

    fn finish(&mut self, t: TaskId, _core: Option<usize>) {
        let now = self.w.now;
        let task = &mut self.w.tasks[t as usize];
        let a = &task.acc;
        let ji = self.order[t as usize];
        let job = &self.jobs[ji];
        let wall_ns = now - task.arrival_ns;
        let acc = Account {
            function_id: job.function_id,
            invocation_id: job.id,
            wall_ns,
            on_cpu_ns: a.on_cpu_ns,
            runq_wait_ns: a.runq_wait_ns,
            runq_wait_wakeup_ns: a.runq_wait_wakeup_ns,
            runq_wait_preempt_ns: a.runq_wait_preempt_ns,
            block_io_ns: a.block_io_ns,
            futex_ns: a.futex_ns,
            sleep_ns: a.sleep_ns,
            bursts: a.bursts,
            mean_burst_ns: a.on_cpu_ns.checked_div(a.bursts).unwrap_or(0),
            max_burst_ns: a.max_burst_ns,
            wakeups: a.wakeups as u64,
            voluntary_switches: a.voluntary_switches as u64,
            involuntary_switches: a.involuntary_switches as u64,
            threads: 1,
            lifetime_ns: wall_ns,
            ..Account::default()
        };
        let rec = Record {
            class: job.class.clone(),
            kind: "sim".to_string(),
            arrival_ns: job.arrival_ns,
            start_ns: job.arrival_ns,
            end_ns: now,
            account: acc,
        };
        self.s.on_job_done(&rec);
        self.records[ji] = Some(rec);
        self.done += 1;
        self.last_end = self.last_end.max(now);
    }
}

/// The per-task counters that become the record's `Account`.
#[derive(Debug, Clone, Default)]
struct Acc {
    on_cpu_ns: u64,
    runq_wait_ns: u64,
    runq_wait_wakeup_ns: u64,
    runq_wait_preempt_ns: u64,
    block_io_ns: u64,
    futex_ns: u64,
    sleep_ns: u64,
    bursts: u64,
    max_burst_ns: u64,
    wakeups: u32,
    voluntary_switches: u32,
    involuntary_switches: u32,
}

#[inline]
fn add_runq(acc: &mut Acc, ns: u64, after_preempt: bool) {
    acc.runq_wait_ns += ns;
    if after_preempt {
        acc.runq_wait_preempt_ns += ns;
    } else {
        acc.runq_wait_wakeup_ns += ns;
    }
}
