//! ALPS policies on a stock Linux 6.x kernel (no sched_ext), with the levers
//! every kernel has.
//!
//! ALPS' kernel backend has two hooks: an *ordering* hook (runnable tasks
//! ordered by their function's rank, ties by vruntime) and a *slice* hook (a
//! task keeps its CPU until it has used its function's slice since it was
//! picked; then fair picking resumes). How each mode approximates them:
//!
//! | mode | ordering hook | slice hook |
//! |---|---|---|
//! | `stock-soft` | nice by rank (rank 1 -> nice -10 ... rank 100 -> +10): a weight, not a strict order | EEVDF custom slice = learned slice (sched_runtime, clamped to 0.1-100 ms): a longer slice protects the running task from preemption (RUN_TO_PARITY) but also moves its virtual deadline later |
//! | `stock-strict` | functions with a slice run SCHED_FIFO at a priority ordered by rank (band 2..49): a strict order, and a woken boosted task preempts any fair task at once | a boosted task is demoted to the fair class (nice by rank) when its current burst has used its slice (measured exactly: burst start from the probes' `watch` map, current CPU from schedstat, polled every `poll_ns`); its next burst is boosted again |
//!
//! Where neither can be faithful: ALPS' slice hook protects a task from
//! being *preempted* during its slice, while strict mode bounds how long it
//! may *hold priority*; within one FIFO priority tasks run in arrival order,
//! not vruntime order; and only the invocation's root task is boosted
//! (`SCHED_RESET_ON_FORK`), its threads and children run fair. The I/O-aware
//! controls apply in strict mode: with `remaining_priority` (ALPS-IO) a
//! boosted task's FIFO priority follows its estimated remaining CPU demand
//! (`remaining_prio`, ties within a function by CPU used: `dynamic_prios`), and
//! a function whose wakeup-preemption budget (per second, over 5 s windows)
//! is spent is demoted while it sleeps, so its next wakeup is fair, and it
//! is not boosted again before the budget renews.
//!
//! SFS (SC'22) runs on the same machinery: each invocation starts SCHED_FIFO
//! with one global slice S = mean inter-arrival time of the last 100
//! requests x cores (20 ms until enough requests, at least 6 ms), counted in
//! total CPU time so a sleep keeps the unused part; after S it is demoted to
//! the fair class for good; when more invocations hold the FIFO band than
//! it can serve within 3 x S (more than 3 x cores), new ones skip it.
//!
//! Autogroup: with `kernel.sched_autogroup_enabled=1`, nice only ranks
//! tasks of one session against each other. Every function is a child of
//! the runner, in the runner's session, so nice ranks them against each
//! other as intended; against other sessions' tasks it has no effect (as
//! with ALPS, which ranks only tagged tasks). `disable_autogroup` turns the
//! sysctl off for the run and restores it (through the guardian too).

use super::guard::Guard;
use super::sched::{self, TaskHandle};
use super::{monotonic_ns, Backend, Started};
use crate::policy::{FunctionPolicy, Policy, Variant};
use alps_probes::{watch, MapHandle};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const AUTOGROUP: &str = "/proc/sys/kernel/sched_autogroup_enabled";
const RT_RUNTIME: &str = "/proc/sys/kernel/sched_rt_runtime_us";

/// Remaining demands mapped onto the FIFO band (`remaining_prio`).
const REMAINING_MIN_NS: u64 = 1_000_000;
const REMAINING_MAX_NS: u64 = 10_000_000_000;

/// Which approximation of the ALPS hooks (or SFS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Soft,
    Strict,
    Sfs,
}

