//! Training behaviour: the model learns a known policy, masks and resume work, the
//! schedule and the loss picture are right.

use strider_robot::ACTION_DIM;
use strider_train::{
    DataConfig, EpisodeSource, ModelConfig, OptimConfig, SyntheticLinear, TrainConfig, Trainer, lr_at,
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
    let mut s = SyntheticLinear::new(7, cfg.data.synthetic_episodes, cfg.data.episode_ticks);
    s.action_free_fraction = 0.5;
    s
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
            let (mut z, mut m) = ([0f32; ACTION_DIM], [0f32; ACTION_DIM]);
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
    for ((na, va), (nb, vb)) in straight.model.named_vars().iter().zip(second.model.named_vars().iter()) {
        assert_eq!(na, nb);
        let d: f32 =
            (va.as_tensor() - vb.as_tensor()).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
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
    assert_eq!((info.width, info.height), (800, 480));
    let px = |rgb: [u8; 3]| buf.chunks(3).filter(|p| *p == rgb).count();
    assert!(px([30, 90, 200]) > 300, "training curve missing");
    assert!(px([210, 40, 40]) > 20, "held-out curve missing");
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
    let mut s = SyntheticLinear::new(1, 40, 20);
    s.action_free_fraction = 0.25;
    let eps = s.episodes().unwrap();
    assert_eq!(eps.iter().filter(|e| e.act.is_none()).count(), 10);
    assert!(eps[30..].iter().any(|e| e.act.is_none()), "the held-out tail gets some");
}
