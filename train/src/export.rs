//! ONNX export: writes exactly the computation of [`Model::forward`] as a standard opset-17
//! graph (no custom ops), plus the manifest that ships beside it.
//!
//! Shapes are fixed at the context length K (2K tokens) with a symbolic batch; the causal
//! mask and the ALiBi bias are baked into one `[1, H, 2K, 2K]` initializer, and a partly
//! filled window is handled by the `tick_valid` input (empty slots, on the left, are
//! masked out as keys), so start-up needs no other graph.

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use prost::Message;

use strider_policy::onnx_pb as pb;
use strider_policy::{
    ContextSection, FORMAT_VERSION, GraphIo, Manifest, ModelSection, OnnxSection, RobotSection, TensorSpec,
    TimingSection, Tokenizer, input, output, sha256_hex,
};
use strider_robot::{ACTION_DIM, OBS_DIM, RobotSpec};

use crate::error::TrainError;
use crate::model::{LN_EPS, MASKED_SCORE, Model, alibi_causal_bias};

/// The ONNX operator set written (17: `LayerNormalization` is standard from here).
pub const OPSET: i64 = 17;

/// Builds a graph node by node; every value gets a unique name.
struct Graph {
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    count: usize,
}

fn attr_int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn attr_ints(name: &str, ints: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints: ints.to_vec(),
        ..Default::default()
    }
}

impl Graph {
    fn new() -> Graph {
        Graph { nodes: vec![], inits: vec![], count: 0 }
    }

