//! Models made outside Strider: PyTorch exports by `python/strider_ref.py` (checked in under
//! `tests/fixtures/torch-{token,window}`, with how they were made) load through the same
//! checks, and Strider's runtime, fed tick by tick, computes at every tick what PyTorch
//! computed: the streaming one-token step over the whole history, the window graph over
//! each tick's last K ticks.

use std::path::Path;

use strider_policy::{Interface, Policy};
use strider_robot::RobotSpec;

const TOLERANCE: f32 = 1e-4;

fn check_fixture(name: &str, interface: Interface) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name);
    let spec = RobotSpec::reference();
    let (no, na) = (spec.layout().obs_dim(), spec.layout().action_dim());
    let mut policy = Policy::load(&dir.join("model.toml"), &spec).expect("load");
    assert_eq!(policy.manifest().onnx.interface, interface);
    let check: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("check.json")).unwrap()).unwrap();
    let floats = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
    };
    let (obs, om) = (floats(&check["obs"]), floats(&check["obs_missing"]));
    let (act, am) = (floats(&check["act"]), floats(&check["act_missing"]));
    let tok = |v: &[f32], width: usize, t: usize| -> Vec<f32> { v[t * width..(t + 1) * width].to_vec() };
    let ticks = obs.len() / no;
    assert!(ticks > 2 * policy.manifest().context.ticks, "the history wraps the context");
    let mut worst = 0f32;
    for t in 0..ticks {
        let prev = (t > 0).then(|| (tok(&act, na, t - 1), tok(&am, na, t - 1)));
        let (z, m) = (tok(&obs, no, t), tok(&om, no, t));
        let (action, next_obs) =
            policy.advance(prev.as_ref().map(|(z, m)| (&z[..], &m[..])), (&z, &m)).expect("step");
        let mut compare = |what: &str, got: &[f32], want: &serde_json::Value| {
            let d = got.iter().zip(floats(want)).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(d <= TOLERANCE, "{name} tick {t}: {what}: max |tract − PyTorch| = {d:e}");
            worst = worst.max(d);
        };
        compare("action", action, &check["action"][t]);
        if !check["next_obs"][t].is_null() {
            compare("next_obs", next_obs, &check["next_obs"][t]);
        }
    }
    eprintln!("{name}: worst max |tract − PyTorch| = {worst:e}");
}

#[test]
fn a_pytorch_streaming_step_computes_what_pytorch_did_at_every_tick() {
    check_fixture("torch-token", Interface::Token);
}

#[test]
fn a_pytorch_window_graph_computes_what_pytorch_did_at_every_tick() {
    check_fixture("torch-window", Interface::Window);
}
