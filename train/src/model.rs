//! The causal trajectory transformer in candle (the training engine's view of the model).
//!
//! Tokens `O_1 A_1 … O_n A_n`; each modality has a linear embedding and a learned `[M]`
//! vector in input space (a masked field takes its `[M]` value before the embedding);
//! pre-LayerNorm blocks with ALiBi-biased causal attention over a sliding window of 2K
//! tokens (K = the context in ticks), so a sequence of any length is one forward pass;
//! the action head is read at `O` positions and the observation head at `A` positions. `export.rs` writes exactly
//! this computation as ONNX; keep the two in step (the parity test checks them).

use candle_core::{D, DType, Device, Module, Tensor, Var};
use candle_nn::{Linear, VarBuilder, VarMap};

use strider_robot::Layout;

use crate::config::ModelConfig;
use crate::error::TrainError;
use crate::rng::Rng;

/// LayerNorm epsilon, shared with the ONNX `LayerNormalization` node.
pub const LN_EPS: f64 = 1e-5;
/// Additive score for a forbidden key (future token or empty slot). Finite, unlike −∞,
/// so a row with no allowed key (an empty slot's own query) stays finite; its output is
/// never read.
pub const MASKED_SCORE: f32 = -1e9;

/// ALiBi slope of each head: 2^(−8(h+1)/H), as in Press et al. (2022).
pub fn alibi_slopes(heads: usize) -> Vec<f32> {
    (0..heads).map(|h| 2f32.powf(-8.0 * (h as f32 + 1.0) / heads as f32)).collect()
}

/// The ALiBi + sliding-window attention bias, `[H, queries.len(), keys]` flattened: for the
/// query at token position `i` and the key at position `j` (keys sit at `0..keys`),
/// −slope·(i − j) when `j ≤ i` and `i − j < span`, else [`MASKED_SCORE`]. Every token sees
/// itself and the `span − 1` tokens before it, and nothing else; the bias depends only on
/// `i − j`, which is what lets the runtime stream with a key/value cache.
pub fn alibi_window_bias(heads: usize, queries: &[usize], keys: usize, span: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(heads * queries.len() * keys);
    for slope in alibi_slopes(heads) {
        for &i in queries {
            for j in 0..keys {
                out.push(if j <= i && i - j < span { -slope * (i - j) as f32 } else { MASKED_SCORE });
            }
        }
    }
    out
}

/// Keys a token attends to (itself included) with a context of `ticks`: 2K, so `O_k`
/// sees `O_{k−K+1} … O_k` and the actions between them.
pub fn attention_span(ticks: usize) -> usize {
    2 * ticks
}

pub(crate) struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl LayerNorm {
    fn new(width: usize, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
        Ok(LayerNorm {
            weight: vb.get_with_hints(width, "weight", candle_nn::init::ONE)?,
            bias: vb.get_with_hints(width, "bias", candle_nn::init::ZERO)?,
        })
    }

    // Written with primitive ops so that autograd covers it (candle's fused layer_norm op
    // has no backward pass).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xc.broadcast_div(&(var + LN_EPS)?.sqrt()?)?;
        xn.broadcast_mul(&self.weight)?.broadcast_add(&self.bias)
    }
}

pub(crate) struct Block {
    pub ln1: LayerNorm,
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub ln2: LayerNorm,
    pub fc1: Linear,
    pub fc2: Linear,
}

impl Block {
    fn new(cfg: &ModelConfig, vb: VarBuilder) -> candle_core::Result<Block> {
        let w = cfg.width;
        let lin = |i, o, name: &str| candle_nn::linear(i, o, vb.pp(name));
        Ok(Block {
            ln1: LayerNorm::new(w, vb.pp("ln1"))?,
            q: lin(w, w, "attn.q")?,
            k: lin(w, w, "attn.k")?,
            v: lin(w, w, "attn.v")?,
            o: lin(w, w, "attn.o")?,
            ln2: LayerNorm::new(w, vb.pp("ln2"))?,
            fc1: lin(w, w * cfg.mlp_ratio, "mlp.fc1")?,
            fc2: lin(w * cfg.mlp_ratio, w, "mlp.fc2")?,
        })
    }

    fn forward(&self, x: &Tensor, bias: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
        let (b, t, w) = x.dims3()?;
        let dh = w / heads;
        let h = self.ln1.forward(x)?;
        let split = |y: Tensor| y.reshape((b, t, heads, dh))?.transpose(1, 2)?.contiguous();
        let q = split(self.q.forward(&h)?)?;
        let k = split(self.k.forward(&h)?)?;
        let v = split(self.v.forward(&h)?)?;
        let scores = (q.matmul(&k.transpose(2, 3)?.contiguous()?)? * (1.0 / (dh as f64).sqrt()))?;
        let p = candle_nn::ops::softmax(&scores.broadcast_add(bias)?, D::Minus1)?;
        let a = p.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, t, w))?;
        let x = (x + self.o.forward(&a)?)?;
        let m = self.fc2.forward(&self.fc1.forward(&self.ln2.forward(&x)?)?.gelu_erf()?)?;
        x + m
    }
}

