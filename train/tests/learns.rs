//! Training behaviour: the model learns a known policy, masks and resume work, the
//! schedule and the loss picture are right, and a log with NaN and ±Inf fields trains with
//! finite losses.

use strider_robot::{Layout, RobotSpec};
use strider_train::{
    DataConfig, Episode, EpisodeSource, ModelConfig, OptimConfig, SyntheticLinear, TrainConfig, TrainError,
    Trainer, lr_at,
};

fn small(steps: usize) -> TrainConfig {
    TrainConfig {
        model: ModelConfig { layers: 2, width: 64, heads: 4, mlp_ratio: 2, context_ticks: 8 },
        optim: OptimConfig {
            steps,
            batch_size: 32,
            learning_rate: 3e-3,
            warmup_steps: 30,
            eval_every: 1000,
            checkpoint_every: 0,
            ..OptimConfig::default()
        },
        data: DataConfig {
            synthetic_episodes: 48,
            episode_ticks: 120,
            held_out_fraction: 0.25,
            ..Default::default()
        },
        ..TrainConfig::default()
    }
}

/// Half the episodes carry no actions, so the model must learn the policy from the other
/// half while seeing `[M]` action tokens in the first. (The loss masking itself is checked
/// directly by `masked_targets_carry_no_loss_or_gradient`: a model can tell action-free
/// windows from their `[M]` inputs, so scoring those targets would not move this bound.)
fn source(cfg: &TrainConfig) -> SyntheticLinear {
    let layout = RobotSpec::reference().layout();
    let mut s = SyntheticLinear::new(&layout, 7, cfg.data.synthetic_episodes, cfg.data.episode_ticks);
    s.action_free_fraction = 0.5;
    s
}

