//! The `alps` library behind the thin CLI: workloads and function bodies,
//! the live runner, summaries, comparison, simulation, export, ablation.

pub mod ablate;
pub mod bench;
pub mod compare;
pub mod export;
pub mod functions;
pub mod inversion;
pub mod learn;
pub mod paper;
pub mod plot;
pub mod probe;
pub mod run;
#[cfg(feature = "scx")]
pub mod scx_selftest;
pub mod simulate;
pub mod summary;
pub mod sysstat;
pub mod targets;
pub mod workload;
