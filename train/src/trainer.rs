//! The training loop: masked MSE on the next action and the next observation, AdamW with
//! warm-up + cosine decay and gradient clipping, held-out evaluation, checkpoints.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use strider_policy::{Calibration, Normaliser, SurpriseSection, Tokenizer};
use strider_robot::{Layout, RobotSpec};

use crate::config::{ActionHistory, TrainConfig};
use crate::data::{Episode, EpisodeSource, Windows};
use crate::error::TrainError;
use crate::export::{Exported, write_model};
use crate::model::{Batch, Model};
use crate::optim::AdamW;
use crate::plot::write_loss_curve;
use crate::rng::Rng;

/// Held-out metrics at one step, in normalised units (each field has unit variance on the
/// training set, so 1.0 is "no better than predicting the mean").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub step: usize,
    /// Action MSE at the newest tick of held-out sequences, with that tick's action input
    /// `[M]` as at run time (action-labelled episodes only).
    pub action_mse: f32,
    /// Next-observation MSE over all positions whose target is known.
    pub obs_mse: f32,
    /// The training loss on held-out windows.
    pub loss: f32,
}

/// Reported to the caller after every step (for a progress bar).
#[derive(Debug, Clone)]
pub struct Progress {
    pub step: usize,
    pub steps: usize,
    pub loss: f32,
    pub lr: f64,
    pub eval: Option<Evaluation>,
}

/// What a run did, written as `report.toml` beside the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub data: String,
    pub train_episodes: usize,
    pub held_out_episodes: usize,
    pub parameters: u64,
    pub steps: usize,
    pub final_train_loss: f32,
    pub evaluations: Vec<Evaluation>,
    pub config: TrainConfig,
}

#[derive(Serialize, Deserialize)]
struct CheckpointMeta {
    step: usize,
    adam_t: u64,
    rng_state: u64,
    train_losses: Vec<(usize, f32)>,
    evaluations: Vec<Evaluation>,
}

/// Learning rate at `step` (0-based): linear warm-up to the peak, then cosine decay to
/// `final_lr_fraction` of it at the last step.
pub fn lr_at(cfg: &crate::config::OptimConfig, step: usize) -> f64 {
    if step < cfg.warmup_steps {
        return cfg.learning_rate * (step + 1) as f64 / cfg.warmup_steps as f64;
    }
    let span = (cfg.steps - cfg.warmup_steps).max(1) as f64;
    let p = ((step - cfg.warmup_steps) as f64 / span).min(1.0);
    let floor = cfg.final_lr_fraction;
    cfg.learning_rate * (floor + (1.0 - floor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos()))
}

pub struct Trainer {
    pub cfg: TrainConfig,
    /// The robot layout of the data: the model's token widths.
    pub layout: Layout,
    pub model: Model,
    pub tokenizer: Tokenizer,
    opt: AdamW,
    train: Vec<Episode>,
    held: Vec<Episode>,
    step: usize,
    rng: Rng,
    losses: Vec<(usize, f32)>,
    evals: Vec<Evaluation>,
    source: String,
}

