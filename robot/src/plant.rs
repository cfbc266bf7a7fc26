//! The seam between the controller and what it drives. The bundled simulator and the serial
//! robot both implement [`Plant`], so the controller cannot tell them apart.

use crate::error::PlantError;
use crate::layout::{Action, Sensors};
use crate::spec::RobotSpec;

/// What the controller asks of the plant for one control tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command {
    /// Zero torque on every joint.
    Disarm,
    /// Damping only (kp = 0, kd from the spec): the safe state after a stop or a fault.
    Damp,
    /// Track these joint position targets with the spec's fixed PD gains.
    Track(Action),
}

/// A robot, simulated or real, advanced one control tick at a time.
pub trait Plant {
    /// The robot this plant is. The controller checks it against the model it runs.
    fn spec(&self) -> &RobotSpec;

    /// Applies `command` for one control tick (holding it over the plant's physics/PD
    /// steps) and returns the sensors measured at the end of that tick.
    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError>;
}
