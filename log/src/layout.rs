//! The robot-dependent shape of the tick messages: which joints, IMU fields, contacts and
//! command components a log holds, under the names its metadata gives them.

use strider_robot::{
    CommandField, ImuField, Layout, MAX_COMMANDS, MAX_CONTACTS, MAX_IMU_FIELDS, MAX_JOINTS, RobotSpec, Values,
};

use crate::error::LogError;
use crate::meta::LogMeta;

/// What a log's tick messages hold for its robot: the joint names, the IMU link and fields,
/// the contact names and the command components, in layout order. Built from a robot
/// description ([`MessageLayout::of`]) or read back from a log's `observation_fields`
/// ([`MessageLayout::from_fields`]); the writer and the reader use the one its metadata
/// names, so a log always reads with its own layout.
///
/// An IMU field is the key `<imu_link>_<field>` of the observation message (the reference
/// biped: `torso_pitch`, `torso_pitch_rate`); a command component is `command_<component>`
/// of the observation and command messages (`command_vx`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLayout {
    joints: Vec<String>,
    imu_link: String,
    imu: Vec<ImuField>,
    contacts: Vec<String>,
    commands: Vec<CommandField>,
    imu_keys: Vec<String>,
    command_keys: Vec<String>,
}

impl MessageLayout {
    /// The layout of `spec`'s observation.
    pub fn of(spec: &RobotSpec) -> MessageLayout {
        MessageLayout::new(
            spec.joints.iter().map(|j| j.name.clone()).collect(),
            spec.sensors.imu_link.clone(),
            spec.sensors.imu.clone(),
            spec.sensors.contacts.iter().map(|c| c.name.clone()).collect(),
            spec.control.commands.clone(),
        )
    }

    fn new(
        joints: Vec<String>,
        imu_link: String,
        imu: Vec<ImuField>,
        contacts: Vec<String>,
        commands: Vec<CommandField>,
    ) -> MessageLayout {
        // With no IMU field the link names no key and is not in the log: leave it out, so a
        // layout read back from a log equals its description's.
        let imu_link = if imu.is_empty() { String::new() } else { imu_link };
        let imu_keys = imu.iter().map(|f| format!("{imu_link}_{}", f.name())).collect();
        let command_keys = commands.iter().map(|c| format!("command_{}", c.name())).collect();
        MessageLayout { joints, imu_link, imu, contacts, commands, imu_keys, command_keys }
    }

    /// Reads the layout back from observation field names in layout order
    /// (`RobotSpec::observation_layout`): `joint_pos.<joint>`…, `joint_vel.<joint>`… in the
    /// same joint order, `<imu_link>_<field>`…, `foot_contact.<contact>`…,
    /// `command_<component>`…. Says what is wrong otherwise, or when a count is past this
    /// build's maxima.
    pub fn from_fields(fields: &[String]) -> Result<MessageLayout, String> {
        let mut rest = fields;
        let joints = take_prefixed(&mut rest, "joint_pos.");
        let velocities = take_prefixed(&mut rest, "joint_vel.");
        if velocities != joints {
            return Err(format!(
                "joint_vel fields for joints [{}], unlike the joint_pos fields [{}]",
                velocities.join(", "),
                joints.join(", ")
            ));
        }
        let imu_len =
            rest.iter().take_while(|f| !f.starts_with("foot_contact.") && command_of(f).is_none()).count();
        let (imu_names, after) = rest.split_at(imu_len);
        rest = after;
        let mut imu_link: Option<&str> = None;
        let mut imu = Vec::new();
        for name in imu_names {
            // No field's name ends with `_` and another's name, so a key has one reading.
            let Some((link, field)) = ImuField::ALL.iter().find_map(|&f| {
                name.strip_suffix(f.name())
                    .and_then(|l| l.strip_suffix('_'))
                    .filter(|l| !l.is_empty())
                    .map(|l| (l, f))
            }) else {
                return Err(format!(
                    "field `{name}`, which is no joint, IMU (`<link>_<field>`), contact or command field"
                ));
            };
            if imu_link.is_some_and(|l| l != link) {
                return Err(format!(
                    "IMU field `{name}` of another link than `{}`",
                    imu_link.unwrap_or_default()
                ));
            }
            if imu.contains(&field) {
                return Err(format!("IMU field `{name}` listed twice"));
            }
            imu_link = Some(link);
            imu.push(field);
        }
        let contacts = take_prefixed(&mut rest, "foot_contact.");
        let mut commands = Vec::new();
        for name in rest {
            match command_of(name) {
                Some(c) if !commands.contains(&c) => commands.push(c),
                Some(_) => return Err(format!("command field `{name}` listed twice")),
                None => return Err(format!("field `{name}` after the command fields")),
            }
        }
        for (what, n, max) in [
            ("joints", joints.len(), MAX_JOINTS),
            ("IMU fields", imu.len(), MAX_IMU_FIELDS),
            ("contacts", contacts.len(), MAX_CONTACTS),
            ("command components", commands.len(), MAX_COMMANDS),
        ] {
            if n > max {
                return Err(format!("{n} {what}, more than the {max} this build reads"));
            }
        }
        let imu_link = imu_link.unwrap_or_default().to_string();
        Ok(MessageLayout::new(joints, imu_link, imu, contacts, commands))
    }