impl Trainer {
    /// Splits the source's episodes (the last ones of each set are held out), fits the normalisers on
    /// the training split and initialises a model of the source's layout — or, with
    /// `init_from`, takes both from a trained model ([`Trainer::warm_start`]).
    pub fn new(cfg: TrainConfig, source: &dyn EpisodeSource) -> Result<Trainer, TrainError> {
        cfg.validate("training config")?;
        let layout = source.layout();
        let mut episodes = source.episodes()?;
        check_widths(&episodes, &layout, &source.describe())?;
        if cfg.data.action_history == ActionHistory::Labels {
            episodes.iter_mut().for_each(|e| e.executed = None);
        }
        // An episode shorter than a training window (a rollout that fell at once) holds no
        // window: it is left out and counted in the report's data line.
        let need = cfg.optim.sequence_ticks + 1;
        let all = episodes.len();
        episodes.retain(|e| e.len() >= need);
        let mut described = source.describe();
        if episodes.len() < all {
            described += &format!(", {} episodes shorter than {need} ticks left out", all - episodes.len());
        }
        if episodes.is_empty() {
            return Err(TrainError::Data(format!(
                "{described}: no episode has the {need} ticks a training window needs (optim.sequence_ticks + 1)"
            )));
        }
        // Every set gives the tail of its episodes to the held-out split (keeping one to
        // train on), so a set appended to the list — a DAgger round's rollouts — is trained
        // on, not only held out. With one set: the last episodes.
        let (mut train, mut held) = (Vec::new(), Vec::new());
        let mut all = episodes.into_iter().peekable();
        while let Some(first) = all.next() {
            let mut set = vec![first];
            while let Some(e) = all.next_if(|e| e.set == set[0].set) {
                set.push(e);
            }
            let n_held = ((set.len() as f64 * cfg.data.held_out_fraction).ceil() as usize).min(set.len() - 1);
            held.extend(set.split_off(set.len() - n_held));
            train.extend(set);
        }
        let episodes = train;
        if episodes.iter().all(|e| e.act.is_none()) {
            return Err(TrainError::Data("no training episode has actions".into()));
        }
        let tokenizer = Tokenizer {
            obs: Normaliser::fit(layout.obs_dim(), episodes.iter().flat_map(|e| e.obs.iter())),
            act: Normaliser::fit(
                layout.action_dim(),
                episodes.iter().filter_map(|e| e.act.as_ref()).flat_map(|a| a.iter()),
            ),
        };
        let model = Model::new(&cfg.model, &layout, cfg.optim.seed)?;
        let opt = AdamW::new(model.named_vars(), cfg.optim.weight_decay)?;
        let init_from = cfg.init_from.clone();
        let mut trainer = Trainer {
            rng: Rng::new(cfg.optim.seed.wrapping_add(17)),
            cfg,
            layout,
            model,
            tokenizer,
            opt,
            train: episodes,
            held,
            step: 0,
            losses: vec![],
            evals: vec![],
            source: described,
        };
        if let Some(dir) = init_from {
            trainer.warm_start(&dir)?;
        }
        Ok(trainer)
    }

    pub fn step(&self) -> usize {
        self.step
    }

    pub fn held_out(&self) -> &[Episode] {
        &self.held
    }

