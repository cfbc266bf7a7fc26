//! One episode, walked by the expert or by a policy, recorded tick by tick.

use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use strider_controller::{Controller, Mode, RunConfig, SafetyConfig, Stop};
use strider_log::{ActionMsg, LogWriter, ObservationMsg, TickRecord, Timing, now_ns};
use strider_robot::{Action, Command, Observation, Plant, PlantError, RobotSpec, Sensors, SpeedSchedule};
use strider_sim::{ExpertParams, Leg, Privileged, Scenario, Scripted, Sim};

use crate::CollectError;
use crate::dataset::sim_state;

/// Who walks the robot.
pub enum Pilot<'a> {
    /// The expert; its clean action is the label and a noisy copy is executed (DART,
    /// Laskey et al. 2017), so the data holds recovery states.
    Expert,
    /// A trained policy through the controller that deploys it (not paced); the expert
    /// runs in shadow (Ross et al. 2011, DAgger) and labels every tick the policy drives.
    /// `load(w)` makes worker thread `w`'s pilot: a [`strider_policy::Policy`] of its own,
    /// or a lane of a batched pool ([`strider_controller::LanePool`]).
    Policy { load: &'a (dyn Fn(usize) -> Result<Box<dyn strider_controller::Pilot>, String> + Sync) },
}

/// What one episode is.
pub(crate) struct Episode<'a> {
    /// The episode's index in its shard.
    pub index: u32,
    pub seed: u64,
    pub command: &'a SpeedSchedule,
    pub ticks: u64,
    pub scenario: &'a Scenario,
    /// rad; the expert pilot only.
    pub action_noise: f64,
    pub record_actions: bool,
}

/// A worker thread's pilot.
pub(crate) struct Worker {
    controller: Option<Controller>,
}

impl Worker {
    pub fn new(spec: &RobotSpec, pilot: &Pilot<'_>, w: usize) -> Result<Worker, CollectError> {
        let controller = match pilot {
            Pilot::Expert => None,
            Pilot::Policy { load } => {
                let policy = load(w).map_err(CollectError::Policy)?;
                Some(Controller::new(spec, policy, SafetyConfig::default()))
            }
        };
        Ok(Worker { controller })
    }

    /// Walks `episode` on `sim` and records it into `writer`; returns the ticks recorded
    /// (fewer after a fall).
    pub fn rollout(
        &mut self,
        sim: &mut Sim,
        episode: &Episode<'_>,
        rng: &mut Xoshiro256PlusPlus,
        writer: &mut LogWriter,
    ) -> Result<u64, CollectError> {
        match &mut self.controller {
            None => expert_rollout(sim, episode, rng, writer),
            Some(control) => policy_rollout(control, sim, episode, writer),
        }
    }
}

