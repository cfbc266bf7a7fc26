//! Re-simulation of a simulator log from each episode's recorded start (scenario and seed):
//! the recorded commands re-applied open loop ([`open_loop`]), or the recorded policy run
//! again closed loop through the controller that ran it ([`closed_loop`]). Either way,
//! where the replay first departs from the recording, field by field.
//!
//! Ticks are compared at the same point as they were recorded: the observation the pilot
//! saw at tick k, the action it decided, and the simulator's state at that observation.

use serde::Serialize;
use strider_controller::{Controller, RunConfig, SafetyConfig, Stop};
use strider_log::{Episode, Log, SimState};
use strider_policy::Policy;
use strider_robot::{Action, Command, CommandField, Layout, Observation, Plant, RobotSpec, SpeedSchedule};
use strider_sim::{Scenario, Sim, SimConfig};

/// Why a log cannot be re-simulated; each names the file and what would fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResimError {
    #[error("{0}")]
    NotASimulatorLog(String),
    #[error(transparent)]
    Sim(#[from] strider_sim::SimError),
    #[error("the simulator refused a recorded command: {0}")]
    Plant(#[from] strider_robot::PlantError),
    #[error("the controller refused to start: {0}")]
    Controller(#[from] strider_controller::ControllerError),
}

/// The first recorded value the replay did not reproduce.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    pub tick: u64,
    /// A layout field name (`torso_pitch`, `joint_target.left_knee`) or `sim.<field>`.
    pub field: String,
    pub recorded: f64,
    pub replayed: f64,
}

/// How far a replay drifted from the recording of one episode.
#[derive(Debug, Clone, Serialize)]
pub struct Divergence {
    pub episode: u32,
    pub seed: u64,
    pub ticks: usize,
    /// Largest |replayed − recorded| over the episode: torso position (m), torso pitch
    /// (rad), joint positions (rad) and every observation value.
    pub max_torso_position_m: f64,
    pub max_torso_pitch_rad: f64,
    pub max_joint_pos_rad: f64,
    pub max_sensor: f64,
    /// The first tick at which anything differed, and what.
    pub first_differing_tick: Option<u64>,
    pub first_difference: Option<Difference>,
    /// Torso position divergence at 1, 5, 10 s and at the end, (s, m).
    pub torso_position_at_s: Vec<(f64, f64)>,
}

/// The log's scenario and an episode's seed, or why a log has none (a robot's log).
fn start(log: &Log) -> Result<Scenario, ResimError> {
    // Every simulator run records the simulator state; a robot's log (`strider deploy
    // --log`) has none, and its conditions name the serial port, not a scenario.
    if log.tick_count() > 0 && log.episodes.iter().flat_map(|e| &e.ticks).all(|t| t.sim_state.is_none()) {
        return Err(ResimError::NotASimulatorLog(format!(
            "{}: a robot log ({}) with no simulator scenario, so it cannot be re-simulated; \
             --into-sim replays logs from `strider sim --log` or `strider collect`",
            log.file,
            log.meta.scenario.lines().next().unwrap_or("no conditions recorded")
        )));
    }
    Scenario::from_toml_str(&log.meta.scenario, &format!("{} (metadata `scenario`)", log.file))
        .map_err(|e| ResimError::NotASimulatorLog(format!("the log's scenario cannot be rebuilt: {e}")))
}

/// The pushes the simulator applied in `episode` of a simulator log (the start push and
/// the scenario's), drawn again from its scenario and seed; none for a robot's log.
pub fn pushes(log: &Log, episode: &Episode, links: usize) -> Vec<strider_sim::Push> {
    match (start(log), episode.start.seed) {
        (Ok(scenario), Some(seed)) => scenario.draw(seed, links).pushes,
        _ => Vec::new(),
    }
}

fn seed(log: &Log, episode: &Episode) -> Result<u64, ResimError> {
    episode.start.seed.ok_or_else(|| {
        ResimError::NotASimulatorLog(format!(
            "{}: episode {} has no seed; only seeded simulator logs can be replayed",
            log.file, episode.start.episode
        ))
    })
}

/// Compares one tick at a time and keeps the episode's maxima.
struct Comparer {
    d: Divergence,
    obs_names: Vec<String>,
    act_names: Vec<String>,
    marks: Vec<u64>,
    dt: f64,
}

impl Comparer {
    fn new(spec: &RobotSpec, episode: &Episode, seed: u64) -> Comparer {
        let dt = spec.control_dt_s();
        Comparer {
            d: Divergence {
                episode: episode.start.episode,
                seed,
                ticks: episode.ticks.len(),
                max_torso_position_m: 0.0,
                max_torso_pitch_rad: 0.0,
                max_joint_pos_rad: 0.0,
                max_sensor: 0.0,
                first_differing_tick: None,
                first_difference: None,
                torso_position_at_s: Vec::new(),
            },
            obs_names: spec.observation_layout().into_iter().map(|f| f.name).collect(),
            act_names: spec.action_layout().into_iter().map(|f| f.name).collect(),
            marks: [1.0, 5.0, 10.0].iter().map(|s| (s / dt).round() as u64).collect(),
            dt,
        }
    }

    /// Tick `tick` (of `last` + 1 recorded) as recorded and as replayed; the action only
    /// where both have one.
    fn tick(
        &mut self,
        tick: u64,
        last: bool,
        recorded: (&Observation, Option<&Action>, Option<&SimState>),
        replayed: (&Observation, Option<&Action>, &SimState),
    ) {
        let (ro, ra, rs) = recorded;
        let (po, pa, ps) = replayed;
        let (a, b) = (ro.to_values(), po.to_values());
        let mut fields: Vec<(&str, f64, f64)> = self
            .obs_names
            .iter()
            .zip(a.iter().zip(&b))
            .map(|(n, (x, y))| (n.as_str(), f64::from(*x), f64::from(*y)))
            .collect();
        if let (Some(ra), Some(pa)) = (ra, pa) {
            fields.extend(
                self.act_names
                    .iter()
                    .zip(ra.joint_target.iter().zip(&pa.joint_target))
                    .map(|(n, (x, y))| (n.as_str(), f64::from(*x), f64::from(*y))),
            );
        }
        let mut position = 0.0;
        if let Some(rs) = rs {
            position = (rs.torso_x - ps.torso_x).hypot(rs.torso_y - ps.torso_y);
            self.d.max_torso_position_m = self.d.max_torso_position_m.max(position);
            self.d.max_torso_pitch_rad = self.d.max_torso_pitch_rad.max((rs.pitch - ps.pitch).abs());
            fields.extend([
                ("sim.torso_x", rs.torso_x, ps.torso_x),
                ("sim.torso_y", rs.torso_y, ps.torso_y),
                ("sim.pitch", rs.pitch, ps.pitch),
                ("sim.com_vx", rs.com_vx, ps.com_vx),
            ]);
        }
        let gap = |x: f64, y: f64| if x == y || (x.is_nan() && y.is_nan()) { 0.0 } else { (x - y).abs() };
        let joints =
            fields.iter().take(ro.sensors.joint_pos.len()).map(|&(_, x, y)| gap(x, y)).fold(0.0, f64::max);
        let sensors = fields.iter().take(b.len()).map(|&(_, x, y)| gap(x, y)).fold(0.0, f64::max);
        self.d.max_joint_pos_rad = self.d.max_joint_pos_rad.max(joints);
        self.d.max_sensor = self.d.max_sensor.max(sensors);
        if self.d.first_difference.is_none()
            && let Some(&(field, recorded, replayed)) = fields.iter().find(|&&(_, x, y)| gap(x, y) != 0.0)
        {
            self.d.first_differing_tick = Some(tick);
            self.d.first_difference = Some(Difference { tick, field: field.to_string(), recorded, replayed });
        }
        if self.marks.contains(&tick) || last {
            self.d.torso_position_at_s.push((tick as f64 * self.dt, position));
        }
    }
}

/// Replays each episode's recorded commands (what was applied) open loop into the
/// simulator from its recorded start, until the first tick without an action.
pub fn open_loop(spec: &RobotSpec, log: &Log) -> Result<Vec<Divergence>, ResimError> {
    let scenario = start(log)?;
    let mut sim = Sim::new(spec.clone(), SimConfig::default())?;
    let mut report = Vec::new();
    for episode in &log.episodes {
        let seed = seed(log, episode)?;
        let mut sensors = sim.reset(seed, &scenario)?;
        let mut c = Comparer::new(spec, episode, seed);
        let n = episode.ticks.len();
        for (i, t) in episode.ticks.iter().enumerate() {
            let here = Observation::new(sensors, t.observation.command);
            let state = strider_collect::sim_state(sim.privileged());
            c.tick(t.tick, i + 1 == n, (&t.observation, None, t.sim_state.as_ref()), (&here, None, &state));
            let Some(action) = &t.action else { break };
            let applied = Action { joint_target: action.applied.unwrap_or(action.joint_target) };
            sensors = sim.step(&Command::Track(applied))?;
        }
        report.push(c.d);
    }
    Ok(report)
}

/// The recorded forward-speed command, tick by tick, as a schedule.
fn recorded_schedule(episode: &Episode, layout: &Layout, dt: f64) -> SpeedSchedule {
    let mut first = None;
    let mut changes = Vec::new();
    let mut now = f32::NAN;
    for t in &episode.ticks {
        let v = t.observation.command_of(layout, CommandField::Vx).unwrap_or(0.0);
        if first.is_none() {
            first = Some(f64::from(v));
        } else if v != now {
            changes.push((t.tick as f64 * dt, f64::from(v)));
        }
        now = v;
    }
    SpeedSchedule::new(first.unwrap_or(0.0), changes).unwrap_or_else(|_| SpeedSchedule::constant(0.0))
}

/// Runs `policy` again through the controller on each episode's recorded start and
/// recorded speed commands, unpaced, for the recorded number of ticks, and compares every
/// tick: what the policy saw, what it decided, where the robot was. A `sim --log` run of
/// the same model, unpaced, is reproduced exactly.
pub fn closed_loop(spec: &RobotSpec, log: &Log, policy: Policy) -> Result<Vec<Divergence>, ResimError> {
    let scenario = start(log)?;
    let mut sim = Sim::new(spec.clone(), SimConfig::default())?;
    let mut control = Controller::new(spec, policy, SafetyConfig::default());
    let dt = spec.control_dt_s();
    let mut report = Vec::new();
    for episode in &log.episodes {
        let seed = seed(log, episode)?;
        let first = sim.reset(seed, &scenario)?;
        let mut c = Comparer::new(spec, episode, seed);
        let cfg = RunConfig {
            ticks: episode.ticks.len() as u64,
            realtime: false,
            command: recorded_schedule(episode, &spec.layout(), dt),
            wind_down: false,
        };
        let mut before = strider_collect::sim_state(sim.privileged());
        let n = episode.ticks.len();
        control.run(&mut sim, first, &cfg, &Stop::default(), |e, sim| {
            if let Some(t) = episode.ticks.get(e.tick as usize) {
                let action = t.action.as_ref().map(|a| a.action());
                let recorded = (&t.observation, action.as_ref(), t.sim_state.as_ref());
                c.tick(t.tick, t.tick as usize + 1 == n, recorded, (e.observation, e.action, &before));
            }
            before = strider_collect::sim_state(sim.privileged());
        })?;
        report.push(c.d);
    }
    Ok(report)
}
