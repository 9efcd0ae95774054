//! Probes: eBPF tracepoint programs (bpf/probe.bpf.c) that account, per
//! serverless function invocation, where its wall-clock time went, and the
//! typed records they produce.
//!
//! - [`record`]: the data types (pure; always built).
//! - [`preflight`], [`loader`], [`collect`]: loading and attaching the BPF
//!   programs, tagging invocations at spawn, and receiving their records
//!   (feature `bpf`, on by default).

pub mod record;

#[cfg(feature = "bpf")]
pub mod collect;
#[cfg(feature = "bpf")]
pub mod loader;
#[cfg(feature = "bpf")]
pub mod preflight;
#[cfg(feature = "bpf")]
pub mod watch;

#[cfg(feature = "bpf")]
mod skel {
    #![allow(clippy::all, non_camel_case_types, dead_code, unused_imports)]
    include!(concat!(env!("OUT_DIR"), "/probe.skel.rs"));
}

#[cfg(feature = "bpf")]
pub use collect::{Collector, Tagger};
#[cfg(feature = "bpf")]
pub use libbpf_rs::MapHandle;
#[cfg(feature = "bpf")]
pub use loader::{ProbeOptions, Probes};
#[cfg(feature = "bpf")]
pub use preflight::ProbeError;
pub use record::{Account, LeaveReason, ProbeCounters, Record, Stint};
