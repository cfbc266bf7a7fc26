//! The metadata record: what produced the log, for which robot contract.

use std::collections::BTreeMap;
use std::str::FromStr;

use strider_robot::{ContractId, RobotSpec};

use crate::error::LogError;

/// Name of the MCAP metadata record Strider writes.
pub const METADATA_NAME: &str = "strider";
/// Version of the channel layout this build writes; bumped when a schema changes so that an
/// older reader would misread a new file. Version 2 writes a non-finite float as a string
/// (`"NaN"`, `"Infinity"`, `"-Infinity"`); version 1 files, whose floats are all numbers,
/// are still read.
pub const FORMAT_VERSION: u32 = 2;
/// The oldest version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// What produced a log. Stored as one MCAP metadata record (string key/value pairs).
#[derive(Debug, Clone, PartialEq)]
pub struct LogMeta {
    pub format_version: u32,
    pub contract_id: ContractId,
    pub robot: String,
    pub physics_hz: u32,
    pub control_hz: u32,
    /// Observation field names in layout order.
    pub observation_fields: Vec<String>,
    pub action_fields: Vec<String>,
    /// The scenario, as its TOML text or a name.
    pub scenario: String,
    /// Base seed of the run, if seeded.
    pub seed: Option<u64>,
    /// What decided the actions: `expert`, a model path and hash, …
    pub controller: String,
    pub software_version: String,
}

impl LogMeta {
    pub fn new(spec: &RobotSpec, controller: &str, scenario: &str, seed: Option<u64>) -> LogMeta {
        LogMeta {
            format_version: FORMAT_VERSION,
            contract_id: spec.contract_id(),
            robot: spec.name.clone(),
            physics_hz: spec.physics.physics_hz,
            control_hz: spec.control.control_hz,
            observation_fields: spec.observation_layout().into_iter().map(|f| f.name).collect(),
            action_fields: spec.action_layout().into_iter().map(|f| f.name).collect(),
            scenario: scenario.to_string(),
            seed,
            controller: controller.to_string(),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    pub(crate) fn to_map(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: String| {
            m.insert(k.to_string(), v);
        };
        put("format_version", self.format_version.to_string());
        put("contract_id", self.contract_id.to_string());
        put("robot", self.robot.clone());
        put("physics_hz", self.physics_hz.to_string());
        put("control_hz", self.control_hz.to_string());
        put("observation_fields", self.observation_fields.join(","));
        put("action_fields", self.action_fields.join(","));
        put("scenario", self.scenario.clone());
        put("seed", self.seed.map_or_else(String::new, |s| s.to_string()));
        put("controller", self.controller.clone());
        put("software_version", self.software_version.clone());
        m
    }

    pub(crate) fn from_map(file: &str, m: &BTreeMap<String, String>) -> Result<LogMeta, LogError> {
        let get = |key: &str| {
            m.get(key).ok_or_else(|| LogError::Metadata {
                file: file.to_string(),
                key: key.to_string(),
                problem: "missing".into(),
            })
        };
        fn parse<T: FromStr>(file: &str, key: &str, v: &str) -> Result<T, LogError> {
            v.parse().map_err(|_| LogError::Metadata {
                file: file.to_string(),
                key: key.to_string(),
                problem: format!("{v:?}, which does not parse"),
            })
        }
        let list = |v: &String| v.split(',').filter(|s| !s.is_empty()).map(String::from).collect();
        let format_version: u32 = parse(file, "format_version", get("format_version")?)?;
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&format_version) {
            return Err(LogError::Metadata {
                file: file.to_string(),
                key: "format_version".into(),
                problem: format!(
                    "{format_version}; this build reads versions {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}: use a Strider that reads it"
                ),
            });
        }
        let seed = get("seed")?;
        Ok(LogMeta {
            format_version,
            contract_id: parse(file, "contract_id", get("contract_id")?)?,
            robot: get("robot")?.clone(),
            physics_hz: parse(file, "physics_hz", get("physics_hz")?)?,
            control_hz: parse(file, "control_hz", get("control_hz")?)?,
            observation_fields: list(get("observation_fields")?),
            action_fields: list(get("action_fields")?),
            scenario: get("scenario")?.clone(),
            seed: if seed.is_empty() { None } else { Some(parse(file, "seed", seed)?) },
            controller: get("controller")?.clone(),
            software_version: get("software_version")?.clone(),
        })
    }
}
