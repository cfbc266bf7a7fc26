//! candle forward == tract on the exported ONNX file.

use candle_core::{Device, Tensor};

use strider_policy::Policy;
use strider_robot::{ACTION_DIM, OBS_DIM, Observation, RobotSpec};
use strider_train::{Batch, Model, ModelConfig, Rng};

use super::common::{Scratch, export_random, small_config};

const TOLERANCE: f32 = 1e-4;

/// One history of `n` ticks (normalised tokens and masks), oldest first.
struct History {
    n: usize,
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
    /// As at run time: the newest tick's action is not known yet.
    PendingAction,
}

fn history(n: usize, masks: Masks, rng: &mut Rng) -> History {
    let mut h = History {
        n,
        obs: (0..n * OBS_DIM).map(|_| rng.normal()).collect(),
        obs_missing: vec![0.0; n * OBS_DIM],
        act: (0..n * ACTION_DIM).map(|_| rng.normal()).collect(),
        act_missing: vec![0.0; n * ACTION_DIM],
    };
    match masks {
        Masks::None => {}
        Masks::RandomFields => {
            h.obs_missing.iter_mut().for_each(|m| *m = f32::from(u8::from(rng.uniform() < 0.2)))
        }
        Masks::NoActions => h.act_missing.fill(1.0),
        Masks::ObsEveryOtherTick => {
            (0..n).step_by(2).for_each(|t| h.obs_missing[t * OBS_DIM..(t + 1) * OBS_DIM].fill(1.0))
        }
        Masks::PendingAction => h.act_missing[(n - 1) * ACTION_DIM..].fill(1.0),
    }
    // As the tokenizer does: a masked field's value is 0.
    for (v, m) in h.obs.iter_mut().zip(&h.obs_missing).chain(h.act.iter_mut().zip(&h.act_missing)) {
        if *m == 1.0 {
            *v = 0.0;
        }
    }
    h
}

/// Graph inputs: obs, obs_missing, act, act_missing, tick_valid.
type Inputs = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

/// The history right-aligned in a window of `k` ticks, empty slots on the left.
fn padded(h: &History, k: usize) -> Inputs {
    let pad = k - h.n;
    let mut obs = vec![0.0; pad * OBS_DIM];
    let mut om = vec![1.0; pad * OBS_DIM];
    let mut act = vec![0.0; pad * ACTION_DIM];
    let mut am = vec![1.0; pad * ACTION_DIM];
    obs.extend(&h.obs);
    om.extend(&h.obs_missing);
    act.extend(&h.act);
    am.extend(&h.act_missing);
    let valid = (0..k).map(|p| if p < pad { 0.0 } else { 1.0 }).collect();
    (obs, om, act, am, valid)
}

