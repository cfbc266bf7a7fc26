//! Support for the integration tests.

use strider_robot::{Command, NUM_JOINTS, Plant, PlantError, RobotSpec, Sensors};

/// A stand-in plant for tests of the serial link. **Not the simulator**: each joint
/// follows its position target as a first-order system with time constant `tau_s`
/// (`q' = (q* - q) / tau`), integrated at the spec's physics rate; Damp bleeds velocity off
/// with a 50 ms time constant and Disarm with 500 ms. No gravity, no contacts (both feet
/// report contact), torso upright. It is deterministic, so a test can run a twin of it
/// and compare every sensor value bit for bit with what crossed the link.
#[derive(Debug, Clone)]
pub struct FirstOrderJoints {
    spec: RobotSpec,
    /// rad.
    pub pos: [f32; NUM_JOINTS],
    /// rad/s.
    pub vel: [f32; NUM_JOINTS],
    /// s.
    pub tau_s: f32,
}

impl FirstOrderJoints {
    /// Starts in the spec's standing pose, at rest.
    pub fn new(spec: RobotSpec, tau_s: f32) -> FirstOrderJoints {
        let pos = spec.default_pose_rad().map(|q| q as f32);
        FirstOrderJoints { spec, pos, vel: [0.0; NUM_JOINTS], tau_s }
    }

    fn sensors(&self) -> Sensors {
        Sensors {
            joint_pos: self.pos,
            joint_vel: self.vel,
            torso_pitch: 0.0,
            torso_pitch_rate: 0.0,
            foot_contact: [true, true],
        }
    }
}

impl Plant for FirstOrderJoints {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
        let dt = self.spec.physics_dt_s() as f32;
        for _ in 0..self.spec.physics_steps_per_tick() {
            for j in 0..NUM_JOINTS {
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
