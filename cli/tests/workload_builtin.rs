//! Built-in workloads: deterministic per seed, on target load, io_share knob.

use alps::functions::{Calibration, FnSpec};
use alps::workload::builtin::CPU_CLASSES;
use alps::workload::{function_id_for, load, WorkloadOpts};

fn cal() -> Calibration {
    // Fixed, machine-independent calibration: fib(30) = 5 ms of CPU.
    Calibration::synthetic(5_000_000)
}

fn opts(duration_s: f64, load: Option<f64>, io_share: Option<f64>, seed: u64) -> WorkloadOpts {
    WorkloadOpts {
        duration_s,
        load,
        io_share,
        seed,
        cores: 2,
    }
}

#[test]
fn deterministic_per_seed() {
    let cal = cal();
    for name in ["cpu", "io", "mixed"] {
        let a = load(name, &opts(30.0, None, None, 7), &cal).unwrap();
        let b = load(name, &opts(30.0, None, None, 7), &cal).unwrap();
        assert_eq!(a, b, "{name}");
        let c = load(name, &opts(30.0, None, None, 8), &cal).unwrap();
        assert_ne!(a.invocations, c.invocations, "{name}: seed must matter");
        assert!(!a.invocations.is_empty());
        // Open loop, sorted, numbered, inside the duration.
        for (i, w) in a.invocations.windows(2).enumerate() {
            assert!(w[0].arrival_ns <= w[1].arrival_ns);
            assert_eq!(w[0].seq, i as u64);
        }
        assert!(a.invocations.last().unwrap().arrival_ns < 30_000_000_000);
        // Every invocation's class is in the table with the same id.
        for inv in &a.invocations {
            let c = a.class(&inv.class).unwrap();
            assert_eq!(c.function_id, inv.function_id);
            assert_eq!(c.kind, inv.spec.kind());
        }
    }
}

