//! Writing a log: one MCAP file, chunked and zstd-compressed, with a chunk closed and
//! handed to the OS at least every `flush_every_ticks` ticks so a killed writer loses at
//! most that much.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::LogError;
use crate::layout::MessageLayout;
use crate::meta::LogMeta;
use crate::record::{
    ACTION_TOPIC, ActionMsg, COMMAND_TOPIC, CommandMsg, EPISODE_TOPIC, EpisodeStart, OBSERVATION_TOPIC,
    ObservationMsg, SIM_STATE_TOPIC, SimState, SimStateMsg, TIMING_TOPIC, Timing, TimingMsg, schemas,
};

/// Options of a [`LogWriter`].
#[derive(Debug, Clone)]
pub struct WriterOptions {
    /// Close the current chunk and hand it to the OS after this many ticks (default 50:
    /// one second at 50 Hz). A killed writer loses at most this much.
    pub flush_every_ticks: u32,
    /// zstd level (default 3).
    pub zstd_level: u32,
}

impl Default for WriterOptions {
    fn default() -> WriterOptions {
        WriterOptions { flush_every_ticks: 50, zstd_level: 3 }
    }
}

/// Everything recorded at one control tick. `observation` is required; the rest is what
/// the source has (a serial robot has no `sim_state`; an observation-only log no `action`).
/// Its counts (joints, IMU fields, contacts, command components) are the log's layout.
#[derive(Debug, Clone)]
pub struct TickRecord {
    pub episode: u32,
    pub tick: u64,
    /// Real (wall-clock) time of the measurement, ns since the Unix epoch; see [`now_ns`].
    pub log_time_ns: u64,
    pub observation: ObservationMsg,
    pub action: Option<ActionMsg>,
    pub sim_state: Option<SimState>,
    pub timing: Option<Timing>,
}

/// Wall-clock time now, ns since the Unix epoch.
pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// An open log file. Call [`LogWriter::finish`] to write the summary and index.
pub struct LogWriter {
    file: String,
    mcap: mcap::Writer<BufWriter<File>>,
    channels: BTreeMap<&'static str, u16>,
    /// The layout of the metadata's observation fields: every message's keys and counts.
    layout: MessageLayout,
    sequence: u32,
    ticks_in_chunk: u32,
    options: WriterOptions,
}

impl LogWriter {
    /// Creates `path` (never overwriting an existing file) and writes the metadata record.
    /// The channel schemas and every message follow the layout of `meta`'s observation fields.
    pub fn create(path: &Path, meta: &LogMeta, options: WriterOptions) -> Result<LogWriter, LogError> {
        let file = path.display().to_string();
        let layout = MessageLayout::from_meta(&file, meta)?;
        let handle = OpenOptions::new().write(true).create_new(true).open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                LogError::Exists { file: file.clone() }
            } else {
                LogError::Io { file: file.clone(), message: format!("cannot create: {e}") }
            }
        })?;
        let mcap_err = |e: mcap::McapError| LogError::Mcap { file: file.clone(), message: e.to_string() };
        let mut mcap = mcap::WriteOptions::new()
            .profile("")
            .library(format!("strider {}", env!("CARGO_PKG_VERSION")))
            .compression(Some(mcap::Compression::Zstd))
            .compression_level(options.zstd_level)
            .chunk_size(None)
            .create(BufWriter::new(handle))
            .map_err(mcap_err)?;
        mcap.write_metadata(&mcap::records::Metadata {
            name: crate::meta::METADATA_NAME.into(),
            metadata: meta.to_map(),
        })
        .map_err(mcap_err)?;
        let mut channels = BTreeMap::new();
        for (topic, name, schema) in schemas(&layout) {
            let schema_id =
                mcap.add_schema(name, "jsonschema", schema.to_string().as_bytes()).map_err(mcap_err)?;
            let channel = mcap.add_channel(schema_id, topic, "json", &BTreeMap::new()).map_err(mcap_err)?;
            channels.insert(topic, channel);
        }
        Ok(LogWriter { file, mcap, channels, layout, sequence: 0, ticks_in_chunk: 0, options })
    }

    pub fn begin_episode(&mut self, start: &EpisodeStart) -> Result<(), LogError> {
        self.write_message(EPISODE_TOPIC, now_ns(), start)
    }

    /// Writes one tick; refused, naming the channel and what differs, when a count is not
    /// the log's layout (nothing of that tick is written then).
    pub fn write_tick(&mut self, t: &TickRecord) -> Result<(), LogError> {
        let (episode, tick) = (t.episode, t.tick);
        let refused = |topic: &str, problem: String| LogError::Message {
            file: self.file.clone(),
            topic: topic.to_string(),
            sequence: self.sequence,
            problem,
        };
        if let Some(problem) = t.action.as_ref().and_then(|a| a.misfit(&self.layout)) {
            return Err(refused(ACTION_TOPIC, problem));
        }
        if let Some(problem) = t.sim_state.and_then(|s| s.misfit(&self.layout)) {
            return Err(refused(SIM_STATE_TOPIC, problem));
        }
        let observation = t.observation.to_json(&self.layout).map_err(|p| refused(OBSERVATION_TOPIC, p))?;
        let command = CommandMsg { episode, tick, command: t.observation.command };
        let command = command.to_json(&self.layout).map_err(|p| refused(COMMAND_TOPIC, p))?;
        self.write(OBSERVATION_TOPIC, t.log_time_ns, observation.as_bytes())?;
        self.write(COMMAND_TOPIC, t.log_time_ns, command.as_bytes())?;
        if let Some(action) = &t.action {
            self.write_message(ACTION_TOPIC, t.log_time_ns, action)?;
        }
        if let Some(state) = t.sim_state {
            self.write_message(SIM_STATE_TOPIC, t.log_time_ns, &SimStateMsg { episode, tick, state })?;
        }
        if let Some(timing) = t.timing {
            self.write_message(TIMING_TOPIC, t.log_time_ns, &TimingMsg { episode, tick, timing })?;
        }
        self.ticks_in_chunk += 1;
        if self.ticks_in_chunk >= self.options.flush_every_ticks {
            self.flush()?;
        }
        Ok(())
    }

    /// Closes the current chunk and hands everything written so far to the OS.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.ticks_in_chunk = 0;
        self.mcap.flush().map_err(|e| LogError::Mcap { file: self.file.clone(), message: e.to_string() })
    }

    /// Writes the summary section and closes the file.
    pub fn finish(mut self) -> Result<(), LogError> {
        self.mcap.finish().map_err(|e| LogError::Mcap { file: self.file.clone(), message: e.to_string() })?;
        Ok(())
    }

    fn write_message<T: Serialize>(
        &mut self,
        topic: &'static str,
        log_time: u64,
        msg: &T,
    ) -> Result<(), LogError> {
        let data = serde_json::to_vec(msg).expect("log messages always serialise");
        self.write(topic, log_time, &data)
    }

    fn write(&mut self, topic: &'static str, log_time: u64, data: &[u8]) -> Result<(), LogError> {
        let header = mcap::records::MessageHeader {
            channel_id: self.channels[topic],
            sequence: self.sequence,
            log_time,
            publish_time: log_time,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.mcap
            .write_to_known_channel(&header, data)
            .map_err(|e| LogError::Mcap { file: self.file.clone(), message: e.to_string() })
    }
}
