//! The live runner and the function bodies on the real system: real BPF
//! probes, real processes. Needs root (skips outside CI without it).

mod common;
use common::*;

/// Each function body, run under the probes, lands its time in the
/// expected bucket.
#[test]
fn bodies_land_in_their_buckets() {
    if skip("probing function bodies") {
        return;
    }
    let _g = serial();
    let fib = probe(&[ALPS, "fn", "fib", "n=30"]);
    assert!(u(&fib, "on_cpu_ns") > 0);
    let off = u(&fib, "block_io_ns") + u(&fib, "futex_ns") + u(&fib, "sleep_ns");
    assert!(off * 10 < u(&fib, "on_cpu_ns"), "fib is CPU-bound: {fib}");

    let io = probe(&[
        ALPS,
        "fn",
        "io",
        "compute_ms=2",
        "sleep_ms=20",
        "rounds=3",
        "tail_ms=1",
    ]);
    assert!(u(&io, "sleep_ns") >= 55_000_000, "3 x 20 ms sleeps: {io}");
    assert!(u(&io, "on_cpu_ns") >= 6_000_000, "7 ms of CPU: {io}");
    assert!(u(&io, "bursts") >= 4, "{io}");

    let bio = probe(&[
        ALPS,
        "fn",
        "blockio",
        "rounds=3",
        "read_kb=256",
        "write_kb=16",
    ]);
    assert!(u(&bio, "block_io_ns") > 0, "{bio}");
    assert!(u(&bio, "block_requests") > 0, "{bio}");

    let fx = probe(&[
        ALPS,
        "fn",
        "futex",
        "threads=4",
        "rounds=10",
        "hold_ms=1",
        "work_ms=0.2",
    ]);
    assert!(u(&fx, "futex_ns") > 0, "{fx}");
    assert!(u(&fx, "threads") >= 4, "{fx}");

    let dec = probe(&[
        ALPS,
        "fn",
        "deceptive",
        "burst_ms=30",
        "sleeps=10",
        "sleep_ms=2",
        "tail_ms=1",
    ]);
    assert!(u(&dec, "on_cpu_ns") >= 30_000_000, "{dec}");
    assert!(u(&dec, "sleep_ns") >= 18_000_000, "{dec}");
    assert!(
        u(&dec, "max_burst_ns") >= 25_000_000,
        "the long burst: {dec}"
    );
    assert!(u(&dec, "bursts") >= 11, "{dec}");

    let cmd = probe(&[ALPS, "fn", "cmd", "--", "sh", "-c", "sleep 0.05"]);
    assert!(u(&cmd, "sleep_ns") >= 45_000_000, "{cmd}");
    assert!(
        u(&cmd, "threads") >= 2,
        "the command is a child of the function: {cmd}"
    );
}

