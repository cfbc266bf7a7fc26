//! Closed-loop episodes of the expert on the simulator, and their summary: distance, speed
//! against the command over the steady part, tracking errors (1-s windows, and the
//! trajectory-transformer paper's position error), falls, coming to rest after a stop
//! command, speed against real time.

use std::time::Instant;

use serde::Serialize;
use strider_robot::{Command, Contacts, Observation, Plant, RobotSpec, Sensors, SpeedSchedule};

use crate::error::SimError;
use crate::expert::{Expert, ExpertParams, Leg};
use crate::hopper::HopperExpert;
use crate::scenario::Scenario;
use crate::simulator::Privileged;
use crate::simulator::Sim;

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// Commanded forward speed over time, m/s (default 1.0 throughout).
    pub command: SpeedSchedule,
    /// Episode length, s (default 20).
    pub seconds: f64,
    /// The steady part starts here, s (default 5, or half the episode if shorter than 10 s).
    pub steady_from_s: Option<f64>,
    /// The expert's parameters ([`run_expert`] only).
    pub expert: ExpertParams,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            command: SpeedSchedule::constant(1.0),
            seconds: 20.0,
            steady_from_s: None,
            expert: ExpertParams::default(),
        }
    }
}

impl RunOptions {
    fn steady_from(&self) -> f64 {
        self.steady_from_s.unwrap_or(if self.seconds >= 10.0 { 5.0 } else { self.seconds / 2.0 })
    }
}

/// What happened in one episode.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub scenario: String,
    pub seed: u64,
    /// The command schedule (a plain number when constant).
    pub command: SpeedSchedule,
    /// The command, m/s: its mean over the steady window.
    pub command_vx: f64,
    /// Simulated time, s (shorter than asked when the robot fell).
    pub seconds: f64,
    /// Centre-of-mass x travelled, m.
    pub distance_m: f64,
    /// The window the speeds below are measured over, s.
    pub steady_window_s: [f64; 2],
    /// Mean centre-of-mass speed over the steady window, m/s (NaN if it fell before).
    pub mean_speed_mps: f64,
    /// `mean_speed_mps − command_vx`, m/s.
    pub speed_error_mps: f64,
    /// RMS over the 1-s windows of the steady part of (window speed − command), m/s.
    pub tracking_rms_mps: f64,
    /// The paper's position tracking error: the mean over ticks of |x − x*|, with x the
    /// torso (base) x and x* the trajectory the command asks for (x*(0) = x(0), dx*/dt =
    /// the command), over the whole episode (until a fall), m.
    pub position_error_m: f64,
    /// When the schedule ends at 0 m/s: seconds from that command until the robot is at
    /// rest (every contact closed — both feet down — and |centre-of-mass speed| < 0.05 m/s
    /// for 0.5 s); `None` if it never was, or the schedule does not end at 0.
    pub rest_after_s: Option<f64>,
    /// Touchdowns after coming to rest.
    pub steps_at_rest: Option<u32>,
    /// Largest |torso x − its x when it came to rest| from then to the end, m.
    pub rest_drift_m: Option<f64>,
    pub fell: bool,
    pub fell_at_s: Option<f64>,
    /// Touchdowns (a contact closing).
    pub steps: u32,
    pub physics_steps: u64,
    /// Wall-clock seconds for the episode, from the reset on.
    pub wall_s: f64,
    pub physics_steps_per_s: f64,
    /// Simulated seconds per wall-clock second.
    pub realtime_factor: f64,
    /// What the pilot's surprise did, for a policy whose model has a calibrated threshold
    /// (filled in by whoever drove the episode; `None` otherwise).
    pub surprise: Option<SurpriseOutcome>,
}

