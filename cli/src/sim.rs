//! `strider sim …`: run a controller on the bundled simulator and print what happened;
//! `strider sim eval …`: the evaluation sweeps behind `docs/SIM.md`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use strider_controller::{
    Controller as Loop, Pacer, Recorder, RunConfig, RunReport, SafetyConfig, Stop, Throttle,
};
use strider_robot::SpeedSchedule;
use strider_sim::sweep::{self, Case, Row};
use strider_sim::{
    EpisodeTracker, ExpertParams, GifRecorder, RenderOptions, RunOptions, RunSummary, Scenario, Sim,
    SimConfig, SimError, run_expert,
};

use crate::keys::Keyboard;
use crate::robot::RobotArg;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    command: Option<SimCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum SimCommand {
    /// Sweep seeds, commands, terrains, randomisation and pushes; print one row per condition.
    Eval(EvalArgs),
}

/// Which controller drives the robot.
#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Controller {
    /// The trajectory transformer (`--model`), through the real-time controller's safety
    /// envelope, seeing only the robot's sensors.
    Policy,
    /// The SIMBICON-style expert it learned from (privileged state, position targets at
    /// the control rate).
    Expert,
}

#[derive(Args)]
struct RunArgs {
    #[arg(long, value_enum, default_value = "policy")]
    controller: Controller,
    /// The policy's manifest (`model.toml`, the `.onnx` beside it). Default: the model
    /// built into strider (models/walker2d-biped).
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Commanded forward speed, m/s: a number, or a schedule SPEED[,SPEED@SECONDS...] such
    /// as `1.0,0@6,-0.3@12` (1 m/s, stand from 6 s, back at 0.3 m/s from 12 s). Default: the
    /// robot's `control.vx_default_mps` (the reference biped: 1 m/s).
    #[arg(long, allow_hyphen_values = true, value_name = "SCHEDULE")]
    speed: Option<SpeedSchedule>,
    /// Episode length, s.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Scenario (TOML): terrain, pushes, randomisation. Default: flat with a small start push.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Seed for the scenario's draws (terrain, randomisation, start push, noise).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write an animated GIF of the run here.
    #[arg(long, value_name = "PATH")]
    gif: Option<PathBuf>,
    /// Record the policy's run as a Strider log (MCAP: observations, actions, what was
    /// applied, timing, the simulator's state); `strider replay` reads it.
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    /// Pace the simulation at real time instead of as fast as it goes.
    #[arg(long)]
    realtime: bool,
    /// Damp and end the run after this many consecutive ticks above the model's surprise
    /// threshold (off by default: surprise is reported, never acted on).
    #[arg(long, value_name = "TICKS", value_parser = clap::value_parser!(u32).range(1..))]
    damp_on_surprise: Option<u32>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Expert parameters (TOML; fields left out keep their defaults).
    #[arg(long, value_name = "FILE")]
    expert: Option<PathBuf>,
    #[command(flatten)]
    robot: RobotArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Suite {
    /// Each of --commands (−0.5, 0, 0.3, 0.6, 0.9, 1.2 m/s) on flat ground.
    Speed,
    /// Each randomisation factor alone, then all at once, at --speed.
    Envelope,
    /// ±100 N × 0.1 s at 8 phases at each speed command and at 1.0 m/s; ±150 N and ±200 N at 1.0 m/s.
    Push,
    /// Command schedules on flat ground: stand, walk → stop (and stand 10 s), start from
    /// standing, walk → stop → walk, forward ↔ backward.
    Transitions,
    /// The policy's surprise signal at --speed, 12 s: false alarms on clean walks (flat,
    /// all randomised), detection delay of a ±150 N push, a slippery floor, a stuck knee
    /// encoder and an IMU pitch offset, all at 8 s. Needs a model with a calibrated
    /// surprise threshold.
    Surprise,
}

#[derive(Args)]
struct EvalArgs {
    #[arg(long, value_enum)]
    suite: Suite,
    #[arg(long, value_enum, default_value = "policy")]
    controller: Controller,
    /// The policy's manifest. Default: the built-in model.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Seeds per condition (speed, envelope and transitions suites).
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// The first of those seeds (tuning used the low ones; 1000 on is held out).
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Episode length, s (push episodes: 12 s, pushes at 8.0–8.3 s; transitions: per schedule).
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Commands of the speed suite, m/s, comma-separated. Default: -0.5,0,0.3,0.6,0.9,1.2
    /// within the robot's `control.vx_range_mps`, and that range's ends.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    commands: Vec<f64>,
    /// Command for the envelope, surprise and strong-push conditions, m/s. Default: the
    /// robot's `control.vx_default_mps` (the reference biped: 1 m/s).
    #[arg(long, allow_negative_numbers = true)]
    speed: Option<f64>,
    /// Worker threads, one simulated world each.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// The policy's robots per batched model call on each thread: each simulated robot on
    /// a thread of its own, its tick one row of the call. 1: each robot through a one-stream
    /// policy of its own, as `strider sim` runs it (the same function within 1e-4 a tick,
    /// several times slower; docs/BENCHMARKS.md).
    #[arg(long, default_value_t = 8)]
    lanes: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Expert parameters (TOML; fields left out keep their defaults).
    #[arg(long, value_name = "FILE")]
    expert: Option<PathBuf>,
    /// Run only the conditions whose label contains this text (e.g. "mass", "all at once").
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    #[command(flatten)]
    robot: RobotArg,
}

fn load_expert(path: Option<&PathBuf>) -> anyhow::Result<ExpertParams> {
    match path {
        Some(path) => Ok(ExpertParams::load(path).context("loading expert parameters")?),
        None => Ok(ExpertParams::default()),
    }
}

pub fn run(args: SimArgs) -> anyhow::Result<()> {
    match args.command {
        Some(SimCommand::Eval(eval)) => run_eval(eval),
        None => run_one(args.run),
    }
}

fn run_one(args: RunArgs) -> anyhow::Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        anyhow::bail!("--seconds {}: use a positive duration", args.seconds);
    }
    let spec = args.robot.load()?;
    let speed = crate::robot::speed_command(&spec, &args.robot, args.speed.as_ref(), f64::INFINITY, false)?;
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(path).context("loading scenario")?,
        None => Scenario::default(),
    };
    let policy = match args.controller {
        Controller::Policy => Some(crate::model::load(args.model.as_deref(), &spec)?),
        Controller::Expert => {
            anyhow::ensure!(
                args.model.is_none(),
                "--model is for --controller policy; the expert has no model"
            );
            anyhow::ensure!(
                args.log.is_none(),
                "--log records a policy run; record the expert with `strider collect`"
            );
            None
        }
    };
    let mut sim = Sim::new(spec, SimConfig::default()).context("building the simulator")?;
    let mut recorder = match &args.gif {
        Some(path) => Some(GifRecorder::create(path, RenderOptions::default())?),
        None => None,
    };
    let opts = RunOptions {
        command: speed,
        seconds: args.seconds,
        steady_from_s: None,
        expert: load_expert(args.expert.as_ref())?,
    };
    if let Some(policy) = policy {
        return run_policy(&args, policy, sim, &scenario, &opts, recorder);
    }
    let pacer = Pacer::start(Duration::from_secs_f64(strider_robot::Plant::spec(&sim).control_dt_s()));
    let mut render_error = None;
    let summary = run_expert(&mut sim, &scenario, args.seed, &opts, |view| {
        if let Some(rec) = recorder.as_mut()
            && render_error.is_none()
            && let Err(e) = rec.tick(
                view.sim,
                f64::from(
                    view.observation
                        .command_of(view.sim.layout(), strider_robot::CommandField::Vx)
                        .unwrap_or(0.0),
                ),
            )
        {
            render_error = Some(e);
        }
        if args.realtime {
            pacer.wait(view.sim.privileged().tick);
        }
    })?;
    if let Some(e) = render_error {
        return Err(e.into());
    }
    let frames = match recorder {
        Some(rec) => Some(rec.finish()?),
        None => None,
    };
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        value["controller"] = "expert".into();
        if let Some(path) = &args.gif {
            value["gif"] = path.display().to_string().into();
        }
        println!("{value}");
    } else {
        print!("{}", summary_text(&summary, "expert"));
        if let (Some(path), Some(frames)) = (&args.gif, frames) {
            println!("gif        {} ({frames} frames)", path.display());
        }
    }
    Ok(())
}

