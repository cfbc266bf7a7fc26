//! Reading a log back as episodes of typed ticks, including the complete chunks of a file
//! whose writer was killed.

use std::path::Path;

use mcap::read::{LinearReader, MessageStream, Options};
use mcap::records::Record;
use serde::de::DeserializeOwned;
use strider_robot::{Observation, RobotSpec};

use crate::error::LogError;
use crate::layout::MessageLayout;
use crate::meta::{LogMeta, METADATA_NAME};
use crate::record::{
    ACTION_TOPIC, ActionMsg, COMMAND_TOPIC, EPISODE_TOPIC, EpisodeStart, OBSERVATION_TOPIC, ObservationMsg,
    SIM_STATE_TOPIC, SimState, SimStateMsg, TIMING_TOPIC, Timing, TimingMsg, schemas_of,
};

/// A log read into memory.
#[derive(Debug, Clone)]
pub struct Log {
    pub file: String,
    pub meta: LogMeta,
    pub episodes: Vec<Episode>,
    /// `None` for a cleanly finished file; otherwise why reading stopped early (a writer
    /// killed mid-run leaves its last, incomplete chunk unreadable).
    pub truncated: Option<String>,
    /// The layout of the metadata's observation fields, which every message follows.
    pub layout: MessageLayout,
}

#[derive(Debug, Clone)]
pub struct Episode {
    pub start: EpisodeStart,
    pub ticks: Vec<Tick>,
}

/// One control tick as recorded.
#[derive(Debug, Clone)]
pub struct Tick {
    pub tick: u64,
    /// Real time of the measurement, ns since the Unix epoch.
    pub log_time_ns: u64,
    pub plant_time_s: f64,
    pub observation: Observation,
    /// The decided action (label), if the log has actions.
    pub action: Option<ActionMsg>,
    pub sim_state: Option<SimState>,
    pub timing: Option<Timing>,
}

impl Log {
    /// Reads `path`. A file without its footer (killed writer) is read up to its last
    /// complete chunk and `truncated` says so. Its messages are read with the layout of its
    /// own metadata (`observation_fields`); [`Log::check_against`] says whether that is a
    /// given robot's.
    pub fn read(path: &Path) -> Result<Log, LogError> {
        let file = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| LogError::Io { file: file.clone(), message: format!("cannot read: {e}") })?;
        let meta = read_meta(&file, &bytes)?;
        let layout = MessageLayout::from_meta(&file, &meta)?;
        let stream = MessageStream::new_with_options(&bytes, Options::IgnoreEndMagic.into())
            .map_err(|e| LogError::Mcap { file: file.clone(), message: e.to_string() })?;

