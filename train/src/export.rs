//! ONNX export: writes exactly the computation of [`Model::forward`] as a standard opset-23
//! graph (no custom ops), plus the manifest that ships beside it.
//!
//! The graph is one streaming step: it embeds the call's new tokens — one token and its
//! modality (the `token` interface, what training writes), or a tick's two (`pair`:
//! `A_{k−1}`, `O_k`) — runs every block on them against that block's cache of the 2K − 1
//! tokens before them, and returns both heads' outputs and the shifted caches. Shapes are
//! fixed by the context length K with a symbolic batch; the causal + window mask and the
//! ALiBi bias for the n queries are one `[1, H, n, 2K − 1 + n]` initializer, and empty
//! cache slots at start-up are masked by the `key_valid` input, so start-up needs no other
//! graph. A `window` graph instead runs the blocks on the last K ticks' 2K tokens with no
//! caches (the same weights; with more than one layer, a truncated version of the stream).

use std::path::{Path, PathBuf};

use candle_core::Tensor;
use prost::Message;

use strider_policy::onnx_pb as pb;
use strider_policy::{
    ContextSection, FORMAT_VERSION, GraphIo, Interface, Manifest, ModelSection, OnnxSection, RobotSection,
    Span, TensorSpec, TimingSection, Tokenizer, input, output, past_key, past_value, present_key,
    present_value, sha256_hex,
};
use strider_robot::RobotSpec;

use crate::error::TrainError;
use crate::model::{LN_EPS, MASKED_SCORE, Model, alibi_window_bias};

/// The ONNX operator set written (23: the first with a standard `Attention` op, which the
/// streaming step uses with past keys and values).
pub const OPSET: i64 = 23;

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