#[test]
fn probe_reports_missing_command_and_exit_codes() {
    if skip("alps probe") {
        return;
    }
    let out = alps()
        .args(["probe", "--", "/nonexistent/cmd"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not found"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let out = alps()
        .args(["probe", "--json", "--", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exit_code"], 3);
    for k in [
        "function_id",
        "invocation_id",
        "wall_ns",
        "on_cpu_ns",
        "runq_wait_ns",
        "block_io_ns",
        "futex_ns",
        "sleep_ns",
        "other_blocked_ns",
        "bursts",
        "mean_burst_ns",
        "max_burst_ns",
        "wakeups",
        "voluntary_switches",
        "involuntary_switches",
        "block_requests",
        "block_bytes",
        "threads",
        "exit_code",
    ] {
        assert!(v.get(k).is_some(), "field {k} missing: {v}");
    }
}

/// `alps run` end to end on the built-in mixed workload; summary.json
/// follows the schema.
#[test]
fn run_mixed_eevdf_end_to_end() {
    if skip("alps run") {
        return;
    }
    let _g = serial();
    let out = tmpdir("run-mixed");
    let st = alps()
        .args([
            "run",
            "--workload",
            "mixed",
            "--policy",
            "eevdf",
            "--duration",
            "8",
            "--warmup",
            "1",
            "--no-progress",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for k in [
        "workload",
        "policy",
        "duration_s",
        "classes",
        "throughput",
        "context_switches_per_s",
        "cpu_utilization",
        "dropped_records",
    ] {
        assert!(s.get(k).is_some(), "summary.json lacks {k}");
    }
    assert_eq!(s["policy"], "eevdf");
    assert_eq!(s["dropped_records"], 0);
    let classes = s["classes"].as_object().unwrap();
    assert!(classes.len() >= 6, "{classes:?}");
    for (name, c) in classes {
        for k in [
            "count",
            "mean_ms",
            "p50_ms",
            "p90_ms",
            "p99_ms",
            "p999_ms",
            "mean_slowdown",
            "on_cpu_ms_mean",
            "off_cpu_ms_mean",
        ] {
            assert!(c.get(k).is_some(), "class {name} lacks {k}");
        }
        assert!(c["p50_ms"].as_f64().unwrap() <= c["p99_ms"].as_f64().unwrap());
    }
    assert!(s["throughput"]["invocations_per_s"].as_f64().unwrap() > 1.0);
    // perf counts every task's switches; the probes only the functions'.
    let ctx = s["context_switches_per_s"].as_f64().unwrap();
    let fn_ctx = s["function_context_switches_per_s"].as_f64().unwrap();
    assert!(
        fn_ctx > 0.0 && ctx >= fn_ctx,
        "perf {ctx}/s vs probes {fn_ctx}/s"
    );
    let util = s["cpu_utilization"].as_f64().unwrap();
    assert!(util > 0.2 && util <= 1.0, "{util}");
    // Every record is there, with the class and the probe fields.
    let recs = std::fs::read_to_string(out.join("records.jsonl")).unwrap();
    let n = recs.lines().count();
    assert!(
        n >= classes
            .values()
            .map(|c| c["count"].as_u64().unwrap())
            .sum::<u64>() as usize
    );
    let first: serde_json::Value = serde_json::from_str(recs.lines().next().unwrap()).unwrap();
    for k in [
        "class",
        "arrival_ns",
        "start_ns",
        "end_ns",
        "on_cpu_ns",
        "sleep_ns",
    ] {
        assert!(first.get(k).is_some(), "record lacks {k}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

/// 200 invocations per second of a ~1 ms function: no record lost.
#[test]
fn runner_keeps_up_at_200_per_second() {
    if skip("alps run") {
        return;
    }
    let _g = serial();
    let out = tmpdir("run-rate");
    let wl = out.join("rate.toml");
    std::fs::write(
        &wl,
        r#"name = "rate"
load = 0.1
[arrivals]
process = "uniform"
[[class]]
name = "tiny"
fn = { kind = "fib", ms = 1 }
"#,
    )
    .unwrap();
    let st = alps()
        .args(["run", "--workload"])
        .arg(&wl)
        .args([
            "--policy",
            "eevdf",
            "--duration",
            "4",
            "--warmup",
            "0",
            "--no-progress",
            "--out",
        ])
        .arg(out.join("r"))
        .status()
        .unwrap();
    assert!(st.success());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("r/summary.json")).unwrap())
            .unwrap();
    let count = s["classes"]["tiny"]["count"].as_u64().unwrap();
    let rate = s["throughput"]["invocations_per_s"].as_f64().unwrap();
    assert_eq!(s["dropped_records"], 0, "{s}");
    assert_eq!(s["failed"], 0, "{s}");
    let recs = std::fs::read_to_string(out.join("r/records.jsonl"))
        .unwrap()
        .lines()
        .count() as u64;
    assert_eq!(recs, count);
    assert!(count >= 600, "about 200/s for 4 s: {count}");
    assert!(rate >= 120.0, "{rate}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Bad input: a clear message, a non-zero exit, no panic.
#[test]
fn bad_workload_and_records_give_clear_errors() {
    let out = alps()
        .args([
            "run",
            "--workload",
            "nonexistent-workload",
            "--policy",
            "eevdf",
            "--out",
            "/tmp/alps-never",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown workload") && !err.contains("panicked"),
        "{err}"
    );

    let dir = tmpdir("bad-records");
    std::fs::write(dir.join("records.jsonl"), "{\"class\": 1}\n").unwrap();
    let out = alps()
        .args(["learn", "--records"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("records.jsonl:1"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without root: one clear message naming the cause and the fix, exit 2.
#[test]
fn probe_without_root_says_why() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("SKIP: needs root (to drop it) and setpriv");
        return;
    }
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            ALPS,
            "probe",
            "--",
            "true",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("need root") && err.contains("run alps as root"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}
