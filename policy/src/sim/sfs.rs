//! SFS (Fu et al., SC'22): a FIFO filter in front of a fair class.
//!
//! - A new invocation joins one global FIFO queue with the global slice
//!   `S = mean inter-arrival time of the last N requests x cores` (floor
//!   `min_slice_ns`; `initial_slice_ns` until N arrivals have been seen).
//!   FIFO tasks outrank fair ones (SCHED_FIFO over CFS): a new one
//!   preempts a core running a fair task.
//! - A FIFO task that has used its slice is demoted to the fair class
//!   (placed at `min_vruntime`). On a wait the unused part of its slice is
//!   kept and re-granted when it wakes (it rejoins the FIFO tail).
//! - Overload: when the oldest queued FIFO task has waited more than
//!   `overload_factor x S`, a new invocation skips the filter.
//! - The fair class is the CFS-like global queue of `fair.rs`.

use super::config::SfsConfig;
use super::engine::{Enqueue, SimScheduler, TaskId, World};
use super::fair::FairQueue;
use std::collections::VecDeque;

#[derive(Debug)]
pub struct Sfs {
    cfg: SfsConfig,
    cores: u64,
    base_slice_ns: u64,
    wakeup_gran_ns: u64,
    fifo: VecDeque<TaskId>,
    fifo_left_ns: Vec<u64>,
    in_fifo: Vec<bool>,
    demoted: Vec<bool>,
    fifo_since: Vec<u64>,
    fair: FairQueue,
    iats: VecDeque<u64>,
    iat_sum: u64,
    last_arrival: Option<u64>,
    /// The current global slice S.
    pub slice_ns: u64,
}

impl Sfs {
    pub fn new(
        cfg: SfsConfig,
        cores: usize,
        tasks: usize,
        base_slice_ns: u64,
        wakeup_gran_ns: u64,
    ) -> Self {
        Self {
            slice_ns: cfg.initial_slice_ns,
            cfg,
            cores: cores as u64,
            base_slice_ns: base_slice_ns.max(1),
            wakeup_gran_ns,
            fifo: VecDeque::new(),
            fifo_left_ns: vec![0; tasks],
            in_fifo: vec![false; tasks],
            demoted: vec![false; tasks],
            fifo_since: vec![0; tasks],
            fair: FairQueue::new(tasks),
            iats: VecDeque::new(),
            iat_sum: 0,
            last_arrival: None,
        }
    }

    fn note_arrival(&mut self, now: u64) {
        if let Some(last) = self.last_arrival {
            let iat = now - last;
            self.iats.push_back(iat);
            self.iat_sum += iat;
            if self.iats.len() > self.cfg.window {
                self.iat_sum -= self.iats.pop_front().unwrap_or(0);
            }
            if self.iats.len() >= self.cfg.window {
                let mean = self.iat_sum / self.iats.len() as u64;
                self.slice_ns = (mean * self.cores).max(self.cfg.min_slice_ns);
            }
        }
        self.last_arrival = Some(now);
    }

    fn overloaded(&self, now: u64) -> bool {
        self.fifo.front().is_some_and(|&h| {
            (now - self.fifo_since[h as usize]) as f64
                > self.cfg.overload_factor * self.slice_ns as f64
        })
    }

    fn join_fifo(&mut self, w: &World, t: TaskId) {
        self.fifo.push_back(t);
        self.fifo_since[t as usize] = w.now;
    }
}

impl SimScheduler for Sfs {
    fn enqueue(&mut self, w: &mut World, t: TaskId, why: Enqueue) -> Option<usize> {
        let i = t as usize;
        match why {
            Enqueue::Arrival => {
                self.note_arrival(w.now);
                if self.overloaded(w.now) {
                    self.fair.place_new(t);
                    self.fair.push(t, 0);
                } else {
                    self.in_fifo[i] = true;
                    self.fifo_left_ns[i] = self.slice_ns;
                    self.join_fifo(w, t);
                }
            }
            Enqueue::Wakeup => {
                if self.in_fifo[i] {
                    self.join_fifo(w, t);
                } else {
                    self.fair.place_wakeup(t, self.base_slice_ns);
                    self.fair.push(t, 0);
                }
            }
            Enqueue::Preempted { .. } => {
                if self.in_fifo[i] {
                    self.fifo.push_front(t);
                } else if std::mem::take(&mut self.demoted[i]) {
                    self.fair.place_new(t);
                    self.fair.push(t, 0);
                } else {
                    self.fair.charge(w, t);
                    self.fair.push(t, 0);
                }
            }
        }
        None
    }

    fn pick_next(&mut self, _w: &mut World, _core: usize) -> Option<TaskId> {
        self.fifo.pop_front().or_else(|| self.fair.pop())
    }

    fn check_preempt(&mut self, w: &mut World, t: TaskId, _h: Option<usize>) -> Option<usize> {
        let i = t as usize;
        let fifo_task = self.in_fifo[i];
        let mut victim: Option<(i64, usize)> = None;
        for c in 0..w.ncores() {
            let Some(r) = w.running(c) else { continue };
            if self.in_fifo[r as usize] {
                continue;
            }
            let v = self.fair.vruntime_running(w, r);
            if !matches!(victim, Some((bv, _)) if v <= bv) {
                victim = Some((v, c));
            }
        }
        let (v, c) = victim?;
        if fifo_task || v > self.fair.vruntime[i] + self.wakeup_gran_ns as i64 {
            Some(c)
        } else {
            None
        }
    }

    fn budget(&mut self, w: &World, _core: usize, t: TaskId) -> u64 {
        let ran = w.task(t).ran_since_pick_ns;
        if self.in_fifo[t as usize] {
            self.fifo_left_ns[t as usize].saturating_sub(ran)
        } else {
            self.base_slice_ns.saturating_sub(ran)
        }
    }

    fn on_tick(&mut self, w: &mut World, _core: usize, t: TaskId) -> Option<u64> {
        let i = t as usize;
        let ran = w.task(t).ran_since_pick_ns;
        if self.in_fifo[i] {
            if ran < self.fifo_left_ns[i] {
                return Some(self.fifo_left_ns[i] - ran);
            }
            // Slice used up: demoted to the fair class.
            self.in_fifo[i] = false;
            self.demoted[i] = true;
            return None;
        }
        if self.fifo.is_empty() && self.fair.is_empty() {
            Some(self.base_slice_ns)
        } else {
            None
        }
    }

    fn on_block(&mut self, w: &mut World, _core: usize, t: TaskId) {
        let i = t as usize;
        let ran = w.task(t).ran_since_pick_ns;
        if self.in_fifo[i] {
            self.fifo_left_ns[i] = self.fifo_left_ns[i].saturating_sub(ran);
            if self.fifo_left_ns[i] == 0 {
                self.in_fifo[i] = false;
                self.fair.place_new(t);
            }
        } else {
            self.fair.charge(w, t);
        }
    }
}
