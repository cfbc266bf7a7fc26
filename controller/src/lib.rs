//! The real-time loop between a pilot and a plant.
//!
//! This crate owns what happens each control tick: absolute-deadline pacing (tick k is
//! due at start + k·period, never re-anchored); the pilot — the learned policy, or any
//! other [`Pilot`] — on its own thread, so the thread that talks to the plant never waits
//! past its budget and a late action is never applied late; the safety envelope outside
//! the model (joint-limit and per-tick rate clamps, non-finite guard, fall detection,
//! a limit on consecutive missed ticks); the plausibility screen on every measurement
//! (an implausible field reaches the pilot as `[M]`); the state machine homing → running
//! → damping → disarmed at rest, with the ride-through of link faults (hold the last
//! command through a short silence, damp and recover through a long one);
//! the run's metrics (policy latency and loop jitter histograms, misses, clamps,
//! overruns); the run log ([`Recorder`], a Strider MCAP log of every tick); and the
//! batched pilots of unpaced rollouts ([`LanePool`]: many controllers, one model call
//! per tick).
//!
//! It does not know what the plant is — the simulator and the serial robot both implement
//! [`strider_robot::Plant`] and the CLI picks one — how the policy computes
//! (`strider-policy`), or the log format (`strider-log`). The caller's observer sees every
//! tick with the plant — that is where a simulator's privileged state joins the log.

mod inference;
mod lanes;
mod metrics;
mod pacing;
mod pilot;
mod recorder;
mod run;
mod safety;
mod supervisor;

pub use inference::{InferenceThread, Reply};
pub use lanes::{LanePilot, LanePool};
pub use metrics::{LatencyStats, Percentiles};
pub use pacing::Pacer;
pub use pilot::{Decision, Pilot};
pub use recorder::Recorder;
pub use run::{
    Controller, ControllerError, Ending, FieldCount, RunConfig, RunReport, Stop, SurpriseReport, Throttle,
    TickEvent,
};
pub use safety::{Clamped, Envelope, Implausible, Mode, SafetyConfig, Screen};
