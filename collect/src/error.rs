use strider_log::LogError;
use strider_sim::SimError;

/// Why a collection stopped. Each names the file or the part that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// An option or plan that cannot make a dataset, with the fix.
    #[error("{0}")]
    Invalid(String),
    /// The output directory holds a dataset made with other options.
    #[error(
        "{file}: `{key}` is {was} there but {now} now; rerun with the same options to resume, or use another --out"
    )]
    PlanMismatch { file: String, key: String, was: String, now: String },
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the simulator refused a command: {0}")]
    Plant(#[from] strider_robot::PlantError),
    /// The policy could not be loaded or started.
    #[error("policy: {0}")]
    Policy(String),
}

pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> CollectError {
    CollectError::Io { file: path.display().to_string(), message: e.to_string() }
}
