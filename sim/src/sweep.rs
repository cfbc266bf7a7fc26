//! Evaluation sweeps of the expert: the speed-tracking table, the randomisation envelope,
//! the push tests and the command transitions of `docs/SIM.md`, as lists of episodes run on
//! worker threads (one world per thread) and grouped into rows.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use strider_robot::{RobotSpec, SpeedSchedule};

use crate::episode::{RunOptions, RunSummary, SurpriseOutcome, run_expert};
use crate::error::SimError;
use crate::expert::ExpertParams;
use crate::scenario::{Event, Push, Randomize, Scenario, SensorFault, StartPush, TerrainSpec};
use crate::simulator::{Sim, SimConfig};

/// One episode of a sweep; `label` names its row.
#[derive(Debug, Clone)]
pub struct Case {
    pub label: String,
    pub scenario: Scenario,
    pub seed: u64,
    pub command: SpeedSchedule,
    pub seconds: f64,
}

/// The commands of the speed-tracking table, m/s.
pub const SPEED_COMMANDS: [f64; 6] = [-0.5, 0.0, 0.3, 0.6, 0.9, 1.2];

/// The commands of the ±100 N push table, m/s.
pub const PUSH_COMMANDS: [f64; 7] = [-0.5, 0.0, 0.3, 0.6, 0.9, 1.0, 1.2];

/// `commands` within a robot's rated `[min, max]` (`control.vx_range_mps`), ascending, with
/// the range's ends added when missing: a table for any robot from the reference one's.
pub fn commands_within(commands: &[f64], [lo, hi]: [f64; 2]) -> Vec<f64> {
    let mut within: Vec<f64> = commands.iter().copied().filter(|v| (lo..=hi).contains(v)).collect();
    within.extend([lo, hi]);
    within.sort_by(f64::total_cmp);
    within.dedup();
    within
}

/// Each command (m/s; [`SPEED_COMMANDS`] for the table) for each seed on flat ground with
/// the random start push.
pub fn speed_suite(commands: &[f64], seeds: Range<u64>, seconds: f64) -> Vec<Case> {
    commands
        .iter()
        .flat_map(|&v| {
            seeds.clone().map(move |seed| Case {
                label: format!("flat {}", signed(v)),
                scenario: Scenario::default(),
                seed,
                command: SpeedSchedule::constant(v),
                seconds,
            })
        })
        .collect()
}

/// The schedules of the transitions suite: (label, schedule, episode length s). Each stop
/// is followed by 12 s of zero command (2 s to come to rest, then 10 s standing). "stand"
/// has no start push (its rest is measured from the start); the others have it.
pub const TRANSITIONS: [(&str, &str, f64); 12] = [
    ("stand", "0", 12.0),
    ("walk → stop", "1,0@5", 17.0),
    ("slow walk → stop", "0.5,0@5", 17.0),
    ("backward → stop", "-0.5,0@5", 17.0),
    ("stand → walk", "0,0.6@4", 14.0),
    ("stand → backward", "0,-0.4@4", 14.0),
    ("walk → stop → walk", "0.6,0@5,0.6@10", 20.0),
    ("backward → stop → backward", "-0.4,0@5,-0.4@10", 20.0),
    ("forward → stop → backward", "0.8,0@5,-0.4@10", 20.0),
    ("forward → backward", "0.6,-0.4@6", 16.0),
    ("fast → backward", "1,-0.5@6", 16.0),
    ("backward → forward", "-0.4,0.6@6", 16.0),
];

/// A speed with its sign and at least one decimal: `+0.0`, `-0.5`, `+0.35`.
pub fn signed(v: impl std::fmt::Display) -> String {
    let text = format!("{v:+}");
    if text.contains(['.', 'e', 'N', 'i']) { text } else { text + ".0" }
}

/// Each of [`TRANSITIONS`] for each seed on flat ground.
pub fn transitions_suite(seeds: Range<u64>) -> Vec<Case> {
    TRANSITIONS
        .iter()
        .flat_map(|&(label, schedule, seconds)| {
            let command: SpeedSchedule = schedule.parse().expect("the built-in schedules parse");
            let start_push = match schedule {
                "0" => StartPush { max_force_n: 0.0, ..StartPush::default() },
                _ => StartPush::default(),
            };
            seeds.clone().map(move |seed| Case {
                label: label.to_string(),
                scenario: Scenario { name: label.to_string(), start_push, ..Scenario::default() },
                seed,
                command: command.clone(),
                seconds,
            })
        })
        .collect()
}