/// One episode of the policy through the real-time controller on `sim`, recorded into
/// `log` if given; `each_tick` sees the world after the reset and after every tick (for
/// pictures).
#[allow(clippy::too_many_arguments)]
fn policy_episode(
    control: &mut Loop,
    sim: &mut Sim,
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
    realtime: bool,
    stop: &Stop,
    mut log: Option<&mut Recorder>,
    mut each_tick: impl FnMut(&Sim) -> Result<(), SimError>,
) -> anyhow::Result<(RunSummary, RunReport)> {
    let first = sim.reset(seed, scenario).context("resetting the simulator")?;
    let mut tracker = EpisodeTracker::start(sim);
    each_tick(sim)?;
    let dt = strider_robot::Plant::spec(sim).control_dt_s();
    let cfg =
        // A simulated walk ends when its time is up (its distance and speed are what is
        // measured); a fall or a fault still damps until the robot is at rest.
        RunConfig {
            ticks: (opts.seconds / dt).round() as u64,
            realtime,
            command: opts.command.clone(),
            wind_down: false,
        };
    let mut tick_error: Option<anyhow::Error> = None;
    // The log holds the simulator's state at each tick's observation, as `collect` does.
    let mut before = strider_collect::sim_state(sim.privileged());
    let mut surprise: Vec<Option<f32>> = Vec::with_capacity(cfg.ticks as usize);
    let report = control.run(sim, first, &cfg, stop, |event, sim| {
        surprise.push(event.surprise);
        tracker.tick(sim);
        if tick_error.is_none() {
            tick_error = each_tick(sim).err().map(Into::into);
        }
        if let (Some(log), None) = (log.as_deref_mut(), &tick_error) {
            tick_error = log.record(event, Some(before)).err().map(Into::into);
        }
        before = strider_collect::sim_state(sim.privileged());
    })?;
    if let Some(e) = tick_error {
        return Err(e);
    }
    let mut summary = tracker.finish(sim, scenario, seed, opts, None);
    // The first observation a disturbance at time T can change is the tick at or after T.
    let disturbance_tick = scenario.first_disturbance_s().map(|t| (t / dt - 1e-9).ceil() as u64);
    let settled = (strider_sim::SurpriseOutcome::SETTLED_S / dt).round() as u64;
    summary.surprise = report
        .surprise
        .threshold
        .map(|t| strider_sim::SurpriseOutcome::of(&surprise, t, settled, disturbance_tick));
    Ok((summary, report))
}

