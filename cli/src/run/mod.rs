//! The live runner: launches a workload's invocations open-loop as tagged
//! processes under the probes, lets the chosen learner and backend schedule
//! them, and writes every record plus a summary.
//!
//! Threads: a tokio runtime drives arrivals (absolute deadlines from the
//! run's start), the learner loop and signal handling; each invocation's
//! launch and wait runs on a blocking-pool thread. The runner's own threads
//! run SCHED_FIFO above every function (with SCHED_RESET_ON_FORK, so the
//! functions start in the fair class) so that arrivals stay on time and the
//! enforcement keeps up under every policy alike.

pub mod alone;

use crate::functions::Calibration;
use crate::summary::{self, Summary, SummaryInput};
use crate::sysstat::{CpuSample, PerfCounters, PerfTotals};
use crate::workload::{self, Invocation, Workload, WorkloadOpts};
use alps_policy::backend::stock::{Mode, StockBackend, StockConfig};
use alps_policy::backend::{monotonic_ns, Backend, NoBackend, Started};
use alps_policy::{Learner, LearnerConfig, Policy};
use alps_probes::{Collector, ProbeOptions, Probes, Record, Stint, Tagger};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which learner decides (`eevdf` = none: the stock scheduler).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyName {
    Eevdf,
    Alps,
    AlpsIo,
    Sfs,
}

impl PolicyName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eevdf => "eevdf",
            Self::Alps => "alps",
            Self::AlpsIo => "alps-io",
            Self::Sfs => "sfs",
        }
    }

    pub fn parse_list(s: &str) -> Result<Vec<Self>> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                <Self as clap::ValueEnum>::from_str(p.trim(), true).map_err(|_| {
                    anyhow::anyhow!("unknown policy {p:?}: expected eevdf, alps, alps-io or sfs")
                })
            })
            .collect()
    }

    /// The learner configuration of an ALPS variant.
    pub fn learner(self, cores: u32) -> Option<LearnerConfig> {
        let base = match self {
            Self::Alps => LearnerConfig::alps(),
            Self::AlpsIo => LearnerConfig::alps_io(),
            _ => return None,
        };
        Some(LearnerConfig { cores, ..base })
    }
}

impl std::fmt::Display for PolicyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The enforcement substrate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum BackendName {
    StockSoft,
    StockStrict,
    Scx,
}

impl BackendName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StockSoft => "stock-soft",
            Self::StockStrict => "stock-strict",
            Self::Scx => "scx",
        }
    }
}

/// Everything a run needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConfig {
    pub workload: String,
    pub policy: PolicyName,
    pub backend: BackendName,
    pub duration_s: f64,
    pub load: Option<f64>,
    pub io_share: Option<f64>,
    pub seed: u64,
    /// Invocations arriving before this are run but left out of the summary
    /// (the learner has no history yet).
    pub warmup_s: f64,
    pub out: PathBuf,
    /// Record the stint timeline (needed for the inversion metric).
    pub stints: bool,
    pub progress: bool,
    /// Learner override (ablations); default from the policy.
    pub learner: Option<LearnerConfig>,
    /// How often the learner relearns and pushes a policy.
    pub update_period_s: f64,
    /// After the last arrival, how long in-flight invocations may take.
    pub drain_timeout_s: f64,
}

impl RunConfig {
    pub fn new(workload: &str, policy: PolicyName, out: &Path) -> Self {
        Self {
            workload: workload.to_string(),
            policy,
            backend: BackendName::StockStrict,
            duration_s: 30.0,
            load: None,
            io_share: None,
            seed: 1,
            warmup_s: 5.0,
            out: out.to_path_buf(),
            stints: false,
            progress: true,
            learner: None,
            update_period_s: 1.0,
            drain_timeout_s: 60.0,
        }
    }

