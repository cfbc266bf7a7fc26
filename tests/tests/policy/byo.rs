//! A model made outside Strider: a PyTorch `window` graph exported by
//! `python/strider_ref.py` (checked in under `tests/fixtures/torch-window`, with how it was
//! made) loads through the same checks, and Strider's runtime, fed tick by tick, computes
//! what PyTorch computed for the same window.

use std::path::Path;

use strider_policy::{Interface, Policy};
use strider_robot::{ACTION_DIM, OBS_DIM, RobotSpec};

const TOLERANCE: f32 = 1e-4;

#[test]
fn a_pytorch_window_model_computes_what_pytorch_did() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/torch-window");
    let mut policy = Policy::load(&dir.join("model.toml"), &RobotSpec::reference()).expect("load");
    assert_eq!(policy.manifest().onnx.interface, Interface::Window);
    let check: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("check.json")).unwrap()).unwrap();
    let floats = |key: &str| -> Vec<f32> {
        check[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
    };
    let (obs, om, act, am) = (floats("obs"), floats("obs_missing"), floats("act"), floats("act_missing"));
    fn tok<const N: usize>(v: &[f32], t: usize) -> &[f32; N] {
        v[t * N..(t + 1) * N].try_into().unwrap()
    }
    let k = policy.manifest().context.ticks;
    assert_eq!(obs.len(), k * OBS_DIM, "one full window");
    let mut last = None;
    for t in 0..k {
        let prev = (t > 0).then(|| (tok::<ACTION_DIM>(&act, t - 1), tok::<ACTION_DIM>(&am, t - 1)));
        last = Some(policy.advance(prev, (tok::<OBS_DIM>(&obs, t), tok::<OBS_DIM>(&om, t))).expect("step"));
    }
    let (action, next_obs) = last.unwrap();
    for (name, got, want) in
        [("action", &action[..], floats("action")), ("next_obs", &next_obs[..], floats("next_obs"))]
    {
        let d = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(d <= TOLERANCE, "{name}: max |tract − PyTorch| = {d:e}");
    }
}
