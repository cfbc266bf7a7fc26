//! What can go wrong writing or reading a log.

use strider_robot::ContractId;

/// A log that could not be written or used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    #[error("{file}: already exists; choose another path or remove it (logs are never overwritten)")]
    Exists { file: String },
    #[error("{file}: not a readable MCAP file: {message}")]
    Mcap { file: String, message: String },
    #[error("{file}: no `strider` metadata record; this MCAP file was not written by Strider")]
    NotAStriderLog { file: String },
    #[error("{file}: metadata `{key}` is {problem}")]
    Metadata { file: String, key: String, problem: String },
    #[error(
        "{file}: recorded for contract id {log}, but the robot's is {robot}; use the robot description it was recorded with"
    )]
    ContractMismatch { file: String, log: ContractId, robot: ContractId },
    #[error(
        "{file}: recorded for contract id {log_contract}, but the robot's is {robot_contract}: {kind} field {index} is `{log}` in the log but `{robot}` for the robot; use the robot description it was recorded with"
    )]
    FieldMismatch {
        file: String,
        log_contract: ContractId,
        robot_contract: ContractId,
        kind: &'static str,
        index: usize,
        log: String,
        robot: String,
    },
    #[error("{file}: channel {topic}: {problem}")]
    Schema { file: String, topic: String, problem: String },
    #[error("{file}: channel {topic}, message {sequence}: {problem}")]
    Message { file: String, topic: String, sequence: u32, problem: String },
}
