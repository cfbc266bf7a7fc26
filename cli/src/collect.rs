//! `strider collect`: expert demonstrations in the simulator, recorded as sharded MCAP logs.
//!
//! The collection itself (command mix, DART noise, shards, resume) is `strider-collect`;
//! this file turns options into a [`Plan`] and shows progress.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use strider_collect::{CommandMix, DatasetSummary, Pilot, Plan, collect};
use strider_robot::RobotSpec;
use strider_sim::Scenario;

use crate::robot::RobotArg;

/// The default collection scenario: the simulator's randomisation envelope, all at once.
const DEFAULT_SCENARIO: &str = include_str!("../../scenarios/randomized.toml");

#[derive(Args)]
pub struct CollectArgs {
    /// Episodes to collect.
    #[arg(long, default_value_t = 100)]
    episodes: u32,
    /// Output directory (created; a rerun with the same options resumes).
    #[arg(long)]
    out: PathBuf,
    /// Scenario (TOML). Default: scenarios/randomized.toml (every factor randomised).
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Worker threads. Default: one per core.
    #[arg(long)]
    jobs: Option<usize>,
    /// Base seed; episode i uses a seed derived from (seed, i), whatever the job count.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Episode length, s.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Episodes per shard file.
    #[arg(long, default_value_t = 25)]
    shard_episodes: u32,
    /// Standard deviation of the noise added to executed actions, rad (0 = none). At 0.05
    /// the expert falls in about 9 % of randomised episodes, at 0.02 in none of 100.
    #[arg(long, default_value_t = 0.02)]
    action_noise: f64,
    /// Slowest commanded speed, m/s. Default: the low end of the robot's rated
    /// `control.vx_range_mps` (the reference biped: -0.5).
    #[arg(long, allow_negative_numbers = true)]
    min_speed: Option<f64>,
    /// Fastest commanded speed, m/s. Default: the high end of that range (the biped: 1.2).
    #[arg(long, allow_negative_numbers = true)]
    max_speed: Option<f64>,
    #[command(flatten)]
    mix: MixArgs,
    /// Record observations only (actions absent), e.g. to train the model's [M] path.
    #[arg(long)]
    no_actions: bool,
    /// Print the dataset summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    robot: RobotArg,
}

/// How commands are drawn (`strider_collect::CommandMix`, whose docs hold the rules). The first command of an episode is a stop (stand from the
/// start) or a walk; each later one, after a hold, depends on the current one: from
/// standing, a walk (a start); while walking, a stop, a reversal or another walk. A walk is
/// backward or forward, at a speed uniform between the walking minimum and the speed
/// range's end on that side.
#[derive(Debug, Clone, Copy, PartialEq, Args)]
pub struct MixArgs {
    /// Share of episodes that start standing (command 0) (default 0.25).
    #[arg(long, default_value_t = 0.25)]
    pub start_standing_share: f64,
    /// Share of the commands after a walk that stop (command 0) (default 0.3).
    #[arg(long, default_value_t = 0.3)]
    pub stop_share: f64,
    /// Share of the commands after a walk that reverse its direction (default 0.25; 0 when
    /// the speed range holds no backward walk).
    #[arg(long)]
    pub reverse_share: Option<f64>,
    /// Share of the other walks (first, after a stop, or neither stop nor reversal) that go
    /// backward (default 0.35; 0 when the speed range holds no backward walk).
    #[arg(long)]
    pub backward_share: Option<f64>,
    /// Slowest walking command, m/s (default 0.1): a command is 0 or at least this fast, so
    /// the expert never hovers at its stand threshold (0.05 m/s).
    #[arg(long, default_value_t = 0.1)]
    pub min_walk_speed: f64,
}

impl MixArgs {
    /// The mix over `speed_range` (m/s): the shares given, and where none was, the defaults
    /// — without backward walks or reversals when the range has no backward walk in it (a
    /// robot rated forward only, like the hopper).
    pub fn mix(self, speed_range: [f64; 2]) -> CommandMix {
        let backward = speed_range[0] <= -self.min_walk_speed;
        let or_default =
            |given: Option<f64>, default: f64| given.unwrap_or(if backward { default } else { 0.0 });
        CommandMix {
            start_standing_share: self.start_standing_share,
            stop_share: self.stop_share,
            reverse_share: or_default(self.reverse_share, 0.25),
            backward_share: or_default(self.backward_share, 0.35),
            min_walk_speed: self.min_walk_speed,
        }
    }
}

