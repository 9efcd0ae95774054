//! The sliding window of records: at most `max_records` (0 = no cap), and
//! only those that ended within `window_ns` of the learning time.

use alps_probes::record::Record;
use std::collections::VecDeque;

#[derive(Debug, Clone, Default)]
pub struct Window {
    records: VecDeque<Record>,
    window_ns: u64,
    max_records: usize,
}

/// When a record left the system (its end, or its arrival if it has none).
fn seen_ns(r: &Record) -> u64 {
    if r.end_ns > 0 {
        r.end_ns
    } else {
        r.arrival_ns
    }
}

impl Window {
    pub fn new(window_ns: u64, max_records: usize) -> Self {
        Self {
            records: VecDeque::new(),
            window_ns,
            max_records,
        }
    }

    /// Add a record; the oldest one leaves when the window is full.
    pub fn push(&mut self, rec: Record) {
        self.records.push_back(rec);
        if self.max_records > 0 {
            while self.records.len() > self.max_records {
                self.records.pop_front();
            }
        }
    }

    /// Drop records that ended more than `window_ns` before `now_ns`.
    pub fn trim(&mut self, now_ns: u64) {
        let from = now_ns.saturating_sub(self.window_ns);
        self.records.retain(|r| seen_ns(r) >= from);
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.records.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(end_ns: u64) -> Record {
        Record {
            arrival_ns: end_ns / 2,
            end_ns,
            ..Default::default()
        }
    }

    #[test]
    fn cap_and_age() {
        let mut w = Window::new(100, 3);
        for e in [10, 50, 120, 150] {
            w.push(rec(e));
        }
        assert_eq!(w.len(), 3);
        w.trim(200);
        let ends: Vec<u64> = w.records().map(|r| r.end_ns).collect();
        assert_eq!(ends, vec![120, 150]);
        w.trim(10_000);
        assert!(w.is_empty());
    }
}
