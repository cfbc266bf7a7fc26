//! Typed observations and actions sized by the robot's layout, their flat layout with names,
//! units and indices, and the contract id that pins that layout.
//!
//! Every count (joints, IMU fields, contacts, commands) comes from the robot description
//! ([`RobotSpec::layout`]). The values live inline in fixed-capacity [`Values`] (`Copy`, no
//! allocation), so the control path stays allocation-free for any robot up to the maxima
//! below; past the boundaries they are plain slices.

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::spec::RobotSpec;

/// The most joints a robot may have (a 20-actuator humanoid fits).
pub const MAX_JOINTS: usize = 24;
/// The most IMU fields a robot may report (every [`ImuField`] once).
pub const MAX_IMU_FIELDS: usize = 8;
/// The most contact switches.
pub const MAX_CONTACTS: usize = 8;
/// The most command components (forward, lateral, turning).
pub const MAX_COMMANDS: usize = 3;
/// The longest flat observation.
pub const MAX_OBS: usize = 2 * MAX_JOINTS + MAX_IMU_FIELDS + MAX_CONTACTS + MAX_COMMANDS;

/// Up to `N` values stored inline: `Copy`, never allocates, used as a slice (`Deref`).
#[derive(Clone, Copy)]
pub struct Values<T, const N: usize> {
    len: u8,
    items: [T; N],
}

impl<T: Copy + Default, const N: usize> Values<T, N> {
    /// `len` copies of `value`. Panics past the capacity `N` (a layout never asks for more:
    /// [`RobotSpec::validate`] refuses it).
    pub fn filled(len: usize, value: T) -> Self {
        assert!(len <= N, "{len} values, capacity {N}");
        let mut items = [T::default(); N];
        items[..len].fill(value);
        Values { len: len as u8, items }
    }

    /// `len` default values (zeros, `false`).
    pub fn zeros(len: usize) -> Self {
        Self::filled(len, T::default())
    }

    /// A copy of `values`. Panics past the capacity `N`.
    pub fn from_slice(values: &[T]) -> Self {
        let mut v = Self::zeros(values.len());
        v.copy_from_slice(values);
        v
    }
}

impl<T: Copy + Default, const N: usize> Default for Values<T, N> {
    fn default() -> Self {
        Self::zeros(0)
    }
}

impl<T, const N: usize> Deref for Values<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items[..usize::from(self.len)]
    }
}

impl<T, const N: usize> DerefMut for Values<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items[..usize::from(self.len)]
    }
}

impl<T: PartialEq, const N: usize> PartialEq for Values<T, N> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq, const N: usize> Eq for Values<T, N> {}

impl<T: fmt::Debug, const N: usize> fmt::Debug for Values<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a Values<T, N> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T, const N: usize> IntoIterator for &'a mut Values<T, N> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

impl<T: Copy + Default, const N: usize, const M: usize> From<[T; M]> for Values<T, N> {
    /// Panics when `M > N`.
    fn from(values: [T; M]) -> Self {
        Self::from_slice(&values)
    }
}

impl<T: Serialize, const N: usize> Serialize for Values<T, N> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de, T: Copy + Default + Deserialize<'de>, const N: usize> Deserialize<'de> for Values<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<T>::deserialize(d)?;
        if v.len() > N {
            return Err(serde::de::Error::custom(format!("{} values, at most {N}", v.len())));
        }
        Ok(Self::from_slice(&v))
    }
}

/// One value per joint, in joint order.
pub type JointValues = Values<f32, MAX_JOINTS>;
/// The IMU fields, in the description's order.
pub type ImuValues = Values<f32, MAX_IMU_FIELDS>;
/// The contact switches, in the description's order.
pub type Contacts = Values<bool, MAX_CONTACTS>;
/// The command components, in the description's order.
pub type CommandValues = Values<f32, MAX_COMMANDS>;
/// A flat observation.
pub type ObsValues = Values<f32, MAX_OBS>;

/// What an IMU may report about its link (`sensors.imu` in the description).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImuField {
    /// Angle to the world about the lateral axis, rad, counter-clockwise positive in the
    /// sagittal plane (positive leans back).
    #[default]
    Pitch,
    /// Its rate, rad/s.
    PitchRate,
    /// Angle about the forward axis, rad.
    Roll,
    /// rad/s.
    RollRate,
    /// Rate about the vertical axis, rad/s.
    YawRate,
    /// Gravity's direction in the link frame (a unit vector's components).
    GravityX,
    GravityY,
    GravityZ,
}

impl ImuField {
    /// Every field an IMU may report, in declaration order.
    pub const ALL: [ImuField; MAX_IMU_FIELDS] = [
        ImuField::Pitch,
        ImuField::PitchRate,
        ImuField::Roll,
        ImuField::RollRate,
        ImuField::YawRate,
        ImuField::GravityX,
        ImuField::GravityY,
        ImuField::GravityZ,
    ];