/// A synthetic source (described by its name) whose episodes `edit` changes: shortened,
/// assigned to sets.
struct Edited<F>(&'static str, SyntheticLinear, F);

impl<F: Fn(&mut [Episode])> EpisodeSource for Edited<F> {
    fn describe(&self) -> String {
        self.0.into()
    }
    fn layout(&self) -> Layout {
        self.1.layout()
    }
    fn episodes(&self) -> Result<Vec<Episode>, TrainError> {
        let mut e = self.1.episodes()?;
        (self.2)(&mut e);
        Ok(e)
    }
}

/// The action is a fixed linear function of the current observation plus 5 % noise
/// (≈0.5 % of the action variance). After 300 steps the held-out action MSE — measured at
/// the newest tick with that tick's action input `[M]`, as at run time — must be under
/// 0.1 in normalised units, i.e. under a tenth of the actions' variance (≈1). An untrained
/// model is near 1. Broken gradients leave it there; a causal mask that lets `O_k` see
/// `A_k` (the model learns to copy an input that is `[M]` at evaluation) measured 0.15
/// against 0.011 for the correct model.
#[test]
fn learns_a_linear_feedback_policy() {
    let cfg = small(300);
    let src = source(&cfg);
    let mut t = Trainer::new(cfg, &src).expect("trainer");
    let variance = held_out_action_variance(&t);
    let before = t.evaluate().unwrap();
    t.run(None, &mut |_| {}).unwrap();
    let after = t.evaluate().unwrap();
    eprintln!(
        "action variance {variance:.3}; held-out action MSE {:.4} → {:.4}; obs MSE {:.4} → {:.4}",
        before.action_mse, after.action_mse, before.obs_mse, after.obs_mse
    );
    assert!(variance > 0.5, "normalised held-out action variance {variance}");
    assert!(before.action_mse > 0.5 * variance, "untrained model already good: {}", before.action_mse);
    assert!(
        after.action_mse < 0.1 * variance,
        "held-out action MSE {} not under {}",
        after.action_mse,
        0.1 * variance
    );
    assert!(
        after.obs_mse < 0.5 * before.obs_mse,
        "observation head did not learn: {} → {}",
        before.obs_mse,
        after.obs_mse
    );
}

fn held_out_action_variance(t: &Trainer) -> f32 {
    let (mut sum, mut sq, mut n) = (0f64, 0f64, 0f64);
    for ep in t.held_out() {
        for a in ep.act.iter().flatten() {
            let (mut z, mut m) = (vec![0f32; a.len()], vec![0f32; a.len()]);
            t.tokenizer.act.normalise(a, &mut z, &mut m);
            for v in z {
                sum += f64::from(v);
                sq += f64::from(v).powi(2);
                n += 1.0;
            }
        }
    }
    (sq / n - (sum / n).powi(2)) as f32
}

/// Stopping, checkpointing and resuming gives the same weights and losses as one
/// uninterrupted run.
#[test]
fn resume_continues_exactly() {
    let dir = std::env::temp_dir().join(format!("strider-train-resume-{}", std::process::id()));
    let mut cfg = small(20);
    cfg.model = ModelConfig { layers: 1, width: 16, heads: 2, mlp_ratio: 2, context_ticks: 4 };
    let src = source(&cfg);
    let mut straight = Trainer::new(cfg.clone(), &src).unwrap();
    straight.run(None, &mut |_| {}).unwrap();

    let mut half = cfg.clone();
    half.optim.steps = 10;
    let mut first = Trainer::new(half, &src).unwrap();
    first.run(Some(&dir), &mut |_| {}).unwrap();
    let mut second = Trainer::new(cfg, &src).unwrap();
    second.resume(&dir).unwrap();
    assert_eq!(second.step(), 10);
    second.run(None, &mut |_| {}).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    let (a, b) = (straight.report(), second.report());
    assert_eq!(a.steps, b.steps);
    let diff = (a.final_train_loss - b.final_train_loss).abs();
    assert!(
        diff <= 1e-5 * a.final_train_loss.abs(),
        "final loss {} vs {}",
        a.final_train_loss,
        b.final_train_loss
    );
    for ((na, va), (nb, vb)) in
        straight.model.parameters().unwrap().iter().zip(&second.model.parameters().unwrap())
    {
        assert_eq!(na, nb);
        let d = va.iter().zip(vb).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(d <= 1e-5, "{na} differs by {d}");
    }
}

#[test]
fn warmup_then_cosine() {
    let o = OptimConfig {
        steps: 1000,
        warmup_steps: 100,
        learning_rate: 1e-3,
        final_lr_fraction: 0.1,
        ..OptimConfig::default()
    };
    assert!((lr_at(&o, 0) - 1e-5).abs() < 1e-12);
    assert!((lr_at(&o, 99) - 1e-3).abs() < 1e-12);
    assert!((lr_at(&o, 550) - 0.55e-3).abs() < 1e-9, "midpoint of the cosine is halfway to the floor");
    assert!((lr_at(&o, 1000) - 1e-4).abs() < 1e-12);
    assert!((100..999).all(|s| lr_at(&o, s + 1) <= lr_at(&o, s)));
}

#[test]
fn loss_curve_is_a_png_with_both_series() {
    let path = std::env::temp_dir().join(format!("strider-loss-{}.png", std::process::id()));
    let train: Vec<(usize, f32)> = (1..=200).map(|s| (s, 1.0 / s as f32)).collect();
    let eval = vec![(100, 0.02), (200, 0.01)];
    strider_train::write_loss_curve(&path, &train, &eval).unwrap();
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!((info.width, info.height), (900, 480));
    let px = |rgb: [u8; 3]| buf.chunks(3).filter(|p| *p == rgb).count();
    assert!(px(strider_train::plot::TRAIN_RGB) > 300, "training curve missing");
    assert!(px(strider_train::plot::HELD_OUT_RGB) > 20, "held-out curve missing");
    // The title is text in the top band, where nothing else is drawn.
    let title = buf[..900 * 36 * 3].chunks(3).filter(|p| p.iter().all(|&c| c < 120)).count();
    assert!(title > 300, "only {title} dark pixels in the title band: no title drawn");
}

#[test]
fn config_rejects_unknown_keys_and_bad_values() {
    let dir = std::env::temp_dir().join(format!("strider-train-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("train.toml");
    std::fs::write(&p, "[model]\nlayers = 2\nwidht = 64\n").unwrap();
    let e = TrainConfig::load(&p).unwrap_err().to_string();
    assert!(e.contains("widht") && e.contains("train.toml"), "{e}");
    std::fs::write(&p, "[model]\nwidth = 100\nheads = 3\n").unwrap();
    let e = TrainConfig::load(&p).unwrap_err().to_string();
    assert!(e.contains("model.width"), "{e}");
    std::fs::write(&p, "[optim]\nsteps = 10\n").unwrap();
    assert_eq!(TrainConfig::load(&p).unwrap().optim.steps, 10);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn synthetic_source_marks_the_requested_share_action_free() {
    let mut s = SyntheticLinear::new(&RobotSpec::reference().layout(), 1, 40, 20);
    s.action_free_fraction = 0.25;
    let eps = s.episodes().unwrap();
    assert_eq!(eps.iter().filter(|e| e.act.is_none()).count(), 10);
    assert!(eps[30..].iter().any(|e| e.act.is_none()), "the held-out tail gets some");
}

/// A recorded log with failed sensors (NaN joint angles, an infinite pitch) and non-finite
/// action labels trains: the reader keeps each NaN and infinity where it was recorded, the
/// normalisers are fitted on finite values only, a non-finite observation field becomes an
/// `[M]` input and a non-finite label is left out of the loss, so every training and
/// held-out loss stays finite (a non-finite training loss stops the trainer with an error).
/// Ticks without an action (a run log's homing and missed ticks) are `[M]` labels too.
#[test]
fn a_log_with_non_finite_fields_trains_with_finite_losses() {
    use strider_log::{ActionMsg, EpisodeStart, LogMeta, LogWriter, ObservationMsg, TickRecord};
    use strider_robot::{ImuField, JointValues, Observation, Sensors};
    use strider_train::LogEpisodes;

    let dir = std::env::temp_dir().join(format!("strider-train-non-finite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("robot.mcap");
    let spec = RobotSpec::reference();
    let layout = spec.layout();
    let pitch = layout.imu_index(ImuField::Pitch).unwrap();
    let pitch_field = layout.imu_offset() + pitch;
    let mut w =
        LogWriter::create(&path, &LogMeta::new(&spec, "expert", "flat", None), Default::default()).unwrap();
    for episode in 0..4u32 {
        w.begin_episode(&EpisodeStart { episode, seed: None, conditions: String::new() }).unwrap();
        for tick in 0..60u64 {
            let x = tick as f32 * 0.05 + episode as f32;
            let mut sensors = Sensors::zeros(&layout);
            sensors.joint_pos.iter_mut().enumerate().for_each(|(i, v)| *v = (x + i as f32).sin());
            sensors.joint_vel.iter_mut().enumerate().for_each(|(i, v)| *v = (x * i as f32).cos());
            sensors.imu[pitch] = 0.1 * x.sin();
            if let Some(rate) = layout.imu_index(ImuField::PitchRate) {
                sensors.imu[rate] = 0.1 * x.cos();
            }
            sensors.contact.iter_mut().enumerate().for_each(|(i, c)| *c = tick % 2 == i as u64 % 2);
            if tick % 3 == 0 {
                sensors.joint_pos[1] = f32::NAN;
            }
            if tick % 7 == 0 {
                sensors.imu[pitch] = f32::INFINITY;
            }
            let mut target = JointValues::zeros(layout.action_dim());
            target.iter_mut().enumerate().for_each(|(i, v)| *v = 0.5 * (x + i as f32).sin());
            if tick % 5 == 0 {
                target[0] = f32::NAN;
            }
            if tick % 11 == 0 {
                target[3] = f32::NEG_INFINITY;
            }
            w.write_tick(&TickRecord {
                episode,
                tick,
                log_time_ns: tick * 20_000_000,
                observation: ObservationMsg::new(
                    episode,
                    tick,
                    tick as f64 * 0.02,
                    &Observation::new(sensors, layout.forward_command(0.5)),
                ),
                // Episode 3 is like a run log: no action while homing, nor on a missed tick.
                action: (episode != 3 || (tick >= 5 && tick != 30)).then_some(ActionMsg {
                    episode,
                    tick,
                    joint_target: target,
                    // Episode 2 is like a DAgger rollout: the policy executed something else.
                    applied: (episode == 2 && tick == 9).then(|| {
                        let mut applied = target;
                        applied.iter_mut().for_each(|v| *v += 0.125);
                        applied
                    }),
                    surprise: None,
                }),
                sim_state: None,
                timing: None,
            })
            .unwrap();
        }
    }
    w.finish().unwrap();

    let src = LogEpisodes { sets: vec![vec![path]], spec };
    let episodes = src.episodes().unwrap();
    assert_eq!(episodes.len(), 4);
    let (obs, act) = (&episodes[0].obs, episodes[0].act.as_ref().unwrap());
    assert!(obs[3][1].is_nan() && obs[7][pitch_field] == f32::INFINITY && obs[4][1].is_finite());
    assert!(act[5][0].is_nan() && act[11][3] == f32::NEG_INFINITY && act[6][0].is_finite());
    // Ticks without an action are [M] labels; the episode's other labels all count.
    let run = episodes[3].act.as_ref().expect("a run log keeps its labels");
    assert_eq!(run.len(), 60);
    assert!(run.iter().take(5).chain([&run[30]]).all(|a| a.iter().all(|v| v.is_nan())));
    assert!(run[6][1].is_finite() && run[31][1].is_finite());
    // The executed actions are kept where the log records them apart from the label.
    assert!(episodes[0].executed.is_none(), "labels were executed");
    let (label, executed) = (episodes[2].act.as_ref().unwrap(), episodes[2].executed.as_ref().unwrap());
    assert_eq!(executed[9][1], label[9][1] + 0.125);
    assert_eq!(executed[8][1], label[8][1]);

    let mut t = Trainer::new(small(4), &src).unwrap();
    let fitted = |n: &strider_policy::Normaliser| n.mean.iter().chain(&n.std).all(|v| v.is_finite());
    assert!(fitted(&t.tokenizer.obs) && fitted(&t.tokenizer.act), "normalisers fitted on finite values");
    let finite = |e: &strider_train::Evaluation| {
        e.loss.is_finite() && e.action_mse.is_finite() && e.obs_mse.is_finite()
    };
    let before = t.evaluate().unwrap();
    assert!(finite(&before), "{before:?}");
    let mut losses = Vec::new();
    t.run(None, &mut |p| losses.push(p.loss)).unwrap();
    assert_eq!(losses.len(), 4);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let after = t.evaluate().unwrap();
    assert!(finite(&after), "{after:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Each set of episodes (an entry of `data.logs`) gives its own tail to the held-out split:
/// a set appended last (a DAgger round's rollouts) is trained on, not only held out.
#[test]
fn every_set_gives_its_tail_to_the_held_out_split() {
    let mut cfg = small(1);
    cfg.data.synthetic_episodes = 12;
    cfg.data.held_out_fraction = 0.25;
    let all = source(&cfg).episodes().unwrap();
    // 8 episodes of set 0, then 3 of set 1 and one of set 2.
    let sets = Edited("sets", source(&cfg), |e: &mut [Episode]| {
        for (ep, set) in e.iter_mut().zip([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2]) {
            ep.set = set;
        }
    });
    let t = Trainer::new(cfg.clone(), &sets).unwrap();
    let held: Vec<_> = t.held_out().iter().map(|e| &e.obs[0]).collect();
    let expected: Vec<_> = [6, 7, 10].iter().map(|&i| &all[i].obs[0]).collect();
    assert_eq!(held, expected, "the last 2 of 8, the last of 3, none of a set of one");
    assert_eq!(t.report().train_episodes, 9);
    // One set: the last episodes, as before sets existed.
    let one = Trainer::new(cfg.clone(), &source(&cfg)).unwrap();
    assert_eq!(
        one.held_out().iter().map(|e| &e.obs[0]).collect::<Vec<_>>(),
        [9, 10, 11].map(|i| &all[i].obs[0])
    );
}

/// A rollout that fell at once holds no training window: it is left out and counted,
/// and data with no episode long enough is refused naming the setting.
#[test]
fn episodes_shorter_than_a_window_are_left_out_and_counted() {
    let cut = |lens: Vec<usize>| {
        move |e: &mut [Episode]| {
            for (ep, &len) in e.iter_mut().zip(&lens) {
                ep.obs.truncate(len);
                if let Some(a) = ep.act.as_mut() {
                    a.truncate(len);
                }
            }
        }
    };
    let cfg = small(1);
    let need = cfg.optim.sequence_ticks + 1;
    let short = Edited("cut", source(&cfg), cut(vec![need - 1, 5]));
    let t = Trainer::new(cfg.clone(), &short).unwrap();
    assert_eq!(t.report().data, format!("cut, 2 episodes shorter than {need} ticks left out"));
    assert_eq!(t.report().train_episodes + t.report().held_out_episodes, cfg.data.synthetic_episodes - 2);
    let all_short = Edited("cut", source(&cfg), cut(vec![need - 1; cfg.data.synthetic_episodes]));
    let e = Trainer::new(cfg, &all_short).err().unwrap().to_string();
    assert!(e.contains("optim.sequence_ticks"), "{e}");
}
