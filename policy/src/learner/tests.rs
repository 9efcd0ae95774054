//! Learner-level tests: the baseline/ALPS-IO blind spot, API behaviour on
//! odd input, and property tests (rank order, slices, overload threshold,
//! SRPT replay against a plain tick-by-tick simulator).

use super::*;
use alps_probes::record::Account;
use proptest::prelude::*;

const MS: u64 = 1_000_000;

#[allow(clippy::too_many_arguments)]
fn rec(
    fid: u32,
    arrival_ms: u64,
    cpu_ms: u64,
    bursts: u64,
    max_burst_ms: u64,
    sleep_ms: u64,
    futex_ms: u64,
) -> Record {
    let wall = (cpu_ms + sleep_ms + futex_ms) * MS;
    Record {
        class: format!("f{fid}"),
        kind: String::new(),
        arrival_ns: arrival_ms * MS,
        start_ns: arrival_ms * MS,
        end_ns: arrival_ms * MS + wall,
        account: Account {
            function_id: fid,
            wall_ns: wall,
            on_cpu_ns: cpu_ms * MS,
            sleep_ns: sleep_ms * MS,
            futex_ns: futex_ms * MS,
            bursts,
            mean_burst_ns: cpu_ms * MS / bursts.max(1),
            max_burst_ns: max_burst_ms * MS,
            wakeups: bursts.saturating_sub(1),
            lifetime_ns: wall,
            ..Default::default()
        },
    }
}

fn one_core(mut cfg: LearnerConfig) -> LearnerConfig {
    cfg.cores = 1;
    cfg
}

/// The blind spot, by hand. One core, 1 ms ticks, 8 ms quantum, load below
/// theta (no overload cut). Four functions, one invocation each, all
/// arriving at t = 0:
///   S (1) short CPU:  2 ms, one burst.
///   I (2) io:         5 ms burst, 100 ms sleep, 1 ms burst (CPU 6 ms).
///   C (3) CPU-bound: 20 ms, one burst.
///   D (4) deceptive: 40 ms burst, then 10 x (10 ms sleep, 1 ms burst):
///         CPU 50 ms in 11 bursts (mean burst 4.5 ms looks short).
///
/// Baseline ALPS replays continuous jobs S=2, I=6, C=20, D=50:
///   S 0-2, I 2-8, C 8-28, D 28-78 -> waits 0, 2, 8, 28 -> ranks 1,2,3,4.
///   One run segment each; stdev 0 -> slice = 2 ts: 4, 12, 40, 100 ms.
///   D, whose real bursts are one 40 ms run plus ten 1 ms runs, is boosted
///   for 100 ms at every wakeup, unlimited times.
///
/// ALPS-IO replays bursts and waits, key = remaining total demand
/// (S 2 < I 6 < C 20 < D 50):
///   S 0-2; I 2-7 then sleeps to 107; C 7-27; D 27-67 (its 40 ms burst),
///   then 1 ms at 77, 88, 99, 110, ..., 176 (sleeps of 10 ms); I wakes at
///   107 on the idle core and runs 107-108.
///   Waits 0, 2, 7, 27; slowdowns (wait/demand) 0, 0.333, 0.35, 0.54
///   -> the same ranks 1,2,3,4: the short CPU function stays first.
///   Slices (burst_slice: 1.5 x the longest measured burst; measured, so
///   given also where the replay's segments are unpredictable, and never
///   cut by the load):
///   S: 1.5 x 2 = 3 ms; I: 1.5 x 5 = 7.5 ms; C: 1.5 x 20 = 30 ms;
///   D: 1.5 x 40 = 60 ms (ALPS' ts would be 0 for D: segs [40, 1 x 10],
///   mean 4.545, stdev 11.21 -> 9.09 - 11.21 < 0).
///   Budgets (the function's wakeups per second of the window, 150 ms,
///   x 3, at least 10/s, capped by half a core of boosted CPU = 0.5 s /
///   cost, cost = the mean burst): S and C never wake: 0 (starting is not
///   a wakeup); I 1/0.15 s = 6.7/s -> 20, share 0.5 s/3 ms = 166 -> 20;
///   D 10/0.15 s = 66.7/s -> 200, share 0.5 s/4.545 ms = 110 -> 110.
#[test]
fn blind_spot_baseline_and_io_learn_different_slices() {
    let recs = vec![
        rec(1, 0, 2, 1, 2, 0, 0),
        rec(2, 0, 6, 2, 5, 100, 0),
        rec(3, 0, 20, 1, 20, 0, 0),
        rec(4, 0, 50, 11, 40, 100, 0),
    ];
    let base = learn(&recs, &one_core(LearnerConfig::alps()), 30.0);
    let io = learn(&recs, &one_core(LearnerConfig::alps_io()), 30.0);
    let rs = |p: &Policy| -> Vec<(u32, u64)> {
        (1..=4)
            .map(|f| (p.functions[&f].rank, p.functions[&f].slice_ns / MS))
            .collect()
    };
    assert_eq!(rs(&base), vec![(1, 4), (2, 12), (3, 40), (4, 100)]);
    assert_eq!(rs(&io), vec![(1, 3), (2, 7), (3, 30), (4, 60)]);
    for f in 1..=4 {
        assert_eq!(base.functions[&f].io.wakeup_preempt_budget_per_s, u32::MAX);
        assert_eq!(base.functions[&f].io.cpu_demand_ns, 0);
    }
    let budgets: Vec<u32> = (1..=4)
        .map(|f| io.functions[&f].io.wakeup_preempt_budget_per_s)
        .collect();
    assert_eq!(budgets, vec![0, 20, 0, 110]);
    assert!(io.functions[&2].io.remaining_priority);
    assert_eq!(io.functions[&4].io.cpu_demand_ns, 50 * MS);
    assert_eq!(io.functions[&4].io.burst_ns, 40 * MS);

    // The replayed waits behind the ranks.
    let refs: Vec<&Record> = recs.iter().collect();
    let b = replay_functions(&refs, &one_core(LearnerConfig::alps()));
    let i = replay_functions(&refs, &one_core(LearnerConfig::alps_io()));
    let w = |m: &BTreeMap<u32, FunctionReplay>| -> Vec<u64> {
        (1..=4).map(|f| m[&f].mean_wait_ns as u64 / MS).collect()
    };
    assert_eq!(w(&b), vec![0, 2, 8, 28]);
    assert_eq!(w(&i), vec![0, 2, 7, 27]);
}

