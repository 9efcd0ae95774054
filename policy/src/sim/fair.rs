//! A CFS-like fair class with one global run queue, shared by SFS (its
//! demoted tasks) and ALPS (which orders it by rank first, as the ALPS
//! kernel's `entity_before` hook does).
//!
//! Simplifications (documented in the module README): one global queue (as
//! if load balancing were perfect), equal weights (vruntime = CPU time plus
//! placement offsets), new tasks placed at `min_vruntime`, sleepers at most
//! `sleeper_credit_ns` behind it.

use super::engine::{TaskId, World};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Default)]
pub struct FairQueue {
    /// (rank, vruntime, task): the pick order.
    order: BTreeSet<(u32, i64, TaskId)>,
    /// (vruntime, task): for `min_vruntime`.
    by_v: BTreeSet<(i64, TaskId)>,
    /// Per task: vruntime (at pick time while it runs) and its queue rank.
    pub vruntime: Vec<i64>,
    pub rank: Vec<u32>,
    queued: Vec<bool>,
    pub min_vruntime: i64,
}

impl FairQueue {
    pub fn new(tasks: usize) -> Self {
        Self {
            vruntime: vec![0; tasks],
            rank: vec![0; tasks],
            queued: vec![false; tasks],
            ..Self::default()
        }
    }

    fn grow(&mut self, t: TaskId) {
        let n = t as usize + 1;
        if self.vruntime.len() < n {
            self.vruntime.resize(n, 0);
            self.rank.resize(n, 0);
            self.queued.resize(n, false);
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Current vruntime of `t` (running or not).
    #[inline]
    pub fn vruntime_now(&self, w: &World, t: TaskId) -> i64 {
        let v = self.vruntime[t as usize];
        let task = w.task(t);
        if task.running_on.is_some() {
            v + task.ran_since_pick_ns as i64
        } else {
            v
        }
    }

    /// Current vruntime of a running `t` without updating its core.
    #[inline]
    pub fn vruntime_running(&self, w: &World, t: TaskId) -> i64 {
        self.vruntime[t as usize] + w.ran_now(t) as i64
    }

    /// A new task: starts at `min_vruntime`.
    pub fn place_new(&mut self, t: TaskId) {
        self.grow(t);
        self.vruntime[t as usize] = self.min_vruntime;
    }

    /// A woken task: keeps its vruntime, but at most `credit` behind.
    pub fn place_wakeup(&mut self, t: TaskId, credit: u64) {
        self.grow(t);
        let floor = self.min_vruntime - credit as i64;
        let v = &mut self.vruntime[t as usize];
        *v = (*v).max(floor);
    }

    /// A task taken off a core: its vruntime advances by what it ran.
    pub fn charge(&mut self, w: &World, t: TaskId) {
        self.grow(t);
        self.vruntime[t as usize] += w.task(t).ran_since_pick_ns as i64;
    }

    pub fn push(&mut self, t: TaskId, rank: u32) {
        self.grow(t);
        let i = t as usize;
        debug_assert!(!self.queued[i]);
        self.rank[i] = rank;
        self.queued[i] = true;
        self.order.insert((rank, self.vruntime[i], t));
        self.by_v.insert((self.vruntime[i], t));
    }

    pub fn remove(&mut self, t: TaskId) -> bool {
        let i = t as usize;
        if !self.queued.get(i).copied().unwrap_or(false) {
            return false;
        }
        self.queued[i] = false;
        self.order.remove(&(self.rank[i], self.vruntime[i], t));
        self.by_v.remove(&(self.vruntime[i], t));
        true
    }

    /// The head's (rank, vruntime), if any.
    pub fn head_key(&self) -> Option<(u32, i64)> {
        self.order.first().map(|&(r, v, _)| (r, v))
    }

    pub fn pop(&mut self) -> Option<TaskId> {
        let &(_, _, t) = self.order.first()?;
        self.remove(t);
        let v = self.vruntime[t as usize];
        let min_queued = self.by_v.first().map_or(v, |&(mv, _)| mv.min(v));
        self.min_vruntime = self.min_vruntime.max(min_queued);
        Some(t)
    }

    /// Queued tasks (for re-keying after a policy change).
    pub fn queued_tasks(&self) -> Vec<TaskId> {
        self.order.iter().map(|&(_, _, t)| t).collect()
    }
}