#[derive(Debug, Clone)]
pub struct StockConfig {
    pub mode: Mode,
    /// SCHED_FIFO priorities for ranks: (lowest, highest).
    pub fifo_band: (u32, u32),
    /// Largest rank the learner gives (maps to the bottom of each range).
    pub rank_max: u32,
    /// Nice for rank 1 and for rank_max.
    pub nice_range: (i32, i32),
    /// Enforcement poll period (strict and SFS).
    pub poll_ns: u64,
    pub cores: u32,
    /// SFS: requests the slice is computed over, first and smallest slice,
    /// FIFO priority.
    pub sfs_window: usize,
    pub sfs_initial_slice_ns: u64,
    pub sfs_min_slice_ns: u64,
    pub sfs_prio: u32,
    /// Turn autogroup off for the run (restored afterwards).
    pub disable_autogroup: bool,
    /// Strict and SFS: turn RT throttling off for the run (restored
    /// afterwards), on kernels whose fair server keeps fair tasks alive
    /// under RT load (6.12+). With throttling on (950 ms per 1 s), a CPU
    /// the FIFO band saturates stalls every boosted task for 50 ms each
    /// second (measured here: a FIFO prober saw a 50 ms gap every second
    /// next to FIFO spinners; none with throttling off).
    pub rt_unthrottle: bool,
    /// The `alps` binary, whose `guard` subcommand is the guardian.
    pub guard_exe: PathBuf,
}

impl StockConfig {
    pub fn new(mode: Mode, cores: u32, guard_exe: &Path) -> Self {
        Self {
            mode,
            fifo_band: (2, 49),
            rank_max: 100,
            nice_range: (-10, 10),
            poll_ns: 1_000_000,
            cores: cores.max(1),
            sfs_window: 100,
            sfs_initial_slice_ns: 20_000_000,
            sfs_min_slice_ns: 6_000_000,
            sfs_prio: 10,
            disable_autogroup: false,
            rt_unthrottle: true,
            guard_exe: guard_exe.to_path_buf(),
        }
    }

    fn frac(&self, rank: u32) -> f64 {
        let r = rank.clamp(1, self.rank_max.max(1));
        if self.rank_max <= 1 {
            0.0
        } else {
            (r - 1) as f64 / (self.rank_max - 1) as f64
        }
    }

    /// Rank 1 -> highest FIFO priority of the band.
    pub fn fifo_prio(&self, rank: u32) -> u32 {
        let (lo, hi) = self.fifo_band;
        (hi as f64 - self.frac(rank) * (hi - lo) as f64).round() as u32
    }

    /// Remaining demand -> FIFO priority, on a log scale over the band:
    /// `REMAINING_MIN_NS` or less at the top, `REMAINING_MAX_NS` or more at
    /// the bottom (about 3.6 levels per doubling with the default band), so
    /// two tasks whose remaining demands differ by a third or more are
    /// strictly ordered, whatever the functions in the policy.
    pub fn remaining_prio(&self, remaining_ns: u64) -> u32 {
        let (lo, hi) = self.fifo_band;
        let x = (remaining_ns.max(1) as f64 / REMAINING_MIN_NS as f64).ln()
            / (REMAINING_MAX_NS as f64 / REMAINING_MIN_NS as f64).ln();
        (hi as f64 - x.clamp(0.0, 1.0) * (hi - lo) as f64).round() as u32
    }

