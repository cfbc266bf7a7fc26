//! `strider train`: trains the trajectory transformer and writes the deployable model
//! (`model.onnx` + `model.toml`), a report, a loss curve and checkpoints.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use strider_robot::RobotSpec;
use strider_train::{
    EpisodeSource, Exported, LogEpisodes, SyntheticLinear, TrainConfig, TrainReport, Trainer,
};

use crate::robot::RobotArg;

#[derive(Args)]
pub struct TrainArgs {
    /// Training config (TOML: [model], [optim], [data], out_dir; every key optional).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Output directory; overrides `out_dir` from the config.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Continue from the checkpoint in the output directory.
    #[arg(long)]
    resume: bool,
    /// Replace a model already in the output directory.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    robot: RobotArg,
    /// Print the summary as one JSON object (and no progress bar).
    #[arg(long)]
    json: bool,
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let mut cfg = TrainConfig::load(&args.config).context("loading training config")?;
    if let Some(out) = &args.out {
        cfg.out_dir = out.clone();
    }
    if cfg.out_dir.join("model.onnx").exists() && !args.resume && !args.force {
        bail!(
            "{}: a model is already there; pass --force to replace it, --resume to continue, or --out DIR",
            cfg.out_dir.display()
        );
    }
    let (report, exported) = train(&spec, &cfg, args.resume, args.json)?;
    let last = report.evaluations.last();
    let out = &cfg.out_dir;
    if args.json {
        let v = serde_json::json!({
            "model": exported.onnx, "manifest": exported.manifest,
            "report": out.join("report.toml"), "loss_curve": out.join("loss.png"),
            "data": report.data, "parameters": report.parameters, "steps": report.steps,
            "final_train_loss": report.final_train_loss,
            "held_out": last.map(|e| serde_json::json!({"action_mse": e.action_mse, "obs_mse": e.obs_mse, "loss": e.loss})),
        });
        println!("{v}");
    } else {
        println!("data        {}", report.data);
        println!("parameters  {}", report.parameters);
        println!("steps       {} (final training loss {:.4})", report.steps, report.final_train_loss);
        if let Some(e) = last {
            println!(
                "held-out    action MSE {:.4}, next-observation MSE {:.4} (normalised units)",
                e.action_mse, e.obs_mse
            );
        }
        println!("wrote       {}, {}", exported.onnx.display(), exported.manifest.display());
        println!("            {}, {}", out.join("report.toml").display(), out.join("loss.png").display());
    }
    Ok(())
}

/// Trains `cfg` into `cfg.out_dir` (continuing from its checkpoint with `resume`), with a
/// progress bar unless `quiet`, and writes the model, report and loss curve.
pub fn train(
    spec: &RobotSpec,
    cfg: &TrainConfig,
    resume: bool,
    quiet: bool,
) -> anyhow::Result<(TrainReport, Exported)> {
    let source: Box<dyn EpisodeSource> = match cfg.data.logs.as_slice() {
        [] => Box::new(SyntheticLinear::new(
            &spec.layout(),
            cfg.optim.seed,
            cfg.data.synthetic_episodes,
            cfg.data.episode_ticks,
        )),
        logs => {
            let sets = logs.iter().map(|path| crate::logs::log_files(path)).collect::<Result<_, _>>()?;
            Box::new(LogEpisodes { sets, spec: spec.clone() })
        }
    };
    let mut trainer = Trainer::new(cfg.clone(), source.as_ref()).context("preparing training")?;
    let checkpoint = cfg.out_dir.join("checkpoint");
    if resume {
        trainer.resume(&checkpoint).context("resuming")?;
    }
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(cfg.optim.steps as u64) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} {bar:30} {pos}/{len} steps  {msg}")
            .expect("valid template"),
    );
    bar.set_position(trainer.step() as u64);
    let mut last_eval = String::new();
    trainer.run(Some(&checkpoint), &mut |p| {
        if let Some(e) = &p.eval {
            last_eval = format!("  held-out action MSE {:.4}", e.action_mse);
        }
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss {:.4}  lr {:.1e}{last_eval}", p.loss, p.lr));
    })?;
    bar.finish_and_clear();
    let exported = trainer.write_outputs(spec, &cfg.out_dir)?;
    Ok((trainer.report(), exported))
}
