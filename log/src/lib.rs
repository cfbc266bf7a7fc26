//! Trajectory logs: MCAP files with JSON-schema channels, written crash-tolerantly and read
//! back as episodes of typed ticks.
//!
//! This crate owns the log format (channels, schemas, metadata; see `docs/LOGS.md`), the
//! [`LogWriter`] and the [`Log`] reader with its contract check. It does not decide what to
//! record or when (the controller and the `collect` command do), and it never runs a plant.
//! The `mcap` crate is imported here and nowhere else; `parquet` only in `lerobot.rs`, the
//! LeRobot export.

mod error;
mod float;
mod layout;
mod lerobot;
mod meta;
mod reader;
mod record;
mod summary;
mod writer;

pub use error::LogError;
pub use layout::MessageLayout;
pub use lerobot::{ExportSummary, export_lerobot};
pub use meta::{FORMAT_VERSION, LogMeta, METADATA_NAME, OLDEST_READABLE_VERSION};
pub use reader::{Episode, Log, Tick};
pub use record::{
    ACTION_TOPIC, ActionMsg, COMMAND_TOPIC, CommandMsg, EPISODE_TOPIC, EpisodeStart, OBSERVATION_TOPIC,
    ObservationMsg, SIM_STATE_TOPIC, SimState, TIMING_TOPIC, Timing, schemas, schemas_of,
};
pub use summary::{FieldStats, JITTER_EDGES_US, LogSummary, NamedStats};
pub use writer::{LogWriter, TickRecord, WriterOptions, now_ns};