    /// Rank 1 -> lowest nice of the range.
    pub fn nice(&self, rank: u32) -> i32 {
        let (lo, hi) = self.nice_range;
        (lo as f64 + self.frac(rank) * (hi - lo) as f64).round() as i32
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Untouched.
    Plain,
    /// Fair class with nice/slice from the policy.
    Fair,
    /// SCHED_FIFO at this priority.
    Fifo(u32),
}

#[derive(Debug)]
struct Live {
    function_id: u32,
    task: TaskHandle,
    class: Class,
    touched: bool,
    watched: bool,
    /// Bursts the watch entry had at the last poll.
    seen_bursts: u64,
    /// CPU time at start (SFS counts total CPU since start).
    start_cpu_ns: u64,
    /// SFS: demoted for good.
    done: bool,
    /// CPU of the current burst at the previous poll (to time demotions).
    last_burst_cpu: u64,
}

#[derive(Debug, Default)]
struct BudgetWindow {
    start_ns: u64,
    used: u64,
}

#[derive(Debug, Default, Serialize)]
struct Stats {
    started: u64,
    boosts: u64,
    reboosts: u64,
    demotions_slice: u64,
    demotions_budget: u64,
    budget_denials: u64,
    reprioritized: u64,
    sfs_skipped_overload: u64,
    errors: u64,
    #[serde(skip)]
    apply_latency_ns: Vec<u64>,
    #[serde(skip)]
    demote_overshoot_ns: Vec<u64>,
}

struct State {
    policy: Policy,
    live: HashMap<u64, Live>,
    budgets: HashMap<u32, BudgetWindow>,
    stats: Stats,
    sfs_arrivals: VecDeque<u64>,
    sfs_slice_ns: u64,
}

struct Shared {
    cfg: StockConfig,
    state: Mutex<State>,
    stop: AtomicBool,
    watch: Option<MapHandle>,
    guard: Guard,
}

/// `stock-soft`, `stock-strict` and `sfs`.
pub struct StockBackend {
    shared: Arc<Shared>,
    poller: Option<JoinHandle<()>>,
    autogroup_old: Option<String>,
    rt_runtime_old: Option<String>,
    restored: bool,
}

/// Whether the running kernel has the fair server (Linux 6.12+), which
/// keeps fair tasks alive under RT load once RT throttling is off.
fn has_fair_server() -> bool {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = rel.trim().split(['.', '-']).map(|x| x.parse::<u32>().ok());
    match (it.next().flatten(), it.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= (6, 12),
        _ => false,
    }
}

fn percentile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    s[((s.len() - 1) as f64 * q).round() as usize]
}

impl StockBackend {
    /// `watch` (the probes' watch map) is needed for strict mode.
    pub fn new(cfg: StockConfig, watch: Option<MapHandle>) -> anyhow::Result<Self> {
        if cfg.mode == Mode::Strict && watch.is_none() {
            anyhow::bail!(
                "stock-strict needs the probes' watch map (load the probes with watch on)"
            );
        }
        // SAFETY: no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            anyhow::bail!(
                "the {} backend changes scheduling classes and needs root; run as root or use --policy eevdf",
                match cfg.mode {
                    Mode::Soft => "stock-soft",
                    Mode::Strict => "stock-strict",
                    Mode::Sfs => "sfs",
                }
            );
        }
        let guard = Guard::spawn(&cfg.guard_exe)?;
        let mut autogroup_old = None;
        if cfg.disable_autogroup {
            if let Ok(old) = std::fs::read_to_string(AUTOGROUP) {
                guard.sysctl(Path::new(AUTOGROUP), &old);
                std::fs::write(AUTOGROUP, "0")
                    .map_err(|e| anyhow::anyhow!("disabling autogroup ({AUTOGROUP}): {e}"))?;
                autogroup_old = Some(old);
            }
        }
        let mut rt_runtime_old = None;
        if cfg.rt_unthrottle && cfg.mode != Mode::Soft && has_fair_server() {
            if let Ok(old) = std::fs::read_to_string(RT_RUNTIME) {
                if old.trim() != "-1" {
                    guard.sysctl(Path::new(RT_RUNTIME), &old);
                    std::fs::write(RT_RUNTIME, "-1").map_err(|e| {
                        anyhow::anyhow!("turning RT throttling off ({RT_RUNTIME}): {e}")
                    })?;
                    rt_runtime_old = Some(old);
                }
            }
        }
        let sfs_slice_ns = cfg.sfs_initial_slice_ns;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                policy: Policy::default(),
                live: HashMap::new(),
                budgets: HashMap::new(),
                stats: Stats::default(),
                sfs_arrivals: VecDeque::new(),
                sfs_slice_ns,
            }),
            stop: AtomicBool::new(false),
            watch,
            guard,
            cfg,
        });
        let poller = if shared.cfg.mode == Mode::Soft {
            None
        } else {
            let sh = shared.clone();
            Some(
                std::thread::Builder::new()
                    .name("alps-enforce".into())
                    .spawn(move || poll_loop(&sh))?,
            )
        };
        Ok(Self {
            shared,
            poller,
            autogroup_old,
            rt_runtime_old,
            restored: false,
        })
    }

    /// The mode this backend runs.
    pub fn mode(&self) -> Mode {
        self.shared.cfg.mode
    }
}

