//! `strider replay LOG`: what a recorded log holds, without moving a motor; with
//! `--model`, how models would have acted on it (`crate::replay_eval`).

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Serialize;
use strider_log::{JITTER_EDGES_US, Log, LogSummary, NamedStats, SimState};
use strider_robot::{Command, Plant, RobotSpec, Sensors};
use strider_sim::{Scenario, Sim, SimConfig};

use crate::robot::RobotArg;
use strider_collect::sim_state;

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
    /// Replay the recorded actions open-loop into the simulator from each episode's recorded
    /// start (scenario and seed) and report how far the replay drifts from the recording.
    #[arg(long)]
    into_sim: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ReplayArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    if !args.model.is_empty() {
        anyhow::ensure!(!args.into_sim, "--into-sim replays actions; --model evaluates models: use one");
        return crate::replay_eval::run(&spec, &args.logs, &args.model, args.json);
    }
    let [path] = args.logs.as_slice() else {
        anyhow::bail!(
            "{} logs given: summarise one at a time, or compare models on all with --model",
            args.logs.len()
        );
    };
    let log = Log::read(path).context("reading log")?;
    log.check_against(&spec).context("checking log against the robot")?;
    if args.into_sim {
        return into_sim(&spec, &log, args.json);
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

/// How far an open-loop replay drifted from the recording of one episode.
#[derive(Debug, Serialize)]
struct Divergence {
    episode: u32,
    seed: u64,
    ticks: usize,
    /// Largest |replayed − recorded| over the episode: torso position (m), torso pitch
    /// (rad), joint positions (rad) and every sensor value.
    max_torso_position_m: f64,
    max_torso_pitch_rad: f64,
    max_joint_pos_rad: f64,
    max_sensor: f64,
    /// First tick at which anything differed, if any did.
    first_differing_tick: Option<u64>,
    /// Torso position divergence at 1, 5, 10 s and at the end, m.
    torso_position_at_s: Vec<(f64, f64)>,
}

fn into_sim(spec: &RobotSpec, log: &Log, json: bool) -> anyhow::Result<()> {
    // Every simulator run records the privileged simulator state; a robot's log (`strider
    // deploy --log`) has none, and its `scenario` names the serial port, not a scenario.
    if log.tick_count() > 0 && log.episodes.iter().flat_map(|e| &e.ticks).all(|t| t.sim_state.is_none()) {
        anyhow::bail!(
            "{}: a robot log ({}) with no simulator scenario, so it cannot be re-simulated; \
             --into-sim replays logs from `strider sim --log` or `strider collect`",
            log.file,
            log.meta.scenario.lines().next().unwrap_or("no conditions recorded")
        );
    }
    let scenario =
        Scenario::from_toml_str(&log.meta.scenario, &format!("{} (metadata `scenario`)", log.file))
            .context("the log's scenario cannot be rebuilt")?;
    let mut sim = Sim::new(spec.clone(), SimConfig::default())?;
    let mut report = Vec::new();
    for episode in &log.episodes {
        let seed = episode.start.seed.with_context(|| {
            format!(
                "{}: episode {} has no seed; only seeded simulator logs can be replayed",
                log.file, episode.start.episode
            )
        })?;
        let mut sensors = sim.reset(seed, &scenario)?;
        let mut d = Divergence {
            episode: episode.start.episode,
            seed,
            ticks: episode.ticks.len(),
            max_torso_position_m: 0.0,
            max_torso_pitch_rad: 0.0,
            max_joint_pos_rad: 0.0,
            max_sensor: 0.0,
            first_differing_tick: None,
            torso_position_at_s: Vec::new(),
        };
        let dt = spec.control_dt_s();
        let marks: Vec<u64> = [1.0, 5.0, 10.0].iter().map(|s| (s / dt).round() as u64).collect();
        for t in &episode.ticks {
            let recorded = t.sim_state.with_context(|| {
                format!(
                    "{}: no /sim/state at episode {} tick {}; --into-sim needs a simulator log",
                    log.file, d.episode, t.tick
                )
            })?;
            let here = compare(&recorded, &sim_state(sim.privileged()), &t.observation.sensors, &sensors);
            let position = here[0];
            d.max_torso_position_m = d.max_torso_position_m.max(here[0]);
            d.max_torso_pitch_rad = d.max_torso_pitch_rad.max(here[1]);
            d.max_joint_pos_rad = d.max_joint_pos_rad.max(here[2]);
            d.max_sensor = d.max_sensor.max(here[3]);
            if d.first_differing_tick.is_none() && here.iter().any(|&x| x != 0.0) {
                d.first_differing_tick = Some(t.tick);
            }
            if marks.contains(&t.tick) || t.tick + 1 == episode.ticks.len() as u64 {
                d.torso_position_at_s.push((t.tick as f64 * dt, position));
            }
            let Some(action) = &t.action else { break };
            let applied =
                strider_robot::Action { joint_target: action.applied.unwrap_or(action.joint_target) };
            sensors = sim.step(&Command::Track(applied))?;
        }
        report.push(d);
    }
    if json {
        println!("{}", serde_json::to_string(&serde_json::json!({"file": log.file, "episodes": report}))?);
        return Ok(());
    }
    println!("{}: open-loop replay of the recorded actions into the simulator", log.file);
    println!(
        "  {:>7} {:>20} {:>6} {:>12} {:>11} {:>11} {:>11}  first differing tick",
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
            d.first_differing_tick.map_or_else(|| "none (identical)".to_string(), |t| t.to_string())
        );
    }
    Ok(())
}

/// |replayed − recorded| for torso position, pitch, joint positions and all sensors.
fn compare(rec: &SimState, sim: &SimState, rec_sensors: &Sensors, sensors: &Sensors) -> [f64; 4] {
    let position = (rec.torso_x - sim.torso_x).hypot(rec.torso_y - sim.torso_y);
    let pitch = (rec.pitch - sim.pitch).abs();
    let joints = rec_sensors
        .joint_pos
        .iter()
        .zip(&sensors.joint_pos)
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    let all = strider_robot::Observation::new(*rec_sensors, 0.0)
        .to_array()
        .iter()
        .zip(strider_robot::Observation::new(*sensors, 0.0).to_array())
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    [position, pitch, joints, all]
}
