//! The names, shapes and types of the model graph's inputs and outputs: one definition
//! shared by the exporter, the manifest and the runtime.
//!
//! Three [`Interface`]s. Two are *streaming steps*, with every layer's key/value cache of
//! the tokens before the new ones going in and the updated caches coming out: one token
//! per call (`token`, what Strider exports: the action's call runs between ticks, so only
//! the observation's stands between a measurement and the action) or a tick's two tokens
//! per call (`pair`, `A_{k−1}` then `O_k`). The third, `window`, takes the whole context
//! every call and keeps no state — the form most models can be exported to unchanged. The
//! action is read at `O_k`, the observation prediction at `A_{k−1}`. See
//! `docs/TOKENS.md` and `docs/BYO_MODEL.md`.

use serde::{Deserialize, Serialize};

/// Input names, in graph order (then [`past_key`]/[`past_value`] for each layer). `obs` is
/// the robot layout's observation width, `act` its action width (its joints).
pub mod input {
    /// The normalised observation token `O_k`, `[batch, 1, obs]` (`window`:
    /// `O_{k−K+1} … O_k`, `[batch, K, obs]`).
    pub const OBS: &str = "obs";
    /// 1 where a field of `O_k` is `[M]` (missing or failed), else 0; same shape.
    pub const OBS_MISSING: &str = "obs_missing";
    /// The normalised action token `A_{k−1}` (the previous tick's action), `[batch, 1, act]`
    /// (`window`: `A_{k−K} … A_{k−1}`, `[batch, K, act]`).
    pub const ACT: &str = "act";
    /// 1 where a field of `A_{k−1}` is `[M]`, else 0; same shape.
    pub const ACT_MISSING: &str = "act_missing";
    /// `token` interface only, `[batch, 1, 1]`: 1 when the call's token is the observation
    /// (`obs`, `obs_missing`; the action inputs are zeros), 0 when it is the action.
    pub const MODALITY: &str = "modality";
    /// `[batch, C + n]` for n new tokens per call: 1 for each attention key that holds a
    /// token (the C cached ones, oldest first, then the new ones), 0 for an empty slot at
    /// start-up. `window`: `[batch, 2K]`, the window's tokens `A_{k−K}, O_{k−K+1}, …,
    /// A_{k−1}, O_k`.
    pub const KEY_VALID: &str = "key_valid";
}

/// Output names, in graph order (then [`present_key`]/[`present_value`] for each layer).
pub mod output {
    /// Read at `O_k`: the normalised prediction of `A_k`, `[batch, 1, act]`.
    pub const ACTION: &str = "action";
    /// Read at `A_{k−1}`: the normalised prediction of `O_k`, `[batch, 1, obs]`.
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

/// Layer `l`'s keys coming out: the cache shifted by the new tokens.
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

/// How a streaming-step graph takes its tokens (the manifest's `onnx.interface`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interface {
    /// A tick's two tokens per call, `A_{k−1}` then `O_k` (every model written before the
    /// field existed, hence the default).
    #[default]
    Pair,
    /// One token per call with its [`input::MODALITY`]: `A_k`'s call can run as soon as the
    /// action is sent, a tick before `O_{k+1}` is measured.
    Token,
    /// The last K ticks' tokens every call, no caches: a plain causal window graph.
    Window,
}

impl Interface {
    /// Tokens each call moves the stream on by: a tick's two (`pair`, and `window`, whose
    /// window moves by a tick), or one (`token`).
    pub fn tokens_per_call(self) -> usize {
        match self {
            Interface::Pair | Interface::Window => 2,
            Interface::Token => 1,
        }
    }

    /// Ticks each token input holds: K for a window, else 1.
    pub fn input_ticks(self, context_ticks: usize) -> usize {
        match self {
            Interface::Window => context_ticks,
            Interface::Pair | Interface::Token => 1,
        }
    }

    /// Length of `key_valid` for a context of `ticks`.
    pub fn keys(self, ticks: usize) -> usize {
        let span = Span::for_ticks(ticks);
        match self {
            Interface::Pair => span.cached + 2,
            Interface::Token => span.cached + 1,
            Interface::Window => span.tokens,
        }
    }

    /// Index of the first cache input (the first cache output is [`FIRST_CACHE_OUTPUT`]);
    /// a window graph has none, so this is its input count.
    pub fn first_cache_input(self) -> usize {
        match self {
            Interface::Pair | Interface::Window => 5,
            Interface::Token => 6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Interface::Pair => "pair",
            Interface::Token => "token",
            Interface::Window => "window",
        }
    }
}

/// The inputs and outputs of a model graph.
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
    /// The graph interface of a model whose observation tokens have `obs_dim` fields and
    /// action tokens `action_dim` (the robot layout's widths), with a context of `ticks`
    /// and `layers` blocks of `heads` heads of `head_dim` each.
    pub fn of_model(
        interface: Interface,
        obs_dim: usize,
        action_dim: usize,
        ticks: usize,
        layers: usize,
        heads: usize,
        head_dim: usize,
    ) -> GraphIo {
        let t = |name: &str, dims: &[usize]| TensorSpec {
            name: name.to_string(),
            dtype: "f32".to_string(),
            shape: std::iter::once(BATCH_DIM.to_string()).chain(dims.iter().map(|d| d.to_string())).collect(),
        };
        let c = Span::for_ticks(ticks).cached;
        let cache = [heads, c, head_dim];
        let n = interface.input_ticks(ticks);
        let mut inputs = vec![
            t(input::OBS, &[n, obs_dim]),
            t(input::OBS_MISSING, &[n, obs_dim]),
            t(input::ACT, &[n, action_dim]),
            t(input::ACT_MISSING, &[n, action_dim]),
        ];
        if interface == Interface::Token {
            inputs.push(t(input::MODALITY, &[1, 1]));
        }
        inputs.push(t(input::KEY_VALID, &[interface.keys(ticks)]));
        let mut outputs = vec![t(output::ACTION, &[1, action_dim]), t(output::NEXT_OBS, &[1, obs_dim])];
        let layers = if interface == Interface::Window { 0 } else { layers };
        for l in 0..layers {
            inputs.push(t(&past_key(l), &cache));
            inputs.push(t(&past_value(l), &cache));
            outputs.push(t(&present_key(l), &cache));
            outputs.push(t(&present_value(l), &cache));
        }
        GraphIo { inputs, outputs }
    }
}

/// Index of the first cache output.
pub const FIRST_CACHE_OUTPUT: usize = 2;

impl TensorSpec {
    /// The shape with the batch dimension set to `batch`.
    pub fn concrete_shape(&self, batch: usize) -> Vec<usize> {
        self.shape.iter().map(|d| if d == BATCH_DIM { batch } else { d.parse().unwrap_or(0) }).collect()
    }
}
