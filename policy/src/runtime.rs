//! The tract runtime: the only place in the workspace that names a tract type.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use strider_robot::{Action, Layout, Observation, RobotSpec, Sensors};

use crate::error::PolicyError;
use crate::graph_io::{BATCH_DIM, FIRST_CACHE_OUTPUT, GraphIo, Interface, TensorSpec, output};
use crate::manifest::{Manifest, check_graph_io};
use crate::stream::{Token, TokenStream};
use crate::surprise::{surprise, surprise_scale};
use crate::tokens::Tokenizer;

/// What one control tick produced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOutput {
    /// `A_k`, denormalised: joint targets to hand to the safety layer.
    pub action: Action,
    /// The model's prediction of this tick's observation `O_k`, made from the history
    /// before it (the output at `A_{k−1}`); `None` on the first tick. Comparing it with the
    /// measured observation is the anomaly signal. (The prediction of `O_{k+1}` needs
    /// `A_k` as input: it comes out of [`Policy::prepare`] or the next tick's call.)
    pub predicted_obs: Option<Observation>,
    /// How far the measured `O_k` lies from that prediction ([`crate::surprise()`]);
    /// `None` on the first tick or when no sensor field was measured.
    pub surprise: Option<f32>,
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

/// A loaded, checked, optimised and warmed-up model with its streaming state: the key/value
/// caches of the tokens seen so far (in tract tensors, fed back each call without a copy)
/// and the inputs of the next call. Every token buffer is allocated at load, at the widths
/// of the robot's layout; a tick allocates none.
///
/// With a one-token graph (`onnx.interface = "token"`) a tick is two calls: [`Policy::step`]
/// runs the observation's, and [`Policy::prepare`], called between ticks once the action is
/// sent, runs the action's — whose output is the prediction of the next observation — so
/// that only one token's compute stands between a measurement and its action. With a
/// two-token graph (`pair`) a tick is one call on both tokens; with a `window` graph, one
/// call on the last K ticks (no caches).
pub struct Policy {
    manifest: Manifest,
    reader: Reader,
    state: TypedSimpleState,
    file: String,
    summary: GraphSummary,
    stream: TokenStream,
    /// One per cache input, in graph order; empty while a call runs.
    caches: TVec<TValue>,
    /// `O_k` as a normalised token: the observation [`Policy::step`] was given.
    obs: Slot,
    /// `A_{k−1}` as a normalised token whose call has not run yet; empty before the first
    /// action of a stream and, for a one-token graph, once [`Policy::prepare`] ran it.
    last_action: Slot,
    /// The last call's outputs, unchecked.
    heads: Heads,
    /// One-token graph: the prediction of the next observation, from `A_{k−1}`'s call.
    prediction: Slot,
    /// [`Policy::advance`] on a one-token graph: the prediction of `O_k` it returns.
    advanced_prediction: Box<[f32]>,
}

/// A normalised token and its `[M]` mask, allocated once at its modality's width, that
/// may hold nothing.
#[derive(Debug, Clone)]
struct Slot {
    z: Box<[f32]>,
    m: Box<[f32]>,
    full: bool,
}

impl Slot {
    fn new(width: usize) -> Slot {
        Slot { z: vec![0.0; width].into(), m: vec![1.0; width].into(), full: false }
    }

    fn token(&self) -> Token<'_> {
        (&self.z, &self.m)
    }

    /// The token, if the slot holds one.
    fn get(&self) -> Option<Token<'_>> {
        self.full.then(|| self.token())
    }

    /// Holds a copy of `(z, m)`. Panics unless it has the slot's width.
    fn put(&mut self, (z, m): Token) {
        assert!(
            z.len() == self.z.len() && m.len() == self.m.len(),
            "a token of {} fields where the model's have {}",
            z.len(),
            self.z.len()
        );
        self.z.copy_from_slice(z);
        self.m.copy_from_slice(m);
        self.full = true;
    }

    /// Holds the checked output `z`, every field present.
    fn put_known(&mut self, z: &[f32]) {
        self.z.copy_from_slice(z);
        self.m.fill(0.0);
        self.full = true;
    }

    /// Holds an action token whose finiteness is not known yet: `[M]` in the history
    /// until it is.
    fn put_unchecked(&mut self) {
        self.z.fill(0.0);
        self.m.fill(1.0);
        self.full = true;
    }

    fn clear(&mut self) {
        self.full = false;
    }
}

/// A graph call's two outputs for `rows` rows, row-major: the action head (read at `O_k`)
/// and the observation head (read at `A_{k−1}`).
#[derive(Debug, Clone)]
struct Heads {
    action: Box<[f32]>,
    obs: Box<[f32]>,
}

