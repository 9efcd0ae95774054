//! Clairvoyant SRPT: one global queue ordered by remaining total CPU demand
//! (all remaining bursts); a task that becomes runnable preempts the running
//! task with the most remaining demand if that is strictly more than its
//! own. Exact (no tick): on one core, with CPU-only jobs and no switch cost,
//! this is the optimal schedule for mean flow completion time.
//!
//! Running tasks all lose remaining demand at the same rate, so their order
//! is fixed while they run: they are kept in a set keyed by their projected
//! finish (`start of progress + remaining demand`), whose last entry is the
//! preemption candidate.

use super::engine::{Enqueue, SimScheduler, TaskId, World};
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct Srpt {
    queue: BTreeSet<(u64, TaskId)>,
    running: BTreeSet<(u64, usize)>,
    key: Vec<u64>,
}

impl Srpt {
    pub fn new() -> Self {
        Self::default()
    }

    fn stop(&mut self, core: usize) {
        if let Some(&k) = self.key.get(core) {
            self.running.remove(&(k, core));
        }
    }
}

impl SimScheduler for Srpt {
    fn enqueue(&mut self, w: &mut World, t: TaskId, why: Enqueue) -> Option<usize> {
        if let Enqueue::Preempted { core } = why {
            self.stop(core);
        }
        self.queue.insert((w.task(t).remaining_cpu_ns, t));
        None
    }

    fn pick_next(&mut self, w: &mut World, core: usize) -> Option<TaskId> {
        let (rem, t) = self.queue.pop_first()?;
        if self.key.len() < w.ncores() {
            self.key.resize(w.ncores(), 0);
        }
        let k = w.now + w.switch_cost(core, t) + rem;
        self.key[core] = k;
        self.running.insert((k, core));
        Some(t)
    }

    fn check_preempt(&mut self, w: &mut World, t: TaskId, _h: Option<usize>) -> Option<usize> {
        let &(_, c) = self.running.last()?;
        w.update_core(c);
        let r = w.running(c)?;
        (w.task(r).remaining_cpu_ns > w.task(t).remaining_cpu_ns).then_some(c)
    }

    fn budget(&mut self, _w: &World, _core: usize, _t: TaskId) -> u64 {
        u64::MAX
    }

    fn on_tick(&mut self, _w: &mut World, _core: usize, _t: TaskId) -> Option<u64> {
        Some(u64::MAX)
    }

    fn on_block(&mut self, _w: &mut World, core: usize, _t: TaskId) {
        self.stop(core);
    }

    fn on_exit(&mut self, _w: &mut World, core: usize, _t: TaskId) {
        self.stop(core);
    }

    fn tick_aligned(&self) -> bool {
        false
    }
}
