//! Round robin: one global queue; a running task is sent to the tail after
//! `rr_quantum_ns` of CPU if another task is waiting (checked on the tick,
//! like SCHED_RR). A woken task joins the tail; no wakeup preemption.

use super::engine::{Enqueue, SimScheduler, TaskId, World};
use std::collections::VecDeque;

#[derive(Debug)]
pub struct RoundRobin {
    queue: VecDeque<TaskId>,
    quantum_ns: u64,
}

impl RoundRobin {
    pub fn new(quantum_ns: u64) -> Self {
        Self {
            queue: VecDeque::new(),
            quantum_ns: quantum_ns.max(1),
        }
    }
}

impl SimScheduler for RoundRobin {
    fn enqueue(&mut self, _w: &mut World, t: TaskId, _why: Enqueue) -> Option<usize> {
        self.queue.push_back(t);
        None
    }

    fn pick_next(&mut self, _w: &mut World, _core: usize) -> Option<TaskId> {
        self.queue.pop_front()
    }

    fn check_preempt(&mut self, _w: &mut World, _t: TaskId, _h: Option<usize>) -> Option<usize> {
        None
    }

    fn budget(&mut self, w: &World, _core: usize, t: TaskId) -> u64 {
        self.quantum_ns
            .saturating_sub(w.task(t).ran_since_pick_ns)
            .max(1)
    }

    fn on_tick(&mut self, _w: &mut World, _core: usize, _t: TaskId) -> Option<u64> {
        if self.queue.is_empty() {
            // Nobody waits: a fresh quantum (SCHED_RR refills the slice).
            Some(self.quantum_ns)
        } else {
            None
        }
    }
}