impl Shared {
    /// Put a live task in `class`, telling the guardian first.
    fn set_class(&self, live: &mut Live, class: Class, fp: Option<&FunctionPolicy>) -> bool {
        if live.class == class {
            return true;
        }
        if !live.task.alive() {
            return false;
        }
        if !live.touched {
            self.guard.touched(live.task.id);
            live.touched = true;
        }
        let r = match (class, fp) {
            (Class::Fifo(p), _) => sched::set_fifo(live.task.tid(), p),
            (Class::Fair, Some(fp)) => {
                let slice = if self.cfg.mode == Mode::Soft {
                    fp.slice_ns
                } else {
                    0
                };
                sched::set_fair(live.task.tid(), self.cfg.nice(fp.rank), slice)
            }
            _ => sched::set_plain(live.task.tid()),
        };
        match r {
            Ok(()) => {
                live.class = class;
                true
            }
            Err(_) => false,
        }
    }

    /// The class a function's task gets at the start of a burst (`las`:
    /// functions without an entry are ordered by attained service).
    fn burst_class(&self, las: bool, fp: Option<&FunctionPolicy>) -> Class {
        match (self.cfg.mode, fp) {
            (Mode::Sfs, _) => Class::Fifo(self.cfg.sfs_prio),
            (Mode::Strict, None) if las => Class::Fifo(self.cfg.remaining_prio(0)),
            (_, None) => Class::Plain,
            (Mode::Soft, Some(_)) => Class::Fair,
            (Mode::Strict, Some(fp)) if fp.slice_ns > 0 => {
                Class::Fifo(boost_prio(&self.cfg, fp, 0))
            }
            (Mode::Strict, Some(_)) => Class::Fair,
        }
    }
}

impl State {
    /// ALPS-IO in strict mode: a function the learner has not seen yet (no
    /// finished invocation) has no demand estimate; its invocations are
    /// ordered by attained service instead (least-attained first: priority
    /// as if the CPU used so far were the remaining demand), so a new
    /// function starts at the top of the band and sinks as it runs, rather
    /// than waiting in the fair class below every boosted task (measured:
    /// the first 100 ms invocations of a rare function waited 2 s).
    fn las(&self) -> bool {
        self.policy.variant == Variant::AlpsIo
    }
}

/// The FIFO priority of a boosted task of function `fp` that has used
/// `used_ns` of CPU: by its function's rank, or (remaining_priority) by its
/// estimated remaining CPU demand, so boosted tasks run in shortest-
/// remaining-demand order and a task rises as it nears its end.
fn boost_prio(cfg: &StockConfig, fp: &FunctionPolicy, used_ns: u64) -> u32 {
    match fp.io.remaining_demand_ns(used_ns) {
        Some(rem) => cfg.remaining_prio(rem),
        None => cfg.fifo_prio(fp.rank),
    }
}

/// Budgets are per second but accounted over windows of this many
/// seconds: arrivals come in bursts, and a one-second window denies exactly
/// the wakeups of the busy seconds (measured: a denied wakeup waits in the
/// fair class behind every boosted task, 500 ms on the mixed workload).
const BUDGET_WINDOW_S: u64 = 5;

/// Function `f`'s current wakeup-preemption window.
fn budget_window(st: &mut State, f: u32, now: u64) -> &mut BudgetWindow {
    let w = st.budgets.entry(f).or_default();
    if now.saturating_sub(w.start_ns) >= BUDGET_WINDOW_S * 1_000_000_000 {
        w.start_ns = now;
        w.used = 0;
    }
    w
}

/// Spend `n` wakeup preemptions of function `f` if its budget allows.
fn take_budget(st: &mut State, f: u32, budget: u32, now: u64, n: u64) -> bool {
    if budget == u32::MAX {
        return true;
    }
    let w = budget_window(st, f, now);
    if w.used + n <= u64::from(budget) * BUDGET_WINDOW_S {
        w.used += n;
        true
    } else {
        false
    }
}

fn budget_spent(st: &mut State, f: u32, budget: u32, now: u64) -> bool {
    budget != u32::MAX && budget_window(st, f, now).used >= u64::from(budget) * BUDGET_WINDOW_S
}