    fn f32(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        assert_eq!(dims.iter().product::<i64>() as usize, data.len(), "initializer {name}");
        self.inits.push(pb::TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: pb::tensor_proto::DataType::Float as i32,
            raw_data: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    fn i64s(&mut self, name: &str, data: &[i64]) -> String {
        self.inits.push(pb::TensorProto {
            name: name.into(),
            dims: vec![data.len() as i64],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    fn scalar_i64(&mut self, name: &str, v: i64) -> String {
        self.inits.push(pb::TensorProto {
            name: name.into(),
            dims: vec![],
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: v.to_le_bytes().to_vec(),
            ..Default::default()
        });
        name.into()
    }

    fn named(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>, out: &str) -> String {
        self.count += 1;
        self.nodes.push(pb::NodeProto {
            name: format!("{op}_{}", self.count),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.into()],
            attribute: attrs,
            ..Default::default()
        });
        out.into()
    }

    fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        let out = format!("{}_{}", op.to_lowercase(), self.count + 1);
        self.named(op, inputs, attrs, &out)
    }

    /// A parameter tensor from candle, transposed when it is a `[out, in]` linear weight
    /// so that the graph computes `x · Wᵀ` with a plain `MatMul`.
    fn param(&mut self, name: &str, t: &Tensor, transpose: bool) -> Result<String, TrainError> {
        let t = if transpose { t.t()?.contiguous()? } else { t.clone() };
        let dims: Vec<i64> = t.dims().iter().map(|&d| d as i64).collect();
        let data: Vec<f32> = t.flatten_all()?.to_vec1()?;
        Ok(self.f32(name, &dims, &data))
    }

    fn linear(
        &mut self,
        x: &str,
        lin: &candle_nn::Linear,
        name: &str,
        out: Option<&str>,
    ) -> Result<String, TrainError> {
        let w = self.param(&format!("{name}.weight_t"), lin.weight(), true)?;
        let b = self.param(&format!("{name}.bias"), lin.bias().expect("every linear has a bias"), false)?;
        let mm = self.op("MatMul", &[x, &w], vec![]);
        Ok(match out {
            Some(o) => self.named("Add", &[&mm, &b], vec![], o),
            None => self.op("Add", &[&mm, &b], vec![]),
        })
    }

    fn layer_norm(
        &mut self,
        x: &str,
        ln: &crate::model::LayerNorm,
        name: &str,
    ) -> Result<String, TrainError> {
        let w = self.param(&format!("{name}.weight"), &ln.weight, false)?;
        let b = self.param(&format!("{name}.bias"), &ln.bias, false)?;
        Ok(self.op(
            "LayerNormalization",
            &[x, &w, &b],
            vec![attr_int("axis", -1), attr_float("epsilon", LN_EPS as f32)],
        ))
    }
}

fn value_info(spec: &TensorSpec) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension::Value};
    let dim = |d: &String| Dimension {
        value: Some(match d.parse::<i64>() {
            Ok(v) => Value::DimValue(v),
            Err(_) => Value::DimParam(d.clone()),
        }),
        ..Default::default()
    };
    pb::ValueInfoProto {
        name: spec.name.clone(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto { dim: spec.shape.iter().map(dim).collect() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ONNX file's bytes for `model` at its configured context length.
pub fn onnx_bytes(model: &Model) -> Result<Vec<u8>, TrainError> {
    let cfg = &model.cfg;
    let (k, t, w, heads) =
        (cfg.context_ticks as i64, 2 * cfg.context_ticks as i64, cfg.width as i64, cfg.heads as i64);
    let dh = w / heads;
    let mut g = Graph::new();

    // Embeddings with [M] substitution: z·(1 − m) + [M]·m.
    let one = g.f32("one", &[], &[1.0]);
    let embed =
        |g: &mut Graph, z: &str, m: &str, mask: &Tensor, lin, name: &str| -> Result<String, TrainError> {
            let mask = g.param(&format!("{name}.mask"), mask, false)?;
            let keep = g.op("Sub", &[&one, m], vec![]);
            let kept = g.op("Mul", &[z, &keep], vec![]);
            let filled = g.op("Mul", &[m, &mask], vec![]);
            let zin = g.op("Add", &[&kept, &filled], vec![]);
            g.linear(&zin, lin, name, None)
        };
    let eo = embed(&mut g, input::OBS, input::OBS_MISSING, &model.mask_obs, &model.embed_obs, "embed_obs")?;
    let ea = embed(&mut g, input::ACT, input::ACT_MISSING, &model.mask_act, &model.embed_act, "embed_act")?;
    let axis2 = g.i64s("axes_2", &[2]);
    let eo = g.op("Unsqueeze", &[&eo, &axis2], vec![]);
    let ea = g.op("Unsqueeze", &[&ea, &axis2], vec![]);
    let pair = g.op("Concat", &[&eo, &ea], vec![attr_int("axis", 2)]);
    let tokens_shape = g.i64s("shape_tokens", &[0, t, w]);
    let mut x = g.op("Reshape", &[&pair, &tokens_shape], vec![]);

    // Attention bias: baked ALiBi + causal, plus the empty-slot key bias from tick_valid.
    let alibi = g.f32("alibi_causal_bias", &[1, heads, t, t], &alibi_causal_bias(cfg.heads, t as usize));
    let v = g.op("Unsqueeze", &[input::TICK_VALID, &axis2], vec![]);
    let vv = g.op("Concat", &[&v, &v], vec![attr_int("axis", 2)]);
    let key_shape = g.i64s("shape_key_bias", &[0, 1, 1, t]);
    let vv = g.op("Reshape", &[&vv, &key_shape], vec![]);
    let neg = g.f32("masked_score_neg", &[], &[-MASKED_SCORE]);
    let pos = g.f32("masked_score", &[], &[MASKED_SCORE]);
    let kb = g.op("Mul", &[&vv, &neg], vec![]);
    let kb = g.op("Add", &[&kb, &pos], vec![]);
    let bias = g.op("Add", &[&alibi, &kb], vec![]);

    let heads_shape = g.i64s("shape_heads", &[0, t, heads, dh]);
    let scale = g.f32("attn_scale", &[], &[1.0 / (dh as f32).sqrt()]);
    let sqrt2 = g.f32("sqrt2", &[], &[std::f32::consts::SQRT_2]);
    let half = g.f32("half", &[], &[0.5]);
    for (i, blk) in model.blocks.iter().enumerate() {
        let p = format!("blocks.{i}");
        let h = g.layer_norm(&x, &blk.ln1, &format!("{p}.ln1"))?;
        let proj = |g: &mut Graph, lin, n: &str, perm: &[i64]| -> Result<String, TrainError> {
            let y = g.linear(&h, lin, &format!("{p}.attn.{n}"), None)?;
            let y = g.op("Reshape", &[&y, &heads_shape], vec![]);
            Ok(g.op("Transpose", &[&y], vec![attr_ints("perm", perm)]))
        };
        let q = proj(&mut g, &blk.q, "q", &[0, 2, 1, 3])?;
        let kt = proj(&mut g, &blk.k, "k", &[0, 2, 3, 1])?;
        let vh = proj(&mut g, &blk.v, "v", &[0, 2, 1, 3])?;
        let s = g.op("MatMul", &[&q, &kt], vec![]);
        let s = g.op("Mul", &[&s, &scale], vec![]);
        let s = g.op("Add", &[&s, &bias], vec![]);
        let pr = g.op("Softmax", &[&s], vec![attr_int("axis", -1)]);
        let a = g.op("MatMul", &[&pr, &vh], vec![]);
        let a = g.op("Transpose", &[&a], vec![attr_ints("perm", &[0, 2, 1, 3])]);
        let a = g.op("Reshape", &[&a, &tokens_shape], vec![]);
        let a = g.linear(&a, &blk.o, &format!("{p}.attn.o"), None)?;
        x = g.op("Add", &[&x, &a], vec![]);
        let h2 = g.layer_norm(&x, &blk.ln2, &format!("{p}.ln2"))?;
        let f = g.linear(&h2, &blk.fc1, &format!("{p}.mlp.fc1"), None)?;
        // Exact GELU: 0.5·x·(1 + erf(x/√2)), as candle's gelu_erf.
        let e = g.op("Div", &[&f, &sqrt2], vec![]);
        let e = g.op("Erf", &[&e], vec![]);
        let e = g.op("Add", &[&e, &one], vec![]);
        let e = g.op("Mul", &[&f, &e], vec![]);
        let e = g.op("Mul", &[&e, &half], vec![]);
        let m = g.linear(&e, &blk.fc2, &format!("{p}.mlp.fc2"), None)?;
        x = g.op("Add", &[&x, &m], vec![]);
    }
    let hf = g.layer_norm(&x, &model.ln_f, "ln_f")?;
    let ticks_shape = g.i64s("shape_ticks", &[0, k, 2, w]);
    let hf = g.op("Reshape", &[&hf, &ticks_shape], vec![]);
    let i0 = g.scalar_i64("index_obs_token", 0);
    let i1 = g.scalar_i64("index_act_token", 1);
    let h_o = g.op("Gather", &[&hf, &i0], vec![attr_int("axis", 2)]);
    let h_a = g.op("Gather", &[&hf, &i1], vec![attr_int("axis", 2)]);
    g.linear(&h_o, &model.head_act, "head_act", Some(output::ACTION))?;
    g.linear(&h_a, &model.head_obs, "head_obs", Some(output::NEXT_OBS))?;

    let io = GraphIo::for_ticks(cfg.context_ticks);
    let graph = pb::GraphProto {
        name: "strider_trajectory_transformer".into(),
        node: g.nodes,
        initializer: g.inits,
        input: io.inputs.iter().map(value_info).collect(),
        output: io.outputs.iter().map(value_info).collect(),
        ..Default::default()
    };
    let proto = pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "strider-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(proto.encode_to_vec())
}

/// What was written by [`write_model`].
#[derive(Debug, Clone)]
pub struct Exported {
    pub onnx: PathBuf,
    pub manifest: PathBuf,
    pub manifest_data: Manifest,
}

/// Writes `<dir>/<stem>.onnx` and `<dir>/<stem>.toml` (the manifest).
pub fn write_model(
    model: &Model,
    tokenizer: &Tokenizer,
    spec: &RobotSpec,
    dir: &Path,
    stem: &str,
) -> Result<Exported, TrainError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| TrainError::Io { file: dir.display().to_string(), message: e.to_string() })?;
    let bytes = onnx_bytes(model)?;
    let onnx = dir.join(format!("{stem}.onnx"));
    std::fs::write(&onnx, &bytes)
        .map_err(|e| TrainError::Io { file: onnx.display().to_string(), message: e.to_string() })?;
    let manifest_data = manifest_for(model, tokenizer, spec, &format!("{stem}.onnx"), &bytes);
    let manifest = dir.join(format!("{stem}.toml"));
    std::fs::write(&manifest, manifest_data.to_toml_string())
        .map_err(|e| TrainError::Io { file: manifest.display().to_string(), message: e.to_string() })?;
    Ok(Exported { onnx, manifest, manifest_data })
}

/// The manifest describing `model` exported as `onnx_file` with contents `bytes`.
pub fn manifest_for(
    model: &Model,
    tokenizer: &Tokenizer,
    spec: &RobotSpec,
    onnx_file: &str,
    bytes: &[u8],
) -> Manifest {
    let cfg = &model.cfg;
    let io = GraphIo::for_ticks(cfg.context_ticks);
    debug_assert_eq!((tokenizer.obs.dim(), tokenizer.act.dim()), (OBS_DIM, ACTION_DIM));
    Manifest {
        format_version: FORMAT_VERSION,
        robot: RobotSection {
            name: spec.name.clone(),
            contract_id: spec.contract_id().to_string(),
            joints: spec.joints.iter().map(|j| j.name.clone()).collect(),
        },
        timing: TimingSection { control_hz: spec.control.control_hz, action_delay_ticks: 0 },
        context: ContextSection {
            ticks: cfg.context_ticks,
            token_layout: vec!["observation".into(), "action".into()],
            position: "alibi".into(),
        },
        model: ModelSection {
            layers: cfg.layers,
            width: cfg.width,
            heads: cfg.heads,
            parameters: model.parameter_count(),
        },
        observation: Manifest::fields(&spec.observation_layout(), &tokenizer.obs),
        action: Manifest::fields(&spec.action_layout(), &tokenizer.act),
        onnx: OnnxSection {
            file: onnx_file.into(),
            sha256: sha256_hex(bytes),
            opset: OPSET,
            inputs: io.inputs,
            outputs: io.outputs,
        },
    }
}