/// The model: parameters live in `varmap` (names are the ONNX initializer names' stems).
/// Its token widths are a robot layout's: `obs_dim` observation fields, `action_dim`
/// action fields.
pub struct Model {
    pub cfg: ModelConfig,
    pub(crate) obs_dim: usize,
    pub(crate) action_dim: usize,
    pub(crate) varmap: VarMap,
    pub(crate) embed_obs: Linear,
    pub(crate) embed_act: Linear,
    pub(crate) mask_obs: Tensor,
    pub(crate) mask_act: Tensor,
    pub(crate) blocks: Vec<Block>,
    pub(crate) ln_f: LayerNorm,
    pub(crate) head_act: Linear,
    pub(crate) head_obs: Linear,
}

/// One batch of token windows, all `[B, n, ·]`, normalised; masks are 1 for `[M]`.
pub(crate) struct Batch {
    pub obs: Tensor,
    pub obs_missing: Tensor,
    pub act: Tensor,
    pub act_missing: Tensor,
}

impl Model {
    /// A model for `layout`'s observations and actions with freshly initialised weights
    /// drawn from `seed`.
    pub fn new(cfg: &ModelConfig, layout: &Layout, seed: u64) -> Result<Model, TrainError> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let model = Model::build(cfg, layout.obs_dim(), layout.action_dim(), varmap.clone(), vb)?;
        model.init_weights(seed)?;
        Ok(model)
    }

    fn build(
        cfg: &ModelConfig,
        obs_dim: usize,
        action_dim: usize,
        varmap: VarMap,
        vb: VarBuilder,
    ) -> candle_core::Result<Model> {
        let w = cfg.width;
        Ok(Model {
            cfg: cfg.clone(),
            obs_dim,
            action_dim,
            embed_obs: candle_nn::linear(obs_dim, w, vb.pp("embed_obs"))?,
            embed_act: candle_nn::linear(action_dim, w, vb.pp("embed_act"))?,
            mask_obs: vb.get_with_hints(obs_dim, "mask_obs", candle_nn::init::ZERO)?,
            mask_act: vb.get_with_hints(action_dim, "mask_act", candle_nn::init::ZERO)?,
            blocks: (0..cfg.layers)
                .map(|i| Block::new(cfg, vb.pp(format!("blocks.{i}"))))
                .collect::<candle_core::Result<_>>()?,
            ln_f: LayerNorm::new(w, vb.pp("ln_f"))?,
            head_act: candle_nn::linear(w, action_dim, vb.pp("head_act"))?,
            head_obs: candle_nn::linear(w, obs_dim, vb.pp("head_obs"))?,
            varmap,
        })
    }

    /// Fields of an observation token.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Fields of an action token.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Parameters sorted by name, so that order never depends on a hash map.
    pub(crate) fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("varmap lock");
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every parameter's values, flattened, sorted by name.
    pub fn parameters(&self) -> Result<Vec<(String, Vec<f32>)>, TrainError> {
        self.named_vars().into_iter().map(|(n, v)| Ok((n, v.as_tensor().flatten_all()?.to_vec1()?))).collect()
    }

    /// Sets the parameter `name` to `values` (its shape unchanged); for tests and tools.
    pub fn set_parameter(&self, name: &str, values: &[f32]) -> Result<(), TrainError> {
        let (_, var) = self
            .named_vars()
            .into_iter()
            .find(|(n, _)| n == name)
            .ok_or_else(|| TrainError::Engine(format!("no parameter `{name}`")))?;
        var.set(&Tensor::from_slice(values, var.shape(), &Device::Cpu)?)?;
        Ok(())
    }

    /// The forward pass over one sequence of n ticks, from plain slices (normalised tokens
    /// and their `[M]` masks, tick-major): `(action [n × action width], next_obs [n ×
    /// observation width])`, as [`Model::forward`] computes them. For parity checks against
    /// the runtime.
    pub fn predict(
        &self,
        obs: &[f32],
        obs_missing: &[f32],
        act: &[f32],
        act_missing: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>), TrainError> {
        let (no, na) = (self.obs_dim, self.action_dim);
        let n = obs.len() / no;
        let t = |v: &[f32], d: usize| Tensor::from_slice(v, (1, n, d), &Device::Cpu);
        let batch = Batch {
            obs: t(obs, no)?,
            obs_missing: t(obs_missing, no)?,
            act: t(act, na)?,
            act_missing: t(act_missing, na)?,
        };
        let (a, o) = self.forward(&batch)?;
        Ok((a.flatten_all()?.to_vec1()?, o.flatten_all()?.to_vec1()?))
    }

    pub fn parameter_count(&self) -> u64 {
        self.named_vars().iter().map(|(_, v)| v.elem_count() as u64).sum()
    }

    /// GPT-style initialisation (weights N(0, 0.02), biases and `[M]` 0, LayerNorm 1/0),
    /// from our own generator so a seed means the same weights on every platform.
    fn init_weights(&self, seed: u64) -> Result<(), TrainError> {
        let mut rng = Rng::new(seed);
        for (name, var) in self.named_vars() {
            let n = var.elem_count();
            let data: Vec<f32> = if name.ends_with(".weight") && !name.contains("ln") {
                (0..n).map(|_| 0.02 * rng.normal()).collect()
            } else if name.ends_with("ln1.weight") || name.ends_with("ln2.weight") || name == "ln_f.weight" {
                vec![1.0; n]
            } else {
                vec![0.0; n]
            };
            var.set(&Tensor::from_vec(data, var.shape(), &Device::Cpu)?)?;
        }
        Ok(())
    }

    /// Every parameter (LayerNorm and `[M]` included) drawn at random around its usual
    /// value, so that a parity check exercises every term of the forward pass.
    pub fn randomize_all(&self, seed: u64, scale: f32) -> Result<(), TrainError> {
        let mut rng = Rng::new(seed);
        for (name, var) in self.named_vars() {
            let base =
                if name.ends_with("ln1.weight") || name.ends_with("ln2.weight") || name == "ln_f.weight" {
                    1.0
                } else {
                    0.0
                };
            // Matrices scaled by 1/√fan-in keep activations O(1) at any width.
            let std = if var.rank() == 2 { scale / (var.dims()[1] as f32).sqrt() } else { scale };
            let data: Vec<f32> = (0..var.elem_count()).map(|_| base + std * rng.normal()).collect();
            var.set(&Tensor::from_vec(data, var.shape(), &Device::Cpu)?)?;
        }
        Ok(())
    }

    /// The forward pass over sequences of any length n: `(action [B, n, action width],
    /// next_obs [B, n, observation width])`, both normalised. `action[k]` is read at `O_k`,
    /// `next_obs[k]` at `A_k`; each token attends to the 2K tokens up to itself.
    pub(crate) fn forward(&self, batch: &Batch) -> candle_core::Result<(Tensor, Tensor)> {
        let (b, n, _) = batch.obs.dims3()?;
        let w = self.cfg.width;
        let eo = self.embed_obs.forward(&fill_masked(&batch.obs, &batch.obs_missing, &self.mask_obs)?)?;
        let ea = self.embed_act.forward(&fill_masked(&batch.act, &batch.act_missing, &self.mask_act)?)?;
        let mut x = Tensor::stack(&[&eo, &ea], 2)?.reshape((b, 2 * n, w))?;
        let positions: Vec<usize> = (0..2 * n).collect();
        let span = attention_span(self.cfg.context_ticks);
        let bias = Tensor::from_vec(
            alibi_window_bias(self.cfg.heads, &positions, 2 * n, span),
            (self.cfg.heads, 2 * n, 2 * n),
            &Device::Cpu,
        )?
        .unsqueeze(0)?;
        for block in &self.blocks {
            x = block.forward(&x, &bias, self.cfg.heads)?;
        }
        let h = self.ln_f.forward(&x)?.reshape((b, n, 2, w))?;
        let h_o = h.narrow(2, 0, 1)?.squeeze(2)?;
        let h_a = h.narrow(2, 1, 1)?.squeeze(2)?;
        Ok((self.head_act.forward(&h_o)?, self.head_obs.forward(&h_a)?))
    }
}

/// `z·(1 − m) + [M]·m`: a masked field takes the learned `[M]` value.
fn fill_masked(z: &Tensor, m: &Tensor, mask_value: &Tensor) -> candle_core::Result<Tensor> {
    let keep = m.affine(-1.0, 1.0)?;
    (z * keep)? + m.broadcast_mul(mask_value)?
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a 2-tick context, token 5 (`O_3`) sees tokens 2–5 (`O_2 A_2 O_3` and itself's
    /// predecessor `A_2`): four keys, ALiBi by distance; older and future keys are masked.
    #[test]
    fn window_bias_admits_exactly_the_span() {
        let span = attention_span(2);
        let bias = alibi_window_bias(1, &[5], 8, span);
        let slope = alibi_slopes(1)[0];
        for (j, b) in bias.iter().enumerate() {
            if (2..=5).contains(&j) {
                assert_eq!(*b, -slope * (5 - j) as f32, "key {j}");
            } else {
                assert_eq!(*b, MASKED_SCORE, "key {j}");
            }
        }
    }
}
