//! Thin, checked wrappers over the scheduling system calls the stock
//! backends use, and task identity checks against pid reuse.

use std::io;

/// `struct sched_attr` (include/uapi/linux/sched/types.h).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    /// For SCHED_OTHER since 6.12: the EEVDF custom slice (0.1-100 ms).
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

pub const SCHED_OTHER: u32 = 0;
pub const SCHED_FIFO: u32 = 1;
pub const SCHED_RR: u32 = 2;
pub const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// EEVDF clamps custom slices to this range.
pub const MIN_SLICE_NS: u64 = 100_000;
pub const MAX_SLICE_NS: u64 = 100_000_000;

pub fn sched_setattr(tid: i32, attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: a valid, sized sched_attr.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, tid, &a as *const SchedAttr, 0u32) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn sched_getattr(tid: i32) -> io::Result<SchedAttr> {
    let mut a = SchedAttr::default();
    let size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` has room for `size` bytes.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            tid,
            &mut a as *mut SchedAttr,
            size,
            0u32,
        )
    };
    if rc == 0 {
        Ok(a)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Real-time class at `prio` (1..99); children start in the fair class.
pub fn fifo_attr(prio: u32) -> SchedAttr {
    SchedAttr {
        sched_policy: SCHED_FIFO,
        sched_priority: prio.clamp(1, 99),
        sched_flags: SCHED_FLAG_RESET_ON_FORK,
        ..Default::default()
    }
}

pub fn set_fifo(tid: i32, prio: u32) -> io::Result<()> {
    sched_setattr(tid, &fifo_attr(prio))
}

/// Fair class with `nice` and an EEVDF custom slice (`slice_ns` = 0: the
/// default slice). A negative nice is a boost, so children start plain.
pub fn fair_attr(nice: i32, slice_ns: u64) -> SchedAttr {
    let runtime = if slice_ns == 0 {
        0
    } else {
        slice_ns.clamp(MIN_SLICE_NS, MAX_SLICE_NS)
    };
    SchedAttr {
        sched_policy: SCHED_OTHER,
        sched_nice: nice.clamp(-20, 19),
        sched_runtime: runtime,
        sched_flags: if nice < 0 || runtime != 0 {
            SCHED_FLAG_RESET_ON_FORK
        } else {
            0
        },
        ..Default::default()
    }
}

pub fn set_fair(tid: i32, nice: i32, slice_ns: u64) -> io::Result<()> {
    sched_setattr(tid, &fair_attr(nice, slice_ns))
}

/// Back to the stock state: fair class, nice 0, default slice.
pub fn set_plain(tid: i32) -> io::Result<()> {
    set_fair(tid, 0, 0)
}

/// Whether a task is in a boosted state (RT class, negative nice or a
/// custom slice).
pub fn is_boosted(tid: i32) -> io::Result<bool> {
    let a = sched_getattr(tid)?;
    Ok(a.sched_policy == SCHED_FIFO
        || a.sched_policy == SCHED_RR
        || a.sched_nice < 0
        || (a.sched_policy == SCHED_OTHER
            && a.sched_runtime != 0
            && a.sched_runtime != default_slice_ns()))
}

/// The kernel's base slice: what sched_getattr reports for a fair task
/// without a custom slice (read off init, which nothing gives one; debugfs,
/// where the value lives, is closed under lockdown).
pub fn default_slice_ns() -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        sched_getattr(1)
            .ok()
            .filter(|a| a.sched_policy == SCHED_OTHER)
            .map(|a| a.sched_runtime)
            .unwrap_or(0)
    })
}

/// A task's start time (field 22 of /proc/<tid>/stat, clock ticks since
/// boot): with the tid it names one task for its whole life, so a reused
/// tid is never mistaken for the task we changed.
pub fn start_time(tid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/stat")).ok()?;
    // The command name may contain spaces: fields start after the last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Cumulative on-CPU time of a task, exact and current even while it runs
/// (/proc/<tid>/schedstat: the kernel updates the running task's clock).
pub fn cpu_time_ns(tid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/schedstat")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// A process we touched, held by a pidfd: it names that process for its
/// whole life, whatever happens to the pid number (start times in
/// /proc/<pid>/stat have only 10 ms resolution).
#[derive(Debug)]
pub struct TaskHandle {
    pub id: TaskId,
    pidfd: Option<std::os::fd::OwnedFd>,
}

impl TaskHandle {
    pub fn of(pid: i32) -> Option<Self> {
        // SAFETY: plain syscall; a non-negative return is a new fd.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: the kernel just returned this fd to us.
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) }
        });
        let id = TaskId::of(pid)?;
        Some(Self { id, pidfd })
    }

    pub fn tid(&self) -> i32 {
        self.id.tid
    }

    /// Still the same, running process (not exited, pid not reused)?
    pub fn alive(&self) -> bool {
        match &self.pidfd {
            Some(fd) => {
                use std::os::fd::AsRawFd;
                // SAFETY: signal 0 only checks; ESRCH once the process exited.
                let rc = unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        fd.as_raw_fd(),
                        0,
                        std::ptr::null::<libc::siginfo_t>(),
                        0u32,
                    )
                };
                rc == 0 && self.id.alive()
            }
            None => self.id.alive(),
        }
    }
}

/// A task we touched, identified by tid and start time (what the guardian
/// is told; practically unique: a pid is not reused within one clock tick
/// of the first owner's start without deliberate help).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskId {
    pub tid: i32,
    pub start: u64,
}

impl TaskId {
    pub fn of(tid: i32) -> Option<Self> {
        Some(Self {
            tid,
            start: start_time(tid)?,
        })
    }

    /// Still the same task (not exited, tid not reused)?
    pub fn alive(&self) -> bool {
        start_time(self.tid) == Some(self.start)
    }
}
