//! `alps probe`: run one command as a tagged invocation and print where its
//! time went.

use alps_probes::{Account, ProbeOptions, Probes};
use anyhow::{Context, Result};
use std::process::Command;
use std::time::Duration;

/// Run `argv` under the probes; print its record; return its exit code.
pub fn probe(argv: &[String], json: bool, function_id: u32) -> Result<i32> {
    let (prog, args) = argv
        .split_first()
        .context("no command given: usage `alps probe [--json] -- CMD [ARGS...]`")?;
    let probes = Probes::load(&ProbeOptions::default())?;
    let tagger = probes.tagger()?;
    let collector = probes.collector()?;
    let invocation_id = u64::from(std::process::id()) << 20;
    let mut cmd = Command::new(prog);
    cmd.args(args);
    let mut child = match tagger.spawn(&mut cmd, function_id, invocation_id) {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            anyhow::bail!("command `{prog}` not found: check its name and that it is on PATH")
        }
        Err(e) => return Err(e).with_context(|| format!("starting `{prog}`")),
    };
    let status = child.wait().context("waiting for the command")?;
    let acc = collector
        .wait(invocation_id, Duration::from_secs(5))
        .context(
            "the probes produced no record for the command (see `alps bench probes` counters)",
        )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&acc)?);
    } else {
        print_account(&acc);
    }
    let code = status.code().unwrap_or_else(|| {
        128 + std::os::unix::process::ExitStatusExt::signal(&status).unwrap_or(0)
    });
    Ok(code)
}

fn ms(ns: u64) -> String {
    format!("{:.3} ms", ns as f64 / 1e6)
}

/// A human-readable table of one account.
pub fn print_account(a: &Account) {
    let pct = |ns: u64| {
        if a.lifetime_ns == 0 {
            0.0
        } else {
            100.0 * ns as f64 / a.lifetime_ns as f64
        }
    };
    eprintln!(
        "invocation {} (function {}), exit code {}",
        a.invocation_id, a.function_id, a.exit_code
    );
    eprintln!("  wall            {:>14}", ms(a.wall_ns));
    eprintln!(
        "  task lifetimes  {:>14}  ({} tasks)",
        ms(a.lifetime_ns),
        a.threads
    );
    for (name, v) in [
        ("on CPU", a.on_cpu_ns),
        ("run-queue wait", a.runq_wait_ns),
        ("  after wakeup", a.runq_wait_wakeup_ns),
        ("  after preempt", a.runq_wait_preempt_ns),
        ("block I/O", a.block_io_ns),
        ("futex", a.futex_ns),
        ("sleep", a.sleep_ns),
        ("other blocked", a.other_blocked_ns),
    ] {
        eprintln!("  {name:<15} {:>14}  {:5.1}%", ms(v), pct(v));
    }
    eprintln!(
        "  bursts {} (mean {}, max {}), wakeups {}, switches {} voluntary / {} involuntary, block requests {} ({} bytes)",
        a.bursts,
        ms(a.mean_burst_ns),
        ms(a.max_burst_ns),
        a.wakeups,
        a.voluntary_switches,
        a.involuntary_switches,
        a.block_requests,
        a.block_bytes
    );
}
