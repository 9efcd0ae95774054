//! The TOML workload format: the example files, precedence of options,
//! arrival processes, and errors.

use std::path::{Path, PathBuf};

use alps::functions::{Calibration, FnSpec};
use alps::workload::spec::load_toml_str;
use alps::workload::{function_id_for, load, WorkloadOpts};

fn cal() -> Calibration {
    Calibration::synthetic(5_000_000)
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples-workloads")
        .join(name)
}

fn file_opts() -> WorkloadOpts {
    // duration 0 and seed 0: take the file's.
    WorkloadOpts {
        duration_s: 0.0,
        load: None,
        io_share: None,
        seed: 0,
        cores: 2,
    }
}

#[test]
fn example_files_load() {
    let cal = cal();
    let w = load(
        example("mixed-small.toml").to_str().unwrap(),
        &file_opts(),
        &cal,
    )
    .unwrap();
    assert_eq!(w.name, "mixed-small");
    assert_eq!((w.seed, w.duration_s, w.load), (42, 30.0, 0.8));
    assert_eq!(w.io_share, Some(0.15));
    let short = w.class("fib-short").unwrap();
    assert_eq!(short.group, "cpu");
    let n = cal.fib_n_for_ms(20.0);
    assert!(w
        .invocations
        .iter()
        .any(|i| i.class == "fib-short" && i.spec == FnSpec::Fib { n }));
    assert_eq!(w.class("db-query").unwrap().group, "io");

    let a = load(
        example("all-kinds.toml").to_str().unwrap(),
        &file_opts(),
        &cal,
    )
    .unwrap();
    let kinds: std::collections::BTreeSet<&str> =
        a.invocations.iter().map(|i| i.spec.kind()).collect();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert_eq!(a.class("stress").unwrap().function_id, 4242);
    assert_eq!(
        a.class("fib-30").unwrap().function_id,
        function_id_for("fib-30")
    );
    // cpu_weight: fib-30 has 4/9 of the CPU demand.
    let fib_share = a.class("fib-30").unwrap().cpu_share;
    assert!((fib_share - 4.0 / 9.0).abs() < 1e-9, "{fib_share}");
}

#[test]
fn command_line_options_override_the_file() {
    let cal = cal();
    let path = example("mixed-small.toml");
    let opts = WorkloadOpts {
        duration_s: 10.0,
        load: Some(0.5),
        io_share: Some(0.3),
        seed: 5,
        cores: 4,
    };
    let w = load(path.to_str().unwrap(), &opts, &cal).unwrap();
    assert_eq!((w.seed, w.duration_s, w.load, w.cores), (5, 10.0, 0.5, 4));
    assert_eq!(w.io_share, Some(0.3));
}

const UNIFORM: &str = r#"
duration_s = 10
load = 0.5
[arrivals]
process = "uniform"
order = "interleave"
[[class]]
name = "a"
weight = 3
fn = { kind = "fib", n = 30 }
[[class]]
name = "b"
weight = 1
fn = { kind = "io", compute_ms = 5, sleep_ms = 10, rounds = 1 }
"#;

#[test]
fn uniform_interleaved_arrivals_are_evenly_spaced() {
    let cal = cal();
    let w = load_toml_str(UNIFORM, "u", &file_opts(), &cal).unwrap();
    let gaps: Vec<u64> = w
        .invocations
        .windows(2)
        .map(|p| p[1].arrival_ns - p[0].arrival_ns)
        .collect();
    let (min, max) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
    assert!(max - min <= 1, "gaps vary: {min}..{max}");
    assert_eq!(w.invocations[0].arrival_ns, 0);
    // 3:1 interleave: every window of 4 has 3 a and 1 b.
    for chunk in w.invocations.chunks_exact(4) {
        assert_eq!(chunk.iter().filter(|i| i.class == "a").count(), 3);
    }
    // Exactly on the load: demand/capacity within one invocation.
    let l = w.realized_load(&cal);
    assert!((l / 0.5 - 1.0).abs() < 0.01, "{l}");
    // Independent of the seed.
    let w2 = load_toml_str(
        UNIFORM,
        "u",
        &WorkloadOpts {
            seed: 9,
            ..file_opts()
        },
        &cal,
    )
    .unwrap();
    assert_eq!(w.invocations, w2.invocations);
}

#[test]
fn malformed_files_are_errors_naming_the_cause() {
    let cal = cal();
    let cases: &[(&str, &str)] = &[
        ("duration_s = 10\n", "class"),
        (
            "duration_s = 10\nbogus = 1\n[[class]]\nname=\"a\"\nfn={kind=\"fib\",n=3}\n",
            "bogus",
        ),
        ("duration_s = 10\n[[class]]\nname=\"a\"\nfn={n=3}\n", "kind"),
        (
            "duration_s = 10\n[[class]]\nname=\"a\"\nfn={kind=\"fib\",n=3,ms=4}\n",
            "either n or ms",
        ),
        (
            "duration_s = 10\n[[class]]\nname=\"a\"\nweight=1\ncpu_weight=1\nfn={kind=\"fib\",n=3}\n",
            "not both",
        ),
        (
            "duration_s = 10\n[[class]]\nname=\"a\"\nfn={kind=\"io\",compute_ms=1}\n",
            "sleep_ms",
        ),
        (
            "duration_s = 10\n[[class]]\nname=\"a\"\nfn={kind=\"warp\"}\n",
            "warp",
        ),
        ("[[class]]\nname=\"a\"\nfn={kind=\"fib\",n=3}\n", "duration"),
        (
            "duration_s = 10\n[[class]]\nname=\"a\"\nfn={kind=\"fib\",n=3}\n[[class]]\nname=\"a\"\nfn={kind=\"fib\",n=4}\n",
            "twice",
        ),
        (
            "duration_s = 10\n[arrivals]\nprocess=\"bursty\"\n[[class]]\nname=\"a\"\nfn={kind=\"fib\",n=3}\n",
            "bursty",
        ),
        (
            "duration_s = 10\n[[class]]\nname=\"a\"\nfn={kind=\"cmd\",argv=[\"true\"]}\n",
            "cpu_ms",
        ),
        (
            "duration_s = 10\nio_share = 0.1\n[[class]]\nname=\"a\"\nfn={kind=\"fib\",n=3}\n",
            "io_share",
        ),
        ("this is not toml", "TOML"),
    ];
    for (text, needle) in cases {
        let e = load_toml_str(text, "t", &file_opts(), &cal)
            .expect_err(&format!("should fail: {text}"));
        let msg = format!("{e:#}");
        assert!(msg.contains(needle), "{needle:?} not in error {msg:?}");
    }
    // A file path in errors.
    let e = load("/nonexistent/w.toml", &file_opts(), &cal).unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/w.toml"));
}
