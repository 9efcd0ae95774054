//! The priority-inversion metric: how far a real schedule is from SRPT on
//! true CPU demand.
//!
//! From the stint timeline, at every instant: an invocation that runs while
//! another runnable invocation with a *smaller remaining CPU demand* waits
//! for a CPU accrues inversion time. Remaining demand is known after the
//! fact: the invocation's total on-CPU time minus what it had used by then.
//! Each inverted interval is charged to the pair (runner class, class of the
//! waiter with the smallest remaining demand).

use alps_probes::{Record, Stint};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inversion {
    /// CPU time of tagged tasks covered by the timeline, ms.
    pub cpu_ms: f64,
    /// Of it, time run while a smaller remaining demand waited, ms.
    pub inversion_ms: f64,
    /// inversion_ms / cpu_ms.
    pub fraction: f64,
    /// "runner_class>waiter_class" -> inversion ms.
    pub by_pair: BTreeMap<String, f64>,
    /// runner class -> inversion ms it caused.
    pub by_runner: BTreeMap<String, f64>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    WaitEnd = 0,
    RunEnd = 1,
    WaitStart = 2,
    RunStart = 3,
}

pub fn inversion(records: &[Record], stints: &[Stint]) -> Inversion {
    let info: HashMap<u64, (&str, u64)> = records
        .iter()
        .map(|r| {
            (
                r.account.invocation_id,
                (r.class.as_str(), r.account.on_cpu_ns),
            )
        })
        .collect();
    // (time, kind, stint index)
    let mut ev: Vec<(u64, Kind, usize)> = Vec::with_capacity(stints.len() * 4);
    for (i, s) in stints.iter().enumerate() {
        if !info.contains_key(&s.invocation_id) || s.switch_out_ns < s.switch_in_ns {
            continue;
        }
        if s.runnable_ns > 0 && s.runnable_ns < s.switch_in_ns {
            ev.push((s.runnable_ns, Kind::WaitStart, i));
            ev.push((s.switch_in_ns, Kind::WaitEnd, i));
        }
        ev.push((s.switch_in_ns, Kind::RunStart, i));
        ev.push((s.switch_out_ns, Kind::RunEnd, i));
    }
    ev.sort_unstable_by_key(|e| (e.0, e.1));

    let mut used: HashMap<u64, u64> = HashMap::new(); // CPU used by finished stints
    let mut running: HashMap<usize, u64> = HashMap::new(); // stint -> switch-in
    let mut waiting: HashMap<u64, u32> = HashMap::new(); // invocation -> waiting tasks
    let mut out = Inversion::default();
    let mut cpu_ns = 0u64;
    let mut inv_ns = 0u64;
    let mut pair_ns: HashMap<(&str, &str), u64> = HashMap::new();
    let remaining = |id: u64, used: &HashMap<u64, u64>, extra: u64| -> u64 {
        let total = info.get(&id).map(|x| x.1).unwrap_or(0);
        total.saturating_sub(used.get(&id).copied().unwrap_or(0) + extra)
    };
    let mut prev_t = ev.first().map(|e| e.0).unwrap_or(0);
    for &(t, kind, i) in &ev {
        let dt = t.saturating_sub(prev_t);
        if dt > 0 && !running.is_empty() {
            // The waiter with the smallest remaining demand.
            let best = waiting
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(&id, _)| (remaining(id, &used, 0), id))
                .min();
            for (&si, &since) in &running {
                let s = &stints[si];
                cpu_ns += dt;
                if let Some((wrem, wid)) = best {
                    if wid == s.invocation_id {
                        continue;
                    }
                    // The runner's remaining demand falls as it runs: the
                    // interval is inverted until it drops to the waiter's.
                    let rrem = remaining(s.invocation_id, &used, prev_t.saturating_sub(since));
                    let inverted = rrem.saturating_sub(wrem).min(dt);
                    if inverted > 0 {
                        inv_ns += inverted;
                        let rc = info[&s.invocation_id].0;
                        let wc = info[&wid].0;
                        *pair_ns.entry((rc, wc)).or_default() += inverted;
                    }
                }
            }
        }
        prev_t = t;
        let s = &stints[i];
        match kind {
            Kind::WaitStart => *waiting.entry(s.invocation_id).or_default() += 1,
            Kind::WaitEnd => {
                if let Some(n) = waiting.get_mut(&s.invocation_id) {
                    *n = n.saturating_sub(1);
                }
            }
            Kind::RunStart => {
                running.insert(i, t);
            }
            Kind::RunEnd => {
                running.remove(&i);
                *used.entry(s.invocation_id).or_default() += s.on_cpu_ns;
            }
        }
    }
    out.cpu_ms = cpu_ns as f64 / 1e6;
    out.inversion_ms = inv_ns as f64 / 1e6;
    out.fraction = if cpu_ns == 0 {
        0.0
    } else {
        inv_ns as f64 / cpu_ns as f64
    };
    for ((rc, wc), ns) in pair_ns {
        out.by_pair.insert(format!("{rc}>{wc}"), ns as f64 / 1e6);
        *out.by_runner.entry(rc.to_string()).or_default() += ns as f64 / 1e6;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use alps_probes::{Account, LeaveReason};

    fn rec(id: u64, class: &str, cpu_ms: u64) -> Record {
        Record {
            class: class.into(),
            account: Account {
                invocation_id: id,
                on_cpu_ns: cpu_ms * 1_000_000,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn stint(id: u64, runnable: u64, i: u64, o: u64) -> Stint {
        Stint {
            invocation_id: id,
            function_id: 0,
            tid: id as u32,
            cpu: 0,
            runnable_ns: runnable * 1_000_000,
            switch_in_ns: i * 1_000_000,
            switch_out_ns: o * 1_000_000,
            on_cpu_ns: (o - i) * 1_000_000,
            reason: LeaveReason::Exit,
        }
    }

    /// One CPU. A long job (10 ms) runs 0..10 while a short one (2 ms)
    /// waits from 1 to 10, then runs 10..12: the long job's 9 ms after the
    /// short one arrived are inverted (its remaining demand, 9 ms at t=1,
    /// exceeds 2 ms until t=8, when it is 2 ms: equal is not inverted, so
    /// 1..8 = 7 ms), and the reverse order has none.
    #[test]
    fn long_job_ahead_of_short_job_is_inverted() {
        let recs = [rec(1, "long", 10), rec(2, "short", 2)];
        let st = [stint(1, 0, 0, 10), stint(2, 1, 10, 12)];
        let inv = inversion(&recs, &st);
        assert!((inv.inversion_ms - 7.0).abs() < 1e-6, "{inv:?}");
        assert!((inv.cpu_ms - 12.0).abs() < 1e-6);
        assert_eq!(inv.by_pair.len(), 1);
        assert!((inv.by_pair["long>short"] - 7.0).abs() < 1e-6);

        let st = [stint(2, 0, 0, 2), stint(1, 1, 2, 12)];
        let inv = inversion(&recs, &st);
        assert_eq!(
            inv.inversion_ms, 0.0,
            "SRPT order has no inversion: {inv:?}"
        );
    }
}
