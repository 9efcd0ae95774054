//! EEVDF-like fair sharing (Linux 6.6+), equal weights, per-core run queues.
//!
//! - Virtual runtime `v` advances with CPU time (all weights equal).
//! - Per core, `V` = mean `v` of the queued tasks and the running one; a
//!   task is eligible when its lag `V - v >= 0`.
//! - Virtual deadline `vd = v + base_slice` when placed and each time the
//!   running task's `v` reaches its deadline (`vd = v + slice`).
//! - Pick: the eligible task with the earliest deadline.
//! - The running task keeps the CPU until its deadline (RUN_TO_PARITY);
//!   the deadline is noticed on the next tick.
//! - Wakeup preemption (PREEMPT_SHORT-like): a woken or new task preempts
//!   the running one when it is eligible and its deadline is earlier.
//! - Lag is kept across sleeps (clamped to +-2 slices) and across
//!   migrations: a woken task is placed at `V - lag`. New tasks start at
//!   `V` (Linux' half-slice initial deadline is not modelled).
//! - Load balancing (simplified): a new or woken task goes to an idle core
//!   (its previous core first), otherwise back to its previous core (new
//!   tasks: the core with the fewest tasks); a core that goes idle pulls the
//!   earliest-deadline task of the core with the most queued tasks. There is
//!   no periodic balancing between busy cores.

use super::engine::{Enqueue, SimScheduler, TaskId, World};
use std::collections::BTreeSet;

#[derive(Debug, Default, Clone)]
struct Rq {
    /// (virtual deadline, task) of the queued (not running) tasks.
    queue: BTreeSet<(i64, TaskId)>,
    /// Sum of `v` of the queued tasks.
    sum_v: i128,
    curr: Option<TaskId>,
    /// `V` when the queue was last empty (keeps time moving forward).
    last_v: i64,
}

#[derive(Debug)]
pub struct Eevdf {
    rqs: Vec<Rq>,
    /// Per task: `v` (at pick time while it runs), deadline, saved lag.
    v: Vec<i64>,
    vd: Vec<i64>,
    lag: Vec<i64>,
    slice: i64,
    /// Tasks queued on all cores (an idle core only looks around if > 0).
    queued: usize,
}

impl Eevdf {
    pub fn new(cores: usize, tasks: usize, base_slice_ns: u64) -> Self {
        Self {
            rqs: vec![Rq::default(); cores],
            v: vec![0; tasks],
            vd: vec![0; tasks],
            lag: vec![0; tasks],
            slice: base_slice_ns.max(1) as i64,
            queued: 0,
        }
    }

    fn grow(&mut self, t: TaskId) {
        let n = t as usize + 1;
        if self.v.len() < n {
            self.v.resize(n, 0);
            self.vd.resize(n, 0);
            self.lag.resize(n, 0);
        }
    }

    /// `v` of `t` now (the engine keeps `ran_since_pick_ns` current).
    fn v_now(&self, w: &World, t: TaskId) -> i64 {
        let task = w.task(t);
        if task.running_on.is_some() {
            self.v[t as usize] + task.ran_since_pick_ns as i64
        } else {
            self.v[t as usize]
        }
    }

    /// `V` of core `c` (call `w.update_core(c)` first).
    fn avg_v(&self, w: &World, c: usize) -> i64 {
        let rq = &self.rqs[c];
        let mut sum = rq.sum_v;
        let mut n = rq.queue.len() as i128;
        if let Some(cur) = rq.curr {
            sum += self.v_now(w, cur) as i128;
            n += 1;
        }
        if n == 0 {
            rq.last_v
        } else if let Ok(s) = i64::try_from(sum) {
            // Fast path: 64-bit division.
            s.div_euclid(n as i64)
        } else {
            sum.div_euclid(n) as i64
        }
    }

    fn insert(&mut self, c: usize, t: TaskId) {
        let i = t as usize;
        let rq = &mut self.rqs[c];
        rq.queue.insert((self.vd[i], t));
        rq.sum_v += self.v[i] as i128;
        self.queued += 1;
    }

    fn remove(&mut self, c: usize, t: TaskId) {
        let i = t as usize;
        let rq = &mut self.rqs[c];
        let removed = rq.queue.remove(&(self.vd[i], t));
        debug_assert!(removed);
        rq.sum_v -= self.v[i] as i128;
        self.queued -= 1;
    }

    fn load(&self, c: usize) -> usize {
        self.rqs[c].queue.len() + usize::from(self.rqs[c].curr.is_some())
    }

