//! The model manifest: the TOML file beside every `.onnx` that says what its tokens mean,
//! and the checks that refuse a model which does not fit the robot or its own graph.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use strider_robot::{Field, RobotSpec};

use crate::error::PolicyError;
use crate::graph_io::{GraphIo, Interface, TensorSpec};
use crate::surprise::SurpriseSection;
use crate::tokens::{Normaliser, Tokenizer};

/// The manifest format this build writes and reads.
pub const FORMAT_VERSION: u32 = 2;

/// Everything deployment must know about a model file. See `docs/TOKENS.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    pub robot: RobotSection,
    pub timing: TimingSection,
    pub context: ContextSection,
    pub model: ModelSection,
    /// Every observation field in token order, with its normalisation.
    pub observation: Vec<FieldNorm>,
    /// Every action field in token order, with its normalisation.
    pub action: Vec<FieldNorm>,
    pub onnx: OnnxSection,
    /// The surprise threshold calibrated on clean data; absent in a model never calibrated
    /// (then nothing is called surprising; `strider replay --calibrate-surprise` adds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surprise: Option<SurpriseSection>,
}

/// Which robot the model was trained for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobotSection {
    pub name: String,
    /// The robot contract id (16 hex digits), see `strider robot show`.
    pub contract_id: String,
    /// Joint names in the order of every joint-indexed field.
    pub joints: Vec<String>,
}

/// When tokens happen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimingSection {
    /// One tick = one observation and one action, at this rate (Hz).
    pub control_hz: u32,
    /// `A_k` is computed from `O_1..O_k` and `A_1..A_{k-1}` and first applied this many
    /// ticks after `O_k` was measured (0: during tick k, before `O_{k+1}`).
    pub action_delay_ticks: u32,
}

/// The token sentence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextSection {
    /// Context K in ticks: every token attends to itself and the 2K − 1 tokens before it
    /// (so the action at `O_k` sees the last K observations and K − 1 actions).
    pub ticks: usize,
    /// Token modalities within a tick, in order: `["observation", "action"]`.
    pub token_layout: Vec<String>,
    /// Position scheme; `"alibi"`: attention bias −slope·(query − key) in tokens.
    pub position: String,
}

/// The network's size; `layers`, `width` and `heads` fix the shapes of the graph's
/// key/value caches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    pub layers: usize,
    pub width: usize,
    pub heads: usize,
    pub parameters: u64,
}

/// One token field: `z = clamp((x − mean) / std, ±clamp)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldNorm {
    pub name: String,
    pub unit: String,
    pub mean: Option<f32>,
    pub std: Option<f32>,
    /// In standard deviations.
    pub clamp: Option<f32>,
}

