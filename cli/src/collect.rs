//! `strider collect`: expert demonstrations in the simulator, recorded as sharded MCAP logs.
//!
//! Each episode walks the expert under a randomised scenario with a velocity command that
//! changes at random times, drawn on purpose ([`CommandMix`]) so that the data holds
//! stopping and standing, starting from standing, reversals and backward walking, not only
//! forward walking. The expert's clean action is recorded as the label while a noisy copy
//! is executed (DART, Laskey et al. 2017), so the data holds recovery states.
//! Shards are written to `*.partial` and renamed when complete: a rerun with the same
//! options finishes the missing shards and never touches finished ones.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use strider_log::{
    ActionMsg, EpisodeStart, FieldStats, Log, LogMeta, LogSummary, LogWriter, ObservationMsg, TickRecord,
    Timing, WriterOptions, now_ns,
};
use strider_robot::{Action, Command, Observation, Plant, RobotSpec, SpeedSchedule};
use strider_sim::{Expert, ExpertParams, Leg, Scenario, Sim, SimConfig};

use crate::record::sim_state;
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
    /// Slowest commanded speed, m/s.
    #[arg(long, default_value_t = -0.5, allow_negative_numbers = true)]
    min_speed: f64,
    /// Fastest commanded speed, m/s.
    #[arg(long, default_value_t = 1.2, allow_negative_numbers = true)]
    max_speed: f64,
    #[command(flatten)]
    mix: CommandMix,
    /// Record observations only (actions absent), e.g. to train the model's [M] path.
    #[arg(long)]
    no_actions: bool,
    /// Print the dataset summary as one JSON object.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    robot: RobotArg,
}

/// How commands are drawn. The first command of an episode is a stop (stand from the
/// start) or a walk; each later one, after a hold, depends on the current one: from
/// standing, a walk (a start); while walking, a stop, a reversal or another walk. A walk is
/// backward or forward, at a speed uniform between the walking minimum and the speed
/// range's end on that side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Args)]
#[serde(deny_unknown_fields, default)]
pub struct CommandMix {
    /// Share of episodes that start standing (command 0) (default 0.25).
    #[arg(long, default_value_t = 0.25)]
    pub start_standing_share: f64,
    /// Share of the commands after a walk that stop (command 0) (default 0.3).
    #[arg(long, default_value_t = 0.3)]
    pub stop_share: f64,
    /// Share of the commands after a walk that reverse its direction (default 0.25).
    #[arg(long, default_value_t = 0.25)]
    pub reverse_share: f64,
    /// Share of the other walks (first, after a stop, or neither stop nor reversal) that go
    /// backward (default 0.35).
    #[arg(long, default_value_t = 0.35)]
    pub backward_share: f64,
    /// Slowest walking command, m/s (default 0.1): a command is 0 or at least this fast, so
    /// the expert never hovers at its stand threshold (0.05 m/s).
    #[arg(long, default_value_t = 0.1)]
    pub min_walk_speed: f64,
}

impl Default for CommandMix {
    fn default() -> CommandMix {
        CommandMix {
            start_standing_share: 0.25,
            stop_share: 0.3,
            reverse_share: 0.25,
            backward_share: 0.35,
            min_walk_speed: 0.1,
        }
    }
}

impl CommandMix {
    /// Refuses shares outside [0, 1] and a walking minimum outside the speed range, naming
    /// the option and the fix.
    fn check(&self, speed_range: [f64; 2]) -> anyhow::Result<()> {
        for (name, v) in [
            ("--start-standing-share", self.start_standing_share),
            ("--stop-share", self.stop_share),
            ("--reverse-share", self.reverse_share),
            ("--backward-share", self.backward_share),
        ] {
            anyhow::ensure!((0.0..=1.0).contains(&v), "{name} {v}: use a share between 0 and 1");
        }
        anyhow::ensure!(
            self.stop_share + self.reverse_share <= 1.0,
            "--stop-share {} and --reverse-share {} add up to more than 1: lower one of them",
            self.stop_share,
            self.reverse_share
        );
        let [lo, hi] = speed_range;
        let w = self.min_walk_speed;
        anyhow::ensure!(w > 0.0, "--min-walk-speed {w}: use a positive speed, m/s");
        anyhow::ensure!(
            hi >= w,
            "--max-speed {hi} is below --min-walk-speed {w}: forward walks need --max-speed ≥ {w}"
        );
        anyhow::ensure!(
            (self.backward_share == 0.0 && self.reverse_share == 0.0) || lo <= -w,
            "--min-speed {lo} leaves no backward walk faster than --min-walk-speed {w}: use --min-speed ≤ -{w}, or --backward-share 0 and --reverse-share 0"
        );
        Ok(())
    }