    /// The running task leaves core `c`: remember its lag.
    fn leave(&mut self, w: &mut World, c: usize, t: TaskId) {
        w.update_core(c);
        let v = self.v_now(w, t);
        let big_v = self.avg_v(w, c);
        let i = t as usize;
        self.v[i] = v;
        self.lag[i] = (big_v - v).clamp(-2 * self.slice, 2 * self.slice);
        let rq = &mut self.rqs[c];
        rq.curr = None;
        if rq.queue.is_empty() {
            rq.last_v = big_v;
        }
    }
}

impl SimScheduler for Eevdf {
    fn enqueue(&mut self, w: &mut World, t: TaskId, why: Enqueue) -> Option<usize> {
        self.grow(t);
        let i = t as usize;
        let c = match why {
            Enqueue::Preempted { core } => {
                // `v` advanced by what it ran; the deadline stays.
                self.v[i] += w.task(t).ran_since_pick_ns as i64;
                let rq = &mut self.rqs[core];
                debug_assert_eq!(rq.curr, Some(t));
                rq.curr = None;
                self.insert(core, t);
                return Some(core);
            }
            Enqueue::Arrival => {
                let c = w
                    .idle_core()
                    .unwrap_or_else(|| (0..w.ncores()).min_by_key(|&c| self.load(c)).unwrap_or(0));
                self.lag[i] = 0;
                c
            }
            Enqueue::Wakeup => {
                let prev = w.task(t).last_core;
                if prev < w.ncores() && w.is_idle(prev) {
                    prev
                } else if let Some(c) = w.idle_core() {
                    c
                } else if prev < w.ncores() {
                    prev
                } else {
                    0
                }
            }
        };
        w.update_core(c);
        let big_v = self.avg_v(w, c);
        self.v[i] = big_v - self.lag[i];
        self.vd[i] = self.v[i] + self.slice;
        self.insert(c, t);
        Some(c)
    }

    fn pick_next(&mut self, w: &mut World, core: usize) -> Option<TaskId> {
        debug_assert!(self.rqs[core].curr.is_none());
        if self.rqs[core].queue.is_empty() {
            if self.queued == 0 {
                return None;
            }
            // Idle pull from the core with the most queued tasks.
            let src = (0..w.ncores())
                .filter(|&c| c != core)
                .max_by_key(|&c| (self.rqs[c].queue.len(), usize::MAX - c))?;
            let &(_, t) = self.rqs[src].queue.first()?;
            w.update_core(src);
            let lag = self.avg_v(w, src) - self.v[t as usize];
            self.remove(src, t);
            let i = t as usize;
            let left = self.vd[i] - self.v[i];
            let base = self.rqs[core].last_v;
            self.v[i] = base - lag;
            self.vd[i] = self.v[i] + left;
            self.rqs[core].curr = Some(t);
            return Some(t);
        }
        // Earliest eligible deadline; the minimum-v task is always eligible.
        let big_v = self.avg_v(w, core);
        let mut pick = None;
        for &(_, t) in self.rqs[core].queue.iter() {
            if self.v[t as usize] <= big_v {
                pick = Some(t);
                break;
            }
        }
        let t = pick.or_else(|| self.rqs[core].queue.first().map(|&(_, t)| t))?;
        self.remove(core, t);
        self.rqs[core].curr = Some(t);
        Some(t)
    }

    fn check_preempt(&mut self, w: &mut World, t: TaskId, hint: Option<usize>) -> Option<usize> {
        let c = hint?;
        let cur = self.rqs[c].curr?;
        w.update_core(c);
        let big_v = self.avg_v(w, c);
        let i = t as usize;
        (self.v[i] <= big_v && self.vd[i] < self.vd[cur as usize]).then_some(c)
    }

    fn budget(&mut self, w: &World, _core: usize, t: TaskId) -> u64 {
        (self.vd[t as usize] - self.v_now(w, t)).max(0) as u64
    }

    fn on_tick(&mut self, w: &mut World, core: usize, t: TaskId) -> Option<u64> {
        let v = self.v_now(w, t);
        let i = t as usize;
        if v >= self.vd[i] {
            self.vd[i] = v + self.slice;
        }
        if self.rqs[core].queue.is_empty() {
            Some((self.vd[i] - v).max(1) as u64)
        } else {
            None
        }
    }

    fn on_block(&mut self, w: &mut World, core: usize, t: TaskId) {
        self.leave(w, core, t);
    }

    fn on_exit(&mut self, w: &mut World, core: usize, t: TaskId) {
        self.leave(w, core, t);
    }
}