fn poll_loop(sh: &Shared) {
    // Above every boosted function, below the guardian.
    let _ = sched::sched_setattr(
        0,
        &sched::SchedAttr {
            sched_policy: sched::SCHED_FIFO,
            sched_priority: sh.cfg.fifo_band.1 + 11,
            sched_flags: sched::SCHED_FLAG_RESET_ON_FORK,
            ..Default::default()
        },
    );
    let period = Duration::from_nanos(sh.cfg.poll_ns.max(100_000));
    while !sh.stop.load(Ordering::Relaxed) {
        std::thread::sleep(period);
        let mut guard = sh.state.lock().unwrap();
        let st = &mut *guard;
        let now = monotonic_ns();
        let ids: Vec<u64> = st.live.keys().copied().collect();
        match sh.cfg.mode {
            Mode::Strict => {
                // CPU time of the boosted tasks, read once per poll (a fair
                // task's is read only if it starts a burst).
                let cpu: HashMap<u64, u64> = ids
                    .iter()
                    .filter(|id| matches!(st.live[*id].class, Class::Fifo(_)))
                    .filter_map(|id| Some((*id, sched::cpu_time_ns(st.live[id].task.tid())?)))
                    .collect();
                let targets = dynamic_prios(&sh.cfg, st, &cpu);
                for id in ids {
                    let c = cpu.get(&id).copied();
                    poll_strict(sh, st, id, now, c, targets.get(&id).copied());
                }
            }
            Mode::Sfs => ids.into_iter().for_each(|id| poll_sfs(sh, st, id)),
            Mode::Soft => {}
        }
    }
}

/// The FIFO priority each boosted task with a dynamic order should hold
/// now: by estimated remaining demand (`remaining_priority`), or by
/// attained service for a function not seen yet under ALPS-IO; `cpu` holds
/// the tasks' CPU times read this poll (a task without one is left out).
///
/// Ties within a function are broken strictly by attained CPU: of the
/// boosted invocations of one function, the one that has used more (less
/// left, as they share one learned demand) is held at least one level above
/// the others. Without this, two invocations whose remaining demands fall
/// in one priority level run in arrival-at-the-level order, and on two CPUs
/// a newer one can run while an older one waits.
fn dynamic_prios(cfg: &StockConfig, st: &State, cpu: &HashMap<u64, u64>) -> HashMap<u64, u32> {
    let mut by_fn: HashMap<u32, Vec<(u64, u64, u32)>> = HashMap::new();
    let las = st.las();
    for (id, l) in &st.live {
        let Some(c) = cpu.get(id) else { continue };
        if !matches!(l.class, Class::Fifo(_)) {
            continue;
        }
        let used = c.saturating_sub(l.start_cpu_ns);
        let prio = match st.policy.get(l.function_id) {
            Some(fp) if fp.io.remaining_priority => boost_prio(cfg, fp, used),
            // An unseen function's invocations too: attained service
            // orders it against other functions, age among its own.
            None if las => cfg.remaining_prio(used),
            _ => continue,
        };
        by_fn
            .entry(l.function_id)
            .or_default()
            .push((used, *id, prio));
    }
    let mut out = HashMap::new();
    for (_, mut v) in by_fn {
        v.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut prev: Option<u32> = None;
        for (_, id, prio) in v {
            let p = match prev {
                None => prio,
                Some(q) => prio.min(q.saturating_sub(1)).max(cfg.fifo_band.0),
            };
            out.insert(id, p);
            prev = Some(p);
        }
    }
    out
}

/// Move boosted invocation `id` to FIFO priority `prio` if it is elsewhere.
fn reprioritize(sh: &Shared, st: &mut State, id: u64, prio: u32, fp: Option<&FunctionPolicy>) {
    let live = st.live.get_mut(&id).unwrap();
    if live.class != Class::Fifo(prio) && sh.set_class(live, Class::Fifo(prio), fp) {
        st.stats.reprioritized += 1;
    }
}