fn expert_rollout(
    sim: &mut Sim,
    ep: &Episode<'_>,
    rng: &mut Xoshiro256PlusPlus,
    writer: &mut LogWriter,
) -> Result<u64, CollectError> {
    let mut sensors = sim.reset(ep.seed, ep.scenario)?;
    let first_swing = if ep.seed.is_multiple_of(2) { Leg::Right } else { Leg::Left };
    let mut expert = Scripted::for_robot(sim.spec(), ExpertParams::default(), first_swing)?;
    let dt = sim.spec().control_dt_s();
    let run_start = std::time::Instant::now();
    for tick in 0..=ep.ticks {
        let time_s = tick as f64 * dt;
        let tick_start_ns = run_start.elapsed().as_nanos() as u64;
        let observation = Observation::new(sensors, sim.layout().forward_command(ep.command.at(time_s)));
        let state = *sim.privileged();
        let last = tick == ep.ticks || state.fallen;
        let decided = std::time::Instant::now();
        let label = (!last).then(|| expert.act(&observation, sim.privileged_observed()));
        let decide_us = decided.elapsed().as_secs_f64() * 1e6;
        let applied = label.map(|a| with_noise(a, ep.action_noise, rng));
        writer.write_tick(&TickRecord {
            episode: ep.index,
            tick,
            log_time_ns: now_ns(),
            observation: ObservationMsg::new(ep.index, tick, state.time_s, &observation),
            action: label.filter(|_| ep.record_actions).map(|label| ActionMsg {
                episode: ep.index,
                tick,
                joint_target: label.joint_target,
                applied: applied.map(|a| a.joint_target).filter(|a| *a != label.joint_target),
                surprise: None,
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

/// The simulator with the expert in shadow: every command the controller sends is
/// labelled with the expert's action for the state it is applied in.
struct Shadowed<'a> {
    sim: &'a mut Sim,
    expert: Scripted,
    command: &'a SpeedSchedule,
    dt: f64,
    /// The last measurement and the tick it starts.
    sensors: Sensors,
    tick: u64,
    /// The state the last command was applied in, and the expert's action there.
    before: Privileged,
    label: Action,
}

impl Plant for Shadowed<'_> {
    fn spec(&self) -> &RobotSpec {
        self.sim.spec()
    }

    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
        let vx = self.command.at(self.tick as f64 * self.dt);
        let observation = Observation::new(self.sensors, self.sim.layout().forward_command(vx));
        self.before = *self.sim.privileged();
        self.label = self.expert.act(&observation, self.sim.privileged_observed());
        self.sensors = self.sim.step(command)?;
        self.tick += 1;
        Ok(self.sensors)
    }
}

/// The policy drives through the controller; a tick is labelled when the policy was in
/// charge of it (running), and the episode ends at a fall. The executed command is kept
/// as `applied` where it differs from the label.
fn policy_rollout(
    control: &mut Controller,
    sim: &mut Sim,
    ep: &Episode<'_>,
    writer: &mut LogWriter,
) -> Result<u64, CollectError> {
    let first = sim.reset(ep.seed, ep.scenario)?;
    let dt = sim.spec().control_dt_s();
    let expert = Scripted::shadowing(sim.spec(), ExpertParams::default())?;
    let before = *sim.privileged();
    let mut plant = Shadowed {
        sim,
        expert,
        command: ep.command,
        dt,
        sensors: first,
        tick: 0,
        before,
        label: Action::default(),
    };
    let cfg = RunConfig { ticks: ep.ticks, realtime: false, command: ep.command.clone(), wind_down: false };
    let stop = Stop::default();
    let (mut recorded, mut ended) = (0, false);
    let mut failure = None;
    control
        .run(&mut plant, first, &cfg, &stop, |e, plant| {
            if ended || failure.is_some() {
                return;
            }
            let state = plant.before;
            let label =
                (e.mode == Mode::Running && !state.fallen && ep.record_actions).then_some(plant.label);
            let applied = match e.command {
                Command::Track(a) => Some(a.joint_target),
                Command::Damp | Command::Disarm => None,
            };
            let record = TickRecord {
                episode: ep.index,
                tick: e.tick,
                log_time_ns: now_ns(),
                observation: ObservationMsg::new(ep.index, e.tick, state.time_s, e.observation),
                action: label.map(|label| ActionMsg {
                    episode: ep.index,
                    tick: e.tick,
                    joint_target: label.joint_target,
                    applied: applied.filter(|a| *a != label.joint_target),
                    surprise: e.surprise,
                }),
                sim_state: Some(sim_state(&state)),
                timing: Some(Timing {
                    tick_start_ns: e.started.as_nanos() as u64,
                    decide_us: e.policy_latency.map_or(0.0, |d| d.as_secs_f64() * 1e6),
                    deadline_missed: e.missed,
                }),
            };
            failure = writer.write_tick(&record).err();
            recorded += 1;
            if state.fallen {
                // The fall is recorded; what the controller does after it is not data.
                ended = true;
                stop.press();
                stop.press();
            }
        })
        .map_err(|e| CollectError::Policy(e.to_string()))?;
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(recorded),
    }
}