/// The policy through the real-time controller, on the simulator.
fn run_policy(
    args: &RunArgs,
    policy: crate::model::Loaded,
    mut sim: Sim,
    scenario: &Scenario,
    opts: &RunOptions,
    mut recorder: Option<GifRecorder>,
) -> anyhow::Result<()> {
    let spec = strider_robot::Plant::spec(&sim).clone();
    let mut log = match &args.log {
        Some(path) => {
            let label =
                format!("policy {} (onnx sha256 {})", policy.name, policy.policy.manifest().onnx.sha256);
            let conditions = toml::to_string(scenario).context("writing the scenario into the log")?;
            Some(Recorder::create(path, &spec, &label, &conditions, Some(args.seed))?)
        }
        None => None,
    };
    let safety =
        SafetyConfig { damp_after_surprising_ticks: args.damp_on_surprise, ..SafetyConfig::default() };
    let mut control = Loop::new(&spec, policy.policy, safety);
    // In real time on a terminal the operator steers: arrows, space, q (`keys.rs`).
    let (stop, throttle) = (Arc::new(Stop::default()), Arc::new(Throttle::default()));
    control.follow(throttle.clone());
    let keyboard = match args.realtime && !args.json {
        true => Keyboard::listen(opts.command.first(), spec.control.vx_range_mps, throttle, stop.clone())?,
        false => None,
    };
    let episode = policy_episode(
        &mut control,
        &mut sim,
        scenario,
        args.seed,
        opts,
        args.realtime,
        &stop,
        log.as_mut(),
        |sim| match recorder.as_mut() {
            Some(rec) => rec.tick(sim, f64::from(opts.command.at(sim.privileged().time_s))),
            None => Ok(()),
        },
    );
    drop(keyboard);
    let (summary, report) = episode?;
    let frames = match recorder {
        Some(rec) => Some(rec.finish()?),
        None => None,
    };
    if let Some(log) = log {
        log.finish()?;
    }
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        value["controller"] = "policy".into();
        if let Some(path) = &args.log {
            value["log"] = path.display().to_string().into();
        }
        value["model"] = policy.name.clone().into();
        value["control"] = serde_json::to_value(&report)?;
        if let Some(path) = &args.gif {
            value["gif"] = path.display().to_string().into();
        }
        println!("{value}");
        return Ok(());
    }
    print!("{}", summary_text(&summary, &format!("policy {}", policy.name)));
    print!("{report}");
    if let (Some(path), Some(frames)) = (&args.gif, frames) {
        println!("gif        {} ({frames} frames)", path.display());
    }
    if let Some(path) = &args.log {
        println!("log        {}", path.display());
    }
    Ok(())
}

