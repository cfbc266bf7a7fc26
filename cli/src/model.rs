//! The policy a command runs: a model file given with `--model`, or the model built into
//! the binary (`models/walker2d-biped/`, trained by `strider train` on `strider collect`
//! demonstrations; its training report sits beside it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use strider_policy::{Policy, PolicyBatch, PolicyError};
use strider_robot::RobotSpec;

const MANIFEST: &str = include_str!("../../models/walker2d-biped/model.toml");
const ONNX: &[u8] = include_bytes!("../../models/walker2d-biped/model.onnx");
/// How the built-in model is named in summaries and errors.
pub const BUILT_IN: &str = "built-in models/walker2d-biped/model.toml";

/// A loaded policy and what to call it.
pub struct Loaded<P = Policy> {
    pub policy: P,
    pub name: String,
}

const BUILT_IN_ONNX: &str = "built-in models/walker2d-biped/model.onnx";

/// `path` (a manifest, or the `.onnx` beside it), or the built-in model; checked against
/// `spec` either way.
pub fn load(path: Option<&Path>, spec: &RobotSpec) -> anyhow::Result<Loaded> {
    load_with(
        path,
        |m| Policy::load(m, spec),
        || Policy::from_bytes(MANIFEST, BUILT_IN, ONNX, BUILT_IN_ONNX, spec),
    )
}

/// As [`load`], for `lanes` streams evaluated together (offline evaluation).
pub fn load_batch(
    path: Option<&Path>,
    spec: &RobotSpec,
    lanes: usize,
) -> anyhow::Result<Loaded<PolicyBatch>> {
    load_with(
        path,
        |m| PolicyBatch::load(m, spec, lanes),
        || PolicyBatch::from_bytes(MANIFEST, BUILT_IN, ONNX, BUILT_IN_ONNX, spec, lanes),
    )
}

/// The model file `path` names through `from_file`, or the built-in one through `built_in`.
fn load_with<P>(
    path: Option<&Path>,
    from_file: impl FnOnce(&Path) -> Result<P, PolicyError>,
    built_in: impl FnOnce() -> Result<P, PolicyError>,
) -> anyhow::Result<Loaded<P>> {
    match path {
        Some(p) => {
            let manifest = manifest_path(p);
            let policy = from_file(&manifest).context("loading model")?;
            Ok(Loaded { policy, name: manifest.display().to_string() })
        }
        None => {
            Ok(Loaded { policy: built_in().context("loading the built-in model")?, name: BUILT_IN.into() })
        }
    }
}

/// The manifest a `--model` path names: itself, or the `.toml` beside an `.onnx`.
pub fn manifest_path(p: &Path) -> PathBuf {
    if p.extension().is_some_and(|e| e == "onnx") { p.with_extension("toml") } else { p.to_path_buf() }
}
