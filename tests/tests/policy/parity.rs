//! candle forward over a whole history == tract streaming the exported ONNX file tick by tick.

use strider_policy::{Interface, Policy, PolicyBatch, Token};
use strider_robot::{Observation, RobotSpec, Sensors};
use strider_train::{Model, ModelConfig, Rng};

use super::common::{INTERFACES, Scratch, export_random_as, small_config, widths};

const TOLERANCE: f32 = 1e-4;

/// One history of `n` ticks (normalised tokens and masks of the reference biped's widths),
/// oldest first.
struct History {
    n: usize,
    /// Observation and action widths.
    no: usize,
    na: usize,
    obs: Vec<f32>,
    obs_missing: Vec<f32>,
    act: Vec<f32>,
    act_missing: Vec<f32>,
}

#[derive(Clone, Copy, Debug)]
enum Masks {
    None,
    /// About a fifth of the observation fields failed.
    RandomFields,
    /// An action-free log: every action is [M].
    NoActions,
    /// Whole observation tokens missing on alternate ticks.
    ObsEveryOtherTick,
}

impl History {
    /// `O_t`.
    fn obs_token(&self, t: usize) -> Token<'_> {
        let at = t * self.no..(t + 1) * self.no;
        (&self.obs[at.clone()], &self.obs_missing[at])
    }

    /// `A_t`.
    fn act_token(&self, t: usize) -> Token<'_> {
        let at = t * self.na..(t + 1) * self.na;
        (&self.act[at.clone()], &self.act_missing[at])
    }

    /// Tick t's inputs: `A_{t−1}` (none on the first tick) and `O_t`.
    fn step(&self, t: usize) -> (Option<Token<'_>>, Token<'_>) {
        ((t > 0).then(|| self.act_token(t - 1)), self.obs_token(t))
    }
}

fn history(n: usize, masks: Masks, rng: &mut Rng) -> History {
    let (no, na) = widths();
    let mut h = History {
        n,
        no,
        na,
        obs: (0..n * no).map(|_| rng.normal()).collect(),
        obs_missing: vec![0.0; n * no],
        act: (0..n * na).map(|_| rng.normal()).collect(),
        act_missing: vec![0.0; n * na],
    };
    match masks {
        Masks::None => {}
        Masks::RandomFields => {
            h.obs_missing.iter_mut().for_each(|m| *m = f32::from(u8::from(rng.uniform() < 0.2)))
        }
        Masks::NoActions => h.act_missing.fill(1.0),
        Masks::ObsEveryOtherTick => {
            (0..n).step_by(2).for_each(|t| h.obs_missing[t * no..(t + 1) * no].fill(1.0))
        }
    }
    // As the tokenizer does: a masked field's value is 0.
    for (v, m) in h.obs.iter_mut().zip(&h.obs_missing).chain(h.act.iter_mut().zip(&h.act_missing)) {
        if *m == 1.0 {
            *v = 0.0;
        }
    }
    h
}

