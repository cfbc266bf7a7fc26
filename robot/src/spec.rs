//! The robot description (`robots/*.toml`) as typed data, and its validation.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::SpeedSchedule;
use crate::error::{Problem, SpecError};
use crate::layout::{CommandField, ImuField, MAX_COMMANDS, MAX_CONTACTS, MAX_IMU_FIELDS, MAX_JOINTS};

/// The reference robot shipped with Strider (`robots/biped.toml`), embedded in the binary
/// so that the default commands need no file.
pub const REFERENCE_BIPED_TOML: &str = include_str!("../../robots/biped.toml");

/// Where the embedded reference robot says it comes from, in messages.
pub const REFERENCE_BIPED_NAME: &str = "robots/biped.toml (built in)";

/// A robot: bodies, joints, sensors and rates. Loaded from TOML; every unit is in the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotSpec {
    /// A short name for messages and logs.
    pub name: String,
    pub physics: PhysicsSpec,
    pub control: ControlSpec,
    pub sensors: SensorSpec,
    pub links: Vec<LinkSpec>,
    /// In the order used everywhere: observations, actions, serial frames, models.
    pub joints: Vec<JointSpec>,
}

/// Physics and the plant's PD loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhysicsSpec {
    /// Physics step and PD loop rate in Hz (the reference biped: 500, dt = 2 ms).
    pub physics_hz: u32,
    /// Gravity in m/s², pointing down (the reference biped: 9.81).
    pub gravity_mps2: f64,
    /// Ground friction coefficient, combined with a link's by maximum (the reference biped: 0.7).
    pub ground_friction: f64,
    /// Solver iterations per physics step (the reference biped: 4).
    pub solver_iterations: u32,
}

/// The policy's rate and the operator's command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlSpec {
    /// Policy / control tick rate in Hz (the reference biped: 50); must divide `physics_hz`.
    pub control_hz: u32,
    /// The command components, in observation order (the reference biped: `["vx"]`).
    pub commands: Vec<CommandField>,
    /// The forward speeds the robot is rated for, m/s (`[min, max]`): the range of the
    /// keyboard's commands and of the default eval suites; `strider deploy` refuses a speed
    /// outside it (`strider sim` warns). Default: the reference biped's, `[-0.5, 1.2]`.
    #[serde(default = "ControlSpec::reference_vx_range")]
    pub vx_range_mps: [f64; 2],
    /// The forward speed `strider sim` commands when told none, m/s (`deploy` starts at most
    /// at 0.5). Default: the reference biped's, 1.0.
    #[serde(default = "ControlSpec::reference_vx_default")]
    pub vx_default_mps: f64,
}

impl ControlSpec {
    /// The first speed `schedule` commands outside `vx_range_mps`, if any.
    pub fn speed_outside_range(&self, schedule: &SpeedSchedule) -> Option<f64> {
        let [lo, hi] = self.vx_range_mps;
        std::iter::once(schedule.first())
            .chain(schedule.changes().iter().map(|&(_, v)| v))
            .find(|v| !(lo..=hi).contains(v))
    }

    fn reference_vx_range() -> [f64; 2] {
        [-0.5, 1.2]
    }

    fn reference_vx_default() -> f64 {
        1.0
    }
}

/// Which links carry the sensors and what they report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensorSpec {
    /// The link the IMU is fixed to.
    pub imu_link: String,
    /// What the IMU reports, in observation order (the reference biped: pitch, pitch rate).
    pub imu: Vec<ImuField>,
    /// The contact switches, in observation order.
    pub contacts: Vec<ContactSpec>,
}

/// One contact switch: its name in the observation (`foot_contact.<name>`) and its link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactSpec {
    pub name: String,
    pub link: String,
}

/// One rigid body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    pub name: String,
    pub shape: Shape,
    /// Mass in kg; explicit, never derived from the shape.
    pub mass_kg: f64,
    /// Planar moment of inertia about the centre of mass, kg·m².
    pub inertia_kgm2: f64,
    /// Coulomb friction coefficient.
    pub friction: f64,
}