/// The surprise signal over one episode, against the scenario's first disturbance
/// ([`crate::Scenario::first_disturbance_s`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SurpriseOutcome {
    /// Ticks with a surprise value from [`SurpriseOutcome::SETTLED_S`] until the
    /// disturbance (until the end if there is none).
    pub clean_ticks: u64,
    /// Of those, the ticks above the threshold: false alarms.
    pub false_alarms: u64,
    /// The most false alarms in a row (what a "damp after N surprising ticks" must exceed).
    pub longest_false_streak: u64,
    /// Ticks from the first observation the disturbance can affect to the first surprising
    /// tick from then on; `None` without a disturbance or if none followed.
    pub delay_ticks: Option<u64>,
}

impl SurpriseOutcome {
    /// Clean ticks count from here, s: after homing, the policy's first steps and the
    /// default start push (within the first 1.5 s), which are disturbances of their own.
    pub const SETTLED_S: f64 = 3.0;

    /// From each tick's surprise (`None`: the pilot gave none), the threshold, the first
    /// clean tick and the tick of the disturbance, if any.
    pub fn of(
        surprise: &[Option<f32>],
        threshold: f32,
        settled_tick: u64,
        disturbance_tick: Option<u64>,
    ) -> SurpriseOutcome {
        let split = disturbance_tick.map_or(surprise.len(), |t| (t as usize).min(surprise.len()));
        let (before, after) = surprise.split_at(split);
        let before = &before[(settled_tick as usize).min(before.len())..];
        let over = |s: &Option<f32>| s.is_some_and(|s| s > threshold);
        let longest = before
            .iter()
            .fold(
                (0u64, 0u64),
                |(run, best), s| if over(s) { (run + 1, best.max(run + 1)) } else { (0, best) },
            )
            .1;
        SurpriseOutcome {
            clean_ticks: before.iter().flatten().count() as u64,
            false_alarms: before.iter().filter(|s| over(s)).count() as u64,
            longest_false_streak: longest,
            delay_ticks: disturbance_tick.and_then(|_| after.iter().position(over)).map(|d| d as u64),
        }
    }
}

/// One tick as seen by a [`run_expert`] observer.
pub struct TickView<'a> {
    pub sim: &'a Sim,
    pub observation: &'a Observation,
}