    pub fn workload_opts(&self) -> WorkloadOpts {
        WorkloadOpts {
            duration_s: self.duration_s,
            load: self.load,
            io_share: self.io_share,
            seed: self.seed,
            cores: crate::sysstat::num_cpus() as u32,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub summary: Summary,
    /// Every record, warm-up included.
    pub records: Vec<Record>,
    /// Records of the measured part (after warm-up).
    pub measured: Vec<Record>,
    pub stints: Vec<Stint>,
    pub policies: Vec<Policy>,
    pub interrupted: bool,
}

/// The `alps` binary (functions are launched as `alps fn ...`): `$ALPS_EXE`
/// if set (tests), else this executable.
pub fn alps_exe() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ALPS_EXE") {
        return Ok(PathBuf::from(p));
    }
    std::env::current_exe().context("locating the alps executable")
}

/// Run metadata (`run.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta {
    pub kernel: String,
    pub machine: String,
    pub cpu_model: String,
    pub cores: u32,
    pub policy: String,
    pub backend: String,
    pub workload: String,
    pub seed: u64,
    pub commit: String,
    pub config: RunConfig,
    pub started_unix_s: u64,
    pub interrupted: bool,
    pub probe_counters: alps_probes::ProbeCounters,
    pub perf: PerfTotals,
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Build the backend a policy and substrate need.
pub fn make_backend(
    policy: PolicyName,
    backend: BackendName,
    probes: &Probes,
    cores: u32,
) -> Result<Box<dyn Backend>> {
    let exe = alps_exe()?;
    Ok(match (policy, backend) {
        (PolicyName::Eevdf, _) => Box::new(NoBackend),
        (PolicyName::Sfs, _) => Box::new(StockBackend::new(
            StockConfig::new(Mode::Sfs, cores, &exe),
            None,
        )?),
        (_, BackendName::StockSoft) => Box::new(StockBackend::new(
            StockConfig::new(Mode::Soft, cores, &exe),
            None,
        )?),
        (_, BackendName::StockStrict) => Box::new(StockBackend::new(
            StockConfig::new(Mode::Strict, cores, &exe),
            Some(probes.watch_map()?),
        )?),
        (_, BackendName::Scx) => make_scx()?,
    })
}

/// The sched_ext backend (feature `scx`; see docs/SCX.md).
#[cfg(feature = "scx")]
fn make_scx() -> Result<Box<dyn Backend>> {
    use alps_policy::backend::scx::{check_available, ScxBackend, ScxConfig};
    check_available()?;
    Ok(Box::new(ScxBackend::new(ScxConfig::default())?))
}

#[cfg(not(feature = "scx"))]
fn make_scx() -> Result<Box<dyn Backend>> {
    if !Path::new("/sys/kernel/sched_ext").exists() {
        bail!(
            "--backend scx needs a kernel with sched_ext (CONFIG_SCHED_CLASS_EXT); this kernel has none \
             (/sys/kernel/sched_ext is missing). Use --backend stock-strict or stock-soft here, or run \
             scripts/vm-test.sh, which boots a sched_ext kernel in a VM"
        );
    }
    bail!(
        "--backend scx: this alps was built without the `scx` feature (it needs clang >= 18 and the \
         kernel's vmlinux.h; see docs/SCX.md). scripts/vm-test.sh builds it with the feature"
    )
}

/// Load the calibration and the workload, then run it.
pub fn run(cfg: &RunConfig) -> Result<RunOutput> {
    let cal = Calibration::load_or_measure()?;
    let w = workload::load(&cfg.workload, &cfg.workload_opts(), &cal)?;
    run_workload(&w, &cal, cfg)
}

/// Put the calling thread in SCHED_FIFO `prio`. Not reset-on-fork: the
/// functions it launches must reach their own class-setting step before
/// exec at once (see `launch`); nothing else is forked from these threads.
fn runner_priority(prio: u32) {
    use alps_policy::backend::sched;
    let _ = sched::sched_setattr(
        0,
        &sched::SchedAttr {
            sched_policy: sched::SCHED_FIFO,
            sched_priority: prio,
            ..Default::default()
        },
    );
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Ctrl-C, SIGTERM and SIGHUP set a flag the runner polls: arrivals stop,
/// in-flight invocations get a grace period, then are killed, and the
/// results are still written. Installed once per process.
fn install_interrupt_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if INTERRUPTED.swap(true, Ordering::SeqCst) {
                eprintln!("alps: interrupted again: killing in-flight invocations");
            }
        });
    });
}