/// Ablation `demand_priority`, by hand (one core, no quantum, 1 ms ticks).
/// X: 10 ms of CPU as ten 1 ms bursts with 1 ms sleeps; C: 5 ms CPU. Both
/// arrive at 0.
/// - Demand key (X 10 > C 5): C 0-5, X waits 0-5 then runs its bursts
///   undisturbed. Waits X 5, C 0 -> C rank 1, X rank 2; C's slice learns
///   from one 5 ms segment: 2*5 = 10 > 0, so the burst slice applies:
///   1.5 x its 5 ms burst = 7.5 ms.
/// - Burst key (X's 1 ms burst < C's remaining): X 0-1; C 1-2; X wakes at 2
///   and preempts (1 < 4), and so on: C runs 1-2, 3-4, 5-6; at 8 X wakes
///   with key 1 = C's remaining 1 (no preemption on a tie), so C runs 7-9
///   and X waits 8-9. Waits X 1, C 4 (0-1, 2-3, 4-5, 6-7) -> slowdowns X
///   0.1, C 0.8 -> X rank 1, C rank 2. C's slice learns from segments
///   [1, 1, 1, 2] ms: mean 1.25, stdev 0.433 -> 2.5 - 0.433 = 2.067 ms: the
///   frequent sleeper chops the CPU-bound function into 1 ms pieces (a
///   context-switch storm) and outranks it although it needs twice its CPU.
#[test]
fn demand_priority_ablation_flips_ranks() {
    let recs = vec![rec(6, 0, 10, 10, 1, 9, 0), rec(3, 0, 5, 1, 5, 0, 0)];
    let refs: Vec<&Record> = recs.iter().collect();
    let mut cfg = one_core(LearnerConfig::alps_io());
    cfg.min_quantum_ns = 0;
    let with = replay_functions(&refs, &cfg);
    assert_eq!(with[&6].mean_wait_ns as u64, 5 * MS);
    assert_eq!(with[&3].mean_wait_ns as u64, 0);
    let p = learn(&recs, &cfg, 10.0);
    assert_eq!(
        (p.functions[&3].rank, p.functions[&3].slice_ns),
        (1, 7 * MS + MS / 2)
    );
    assert_eq!(p.functions[&6].rank, 2);

    // The burst-key replay ranked by slowdown (demand_rank would still
    // order by true demand and hide the flip).
    cfg.io.demand_priority = false;
    cfg.io.demand_rank = false;
    cfg.io.slowdown_weight = true;
    // ... and the slice as the segments learn it (no burst bound).
    cfg.io.burst_slice = false;
    let without = replay_functions(&refs, &cfg);
    assert_eq!(without[&6].mean_wait_ns as u64, MS);
    assert_eq!(without[&3].mean_wait_ns as u64, 4 * MS);
    let ms = MS as f64;
    assert_eq!(without[&3].run_segments_ns, vec![ms, ms, ms, 2.0 * ms]);
    let p = learn(&recs, &cfg, 10.0);
    assert_eq!(p.functions[&3].rank, 2);
    let expect = 2.5 * ms - 0.1875f64.sqrt() * ms;
    assert!((p.functions[&3].slice_ns as f64 - expect).abs() <= 1.0);
    assert_eq!(p.functions[&6].rank, 1);
}