/// A link's collision shape, centred on the link frame's origin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    Capsule {
        /// The link-frame axis the capsule lies along.
        axis: Axis,
        /// Distance between the two cap centres, m.
        length_m: f64,
        /// m.
        radius_m: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    X,
    Y,
}

/// One revolute joint: the child's angle relative to its parent, counter-clockwise positive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JointSpec {
    pub name: String,
    pub parent: String,
    pub child: String,
    /// Joint position in the parent's link frame, m.
    pub parent_anchor_m: [f64; 2],
    /// Joint position in the child's link frame, m.
    pub child_anchor_m: [f64; 2],
    /// `[min, max]` joint angle, degrees.
    pub limits_deg: [f64; 2],
    /// Standing pose, degrees.
    pub default_deg: f64,
    /// Motor torque limit, N·m.
    pub torque_limit_nm: f64,
    /// Position gain of the plant's PD loop, N·m/rad.
    pub kp_nm_per_rad: f64,
    /// Velocity gain of the plant's PD loop, N·m·s/rad.
    pub kd_nms_per_rad: f64,
}

impl JointSpec {
    /// `[min, max]` in radians.
    pub fn limits_rad(&self) -> [f64; 2] {
        [self.limits_deg[0].to_radians(), self.limits_deg[1].to_radians()]
    }

    /// Standing pose in radians.
    pub fn default_rad(&self) -> f64 {
        self.default_deg.to_radians()
    }
}

impl RobotSpec {
    /// The reference biped, from the copy embedded at build time.
    pub fn reference() -> RobotSpec {
        RobotSpec::from_toml_str(REFERENCE_BIPED_TOML, REFERENCE_BIPED_NAME)
            .expect("the embedded reference robot is valid (checked by a test)")
    }

