//! Built-in workloads `cpu`, `io` and `mixed` (class tables documented in
//! cli/WORKLOADS.md; keep the two in sync).

use anyhow::{bail, Result};

use super::arrivals::{generate, ArrivalProcess, ClassDef, ClassOrder, ClassWeight, GenParams};
use super::{Workload, WorkloadOpts};
use crate::functions::{Calibration, FnSpec};

pub const BUILTINS: &[&str] = &["cpu", "io", "mixed"];

/// Default target load (fraction of cores) of each built-in.
pub fn default_load(name: &str) -> f64 {
    match name {
        "io" => 0.5,
        _ => 0.8,
    }
}

/// Default `io_share` of the mixed workload (fraction of CPU capacity).
pub const MIXED_DEFAULT_IO_SHARE: f64 = 0.15;

/// The ALPS-like fib classes: (name, target ms, [lo, hi) ms, invocation %).
/// Azure shares of the ALPS duration groups 0-50, 50-200, 200-400 and
/// 400+ ms are 42.9 / 17.2 / 16.7 / 23.2 %; each group's share is split
/// over its classes; the sub-ranges are disjoint so every class gets its
/// own n, and each spans more than a factor of 1.618 so it holds an n.
pub const CPU_CLASSES: &[(&str, f64, f64, f64, f64)] = &[
    ("fib-g1-a", 5.0, 1.0, 12.0, 21.45),
    ("fib-g1-b", 25.0, 12.0, 50.0, 21.45),
    ("fib-g2-a", 75.0, 50.0, 110.0, 8.6),
    ("fib-g2-b", 150.0, 110.0, 200.0, 8.6),
    ("fib-g3", 280.0, 200.0, 400.0, 16.7),
    ("fib-g4", 560.0, 400.0, 800.0, 23.2),
];

/// The n whose calibrated CPU time is closest to `target_ms`, moved into
/// [lo_ms, hi_ms) if it falls outside and the range holds some n.
pub fn fib_n_in_range(cal: &Calibration, target_ms: f64, lo_ms: f64, hi_ms: f64) -> u32 {
    let ms = |n: u32| cal.fib_cpu_ns(n) as f64 / 1e6;
    let mut n = cal.fib_n_for_ms(target_ms);
    while ms(n) < lo_ms && n < crate::functions::calibration::MAX_FIB_N {
        n += 1;
    }
    while ms(n) >= hi_ms && n > crate::functions::calibration::MIN_FIB_N {
        n -= 1;
    }
    n
}

/// The `cpu` classes on this machine.
pub fn cpu_classes(cal: &Calibration) -> Vec<ClassDef> {
    CPU_CLASSES
        .iter()
        .map(|&(name, target, lo, hi, pct)| {
            ClassDef::new(
                name,
                FnSpec::Fib {
                    n: fib_n_in_range(cal, target, lo, hi),
                },
                ClassWeight::Invocations(pct),
            )
        })
        .collect()
}

fn io_short() -> FnSpec {
    // io_task at n=25: 5 ms burn, 1.6^0 x 10 ms sleep, 1 ms burn.
    FnSpec::Io {
        compute_ms: 5.0,
        sleep_ms: 10.0,
        rounds: 1,
        tail_ms: 1.0,
    }
}

fn io_long() -> FnSpec {
    // io_task at n=28: sleep 1.6^3 x 10 ms = 40.96 ms.
    FnSpec::Io {
        compute_ms: 5.0,
        sleep_ms: 40.96,
        rounds: 1,
        tail_ms: 1.0,
    }
}

fn io_query() -> FnSpec {
    // A DB-query-like function: 4 round trips of 2 ms compute + 5 ms wait.
    FnSpec::Io {
        compute_ms: 2.0,
        sleep_ms: 5.0,
        rounds: 4,
        tail_ms: 1.0,
    }
}

fn deceptive() -> FnSpec {
    FnSpec::Deceptive {
        burst_ms: 50.0,
        sleeps: 20,
        sleep_ms: 2.0,
        tail_ms: 1.0,
    }
}

/// The `io` classes (all in the io group).
pub fn io_classes() -> Vec<ClassDef> {
    vec![
        ClassDef::new("io-short", io_short(), ClassWeight::Invocations(3.0)),
        ClassDef::new("io-long", io_long(), ClassWeight::Invocations(2.0)),
        ClassDef::new("io-query", io_query(), ClassWeight::Invocations(3.0)),
        ClassDef::new(
            "blockio",
            FnSpec::BlockIo {
                rounds: 4,
                read_kb: 256,
                write_kb: 16,
                compute_ms: 1.0,
                dir: None,
            },
            ClassWeight::Invocations(1.0),
        ),
        ClassDef::new(
            "futex-ring",
            FnSpec::Futex {
                threads: 4,
                rounds: 5,
                hold_ms: 0.5,
                work_ms: 0.2,
            },
            ClassWeight::Invocations(1.0),
        ),
        ClassDef::new("deceptive", deceptive(), ClassWeight::Invocations(1.0)),
    ]
}

/// The I/O-group classes of `mixed`.
pub fn mixed_io_classes() -> Vec<ClassDef> {
    vec![
        ClassDef::new("io-short", io_short(), ClassWeight::Invocations(3.0)),
        ClassDef::new("io-long", io_long(), ClassWeight::Invocations(2.0)),
        ClassDef::new("io-query", io_query(), ClassWeight::Invocations(3.0)),
        ClassDef::new("deceptive", deceptive(), ClassWeight::Invocations(2.0)),
    ]
}

/// Class definitions of a built-in (None if `name` is not one).
pub fn builtin_classes(name: &str, cal: &Calibration) -> Option<Vec<ClassDef>> {
    Some(match name {
        "cpu" => cpu_classes(cal),
        "io" => io_classes(),
        "mixed" => {
            let mut c = cpu_classes(cal);
            c.extend(mixed_io_classes());
            c
        }
        _ => return None,
    })
}

/// Generate a built-in workload; Ok(None) if `name` is not a built-in.
pub fn load_builtin(
    name: &str,
    opts: &WorkloadOpts,
    cal: &Calibration,
) -> Result<Option<Workload>> {
    let Some(classes) = builtin_classes(name, cal) else {
        return Ok(None);
    };
    let io_share = match name {
        "mixed" => Some(opts.io_share.unwrap_or(MIXED_DEFAULT_IO_SHARE)),
        _ => {
            if opts.io_share.is_some() {
                bail!("workload {name}: io_share applies only to the mixed workload (and TOML files with cpu and io classes)");
            }
            None
        }
    };
    let p = GenParams {
        name: name.to_string(),
        seed: opts.seed,
        duration_s: opts.duration_s,
        load: opts.load.unwrap_or(default_load(name)),
        cores: opts.cores,
        io_share,
        process: ArrivalProcess::Poisson,
        order: ClassOrder::Random,
    };
    generate(&classes, &p, cal).map(Some)
}
