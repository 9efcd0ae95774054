//! `scx`: the ALPS hooks as a sched_ext BPF scheduler (bpf/scx/alps.bpf.c),
//! for kernels with `CONFIG_SCHED_CLASS_EXT` (Linux 6.12+).
//!
//! The scheduler orders every runnable task by (rank, vruntime) in one
//! shared dispatch queue, gives a tagged task its function's learned slice
//! at each pick and does not preempt it before it has used it, and lets a
//! woken task preempt by the plain vruntime rule or, with ALPS-IO, by rank,
//! rationed by the function's wakeup-preemption budget. See docs/SCX.md.
//!
//! This side loads and attaches the scheduler (with the watchdog timeout of
//! [`ScxConfig`]), fills the SCX enum constants from the running kernel's
//! BTF, tags each invocation's root task in the `task_fn` map (children
//! inherit the tag in the scheduler), pushes each policy to `fn_policy`
//! without reloading, reads the counters, and detaches on [`Backend::restore`]
//! (or drop), reporting the kernel's exit reason if the scheduler was
//! ejected (watchdog stall, error).

mod skel {
    #![allow(
        clippy::all,
        clippy::pedantic,
        dead_code,
        unused_imports,
        non_camel_case_types,
        non_snake_case,
        non_upper_case_globals
    )]
    include!(concat!(env!("OUT_DIR"), "/alps_scx.skel.rs"));
}

use super::{Backend, Started};
use crate::policy::{Policy, Variant};
use anyhow::{anyhow, bail, Context, Result};
use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags};
use serde::Serialize;
use skel::{types, AlpsSkel, AlpsSkelBuilder};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::mem::MaybeUninit;
use std::path::Path;
use std::time::{Duration, Instant};

/// Where the kernel shows sched_ext's state.
pub const SYSFS: &str = "/sys/kernel/sched_ext";
/// The scheduler's ops name (`/sys/kernel/sched_ext/root/ops`).
pub const OPS_NAME: &str = "alps";

/// Counter names, in the order of `enum alps_scx_counter` (bpf/scx/intf.h).
pub const COUNTERS: [&str; 15] = [
    "direct_idle",
    "enq_tagged",
    "enq_untagged",
    "dispatch_shared",
    "dispatch_empty",
    "slice_learned",
    "slice_extended",
    "slice_default",
    "demotions",
    "preempt_kicks",
    "preempt_denied_budget",
    "preempt_blocked_by_slice",
    "tagged_forks",
    "stalled",
    "tag_map_full",
];

const _: () = assert!(std::mem::size_of::<types::alps_scx_stats>() == COUNTERS.len() * 8);

/// Loader settings.
#[derive(Debug, Clone, Serialize)]
pub struct ScxConfig {
    /// sched_ext watchdog: a runnable task not scheduled for this long
    /// aborts the scheduler and the kernel reverts to the fair class
    /// (the kernel caps it at 30 s).
    pub timeout_ms: u32,
    /// Largest rank the learner gives.
    pub rank_max: u32,
    /// vtime handicap per rank step. `None`: timeout / (2 (rank_max + 1)),
    /// so even the lowest rank runs well within the watchdog timeout.
    pub rank_gap_ns: Option<u64>,
    /// Plain wakeup preemption: the woken task's vtime must be this far
    /// below the running task's (CFS' wakeup granularity).
    pub wakeup_gran_ns: u64,
    /// How long attach and detach may take to show in sysfs.
    pub settle: Duration,
}

impl Default for ScxConfig {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            rank_max: 100,
            rank_gap_ns: None,
            wakeup_gran_ns: 1_000_000,
            settle: Duration::from_secs(20),
        }
    }
}

impl ScxConfig {
    pub fn rank_gap(&self) -> u64 {
        self.rank_gap_ns.unwrap_or_else(|| {
            u64::from(self.timeout_ms) * 1_000_000 / (2 * (u64::from(self.rank_max) + 1))
        })
    }
}

/// Why the scheduler stopped, as the kernel told it (`struct scx_exit_info`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ExitInfo {
    /// `enum scx_exit_kind`: 0 none, 1 done, 64 unregistered (normal
    /// detach), 1024 error, 1025 BPF error, 1026 stall.
    pub kind: i32,
    pub exit_code: i64,
    pub reason: String,
    pub msg: String,
}

