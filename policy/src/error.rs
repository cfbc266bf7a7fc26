//! What can go wrong loading or running a policy.

/// A model that cannot be loaded, or a step that produced no usable action.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    #[error("{file}: not a valid model manifest: {message}")]
    Parse { file: String, message: String },
    /// The manifest disagrees with the robot or with the ONNX graph.
    #[error("{file}: {field}: expected {expected}, found {found}")]
    Mismatch { file: String, field: String, expected: String, found: String },
    /// A manifest field is present but unusable.
    #[error("{file}: {field}: {message}")]
    Invalid { file: String, field: String, message: String },
    /// tract refused the graph or failed while running it.
    #[error("{file}: inference engine: {message}")]
    Engine { file: String, message: String },
    /// An observation or token of another shape than the robot's the model was loaded for.
    #[error("{what}: {found}, but the model's robot has {expected}")]
    Shape { what: &'static str, expected: String, found: String },
    /// The model produced NaN or infinity; the caller must not send it to a motor.
    #[error("model output `{output}`[{index}] is {value}; holding is the caller's job")]
    NonFinite { output: &'static str, index: usize, value: f32 },
}
