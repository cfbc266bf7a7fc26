//! The names, shapes and types of the model graph's inputs and outputs: one definition
//! shared by the exporter, the manifest and the runtime.
//!
//! The graph is a *streaming step*: each call takes one tick's two new tokens
//! (`A_{k−1}`, then `O_k`) and every layer's key/value cache of the tokens before them,
//! and returns the action read at `O_k`, the observation prediction read at `A_{k−1}` and
//! the updated caches. See `docs/TOKENS.md`.

use serde::{Deserialize, Serialize};

use strider_robot::{ACTION_DIM, OBS_DIM};

/// Input names, in graph order (then [`past_key`]/[`past_value`] for each layer).
pub mod input {
    /// The normalised observation token `O_k`, `[batch, 1, OBS_DIM]`.
    pub const OBS: &str = "obs";
    /// 1 where a field of `O_k` is `[M]` (missing or failed), else 0; same shape.
    pub const OBS_MISSING: &str = "obs_missing";
    /// The normalised action token `A_{k−1}` (the previous tick's action), `[batch, 1, ACTION_DIM]`.
    pub const ACT: &str = "act";
    /// 1 where a field of `A_{k−1}` is `[M]`, else 0; same shape.
    pub const ACT_MISSING: &str = "act_missing";
    /// `[batch, C + 2]`: 1 for each attention key that holds a token (the C cached ones,
    /// oldest first, then `A_{k−1}` and `O_k`), 0 for an empty slot at start-up.
    pub const KEY_VALID: &str = "key_valid";
}

/// Output names, in graph order (then [`present_key`]/[`present_value`] for each layer).
pub mod output {
    /// Read at `O_k`: the normalised prediction of `A_k`, `[batch, 1, ACTION_DIM]`.
    pub const ACTION: &str = "action";
    /// Read at `A_{k−1}`: the normalised prediction of `O_k`, `[batch, 1, OBS_DIM]`.
    pub const NEXT_OBS: &str = "next_obs";
}

/// Cached keys of layer `l` going in, `[batch, heads, C, head_dim]`, oldest token first.
pub fn past_key(l: usize) -> String {
    format!("past_key.{l}")
}

/// Cached values of layer `l` going in; same shape as [`past_key`].
pub fn past_value(l: usize) -> String {
    format!("past_value.{l}")
}

/// Layer `l`'s keys coming out: the cache shifted by the two new tokens.
pub fn present_key(l: usize) -> String {
    format!("present_key.{l}")
}

/// Layer `l`'s values coming out.
pub fn present_value(l: usize) -> String {
    format!("present_value.{l}")
}

/// One graph input or output. A dimension is a number, or `"batch"` for the batch axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    /// Element type; always `"f32"` today.
    pub dtype: String,
    /// Dimensions as text: `"batch"` or a decimal size, e.g. `["batch", "4", "31", "48"]`.
    pub shape: Vec<String>,
}

/// The inputs and outputs of a streaming-step graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphIo {
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Name of the symbolic batch dimension in the ONNX file.
pub const BATCH_DIM: &str = "batch";

/// The attention geometry a context of K ticks implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Keys a token attends to, itself included: 2K (so `O_k` sees `O_{k−K+1} … O_k`).
    pub tokens: usize,
    /// Tokens each layer caches between steps: 2K − 1.
    pub cached: usize,
}

impl Span {
    pub fn for_ticks(ticks: usize) -> Span {
        Span { tokens: 2 * ticks, cached: 2 * ticks - 1 }
    }
}

impl GraphIo {
    /// The interface of a model with a context of `ticks` and `layers` blocks of `heads`
    /// heads of `head_dim` each.
    pub fn streaming(ticks: usize, layers: usize, heads: usize, head_dim: usize) -> GraphIo {
        let t = |name: &str, dims: &[usize]| TensorSpec {
            name: name.to_string(),
            dtype: "f32".to_string(),
            shape: std::iter::once(BATCH_DIM.to_string()).chain(dims.iter().map(|d| d.to_string())).collect(),
        };
        let c = Span::for_ticks(ticks).cached;
        let cache = [heads, c, head_dim];
        let mut inputs = vec![
            t(input::OBS, &[1, OBS_DIM]),
            t(input::OBS_MISSING, &[1, OBS_DIM]),
            t(input::ACT, &[1, ACTION_DIM]),
            t(input::ACT_MISSING, &[1, ACTION_DIM]),
            t(input::KEY_VALID, &[c + 2]),
        ];
        let mut outputs = vec![t(output::ACTION, &[1, ACTION_DIM]), t(output::NEXT_OBS, &[1, OBS_DIM])];
        for l in 0..layers {
            inputs.push(t(&past_key(l), &cache));
            inputs.push(t(&past_value(l), &cache));
            outputs.push(t(&present_key(l), &cache));
            outputs.push(t(&present_value(l), &cache));
        }
        GraphIo { inputs, outputs }
    }
}

/// Index of the first cache input (and of the first cache output is [`FIRST_CACHE_OUTPUT`]).
pub const FIRST_CACHE_INPUT: usize = 5;
/// Index of the first cache output.
pub const FIRST_CACHE_OUTPUT: usize = 2;

impl TensorSpec {
    /// The shape with the batch dimension set to `batch`.
    pub fn concrete_shape(&self, batch: usize) -> Vec<usize> {
        self.shape.iter().map(|d| if d == BATCH_DIM { batch } else { d.parse().unwrap_or(0) }).collect()
    }
}