/// The candle forward pass over a whole history (one sequence, no padding).
pub fn candle_forward(
    model: &Model,
    obs: &[f32],
    om: &[f32],
    act: &[f32],
    am: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    model.predict(obs, om, act, am).unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Streams a history of 2.5 K ticks through the exported graph (every interface), tick by
/// tick, and checks every tick's outputs against candle: for a streaming graph one candle
/// pass over the whole history (the first K ticks are the start-up fill levels 1…K, the
/// rest run with the key/value caches wrapped), for a window graph a candle pass over that
/// tick's window alone (a window recomputes its K ticks from scratch, so with more than one
/// layer it sees less than the stream does).
fn check_stream(cfg: &ModelConfig, seed: u64, patterns: &[Masks]) {
    for interface in INTERFACES {
        if interface == Interface::Window && cfg.context_ticks < 2 {
            continue;
        }
        check_stream_as(cfg, seed, patterns, interface);
    }
}

/// Candle's (action at `O_t`, prediction of `O_t` at `A_{t−1}`) for tick `t` of `h`, given
/// the pass over the whole history; for a window graph from a pass over its last K ticks.
fn reference(
    model: &Model,
    h: &History,
    whole: &(Vec<f32>, Vec<f32>),
    t: usize,
    window: Option<usize>,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let (no, na) = (h.no, h.na);
    let (from, (ca, co)) = match window {
        None => (0, whole.clone()),
        Some(k) => {
            let from = (t + 1).saturating_sub(k);
            let o = |v: &[f32]| v[from * no..(t + 1) * no].to_vec();
            let a = |v: &[f32]| v[from * na..(t + 1) * na].to_vec();
            (from, candle_forward(model, &o(&h.obs), &o(&h.obs_missing), &a(&h.act), &a(&h.act_missing)))
        }
    };
    let i = t - from;
    let action = ca[i * na..(i + 1) * na].to_vec();
    let prediction = (i > 0).then(|| co[(i - 1) * no..i * no].to_vec());
    (action, prediction)
}

fn check_stream_as(cfg: &ModelConfig, seed: u64, patterns: &[Masks], interface: Interface) {
    let dir = Scratch::new("parity");
    let (model, exported) = export_random_as(cfg, seed, dir.path(), interface);
    let mut policy = Policy::load(&exported.manifest, &RobotSpec::reference()).expect("load exported model");
    let k = cfg.context_ticks;
    let mut rng = Rng::new(seed + 1);
    let mut worst = 0f32;
    let window = (interface == Interface::Window).then_some(k);
    for &masks in patterns {
        let h = history(5 * k / 2 + 1, masks, &mut rng);
        let whole = candle_forward(&model, &h.obs, &h.obs_missing, &h.act, &h.act_missing);
        assert!(whole.0.iter().chain(&whole.1).all(|x| x.is_finite()), "candle output not finite");
        policy.reset();
        for t in 0..h.n {
            let (prev, obs) = h.step(t);
            let (ta, to) = policy.advance(prev, obs).expect("tract step");
            let (ra, ro) = reference(&model, &h, &whole, t, window);
            let da = max_abs_diff(&ra, ta);
            assert!(
                da <= TOLERANCE,
                "{interface:?} {masks:?}, tick {t} (K = {k}): max |candle − tract| action {da:e}"
            );
            worst = worst.max(da);
            if let Some(ro) = ro {
                // Read at A_{t−1}: the prediction of O_t.
                let dobs = max_abs_diff(&ro, to);
                assert!(
                    dobs <= TOLERANCE,
                    "{interface:?} {masks:?}, tick {t}: max |candle − tract| next_obs {dobs:e}"
                );
                worst = worst.max(dobs);
            }
        }
    }
    eprintln!("parity {interface:?} {cfg:?}: worst max |Δ| = {worst:e}");
}

const ALL: [Masks; 4] = [Masks::None, Masks::RandomFields, Masks::NoActions, Masks::ObsEveryOtherTick];

#[test]
fn small_model_matches_at_every_tick_and_mask_pattern() {
    check_stream(&small_config(8), 11, &ALL);
}

#[test]
fn default_size_model_matches_at_every_tick() {
    check_stream(&ModelConfig::default(), 12, &[Masks::RandomFields]);
}

/// A one-tick context: every token sees only its own tick's tokens, and the cache holds
/// a single key (the previous observation, out of reach of the next one).
#[test]
fn one_tick_context_matches() {
    check_stream(&small_config(1), 13, &[Masks::None, Masks::RandomFields]);
}

/// `Policy::step` (tokenizer + stream + tract) gives the action candle computes from the
/// same history, through start-up and long after the context has wrapped around; after a
/// reset it starts afresh. With a one-token graph the action's call runs between ticks
/// (`prepare`) or, when that was skipped, inside the next `step`: the same outputs.
#[test]
fn policy_step_matches_candle_on_the_same_history() {
    for interface in INTERFACES {
        policy_step_matches_candle(interface);
    }
}

fn policy_step_matches_candle(interface: Interface) {
    let cfg = small_config(4);
    let dir = Scratch::new("step");
    let (model, exported) = export_random_as(&cfg, 21, dir.path(), interface);
    let mut policy = Policy::load(&exported.manifest, &RobotSpec::reference()).expect("load");
    let layout = RobotSpec::reference().layout();
    let (no, na) = (layout.obs_dim(), layout.action_dim());
    let contacts = layout.contact_offset()..layout.command_offset();
    let real = |v: &[f32]| -> Vec<f32> {
        v.iter().enumerate().filter(|(i, _)| !contacts.contains(i)).map(|(_, x)| *x).collect()
    };
    let mut rng = Rng::new(5);
    for episode in 0..2 {
        policy.reset();
        let (mut obs, mut om, mut act, mut am) = (vec![], vec![], vec![], vec![]);
        for tick in 0..14 {
            let mut o = vec![0f32; no];
            o.iter_mut().for_each(|v| *v = rng.normal());
            // Contacts are booleans in an Observation.
            o[contacts.clone()].iter_mut().for_each(|c| *c = f32::from(u8::from(*c > 0.0)));
            if tick == 6 {
                o[3] = f32::NAN; // a failed sensor becomes [M]
            }
            let out = policy.step(&Observation::from_values(&layout, &o)).expect("step");
            assert_eq!(out.predicted_obs.is_some(), tick > 0);
            assert_eq!(policy.history_len(), tick + 1);
            obs.extend(o.iter().map(|v| if v.is_finite() { *v } else { 0.0 }));
            om.extend(o.iter().map(|v| f32::from(u8::from(!v.is_finite()))));
            // The candle pass needs a token in the pending action's place; the action at
            // O_k cannot see it (causal), so its value does not matter. A window graph
            // sees only the last K ticks.
            let from =
                if interface == Interface::Window { (tick + 1).saturating_sub(cfg.context_ticks) } else { 0 };
            let (ca, co) = candle_forward(
                &model,
                &obs[from * no..],
                &om[from * no..],
                &[&act[from * na..], &vec![0.0; na][..]].concat(),
                &[&am[from * na..], &vec![1.0; na][..]].concat(),
            );
            let i = tick - from;
            let want = &ca[i * na..];
            let d = max_abs_diff(want, &out.action.joint_target);
            assert!(
                d <= TOLERANCE,
                "episode {episode} tick {tick}: step {:?} vs candle {want:?}",
                out.action.joint_target
            );
            if let Some(p) = out.predicted_obs {
                // Contacts come back as booleans; compare the real-valued fields.
                let want = &co[(i - 1) * no..i * no];
                let d = max_abs_diff(&real(want), &real(&p.to_values()));
                assert!(d <= TOLERANCE, "episode {episode} tick {tick}: predicted observation off by {d:e}");
            }
            act.extend(out.action.joint_target.iter());
            am.extend(vec![0.0; na]);
            // Between ticks, on most of them; twice on some (the second does nothing).
            if tick % 3 != 1 {
                policy.prepare().expect("prepare");
            }
            if tick % 5 == 0 {
                policy.prepare().expect("prepare again");
            }
        }
    }
}

/// A model whose output is NaN yields an error, never an action.
#[test]
fn non_finite_output_is_an_error() {
    let cfg = small_config(4);
    let dir = Scratch::new("nan");
    let spec = RobotSpec::reference();
    let layout = spec.layout();
    let model = Model::new(&cfg, &layout, 3).unwrap();
    model.set_parameter("head_act.bias", &vec![f32::NAN; layout.action_dim()]).unwrap();
    let exported = strider_train::write_model(
        &model,
        &strider_policy::Tokenizer::identity(&layout),
        &spec,
        dir.path(),
        "model",
    )
    .unwrap();
    let mut policy = Policy::load(&exported.manifest, &spec).expect("load");
    let still = Observation::new(Sensors::zeros(&layout), layout.forward_command(0.0));
    let err = policy.step(&still).expect_err("NaN action returned");
    assert!(matches!(err, strider_policy::PolicyError::NonFinite { output: "action", .. }), "{err}");
    assert_eq!(policy.history_len(), 1, "the observation stays in the history");
    let err = policy.step(&still).expect_err("NaN action returned on the next tick");
    assert!(matches!(err, strider_policy::PolicyError::NonFinite { output: "action", .. }), "{err}");
}

/// An observation or token of another robot's shape is refused with one line naming the
/// counts, and leaves the history as it was.
#[test]
fn an_observation_of_another_shape_is_refused() {
    let dir = Scratch::new("shape");
    let (_, exported) = export_random_as(&small_config(2), 5, dir.path(), Interface::Token);
    let spec = RobotSpec::reference();
    let layout = spec.layout();
    let mut policy = Policy::load(&exported.manifest, &spec).expect("load");
    let mut three_joints = layout;
    three_joints.joints = 3;
    let other = Observation::new(Sensors::zeros(&three_joints), layout.forward_command(0.0));
    let err = policy.step(&other).expect_err("a 3-joint observation for a 6-joint model").to_string();
    let model_joints = format!("{} joints", layout.joints);
    assert!(err.contains("3 joints") && err.contains(&model_joints) && !err.contains('\n'), "{err}");
    assert_eq!(policy.history_len(), 0);
    let short = vec![0.0; layout.obs_dim() - 1];
    let err = policy.advance(None, (&short, &short)).expect_err("a short token").to_string();
    assert!(err.contains(&format!("{} fields", layout.obs_dim())), "{err}");
    assert_eq!(policy.history_len(), 0);
    let mut batch = PolicyBatch::load(&exported.manifest, &spec, 2).expect("load batch");
    let still = Observation::new(Sensors::zeros(&layout), layout.forward_command(0.0));
    let out = batch.step(&[Some(other), Some(still)]);
    assert!(matches!(out[0], Some(Err(strider_policy::PolicyError::Shape { .. }))), "{:?}", out[0]);
    assert!(matches!(out[1], Some(Ok(_))), "the other lane steps: {:?}", out[1]);
}

/// A shipped model has no checkpoint: its weights are read back out of the ONNX file, and
/// exporting them again gives the same file byte for byte (every parameter went back to
/// where it came from, the fused heads and transposed weights included). A file of another
/// width is refused naming the tensor.
#[test]
fn weights_read_back_from_an_export_re_export_identically() {
    let cfg = small_config(3);
    for interface in INTERFACES {
        let dir = Scratch::new("onnx-import");
        let (model, exported) = export_random_as(&cfg, 21, dir.path(), interface);
        let bytes = std::fs::read(&exported.onnx).expect("read export");
        let fresh = Model::new(&cfg, &RobotSpec::reference().layout(), 99).expect("model");
        let export = |m: &Model, i| strider_train::onnx_bytes(m, i).expect("export");
        assert_ne!(export(&fresh, interface), bytes, "a fresh model differs");
        strider_train::load_onnx_params(&fresh, &bytes, "model.onnx").expect("import");
        assert!(export(&fresh, interface) == bytes, "{interface:?}: re-export differs");
        // Read back from either interface, the weights export to the other one as well.
        for other in INTERFACES {
            assert!(export(&fresh, other) == export(&model, other), "{interface:?} → {other:?}");
        }
    }
    let dir = Scratch::new("onnx-import");
    let (_, exported) = export_random_as(&cfg, 21, dir.path(), Interface::Token);
    let bytes = std::fs::read(&exported.onnx).expect("read export");

    let wider =
        Model::new(&ModelConfig { width: 64, ..cfg }, &RobotSpec::reference().layout(), 1).expect("model");
    let err = strider_train::load_onnx_params(&wider, &bytes, "model.onnx").expect_err("width 32 into 64");
    assert!(err.to_string().contains("model.onnx") && err.to_string().contains("heads.weight_t"), "{err}");
}

/// Offline evaluation's batched path: histories of different lengths streamed through
/// 3 lanes of one `PolicyBatch` — lanes refilled with the next history as soon as theirs
/// ends, one lane idle at the end, a poisoned lane reset — give every tick the outputs the
/// one-stream `Policy` gives on each history alone, within the parity tolerance.
#[test]
fn batched_lanes_match_the_single_stream_on_every_tick() {
    for interface in INTERFACES {
        batched_lanes_match_the_single_stream(interface);
    }
}

fn batched_lanes_match_the_single_stream(interface: Interface) {
    let cfg = small_config(4);
    let dir = Scratch::new("batch");
    let (_, exported) = export_random_as(&cfg, 31, dir.path(), interface);
    let spec = RobotSpec::reference();
    let mut rng = Rng::new(8);
    let lengths = [3, 11, 7, 1, 9, 5];
    let masks = [Masks::None, Masks::RandomFields, Masks::NoActions, Masks::ObsEveryOtherTick];
    let histories: Vec<History> =
        lengths.iter().enumerate().map(|(i, &n)| history(n, masks[i % masks.len()], &mut rng)).collect();
    let mut single = Policy::load(&exported.manifest, &spec).expect("load");
    let reference: Vec<Vec<(Vec<f32>, Vec<f32>)>> = histories
        .iter()
        .map(|h| {
            single.reset();
            (0..h.n)
                .map(|t| {
                    let (prev, obs) = h.step(t);
                    let (a, o) = single.advance(prev, obs).expect("step");
                    (a.to_vec(), o.to_vec())
                })
                .collect()
        })
        .collect();

    let mut batch = PolicyBatch::load(&exported.manifest, &spec, 3).expect("load batch");
    // Lane 2 first runs garbage that must not leak into the history it gets after a reset.
    let no = spec.layout().obs_dim();
    let poison = vec![1e3f32; no];
    batch.push(2, None, (&poison, &vec![0.0; no]));
    batch.run().expect("run");
    let mut queue = 0..histories.len();
    let mut lanes: Vec<Option<(usize, usize)>> = vec![None; 3];
    let (mut compared, mut worst) = (0, 0f32);
    loop {
        for (lane, slot) in lanes.iter_mut().enumerate() {
            if slot.is_none_or(|(h, t)| t == histories[h].n) {
                *slot = queue.next().map(|h| (h, 0));
                batch.reset_lane(lane);
            }
            if let Some((h, t)) = *slot {
                let (prev, obs) = histories[h].step(t);
                batch.push(lane, prev, obs);
            }
        }
        if lanes.iter().all(Option::is_none) {
            break;
        }
        batch.run().expect("run");
        for (lane, slot) in lanes.iter_mut().enumerate() {
            let Some((h, t)) = slot else { continue };
            let (a, o) = batch.output(lane);
            let (ra, ro) = &reference[*h][*t];
            let d = max_abs_diff(a, ra).max(if *t > 0 { max_abs_diff(o, ro) } else { 0.0 });
            assert!(
                d <= TOLERANCE,
                "{interface:?} history {h} tick {t} on lane {lane}: |batch − single| = {d:e}"
            );
            worst = worst.max(d);
            compared += 1;
            *t += 1;
        }
    }
    assert_eq!(compared, lengths.iter().sum::<usize>(), "every tick of every history compared once");
    eprintln!("batched parity {interface:?}: worst max |Δ| = {worst:e}");
}

/// The shipped model's file, read back into candle and exported again, is the same file
/// byte for byte: the exporter still writes what shipped, and every weight comes back.
#[test]
fn the_shipped_model_re_exports_byte_for_byte() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/walker2d-biped");
    let manifest = strider_policy::Manifest::load(&std::path::Path::new(dir).join("model.toml")).unwrap();
    let bytes = std::fs::read(std::path::Path::new(dir).join(&manifest.onnx.file)).unwrap();
    let cfg = ModelConfig {
        layers: manifest.model.layers,
        width: manifest.model.width,
        heads: manifest.model.heads,
        context_ticks: manifest.context.ticks,
        ..ModelConfig::default()
    };
    let model = Model::new(&cfg, &RobotSpec::reference().layout(), 0).unwrap();
    strider_train::load_onnx_params(&model, &bytes, "model.onnx").unwrap();
    assert!(
        strider_train::onnx_bytes(&model, manifest.onnx.interface).unwrap() == bytes,
        "the re-export differs from the shipped file"
    );
}