/// One strict-mode poll of invocation `id`; `cpu_now` is its root task's
/// CPU time read this poll (boosted tasks only), `target` the priority
/// `dynamic_prios` gives it.
fn poll_strict(
    sh: &Shared,
    st: &mut State,
    id: u64,
    now: u64,
    cpu_now: Option<u64>,
    target: Option<u32>,
) {
    let Some(live) = st.live.get(&id) else { return };
    let (f, tid) = (live.function_id, live.task.tid());
    let fp = st.policy.get(f).cloned();
    let Some(fp) = fp else {
        // Unknown function under ALPS-IO: attained-service order.
        if let Some(prio) = target {
            reprioritize(sh, st, id, prio, None);
        }
        return;
    };
    if fp.slice_ns == 0 {
        return;
    }
    let Some(w) = sh.watch.as_ref().and_then(|m| watch::get(m, tid as u32)) else {
        return;
    };
    let budget = fp.io.wakeup_preempt_budget_per_s;
    let live = st.live.get_mut(&id).unwrap();
    let new_bursts = w.bursts.saturating_sub(live.seen_bursts);
    live.seen_bursts = w.bursts;
    let class = live.class;
    match class {
        Class::Fifo(_) => {
            if new_bursts > 0 {
                // The boosted task woke and (in the FIFO class) preempted.
                let _ = take_budget(st, f, budget, now, new_bursts);
            }
            // Exact and current even mid-stint (the watch entry only
            // changes at switches, and may be younger than the stint).
            let cpu_now = cpu_now.unwrap_or(w.last_sum_ns);
            let burst_cpu = cpu_now.saturating_sub(w.burst_start_sum_ns);
            let spent = budget_spent(st, f, budget, now);
            let live = st.live.get_mut(&id).unwrap();
            let crossed_now = new_bursts == 0 && live.last_burst_cpu <= fp.slice_ns;
            live.last_burst_cpu = burst_cpu;
            if burst_cpu > fp.slice_ns {
                if sh.set_class(live, Class::Fair, Some(&fp)) {
                    st.stats.demotions_slice += 1;
                    // Exhaustion-to-demotion latency, when the slice ran out
                    // since the previous poll (not after a policy change).
                    if crossed_now {
                        st.stats.demote_overshoot_ns.push(burst_cpu - fp.slice_ns);
                    }
                }
            } else if spent && w.sleeping != 0 && sh.set_class(live, Class::Fair, Some(&fp)) {
                st.stats.demotions_budget += 1;
            } else if fp.io.remaining_priority {
                let used = cpu_now.saturating_sub(live.start_cpu_ns);
                let prio = target.unwrap_or_else(|| boost_prio(&sh.cfg, &fp, used));
                reprioritize(sh, st, id, prio, Some(&fp));
            }
        }
        _ => {
            if new_bursts > 0 {
                if take_budget(st, f, budget, now, 1) {
                    let used = sched::cpu_time_ns(tid)
                        .unwrap_or(w.last_sum_ns)
                        .saturating_sub(st.live[&id].start_cpu_ns);
                    let prio = boost_prio(&sh.cfg, &fp, used);
                    let live = st.live.get_mut(&id).unwrap();
                    if sh.set_class(live, Class::Fifo(prio), Some(&fp)) {
                        st.stats.reboosts += 1;
                    }
                } else {
                    st.stats.budget_denials += 1;
                }
            }
        }
    }
}

fn poll_sfs(sh: &Shared, st: &mut State, id: u64) {
    let slice = st.sfs_slice_ns;
    let Some(live) = st.live.get_mut(&id) else {
        return;
    };
    if live.done || !matches!(live.class, Class::Fifo(_)) {
        return;
    }
    let Some(cpu) = sched::cpu_time_ns(live.task.tid()) else {
        return;
    };
    let used = cpu.saturating_sub(live.start_cpu_ns);
    if used > slice && sh.set_class(live, Class::Plain, None) {
        live.done = true;
        st.stats.demotions_slice += 1;
        st.stats.demote_overshoot_ns.push(used - slice);
    }
}

