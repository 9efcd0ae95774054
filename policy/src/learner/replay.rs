//! Turning a window of records into SRPT jobs.
//!
//! Baseline ALPS: one continuous CPU job of the invocation's on-CPU time.
//! ALPS-IO (`burst_replay`): the invocation's measured bursts separated by its
//! measured off-CPU waits:
//! - n = max(bursts, 1) bursts; the longest burst (`max_burst_ns`, clamped to
//!   the on-CPU total C) comes first, the other n-1 share C - max equally
//!   (the probes give count, mean and max, not the order; longest-first is
//!   the order of the project's `io` and `deceptive` bodies).
//! - The replayed off-CPU time O is spread equally over the n-1 gaps (all
//!   off-CPU time, or with `wait_reasons` only block I/O + sleep + other,
//!   since futex time is CPU-coupled: the lock holder's CPU is already in
//!   some record's on-CPU time). With one burst, O trails the burst.
//! - A record with more than `max_replay_bursts` bursts replays as that many
//!   (same CPU, same waits, longer short bursts) so the replay cost stays
//!   bounded.

use super::srpt::{Job, Phase};
use super::IoSwitches;
use alps_probes::record::Record;

/// Replayed off-CPU time of a record.
pub fn replay_wait_ns(rec: &Record, sw: &IoSwitches) -> u64 {
    let a = &rec.account;
    if sw.wait_reasons {
        a.block_io_ns + a.sleep_ns + a.other_blocked_ns
    } else {
        a.off_cpu_ns()
    }
}

/// CPU burst lengths of a record, longest first; sums to `on_cpu_ns`.
pub fn burst_lengths(rec: &Record, max_bursts: usize) -> Vec<u64> {
    let a = &rec.account;
    let c = a.on_cpu_ns;
    let n = (a.bursts.max(1) as usize).min(max_bursts.max(1));
    if n == 1 || c == 0 {
        return vec![c];
    }
    // With merged bursts the longest one stays the measured max.
    let first = a.max_burst_ns.min(c).max(c.div_ceil(n as u64));
    let rest = c - first;
    let k = (n - 1) as u64;
    let mut v = Vec::with_capacity(n);
    v.push(first);
    for i in 0..k {
        // Spread the remainder so the parts sum exactly to `rest`.
        v.push(rest / k + u64::from(i < rest % k));
    }
    v
}

/// The job one record replays as.
pub fn job_for(rec: &Record, origin_ns: u64, sw: &IoSwitches, max_bursts: usize) -> Job {
    let arrival_ns = rec.arrival_ns.saturating_sub(origin_ns);
    let fid = rec.account.function_id;
    if !sw.burst_replay {
        return Job::cpu(arrival_ns, fid, rec.account.on_cpu_ns);
    }
    let bursts = burst_lengths(rec, max_bursts);
    let wait = replay_wait_ns(rec, sw);
    let mut phases = Vec::with_capacity(2 * bursts.len());
    let gaps = (bursts.len() - 1) as u64;
    for (i, b) in bursts.iter().enumerate() {
        if i > 0 {
            let gi = (i - 1) as u64;
            phases.push(Phase::Wait(wait / gaps + u64::from(gi < wait % gaps)));
        }
        phases.push(Phase::Cpu(*b));
    }
    if gaps == 0 && wait > 0 {
        phases.push(Phase::Wait(wait));
    }
    Job {
        arrival_ns,
        function_id: fid,
        phases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alps_probes::record::Account;

    const MS: u64 = 1_000_000;

    #[test]
    fn io_task_replays_as_two_bursts_and_a_sleep() {
        let rec = Record {
            arrival_ns: 10 * MS,
            account: Account {
                function_id: 3,
                on_cpu_ns: 6 * MS,
                bursts: 2,
                mean_burst_ns: 3 * MS,
                max_burst_ns: 5 * MS,
                sleep_ns: 100 * MS,
                futex_ns: 7 * MS,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut sw = IoSwitches::all();
        let job = job_for(&rec, 10 * MS, &sw, 256);
        assert_eq!(job.arrival_ns, 0);
        assert_eq!(
            job.phases,
            vec![Phase::Cpu(5 * MS), Phase::Wait(100 * MS), Phase::Cpu(MS)]
        );
        sw.wait_reasons = false;
        let job = job_for(&rec, 0, &sw, 256);
        assert_eq!(job.phases[1], Phase::Wait(107 * MS));
        sw.burst_replay = false;
        assert_eq!(job_for(&rec, 0, &sw, 256).phases, vec![Phase::Cpu(6 * MS)]);
    }

    #[test]
    fn bursts_sum_to_cpu_and_are_capped() {
        let rec = Record {
            account: Account {
                on_cpu_ns: 1000,
                bursts: 7,
                max_burst_ns: 400,
                ..Default::default()
            },
            ..Default::default()
        };
        let b = burst_lengths(&rec, 256);
        assert_eq!(b.len(), 7);
        assert_eq!(b[0], 400);
        assert_eq!(b.iter().sum::<u64>(), 1000);
        let b = burst_lengths(&rec, 3);
        assert_eq!(b.len(), 3);
        assert_eq!(b.iter().sum::<u64>(), 1000);
    }
}