    /// Runs until `cfg.optim.steps`, calling `progress` after each step; checkpoints into
    /// `checkpoint_dir` (if any) every `checkpoint_every` steps and at the end.
    pub fn run(
        &mut self,
        checkpoint_dir: Option<&Path>,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<(), TrainError> {
        let o = self.cfg.optim.clone();
        while self.step < o.steps {
            let lr = lr_at(&o, self.step);
            let loss = self.train_step(lr)?;
            self.step += 1;
            self.losses.push((self.step, loss));
            let eval = if self.step.is_multiple_of(o.eval_every.max(1)) || self.step == o.steps {
                let e = self.evaluate()?;
                self.evals.push(e.clone());
                Some(e)
            } else {
                None
            };
            let due = (o.checkpoint_every > 0 && self.step.is_multiple_of(o.checkpoint_every))
                || self.step == o.steps;
            if let Some(dir) = checkpoint_dir
                && due
            {
                self.save_checkpoint(dir)?;
            }
            progress(&Progress { step: self.step, steps: o.steps, loss, lr, eval });
        }
        Ok(())
    }

    fn train_step(&mut self, lr: f64) -> Result<f32, TrainError> {
        let (b, k) = (self.cfg.optim.batch_size, self.cfg.optim.sequence_ticks);
        let starts: Vec<(usize, usize)> = (0..b)
            .map(|_| {
                let e = self.rng.below(self.train.len());
                (e, self.rng.below(self.train[e].len() - k))
            })
            .collect();
        let dropout = self.cfg.optim.field_dropout as f32;
        let w = windows(&self.train, &self.tokenizer, &starts, k, dropout, &mut self.rng, false);
        let loss = self.loss(&w)?;
        let value = loss.to_scalar::<f32>()?;
        if !value.is_finite() {
            return Err(TrainError::Diverged { step: self.step, loss: value });
        }
        let grads = loss.backward()?;
        let norm = f64::from(self.opt.grad_norm(&grads)?);
        let clip = self.cfg.optim.grad_clip;
        let scale = if clip > 0.0 && norm > clip { clip / norm } else { 1.0 };
        self.opt.step(&grads, lr, scale)?;
        Ok(value)
    }

    /// `MSE(actions) + λ·MSE(next observations)`, each averaged over known targets only.
    fn loss(&self, w: &Windows) -> Result<Tensor, TrainError> {
        let (batch, t) = to_batch(w)?;
        let (act_pred, obs_pred) = self.model.forward(&batch)?;
        let la = masked_mse(&act_pred, &t.act, &w.act_target_missing)?;
        let lo = masked_mse(&obs_pred, &t.next_obs, &w.next_obs_missing)?;
        Ok((la + (lo * self.cfg.optim.obs_loss_weight)?)?)
    }

    /// Held-out metrics on fixed, non-overlapping sequences; the action error is scored
    /// at the last tick of each, with its action input `[M]` as at run time.
    pub fn evaluate(&self) -> Result<Evaluation, TrainError> {
        let k = self.cfg.optim.sequence_ticks;
        let na = self.layout.action_dim();
        let starts: Vec<(usize, usize)> = self
            .held
            .iter()
            .enumerate()
            .flat_map(|(e, ep)| (0..(ep.len() - 1) / k).map(move |j| (e, j * k)))
            .collect();
        let (mut act_se, mut act_n, mut obs_se, mut obs_n, mut loss_sum) = (0f64, 0f64, 0f64, 0f64, 0f64);
        let mut rng = Rng::new(0);
        for chunk in starts.chunks(64) {
            let w = windows(&self.held, &self.tokenizer, chunk, k, 0.0, &mut rng, true);
            let (batch, _) = to_batch(&w)?;
            let (act_pred, obs_pred) = self.model.forward(&batch)?;
            let ap: Vec<f32> = act_pred.flatten_all()?.to_vec1()?;
            let op: Vec<f32> = obs_pred.flatten_all()?.to_vec1()?;
            for (bi, &(e, _)) in chunk.iter().enumerate() {
                if self.held[e].act.is_some() {
                    let at = (bi * k + k - 1) * na;
                    let target = &w.act_target_last[bi * na..(bi + 1) * na];
                    // A label that is [M] (a tick without an action, a non-finite value)
                    // is not scored, as in the loss.
                    for i in (0..na).filter(|&i| w.act_target_missing[at + i] == 0.0) {
                        act_se += f64::from(ap[at + i] - target[i]).powi(2);
                        act_n += 1.0;
                    }
                }
            }
            for ((p, t), m) in op.iter().zip(&w.next_obs).zip(&w.next_obs_missing) {
                if *m == 0.0 {
                    obs_se += f64::from(p - t).powi(2);
                    obs_n += 1.0;
                }
            }
            loss_sum += f64::from(self.loss(&w)?.to_scalar::<f32>()?) * chunk.len() as f64;
        }
        Ok(Evaluation {
            step: self.step,
            action_mse: (act_se / act_n.max(1.0)) as f32,
            obs_mse: (obs_se / obs_n.max(1.0)) as f32,
            loss: (loss_sum / starts.len().max(1) as f64) as f32,
        })
    }

    pub fn report(&self) -> TrainReport {
        TrainReport {
            data: self.source.clone(),
            train_episodes: self.train.len(),
            held_out_episodes: self.held.len(),
            parameters: self.model.parameter_count(),
            steps: self.step,
            final_train_loss: self.losses.last().map_or(f32::NAN, |l| l.1),
            evaluations: self.evals.clone(),
            config: self.cfg.clone(),
        }
    }

    /// Writes `model.onnx`, `model.toml`, `report.toml` and `loss.png` into `dir`.
    /// The manifest carries the surprise threshold calibrated on the held-out episodes.
    /// Refuses a `spec` whose layout is not the data's.
    pub fn write_outputs(&self, spec: &RobotSpec, dir: &Path) -> Result<Exported, TrainError> {
        let mut exported = write_model(&self.model, &self.tokenizer, spec, dir, "model")?;
        if let Some(section) = self.calibrate_surprise(&exported.manifest_data.sensor_fields())? {
            exported.manifest_data.surprise = Some(section);
            std::fs::write(&exported.manifest, exported.manifest_data.to_toml_string()).map_err(|e| {
                TrainError::Io { file: exported.manifest.display().to_string(), message: e.to_string() }
            })?;
        }
        let report = dir.join("report.toml");
        let text = toml::to_string(&self.report())
            .map_err(|e| TrainError::Io { file: report.display().to_string(), message: e.to_string() })?;
        std::fs::write(&report, text)
            .map_err(|e| TrainError::Io { file: report.display().to_string(), message: e.to_string() })?;
        let evals: Vec<(usize, f32)> = self.evals.iter().map(|e| (e.step, e.loss)).collect();
        write_loss_curve(&dir.join("loss.png"), &self.losses, &evals)?;
        Ok(exported)
    }

    /// The surprise calibration (`strider_policy::Calibration`): each field's prediction
    /// error and the threshold, over whole held-out episodes, teacher-forced as the runtime
    /// streams them (one pass over each episode from its first tick; the pass and the
    /// stream agree within 1e-4, tests/policy/parity.rs), up to
    /// [`SURPRISE_CALIBRATION_TICKS`] ticks. `None` without held-out episodes. `sensor`
    /// has one entry per observation field ([`strider_policy::Manifest::sensor_fields`]).
    pub fn calibrate_surprise(&self, sensor: &[bool]) -> Result<Option<SurpriseSection>, TrainError> {
        let no = self.layout.obs_dim();
        let mut calibration = Calibration::default();
        let mut rng = Rng::new(0);
        let mut episodes = 0;
        for (e, ep) in self.held.iter().enumerate() {
            if calibration.ticks() >= SURPRISE_CALIBRATION_TICKS {
                break;
            }
            let k = ep.len() - 1;
            let w = windows(&self.held, &self.tokenizer, &[(e, 0)], k, 0.0, &mut rng, false);
            let (batch, _) = to_batch(&w)?;
            let (_, obs_pred) = self.model.forward(&batch)?;
            let pred: Vec<f32> = obs_pred.flatten_all()?.to_vec1()?;
            for j in 0..k {
                let at = j * no..(j + 1) * no;
                let (p, x, m) = (&pred[at.clone()], &w.next_obs[at.clone()], &w.next_obs_missing[at]);
                calibration.add(p, x, m, sensor);
            }
            episodes += 1;
        }
        Ok(calibration.finish(sensor, format!("{episodes} held-out training episodes, teacher-forced")))
    }

    /// Weights and optimiser moments (`checkpoint.safetensors`) and the loop's state
    /// (`checkpoint.toml`).
    pub fn save_checkpoint(&self, dir: &Path) -> Result<(), TrainError> {
        let io = |p: &Path, e: &dyn std::fmt::Display| TrainError::Checkpoint {
            file: p.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, &e))?;
        let mut tensors: HashMap<String, Tensor> = self.opt.state();
        for (name, var) in self.model.named_vars() {
            tensors.insert(format!("param/{name}"), var.as_tensor().clone());
        }
        let st = dir.join("checkpoint.safetensors");
        candle_core::safetensors::save(&tensors, &st).map_err(|e| io(&st, &e))?;
        let meta = CheckpointMeta {
            step: self.step,
            adam_t: self.opt.t,
            rng_state: self.rng.state(),
            train_losses: self.losses.clone(),
            evaluations: self.evals.clone(),
        };
        let mt = dir.join("checkpoint.toml");
        let text = toml::to_string(&meta).map_err(|e| io(&mt, &e))?;
        std::fs::write(&mt, text).map_err(|e| io(&mt, &e))
    }

