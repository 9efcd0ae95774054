//! Hand-checkable schedules, one or more per policy. All times in ms;
//! context switches are free and slice expiry is exact (`tick_ns = 0`)
//! unless a test says otherwise.

use alps_policy::sim::alps::Alps;
use alps_policy::sim::{run, simulate, SimConfig, SimJob, SimPhase, SimPolicy, WaitReason};
use alps_policy::{FunctionPolicy, IoControls, Policy, Variant};
use alps_probes::record::Record;
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;

fn cfg(cores: usize) -> SimConfig {
    SimConfig {
        cores,
        ctx_switch_ns: 0,
        tick_ns: 0,
        base_slice_ns: 3 * MS,
        wakeup_gran_ns: MS,
        rr_quantum_ns: 4 * MS,
        ..SimConfig::default()
    }
}

fn ends_ms(records: &[Record]) -> Vec<u64> {
    records.iter().map(|r| r.end_ns / MS).collect()
}

/// A (0, 10 ms), B (1, 2 ms), C (2, 1 ms) on one core.
fn abc() -> Vec<SimJob> {
    vec![
        SimJob::cpu(1, 1, "a", 0, 10 * MS),
        SimJob::cpu(2, 2, "b", MS, 2 * MS),
        SimJob::cpu(3, 3, "c", 2 * MS, MS),
    ]
}

#[test]
fn fifo_runs_to_completion_in_arrival_order() {
    // A 0-10, B 10-12, C 12-13.
    let out = simulate(&abc(), SimPolicy::Fifo, &cfg(1));
    assert_eq!(ends_ms(&out.records), vec![10, 12, 13]);
    assert_eq!(out.stats.preemptions, 0);
    // B waited 9 ms, C 10 ms in the run queue.
    assert_eq!(out.records[1].account.runq_wait_ns, 9 * MS);
    assert_eq!(out.records[2].account.runq_wait_ns, 10 * MS);
}

#[test]
fn srpt_preempts_for_shorter_remaining_demand() {
    // A 0-1; B (2 < 9 left) preempts: B 1-3; C (1, arrives at 2 when B has
    // 1 left: not strictly shorter) waits: C 3-4; A 4-13.
    let out = simulate(&abc(), SimPolicy::Srpt, &cfg(1));
    assert_eq!(ends_ms(&out.records), vec![13, 3, 4]);
    assert_eq!(out.records[0].account.involuntary_switches, 1);
    assert_eq!(out.records[0].account.runq_wait_preempt_ns, 3 * MS);
}

#[test]
fn rr_rotates_after_the_quantum() {
    // Quantum 4: A 0-4, then the queue is [B, C, A]: B 4-6, C 6-7, A 7-13.
    let out = simulate(&abc(), SimPolicy::Rr, &cfg(1));
    assert_eq!(ends_ms(&out.records), vec![13, 6, 7]);
}

#[test]
fn eevdf_one_core_deadlines() {
    // Slice 3. A: v 0, vd 3. B at 1: V = 1, vd 4 (not < 3: no wakeup
    // preemption). C at 2: V = 1.5, vd 4.5. At 3 A reaches its deadline
    // (vd 6) and the earliest eligible deadline is B's: B 3-5 (done).
    // Then C (vd 4.5) 5-6 (done), A 6-13.
    let out = simulate(&abc(), SimPolicy::Eevdf, &cfg(1));
    assert_eq!(ends_ms(&out.records), vec![13, 5, 6]);
}

#[test]
fn eevdf_two_cores_share_and_idle_pull() {
    // A, B, C arrive at 0 with 10 ms each. A -> core 0, B -> core 1, C ->
    // core 0 (fewest tasks, first). Core 0 alternates 3 ms slices: A 0-3,
    // C 3-6, A 6-9, C 9-12. B ends at 10 on core 1, which pulls A (queued
    // on core 0): A 10-14 (4 ms left). C keeps core 0: 9-16.
    let jobs = vec![
        SimJob::cpu(1, 1, "a", 0, 10 * MS),
        SimJob::cpu(2, 1, "b", 0, 10 * MS),
        SimJob::cpu(3, 1, "c", 0, 10 * MS),
    ];
    let out = simulate(&jobs, SimPolicy::Eevdf, &cfg(2));
    assert_eq!(ends_ms(&out.records), vec![14, 10, 16]);
}

