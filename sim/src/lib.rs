//! The bundled simulator: the reference biped (or another planar robot) in rapier2d, and the
//! experts that walk the biped and hop the hopper.
//!
//! This crate owns the physical model built from a [`strider_robot::RobotSpec`] (links,
//! multibody revolute joints, the plant's fixed-gain PD loop at the physics rate; sensors
//! sized by the description's [`strider_robot::Layout`]), the ground and its terrain,
//! pushes, domain randomisation, sensor noise, action latency and fall detection ([`Sim`],
//! behind the [`strider_robot::Plant`] seam), the scenario files ([`Scenario`]), the
//! SIMBICON-style [`Expert`] that walks the biped on a commanded speed through the policy's
//! own interface, the Raibert-style [`HopperExpert`] that hops the hopper, [`Scripted`] that
//! picks the one for a robot's shape, closed-loop episodes with their summaries ([`run_expert`]) and a headless
//! GIF renderer ([`GifRecorder`]).
//!
//! It does not pace anything in real time, apply a safety envelope or record logs: that is the
//! real-time controller (`strider-controller`; `strider-log` records), which drives a
//! [`Sim`] or a serial robot through the same trait.
//! Rapier types never leave this crate: only `physics.rs` imports rapier.

mod episode;
mod error;
mod expert;
mod hopper;
mod kinematics;
mod physics;
mod render;
mod scenario;
mod simulator;
pub mod sweep;
mod terrain;

pub use episode::{
    EpisodeTracker, RunOptions, RunSummary, Scripted, SurpriseOutcome, TickView, position_tracking_error,
    run_expert,
};
pub use error::SimError;
pub use expert::{Expert, ExpertParams, Leg};
pub use hopper::{HopPhase, HopperExpert, HopperParams};
pub use kinematics::LinkPose;
pub use render::{GifRecorder, RenderOptions};
pub use scenario::{Episode, Event, Push, Randomize, Scenario, SensorFault, StartPush, TerrainSpec};
pub use simulator::{Privileged, SensorNoise, Sim, SimConfig};
pub use terrain::Terrain;
