//! The policy a command runs: a model file given with `--model`, or the model built into
//! the binary for the robot (`models/walker2d-biped/` for the reference biped,
//! `models/hopper/` for the hopper; each trained by `strider train` on `strider collect`
//! demonstrations, its training report and recipe beside it).

use std::path::{Path, PathBuf};

use anyhow::Context;
#[cfg(feature = "train")]
use strider_policy::Interface;
use strider_policy::{Policy, PolicyBatch, PolicyError};
use strider_robot::RobotSpec;

/// A model built into the binary.
struct BuiltIn {
    /// How its manifest is named in summaries and errors.
    name: &'static str,
    manifest: &'static str,
    onnx_name: &'static str,
    onnx: &'static [u8],
}

macro_rules! built_in {
    ($dir:literal) => {
        BuiltIn {
            name: concat!("built-in models/", $dir, "/model.toml"),
            manifest: include_str!(concat!("../../models/", $dir, "/model.toml")),
            onnx_name: concat!("built-in models/", $dir, "/model.onnx"),
            onnx: include_bytes!(concat!("../../models/", $dir, "/model.onnx")),
        }
    };
}

/// The built-in models; the first is the default.
const BUILT_INS: [BuiltIn; 2] = [built_in!("walker2d-biped"), built_in!("hopper")];

/// The built-in model of `spec`'s robot (its contract id); the default one when none is,
/// whose checks then refuse the robot naming both contract ids.
fn built_in(spec: &RobotSpec) -> &'static BuiltIn {
    let id = spec.contract_id().to_string();
    BUILT_INS
        .iter()
        .find(|b| {
            strider_policy::Manifest::from_toml_str(b.manifest, b.name)
                .is_ok_and(|m| m.robot.contract_id == id)
        })
        .unwrap_or(&BUILT_INS[0])
}

/// A loaded policy and what to call it.
pub struct Loaded<P = Policy> {
    pub policy: P,
    pub name: String,
}

