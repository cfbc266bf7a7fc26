//! Training configuration: one TOML file, loaded into these `Default` structs.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::TrainError;

/// The network's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Transformer blocks (default 4, as in the paper).
    pub layers: usize,
    /// Residual width (default 192); a multiple of `heads`.
    pub width: usize,
    /// Attention heads (default 4).
    pub heads: usize,
    /// Hidden width of each block's MLP as a multiple of `width` (default 4).
    pub mlp_ratio: usize,
    /// Context window K in ticks (default 16; 2K tokens).
    pub context_ticks: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig { layers: 4, width: 192, heads: 4, mlp_ratio: 4, context_ticks: 16 }
    }
}

/// The optimiser and schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OptimConfig {
    /// Optimiser steps (default 2000).
    pub steps: usize,
    /// Sequences per step (default 32).
    pub batch_size: usize,
    /// Ticks per training sequence (default 32; at least `model.context_ticks`). Each
    /// token attends only to the 2K tokens up to itself, as at run time; sequences longer
    /// than K also train the deeper layers on the older history that reaches them through
    /// the key/value caches when the policy streams.
    pub sequence_ticks: usize,
    /// Peak learning rate (default 1e-3).
    pub learning_rate: f64,
    /// Linear warm-up steps before the cosine decay (default 100).
    pub warmup_steps: usize,
    /// Final learning rate as a fraction of the peak (default 0.1).
    pub final_lr_fraction: f64,
    /// AdamW decoupled weight decay (default 0.01).
    pub weight_decay: f64,
    /// Global gradient-norm clip (default 1.0).
    pub grad_clip: f64,
    /// Weight of the next-observation loss, λ (default 0.5).
    pub obs_loss_weight: f64,
    /// Probability that one observation field of a training tick is replaced by `[M]`
    /// (default 0.02), so the model learns to act with a failed sensor.
    pub field_dropout: f64,
    /// Held-out evaluation every this many steps (default 100).
    pub eval_every: usize,
    /// Checkpoint every this many steps (default 500; 0 = only at the end).
    pub checkpoint_every: usize,
    /// Seed of data sampling and initial weights (default 0).
    pub seed: u64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            steps: 2000,
            batch_size: 32,
            sequence_ticks: 32,
            learning_rate: 1e-3,
            warmup_steps: 100,
            final_lr_fraction: 0.1,
            weight_decay: 0.01,
            grad_clip: 1.0,
            obs_loss_weight: 0.5,
            field_dropout: 0.02,
            eval_every: 100,
            checkpoint_every: 500,
            seed: 0,
        }
    }
}

/// Where trajectories come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Recorded logs to train on: an MCAP file or a directory of them (`strider collect`
    /// output), or a list of such paths, relative to the working directory. Default none:
    /// synthetic episodes.
    #[serde(deserialize_with = "one_or_many", skip_serializing_if = "Vec::is_empty")]
    pub logs: Vec<PathBuf>,
    /// Synthetic linear-system episodes, used when `logs` is not set (default 64).
    pub synthetic_episodes: usize,
    /// Ticks per synthetic episode (default 200).
    pub episode_ticks: usize,
    /// Fraction of episodes held out for evaluation (default 0.125).
    pub held_out_fraction: f64,
    /// Which actions fill the history the model reads (default `labels`).
    pub action_history: ActionHistory,
}

/// The actions a training window feeds as the model's past actions. The targets are the
/// labels either way; the two differ only where a log records an executed action apart from
/// its label (`applied`: the expert's DART noise, or the policy that drove a DAgger rollout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionHistory {
    /// The labels: the expert's actions, as if it had driven every tick.
    #[default]
    Labels,
    /// What was executed: the history a policy holds at run time (its own actions), with
    /// observations that follow from those actions.
    Executed,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            logs: Vec::new(),
            synthetic_episodes: 64,
            episode_ticks: 200,
            held_out_fraction: 0.125,
            action_history: ActionHistory::Labels,
        }
    }
}

/// A whole training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub model: ModelConfig,
    pub optim: OptimConfig,
    pub data: DataConfig,
    /// Output directory for `model.onnx`, `model.toml`, the report, the loss curve and
    /// checkpoints (default `runs/latest`), relative to the working directory.
    pub out_dir: PathBuf,
    /// Fine-tune: start from the weights and the normalisation (`model.toml`) of the model
    /// in this directory — a training output (weights from `checkpoint/`) or a shipped
    /// model (weights read back from its ONNX file) — instead of a fresh initialisation.
    /// The `[model]` shape must be the same. Default none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_from: Option<PathBuf>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: ModelConfig::default(),
            optim: OptimConfig::default(),
            data: DataConfig::default(),
            out_dir: PathBuf::from("runs/latest"),
            init_from: None,
        }
    }
}

/// `logs = "data"` or `logs = ["data", "dagger/round-1/data"]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(PathBuf),
        Many(Vec<PathBuf>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(p) => vec![p],
        OneOrMany::Many(v) => v,
    })
}

impl TrainConfig {
    pub fn load(path: &Path) -> Result<TrainConfig, TrainError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TrainError::Io { file: file.clone(), message: e.to_string() })?;
        let cfg: TrainConfig = toml::from_str(&text)
            .map_err(|e| TrainError::Config { file: file.clone(), message: e.message().to_string() })?;
        cfg.validate(&file)?;
        Ok(cfg)
    }

    pub fn validate(&self, file: &str) -> Result<(), TrainError> {
        let bad = |field: &str, message: &str| {
            Err(TrainError::Config { file: file.to_string(), message: format!("{field}: {message}") })
        };
        let m = &self.model;
        if m.layers == 0 || m.heads == 0 || m.context_ticks == 0 || m.mlp_ratio == 0 {
            return bad("model", "layers, heads, mlp_ratio and context_ticks must be at least 1");
        }
        if !m.width.is_multiple_of(m.heads) {
            return bad("model.width", "must be a multiple of model.heads");
        }
        if self.optim.batch_size == 0 || self.optim.steps == 0 {
            return bad("optim", "steps and batch_size must be at least 1");
        }
        if self.optim.sequence_ticks < m.context_ticks {
            return bad("optim.sequence_ticks", "must be at least model.context_ticks");
        }
        if self.data.episode_ticks < self.optim.sequence_ticks + 1 {
            return bad("data.episode_ticks", "must exceed optim.sequence_ticks");
        }
        if !(0.0..1.0).contains(&self.data.held_out_fraction) {
            return bad("data.held_out_fraction", "must be in [0, 1)");
        }
        Ok(())
    }
}