/// The graph file and its interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnnxSection {
    /// Path of the `.onnx` file, relative to the manifest.
    pub file: String,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
    pub opset: i64,
    /// How the graph takes its tokens; `pair` when absent (files written before it existed).
    #[serde(default)]
    pub interface: Interface,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest, PolicyError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| PolicyError::Read { file: file.clone(), message: e.to_string() })?;
        Manifest::from_toml_str(&text, &file)
    }

    pub fn from_toml_str(text: &str, file: &str) -> Result<Manifest, PolicyError> {
        toml::from_str(text).map_err(|e| PolicyError::Parse {
            file: file.to_string(),
            // toml's message spans several lines (a source excerpt); keep one.
            message: e.message().to_string(),
        })
    }

    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("a manifest always serialises")
    }

    /// Refuses a manifest that does not describe a model for `spec`, or that is
    /// inconsistent in itself. The error names the first offending field.
    pub fn check(&self, spec: &RobotSpec, file: &str) -> Result<(), PolicyError> {
        let mismatch = |field: &str, expected: String, found: String| PolicyError::Mismatch {
            file: file.to_string(),
            field: field.to_string(),
            expected,
            found,
        };
        if self.format_version != FORMAT_VERSION {
            return Err(mismatch(
                "format_version",
                FORMAT_VERSION.to_string(),
                self.format_version.to_string(),
            ));
        }
        let id = spec.contract_id().to_string();
        if self.robot.contract_id != id {
            return Err(mismatch("robot.contract_id", id, self.robot.contract_id.clone()));
        }
        let joints: Vec<String> = spec.joints.iter().map(|j| j.name.clone()).collect();
        if self.robot.joints != joints {
            return Err(mismatch("robot.joints", joints.join(","), self.robot.joints.join(",")));
        }
        if self.timing.control_hz != spec.control.control_hz {
            return Err(mismatch(
                "timing.control_hz",
                spec.control.control_hz.to_string(),
                self.timing.control_hz.to_string(),
            ));
        }
        check_fields("observation", &self.observation, &spec.observation_layout(), file)?;
        check_fields("action", &self.action, &spec.action_layout(), file)?;
        self.check_context(file)?;
        if let Some(s) = &self.surprise {
            let invalid = |field: &str, message: &str| PolicyError::Invalid {
                file: file.to_string(),
                field: field.to_string(),
                message: message.to_string(),
            };
            if !(s.threshold.is_finite() && s.threshold > 0.0) {
                return Err(invalid("surprise.threshold", "must be a positive number"));
            }
            if !(s.quantile > 0.0 && s.quantile <= 1.0) {
                return Err(invalid("surprise.quantile", "must be in (0, 1]"));
            }
            let fields = self.observation.len();
            if s.field_error.len() != fields || !s.field_error.iter().all(|e| e.is_finite() && *e > 0.0) {
                return Err(invalid(
                    "surprise.field_error",
                    &format!("must be {fields} positive numbers, one per observation field"),
                ));
            }
        }
        let (m, layout) = (&self.model, spec.layout());
        let io = GraphIo::of_model(
            self.onnx.interface,
            layout.obs_dim(),
            layout.action_dim(),
            self.context.ticks,
            m.layers,
            m.heads,
            m.width / m.heads,
        );
        check_tensors("onnx.inputs", &io.inputs, &self.onnx.inputs, file)?;
        check_tensors("onnx.outputs", &io.outputs, &self.onnx.outputs, file)
    }

    fn check_context(&self, file: &str) -> Result<(), PolicyError> {
        let invalid = |field: &str, message: String| PolicyError::Invalid {
            file: file.to_string(),
            field: field.to_string(),
            message,
        };
        if self.context.ticks == 0 {
            return Err(invalid("context.ticks", "must be at least 1".into()));
        }
        if self.onnx.interface == Interface::Window && self.context.ticks < 2 {
            return Err(invalid(
                "context.ticks",
                "a window graph needs at least 2 (the prediction of O_k is read at A_{k−1})".into(),
            ));
        }
        if self.model.layers == 0
            || self.model.heads == 0
            || !self.model.width.is_multiple_of(self.model.heads)
        {
            return Err(invalid(
                "model",
                format!(
                    "layers {} and heads {} must be at least 1 and width {} a multiple of heads",
                    self.model.layers, self.model.heads, self.model.width
                ),
            ));
        }
        if self.context.token_layout != ["observation", "action"] {
            return Err(PolicyError::Mismatch {
                file: file.to_string(),
                field: "context.token_layout".into(),
                expected: "[\"observation\", \"action\"]".into(),
                found: format!("{:?}", self.context.token_layout),
            });
        }
        if self.context.position != "alibi" {
            return Err(invalid(
                "context.position",
                format!("`{}` is not supported; use \"alibi\"", self.context.position),
            ));
        }
        Ok(())
    }

    /// The normalisers; call after [`Manifest::check`], which guarantees they are present.
    pub fn tokenizer(&self) -> Tokenizer {
        let norm = |fields: &[FieldNorm]| Normaliser {
            mean: fields.iter().map(|f| f.mean.unwrap_or(0.0)).collect(),
            std: fields.iter().map(|f| f.std.unwrap_or(1.0)).collect(),
            clamp: fields.iter().map(|f| f.clamp.unwrap_or(crate::DEFAULT_CLAMP)).collect(),
        };
        Tokenizer { obs: norm(&self.observation), act: norm(&self.action) }
    }

    /// Which observation fields the robot measures (the surprise compares those), as
    /// opposed to the operator's command (`command*`): one per observation field.
    pub fn sensor_fields(&self) -> Vec<bool> {
        self.observation.iter().map(|f| !f.name.starts_with("command")).collect()
    }

    /// Field list of a modality from the robot layout and a fitted normaliser.
    pub fn fields(layout: &[Field], norm: &Normaliser) -> Vec<FieldNorm> {
        layout
            .iter()
            .map(|f| FieldNorm {
                name: f.name.clone(),
                unit: f.unit.to_string(),
                mean: Some(norm.mean[f.index]),
                std: Some(norm.std[f.index]),
                clamp: Some(norm.clamp[f.index]),
            })
            .collect()
    }

    /// Refuses an ONNX file whose hash differs from the manifest's.
    pub fn check_hash(&self, onnx_bytes: &[u8], file: &str) -> Result<(), PolicyError> {
        let found = sha256_hex(onnx_bytes);
        if found != self.onnx.sha256 {
            return Err(PolicyError::Mismatch {
                file: file.to_string(),
                field: "onnx.sha256".into(),
                expected: self.onnx.sha256.clone(),
                found: format!("{found} (the .onnx file was changed after export; re-export it)"),
            });
        }
        Ok(())
    }
}