#[test]
fn eevdf_wakeup_preemption_of_a_sleeper_with_lag() {
    // Slice 3. A: 1 ms CPU, sleep 1 ms, 1 ms CPU. B: 20 ms CPU, arrives at 0.
    // A runs 0-1 (first), sleeps with lag V - v = (0 + 1) / 2 - 1 = -0.5.
    // B runs from 1 (v 0, vd 3). A wakes at 2: V = B's v = 1, A placed at
    // V - lag = 1.5 (vd 4.5): not eligible (V becomes 1.25), no wakeup
    // preemption. At 4 B (v 3) gets vd 6 and A (vd 4.5) runs 4-5; B 5-22.
    let jobs = vec![
        SimJob {
            id: 1,
            function_id: 1,
            class: "io".into(),
            arrival_ns: 0,
            phases: vec![
                SimPhase::Cpu(MS),
                SimPhase::Wait {
                    ns: MS,
                    reason: WaitReason::Sleep,
                },
                SimPhase::Cpu(MS),
            ],
        },
        SimJob::cpu(2, 2, "cpu", 0, 20 * MS),
    ];
    let out = simulate(&jobs, SimPolicy::Eevdf, &cfg(1));
    assert_eq!(ends_ms(&out.records), vec![5, 22]);
    let a = &out.records[0].account;
    assert_eq!(a.sleep_ns, MS);
    assert_eq!(a.wakeups, 1);
    assert_eq!(a.voluntary_switches, 1);
    assert_eq!(a.runq_wait_wakeup_ns, 2 * MS);
    assert_eq!(a.bursts, 2);
}

#[test]
fn sfs_filter_then_fair() {
    // S = 4 ms. A runs FIFO 0-4 and is demoted; FIFO tasks go first:
    // B 4-6, C 6-7, then A (fair) 7-13.
    let mut c = cfg(1);
    c.sfs.initial_slice_ns = 4 * MS;
    c.sfs.min_slice_ns = MS;
    let out = simulate(&abc(), SimPolicy::Sfs, &c);
    assert_eq!(ends_ms(&out.records), vec![13, 6, 7]);
}

#[test]
fn sfs_keeps_unused_slice_across_a_wait() {
    // S = 4. A: 2 CPU, sleep 5, 3 CPU. B (1): 10 CPU.
    // A 0-2 (2 of its slice left), sleeps. B (FIFO) 2-6, demoted at 6 but
    // alone, so it keeps running (fair). A wakes at 7 with 2 ms of FIFO
    // slice and preempts the fair B: A 7-9, demoted, still the smallest
    // vruntime: 9-10 (done). B 10-15.
    let mut c = cfg(1);
    c.sfs.initial_slice_ns = 4 * MS;
    c.sfs.min_slice_ns = MS;
    let jobs = vec![
        SimJob {
            id: 1,
            function_id: 1,
            class: "io".into(),
            arrival_ns: 0,
            phases: vec![
                SimPhase::Cpu(2 * MS),
                SimPhase::Wait {
                    ns: 5 * MS,
                    reason: WaitReason::BlockIo,
                },
                SimPhase::Cpu(3 * MS),
            ],
        },
        SimJob::cpu(2, 2, "b", MS, 10 * MS),
    ];
    let out = simulate(&jobs, SimPolicy::Sfs, &c);
    assert_eq!(ends_ms(&out.records), vec![10, 15]);
    assert_eq!(out.records[0].account.block_io_ns, 5 * MS);
    assert_eq!(out.records[1].account.involuntary_switches, 1);
}

fn policy(entries: &[(u32, u32, u64, u32)]) -> Policy {
    let functions: BTreeMap<u32, FunctionPolicy> = entries
        .iter()
        .map(|&(f, rank, slice_ns, budget)| {
            (
                f,
                FunctionPolicy {
                    rank,
                    slice_ns,
                    io: IoControls {
                        wakeup_preempt_budget_per_s: budget,
                        ..IoControls::default()
                    },
                },
            )
        })
        .collect();
    Policy {
        functions,
        ..Policy::default()
    }
}

