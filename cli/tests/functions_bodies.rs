//! Each function body runs in this process and its time has the expected
//! shape. Tests are serialized (one lock) because they measure
//! process-wide CPU time, context switches and I/O counters.

use std::sync::Mutex;
use std::time::Instant;

use alps::functions::blockio::{blockio_dir, DirectFile};
use alps::functions::{main_args, process_cpu_ns, run, thread_cpu_ns, Calibration, FnSpec};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

#[test]
fn calibration_is_cached_and_reused() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("alps-cal-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::env::set_var("ALPS_CACHE_DIR", &dir);
    let a = Calibration::load_or_measure().unwrap();
    let path = dir.join("calibration.json");
    assert!(
        path.exists(),
        "calibration not stored at {}",
        path.display()
    );
    let b = Calibration::load_or_measure().unwrap();
    assert_eq!(a, b, "second call must reuse the stored calibration");
    std::env::remove_var("ALPS_CACHE_DIR");
    let _ = std::fs::remove_dir_all(&dir);
    // The table grows like the golden ratio.
    let r = a.fib_cpu_ns(31) as f64 / a.fib_cpu_ns(30) as f64;
    assert!((r - 1.618).abs() < 0.01, "ratio {r}");
    // fib_n_for_ms picks the closest n.
    let n = a.fib_n_for_ms(ms(a.fib_cpu_ns(27)));
    assert_eq!(n, 27);
}

#[test]
fn fib_takes_its_calibrated_cpu_time() {
    let _g = serial();
    let cal = Calibration::measure();
    let n = cal.fib_n_for_ms(40.0);
    let expected = cal.fib_cpu_ns(n);
    // Best of three: the calibration itself is a best-of-three.
    let mut best = u64::MAX;
    for _ in 0..3 {
        let t0 = thread_cpu_ns();
        assert_eq!(run(&FnSpec::Fib { n }).unwrap(), 0);
        best = best.min(thread_cpu_ns() - t0);
    }
    let ratio = best as f64 / expected as f64;
    assert!(
        (0.6..1.6).contains(&ratio),
        "fib({n}) took {:.1} ms CPU, calibration says {:.1} ms",
        ms(best),
        ms(expected)
    );
}

#[test]
fn io_mostly_sleeps() {
    let _g = serial();
    let spec = FnSpec::Io {
        compute_ms: 2.0,
        sleep_ms: 20.0,
        rounds: 3,
        tail_ms: 1.0,
    };
    let t0 = Instant::now();
    let c0 = thread_cpu_ns();
    assert_eq!(run(&spec).unwrap(), 0);
    let cpu = thread_cpu_ns() - c0;
    let wall = t0.elapsed().as_nanos() as u64;
    assert!(wall >= 67_000_000, "wall {:.1} ms", ms(wall));
    assert!(
        (6_500_000..12_000_000).contains(&cpu),
        "cpu {:.1} ms, expected ~7",
        ms(cpu)
    );
    assert!((cpu as f64) < 0.3 * wall as f64, "io should mostly sleep");
}

#[test]
fn deceptive_is_one_long_burst_then_sleeps() {
    let _g = serial();
    let spec = FnSpec::Deceptive {
        burst_ms: 20.0,
        sleeps: 10,
        sleep_ms: 2.0,
        tail_ms: 1.0,
    };
    let t0 = Instant::now();
    let c0 = thread_cpu_ns();
    run(&spec).unwrap();
    let cpu = thread_cpu_ns() - c0;
    let wall = t0.elapsed().as_nanos() as u64;
    assert!(
        (20_500_000..30_000_000).contains(&cpu),
        "cpu {:.1} ms",
        ms(cpu)
    );
    assert!(wall >= 41_000_000, "wall {:.1} ms", ms(wall));
}

fn proc_io() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/self/io").ok()?;
    let get = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((get("read_bytes:")?, get("write_bytes:")?))
}

