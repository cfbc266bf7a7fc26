//! Typed observations and actions, their flat layout with names, units and indices, and the
//! contract id that pins that layout.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::spec::RobotSpec;

/// Joints of the planar biped: hip, knee, ankle; right leg then left.
pub const NUM_JOINTS: usize = 6;
/// Length of a flattened [`Observation`] (see [`RobotSpec::observation_layout`]).
pub const OBS_DIM: usize = 2 * NUM_JOINTS + 5;
/// Length of a flattened [`Action`].
pub const ACTION_DIM: usize = NUM_JOINTS;

/// What the robot's own sensors measure at one instant. A plant produces these.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sensors {
    /// Joint angles in joint order, rad.
    pub joint_pos: [f32; NUM_JOINTS],
    /// Joint angular velocities in joint order, rad/s.
    pub joint_vel: [f32; NUM_JOINTS],
    /// IMU link's angle to the world, rad, counter-clockwise positive (positive leans back).
    pub torso_pitch: f32,
    /// Its rate, rad/s.
    pub torso_pitch_rate: f32,
    /// Contact switches, right then left.
    pub foot_contact: [bool; 2],
}

/// What the policy sees at one tick: the sensors and the operator's command (commands are
/// part of the observation, as in the trajectory-transformer paper).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observation {
    pub sensors: Sensors,
    /// Commanded forward velocity, m/s.
    pub command_vx: f32,
}

/// What the policy outputs at one tick: joint position targets for the plant's fixed-gain
/// PD loop, in joint order, rad.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Action {
    pub joint_target: [f32; NUM_JOINTS],
}

impl Observation {
    pub fn new(sensors: Sensors, command_vx: f32) -> Observation {
        Observation { sensors, command_vx }
    }

    /// The flat vector in [`RobotSpec::observation_layout`] order (contacts as 0 / 1).
    pub fn to_array(&self) -> [f32; OBS_DIM] {
        let s = &self.sensors;
        let mut out = [0.0; OBS_DIM];
        out[..NUM_JOINTS].copy_from_slice(&s.joint_pos);
        out[NUM_JOINTS..2 * NUM_JOINTS].copy_from_slice(&s.joint_vel);
        let j = 2 * NUM_JOINTS;
        out[j] = s.torso_pitch;
        out[j + 1] = s.torso_pitch_rate;
        out[j + 2] = f32::from(u8::from(s.foot_contact[0]));
        out[j + 3] = f32::from(u8::from(s.foot_contact[1]));
        out[j + 4] = self.command_vx;
        out
    }

    /// The inverse of [`Observation::to_array`]; a contact is on when its value is > 0.5.
    pub fn from_array(v: &[f32; OBS_DIM]) -> Observation {
        let j = 2 * NUM_JOINTS;
        Observation {
            sensors: Sensors {
                joint_pos: v[..NUM_JOINTS].try_into().expect("slice of NUM_JOINTS"),
                joint_vel: v[NUM_JOINTS..j].try_into().expect("slice of NUM_JOINTS"),
                torso_pitch: v[j],
                torso_pitch_rate: v[j + 1],
                foot_contact: [v[j + 2] > 0.5, v[j + 3] > 0.5],
            },
            command_vx: v[j + 4],
        }
    }
}

impl Action {
    pub fn to_array(&self) -> [f32; ACTION_DIM] {
        self.joint_target
    }

    pub fn from_array(v: &[f32; ACTION_DIM]) -> Action {
        Action { joint_target: *v }
    }

    /// True when every target is a finite number.
    pub fn is_finite(&self) -> bool {
        self.joint_target.iter().all(|x| x.is_finite())
    }
}

/// One element of a flat observation or action vector.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Field {
    pub index: usize,
    /// Dotted name, e.g. `joint_pos.right_hip`.
    pub name: String,
    /// SI unit, or `1` for a dimensionless flag.
    pub unit: &'static str,
}

impl RobotSpec {
    /// The flat observation vector: every field with its index and unit.
    pub fn observation_layout(&self) -> Vec<Field> {
        let joints = || self.joints.iter().map(|j| j.name.as_str());
        let mut names: Vec<(String, &'static str)> = Vec::with_capacity(OBS_DIM);
        names.extend(joints().map(|j| (format!("joint_pos.{j}"), "rad")));
        names.extend(joints().map(|j| (format!("joint_vel.{j}"), "rad/s")));
        names.push(("torso_pitch".into(), "rad"));
        names.push(("torso_pitch_rate".into(), "rad/s"));
        names.push(("foot_contact.right".into(), "1"));
        names.push(("foot_contact.left".into(), "1"));
        names.push(("command_vx".into(), "m/s"));
        numbered(names)
    }

    /// The flat action vector: one position target per joint.
    pub fn action_layout(&self) -> Vec<Field> {
        numbered(self.joints.iter().map(|j| (format!("joint_target.{}", j.name), "rad")).collect())
    }

    /// The identity of the observation/action layout (field names, order and units, which
    /// include the joint order). Models and the serial handshake carry it; anything that
    /// does not change the layout (masses, gains, limits, rates) leaves it unchanged.
    pub fn contract_id(&self) -> ContractId {
        let mut text = String::from("strider-contract v1\n");
        for (section, fields) in
            [("observation", self.observation_layout()), ("action", self.action_layout())]
        {
            text.push_str(section);
            text.push('\n');
            for f in fields {
                text.push_str(&format!("{} {} {}\n", f.index, f.name, f.unit));
            }
        }
        let digest = Sha256::digest(text.as_bytes());
        let first8: [u8; 8] = digest[..8].try_into().expect("sha256 has 32 bytes");
        ContractId(u64::from_be_bytes(first8))
    }
}

fn numbered(names: Vec<(String, &'static str)>) -> Vec<Field> {
    names.into_iter().enumerate().map(|(index, (name, unit))| Field { index, name, unit }).collect()
}

/// The first 64 bits (big-endian) of the SHA-256 of the canonical layout text; written as
/// 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContractId(pub u64);

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for ContractId {
    type Err = String;

    fn from_str(s: &str) -> Result<ContractId, String> {
        if s.len() != 16 {
            return Err(format!("a contract id is 16 hex digits, found {s:?}"));
        }
        u64::from_str_radix(s, 16)
            .map(ContractId)
            .map_err(|_| format!("a contract id is 16 hex digits, found {s:?}"))
    }
}