/// ALPS with a fixed policy (the learner never runs: huge update period).
fn alps_fixed(variant: Variant, jobs: &[SimJob], p: Policy) -> Vec<u64> {
    let c = cfg(1);
    let mut s = Alps::new(
        variant,
        None,
        1,
        jobs.len(),
        c.base_slice_ns,
        c.wakeup_gran_ns,
        u64::MAX / 4,
    );
    s.set_policy(p);
    ends_ms(&run(jobs, &c, &mut s).records)
}

#[test]
fn alps_rank_order_after_the_slice() {
    // f2 rank 2, f1 rank 1, no slices. A (f2, 0, 10), B (f1, 1, 5).
    // At 1 B's vruntime (0) is not more than 1 ms below A's (1): no wakeup
    // preemption. At 3 (base slice) the tick re-picks by rank: B 3-8, A 8-15.
    let jobs = vec![
        SimJob::cpu(1, 2, "a", 0, 10 * MS),
        SimJob::cpu(2, 1, "b", MS, 5 * MS),
    ];
    let p = policy(&[(1, 1, 0, u32::MAX), (2, 2, 0, u32::MAX)]);
    assert_eq!(alps_fixed(Variant::Alps, &jobs, p), vec![15, 8]);
}

#[test]
fn alps_slice_hook_keeps_the_cpu() {
    // f2 (rank 2) has a 20 ms slice: A (f2, 0, 10) keeps the core although
    // B (f1, rank 1) arrives at 1: A 0-10, B 10-12.
    let jobs = vec![
        SimJob::cpu(1, 2, "a", 0, 10 * MS),
        SimJob::cpu(2, 1, "b", MS, 2 * MS),
    ];
    let p = policy(&[(1, 1, 0, u32::MAX), (2, 2, 20 * MS, u32::MAX)]);
    assert_eq!(alps_fixed(Variant::Alps, &jobs, p.clone()), vec![10, 12]);
    // ALPS-IO: B may preempt the lower-rank A on wakeup: B 1-3, A 3-12.
    assert_eq!(alps_fixed(Variant::AlpsIo, &jobs, p), vec![12, 3]);
    // ... unless f1's wakeup-preemption budget is 0: as baseline.
    let p0 = policy(&[(1, 1, 0, 0), (2, 2, 20 * MS, u32::MAX)]);
    assert_eq!(alps_fixed(Variant::AlpsIo, &jobs, p0), vec![10, 12]);
}

#[test]
fn context_switch_cost_delays_the_incoming_task() {
    // FIFO, 1 core, 3 us per switch: A 0.003-10.003, B 10.006-12.006.
    let mut c = cfg(1);
    c.ctx_switch_ns = 3_000;
    let jobs = vec![
        SimJob::cpu(1, 1, "a", 0, 10 * MS),
        SimJob::cpu(2, 1, "b", 0, 2 * MS),
    ];
    let out = simulate(&jobs, SimPolicy::Fifo, &c);
    assert_eq!(out.records[0].end_ns, 10 * MS + 3_000);
    assert_eq!(out.records[1].end_ns, 12 * MS + 6_000);
    assert_eq!(out.records[1].account.runq_wait_ns, 10 * MS + 6_000);
    assert_eq!(out.stats.context_switches, 2);
}

#[test]
fn tick_delays_slice_expiry() {
    // RR quantum 5 ms with a 4 ms tick: expiry noticed at 8. A 0-8, B 8-10.
    let mut c = cfg(1);
    c.tick_ns = 4 * MS;
    c.rr_quantum_ns = 5 * MS;
    let jobs = vec![
        SimJob::cpu(1, 1, "a", 0, 10 * MS),
        SimJob::cpu(2, 1, "b", 0, 2 * MS),
    ];
    let out = simulate(&jobs, SimPolicy::Rr, &c);
    assert_eq!(ends_ms(&out.records), vec![12, 10]);
}

#[test]
fn policy_names_parse() {
    let all = SimPolicy::parse_list("eevdf,srpt,sfs,alps,alps-io,fifo,rr").unwrap();
    assert_eq!(all.len(), 7);
    for p in SimPolicy::ALL {
        assert_eq!(p.to_string().parse::<SimPolicy>().unwrap(), p);
    }
    assert!("cfs2".parse::<SimPolicy>().is_err());
}
