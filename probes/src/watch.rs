//! The `watch` map: per-task burst state that strict enforcement reads for
//! the tasks it boosts (layout: `struct alps_watch` in bpf/intf.h).

use crate::skel::types;
use libbpf_rs::{MapCore, MapFlags, MapHandle};

/// One task's burst state, as the programs keep it.
pub type WatchEntry = types::alps_watch;

/// Start watching `tid` as a task of `invocation_id`.
pub fn insert(map: &MapHandle, tid: u32, invocation_id: u64) -> libbpf_rs::Result<()> {
    let v = WatchEntry {
        invocation_id,
        ..Default::default()
    };
    // SAFETY: WatchEntry is a plain repr(C) struct generated from intf.h.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            (&v as *const WatchEntry).cast::<u8>(),
            std::mem::size_of::<WatchEntry>(),
        )
    };
    map.update(&tid.to_ne_bytes(), bytes, MapFlags::ANY)
}

/// Current state of a watched task.
pub fn get(map: &MapHandle, tid: u32) -> Option<WatchEntry> {
    let bytes = map.lookup(&tid.to_ne_bytes(), MapFlags::ANY).ok()??;
    (bytes.len() >= std::mem::size_of::<WatchEntry>())
        // SAFETY: length checked; plain data; unaligned read.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<WatchEntry>()) })
}

/// Stop watching `tid`.
pub fn remove(map: &MapHandle, tid: u32) {
    let _ = map.delete(&tid.to_ne_bytes());
}
