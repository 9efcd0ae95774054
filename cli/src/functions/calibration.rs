//! Per-machine calibration: how much CPU time `fib(n)` takes, and rough
//! block-I/O latencies, measured once and cached as JSON.
//!
//! The cache lives in `$ALPS_CACHE_DIR/calibration.json`, else
//! `$XDG_CACHE_HOME/alps/calibration.json`, else
//! `~/.cache/alps/calibration.json`. A cached calibration is reused only when
//! it was measured by the same build profile (debug and release code run fib
//! at very different speeds) on the same CPU model; otherwise it is measured
//! again and the file replaced atomically.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Largest fib n the calibration tabulates (fib(50) takes hours: ample).
pub const MAX_FIB_N: u32 = 50;
/// Smallest n that `fib_n_for_ms` returns.
pub const MIN_FIB_N: u32 = 10;
/// Version of the JSON layout and measuring method.
pub const CALIBRATION_VERSION: u32 = 1;

/// CPU time of the function bodies on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub version: u32,
    /// `debug` or `release`: the build that measured it.
    pub profile: String,
    /// CPU model from /proc/cpuinfo (empty when unknown).
    #[serde(default)]
    pub cpu_model: String,
    /// `(n, CPU ns of fib(n))` for n = 0..=MAX_FIB_N, fitted as c * F(n+1).
    pub fib_ns: Vec<(u32, u64)>,
    /// Latency of one 64 KiB O_DIRECT read request (ns).
    #[serde(default = "default_read_req_ns")]
    pub block_read_req_ns: u64,
    /// Latency of a small O_DIRECT write plus fsync (ns).
    #[serde(default = "default_fsync_ns")]
    pub block_fsync_ns: u64,
    /// Extra transfer time per KiB read or written (ns).
    #[serde(default = "default_ns_per_kb")]
    pub block_ns_per_kb: u64,
    /// Seconds since the Unix epoch when measured.
    #[serde(default)]
    pub measured_unix_s: u64,
}

fn default_read_req_ns() -> u64 {
    200_000
}
fn default_fsync_ns() -> u64 {
    2_000_000
}
fn default_ns_per_kb() -> u64 {
    1_000
}

/// Recursive Fibonacci, the CPU-bound function of ALPS and the ghOSt-port study.
#[inline(never)]
pub fn fib(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        fib(black_box(n - 1)) + fib(black_box(n - 2))
    }
}

/// F(n) computed iteratively (the shape of fib's call tree).
fn fib_iter(n: u32) -> f64 {
    let (mut a, mut b) = (0f64, 1f64);
    for _ in 0..n {
        let c = a + b;
        a = b;
        b = c;
    }
    a
}

/// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), ns.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process (CLOCK_PROCESS_CPUTIME_ID), ns.
pub fn process_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Spin on the CPU until this thread has consumed `ns` of CPU time (not
/// wall time: under contention it takes longer in wall time, same CPU).
pub fn burn(ns: u64) {
    if ns == 0 {
        return;
    }
    let start = thread_cpu_ns();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    loop {
        for _ in 0..1024 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            x = black_box(x);
        }
        if thread_cpu_ns().saturating_sub(start) >= ns {
            break;
        }
    }
    black_box(x);
}

/// `burn` for a duration in milliseconds.
pub fn burn_ms(ms: f64) {
    burn(ms_to_ns(ms));
}

pub(crate) fn ms_to_ns(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        (ms * 1e6).round() as u64
    } else {
        0
    }
}

fn build_profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}

/// The machine's CPU model (/proc/cpuinfo), also recorded in run metadata.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default()
}

impl Calibration {
    /// A calibration with fib(n) = `ns_at_30` * F(n+1) / F(31) and default
    /// block-I/O latencies: for tests and simulations that must not depend
    /// on the machine.
    pub fn synthetic(ns_at_30: u64) -> Calibration {
        let c = ns_at_30 as f64 / fib_iter(31);
        Calibration {
            version: CALIBRATION_VERSION,
            profile: "synthetic".into(),
            cpu_model: String::new(),
            fib_ns: table_from_constant(c),
            block_read_req_ns: default_read_req_ns(),
            block_fsync_ns: default_fsync_ns(),
            block_ns_per_kb: default_ns_per_kb(),
            measured_unix_s: 0,
        }
    }