impl ExitInfo {
    /// A detach or unregistration, not an error.
    pub fn is_clean(&self) -> bool {
        self.kind < 1024
    }
}

/// `/sys/kernel/sched_ext/state` (`enabled`, `disabled`, ...).
pub fn state() -> String {
    read_trim(&Path::new(SYSFS).join("state"))
}

/// The ops name of the attached scheduler, or an empty string.
pub fn ops_name() -> String {
    read_trim(&Path::new(SYSFS).join("root/ops"))
}

fn read_trim(p: &Path) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Wait up to `d` for `/sys/kernel/sched_ext/state` to read `want`.
pub fn wait_state(want: &str, d: Duration) -> bool {
    let t0 = Instant::now();
    loop {
        if state() == want {
            return true;
        }
        if t0.elapsed() > d {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An error unless this kernel has sched_ext and no other scheduler is on.
pub fn check_available() -> Result<()> {
    if !Path::new(SYSFS).exists() {
        bail!(
            "--backend scx needs a kernel with sched_ext (CONFIG_SCHED_CLASS_EXT); this kernel has \
             none ({SYSFS} is missing). Use --backend stock-strict or stock-soft here, or run \
             scripts/vm-test.sh, which boots a sched_ext kernel in a VM"
        );
    }
    let st = state();
    if st != "disabled" {
        bail!(
            "sched_ext is {st:?} (ops {:?}): another BPF scheduler is attached; stop it first",
            ops_name()
        );
    }
    Ok(())
}

/// The SCX enum constants of the running kernel, from its BTF.
fn kernel_enums() -> Result<HashMap<String, u64>> {
    use libbpf_rs::btf::types::{Enum, Enum64};
    let btf = libbpf_rs::btf::Btf::from_vmlinux().context("reading the kernel's BTF")?;
    let mut out = HashMap::new();
    for e in btf.type_by_kind::<Enum>() {
        for m in e.iter() {
            if let Some(n) = m.name.and_then(|n| n.to_str()) {
                if n.starts_with("SCX_") {
                    out.insert(n.to_string(), m.value as u64);
                }
            }
        }
    }
    for e in btf.type_by_kind::<Enum64>() {
        for m in e.iter() {
            if let Some(n) = m.name.and_then(|n| n.to_str()) {
                if n.starts_with("SCX_") {
                    out.insert(n.to_string(), m.value as u64);
                }
            }
        }
    }
    Ok(out)
}

/// Fill the scx headers' enum stand-ins in rodata (they read 0 otherwise).
/// The ones the scheduler uses must exist; the rest are filled if present.
fn fill_enums(ro: &mut types::rodata, kernel: &HashMap<String, u64>) -> Result<()> {
    let mut missing = Vec::new();
    macro_rules! fill {
        ($($field:ident = $name:literal, $required:expr;)*) => {$(
            match kernel.get($name) {
                Some(v) => ro.$field = *v,
                None if $required => missing.push($name),
                None => {}
            }
        )*};
    }
    fill! {
        __SCX_DSQ_LOCAL = "SCX_DSQ_LOCAL", true;
        __SCX_DSQ_GLOBAL = "SCX_DSQ_GLOBAL", true;
        __SCX_DSQ_LOCAL_ON = "SCX_DSQ_LOCAL_ON", false;
        __SCX_DSQ_INVALID = "SCX_DSQ_INVALID", false;
        __SCX_DSQ_FLAG_BUILTIN = "SCX_DSQ_FLAG_BUILTIN", false;
        __SCX_DSQ_FLAG_LOCAL_ON = "SCX_DSQ_FLAG_LOCAL_ON", false;
        __SCX_SLICE_DFL = "SCX_SLICE_DFL", true;
        __SCX_SLICE_INF = "SCX_SLICE_INF", false;
        __SCX_ENQ_WAKEUP = "SCX_ENQ_WAKEUP", true;
        __SCX_ENQ_HEAD = "SCX_ENQ_HEAD", false;
        __SCX_ENQ_PREEMPT = "SCX_ENQ_PREEMPT", false;
        __SCX_ENQ_LAST = "SCX_ENQ_LAST", false;
        __SCX_KICK_IDLE = "SCX_KICK_IDLE", false;
        __SCX_KICK_PREEMPT = "SCX_KICK_PREEMPT", true;
        __SCX_KICK_WAIT = "SCX_KICK_WAIT", false;
        __SCX_OPS_NAME_LEN = "SCX_OPS_NAME_LEN", false;
    }
    if !missing.is_empty() {
        bail!(
            "the kernel's BTF lacks the sched_ext constants {missing:?}: not a sched_ext kernel?"
        );
    }
    if ro.__SCX_SLICE_DFL == 0 || ro.__SCX_KICK_PREEMPT == 0 || ro.__SCX_ENQ_WAKEUP == 0 {
        bail!("sched_ext constants read as 0 from the kernel's BTF");
    }
    Ok(())
}

/// What the loaded scheduler holds.
struct Loaded {
    skel: AlpsSkel<'static>,
    link: Option<Link>,
}

#[derive(Debug, Default, Serialize)]
struct Counts {
    started: u64,
    tag_errors: u64,
    policies_applied: u64,
    policy_errors: u64,
}

/// The sched_ext backend.
pub struct ScxBackend {
    cfg: ScxConfig,
    loaded: Option<Loaded>,
    /// Invocation -> root tid (its `task_fn` entry).
    live: HashMap<u64, u32>,
    functions: HashSet<u32>,
    counts: Counts,
    /// Counters and exit info captured when the scheduler was detached.
    final_counters: Option<BTreeMap<String, u64>>,
    exit: Option<ExitInfo>,
    attached_at: Option<Instant>,
    /// Seconds the scheduler was attached (set at detach).
    attached_s: Option<f64>,
}

// SAFETY: the skeleton holds raw libbpf pointers, which are not tied to a
// thread; every access goes through `&mut self`/`&self` (the runner keeps
// the backend in a mutex).
unsafe impl Send for ScxBackend {}

fn cstr(b: &[i8]) -> String {
    let bytes: Vec<u8> = b
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn map_err(e: libbpf_rs::Error) -> anyhow::Error {
    anyhow!("{e}")
}

impl ScxBackend {
    /// Load and attach the scheduler. Fails with a clear message where
    /// sched_ext is missing or busy, or when the kernel rejects it.
    pub fn new(cfg: ScxConfig) -> Result<Self> {
        check_available()?;
        let mut me = Self {
            cfg,
            loaded: None,
            live: HashMap::new(),
            functions: HashSet::new(),
            counts: Counts::default(),
            final_counters: None,
            exit: None,
            attached_at: None,
            attached_s: None,
        };
        me.attach()?;
        Ok(me)
    }

    fn attach(&mut self) -> Result<()> {
        let enums = kernel_enums()?;
        let storage = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = AlpsSkelBuilder::default()
            .open(storage)
            .context("opening the sched_ext scheduler object")?;
        // The scx library's fentry probe is not needed (and fentry may be
        // refused under lockdown): only the struct_ops are loaded.
        open.progs.scx_lib_init_probe.set_autoload(false);
        let ro = open
            .maps
            .rodata_data
            .as_deref_mut()
            .ok_or_else(|| anyhow!("scheduler object has no rodata"))?;
        fill_enums(ro, &enums)?;
        let cpus = libbpf_rs::num_possible_cpus().map_err(map_err)? as u32;
        ro.nr_cpus = cpus;
        let ops = open.struct_ops.alps_ops_mut();
        ops.timeout_ms = self.cfg.timeout_ms;
        let skel = open.load().context(
            "loading the sched_ext scheduler (the verifier's log is above; needs root and BTF)",
        )?;
        self.loaded = Some(Loaded { skel, link: None });
        self.write_ctl(0, false)?;
        let l = self.loaded.as_mut().unwrap();
        let link = l
            .skel
            .maps
            .alps_ops
            .attach_struct_ops()
            .context("attaching the sched_ext scheduler (struct_ops)")?;
        l.link = Some(link);
        self.attached_at = Some(Instant::now());
        if !wait_state("enabled", self.cfg.settle) || ops_name() != OPS_NAME {
            let st = state();
            let ex = self.read_exit();
            let _ = self.detach();
            bail!(
                "the sched_ext scheduler did not come up: state {st:?}, ops {:?}{}",
                ops_name(),
                ex.map(|e| format!(", exit: {} ({})", e.reason, e.msg))
                    .unwrap_or_default()
            );
        }
        Ok(())
    }

    fn skel(&self) -> Result<&AlpsSkel<'static>> {
        self.loaded
            .as_ref()
            .map(|l| &l.skel)
            .ok_or_else(|| anyhow!("the sched_ext scheduler is not loaded"))
    }

    fn write_ctl(&mut self, stall_fn: u32, rank_preempt: bool) -> Result<()> {
        let c = types::alps_scx_ctl {
            rank_gap_ns: self.cfg.rank_gap(),
            wakeup_gran_ns: self.cfg.wakeup_gran_ns,
            rank_preempt: u32::from(rank_preempt),
            stall_fn,
        };
        // SAFETY: plain old data of the declared size.
        let bytes = unsafe { as_bytes(&c) };
        self.skel()?
            .maps
            .ctl
            .update(&0u32.to_ne_bytes(), bytes, MapFlags::ANY)
            .map_err(map_err)
            .context("writing the scheduler's controls")
    }

    fn read_ctl(&self) -> Option<types::alps_scx_ctl> {
        let v = self
            .skel()
            .ok()?
            .maps
            .ctl
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .ok()??;
        // SAFETY: the map's value is this struct.
        Some(unsafe { from_bytes(&v) })
    }

    /// Test hook: tasks of `function_id` are never dispatched (0 = off), so
    /// the watchdog must fire.
    pub fn set_stall_fn(&mut self, function_id: u32) -> Result<()> {
        let rp = self
            .read_ctl()
            .map(|c| c.rank_preempt != 0)
            .unwrap_or(false);
        self.write_ctl(function_id, rp)
    }

    /// Set the ALPS-IO rank-preemption switch directly (tests).
    pub fn set_rank_preempt(&mut self, on: bool) -> Result<()> {
        let stall = self.read_ctl().map(|c| c.stall_fn).unwrap_or(0);
        self.write_ctl(stall, on)
    }

    /// Tag a task (and, through the scheduler, its future children).
    pub fn tag(&mut self, tid: u32, function_id: u32, invocation_id: u64) -> Result<()> {
        let t = types::alps_scx_tag {
            invocation_id,
            function_id,
            pad: 0,
        };
        // SAFETY: plain old data.
        let bytes = unsafe { as_bytes(&t) };
        self.skel()?
            .maps
            .task_fn
            .update(&tid.to_ne_bytes(), bytes, MapFlags::ANY)
            .map_err(map_err)
            .with_context(|| format!("tagging task {tid}"))
    }

    /// Remove a task's tag.
    pub fn untag(&mut self, tid: u32) {
        if let Ok(s) = self.skel() {
            let _ = s.maps.task_fn.delete(&tid.to_ne_bytes());
        }
    }

    /// The per-CPU counters, summed.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        if let Some(c) = &self.final_counters {
            return c.clone();
        }
        let mut out: BTreeMap<String, u64> = COUNTERS.iter().map(|n| (n.to_string(), 0)).collect();
        let Ok(s) = self.skel() else {
            return out;
        };
        if let Ok(Some(per_cpu)) = s
            .maps
            .stats
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
        {
            for v in per_cpu {
                for (i, name) in COUNTERS.iter().enumerate() {
                    if let Some(b) = v.get(i * 8..i * 8 + 8) {
                        *out.get_mut(*name).unwrap() += u64::from_ne_bytes(b.try_into().unwrap());
                    }
                }
            }
        }
        out
    }

    /// The kernel's exit record, once the scheduler has stopped (ejected
    /// by the watchdog or an error, or detached).
    pub fn exit_info(&self) -> Option<ExitInfo> {
        self.exit.clone().or_else(|| self.read_exit())
    }

    fn read_exit(&self) -> Option<ExitInfo> {
        let d = self.skel().ok()?.maps.data_data.as_deref()?;
        // SAFETY: a volatile read of memory the kernel writes.
        let kind = unsafe { std::ptr::read_volatile(&d.uei.kind) };
        if kind == 0 {
            return None;
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        Some(ExitInfo {
            kind,
            exit_code: d.uei.exit_code,
            reason: cstr(&d.uei.reason),
            msg: cstr(&d.uei.msg),
        })
    }

    /// Whether the scheduler is still the one the kernel runs.
    pub fn is_enabled(&self) -> bool {
        self.loaded.is_some() && self.read_exit().is_none() && state() == "enabled"
    }

    fn detach(&mut self) -> Result<()> {
        if self.loaded.is_none() {
            return Ok(());
        }
        // Snapshot first: the maps go with the object.
        self.final_counters = Some(self.counters());
        self.attached_s = self.attached_at.map(|t| t.elapsed().as_secs_f64());
        let link = self.loaded.as_mut().and_then(|l| l.link.take());
        let had_link = link.is_some();
        drop(link);
        let ok = !had_link || wait_state("disabled", self.cfg.settle);
        self.exit = self.read_exit();
        self.loaded = None;
        if let Some(e) = &self.exit {
            if !e.is_clean() {
                eprintln!(
                    "alps: the sched_ext scheduler was stopped by the kernel: {} ({})",
                    e.reason, e.msg
                );
            }
        }
        if !ok {
            bail!(
                "sched_ext still {:?} {:?} after detaching",
                state(),
                self.cfg.settle
            );
        }
        Ok(())
    }
}

/// # Safety
/// `T` must be plain old data without padding that matters.
unsafe fn as_bytes<T>(v: &T) -> &[u8] {
    std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>())
}

/// # Safety
/// `b` must hold a valid `T` (at least its size).
unsafe fn from_bytes<T: Copy>(b: &[u8]) -> T {
    assert!(b.len() >= std::mem::size_of::<T>());
    std::ptr::read_unaligned(b.as_ptr().cast::<T>())
}

/// Longest protection a learned slice gives in the kernel.
const SCX_SLICE_CAP_NS: u64 = 200_000_000;

impl Backend for ScxBackend {
    fn name(&self) -> &'static str {
        "scx"
    }

    fn apply(&mut self, policy: &Policy) -> Result<()> {
        let s = self.skel()?;
        let mut seen = HashSet::new();
        for (&f, fp) in &policy.functions {
            let v = types::alps_scx_fn {
                rank: fp.rank,
                wakeup_preempt_budget_per_s: fp.io.wakeup_preempt_budget_per_s,
                // Here a slice protects the task from preemption (ALPS'
                // slice hook), so the artifact's 200 ms bound applies to
                // ALPS-IO's burst slices too.
                slice_ns: fp.slice_ns.min(SCX_SLICE_CAP_NS),
                burst_ns: fp.io.burst_ns,
                cpu_demand_ns: fp.io.cpu_demand_ns,
            };
            // SAFETY: plain old data.
            let bytes = unsafe { as_bytes(&v) };
            if let Err(e) = s
                .maps
                .fn_policy
                .update(&f.to_ne_bytes(), bytes, MapFlags::ANY)
            {
                self.counts.policy_errors += 1;
                return Err(anyhow!("updating fn_policy[{f}]: {e}"));
            }
            seen.insert(f);
        }
        for f in self.functions.difference(&seen) {
            let _ = s.maps.fn_policy.delete(&f.to_ne_bytes());
        }
        self.functions = seen;
        let stall = self.read_ctl().map(|c| c.stall_fn).unwrap_or(0);
        self.write_ctl(stall, policy.variant == Variant::AlpsIo)?;
        self.counts.policies_applied += 1;
        Ok(())
    }

    fn started(&mut self, inv: &Started) -> Result<()> {
        self.counts.started += 1;
        let tid = inv.pid as u32;
        if let Err(e) = self.tag(tid, inv.function_id, inv.invocation_id) {
            self.counts.tag_errors += 1;
            return Err(e);
        }
        self.live.insert(inv.invocation_id, tid);
        Ok(())
    }

    fn ended(&mut self, invocation_id: u64) {
        if let Some(tid) = self.live.remove(&invocation_id) {
            self.untag(tid);
        }
    }

    fn restore(&mut self) -> Result<()> {
        self.live.clear();
        self.detach()
    }

    fn stats(&self) -> serde_json::Value {
        serde_json::json!({
            "counters": self.counters(),
            "backend": &self.counts,
            "exit": self.exit_info(),
            "config": {
                "timeout_ms": self.cfg.timeout_ms,
                "rank_gap_ns": self.cfg.rank_gap(),
                "wakeup_gran_ns": self.cfg.wakeup_gran_ns,
            },
            "attached_s": self
                .attached_s
                .or_else(|| self.attached_at.map(|t| t.elapsed().as_secs_f64())),
        })
    }
}

impl Drop for ScxBackend {
    fn drop(&mut self) {
        let _ = self.detach();
    }
}
