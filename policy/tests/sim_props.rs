//! Properties of the simulator: SRPT is the lower bound for mean FCT on one
//! core, and the accounting conserves time on random instances.

use alps_policy::sim::{mean_fct_ns, simulate, SimConfig, SimJob, SimPhase, SimPolicy, WaitReason};
use proptest::prelude::*;

const MS: u64 = 1_000_000;

/// CPU-only jobs: (arrival offset, CPU time, function).
fn cpu_jobs() -> impl Strategy<Value = Vec<SimJob>> {
    prop::collection::vec((0u64..30 * MS, 1u64..20 * MS, 0u32..4), 1..12).prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (at, cpu, f))| SimJob::cpu(i as u64, f, "c", at, cpu))
            .collect()
    })
}

/// Jobs with bursts and waits of every reason.
fn mixed_jobs() -> impl Strategy<Value = Vec<SimJob>> {
    let phase = (0u8..4, 0u64..8 * MS).prop_map(|(k, ns)| match k {
        0 | 1 => SimPhase::Cpu(ns),
        2 => SimPhase::Wait {
            ns,
            reason: WaitReason::BlockIo,
        },
        _ => SimPhase::Wait {
            ns,
            reason: if ns % 2 == 0 {
                WaitReason::Futex
            } else {
                WaitReason::Sleep
            },
        },
    });
    prop::collection::vec(
        (0u64..40 * MS, 0u32..5, prop::collection::vec(phase, 0..6)),
        1..16,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (at, f, phases))| SimJob {
                id: i as u64,
                function_id: f,
                class: format!("f{f}"),
                arrival_ns: at,
                phases,
            })
            .collect()
    })
}

/// Policies whose schedule does not depend on the learner.
const BASIC: [SimPolicy; 5] = [
    SimPolicy::Eevdf,
    SimPolicy::Fifo,
    SimPolicy::Rr,
    SimPolicy::Srpt,
    SimPolicy::Sfs,
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn srpt_has_the_lowest_mean_fct_on_one_core(jobs in cpu_jobs(), tick in prop::sample::select(vec![0u64, 4 * MS])) {
        let cfg = SimConfig { cores: 1, ctx_switch_ns: 0, tick_ns: tick, rr_quantum_ns: 5 * MS, ..SimConfig::default() };
        let srpt = mean_fct_ns(&simulate(&jobs, SimPolicy::Srpt, &cfg).records);
        for p in SimPolicy::ALL {
            let other = mean_fct_ns(&simulate(&jobs, p, &cfg).records);
            prop_assert!(srpt <= other + 1e-6, "srpt {} > {} {}", srpt, p, other);
        }
    }

    #[test]
    fn time_is_conserved(jobs in mixed_jobs(), cores in 1usize..4, cs in prop::sample::select(vec![0u64, 3_000]), tick in prop::sample::select(vec![0u64, 4 * MS])) {
        let cfg = SimConfig { cores, ctx_switch_ns: cs, tick_ns: tick, ..SimConfig::default() };
        for p in SimPolicy::ALL {
            let out = simulate(&jobs, p, &cfg);
            prop_assert_eq!(out.records.len(), jobs.len());
            for (j, r) in jobs.iter().zip(&out.records) {
                let a = &r.account;
                prop_assert_eq!(a.invocation_id, j.id);
                prop_assert_eq!(a.on_cpu_ns, j.cpu_ns(), "{} on-CPU", p);
                prop_assert_eq!(a.off_cpu_ns(), j.wait_ns());
                prop_assert_eq!(a.parts_ns(), a.lifetime_ns, "{} parts", p);
                prop_assert_eq!(a.wall_ns, r.end_ns - r.arrival_ns);
                prop_assert_eq!(a.runq_wait_ns, a.runq_wait_wakeup_ns + a.runq_wait_preempt_ns);
                prop_assert!(r.end_ns >= j.arrival_ns + j.cpu_ns() + j.wait_ns());
                prop_assert_eq!(a.threads, 1);
            }
            let busy: u64 = out.stats.busy_ns.iter().sum();
            let cpu: u64 = jobs.iter().map(|j| j.cpu_ns()).sum();
            prop_assert!(busy >= cpu);
        }
    }

    #[test]
    fn work_conserving_policies_never_idle_with_work_on_one_core(jobs in cpu_jobs()) {
        // One core, CPU-only jobs, free switches: every policy finishes the
        // last job at the same time (the work-conserving makespan).
        let cfg = SimConfig { cores: 1, ctx_switch_ns: 0, ..SimConfig::default() };
        let end = |p| simulate(&jobs, p, &cfg).records.iter().map(|r| r.end_ns).max().unwrap();
        let srpt = end(SimPolicy::Srpt);
        for p in BASIC {
            prop_assert_eq!(end(p), srpt, "{}", p);
        }
    }
}

#[test]
fn replayed_records_reproduce_their_accounting() {
    use alps_probes::record::{Account, Record};
    let rec = Record {
        class: "io".into(),
        kind: "io".into(),
        arrival_ns: 5 * MS,
        start_ns: 5 * MS,
        end_ns: 40 * MS,
        account: Account {
            function_id: 7,
            invocation_id: 42,
            on_cpu_ns: 10 * MS + 1,
            block_io_ns: 9 * MS + 2,
            futex_ns: 3 * MS,
            sleep_ns: 5,
            other_blocked_ns: 1,
            bursts: 4,
            ..Account::default()
        },
    };
    let job = SimJob::from_record(&rec);
    assert_eq!(job.cpu_ns(), rec.account.on_cpu_ns);
    assert_eq!(job.wait_ns(), rec.account.off_cpu_ns());
    assert_eq!(
        job.phases
            .iter()
            .filter(|p| matches!(p, SimPhase::Cpu(_)))
            .count(),
        4
    );
    let cfg = SimConfig {
        cores: 1,
        ..SimConfig::default()
    };
    let out = simulate(std::slice::from_ref(&job), SimPolicy::Eevdf, &cfg);
    let a = &out.records[0].account;
    assert_eq!(a.on_cpu_ns, rec.account.on_cpu_ns);
    assert_eq!(a.block_io_ns, rec.account.block_io_ns);
    assert_eq!(a.futex_ns, rec.account.futex_ns);
    assert_eq!(a.sleep_ns, 6);
    assert_eq!(a.bursts, 4);
    assert_eq!(a.wakeups, 3);
    assert_eq!(a.invocation_id, 42);
    assert_eq!(out.records[0].kind, "sim");
}
