//! Support for the integration tests.

use strider_robot::{Command, Contacts, JointValues, Plant, PlantError, RobotSpec, Sensors};

/// A stand-in plant for tests of the serial link. **Not the simulator**: each joint
/// follows its position target as a first-order system with time constant `tau_s`
/// (`q' = (q* - q) / tau`), integrated at the spec's physics rate; Damp bleeds velocity off
/// with a 50 ms time constant and Disarm with 500 ms. No gravity, no contacts (every
/// contact switch reports contact), IMU link upright and still (every IMU field 0). Any
/// robot layout. It is deterministic, so a test can run a twin of it
/// and compare every sensor value bit for bit with what crossed the link.
#[derive(Debug, Clone)]
pub struct FirstOrderJoints {
    spec: RobotSpec,
    /// rad.
    pub pos: JointValues,
    /// rad/s.
    pub vel: JointValues,
    /// s.
    pub tau_s: f32,
}

impl FirstOrderJoints {
    /// Starts in the spec's standing pose, at rest.
    pub fn new(spec: RobotSpec, tau_s: f32) -> FirstOrderJoints {
        let pos = spec.default_action().joint_target;
        let vel = JointValues::zeros(pos.len());
        FirstOrderJoints { spec, pos, vel, tau_s }
    }

    fn sensors(&self) -> Sensors {
        let layout = self.spec.layout();
        Sensors {
            joint_pos: self.pos,
            joint_vel: self.vel,
            contact: Contacts::filled(layout.contacts, true),
            ..Sensors::zeros(&layout)
        }
    }
}

impl Plant for FirstOrderJoints {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
        if let Command::Track(a) = command
            && a.joint_target.len() != self.pos.len()
        {
            let why =
                format!("{} joint targets for a robot of {} joints", a.joint_target.len(), self.pos.len());
            return Err(PlantError::Mismatch(why));
        }
        let dt = self.spec.physics_dt_s() as f32;
        for _ in 0..self.spec.physics_steps_per_tick() {
            for j in 0..self.pos.len() {
                self.vel[j] = match command {
                    Command::Track(a) => (a.joint_target[j] - self.pos[j]) / self.tau_s,
                    Command::Damp => self.vel[j] * (-dt / 0.05).exp(),
                    Command::Disarm => self.vel[j] * (-dt / 0.5).exp(),
                };
                self.pos[j] += self.vel[j] * dt;
            }
        }
        Ok(self.sensors())
    }
}
