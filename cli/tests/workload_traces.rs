//! Trace readers: each parses its shared file; malformed lines are errors
//! naming file:line; rescaling to a load and cutting to a duration.

use std::path::{Path, PathBuf};

use alps::functions::{Calibration, FnSpec};
use alps::workload::traces::{detect_format, TraceFormat};
use alps::workload::{load, Workload, WorkloadOpts};

fn cal() -> Calibration {
    Calibration::synthetic(5_000_000)
}

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("SKIP: {} is absent", p.display());
        None
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn whole() -> WorkloadOpts {
    WorkloadOpts {
        duration_s: 0.0,
        load: None,
        io_share: None,
        seed: 1,
        cores: 2,
    }
}

fn scaled(load: f64, duration_s: f64, seed: u64) -> WorkloadOpts {
    WorkloadOpts {
        duration_s,
        load: Some(load),
        io_share: None,
        seed,
        cores: 2,
    }
}

fn trace(path: &Path, opts: &WorkloadOpts) -> anyhow::Result<Workload> {
    load(&format!("trace:{}", path.display()), opts, &cal())
}

/// Write `text` to a fresh temporary file called `name`.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("alps-trace-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn assert_err_at(r: anyhow::Result<Workload>, path: &Path, line: usize) {
    let e = format!("{:#}", r.expect_err("malformed trace must be an error"));
    let want = format!("{}:{line}:", path.display());
    assert!(e.contains(&want), "error {e:?} does not name {want}");
}

#[test]
fn alps_traces_parse() {
    let Some(d) = shared() else { return };
    for (file, lines) in [
        ("alps_exp_workload.txt", 15000),
        ("alps_azure_workload.txt", 2000),
    ] {
        let p = d.join(file);
        assert_eq!(detect_format(&p).unwrap(), TraceFormat::Alps);
        let w = trace(&p, &whole()).unwrap();
        assert_eq!(w.invocations.len(), lines, "{file}");
        assert!(w.class("fib-28").is_some());
        assert!(w.class("graphPagerank-9").is_some());
        assert!(w.class("featureExtractor-1").is_some());
        // fib(31) of the artifact (CPython, ~485 ms) maps to the compiled
        // fib of about that duration on this calibration.
        let inv = w.invocations.iter().find(|i| i.class == "fib-31").unwrap();
        let n = cal().fib_n_for_ms(alps::workload::traces::alps::python_ms(31));
        assert_eq!(inv.spec, FnSpec::Fib { n });
        let ms = cal().fib_cpu_ns(n) as f64 / 1e6;
        assert!((300.0..800.0).contains(&ms), "fib-31 -> {ms} ms");
        // iat in ms, mean about 25 ms.
        let span = w.invocations.last().unwrap().arrival_ns as f64 / 1e6;
        let mean = span / (lines - 1) as f64;
        assert!((20.0..30.0).contains(&mean), "{file}: mean iat {mean} ms");
    }
}

#[test]
fn cs736_trace_parses() {
    let Some(d) = shared() else { return };
    let p = d.join("cs736_workload.txt");
    assert_eq!(detect_format(&p).unwrap(), TraceFormat::Cs736);
    let w = trace(&p, &whole()).unwrap();
    assert_eq!(w.invocations.len(), 11008);
    assert_eq!(w.invocations[0].spec, FnSpec::Fib { n: 45 });
    assert!(w.class("fib-36").unwrap().share > 0.5);
    let span = w.invocations.last().unwrap().arrival_ns as f64 / 1e6;
    assert!(
        (span / 11007.0 - 15.0).abs() < 1.0,
        "mean iat {}",
        span / 11007.0
    );
}

#[test]
fn azure2021_trace_parses() {
    let Some(d) = shared() else { return };
    let p = d.join("Azure2021_200.csv");
    assert_eq!(detect_format(&p).unwrap(), TraceFormat::Azure2021);
    let w = trace(&p, &whole()).unwrap();
    assert_eq!(w.invocations.len(), 199);
    assert!(w.classes.iter().all(|c| c.name.starts_with("az21-")));
    assert!(w.invocations.iter().all(|i| i.spec.kind() == "fib"));
}