/// Each randomisation factor alone, then all at once, at `command_vx`.
pub fn envelope_suite(command_vx: f64, seeds: Range<u64>, seconds: f64) -> Vec<Case> {
    let command = SpeedSchedule::constant(command_vx);
    let r = Randomize::default();
    let slope = |d: f64| TerrainSpec::Slope { degrees: d, start_x_m: 1.0 };
    let steps = |h: f64| TerrainSpec::Steps { height_m: h, tread_m: [0.3, 0.6], start_x_m: 1.0 };
    let mut conditions: Vec<(String, TerrainSpec, Randomize)> =
        vec![("nominal".into(), TerrainSpec::Flat, r)];
    for d in [3.0, -3.0, 6.0, -6.0] {
        conditions.push((format!("slope {d:+}°"), slope(d), r));
    }
    for h in [0.02, 0.04] {
        conditions.push((format!("steps ±{:.0} cm", h * 100.0), steps(h), r));
    }
    for f in [0.3, 0.5, 1.5] {
        conditions.push((
            format!("friction ×{f}"),
            TerrainSpec::Flat,
            Randomize { friction_scale: [f, f], ..r },
        ));
    }
    for m in [0.6, 0.8, 1.2] {
        conditions.push((format!("mass ×{m}"), TerrainSpec::Flat, Randomize { mass_scale: [m, m], ..r }));
    }
    conditions.push((
        "mass per link ±20 %".into(),
        TerrainSpec::Flat,
        Randomize { link_mass_jitter: 0.2, ..r },
    ));
    for k in [0.8, 1.2] {
        conditions.push((
            format!("motor ×{k}"),
            TerrainSpec::Flat,
            Randomize { motor_strength: [k, k], ..r },
        ));
    }
    for n in [1.0, 2.0] {
        conditions.push((
            format!("sensor noise {n}×"),
            TerrainSpec::Flat,
            Randomize { sensor_noise_scale: n, ..r },
        ));
    }
    for l in [1, 2] {
        conditions.push((
            format!("latency {l} tick"),
            TerrainSpec::Flat,
            Randomize { latency_ticks: [l, l], ..r },
        ));
    }
    let mut cases: Vec<Case> = conditions
        .into_iter()
        .flat_map(|(label, terrain, randomize)| {
            let command = command.clone();
            seeds.clone().map(move |seed| Case {
                label: label.clone(),
                scenario: Scenario {
                    name: label.clone(),
                    terrain: terrain.clone(),
                    randomize,
                    ..Scenario::default()
                },
                seed,
                command: command.clone(),
                seconds,
            })
        })
        .collect();
    cases.extend(seeds.map(|seed| {
        let label = "all at once".to_string();
        Case {
            scenario: Scenario { name: label.clone(), ..all_at_once(seed) },
            label,
            seed,
            command: command.clone(),
            seconds,
        }
    }));
    cases
}

/// Everything randomised together: friction ×U(0.5, 1.5), mass ×U(0.8, 1.2) and ±10 % per
/// link, motor ×U(0.8, 1.2), sensor noise 1×, latency 1 tick, and the ground alternating by
/// seed between ±2 cm steps and a slope spread over −4…+4°.
pub fn all_at_once(seed: u64) -> Scenario {
    let terrain = if seed.is_multiple_of(2) {
        TerrainSpec::Steps { height_m: 0.02, tread_m: [0.3, 0.6], start_x_m: 1.0 }
    } else {
        let k = (seed / 2 % 9) as f64;
        TerrainSpec::Slope { degrees: -4.0 + k, start_x_m: 1.0 }
    };
    Scenario {
        name: "all at once".into(),
        terrain,
        randomize: Randomize {
            friction_scale: [0.5, 1.5],
            mass_scale: [0.8, 1.2],
            link_mass_jitter: 0.1,
            motor_strength: [0.8, 1.2],
            sensor_noise_scale: 1.0,
            latency_ticks: [1, 1],
        },
        ..Scenario::default()
    }
}