fn summary_text(s: &RunSummary, controller: &str) -> String {
    let fell = match s.fell_at_s {
        Some(t) => format!("yes, at {t:.2} s"),
        None => "no".into(),
    };
    let schedule = match s.command.as_constant() {
        Some(_) => String::new(),
        None => format!("schedule   {} (m/s, from each time in s)\n", s.command),
    };
    let rest = match (s.rest_after_s, s.steps_at_rest, s.rest_drift_m) {
        (Some(t), Some(n), Some(d)) => {
            format!("at rest    {t:.2} s after the stop command; then {n} steps, drift {d:.3} m\n")
        }
        _ if s.command.last() == 0.0 && !s.fell => "at rest    never (still moving at the end)\n".into(),
        _ => String::new(),
    };
    schedule
        + &format!(
            "controller {controller}   scenario {}   seed {}\n\
         simulated  {:.2} s   distance {:.2} m   steps {}\n\
         speed      {:.3} m/s mean over {:.0}–{:.0} s, command {:.2} m/s (error {:+.3})\n\
         tracking   {:.3} m/s RMS of 1-s windows against the command\n\
         position   {:.3} m mean |x − x*| against the commanded trajectory over the episode\n\
         fell       {fell}\n\
         sim speed  {:.0} physics steps/s, {:.1}× real time\n",
            s.scenario,
            s.seed,
            s.seconds,
            s.distance_m,
            s.steps,
            s.mean_speed_mps,
            s.steady_window_s[0],
            s.steady_window_s[1],
            s.command_vx,
            s.speed_error_mps,
            s.tracking_rms_mps,
            s.position_error_m,
            s.physics_steps_per_s,
            s.realtime_factor,
        )
        + &rest
}

