//! FIFO: one global queue in order of becoming runnable; a task keeps its
//! core until it blocks or exits (SCHED_FIFO at one priority). A woken task
//! joins the tail.

use super::engine::{Enqueue, SimScheduler, TaskId, World};
use std::collections::VecDeque;

#[derive(Debug, Default)]
pub struct Fifo {
    queue: VecDeque<TaskId>,
}

impl Fifo {
    pub fn new() -> Self {
        Self::default()
    }
}

impl SimScheduler for Fifo {
    fn enqueue(&mut self, _w: &mut World, t: TaskId, why: Enqueue) -> Option<usize> {
        match why {
            // Never happens (FIFO does not preempt); keep its place if it did.
            Enqueue::Preempted { .. } => self.queue.push_front(t),
            _ => self.queue.push_back(t),
        }
        None
    }

    fn pick_next(&mut self, _w: &mut World, _core: usize) -> Option<TaskId> {
        self.queue.pop_front()
    }

    fn check_preempt(&mut self, _w: &mut World, _t: TaskId, _h: Option<usize>) -> Option<usize> {
        None
    }

    fn budget(&mut self, _w: &World, _core: usize, _t: TaskId) -> u64 {
        u64::MAX
    }

    fn on_tick(&mut self, _w: &mut World, _core: usize, _t: TaskId) -> Option<u64> {
        Some(u64::MAX)
    }
}