    /// Measure this machine now (about 0.1-0.5 s; no cache).
    pub fn measure() -> Calibration {
        // CPU time of fib(n) for n in 22..=30, best of 3; fit c in c * F(n+1).
        let mut ratios = Vec::new();
        for n in 22..=30u32 {
            let mut best = u64::MAX;
            for _ in 0..3 {
                let t0 = thread_cpu_ns();
                black_box(fib(black_box(n)));
                best = best.min(thread_cpu_ns().saturating_sub(t0));
            }
            ratios.push(best as f64 / fib_iter(n + 1));
        }
        ratios.sort_by(|a, b| a.total_cmp(b));
        let c = ratios[ratios.len() / 2].max(1e-3);
        let (read_req, fsync, per_kb) = measure_block_io(&std::env::temp_dir()).unwrap_or((
            default_read_req_ns(),
            default_fsync_ns(),
            default_ns_per_kb(),
        ));
        Calibration {
            version: CALIBRATION_VERSION,
            profile: build_profile().into(),
            cpu_model: cpu_model(),
            fib_ns: table_from_constant(c),
            block_read_req_ns: read_req,
            block_fsync_ns: fsync,
            block_ns_per_kb: per_kb,
            measured_unix_s: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// Where the cache file lives (see the module docs).
    pub fn cache_path() -> Option<PathBuf> {
        let nonempty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(d) = nonempty("ALPS_CACHE_DIR") {
            return Some(PathBuf::from(d).join("calibration.json"));
        }
        if let Some(d) = nonempty("XDG_CACHE_HOME") {
            return Some(PathBuf::from(d).join("alps").join("calibration.json"));
        }
        nonempty("HOME").map(|h| {
            PathBuf::from(h)
                .join(".cache")
                .join("alps")
                .join("calibration.json")
        })
    }

    /// Read the cached calibration if it fits this build and machine, else
    /// measure and store it (a failure to store is not an error).
    pub fn load_or_measure() -> Result<Calibration> {
        let path = Self::cache_path();
        if let Some(p) = &path {
            if let Ok(c) = Self::load(p) {
                if c.version == CALIBRATION_VERSION
                    && c.profile == build_profile()
                    && c.cpu_model == cpu_model()
                    && c.fib_ns.len() == MAX_FIB_N as usize + 1
                {
                    return Ok(c);
                }
            }
        }
        let c = Self::measure();
        if let Some(p) = &path {
            let _ = c.store(p);
        }
        Ok(c)
    }

    /// Read a calibration file.
    pub fn load(path: &Path) -> Result<Calibration> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading calibration {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("parsing calibration {}", path.display()))
    }

    /// Write atomically (temporary file then rename).
    pub fn store(&self, path: &Path) -> Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let tmp = path.with_extension(format!("json.tmp{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
        Ok(())
    }

    /// CPU ns of fib(n) (extrapolated by the golden ratio beyond the table).
    pub fn fib_cpu_ns(&self, n: u32) -> u64 {
        if let Some(&(_, ns)) = self.fib_ns.iter().find(|(m, _)| *m == n) {
            return ns;
        }
        match self.fib_ns.iter().max_by_key(|(m, _)| *m) {
            Some(&(m, ns)) if n > m => {
                let phi = (1.0 + 5f64.sqrt()) / 2.0;
                (ns as f64 * phi.powi((n - m) as i32)).min(u64::MAX as f64 / 2.0) as u64
            }
            _ => 0,
        }
    }

    /// The n in MIN_FIB_N..=MAX_FIB_N whose CPU time is closest to `ms`
    /// (closest in ratio, i.e. in log scale).
    pub fn fib_n_for_ms(&self, ms: f64) -> u32 {
        self.fib_n_for_ns(ms_to_ns(ms))
    }

    /// As `fib_n_for_ms`, in ns.
    pub fn fib_n_for_ns(&self, ns: u64) -> u32 {
        let target = (ns.max(1)) as f64;
        let mut best = (MIN_FIB_N, f64::INFINITY);
        for n in MIN_FIB_N..=MAX_FIB_N {
            let t = self.fib_cpu_ns(n).max(1) as f64;
            let d = (t / target).ln().abs();
            if d < best.1 {
                best = (n, d);
            }
        }
        best.0
    }

    /// Expected time of one O_DIRECT read of `kb` KiB (in 64 KiB requests).
    pub fn block_read_ns(&self, kb: u64) -> u64 {
        if kb == 0 {
            return 0;
        }
        kb.div_ceil(64) * self.block_read_req_ns + kb * self.block_ns_per_kb
    }

    /// Expected time of an O_DIRECT write of `kb` KiB followed by fsync.
    pub fn block_write_fsync_ns(&self, kb: u64) -> u64 {
        if kb == 0 {
            return 0;
        }
        self.block_fsync_ns + kb * self.block_ns_per_kb
    }
}

fn table_from_constant(c: f64) -> Vec<(u32, u64)> {
    (0..=MAX_FIB_N)
        .map(|n| (n, (c * fib_iter(n + 1)).round().max(1.0) as u64))
        .collect()
}

/// Quick block-I/O latency probe in `dir`: (64 KiB read request ns, small
/// write+fsync ns, ns per KiB). None when O_DIRECT is unavailable there.
fn measure_block_io(dir: &Path) -> Option<(u64, u64, u64)> {
    use super::blockio::{AlignedBuf, DirectFile};
    let f = DirectFile::create(dir).ok()?;
    let mut buf = AlignedBuf::new(1024 * 1024).ok()?;
    buf.fill_pattern(7);
    // 1 MiB written and synced once, so that reads hit allocated blocks.
    f.write_all_at(buf.as_slice(), 0).ok()?;
    f.fsync().ok()?;
    let mut small = AlignedBuf::new(4096).ok()?;
    small.fill_pattern(3);
    let t0 = Instant::now();
    for i in 0..3u64 {
        f.write_all_at(small.as_slice(), i * 4096).ok()?;
        f.fsync().ok()?;
    }
    let fsync = t0.elapsed() / 3;
    let mut rbuf = AlignedBuf::new(64 * 1024).ok()?;
    let t0 = Instant::now();
    for i in 0..4u64 {
        f.read_exact_at(rbuf.as_mut_slice(), i * 64 * 1024).ok()?;
    }
    let req = t0.elapsed() / 4;
    let t0 = Instant::now();
    f.read_exact_at(buf.as_mut_slice(), 0).ok()?;
    let big = t0.elapsed();
    let per_kb = big.saturating_sub(req).as_nanos() as u64 / 1024;
    let clamp = |d: Duration, lo: u64, hi: u64| (d.as_nanos() as u64).clamp(lo, hi);
    Some((
        clamp(req, 1_000, 100_000_000),
        clamp(fsync, 1_000, 1_000_000_000),
        per_kb.clamp(1, 1_000_000),
    ))
}
