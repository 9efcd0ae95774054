//! ALPS policies: the learner (baseline ALPS and the I/O-aware ALPS-IO, two
//! configurations of one pure, deterministic learner), the `Policy` type that
//! travels to backends, files, the simulator and datasets, and (feature
//! `backend`) the enforcement backends, the only code here that touches the
//! kernel.

#[cfg(feature = "backend")]
pub mod backend;
pub mod learner;
pub mod policy;
pub mod sim;

pub use learner::{learn, Learner, LearnerConfig};
pub use policy::{FunctionPolicy, IoControls, Policy, Variant};