/// Whether the user interrupted the run (also for `compare`).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Priority of the runner's threads: above the functions' FIFO band and
/// the enforcement poller, below the guardian.
const RUNNER_PRIO: u32 = 70;

struct Shared {
    tagger: Tagger,
    collector: Collector,
    backend: Mutex<Box<dyn Backend>>,
    /// Invocation id -> root pid of in-flight invocations.
    inflight: Mutex<HashMap<u64, i32>>,
    stop: AtomicBool,
    exe: PathBuf,
    t0_ns: u64,
}

enum Outcome {
    Done(Box<Record>),
    Failed,
}

/// Invocation ids: the run's start (ms) in the high bits, so ids of
/// different runs differ; the workload's sequence number in the low 24.
fn invocation_id(t0_ns: u64, seq: u64) -> u64 {
    ((t0_ns / 1_000_000) << 24) | (seq & 0xFF_FFFF)
}

fn seq_of(invocation_id: u64) -> u64 {
    invocation_id & 0xFF_FFFF
}

/// Launch one invocation and wait for its record (blocking).
fn launch(sh: &Shared, inv: &Invocation, invocation_id: u64) -> Result<Outcome> {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(&sh.exe);
    cmd.arg("fn")
        .args(inv.spec.to_args())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0);
    // The child takes its function's class itself, before exec. The
    // runner's threads are SCHED_FIFO without reset-on-fork, so the child
    // reaches this point at once; if the agent died meanwhile (the child
    // was re-parented), it takes the plain class instead.
    let attr = sh.backend.lock().unwrap().spawn_attr(inv.function_id);
    let plain = alps_policy::backend::sched::fair_attr(0, 0);
    let parent = std::process::id() as i32;
    // SAFETY: the closure only makes async-signal-safe system calls.
    unsafe {
        cmd.pre_exec(move || {
            let a = if libc::getppid() == parent {
                attr.unwrap_or(plain)
            } else {
                plain
            };
            let _ = alps_policy::backend::sched::sched_setattr(0, &a);
            Ok(())
        });
    }
    let spawn_ns = monotonic_ns();
    let child = sh
        .tagger
        .spawn(&mut cmd, inv.function_id, invocation_id)
        .with_context(|| format!("launching {}", sh.exe.display()))?;
    let pid = child.id() as i32;
    sh.inflight.lock().unwrap().insert(invocation_id, pid);
    let started = Started {
        invocation_id,
        function_id: inv.function_id,
        pid,
        arrival_ns: sh.t0_ns + inv.arrival_ns,
        spawn_ns,
    };
    if let Err(e) = sh.backend.lock().unwrap().started(&started) {
        eprintln!("alps: backend could not treat invocation {invocation_id}: {e:#}");
    }
    // Wait for the exit but keep the zombie: the pid cannot be reused while
    // the backend forgets it.
    // SAFETY: zeroed siginfo is valid; WNOWAIT leaves the child reapable.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    loop {
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as u32,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break;
        }
    }
    sh.backend.lock().unwrap().ended(invocation_id);
    let mut child = child;
    let status = child.wait()?;
    sh.inflight.lock().unwrap().remove(&invocation_id);
    let Some(acc) = sh.collector.wait(invocation_id, Duration::from_secs(5)) else {
        return Ok(Outcome::Failed);
    };
    if !status.success() {
        return Ok(Outcome::Failed);
    }
    Ok(Outcome::Done(Box::new(Record {
        class: inv.class.clone(),
        kind: inv.spec.kind().to_string(),
        arrival_ns: sh.t0_ns + inv.arrival_ns,
        start_ns: spawn_ns,
        end_ns: spawn_ns + acc.wall_ns,
        account: acc,
    })))
}

