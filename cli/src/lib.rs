//! The `alps` library behind the thin CLI: workloads and function bodies,
//! the live runner, summaries, comparison, simulation, export, ablation.

pub mod functions;
pub mod workload;