/// `path` (a manifest, or the `.onnx` beside it), or the built-in model; checked against
/// `spec` either way.
pub fn load(path: Option<&Path>, spec: &RobotSpec) -> anyhow::Result<Loaded> {
    let b = built_in(spec);
    load_with(
        path,
        |m| Policy::load(m, spec),
        || Policy::from_bytes(b.manifest, b.name, b.onnx, b.onnx_name, spec),
        b.name,
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
    #[cfg(feature = "train")]
    if let Some(loaded) = two_token_form(path, spec, lanes)? {
        return Ok(loaded);
    }
    let b = built_in(spec);
    load_with(
        path,
        |m| PolicyBatch::load(m, spec, lanes),
        || PolicyBatch::from_bytes(b.manifest, b.name, b.onnx, b.onnx_name, spec, lanes),
        b.name,
    )
}

/// The one-token Strider model `path` names (or the built-in one) as a two-token batch of
/// the same weights; `None` for any other model, and for one that fails a check — loading
/// it as it is then reports why.
#[cfg(feature = "train")]
fn two_token_form(
    path: Option<&Path>,
    spec: &RobotSpec,
    lanes: usize,
) -> anyhow::Result<Option<Loaded<PolicyBatch>>> {
    use std::borrow::Cow;
    let parse = |text: &str, name: &str| strider_policy::Manifest::from_toml_str(text, name).ok();
    let (manifest, name, onnx, onnx_name) = match path {
        Some(p) => {
            let file = manifest_path(p);
            let name = file.display().to_string();
            let Some(m) = std::fs::read_to_string(&file).ok().and_then(|t| parse(&t, &name)) else {
                return Ok(None);
            };
            let onnx = file.parent().unwrap_or(Path::new(".")).join(&m.onnx.file);
            let Ok(bytes) = std::fs::read(&onnx) else { return Ok(None) };
            (m, name, Cow::Owned(bytes), onnx.display().to_string())
        }
        None => {
            let b = built_in(spec);
            match parse(b.manifest, b.name) {
                Some(m) => (m, b.name.to_string(), Cow::Borrowed(b.onnx), b.onnx_name.to_string()),
                None => return Ok(None),
            }
        }
    };
    if manifest.onnx.interface != Interface::Token
        || manifest.check(spec, &name).is_err()
        || manifest.check_hash(&onnx, &onnx_name).is_err()
    {
        return Ok(None);
    }
    let Ok((pair, pair_bytes)) = strider_train::reexport(&manifest, &onnx, &onnx_name, spec, Interface::Pair)
    else {
        return Ok(None);
    };
    let policy = PolicyBatch::from_bytes(&pair.to_toml_string(), &name, &pair_bytes, &onnx_name, spec, lanes)
        .context("loading the model's two-token form")?;
    Ok(Some(Loaded { policy, name }))
}

/// The model file `path` names through `from_file`, or the built-in one (`built_in_name`)
/// through `built_in`.
fn load_with<P>(
    path: Option<&Path>,
    from_file: impl FnOnce(&Path) -> Result<P, PolicyError>,
    built_in: impl FnOnce() -> Result<P, PolicyError>,
    built_in_name: &str,
) -> anyhow::Result<Loaded<P>> {
    match path {
        Some(p) => {
            let manifest = manifest_path(p);
            let policy = from_file(&manifest).context("loading model")?;
            Ok(Loaded { policy, name: manifest.display().to_string() })
        }
        None => Ok(Loaded {
            policy: built_in().context("loading the built-in model")?,
            name: built_in_name.into(),
        }),
    }
}

/// The manifest a `--model` path names: itself, or the `.toml` beside an `.onnx`.
pub fn manifest_path(p: &Path) -> PathBuf {
    if p.extension().is_some_and(|e| e == "onnx") { p.with_extension("toml") } else { p.to_path_buf() }
}

/// The pilots of unpaced closed-loop rollouts (evaluation suites, DAgger rollouts), one per
/// worker thread. With `lanes` > 1, `jobs` pools of `lanes` lanes each ([`load_batch`]'s
/// form of the model): a thread's tick is a row of one batched call, and a rollout costs a
/// fraction of a one-stream one (docs/BENCHMARKS.md). With one lane, each thread loads a
/// one-stream [`Policy`] of its own, exactly as `strider sim` runs it.
pub struct Pilots<'a> {
    model: Option<&'a Path>,
    spec: &'a RobotSpec,
    pools: Vec<strider_controller::LanePool>,
    threads: usize,
}

impl<'a> Pilots<'a> {
    pub fn load(
        model: Option<&'a Path>,
        spec: &'a RobotSpec,
        jobs: usize,
        lanes: usize,
    ) -> anyhow::Result<Pilots<'a>> {
        let (jobs, lanes) = (jobs.max(1), lanes.max(1));
        let pools = if lanes > 1 {
            (0..jobs)
                .map(|_| {
                    load_batch(model, spec, lanes).map(|b| strider_controller::LanePool::start(b.policy))
                })
                .collect::<anyhow::Result<_>>()?
        } else {
            // Fail here, before any worker starts, if the model does not load.
            load(model, spec)?;
            Vec::new()
        };
        Ok(Pilots { model, spec, pools, threads: jobs * lanes })
    }

    /// Worker threads to run: one per lane.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Thread `t`'s pilot (`t` < [`Pilots::threads`]): lane `t / jobs` of pool `t % jobs`,
    /// always the same one, or a policy of its own.
    pub fn pilot(&self, t: usize) -> Result<Box<dyn strider_controller::Pilot>, String> {
        if self.pools.is_empty() {
            return load(self.model, self.spec)
                .map(|l| Box::new(l.policy) as Box<dyn strider_controller::Pilot>)
                .map_err(|e| format!("{e:#}"));
        }
        let jobs = self.pools.len();
        match self.pools[t % jobs].pilot(t / jobs) {
            Some(p) => Ok(Box::new(p)),
            None => {
                Err(format!("thread {t}: no free lane among {} (a lane serves one thread)", self.threads))
            }
        }
    }
}