/// Futex time is not replayed as a wall-clock wait with `wait_reasons`.
#[test]
fn wait_reasons_drop_futex_gaps() {
    let r = rec(5, 0, 4, 2, 2, 0, 50);
    let refs = vec![&r];
    let mut cfg = one_core(LearnerConfig::alps_io());
    let on = replay_functions(&refs, &cfg);
    assert_eq!(on[&5].run_segments_ns, vec![4.0 * MS as f64]);
    cfg.io.wait_reasons = false;
    let off = replay_functions(&refs, &cfg);
    assert_eq!(
        off[&5].run_segments_ns,
        vec![2.0 * MS as f64, 2.0 * MS as f64]
    );
}

#[test]
fn odd_input_gives_empty_or_sensible_policy() {
    for cfg in [LearnerConfig::alps(), LearnerConfig::alps_io()] {
        let p = learn(&[], &cfg, 80.0);
        assert!(p.functions.is_empty());
        // Zero-CPU records and a single function.
        let recs = vec![Record::default(), Record::default()];
        let p = learn(&recs, &cfg, f64::NAN);
        assert_eq!(p.functions.len(), 1);
        assert_eq!(p.functions[&0].rank, 1);
        assert_eq!(p.functions[&0].slice_ns, 0);
        assert_eq!(p.cpu_utilization_pct, 0.0);
        let json = serde_json::to_string(&p).unwrap();
        let back: Policy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, p);
        let mut weird = cfg.clone();
        weird.cores = 0;
        weird.tick_ns = 0;
        weird.rank_max = 0;
        weird.max_replay_bursts = 0;
        let p = learn(&[rec(1, 0, 3, 9, 0, 5, 5)], &weird, 150.0);
        assert_eq!(p.functions[&1].rank, 1);
    }
}

#[test]
fn stateful_learner_windows_and_versions() {
    let mut l = Learner::new(LearnerConfig::alps_io());
    let p = l.learn(0, 10.0);
    assert_eq!(p.version, 1);
    assert!(p.functions.is_empty());
    for i in 0..150u64 {
        l.observe(rec((i % 3) as u32, i * 10, 1 + i % 3, 1, 1 + i % 3, 0, 0));
    }
    assert_eq!(l.window().len(), 100);
    let p = l.learn(1_500 * MS, 10.0);
    assert_eq!(p.version, 2);
    assert_eq!(p.window_records, 100);
    assert_eq!(p.variant, Variant::AlpsIo);
    let before = p.functions.clone();
    assert_eq!(before.len(), 3);
    // 10 s later the window is empty, but the functions keep their last
    // entries (a rare function is not dropped to the fair class).
    let p = l.learn(20_000 * MS, 10.0);
    assert_eq!(p.version, 3);
    assert_eq!(p.window_records, 0);
    assert_eq!(p.functions, before);
    // A new record updates its function only.
    l.observe(rec(0, 20_000, 9, 1, 9, 0, 0));
    let p = l.learn(20_100 * MS, 10.0);
    assert_eq!(p.window_records, 1);
    assert_eq!(p.functions[&0].io.cpu_demand_ns, 9 * MS);
    assert_eq!(p.functions[&1], before[&1]);
    assert_eq!(p.functions[&2], before[&2]);
}