#[test]
fn blockio_does_real_o_direct_io() {
    let _g = serial();
    let dir = blockio_dir(None);
    if let Err(e) = DirectFile::create(&dir) {
        eprintln!("SKIP: O_DIRECT unavailable in {}: {e:#}", dir.display());
        return;
    }
    let Some((r0, w0)) = proc_io() else {
        eprintln!("SKIP: /proc/self/io unreadable");
        return;
    };
    let st = alps::functions::blockio::run_blockio(3, 256, 16, 0.5, None).unwrap();
    let (r1, w1) = proc_io().unwrap();
    assert_eq!(st.bytes_read, 3 * 256 * 1024);
    assert_eq!(st.bytes_written, 256 * 1024 + 3 * 16 * 1024);
    assert_eq!(st.fsyncs, 4);
    // read_bytes/write_bytes count storage-layer I/O only: a page-cache hit
    // would not show up here.
    assert!(
        r1 - r0 >= st.bytes_read,
        "device reads {} < {} bytes read",
        r1 - r0,
        st.bytes_read
    );
    assert!(
        w1 - w0 >= st.bytes_written,
        "device writes {} < {}",
        w1 - w0,
        st.bytes_written
    );
    // Through the public entry point too, and the file is gone afterwards.
    let spec = FnSpec::BlockIo {
        rounds: 1,
        read_kb: 64,
        write_kb: 4,
        compute_ms: 0.0,
        dir: Some(dir.to_string_lossy().into_owned()),
    };
    assert_eq!(run(&spec).unwrap(), 0);
    let prefix = format!("alps-blockio-{}-", std::process::id());
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "blockio left files behind: {left:?}");
}

#[test]
fn blockio_on_a_missing_directory_is_an_error() {
    let _g = serial();
    let spec = FnSpec::BlockIo {
        rounds: 1,
        read_kb: 4,
        write_kb: 4,
        compute_ms: 0.0,
        dir: Some("/nonexistent/alps-dir".into()),
    };
    let e = run(&spec).unwrap_err();
    assert!(format!("{e:#}").contains("/nonexistent/alps-dir"), "{e:#}");
}

fn voluntary_switches() -> i64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid rusage to fill.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_nvcsw
}

#[test]
fn futex_threads_really_wait() {
    let _g = serial();
    let (threads, rounds, hold) = (4u32, 5u32, 3.0f64);
    let spec = FnSpec::Futex {
        threads,
        rounds,
        hold_ms: hold,
        work_ms: 0.0,
    };
    let v0 = voluntary_switches();
    let c0 = process_cpu_ns();
    let t0 = Instant::now();
    assert_eq!(run(&spec).unwrap(), 0);
    let wall = t0.elapsed().as_nanos() as f64;
    let cpu = (process_cpu_ns() - c0) as f64;
    let switches = voluntary_switches() - v0;
    let serial_ns = (threads * rounds) as f64 * hold * 1e6;
    // The token serializes the critical sections...
    assert!(wall >= serial_ns * 0.95, "wall {:.1} ms", wall / 1e6);
    // ...and the waiting threads sleep instead of spinning.
    assert!(
        cpu < 1.5 * wall,
        "cpu {:.1} ms vs wall {:.1} ms: threads spin",
        cpu / 1e6,
        wall / 1e6
    );
    assert!(cpu > 0.8 * serial_ns, "cpu {:.1} ms", cpu / 1e6);
    assert!(
        switches >= ((threads - 1) * rounds) as i64,
        "only {switches} voluntary switches"
    );
}

#[test]
fn cmd_returns_the_command_exit_code() {
    let _g = serial();
    let spec = FnSpec::Cmd {
        argv: args(&["sh", "-c", "exit 7"]),
        cpu_ms: None,
    };
    assert_eq!(run(&spec).unwrap(), 7);
    assert_eq!(
        main_args(&args(&["cmd", "--", "sh", "-c", "exit 3"])).unwrap(),
        3
    );
    assert_eq!(main_args(&args(&["cmd", "--", "true"])).unwrap(), 0);
    // Killed by SIGKILL: 128 + 9.
    assert_eq!(
        main_args(&args(&["cmd", "--", "sh", "-c", "kill -9 $$"])).unwrap(),
        137
    );
    assert!(main_args(&args(&["cmd", "--", "/nonexistent/alps-binary"])).is_err());
}

#[test]
fn main_args_runs_each_kind() {
    let _g = serial();
    assert_eq!(main_args(&args(&["fib", "n=20"])).unwrap(), 0);
    assert_eq!(main_args(&args(&["fn", "fib", "n=15"])).unwrap(), 0);
    for spec in [
        FnSpec::Io {
            compute_ms: 0.5,
            sleep_ms: 1.0,
            rounds: 2,
            tail_ms: 0.2,
        },
        FnSpec::Futex {
            threads: 3,
            rounds: 2,
            hold_ms: 0.2,
            work_ms: 0.1,
        },
        FnSpec::Deceptive {
            burst_ms: 1.0,
            sleeps: 3,
            sleep_ms: 0.5,
            tail_ms: 0.1,
        },
    ] {
        assert_eq!(main_args(&spec.to_args()).unwrap(), 0, "{spec:?}");
    }
    assert!(main_args(&args(&["fib"])).is_err());
    assert!(main_args(&args(&["warp", "n=1"])).is_err());
}