    /// One episode's schedule over `seconds`, with holds uniform in `hold_s`.
    fn draw(
        &self,
        speed_range: [f64; 2],
        hold_s: [f64; 2],
        seconds: f64,
        rng: &mut Xoshiro256PlusPlus,
    ) -> SpeedSchedule {
        let [lo, hi] = speed_range;
        let w = self.min_walk_speed;
        let walk = |backward: bool, rng: &mut Xoshiro256PlusPlus| -> f64 {
            if backward { rng.random_range(lo..=-w) } else { rng.random_range(w..=hi) }
        };
        let any_walk =
            |rng: &mut Xoshiro256PlusPlus| -> f64 { walk(rng.random_bool(self.backward_share), rng) };
        let first = if rng.random_bool(self.start_standing_share) { 0.0 } else { any_walk(rng) };
        let mut changes = Vec::new();
        let (mut now, mut t) = (first, rng.random_range(hold_s[0]..=hold_s[1]));
        while t < seconds {
            now = if now == 0.0 {
                any_walk(rng)
            } else {
                let r: f64 = rng.random_range(0.0..1.0);
                if r < self.stop_share {
                    0.0
                } else if r < self.stop_share + self.reverse_share {
                    walk(now > 0.0, rng)
                } else {
                    any_walk(rng)
                }
            };
            changes.push((t, now));
            t += rng.random_range(hold_s[0]..=hold_s[1]);
        }
        SpeedSchedule::new(first, changes).expect("holds are positive, speeds finite")
    }
}

/// Everything that determines the data; kept as `collect.toml` so a resume can refuse
/// options that would mix two different datasets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Plan {
    contract_id: String,
    episodes: u32,
    seconds: f64,
    seed: u64,
    shard_episodes: u32,
    /// rad.
    action_noise: f64,
    /// m/s.
    speed_range: [f64; 2],
    /// A new command is drawn after a hold uniform in this range, s.
    command_hold_s: [f64; 2],
    command_mix: CommandMix,
    record_actions: bool,
    scenario: Scenario,
}

/// The dataset summary written as `summary.json`.
#[derive(Debug, Serialize)]
struct DatasetSummary {
    out: String,
    episodes: usize,
    ticks: usize,
    hours: f64,
    falls: usize,
    shards: usize,
    bytes: u64,
    /// Shards written by this run (the rest were already there).
    shards_written: usize,
    wall_s: f64,
    /// Ticks per wall-clock second over the shards written by this run.
    ticks_per_s: f64,
    episode_seeds: Vec<u64>,
    observation: Vec<(String, FieldStats)>,
    action: Vec<(String, FieldStats)>,
}

