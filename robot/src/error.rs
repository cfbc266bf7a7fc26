//! What can go wrong reading a robot description.

use std::fmt;

/// A robot description that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    #[error("{file}: not a valid robot description: {message}")]
    Parse { file: String, message: String },
    /// Parsed, but inconsistent; one entry per problem.
    #[error("{file}: {}", Problems(problems))]
    Invalid { file: String, problems: Vec<Problem> },
}

/// One problem in a robot description: the field, the offending value, and the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Path of the field, e.g. `joints[1] (right_knee).limits_deg`.
    pub field: String,
    pub value: String,
    pub fix: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.field, self.value, self.fix)
    }
}

struct Problems<'a>(&'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            [one] => write!(f, "{one}"),
            many => {
                write!(f, "{} problems", many.len())?;
                for p in many {
                    write!(f, "\n  {p}")?;
                }
                Ok(())
            }
        }
    }
}

/// What a plant (simulator or serial robot) could not do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlantError {
    /// The link to the robot is gone; the plant may reconnect.
    #[error("link lost: {0}")]
    Disconnected(String),
    /// No sensor data arrived in time.
    #[error("no sensor frame for {waited_ms} ms (limit {limit_ms} ms)")]
    Timeout { waited_ms: u64, limit_ms: u64 },
    /// The robot reported a fault.
    #[error("robot fault {code}: {detail}")]
    Fault { code: u16, detail: String },
    /// The robot is not the one the controller was built for.
    #[error("robot mismatch: {0}")]
    Mismatch(String),
}
