//! Function bodies: the serverless "functions" the runner launches as tagged
//! processes (`alps fn <ARGS...>`), and their expected phases for the
//! simulator.
//!
//! Argument format (`FnSpec::to_args` / `from_args`): the kind, then
//! `key=value` pairs; `cmd` ends with `--` followed by the command's argv:
//!
//! ```text
//! fib n=30
//! io compute_ms=5 sleep_ms=10 rounds=1 tail_ms=1
//! blockio rounds=4 read_kb=256 write_kb=16 compute_ms=1 [dir=/var/tmp]
//! futex threads=4 rounds=10 hold_ms=1 work_ms=0.5
//! deceptive burst_ms=50 sleeps=20 sleep_ms=2 tail_ms=1
//! cmd [cpu_ms=100] -- stress-ng --cpu 1 --timeout 1
//! ```

pub mod blockio;
pub mod bodies;
pub mod calibration;

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

pub use calibration::{burn, burn_ms, fib, process_cpu_ns, thread_cpu_ns, Calibration};

/// One function body and its parameters (serde: tagged by `kind`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FnSpec {
    /// CPU-bound recursive Fibonacci of n.
    Fib { n: u32 },
    /// `rounds` x (burn `compute_ms` of CPU, nanosleep `sleep_ms`), then
    /// burn `tail_ms` (the ghOSt-port study's io_task; a DB-query-like
    /// function).
    Io {
        compute_ms: f64,
        sleep_ms: f64,
        rounds: u32,
        #[serde(default)]
        tail_ms: f64,
    },
    /// Real block I/O on a unique file in `dir` (default: $ALPS_BLOCKIO_DIR
    /// or the temporary directory): write+fsync the `read_kb` region once,
    /// then `rounds` x (burn `compute_ms`, O_DIRECT write `write_kb` +
    /// fsync, O_DIRECT read `read_kb`).
    #[serde(rename = "blockio")]
    BlockIo {
        rounds: u32,
        read_kb: u32,
        write_kb: u32,
        #[serde(default)]
        compute_ms: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dir: Option<String>,
    },
    /// `threads` threads pass a token over one Mutex/Condvar `rounds` times
    /// each: `hold_ms` of CPU with the lock held, `work_ms` outside it.
    Futex {
        threads: u32,
        rounds: u32,
        hold_ms: f64,
        #[serde(default)]
        work_ms: f64,
    },
    /// The study's io_deceptive: burn `burst_ms`, then `sleeps` nanosleeps
    /// of `sleep_ms`, then burn `tail_ms`.
    Deceptive {
        burst_ms: f64,
        sleeps: u32,
        sleep_ms: f64,
        #[serde(default)]
        tail_ms: f64,
    },
    /// Any external command (spawned, waited for; its exit code returned).
    /// `cpu_ms` is its expected CPU time, for load and simulation (0 if
    /// unknown).
    Cmd {
        argv: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cpu_ms: Option<f64>,
    },
}

/// Why an invocation waits in a `Phase::Wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    BlockIo,
    Futex,
    Sleep,
}

/// One phase of an invocation as the simulator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// A CPU burst of this many ns of CPU time.
    Cpu(u64),
    /// Off-CPU for `ns` (wall time), for `reason`.
    Wait { ns: u64, reason: WaitReason },
}

impl Phase {
    pub fn cpu_ns(&self) -> u64 {
        match self {
            Phase::Cpu(ns) => *ns,
            Phase::Wait { .. } => 0,
        }
    }
    pub fn wait_ns(&self) -> u64 {
        match self {
            Phase::Cpu(_) => 0,
            Phase::Wait { ns, .. } => *ns,
        }
    }
}

use calibration::ms_to_ns;