        let expected = schemas_of(meta.format_version, &layout).expect("the metadata's version was checked");
        let mut log = Log { file: file.clone(), meta, episodes: Vec::new(), truncated: None, layout };
        let mut checked = std::collections::HashSet::new();
        for message in stream {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    log.truncated = Some(e.to_string());
                    break;
                }
            };
            let topic = message.channel.topic.clone();
            if checked.insert(message.channel.id) {
                check_schema(&file, &topic, message.channel.schema.as_deref(), &expected)?;
            }
            log.add(&topic, message.sequence, message.log_time, &message.data)?;
        }
        if log.truncated.is_none() && mcap::read::footer(&bytes).is_err() {
            log.truncated = Some("the file ends without its footer: the writer never finished".into());
        }
        Ok(log)
    }

    /// Refuses a log recorded for another robot layout, naming both contract ids and the
    /// first differing field, or both contract ids alone when only they differ.
    pub fn check_against(&self, spec: &RobotSpec) -> Result<(), LogError> {
        let (log_contract, robot_contract) = (self.meta.contract_id, spec.contract_id());
        for (kind, log, robot) in [
            ("observation", &self.meta.observation_fields, spec.observation_layout()),
            ("action", &self.meta.action_fields, spec.action_layout()),
        ] {
            let robot: Vec<String> = robot.into_iter().map(|f| f.name).collect();
            let n = log.len().max(robot.len());
            for index in 0..n {
                let (l, r) = (log.get(index), robot.get(index));
                if l != r {
                    return Err(LogError::FieldMismatch {
                        file: self.file.clone(),
                        log_contract,
                        robot_contract,
                        kind,
                        index,
                        log: l.cloned().unwrap_or_else(|| "(none)".into()),
                        robot: r.cloned().unwrap_or_else(|| "(none)".into()),
                    });
                }
            }
        }
        if log_contract != robot_contract {
            return Err(LogError::ContractMismatch {
                file: self.file.clone(),
                log: log_contract,
                robot: robot_contract,
            });
        }
        Ok(())
    }

    /// Total ticks over all episodes.
    pub fn tick_count(&self) -> usize {
        self.episodes.iter().map(|e| e.ticks.len()).sum()
    }

    /// True when any tick carries an action.
    pub fn has_actions(&self) -> bool {
        self.episodes.iter().flat_map(|e| &e.ticks).any(|t| t.action.is_some())
    }

    fn add(&mut self, topic: &str, sequence: u32, log_time_ns: u64, data: &[u8]) -> Result<(), LogError> {
        let file = self.file.clone();
        let bad = |problem: String| LogError::Message {
            file: file.clone(),
            topic: topic.to_string(),
            sequence,
            problem,
        };
        match topic {
            EPISODE_TOPIC => {
                let start: EpisodeStart = decode(data).map_err(bad)?;
                if start.episode as usize != self.episodes.len() {
                    return Err(bad(format!(
                        "episode {} follows {} episodes",
                        start.episode,
                        self.episodes.len()
                    )));
                }
                self.episodes.push(Episode { start, ticks: Vec::new() });
            }
            OBSERVATION_TOPIC => {
                let m = ObservationMsg::from_json(&self.layout, data).map_err(bad)?;
                let ep = self.episode(m.episode).map_err(bad)?;
                if m.tick != ep.ticks.len() as u64 {
                    return Err(bad(format!("tick {} follows {} ticks", m.tick, ep.ticks.len())));
                }
                ep.ticks.push(Tick {
                    tick: m.tick,
                    log_time_ns,
                    plant_time_s: m.plant_time_s,
                    observation: m.observation(),
                    action: None,
                    sim_state: None,
                    timing: None,
                });
            }
            ACTION_TOPIC => {
                let m: ActionMsg = decode(data).map_err(bad)?;
                if let Some(problem) = m.misfit(&self.layout) {
                    return Err(bad(problem));
                }
                let (episode, tick) = (m.episode, m.tick);
                self.tick(episode, tick).map_err(bad)?.action = Some(m);
            }
            COMMAND_TOPIC => {
                // The command is also in the observation; the channel exists for plotting.
            }
            SIM_STATE_TOPIC => {
                let m: SimStateMsg = decode(data).map_err(bad)?;
                if let Some(problem) = m.state.misfit(&self.layout) {
                    return Err(bad(problem));
                }
                self.tick(m.episode, m.tick).map_err(bad)?.sim_state = Some(m.state);
            }
            TIMING_TOPIC => {
                let m: TimingMsg = decode(data).map_err(bad)?;
                self.tick(m.episode, m.tick).map_err(bad)?.timing = Some(m.timing);
            }
            other => return Err(bad(format!("unknown channel {other}"))),
        }
        Ok(())
    }

    fn episode(&mut self, episode: u32) -> Result<&mut Episode, String> {
        self.episodes.get_mut(episode as usize).ok_or_else(|| format!("episode {episode} was never started"))
    }

    fn tick(&mut self, episode: u32, tick: u64) -> Result<&mut Tick, String> {
        self.episode(episode)?
            .ticks
            .get_mut(tick as usize)
            .ok_or_else(|| format!("tick {tick} of episode {episode} has no observation before it"))
    }
}

fn decode<T: DeserializeOwned>(data: &[u8]) -> Result<T, String> {
    serde_json::from_slice(data).map_err(|e| e.to_string())
}

fn read_meta(file: &str, bytes: &[u8]) -> Result<LogMeta, LogError> {
    let reader = LinearReader::new_with_options(bytes, Options::IgnoreEndMagic.into())
        .map_err(|e| LogError::Mcap { file: file.to_string(), message: e.to_string() })?;
    for record in reader {
        match record {
            Ok(Record::Metadata(m)) if m.name == METADATA_NAME => {
                return LogMeta::from_map(file, &m.metadata);
            }
            Ok(_) => {}
            Err(e) => return Err(LogError::Mcap { file: file.to_string(), message: e.to_string() }),
        }
    }
    Err(LogError::NotAStriderLog { file: file.to_string() })
}

fn check_schema(
    file: &str,
    topic: &str,
    schema: Option<&mcap::Schema>,
    expected: &[(&str, &str, serde_json::Value)],
) -> Result<(), LogError> {
    let problem =
        |p: String| LogError::Schema { file: file.to_string(), topic: topic.to_string(), problem: p };
    let Some((_, name, want)) = expected.iter().find(|(t, _, _)| *t == topic) else {
        return Err(problem("not a Strider channel".into()));
    };
    let Some(schema) = schema else { return Err(problem("has no schema".into())) };
    if schema.name != *name || schema.encoding != "jsonschema" {
        return Err(problem(format!(
            "schema {} ({}), expected {name} (jsonschema)",
            schema.name, schema.encoding
        )));
    }
    let found: serde_json::Value =
        serde_json::from_slice(&schema.data).map_err(|e| problem(format!("schema is not JSON: {e}")))?;
    if found != *want {
        return Err(problem(format!(
            "schema {name} differs from this build's; the log needs a matching Strider version"
        )));
    }
    Ok(())
}
