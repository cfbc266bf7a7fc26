//! The messages of each channel (their JSON form) and the JSON schema of each.
//!
//! The observation and command messages have one key per IMU field and command component,
//! named by the log's [`MessageLayout`]; they are written and read with it
//! ([`ObservationMsg::to_json`], [`ObservationMsg::from_json`]). Every other message is
//! plain serde.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::ser::{self, SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strider_robot::{
    Action, CommandField, CommandValues, Contacts, ImuField, ImuValues, JointValues, MAX_COMMANDS,
    MAX_IMU_FIELDS, Observation, Sensors, Values,
};

use crate::float::Wire;
use crate::layout::MessageLayout;
use crate::meta::FORMAT_VERSION;

/// Channel topics, in the order they are registered in a file.
pub const EPISODE_TOPIC: &str = "/episode";
pub const OBSERVATION_TOPIC: &str = "/observation";
pub const ACTION_TOPIC: &str = "/action";
pub const COMMAND_TOPIC: &str = "/command";
pub const SIM_STATE_TOPIC: &str = "/sim/state";
pub const TIMING_TOPIC: &str = "/timing";

/// Start of an episode: every tick message that follows carries its index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeStart {
    pub episode: u32,
    /// Seed the episode's plant was reset with (simulator), if any.
    pub seed: Option<u64>,
    /// Free-form description of the conditions (scenario name, randomised factors).
    pub conditions: String,
}

/// What the robot measured at one tick, plus the command in force (the policy's input).
///
/// As JSON (in this order): `episode`, `tick`, `plant_time_s`, the `joint_pos` and
/// `joint_vel` arrays, one key per IMU field (`<imu_link>_<field>`), the `foot_contact`
/// array and one key per command component (`command_<component>`); the reference biped's
/// IMU keys are `torso_pitch` and `torso_pitch_rate`, its command key `command_vx`.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservationMsg {
    pub episode: u32,
    pub tick: u64,
    /// Plant time at the measurement, s (simulated time in the simulator).
    pub plant_time_s: f64,
    /// Joint angles in joint order, rad.
    pub joint_pos: JointValues,
    /// Joint angular velocities in joint order, rad/s.
    pub joint_vel: JointValues,
    /// The IMU fields in the layout's order.
    pub imu: ImuValues,
    /// Contact switches in the layout's order.
    pub foot_contact: Contacts,
    /// The command components in the layout's order.
    pub command: CommandValues,
}

/// The action decided at a tick: the label a policy learns. `applied` is what was actually
/// sent when it differs (noise injection during collection, safety clamps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMsg {
    pub episode: u32,
    pub tick: u64,
    /// Joint position targets in joint order, rad.
    #[serde(with = "crate::float")]
    pub joint_target: JointValues,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::float")]
    pub applied: Option<JointValues>,
    /// The pilot's surprise at this tick's observation (the largest over the measured sensor
    /// fields of its prediction error in that field's typical error); run logs of a policy only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surprise: Option<f32>,
}

/// The operator's command in force at a tick. As JSON: `episode`, `tick` and one key per
/// command component (`command_<component>`, the reference biped: `command_vx`).
#[derive(Debug, Clone, PartialEq)]
pub struct CommandMsg {
    pub episode: u32,
    pub tick: u64,
    /// The command components in the layout's order.
    pub command: CommandValues,
}

/// Privileged simulator state, for evaluation only (never a policy input).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimState {
    /// Torso centre, world frame, m.
    #[serde(with = "crate::float")]
    pub torso_x: f64,
    #[serde(with = "crate::float")]
    pub torso_y: f64,
    /// Torso height above the ground directly under it, m.
    #[serde(with = "crate::float")]
    pub height: f64,
    /// Torso pitch, rad (positive leans back).
    #[serde(with = "crate::float")]
    pub pitch: f64,
    /// Whole-body centre of mass, m and m/s.
    #[serde(with = "crate::float")]
    pub com_x: f64,
    #[serde(with = "crate::float")]
    pub com_y: f64,
    #[serde(with = "crate::float")]
    pub com_vx: f64,
    #[serde(with = "crate::float")]
    pub com_vy: f64,
    /// Ground contact of the contact switches' links, in the layout's order.
    pub foot_contact: Contacts,
    pub fallen: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimStateMsg {
    pub episode: u32,
    pub tick: u64,
    #[serde(flatten)]
    pub state: SimState,
}