    /// Its name in the description and, after the IMU link's name, in the observation.
    pub fn name(self) -> &'static str {
        match self {
            ImuField::Pitch => "pitch",
            ImuField::PitchRate => "pitch_rate",
            ImuField::Roll => "roll",
            ImuField::RollRate => "roll_rate",
            ImuField::YawRate => "yaw_rate",
            ImuField::GravityX => "gravity_x",
            ImuField::GravityY => "gravity_y",
            ImuField::GravityZ => "gravity_z",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            ImuField::Pitch | ImuField::Roll => "rad",
            ImuField::PitchRate | ImuField::RollRate | ImuField::YawRate => "rad/s",
            ImuField::GravityX | ImuField::GravityY | ImuField::GravityZ => "1",
        }
    }
}

/// A component of the operator's command (`control.commands` in the description).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandField {
    /// Forward velocity, m/s.
    #[default]
    Vx,
    /// Lateral velocity, m/s (left positive).
    Vy,
    /// Turning rate, rad/s (counter-clockwise seen from above).
    YawRate,
}

impl CommandField {
    /// Every command component, in declaration order.
    pub const ALL: [CommandField; MAX_COMMANDS] = [CommandField::Vx, CommandField::Vy, CommandField::YawRate];

    /// Its name in the description; the observation field is `command_<name>`.
    pub fn name(self) -> &'static str {
        match self {
            CommandField::Vx => "vx",
            CommandField::Vy => "vy",
            CommandField::YawRate => "yaw_rate",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            CommandField::Vx | CommandField::Vy => "m/s",
            CommandField::YawRate => "rad/s",
        }
    }
}

/// The shape of a robot's observation and action: how many joints, which IMU fields, how
/// many contacts, which command components. `Copy`; built once from the description.
///
/// The flat observation is `joint_pos[joints] ‖ joint_vel[joints] ‖ imu ‖ contacts (0/1) ‖
/// command`; the flat action is one position target per joint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Layout {
    pub joints: usize,
    pub imu: Values<ImuField, MAX_IMU_FIELDS>,
    pub contacts: usize,
    pub commands: Values<CommandField, MAX_COMMANDS>,
}

impl Layout {
    /// Length of a flat observation.
    pub fn obs_dim(&self) -> usize {
        2 * self.joints + self.imu.len() + self.contacts + self.commands.len()
    }

    /// Length of a flat action.
    pub fn action_dim(&self) -> usize {
        self.joints
    }

    /// Where `field` sits in [`Sensors::imu`], if the robot reports it.
    pub fn imu_index(&self, field: ImuField) -> Option<usize> {
        self.imu.iter().position(|&f| f == field)
    }

    /// Where `field` sits in [`Observation::command`], if the robot takes it.
    pub fn command_index(&self, field: CommandField) -> Option<usize> {
        self.commands.iter().position(|&f| f == field)
    }

    /// A command with forward speed `vx` in its slot (if the robot takes one) and every other
    /// component 0: what a planar robot's operator sends.
    pub fn forward_command(&self, vx: f32) -> CommandValues {
        let mut c = CommandValues::zeros(self.commands.len());
        if let Some(i) = self.command_index(CommandField::Vx) {
            c[i] = vx;
        }
        c
    }

    /// Index of the first IMU field in the flat observation.
    pub fn imu_offset(&self) -> usize {
        2 * self.joints
    }

    /// Index of the first contact in the flat observation.
    pub fn contact_offset(&self) -> usize {
        self.imu_offset() + self.imu.len()
    }

    /// Index of the first command component in the flat observation.
    pub fn command_offset(&self) -> usize {
        self.contact_offset() + self.contacts
    }
}

/// What the robot's own sensors measure at one instant. A plant produces these.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sensors {
    /// Joint angles in joint order, rad.
    pub joint_pos: JointValues,
    /// Joint angular velocities in joint order, rad/s.
    pub joint_vel: JointValues,
    /// The IMU link's fields in the layout's order (units: [`ImuField::unit`]).
    pub imu: ImuValues,
    /// Contact switches in the layout's order.
    pub contact: Contacts,
}

impl Sensors {
    /// Every reading `value` (`NaN`: nothing measured), every contact open.
    pub fn filled(layout: &Layout, value: f32) -> Sensors {
        Sensors {
            joint_pos: JointValues::filled(layout.joints, value),
            joint_vel: JointValues::filled(layout.joints, value),
            imu: ImuValues::filled(layout.imu.len(), value),
            contact: Contacts::zeros(layout.contacts),
        }
    }

    /// All zeros, every contact open.
    pub fn zeros(layout: &Layout) -> Sensors {
        Sensors::filled(layout, 0.0)
    }

    /// True when every count matches `layout`.
    pub fn fits(&self, layout: &Layout) -> bool {
        self.joint_pos.len() == layout.joints
            && self.joint_vel.len() == layout.joints
            && self.imu.len() == layout.imu.len()
            && self.contact.len() == layout.contacts
    }