impl Heads {
    fn new(rows: usize, action_dim: usize, obs_dim: usize) -> Heads {
        Heads { action: vec![0.0; rows * action_dim].into(), obs: vec![0.0; rows * obs_dim].into() }
    }

    /// Copies the outputs asked for out of a call's outputs (action head, observation
    /// head, …); an output of another size is an error.
    fn read(&mut self, out: &[TValue], action: bool, obs: bool) -> TractResult<()> {
        for (keep, value, into) in [(action, &out[0], &mut self.action), (obs, &out[1], &mut self.obs)] {
            if keep {
                let data = value.try_as_plain_ram()?;
                let data = data.as_slice::<f32>()?;
                if data.len() != into.len() {
                    return Err(TractError::msg(format!(
                        "an output of {} values where {} were expected",
                        data.len(),
                        into.len()
                    )));
                }
                into.copy_from_slice(data);
            }
        }
        Ok(())
    }
}

/// What a tick's raw outputs mean: the robot's layout, the tokenizer, and the observation
/// fields the surprise compares with each one's scale. [`Policy`] and [`PolicyBatch`] read
/// their outputs through the same one.
struct Reader {
    layout: Layout,
    tokenizer: Tokenizer,
    sensor: Box<[bool]>,
    scale: Box<[f32]>,
}

impl Reader {
    /// For `manifest`, checked against a robot whose layout is `layout`.
    fn new(manifest: &Manifest, layout: Layout) -> Reader {
        Reader {
            layout,
            tokenizer: manifest.tokenizer(),
            sensor: manifest.sensor_fields().into(),
            scale: surprise_scale(manifest.surprise.as_ref(), layout.obs_dim()).into(),
        }
    }

    /// The observation as a normalised token with its `[M]` mask, into `z` and `m`;
    /// refuses an observation of another layout.
    fn token(&self, obs: &Observation, z: &mut [f32], m: &mut [f32]) -> Result<(), PolicyError> {
        let l = &self.layout;
        if !(obs.sensors.fits(l) && obs.command.len() == l.commands.len()) {
            let s = &obs.sensors;
            let counts = |joints: usize, imu: usize, contacts: usize, commands: usize| {
                let n = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
                format!(
                    "{}, {}, {}, {}",
                    n(joints, "joint"),
                    n(imu, "IMU field"),
                    n(contacts, "contact"),
                    n(commands, "command")
                )
            };
            return Err(PolicyError::Shape {
                what: "observation",
                expected: counts(l.joints, l.imu.len(), l.contacts, l.commands.len()),
                found: counts(s.joint_pos.len(), s.imu.len(), s.contact.len(), obs.command.len()),
            });
        }
        self.tokenizer.observation(obs, z, m);
        Ok(())
    }

    /// A tick's outputs checked and denormalised: the action head `a`, and the prediction
    /// `o` of the measured observation token `(z, m)` when there was one.
    fn read(&self, a: &[f32], o: Option<&[f32]>, (z, m): Token) -> Result<StepOutput, PolicyError> {
        finite(output::ACTION, a)?;
        let (predicted_obs, surprise) = match o {
            Some(o) => {
                finite(output::NEXT_OBS, o)?;
                (
                    Some(self.tokenizer.detokenize_observation(&self.layout, o)),
                    surprise(o, z, m, &self.sensor, &self.scale),
                )
            }
            None => (None, None),
        };
        Ok(StepOutput { action: self.tokenizer.detokenize_action(a), predicted_obs, surprise })
    }
}

/// Refuses a token whose value or mask does not have `width` fields.
fn check_width(what: &'static str, (z, m): Token, width: usize) -> Result<(), PolicyError> {
    if z.len() != width || m.len() != width {
        return Err(PolicyError::Shape {
            what,
            expected: format!("{width} fields"),
            found: format!("{} values and {} mask entries", z.len(), m.len()),
        });
    }
    Ok(())
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("file", &self.file)
            .field("ticks", &self.manifest.context.ticks)
            .finish()
    }
}

