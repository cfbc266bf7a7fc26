//! `strider replay LOG`: what a recorded log holds, without moving a motor.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strider_log::{JITTER_EDGES_US, Log, LogSummary, NamedStats};

use crate::robot::RobotArg;

#[derive(Args)]
pub struct ReplayArgs {
    /// The log (MCAP) to read.
    log: PathBuf,
    #[command(flatten)]
    robot: RobotArg,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let log = Log::read(&args.log).context("reading log")?;
    log.check_against(&spec).context("checking log against the robot")?;
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
            let _ = writeln!(out, "jitter       tick interval − nominal, µs:");
            for (i, count) in s.tick_interval_error_histogram.iter().enumerate() {
                let lo = i.checked_sub(1).map_or("−∞".into(), |j| JITTER_EDGES_US[j].to_string());
                let hi = JITTER_EDGES_US.get(i).map_or("+∞".into(), |e| e.to_string());
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
        let _ = writeln!(out, "\n{title:<26} {:>10} {:>10} {:>10} {:>10}", "mean", "std", "min", "max");
        for NamedStats { field, stats } in fields {
            let _ = writeln!(
                out,
                "  {field:<24} {:>10.4} {:>10.4} {:>10.4} {:>10.4}",
                stats.mean, stats.std, stats.min, stats.max
            );
        }
    }
    out
}
