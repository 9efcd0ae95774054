//! `alps scx-selftest` (hidden; feature `scx`): the sched_ext backend's
//! acceptance checks with real processes, run inside the VM by
//! scripts/vm-test.sh. Each check prints `PASS name: ...` or
//! `FAIL name: ...`; the last line is `scx-selftest: N passed, M failed`.
//!
//! 1. `attach`: after attach the state is `enabled` with our ops name,
//!    after detach `disabled`.
//! 2. `ordering`: under contention (more spinners than CPUs), a rank-1
//!    function's invocations wait less than a rank-50 one's.
//! 3. `slice`: a function with a learned slice longer than the default is
//!    picked with it (`slice_extended`) and, while others wait, is demoted
//!    after it (`demotions`).
//! 4. `inherit`: a tagged task's child is tagged by the scheduler at fork.
//! 5. `stall`: a task that is never dispatched trips a short watchdog; the
//!    kernel reverts to the fair class, the exit reason names the stall,
//!    and a new attach afterwards works.
//!
//! `alps scx-selftest spin MS` is the body the checks launch: it waits for
//! a byte on stdin (so the parent can tag it first), burns MS ms of its own
//! CPU time and prints `wait_ns cpu_ns` (wall time not spent on the CPU).

use alps_policy::backend::scx::{self, ScxBackend, ScxConfig};
use alps_policy::backend::{monotonic_ns, Backend};
use alps_policy::policy::{FunctionPolicy, IoControls, Policy, Variant};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The spinner body (with `fork`, it first runs a short spinner child).
fn spin(ms: u64, fork: bool) -> Result<i32> {
    // Ready (exec and start-up are slow under TCG); then wait for the gate.
    println!("ready");
    std::io::stdout().flush()?;
    // The gate: the parent's CLOCK_MONOTONIC when it opened all gates (so
    // the wait before this task first runs counts), or 0 for "now".
    let mut gate = String::new();
    std::io::stdin().read_line(&mut gate)?;
    let now = monotonic_ns();
    let t0 = match gate.trim().parse::<u64>() {
        Ok(t) if t > 0 && t <= now => t,
        _ => now,
    };
    if fork {
        let mut c = Command::new(std::env::current_exe()?)
            .args(["scx-selftest", "spin", "5"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        if let Some(mut i) = c.stdin.take() {
            let _ = i.write_all(b"0\n");
        }
        c.wait()?;
    }
    let c0 = thread_cpu_ns();
    let mut x: u64 = 1;
    while thread_cpu_ns() - c0 < ms * 1_000_000 {
        for i in 0..10_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(x);
    }
    let wall = monotonic_ns() - t0;
    let cpu = thread_cpu_ns() - c0;
    println!("{} {}", wall.saturating_sub(cpu), cpu);
    Ok(0)
}

/// A gated spinner.
struct Spinner {
    child: Child,
    function_id: u32,
    out: BufReader<ChildStdout>,
}

fn spawn_spinner(ms: u64, function_id: u32) -> Result<Spinner> {
    spawn_spinner_args(&["spin", &ms.to_string()], function_id)
}

fn spawn_spinner_args(args: &[&str], function_id: u32) -> Result<Spinner> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .arg("scx-selftest")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("spawning a spinner")?;
    let out = BufReader::new(child.stdout.take().context("spinner stdout")?);
    Ok(Spinner {
        child,
        function_id,
        out,
    })
}

/// Tag every spinner, open the gates together, collect (function, wait_ns).
fn run_spinners(
    b: &mut ScxBackend,
    spinners: Vec<Spinner>,
    deadline: Duration,
) -> Result<Vec<(u32, u64)>> {
    let mut spinners = spinners;
    // Every spinner is started and waiting before any gate opens, so they
    // all contend from the same instant.
    for s in spinners.iter_mut() {
        let mut line = String::new();
        s.out.read_line(&mut line)?;
        if line.trim() != "ready" {
            bail!("spinner said {line:?} instead of ready");
        }
        wait_sleeping(s.child.id(), Duration::from_secs(10));
    }
    for (i, s) in spinners.iter().enumerate() {
        b.tag(s.child.id(), s.function_id, i as u64 + 1)?;
    }
    let gate = format!("{}\n", monotonic_ns());
    for s in spinners.iter_mut() {
        if let Some(mut stdin) = s.child.stdin.take() {
            let _ = stdin.write_all(gate.as_bytes());
        }
    }
    let t0 = Instant::now();
    let mut out = Vec::new();
    for mut s in spinners {
        loop {
            if s.child.try_wait()?.is_some() {
                break;
            }
            if t0.elapsed() > deadline {
                let _ = s.child.kill();
                let _ = s.child.wait();
                bail!("a spinner did not finish within {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut text = String::new();
        s.out.read_to_string(&mut text)?;
        let wait: u64 = text
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .with_context(|| format!("spinner printed {text:?}"))?;
        b.untag(s.child.id());
        out.push((s.function_id, wait));
    }
    Ok(out)
}

fn fp(rank: u32, slice_ns: u64) -> FunctionPolicy {
    FunctionPolicy {
        rank,
        slice_ns,
        io: IoControls {
            wakeup_preempt_budget_per_s: u32::MAX,
            ..Default::default()
        },
    }
}

fn delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>, k: &str) -> u64 {
    b.get(k).copied().unwrap_or(0) - a.get(k).copied().unwrap_or(0)
}

fn check_attach() -> Result<String> {
    let mut b = ScxBackend::new(ScxConfig::default())?;
    let (st, ops) = (scx::state(), scx::ops_name());
    if st != "enabled" || ops != scx::OPS_NAME {
        bail!("after attach: state {st:?}, ops {ops:?}");
    }
    b.restore()?;
    let st2 = scx::state();
    if st2 != "disabled" {
        bail!("after detach: state {st2:?}");
    }
    Ok(format!(
        "after attach state={st} ops={ops}; after detach state={st2}; exit {:?}",
        b.exit_info().map(|e| e.reason)
    ))
}

fn mean(v: &[u64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }
}

fn check_ordering(b: &mut ScxBackend, spin_ms: u64, per_fn: usize) -> Result<String> {
    let (hi, lo) = (1u32, 2u32);
    let mut p = Policy {
        version: 1,
        variant: Variant::Alps,
        ..Default::default()
    };
    p.functions.insert(hi, fp(1, 0));
    p.functions.insert(lo, fp(50, 0));
    b.apply(&p)?;
    let c0 = b.counters();
    // Low rank launched first, so arrival order alone would favour it.
    let mut sp = Vec::new();
    for _ in 0..per_fn {
        sp.push(spawn_spinner(spin_ms, lo)?);
    }
    for _ in 0..per_fn {
        sp.push(spawn_spinner(spin_ms, hi)?);
    }
    let res = run_spinners(b, sp, Duration::from_secs(120))?;
    let c1 = b.counters();
    let w = |f: u32| -> Vec<u64> { res.iter().filter(|r| r.0 == f).map(|r| r.1).collect() };
    let (wh, wl) = (mean(&w(hi)), mean(&w(lo)));
    let msg = format!(
        "mean wait rank 1: {:.1} ms, rank 50: {:.1} ms ({per_fn} x {spin_ms} ms each); enq_tagged +{}, dispatch_shared +{}",
        wh / 1e6,
        wl / 1e6,
        delta(&c0, &c1, "enq_tagged"),
        delta(&c0, &c1, "dispatch_shared")
    );
    if wh < wl {
        Ok(msg)
    } else {
        bail!("higher rank did not wait less: {msg}")
    }
}

fn check_slice(b: &mut ScxBackend, spin_ms: u64) -> Result<String> {
    let (long, other) = (3u32, 4u32);
    let mut p = Policy {
        version: 2,
        variant: Variant::Alps,
        ..Default::default()
    };
    // 60 ms > the 20 ms default slice.
    p.functions.insert(long, fp(1, 60_000_000));
    p.functions.insert(other, fp(1, 0));
    b.apply(&p)?;
    let c0 = b.counters();
    let mut sp = Vec::new();
    for _ in 0..2 {
        sp.push(spawn_spinner(spin_ms, long)?);
    }
    for _ in 0..2 {
        sp.push(spawn_spinner(spin_ms, other)?);
    }
    run_spinners(b, sp, Duration::from_secs(120))?;
    let c1 = b.counters();
    let (ext, dem, learned) = (
        delta(&c0, &c1, "slice_extended"),
        delta(&c0, &c1, "demotions"),
        delta(&c0, &c1, "slice_learned"),
    );
    let msg = format!("slice_learned +{learned}, slice_extended +{ext}, demotions +{dem}");
    if ext > 0 && dem > 0 {
        Ok(msg)
    } else {
        bail!("no extension or no fallback seen: {msg}")
    }
}

fn check_inherit(b: &mut ScxBackend) -> Result<String> {
    let c0 = b.counters();
    let sp = vec![spawn_spinner_args(&["spin", "20", "fork"], 5)?];
    run_spinners(b, sp, Duration::from_secs(60))?;
    let c1 = b.counters();
    let forks = delta(&c0, &c1, "tagged_forks");
    if forks > 0 {
        Ok(format!("tagged_forks +{forks}"))
    } else {
        bail!("a tagged task's child was not tagged (tagged_forks +0)")
    }
}

/// Wait until `pid` sleeps (state S in /proc/PID/stat).
fn wait_sleeping(pid: u32, max: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < max {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command name's closing parenthesis.
        if let Some(i) = stat.rfind(')') {
            if stat[i + 1..].trim_start().starts_with('S') {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn check_stall() -> Result<String> {
    let stall_fn = 99u32;
    let mut b = ScxBackend::new(ScxConfig {
        timeout_ms: 2_000,
        ..Default::default()
    })?;
    b.set_stall_fn(stall_fn)?;
    let mut s = spawn_spinner(50, stall_fn)?;
    // Tag it only once it sleeps on its gate, so that its wakeup goes
    // through enqueue (a task running alone on a CPU keeps running at the
    // end of its slice without passing through enqueue).
    let mut line = String::new();
    s.out.read_line(&mut line)?;
    wait_sleeping(s.child.id(), Duration::from_secs(10));
    b.tag(s.child.id(), stall_fn, 1)?;
    if let Some(mut stdin) = s.child.stdin.take() {
        let _ = stdin.write_all(b"0\n");
    }
    let t0 = Instant::now();
    let mut exit = None;
    let mut stall_s = 0.0;
    while t0.elapsed() < Duration::from_secs(30) {
        if let Some(e) = b.exit_info() {
            exit = Some(e);
            stall_s = t0.elapsed().as_secs_f64();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let reverted = scx::wait_state("disabled", Duration::from_secs(10));
    let restore = b.restore();
    // Back in the fair class, the parked spinner finishes.
    let t1 = Instant::now();
    let mut finished = false;
    while t1.elapsed() < Duration::from_secs(20) {
        if s.child.try_wait()?.is_some() {
            finished = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !finished {
        let _ = s.child.kill();
        let _ = s.child.wait();
    }
    let Some(e) = exit else {
        bail!(
            "the watchdog did not stop the scheduler within 30 s (state {:?})",
            scx::state()
        );
    };
    restore?;
    if !reverted {
        bail!("state {:?} after the stall", scx::state());
    }
    if !(e.kind == 1026 || e.reason.contains("stall") || e.msg.contains("stall")) {
        bail!("exit was not a stall: {e:?}");
    }
    if !finished {
        bail!("the stalled task did not run after the revert");
    }
    let after = Instant::now();
    // A new attach afterwards works.
    let mut b2 = ScxBackend::new(ScxConfig::default())?;
    let ok = scx::state() == "enabled" && scx::ops_name() == scx::OPS_NAME;
    b2.restore()?;
    if !ok {
        bail!("re-attach after the stall failed");
    }
    Ok(format!(
        "exit kind {} reason {:?} msg {:?} after {:.1} s; stalled task ran after revert; re-attach ok in {:.1} s",
        e.kind,
        e.reason,
        e.msg,
        stall_s,
        after.elapsed().as_secs_f64()
    ))
}

/// Run every check (or only `only`); returns the exit code (0 when all passed).
pub fn selftest(spin_ms: u64, per_fn: usize, only: Option<&str>) -> Result<i32> {
    scx::check_available()?;
    let mut passed = 0;
    let mut failed = 0;
    if only == Some("stall") {
        match check_stall() {
            Ok(m) => {
                passed += 1;
                println!("PASS stall: {m}");
            }
            Err(e) => {
                failed += 1;
                println!("FAIL stall: {e:#}");
            }
        }
        println!("scx-selftest: {passed} passed, {failed} failed");
        return Ok(i32::from(failed > 0));
    }
    let mut report = |name: &str, r: Result<String>| match r {
        Ok(m) => {
            passed += 1;
            println!("PASS {name}: {m}");
        }
        Err(e) => {
            failed += 1;
            println!("FAIL {name}: {e:#}");
        }
    };
    report("attach", check_attach());
    // Ordering and slice share one attach; strict ranks for the test.
    match ScxBackend::new(ScxConfig {
        timeout_ms: 20_000,
        rank_gap_ns: Some(1_000_000_000),
        ..Default::default()
    }) {
        Ok(mut b) => {
            report("ordering", check_ordering(&mut b, spin_ms, per_fn));
            report("slice", check_slice(&mut b, spin_ms));
            report("inherit", check_inherit(&mut b));
            let counters = b.counters();
            let r = b.restore();
            println!(
                "counters: {}",
                serde_json::to_string(&counters).unwrap_or_default()
            );
            if let Some(e) = b.exit_info() {
                println!(
                    "exit: kind {} reason {:?} msg {:?}",
                    e.kind, e.reason, e.msg
                );
            }
            report("detach", r.map(|_| format!("state {}", scx::state())));
        }
        Err(e) => {
            report("ordering", Err(e));
            report("slice", Err(anyhow::anyhow!("not attached")));
        }
    }
    report("stall", check_stall());
    println!("scx-selftest: {passed} passed, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}

/// `alps scx-selftest [spin MS | --spin-ms MS --per-fn N]`.
pub fn main_args(args: &[String]) -> Result<i32> {
    match args.first().map(String::as_str) {
        Some("spin") => {
            let ms = args
                .get(1)
                .and_then(|s| s.parse().ok())
                .context("usage: alps scx-selftest spin MS [fork]")?;
            spin(ms, args.get(2).map(String::as_str) == Some("fork"))
        }
        _ => {
            let mut spin_ms = 300;
            let mut per_fn = 3;
            let mut only = None;
            let mut it = args.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "--spin-ms" => {
                        spin_ms = it.next().and_then(|s| s.parse().ok()).unwrap_or(spin_ms)
                    }
                    "--per-fn" => per_fn = it.next().and_then(|s| s.parse().ok()).unwrap_or(per_fn),
                    "--only" => only = it.next().cloned(),
                    other => bail!("alps scx-selftest: unknown argument {other:?}"),
                }
            }
            selftest(spin_ms, per_fn, only.as_deref())
        }
    }
}