fn engine(file: &str) -> impl Fn(anyhow_like::Error) -> PolicyError + '_ {
    move |e| {
        let mut message = format!("{e:#}");
        // tract names the node and the shapes it could not reconcile; say where to look.
        if message.contains("external data") {
            message.push_str(
                " (the weights are in a separate file; save the model as one file, e.g. \
                 `torch.onnx.export(..., external_data=False)`: docs/BYO_MODEL.md)",
            );
        } else if message.starts_with("Failed analyse") || message.starts_with("Translating node") {
            message.push_str(
                " (the graph's shapes do not follow from the inputs the manifest declares: check that the \
                 batch dimension is named `batch` and each input's shape; docs/TOKENS.md)",
            );
        }
        PolicyError::Engine { file: file.to_string(), message }
    }
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
        let (manifest, bytes, onnx_file) = read_model(manifest_path, spec)?;
        Policy::from_parts(manifest, spec.layout(), &manifest_path.display().to_string(), &bytes, &onnx_file)
    }

    /// As [`Policy::load`], from a manifest's text and the ONNX file's bytes (a model
    /// built into the binary); `manifest_name` and `onnx_name` label errors.
    pub fn from_bytes(
        manifest_text: &str,
        manifest_name: &str,
        onnx: &[u8],
        onnx_name: &str,
        spec: &RobotSpec,
    ) -> Result<Policy, PolicyError> {
        let manifest = checked_manifest(manifest_text, manifest_name, spec)?;
        Policy::from_parts(manifest, spec.layout(), manifest_name, onnx, onnx_name)
    }

    /// Loads a manifest already checked against the robot of `layout`, with its ONNX
    /// file's bytes.
    fn from_parts(
        manifest: Manifest,
        layout: Layout,
        file: &str,
        bytes: &[u8],
        onnx_file: &str,
    ) -> Result<Policy, PolicyError> {
        let onnx_file = onnx_file.to_string();
        let (state, summary) = checked_plan(&manifest, file, bytes, &onnx_file, 1)?;
        let (obs_dim, action_dim) = (layout.obs_dim(), layout.action_dim());
        let mut policy = Policy {
            reader: Reader::new(&manifest, layout),
            stream: TokenStream::new(manifest.context.ticks, manifest.onnx.interface, obs_dim, action_dim),
            caches: tvec![],
            obs: Slot::new(obs_dim),
            last_action: Slot::new(action_dim),
            heads: Heads::new(1, action_dim, obs_dim),
            prediction: Slot::new(obs_dim),
            advanced_prediction: vec![0.0; obs_dim].into(),
            manifest,
            state,
            file: onnx_file,
            summary,
        };
        policy.reset();
        policy.warm_up()?;
        Ok(policy)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn summary(&self) -> &GraphSummary {
        &self.summary
    }

    /// The robot layout the model was loaded for: the shape of every observation and
    /// action it takes and returns.
    pub fn layout(&self) -> &Layout {
        &self.reader.layout
    }

    /// Ticks stepped since the last reset.
    pub fn history_len(&self) -> usize {
        self.stream.ticks()
    }

    /// Forgets the history (a new episode): empty, zeroed caches.
    pub fn reset(&mut self) {
        self.stream.clear();
        self.last_action.clear();
        self.prediction.clear();
        self.caches = zero_caches(&self.manifest, 1);
    }

    // The first runs of a plan page in weights and size scratch buffers. Outputs are not
    // judged here: a non-finite action is `step`'s error to report.
    fn warm_up(&mut self) -> Result<(), PolicyError> {
        let layout = self.reader.layout;
        let (o, a) = (layout.obs_dim(), layout.action_dim());
        let (mut z, mut m) = (vec![0.0; o], vec![0.0; o]);
        let still = Observation::new(Sensors::zeros(&layout), layout.forward_command(0.0));
        self.reader.token(&still, &mut z, &mut m)?;
        let unchecked = (vec![0.0; a], vec![1.0; a]);
        for t in 0..3 {
            let prev = (t > 0).then_some((&unchecked.0[..], &unchecked.1[..]));
            self.advance(prev, (&z, &m))?;
        }
        self.reset();
        Ok(())
    }

    /// One control tick: runs the model on the previous action (unless [`Policy::prepare`]
    /// already did) and `obs`, and returns the action `A_k`. A non-finite output is an
    /// error, and that action enters the history as `[M]`; the caller holds its last safe
    /// command. An observation of another layout than the model's robot is refused.
    pub fn step(&mut self, obs: &Observation) -> Result<StepOutput, PolicyError> {
        self.reader.token(obs, &mut self.obs.z, &mut self.obs.m)?;
        let interface = self.manifest.onnx.interface;
        let predicted = match interface {
            Interface::Pair | Interface::Window => {
                let had_prev = self.last_action.full;
                self.stream.push(self.last_action.get(), self.obs.token());
                self.last_action.clear();
                self.call()?;
                had_prev
            }
            Interface::Token => {
                self.prepare()?;
                let predicted = self.prediction.full;
                self.prediction.clear();
                self.stream.push_obs(self.obs.token());
                self.call()?;
                predicted
            }
        };
        self.last_action.put_unchecked();
        let o = match interface {
            _ if !predicted => None,
            Interface::Token => Some(&self.prediction.z[..]),
            Interface::Pair | Interface::Window => Some(&self.heads.obs[..]),
        };
        let out = self.reader.read(&self.heads.action, o, self.obs.token())?;
        self.last_action.put_known(&self.heads.action);
        Ok(out)
    }

    /// The part of the next tick that needs the action just returned but not the next
    /// measurement: a one-token graph's call on `A_k`, whose output is the prediction of
    /// `O_{k+1}`. Call it once the action is sent; [`Policy::step`] does it itself if it
    /// was not called. Nothing to do for a two-token graph, or twice.
    pub fn prepare(&mut self) -> Result<(), PolicyError> {
        if self.manifest.onnx.interface != Interface::Token {
            return Ok(());
        }
        if self.last_action.full {
            self.stream.push_action(self.last_action.get());
            self.last_action.clear();
            self.call()?;
            self.prediction.put_known(&self.heads.obs);
        }
        Ok(())
    }

    /// Advances the stream by one tick with explicit normalised tokens: `prev_action` is
    /// `A_{k−1}` (`None` on the first tick), `obs` is `O_k`, each of the layout's width.
    /// Returns the outputs read at `O_k` (the action) and at `A_{k−1}` (the prediction of
    /// `O_k`; meaningless without `A_{k−1}`), unchecked, until the next call. For parity
    /// checks and offline evaluation; the control loop uses [`Policy::step`].
    pub fn advance(
        &mut self,
        prev_action: Option<Token>,
        obs: Token,
    ) -> Result<(&[f32], &[f32]), PolicyError> {
        check_width("observation token", obs, self.stream.obs_dim())?;
        if let Some(prev) = prev_action {
            check_width("action token", prev, self.stream.action_dim())?;
        }
        match self.manifest.onnx.interface {
            Interface::Pair | Interface::Window => {
                self.stream.push(prev_action, obs);
                self.call()?;
                Ok((&self.heads.action, &self.heads.obs))
            }
            Interface::Token => {
                self.advanced_prediction.fill(0.0);
                // A stream's first tick has no `A_0`: skipping its empty slot is the same
                // computation (positions are relative); any later one is a key, valid or not.
                if prev_action.is_some() || self.stream.ticks() > 0 {
                    self.stream.push_action(prev_action);
                    self.call()?;
                    self.advanced_prediction.copy_from_slice(&self.heads.obs);
                }
                self.stream.push_obs(obs);
                self.call()?;
                Ok((&self.heads.action, &self.advanced_prediction))
            }
        }
    }

    /// One graph call on the pushed tokens into [`Policy::heads`].
    fn call(&mut self) -> Result<(), PolicyError> {
        let inputs = stream_inputs(std::slice::from_ref(&self.stream), &mut self.caches);
        let run = inputs.and_then(|i| self.state.run(i));
        let mut out = match run {
            Ok(out) => out,
            Err(e) => {
                // The caches went into the failed run: start the stream afresh.
                self.reset();
                return Err(engine(&self.file)(e));
            }
        };
        let heads = self.heads.read(&out, true, true);
        self.caches = out.drain(FIRST_CACHE_OUTPUT..).collect();
        heads.map_err(engine(&self.file))
    }

    /// Where a tick's time goes: wall time per optimised op type, summed over `ticks`
    /// ticks (one or two graph calls each) of a stream whose context is full, largest
    /// first. Resets the stream.
    pub fn profile(&mut self, ticks: usize) -> Result<Vec<OpTime>, PolicyError> {
        use std::time::{Duration, Instant};
        self.reset();
        let (o, a) = (self.stream.obs_dim(), self.stream.action_dim());
        let (z, m) = (vec![0.0; o], vec![0.0; o]);
        let act = (vec![0.0; a], vec![0.0; a]);
        for _ in 0..self.manifest.context.ticks {
            self.advance(Some((&act.0, &act.1)), (&z, &m))?;
        }
        let calls = self.manifest.onnx.interface.tokens_per_call();
        let mut per_node: Vec<Duration> = vec![];
        for call in 0..ticks * (2 / calls) {
            match self.manifest.onnx.interface {
                Interface::Pair | Interface::Window => self.stream.push(Some((&act.0, &act.1)), (&z, &m)),
                Interface::Token if call % 2 == 0 => self.stream.push_action(Some((&act.0, &act.1))),
                Interface::Token => self.stream.push_obs((&z, &m)),
            }
            let inputs = stream_inputs(std::slice::from_ref(&self.stream), &mut self.caches)
                .map_err(engine(&self.file))?;
            let out = self
                .state
                .run_plan_with_eval(inputs, |ctx, state, node, inputs| {
                    let t = Instant::now();
                    let r = tract_onnx::tract_core::plan::eval(ctx, state, node, inputs);
                    if per_node.len() <= node.id {
                        per_node.resize(node.id + 1, Duration::ZERO);
                    }
                    per_node[node.id] += t.elapsed();
                    r
                })
                .map_err(engine(&self.file))?;
            self.caches = out.into_iter().skip(FIRST_CACHE_OUTPUT).collect();
        }
        let model = self.state.model();
        let mut by_op: BTreeMap<String, (Duration, usize)> = BTreeMap::new();
        for (id, d) in per_node.iter().enumerate() {
            let e = by_op.entry(model.node(id).op.name().to_string()).or_default();
            e.0 += *d;
            e.1 += 1;
        }
        let mut v: Vec<OpTime> = by_op
            .into_iter()
            .map(|(op, (d, nodes))| OpTime { op, nodes, us_per_step: d.as_secs_f64() * 1e6 / ticks as f64 })
            .collect();
        v.sort_by(|a, b| b.us_per_step.total_cmp(&a.us_per_step));
        self.reset();
        Ok(v)
    }
}