pub fn run(args: CollectArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(path).context("loading scenario")?,
        None => Scenario::from_toml_str(DEFAULT_SCENARIO, "scenarios/randomized.toml (built in)")?,
    };
    anyhow::ensure!(
        args.episodes > 0 && args.shard_episodes > 0,
        "--episodes and --shard-episodes must be > 0"
    );
    anyhow::ensure!(args.seconds > 0.0, "--seconds must be > 0");
    anyhow::ensure!(args.min_speed <= args.max_speed, "--min-speed must not exceed --max-speed");
    args.mix.check([args.min_speed, args.max_speed])?;
    let plan = Plan {
        contract_id: spec.contract_id().to_string(),
        episodes: args.episodes,
        seconds: args.seconds,
        seed: args.seed,
        shard_episodes: args.shard_episodes,
        action_noise: args.action_noise,
        speed_range: [args.min_speed, args.max_speed],
        command_hold_s: [3.0, 8.0],
        command_mix: args.mix,
        record_actions: !args.no_actions,
        scenario,
    };
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}: cannot create", args.out.display()))?;
    check_or_write_plan(&args.out, &plan)?;

    let shards = plan.episodes.div_ceil(plan.shard_episodes) as usize;
    let todo: Vec<usize> = (0..shards).filter(|&k| !shard_path(&args.out, k).exists()).collect();
    let jobs =
        args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    let todo_ticks: u64 =
        todo.iter().map(|&k| shard_episodes(&plan, k).len() as u64 * plan.ticks_per_episode(&spec)).sum();

    let bar = ProgressBar::new(todo_ticks).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} ticks  {per_sec}  ETA {eta}  {msg}")
            .expect("valid progress template"),
    );
    bar.set_message(format!("{} of {shards} shards to write, {jobs} jobs", todo.len()));
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.min(todo.len()) {
            s.spawn(|| {
                while let Some(&k) = todo.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if failure.lock().expect("no panics hold the lock").is_some() {
                        return;
                    }
                    if let Err(e) = write_shard(&spec, &plan, &args.out, k, &bar) {
                        failure.lock().expect("no panics hold the lock").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = failure.into_inner().expect("no panics hold the lock") {
        return Err(e);
    }
    let wall_s = started.elapsed().as_secs_f64();

    let summary = summarise(&spec, &plan, &args.out, todo.len(), wall_s, todo_ticks)?;
    let path = args.out.join("summary.json");
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
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
    Ok(())
}

impl Plan {
    /// Control ticks in a full episode (one fewer than the observations recorded).
    fn ticks_per_episode(&self, spec: &RobotSpec) -> u64 {
        (self.seconds * f64::from(spec.control.control_hz)).round() as u64
    }
}

fn shard_path(out: &Path, k: usize) -> PathBuf {
    out.join(format!("shard-{k:04}.mcap"))
}

fn shard_episodes(plan: &Plan, k: usize) -> std::ops::Range<u32> {
    let first = k as u32 * plan.shard_episodes;
    first..(first + plan.shard_episodes).min(plan.episodes)
}

/// The seed of episode `i`: a SplitMix64 step of (base, i), so episodes are independent
/// of how they are sharded or scheduled.
fn episode_seed(base: u64, i: u32) -> u64 {
    let mut z = base ^ (u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn check_or_write_plan(out: &Path, plan: &Plan) -> anyhow::Result<()> {
    let path = out.join("collect.toml");
    let text = toml::to_string(plan).expect("plans serialise");
    if !path.exists() {
        std::fs::write(&path, text).with_context(|| format!("{}: cannot write", path.display()))?;
        return Ok(());
    }
    let old = std::fs::read_to_string(&path).with_context(|| format!("{}: cannot read", path.display()))?;
    let (old, new): (toml::Table, toml::Table) = (
        toml::from_str(&old).with_context(|| format!("{}: not a collect plan", path.display()))?,
        toml::from_str(&text).expect("a plan reads back"),
    );
    for (key, value) in &new {
        if old.get(key) != Some(value) {
            let was = old.get(key).map_or_else(|| "absent".to_string(), ToString::to_string);
            bail!(
                "{}: `{key}` is {was} there but {value} now; rerun with the same options to resume, or use another --out",
                path.display()
            );
        }
    }
    Ok(())
}

fn write_shard(spec: &RobotSpec, plan: &Plan, out: &Path, k: usize, bar: &ProgressBar) -> anyhow::Result<()> {
    let path = shard_path(out, k);
    let partial = path.with_extension("mcap.partial");
    // A partial shard is this command's own output from an interrupted run: redo it.
    let _ = std::fs::remove_file(&partial);
    let scenario_toml = toml::to_string(&plan.scenario).expect("scenarios serialise");
    let meta = LogMeta::new(spec, "expert", &scenario_toml, Some(plan.seed));
    let mut writer = LogWriter::create(&partial, &meta, WriterOptions::default())?;
    let mut sim = Sim::new(spec.clone(), SimConfig::default())?;
    let ticks_per_episode = plan.ticks_per_episode(spec);
    for (local, i) in shard_episodes(plan, k).enumerate() {
        let seed = episode_seed(plan.seed, i);
        // Commands and action noise have their own stream: the simulator's draws stay those
        // of (seed, scenario), which is what `replay --into-sim` reproduces.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xC0_11EC7);
        let command = plan.command_mix.draw(plan.speed_range, plan.command_hold_s, plan.seconds, &mut rng);
        writer.begin_episode(&EpisodeStart {
            episode: local as u32,
            seed: Some(seed),
            conditions: format!("{} (episode {i}; speed schedule {command})", plan.scenario.name),
        })?;
        let ticks =
            rollout(&mut sim, plan, local as u32, seed, &command, &mut rng, ticks_per_episode, &mut writer)?;
        writer.flush()?;
        bar.inc(ticks_per_episode.max(ticks));
    }
    writer.finish()?;
    std::fs::rename(&partial, &path).with_context(|| format!("{}: cannot rename", partial.display()))?;
    Ok(())
}

/// Walks one episode on `command` and records it, drawing the action noise from `rng`;
/// returns the ticks recorded (fewer after a fall).
#[allow(clippy::too_many_arguments)]
fn rollout(
    sim: &mut Sim,
    plan: &Plan,
    episode: u32,
    seed: u64,
    command: &SpeedSchedule,
    rng: &mut Xoshiro256PlusPlus,
    ticks: u64,
    writer: &mut LogWriter,
) -> anyhow::Result<u64> {
    let mut sensors = sim.reset(seed, &plan.scenario)?;
    let first_swing = if seed.is_multiple_of(2) { Leg::Right } else { Leg::Left };
    let mut expert = Expert::new(sim.spec(), ExpertParams::default(), first_swing);
    let dt = sim.spec().control_dt_s();
    let run_start = Instant::now();
    for tick in 0..=ticks {
        let time_s = tick as f64 * dt;
        let tick_start_ns = run_start.elapsed().as_nanos() as u64;
        let observation = Observation::new(sensors, command.at(time_s));
        let state = *sim.privileged();
        let last = tick == ticks || state.fallen;
        let decided = Instant::now();
        let label = (!last).then(|| expert.act(&observation, sim.privileged_observed()));
        let decide_us = decided.elapsed().as_secs_f64() * 1e6;
        let applied = label.map(|a| with_noise(a, plan.action_noise, rng));
        writer.write_tick(&TickRecord {
            episode,
            tick,
            log_time_ns: now_ns(),
            observation: ObservationMsg::new(episode, tick, state.time_s, &observation),
            action: label.filter(|_| plan.record_actions).map(|label| ActionMsg {
                episode,
                tick,
                joint_target: label.joint_target,
                applied: applied.map(|a| a.joint_target).filter(|a| *a != label.joint_target),
            }),
            sim_state: Some(sim_state(&state)),
            timing: Some(Timing { tick_start_ns, decide_us, deadline_missed: false }),
        })?;
        match applied {
            Some(action) => sensors = sim.step(&Command::Track(action))?,
            None => return Ok(tick + 1),
        }
    }
    unreachable!("the last tick returns")
}

fn with_noise(action: Action, std: f64, rng: &mut Xoshiro256PlusPlus) -> Action {
    if std <= 0.0 {
        return action;
    }
    let mut noisy = action;
    for target in &mut noisy.joint_target {
        // Box–Muller: a standard normal from two uniforms.
        let (u1, u2): (f64, f64) = (rng.random_range(f64::EPSILON..1.0), rng.random_range(0.0..1.0));
        *target += (std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32;
    }
    noisy
}

fn summarise(
    spec: &RobotSpec,
    plan: &Plan,
    out: &Path,
    shards_written: usize,
    wall_s: f64,
    ticks_written: u64,
) -> anyhow::Result<DatasetSummary> {
    let shards = plan.episodes.div_ceil(plan.shard_episodes) as usize;
    let mut s = DatasetSummary {
        out: out.display().to_string(),
        episodes: 0,
        ticks: 0,
        hours: 0.0,
        falls: 0,
        shards,
        bytes: 0,
        shards_written,
        wall_s,
        ticks_per_s: if wall_s > 0.0 { ticks_written as f64 / wall_s } else { 0.0 },
        episode_seeds: (0..plan.episodes).map(|i| episode_seed(plan.seed, i)).collect(),
        observation: spec.observation_layout().into_iter().map(|f| (f.name, FieldStats::default())).collect(),
        action: spec.action_layout().into_iter().map(|f| (f.name, FieldStats::default())).collect(),
    };
    for k in 0..shards {
        let path = shard_path(out, k);
        let log = Log::read(&path).context("reading back a shard")?;
        log.check_against(spec)?;
        let one = LogSummary::of(&log);
        s.episodes += one.episodes;
        s.ticks += one.ticks;
        s.falls += one.falls;
        s.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
        for (mine, theirs) in s.observation.iter_mut().zip(&one.observation) {
            mine.1.merge(&theirs.stats);
        }
        for (mine, theirs) in s.action.iter_mut().zip(&one.action) {
            mine.1.merge(&theirs.stats);
        }
    }
    s.hours = s.ticks as f64 / f64::from(spec.control.control_hz) / 3600.0;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct MixArgs {
        #[command(flatten)]
        mix: CommandMix,
    }

    #[test]
    fn the_command_line_defaults_are_the_documented_defaults() {
        assert_eq!(MixArgs::parse_from(["collect"]).mix, CommandMix::default());
        let toml_default: CommandMix = toml::from_str("").unwrap();
        assert_eq!(toml_default, CommandMix::default());
    }

    /// Over many episodes the draws hold every kind of command in about the shares asked
    /// for, and every walk is at least the walking minimum.
    #[test]
    fn draws_cover_stops_starts_reversals_and_backward_walks_in_their_shares() {
        let mix = CommandMix::default();
        let (range, hold) = ([-0.5, 1.2], [3.0, 8.0]);
        let (mut episodes, mut standing_starts) = (0, 0);
        let (mut after_walk, mut stops, mut reversals) = (0, 0, 0);
        let (mut starts, mut walks, mut backward) = (0, 0, 0);
        for seed in 0..2000u64 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let s = mix.draw(range, hold, 20.0, &mut rng);
            episodes += 1;
            standing_starts += usize::from(s.first() == 0.0);
            let mut previous = s.first();
            let values = std::iter::once(s.first()).chain(s.changes().iter().map(|c| c.1));
            for (k, v) in values.enumerate() {
                assert!(v == 0.0 || v.abs() >= mix.min_walk_speed, "{s}");
                assert!((-0.5..=1.2).contains(&v), "{s}");
                if v != 0.0 {
                    walks += 1;
                    backward += usize::from(v < 0.0);
                }
                if k == 0 {
                    continue;
                }
                if previous == 0.0 {
                    assert_ne!(v, 0.0, "a stop follows a stop in {s}");
                    starts += 1;
                } else {
                    after_walk += 1;
                    stops += usize::from(v == 0.0);
                    reversals += usize::from(v * previous < 0.0);
                }
                previous = v;
            }
        }
        let share = |n: usize, of: usize| n as f64 / of as f64;
        assert!((share(standing_starts, episodes) - 0.25).abs() < 0.03, "{standing_starts}/{episodes}");
        assert!((share(stops, after_walk) - 0.3).abs() < 0.03, "{stops}/{after_walk}");
        // Reversals: the asked 0.25, plus the other walks that happen to change direction.
        assert!(share(reversals, after_walk) > 0.3, "{reversals}/{after_walk}");
        assert!(starts > 1000, "{starts} starts from standing");
        assert!(share(backward, walks) > 0.35, "{backward}/{walks}");
    }

    #[test]
    fn a_bad_mix_is_refused_naming_the_option() {
        let range = [-0.5, 1.2];
        let e = CommandMix { stop_share: 1.5, ..CommandMix::default() }.check(range).unwrap_err();
        assert!(e.to_string().starts_with("--stop-share 1.5: use a share between 0 and 1"), "{e}");
        let e = CommandMix { stop_share: 0.6, reverse_share: 0.5, ..CommandMix::default() }
            .check(range)
            .unwrap_err();
        assert!(e.to_string().contains("add up to more than 1"), "{e}");
        let e = CommandMix::default().check([0.0, 1.2]).unwrap_err();
        assert!(e.to_string().contains("--min-speed 0 leaves no backward walk"), "{e}");
        let forward_only = CommandMix { backward_share: 0.0, reverse_share: 0.0, ..CommandMix::default() };
        assert!(forward_only.check([0.0, 1.2]).is_ok());
    }
}