#[test]
fn azure2019_fixtures_parse() {
    let f = fixtures();
    let inv = f.join("azure2019/invocations_per_function_md.anon.d01.csv");
    let dur = f.join("azure2019/function_durations_percentiles.anon.d01.csv");
    assert_eq!(detect_format(&inv).unwrap(), TraceFormat::Azure2019);
    assert_eq!(detect_format(&dur).unwrap(), TraceFormat::Azure2019);
    let opts = WorkloadOpts {
        duration_s: 120.0,
        ..whole()
    };
    let a = trace(&inv, &opts).unwrap();
    let b = trace(&dur, &opts).unwrap();
    let c = trace(&f.join("azure2019"), &opts).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    // Four functions have durations; the fifth is skipped.
    assert_eq!(a.classes.len(), 4, "{:?}", a.classes);
    assert!(a.class("az19-f4e5f6071829").is_none());
    // Two minutes of about 3+1+2+1 per minute.
    let n = a.invocations.len();
    assert!((6..=30).contains(&n), "{n} invocations");
    assert!(a.invocations.last().unwrap().arrival_ns < 120_000_000_000);
    // Seeded sampling: same seed same workload, another seed differs.
    let d = trace(
        &inv,
        &WorkloadOpts {
            seed: 2,
            ..opts.clone()
        },
    )
    .unwrap();
    assert_ne!(a.invocations, d.invocations);
    // Reordered columns, minute_N names, no HashOwner.
    let r = trace(
        &f.join("azure2019_reordered/invocations_per_function_md.anon.d02.csv"),
        &WorkloadOpts {
            duration_s: 0.0,
            ..whole()
        },
    )
    .unwrap();
    assert_eq!(r.classes.len(), 4);
    assert!(r.invocations.len() > 100);
    assert!(r.invocations.last().unwrap().arrival_ns < 600_000_000_000);
}

#[test]
fn azure2019_durations_follow_the_percentile_brackets() {
    use alps::workload::traces::azure2019::Percentiles;
    let p = Percentiles([1.0, 2.0, 5.0, 10.0, 20.0, 60.0, 120.0]);
    assert_eq!(p.sample(0.0), 1.0);
    assert_eq!(p.sample(0.5), 10.0);
    assert!((p.sample(0.375) - 7.5).abs() < 1e-9);
    assert!((p.sample(0.995) - 90.0).abs() < 1e-9);
    for i in 0..1000 {
        let v = p.sample(i as f64 / 1000.0);
        assert!((1.0..=120.0).contains(&v));
    }
}

#[test]
fn traces_rescale_to_the_load_and_cut_to_the_duration() {
    let Some(d) = shared() else { return };
    let cal = cal();
    for file in [
        "alps_exp_workload.txt",
        "alps_azure_workload.txt",
        "cs736_workload.txt",
        "Azure2021_200.csv",
    ] {
        let mut sum = 0.0;
        for seed in 0..3 {
            let w = trace(&d.join(file), &scaled(0.8, 60.0, seed)).unwrap();
            assert_eq!(w.load, 0.8);
            assert_eq!(w.duration_s, 60.0);
            assert!(w.invocations.last().unwrap().arrival_ns < 60_000_000_000);
            sum += w.realized_load(&cal);
        }
        let mean = sum / 3.0;
        // The stretch is fitted on the cut window; one invocation is the granularity.
        assert!(
            (mean / 0.8 - 1.0).abs() < 0.08,
            "{file}: realized load {mean:.3}"
        );
    }
    // A long, smooth trace hits the load closely.
    let w = trace(&d.join("cs736_workload.txt"), &scaled(0.7, 600.0, 1)).unwrap();
    let l = w.realized_load(&cal);
    assert!((l / 0.7 - 1.0).abs() < 0.05, "cs736 at 0.7: {l:.3}");
    let az = trace(&fixtures().join("azure2019"), &scaled(0.6, 300.0, 1)).unwrap();
    let l = az.realized_load(&cal);
    assert!((l / 0.6 - 1.0).abs() < 0.08, "azure2019 at 0.6: {l:.3}");
}

#[test]
fn explicit_format_prefix() {
    let Some(d) = shared() else { return };
    let p = d.join("cs736_workload.txt");
    let w = load(&format!("trace:cs736:{}", p.display()), &whole(), &cal()).unwrap();
    assert_eq!(w.invocations.len(), 11008);
    // Read as the ALPS format it parses too (same layout), but names differ.
    let a = load(&format!("trace:alps:{}", p.display()), &whole(), &cal()).unwrap();
    assert_eq!(a.invocations.len(), 11008);
}