impl FnSpec {
    /// The body kind: `fib`, `io`, `blockio`, `futex`, `deceptive`, `cmd`.
    pub fn kind(&self) -> &'static str {
        match self {
            FnSpec::Fib { .. } => "fib",
            FnSpec::Io { .. } => "io",
            FnSpec::BlockIo { .. } => "blockio",
            FnSpec::Futex { .. } => "futex",
            FnSpec::Deceptive { .. } => "deceptive",
            FnSpec::Cmd { .. } => "cmd",
        }
    }

    /// True for the kinds whose time is mostly off-CPU (io, blockio,
    /// deceptive, futex): the default "I/O group" of a workload, the one
    /// the `io_share` knob sizes.
    pub fn is_io_kind(&self) -> bool {
        matches!(
            self,
            FnSpec::Io { .. }
                | FnSpec::BlockIo { .. }
                | FnSpec::Deceptive { .. }
                | FnSpec::Futex { .. }
        )
    }

    /// Arguments for `alps fn ...` (see the module docs).
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![self.kind().to_string()];
        let kv = |k: &str, v: String| format!("{k}={v}");
        match self {
            FnSpec::Fib { n } => a.push(kv("n", n.to_string())),
            FnSpec::Io {
                compute_ms,
                sleep_ms,
                rounds,
                tail_ms,
            } => {
                a.push(kv("compute_ms", compute_ms.to_string()));
                a.push(kv("sleep_ms", sleep_ms.to_string()));
                a.push(kv("rounds", rounds.to_string()));
                a.push(kv("tail_ms", tail_ms.to_string()));
            }
            FnSpec::BlockIo {
                rounds,
                read_kb,
                write_kb,
                compute_ms,
                dir,
            } => {
                a.push(kv("rounds", rounds.to_string()));
                a.push(kv("read_kb", read_kb.to_string()));
                a.push(kv("write_kb", write_kb.to_string()));
                a.push(kv("compute_ms", compute_ms.to_string()));
                if let Some(d) = dir {
                    a.push(kv("dir", d.clone()));
                }
            }
            FnSpec::Futex {
                threads,
                rounds,
                hold_ms,
                work_ms,
            } => {
                a.push(kv("threads", threads.to_string()));
                a.push(kv("rounds", rounds.to_string()));
                a.push(kv("hold_ms", hold_ms.to_string()));
                a.push(kv("work_ms", work_ms.to_string()));
            }
            FnSpec::Deceptive {
                burst_ms,
                sleeps,
                sleep_ms,
                tail_ms,
            } => {
                a.push(kv("burst_ms", burst_ms.to_string()));
                a.push(kv("sleeps", sleeps.to_string()));
                a.push(kv("sleep_ms", sleep_ms.to_string()));
                a.push(kv("tail_ms", tail_ms.to_string()));
            }
            FnSpec::Cmd { argv, cpu_ms } => {
                if let Some(c) = cpu_ms {
                    a.push(kv("cpu_ms", c.to_string()));
                }
                a.push("--".into());
                a.extend(argv.iter().cloned());
            }
        }
        a
    }

    /// Parse what `to_args` produced. A leading `fn` is skipped.
    pub fn from_args(args: &[String]) -> Result<FnSpec> {
        let args = match args.first() {
            Some(a) if a == "fn" => &args[1..],
            _ => args,
        };
        let Some((kind, rest)) = args.split_first() else {
            bail!("fn: missing function kind (fib, io, blockio, futex, deceptive, cmd)");
        };
        let (pairs, tail): (&[String], &[String]) = match rest.iter().position(|a| a == "--") {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &[]),
        };
        let mut kv = KeyValues::parse(kind, pairs)?;
        if kind != "cmd" && !tail.is_empty() {
            bail!("fn {kind}: unexpected arguments after --");
        }
        let spec = match kind.as_str() {
            "fib" => FnSpec::Fib { n: kv.req("n")? },
            "io" => FnSpec::Io {
                compute_ms: kv.req("compute_ms")?,
                sleep_ms: kv.req("sleep_ms")?,
                rounds: kv.req("rounds")?,
                tail_ms: kv.opt("tail_ms")?.unwrap_or(0.0),
            },
            "blockio" => FnSpec::BlockIo {
                rounds: kv.req("rounds")?,
                read_kb: kv.req("read_kb")?,
                write_kb: kv.req("write_kb")?,
                compute_ms: kv.opt("compute_ms")?.unwrap_or(0.0),
                dir: kv.opt::<String>("dir")?,
            },
            "futex" => FnSpec::Futex {
                threads: kv.req("threads")?,
                rounds: kv.req("rounds")?,
                hold_ms: kv.req("hold_ms")?,
                work_ms: kv.opt("work_ms")?.unwrap_or(0.0),
            },
            "deceptive" => FnSpec::Deceptive {
                burst_ms: kv.req("burst_ms")?,
                sleeps: kv.req("sleeps")?,
                sleep_ms: kv.req("sleep_ms")?,
                tail_ms: kv.opt("tail_ms")?.unwrap_or(0.0),
            },
            "cmd" => {
                if tail.is_empty() {
                    bail!("fn cmd: missing `-- COMMAND [ARGS...]`");
                }
                FnSpec::Cmd {
                    argv: tail.to_vec(),
                    cpu_ms: kv.opt("cpu_ms")?,
                }
            }
            other => bail!(
                "fn: unknown function kind {other:?} (expected fib, io, blockio, futex, deceptive, cmd)"
            ),
        };
        kv.finish()?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reject parameters a body cannot run with (negative or NaN times, ...).
    pub fn validate(&self) -> Result<()> {
        let ms_ok = |name: &str, v: f64| -> Result<()> {
            if !v.is_finite() || v < 0.0 {
                bail!("{} {name}={v}: must be a finite number >= 0", self.kind());
            }
            Ok(())
        };
        match self {
            FnSpec::Fib { n } => {
                if *n > 92 {
                    bail!("fib n={n}: fib(n) overflows u64 above 92 (and would never end)");
                }
            }
            FnSpec::Io {
                compute_ms,
                sleep_ms,
                tail_ms,
                ..
            } => {
                ms_ok("compute_ms", *compute_ms)?;
                ms_ok("sleep_ms", *sleep_ms)?;
                ms_ok("tail_ms", *tail_ms)?;
            }
            FnSpec::BlockIo { compute_ms, .. } => ms_ok("compute_ms", *compute_ms)?,
            FnSpec::Futex {
                threads,
                hold_ms,
                work_ms,
                ..
            } => {
                if *threads == 0 || *threads > 1024 {
                    bail!("futex threads={threads}: must be 1..=1024");
                }
                ms_ok("hold_ms", *hold_ms)?;
                ms_ok("work_ms", *work_ms)?;
            }
            FnSpec::Deceptive {
                burst_ms,
                sleep_ms,
                tail_ms,
                ..
            } => {
                ms_ok("burst_ms", *burst_ms)?;
                ms_ok("sleep_ms", *sleep_ms)?;
                ms_ok("tail_ms", *tail_ms)?;
            }
            FnSpec::Cmd { argv, cpu_ms } => {
                if argv.is_empty() {
                    bail!("cmd: empty argv");
                }
                if let Some(c) = cpu_ms {
                    ms_ok("cpu_ms", *c)?;
                }
            }
        }
        Ok(())
    }

    /// Expected CPU time of one invocation (sum of its Cpu phases).
    pub fn expected_cpu_ns(&self, cal: &Calibration) -> u64 {
        self.expected_phases(cal).iter().map(Phase::cpu_ns).sum()
    }

    /// Expected wall time with the machine to itself (CPU plus waits).
    pub fn expected_wall_ns(&self, cal: &Calibration) -> u64 {
        self.expected_phases(cal)
            .iter()
            .map(|p| p.cpu_ns() + p.wait_ns())
            .sum()
    }

    /// The invocation's expected phases, in order. Consecutive phases of the
    /// same kind are not merged for io/deceptive (one Wait per sleep).
    ///
    /// Multithreaded bodies (futex) are flattened to one sequence: each
    /// round is `Cpu(threads x (hold + work))` (the CPU time of all threads,
    /// so the sum stays exact) then `Wait{(threads-1) x hold, Futex}` (what
    /// one thread waits for the token). `cmd` is one `Cpu(cpu_ms)`.
    pub fn expected_phases(&self, cal: &Calibration) -> Vec<Phase> {
        let mut ph = Vec::new();
        let cpu = |ph: &mut Vec<Phase>, ns: u64| {
            if ns > 0 {
                ph.push(Phase::Cpu(ns));
            }
        };
        let wait = |ph: &mut Vec<Phase>, ns: u64, reason: WaitReason| {
            if ns > 0 {
                ph.push(Phase::Wait { ns, reason });
            }
        };
        match self {
            FnSpec::Fib { n } => cpu(&mut ph, cal.fib_cpu_ns(*n)),
            FnSpec::Io {
                compute_ms,
                sleep_ms,
                rounds,
                tail_ms,
            } => {
                for _ in 0..*rounds {
                    cpu(&mut ph, ms_to_ns(*compute_ms));
                    wait(&mut ph, ms_to_ns(*sleep_ms), WaitReason::Sleep);
                }
                cpu(&mut ph, ms_to_ns(*tail_ms));
            }
            FnSpec::BlockIo {
                rounds,
                read_kb,
                write_kb,
                compute_ms,
                ..
            } => {
                let r = aligned_kb(*read_kb);
                let w = aligned_kb(*write_kb);
                wait(&mut ph, cal.block_write_fsync_ns(r), WaitReason::BlockIo);
                for _ in 0..*rounds {
                    cpu(&mut ph, ms_to_ns(*compute_ms));
                    wait(
                        &mut ph,
                        cal.block_write_fsync_ns(w) + cal.block_read_ns(r),
                        WaitReason::BlockIo,
                    );
                }
            }
            FnSpec::Futex {
                threads,
                rounds,
                hold_ms,
                work_ms,
            } => {
                let t = (*threads).max(1) as u64;
                for _ in 0..*rounds {
                    cpu(&mut ph, t * (ms_to_ns(*hold_ms) + ms_to_ns(*work_ms)));
                    wait(&mut ph, (t - 1) * ms_to_ns(*hold_ms), WaitReason::Futex);
                }
            }
            FnSpec::Deceptive {
                burst_ms,
                sleeps,
                sleep_ms,
                tail_ms,
            } => {
                cpu(&mut ph, ms_to_ns(*burst_ms));
                for _ in 0..*sleeps {
                    wait(&mut ph, ms_to_ns(*sleep_ms), WaitReason::Sleep);
                }
                cpu(&mut ph, ms_to_ns(*tail_ms));
            }
            FnSpec::Cmd { cpu_ms, .. } => cpu(&mut ph, ms_to_ns(cpu_ms.unwrap_or(0.0))),
        }
        ph
    }
}