#[test]
fn config_round_trips_and_old_configs_parse() {
    let cfg = LearnerConfig::alps_io();
    let s = serde_json::to_string(&cfg).unwrap();
    assert_eq!(serde_json::from_str::<LearnerConfig>(&s).unwrap(), cfg);
    let old = r#"{"variant":"alps","window_ns":5000000000,"window_max_records":100,"cores":2}"#;
    assert_eq!(
        serde_json::from_str::<LearnerConfig>(old).unwrap(),
        LearnerConfig::alps()
    );
}

#[test]
fn train_methods_run_through_the_learner() {
    let recs: Vec<Record> = (0..20u64)
        .map(|i| rec((i % 2) as u32, i * 5, 3 + i % 4, 1 + i % 3, 3, 10, 0))
        .collect();
    for train in [
        TrainMethod::Average,
        TrainMethod::LinearRegression,
        TrainMethod::Ewma { weight: 0.3 },
    ] {
        for mut cfg in [LearnerConfig::alps(), LearnerConfig::alps_io()] {
            cfg.train = train;
            cfg.monotone_slices = true;
            let p = learn(&recs, &cfg, 70.0);
            assert_eq!(p.functions.len(), 2);
            let mut by_rank: Vec<&FunctionPolicy> = p.functions.values().collect();
            by_rank.sort_by_key(|f| f.rank);
            assert!(by_rank[0].slice_ns >= by_rank[1].slice_ns);
        }
    }
}

// ---------- property tests ----------

fn arb_record() -> impl Strategy<Value = Record> {
    (0u32..6, 0u64..300, 0u64..60, 1u64..8, 0u64..80, 0u64..20).prop_map(
        |(fid, arr, cpu, bursts, sleep, futex)| {
            let max = if bursts == 1 { cpu } else { cpu / 2 + 1 };
            rec(fid, arr, cpu, bursts, max, sleep, futex)
        },
    )
}

