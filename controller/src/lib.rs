//! The real-time loop between a pilot and a plant.
//!
//! This crate owns what happens each control tick: absolute-deadline pacing (tick k is
//! due at start + k·period, never re-anchored); the pilot — the learned policy, or any
//! other [`Pilot`] — on its own thread, so the thread that talks to the plant never waits
//! past its budget and a late action is never applied late; the safety envelope outside
//! the model (joint-limit and per-tick rate clamps, non-finite guard, fall detection,
//! a limit on consecutive missed ticks); the state machine homing → running → damping;
//! and the run's metrics (policy latency and loop jitter histograms, misses, clamps,
//! overruns).
//!
//! It does not know what the plant is — the simulator and the serial robot both implement
//! [`strider_robot::Plant`] and the CLI picks one — how the policy computes
//! (`strider-policy`), or how a run is written down: the caller's observer sees every
//! tick, with the plant, and records what it wants.

mod inference;
mod metrics;
mod pilot;
mod run;
mod safety;

pub use inference::{InferenceThread, Reply};
pub use metrics::{LatencyStats, Percentiles};
pub use pilot::Pilot;
pub use run::{Controller, ControllerError, Ending, RunConfig, RunReport, TickEvent};
pub use safety::{Clamped, Envelope, Mode, SafetyConfig};
