//! Loads bpf/probe.bpf.c, sets its tunables, attaches every program, and
//! hands out the `Send` handles the rest of the system uses (a `Tagger` to
//! spawn tagged invocations, a `Collector` to receive their records).
//! Detaches everything when dropped.

use crate::collect::{Collector, Tagger};
use crate::preflight::{self, ProbeError};
use crate::record::ProbeCounters;
use crate::skel::{types, ProbeSkel, ProbeSkelBuilder};
use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;

/// Per-run switches, set as read-only data before load.
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// Stream one `Stint` per stay of a tagged task on a CPU.
    pub stints: bool,
    /// Maintain burst starts in the `watch` map (for strict enforcement).
    pub watch: bool,
}

/// The loaded and attached probes. Not `Send`: keep it where it was made and
/// pass the handles it gives out.
pub struct Probes {
    skel: ProbeSkel<'static>,
    _links: Vec<Link>,
    opts: ProbeOptions,
}

fn map_err(e: impl std::fmt::Display) -> ProbeError {
    ProbeError::Map(e.to_string())
}

impl Probes {
    /// Check the machine, load the programs and attach them.
    pub fn load(opts: &ProbeOptions) -> Result<Self, ProbeError> {
        preflight::check()?;
        // The skeleton borrows its object storage for as long as it lives;
        // a loaded probe set lives for a whole run, so the few bytes of
        // storage are leaked deliberately (once per load).
        let storage = Box::leak(Box::new(MaybeUninit::uninit()));
        let mut open = ProbeSkelBuilder::default()
            .open(storage)
            .map_err(|e| ProbeError::Load(format!("{e:#}")))?;
        if let Some(ro) = open.maps.rodata_data.as_deref_mut() {
            ro.stints_enabled = opts.stints;
            ro.watch_enabled = opts.watch;
        }
        let skel = open
            .load()
            .map_err(|e| ProbeError::Load(format!("{e:#}")))?;
        let progs = &skel.progs;
        let mut links = Vec::new();
        for prog in [
            &progs.on_switch,
            &progs.on_wakeup,
            &progs.on_wakeup_new,
            &progs.on_fork,
            &progs.on_exit,
            &progs.on_block_issue,
            &progs.on_futex_enter,
            &progs.on_futex_exit,
            &progs.on_futex_waitv_enter,
            &progs.on_futex_waitv_exit,
        ] {
            let link = prog.attach().map_err(|e| ProbeError::Attach {
                prog: prog.name().to_string_lossy().into_owned(),
                err: format!("{e:#}"),
            })?;
            links.push(link);
        }
        Ok(Self {
            skel,
            _links: links,
            opts: opts.clone(),
        })
    }

    pub fn options(&self) -> &ProbeOptions {
        &self.opts
    }

    /// A handle that spawns processes as tagged invocations.
    pub fn tagger(&self) -> Result<Tagger, ProbeError> {
        Ok(Tagger::new(
            MapHandle::try_from(&self.skel.maps.spawners).map_err(map_err)?,
        ))
    }

    /// Start receiving records (and stints, when enabled) on a thread.
    pub fn collector(&self) -> Result<Collector, ProbeError> {
        let m = &self.skel.maps;
        Collector::start(
            MapHandle::try_from(&m.records).map_err(map_err)?,
            if self.opts.stints {
                Some(MapHandle::try_from(&m.stints).map_err(map_err)?)
            } else {
                None
            },
            MapHandle::try_from(&m.invocations).map_err(map_err)?,
        )
    }

    /// The per-tid burst map strict enforcement reads (`struct alps_watch`).
    pub fn watch_map(&self) -> Result<MapHandle, ProbeError> {
        MapHandle::try_from(&self.skel.maps.watch).map_err(map_err)
    }

    /// Counters summed over CPUs.
    pub fn counters(&self) -> Result<ProbeCounters, ProbeError> {
        let per_cpu = self
            .skel
            .maps
            .stats
            .lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err)?
            .unwrap_or_default();
        let mut sum = [0u64; 10];
        for bytes in per_cpu {
            if bytes.len() < std::mem::size_of::<types::alps_stats>() {
                continue;
            }
            // SAFETY: the map value is a `struct alps_stats` (checked size);
            // read_unaligned copes with the Vec's alignment.
            let s: types::alps_stats = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) };
            for (acc, v) in sum.iter_mut().zip(s.cnt.iter()) {
                *acc += v;
            }
        }
        Ok(ProbeCounters {
            switches: sum[0],
            wakeups: sum[1],
            forks: sum[2],
            exits: sum[3],
            records: sum[4],
            records_dropped: sum[5],
            stints: sum[6],
            stints_dropped: sum[7],
            map_full: sum[8],
            lost_events: sum[9],
        })
    }

    /// Kernel-measured cost of each program: (name, run count, total ns).
    /// Needs BPF run-time statistics enabled (see [`enable_bpf_stats`]).
    pub fn program_stats(&self) -> Vec<(String, u64, u64)> {
        let mut out = Vec::new();
        for prog in self.skel.object().progs() {
            let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
            let mut len = std::mem::size_of_val(&info) as u32;
            // SAFETY: info is a valid bpf_prog_info of `len` bytes.
            let rc = unsafe {
                libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(
                    std::os::fd::AsRawFd::as_raw_fd(&prog.as_fd()),
                    &mut info,
                    &mut len,
                )
            };
            if rc == 0 {
                out.push((
                    prog.name().to_string_lossy().into_owned(),
                    info.run_cnt,
                    info.run_time_ns,
                ));
            }
        }
        out
    }
}

/// Turn on the kernel's BPF run-time statistics for as long as the returned
/// fd lives (BPF_ENABLE_STATS: restored by the kernel when it is closed).
pub fn enable_bpf_stats() -> Result<std::os::fd::OwnedFd, ProbeError> {
    // SAFETY: plain syscall wrapper; a non-negative return is a new fd.
    let fd = unsafe {
        libbpf_rs::libbpf_sys::bpf_enable_stats(libbpf_rs::libbpf_sys::BPF_STATS_RUN_TIME)
    };
    if fd < 0 {
        return Err(ProbeError::Map(format!(
            "BPF_ENABLE_STATS failed: {}",
            std::io::Error::from_raw_os_error(-fd)
        )));
    }
    // SAFETY: the kernel just returned this fd to us.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}