/// One line of [`Policy::profile`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// tract's name of the op type.
    pub op: String,
    /// Nodes of that type in the plan.
    pub nodes: usize,
    /// Mean wall time per tick, all those nodes together.
    pub us_per_step: f64,
}

/// Empty caches for `batch` rows, one per cache input of the graph.
fn zero_caches(manifest: &Manifest, batch: usize) -> TVec<TValue> {
    manifest.onnx.inputs[manifest.onnx.interface.first_cache_input()..]
        .iter()
        .map(|spec| Tensor::zero::<f32>(&spec.concrete_shape(batch)).expect("f32 zeros").into_tvalue())
        .collect()
}

/// A manifest's text parsed and checked against `spec`; `name` labels errors.
fn checked_manifest(text: &str, name: &str, spec: &RobotSpec) -> Result<Manifest, PolicyError> {
    let manifest = Manifest::from_toml_str(text, name)?;
    manifest.check(spec, name)?;
    Ok(manifest)
}

/// Reads the manifest at `manifest_path`, checks it against `spec`, and reads the ONNX file
/// it names: (manifest, file bytes, file name).
fn read_model(manifest_path: &Path, spec: &RobotSpec) -> Result<(Manifest, Vec<u8>, String), PolicyError> {
    let manifest = Manifest::load(manifest_path)?;
    manifest.check(spec, &manifest_path.display().to_string())?;
    let onnx_path = manifest_path.parent().unwrap_or(Path::new(".")).join(&manifest.onnx.file);
    let onnx_file = onnx_path.display().to_string();
    let bytes = std::fs::read(&onnx_path)
        .map_err(|e| PolicyError::Read { file: onnx_file.clone(), message: e.to_string() })?;
    Ok((manifest, bytes, onnx_file))
}