/// The ONNX file's bytes for `model` with `interface`: a streaming step (`token`, `pair`)
/// or a window graph (`window`); see [`strider_policy::GraphIo`].
pub fn onnx_bytes(model: &Model, interface: Interface) -> Result<Vec<u8>, TrainError> {
    if interface == Interface::Window && model.cfg.context_ticks < 2 {
        return Err(TrainError::Config {
            file: "model".into(),
            message: "a window graph needs a context of at least 2 ticks (it reads the prediction of O_k at \
                      A_{k−1})"
                .into(),
        });
    }
    let mut g = Graph::new();
    let one = g.f32("one", &[], &[1.0]);
    let mut x = match interface {
        Interface::Pair => embed_pair(&mut g, model, &one)?,
        Interface::Token => embed_token(&mut g, model, &one)?,
        Interface::Window => embed_window(&mut g, model, &one)?,
    };
    let bias = attention_bias(&mut g, &model.cfg, interface);
    let consts = BlockConsts::new(&mut g, &model.cfg, interface, one);
    for (i, blk) in model.blocks.iter().enumerate() {
        x = block(&mut g, &x, blk, i, &bias, &consts, &model.cfg)?;
    }
    match interface {
        Interface::Pair => pair_heads(&mut g, &x, model)?,
        Interface::Token => token_heads(&mut g, &x, model)?,
        Interface::Window => {
            // The heads read `A_{k−1}` and `O_k`, the window's third- and second-last tokens.
            let t = 2 * model.cfg.context_ticks as i64;
            let (s, e, a) = (
                g.i64s("last_pair_start", &[t - 3]),
                g.i64s("last_pair_end", &[t - 1]),
                g.i64s("last_pair_axis", &[1]),
            );
            let last = g.op("Slice", &[&x, &s, &e, &a], vec![]);
            pair_heads(&mut g, &last, model)?
        }
    }

    let io = graph_io(model, interface);
    let graph = pb::GraphProto {
        name: "strider_trajectory_transformer".into(),
        node: g.nodes,
        initializer: g.inits,
        input: io.inputs.iter().map(value_info).collect(),
        output: io.outputs.iter().map(value_info).collect(),
        ..Default::default()
    };
    let proto = pb::ModelProto {
        ir_version: 11,
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "strider-train".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(proto.encode_to_vec())
}

/// Both token inputs embedded with `[M]` substitution, `z·(1 − m) + [M]·m`:
/// (`A`, `O`), each `[batch, 1, width]`.
fn embed_both(g: &mut Graph, model: &Model, one: &str) -> Result<(String, String), TrainError> {
    let mut embed = |z: &str, m: &str, mask: &Tensor, lin, name: &str| -> Result<String, TrainError> {
        let mask = g.param(&format!("{name}.mask"), mask, false)?;
        let keep = g.op("Sub", &[one, m], vec![]);
        let kept = g.op("Mul", &[z, &keep], vec![]);
        let filled = g.op("Mul", &[m, &mask], vec![]);
        let zin = g.op("Add", &[&kept, &filled], vec![]);
        g.linear(&zin, lin, name, None)
    };
    let ea = embed(input::ACT, input::ACT_MISSING, &model.mask_act, &model.embed_act, "embed_act")?;
    let eo = embed(input::OBS, input::OBS_MISSING, &model.mask_obs, &model.embed_obs, "embed_obs")?;
    Ok((ea, eo))
}

/// The tick's two tokens side by side: `[batch, 2, width]`, `A_{k−1}` then `O_k`.
fn embed_pair(g: &mut Graph, model: &Model, one: &str) -> Result<String, TrainError> {
    let (ea, eo) = embed_both(g, model, one)?;
    Ok(g.op("Concat", &[&ea, &eo], vec![attr_int("axis", 1)]))
}

/// The window's 2K tokens in order, `[batch, 2K, width]`: `O_{k−K+1}, A_{k−K+1}, …, O_k,
/// A_k` (tick t's slot holds `O_t` and `A_t`; `A_k` is `[M]` and, causally, unseen).
fn embed_window(g: &mut Graph, model: &Model, one: &str) -> Result<String, TrainError> {
    let (ea, eo) = embed_both(g, model, one)?;
    let (k, w) = (model.cfg.context_ticks as i64, model.cfg.width as i64);
    let slot = g.i64s("shape_tick_slot", &[0, k, 1, w]);
    let ea = g.op("Reshape", &[&ea, &slot], vec![]);
    let eo = g.op("Reshape", &[&eo, &slot], vec![]);
    let pairs = g.op("Concat", &[&eo, &ea], vec![attr_int("axis", 2)]);
    let tokens = g.i64s("shape_window_tokens", &[0, 2 * k, w]);
    Ok(g.op("Reshape", &[&pairs, &tokens], vec![]))
}

/// The call's one token, `[batch, 1, width]`: the observation's embedding where
/// `modality` is 1, the action's where it is 0 (both are a few hundred multiply-adds).
fn embed_token(g: &mut Graph, model: &Model, one: &str) -> Result<String, TrainError> {
    let (ea, eo) = embed_both(g, model, one)?;
    let not_obs = g.op("Sub", &[one, input::MODALITY], vec![]);
    let ea = g.op("Mul", &[&ea, &not_obs], vec![]);
    let eo = g.op("Mul", &[&eo, input::MODALITY], vec![]);
    Ok(g.op("Add", &[&ea, &eo], vec![]))
}

/// The additive attention mask of the call's queries: baked ALiBi + causal + window, plus
/// the empty-slot key bias from `key_valid`.
fn attention_bias(g: &mut Graph, cfg: &crate::config::ModelConfig, interface: Interface) -> String {
    let span = Span::for_ticks(cfg.context_ticks);
    // Keys of each call: the C cached tokens, then the n new ones at positions C … C + n − 1;
    // a window's 2K tokens are all queries and all keys.
    let keys = interface.keys(cfg.context_ticks);
    let queries: Vec<usize> = match interface {
        Interface::Window => (0..keys).collect(),
        Interface::Pair | Interface::Token => (span.cached..keys).collect(),
    };
    let window = alibi_window_bias(cfg.heads, &queries, keys, span.tokens);
    let (n, keys) = (queries.len() as i64, keys as i64);
    let alibi = g.f32("alibi_window_bias", &[1, cfg.heads as i64, n, keys], &window);
    let key_shape = g.i64s("shape_key_bias", &[0, 1, 1, keys]);
    let kv = g.op("Reshape", &[input::KEY_VALID, &key_shape], vec![]);
    let neg = g.f32("masked_score_neg", &[], &[-MASKED_SCORE]);
    let pos = g.f32("masked_score", &[], &[MASKED_SCORE]);
    let kb = g.op("Mul", &[&kv, &neg], vec![]);
    let kb = g.op("Add", &[&kb, &pos], vec![]);
    g.op("Add", &[&alibi, &kb], vec![])
}

/// Constants every block shares: the cache shift (drop the n oldest keys; `None` for a
/// window, which keeps no cache) and GELU's.
struct BlockConsts {
    shift: Option<(String, String, String)>,
    sqrt2: String,
    half: String,
    one: String,
}

impl BlockConsts {
    fn new(
        g: &mut Graph,
        cfg: &crate::config::ModelConfig,
        interface: Interface,
        one: String,
    ) -> BlockConsts {
        let n = interface.tokens_per_call() as i64;
        let keys = interface.keys(cfg.context_ticks) as i64;
        let shift = (interface != Interface::Window)
            .then(|| (g.i64s("shift_start", &[n]), g.i64s("shift_end", &[keys]), g.i64s("shift_axis", &[2])));
        let sqrt2 = g.f32("sqrt2", &[], &[std::f32::consts::SQRT_2]);
        let half = g.f32("half", &[], &[0.5]);
        BlockConsts { shift, sqrt2, half, one }
    }
}

/// Block `i` on the call's tokens against its caches; returns the residual stream.
fn block(
    g: &mut Graph,
    x: &str,
    blk: &crate::model::Block,
    i: usize,
    bias: &str,
    c: &BlockConsts,
    cfg: &crate::config::ModelConfig,
) -> Result<String, TrainError> {
    let heads = cfg.heads as i64;
    let dh = cfg.width as i64 / heads;
    let p = format!("blocks.{i}");
    let h = g.layer_norm(x, &blk.ln1, &format!("{p}.ln1"))?;
    let q = g.linear(&h, &blk.q, &format!("{p}.attn.q"), None)?;
    let k = g.linear(&h, &blk.k, &format!("{p}.attn.k"), None)?;
    let v = g.linear(&h, &blk.v, &format!("{p}.attn.v"), None)?;
    let y = attention(g, [q, k, v], i, bias, c, heads, dh);
    let a = g.linear(&y, &blk.o, &format!("{p}.attn.o"), None)?;
    let x = g.op("Add", &[x, &a], vec![]);
    let h2 = g.layer_norm(&x, &blk.ln2, &format!("{p}.ln2"))?;
    let f = g.linear(&h2, &blk.fc1, &format!("{p}.mlp.fc1"), None)?;
    // Exact GELU: 0.5·x·(1 + erf(x/√2)), as candle's gelu_erf.
    let e = g.op("Div", &[&f, &c.sqrt2], vec![]);
    let e = g.op("Erf", &[&e], vec![]);
    let e = g.op("Add", &[&e, &c.one], vec![]);
    let e = g.op("Mul", &[&f, &e], vec![]);
    let e = g.op("Mul", &[&e, &c.half], vec![]);
    let m = g.linear(&e, &blk.fc2, &format!("{p}.mlp.fc2"), None)?;
    Ok(g.op("Add", &[&x, &m], vec![]))
}

/// The call's n queries against block `i`'s caches with ONNX `Attention` (opset 23): Q, K,
/// V as [batch, n, width] split into heads by the op, the caches appended as past keys and
/// values, ALiBi + window + empty-slot mask as the additive `attn_mask`. Its present caches
/// hold all 2K − 1 + n keys; ours drop the n oldest. A window graph's attention has no
/// caches (its n = 2K queries are all the keys). Returns `[batch, n, width]`.
///
/// (For one query, written out as broadcast products and sums instead, tract measured 1.4×
/// slower per call than its lowering of `Attention`: docs/BENCHMARKS.md.)
fn attention(
    g: &mut Graph,
    [q, k, v]: [String; 3],
    i: usize,
    bias: &str,
    c: &BlockConsts,
    heads: i64,
    dh: i64,
) -> String {
    g.count += 1;
    let (y, all_k, all_v) =
        (format!("attention_{}", g.count), format!("keys_{}", g.count), format!("values_{}", g.count));
    let (mut input, mut output) = (vec![q, k, v, bias.to_string()], vec![y.clone()]);
    if c.shift.is_some() {
        input.extend([past_key(i), past_value(i)]);
        output.extend([all_k.clone(), all_v.clone()]);
    }
    g.nodes.push(pb::NodeProto {
        name: format!("Attention_{}", g.count),
        op_type: "Attention".into(),
        input,
        output,
        attribute: vec![
            attr_int("q_num_heads", heads),
            attr_int("kv_num_heads", heads),
            attr_float("scale", 1.0 / (dh as f32).sqrt()),
        ],
        ..Default::default()
    });
    if let Some((s0, s1, s2)) = &c.shift {
        g.named("Slice", &[&all_k, s0, s1, s2], vec![], &present_key(i));
        g.named("Slice", &[&all_v, s0, s1, s2], vec![], &present_value(i));
    }
    y
}

/// The final norm and both heads as one matmul on the two tokens side by side,
/// `[batch, 1, 2·width]`: rows of `A_{k−1}` feed the observation head, rows of `O_k` the
/// action head (slicing the tokens apart instead makes tract split the whole last block
/// per token, reading its weights twice); then the two named outputs.
fn pair_heads(g: &mut Graph, x: &str, model: &Model) -> Result<(), TrainError> {
    let w = model.cfg.width;
    let hf = g.layer_norm(x, &model.ln_f, "ln_f")?;
    let pair_shape = g.i64s("shape_token_pair", &[0, 1, 2 * w as i64]);
    let pair = g.op("Reshape", &[&hf, &pair_shape], vec![]);
    let (wo, wa) = (model.head_obs.weight().t()?, model.head_act.weight().t()?);
    let (no, na) = (model.obs_dim, model.action_dim);
    let (wo, wa): (Vec<Vec<f32>>, Vec<Vec<f32>>) = (wo.to_vec2()?, wa.to_vec2()?);
    let mut heads_w = vec![0f32; 2 * w * (na + no)];
    for r in 0..w {
        // Output columns: the action (na), then the observation (no).
        heads_w[r * (na + no) + na..(r + 1) * (na + no)].copy_from_slice(&wo[r]);
        let r2 = r + w;
        heads_w[r2 * (na + no)..r2 * (na + no) + na].copy_from_slice(&wa[r]);
    }
    let heads_w = g.f32("heads.weight_t", &[2 * w as i64, (na + no) as i64], &heads_w);
    let mut heads_b: Vec<f32> = model.head_act.bias().expect("bias").to_vec1()?;
    heads_b.extend(model.head_obs.bias().expect("bias").to_vec1::<f32>()?);
    let heads_b = g.f32("heads.bias", &[(na + no) as i64], &heads_b);
    let y = g.op("MatMul", &[&pair, &heads_w], vec![]);
    let y = g.op("Add", &[&y, &heads_b], vec![]);
    split_heads(g, &y, model);
    Ok(())
}

/// The final norm and both heads on the call's one token as one matmul, `[width, na + no]`
/// (the action's columns, then the observation's); then the two named outputs — the one
/// the token's modality asks for is meaningful.
fn token_heads(g: &mut Graph, x: &str, model: &Model) -> Result<(), TrainError> {
    let hf = g.layer_norm(x, &model.ln_f, "ln_f")?;
    let (wa, wo) = (model.head_act.weight().t()?.contiguous()?, model.head_obs.weight().t()?.contiguous()?);
    let heads_w = Tensor::cat(&[&wa, &wo], 1)?.contiguous()?;
    let heads_w = g.param("heads.weight_t", &heads_w, false)?;
    let heads_b =
        Tensor::cat(&[model.head_act.bias().expect("bias"), model.head_obs.bias().expect("bias")], 0)?;
    let heads_b = g.param("heads.bias", &heads_b, false)?;
    let y = g.op("MatMul", &[&hf, &heads_w], vec![]);
    let y = g.op("Add", &[&y, &heads_b], vec![]);
    split_heads(g, &y, model);
    Ok(())
}

/// `action` and `next_obs` out of the heads' joint output `[batch, 1, na + no]`.
fn split_heads(g: &mut Graph, y: &str, model: &Model) {
    let (na, no) = (model.action_dim, model.obs_dim);
    for (from, to, out) in [(0, na, output::ACTION), (na, na + no, output::NEXT_OBS)] {
        let (s, e, a) = (
            g.i64s(&format!("{out}_start"), &[from as i64]),
            g.i64s(&format!("{out}_end"), &[to as i64]),
            g.i64s(&format!("{out}_axis"), &[2]),
        );
        g.named("Slice", &[y, &s, &e, &a], vec![], out);
    }
}

fn graph_io(model: &Model, interface: Interface) -> GraphIo {
    let cfg = &model.cfg;
    GraphIo::of_model(
        interface,
        model.obs_dim,
        model.action_dim,
        cfg.context_ticks,
        cfg.layers,
        cfg.heads,
        cfg.width / cfg.heads,
    )
}

/// Refuses a model or tokenizer whose widths are not `spec`'s layout: its manifest would
/// name the wrong fields.
fn check_widths(model: &Model, tokenizer: &Tokenizer, spec: &RobotSpec) -> Result<(), TrainError> {
    let layout = spec.layout();
    let robot = (layout.obs_dim(), layout.action_dim());
    for (what, found) in [
        ("the model", (model.obs_dim, model.action_dim)),
        ("the normalisation", (tokenizer.obs.dim(), tokenizer.act.dim())),
    ] {
        if found != robot {
            return Err(TrainError::Layout {
                what: what.into(),
                obs: found.0,
                act: found.1,
                robot: spec.name.clone(),
                robot_obs: robot.0,
                robot_act: robot.1,
            });
        }
    }
    Ok(())
}

/// What was written by [`write_model`].
#[derive(Debug, Clone)]
pub struct Exported {
    pub onnx: PathBuf,
    pub manifest: PathBuf,
    pub manifest_data: Manifest,
}

/// Writes `<dir>/<stem>.onnx` and `<dir>/<stem>.toml` (the manifest) with the one-token
/// interface, the one the runtime keeps off the critical path. Refuses a model or
/// tokenizer of another layout than `spec`'s.
pub fn write_model(
    model: &Model,
    tokenizer: &Tokenizer,
    spec: &RobotSpec,
    dir: &Path,
    stem: &str,
) -> Result<Exported, TrainError> {
    write_model_as(model, tokenizer, spec, dir, stem, Interface::Token)
}

/// As [`write_model`], with the graph `interface` given.
pub fn write_model_as(
    model: &Model,
    tokenizer: &Tokenizer,
    spec: &RobotSpec,
    dir: &Path,
    stem: &str,
    interface: Interface,
) -> Result<Exported, TrainError> {
    check_widths(model, tokenizer, spec)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| TrainError::Io { file: dir.display().to_string(), message: e.to_string() })?;
    let bytes = onnx_bytes(model, interface)?;
    let onnx = dir.join(format!("{stem}.onnx"));
    std::fs::write(&onnx, &bytes)
        .map_err(|e| TrainError::Io { file: onnx.display().to_string(), message: e.to_string() })?;
    let manifest_data = manifest_for(model, tokenizer, spec, &format!("{stem}.onnx"), &bytes, interface)?;
    let manifest = dir.join(format!("{stem}.toml"));
    std::fs::write(&manifest, manifest_data.to_toml_string())
        .map_err(|e| TrainError::Io { file: manifest.display().to_string(), message: e.to_string() })?;
    Ok(Exported { onnx, manifest, manifest_data })
}