#[test]
fn function_ids_are_stable_across_workloads() {
    let cal = cal();
    let cpu = load("cpu", &opts(10.0, None, None, 1), &cal).unwrap();
    let mixed = load("mixed", &opts(10.0, Some(0.5), Some(0.1), 99), &cal).unwrap();
    for c in &cpu.classes {
        assert_eq!(c.function_id, function_id_for(&c.name));
        assert_eq!(mixed.class(&c.name).unwrap().function_id, c.function_id);
    }
    // Another machine (calibration) changes n, not names or ids.
    let other = load(
        "cpu",
        &opts(10.0, None, None, 1),
        &Calibration::synthetic(20_000_000),
    )
    .unwrap();
    let ids = |w: &alps::workload::Workload| {
        w.classes
            .iter()
            .map(|c| (c.name.clone(), c.function_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&cpu), ids(&other));
}

#[test]
fn cpu_classes_fall_in_the_alps_duration_groups() {
    for ns_at_30 in [2_000_000u64, 5_000_000, 9_000_000, 30_000_000] {
        let cal = Calibration::synthetic(ns_at_30);
        let w = load("cpu", &opts(10.0, None, None, 1), &cal).unwrap();
        assert_eq!(w.classes.len(), CPU_CLASSES.len());
        let mut ns_seen = Vec::new();
        for (c, &(name, _, lo, hi, pct)) in w.classes.iter().zip(CPU_CLASSES) {
            assert_eq!(c.name, name);
            let ms = c.expected_cpu_ns as f64 / 1e6;
            assert!(
                ms >= lo && ms < hi,
                "{name}: {ms:.1} ms outside [{lo}, {hi}) at fib(30)={ns_at_30}"
            );
            assert!(
                (c.share - pct / 100.0).abs() < 1e-9,
                "{name} share {}",
                c.share
            );
            ns_seen.push(c.expected_cpu_ns);
        }
        ns_seen.dedup();
        assert_eq!(
            ns_seen.len(),
            CPU_CLASSES.len(),
            "every class has its own n"
        );
    }
}

#[test]
fn hits_the_target_load_on_average() {
    let cal = cal();
    for (name, target) in [
        ("cpu", 0.8),
        ("cpu", 0.5),
        ("io", 0.5),
        ("mixed", 0.8),
        ("mixed", 0.9),
    ] {
        let mut sum = 0.0;
        let seeds = 12;
        for seed in 0..seeds {
            let w = load(name, &opts(300.0, Some(target), None, seed), &cal).unwrap();
            assert_eq!(w.load, target);
            sum += w.realized_load(&cal);
        }
        let mean = sum / seeds as f64;
        assert!(
            (mean / target - 1.0).abs() < 0.03,
            "{name}: mean realized load {mean:.3} vs target {target}"
        );
    }
}

#[test]
fn default_loads() {
    let cal = cal();
    assert_eq!(
        load("cpu", &opts(5.0, None, None, 1), &cal).unwrap().load,
        0.8
    );
    assert_eq!(
        load("io", &opts(5.0, None, None, 1), &cal).unwrap().load,
        0.5
    );
    let m = load("mixed", &opts(5.0, None, None, 1), &cal).unwrap();
    assert_eq!((m.load, m.io_share), (0.8, Some(0.15)));
}

#[test]
fn io_share_knob_sets_the_io_classes_cpu_share() {
    let cal = cal();
    let mut last = 0.0;
    for share in [0.05, 0.15, 0.30] {
        let (mut io_sum, mut cpu_sum) = (0.0, 0.0);
        let seeds = 8;
        for seed in 0..seeds {
            let w = load("mixed", &opts(300.0, Some(0.8), Some(share), seed), &cal).unwrap();
            io_sum += w.realized_group_load(&cal, "io");
            cpu_sum += w.realized_group_load(&cal, "cpu");
            // The class table says so too.
            let io_cpu_share: f64 = w
                .classes
                .iter()
                .filter(|c| c.group == "io")
                .map(|c| c.cpu_share)
                .sum();
            assert!((io_cpu_share - share / 0.8).abs() < 1e-9);
        }
        let io = io_sum / seeds as f64;
        let cpu = cpu_sum / seeds as f64;
        assert!(
            (io / share - 1.0).abs() < 0.05,
            "io_share {share}: io load {io:.4}"
        );
        assert!(
            (cpu / (0.8 - share) - 1.0).abs() < 0.05,
            "io_share {share}: cpu load {cpu:.4}"
        );
        assert!(io > last);
        last = io;
    }
}

#[test]
fn mixed_has_cpu_io_and_deceptive_classes() {
    let cal = cal();
    let w = load("mixed", &opts(60.0, None, None, 3), &cal).unwrap();
    let kinds: std::collections::BTreeSet<&str> =
        w.invocations.iter().map(|i| i.spec.kind()).collect();
    assert!(kinds.contains("fib") && kinds.contains("io") && kinds.contains("deceptive"));
    let io = load("io", &opts(60.0, None, None, 3), &cal).unwrap();
    assert!(io
        .invocations
        .iter()
        .all(|i| !matches!(i.spec, FnSpec::Fib { .. })));
    assert!(io.classes.iter().all(|c| c.group == "io"));
}

#[test]
fn bad_options_are_errors() {
    let cal = cal();
    assert!(load("cpu", &opts(10.0, None, Some(0.1), 1), &cal).is_err());
    assert!(load("mixed", &opts(10.0, Some(0.5), Some(0.6), 1), &cal).is_err());
    assert!(load("mixed", &opts(10.0, Some(-1.0), None, 1), &cal).is_err());
    assert!(load("cpu", &opts(0.0, None, None, 1), &cal).is_err());
    let e = load("nosuch", &opts(10.0, None, None, 1), &cal).unwrap_err();
    assert!(format!("{e:#}").contains("nosuch"));
}

#[test]
fn a_thirty_second_cpu_run_has_many_long_functions() {
    let cal = cal();
    let w = load("cpu", &opts(30.0, Some(0.8), None, 1), &cal).unwrap();
    let g4 = w.invocations.iter().filter(|i| i.class == "fib-g4").count();
    assert!(g4 >= 20, "only {g4} invocations of the >=400 ms group");
}
