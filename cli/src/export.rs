//! `strider export …`: our logs in other ecosystems' formats.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use strider_log::{Log, export_lerobot};

use crate::logs::log_files;
use crate::robot::RobotArg;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// Write a LeRobot v3-style dataset (Parquet frames + meta/info.json) from MCAP logs.
    Lerobot(LerobotArgs),
}

#[derive(Args)]
pub struct LerobotArgs {
    /// A log file, or a directory whose `*.mcap` files are exported in name order.
    logs: PathBuf,
    /// Output directory; must not exist or be empty.
    out: PathBuf,
    /// The task string every episode gets.
    #[arg(long, default_value = "walk at the commanded forward velocity")]
    task: String,
    #[command(flatten)]
    robot: RobotArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: ExportCommand) -> anyhow::Result<()> {
    let ExportCommand::Lerobot(args) = cmd;
    let spec = args.robot.load()?;
    let mut logs = Vec::new();
    for path in log_files(&args.logs)? {
        let log = Log::read(&path).context("reading log")?;
        log.check_against(&spec).context("checking log against the robot")?;
        logs.push(log);
    }
    let summary = export_lerobot(&logs, &args.out, &args.task).context("exporting")?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!(
            "wrote {}: {} episodes, {} frames at {} fps{}",
            summary.out,
            summary.episodes,
            summary.frames,
            summary.fps,
            match summary.skipped_without_actions {
                0 => String::new(),
                n => format!(" ({n} episodes without actions left out)"),
            }
        );
    }
    Ok(())
}