    /// Fine-tuning: takes the weights of the model in `model_dir` (its `checkpoint/` when it
    /// is a training directory, else the ONNX file its manifest names, e.g. a shipped model)
    /// and its normalisation (`model.toml`), so the network sees its inputs
    /// scaled as it learned them whatever data follows. The optimiser, step count and
    /// schedule start afresh.
    pub fn warm_start(&mut self, model_dir: &Path) -> Result<(), TrainError> {
        let manifest = model_dir.join("model.toml");
        let m = strider_policy::Manifest::load(&manifest).map_err(|e| TrainError::Checkpoint {
            file: manifest.display().to_string(),
            message: e.to_string(),
        })?;
        let st = model_dir.join("checkpoint").join("checkpoint.safetensors");
        if st.exists() {
            self.load_params(&st)?;
        } else {
            // A shipped model: the weights come back out of its ONNX file.
            let onnx = model_dir.join(&m.onnx.file);
            let file = onnx.display().to_string();
            let bytes = std::fs::read(&onnx)
                .map_err(|e| TrainError::Checkpoint { file: file.clone(), message: e.to_string() })?;
            crate::export::load_onnx_params(&self.model, &bytes, &file)?;
        }
        let tokenizer = m.tokenizer();
        let (obs, act) = (tokenizer.obs.dim(), tokenizer.act.dim());
        if (obs, act) != (self.layout.obs_dim(), self.layout.action_dim()) {
            return Err(TrainError::Checkpoint {
                file: manifest.display().to_string(),
                message: format!(
                    "normalises {obs} observation and {act} action fields, the data has {} and {}",
                    self.layout.obs_dim(),
                    self.layout.action_dim()
                ),
            });
        }
        self.tokenizer = tokenizer;
        Ok(())
    }