    /// The IMU reading of `field` under `layout`, if the robot reports it.
    ///
    pub fn imu_field(&self, layout: &Layout, field: ImuField) -> Option<f32> {
        layout.imu_index(field).map(|i| self.imu[i])
    }
}

/// What the policy sees at one tick: the sensors and the operator's command (commands are
/// part of the observation, as in the trajectory-transformer paper).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observation {
    pub sensors: Sensors,
    /// The command components in the layout's order (units: [`CommandField::unit`]).
    pub command: CommandValues,
}

/// What the policy outputs at one tick: joint position targets for the plant's fixed-gain
/// PD loop, in joint order, rad.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Action {
    pub joint_target: JointValues,
}

impl Observation {
    pub fn new(sensors: Sensors, command: CommandValues) -> Observation {
        Observation { sensors, command }
    }

    /// The flat vector in [`RobotSpec::observation_layout`] order (contacts as 0 / 1).
    pub fn to_values(&self) -> ObsValues {
        let s = &self.sensors;
        let mut out = ObsValues::zeros(0);
        let mut push = |v: f32| {
            out.items[usize::from(out.len)] = v;
            out.len += 1;
        };
        s.joint_pos.iter().chain(s.joint_vel.iter()).chain(s.imu.iter()).for_each(|&v| push(v));
        s.contact.iter().for_each(|&c| push(f32::from(u8::from(c))));
        self.command.iter().for_each(|&v| push(v));
        out
    }

    /// The inverse of [`Observation::to_values`] under `layout`; a contact is on when its
    /// value is > 0.5. Panics unless `v` has `layout.obs_dim()` values.
    pub fn from_values(layout: &Layout, v: &[f32]) -> Observation {
        assert_eq!(v.len(), layout.obs_dim(), "a flat observation of this layout");
        let (n, i, c) = (layout.joints, layout.imu_offset(), layout.contact_offset());
        let k = layout.command_offset();
        let mut contact = Contacts::zeros(layout.contacts);
        for (on, &x) in contact.iter_mut().zip(&v[c..k]) {
            *on = x > 0.5;
        }
        Observation {
            sensors: Sensors {
                joint_pos: JointValues::from_slice(&v[..n]),
                joint_vel: JointValues::from_slice(&v[n..i]),
                imu: ImuValues::from_slice(&v[i..c]),
                contact,
            },
            command: CommandValues::from_slice(&v[k..]),
        }
    }
}

impl Observation {
    /// The command component `field` under `layout`, if the robot takes it.
    pub fn command_of(&self, layout: &Layout, field: CommandField) -> Option<f32> {
        layout.command_index(field).map(|i| self.command[i])
    }
}

impl Action {
    /// Targets from a slice in joint order.
    pub fn from_slice(v: &[f32]) -> Action {
        Action { joint_target: JointValues::from_slice(v) }
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
    /// The flat observation vector: every field with its index and unit. IMU fields are
    /// named `<imu_link>_<field>`, contacts `foot_contact.<contact>`, commands
    /// `command_<component>` (the reference biped: `torso_pitch`, `foot_contact.right`,
    /// `command_vx`).
    pub fn observation_layout(&self) -> Vec<Field> {
        let joints = || self.joints.iter().map(|j| j.name.as_str());
        let s = &self.sensors;
        let mut names: Vec<(String, &'static str)> = Vec::new();
        names.extend(joints().map(|j| (format!("joint_pos.{j}"), "rad")));
        names.extend(joints().map(|j| (format!("joint_vel.{j}"), "rad/s")));
        names.extend(s.imu.iter().map(|f| (format!("{}_{}", s.imu_link, f.name()), f.unit())));
        names.extend(s.contacts.iter().map(|c| (format!("foot_contact.{}", c.name), "1")));
        names.extend(self.control.commands.iter().map(|c| (format!("command_{}", c.name()), c.unit())));
        numbered(names)
    }

    /// The flat action vector: one position target per joint.
    pub fn action_layout(&self) -> Vec<Field> {
        numbered(self.joints.iter().map(|j| (format!("joint_target.{}", j.name), "rad")).collect())
    }

    /// The standing pose ([`RobotSpec::default_pose_rad`]) as an action.
    pub fn default_action(&self) -> Action {
        let mut a = Action { joint_target: JointValues::zeros(self.joints.len().min(MAX_JOINTS)) };
        for (t, j) in a.joint_target.iter_mut().zip(&self.joints) {
            *t = j.default_rad() as f32;
        }
        a
    }

    /// The counts and kinds behind the flat vectors. Panics on a description past the
    /// maxima ([`RobotSpec::validate`] refuses those).
    pub fn layout(&self) -> Layout {
        Layout {
            joints: self.joints.len(),
            imu: Values::from_slice(&self.sensors.imu),
            contacts: self.sensors.contacts.len(),
            commands: Values::from_slice(&self.control.commands),
        }
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
