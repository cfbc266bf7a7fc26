//! Offline evaluation (`strider_replay::evaluate`) on a tiny log with known answers: a
//! random exported model run by tract, teacher-forced on the recording, against candle's
//! forward pass over the same tokens; every metric is recomputed here from candle's
//! outputs and must agree.

use strider_log::{
    ActionMsg, EpisodeStart, Log, LogMeta, LogWriter, ObservationMsg, TickRecord, WriterOptions,
};
use strider_policy::PolicyBatch;
use strider_robot::{JointValues, Observation, RobotSpec};
use strider_train::Rng;

use super::common::{Scratch, export_random, small_config};
use super::parity::candle_forward;

const TICKS: usize = 20;

/// A recorded tick: the observation, the decided action and what was applied (if it differs).
struct Recorded {
    obs: Vec<f32>,
    action: Option<(JointValues, Option<JointValues>)>,
}

fn episode(rng: &mut Rng) -> Vec<Recorded> {
    let layout = RobotSpec::reference().layout();
    (0..TICKS)
        .map(|t| {
            let mut obs: Vec<f32> = (0..layout.obs_dim()).map(|_| 0.5 * rng.normal()).collect();
            // Contacts are booleans in a log.
            for c in &mut obs[layout.contact_offset()..layout.command_offset()] {
                *c = f32::from(u8::from(rng.uniform() < 0.5));
            }
            let mut decided = JointValues::zeros(layout.action_dim());
            decided.iter_mut().for_each(|v| *v = 0.5 * rng.normal());
            let mut clamped = decided;
            clamped.iter_mut().for_each(|v| *v += 0.1);
            let action = match t % 7 {
                3 => None,                           // a tick without an action
                5 => Some((decided, Some(clamped))), // clamped
                _ => Some((decided, None)),
            };
            Recorded { obs, action }
        })
        .collect()
}

fn write(path: &std::path::Path, episodes: &[Vec<Recorded>]) {
    let spec = RobotSpec::reference();
    let meta = LogMeta::new(&spec, "test", "recorded by hand", None);
    let mut w = LogWriter::create(path, &meta, WriterOptions::default()).unwrap();
    for (e, ticks) in episodes.iter().enumerate() {
        let e = e as u32;
        w.begin_episode(&EpisodeStart { episode: e, seed: None, conditions: String::new() }).unwrap();
        for (t, r) in ticks.iter().enumerate() {
            let t = t as u64;
            let observation = Observation::from_values(&spec.layout(), &r.obs);
            w.write_tick(&TickRecord {
                episode: e,
                tick: t,
                log_time_ns: t * 20_000_000,
                observation: ObservationMsg::new(e, t, t as f64 * 0.02, &observation),
                action: r.action.map(|(joint_target, applied)| ActionMsg {
                    episode: e,
                    tick: t,
                    joint_target,
                    applied,
                    surprise: None,
                }),
                sim_state: None,
                timing: None,
            })
            .unwrap();
        }
    }
    w.finish().unwrap();
}

#[derive(Default)]
struct Expected {
    abs: Vec<f32>,
    masked: u64,
}

impl Expected {
    fn mae(&self) -> f64 {
        self.abs.iter().map(|&e| f64::from(e)).sum::<f64>() / self.abs.len() as f64
    }
    fn rms(&self) -> f64 {
        (self.abs.iter().map(|&e| f64::from(e) * f64::from(e)).sum::<f64>() / self.abs.len() as f64).sqrt()
    }
    fn max(&self) -> f64 {
        self.abs.iter().fold(0f32, |a, &b| a.max(b)).into()
    }
}

