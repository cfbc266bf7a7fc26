//! What the host side (driver, virtual robot) can fail at. Every variant names what it found.

use strider_robot::{ContractId, PlantError};

use crate::error::FrameError;
use crate::wire::Counts;

/// A failure of the serial link on the host side.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    #[error("{port}: cannot open: {message} (is the robot plugged in, and is the path right?)")]
    Open { port: String, message: String },
    #[error("{port}: no HelloAck within {waited_ms} ms (is the robot powered, and the baud rate {baud}?)")]
    HandshakeTimeout { port: String, waited_ms: u64, baud: u32 },
    #[error(
        "{port}: protocol version mismatch: host speaks {host}, robot speaks {robot}; update the older side"
    )]
    VersionMismatch { port: String, host: u8, robot: u8 },
    #[error(
        "{port}: robot contract mismatch: host expects {host} ({host_counts}), robot is {robot} ({robot_counts}); run with the --robot file this robot implements"
    )]
    ContractMismatch {
        port: String,
        host: ContractId,
        robot: ContractId,
        host_counts: Counts,
        robot_counts: Counts,
    },
    #[error(
        "{port}: frame counts mismatch: host expects {host}, robot announces {robot} under the same contract id; the robot's firmware disagrees with its own description"
    )]
    CountsMismatch { port: String, host: Counts, robot: Counts },
    #[error("{port}: {field} mismatch: host expects {host}, robot reports {robot}")]
    SpecMismatch { port: String, field: &'static str, host: u32, robot: u32 },
    #[error("{port}: link lost: {reason}")]
    Disconnected { port: String, reason: String },
    #[error("no sensor frame acknowledging command {seq} within {limit_ms} ms")]
    Timeout { seq: u16, limit_ms: u64 },
    #[error("the robot left Run by itself (now in mode {mode}{}); damp, then home again", if *watchdog { ", its command watchdog fired" } else { "" })]
    LeftRun { mode: u8, watchdog: bool },
    #[error("robot rejected command {seq}: fault code {code}, detail {detail}")]
    Rejected { seq: u16, code: u16, detail: u32 },
    #[error("cannot encode a frame: {0}")]
    Frame(#[from] FrameError),
    #[error("robot `{robot}`: its layout does not fit a frame: {problem}")]
    Layout { robot: String, problem: FrameError },
    #[error("an action of {found} joint targets for a robot of {expected} joints")]
    ActionLength { expected: usize, found: usize },
    #[error("pseudo-terminal: {0}")]
    Pty(String),
    #[error("fault spec {spec:?}: {problem}")]
    BadFaultSpec { spec: String, problem: String },
}

impl From<LinkError> for PlantError {
    fn from(e: LinkError) -> PlantError {
        match e {
            LinkError::Timeout { limit_ms, .. } => PlantError::Timeout { waited_ms: limit_ms, limit_ms },
            LinkError::Rejected { code, detail, .. } => {
                PlantError::Fault { code, detail: format!("robot rejected the command (detail {detail})") }
            }
            e @ LinkError::LeftRun { watchdog, .. } => PlantError::Fault {
                code: if watchdog { crate::wire::fault::WATCHDOG } else { 0 },
                detail: e.to_string(),
            },
            e @ (LinkError::VersionMismatch { .. }
            | LinkError::ContractMismatch { .. }
            | LinkError::CountsMismatch { .. }
            | LinkError::SpecMismatch { .. }
            | LinkError::Layout { .. }
            | LinkError::ActionLength { .. }) => PlantError::Mismatch(e.to_string()),
            other => PlantError::Disconnected(other.to_string()),
        }
    }
}
