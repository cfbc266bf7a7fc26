//! Evaluation sweeps of the expert: the speed-tracking table, the randomisation envelope and
//! the push tests of `docs/SIM.md`, as lists of episodes run on worker threads (one world
//! per thread) and grouped into rows.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use strider_robot::RobotSpec;

use crate::episode::{RunOptions, RunSummary, run_expert};
use crate::error::SimError;
use crate::expert::ExpertParams;
use crate::scenario::{Push, Randomize, Scenario, StartPush, TerrainSpec};
use crate::simulator::{Sim, SimConfig};

/// One episode of a sweep; `label` names its row.
#[derive(Debug, Clone)]
pub struct Case {
    pub label: String,
    pub scenario: Scenario,
    pub seed: u64,
    pub command_vx: f64,
    pub seconds: f64,
}

/// The commands of the speed-tracking table, m/s.
pub const SPEED_COMMANDS: [f64; 6] = [-0.5, 0.0, 0.3, 0.6, 0.9, 1.2];

/// Each command for `seeds` seeds on flat ground with the random start push.
pub fn speed_suite(seeds: u64, seconds: f64) -> Vec<Case> {
    SPEED_COMMANDS
        .iter()
        .flat_map(|&v| {
            (0..seeds).map(move |seed| Case {
                label: format!("flat {v:+.1}"),
                scenario: Scenario::default(),
                seed,
                command_vx: v,
                seconds,
            })
        })
        .collect()
}

/// Each randomisation factor alone, then all at once, at `command_vx`.
pub fn envelope_suite(command_vx: f64, seeds: u64, seconds: f64) -> Vec<Case> {
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
            (0..seeds).map(move |seed| Case {
                label: label.clone(),
                scenario: Scenario {
                    name: label.clone(),
                    terrain: terrain.clone(),
                    randomize,
                    ..Scenario::default()
                },
                seed,
                command_vx,
                seconds,
            })
        })
        .collect();
    cases.extend((0..seeds).map(|seed| {
        let label = "all at once".to_string();
        Case {
            scenario: Scenario { name: label.clone(), ..all_at_once(seed) },
            label,
            seed,
            command_vx,
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
                    cases.push(Case { label: label.clone(), scenario, seed: 0, command_vx: v, seconds });
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
    let driver = || {
        Ok(move |sim: &mut Sim, case: &Case| {
            let opts = case.run_options(expert);
            run_expert(sim, &case.scenario, case.seed, &opts, |_| {})
        })
    };
    run_cases_with(spec, config, cases, threads, done, &driver)
}

/// As [`run_cases`], with any controller: `driver` builds one episode runner per worker
/// thread (a controller with its own policy, say), which runs a case on the thread's
/// world and summarises it.
pub fn run_cases_with<D>(
    spec: &RobotSpec,
    config: SimConfig,
    cases: &[Case],
    threads: usize,
    done: &(dyn Fn(usize) + Sync),
    driver: &(dyn Fn() -> Result<D, SimError> + Sync),
) -> Result<Vec<RunSummary>, SimError>
where
    D: FnMut(&mut Sim, &Case) -> Result<RunSummary, SimError>,
{
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<RunSummary, SimError>>>> = Mutex::new(vec![None; cases.len()]);
    let fail = |e: SimError| {
        // Report the failure in the first case's slot unless a run already failed there.
        let mut r = results.lock().expect("no panics while held");
        r[0] = Some(Err(e));
    };
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let (mut sim, mut run) =
                    match Sim::new(spec.clone(), config).and_then(|sim| Ok((sim, driver()?))) {
                        Ok(pair) => pair,
                        Err(e) => return fail(e),
                    };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(case) = cases.get(i) else { break };
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
        RunOptions { command_vx: self.command_vx, seconds: self.seconds, steady_from_s: None, expert }
    }
}

/// One row of a sweep: a label and command, over its seeds or phases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub label: String,
    pub command_vx: f64,
    pub episodes: usize,
    pub survived: usize,
    /// Mean over survivors of the steady-window mean speed, m/s.
    pub mean_speed_mps: f64,
    /// Largest |mean speed − command| over survivors, m/s.
    pub worst_speed_error_mps: f64,
    /// Mean over survivors of the 1-s window RMS error, m/s.
    pub tracking_rms_mps: f64,
    pub physics_steps: u64,
    pub wall_s: f64,
}

/// Groups results by (label, command) in first-seen order.
pub fn rows(cases: &[Case], results: &[RunSummary]) -> Vec<Row> {
    let mut rows: Vec<(Row, Vec<&RunSummary>)> = Vec::new();
    for (case, r) in cases.iter().zip(results) {
        let at =
            rows.iter().position(|(row, _)| row.label == case.label && row.command_vx == case.command_vx);
        let i = at.unwrap_or_else(|| {
            rows.push((
                Row {
                    label: case.label.clone(),
                    command_vx: case.command_vx,
                    episodes: 0,
                    survived: 0,
                    mean_speed_mps: f64::NAN,
                    worst_speed_error_mps: f64::NAN,
                    tracking_rms_mps: f64::NAN,
                    physics_steps: 0,
                    wall_s: 0.0,
                },
                Vec::new(),
            ));
            rows.len() - 1
        });
        rows[i].1.push(r);
    }
    rows.into_iter()
        .map(|(mut row, rs)| {
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
            }
            row
        })
        .collect()
}
