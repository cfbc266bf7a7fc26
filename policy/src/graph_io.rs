//! The names, shapes and types of the model graph's inputs and outputs: one definition
//! shared by the exporter, the manifest and the runtime.

use serde::{Deserialize, Serialize};

use strider_robot::{ACTION_DIM, OBS_DIM};

/// Input names, in graph order.
pub mod input {
    /// Normalised observation tokens, `[batch, K, OBS_DIM]`; oldest tick first.
    pub const OBS: &str = "obs";
    /// 1 where an observation field is `[M]` (missing or failed), else 0; same shape.
    pub const OBS_MISSING: &str = "obs_missing";
    /// Normalised action tokens, `[batch, K, ACTION_DIM]`.
    pub const ACT: &str = "act";
    /// 1 where an action field is `[M]`, else 0; same shape.
    pub const ACT_MISSING: &str = "act_missing";
    /// 1 for a tick that holds data, 0 for an empty slot of a partly filled window
    /// (empty slots are on the left), `[batch, K]`.
    pub const TICK_VALID: &str = "tick_valid";
}

/// Output names, in graph order.
pub mod output {
    /// Read at each `O_k`: the normalised prediction of `A_k`, `[batch, K, ACTION_DIM]`.
    pub const ACTION: &str = "action";
    /// Read at each `A_k`: the normalised prediction of `O_{k+1}`, `[batch, K, OBS_DIM]`.
    pub const NEXT_OBS: &str = "next_obs";
}

/// One graph input or output. A dimension is a number, or `"batch"` for the batch axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    /// Element type; always `"f32"` today.
    pub dtype: String,
    /// Dimensions as text: `"batch"` or a decimal size, e.g. `["batch", "16", "17"]`.
    pub shape: Vec<String>,
}

/// The inputs and outputs of a graph with a window of `ticks` ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphIo {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Name of the symbolic batch dimension in the ONNX file.
pub const BATCH_DIM: &str = "batch";

impl GraphIo {
    pub fn for_ticks(ticks: usize) -> GraphIo {
        let t = |name: &str, dims: &[usize]| TensorSpec {
            name: name.to_string(),
            dtype: "f32".to_string(),
            shape: std::iter::once(BATCH_DIM.to_string()).chain(dims.iter().map(|d| d.to_string())).collect(),
        };
        GraphIo {
            inputs: vec![
                t(input::OBS, &[ticks, OBS_DIM]),
                t(input::OBS_MISSING, &[ticks, OBS_DIM]),
                t(input::ACT, &[ticks, ACTION_DIM]),
                t(input::ACT_MISSING, &[ticks, ACTION_DIM]),
                t(input::TICK_VALID, &[ticks]),
            ],
            outputs: vec![t(output::ACTION, &[ticks, ACTION_DIM]), t(output::NEXT_OBS, &[ticks, OBS_DIM])],
        }
    }
}

impl TensorSpec {
    /// The shape with the batch dimension set to `batch`.
    pub fn concrete_shape(&self, batch: usize) -> Vec<usize> {
        self.shape.iter().map(|d| if d == BATCH_DIM { batch } else { d.parse().unwrap_or(0) }).collect()
    }
}