impl Backend for StockBackend {
    fn name(&self) -> &'static str {
        match self.shared.cfg.mode {
            Mode::Soft => "stock-soft",
            Mode::Strict => "stock-strict",
            Mode::Sfs => "sfs",
        }
    }

    fn apply(&mut self, policy: &Policy) -> anyhow::Result<()> {
        let sh = &self.shared;
        let mut guard = sh.state.lock().unwrap();
        let st = &mut *guard;
        st.policy = policy.clone();
        if sh.cfg.mode == Mode::Sfs {
            return Ok(());
        }
        let las = st.las();
        for live in st.live.values_mut() {
            let fp = st.policy.get(live.function_id);
            let dynamic = fp.map_or(las, |fp| fp.io.remaining_priority);
            let target = match (live.class, sh.burst_class(las, fp)) {
                // A demoted strict task keeps the fair class until its next burst.
                (Class::Fair, Class::Fifo(_)) => Class::Fair,
                // The poller keeps a dynamic priority current.
                (Class::Fifo(_), Class::Fifo(_)) if dynamic => continue,
                (_, c) => c,
            };
            // Re-apply even at the same class: rank or slice may have changed.
            live.class = Class::Plain;
            if !sh.set_class(live, target, fp) {
                st.stats.errors += 1;
            }
        }
        Ok(())
    }

    fn spawn_attr(&mut self, function_id: u32) -> Option<sched::SchedAttr> {
        let sh = &self.shared;
        let st = sh.state.lock().unwrap();
        let fp = st.policy.get(function_id);
        match sh.burst_class(st.las(), fp) {
            Class::Fifo(p) => Some(sched::fifo_attr(p)),
            Class::Fair => fp.map(|fp| {
                let slice = if sh.cfg.mode == Mode::Soft {
                    fp.slice_ns
                } else {
                    0
                };
                sched::fair_attr(sh.cfg.nice(fp.rank), slice)
            }),
            Class::Plain => None,
        }
    }

    fn started(&mut self, inv: &Started) -> anyhow::Result<()> {
        let sh = &self.shared;
        let Some(task) = TaskHandle::of(inv.pid) else {
            return Ok(()); // already gone
        };
        let mut guard = sh.state.lock().unwrap();
        let st = &mut *guard;
        st.stats.started += 1;
        // The child may have set its class itself before exec (spawn_attr).
        let current = match sched::sched_getattr(inv.pid) {
            Ok(a) if a.sched_policy == sched::SCHED_FIFO => Class::Fifo(a.sched_priority),
            Ok(a) if a.sched_nice != 0 || a.sched_flags & sched::SCHED_FLAG_RESET_ON_FORK != 0 => {
                Class::Fair
            }
            _ => Class::Plain,
        };
        if current != Class::Plain {
            sh.guard.touched(task.id);
        }
        let mut live = Live {
            function_id: inv.function_id,
            task,
            class: current,
            touched: current != Class::Plain,
            watched: false,
            seen_bursts: 0,
            start_cpu_ns: sched::cpu_time_ns(inv.pid).unwrap_or(0),
            done: false,
            last_burst_cpu: 0,
        };
        let fp = st.policy.get(inv.function_id).cloned();
        let mut class = sh.burst_class(st.las(), fp.as_ref());
        match sh.cfg.mode {
            Mode::Sfs => {
                // Slice from recent inter-arrival times.
                st.sfs_arrivals.push_back(inv.arrival_ns);
                while st.sfs_arrivals.len() > sh.cfg.sfs_window {
                    st.sfs_arrivals.pop_front();
                }
                if st.sfs_arrivals.len() >= 2 {
                    let span = st.sfs_arrivals.back().unwrap() - st.sfs_arrivals.front().unwrap();
                    let iat = span / (st.sfs_arrivals.len() as u64 - 1);
                    st.sfs_slice_ns = (iat * u64::from(sh.cfg.cores)).max(sh.cfg.sfs_min_slice_ns);
                }
                let in_fifo = st
                    .live
                    .values()
                    .filter(|l| matches!(l.class, Class::Fifo(_)))
                    .count();
                if in_fifo as u32 > 3 * sh.cfg.cores {
                    class = Class::Plain;
                    live.done = true;
                    st.stats.sfs_skipped_overload += 1;
                }
            }
            Mode::Strict => {
                if let (Some(m), Some(fp)) = (sh.watch.as_ref(), fp.as_ref()) {
                    if fp.slice_ns > 0 {
                        watch::insert(m, inv.pid as u32, inv.invocation_id)?;
                        live.watched = true;
                        if let Some(w) = watch::get(m, inv.pid as u32) {
                            live.seen_bursts = w.bursts;
                        }
                        // Starting is an arrival, not a wakeup: the
                        // budget only limits boosts after sleeps.
                    }
                }
            }
            Mode::Soft => {}
        }
        if class != Class::Plain || live.class != Class::Plain {
            if sh.set_class(&mut live, class, fp.as_ref()) {
                st.stats.boosts += 1;
                st.stats
                    .apply_latency_ns
                    .push(monotonic_ns().saturating_sub(inv.spawn_ns));
            } else {
                st.stats.errors += 1;
            }
        }
        st.live.insert(inv.invocation_id, live);
        Ok(())
    }

    fn ended(&mut self, invocation_id: u64) {
        let sh = &self.shared;
        let live = sh.state.lock().unwrap().live.remove(&invocation_id);
        if let Some(live) = live {
            if live.watched {
                if let Some(m) = sh.watch.as_ref() {
                    watch::remove(m, live.task.tid() as u32);
                }
            }
            if live.touched {
                // The root exited: nothing left to restore for it.
                sh.guard.restored(live.task.id);
            }
        }
    }

    fn restore(&mut self) -> anyhow::Result<()> {
        if self.restored {
            return Ok(());
        }
        self.restored = true;
        let sh = &self.shared;
        sh.stop.store(true, Ordering::Relaxed);
        if let Some(p) = self.poller.take() {
            let _ = p.join();
        }
        let mut failed = Vec::new();
        let lives: Vec<Live> = sh
            .state
            .lock()
            .unwrap()
            .live
            .drain()
            .map(|(_, l)| l)
            .collect();
        for live in lives {
            if live.watched {
                if let Some(m) = sh.watch.as_ref() {
                    watch::remove(m, live.task.tid() as u32);
                }
            }
            if live.touched && live.task.alive() {
                match sched::set_plain(live.task.tid()) {
                    Ok(()) => sh.guard.restored(live.task.id),
                    Err(e) => failed.push(format!("tid {}: {e}", live.task.tid())),
                }
            } else if live.touched {
                sh.guard.restored(live.task.id);
            }
        }
        if let Some(old) = self.rt_runtime_old.take() {
            std::fs::write(RT_RUNTIME, old.trim())
                .map_err(|e| anyhow::anyhow!("restoring {RT_RUNTIME}: {e}"))?;
            sh.guard.sysctl_restored(Path::new(RT_RUNTIME));
        }
        if let Some(old) = self.autogroup_old.take() {
            std::fs::write(AUTOGROUP, old.trim())
                .map_err(|e| anyhow::anyhow!("restoring {AUTOGROUP}: {e}"))?;
            sh.guard.sysctl_restored(Path::new(AUTOGROUP));
        }
        if !failed.is_empty() {
            anyhow::bail!("could not restore: {}", failed.join(", "));
        }
        Ok(())
    }

    fn stats(&self) -> serde_json::Value {
        let st = self.shared.state.lock().unwrap();
        let mut v = serde_json::to_value(&st.stats).unwrap_or_default();
        let lat = &st.stats.apply_latency_ns;
        let ovs = &st.stats.demote_overshoot_ns;
        v["apply_latency_us"] = serde_json::json!({
            "p50": percentile(lat, 0.5) as f64 / 1e3,
            "p99": percentile(lat, 0.99) as f64 / 1e3,
            "n": lat.len(),
        });
        v["slice_to_demotion_us"] = serde_json::json!({
            "p50": percentile(ovs, 0.5) as f64 / 1e3,
            "p99": percentile(ovs, 0.99) as f64 / 1e3,
            "n": ovs.len(),
        });
        if self.shared.cfg.mode == Mode::Sfs {
            v["sfs_slice_ms"] = serde_json::json!(st.sfs_slice_ns as f64 / 1e6);
        }
        v
    }
}

impl Drop for StockBackend {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
