//! The tract runtime: the only place in the workspace that names a tract type.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use strider_robot::{ACTION_DIM, Action, OBS_DIM, Observation, RobotSpec};

use crate::error::PolicyError;
use crate::graph_io::{BATCH_DIM, GraphIo, TensorSpec, output};
use crate::manifest::{Manifest, check_graph_io};
use crate::tokens::Tokenizer;
use crate::window::ContextWindow;

/// What one control tick produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutput {
    /// `A_k`, denormalised: joint targets to hand to the safety layer.
    pub action: Action,
    /// The model's prediction of this tick's observation `O_k`, made from the history
    /// before it (the output at `A_{k−1}`); `None` on the first tick. Comparing it with the
    /// measured observation is the anomaly signal. (The prediction of `O_{k+1}` needs
    /// `A_k` as input, so it comes out of the next tick's pass, causally, at no cost.)
    pub predicted_obs: Option<Observation>,
}

/// What a model file contains, for `strider policy inspect`.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSummary {
    /// Scalars in the graph's initializers (weights, biases, baked constants).
    pub initializer_scalars: u64,
    /// ONNX op type → count, as written in the file.
    pub onnx_ops: BTreeMap<String, usize>,
    /// tract op → count after optimisation, i.e. what runs each tick.
    pub optimised_ops: BTreeMap<String, usize>,
}

type Plan = Arc<TypedRunnableModel>;

/// A loaded, checked, optimised and warmed-up model with its context window.
pub struct Policy {
    manifest: Manifest,
    tokenizer: Tokenizer,
    window: ContextWindow,
    plan: Plan,
    state: TypedSimpleState,
    file: String,
    summary: GraphSummary,
    inputs: Inputs,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("file", &self.file).field("ticks", &self.window.capacity()).finish()
    }
}

fn engine(file: &str) -> impl Fn(anyhow_like::Error) -> PolicyError + '_ {
    move |e| PolicyError::Engine { file: file.to_string(), message: format!("{e:#}") }
}

/// tract's error type is `anyhow::Error`; name it once here.
mod anyhow_like {
    pub type Error = tract_onnx::prelude::TractError;
}