/// How the tick went in real time.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timing {
    /// Measured tick start, ns since the run began (not the nominal schedule).
    pub tick_start_ns: u64,
    /// Time the controller (policy or expert) took to decide, µs.
    #[serde(with = "crate::float")]
    pub decide_us: f64,
    /// The tick overran its deadline.
    pub deadline_missed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingMsg {
    pub episode: u32,
    pub tick: u64,
    #[serde(flatten)]
    pub timing: Timing,
}

impl ObservationMsg {
    pub fn new(episode: u32, tick: u64, plant_time_s: f64, obs: &Observation) -> ObservationMsg {
        let s = &obs.sensors;
        ObservationMsg {
            episode,
            tick,
            plant_time_s,
            joint_pos: s.joint_pos,
            joint_vel: s.joint_vel,
            imu: s.imu,
            foot_contact: s.contact,
            command: obs.command,
        }
    }

    pub fn observation(&self) -> Observation {
        Observation::new(
            Sensors {
                joint_pos: self.joint_pos,
                joint_vel: self.joint_vel,
                imu: self.imu,
                contact: self.foot_contact,
            },
            self.command,
        )
    }

    /// Its JSON text as the writer writes it under `layout`; refused, saying which, when a
    /// count is not the layout's.
    pub fn to_json(&self, layout: &MessageLayout) -> Result<String, String> {
        to_json(&Keyed { msg: self, layout })
    }

    /// A message as written under `layout`: every key of the layout once and no other, each
    /// array of the layout's length.
    pub fn from_json(layout: &MessageLayout, json: &[u8]) -> Result<ObservationMsg, String> {
        from_json(Seed { layout, message: PhantomData }, json)
    }

    /// What does not fit `layout`, if anything.
    fn misfit(&self, layout: &MessageLayout) -> Option<String> {
        let joints = layout.joints().len();
        counts_misfit(&[
            ("joint_pos", self.joint_pos.len(), joints, "joints"),
            ("joint_vel", self.joint_vel.len(), joints, "joints"),
            ("IMU", self.imu.len(), layout.imu().len(), "IMU fields"),
            ("foot_contact", self.foot_contact.len(), layout.contacts().len(), "contacts"),
            ("command", self.command.len(), layout.commands().len(), "command components"),
        ])
    }
}

impl CommandMsg {
    /// Its JSON text as the writer writes it under `layout`.
    pub fn to_json(&self, layout: &MessageLayout) -> Result<String, String> {
        to_json(&Keyed { msg: self, layout })
    }

    /// A message as written under `layout`.
    pub fn from_json(layout: &MessageLayout, json: &[u8]) -> Result<CommandMsg, String> {
        from_json(Seed { layout, message: PhantomData }, json)
    }
}

impl ActionMsg {
    pub fn action(&self) -> Action {
        Action { joint_target: self.joint_target }
    }

    /// What does not fit `layout`, if anything.
    pub(crate) fn misfit(&self, layout: &MessageLayout) -> Option<String> {
        let joints = layout.joints().len();
        counts_misfit(&[
            ("joint_target", self.joint_target.len(), joints, "joints"),
            ("applied", self.applied.map_or(joints, |a| a.len()), joints, "joints"),
        ])
    }
}

impl SimState {
    /// What does not fit `layout`, if anything.
    pub(crate) fn misfit(&self, layout: &MessageLayout) -> Option<String> {
        let contacts = layout.contacts().len();
        counts_misfit(&[("foot_contact", self.foot_contact.len(), contacts, "contacts")])
    }
}

/// The first `(field, count, the layout's count, of what)` whose counts differ, in words.
fn counts_misfit(counts: &[(&str, usize, usize, &str)]) -> Option<String> {
    counts
        .iter()
        .find(|(_, n, want, _)| n != want)
        .map(|(field, n, want, what)| format!("{field}: {n} values, but the log's layout has {want} {what}"))
}

/// A message whose keys the layout names, serialised.
fn to_json<T>(keyed: &Keyed<'_, T>) -> Result<String, String>
where
    for<'a> Keyed<'a, T>: Serialize,
{
    serde_json::to_string(keyed).map_err(|e| e.to_string())
}

fn from_json<'a, T>(seed: Seed<'a, T>, json: &[u8]) -> Result<T, String>
where
    Seed<'a, T>: for<'de> DeserializeSeed<'de, Value = T>,
{
    let mut de = serde_json::Deserializer::from_slice(json);
    let message = seed.deserialize(&mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(message)
}

/// A message with the layout that names its keys.
struct Keyed<'a, T> {
    msg: &'a T,
    layout: &'a MessageLayout,
}

