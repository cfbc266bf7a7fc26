//! `strider train`: trains the trajectory transformer and writes the deployable model
//! (`model.onnx` + `model.toml`), a report, a loss curve and checkpoints.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use strider_train::{EpisodeSource, LogEpisodes, SyntheticLinear, TrainConfig, Trainer};

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
    let out = cfg.out_dir.clone();
    if out.join("model.onnx").exists() && !args.resume && !args.force {
        bail!(
            "{}: a model is already there; pass --force to replace it, --resume to continue, or --out DIR",
            out.display()
        );
    }
    let source: Box<dyn EpisodeSource> = match &cfg.data.logs {
        Some(logs) => Box::new(LogEpisodes { files: crate::logs::log_files(logs)?, spec: spec.clone() }),
        None => Box::new(SyntheticLinear::new(
            cfg.optim.seed,
            cfg.data.synthetic_episodes,
            cfg.data.episode_ticks,
        )),
    };
    let mut trainer = Trainer::new(cfg.clone(), source.as_ref()).context("preparing training")?;
    let checkpoint = out.join("checkpoint");
    if args.resume {
        trainer.resume(&checkpoint).context("resuming")?;
    }
    let bar = if args.json { ProgressBar::hidden() } else { ProgressBar::new(cfg.optim.steps as u64) };
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
    let exported = trainer.write_outputs(&spec, &out)?;
    let report = trainer.report();
    let last = report.evaluations.last();
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