impl Policy {
    /// Loads `manifest_path` and the `.onnx` it names, refusing any mismatch with `spec`,
    /// with the file's hash or with the graph's declared interface; then optimises the
    /// graph for batch 1 and warms it up.
    pub fn load(manifest_path: &Path, spec: &RobotSpec) -> Result<Policy, PolicyError> {
        let file = manifest_path.display().to_string();
        let manifest = Manifest::load(manifest_path)?;
        manifest.check(spec, &file)?;
        let onnx_path = manifest_path.parent().unwrap_or(Path::new(".")).join(&manifest.onnx.file);
        let onnx_file = onnx_path.display().to_string();
        let bytes = std::fs::read(&onnx_path)
            .map_err(|e| PolicyError::Read { file: onnx_file.clone(), message: e.to_string() })?;
        manifest.check_hash(&bytes, &file)?;
        let proto = pb::ModelProto::decode(bytes.as_slice()).map_err(|e| PolicyError::Parse {
            file: onnx_file.clone(),
            message: format!("not an ONNX model: {e}"),
        })?;
        check_opset(&proto, &manifest, &file)?;
        check_graph_io(&manifest, &declared_io(&proto), &file)?;
        let (plan, summary) = optimise(&proto, &manifest.onnx.inputs).map_err(engine(&onnx_file))?;
        let state = plan.spawn().map_err(engine(&onnx_file))?;
        let manifest_ticks = manifest.context.ticks;
        let mut policy = Policy {
            tokenizer: manifest.tokenizer(),
            window: ContextWindow::new(manifest.context.ticks),
            manifest,
            plan,
            state,
            file: onnx_file,
            summary,
            inputs: Inputs::new(manifest_ticks),
        };
        policy.warm_up()?;
        Ok(policy)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn summary(&self) -> &GraphSummary {
        &self.summary
    }

    /// Ticks of history currently in the window.
    pub fn history_len(&self) -> usize {
        self.window.len()
    }

    /// Forgets the history (a new episode).
    pub fn reset(&mut self) {
        self.window.clear();
    }

    // The first runs of a plan page in weights and size scratch buffers. Outputs are not
    // judged here: a non-finite action is `step`'s error to report.
    fn warm_up(&mut self) -> Result<(), PolicyError> {
        let (mut z, mut m) = ([0.0; OBS_DIM], [0.0; OBS_DIM]);
        self.tokenizer.observation(&Observation::default(), &mut z, &mut m);
        for _ in 0..3 {
            self.window.push_observation(&z, &m);
            self.run_window()?;
        }
        self.reset();
        Ok(())
    }

    /// One control tick: appends `obs` to the history, runs the model and returns the
    /// action `A_k`. A non-finite output is an error and is not added to the history (the
    /// window keeps `[M]` for that action); the caller holds its last safe command.
    pub fn step(&mut self, obs: &Observation) -> Result<StepOutput, PolicyError> {
        let (mut z, mut m) = ([0.0; OBS_DIM], [0.0; OBS_DIM]);
        self.tokenizer.observation(obs, &mut z, &mut m);
        self.window.push_observation(&z, &m);
        let (action_z, next_obs) = self.run_window()?;
        let k = self.window.capacity();
        let a: [f32; ACTION_DIM] = action_z[(k - 1) * ACTION_DIM..].try_into().expect("ACTION_DIM slice");
        finite(output::ACTION, &a)?;
        let predicted_obs = if self.window.len() >= 2 {
            let o: [f32; OBS_DIM] =
                next_obs[(k - 2) * OBS_DIM..(k - 1) * OBS_DIM].try_into().expect("OBS_DIM slice");
            finite(output::NEXT_OBS, &o)?;
            Some(self.tokenizer.detokenize_observation(&o))
        } else {
            None
        };
        self.window.set_action(&a, &[0.0; ACTION_DIM]);
        Ok(StepOutput { action: self.tokenizer.detokenize_action(&a), predicted_obs })
    }

    /// Runs the graph on the current window; returns the `action` and `next_obs` outputs
    /// (normalised, all K positions).
    fn run_window(&mut self) -> Result<(Vec<f32>, Vec<f32>), PolicyError> {
        let b = &mut self.inputs;
        self.window.write_inputs(
            &mut b.obs,
            &mut b.obs_missing,
            &mut b.act,
            &mut b.act_missing,
            &mut b.tick_valid,
        );
        let tensors = self.inputs.tensors(self.window.capacity()).map_err(engine(&self.file))?;
        let out = self.state.run(tensors).map_err(engine(&self.file))?;
        outputs(&out).map_err(engine(&self.file))
    }

    /// Runs the raw graph on explicit inputs (batch 1, K ticks, normalised, see
    /// [`crate::input`]); returns `(action, next_obs)` for all K positions. For parity
    /// checks and offline evaluation; the control loop uses [`Policy::step`].
    pub fn run_raw(
        &mut self,
        obs: &[f32],
        obs_missing: &[f32],
        act: &[f32],
        act_missing: &[f32],
        tick_valid: &[f32],
    ) -> Result<(Vec<f32>, Vec<f32>), PolicyError> {
        let raw = Inputs {
            obs: obs.to_vec(),
            obs_missing: obs_missing.to_vec(),
            act: act.to_vec(),
            act_missing: act_missing.to_vec(),
            tick_valid: tick_valid.to_vec(),
        };
        let tensors = raw.tensors(self.window.capacity()).map_err(engine(&self.file))?;
        let out = self.plan.run(tensors).map_err(engine(&self.file))?;
        outputs(&out).map_err(engine(&self.file))
    }
}

/// Graph input buffers for batch 1, allocated once per policy.
struct Inputs {
    obs: Vec<f32>,
    obs_missing: Vec<f32>,
    act: Vec<f32>,
    act_missing: Vec<f32>,
    tick_valid: Vec<f32>,
}

impl Inputs {
    fn new(k: usize) -> Inputs {
        Inputs {
            obs: vec![0.0; k * OBS_DIM],
            obs_missing: vec![0.0; k * OBS_DIM],
            act: vec![0.0; k * ACTION_DIM],
            act_missing: vec![0.0; k * ACTION_DIM],
            tick_valid: vec![0.0; k],
        }
    }

    // tract takes its inputs by value, so each run copies the buffers into fresh tensors.
    fn tensors(&self, k: usize) -> TractResult<TVec<TValue>> {
        Ok(tvec!(
            Tensor::from_shape(&[1, k, OBS_DIM], &self.obs)?.into_tvalue(),
            Tensor::from_shape(&[1, k, OBS_DIM], &self.obs_missing)?.into_tvalue(),
            Tensor::from_shape(&[1, k, ACTION_DIM], &self.act)?.into_tvalue(),
            Tensor::from_shape(&[1, k, ACTION_DIM], &self.act_missing)?.into_tvalue(),
            Tensor::from_shape(&[1, k], &self.tick_valid)?.into_tvalue(),
        ))
    }
}

fn outputs(out: &[TValue]) -> TractResult<(Vec<f32>, Vec<f32>)> {
    let a = out[0].try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    let o = out[1].try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
    Ok((a, o))
}

fn finite(name: &'static str, v: &[f32]) -> Result<(), PolicyError> {
    match v.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(PolicyError::NonFinite { output: name, index, value: v[index] }),
        None => Ok(()),
    }
}