impl Serialize for Keyed<'_, ObservationMsg> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (m, layout) = (self.msg, self.layout);
        if let Some(problem) = m.misfit(layout) {
            return Err(ser::Error::custom(problem));
        }
        let keys = 6 + layout.imu_keys().len() + layout.command_keys().len();
        let mut map = serializer.serialize_map(Some(keys))?;
        map.serialize_entry("episode", &m.episode)?;
        map.serialize_entry("tick", &m.tick)?;
        map.serialize_entry("plant_time_s", &Wire(m.plant_time_s))?;
        map.serialize_entry("joint_pos", &Wire(&m.joint_pos[..]))?;
        map.serialize_entry("joint_vel", &Wire(&m.joint_vel[..]))?;
        for (key, &v) in layout.imu_keys().iter().zip(m.imu.iter()) {
            map.serialize_entry(key, &Wire(v))?;
        }
        map.serialize_entry("foot_contact", &m.foot_contact)?;
        for (key, &v) in layout.command_keys().iter().zip(m.command.iter()) {
            map.serialize_entry(key, &Wire(v))?;
        }
        map.end()
    }
}

impl Serialize for Keyed<'_, CommandMsg> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (m, layout) = (self.msg, self.layout);
        if let Some(problem) =
            counts_misfit(&[("command", m.command.len(), layout.commands().len(), "command components")])
        {
            return Err(ser::Error::custom(problem));
        }
        let mut map = serializer.serialize_map(Some(2 + layout.command_keys().len()))?;
        map.serialize_entry("episode", &m.episode)?;
        map.serialize_entry("tick", &m.tick)?;
        for (key, &v) in layout.command_keys().iter().zip(m.command.iter()) {
            map.serialize_entry(key, &Wire(v))?;
        }
        map.end()
    }
}

/// Reads a message of type `T` whose keys `layout` names.
struct Seed<'a, T> {
    layout: &'a MessageLayout,
    message: PhantomData<T>,
}

/// A key of a message whose keys follow the layout.
#[derive(Clone, Copy)]
enum Key {
    Episode,
    Tick,
    PlantTime,
    JointPos,
    JointVel,
    /// The IMU field at this index of the layout.
    Imu(usize),
    FootContact,
    /// The command component at this index of the layout.
    Command(usize),
}

/// Reads one key of an observation message (`observation`) or a command message.
struct KeySeed<'a> {
    layout: &'a MessageLayout,
    observation: bool,
}

impl KeySeed<'_> {
    fn expected(&self) -> String {
        let fixed: &[&str] = if self.observation {
            &["episode", "tick", "plant_time_s", "joint_pos", "joint_vel", "foot_contact"]
        } else {
            &["episode", "tick"]
        };
        let imu = if self.observation { self.layout.imu_keys() } else { &[] };
        let keys = fixed.iter().copied().chain(imu.iter().map(String::as_str));
        let keys: Vec<String> = keys
            .chain(self.layout.command_keys().iter().map(String::as_str))
            .map(|k| format!("`{k}`"))
            .collect();
        keys.join(", ")
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "one of {}", self.expected())
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        let position = |keys: &[String]| keys.iter().position(|k| k == key);
        let commands = || position(self.layout.command_keys()).map(Key::Command);
        let found = match key {
            "episode" => Some(Key::Episode),
            "tick" => Some(Key::Tick),
            _ if !self.observation => commands(),
            "plant_time_s" => Some(Key::PlantTime),
            "joint_pos" => Some(Key::JointPos),
            "joint_vel" => Some(Key::JointVel),
            "foot_contact" => Some(Key::FootContact),
            _ => position(self.layout.imu_keys()).map(Key::Imu).or_else(commands),
        };
        found.ok_or_else(|| E::custom(format!("unknown field `{key}`, expected one of {}", self.expected())))
    }
}

/// Puts `value` in `slot`, refusing a key seen before.
fn put<T, E: de::Error>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), E> {
    if slot.replace(value).is_some() {
        return Err(E::custom(format!("duplicate field `{key}`")));
    }
    Ok(())
}