/// What the surprise signal must tell apart, at `command_vx` for each seed, `seconds` long,
/// with the default start push, sensor noise and one tick of latency, and every disturbance at
/// `at_s`: clean walking on flat ground and through the randomisation envelope
/// ([`all_at_once`]; false alarms), ±150 N pushes, the floor's friction dropping to a
/// tenth, a knee encoder freezing, the IMU's pitch reading 0.2 rad off.
pub fn surprise_suite(command_vx: f64, seeds: Range<u64>, at_s: f64, seconds: f64) -> Vec<Case> {
    // The world the policies are trained in has sensor noise and 1–2 ticks of actuator
    // latency; a model is rightly surprised by a robot without (docs/SIM.md, "Surprise").
    let base = Scenario {
        randomize: Randomize { sensor_noise_scale: 1.0, latency_ticks: [1, 1], ..Randomize::default() },
        ..Scenario::default()
    };
    let push =
        |force_n| Scenario { pushes: vec![Push { time_s: at_s, force_n, duration_s: 0.1 }], ..base.clone() };
    let event = |e: Event| Scenario { events: vec![e], ..base.clone() };
    let sensor =
        |field: &str, fault, value| Event::Sensor { time_s: at_s, field: field.into(), fault, value };
    // `None`: the randomisation envelope, drawn per seed.
    let conditions: Vec<(&str, Option<Scenario>)> = vec![
        ("clean, flat", Some(base.clone())),
        ("clean, all randomised", None),
        ("push +150 N", Some(push(150.0))),
        ("push -150 N", Some(push(-150.0))),
        ("friction x0.1", Some(event(Event::Friction { time_s: at_s, scale: 0.1 }))),
        ("right knee encoder stuck", Some(event(sensor("joint_pos.right_knee", SensorFault::Stuck, 0.0)))),
        ("pitch reads +0.2 rad off", Some(event(sensor("torso_pitch", SensorFault::Offset, 0.2)))),
    ];
    let command = SpeedSchedule::constant(command_vx);
    let mut cases = Vec::new();
    for (label, scenario) in &conditions {
        for seed in seeds.clone() {
            let scenario = scenario.clone().unwrap_or_else(|| all_at_once(seed));
            let scenario = Scenario { name: label.to_string(), ..scenario };
            cases.push(Case { label: label.to_string(), scenario, seed, command: command.clone(), seconds });
        }
    }
    cases
}

/// ±`force_n` for 0.1 s on the torso at 4 start times 0.1 s apart from `at_s` (8 cases,
/// about one step's worth of phases), at each command; no start push, so the phases are
/// those of one undisturbed gait.
pub fn push_suite(commands: &[f64], forces: &[f64], at_s: f64, seconds: f64) -> Vec<Case> {
    let mut cases = Vec::new();
    for &v in commands {
        for &f in forces {
            for sign in [1.0, -1.0] {
                for k in 0..4 {
                    let time_s = at_s + 0.1 * f64::from(k);
                    let label = format!("push ±{f:.0} N at {v:+.1}");
                    let scenario = Scenario {
                        name: label.clone(),
                        start_push: StartPush { max_force_n: 0.0, ..StartPush::default() },
                        pushes: vec![Push { time_s, force_n: sign * f, duration_s: 0.1 }],
                        ..Scenario::default()
                    };
                    let command = SpeedSchedule::constant(v);
                    cases.push(Case { label: label.clone(), scenario, seed: 0, command, seconds });
                }
            }
        }
    }
    cases
}

/// Runs `cases` with the expert on `threads` worker threads (each with its own world);
/// `done(n)` is called as episodes finish. Results are in case order.
pub fn run_cases(
    spec: &RobotSpec,
    config: SimConfig,
    expert: ExpertParams,
    cases: &[Case],
    threads: usize,
    done: &(dyn Fn(usize) + Sync),
) -> Result<Vec<RunSummary>, SimError> {
    let driver = |_| {
        Ok(move |sim: &mut Sim, case: &Case| {
            let opts = case.run_options(expert);
            run_expert(sim, &case.scenario, case.seed, &opts, |_| {})
        })
    };
    run_cases_with(spec, config, cases, threads, done, &driver)
}