/// Run a loaded workload.
pub fn run_workload(w: &Workload, cal: &Calibration, cfg: &RunConfig) -> Result<RunOutput> {
    std::fs::create_dir_all(&cfg.out)
        .with_context(|| format!("creating the output directory {}", cfg.out.display()))?;
    if w.invocations.is_empty() {
        bail!(
            "workload {} has no invocations (duration {} s)",
            w.name,
            cfg.duration_s
        );
    }
    install_interrupt_handler();
    let cores = crate::sysstat::num_cpus() as u32;
    let exe = alps_exe()?;
    let strict = cfg.backend == BackendName::StockStrict
        && matches!(cfg.policy, PolicyName::Alps | PolicyName::AlpsIo);
    let probes = Probes::load(&ProbeOptions {
        stints: cfg.stints,
        watch: strict,
    })?;
    let tagger = probes.tagger()?;
    let collector = probes.collector()?;
    let alone = alone::AloneTable::measure(w, &tagger, &collector, &exe)?;
    let backend = make_backend(cfg.policy, cfg.backend, &probes, cores)?;
    let learner_cfg = cfg
        .learner
        .clone()
        .or_else(|| cfg.policy.learner(cores))
        .map(|c| LearnerConfig { cores, ..c });

    let mut perf = PerfCounters::start()?;
    let perf0 = perf.read();
    let cpu0 = CpuSample::now();
    let started_unix_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);

    let sh = Arc::new(Shared {
        tagger,
        collector,
        backend: Mutex::new(backend),
        inflight: Mutex::new(HashMap::new()),
        stop: AtomicBool::new(false),
        exe,
        t0_ns: 0,
    });
    let result = drive(w, cfg, sh, learner_cfg);
    let (sh, done, failed, policies, interrupted, t_end_ns, t0_ns) = result?;

    let perf1 = perf.read();
    let cpu1 = CpuSample::now();
    let restore = sh.backend.lock().unwrap().restore();
    let backend_stats = sh.backend.lock().unwrap().stats();
    let counters = probes.counters()?;
    let stints = sh.collector.take_stints();
    restore.context("restoring the scheduling state")?;

    let mut records = done;
    records.sort_by_key(|r| r.arrival_ns);
    let warm_ns = t0_ns + (cfg.warmup_s.max(0.0) * 1e9) as u64;
    let measured: Vec<Record> = records
        .iter()
        .filter(|r| r.arrival_ns >= warm_ns)
        .cloned()
        .collect();
    let by_seq: HashMap<u64, &Invocation> = w.invocations.iter().map(|i| (i.seq, i)).collect();
    let alone_ns: Vec<u64> = measured
        .iter()
        .map(|r| {
            by_seq
                .get(&seq_of(r.account.invocation_id))
                .map(|i| alone.fct_ns(&i.spec, cal))
                .unwrap_or(0)
        })
        .collect();
    let expected = w.invocations.len() as u64;
    let lost = expected.saturating_sub(records.len() as u64 + failed);
    let mut summary = summary::summarize(
        &measured,
        &SummaryInput {
            workload: &w.name,
            policy: cfg.policy.as_str(),
            backend: if cfg.policy == PolicyName::Eevdf {
                "none"
            } else if cfg.policy == PolicyName::Sfs {
                "sfs"
            } else {
                cfg.backend.as_str()
            },
            alone_ns: &alone_ns,
            context_switches: perf1.context_switches - perf0.context_switches,
            migrations: perf1.migrations - perf0.migrations,
            cpu_utilization: cpu1.utilization_since(&cpu0),
            dropped_records: counters.dropped() + lost,
            failed,
            counter_span_s: (t_end_ns.saturating_sub(t0_ns)) as f64 / 1e9,
        },
    );
    summary.backend_stats = backend_stats;
    if cfg.stints {
        summary.inversion = Some(serde_json::to_value(crate::inversion::inversion(
            &records, &stints,
        ))?);
    }

    let meta = RunMeta {
        kernel: kernel_release(),
        machine: hostname(),
        cpu_model: crate::functions::calibration::cpu_model(),
        cores,
        policy: cfg.policy.as_str().into(),
        backend: summary.backend.clone(),
        workload: w.name.clone(),
        seed: w.seed,
        commit: env!("ALPS_GIT_COMMIT").into(),
        config: cfg.clone(),
        started_unix_s,
        interrupted,
        probe_counters: counters,
        perf: PerfTotals {
            context_switches: perf1.context_switches - perf0.context_switches,
            migrations: perf1.migrations - perf0.migrations,
        },
    };
    write_outputs(&cfg.out, &meta, &summary, &records, &stints, &policies)?;
    Ok(RunOutput {
        summary,
        records,
        measured,
        stints,
        policies,
        interrupted,
    })
}