    fn load_params(&mut self, st: &Path) -> Result<HashMap<String, Tensor>, TrainError> {
        let bad = |p: &Path, m: String| TrainError::Checkpoint { file: p.display().to_string(), message: m };
        let tensors = candle_core::safetensors::load(st, &Device::Cpu).map_err(|e| bad(st, e.to_string()))?;
        for (name, var) in self.model.named_vars() {
            let key = format!("param/{name}");
            let t = tensors.get(&key).ok_or_else(|| bad(st, format!("missing tensor `{key}`")))?;
            if t.dims() != var.dims() {
                return Err(bad(
                    st,
                    format!("`{key}` has shape {:?}, the config gives {:?}", t.dims(), var.dims()),
                ));
            }
            var.set(t)?;
        }
        Ok(tensors)
    }

    /// Continues from a checkpoint written by [`Trainer::save_checkpoint`] with the same
    /// config and data: weights, optimiser moments, step, sampler state and history.
    pub fn resume(&mut self, dir: &Path) -> Result<(), TrainError> {
        let st = dir.join("checkpoint.safetensors");
        let bad = |p: &Path, m: String| TrainError::Checkpoint { file: p.display().to_string(), message: m };
        let tensors = self.load_params(&st)?;
        let mt = dir.join("checkpoint.toml");
        let text = std::fs::read_to_string(&mt).map_err(|e| bad(&mt, e.to_string()))?;
        let meta: CheckpointMeta = toml::from_str(&text).map_err(|e| bad(&mt, e.message().to_string()))?;
        self.opt.load_state(&tensors, meta.adam_t).map_err(|m| bad(&st, m))?;
        self.step = meta.step;
        self.rng = Rng::from_state(meta.rng_state);
        self.losses = meta.train_losses;
        self.evals = meta.evaluations;
        Ok(())
    }
}

struct Targets {
    act: Tensor,
    next_obs: Tensor,
}

fn to_batch(w: &Windows) -> Result<(Batch, Targets), TrainError> {
    let dev = &Device::Cpu;
    let t = |v: &[f32], d: usize| Tensor::from_slice(v, (w.batch, w.ticks, d), dev);
    let (no, na) = (w.obs_dim, w.action_dim);
    Ok((
        Batch {
            obs: t(&w.obs, no)?,
            obs_missing: t(&w.obs_missing, no)?,
            act: t(&w.act, na)?,
            act_missing: t(&w.act_missing, na)?,
        },
        Targets { act: t(&w.act_target, na)?, next_obs: t(&w.next_obs, no)? },
    ))
}

/// Refuses episodes whose rows are not `layout`'s widths, naming the first.
fn check_widths(episodes: &[Episode], layout: &Layout, source: &str) -> Result<(), TrainError> {
    let (no, na) = (layout.obs_dim(), layout.action_dim());
    for (i, e) in episodes.iter().enumerate() {
        let actions = e.act.iter().chain(&e.executed).map(|a| a.width()).find(|&w| w != na);
        if e.obs.width() != no || actions.is_some() {
            return Err(TrainError::Data(format!(
                "{source}: episode {i} has {} observation and {} action fields, the robot's layout {no} and {na}",
                e.obs.width(),
                actions.unwrap_or(na)
            )));
        }
    }
    Ok(())
}

