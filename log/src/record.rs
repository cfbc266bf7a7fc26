//! The messages of each channel (their JSON form) and the JSON schema of each.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use strider_robot::{Action, NUM_JOINTS, Observation, Sensors};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationMsg {
    pub episode: u32,
    pub tick: u64,
    /// Plant time at the measurement, s (simulated time in the simulator).
    #[serde(with = "crate::float")]
    pub plant_time_s: f64,
    #[serde(with = "crate::float")]
    pub joint_pos: [f32; NUM_JOINTS],
    #[serde(with = "crate::float")]
    pub joint_vel: [f32; NUM_JOINTS],
    #[serde(with = "crate::float")]
    pub torso_pitch: f32,
    #[serde(with = "crate::float")]
    pub torso_pitch_rate: f32,
    pub foot_contact: [bool; 2],
    #[serde(with = "crate::float")]
    pub command_vx: f32,
}

/// The action decided at a tick: the label a policy learns. `applied` is what was actually
/// sent when it differs (noise injection during collection, safety clamps).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionMsg {
    pub episode: u32,
    pub tick: u64,
    #[serde(with = "crate::float")]
    pub joint_target: [f32; NUM_JOINTS],
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::float")]
    pub applied: Option<[f32; NUM_JOINTS]>,
    /// The pilot's surprise at this tick's observation (the largest over the measured sensor
    /// fields of its prediction error in that field's typical error); run logs of a policy only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surprise: Option<f32>,
}

/// The operator's command in force at a tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandMsg {
    pub episode: u32,
    pub tick: u64,
    #[serde(with = "crate::float")]
    pub command_vx: f32,
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
    pub foot_contact: [bool; 2],
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
            torso_pitch: s.torso_pitch,
            torso_pitch_rate: s.torso_pitch_rate,
            foot_contact: s.foot_contact,
            command_vx: obs.command_vx,
        }
    }

    pub fn observation(&self) -> Observation {
        Observation::new(
            Sensors {
                joint_pos: self.joint_pos,
                joint_vel: self.joint_vel,
                torso_pitch: self.torso_pitch,
                torso_pitch_rate: self.torso_pitch_rate,
                foot_contact: self.foot_contact,
            },
            self.command_vx,
        )
    }
}

impl ActionMsg {
    pub fn action(&self) -> Action {
        Action { joint_target: self.joint_target }
    }
}

/// The JSON schema (draft 2020-12) of every channel, by topic, with its schema name, as
/// this build writes them.
pub fn schemas() -> [(&'static str, &'static str, Value); 6] {
    schemas_of(FORMAT_VERSION).expect("this build's format version has schemas")
}

/// The channel schemas of a file of `format_version`, or `None` for a version this build
/// cannot read. Version 1 wrote only finite floats, as JSON numbers; version 2 writes a
/// non-finite one as a string (`float.rs`), so its float fields accept both.
pub fn schemas_of(format_version: u32) -> Option<[(&'static str, &'static str, Value); 6]> {
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
    let joints = |desc: &str, unit: &str| {
        json!({"type": "array", "items": element, "minItems": NUM_JOINTS, "maxItems": NUM_JOINTS,
               "description": format!("{desc}, {unit}, in joint order (right hip, knee, ankle, left hip, knee, ankle)")})
    };
    let contacts = json!({"type": "array", "items": {"type": "boolean"}, "minItems": 2, "maxItems": 2,
                          "description": "contact switches, right then left"});
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
        (
            OBSERVATION_TOPIC,
            "strider.Observation",
            object(
                "strider.Observation",
                json!({"episode": episode, "tick": tick,
                       "plant_time_s": num("plant time at the measurement, s"),
                       "joint_pos": joints("joint angles", "rad"), "joint_vel": joints("joint velocities", "rad/s"),
                       "torso_pitch": num("torso pitch, rad, counter-clockwise positive (leaning back)"),
                       "torso_pitch_rate": num("torso pitch rate, rad/s"),
                       "foot_contact": contacts, "command_vx": num("commanded forward velocity, m/s")}),
                &[],
            ),
        ),
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
        (
            COMMAND_TOPIC,
            "strider.Command",
            object(
                "strider.Command",
                json!({"episode": episode, "tick": tick, "command_vx": num("commanded forward velocity, m/s")}),
                &[],
            ),
        ),
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

    fn check(topic: &str, v: Value) -> Vec<String> {
        let (_, _, schema) = schemas().into_iter().find(|(t, _, _)| *t == topic).expect("a topic");
        let mut out = vec![];
        violations(&v, &schema, topic, &mut out);
        out
    }

    /// Every message type, serialised by serde as the writer does — optional fields present
    /// and absent, non-finite floats included — fits its channel's published schema.
    #[test]
    fn every_message_serde_writes_fits_its_published_schema() {
        let joints = [0.1, -0.2, f32::NAN, 0.4, f32::INFINITY, 0.6];
        let state =
            SimState { torso_x: 1.0, fallen: true, foot_contact: [true, false], ..SimState::default() };
        let timing = Timing { tick_start_ns: 20_000_000, decide_us: 310.5, deadline_missed: false };
        let messages: Vec<(&str, Value)> = vec![
            (EPISODE_TOPIC, to(&EpisodeStart { episode: 2, seed: Some(7), conditions: "flat".into() })),
            (EPISODE_TOPIC, to(&EpisodeStart { episode: 2, seed: None, conditions: String::new() })),
            (
                OBSERVATION_TOPIC,
                to(&ObservationMsg {
                    episode: 2,
                    tick: 9,
                    plant_time_s: 0.18,
                    joint_pos: [0.0; NUM_JOINTS],
                    joint_vel: joints,
                    torso_pitch: f32::NEG_INFINITY,
                    torso_pitch_rate: 0.3,
                    foot_contact: [false, true],
                    command_vx: 1.0,
                }),
            ),
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
            (COMMAND_TOPIC, to(&CommandMsg { episode: 2, tick: 9, command_vx: -0.3 })),
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
}
