//! The stock-kernel backends on real processes: classes really applied,
//! really restored, and never left behind. Needs root (skips outside CI
//! without it); the tests run one at a time (they load the CPUs and change
//! scheduling classes).

mod common;
use alps_policy::backend::sched::{self, TaskId};
use alps_policy::backend::stock::{Mode, StockBackend, StockConfig};
use alps_policy::backend::{monotonic_ns, Backend, Started};
use alps_policy::{FunctionPolicy, IoControls, Policy};
use alps_probes::{ProbeOptions, Probes, Tagger};
use common::*;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn policy(f: u32, rank: u32, slice_ms: u64) -> Policy {
    let mut p = Policy {
        version: 1,
        ..Default::default()
    };
    p.functions.insert(
        f,
        FunctionPolicy {
            rank,
            slice_ns: slice_ms * 1_000_000,
            io: IoControls {
                wakeup_preempt_budget_per_s: u32::MAX,
                ..Default::default()
            },
        },
    );
    p
}

fn sleeper() -> Child {
    Command::new("sleep").arg("30").spawn().unwrap()
}

fn started(pid: u32, f: u32, id: u64) -> Started {
    let now = monotonic_ns();
    Started {
        invocation_id: id,
        function_id: f,
        pid: pid as i32,
        arrival_ns: now,
        spawn_ns: now,
    }
}

fn kill(mut c: Child) {
    let _ = c.kill();
    let _ = c.wait();
}

/// `alps fn` processes of this build still boosted (RT, negative nice or
/// custom slice).
fn boosted_functions() -> Vec<i32> {
    let me = std::fs::canonicalize(ALPS).unwrap();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/exe")).ok() != Some(me.clone()) {
            continue;
        }
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmd.split(|b| *b == 0).nth(1) == Some(b"fn".as_slice())
            && sched::is_boosted(pid).unwrap_or(false)
        {
            out.push(pid);
        }
    }
    out
}

fn kill_functions() {
    let me = std::fs::canonicalize(ALPS).unwrap();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/exe")).ok() == Some(me.clone()) {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if cmd.split(|b| *b == 0).nth(1) == Some(b"fn".as_slice()) {
                // SAFETY: plain kill.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Launch `alps fn fib n=N` as the runner does: tagged as invocation `id`
/// of function `f`, taking `attr` in the child just before exec.
fn launch_fib(tagger: &Tagger, n: u32, attr: sched::SchedAttr, f: u32, id: u64) -> Child {
    let mut cmd = Command::new(ALPS);
    cmd.args(["fn", "fib", &format!("n={n}")])
        .stdout(Stdio::null());
    // SAFETY: only an async-signal-safe system call in the child.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(move || {
            let _ = sched::sched_setattr(0, &attr);
            Ok(())
        });
    }
    tagger.spawn(&mut cmd, f, id).unwrap()
}

fn exe() -> &'static Path {
    Path::new(ALPS)
}

/// Soft mode: nice and the EEVDF custom slice are applied and read back,
/// then restored.
#[test]
fn soft_applies_nice_and_slice_then_restores() {
    if skip("the soft backend") {
        return;
    }
    let _g = serial();
    let child = sleeper();
    let pid = child.id();
    let mut b = StockBackend::new(StockConfig::new(Mode::Soft, 2, exe()), None).unwrap();
    b.apply(&policy(7, 1, 7)).unwrap();
    b.started(&started(pid, 7, 1)).unwrap();
    let a = sched::sched_getattr(pid as i32).unwrap();
    assert_eq!(a.sched_policy, sched::SCHED_OTHER);
    assert_eq!(a.sched_nice, -10, "rank 1 -> nice -10");
    assert_eq!(a.sched_runtime, 7_000_000, "custom slice 7 ms");
    // A new policy version reaches the running invocation.
    b.apply(&policy(7, 100, 20)).unwrap();
    let a = sched::sched_getattr(pid as i32).unwrap();
    assert_eq!((a.sched_nice, a.sched_runtime), (10, 20_000_000));
    b.restore().unwrap();
    let a = sched::sched_getattr(pid as i32).unwrap();
    assert_eq!(a.sched_nice, 0);
    assert!(!sched::is_boosted(pid as i32).unwrap(), "{a:?}");
    kill(child);
}

