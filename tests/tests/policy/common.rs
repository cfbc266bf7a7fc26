//! Helpers: scratch directories and small exported models.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use strider_policy::Interface;
use strider_policy::Tokenizer;
use strider_robot::RobotSpec;
use strider_train::{Exported, Model, ModelConfig, write_model_as};

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "strider-policy-test-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The reference biped's observation and action widths.
pub fn widths() -> (usize, usize) {
    let layout = RobotSpec::reference().layout();
    (layout.obs_dim(), layout.action_dim())
}

pub fn small_config(ticks: usize) -> ModelConfig {
    ModelConfig { layers: 2, width: 32, heads: 4, mlp_ratio: 4, context_ticks: ticks }
}

/// A model with every parameter random, exported with the identity tokenizer.
pub fn export_random(cfg: &ModelConfig, seed: u64, dir: &Path) -> (Model, Exported) {
    export_random_as(cfg, seed, dir, Interface::Token)
}

/// As [`export_random`], with the graph interface given.
pub fn export_random_as(cfg: &ModelConfig, seed: u64, dir: &Path, interface: Interface) -> (Model, Exported) {
    let spec = RobotSpec::reference();
    let layout = spec.layout();
    let model = Model::new(cfg, &layout, seed).expect("model");
    model.randomize_all(seed, 1.0).expect("randomize");
    let exported = write_model_as(&model, &Tokenizer::identity(&layout), &spec, dir, "model", interface)
        .expect("export");
    (model, exported)
}

/// Every graph interface the runtime runs.
pub const INTERFACES: [Interface; 3] = [Interface::Token, Interface::Pair, Interface::Window];