/// The value of a required key, or the error naming it.
fn required<T, E: de::Error>(slot: Option<T>, key: &str) -> Result<T, E> {
    slot.ok_or_else(|| E::custom(format!("missing field `{key}`")))
}

/// One value per key of `keys`, each seen once.
struct KeyedValues<const N: usize> {
    values: [Option<f32>; N],
}

impl<const N: usize> KeyedValues<N> {
    fn new() -> KeyedValues<N> {
        KeyedValues { values: [None; N] }
    }

    fn put<E: de::Error>(&mut self, index: usize, keys: &[String], value: f32) -> Result<(), E> {
        put(&mut self.values[index], &keys[index], value)
    }

    fn all<E: de::Error>(&self, keys: &[String]) -> Result<Values<f32, N>, E> {
        let mut out = Values::zeros(keys.len());
        for ((slot, value), key) in out.iter_mut().zip(&self.values).zip(keys) {
            *slot = required(*value, key)?;
        }
        Ok(out)
    }
}

/// An array value of `key` with exactly `want` values.
fn exactly<T: std::ops::Deref<Target = [U]>, U, E: de::Error>(
    key: &str,
    values: T,
    want: usize,
    what: &str,
) -> Result<T, E> {
    match counts_misfit(&[(key, values.len(), want, what)]) {
        Some(problem) => Err(E::custom(problem)),
        None => Ok(values),
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, ObservationMsg> {
    type Value = ObservationMsg;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<ObservationMsg, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, ObservationMsg> {
    type Value = ObservationMsg;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an observation message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObservationMsg, A::Error> {
        let layout = self.layout;
        let (joints, contacts) = (layout.joints().len(), layout.contacts().len());
        let (mut episode, mut tick, mut plant_time_s) = (None, None, None);
        let (mut joint_pos, mut joint_vel, mut foot_contact) = (None, None, None);
        let mut imu = KeyedValues::<MAX_IMU_FIELDS>::new();
        let mut command = KeyedValues::<MAX_COMMANDS>::new();
        while let Some(key) = map.next_key_seed(KeySeed { layout, observation: true })? {
            match key {
                Key::Episode => put(&mut episode, "episode", map.next_value()?)?,
                Key::Tick => put(&mut tick, "tick", map.next_value()?)?,
                Key::PlantTime => put(&mut plant_time_s, "plant_time_s", map.next_value::<Wire<f64>>()?.0)?,
                Key::JointPos => {
                    let Wire(v): Wire<JointValues> = map.next_value()?;
                    put(&mut joint_pos, "joint_pos", exactly("joint_pos", v, joints, "joints")?)?;
                }
                Key::JointVel => {
                    let Wire(v): Wire<JointValues> = map.next_value()?;
                    put(&mut joint_vel, "joint_vel", exactly("joint_vel", v, joints, "joints")?)?;
                }
                Key::Imu(i) => imu.put(i, layout.imu_keys(), map.next_value::<Wire<f32>>()?.0)?,
                Key::FootContact => {
                    let v: Contacts = map.next_value()?;
                    put(
                        &mut foot_contact,
                        "foot_contact",
                        exactly("foot_contact", v, contacts, "contacts")?,
                    )?;
                }
                Key::Command(i) => command.put(i, layout.command_keys(), map.next_value::<Wire<f32>>()?.0)?,
            }
        }
        Ok(ObservationMsg {
            episode: required(episode, "episode")?,
            tick: required(tick, "tick")?,
            plant_time_s: required(plant_time_s, "plant_time_s")?,
            joint_pos: required(joint_pos, "joint_pos")?,
            joint_vel: required(joint_vel, "joint_vel")?,
            imu: imu.all(layout.imu_keys())?,
            foot_contact: required(foot_contact, "foot_contact")?,
            command: command.all(layout.command_keys())?,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_, CommandMsg> {
    type Value = CommandMsg;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<CommandMsg, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, CommandMsg> {
    type Value = CommandMsg;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a command message")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CommandMsg, A::Error> {
        let layout = self.layout;
        let (mut episode, mut tick) = (None, None);
        let mut command = KeyedValues::<MAX_COMMANDS>::new();
        while let Some(key) = map.next_key_seed(KeySeed { layout, observation: false })? {
            match key {
                Key::Episode => put(&mut episode, "episode", map.next_value()?)?,
                Key::Tick => put(&mut tick, "tick", map.next_value()?)?,
                Key::Command(i) => command.put(i, layout.command_keys(), map.next_value::<Wire<f32>>()?.0)?,
                _ => unreachable!("a command message's keys are episode, tick and the commands"),
            }
        }
        Ok(CommandMsg {
            episode: required(episode, "episode")?,
            tick: required(tick, "tick")?,
            command: command.all(layout.command_keys())?,
        })
    }
}

/// The JSON schema (draft 2020-12) of every channel for a robot of `layout`, by topic, with
/// its schema name, as this build writes them.
pub fn schemas(layout: &MessageLayout) -> [(&'static str, &'static str, Value); 6] {
    schemas_of(FORMAT_VERSION, layout).expect("this build's format version has schemas")
}

/// The channel schemas of a file of `format_version` for a robot of `layout`, or `None` for a
/// version this build cannot read. Version 1 wrote only finite floats, as JSON numbers;
/// version 2 writes a non-finite one as a string (`float.rs`), so its float fields accept
/// both.
pub fn schemas_of(
    format_version: u32,
    layout: &MessageLayout,
) -> Option<[(&'static str, &'static str, Value); 6]> {
    let element = match format_version {
        1 => json!({"type": "number"}),
        2 => crate::float::schema(),
        _ => return None,
    };
    let num = |description: &str| {
        let mut v = element.clone();
        v["description"] = description.into();
        v
    };
    let n = layout.joints().len();
    let order = joint_order(layout.joints());
    let joints = |desc: &str, unit: &str| {
        json!({"type": "array", "items": element, "minItems": n, "maxItems": n,
               "description": format!("{desc}, {unit}, in joint order ({order})")})
    };
    let c = layout.contacts().len();
    let contact_names =
        if c == 0 { " (none)".to_string() } else { format!(", {}", layout.contacts().join(" then ")) };
    let contacts = json!({"type": "array", "items": {"type": "boolean"}, "minItems": c, "maxItems": c,
                          "description": format!("contact switches{contact_names}")});
    let tick =
        json!({"type": "integer", "minimum": 0, "description": "control tick index within the episode"});
    let episode = json!({"type": "integer", "minimum": 0, "description": "episode index within the file"});
    // Every property is required except those named optional.
    let object = |title: &str, props: Value, optional: &[&str]| {
        let required: Vec<&String> = props
            .as_object()
            .expect("properties are an object")
            .keys()
            .filter(|k| !optional.contains(&k.as_str()))
            .collect();
        json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "object",
               "properties": props, "required": required, "additionalProperties": false})
    };
    let mut observation = json!({"episode": episode, "tick": tick,
        "plant_time_s": num("plant time at the measurement, s"),
        "joint_pos": joints("joint angles", "rad"), "joint_vel": joints("joint velocities", "rad/s"),
        "foot_contact": contacts});
    for (key, &field) in layout.imu_keys().iter().zip(layout.imu()) {
        observation[key] = num(&imu_description(layout.imu_link(), field));
    }
    let mut command = json!({"episode": episode, "tick": tick});
    for (key, &component) in layout.command_keys().iter().zip(layout.commands()) {
        observation[key] = num(command_description(component));
        command[key] = num(command_description(component));
    }
    Some([
        (
            EPISODE_TOPIC,
            "strider.EpisodeStart",
            object(
                "strider.EpisodeStart",
                json!({"episode": episode, "seed": {"type": ["integer", "null"], "description": "plant reset seed"},
                       "conditions": {"type": "string", "description": "scenario and randomised factors"}}),
                &[],
            ),
        ),
        (OBSERVATION_TOPIC, "strider.Observation", object("strider.Observation", observation, &[])),
        (
            ACTION_TOPIC,
            "strider.Action",
            object(
                "strider.Action",
                json!({"episode": episode, "tick": tick,
                       "joint_target": joints("joint position targets (the label)", "rad"),
                       "applied": joints("targets actually sent, when they differ from the label", "rad"),
                       "surprise": {"type": "number", "minimum": 0,
                                    "description": "the pilot's surprise at this tick's observation: RMS over the measured sensor fields of its prediction error, in the model's normalised units"}}),
                &["applied", "surprise"],
            ),
        ),
        (COMMAND_TOPIC, "strider.Command", object("strider.Command", command, &[])),
        (
            SIM_STATE_TOPIC,
            "strider.SimState",
            object(
                "strider.SimState",
                json!({"episode": episode, "tick": tick,
                       "torso_x": num("torso centre x, world, m"), "torso_y": num("torso centre y, world, m"),
                       "height": num("torso height above the ground under it, m"),
                       "pitch": num("torso pitch, rad, positive leaning back"),
                       "com_x": num("centre of mass x, m"), "com_y": num("centre of mass y, m"),
                       "com_vx": num("centre of mass x velocity, m/s"), "com_vy": num("centre of mass y velocity, m/s"),
                       "foot_contact": contacts, "fallen": {"type": "boolean", "description": "fall detected"}}),
                &[],
            ),
        ),
        (
            TIMING_TOPIC,
            "strider.Timing",
            object(
                "strider.Timing",
                json!({"episode": episode, "tick": tick,
                       "tick_start_ns": {"type": "integer", "minimum": 0, "description": "measured tick start, ns since the run began"},
                       "decide_us": num("controller decision time, µs"),
                       "deadline_missed": {"type": "boolean", "description": "the tick overran its deadline"}}),
                &[],
            ),
        ),
    ])
}

/// The joint order in words: each name's words, less a first word it shares with the joint
/// before (the reference biped: `right hip, knee, ankle, left hip, knee, ankle`).
fn joint_order(joints: &[String]) -> String {
    let mut group: Option<&str> = None;
    let words: Vec<String> = joints
        .iter()
        .map(|name| {
            let split = name.split_once('_');
            let shown = match split {
                Some((first, rest)) if group == Some(first) => rest,
                _ => name.as_str(),
            };
            group = split.map(|(first, _)| first);
            shown.replace('_', " ")
        })
        .collect();
    words.join(", ")
}

/// What an IMU field of `link` is, with its unit.
fn imu_description(link: &str, field: ImuField) -> String {
    match field {
        ImuField::Pitch => format!("{link} pitch, rad, counter-clockwise positive (leaning back)"),
        ImuField::PitchRate => format!("{link} pitch rate, rad/s"),
        ImuField::Roll => format!("{link} roll, rad"),
        ImuField::RollRate => format!("{link} roll rate, rad/s"),
        ImuField::YawRate => format!("{link} yaw rate, rad/s"),
        ImuField::GravityX | ImuField::GravityY | ImuField::GravityZ => {
            let axis = &field.name()["gravity_".len()..];
            format!("gravity's direction in the {link} frame, {axis} component of a unit vector")
        }
    }
}

/// What a command component is, with its unit.
fn command_description(component: CommandField) -> &'static str {
    match component {
        CommandField::Vx => "commanded forward velocity, m/s",
        CommandField::Vy => "commanded lateral velocity, m/s, left positive",
        CommandField::YawRate => "commanded turning rate, rad/s, counter-clockwise seen from above",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `schema` finds wrong with `v` (the JSON-schema keywords `schemas` uses).
    fn violations(v: &Value, schema: &Value, at: &str, out: &mut Vec<String>) {
        if let Some(any) = schema["anyOf"].as_array()
            && !any.iter().any(|s| {
                let mut o = vec![];
                violations(v, s, at, &mut o);
                o.is_empty()
            })
        {
            out.push(format!("{at}: {v} matches none of {schema}"));
        }
        if let Some(options) = schema["enum"].as_array()
            && !options.contains(v)
        {
            out.push(format!("{at}: {v} not in {options:?}"));
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let is = |t: &str| match t {
            "integer" => v.is_u64() || v.is_i64(),
            "number" => v.is_number(),
            "array" => v.is_array(),
            "boolean" => v.is_boolean(),
            "string" => v.is_string(),
            "null" => v.is_null(),
            "object" => v.is_object(),
            other => panic!("schema type {other} not handled"),
        };
        if !types.is_empty() && !types.iter().any(|t| is(t)) {
            out.push(format!("{at}: {v} is not {types:?}"));
        }
        if let (Some(min), Some(x)) = (schema["minimum"].as_f64(), v.as_f64())
            && x < min
        {
            out.push(format!("{at}: {x} < {min}"));
        }
        if let Some(items) = v.as_array() {
            let len = items.len() as u64;
            if schema["minItems"].as_u64().is_some_and(|m| len < m)
                || schema["maxItems"].as_u64().is_some_and(|m| len > m)
            {
                out.push(format!("{at}: {len} items"));
            }
            for (i, item) in items.iter().enumerate() {
                violations(item, &schema["items"], &format!("{at}[{i}]"), out);
            }
        }
        if let Some(fields) = v.as_object() {
            for (key, value) in fields {
                match schema["properties"].get(key) {
                    Some(s) => violations(value, s, &format!("{at}.{key}"), out),
                    None if schema["additionalProperties"] == false => {
                        out.push(format!("{at}: unexpected `{key}`"))
                    }
                    None => {}
                }
            }
            for key in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                if !fields.contains_key(key) {
                    out.push(format!("{at}: `{key}` missing"));
                }
            }
        }
    }

    fn to<T: Serialize>(message: &T) -> Value {
        serde_json::to_value(message).expect("serialises")
    }

    fn biped() -> MessageLayout {
        MessageLayout::of(&strider_robot::RobotSpec::reference())
    }

    fn check(topic: &str, v: Value) -> Vec<String> {
        let (_, _, schema) = schemas(&biped()).into_iter().find(|(t, _, _)| *t == topic).expect("a topic");
        let mut out = vec![];
        violations(&v, &schema, topic, &mut out);
        out
    }

    fn observation(joint_vel: JointValues) -> ObservationMsg {
        ObservationMsg {
            episode: 2,
            tick: 9,
            plant_time_s: 0.18,
            joint_pos: JointValues::zeros(6),
            joint_vel,
            imu: ImuValues::from([f32::NEG_INFINITY, 0.3]),
            foot_contact: Contacts::from([false, true]),
            command: CommandValues::from([1.0]),
        }
    }

    fn sample() -> (JointValues, SimState, Timing) {
        let joints = JointValues::from([0.1, -0.2, f32::NAN, 0.4, f32::INFINITY, 0.6]);
        let state = SimState {
            torso_x: 1.0,
            fallen: true,
            foot_contact: Contacts::from([true, false]),
            ..SimState::default()
        };
        let timing = Timing { tick_start_ns: 20_000_000, decide_us: 310.5, deadline_missed: false };
        (joints, state, timing)
    }

    /// Every message type, serialised as the writer does — optional fields present and
    /// absent, non-finite floats included — fits its channel's published schema.
    #[test]
    fn every_message_the_writer_writes_fits_its_published_schema() {
        let (joints, state, timing) = sample();
        let layout = biped();
        let keyed = |text: Result<String, String>| -> Value { serde_json::from_str(&text.unwrap()).unwrap() };
        let messages: Vec<(&str, Value)> = vec![
            (EPISODE_TOPIC, to(&EpisodeStart { episode: 2, seed: Some(7), conditions: "flat".into() })),
            (EPISODE_TOPIC, to(&EpisodeStart { episode: 2, seed: None, conditions: String::new() })),
            (OBSERVATION_TOPIC, keyed(observation(joints).to_json(&layout))),
            (
                ACTION_TOPIC,
                to(&ActionMsg { episode: 2, tick: 9, joint_target: joints, applied: None, surprise: None }),
            ),
            (
                ACTION_TOPIC,
                to(&ActionMsg {
                    episode: 2,
                    tick: 9,
                    joint_target: joints,
                    applied: Some(joints),
                    surprise: Some(3.5),
                }),
            ),
            (
                COMMAND_TOPIC,
                keyed(
                    CommandMsg { episode: 2, tick: 9, command: CommandValues::from([-0.3]) }.to_json(&layout),
                ),
            ),
            (SIM_STATE_TOPIC, to(&SimStateMsg { episode: 2, tick: 9, state })),
            (TIMING_TOPIC, to(&TimingMsg { episode: 2, tick: 9, timing })),
        ];
        for (topic, v) in &messages {
            assert_eq!(check(topic, v.clone()), Vec::<String>::new(), "{topic}: {v}");
        }
        // The check can fail: a field the schema does not know, a short array, a missing one.
        let mut v = messages[2].1.clone();
        v["extra"] = 1.into();
        v["joint_pos"].as_array_mut().unwrap().pop();
        v.as_object_mut().unwrap().remove("tick");
        assert_eq!(check(OBSERVATION_TOPIC, v).len(), 3);
    }

    /// The reference biped's messages are, byte for byte, what the build before layouts
    /// (fixed six joints, `torso_pitch`, `command_vx` fields) wrote for the same values.
    #[test]
    fn the_biped_messages_are_the_bytes_written_before_layouts() {
        let (joints, state, _) = sample();
        let layout = biped();
        let obs = observation(joints);
        let action = ActionMsg { episode: 2, tick: 9, joint_target: joints, applied: None, surprise: None };
        let applied = ActionMsg { applied: Some(joints), surprise: Some(3.5), ..action.clone() };
        let command = CommandMsg { episode: 2, tick: 9, command: CommandValues::from([-0.3]) };
        let written = [
            obs.to_json(&layout).unwrap(),
            serde_json::to_string(&action).unwrap(),
            serde_json::to_string(&applied).unwrap(),
            command.to_json(&layout).unwrap(),
            serde_json::to_string(&SimStateMsg { episode: 2, tick: 9, state }).unwrap(),
        ];
        let before = [
            r#"{"episode":2,"tick":9,"plant_time_s":0.18,"joint_pos":[0.0,0.0,0.0,0.0,0.0,0.0],"joint_vel":[0.1,-0.2,"NaN",0.4,"Infinity",0.6],"torso_pitch":"-Infinity","torso_pitch_rate":0.3,"foot_contact":[false,true],"command_vx":1.0}"#,
            r#"{"episode":2,"tick":9,"joint_target":[0.1,-0.2,"NaN",0.4,"Infinity",0.6]}"#,
            r#"{"episode":2,"tick":9,"joint_target":[0.1,-0.2,"NaN",0.4,"Infinity",0.6],"applied":[0.1,-0.2,"NaN",0.4,"Infinity",0.6],"surprise":3.5}"#,
            r#"{"episode":2,"tick":9,"command_vx":-0.3}"#,
            r#"{"episode":2,"tick":9,"torso_x":1.0,"torso_y":0.0,"height":0.0,"pitch":0.0,"com_x":0.0,"com_y":0.0,"com_vx":0.0,"com_vy":0.0,"foot_contact":[true,false],"fallen":true}"#,
        ];
        assert_eq!(written, before);
        // And they read back as written (a NaN as the canonical NaN, which compares unequal).
        let read = ObservationMsg::from_json(&layout, before[0].as_bytes()).unwrap();
        assert_eq!(read.to_json(&layout).unwrap(), before[0]);
        assert_eq!(CommandMsg::from_json(&layout, before[3].as_bytes()).unwrap(), command);
    }

    /// A message of another layout is refused naming the key or the count.
    #[test]
    fn a_message_of_another_layout_is_refused_saying_what_differs() {
        let layout = biped();
        let obs = observation(JointValues::zeros(6));
        let err = |json: String| ObservationMsg::from_json(&layout, json.as_bytes()).unwrap_err();
        let text = obs.to_json(&layout).unwrap();
        let e = err(text.replace("torso_pitch_rate", "torso_roll_rate"));
        assert!(e.starts_with("unknown field `torso_roll_rate`, expected one of `episode`, `tick`"), "{e}");
        let e = err(text.replace(r#","command_vx":1.0"#, ""));
        assert!(e.starts_with("missing field `command_vx`"), "{e}");
        let e = err(text.replace(r#""joint_pos":[0.0,"#, r#""joint_pos":["#));
        assert!(e.starts_with("joint_pos: 5 values, but the log's layout has 6 joints"), "{e}");
        let e = err(text.replace(r#""tick":9,"#, r#""tick":9,"tick":9,"#));
        assert!(e.starts_with("duplicate field `tick`"), "{e}");
        let e = err(text.replace("[false,true]", "[false,true,true]"));
        assert!(e.starts_with("foot_contact: 3 values, but the log's layout has 2 contacts"), "{e}");
        let short = ObservationMsg { imu: ImuValues::from([0.1]), ..obs.clone() };
        assert_eq!(
            short.to_json(&layout).unwrap_err(),
            "IMU: 1 values, but the log's layout has 2 IMU fields"
        );
        let e = CommandMsg::from_json(&layout, br#"{"episode":0,"tick":0,"command_vx":1,"joint_pos":[]}"#)
            .unwrap_err();
        assert!(
            e.starts_with("unknown field `joint_pos`, expected one of `episode`, `tick`, `command_vx`"),
            "{e}"
        );
    }
}
