//! The `alps` library behind the thin CLI: workloads and function bodies,
//! the live runner, summaries, comparison, simulation, export, ablation.

pub mod compare;
pub mod functions;
pub mod inversion;
pub mod learn;
pub mod plot;
pub mod probe;
pub mod run;
pub mod summary;
pub mod sysstat;
pub mod workload;