/// Checks the file against its manifest (hash, opset, declared interface) and builds the
/// optimised plan for `batch` rows.
fn checked_plan(
    manifest: &Manifest,
    file: &str,
    bytes: &[u8],
    onnx_file: &str,
    batch: usize,
) -> Result<(TypedSimpleState, GraphSummary), PolicyError> {
    manifest.check_hash(bytes, file)?;
    let proto = pb::ModelProto::decode(bytes).map_err(|e| PolicyError::Parse {
        file: onnx_file.to_string(),
        message: format!("not an ONNX model: {e}"),
    })?;
    check_opset(&proto, manifest, file)?;
    check_graph_io(manifest, &declared_io(&proto), file)?;
    let (plan, summary) = optimise(&proto, &manifest.onnx.inputs, batch).map_err(engine(onnx_file))?;
    let state = plan.spawn().map_err(engine(onnx_file))?;
    Ok((state, summary))
}

/// Many independent token streams through one graph call — offline evaluation's fast path.
/// Row `i` of every input and output is lane `i`: the same model as [`Policy`] with the
/// same checks, optimised for `lanes` rows, so each call reads the weights once for all of
/// them (tract gains nothing from the second token of one stream; see docs/BENCHMARKS.md).
/// Each lane is a stream of its own with its own history; [`Policy`] is the reference it is
/// tested against. A one-token graph takes two calls per tick (every lane's action, then
/// every lane's observation).
pub struct PolicyBatch {
    manifest: Manifest,
    state: TypedSimpleState,
    file: String,
    streams: Vec<TokenStream>,
    /// Each lane's tick given since the last [`PolicyBatch::run`].
    queued: Vec<Queued>,
    caches: TVec<TValue>,
    /// Every lane's outputs of the last run, lane after lane.
    heads: Heads,
    reader: Reader,
    /// For [`PolicyBatch::step`]: each lane's `A_{k−1}` as [`Policy`] keeps it.
    last_actions: Vec<Slot>,
}

