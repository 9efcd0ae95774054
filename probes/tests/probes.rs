//! The probes against real processes: real BPF attached, real tasks
//! scheduled. Needs root; outside CI a non-root run skips with a message,
//! under CI (`CI=true`) a missing privilege or a load failure fails.
//!
//! The bodies run in a re-executed copy of this test binary (see
//! `body_main`), so each invocation is a real process with known behaviour.

use alps_probes::{Account, ProbeOptions, Probes};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The bodies live in src/bin/probe-body.rs.
fn body_exe() -> &'static str {
    env!("CARGO_BIN_EXE_probe-body")
}

/// Load the probes, or skip (outside CI, without root).
fn probes() -> Option<Probes> {
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 && !ci {
        eprintln!(
            "SKIP: the probe tests need root to load BPF (set CI=true to make this a failure)"
        );
        return None;
    }
    Some(Probes::load(&ProbeOptions::default()).expect("BPF probes must load and attach"))
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct Ran {
    acc: Account,
    /// sum_exec_runtime of the root process read from its zombie.
    root_schedstat_ns: u64,
    exit_status: i32,
}

/// Run one body as a tagged invocation and return its record.
fn run_tagged(p: &Probes, body: &str) -> Ran {
    let tagger = p.tagger().unwrap();
    let collector = p.collector().unwrap();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) + (std::process::id() as u64) * 1000;
    let mut cmd = Command::new(body_exe());
    cmd.arg(body);
    let child = tagger.spawn(&mut cmd, 42, id).expect("spawn");
    let pid = child.id() as i32;
    // Wait for exit but leave the zombie, so its final schedstat is readable.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer; WNOWAIT leaves the child reapable.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as u32,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(rc, 0);
    let schedstat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    let root_schedstat_ns: u64 = schedstat
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut child = child;
    let status = child.wait().unwrap();
    let acc = collector
        .wait(id, Duration::from_secs(5))
        .expect("the invocation's record must arrive");
    Ran {
        acc,
        root_schedstat_ns,
        exit_status: status.code().unwrap_or(-1),
    }
}

fn assert_adds_up(a: &Account) {
    let parts = a.parts_ns() as f64;
    let life = a.lifetime_ns as f64;
    assert!(life > 0.0, "lifetime must be positive: {a:?}");
    let err = (parts - life).abs() / life;
    assert!(
        err < 0.01,
        "parts {parts} vs lifetime {life} differ by {:.3}%: {a:?}",
        err * 100.0
    );
    assert!(
        a.wall_ns > 0 && a.wall_ns <= a.lifetime_ns + 1_000_000,
        "{a:?}"
    );
}

#[test]
fn spinner_on_cpu_matches_schedstat() {
    let Some(p) = probes() else { return };
    let r = run_tagged(&p, "spin");
    let a = &r.acc;
    assert_eq!(a.threads, 1, "{a:?}");
    let err = (a.on_cpu_ns as f64 - r.root_schedstat_ns as f64).abs() / r.root_schedstat_ns as f64;
    assert!(
        err < 0.01,
        "on_cpu_ns {} vs schedstat {} ({:.3}% apart)",
        a.on_cpu_ns,
        r.root_schedstat_ns,
        err * 100.0
    );
    assert!(a.on_cpu_ns >= 400_000_000, "{a:?}");
    assert!(a.bursts >= 1 && a.max_burst_ns > 0);
    assert_adds_up(a);
}

#[test]
fn sleep_loop_lands_in_sleep() {
    let Some(p) = probes() else { return };
    let a = run_tagged(&p, "sleep").acc;
    assert!(a.sleep_ns >= 180_000_000, "20 x 10 ms sleeps: {a:?}");
    assert!(a.sleep_ns > a.wall_ns / 2, "{a:?}");
    // A wakeup that races the sleep it ends (the timer fires before the
    // task has switched out) is no wakeup from sleep: allow a few.
    assert!(a.wakeups >= 15 && a.voluntary_switches >= 20, "{a:?}");
    assert!(a.bursts >= 20, "every sleep ends a burst: {a:?}");
    assert_adds_up(&a);
}

#[test]
fn direct_io_and_fsync_land_in_block_io() {
    let Some(p) = probes() else { return };
    let a = run_tagged(&p, "blockio").acc;
    assert!(a.block_io_ns > 0, "{a:?}");
    assert!(a.block_requests > 0, "{a:?}");
    assert!(a.block_bytes >= 4096, "{a:?}");
    assert_adds_up(&a);
}

#[test]
fn lock_contention_lands_in_futex() {
    let Some(p) = probes() else { return };
    let a = run_tagged(&p, "futex").acc;
    assert!(a.futex_ns > 0, "{a:?}");
    assert_eq!(a.threads, 5, "main thread + 4 workers: {a:?}");
    assert_adds_up(&a);
}

#[test]
fn threads_are_aggregated() {
    let Some(p) = probes() else { return };
    let r = run_tagged(&p, "threads");
    let a = &r.acc;
    assert_eq!(a.threads, 4, "{a:?}");
    assert!(a.on_cpu_ns >= 300_000_000, "3 x 100 ms of CPU: {a:?}");
    assert_adds_up(a);
}

#[test]
fn forked_children_are_aggregated() {
    let Some(p) = probes() else { return };
    let a = run_tagged(&p, "fork").acc;
    assert!(
        a.threads >= 4,
        "root + 3 children (and their threads): {a:?}"
    );
    assert!(
        a.on_cpu_ns >= 300_000_000,
        "3 children x 100 ms of CPU: {a:?}"
    );
    assert_adds_up(&a);
}

#[test]
fn exit_code_is_recorded() {
    let Some(p) = probes() else { return };
    let r = run_tagged(&p, "exit7");
    assert_eq!(r.exit_status, 7);
    assert_eq!(r.acc.exit_code, 7);
}

/// Under load (more runnable tasks than CPUs, many switches) the parts
/// still add up for every invocation, and nothing is dropped.
#[test]
fn parts_add_up_under_load() {
    let Some(p) = probes() else { return };
    let tagger = p.tagger().unwrap();
    let collector = p.collector().unwrap();
    let exe = body_exe();
    let t0 = Instant::now();
    let mut kids = Vec::new();
    for i in 0..12u64 {
        let body = ["spin", "sleep", "futex", "threads"][i as usize % 4];
        let mut cmd = Command::new(exe);
        cmd.arg(body);
        let id = 900_000 + i + (std::process::id() as u64) * 1000;
        kids.push((id, tagger.spawn(&mut cmd, 7, id).unwrap()));
    }
    for (id, mut k) in kids {
        k.wait().unwrap();
        let a = collector.wait(id, Duration::from_secs(10)).expect("record");
        assert_adds_up(&a);
    }
    let c = p.counters().unwrap();
    assert_eq!(c.records_dropped + c.map_full, 0, "{c:?}");
    eprintln!("under load: {:?} in {:?}", c, t0.elapsed());
}