#[test]
fn teacher_forced_metrics_match_candle_on_the_same_recording() {
    let dir = Scratch::new("replay-eval");
    let (model, exported) = export_random(&small_config(8), 21, dir.path());
    let mut rng = Rng::new(22);
    let episodes = [episode(&mut rng), episode(&mut rng)];
    let log_path = dir.path().join("rec.mcap");
    write(&log_path, &episodes);
    let log = Log::read(&log_path).unwrap();
    // Two lanes: both episodes side by side, each with its own history.
    let mut policy = PolicyBatch::load(&exported.manifest, &RobotSpec::reference(), 2).unwrap();
    let eval =
        strider_replay::evaluate(&mut policy, "model.toml", &[log], Default::default(), |_| {}).unwrap();

    let layout = RobotSpec::reference().layout();
    let (no, na) = (layout.obs_dim(), layout.action_dim());
    let mut act: Vec<Expected> = (0..na).map(|_| Expected::default()).collect();
    let mut obs: Vec<Expected> = (0..no).map(|_| Expected::default()).collect();
    for ep in &episodes {
        // The tokens the model saw (identity tokenizer): O_t, and after it the applied A_t.
        let o: Vec<f32> = ep.iter().flat_map(|r| r.obs.iter().copied()).collect();
        let om = vec![0.0; o.len()];
        let (mut a, mut am) = (vec![], vec![]);
        for r in ep {
            match r.action {
                Some((decided, applied)) => {
                    a.extend(applied.unwrap_or(decided).iter());
                    am.extend(vec![0.0; na]);
                }
                None => {
                    a.extend(vec![0.0; na]);
                    am.extend(vec![1.0; na]);
                }
            }
        }
        let (ca, co) = candle_forward(&model, &o, &om, &a, &am);
        for (t, r) in ep.iter().enumerate() {
            match r.action {
                // Scored against the decided action (the label), not the applied one.
                Some((decided, _)) => {
                    (0..na).for_each(|j| act[j].abs.push((ca[t * na + j] - decided[j]).abs()))
                }
                None => act.iter_mut().for_each(|e| e.masked += 1),
            }
            if t > 0 {
                (0..no).for_each(|i| obs[i].abs.push((co[(t - 1) * no + i] - r.obs[i]).abs()));
            }
        }
    }
    let close = |what: &str, got: f64, want: f64| {
        assert!((got - want).abs() <= 1e-4 * want.abs().max(1.0), "{what}: found {got} vs expected {want}");
    };
    assert_eq!((eval.episodes, eval.ticks), (2, 2 * TICKS as u64));
    for (j, e) in act.iter().enumerate() {
        let f = &eval.action[j];
        assert_eq!((f.ticks, f.masked), (e.abs.len() as u64, e.masked), "{}", f.field);
        close(&f.field, f.mae, e.mae());
        close(&f.field, f.rms, e.rms());
        // 34 samples: the 99th percentile is the largest.
        close(&f.field, f.p99, e.max());
        close(&f.field, f.mae_normalised, e.mae());
    }
    for (i, e) in obs.iter().enumerate() {
        let f = &eval.observation[i];
        assert_eq!(f.ticks, e.abs.len() as u64, "{}", f.field);
        close(&f.field, f.mae, e.mae());
    }
    let worst = &eval.worst[0];
    let largest = act.iter().map(Expected::max).fold(0.0, f64::max);
    close("worst tick", worst.error_normalised, largest);
    assert!(eval.worst.windows(2).all(|w| w[0].error_normalised >= w[1].error_normalised));
}

#[test]
fn a_log_of_another_robot_is_refused_naming_both_contract_ids() {
    let dir = Scratch::new("replay-contract");
    let (_, exported) = export_random(&small_config(4), 3, dir.path());
    let mut other = RobotSpec::reference();
    other.joints.swap(0, 3);
    let path = dir.path().join("other.mcap");
    let meta = LogMeta::new(&other, "test", "", None);
    LogWriter::create(&path, &meta, WriterOptions::default()).unwrap().finish().unwrap();
    let log = Log::read(&path).unwrap();
    let mut policy = PolicyBatch::load(&exported.manifest, &RobotSpec::reference(), 1).unwrap();
    let e = strider_replay::evaluate(&mut policy, "model.toml", &[log], Default::default(), |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&other.contract_id().to_string())
            && e.contains(&RobotSpec::reference().contract_id().to_string()),
        "{e}"
    );
}