/// Resets `sim` to (`seed`, `scenario`) and walks the expert for `opts.seconds`, stopping at
/// a fall. `observe` sees every tick (for pictures or logs). The first swing leg follows
/// the seed's parity.
pub fn run_expert(
    sim: &mut Sim,
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
    mut observe: impl FnMut(TickView<'_>),
) -> Result<RunSummary, SimError> {
    let mut sensors: Sensors = sim.reset(seed, scenario)?;
    let mut tracker = EpisodeTracker::start(sim);
    let first = if seed.is_multiple_of(2) { Leg::Right } else { Leg::Left };
    let mut expert = Scripted::for_robot(sim.spec(), opts.expert, first)?;
    let dt = sim.spec().control_dt_s();
    let ticks = (opts.seconds / dt).round() as u64;
    let command_at = |sim: &Sim| sim.layout().forward_command(opts.command.at(sim.privileged().time_s));
    let observation = Observation::new(sensors, command_at(sim));
    observe(TickView { sim, observation: &observation });
    for _ in 0..ticks {
        let observation = Observation::new(sensors, command_at(sim));
        let action = expert.act(&observation, sim.privileged_observed());
        let tick = sim.privileged().tick;
        sensors = sim
            .step(&Command::Track(action))
            .map_err(|e| SimError::Refused { tick, message: e.to_string() })?;
        tracker.tick(sim);
        let observation = Observation::new(sensors, command_at(sim));
        observe(TickView { sim, observation: &observation });
        if sim.privileged().fallen {
            break;
        }
    }
    let steps = expert.steps();
    Ok(tracker.finish(sim, scenario, seed, opts, Some(steps)))
}

/// The scripted expert that drives the robot's shape: the reference biped's walker, or the
/// hopper's. Episodes, data collection and DAgger's shadow labels all pick it here.
#[derive(Debug, Clone)]
pub enum Scripted {
    Biped(Box<Expert>),
    Hopper(Box<HopperExpert>),
}

impl Scripted {
    /// The biped's expert (`first` swings first), else the hopper's; when neither drives
    /// the robot, the refusal of the one whose joint count it has (the biped's otherwise),
    /// naming the field.
    pub fn for_robot(spec: &RobotSpec, params: ExpertParams, first: Leg) -> Result<Scripted, SimError> {
        Scripted::pick(spec, Expert::new(spec, params, first))
    }

    /// As [`Scripted::for_robot`], labelling states another controller drives (DAgger): the
    /// biped's [`Expert::shadowing`]; the hopper's expert takes its phases from the contact
    /// and the centre of mass as they are, so it shadows as it is.
    pub fn shadowing(spec: &RobotSpec, params: ExpertParams) -> Result<Scripted, SimError> {
        Scripted::pick(spec, Expert::shadowing(spec, params))
    }

    fn pick(spec: &RobotSpec, biped: Result<Expert, SimError>) -> Result<Scripted, SimError> {
        let biped = match biped {
            Ok(e) => return Ok(Scripted::Biped(Box::new(e))),
            Err(e) => e,
        };
        match HopperExpert::new(spec) {
            Ok(h) => Ok(Scripted::Hopper(Box::new(h))),
            Err(hopper) if spec.joints.len() == 3 => Err(hopper),
            Err(_) => Err(biped),
        }
    }

    /// One control tick: the joint targets for this observation and privileged state.
    pub fn act(&mut self, obs: &Observation, state: &Privileged) -> strider_robot::Action {
        match self {
            Scripted::Biped(e) => e.act(obs, state),
            Scripted::Hopper(h) => h.act(obs, state),
        }
    }

    /// Steps taken (the biped) or hops (the hopper).
    pub fn steps(&self) -> u32 {
        match self {
            Scripted::Biped(e) => e.steps(),
            Scripted::Hopper(h) => h.hops(),
        }
    }
}

/// What [`RunSummary`] reports, gathered tick by tick for any controller: call
/// [`EpisodeTracker::start`] right after the reset and [`EpisodeTracker::tick`] after
/// every control tick.
#[derive(Debug, Clone)]
pub struct EpisodeTracker {
    started: Instant,
    /// Per tick from the reset on: the true state the summary needs.
    com_x: Vec<f64>,
    com_vx: Vec<f64>,
    torso_x: Vec<f64>,
    /// Every contact closed (for a biped: both feet down).
    all_contacts_closed: Vec<bool>,
    /// Touchdowns (a contact closing) up to each tick.
    touchdowns: Vec<u32>,
    contact: Contacts,
    fell_at_s: Option<f64>,
}

impl EpisodeTracker {
    pub fn start(sim: &Sim) -> EpisodeTracker {
        let p = sim.privileged();
        EpisodeTracker {
            started: Instant::now(),
            com_x: vec![p.com_x],
            com_vx: vec![p.com_vx],
            torso_x: vec![p.torso_x],
            all_contacts_closed: vec![p.foot_contact.iter().all(|&c| c)],
            touchdowns: vec![0],
            contact: p.foot_contact,
            fell_at_s: None,
        }
    }

    pub fn tick(&mut self, sim: &Sim) {
        let p = sim.privileged();
        self.com_x.push(p.com_x);
        self.com_vx.push(p.com_vx);
        self.torso_x.push(p.torso_x);
        self.all_contacts_closed.push(p.foot_contact.iter().all(|&c| c));
        if p.fallen && self.fell_at_s.is_none() {
            self.fell_at_s = Some(p.time_s);
        }
        let mut n = self.touchdowns.last().copied().unwrap_or(0);
        for (was, &now) in self.contact.iter_mut().zip(&p.foot_contact) {
            n += u32::from(now && !*was);
            *was = now;
        }
        self.touchdowns.push(n);
    }

    /// The summary; `steps` overrides the touchdown count (the expert counts its own).
    pub fn finish(
        self,
        sim: &Sim,
        scenario: &Scenario,
        seed: u64,
        opts: &RunOptions,
        steps: Option<u32>,
    ) -> RunSummary {
        let wall_s = self.started.elapsed().as_secs_f64();
        let touchdowns = self.touchdowns.last().copied().unwrap_or(0);
        let mut s = summarise(sim, scenario, seed, opts, &self.com_x, steps.unwrap_or(touchdowns), wall_s);
        let dt = sim.spec().control_dt_s();
        // The run may go on after the fall (a controller damps first): report when it fell,
        // and measure the tracking only up to then.
        s.fell_at_s = self.fell_at_s.or(s.fell_at_s);
        let upright = match s.fell_at_s {
            Some(t) => ((t / dt).round() as usize + 1).min(self.torso_x.len()),
            None => self.torso_x.len(),
        };
        s.position_error_m = position_tracking_error(&self.torso_x[..upright], dt, &opts.command);
        if opts.command.last() == 0.0 && s.fell_at_s.is_none() {
            (s.rest_after_s, s.steps_at_rest, s.rest_drift_m) = self.rest(dt, &opts.command);
        }
        s
    }

    /// After a schedule's final stop: how long after it the robot came to rest, the steps
    /// it took after that, and how far it drifted (all `None` if it never came to rest).
    fn rest(&self, dt: f64, command: &SpeedSchedule) -> (Option<f64>, Option<u32>, Option<f64>) {
        let stop_s = command.changes().last().map_or(0.0, |c| c.0);
        let hold = (REST_HOLD_S / dt).round() as usize;
        let still = |k: usize| self.all_contacts_closed[k] && self.com_vx[k].abs() < REST_SPEED_MPS;
        let from = (stop_s / dt).round() as usize;
        let n = self.torso_x.len();
        let Some(k) = (from..n.saturating_sub(hold)).find(|&k| (k..k + hold).all(still)) else {
            return (None, None, None);
        };
        let x = self.torso_x[k];
        let drift = self.torso_x[k..].iter().map(|v| (v - x).abs()).fold(0.0, f64::max);
        let steps = self.touchdowns[n - 1] - self.touchdowns[k];
        (Some(k as f64 * dt - stop_s), Some(steps), Some(drift))
    }
}

/// At rest: every contact closed and the centre of mass slower than this, m/s …
const REST_SPEED_MPS: f64 = 0.05;
/// … for this long, s.
const REST_HOLD_S: f64 = 0.5;

/// The position tracking error of "Humanoid Locomotion as Next Token Prediction"
/// (Radosavovic et al. 2024): `(1/T) Σ_t |x(t) − x*(t)|` over the ticks after the start,
/// where `x[k]` is the base x at `k·dt` and the ideal trajectory starts where the robot
/// does (`x*(0) = x[0]`) and moves at the commanded speed (`dx*/dt = command(t)`), m.
/// NaN for a trajectory without a tick.
pub fn position_tracking_error(x: &[f64], dt: f64, command: &SpeedSchedule) -> f64 {
    let Some((&x0, rest)) = x.split_first() else { return f64::NAN };
    if rest.is_empty() {
        return f64::NAN;
    }
    let total: f64 = rest
        .iter()
        .enumerate()
        .map(|(k, x)| (x - x0 - command.distance(0.0, (k + 1) as f64 * dt)).abs())
        .sum();
    total / rest.len() as f64
}

fn summarise(
    sim: &Sim,
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
    com_x: &[f64],
    steps: u32,
    wall_s: f64,
) -> RunSummary {
    let dt = sim.spec().control_dt_s();
    let state = sim.privileged();
    let seconds = state.time_s;
    let from = opts.steady_from();
    let window = [from, opts.seconds];
    let at = |t: f64| com_x.get((t / dt).round() as usize).copied();
    let mean_speed = match (at(window[0]), at(window[1])) {
        (Some(a), Some(b)) if window[1] > window[0] => (b - a) / (window[1] - window[0]),
        _ => f64::NAN,
    };
    let command_vx = opts.command.mean(window[0], window[1]);
    // Each 1-s window's speed against the window's mean command.
    let per_second: Vec<f64> = (0..)
        .map(|k| from + f64::from(k))
        .take_while(|t| t + 1.0 <= window[1] + 1e-9)
        .filter_map(|t| Some(at(t + 1.0)? - at(t)? - opts.command.mean(t, t + 1.0)))
        .collect();
    let tracking_rms = if per_second.is_empty() {
        f64::NAN
    } else {
        (per_second.iter().map(|e| e.powi(2)).sum::<f64>() / per_second.len() as f64).sqrt()
    };
    let physics_steps = sim.physics_steps();
    RunSummary {
        scenario: scenario.name.clone(),
        seed,
        command: opts.command.clone(),
        command_vx,
        seconds,
        distance_m: com_x.last().copied().unwrap_or(0.0) - com_x[0],
        steady_window_s: window,
        mean_speed_mps: mean_speed,
        speed_error_mps: mean_speed - command_vx,
        tracking_rms_mps: tracking_rms,
        position_error_m: f64::NAN,
        rest_after_s: None,
        steps_at_rest: None,
        rest_drift_m: None,
        fell: state.fallen,
        fell_at_s: state.fallen.then_some(seconds),
        steps,
        physics_steps,
        wall_s,
        physics_steps_per_s: physics_steps as f64 / wall_s.max(1e-9),
        realtime_factor: seconds / wall_s.max(1e-9),
        surprise: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_error_is_the_mean_distance_to_the_commanded_trajectory() {
        // 1 m/s for 1 s, then stop; ticks every 0.5 s, starting at x = 2.
        let command: SpeedSchedule = "1,0@1".parse().unwrap();
        let x = [2.0, 2.4, 3.1, 3.3, 2.8];
        // x* = 2, 2.5, 3, 3, 3: errors 0.1, 0.1, 0.3, 0.2 after the start.
        let e = position_tracking_error(&x, 0.5, &command);
        assert!((e - 0.175).abs() < 1e-12, "{e}");
    }

    #[test]
    fn position_error_integrates_a_change_between_ticks_exactly() {
        // Backward at 0.5 m/s from 0.25 s: at t = 0.5 s the command asked for 0.25 − 0.125.
        let command: SpeedSchedule = "1,-0.5@0.25".parse().unwrap();
        let e = position_tracking_error(&[0.0, 0.125], 0.5, &command);
        assert!(e.abs() < 1e-12, "{e}");
        assert!(position_tracking_error(&[1.0], 0.02, &command).is_nan());
    }
}

#[cfg(test)]
mod surprise_tests {
    use super::SurpriseOutcome;

    #[test]
    fn false_alarms_before_the_disturbance_and_the_delay_after_it() {
        // Ticks 0..10: one false alarm at 3; the disturbance at 6; surprising again at 8.
        let s: Vec<Option<f32>> = [
            None,
            Some(0.1),
            Some(0.2),
            Some(2.0),
            Some(0.1),
            None,
            Some(0.3),
            Some(0.5),
            Some(1.5),
            Some(0.2),
        ]
        .into();
        let o = SurpriseOutcome::of(&s, 1.0, 0, Some(6));
        let want = |clean_ticks, false_alarms, longest_false_streak, delay_ticks| SurpriseOutcome {
            clean_ticks,
            false_alarms,
            longest_false_streak,
            delay_ticks,
        };
        assert_eq!(o, want(4, 1, 1, Some(2)));
        assert_eq!(SurpriseOutcome::of(&s, 1.0, 0, None), want(8, 2, 1, None));
        assert_eq!(SurpriseOutcome::of(&s, 1.0, 4, Some(6)), want(1, 0, 0, Some(2)));
        assert_eq!(SurpriseOutcome::of(&s, 0.25, 0, None), want(8, 4, 3, None), "0.3, 0.5, 1.5 in a row");
        assert_eq!(SurpriseOutcome::of(&s, 5.0, 0, Some(6)).delay_ticks, None, "never detected");
    }
}
