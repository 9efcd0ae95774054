//! The function bodies other than blockio: fib, io, futex, deceptive, cmd.

use std::hint::black_box;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};

use super::calibration::{burn_ms, fib, ms_to_ns};

/// CPU-bound recursive Fibonacci.
pub fn run_fib(n: u32) -> u64 {
    black_box(fib(black_box(n)))
}

fn sleep_ms(ms: f64) {
    let ns = ms_to_ns(ms);
    if ns > 0 {
        // std's sleep is a real nanosleep on Linux.
        std::thread::sleep(Duration::from_nanos(ns));
    }
}

/// The study's io_task shape: `rounds` x (burn `compute_ms`, sleep
/// `sleep_ms`), then burn `tail_ms`.
pub fn run_io(compute_ms: f64, sleep: f64, rounds: u32, tail_ms: f64) {
    for _ in 0..rounds {
        burn_ms(compute_ms);
        sleep_ms(sleep);
    }
    burn_ms(tail_ms);
}

/// The study's io_deceptive: one long burst, `sleeps` short sleeps, a tail.
pub fn run_deceptive(burst_ms: f64, sleeps: u32, sleep: f64, tail_ms: f64) {
    burn_ms(burst_ms);
    for _ in 0..sleeps {
        sleep_ms(sleep);
    }
    burn_ms(tail_ms);
}

/// Token ring over one Mutex/Condvar: `threads` threads (the caller is
/// thread 0) take turns; each turn burns `hold_ms` with the lock held, then
/// `work_ms` outside it. While one thread holds the token the others wait on
/// the condition variable, i.e. block in futex waits. Returns the number of
/// turns taken (threads x rounds).
pub fn run_futex(threads: u32, rounds: u32, hold_ms: f64, work_ms: f64) -> Result<u64> {
    let threads = threads.max(1);
    let state = Arc::new((Mutex::new(0u64), Condvar::new()));
    let turn_fn = move |me: u32, state: Arc<(Mutex<u64>, Condvar)>| -> Result<()> {
        let (lock, cv) = &*state;
        for _ in 0..rounds {
            {
                let mut turn = lock
                    .lock()
                    .map_err(|_| anyhow!("futex body: poisoned lock"))?;
                while *turn % threads as u64 != me as u64 {
                    turn = cv
                        .wait(turn)
                        .map_err(|_| anyhow!("futex body: poisoned lock"))?;
                }
                burn_ms(hold_ms);
                *turn += 1;
                cv.notify_all();
            }
            burn_ms(work_ms);
        }
        Ok(())
    };
    let mut handles = Vec::new();
    for me in 1..threads {
        let st = state.clone();
        let f = turn_fn;
        handles.push(
            std::thread::Builder::new()
                .name(format!("futex-{me}"))
                .spawn(move || f(me, st))
                .context("spawning a futex thread")?,
        );
    }
    let mut result = turn_fn(0, state.clone());
    for h in handles {
        match h.join() {
            Ok(r) => result = result.and(r),
            Err(_) => bail!("a futex thread panicked"),
        }
    }
    result?;
    let turns = *state.0.lock().map_err(|_| anyhow!("poisoned lock"))?;
    Ok(turns)
}

/// Run an external command, wait for it, return its exit code (128 + signal
/// number if a signal killed it).
pub fn run_cmd(argv: &[String]) -> Result<i32> {
    let Some((prog, args)) = argv.split_first() else {
        bail!("cmd function: empty argv");
    };
    let status = std::process::Command::new(prog)
        .args(args)
        .status()
        .with_context(|| format!("cmd function: cannot run {prog:?}"))?;
    if let Some(code) = status.code() {
        return Ok(code);
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(128 + status.signal().unwrap_or(0))
}