fn aligned_kb(kb: u32) -> u64 {
    (kb as u64).div_ceil(4) * 4
}

/// Run the body in the current process; returns the exit code (0 on
/// success, the command's code for `cmd`).
pub fn run(spec: &FnSpec) -> Result<i32> {
    spec.validate()?;
    match spec {
        FnSpec::Fib { n } => {
            bodies::run_fib(*n);
        }
        FnSpec::Io {
            compute_ms,
            sleep_ms,
            rounds,
            tail_ms,
        } => bodies::run_io(*compute_ms, *sleep_ms, *rounds, *tail_ms),
        FnSpec::BlockIo {
            rounds,
            read_kb,
            write_kb,
            compute_ms,
            dir,
        } => {
            blockio::run_blockio(*rounds, *read_kb, *write_kb, *compute_ms, dir.as_deref())?;
        }
        FnSpec::Futex {
            threads,
            rounds,
            hold_ms,
            work_ms,
        } => {
            bodies::run_futex(*threads, *rounds, *hold_ms, *work_ms)?;
        }
        FnSpec::Deceptive {
            burst_ms,
            sleeps,
            sleep_ms,
            tail_ms,
        } => bodies::run_deceptive(*burst_ms, *sleeps, *sleep_ms, *tail_ms),
        FnSpec::Cmd { argv, .. } => return bodies::run_cmd(argv),
    }
    Ok(0)
}