    /// A description of a planar serial chain with this layout, made of the reference biped's
    /// thigh and knee: links `link0`…`link{joints}`, joint `joint{i}` from `link{i}` to
    /// `link{i+1}`, the IMU on `link0` reporting `imu`, contact switches `c0`… on the links
    /// below the root (the last link once they run out), and the command components
    /// `commands`. For tests of layouts other than the reference's; the problems of a
    /// description these arguments do not make valid (no joints, too many fields).
    pub fn chain(
        joints: usize,
        imu: Vec<ImuField>,
        contacts: usize,
        commands: Vec<CommandField>,
    ) -> Result<RobotSpec, Vec<Problem>> {
        let base = RobotSpec::reference();
        let mut spec = base.clone();
        spec.name = format!("chain-{joints}");
        spec.links =
            (0..=joints).map(|i| LinkSpec { name: format!("link{i}"), ..base.links[1].clone() }).collect();
        spec.joints = (0..joints)
            .map(|i| JointSpec {
                name: format!("joint{i}"),
                parent: format!("link{i}"),
                child: format!("link{}", i + 1),
                ..base.joints[1].clone()
            })
            .collect();
        spec.sensors.imu_link = "link0".into();
        spec.sensors.imu = imu;
        spec.sensors.contacts = (0..contacts)
            .map(|i| ContactSpec { name: format!("c{i}"), link: format!("link{}", joints.min(i + 1)) })
            .collect();
        spec.control.commands = commands;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads and validates a robot description file.
    pub fn load(path: &Path) -> Result<RobotSpec, SpecError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SpecError::Read { file: origin.clone(), message: e.to_string() })?;
        RobotSpec::from_toml_str(&text, &origin)
    }

    /// Parses and validates TOML text; `origin` names the text in errors (a file path).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<RobotSpec, SpecError> {
        let spec: RobotSpec = toml::from_str(text)
            .map_err(|e| SpecError::Parse { file: origin.to_string(), message: one_line(&e.to_string()) })?;
        spec.validate().map_err(|problems| SpecError::Invalid { file: origin.to_string(), problems })?;
        Ok(spec)
    }

    /// The description as TOML (what [`RobotSpec::from_toml_str`] reads back).
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a RobotSpec always serialises")
    }

    /// Physics steps per control tick (`physics_hz / control_hz`).
    pub fn physics_steps_per_tick(&self) -> u32 {
        self.physics.physics_hz / self.control.control_hz.max(1)
    }

    /// Physics step in seconds.
    pub fn physics_dt_s(&self) -> f64 {
        1.0 / f64::from(self.physics.physics_hz)
    }

    /// Control period in seconds.
    pub fn control_dt_s(&self) -> f64 {
        1.0 / f64::from(self.control.control_hz)
    }

    pub fn link(&self, name: &str) -> Option<&LinkSpec> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn total_mass_kg(&self) -> f64 {
        self.links.iter().map(|l| l.mass_kg).sum()
    }

    /// The standing pose as an action (joint position targets), in joint order.
    pub fn default_pose_rad(&self) -> Vec<f64> {
        self.joints.iter().map(JointSpec::default_rad).collect()
    }

    /// Every problem with the description, one per entry; empty means valid.
    pub fn validate(&self) -> Result<(), Vec<Problem>> {
        let mut problems = Vec::new();
        let mut bad = |field: String, value: String, fix: &str| {
            problems.push(Problem { field, value, fix: fix.to_string() });
        };

        let p = &self.physics;
        if p.physics_hz == 0 {
            bad("physics.physics_hz".into(), "0".into(), "use a positive rate, e.g. 500");
        }
        if self.control.control_hz == 0 {
            bad("control.control_hz".into(), "0".into(), "use a positive rate, e.g. 50");
        } else if !p.physics_hz.is_multiple_of(self.control.control_hz) {
            bad(
                "control.control_hz".into(),
                format!("{} (physics_hz {})", self.control.control_hz, p.physics_hz),
                "pick a control rate that divides physics_hz, e.g. 50 for 500",
            );
        }
        if p.solver_iterations == 0 {
            bad(
                "physics.solver_iterations".into(),
                "0".into(),
                "use at least 1 (the reference biped uses 4)",
            );
        }
        positive(&mut bad, "physics.gravity_mps2", p.gravity_mps2, false);
        positive(&mut bad, "physics.ground_friction", p.ground_friction, true);

        let mut link_names = HashSet::new();
        for (i, link) in self.links.iter().enumerate() {
            let at = format!("links[{i}] ({})", link.name);
            if !link_names.insert(link.name.as_str()) {
                bad(format!("{at}.name"), link.name.clone(), "give every link a unique name");
            }
            positive(&mut bad, &format!("{at}.mass_kg"), link.mass_kg, false);
            positive(&mut bad, &format!("{at}.inertia_kgm2"), link.inertia_kgm2, false);
            positive(&mut bad, &format!("{at}.friction"), link.friction, true);
            let Shape::Capsule { length_m, radius_m, .. } = link.shape;
            positive(&mut bad, &format!("{at}.shape.length_m"), length_m, true);
            positive(&mut bad, &format!("{at}.shape.radius_m"), radius_m, false);
        }

        if !(1..=MAX_JOINTS).contains(&self.joints.len()) {
            bad(
                "joints".into(),
                format!("{} joints", self.joints.len()),
                &format!("describe between 1 and {MAX_JOINTS} joints"),
            );
        }
        let mut joint_names = HashSet::new();
        let mut children = HashSet::new();
        for (i, j) in self.joints.iter().enumerate() {
            let at = format!("joints[{i}] ({})", j.name);
            if !joint_names.insert(j.name.as_str()) {
                bad(format!("{at}.name"), j.name.clone(), "give every joint a unique name");
            }
            for (field, link) in [("parent", &j.parent), ("child", &j.child)] {
                if !link_names.contains(link.as_str()) {
                    bad(format!("{at}.{field}"), link.clone(), "name a link defined in [[links]]");
                }
            }
            if j.parent == j.child {
                bad(format!("{at}.child"), j.child.clone(), "a joint connects two different links");
            }
            if !children.insert(j.child.as_str()) {
                bad(format!("{at}.child"), j.child.clone(), "a link can be the child of one joint only");
            }
            let [lo, hi] = j.limits_deg;
            if !(lo.is_finite() && hi.is_finite()) || lo > hi {
                bad(format!("{at}.limits_deg"), format!("[{lo}, {hi}]"), "write [min, max] with min <= max");
            } else if !(lo..=hi).contains(&j.default_deg) {
                bad(
                    format!("{at}.default_deg"),
                    format!("{} (limits [{lo}, {hi}])", j.default_deg),
                    "put the standing pose inside the joint limits",
                );
            }
            positive(&mut bad, &format!("{at}.torque_limit_nm"), j.torque_limit_nm, false);
            positive(&mut bad, &format!("{at}.kp_nm_per_rad"), j.kp_nm_per_rad, true);
            positive(&mut bad, &format!("{at}.kd_nms_per_rad"), j.kd_nms_per_rad, true);
            for (field, v) in [("parent_anchor_m", j.parent_anchor_m), ("child_anchor_m", j.child_anchor_m)] {
                if !v.iter().all(|x| x.is_finite()) {
                    bad(format!("{at}.{field}"), format!("{v:?}"), "use finite coordinates in metres");
                }
            }
        }

        let s = &self.sensors;
        if !link_names.contains(s.imu_link.as_str()) {
            bad("sensors.imu_link".into(), s.imu_link.clone(), "name a link defined in [[links]]");
        }
        let names = |v: &[ImuField]| v.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ");
        if s.imu.len() > MAX_IMU_FIELDS || s.imu.iter().enumerate().any(|(i, f)| s.imu[..i].contains(f)) {
            bad("sensors.imu".into(), format!("[{}]", names(&s.imu)), "list each IMU field at most once");
        }
        if s.contacts.len() > MAX_CONTACTS {
            bad(
                "sensors.contacts".into(),
                format!("{} contacts", s.contacts.len()),
                &format!("describe at most {MAX_CONTACTS} contact switches"),
            );
        }
        let mut contact_names = HashSet::new();
        for (i, c) in s.contacts.iter().enumerate() {
            if !contact_names.insert(c.name.as_str()) {
                bad(
                    format!("sensors.contacts[{i}].name"),
                    c.name.clone(),
                    "give every contact a unique name",
                );
            }
            if !link_names.contains(c.link.as_str()) {
                bad(
                    format!("sensors.contacts[{i}].link"),
                    c.link.clone(),
                    "name a link defined in [[links]]",
                );
            }
        }
        let commands = &self.control.commands;
        if commands.is_empty()
            || commands.len() > MAX_COMMANDS
            || commands.iter().enumerate().any(|(i, f)| commands[..i].contains(f))
        {
            let list = commands.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
            bad(
                "control.commands".into(),
                format!("[{list}]"),
                "list 1 to 3 distinct components of vx, vy, yaw_rate, e.g. [\"vx\"]",
            );
        }

        let [lo, hi] = self.control.vx_range_mps;
        if !(lo.is_finite() && hi.is_finite() && lo <= 0.0 && hi > 0.0) {
            bad(
                "control.vx_range_mps".into(),
                format!("[{lo}, {hi}]"),
                "give finite [min, max] with min <= 0 < max, e.g. [-0.5, 1.2]",
            );
        }
        let v = self.control.vx_default_mps;
        if !(v.is_finite() && lo <= v && v <= hi) {
            bad(
                "control.vx_default_mps".into(),
                v.to_string(),
                &format!("use a speed within control.vx_range_mps [{lo}, {hi}]"),
            );
        }

        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

/// Records a problem unless `value` is finite and > 0 (or >= 0 when `zero_ok`).
fn positive(bad: &mut impl FnMut(String, String, &str), field: &str, value: f64, zero_ok: bool) {
    let ok = value.is_finite() && (value > 0.0 || (zero_ok && value == 0.0));
    if !ok {
        let fix = if zero_ok { "use a finite value >= 0" } else { "use a finite value > 0" };
        bad(field.to_string(), value.to_string(), fix);
    }
}

/// toml's messages span several lines (a source excerpt); keep the first and the location.
fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_string();
    // toml puts the reason on the last line, after the excerpt.
    match lines.next_back() {
        Some(reason) if !reason.starts_with('|') && !reason.starts_with('^') => {
            format!("{first}: {reason}")
        }
        _ => first,
    }
}
