//! Closed-loop episodes of the expert on the simulator, and their summary: distance, speed
//! against the command over the steady part, tracking error, falls, speed against real time.

use std::time::Instant;

use serde::Serialize;
use strider_robot::{Command, Observation, Plant, Sensors};

use crate::error::SimError;
use crate::expert::{Expert, ExpertParams, Leg};
use crate::scenario::Scenario;
use crate::simulator::Sim;

/// What to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOptions {
    /// Commanded forward speed, m/s (default 1.0).
    pub command_vx: f64,
    /// Episode length, s (default 20).
    pub seconds: f64,
    /// The steady part starts here, s (default 5, or half the episode if shorter than 10 s).
    pub steady_from_s: Option<f64>,
    /// The expert's parameters ([`run_expert`] only).
    pub expert: ExpertParams,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions { command_vx: 1.0, seconds: 20.0, steady_from_s: None, expert: ExpertParams::default() }
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
    /// m/s.
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
    pub fell: bool,
    pub fell_at_s: Option<f64>,
    /// Touchdowns.
    pub steps: u32,
    pub physics_steps: u64,
    /// Wall-clock seconds for the episode, from the reset on.
    pub wall_s: f64,
    pub physics_steps_per_s: f64,
    /// Simulated seconds per wall-clock second.
    pub realtime_factor: f64,
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
    let mut expert = Expert::new(sim.spec(), opts.expert, first);
    let dt = sim.spec().control_dt_s();
    let ticks = (opts.seconds / dt).round() as u64;
    let observation = Observation::new(sensors, opts.command_vx as f32);
    observe(TickView { sim, observation: &observation });
    for _ in 0..ticks {
        let observation = Observation::new(sensors, opts.command_vx as f32);
        let action = expert.act(&observation, sim.privileged_observed());
        let tick = sim.privileged().tick;
        sensors = sim
            .step(&Command::Track(action))
            .map_err(|e| SimError::Refused { tick, message: e.to_string() })?;
        tracker.tick(sim);
        let observation = Observation::new(sensors, opts.command_vx as f32);
        observe(TickView { sim, observation: &observation });
        if sim.privileged().fallen {
            break;
        }
    }
    let steps = expert.steps();
    Ok(tracker.finish(sim, scenario, seed, opts, Some(steps)))
}

/// What [`RunSummary`] reports, gathered tick by tick for any controller: call
/// [`EpisodeTracker::start`] right after the reset and [`EpisodeTracker::tick`] after
/// every control tick.
#[derive(Debug, Clone)]
pub struct EpisodeTracker {
    started: Instant,
    com_x: Vec<f64>,
    contact: [bool; 2],
    touchdowns: u32,
    fell_at_s: Option<f64>,
}

impl EpisodeTracker {
    pub fn start(sim: &Sim) -> EpisodeTracker {
        let p = sim.privileged();
        EpisodeTracker {
            started: Instant::now(),
            com_x: vec![p.com_x],
            contact: p.foot_contact,
            touchdowns: 0,
            fell_at_s: None,
        }
    }

    pub fn tick(&mut self, sim: &Sim) {
        let p = sim.privileged();
        self.com_x.push(p.com_x);
        if p.fallen && self.fell_at_s.is_none() {
            self.fell_at_s = Some(p.time_s);
        }
        for (was, now) in self.contact.iter_mut().zip(p.foot_contact) {
            self.touchdowns += u32::from(now && !*was);
            *was = now;
        }
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
        let mut s =
            summarise(sim, scenario, seed, opts, &self.com_x, steps.unwrap_or(self.touchdowns), wall_s);
        // The run may go on after the fall (a controller damps first): report when it fell.
        s.fell_at_s = self.fell_at_s.or(s.fell_at_s);
        s
    }
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
    let per_second: Vec<f64> = (0..)
        .map(|k| from + f64::from(k))
        .take_while(|t| t + 1.0 <= window[1] + 1e-9)
        .filter_map(|t| Some(at(t + 1.0)? - at(t)?))
        .collect();
    let tracking_rms = if per_second.is_empty() {
        f64::NAN
    } else {
        (per_second.iter().map(|v| (v - opts.command_vx).powi(2)).sum::<f64>() / per_second.len() as f64)
            .sqrt()
    };
    let physics_steps = sim.physics_steps();
    RunSummary {
        scenario: scenario.name.clone(),
        seed,
        command_vx: opts.command_vx,
        seconds,
        distance_m: com_x.last().copied().unwrap_or(0.0) - com_x[0],
        steady_window_s: window,
        mean_speed_mps: mean_speed,
        speed_error_mps: mean_speed - opts.command_vx,
        tracking_rms_mps: tracking_rms,
        fell: state.fallen,
        fell_at_s: state.fallen.then_some(seconds),
        steps,
        physics_steps,
        wall_s,
        physics_steps_per_s: physics_steps as f64 / wall_s.max(1e-9),
        realtime_factor: seconds / wall_s.max(1e-9),
    }
}