/// Strict mode: a top-rank function preempts CPU hogs at once, keeps the
/// CPU for its slice, and is demoted to the fair class after it.
#[test]
fn strict_top_rank_preempts_hogs_and_is_demoted_after_its_slice() {
    if skip("the strict backend") {
        return;
    }
    let _g = serial();
    let probes = Probes::load(&ProbeOptions {
        stints: true,
        watch: true,
    })
    .unwrap();
    let tagger = probes.tagger().unwrap();
    let collector = probes.collector().unwrap();
    let hogs: Vec<Child> = (0..3)
        .map(|_| {
            Command::new(ALPS)
                .args(["fn", "fib", "n=45"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut b = StockBackend::new(
        StockConfig::new(Mode::Strict, 2, exe()),
        Some(probes.watch_map().unwrap()),
    )
    .unwrap();
    let f = 11;
    b.apply(&policy(f, 1, 40)).unwrap();
    // Launched as the runner does: the class is taken before exec.
    let attr = b.spawn_attr(f).expect("a top-rank function starts boosted");
    assert_eq!(attr.sched_policy, sched::SCHED_FIFO);
    let id = 0x5157_0000 + u64::from(std::process::id());
    let mut child = launch_fib(&tagger, 38, attr, f, id);
    let pid = child.id();
    b.started(&started(pid, f, id)).unwrap();
    // Boosted now; demoted to the fair class once 40 ms of CPU are used.
    let t0 = Instant::now();
    let mut saw_fifo = false;
    let mut saw_fair = false;
    while t0.elapsed() < Duration::from_secs(3) {
        match sched::sched_getattr(pid as i32) {
            Ok(a) if a.sched_policy == sched::SCHED_FIFO => saw_fifo = true,
            Ok(a) if a.sched_policy == sched::SCHED_OTHER && saw_fifo => {
                saw_fair = true;
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(saw_fifo && saw_fair, "boosted, then demoted");
    child.wait().unwrap();
    b.ended(id);
    let stats = b.stats();
    b.restore().unwrap();
    for h in hogs {
        kill(h);
    }
    let acc = collector.wait(id, Duration::from_secs(5)).unwrap();
    let stints: Vec<_> = collector
        .take_stints()
        .into_iter()
        .filter(|s| s.invocation_id == id)
        .collect();
    assert!(stats["demotions_slice"].as_u64().unwrap() >= 1, "{stats}");
    // It preempted the hogs: once boosted (its class is set just before
    // exec, which itself switches), it got a CPU at once and kept it for
    // at least its slice although three hogs wanted both CPUs.
    let long = stints
        .iter()
        .find(|s| s.on_cpu_ns >= 35_000_000)
        .unwrap_or_else(|| panic!("no stint as long as the slice: {stints:?}"));
    assert!(
        long.switch_in_ns - long.runnable_ns < 20_000_000,
        "waited {} ns for a CPU: {long:?}",
        long.switch_in_ns - long.runnable_ns
    );
    assert_eq!(acc.function_id, f);
    // (How fast the demotion follows the slice is measured by
    // `alps bench backend`, not asserted here: timing on a shared machine.)
}

/// Strict mode with ALPS-IO's remaining_priority: a boosted invocation's
/// FIFO priority follows its remaining CPU demand (it rises as the
/// invocation runs), and of two invocations of one function the one that
/// has used more CPU is strictly above the other even when their remaining
/// demands fall in one priority level.
#[test]
fn strict_remaining_priority_rises_and_orders_invocations_by_age() {
    if skip("the strict backend") {
        return;
    }
    let _g = serial();
    let probes = Probes::load(&ProbeOptions {
        stints: false,
        watch: true,
    })
    .unwrap();
    let tagger = probes.tagger().unwrap();
    let cfg = StockConfig::new(Mode::Strict, 2, exe());
    let mut b = StockBackend::new(cfg.clone(), Some(probes.watch_map().unwrap())).unwrap();
    let f = 12;
    let demand = 400_000_000; // fib n=40 is about this long here
    let mut p = policy(f, 1, 2_000);
    let fp = p.functions.get_mut(&f).unwrap();
    fp.io.cpu_demand_ns = demand;
    fp.io.remaining_priority = true;
    b.apply(&p).unwrap();
    let fresh = cfg.remaining_prio(demand);
    let attr = b.spawn_attr(f).expect("boosted at start");
    assert_eq!(
        (attr.sched_policy, attr.sched_priority),
        (sched::SCHED_FIFO, fresh)
    );
    // Two boosted tasks hold both CPUs: sample from above them.
    sched::sched_setattr(0, &sched::fifo_attr(cfg.fifo_band.1 + 5)).unwrap();
    let launch = |id: u64| launch_fib(&tagger, 40, attr, f, id);
    // Warm the page cache: a cold exec would delay one start.
    let _ = Command::new(ALPS)
        .args(["fn", "fib", "n=1"])
        .stdout(Stdio::null())
        .status();
    let base = 0x5158_0000 + (u64::from(std::process::id()) << 8);
    let mut a = launch(base + 1);
    b.started(&started(a.id(), f, base + 1)).unwrap();
    std::thread::sleep(Duration::from_millis(10));
    let mut c = launch(base + 2);
    b.started(&started(c.id(), f, base + 2)).unwrap();
    let prio = |pid: u32| {
        sched::sched_getattr(pid as i32)
            .ok()
            .filter(|x| x.sched_policy == sched::SCHED_FIFO)
            .map(|x| x.sched_priority)
    };
    // Sample once both have run a little (exec done), for 250 ms: the
    // invocation that has used more CPU must hold the higher priority.
    let used = |pid: u32| sched::cpu_time_ns(pid as i32).unwrap_or(0);
    let t0 = Instant::now();
    while (used(a.id()) < 20_000_000 || used(c.id()) < 20_000_000)
        && t0.elapsed() < Duration::from_secs(3)
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    let (mut clear, mut ordered, mut top) = (0, 0, 0);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(250) {
        std::thread::sleep(Duration::from_millis(5));
        let (ua, uc) = (used(a.id()), used(c.id()));
        if let (Some(pa), Some(pc)) = (prio(a.id()), prio(c.id())) {
            top = top.max(pa).max(pc);
            // Only where the CPU used differs clearly (polls are 1 ms apart).
            if ua.abs_diff(uc) > 3_000_000 {
                clear += 1;
                ordered += usize::from((pa > pc) == (ua > uc));
            }
        }
    }
    let _ = sched::set_plain(0);
    a.wait().unwrap();
    c.wait().unwrap();
    b.ended(base + 1);
    b.ended(base + 2);
    let stats = b.stats();
    b.restore().unwrap();
    assert!(clear >= 10, "too few clear samples ({clear}): {stats}");
    assert!(
        ordered + 2 >= clear,
        "the invocation that used more above the other in {ordered} of {clear} samples: {stats}"
    );
    assert!(
        top > fresh,
        "priority rose from {fresh} as they ran (max {top}): {stats}"
    );
    assert!(stats["reprioritized"].as_u64().unwrap() >= 2, "{stats}");
}

/// Restored on normal exit (drop) and on a panic while boosted.
#[test]
fn restore_on_drop_and_panic() {
    if skip("backend restore") {
        return;
    }
    let _g = serial();
    let child = sleeper();
    let pid = child.id();
    let r = std::panic::catch_unwind(|| {
        let mut b = StockBackend::new(StockConfig::new(Mode::Soft, 2, exe()), None).unwrap();
        b.apply(&policy(3, 1, 5)).unwrap();
        b.started(&started(pid, 3, 9)).unwrap();
        assert!(sched::is_boosted(pid as i32).unwrap());
        panic!("boom while boosted");
    });
    assert!(r.is_err());
    assert!(
        !sched::is_boosted(pid as i32).unwrap(),
        "restored while unwinding"
    );
    kill(child);
}

/// A reused pid never receives the policy of the task that had it: after
/// the first task exits, a new process is forced onto the same pid
/// (ns_last_pid); a new policy version and the final restore leave it alone.
#[test]
fn reused_pid_is_never_touched() {
    if skip("pid reuse") {
        return;
    }
    let _g = serial();
    let mut b = StockBackend::new(StockConfig::new(Mode::Soft, 2, exe()), None).unwrap();
    b.apply(&policy(5, 1, 5)).unwrap();
    let first = sleeper();
    let pid = first.id() as i32;
    let old = TaskId::of(pid).unwrap();
    b.started(&started(pid as u32, 5, 77)).unwrap();
    kill(first);
    assert!(!old.alive());
    // Make the next fork take the same pid.
    let mut reused = None;
    for _ in 0..20 {
        let _ = std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string());
        let c = sleeper();
        if c.id() as i32 == pid {
            reused = Some(c);
            break;
        }
        kill(c);
    }
    let Some(second) = reused else {
        panic!("could not reuse pid {pid}");
    };
    // Give it a plain but observable state: nice 5.
    sched::set_fair(pid, 5, 0).unwrap();
    b.apply(&policy(5, 2, 9)).unwrap();
    b.restore().unwrap();
    let a = sched::sched_getattr(pid).unwrap();
    assert_eq!(
        a.sched_nice, 5,
        "the new owner of pid {pid} was touched: {a:?}"
    );
    kill(second);
}

/// kill -9 of the agent mid-run: the guardian restores every boosted
/// function within a second.
#[test]
fn kill_9_of_the_agent_leaves_nothing_boosted() {
    if skip("kill -9 safety") {
        return;
    }
    let _g = serial();
    let rt = "/proc/sys/kernel/sched_rt_runtime_us";
    let rt_before = std::fs::read_to_string(rt).unwrap();
    let out = tmpdir("kill9");
    let wl = out.join("w.toml");
    std::fs::write(
        &wl,
        r#"load = 0.9
[[class]]
name = "short"
weight = 3
fn = { kind = "fib", ms = 5 }
[[class]]
name = "long"
fn = { kind = "fib", ms = 300 }
"#,
    )
    .unwrap();
    let mut agent = alps()
        .args(["run", "--workload"])
        .arg(&wl)
        .args([
            "--policy",
            "alps",
            "--backend",
            "stock-strict",
            "--duration",
            "30",
            "--warmup",
            "0",
            "--update-period",
            "0.3",
            "--no-progress",
            "--out",
        ])
        .arg(out.join("r"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some function is boosted.
    let t0 = Instant::now();
    while boosted_functions().is_empty() && t0.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !boosted_functions().is_empty(),
        "no function was ever boosted"
    );
    // The strict backend turns RT throttling off for the run (6.12+).
    assert_eq!(std::fs::read_to_string(rt).unwrap().trim(), "-1");
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();
    let killed = Instant::now();
    let mut left = boosted_functions();
    while !left.is_empty() && killed.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(10));
        left = boosted_functions();
    }
    kill_functions();
    assert!(left.is_empty(), "still boosted 1 s after kill -9: {left:?}");
    // ... and the guardian restored it.
    let mut rt_after = std::fs::read_to_string(rt).unwrap();
    while rt_after != rt_before && killed.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
        rt_after = std::fs::read_to_string(rt).unwrap();
    }
    assert_eq!(
        rt_after, rt_before,
        "RT throttling not restored after kill -9"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// Ctrl-C (SIGINT) mid-run: arrivals stop, in-flight invocations finish or
/// are killed, results are still written, nothing stays boosted.
#[test]
fn ctrl_c_restores_and_writes_results() {
    if skip("Ctrl-C safety") {
        return;
    }
    let _g = serial();
    let out = tmpdir("sigint");
    let mut agent = alps()
        .args([
            "run",
            "--workload",
            "mixed",
            "--policy",
            "alps",
            "--backend",
            "stock-strict",
            "--duration",
            "30",
            "--warmup",
            "0",
            "--update-period",
            "0.3",
            "--no-progress",
            "--out",
        ])
        .arg(out.join("r"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(4));
    // SAFETY: plain kill.
    unsafe { libc::kill(agent.id() as i32, libc::SIGINT) };
    let st = agent.wait().unwrap();
    assert_eq!(st.code(), Some(130), "interrupted runs exit 130");
    assert!(boosted_functions().is_empty());
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("r/summary.json")).unwrap())
            .unwrap();
    assert!(s["overall"]["count"].as_u64().unwrap() > 0);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("r/run.json")).unwrap()).unwrap();
    assert_eq!(meta["interrupted"], true);
    kill_functions();
    let _ = std::fs::remove_dir_all(&out);
}

/// `--policy sfs` and both stock backends with ALPS run end to end.
#[test]
fn every_policy_and_backend_runs() {
    if skip("policies end to end") {
        return;
    }
    let _g = serial();
    let out = tmpdir("allpol");
    for (policy, backend) in [
        ("alps", "stock-strict"),
        ("alps-io", "stock-strict"),
        ("alps", "stock-soft"),
        ("sfs", "stock-strict"),
    ] {
        let dir = out.join(format!("{policy}-{backend}"));
        let st = alps()
            .args([
                "run",
                "--workload",
                "mixed",
                "--policy",
                policy,
                "--backend",
                backend,
                "--duration",
                "5",
                "--warmup",
                "1",
                "--update-period",
                "0.5",
                "--no-progress",
                "--out",
            ])
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "{policy} on {backend}");
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap())
                .unwrap();
        assert_eq!(s["policy"], policy);
        assert_eq!(s["dropped_records"], 0);
        assert!(s["overall"]["count"].as_u64().unwrap() > 5);
        assert!(s["backend_stats"]["started"].as_u64().unwrap() > 5, "{s}");
        assert!(boosted_functions().is_empty());
    }
    let _ = std::fs::remove_dir_all(&out);
}