type Driven = (Arc<Shared>, Vec<Record>, u64, Vec<Policy>, bool, u64, u64);

/// The async part: arrivals, learner loop, signals, drain.
fn drive(
    w: &Workload,
    cfg: &RunConfig,
    sh: Arc<Shared>,
    learner_cfg: Option<LearnerConfig>,
) -> Result<Driven> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(|| runner_priority(RUNNER_PRIO))
        .build()?;
    let main_attr = alps_policy::backend::sched::sched_getattr(0).ok();
    runner_priority(RUNNER_PRIO);
    let out = rt.block_on(drive_async(w, cfg, sh, learner_cfg));
    if let Some(a) = main_attr {
        let _ = alps_policy::backend::sched::sched_setattr(0, &a);
    }
    out
}

async fn drive_async(
    w: &Workload,
    cfg: &RunConfig,
    sh: Arc<Shared>,
    learner_cfg: Option<LearnerConfig>,
) -> Result<Driven> {
    use tokio::time::{sleep_until, Instant};
    let mut sh = sh;
    let t0_ns = monotonic_ns();
    Arc::get_mut(&mut sh)
        .expect("runner state not shared yet")
        .t0_ns = t0_ns;
    let t0 = Instant::now();
    let (rec_tx, mut rec_rx) = tokio::sync::mpsc::unbounded_channel::<Outcome>();

    // Learner loop.
    let policies = Arc::new(Mutex::new(Vec::<Policy>::new()));
    let (learn_tx, mut learn_rx) = tokio::sync::mpsc::unbounded_channel::<Record>();
    let learner_task = learner_cfg.map(|lc| {
        let sh = sh.clone();
        let policies = policies.clone();
        let period = Duration::from_secs_f64(cfg.update_period_s.max(0.05));
        tokio::spawn(async move {
            let mut learner = Learner::new(lc);
            let mut tick = tokio::time::interval(period);
            let mut cpu_prev = CpuSample::now();
            loop {
                tick.tick().await;
                while let Ok(r) = learn_rx.try_recv() {
                    learner.observe(r);
                }
                let cpu_now = CpuSample::now();
                let util_pct = 100.0 * cpu_now.utilization_since(&cpu_prev);
                cpu_prev = cpu_now;
                let policy = learner.learn(monotonic_ns(), util_pct);
                if let Err(e) = sh.backend.lock().unwrap().apply(&policy) {
                    eprintln!("alps: applying policy v{} failed: {e:#}", policy.version);
                }
                policies.lock().unwrap().push(policy);
                if sh.stop.load(Ordering::Relaxed) {
                    break;
                }
            }
        })
    });

    let bar = progress_bar(cfg.progress, w.invocations.len() as u64);
    // Completions are consumed as they come: the learner sees them live.
    let completions = {
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            let mut failed = 0u64;
            while let Some(msg) = rec_rx.recv().await {
                bar.inc(1);
                match msg {
                    Outcome::Done(r) => {
                        let _ = learn_tx.send((*r).clone());
                        done.push(*r);
                    }
                    Outcome::Failed => failed += 1,
                }
            }
            (done, failed)
        })
    };
    let mut interrupted = interrupted();
    let mut handles = Vec::with_capacity(w.invocations.len());
    for inv in &w.invocations {
        let due = t0 + Duration::from_nanos(inv.arrival_ns);
        while !interrupted && Instant::now() < due {
            sleep_until(due.min(Instant::now() + Duration::from_millis(50))).await;
            interrupted = self::interrupted();
        }
        if interrupted {
            eprintln!("alps: interrupted: no new arrivals; finishing in-flight invocations");
            break;
        }
        let sh2 = sh.clone();
        let inv2 = inv.clone();
        let tx = rec_tx.clone();
        let id = invocation_id(t0_ns, inv.seq);
        handles.push(tokio::task::spawn_blocking(move || {
            let out = match launch(&sh2, &inv2, id) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("alps: invocation {} failed: {e:#}", inv2.seq);
                    Outcome::Failed
                }
            };
            let _ = tx.send(out);
        }));
    }
    drop(rec_tx);

    // Drain: wait for in-flight invocations; on a signal or the timeout,
    // kill what is left.
    let grace = if interrupted {
        Duration::from_secs(5)
    } else {
        Duration::from_secs_f64(cfg.drain_timeout_s.max(1.0))
    };
    let deadline = Instant::now() + grace;
    let all = futures_join_all(handles);
    tokio::pin!(all);
    let mut killed = false;
    let mut deadline = deadline;
    loop {
        tokio::select! {
            _ = &mut all => break,
            _ = sleep_until(deadline), if !killed => {
                killed = true;
                kill_inflight(&sh);
            }
            _ = tokio::time::sleep(Duration::from_millis(50)), if !killed && !interrupted => {
                if self::interrupted() {
                    // Interrupted while draining: a short grace, then kill.
                    interrupted = true;
                    deadline = deadline.min(Instant::now() + Duration::from_secs(5));
                }
            }
        }
    }
    let (done, failed) = completions.await?;
    bar.finish_and_clear();
    let t_end_ns = monotonic_ns();
    sh.stop.store(true, Ordering::Relaxed);
    if let Some(t) = learner_task {
        t.abort();
        let _ = t.await;
    }
    let policies = std::mem::take(&mut *policies.lock().unwrap());
    Ok((sh, done, failed, policies, interrupted, t_end_ns, t0_ns))
}

