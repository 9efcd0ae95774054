//! ALPS and ALPS-IO in the simulator with the real learner relearning on
//! the simulated clock.

use alps_policy::sim::{mean_fct_ns, simulate, SimConfig, SimJob, SimPhase, SimPolicy, WaitReason};

const MS: u64 = 1_000_000;

/// 30 s of a 2-core mix at about 80% load: short (f1: 2 ms), long (f2:
/// 150 ms) and I/O-bound (f3: 3 x 1 ms CPU around 10 ms sleeps) functions.
fn mix() -> Vec<SimJob> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut jobs = Vec::new();
    let mut t = 0u64;
    let mut id = 0;
    while t < 30_000 * MS {
        // Mean inter-arrival 20 ms (exponential); mean demand ~ 32 ms over 2 cores.
        let u = (next() % 1_000_000) as f64 / 1_000_000.0;
        t += (-(1.0 - u).ln() * 20.0 * MS as f64) as u64;
        id += 1;
        let job = match next() % 10 {
            0..=5 => SimJob::cpu(id, 1, "short", t, 2 * MS),
            6 | 7 => SimJob::cpu(id, 2, "long", t, 150 * MS),
            _ => SimJob {
                id,
                function_id: 3,
                class: "io".into(),
                arrival_ns: t,
                phases: vec![
                    SimPhase::Cpu(MS),
                    SimPhase::Wait {
                        ns: 10 * MS,
                        reason: WaitReason::BlockIo,
                    },
                    SimPhase::Cpu(MS),
                    SimPhase::Wait {
                        ns: 10 * MS,
                        reason: WaitReason::Sleep,
                    },
                    SimPhase::Cpu(MS),
                ],
            },
        };
        jobs.push(job);
    }
    jobs
}

fn class_mean_ms(out: &alps_policy::sim::SimResult, class: &str) -> f64 {
    let recs: Vec<_> = out
        .records
        .iter()
        .filter(|r| r.class == class)
        .cloned()
        .collect();
    mean_fct_ns(&recs) / MS as f64
}

#[test]
fn alps_learns_on_the_simulated_clock() {
    let jobs = mix();
    let cfg = SimConfig::with_cores(2);
    let fair = simulate(&jobs, SimPolicy::Eevdf, &cfg);
    for p in [SimPolicy::Alps, SimPolicy::AlpsIo] {
        let out = simulate(&jobs, p, &cfg);
        assert_eq!(out.records.len(), jobs.len());
        assert!(
            out.stats.policy_updates >= 5,
            "{p}: {} updates",
            out.stats.policy_updates
        );
        let pol = out.final_policy.as_ref().expect("ALPS reports its policy");
        assert!(!pol.functions.is_empty(), "{p}: learned nothing");
        for (j, r) in jobs.iter().zip(&out.records) {
            assert_eq!(r.account.on_cpu_ns, j.cpu_ns());
            assert_eq!(r.account.parts_ns(), r.account.lifetime_ns);
        }
        eprintln!(
            "{p}: short {:.1} ms (eevdf {:.1}), long {:.1} ms (eevdf {:.1}), io {:.1} ms (eevdf {:.1}); policy {:?}",
            class_mean_ms(&out, "short"),
            class_mean_ms(&fair, "short"),
            class_mean_ms(&out, "long"),
            class_mean_ms(&fair, "long"),
            class_mean_ms(&out, "io"),
            class_mean_ms(&fair, "io"),
            pol.functions
        );
        // The long function is learned as the least urgent one. (Whether ALPS
        // beats fair sharing here depends on the learned slices: with a
        // 150 ms function on 2 cores its long slice can hold back short
        // ones; that is a result to report, not an invariant.)
        assert_eq!(
            pol.get(2).map(|f| f.rank),
            pol.functions.values().map(|f| f.rank).max()
        );
    }
}

#[test]
fn alps_is_deterministic() {
    let jobs = mix();
    let cfg = SimConfig::with_cores(2);
    let a = simulate(&jobs, SimPolicy::AlpsIo, &cfg);
    let b = simulate(&jobs, SimPolicy::AlpsIo, &cfg);
    assert_eq!(a.records, b.records);
    assert_eq!(a.stats, b.stats);
}