/// The manifest describing `model` exported as `onnx_file` with contents `bytes`. Refuses
/// a model or tokenizer of another layout than `spec`'s.
pub fn manifest_for(
    model: &Model,
    tokenizer: &Tokenizer,
    spec: &RobotSpec,
    onnx_file: &str,
    bytes: &[u8],
    interface: Interface,
) -> Result<Manifest, TrainError> {
    check_widths(model, tokenizer, spec)?;
    let cfg = &model.cfg;
    let io = graph_io(model, interface);
    Ok(Manifest {
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
            interface,
            inputs: io.inputs,
            outputs: io.outputs,
        },
        surprise: None,
    })
}

/// Sets every parameter of `model` from an ONNX file written by [`onnx_bytes`] — the
/// inverse of the export, so a shipped model (manifest + ONNX, no checkpoint) can be
/// fine-tuned. `file` labels errors. Refuses a file whose weights do not fit the model's
/// config, naming the tensor.
pub fn load_onnx_params(model: &Model, bytes: &[u8], file: &str) -> Result<(), TrainError> {
    let bad = |message: String| TrainError::Checkpoint { file: file.to_string(), message };
    let proto = pb::ModelProto::decode(bytes).map_err(|e| bad(format!("not an ONNX model: {e}")))?;
    let graph = proto.graph.ok_or_else(|| bad("no graph".into()))?;
    let init: std::collections::HashMap<&str, &pb::TensorProto> =
        graph.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    // An initializer as a tensor of the shape it declares.
    let read = |name: &str| -> Result<Tensor, TrainError> {
        let t =
            init.get(name).ok_or_else(|| bad(format!("no initializer `{name}`: not a Strider export")))?;
        if t.data_type != pb::tensor_proto::DataType::Float as i32 || t.raw_data.len() % 4 != 0 {
            return Err(bad(format!("initializer `{name}` is not raw f32 data")));
        }
        let data: Vec<f32> =
            t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let dims: Vec<usize> = t.dims.iter().map(|&d| d.max(0) as usize).collect();
        Tensor::from_vec(data, dims, &candle_core::Device::Cpu)
            .map_err(|e| bad(format!("initializer `{name}`: {e}")))
    };
    let (w, na, no) = (model.cfg.width, model.action_dim, model.obs_dim);
    let heads_w = read("heads.weight_t")?;
    let heads_b = read("heads.bias")?;
    // A pair graph stacks the heads' rows per token (`A_{k−1}`'s feed the observation head,
    // `O_k`'s the action head); a one-token graph shares them.
    let pair = match heads_w.dims() {
        [r, c] if *r == 2 * w && *c == na + no => true,
        [r, c] if *r == w && *c == na + no => false,
        dims => {
            return Err(bad(format!(
                "`heads.weight_t` has shape {dims:?}, a width-{w} model needs {:?} or {:?}",
                [w, na + no],
                [2 * w, na + no]
            )));
        }
    };
    for (name, var) in model.named_vars() {
        // See `onnx_bytes` for where each parameter went.
        let t = if let Some(head) = name.strip_prefix("head_") {
            let act = head.starts_with("act");
            let rows = if pair && act { w..2 * w } else { 0..w };
            let cols = if act { 0..na } else { na..na + no };
            if name.ends_with(".weight") {
                heads_w.narrow(0, rows.start, w)?.narrow(1, cols.start, cols.len())?.t()?.contiguous()?
            } else {
                heads_b.narrow(0, cols.start, cols.len())?
            }
        } else if let Some(token) = name.strip_prefix("mask_") {
            read(&format!("embed_{token}.mask"))?
        } else if let Some(linear) = name.strip_suffix(".weight").filter(|n| !n.contains("ln")) {
            read(&format!("{linear}.weight_t"))?.t()?.contiguous()?
        } else {
            read(&name)?
        };
        if t.dims() != var.dims() {
            return Err(bad(format!(
                "`{name}` has shape {:?} in the file, the config gives {:?}",
                t.dims(),
                var.dims()
            )));
        }
        var.set(&t)?;
    }
    Ok(())
}