fn masked_mse(pred: &Tensor, target: &Tensor, missing: &[f32]) -> Result<Tensor, TrainError> {
    let keep: Vec<f32> = missing.iter().map(|m| 1.0 - m).collect();
    let n = keep.iter().sum::<f32>().max(1.0);
    let keep = Tensor::from_vec(keep, pred.shape(), &Device::Cpu)?;
    Ok(((pred - target)?.sqr()? * keep)?.sum_all()?.affine(1.0 / f64::from(n), 0.0)?)
}

/// At most this many held-out ticks calibrate the surprise threshold.
pub const SURPRISE_CALIBRATION_TICKS: usize = 50_000;

/// Builds sequences of `k` ticks at `(episode, start)`, tokens of `tok`'s widths.
/// Observation fields are dropped to
/// `[M]` with probability `dropout` (inputs only; targets keep them). With
/// `mask_last_action`, the newest tick's action input is `[M]`, as at run time.
fn windows(
    eps: &[Episode],
    tok: &Tokenizer,
    starts: &[(usize, usize)],
    k: usize,
    dropout: f32,
    rng: &mut Rng,
    mask_last_action: bool,
) -> Windows {
    let (b, no, na) = (starts.len(), tok.obs.dim(), tok.act.dim());
    let mut w = Windows {
        batch: b,
        ticks: k,
        obs_dim: no,
        action_dim: na,
        obs: vec![0.0; b * k * no],
        obs_missing: vec![0.0; b * k * no],
        act: vec![0.0; b * k * na],
        act_missing: vec![0.0; b * k * na],
        act_target: vec![0.0; b * k * na],
        act_target_missing: vec![0.0; b * k * na],
        act_target_last: vec![0.0; b * na],
        next_obs: vec![0.0; b * k * no],
        next_obs_missing: vec![0.0; b * k * no],
    };
    for (bi, &(e, s)) in starts.iter().enumerate() {
        let ep = &eps[e];
        for j in 0..k {
            let (o, a) = ((bi * k + j) * no, (bi * k + j) * na);
            let (os, as_) = (o..o + no, a..a + na);
            tok.obs.normalise(&ep.obs[s + j], &mut w.obs[os.clone()], &mut w.obs_missing[os.clone()]);
            tok.obs.normalise(
                &ep.obs[s + j + 1],
                &mut w.next_obs[os.clone()],
                &mut w.next_obs_missing[os.clone()],
            );
            if dropout > 0.0 {
                for i in os.clone() {
                    if rng.uniform() < dropout {
                        (w.obs[i], w.obs_missing[i]) = (0.0, 1.0);
                    }
                }
            }
            match &ep.act {
                Some(acts) => {
                    tok.act.normalise(
                        &acts[s + j],
                        &mut w.act_target[as_.clone()],
                        &mut w.act_target_missing[as_.clone()],
                    );
                    // The model's past action: the executed one where the episode keeps it.
                    let past = ep.executed.as_ref().map_or(&acts[s + j], |x| &x[s + j]);
                    tok.act.normalise(past, &mut w.act[as_.clone()], &mut w.act_missing[as_.clone()]);
                    if j == k - 1 {
                        w.act_target_last[bi * na..(bi + 1) * na].copy_from_slice(&w.act_target[as_.clone()]);
                        if mask_last_action {
                            // The input is [M] as at run time; the target still scores it.
                            w.act[as_.clone()].fill(0.0);
                            w.act_missing[as_].fill(1.0);
                        }
                    }
                }
                None => {
                    w.act_missing[as_.clone()].fill(1.0);
                    w.act_target_missing[as_].fill(1.0);
                }
            }
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Rows;
    use candle_core::Var;

    /// The reference biped's layout and an identity tokenizer of it.
    fn biped() -> (usize, usize, Tokenizer) {
        let layout = RobotSpec::reference().layout();
        (layout.obs_dim(), layout.action_dim(), Tokenizer::identity(&layout))
    }

    /// Five ticks of rows of `width` values, each row tick + `offset`.
    fn ramp(width: usize, offset: f32) -> Rows {
        Rows::from_rows(width, (0..5).map(|t| vec![t as f32 + offset; width]))
    }

    /// A target marked `[M]` changes neither the loss nor the gradient, whatever value it
    /// holds; known targets are averaged over their count only.
    #[test]
    fn masked_targets_carry_no_loss_or_gradient() {
        let dev = &Device::Cpu;
        let pred = Var::from_vec(vec![1f32, 2.0, 3.0, 4.0], (1, 2, 2), dev).unwrap();
        let missing = [0.0, 1.0, 0.0, 1.0];
        let t1 = Tensor::from_vec(vec![0f32, 2.0, 0.0, 4.0], (1, 2, 2), dev).unwrap();
        let t2 = Tensor::from_vec(vec![0f32, 99.0, 0.0, -7.0], (1, 2, 2), dev).unwrap();
        let l1 = masked_mse(&pred, &t1, &missing).unwrap();
        let l2 = masked_mse(&pred, &t2, &missing).unwrap();
        assert_eq!(l1.to_scalar::<f32>().unwrap(), 5.0, "(1² + 3²) / 2 known targets");
        assert_eq!(l2.to_scalar::<f32>().unwrap(), 5.0);
        let grads = l2.backward().unwrap();
        let g: Vec<f32> = grads.get(pred.as_tensor()).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(g, vec![1.0, 0.0, 3.0, 0.0]);
    }

    /// Windows of an action-free episode mark every action target `[M]`; at evaluation the
    /// newest action input is `[M]` while its target is still scored.
    #[test]
    fn windows_mark_unknown_action_targets() {
        let (k, no, na, identity) = (3, biped().0, biped().1, biped().2);
        let ep = |act: bool| Episode {
            obs: ramp(no, 0.0),
            act: act.then(|| ramp(na, 0.5)),
            executed: None,
            set: 0,
        };
        let eps = vec![ep(true), ep(false)];
        let mut rng = Rng::new(0);
        let w = windows(&eps, &identity, &[(0, 1), (1, 1)], k, 0.0, &mut rng, true);
        let row = |v: &[f32], b: usize, j: usize| v[(b * k + j) * na];
        assert_eq!(
            (row(&w.act, 0, 0), row(&w.act_missing, 0, 0), row(&w.act_target_missing, 0, 0)),
            (1.5, 0.0, 0.0)
        );
        assert_eq!((row(&w.act, 0, 2), row(&w.act_missing, 0, 2)), (0.0, 1.0), "pending action is [M]");
        assert_eq!(
            (row(&w.act_target, 0, 2), row(&w.act_target_missing, 0, 2)),
            (3.5, 0.0),
            "but still scored"
        );
        assert!((0..k).all(|j| row(&w.act_target_missing, 1, j) == 1.0 && row(&w.act_missing, 1, j) == 1.0));
        assert_eq!(w.next_obs[(k - 1) * no], 4.0, "observation target is the next tick");
    }

    #[test]
    fn executed_actions_are_the_past_and_labels_the_targets() {
        let (k, no, na, identity) = (3, biped().0, biped().1, biped().2);
        let ep =
            Episode { obs: ramp(no, 0.0), act: Some(ramp(na, 0.5)), executed: Some(ramp(na, -0.25)), set: 0 };
        let mut rng = Rng::new(0);
        let w = windows(&[ep], &identity, &[(0, 1)], k, 0.0, &mut rng, true);
        let row = |v: &[f32], j: usize| v[j * na];
        assert_eq!((row(&w.act, 0), row(&w.act, 1)), (0.75, 1.75), "past actions: what was executed");
        assert_eq!(
            (0..k).map(|j| row(&w.act_target, j)).collect::<Vec<_>>(),
            vec![1.5, 2.5, 3.5],
            "targets: the labels"
        );
        assert_eq!(w.act_target_last[0], 3.5);
        assert_eq!((row(&w.act, 2), row(&w.act_missing, 2)), (0.0, 1.0), "pending action is [M]");
    }
}
