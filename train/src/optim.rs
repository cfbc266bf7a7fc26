//! AdamW with its moment estimates kept as named tensors, so a checkpoint can hold them
//! and a resumed run continues exactly (candle's own AdamW keeps them private).

use std::collections::HashMap;

use candle_core::{Tensor, Var, backprop::GradStore};

pub struct AdamW {
    vars: Vec<(String, Var)>,
    pub(crate) m: Vec<Tensor>,
    pub(crate) v: Vec<Tensor>,
    pub(crate) t: u64,
    weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl AdamW {
    pub fn new(vars: Vec<(String, Var)>, weight_decay: f64) -> candle_core::Result<AdamW> {
        let m = vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<_>>()?;
        let v = vars.iter().map(|(_, v)| v.zeros_like()).collect::<candle_core::Result<_>>()?;
        Ok(AdamW { vars, m, v, t: 0, weight_decay })
    }

    /// Global L2 norm of the gradients.
    pub fn grad_norm(&self, grads: &GradStore) -> candle_core::Result<f32> {
        let mut sq = 0f32;
        for (_, var) in &self.vars {
            if let Some(g) = grads.get(var.as_tensor()) {
                sq += g.sqr()?.sum_all()?.to_scalar::<f32>()?;
            }
        }
        Ok(sq.sqrt())
    }

    /// One update with learning rate `lr`, gradients scaled by `grad_scale` (clipping).
    /// Weight decay applies to matrices only, not to biases, norms or `[M]` vectors.
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> candle_core::Result<()> {
        self.t += 1;
        let (c1, c2) = (1.0 - BETA1.powi(self.t as i32), 1.0 - BETA2.powi(self.t as i32));
        for (i, (_, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else { continue };
            let g = (g * grad_scale)?;
            self.m[i] = ((&self.m[i] * BETA1)? + (&g * (1.0 - BETA1))?)?;
            self.v[i] = ((&self.v[i] * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let update = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + EPS)?)?;
            let mut next = (var.as_tensor() - (update * lr)?)?;
            if var.rank() >= 2 && self.weight_decay > 0.0 {
                next = (next - (var.as_tensor() * (lr * self.weight_decay))?)?;
            }
            var.set(&next)?;
        }
        Ok(())
    }

    /// Moments as `m/<name>` and `v/<name>` for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("m/{name}"), self.m[i].clone());
            out.insert(format!("v/{name}"), self.v[i].clone());
        }
        out
    }

    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, t: u64) -> Result<(), String> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            for (prefix, slot) in [("m", &mut self.m[i]), ("v", &mut self.v[i])] {
                let key = format!("{prefix}/{name}");
                let found = tensors.get(&key).ok_or_else(|| format!("missing tensor `{key}`"))?;
                if found.dims() != slot.dims() {
                    return Err(format!(
                        "tensor `{key}` has shape {:?}, expected {:?}",
                        found.dims(),
                        slot.dims()
                    ));
                }
                *slot = found.clone();
            }
        }
        self.t = t;
        Ok(())
    }
}