/// A lane's outputs are its own: the same history on lane 0 gives the same outputs to the
/// bit whether the other lanes are held or stream histories of their own (what makes a
/// batched rollout reproducible whatever the other robots do).
#[test]
fn a_lane_is_independent_of_the_other_lanes() {
    for interface in INTERFACES {
        let cfg = small_config(4);
        let dir = Scratch::new("lanes");
        let (_, exported) = export_random_as(&cfg, 17, dir.path(), interface);
        let spec = RobotSpec::reference();
        let mut rng = Rng::new(3);
        let mine = history(12, Masks::None, &mut rng);
        let others = [history(12, Masks::RandomFields, &mut rng), history(12, Masks::None, &mut rng)];
        let run = |busy: bool| {
            let mut batch = PolicyBatch::load(&exported.manifest, &spec, 3).expect("load batch");
            let mut outputs = Vec::new();
            for t in 0..mine.n {
                let (prev, obs) = mine.step(t);
                batch.push(0, prev, obs);
                // Busy: the other lanes stream on every other tick and are held in between.
                if busy && t % 2 == 0 {
                    for (lane, h) in others.iter().enumerate() {
                        let (prev, obs) = h.step(t);
                        batch.push(lane + 1, prev, obs);
                    }
                }
                batch.run().expect("run");
                let (a, o) = batch.output(0);
                outputs.push((a.to_vec(), o.to_vec()));
            }
            outputs
        };
        assert_eq!(run(false), run(true), "{interface:?}: lane 0 depends on what the other lanes do");
    }
}