fn candle_forward(
    model: &Model,
    obs: &[f32],
    om: &[f32],
    act: &[f32],
    am: &[f32],
    valid: Option<&[f32]>,
) -> (Vec<f32>, Vec<f32>) {
    let n = obs.len() / OBS_DIM;
    let t = |v: &[f32], d: usize| Tensor::from_slice(v, (1, n, d), &Device::Cpu).unwrap();
    let batch = Batch {
        obs: t(obs, OBS_DIM),
        obs_missing: t(om, OBS_DIM),
        act: t(act, ACTION_DIM),
        act_missing: t(am, ACTION_DIM),
        tick_valid: valid.map(|v| Tensor::from_slice(v, (1, n), &Device::Cpu).unwrap()),
    };
    let (a, o) = model.forward(&batch).unwrap();
    (a.flatten_all().unwrap().to_vec1().unwrap(), o.flatten_all().unwrap().to_vec1().unwrap())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn check_all_fill_levels(cfg: &ModelConfig, seed: u64, patterns: &[Masks]) {
    let dir = Scratch::new("parity");
    let (model, exported) = export_random(cfg, seed, dir.path());
    let mut policy = Policy::load(&exported.manifest, &RobotSpec::reference()).expect("load exported model");
    let k = cfg.context_ticks;
    let mut rng = Rng::new(seed + 1);
    let mut worst = 0f32;
    for &masks in patterns {
        for n in 1..=k {
            let h = history(n, masks, &mut rng);
            let (obs, om, act, am, valid) = padded(&h, k);
            let (ta, to) = policy.run_raw(&obs, &om, &act, &am, &valid).expect("tract run");
            // Same history, unpadded, in candle: what the window at start-up must match.
            let (ca, co) = candle_forward(&model, &h.obs, &h.obs_missing, &h.act, &h.act_missing, None);
            let da = max_abs_diff(&ca, &ta[(k - n) * ACTION_DIM..]);
            let dobs = max_abs_diff(&co, &to[(k - n) * OBS_DIM..]);
            assert!(ca.iter().all(|x| x.is_finite()), "candle output not finite");
            assert!(
                da <= TOLERANCE && dobs <= TOLERANCE,
                "{masks:?}, fill {n}/{k}: max |candle − tract| action {da:e}, next_obs {dobs:e} > {TOLERANCE:e}"
            );
            // And candle on the padded window with the same validity input as the graph.
            let (pa, _) = candle_forward(&model, &obs, &om, &act, &am, Some(&valid));
            let dp = max_abs_diff(&pa[(k - n) * ACTION_DIM..], &ta[(k - n) * ACTION_DIM..]);
            assert!(dp <= TOLERANCE, "{masks:?}, fill {n}/{k}: padded candle vs tract {dp:e}");
            worst = worst.max(da).max(dobs).max(dp);
        }
    }
    eprintln!("parity {cfg:?}: worst max |Δ| = {worst:e}");
}

const ALL: [Masks; 5] =
    [Masks::None, Masks::RandomFields, Masks::NoActions, Masks::ObsEveryOtherTick, Masks::PendingAction];

#[test]
fn small_model_matches_at_every_fill_level_and_mask_pattern() {
    check_all_fill_levels(&small_config(8), 11, &ALL);
}

#[test]
fn default_size_model_matches_at_every_fill_level() {
    check_all_fill_levels(&ModelConfig::default(), 12, &[Masks::PendingAction, Masks::RandomFields]);
}

/// `Policy::step` (tokenizer + window + tract) gives the action candle computes from the
/// same history, through start-up and after the window has wrapped around.
#[test]
fn policy_step_matches_candle_on_the_same_history() {
    let cfg = small_config(4);
    let dir = Scratch::new("step");
    let (model, exported) = export_random(&cfg, 21, dir.path());
    let mut policy = Policy::load(&exported.manifest, &RobotSpec::reference()).expect("load");
    let mut rng = Rng::new(5);
    let (mut obs_hist, mut act_hist): (Vec<[f32; OBS_DIM]>, Vec<[f32; ACTION_DIM]>) = (vec![], vec![]);
    for tick in 0..10 {
        let mut o = [0f32; OBS_DIM];
        o.iter_mut().for_each(|v| *v = rng.normal());
        // Contacts are booleans in an Observation.
        o[14] = f32::from(u8::from(o[14] > 0.0));
        o[15] = f32::from(u8::from(o[15] > 0.0));
        if tick == 6 {
            o[3] = f32::NAN; // a failed sensor becomes [M]
        }
        let out = policy.step(&Observation::from_array(&o)).expect("step");
        assert_eq!(out.predicted_obs.is_some(), tick > 0);
        obs_hist.push(o);
        let n = obs_hist.len().min(cfg.context_ticks);
        let first = obs_hist.len() - n;
        let mut om: Vec<f32> =
            obs_hist[first..].iter().flatten().map(|v| f32::from(u8::from(!v.is_finite()))).collect();
        let obs: Vec<f32> =
            obs_hist[first..].iter().flatten().map(|v| if v.is_finite() { *v } else { 0.0 }).collect();
        let mut act: Vec<f32> = act_hist[first..].iter().flatten().copied().collect();
        act.extend([0.0; ACTION_DIM]);
        let mut am = vec![0.0; (n - 1) * ACTION_DIM];
        am.extend([1.0; ACTION_DIM]);
        om.truncate(n * OBS_DIM);
        let (ca, _) = candle_forward(&model, &obs, &om, &act, &am, None);
        let want = &ca[(n - 1) * ACTION_DIM..];
        let d = max_abs_diff(want, &out.action.joint_target);
        assert!(d <= TOLERANCE, "tick {tick}: step {:?} vs candle {want:?}", out.action.joint_target);
        act_hist.push(out.action.joint_target);
    }
}

/// A model whose output is NaN yields an error, never an action.
#[test]
fn non_finite_output_is_an_error() {
    let cfg = small_config(4);
    let dir = Scratch::new("nan");
    let model = Model::new(&cfg, 3).unwrap();
    for (name, var) in model.named_vars() {
        if name == "head_act.bias" {
            var.set(&Tensor::from_vec(vec![f32::NAN; ACTION_DIM], ACTION_DIM, &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let exported = strider_train::write_model(
        &model,
        &strider_policy::Tokenizer::identity(),
        &RobotSpec::reference(),
        dir.path(),
        "model",
    )
    .unwrap();
    let mut policy = Policy::load(&exported.manifest, &RobotSpec::reference()).expect("load");
    let err = policy.step(&Observation::default()).expect_err("NaN action returned");
    assert!(matches!(err, strider_policy::PolicyError::NonFinite { output: "action", .. }), "{err}");
    assert_eq!(policy.history_len(), 1, "the observation stays in the history");
}