fn check_opset(proto: &pb::ModelProto, manifest: &Manifest, file: &str) -> Result<(), PolicyError> {
    let found = proto.opset_import.iter().find(|o| o.domain.is_empty()).map(|o| o.version);
    if found != Some(manifest.onnx.opset) {
        return Err(PolicyError::Mismatch {
            file: file.into(),
            field: "onnx.opset".into(),
            expected: manifest.onnx.opset.to_string(),
            found: found.map_or("no default-domain opset in the graph".into(), |v| v.to_string()),
        });
    }
    Ok(())
}

/// The interface the ONNX graph declares (inputs that are not initializers, and outputs).
pub(crate) fn declared_io(proto: &pb::ModelProto) -> GraphIo {
    let Some(graph) = &proto.graph else {
        return GraphIo { inputs: vec![], outputs: vec![] };
    };
    let inits: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let spec = |v: &pb::ValueInfoProto| {
        let (dtype, shape) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(pb::type_proto::Value::TensorType(t)) => {
                let dtype = if t.elem_type == pb::tensor_proto::DataType::Float as i32 {
                    "f32".to_string()
                } else {
                    format!("onnx type {}", t.elem_type)
                };
                let shape = t.shape.as_ref().map_or(vec![], |s| s.dim.iter().map(dim_text).collect());
                (dtype, shape)
            }
            _ => ("not a tensor".to_string(), vec![]),
        };
        TensorSpec { name: v.name.clone(), dtype, shape }
    };
    GraphIo {
        inputs: graph.input.iter().filter(|v| !inits.contains(&v.name.as_str())).map(spec).collect(),
        outputs: graph.output.iter().map(spec).collect(),
    }
}

fn dim_text(d: &pb::tensor_shape_proto::Dimension) -> String {
    use pb::tensor_shape_proto::dimension::Value;
    match &d.value {
        Some(Value::DimValue(v)) => v.to_string(),
        Some(Value::DimParam(p)) => p.clone(),
        None => "?".to_string(),
    }
}

fn optimise(proto: &pb::ModelProto, inputs: &[TensorSpec]) -> TractResult<(Plan, GraphSummary)> {
    let mut model = tract_onnx::onnx().model_for_proto_model(proto)?;
    for (i, spec) in inputs.iter().enumerate() {
        debug_assert!(spec.shape.first().map(String::as_str) == Some(BATCH_DIM));
        model.set_input_fact(i, f32::fact(spec.concrete_shape(1)).into())?;
    }
    let optimised = model.into_optimized()?;
    let summary = GraphSummary {
        initializer_scalars: initializer_scalars(proto),
        onnx_ops: onnx_histogram(proto),
        optimised_ops: histogram(optimised.nodes().iter().map(|n| n.op.name().to_string())),
    };
    Ok((optimised.into_runnable()?, summary))
}

fn histogram(names: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut h = BTreeMap::new();
    for n in names {
        *h.entry(n).or_insert(0) += 1;
    }
    h
}

fn onnx_histogram(proto: &pb::ModelProto) -> BTreeMap<String, usize> {
    histogram(proto.graph.iter().flat_map(|g| g.node.iter().map(|n| n.op_type.clone())))
}

fn initializer_scalars(proto: &pb::ModelProto) -> u64 {
    proto
        .graph
        .iter()
        .flat_map(|g| g.initializer.iter())
        .map(|t| t.dims.iter().product::<i64>().max(0) as u64)
        .sum()
}

/// The summary of an ONNX file without a manifest or robot (for inspecting any file).
pub fn inspect_graph(onnx_path: &Path) -> Result<GraphSummary, PolicyError> {
    let file = onnx_path.display().to_string();
    let bytes = std::fs::read(onnx_path)
        .map_err(|e| PolicyError::Read { file: file.clone(), message: e.to_string() })?;
    let proto = pb::ModelProto::decode(bytes.as_slice())
        .map_err(|e| PolicyError::Parse { file: file.clone(), message: format!("not an ONNX model: {e}") })?;
    let io = declared_io(&proto);
    let (_, summary) = optimise(&proto, &io.inputs).map_err(engine(&file))?;
    Ok(summary)
}
