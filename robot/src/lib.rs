//! The robot contract: what the robot is, and what an observation and an action mean.
//!
//! This crate owns the robot description ([`RobotSpec`], loaded from `robots/*.toml`), its
//! validation, the [`Layout`] it declares (joint count, IMU fields, contacts, command
//! components), the typed [`Observation`] / [`Action`] sized by that layout with their flat
//! layouts (every field named, with its unit and index), the [`ContractId`] that pins that layout, the [`Plant`]
//! trait that the simulator and the serial robot implement, and the operator's
//! [`SpeedSchedule`] (the forward-speed command over time).
//!
//! It does not simulate (`strider-sim`), talk to hardware (`strider-firmware-host`), run
//! models (`strider-policy`) or pace a loop (`strider-controller`);
//! every one of those depends on this crate, and this crate depends on none of them.

mod error;
mod layout;
mod plant;
mod schedule;
mod spec;

pub use error::{PlantError, Problem, SpecError};
pub use layout::{
    Action, CommandField, CommandValues, Contacts, ContractId, Field, ImuField, ImuValues, JointValues,
    Layout, MAX_COMMANDS, MAX_CONTACTS, MAX_IMU_FIELDS, MAX_JOINTS, MAX_OBS, ObsValues, Observation, Sensors,
    Values,
};
pub use plant::{Command, Plant};
pub use schedule::{ScheduleError, SpeedSchedule};
pub use spec::{
    Axis, ContactSpec, ControlSpec, JointSpec, LinkSpec, PhysicsSpec, REFERENCE_BIPED_NAME,
    REFERENCE_BIPED_TOML, RobotSpec, SensorSpec, Shape,
};
