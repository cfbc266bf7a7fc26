//! The trajectory policy at run time: what a token means, what a model file promises, and
//! how a window of past ticks becomes the next action.
//!
//! This crate owns the token spec (`docs/TOKENS.md`): per-field normalisation and the
//! `[M]` masks ([`Tokenizer`]), the per-step token inputs of the streaming graph
//! ([`TokenStream`]), the model manifest that ships beside every `.onnx` file and its
//! checks against the robot contract and the graph ([`Manifest`]), and the tract runtime
//! ([`Policy`]), which keeps each layer's key/value cache between ticks so that a tick
//! costs two tokens of compute whatever the context length — and, for a one-token graph,
//! runs the action's token between ticks so that only the observation's waits on the
//! sensors. It is the only crate that names a tract type (all of them live in
//! `runtime.rs`; [`onnx_pb`] re-exports the ONNX protobuf schema for the exporter).
//!
//! It does not train or export models (`strider-train` does), pace the control loop or
//! apply safety limits (`strider-controller`), or define observations and actions
//! (`strider-robot`).

mod error;
mod graph_io;
mod manifest;
mod runtime;
mod stream;
mod surprise;
mod tokens;

pub use error::PolicyError;
pub use graph_io::{
    GraphIo, Interface, Span, TensorSpec, input, output, past_key, past_value, present_key, present_value,
};
pub use manifest::{
    ContextSection, FORMAT_VERSION, FieldNorm, Manifest, ModelSection, OnnxSection, RobotSection,
    TimingSection, sha256_hex,
};
pub use runtime::{GraphSummary, OpTime, Policy, PolicyBatch, StepOutput, inspect_graph, supported_onnx_ops};
pub use stream::{Token, TokenStream};
pub use surprise::{Calibration, SURPRISE_QUANTILE, SurpriseSection, quantile, surprise, surprise_scale};
pub use tokens::{DEFAULT_CLAMP, Normaliser, Tokenizer};

/// The ONNX protobuf schema (the `onnx.proto` messages as prost types), for writing model
/// files. Re-exported from tract so that reader and writer agree on one schema.
pub mod onnx_pb {
    pub use tract_onnx::pb::*;
}
