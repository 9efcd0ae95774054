//! ALPS-IO controls learned from the burst profile: the burst bound on the
//! slice (`burst_slice`) and the wakeup-preemption budget (`preempt_budget`).

use alps_probes::record::Record;
use serde::{Deserialize, Serialize};

/// Parameters of the wakeup-preemption budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BudgetParams {
    /// Budget = headroom x the function's measured wakeup rate (a mean
    /// over the window: arrivals come in bursts, and a budget at the mean
    /// denies the wakeups of exactly the busy seconds, where the tail is).
    pub headroom: f64,
    /// ... but at least this many per second for a function that wakes.
    pub min_per_s: u32,
    /// Boosted wakeups may take at most this share of one core:
    /// budget <= share x 1 s / (CPU one boosted wakeup may take).
    pub cpu_share: f64,
    /// Absolute cap (1000/s = one preemption per 1 ms tick).
    pub max_per_s: u32,
}

impl Default for BudgetParams {
    fn default() -> Self {
        Self {
            headroom: 3.0,
            min_per_s: 10,
            cpu_share: 0.5,
            max_per_s: 1000,
        }
    }
}

/// Mean of the longest measured burst over the function's records: the
/// learned burst bound (a burst running longer than this is not one of the
/// function's real bursts). 0 without data.
pub fn burst_bound_ns(recs: &[&Record]) -> u64 {
    let v: Vec<u64> = recs
        .iter()
        .filter(|r| r.account.on_cpu_ns > 0)
        .map(|r| {
            let a = &r.account;
            if a.max_burst_ns > 0 {
                a.max_burst_ns.min(a.on_cpu_ns)
            } else {
                a.on_cpu_ns / a.bursts.max(1)
            }
        })
        .collect();
    if v.is_empty() {
        0
    } else {
        (v.iter().map(|&x| x as u128).sum::<u128>() / v.len() as u128) as u64
    }
}

/// Mean on-CPU time per burst over the function's records: what one
/// boosted wakeup costs the task it preempts, on average. 0 without data.
pub fn mean_burst_ns(recs: &[&Record]) -> u64 {
    let cpu: u128 = recs.iter().map(|r| r.account.on_cpu_ns as u128).sum();
    let bursts: u128 = recs.iter().map(|r| r.account.bursts.max(1) as u128).sum();
    cpu.checked_div(bursts).unwrap_or(0) as u64
}

/// Mean on-CPU time per invocation (all bursts).
pub fn cpu_demand_ns(recs: &[&Record]) -> u64 {
    if recs.is_empty() {
        return 0;
    }
    (recs
        .iter()
        .map(|r| r.account.on_cpu_ns as u128)
        .sum::<u128>()
        / recs.len() as u128) as u64
}

/// Measured wakeups per second of wall-clock time (mean over the records
/// with a wall time). Every burst starts with a wakeup, the first one (the
/// invocation's start) included, so a function that never sleeps still gets
/// the budget for its first dispatch; the wakeup counter is used if larger.
pub fn wakeup_rate_per_s(recs: &[&Record]) -> f64 {
    let rates: Vec<f64> = recs
        .iter()
        .filter_map(|r| {
            let a = &r.account;
            let wall = if a.wall_ns > 0 {
                a.wall_ns
            } else {
                r.end_ns.saturating_sub(r.start_ns)
            };
            (wall > 0).then(|| {
                let w = a.wakeups.max(a.bursts).max(1);
                w as f64 * 1e9 / wall as f64
            })
        })
        .collect();
    if rates.is_empty() {
        0.0
    } else {
        rates.iter().sum::<f64>() / rates.len() as f64
    }
}

/// The function's wakeups per second of the window, all its invocations
/// together (a wakeup = a burst after the first: the first is the start).
pub fn aggregate_wakeup_rate_per_s(recs: &[&Record], span_ns: u64) -> f64 {
    if span_ns == 0 {
        return wakeup_rate_per_s(recs);
    }
    let n: u64 = recs
        .iter()
        .map(|r| r.account.wakeups.max(r.account.bursts.saturating_sub(1)))
        .sum();
    n as f64 * 1e9 / span_ns as f64
}

/// budget = min(max(ceil(headroom x rate), min_per_s), floor(share x 1e9 /
/// cost), max_per_s)
/// where cost = the function's mean burst is the CPU one boosted wakeup
/// takes on average. A function that never wakes gets 0.
pub fn preempt_budget_per_s(rate_per_s: f64, cost_ns: u64, p: &BudgetParams) -> u32 {
    if !(rate_per_s.is_finite() && rate_per_s > 0.0) {
        return 0;
    }
    let natural = (p.headroom.max(0.0) * rate_per_s)
        .ceil()
        .max(f64::from(p.min_per_s));
    let share = if cost_ns > 0 {
        (p.cpu_share.max(0.0) * 1e9 / cost_ns as f64).floor()
    } else {
        f64::INFINITY
    };
    let b = natural.min(share).min(f64::from(p.max_per_s));
    if b.is_finite() && b > 0.0 {
        b as u32
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_bounded_by_rate_share_and_cap() {
        let p = BudgetParams::default();
        // 10 wakeups/s -> 30; 5 ms per wakeup -> share allows 100
        assert_eq!(preempt_budget_per_s(10.0, 5_000_000, &p), 30);
        // 0.5 wakeups/s -> the floor of 10; 200 ms per wakeup -> share 2
        assert_eq!(preempt_budget_per_s(0.5, 1_000_000, &p), 10);
        assert_eq!(preempt_budget_per_s(0.5, 200_000_000, &p), 2);
        // 2000/s -> cap 1000, share 0.5 s / 1 ms = 500
        assert_eq!(preempt_budget_per_s(2000.0, 1_000_000, &p), 500);
        assert_eq!(preempt_budget_per_s(0.0, 1, &p), 0);
        assert_eq!(preempt_budget_per_s(f64::NAN, 1, &p), 0);
    }
}