fn run_eval(args: EvalArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let expert = load_expert(args.expert.as_ref())?;
    let seeds = args.first_seed..args.first_seed + args.seeds;
    let range = spec.control.vx_range_mps;
    let speed = args.speed.unwrap_or(spec.control.vx_default_mps);
    let cases: Vec<Case> = match args.suite {
        Suite::Speed => {
            let commands = match args.commands.is_empty() {
                true => sweep::commands_within(&sweep::SPEED_COMMANDS, range),
                false => args.commands.clone(),
            };
            sweep::speed_suite(&commands, seeds, args.seconds)
        }
        Suite::Envelope => sweep::envelope_suite(speed, seeds, args.seconds),
        Suite::Transitions => sweep::transitions_suite(seeds),
        Suite::Push => {
            let commands = sweep::commands_within(&sweep::PUSH_COMMANDS, range);
            let mut cases = sweep::push_suite(&commands, &[100.0], 8.0, 12.0);
            cases.extend(sweep::push_suite(&[speed], &[150.0, 200.0], 8.0, 12.0));
            cases
        }
        Suite::Surprise => {
            anyhow::ensure!(args.controller == Controller::Policy, "--suite surprise is the policy's signal");
            sweep::surprise_suite(speed, seeds, 8.0, 12.0)
        }
    };
    let cases: Vec<Case> = match &args.only {
        Some(text) => cases.into_iter().filter(|c| c.label.contains(text.as_str())).collect(),
        None => cases,
    };
    if cases.is_empty() {
        anyhow::bail!(
            "--only {:?}: no condition of this suite has that in its label",
            args.only.unwrap_or_default()
        );
    }
    let total = cases.len();
    let started = Instant::now();
    let progress = |n: usize| {
        if !args.json {
            eprint!("\r{n}/{total} episodes");
        }
    };
    if args.controller == Controller::Expert {
        anyhow::ensure!(args.model.is_none(), "--model is for --controller policy; the expert has no model");
    }
    let results = match args.controller {
        Controller::Expert => {
            sweep::run_cases(&spec, SimConfig::default(), expert, &cases, args.threads, &progress)?
        }
        Controller::Policy => {
            eval_policy(&spec, args.model.as_deref(), expert, &cases, args.threads, args.lanes, &progress)?
        }
    };
    if !args.json {
        eprintln!();
    }
    let rows = sweep::rows(&cases, &results);
    let wall = started.elapsed().as_secs_f64();
    let physics_steps: u64 = results.iter().map(|r| r.physics_steps).sum();
    let episode_wall: f64 = results.iter().map(|r| r.wall_s).sum();
    let ticks = physics_steps / u64::from(spec.physics_steps_per_tick());
    if args.json {
        let value = serde_json::json!({
            "suite": format!("{:?}", args.suite).to_lowercase(),
            "episodes": total,
            "rows": rows,
            "physics_steps": physics_steps,
            "wall_s": wall,
            "control_ticks": ticks,
            "ticks_per_s": ticks as f64 / wall.max(1e-9),
            "physics_steps_per_s_per_thread": physics_steps as f64 / episode_wall.max(1e-9),
        });
        println!("{value}");
    } else {
        // The surprise columns belong to the surprise suite; elsewhere (no disturbance, and
        // often a world unlike training's) they would only distract.
        print!("{}", rows_text(&rows, matches!(args.suite, Suite::Surprise)));
        let threads = match args.controller {
            Controller::Policy if args.lanes > 1 => {
                format!("{} threads × {} lanes", args.threads, args.lanes)
            }
            _ => format!("{} threads", args.threads),
        };
        println!(
            "{total} episodes, {ticks} control ticks in {wall:.1} s on {threads} ({:.0} ticks/s); \
             {physics_steps} physics steps ({:.0} steps/s per thread)",
            ticks as f64 / wall.max(1e-9),
            physics_steps as f64 / episode_wall.max(1e-9)
        );
    }
    Ok(())
}