/// Wait for every task (in order; they run concurrently anyway).
async fn futures_join_all(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

fn kill_inflight(sh: &Shared) {
    let pids: Vec<i32> = sh.inflight.lock().unwrap().values().copied().collect();
    if !pids.is_empty() {
        eprintln!("alps: killing {} unfinished invocation(s)", pids.len());
    }
    for pid in pids {
        // SAFETY: each invocation is its own process group, led by its root.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

fn progress_bar(enabled: bool, len: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} invocations",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    for it in items {
        serde_json::to_writer(&mut f, it)?;
        f.write_all(b"\n")?;
    }
    f.flush()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(v)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn write_outputs(
    out: &Path,
    meta: &RunMeta,
    summary: &Summary,
    records: &[Record],
    stints: &[Stint],
    policies: &[Policy],
) -> Result<()> {
    write_jsonl(&out.join("records.jsonl"), records)?;
    write_jsonl(&out.join("policies.jsonl"), policies)?;
    if !stints.is_empty() {
        write_jsonl(&out.join("stints.jsonl"), stints)?;
    }
    write_json(&out.join("run.json"), meta)?;
    write_json(&out.join("summary.json"), summary)?;
    Ok(())
}

/// Read a run directory's records (records.jsonl), naming file:line on error.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let file = if path.is_dir() {
        path.join("records.jsonl")
    } else {
        path.to_path_buf()
    };
    read_jsonl(&file, "record")
}

/// Read a run directory's stints, if it has any.
pub fn read_stints(dir: &Path) -> Result<Vec<Stint>> {
    let file = dir.join("stints.jsonl");
    if !file.exists() {
        return Ok(Vec::new());
    }
    read_jsonl(&file, "stint")
}

/// One JSON value per line; errors name file:line.
fn read_jsonl<T: serde::de::DeserializeOwned>(file: &Path, what: &str) -> Result<Vec<T>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {what}s from {}", file.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}:{}: not a {what}", file.display(), i + 1))
        })
        .collect()
}