/// As [`run_cases`], with any controller: `driver(t)` builds worker thread `t`'s episode
/// runner (a controller with its own policy, say), which runs a case on the thread's
/// world and summarises it. Thread `t` runs cases `t`, `t + threads`, …: a fixed
/// assignment, so a runner whose numbers depend on its thread (a lane of a batched model
/// call) gives the same results every run.
pub fn run_cases_with<D>(
    spec: &RobotSpec,
    config: SimConfig,
    cases: &[Case],
    threads: usize,
    done: &(dyn Fn(usize) + Sync),
    driver: &(dyn Fn(usize) -> Result<D, SimError> + Sync),
) -> Result<Vec<RunSummary>, SimError>
where
    D: FnMut(&mut Sim, &Case) -> Result<RunSummary, SimError>,
{
    let threads = threads.max(1);
    let finished = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunSummary, SimError>>>> = Mutex::new(vec![None; cases.len()]);
    let fail = |e: SimError| {
        // Report the failure in the first case's slot unless a run already failed there.
        let mut r = results.lock().expect("no panics while held");
        r[0] = Some(Err(e));
    };
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (fail, finished, results) = (&fail, &finished, &results);
            scope.spawn(move || {
                let (mut sim, mut run) =
                    match Sim::new(spec.clone(), config).and_then(|sim| Ok((sim, driver(t)?))) {
                        Ok(pair) => pair,
                        Err(e) => return fail(e),
                    };
                for (i, case) in cases.iter().enumerate().skip(t).step_by(threads) {
                    let r = run(&mut sim, case);
                    results.lock().expect("no panics while held")[i] = Some(r);
                    done(finished.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    let results = results.into_inner().expect("threads joined");
    if let Some(Some(Err(e))) = results.iter().find(|r| matches!(r, Some(Err(_)))) {
        return Err(e.clone());
    }
    results.into_iter().map(|r| r.expect("every case ran")).collect()
}

impl Case {
    /// The episode options of this case.
    pub fn run_options(&self, expert: ExpertParams) -> RunOptions {
        RunOptions { command: self.command.clone(), seconds: self.seconds, steady_from_s: None, expert }
    }
}

/// One row of a sweep: a label and command, over its seeds or phases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub label: String,
    pub command: SpeedSchedule,
    pub episodes: usize,
    pub survived: usize,
    /// Mean over survivors of the steady-window mean speed, m/s.
    pub mean_speed_mps: f64,
    /// Largest |mean speed − command| over survivors, m/s.
    pub worst_speed_error_mps: f64,
    /// Mean over survivors of the 1-s window RMS error, m/s.
    pub tracking_rms_mps: f64,
    /// Mean over survivors of the paper's position tracking error, m.
    pub position_error_m: f64,
    /// Schedules that end at 0 m/s: survivors that came to rest, the slowest of them (s
    /// after the stop command), the most steps any took at rest and the largest drift (m).
    pub rested: Option<usize>,
    pub worst_rest_after_s: Option<f64>,
    pub most_steps_at_rest: Option<u32>,
    pub worst_rest_drift_m: Option<f64>,
    /// The surprise signal over the episodes that had one (a calibrated policy).
    pub surprise: Option<SurpriseRow>,
    pub physics_steps: u64,
    pub wall_s: f64,
}

/// The surprise signal of a row's episodes ([`crate::SurpriseOutcome`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SurpriseRow {
    /// False alarms over clean ticks (before any disturbance), all episodes together, and
    /// the most in a row in any episode.
    pub false_alarms: u64,
    pub clean_ticks: u64,
    pub longest_false_streak: u64,
    /// Episodes with a disturbance, and those where a surprising tick followed it.
    pub disturbed: usize,
    pub detected: usize,
    /// Median and worst detection delay over the detected episodes, ticks.
    pub median_delay_ticks: Option<u64>,
    pub worst_delay_ticks: Option<u64>,
}

/// Groups results by (label, command schedule) in first-seen order.
pub fn rows(cases: &[Case], results: &[RunSummary]) -> Vec<Row> {
    let mut rows: Vec<(Row, Vec<&Case>, Vec<&RunSummary>)> = Vec::new();
    for (case, r) in cases.iter().zip(results) {
        let at = rows.iter().position(|(row, _, _)| row.label == case.label && row.command == case.command);
        let i = at.unwrap_or_else(|| {
            rows.push((
                Row {
                    label: case.label.clone(),
                    command: case.command.clone(),
                    episodes: 0,
                    survived: 0,
                    mean_speed_mps: f64::NAN,
                    worst_speed_error_mps: f64::NAN,
                    tracking_rms_mps: f64::NAN,
                    position_error_m: f64::NAN,
                    rested: None,
                    worst_rest_after_s: None,
                    most_steps_at_rest: None,
                    worst_rest_drift_m: None,
                    surprise: None,
                    physics_steps: 0,
                    wall_s: 0.0,
                },
                Vec::new(),
                Vec::new(),
            ));
            rows.len() - 1
        });
        rows[i].1.push(case);
        rows[i].2.push(r);
    }
    rows.into_iter()
        .map(|(mut row, cs, rs)| {
            let alive: Vec<_> = rs.iter().filter(|r| !r.fell).collect();
            row.episodes = rs.len();
            row.survived = alive.len();
            row.physics_steps = rs.iter().map(|r| r.physics_steps).sum();
            row.wall_s = rs.iter().map(|r| r.wall_s).sum();
            if !alive.is_empty() {
                let n = alive.len() as f64;
                row.mean_speed_mps = alive.iter().map(|r| r.mean_speed_mps).sum::<f64>() / n;
                row.worst_speed_error_mps = alive.iter().map(|r| r.speed_error_mps.abs()).fold(0.0, f64::max);
                row.tracking_rms_mps = alive.iter().map(|r| r.tracking_rms_mps).sum::<f64>() / n;
                row.position_error_m = alive.iter().map(|r| r.position_error_m).sum::<f64>() / n;
            }
            let outcomes: Vec<(&Case, SurpriseOutcome)> =
                cs.iter().zip(&rs).filter_map(|(c, r)| Some((*c, r.surprise?))).collect();
            if !outcomes.is_empty() {
                let mut delays: Vec<u64> = outcomes.iter().filter_map(|(_, o)| o.delay_ticks).collect();
                delays.sort_unstable();
                row.surprise = Some(SurpriseRow {
                    false_alarms: outcomes.iter().map(|(_, o)| o.false_alarms).sum(),
                    clean_ticks: outcomes.iter().map(|(_, o)| o.clean_ticks).sum(),
                    longest_false_streak: outcomes
                        .iter()
                        .map(|(_, o)| o.longest_false_streak)
                        .max()
                        .unwrap_or(0),
                    disturbed: outcomes
                        .iter()
                        .filter(|(c, _)| c.scenario.first_disturbance_s().is_some())
                        .count(),
                    detected: delays.len(),
                    median_delay_ticks: delays.get(delays.len().saturating_sub(1) / 2).copied(),
                    worst_delay_ticks: delays.last().copied(),
                });
            }
            if row.command.last() == 0.0 {
                let rested: Vec<_> = alive.iter().filter(|r| r.rest_after_s.is_some()).collect();
                row.rested = Some(rested.len());
                let max = |f: &dyn Fn(&RunSummary) -> Option<f64>| {
                    rested
                        .iter()
                        .filter_map(|r| f(r))
                        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
                };
                row.worst_rest_after_s = max(&|r| r.rest_after_s);
                row.worst_rest_drift_m = max(&|r| r.rest_drift_m);
                row.most_steps_at_rest = rested.iter().filter_map(|r| r.steps_at_rest).max();
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_robot_rated_for_a_narrower_range_gets_the_reference_commands_within_it_and_its_ends() {
        assert_eq!(commands_within(&SPEED_COMMANDS, [-0.5, 1.2]), SPEED_COMMANDS.to_vec());
        assert_eq!(commands_within(&PUSH_COMMANDS, [0.0, 0.2]), vec![0.0, 0.2]);
        assert_eq!(commands_within(&SPEED_COMMANDS, [-0.2, 0.7]), vec![-0.2, 0.0, 0.3, 0.6, 0.7]);
    }
}