fn arb_cfg() -> impl Strategy<Value = LearnerConfig> {
    (any::<bool>(), 1u32..4, 0u64..10, any::<[bool; 8]>()).prop_map(|(io, cores, q, sw)| {
        let mut cfg = if io {
            LearnerConfig::alps_io()
        } else {
            LearnerConfig::alps()
        };
        cfg.cores = cores;
        cfg.min_quantum_ns = q * MS;
        if io {
            cfg.io = IoSwitches {
                burst_replay: sw[0],
                demand_priority: sw[1],
                burst_slice: sw[2],
                preempt_budget: sw[3],
                wait_reasons: sw[4],
                slowdown_weight: sw[5],
                demand_rank: sw[6],
                remaining_priority: sw[7],
            };
        }
        cfg
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Ranks are a permutation of 1..=n and order functions by their
    /// simulated wait (or slowdown), lower first.
    #[test]
    fn ranks_follow_simulated_waits(recs in prop::collection::vec(arb_record(), 1..40), cfg in arb_cfg()) {
        let p = learn(&recs, &cfg, 60.0);
        let refs: Vec<&Record> = recs.iter().collect();
        let rep = replay_functions(&refs, &cfg);
        let n = rep.len();
        let mut ranks: Vec<u32> = p.functions.values().map(|f| f.rank).collect();
        ranks.sort_unstable();
        prop_assert_eq!(ranks, (1..=n as u32).collect::<Vec<_>>());
        let key = |f: &FunctionReplay| rank_key(&cfg, f);
        for (a, fa) in &rep {
            for (b, fb) in &rep {
                if key(fa) < key(fb) {
                    prop_assert!(p.functions[a].rank < p.functions[b].rank);
                }
            }
        }
    }

    /// Slices are finite, within the cap, and never grow with load; below
    /// theta the load has no effect, and at theta (gamma = 1) neither.
    #[test]
    fn slices_and_overload_threshold(recs in prop::collection::vec(arb_record(), 1..30), cfg in arb_cfg(), l in 0.0f64..100.0) {
        let theta = cfg.fine_tune.theta;
        let low = learn(&recs, &cfg, 0.0);
        let below = learn(&recs, &cfg, theta - 1e-6);
        let at = learn(&recs, &cfg, theta);
        let high = learn(&recs, &cfg, l);
        for (f, fp) in &low.functions {
            let cap = if cfg.io.burst_slice { cfg.burst_slice_cap_ns } else { cfg.slice_cap_ns };
            prop_assert!(fp.slice_ns <= cap);
            prop_assert_eq!(below.functions[f].slice_ns, fp.slice_ns);
            prop_assert_eq!(at.functions[f].slice_ns, fp.slice_ns);
            prop_assert!(high.functions[f].slice_ns <= fp.slice_ns);
            // Ranks do not depend on the load.
            prop_assert_eq!(high.functions[f].rank, fp.rank);
        }
        // Without the caps (which apply after the cut) the cut is exactly
        // ts_s = p ts_u with p = (100 + theta - l) / 100 above theta.
        let mut raw = cfg.clone();
        raw.slice_cap_ns = 0;
        raw.io.burst_slice = false;
        let raw_low = learn(&recs, &raw, 0.0);
        let raw_high = learn(&recs, &raw, l);
        let p = if l < theta { 1.0 } else { (100.0 + theta - l) / 100.0 };
        for (f, fp) in &raw_low.functions {
            let expect = fp.slice_ns as f64 * p;
            prop_assert!((raw_high.functions[f].slice_ns as f64 - expect).abs() <= 1.0);
        }
    }

    /// The event-driven replay equals a plain tick-by-tick simulation on
    /// tick-aligned input, conserves CPU and never runs more jobs than cores.
    #[test]
    fn srpt_matches_tick_oracle(
        jobs in prop::collection::vec((0u64..40, prop::collection::vec(1u64..12, 1..5), 1u64..15), 1..12),
        cores in 1u32..4, q in 0u64..10, demand in any::<bool>())
    {
        let jobs: Vec<Job> = jobs.iter().enumerate().map(|(i, (arr, cpus, wait))| {
            let mut phases = Vec::new();
            for (k, c) in cpus.iter().enumerate() {
                if k > 0 { phases.push(Phase::Wait(wait * (k as u64) % 13 + 1)); }
                phases.push(Phase::Cpu(*c));
            }
            Job { arrival_ns: *arr, function_id: i as u32, phases }
        }).collect();
        let params = SrptParams {
            cores, tick_ns: 1, min_quantum_ns: q,
            key: if demand { SrptKey::RemainingDemand } else { SrptKey::RemainingBurst },
        };
        let fast = simulate(&jobs, &params);
        let slow = oracle(&jobs, &params);
        prop_assert_eq!(&fast, &slow);
        // Scale to ms ticks: same schedule, scaled.
        let ms_jobs: Vec<Job> = jobs.iter().map(|j| Job {
            arrival_ns: j.arrival_ns * MS,
            function_id: j.function_id,
            phases: j.phases.iter().map(|p| match p { Phase::Cpu(c) => Phase::Cpu(c * MS), Phase::Wait(w) => Phase::Wait(w * MS) }).collect(),
        }).collect();
        let scaled = simulate(&ms_jobs, &SrptParams { tick_ns: MS, min_quantum_ns: q * MS, ..params });
        for (a, b) in scaled.iter().zip(&fast) {
            prop_assert_eq!(a.completion_ns, b.completion_ns * MS);
            prop_assert_eq!(a.running.len(), b.running.len());
        }
        for (j, s) in jobs.iter().zip(&fast) {
            prop_assert_eq!(s.run_ns(), j.demand_ns());
        }
        let end = fast.iter().map(|s| s.completion_ns).max().unwrap_or(0);
        for t in 0..end {
            let busy = fast.iter().flat_map(|s| &s.running).filter(|g| g.start_ns <= t && t < g.end_ns).count();
            prop_assert!(busy <= cores as usize);
        }
    }
}

/// Tick-by-tick reference (tick = 1 time unit); phases must be positive and
/// alternate, starting with Cpu.
fn oracle(jobs: &[Job], p: &SrptParams) -> Vec<JobSchedule> {
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Pending,
        Ready,
        Run,
        Sleep(u64),
        Done,
    }
    let n = jobs.len();
    let mut st = vec![St::Pending; n];
    let mut ph = vec![0usize; n];
    let mut rem = vec![0u64; n];
    let mut since = vec![0u64; n];
    let mut out = vec![JobSchedule::default(); n];
    let mut cores: Vec<Option<usize>> = vec![None; p.cores as usize];
    let key = |j: usize, ph: &[usize], rem: &[u64]| -> u64 {
        let later: u64 = match p.key {
            SrptKey::RemainingBurst => 0,
            SrptKey::RemainingDemand => jobs[j].phases[ph[j] + 1..]
                .iter()
                .map(|x| if let Phase::Cpu(c) = x { *c } else { 0 })
                .sum(),
        };
        rem[j] + later
    };
    let enter = |j: usize,
                 t: u64,
                 st: &mut Vec<St>,
                 ph: &[usize],
                 rem: &mut Vec<u64>,
                 since: &mut Vec<u64>,
                 out: &mut Vec<JobSchedule>| {
        match jobs[j].phases.get(ph[j]) {
            None => {
                st[j] = St::Done;
                out[j].completion_ns = t;
            }
            Some(Phase::Cpu(c)) => {
                st[j] = St::Ready;
                rem[j] = *c;
                since[j] = t;
            }
            Some(Phase::Wait(w)) => st[j] = St::Sleep(t + w),
        }
    };
    let mut t = 0u64;
    while st.iter().any(|s| *s != St::Done) {
        for c in cores.iter_mut() {
            if let Some(j) = *c {
                if rem[j] == 0 {
                    out[j].running.push(Segment {
                        start_ns: since[j],
                        end_ns: t,
                    });
                    *c = None;
                    ph[j] += 1;
                    enter(j, t, &mut st, &ph, &mut rem, &mut since, &mut out);
                }
            }
        }
        for j in 0..n {
            if st[j] == St::Sleep(t) {
                ph[j] += 1;
                enter(j, t, &mut st, &ph, &mut rem, &mut since, &mut out);
            }
        }
        for j in 0..n {
            if st[j] == St::Pending && jobs[j].arrival_ns == t {
                enter(j, t, &mut st, &ph, &mut rem, &mut since, &mut out);
            }
        }
        let best = |st: &[St], rem: &[u64], ph: &[usize]| -> Option<usize> {
            (0..n)
                .filter(|&j| st[j] == St::Ready)
                .min_by_key(|&j| (key(j, ph, rem), jobs[j].arrival_ns, j))
        };
        for core in cores.iter_mut() {
            if core.is_none() {
                if let Some(j) = best(&st, &rem, &ph) {
                    if t > since[j] {
                        out[j].waiting.push(Segment {
                            start_ns: since[j],
                            end_ns: t,
                        });
                    }
                    st[j] = St::Run;
                    since[j] = t;
                    *core = Some(j);
                }
            }
        }
        while let Some(b) = best(&st, &rem, &ph) {
            let victim = (0..cores.len())
                .filter_map(|c| cores[c].map(|j| (c, j)))
                .filter(|&(_, j)| t - since[j] >= p.min_quantum_ns)
                .max_by_key(|&(_, j)| (key(j, &ph, &rem), jobs[j].arrival_ns, j));
            let Some((c, v)) = victim else { break };
            if key(b, &ph, &rem) >= key(v, &ph, &rem) {
                break;
            }
            if t > since[v] {
                out[v].running.push(Segment {
                    start_ns: since[v],
                    end_ns: t,
                });
            }
            st[v] = St::Ready;
            since[v] = t;
            if t > since[b] {
                out[b].waiting.push(Segment {
                    start_ns: since[b],
                    end_ns: t,
                });
            }
            st[b] = St::Run;
            since[b] = t;
            cores[c] = Some(b);
        }
        for j in cores.iter().flatten() {
            rem[*j] -= 1;
        }
        t += 1;
    }
    out
}
