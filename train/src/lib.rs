//! Training the trajectory transformer, and exporting it for deployment.
//!
//! This crate owns the candle model (`model.rs`), the dataset seam through which
//! trajectories arrive (`data.rs`: synthetic linear systems today, recorded logs later),
//! the training loop (masked MSE on next action and next observation, AdamW, warm-up +
//! cosine, clipping, held-out evaluation, checkpoints and resume), the loss-curve picture,
//! and the ONNX + manifest export. It is the only crate that names a candle type.
//!
//! It does not run models at deployment time or define what a token means: both belong
//! to `strider-policy`, whose tokenizer and manifest this crate fills in.

mod config;
mod data;
mod error;
mod export;
mod model;
mod optim;
pub mod plot;
mod rng;
mod trainer;

pub use config::{ActionHistory, DataConfig, ModelConfig, OptimConfig, TrainConfig};
pub use data::{Episode, EpisodeSource, LinearSystem, LogEpisodes, Rows, SyntheticLinear, Windows};
pub use error::TrainError;
pub use export::{
    Exported, OPSET, convert_model, load_onnx_params, manifest_for, onnx_bytes, reexport, write_model,
    write_model_as,
};
pub use model::{LN_EPS, MASKED_SCORE, Model, alibi_slopes, alibi_window_bias, attention_span};
pub use plot::write_loss_curve;
pub use rng::Rng;
pub use trainer::{Evaluation, Progress, SURPRISE_CALIBRATION_TICKS, TrainReport, Trainer, lr_at};
