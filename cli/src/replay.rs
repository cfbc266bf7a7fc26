//! `strider replay LOG`: what a recorded log holds, without moving a motor; with
//! `--model`, how models would have acted on it (`crate::replay_eval`).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use strider_log::{JITTER_EDGES_US, Log, LogSummary, NamedStats};
use strider_replay::resim;
use strider_robot::RobotSpec;

use crate::robot::RobotArg;

#[derive(Args)]
pub struct ReplayArgs {
    /// The log (MCAP) to read; with --model, any number of logs or directories of them.
    #[arg(required = true, value_name = "LOG")]
    logs: Vec<PathBuf>,
    /// Evaluate this model on the logs, teacher-forced through the runtime that deploys it:
    /// its actions against the recorded ones, its predictions against the observations
    /// that came. Repeat to compare models side by side; `built-in` is the shipped model.
    #[arg(long, value_name = "MODEL")]
    model: Vec<PathBuf>,
    #[command(flatten)]
    robot: RobotArg,
    /// Replay into the simulator from each episode's recorded start (scenario and seed) and
    /// report where the replay first departs from the recording: the recorded commands open
    /// loop, or with one --model that policy closed loop through the controller.
    #[arg(long)]
    into_sim: bool,
    /// With --model: episodes evaluated side by side, one per row of each model call
    /// (the numbers do not depend on it; more lanes read the weights fewer times).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    lanes: u16,
    /// With one --model (a file): write the surprise calibration these logs give (each
    /// field's typical prediction error, and the threshold: the 99.9th percentile of the
    /// per-tick surprise) into its manifest's [surprise] section, nothing else changed.
    /// Use clean logs of the world the model will drive in.
    #[arg(long)]
    calibrate_surprise: bool,
    /// With --model: draw predicted vs recorded over time for --fields, one PNG per field
    /// in this directory, on the episode where the first model disagreed most.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// The fields --plot draws: observation fields (the models' predictions) or action
    /// fields (their actions), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "joint_target.right_knee,torso_pitch")]
    fields: Vec<String>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    if !args.model.is_empty() && !args.into_sim {
        let calibrate = match (args.calibrate_surprise, args.model.as_slice()) {
            (false, _) => None,
            (true, [one]) => Some(crate::replay_eval::model_path(one).ok_or_else(|| {
                anyhow::anyhow!(
                    "--calibrate-surprise writes into a manifest: give the model's file, not `built-in`"
                )
            })?),
            (true, many) => {
                anyhow::bail!("--calibrate-surprise with {} models: calibrate one at a time", many.len())
            }
        };
        let opts = crate::replay_eval::Options {
            lanes: usize::from(args.lanes),
            json: args.json,
            calibrate,
            plot: args.plot.as_deref(),
            fields: args.fields.clone(),
        };
        return crate::replay_eval::run(&spec, &args.logs, &args.model, &opts);
    }
    anyhow::ensure!(
        args.model.len() <= 1,
        "--into-sim with {} models: re-simulate with one --model at a time",
        args.model.len()
    );
    anyhow::ensure!(!args.calibrate_surprise, "--calibrate-surprise needs --model (and not --into-sim)");
    anyhow::ensure!(args.plot.is_none(), "--plot needs --model (and not --into-sim)");
    let [path] = args.logs.as_slice() else {
        anyhow::bail!(
            "{} logs given: summarise one at a time, or compare models on all with --model",
            args.logs.len()
        );
    };
    let log = Log::read(path).context("reading log")?;
    log.check_against(&spec).context("checking log against the robot")?;
    if args.into_sim {
        return into_sim(&spec, &log, args.model.first().map(PathBuf::as_path), args.json);
    }
    let summary = LogSummary::of(&log);
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary_text(&summary));
    }
    Ok(())
}