#[test]
fn malformed_lines_name_file_and_line() {
    // ALPS: bad iat on line 3.
    let p = temp_file(
        "alps_bad.txt",
        "1 31 fib 34 5018\r\n2 8 graphPagerank 17 5010\r\n3 31 fib x 5018\r\n",
    );
    assert_err_at(trace(&p, &whole()), &p, 3);
    // ALPS: wrong field count on line 2.
    let p = temp_file("alps_short.txt", "1 31 fib 34 5018\n2 8 graphPagerank 17\n");
    assert_err_at(
        load(&format!("trace:alps:{}", p.display()), &whole(), &cal()),
        &p,
        2,
    );
    // ALPS: unknown job.
    let p = temp_file("alps_job.txt", "1 31 fib 34 5018\n2 8 quicksort 17 5010\n");
    assert_err_at(trace(&p, &whole()), &p, 2);
    // cs736: non-fib job on line 2, negative iat on line 3.
    let p = temp_file("cs_bad.txt", "1 45 fib 30 5\n2 36 bfs 1 1\n");
    assert_err_at(trace(&p, &whole()), &p, 2);
    let p = temp_file("cs_neg.txt", "1 45 fib 30 5\n2 36 fib 1 1\n3 36 fib -4 1\n");
    assert_err_at(trace(&p, &whole()), &p, 3);
    // Azure 2021: bad duration on line 3, missing field on line 2.
    let p = temp_file(
        "az21_bad.csv",
        "app,func,end_timestamp,duration\na1,f1,0.5,0.1\na2,f2,1.0,abc",
    );
    assert_err_at(trace(&p, &whole()), &p, 3);
    let p = temp_file(
        "az21_short.csv",
        "app,func,end_timestamp,duration\na1,f1,0.5\n",
    );
    assert_err_at(trace(&p, &whole()), &p, 2);
    // Azure 2021: header without a duration column.
    let p = temp_file(
        "az21_hdr.csv",
        "app,func,end_timestamp,dur\na1,f1,0.5,0.1\n",
    );
    assert!(load(
        &format!("trace:azure2021:{}", p.display()),
        &whole(),
        &cal()
    )
    .is_err());
    // Azure 2019: bad count on line 3 of the invocations file.
    let dir = std::env::temp_dir().join(format!("alps-az19-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inv = dir.join("invocations_per_function_md.anon.d05.csv");
    std::fs::write(
        &inv,
        "HashOwner,HashApp,HashFunction,Trigger,1,2\no,a,f1,http,1,2\no,a,f2,http,1,-x\n",
    )
    .unwrap();
    let dur = dir.join("function_durations_percentiles.anon.d05.csv");
    std::fs::write(
        &dur,
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100\n\
         o,a,f1,10,3,1,50,1,2,5,10,20,40,50\n\
         o,a,f2,10,3,1,50,1,2,5,oops,20,40,50\n",
    )
    .unwrap();
    let r = trace(&inv, &whole());
    // The durations file is parsed first: its line 3 is reported.
    assert_err_at(r, &dur, 3);
    std::fs::write(
        &dur,
        "HashOwner,HashApp,HashFunction,Average,Count,Minimum,Maximum,percentile_Average_0,percentile_Average_1,percentile_Average_25,percentile_Average_50,percentile_Average_75,percentile_Average_99,percentile_Average_100\n\
         o,a,f1,10,3,1,50,1,2,5,10,20,40,50\n",
    )
    .unwrap();
    assert_err_at(trace(&inv, &whole()), &inv, 3);
    // Missing companion file.
    let lone = temp_file(
        "invocations_per_function_md.anon.d09.csv",
        "HashFunction,1\nf,1\n",
    );
    let e = format!("{:#}", trace(&lone, &whole()).unwrap_err());
    assert!(
        e.contains("function_durations_percentiles.anon.d09.csv"),
        "{e}"
    );
    // Unrecognizable content.
    let p = temp_file("junk.txt", "hello world\n");
    assert!(trace(&p, &whole()).is_err());
    let p = temp_file("empty.txt", "");
    assert!(trace(&p, &whole()).is_err());
}