/// A lane's tick: `O_k` (the slot is full when the lane was given a tick) and `A_{k−1}`
/// (empty on a stream's first tick).
#[derive(Debug, Clone)]
struct Queued {
    obs: Slot,
    act: Slot,
}

/// The lanes given a tick, each with its stream.
fn pushed<'a>(
    streams: &'a mut [TokenStream],
    queued: &'a [Queued],
) -> impl Iterator<Item = (&'a mut TokenStream, &'a Queued)> {
    streams.iter_mut().zip(queued).filter(|(_, q)| q.obs.full)
}

impl std::fmt::Debug for PolicyBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyBatch").field("file", &self.file).field("lanes", &self.streams.len()).finish()
    }
}

impl PolicyBatch {
    /// As [`Policy::load`], for `lanes` streams at once.
    pub fn load(manifest_path: &Path, spec: &RobotSpec, lanes: usize) -> Result<PolicyBatch, PolicyError> {
        let (manifest, bytes, onnx_file) = read_model(manifest_path, spec)?;
        let file = manifest_path.display().to_string();
        PolicyBatch::from_parts(manifest, spec.layout(), &file, &bytes, &onnx_file, lanes)
    }

    /// As [`Policy::from_bytes`], for `lanes` streams at once.
    pub fn from_bytes(
        manifest_text: &str,
        manifest_name: &str,
        onnx: &[u8],
        onnx_name: &str,
        spec: &RobotSpec,
        lanes: usize,
    ) -> Result<PolicyBatch, PolicyError> {
        let manifest = checked_manifest(manifest_text, manifest_name, spec)?;
        PolicyBatch::from_parts(manifest, spec.layout(), manifest_name, onnx, onnx_name, lanes)
    }