fn summary_text(s: &LogSummary) -> String {
    let mut out = String::new();
    let state =
        s.truncated.as_ref().map_or_else(|| "complete".to_string(), |why| format!("truncated: {why}"));
    let _ = writeln!(out, "log          {} ({state})", s.file);
    let _ = writeln!(out, "recorded by  {} for contract {}", s.controller, s.contract_id);
    let _ = writeln!(
        out,
        "content      {} episodes, {} ticks = {:.1} s at {} Hz (wall-clock span {:.1} s), {} with a fall",
        s.episodes, s.ticks, s.plant_seconds, s.control_hz, s.wall_seconds, s.falls
    );
    let _ = writeln!(
        out,
        "actions      {}",
        if s.has_actions { "recorded" } else { "absent (observation-only log)" }
    );
    let period_ms = 1e3 / f64::from(s.control_hz.max(1));
    match s.tick_interval_median_ms {
        Some(median) => {
            let _ = writeln!(
                out,
                "timing       tick interval median {median:.3} ms (nominal {period_ms:.1} ms), {} deadline misses{}",
                s.deadline_misses,
                if median < 0.5 * period_ms { "; unpaced run (faster than real time)" } else { "" }
            );
            let _ = writeln!(out, "jitter       tick interval minus nominal, µs:");
            for (i, count) in s.tick_interval_error_histogram.iter().enumerate() {
                let lo = i.checked_sub(1).map_or("-inf".into(), |j| JITTER_EDGES_US[j].to_string());
                let hi = JITTER_EDGES_US.get(i).map_or("+inf".into(), |e| e.to_string());
                let _ = writeln!(out, "  [{lo:>6}, {hi:>6})  {count}");
            }
        }
        None => {
            let _ = writeln!(out, "timing       no timing channel");
        }
    }
    for (title, fields) in [("observation", &s.observation), ("action", &s.action)] {
        if fields.is_empty() {
            continue;
        }
        // NaN and ±Inf (a failed sensor reports NaN) are counted, never averaged in; the
        // column appears only when there are some.
        let skipped: u64 = fields.iter().map(|f| f.stats.non_finite).sum();
        let column =
            |v: &dyn std::fmt::Display| if skipped > 0 { format!(" {v:>10}") } else { String::new() };
        let _ = writeln!(
            out,
            "\n{title:<26} {:>10} {:>10} {:>10} {:>10}{}",
            "mean",
            "std",
            "min",
            "max",
            column(&"non-finite")
        );
        for NamedStats { field, stats } in fields {
            let values = if stats.count == 0 {
                format!("{:>10} {:>10} {:>10} {:>10}", "-", "-", "-", "-")
            } else {
                format!("{:>10.4} {:>10.4} {:>10.4} {:>10.4}", stats.mean, stats.std, stats.min, stats.max)
            };
            let _ = writeln!(out, "  {field:<24} {values}{}", column(&stats.non_finite));
        }
        if skipped > 0 {
            let _ = writeln!(
                out,
                "  {skipped} non-finite {title} values (NaN or ±Inf) are left out of these statistics"
            );
        }
    }
    out
}

/// `--into-sim`: the recorded commands open loop, or `model` closed loop, from each
/// episode's recorded start.
fn into_sim(spec: &RobotSpec, log: &Log, model: Option<&Path>, json: bool) -> anyhow::Result<()> {
    let (report, how) = match model {
        None => (resim::open_loop(spec, log)?, "open-loop replay of the recorded commands".to_string()),
        Some(path) => {
            let m = crate::model::load(crate::replay_eval::model_path(path), spec)?;
            let how = format!("closed-loop replay of {} (recorded by {})", m.name, log.meta.controller);
            (resim::closed_loop(spec, log, m.policy)?, how)
        }
    };
    if json {
        println!(
            "{}",
            serde_json::to_string(&serde_json::json!({"file": log.file, "replay": how, "episodes": report}))?
        );
        return Ok(());
    }
    println!("{}: {how} in the simulator", log.file);
    println!(
        "  {:>7} {:>20} {:>6} {:>12} {:>11} {:>11} {:>11}  first difference",
        "episode", "seed", "ticks", "torso pos m", "pitch rad", "joints rad", "sensors"
    );
    for d in &report {
        println!(
            "  {:>7} {:>20} {:>6} {:>12.3e} {:>11.3e} {:>11.3e} {:>11.3e}  {}",
            d.episode,
            d.seed,
            d.ticks,
            d.max_torso_position_m,
            d.max_torso_pitch_rad,
            d.max_joint_pos_rad,
            d.max_sensor,
            d.first_difference.as_ref().map_or_else(
                || "none (identical)".to_string(),
                |f| format!("tick {} {}: recorded {} replayed {}", f.tick, f.field, f.recorded, f.replayed)
            )
        );
    }
    Ok(())
}
