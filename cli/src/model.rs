//! The policy a command runs: a model file given with `--model`, or the model built into
//! the binary (`models/walker2d-biped/`, trained by `strider train` on `strider collect`
//! demonstrations; its training report sits beside it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use strider_policy::{Interface, Policy, PolicyBatch, PolicyError};
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

/// As [`load`], for `lanes` streams evaluated together (offline evaluation). A one-token
/// Strider model is evaluated as its two-token re-export: the same function (the parity
/// tests hold both to the candle pass), which batches at twice the rate — one call per tick
/// instead of two, each paying per-lane cache work (docs/BENCHMARKS.md). A file that is not
/// a Strider export runs as it is.
pub fn load_batch(
    path: Option<&Path>,
    spec: &RobotSpec,
    lanes: usize,
) -> anyhow::Result<Loaded<PolicyBatch>> {
    let loaded = load_with(
        path,
        |m| PolicyBatch::load(m, spec, lanes),
        || PolicyBatch::from_bytes(MANIFEST, BUILT_IN, ONNX, BUILT_IN_ONNX, spec, lanes),
    )?;
    if loaded.policy.manifest().onnx.interface != Interface::Token {
        return Ok(loaded);
    }
    two_token_form(loaded, path, spec, lanes)
}

/// `loaded` (a one-token model) re-exported as a two-token graph of the same weights, or
/// as it is where that is not possible.
#[cfg(feature = "train")]
fn two_token_form(
    loaded: Loaded<PolicyBatch>,
    path: Option<&Path>,
    spec: &RobotSpec,
    lanes: usize,
) -> anyhow::Result<Loaded<PolicyBatch>> {
    let manifest = loaded.policy.manifest();
    let (bytes, onnx_name) = match path {
        Some(p) => {
            let file = manifest_path(p).parent().unwrap_or(Path::new(".")).join(&manifest.onnx.file);
            (
                std::fs::read(&file).with_context(|| format!("{}: cannot read", file.display()))?,
                file.display().to_string(),
            )
        }
        None => (ONNX.to_vec(), BUILT_IN_ONNX.to_string()),
    };
    match strider_train::reexport(manifest, &bytes, &onnx_name, spec, Interface::Pair) {
        Ok((pair, pair_bytes)) => {
            let policy = PolicyBatch::from_bytes(
                &pair.to_toml_string(),
                &loaded.name,
                &pair_bytes,
                &onnx_name,
                spec,
                lanes,
            )
            .context("loading the model's two-token form")?;
            Ok(Loaded { policy, name: loaded.name })
        }
        Err(_) => Ok(loaded),
    }
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

/// Without the training engine there is no re-export: the one-token model batches as it is.
#[cfg(not(feature = "train"))]
fn two_token_form(
    loaded: Loaded<PolicyBatch>,
    _: Option<&Path>,
    _: &RobotSpec,
    _: usize,
) -> anyhow::Result<Loaded<PolicyBatch>> {
    Ok(loaded)
}