/// The control loop's batched path: three lanes stepped through `PolicyBatch::step` on
/// observation sequences of their own — one lane held on every third tick, one reset
/// half-way — give every step the action and surprise `Policy::step` gives on that lane's
/// sequence alone (held ticks left out), within the parity tolerance.
#[test]
fn batched_steps_match_the_one_stream_step() {
    for interface in INTERFACES {
        let cfg = small_config(4);
        let dir = Scratch::new("steps");
        let (_, exported) = export_random_as(&cfg, 23, dir.path(), interface);
        let spec = RobotSpec::reference();
        let layout = spec.layout();
        let mut rng = Rng::new(11);
        let mut observation = || {
            let v: Vec<f32> = (0..layout.obs_dim()).map(|_| 0.3 * rng.normal()).collect();
            Observation::from_values(&layout, &v)
        };
        let ticks = 14;
        let seqs: Vec<Vec<Observation>> =
            (0..3).map(|_| (0..ticks).map(|_| observation()).collect()).collect();
        let held = |lane: usize, t: usize| lane == 1 && t % 3 == 2;
        let reset_at = |lane: usize, t: usize| lane == 2 && t == ticks / 2;

        let mut single = Policy::load(&exported.manifest, &spec).expect("load");
        let mut batch = PolicyBatch::load(&exported.manifest, &spec, 3).expect("load batch");
        let mut expected: Vec<Vec<strider_policy::StepOutput>> = Vec::new();
        for (lane, seq) in seqs.iter().enumerate() {
            single.reset();
            let mut outs = Vec::new();
            for (t, obs) in seq.iter().enumerate() {
                if reset_at(lane, t) {
                    single.reset();
                }
                if !held(lane, t) {
                    outs.push(single.step(obs).expect("step"));
                }
            }
            expected.push(outs);
        }
        let mut next = [0usize; 3];
        for t in 0..ticks {
            for lane in (0..3).filter(|&l| reset_at(l, t)) {
                batch.reset_lane(lane);
            }
            let obs: Vec<Option<Observation>> =
                seqs.iter().enumerate().map(|(l, seq)| seq.get(t).copied().filter(|_| !held(l, t))).collect();
            for (lane, out) in batch.step(&obs).into_iter().enumerate() {
                let Some(out) = out else {
                    assert!(held(lane, t), "lane {lane} tick {t}: no answer");
                    continue;
                };
                let (got, want) = (out.expect("step"), &expected[lane][next[lane]]);
                next[lane] += 1;
                let d = max_abs_diff(&got.action.joint_target, &want.action.joint_target);
                assert!(d <= TOLERANCE, "{interface:?} lane {lane} tick {t}: |Δ action| = {d:e}");
                assert_eq!(got.surprise.is_some(), want.surprise.is_some(), "lane {lane} tick {t}");
                if let (Some(a), Some(b)) = (got.surprise, want.surprise) {
                    assert!(
                        (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                        "lane {lane} tick {t}: surprise {a} vs {b}"
                    );
                }
            }
        }
        assert_eq!(next.to_vec(), expected.iter().map(Vec::len).collect::<Vec<_>>(), "every step compared");
    }
}