/// Entry point of `alps fn ARGS...`: parse (see `FnSpec::from_args`) and run.
pub fn main_args(args: &[String]) -> Result<i32> {
    let spec = FnSpec::from_args(args).context("alps fn: bad arguments")?;
    run(&spec)
}

/// `key=value` pairs of one `alps fn` command line.
struct KeyValues {
    kind: String,
    map: BTreeMap<String, String>,
}

impl KeyValues {
    fn parse(kind: &str, pairs: &[String]) -> Result<KeyValues> {
        let mut map = BTreeMap::new();
        for p in pairs {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| anyhow!("fn {kind}: expected key=value, got {p:?}"))?;
            if map.insert(k.to_string(), v.to_string()).is_some() {
                bail!("fn {kind}: {k} given twice");
            }
        }
        Ok(KeyValues {
            kind: kind.to_string(),
            map,
        })
    }

    fn opt<T: std::str::FromStr>(&mut self, key: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.map.remove(key) {
            None => Ok(None),
            Some(v) => v
                .parse::<T>()
                .map(Some)
                .map_err(|e| anyhow!("fn {}: {key}={v:?}: {e}", self.kind)),
        }
    }

    fn req<T: std::str::FromStr>(&mut self, key: &str) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.opt(key)?
            .ok_or_else(|| anyhow!("fn {}: missing {key}=...", self.kind))
    }

    fn finish(self) -> Result<()> {
        if let Some(k) = self.map.keys().next() {
            bail!("fn {}: unknown parameter {k:?}", self.kind);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_specs() -> Vec<FnSpec> {
        vec![
            FnSpec::Fib { n: 30 },
            FnSpec::Io {
                compute_ms: 5.0,
                sleep_ms: 10.24,
                rounds: 3,
                tail_ms: 1.0,
            },
            FnSpec::BlockIo {
                rounds: 2,
                read_kb: 64,
                write_kb: 16,
                compute_ms: 0.5,
                dir: Some("/var/tmp/x y".into()),
            },
            FnSpec::BlockIo {
                rounds: 2,
                read_kb: 64,
                write_kb: 16,
                compute_ms: 0.0,
                dir: None,
            },
            FnSpec::Futex {
                threads: 4,
                rounds: 3,
                hold_ms: 1.0,
                work_ms: 0.1,
            },
            FnSpec::Deceptive {
                burst_ms: 50.0,
                sleeps: 20,
                sleep_ms: 2.0,
                tail_ms: 1.0,
            },
            FnSpec::Cmd {
                argv: vec!["sh".into(), "-c".into(), "exit 3".into(), "--".into()],
                cpu_ms: Some(2.5),
            },
            FnSpec::Cmd {
                argv: vec!["true".into()],
                cpu_ms: None,
            },
        ]
    }

    #[test]
    fn args_round_trip() {
        for s in all_specs() {
            let args = s.to_args();
            assert_eq!(args[0], s.kind());
            assert_eq!(FnSpec::from_args(&args).unwrap(), s, "{args:?}");
            let mut with_fn = vec!["fn".to_string()];
            with_fn.extend(args);
            assert_eq!(FnSpec::from_args(&with_fn).unwrap(), s);
        }
    }

    #[test]
    fn serde_round_trip_tagged_by_kind() {
        for s in all_specs() {
            let j = serde_json::to_value(&s).unwrap();
            assert_eq!(j["kind"], s.kind());
            let back: FnSpec = serde_json::from_value(j).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn bad_args_are_errors() {
        let bad: &[&[&str]] = &[
            &[],
            &["nope"],
            &["fib"],
            &["fib", "n=x"],
            &["fib", "n=3", "m=4"],
            &["fib", "n=3", "n=4"],
            &["fib", "30"],
            &["io", "compute_ms=1", "sleep_ms=-1", "rounds=1"],
            &["cmd"],
            &["cmd", "--"],
            &["futex", "threads=0", "rounds=1", "hold_ms=1"],
        ];
        for b in bad {
            let v: Vec<String> = b.iter().map(|s| s.to_string()).collect();
            assert!(FnSpec::from_args(&v).is_err(), "{b:?} should fail");
        }
    }

    #[test]
    fn phases_sum_to_expected_cpu() {
        let cal = Calibration::synthetic(5_000_000);
        for s in all_specs() {
            let ph = s.expected_phases(&cal);
            let cpu: u64 = ph.iter().map(Phase::cpu_ns).sum();
            assert_eq!(cpu, s.expected_cpu_ns(&cal));
        }
        let io = &all_specs()[1];
        assert_eq!(io.expected_cpu_ns(&cal), 16_000_000);
        assert_eq!(io.expected_wall_ns(&cal), 16_000_000 + 3 * 10_240_000);
        assert_eq!(
            FnSpec::Fib { n: 30 }.expected_cpu_ns(&cal),
            cal.fib_cpu_ns(30)
        );
        let f = &all_specs()[4];
        assert_eq!(f.expected_cpu_ns(&cal), 4 * 3 * 1_100_000);
    }
}
