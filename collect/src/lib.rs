//! Training data from the simulator, written as sharded MCAP datasets (docs/LOGS.md).
//!
//! This crate owns the collection loop: which commands an episode gets ([`CommandMix`]),
//! who walks the robot ([`Pilot`]: the expert with action noise, or a trained policy with
//! the expert in shadow labelling every state the policy visits — DAgger), and the
//! dataset on disk ([`collect`]: shards written as `*.partial` and renamed when complete,
//! a `collect.toml` plan that a resume must match, a summary).
//!
//! It does not parse arguments or draw progress bars (the CLI), simulate (`strider-sim`),
//! run models (`strider-policy`) or pace a control loop (`strider-controller`, whose
//! [`Controller`](strider_controller::Controller) drives policy rollouts exactly as
//! `strider sim` and `strider deploy` do).

mod dataset;
mod error;
mod mix;
mod rollout;

pub use dataset::{DatasetSummary, Plan, PolicyRef, collect, episode_seed, shard_path, sim_state};
pub use error::CollectError;
pub use mix::CommandMix;
pub use rollout::Pilot;
