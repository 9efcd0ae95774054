//! `alps bench`: overhead and latency numbers, measured side by side in one
//! run (this machine is shared and noisy: only ratios measured together
//! mean anything).

use alps_probes::loader::enable_bpf_stats;
use alps_probes::{ProbeOptions, Probes};
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

/// A context-switch-heavy body: two threads on one CPU bounce one byte over
/// a socket pair `n` times (each round trip: two wakeups, two switches). Prints
/// the elapsed ns on stdout.
pub fn pingpong(n: u64) -> Result<i32> {
    use std::os::unix::net::UnixStream;
    // Both threads on one CPU: every round trip is two real context
    // switches, without cross-CPU wakeup and idle-exit noise.
    let cpu = crate::sysstat::num_cpus().saturating_sub(1);
    let pin = move || {
        // SAFETY: a zeroed cpu_set_t with one bit set, for this thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
        }
    };
    pin();
    let (mut a, mut b) = UnixStream::pair()?;
    let t = std::thread::spawn(move || -> std::io::Result<()> {
        pin();
        let mut buf = [0u8; 1];
        for _ in 0..n {
            b.read_exact(&mut buf)?;
            b.write_all(&buf)?;
        }
        Ok(())
    });
    let t0 = Instant::now();
    let mut buf = [7u8; 1];
    for _ in 0..n {
        a.write_all(&buf)?;
        a.read_exact(&mut buf)?;
    }
    let ns = t0.elapsed().as_nanos();
    t.join().map_err(|_| anyhow::anyhow!("pingpong thread"))??;
    println!("{ns}");
    Ok(0)
}