/// Every field of `got` against the robot's `layout` of that modality: the count first,
/// then each field's name, unit and normalisation.
fn check_fields(section: &str, got: &[FieldNorm], layout: &[Field], file: &str) -> Result<(), PolicyError> {
    if got.len() != layout.len() {
        return Err(PolicyError::Mismatch {
            file: file.into(),
            field: format!("{section} (number of fields)"),
            expected: layout.len().to_string(),
            found: got.len().to_string(),
        });
    }
    for (f, want) in got.iter().zip(layout) {
        let at = format!("{section}[{}] ({})", want.index, want.name);
        let mismatch = |what: &str, expected: &str, found: &str| PolicyError::Mismatch {
            file: file.into(),
            field: format!("{at}.{what}"),
            expected: expected.into(),
            found: found.into(),
        };
        if f.name != want.name {
            return Err(mismatch("name", &want.name, &f.name));
        }
        if f.unit != want.unit {
            return Err(mismatch("unit", want.unit, &f.unit));
        }
        let bad = |what: &str, message: &str| PolicyError::Invalid {
            file: file.into(),
            field: format!("{at}.{what}"),
            message: message.into(),
        };
        match f.mean {
            None => return Err(bad("mean", "missing: every field needs its training-set normalisation")),
            Some(m) if !m.is_finite() => return Err(bad("mean", "must be a finite number")),
            _ => {}
        }
        match f.std {
            None => return Err(bad("std", "missing: every field needs its training-set normalisation")),
            Some(s) if !(s.is_finite() && s > 0.0) => return Err(bad("std", "must be finite and > 0")),
            _ => {}
        }
        if let Some(c) = f.clamp
            && !(c.is_finite() && c > 0.0)
        {
            return Err(bad("clamp", "must be finite and > 0 (standard deviations)"));
        }
    }
    Ok(())
}

fn check_tensors(
    section: &str,
    expected: &[TensorSpec],
    found: &[TensorSpec],
    file: &str,
) -> Result<(), PolicyError> {
    let mismatch = |field: String, e: String, f: String| PolicyError::Mismatch {
        file: file.into(),
        field,
        expected: e,
        found: f,
    };
    if expected.len() != found.len() {
        return Err(mismatch(
            format!("{section} (count)"),
            expected.len().to_string(),
            found.len().to_string(),
        ));
    }
    for (i, (e, f)) in expected.iter().zip(found).enumerate() {
        if e.name != f.name {
            return Err(mismatch(format!("{section}[{i}].name"), e.name.clone(), f.name.clone()));
        }
        if e.dtype != f.dtype {
            return Err(mismatch(
                format!("{section}[{i}] ({}).dtype", e.name),
                e.dtype.clone(),
                f.dtype.clone(),
            ));
        }
        if e.shape != f.shape {
            return Err(mismatch(
                format!("{section}[{i}] ({}).shape", e.name),
                format!("{:?}", e.shape),
                format!("{:?}", f.shape),
            ));
        }
    }
    Ok(())
}

/// Compares the graph's declared interface (read from the ONNX file) with the manifest's.
pub(crate) fn check_graph_io(manifest: &Manifest, graph: &GraphIo, file: &str) -> Result<(), PolicyError> {
    let field = |s: &str| format!("{s} (as declared in the ONNX graph)");
    check_tensors(&field("onnx.inputs"), &manifest.onnx.inputs, &graph.inputs, file)?;
    check_tensors(&field("onnx.outputs"), &manifest.onnx.outputs, &graph.outputs, file)
}