    fn from_parts(
        manifest: Manifest,
        layout: Layout,
        file: &str,
        bytes: &[u8],
        onnx_file: &str,
        lanes: usize,
    ) -> Result<PolicyBatch, PolicyError> {
        assert!(lanes > 0, "a batch has at least one lane");
        let (state, _) = checked_plan(&manifest, file, bytes, onnx_file, lanes)?;
        let caches = zero_caches(&manifest, lanes);
        let file = onnx_file.to_string();
        let interface = manifest.onnx.interface;
        let (obs_dim, action_dim) = (layout.obs_dim(), layout.action_dim());
        Ok(PolicyBatch {
            streams: vec![TokenStream::new(manifest.context.ticks, interface, obs_dim, action_dim); lanes],
            queued: vec![Queued { obs: Slot::new(obs_dim), act: Slot::new(action_dim) }; lanes],
            heads: Heads::new(lanes, action_dim, obs_dim),
            reader: Reader::new(&manifest, layout),
            last_actions: vec![Slot::new(action_dim); lanes],
            manifest,
            state,
            file,
            caches,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The robot layout the model was loaded for.
    pub fn layout(&self) -> &Layout {
        &self.reader.layout
    }

    pub fn lanes(&self) -> usize {
        self.streams.len()
    }

    /// Forgets lane `lane`'s history (its next tick starts a stream).
    pub fn reset_lane(&mut self, lane: usize) {
        self.streams[lane].clear();
        self.last_actions[lane].clear();
        self.edit_lane_caches(lane, |cache| cache.fill(0.0));
    }

    /// Runs `edit` on lane `lane`'s slice of every cache, in graph order.
    fn edit_lane_caches(&mut self, lane: usize, mut edit: impl FnMut(&mut [f32])) {
        let lanes = self.streams.len();
        for cache in &mut self.caches {
            let mut t = std::mem::replace(cache, Tensor::zero::<f32>(&[0]).expect("empty").into_tvalue())
                .into_tensor();
            let per_lane = t.len() / lanes;
            if let Ok(mut view) = t.try_as_plain_ram_mut()
                && let Ok(all) = view.as_slice_mut::<f32>()
            {
                edit(&mut all[lane * per_lane..(lane + 1) * per_lane]);
            }
            *cache = t.into_tvalue();
        }
    }

    /// One control tick for every lane given an observation, each exactly as
    /// [`Policy::step`] on that lane's stream alone (its own `A_{k−1}`, the same checks, the
    /// same surprise; a two-token call, or two calls for a one-token graph, for all lanes
    /// at once). A lane given `None` is held: its history stays as it was, its answer is
    /// `None`; so is a lane whose observation is of another layout, whose answer is that
    /// error. A failed call is every stepped lane's error and starts every stream afresh.
    pub fn step(&mut self, obs: &[Option<Observation>]) -> Vec<Option<Result<StepOutput, PolicyError>>> {
        assert_eq!(obs.len(), self.lanes(), "one entry per lane");
        let mut out: Vec<Option<Result<StepOutput, PolicyError>>> = vec![None; obs.len()];
        let mut had_prev = vec![false; obs.len()];
        let mut stepped = Vec::with_capacity(obs.len());
        for (lane, o) in obs.iter().enumerate() {
            let Some(o) = o else { continue };
            let q = &mut self.queued[lane];
            if let Err(e) = self.reader.token(o, &mut q.obs.z, &mut q.obs.m) {
                out[lane] = Some(Err(e));
                continue;
            }
            q.obs.full = true;
            let last = &mut self.last_actions[lane];
            had_prev[lane] = last.full;
            match last.get() {
                Some(prev) => q.act.put(prev),
                None => q.act.clear(),
            }
            last.put_unchecked();
            stepped.push(lane);
        }
        if let Err(e) = self.run() {
            self.last_actions.iter_mut().for_each(Slot::clear);
            for &lane in &stepped {
                out[lane] = Some(Err(e.clone()));
            }
            return out;
        }
        let (na, no) = (self.reader.layout.action_dim(), self.reader.layout.obs_dim());
        for lane in stepped {
            let (a, o) = (&self.heads.action[lane * na..][..na], &self.heads.obs[lane * no..][..no]);
            let read = self.reader.read(a, had_prev[lane].then_some(o), self.queued[lane].obs.token());
            if read.is_ok() {
                self.last_actions[lane].put_known(a);
            }
            out[lane] = Some(read);
        }
        out
    }

    /// Gives lane `lane`'s next tick, as [`Policy::advance`]: `prev_action` is `A_{k−1}`
    /// (`None` on a stream's first tick), `obs` is `O_k`. Panics unless the tokens have the
    /// layout's widths.
    pub fn push(&mut self, lane: usize, prev_action: Option<Token>, obs: Token) {
        let q = &mut self.queued[lane];
        q.obs.put(obs);
        match prev_action {
            Some(prev) => q.act.put(prev),
            None => q.act.clear(),
        }
    }

    /// Runs every lane one tick. A lane not pushed since the last run is held: the call
    /// computes its row on the tokens it had, its caches come back as they were, and its
    /// outputs mean nothing.
    pub fn run(&mut self) -> Result<(), PolicyError> {
        let idle: Vec<usize> = (0..self.lanes()).filter(|&lane| !self.queued[lane].obs.full).collect();
        let held: Vec<(usize, Vec<f32>)> = idle
            .into_iter()
            .map(|lane| {
                let mut saved = Vec::new();
                self.edit_lane_caches(lane, |cache| saved.extend_from_slice(cache));
                (lane, saved)
            })
            .collect();
        let result = match self.manifest.onnx.interface {
            Interface::Pair | Interface::Window => {
                for (stream, q) in pushed(&mut self.streams, &self.queued) {
                    stream.push(q.act.get(), q.obs.token());
                }
                self.call(true, true)
            }
            Interface::Token => {
                // A lane's first tick runs an empty `A_0` slot: the same computation as
                // skipping it, as [`Policy`] does (positions are relative).
                for (stream, q) in pushed(&mut self.streams, &self.queued) {
                    stream.push_action(q.act.get());
                }
                self.call(false, true).and_then(|()| {
                    for (stream, q) in pushed(&mut self.streams, &self.queued) {
                        stream.push_obs(q.obs.token());
                    }
                    self.call(true, false)
                })
            }
        };
        // The ticks are taken; their tokens stay in the slots for `step` to read.
        self.queued.iter_mut().for_each(|q| q.obs.clear());
        if result.is_ok() {
            for (lane, saved) in held {
                let mut from = saved.as_slice();
                self.edit_lane_caches(lane, |cache| {
                    let (mine, rest) = from.split_at(cache.len());
                    cache.copy_from_slice(mine);
                    from = rest;
                });
            }
        }
        result
    }

    /// One graph call on every lane's pushed tokens; keeps the heads asked for.
    fn call(&mut self, keep_actions: bool, keep_predictions: bool) -> Result<(), PolicyError> {
        let inputs = stream_inputs(&self.streams, &mut self.caches).map_err(engine(&self.file))?;
        let mut out = self.state.run(inputs).map_err(|e| {
            // The caches went into the failed run: every lane starts afresh.
            self.caches = zero_caches(&self.manifest, self.streams.len());
            self.streams.iter_mut().for_each(TokenStream::clear);
            engine(&self.file)(e)
        })?;
        let heads = self.heads.read(&out, keep_actions, keep_predictions);
        self.caches = out.drain(FIRST_CACHE_OUTPUT..).collect();
        heads.map_err(engine(&self.file))
    }

    /// Lane `lane`'s outputs of the last run, as [`Policy::advance`] returns them: the
    /// normalised action read at `O_k` and prediction of `O_k` read at `A_{k−1}`, unchecked.
    pub fn output(&self, lane: usize) -> (&[f32], &[f32]) {
        let (na, no) = (self.reader.layout.action_dim(), self.reader.layout.obs_dim());
        (&self.heads.action[lane * na..][..na], &self.heads.obs[lane * no..][..no])
    }
}

/// The graph inputs of one call on `streams` (one row each) with the interface's inputs,
/// then the caches (taken).
fn stream_inputs(streams: &[TokenStream], caches: &mut TVec<TValue>) -> TractResult<TVec<TValue>> {
    let b = streams.len();
    let tensor = |f: &dyn Fn(&TokenStream) -> &[f32], shape: &[usize]| -> TractResult<TValue> {
        let t = match streams {
            // The control loop's case: straight from the stream's buffers.
            [one] => Tensor::from_shape(shape, f(one))?,
            _ => Tensor::from_shape(
                shape,
                &streams.iter().flat_map(|s| f(s).iter().copied()).collect::<Vec<_>>(),
            )?,
        };
        Ok(t.into_tvalue())
    };
    let (o, a) = (streams[0].obs_dim(), streams[0].action_dim());
    let keys = streams[0].key_valid.len();
    let n = streams[0].obs.len() / o;
    let mut v = tvec!(
        tensor(&|s| &s.obs, &[b, n, o])?,
        tensor(&|s| &s.obs_missing, &[b, n, o])?,
        tensor(&|s| &s.act, &[b, n, a])?,
        tensor(&|s| &s.act_missing, &[b, n, a])?,
    );
    if streams[0].interface() == Interface::Token {
        v.push(tensor(&|s| &s.modality, &[b, 1, 1])?);
    }
    v.push(tensor(&|s| &s.key_valid, &[b, keys])?);
    v.extend(std::mem::take(caches));
    Ok(v)
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

fn optimise(
    proto: &pb::ModelProto,
    inputs: &[TensorSpec],
    batch: usize,
) -> TractResult<(Plan, GraphSummary)> {
    // Intermediate shape annotations (`value_info`, as PyTorch's dynamo exporter writes them
    // with a symbolic batch) are hints tract would have to unify with the concrete batch
    // bound below ("Impossible to unify Sym(batch) with Val(1)"); the inputs fix every
    // shape, so they are dropped and re-inferred.
    let proto = &pb::ModelProto {
        graph: proto.graph.clone().map(|g| pb::GraphProto { value_info: Vec::new(), ..g }),
        ..proto.clone()
    };
    let mut model = tract_onnx::onnx().model_for_proto_model(proto)?;
    for (i, spec) in inputs.iter().enumerate() {
        debug_assert!(spec.shape.first().map(String::as_str) == Some(BATCH_DIM));
        model.set_input_fact(i, f32::fact(spec.concrete_shape(batch)).into())?;
    }
    // tract lowers each ONNX `Attention` to its flash kernel by default, which measured
    // 1.5× slower per step here than its matmul + softmax decomposition (2 queries on
    // 2K + 1 keys is too little work to tile; docs/BENCHMARKS.md): pick the latter for
    // every key length this runtime streams.
    let scope = tract_onnx::tract_core::knobs::KnobScope::new([("TRACT_FLASH_SDPA_MIN_SEQ_LEN", "1000000")])?;
    let optimised = scope.enter(|| model.into_optimized())?;
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
    let (_, summary) = optimise(&proto, &io.inputs, 1).map_err(engine(&file))?;
    Ok(summary)
}

/// The ONNX operators the loader knows (tract-onnx's registry), sorted — the list
/// `docs/BYO_MODEL.md` prints. A graph with any other op is refused at load naming it.
pub fn supported_onnx_ops() -> Vec<String> {
    let mut ops: Vec<String> = tract_onnx::onnx().op_register.0.into_keys().collect();
    ops.sort();
    ops
}
