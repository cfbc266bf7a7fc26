//! What can go wrong training or exporting.

/// A training run or export that could not go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    #[error("{file}: invalid training config: {message}")]
    Config { file: String, message: String },
    #[error("{file}: checkpoint: {message}")]
    Checkpoint { file: String, message: String },
    #[error("dataset: {0}")]
    Data(String),
    /// A model, its normalisation or its data of other widths than the robot's layout.
    #[error(
        "{what} takes {obs} observation and {act} action fields, but robot `{robot}` has {robot_obs} and {robot_act}"
    )]
    Layout { what: String, obs: usize, act: usize, robot: String, robot_obs: usize, robot_act: usize },
    #[error("training diverged at step {step}: loss is {loss}")]
    Diverged { step: usize, loss: f32 },
    /// The tensor engine failed (its message; the engine's own type stays inside the crate).
    #[error("tensor engine: {0}")]
    Engine(String),
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> TrainError {
        TrainError::Engine(e.to_string())
    }
}