/// The policy of `model` (the built-in one if `None`) over `cases`, each episode through
/// the controller that deploys it: on `threads` threads with one-stream policies, or with
/// `lanes` > 1 on `threads` batched calls of `lanes` robots each ([`crate::model::Pilots`]).
pub fn eval_policy(
    spec: &strider_robot::RobotSpec,
    model: Option<&std::path::Path>,
    expert: ExpertParams,
    cases: &[Case],
    threads: usize,
    lanes: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> anyhow::Result<Vec<RunSummary>> {
    // No more lanes than episodes: a lane without one would only hold a thread.
    let lanes = lanes.min(cases.len().div_ceil(threads.max(1)));
    let pilots = crate::model::Pilots::load(model, spec, threads, lanes)?;
    let driver = |t| {
        let pilot = pilots.pilot(t).map_err(|message| SimError::Driver { message })?;
        let mut control = Loop::new(spec, pilot, SafetyConfig::default());
        Ok(move |sim: &mut Sim, case: &Case| {
            let opts = case.run_options(expert);
            policy_episode(
                &mut control,
                sim,
                &case.scenario,
                case.seed,
                &opts,
                false,
                &Stop::default(),
                None,
                |_| Ok(()),
            )
            .map(|(summary, _)| summary)
            .map_err(|e| SimError::Driver { message: format!("{e:#}") })
        })
    };
    Ok(sweep::run_cases_with(spec, SimConfig::default(), cases, pilots.threads(), progress, &driver)?)
}

/// The rows as a Markdown table; the rest columns appear when a schedule ends at 0 m/s,
/// the surprise columns when asked for (and a model gave them).
pub fn rows_text(rows: &[Row], with_surprise: bool) -> String {
    let stops = rows.iter().any(|r| r.rested.is_some());
    let surprise = with_surprise && rows.iter().any(|r| r.surprise.is_some());
    let mut out = String::from(
        "| condition | command m/s | no fall | mean speed m/s | worst abs(error) m/s | 1-s RMS m/s | position error m |",
    );
    let mut columns = 7;
    if stops {
        out.push_str(" at rest | rest after s (worst) | steps at rest (most) | drift m (worst) |");
        columns += 4;
    }
    if surprise {
        out.push_str(
            " false alarms (clean ticks) | most in a row | detected | delay ticks (median, worst) |",
        );
        columns += 4;
    }
    out.push_str(&format!("\n|{}\n", "---|".repeat(columns)));
    let opt = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    for r in rows {
        let command = match r.command.as_constant() {
            Some(v) => sweep::signed(v),
            None => r.command.to_string(),
        };
        out.push_str(&format!(
            "| {} | {command} | {}/{} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.label,
            r.survived,
            r.episodes,
            r.mean_speed_mps,
            r.worst_speed_error_mps,
            r.tracking_rms_mps,
            r.position_error_m,
        ));
        if stops {
            out.push_str(&format!(
                " {} | {} | {} | {} |",
                r.rested.map_or("–".to_string(), |n| format!("{n}/{}", r.survived)),
                opt(r.worst_rest_after_s, 2),
                r.most_steps_at_rest.map_or("–".to_string(), |n| n.to_string()),
                opt(r.worst_rest_drift_m, 3),
            ));
        }
        if surprise {
            let cells = match &r.surprise {
                Some(su) => [
                    format!("{} ({})", su.false_alarms, su.clean_ticks),
                    su.longest_false_streak.to_string(),
                    if su.disturbed > 0 { format!("{}/{}", su.detected, su.disturbed) } else { "–".into() },
                    match (su.median_delay_ticks, su.worst_delay_ticks) {
                        (Some(m), Some(w)) => format!("{m}, {w}"),
                        _ => "–".into(),
                    },
                ],
                None => ["–".into(), "–".into(), "–".into(), "–".into()],
            };
            out.push_str(&format!(" {} | {} | {} | {} |", cells[0], cells[1], cells[2], cells[3]));
        }
        out.push('\n');
    }
    out
}