/// Re-exports a model written by [`onnx_bytes`] (e.g. a shipped `pair` model) into `dir`
/// with `interface` (see [`reexport`]). Writes `<dir>/model.onnx` and `<dir>/model.toml`.
pub fn convert_model(
    manifest_path: &Path,
    spec: &RobotSpec,
    dir: &Path,
    interface: Interface,
) -> Result<Exported, TrainError> {
    let file = manifest_path.display().to_string();
    let bad = |message: String| TrainError::Checkpoint { file: file.clone(), message };
    let from = Manifest::load(manifest_path).map_err(|e| bad(e.to_string()))?;
    from.check(spec, &file).map_err(|e| bad(e.to_string()))?;
    let onnx = manifest_path.parent().unwrap_or(Path::new(".")).join(&from.onnx.file);
    let onnx_file = onnx.display().to_string();
    let bytes = std::fs::read(&onnx)
        .map_err(|e| TrainError::Io { file: onnx_file.clone(), message: e.to_string() })?;
    from.check_hash(&bytes, &onnx_file).map_err(|e| bad(e.to_string()))?;
    let (manifest_data, bytes) = reexport(&from, &bytes, &onnx_file, spec, interface)?;
    let io = |file: &Path| {
        let file = file.display().to_string();
        move |e: std::io::Error| TrainError::Io { file, message: e.to_string() }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let (onnx, manifest) = (dir.join("model.onnx"), dir.join("model.toml"));
    std::fs::write(&onnx, &bytes).map_err(io(&onnx))?;
    std::fs::write(&manifest, manifest_data.to_toml_string()).map_err(io(&manifest))?;
    Ok(Exported { onnx, manifest, manifest_data })
}

/// A Strider model (`from`, already checked against `spec`, and its ONNX file's `bytes`)
/// re-exported with `interface`: the weights read back out of the file, the normalisation
/// and surprise calibration carried over, as (manifest naming `model.onnx`, file bytes).
/// The network computes the same function (the parity tests hold every interface to the
/// candle pass). Refuses a file that is not a Strider export, naming `onnx_file`.
pub fn reexport(
    from: &Manifest,
    bytes: &[u8],
    onnx_file: &str,
    spec: &RobotSpec,
    interface: Interface,
) -> Result<(Manifest, Vec<u8>), TrainError> {
    let m = &from.model;
    // The MLP's width is not in the manifest; the first block's weight says it.
    let fc1 = pb::ModelProto::decode(bytes)
        .ok()
        .and_then(|p| p.graph)
        .and_then(|g| g.initializer.into_iter().find(|t| t.name == "blocks.0.mlp.fc1.weight_t"))
        .ok_or_else(|| TrainError::Checkpoint {
            file: onnx_file.to_string(),
            message: "no `blocks.0.mlp.fc1.weight_t`: not a Strider export".into(),
        })?;
    let cfg = crate::ModelConfig {
        layers: m.layers,
        width: m.width,
        heads: m.heads,
        mlp_ratio: fc1.dims.get(1).map_or(0, |&d| d.max(0) as usize) / m.width.max(1),
        context_ticks: from.context.ticks,
    };
    let model = Model::new(&cfg, &spec.layout(), 0)?;
    load_onnx_params(&model, bytes, onnx_file)?;
    let out = onnx_bytes(&model, interface)?;
    let mut manifest = manifest_for(&model, &from.tokenizer(), spec, "model.onnx", &out, interface)?;
    manifest.surprise = from.surprise.clone();
    Ok((manifest, out))
}