/// `--min-speed`/`--max-speed` as given, each defaulting to its end of the robot's rated
/// range (`control.vx_range_mps`).
pub fn speed_range(spec: &strider_robot::RobotSpec, min: Option<f64>, max: Option<f64>) -> [f64; 2] {
    let [lo, hi] = spec.control.vx_range_mps;
    [min.unwrap_or(lo), max.unwrap_or(hi)]
}

/// The collection scenario: `path`, or the built-in randomisation envelope.
pub fn load_scenario(path: Option<&Path>) -> anyhow::Result<Scenario> {
    Ok(match path {
        Some(path) => Scenario::load(path).context("loading scenario")?,
        None => Scenario::from_toml_str(DEFAULT_SCENARIO, "scenarios/randomized.toml (built in)")?,
    })
}

pub fn run(args: CollectArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let speed_range = speed_range(&spec, args.min_speed, args.max_speed);
    let plan = Plan {
        contract_id: spec.contract_id().to_string(),
        episodes: args.episodes,
        seconds: args.seconds,
        seed: args.seed,
        shard_episodes: args.shard_episodes,
        action_noise: args.action_noise,
        speed_range,
        command_hold_s: [3.0, 8.0],
        command_mix: args.mix.mix(speed_range),
        record_actions: !args.no_actions,
        policy: None,
        scenario: load_scenario(args.scenario.as_deref())?,
    };
    let summary = run_plan(&spec, &plan, &Pilot::Expert, &args.out, args.jobs, args.json)?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}

/// Collects `plan` into `out` with a progress bar (hidden with `quiet`).
pub fn run_plan(
    spec: &RobotSpec,
    plan: &Plan,
    pilot: &Pilot<'_>,
    out: &Path,
    jobs: Option<usize>,
    quiet: bool,
) -> anyhow::Result<DatasetSummary> {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let todo = plan.missing_shards(out).len();
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(plan.ticks_to_write(spec, out)) };
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} ticks  {per_sec}  ETA {eta}  {msg}")
            .expect("valid progress template"),
    );
    bar.set_message(format!("{todo} of {} shards to write, {jobs} jobs", plan.shards()));
    let summary = collect(spec, plan, pilot, out, jobs, &|ticks| bar.inc(ticks));
    bar.finish_and_clear();
    Ok(summary?)
}

pub fn print_summary(summary: &DatasetSummary) {
    println!(
        "{}: {} episodes, {} ticks ({:.2} h of data), {} with a fall, {} shards ({:.1} MB); \
         wrote {} shards in {:.1} s ({:.0} ticks/s)",
        summary.out,
        summary.episodes,
        summary.ticks,
        summary.hours,
        summary.falls,
        summary.shards,
        summary.bytes as f64 / 1e6,
        summary.shards_written,
        summary.wall_s,
        summary.ticks_per_s
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        mix: MixArgs,
    }

    #[test]
    fn the_command_line_defaults_are_the_library_defaults() {
        assert_eq!(Cli::parse_from(["collect"]).mix.mix([-0.5, 1.2]), CommandMix::default());
    }

    #[test]
    fn a_forward_only_range_drops_backward_walks_unless_asked_for() {
        let mix = Cli::parse_from(["collect"]).mix.mix([0.0, 0.2]);
        assert_eq!((mix.backward_share, mix.reverse_share), (0.0, 0.0));
        assert_eq!(mix.stop_share, CommandMix::default().stop_share);
        let asked = Cli::parse_from(["collect", "--backward-share", "0.2"]).mix.mix([0.0, 0.2]);
        assert_eq!(asked.backward_share, 0.2);
        assert!(asked.check([0.0, 0.2]).is_err(), "an explicit backward share still meets the range check");
    }
}
