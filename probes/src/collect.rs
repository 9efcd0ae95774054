//! Tagging invocations at spawn, and receiving their records.

use crate::preflight::ProbeError;
use crate::record::{Account, LeaveReason, Stint};
use crate::skel::types;
use libbpf_rs::{MapCore, MapFlags, MapHandle, RingBufferBuilder};
use std::collections::HashMap;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn bytes_of<T>(v: &T) -> &[u8] {
    // SAFETY: T is a plain repr(C) type generated from bpf/intf.h.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

fn read_pod<T: Copy>(data: &[u8]) -> Option<T> {
    (data.len() >= std::mem::size_of::<T>())
        // SAFETY: length checked; T is plain data; unaligned read.
        .then(|| unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<T>()) })
}

/// Spawns processes as tagged invocations: the calling thread writes its tid
/// into the `spawners` map just before forking, so the BPF fork handler tags
/// the child at birth; every task the child creates joins the invocation.
pub struct Tagger {
    spawners: MapHandle,
}

impl Tagger {
    pub(crate) fn new(spawners: MapHandle) -> Self {
        Self { spawners }
    }

    /// Spawn `cmd` as invocation `invocation_id` of function `function_id`.
    /// The spawning thread must not fork anything else meanwhile (it does
    /// not: this call is synchronous).
    pub fn spawn(
        &self,
        cmd: &mut Command,
        function_id: u32,
        invocation_id: u64,
    ) -> std::io::Result<Child> {
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        let tag = types::alps_tag {
            invocation_id,
            function_id,
            ..Default::default()
        };
        self.spawners
            .update(&tid.to_ne_bytes(), bytes_of(&tag), MapFlags::ANY)
            .map_err(std::io::Error::other)?;
        let child = cmd.spawn();
        let _ = self.spawners.delete(&tid.to_ne_bytes());
        child
    }
}

/// Decode the kernel's exit status (as in wait(2)) into a shell-style code.
fn exit_code_of(raw: i32) -> i32 {
    let sig = raw & 0x7f;
    if sig == 0 {
        (raw >> 8) & 0xff
    } else {
        128 + sig
    }
}

fn account_of(inv: &types::alps_inv) -> Account {
    let runq = inv.runq_wakeup_ns + inv.runq_preempt_ns;
    Account {
        function_id: inv.function_id,
        invocation_id: inv.invocation_id,
        wall_ns: inv.end_ns.saturating_sub(inv.start_ns),
        on_cpu_ns: inv.on_cpu_ns,
        runq_wait_ns: runq,
        runq_wait_wakeup_ns: inv.runq_wakeup_ns,
        runq_wait_preempt_ns: inv.runq_preempt_ns,
        block_io_ns: inv.block_io_ns,
        futex_ns: inv.futex_ns,
        sleep_ns: inv.sleep_ns,
        other_blocked_ns: inv.other_blocked_ns,
        bursts: inv.bursts,
        mean_burst_ns: inv.burst_sum_ns.checked_div(inv.bursts).unwrap_or(0),
        max_burst_ns: inv.max_burst_ns,
        wakeups: inv.wakeups,
        voluntary_switches: inv.nvcsw,
        involuntary_switches: inv.nivcsw,
        block_requests: inv.block_requests,
        block_bytes: inv.block_bytes,
        threads: inv.threads,
        exit_code: exit_code_of(inv.exit_code),
        lifetime_ns: inv.lifetime_ns,
    }
}

fn stint_of(s: &types::alps_stint) -> Stint {
    Stint {
        invocation_id: s.invocation_id,
        function_id: s.function_id,
        tid: s.tid,
        cpu: s.cpu,
        runnable_ns: s.runnable_ns,
        switch_in_ns: s.switch_in_ns,
        switch_out_ns: s.switch_out_ns,
        on_cpu_ns: s.on_cpu_ns,
        reason: LeaveReason::from_code(s.reason).unwrap_or(LeaveReason::OtherBlocked),
    }
}

#[derive(Default)]
struct Shared {
    done: Mutex<HashMap<u64, Account>>,
    arrived: Condvar,
    stints: Mutex<Vec<Stint>>,
    stop: AtomicBool,
}

/// Receives invocation records (and stints) from the ring buffers on its own
/// thread; callers wait for a given invocation's record.
pub struct Collector {
    shared: Arc<Shared>,
    invocations: MapHandle,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    pub(crate) fn start(
        records: MapHandle,
        stints: Option<MapHandle>,
        invocations: MapHandle,
    ) -> Result<Self, ProbeError> {
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("alps-collect".into())
            .spawn(move || {
                let mut b = RingBufferBuilder::new();
                let sh_r = sh.clone();
                let built = b
                    .add(&records, move |data: &[u8]| {
                        if let Some(inv) = read_pod::<types::alps_inv>(data) {
                            let acc = account_of(&inv);
                            sh_r.done.lock().unwrap().insert(acc.invocation_id, acc);
                            sh_r.arrived.notify_all();
                        }
                        0
                    })
                    .and_then(|b| match &stints {
                        Some(st) => {
                            let sh_s = sh.clone();
                            b.add(st, move |data: &[u8]| {
                                if let Some(s) = read_pod::<types::alps_stint>(data) {
                                    sh_s.stints.lock().unwrap().push(stint_of(&s));
                                }
                                0
                            })
                        }
                        None => Ok(b),
                    })
                    .map(|_| ())
                    .and_then(|_| b.build());
                let rb = match built {
                    Ok(rb) => {
                        let _ = ready_tx.send(Ok(()));
                        rb
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                while !sh.stop.load(Ordering::Relaxed) {
                    let _ = rb.poll(Duration::from_millis(50));
                }
                let _ = rb.consume();
            })
            .map_err(|e| ProbeError::Map(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(ProbeError::Map(format!("ring buffer: {e}"))),
            Err(_) => return Err(ProbeError::Map("collector thread died".into())),
        }
        Ok(Self {
            shared,
            invocations,
            thread: Some(thread),
        })
    }

    /// Wait up to `timeout` for invocation `id`'s record. If none arrives
    /// (its ring-buffer slot was dropped, or its last task's final switch
    /// never reached the program) the partial aggregate still in the map is
    /// taken instead, so no invocation is silently lost.
    pub fn wait(&self, id: u64, timeout: Duration) -> Option<Account> {
        let deadline = Instant::now() + timeout;
        let mut done = self.shared.done.lock().unwrap();
        loop {
            if let Some(a) = done.remove(&id) {
                return Some(a);
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            done = self
                .shared
                .arrived
                .wait_timeout(done, deadline - now)
                .unwrap()
                .0;
        }
        drop(done);
        self.flush(id)
    }

    /// Take an invocation's aggregate out of the map (see [`Self::wait`]).
    pub fn flush(&self, id: u64) -> Option<Account> {
        let key = id.to_ne_bytes();
        let bytes = self.invocations.lookup(&key, MapFlags::ANY).ok()??;
        let _ = self.invocations.delete(&key);
        let mut inv = read_pod::<types::alps_inv>(&bytes)?;
        if inv.end_ns == 0 {
            // SAFETY: clock_gettime with a valid pointer.
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
            inv.end_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
        }
        Some(account_of(&inv))
    }

    /// All stints received so far (empties the buffer).
    pub fn take_stints(&self) -> Vec<Stint> {
        std::mem::take(&mut *self.shared.stints.lock().unwrap())
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