    /// The layout of the log `file` with metadata `meta`, whose action fields must be one
    /// `joint_target.<joint>` per observed joint.
    pub(crate) fn from_meta(file: &str, meta: &LogMeta) -> Result<MessageLayout, LogError> {
        let problem = |key: &str, problem: String| LogError::Metadata {
            file: file.to_string(),
            key: key.to_string(),
            problem,
        };
        let layout = MessageLayout::from_fields(&meta.observation_fields)
            .map_err(|p| problem("observation_fields", format!("not a layout this build reads: {p}")))?;
        let targets: Vec<String> = layout.joints.iter().map(|j| format!("joint_target.{j}")).collect();
        if meta.action_fields != targets {
            return Err(problem(
                "action_fields",
                format!(
                    "[{}], not one joint_target per observed joint: [{}]",
                    meta.action_fields.join(", "),
                    targets.join(", ")
                ),
            ));
        }
        Ok(layout)
    }

    /// The counts and kinds, as the robot crate sizes values by them.
    pub fn to_layout(&self) -> Layout {
        Layout {
            joints: self.joints.len(),
            imu: Values::from_slice(&self.imu),
            contacts: self.contacts.len(),
            commands: Values::from_slice(&self.commands),
        }
    }

    /// Joint names, in joint order.
    pub fn joints(&self) -> &[String] {
        &self.joints
    }

    /// The link the IMU is fixed to (empty when the layout has no IMU field).
    pub fn imu_link(&self) -> &str {
        &self.imu_link
    }

    /// The IMU fields, in observation order.
    pub fn imu(&self) -> &[ImuField] {
        &self.imu
    }

    /// Contact names, in observation order.
    pub fn contacts(&self) -> &[String] {
        &self.contacts
    }

    /// The command components, in observation order.
    pub fn commands(&self) -> &[CommandField] {
        &self.commands
    }

    /// The observation message's key of each IMU field: `<imu_link>_<field>`.
    pub fn imu_keys(&self) -> &[String] {
        &self.imu_keys
    }

    /// The observation and command messages' key of each command component:
    /// `command_<component>`.
    pub fn command_keys(&self) -> &[String] {
        &self.command_keys
    }
}

/// The names after `prefix` of the fields at the start of `rest` that have it; `rest` moves
/// past them.
fn take_prefixed(rest: &mut &[String], prefix: &str) -> Vec<String> {
    let n = rest.iter().take_while(|f| f.starts_with(prefix)).count();
    let (taken, after) = rest.split_at(n);
    *rest = after;
    taken.iter().map(|f| f[prefix.len()..].to_string()).collect()
}

/// The command component `name` is the field of, if it is one (`command_vx`: `Vx`).
fn command_of(name: &str) -> Option<CommandField> {
    let component = name.strip_prefix("command_")?;
    CommandField::ALL.into_iter().find(|c| c.name() == component)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(spec: &RobotSpec) -> Vec<String> {
        spec.observation_layout().into_iter().map(|f| f.name).collect()
    }

    #[test]
    fn the_reference_biped_reads_back_from_its_field_names() {
        let spec = RobotSpec::reference();
        let layout = MessageLayout::from_fields(&names(&spec)).unwrap();
        assert_eq!(layout, MessageLayout::of(&spec));
        assert_eq!(layout.to_layout(), spec.layout());
        assert_eq!(layout.imu_keys(), ["torso_pitch", "torso_pitch_rate"]);
        assert_eq!(layout.command_keys(), ["command_vx"]);
        assert_eq!(layout.contacts(), ["right", "left"]);
    }

    #[test]
    fn field_names_that_are_no_layout_are_refused_saying_which() {
        let mut fields = names(&RobotSpec::reference());
        let check = |fields: &[String], want: &str| {
            let err = MessageLayout::from_fields(fields).unwrap_err();
            assert!(err.contains(want), "{err}");
        };
        fields[6] = "joint_vel.left_hip".into();
        check(&fields, "unlike the joint_pos fields");
        let mut fields = names(&RobotSpec::reference());
        fields[12] = "torso_tilt".into();
        check(&fields, "field `torso_tilt`, which is no joint");
        let mut fields = names(&RobotSpec::reference());
        fields[13] = "head_pitch_rate".into();
        check(&fields, "IMU field `head_pitch_rate` of another link than `torso`");
        let mut fields = names(&RobotSpec::reference());
        fields.push("foot_contact.tail".into());
        check(&fields, "field `foot_contact.tail` after the command fields");
        let mut fields = names(&RobotSpec::reference());
        fields.push("command_vx".into());
        check(&fields, "command field `command_vx` listed twice");
    }
}