fn run_pingpong(exe: &std::path::Path, n: u64, probes: Option<&Probes>, id: u64) -> Result<f64> {
    let mut cmd = Command::new(exe);
    cmd.args(["bench-pingpong", &n.to_string()])
        .stdout(Stdio::piped());
    let child = match probes {
        Some(p) => p.tagger()?.spawn(&mut cmd, 1, id)?,
        None => cmd.spawn()?,
    };
    let out = child.wait_with_output()?;
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim()
        .parse::<f64>()
        .with_context(|| format!("pingpong printed {s:?}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn run_messaging(probes: Option<&Probes>, id: u64) -> Result<Option<f64>> {
    let mut cmd = Command::new("perf");
    cmd.args(["bench", "sched", "messaging", "-g", "10", "-l", "400"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let child = match probes {
        Some(p) => p.tagger()?.spawn(&mut cmd, 2, id),
        None => cmd.spawn(),
    };
    let Ok(child) = child else { return Ok(None) };
    let out = child.wait_with_output()?;
    let s = String::from_utf8_lossy(&out.stdout);
    Ok(s.lines()
        .find(|l| l.contains("Total time"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .map(|sec| sec * 1e9))
}

/// Probe overhead: per-program cost from the kernel's BPF statistics (one
/// phase, statistics on), then the slowdown of context-switch-heavy
/// workloads with the probes attached (their tasks tagged) vs detached,
/// alternated `rounds` times (statistics off: they cost time themselves).
pub fn bench_probes(rounds: u32, n: u64, json: Option<&std::path::Path>) -> Result<i32> {
    let exe = crate::run::alps_exe()?;
    // Phase 1: per-program cost.
    let mut prog_totals: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    {
        let _stats = enable_bpf_stats()?;
        let p = Probes::load(&ProbeOptions::default())?;
        run_pingpong(&exe, n, Some(&p), 0xBE9C_FFFF)?;
        run_pingpong(&exe, n, None, 0)?;
        let _ = run_messaging(Some(&p), 0xBE9C_FFFE)?;
        for (name, cnt, ns) in p.program_stats() {
            prog_totals.insert(name, (cnt, ns));
        }
    }
    println!("BPF programs (kernel bpf_stats: run_time_ns / run_cnt):");
    println!("{:<22} {:>12} {:>10}", "program", "events", "ns/event");
    for (name, (cnt, ns)) in &prog_totals {
        let per = if *cnt > 0 {
            *ns as f64 / *cnt as f64
        } else {
            0.0
        };
        println!("{name:<22} {cnt:>12} {per:>10.1}");
    }
    // Phase 2: slowdown, alternated.
    let (mut on, mut unt, mut off) = (Vec::new(), Vec::new(), Vec::new());
    let (mut m_on, mut m_off) = (Vec::new(), Vec::new());
    run_pingpong(&exe, n / 4, None, 0)?; // warm-up
    for r in 0..rounds {
        off.push(run_pingpong(&exe, n, None, 0)?);
        if let Some(t) = run_messaging(None, 0)? {
            m_off.push(t);
        }
        let p = Probes::load(&ProbeOptions::default())?;
        let id = 0xBE9C_0000 + u64::from(r) * 2;
        on.push(run_pingpong(&exe, n, Some(&p), id)?);
        unt.push(run_pingpong(&exe, n, None, 0)?);
        if let Some(t) = run_messaging(Some(&p), id + 1)? {
            m_on.push(t);
        }
    }
    let (a, b, c) = (median(off), median(on), median(unt));
    let mut j = serde_json::json!({
        "programs": prog_totals.iter().map(|(n, (cnt, ns))| (n.clone(), serde_json::json!({
            "events": cnt, "ns_per_event": if *cnt > 0 { *ns as f64 / *cnt as f64 } else { 0.0 }
        }))).collect::<serde_json::Map<_, _>>(),
        "pingpong": {"round_trips": n, "rounds": rounds, "detached_ms": a / 1e6, "tagged_ms": b / 1e6,
                      "untagged_ms": c / 1e6, "tagged_slowdown_pct": 100.0 * (b / a - 1.0),
                      "untagged_slowdown_pct": 100.0 * (c / a - 1.0)},
    });
    println!(
        "pingpong (2 threads, 1 CPU, {n} round trips), median of {rounds}: detached {:.1} ms, attached+tagged {:.1} ms ({:+.2}%), attached+untagged {:.1} ms ({:+.2}%)",
        a / 1e6,
        b / 1e6,
        100.0 * (b / a - 1.0),
        c / 1e6,
        100.0 * (c / a - 1.0)
    );
    println!(
        "  added cost per round trip (about 3 switches, 2 wakeups): tagged {:.0} ns, untagged {:.0} ns",
        (b - a) / n as f64,
        (c - a) / n as f64
    );
    if !m_on.is_empty() && !m_off.is_empty() {
        let k = m_on.len();
        let (x, y) = (median(m_off), median(m_on));
        println!(
            "perf bench sched messaging (10 groups, 400 loops), median of {}: detached {:.1} ms, attached+tagged {:.1} ms ({:+.2}%)",
            k,
            x / 1e6,
            y / 1e6,
            100.0 * (y / x - 1.0)
        );
        j["messaging"] = serde_json::json!({"detached_ms": x / 1e6, "tagged_ms": y / 1e6,
                                             "slowdown_pct": 100.0 * (y / x - 1.0), "rounds": k});
    } else {
        println!("perf bench sched messaging: perf not available (apt-get install linux-perf)");
    }
    if let Some(p) = json {
        std::fs::write(p, serde_json::to_string_pretty(&j)?)?;
    }
    Ok(0)
}

/// Backend latencies: a short strict ALPS run; invocation start to policy
/// applied, and slice exhaustion to demotion (p50/p99).
pub fn bench_backend(duration_s: f64, out: &std::path::Path) -> Result<i32> {
    let mut cfg = crate::run::RunConfig::new("mixed", crate::run::PolicyName::Alps, out);
    cfg.duration_s = duration_s;
    cfg.warmup_s = 0.0;
    cfg.progress = false;
    let o = crate::run::run(&cfg)?;
    let b = &o.summary.backend_stats;
    println!("stock-strict backend, {duration_s} s of the mixed workload:");
    println!(
        "  start -> policy applied: p50 {:.0} us, p99 {:.0} us (n={})",
        b["apply_latency_us"]["p50"].as_f64().unwrap_or(0.0),
        b["apply_latency_us"]["p99"].as_f64().unwrap_or(0.0),
        b["apply_latency_us"]["n"]
    );
    println!(
        "  slice exhausted -> demoted: p50 {:.0} us, p99 {:.0} us (n={})",
        b["slice_to_demotion_us"]["p50"].as_f64().unwrap_or(0.0),
        b["slice_to_demotion_us"]["p99"].as_f64().unwrap_or(0.0),
        b["slice_to_demotion_us"]["n"]
    );
    println!("  counters: {b}");
    Ok(0)
}
