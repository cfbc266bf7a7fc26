//! The control loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use strider_robot::{Action, Command, NUM_JOINTS, Observation, Plant, PlantError, RobotSpec, Sensors};

use crate::inference::InferenceThread;
use crate::metrics::{LatencyStats, Percentiles};
use crate::pilot::Pilot;
use crate::safety::{Envelope, Mode, SafetyConfig};

/// One run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Control ticks to run (homing and damping included).
    pub ticks: u64,
    /// Pace ticks at the robot's control rate against the wall clock, with an inference
    /// budget per tick. Off (the simulator as fast as it goes): every tick waits for its
    /// action, so a run is deterministic.
    pub realtime: bool,
    /// Commanded forward speed over the run's time, m/s (the observation's `command_vx`).
    pub command: strider_robot::SpeedSchedule,
}

/// Why a run ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Ending {
    /// All ticks ran.
    Completed,
    /// The torso pitched past the fall limit at `tick`; the controller damped.
    Fell { tick: u64 },
    /// `tick` was the last of too many consecutive ticks without a usable action.
    Misses { tick: u64, last_error: String },
    /// The stop flag was raised (Ctrl-C) at `tick`.
    Stopped { tick: u64 },
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub ending: Ending,
    pub ticks: u64,
    pub homing_ticks: u64,
    pub running_ticks: u64,
    pub damping_ticks: u64,
    /// Running ticks that held the last command because the action was late, non-finite
    /// or an error.
    pub missed_ticks: u64,
    /// Running ticks where the per-tick rate clamp changed the pilot's action.
    pub rate_clamped_ticks: u64,
    /// Running ticks where a joint-limit clamp changed it (a target just past a limit
    /// is common and harmless: the joint stops there either way).
    pub limit_clamped_ticks: u64,
    /// Ticks that started more than a period after their deadline (real time only).
    pub overruns: u64,
    /// Time the pilot spent per action.
    pub policy_latency: Percentiles,
    /// How late each tick started against its absolute deadline (real time only).
    pub jitter: Percentiles,
}

impl Ending {
    /// `completed`, `fell`, `misses` or `stopped`, with the tick where it applies.
    fn describe(&self) -> String {
        match self {
            Ending::Completed => "completed".into(),
            Ending::Fell { tick } => format!("fell (tick {tick})"),
            Ending::Misses { tick, last_error } => format!("misses (tick {tick}: {last_error})"),
            Ending::Stopped { tick } => format!("stopped (tick {tick})"),
        }
    }
}

/// The report as the CLI prints it: aligned lines, jitter only for a real-time run.
impl std::fmt::Display for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "control    {} ticks: {} homing, {} running, {} damping; {} missed; clamped: {} rate, {} joint limit; ended: {}",
            self.ticks,
            self.homing_ticks,
            self.running_ticks,
            self.damping_ticks,
            self.missed_ticks,
            self.rate_clamped_ticks,
            self.limit_clamped_ticks,
            self.ending.describe(),
        )?;
        let l = &self.policy_latency;
        writeln!(
            f,
            "policy     p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs per action",
            l.p50_us, l.p99_us, l.max_us
        )?;
        if self.jitter.count > 0 {
            let j = &self.jitter;
            writeln!(
                f,
                "jitter     p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs late; {} overruns",
                j.p50_us, j.p99_us, j.max_us, self.overruns
            )?;
        }
        Ok(())
    }
}

/// One tick, as the observer sees it.
#[derive(Debug, Clone, Copy)]
pub struct TickEvent<'a> {
    pub tick: u64,
    pub mode: Mode,
    /// What the pilot saw (the sensors before the command, and the speed command).
    pub observation: &'a Observation,
    /// The pilot's action this tick, before the envelope; `None` if missed or not running.
    pub action: Option<&'a Action>,
    /// What was sent to the plant.
    pub command: &'a Command,
    /// The sensors the plant returned after the command.
    pub sensors: &'a Sensors,
    pub policy_latency: Option<Duration>,
    /// A running tick that held the last command instead of an action.
    pub missed: bool,
    /// When the tick started, since the run began.
    pub started: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error("plant refused tick {tick} in mode {mode:?}: {source}")]
    Plant {
        tick: u64,
        mode: Mode,
        #[source]
        source: PlantError,
    },
}

/// The loop's state between runs: the pilot's thread and the envelope.
pub struct Controller {
    spec: RobotSpec,
    safety: SafetyConfig,
    envelope: Envelope,
    inference: InferenceThread,
}

impl Controller {
    pub fn new<P: Pilot>(spec: &RobotSpec, pilot: P, safety: SafetyConfig) -> Controller {
        Controller {
            envelope: Envelope::new(spec, &safety),
            spec: spec.clone(),
            safety,
            inference: InferenceThread::spawn(pilot),
        }
    }

    /// Runs one episode on `plant`, whose latest measurement is `first`: homing (skipped if
    /// already at the default pose), then the pilot, then damping after a fall, too many
    /// misses or `stop`. `observe` sees every tick with the plant after its step.
    pub fn run<P: Plant>(
        &mut self,
        plant: &mut P,
        first: Sensors,
        cfg: &RunConfig,
        stop: &AtomicBool,
        mut observe: impl FnMut(&TickEvent<'_>, &P),
    ) -> Result<RunReport, ControllerError> {
        let period = Duration::from_secs_f64(self.spec.control_dt_s());
        let budget = period.mul_f64(self.safety.inference_budget.clamp(0.0, 1.0));
        let home: [f32; NUM_JOINTS] = self.spec.default_pose_rad().map(|q| q as f32);
        let homing_ticks = if at_pose(&first, &home, self.safety.at_pose_rad) {
            0
        } else {
            (self.safety.homing_s / self.spec.control_dt_s()).round().max(1.0) as u64
        };
        let damp_ticks = (self.safety.damp_s / self.spec.control_dt_s()).round() as u64;
        let from = first.joint_pos;
        self.inference.reset();

        let mut sensors = first;
        let mut last = Action { joint_target: from };
        let mut mode = if homing_ticks > 0 { Mode::Homing } else { Mode::Running };
        let mut ending = Ending::Completed;
        let mut damp_until = u64::MAX;
        let mut misses_in_a_row = 0u32;
        let (mut latency, mut jitter) = (LatencyStats::default(), LatencyStats::default());
        let mut r = RunReport {
            ending: Ending::Completed,
            ticks: 0,
            homing_ticks: 0,
            running_ticks: 0,
            damping_ticks: 0,
            missed_ticks: 0,
            rate_clamped_ticks: 0,
            limit_clamped_ticks: 0,
            overruns: 0,
            policy_latency: Percentiles::default(),
            jitter: Percentiles::default(),
        };
        let start = Instant::now();
        for tick in 0..cfg.ticks {
            let due = start + period * tick as u32;
            if cfg.realtime {
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let late = Instant::now().saturating_duration_since(due);
                jitter.record(late);
                r.overruns += u64::from(late > period);
            }
            if mode != Mode::Damping && stop.load(Ordering::Relaxed) {
                (mode, ending, damp_until) = (Mode::Damping, Ending::Stopped { tick }, tick + damp_ticks);
            }
            if mode == Mode::Running && sensors.torso_pitch.abs() > self.safety.fall_pitch_rad {
                (mode, ending, damp_until) = (Mode::Damping, Ending::Fell { tick }, tick + damp_ticks);
            }
            if mode == Mode::Damping && tick >= damp_until {
                break;
            }
            let started = start.elapsed();
            let observation = Observation::new(sensors, cfg.command.at(tick as f64 * period.as_secs_f64()));
            let mut action = None;
            let mut missed = false;
            let mut policy_latency = None;
            let command = match mode {
                Mode::Homing => {
                    let s = ((tick + 1) as f32 / homing_ticks as f32).min(1.0);
                    last =
                        Action { joint_target: std::array::from_fn(|i| from[i] + s * (home[i] - from[i])) };
                    if tick + 1 >= homing_ticks {
                        mode = Mode::Running;
                    }
                    r.homing_ticks += 1;
                    Command::Track(last)
                }
                Mode::Running => {
                    self.inference.request(tick, observation);
                    let deadline = cfg.realtime.then(|| due + budget);
                    let usable = match self.inference.reply(tick, deadline) {
                        Some(reply) => {
                            latency.record(reply.latency);
                            policy_latency = Some(reply.latency);
                            match reply.result {
                                Ok(a) => {
                                    action = Some(a);
                                    self.envelope
                                        .apply(&a, &last)
                                        .ok_or_else(|| "non-finite action".to_string())
                                }
                                Err(e) => Err(e),
                            }
                        }
                        None => Err(format!("no action within {} µs", budget.as_micros())),
                    };
                    r.running_ticks += 1;
                    match usable {
                        Ok((a, clamped)) => {
                            misses_in_a_row = 0;
                            r.rate_clamped_ticks += u64::from(clamped.rate);
                            r.limit_clamped_ticks += u64::from(clamped.limit);
                            last = a;
                        }
                        Err(e) => {
                            missed = true;
                            misses_in_a_row += 1;
                            r.missed_ticks += 1;
                            if misses_in_a_row >= self.safety.max_consecutive_misses {
                                (mode, ending, damp_until) = (
                                    Mode::Damping,
                                    Ending::Misses { tick, last_error: e },
                                    tick + damp_ticks,
                                );
                            }
                        }
                    }
                    if mode == Mode::Damping { Command::Damp } else { Command::Track(last) }
                }
                Mode::Damping => Command::Damp,
            };
            r.damping_ticks += u64::from(command == Command::Damp);
            sensors = plant.step(&command).map_err(|source| ControllerError::Plant { tick, mode, source })?;
            r.ticks += 1;
            observe(
                &TickEvent {
                    tick,
                    mode,
                    observation: &observation,
                    action: action.as_ref(),
                    command: &command,
                    sensors: &sensors,
                    policy_latency,
                    missed,
                    started,
                },
                plant,
            );
        }
        r.ending = ending;
        r.policy_latency = latency.percentiles();
        r.jitter = jitter.percentiles();
        Ok(r)
    }
}

fn at_pose(s: &Sensors, home: &[f32; NUM_JOINTS], tol: f32) -> bool {
    s.joint_pos.iter().zip(home).all(|(q, h)| (q - h).abs() <= tol)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strider_sim::{Scenario, Sim, SimConfig};

    /// Holds a fixed pose, or answers with a fixed result, optionally slowly.
    struct Fixed {
        answer: Result<Action, String>,
        delay: Duration,
    }

    impl Pilot for Fixed {
        fn reset(&mut self) {}
        fn act(&mut self, _: &Observation) -> Result<Action, String> {
            std::thread::sleep(self.delay);
            self.answer.clone()
        }
    }

    fn home(spec: &RobotSpec) -> Action {
        Action { joint_target: spec.default_pose_rad().map(|q| q as f32) }
    }

    fn sim() -> (Sim, Sensors) {
        let mut sim = Sim::new(RobotSpec::reference(), SimConfig::default()).unwrap();
        let first = sim.reset(3, &Scenario::default()).unwrap();
        (sim, first)
    }

    fn run_with(pilot: Fixed, ticks: u64, realtime: bool) -> (RunReport, Vec<(Mode, Command)>) {
        let (mut sim, first) = sim();
        let spec = RobotSpec::reference();
        let mut c = Controller::new(&spec, pilot, SafetyConfig::default());
        let mut seen = vec![];
        let cfg = RunConfig { ticks, realtime, command: 0.0f32.into() };
        let report = c
            .run(&mut sim, first, &cfg, &AtomicBool::new(false), |e, _| seen.push((e.mode, *e.command)))
            .unwrap();
        (report, seen)
    }

    #[test]
    fn a_pilot_that_holds_the_pose_runs_to_the_end_without_homing() {
        let spec = RobotSpec::reference();
        let (r, seen) = run_with(Fixed { answer: Ok(home(&spec)), delay: Duration::ZERO }, 100, false);
        assert_eq!(r.ending, Ending::Completed);
        assert_eq!((r.homing_ticks, r.running_ticks, r.missed_ticks), (0, 100, 0), "{r:?}");
        assert_eq!(r.policy_latency.count, 100);
        assert!(seen.iter().all(|(m, c)| *m == Mode::Running && *c == Command::Track(home(&spec))));
    }

    #[test]
    fn non_finite_actions_are_never_sent_and_end_in_damping() {
        let spec = RobotSpec::reference();
        let mut nan = home(&spec);
        nan.joint_target[2] = f32::NAN;
        let (r, seen) = run_with(Fixed { answer: Ok(nan), delay: Duration::ZERO }, 500, false);
        let max = SafetyConfig::default().max_consecutive_misses as u64;
        assert!(matches!(r.ending, Ending::Misses { tick, .. } if tick == max - 1), "{r:?}");
        assert_eq!(r.missed_ticks, max);
        // Every missed tick before the limit held the last safe command (the start pose).
        assert!(seen[..max as usize - 1].iter().all(|(_, c)| *c == Command::Track(home(&spec))));
        assert!(seen[max as usize - 1..].iter().all(|(_, c)| *c == Command::Damp));
        assert_eq!(r.damping_ticks, 50, "one second of damping at 50 Hz, from the tick of the fault");
        assert_eq!(seen.len() as u64, max - 1 + 50);
    }

    #[test]
    fn a_fall_is_detected_and_damped() {
        let spec = RobotSpec::reference();
        // Knees straight and hips thrown back: the biped topples.
        let mut bad = home(&spec);
        bad.joint_target = [-1.0, 0.0, 0.0, -1.0, 0.0, 0.0];
        let (r, seen) = run_with(Fixed { answer: Ok(bad), delay: Duration::ZERO }, 1500, false);
        let Ending::Fell { tick } = r.ending else { panic!("expected a fall: {r:?}") };
        assert!(seen[tick as usize..].iter().all(|(m, c)| *m == Mode::Damping && *c == Command::Damp));
    }

    #[test]
    fn in_real_time_a_slow_pilot_misses_ticks_and_its_late_actions_are_not_applied() {
        let spec = RobotSpec::reference();
        let mut other = home(&spec);
        other.joint_target[0] += 0.1;
        // 15 ms per action against a 10 ms budget (half of the 20 ms tick).
        let (r, seen) = run_with(Fixed { answer: Ok(other), delay: Duration::from_millis(15) }, 4, true);
        assert_eq!(r.missed_ticks, 4, "{r:?}");
        assert!(seen.iter().all(|(_, c)| *c == Command::Track(home(&spec))), "a late action was applied");
        assert_eq!(r.jitter.count, 4);
    }

    #[test]
    fn stop_flag_damps_then_ends() {
        let spec = RobotSpec::reference();
        let (mut sim, first) = sim();
        let mut c = Controller::new(
            &spec,
            Fixed { answer: Ok(home(&spec)), delay: Duration::ZERO },
            SafetyConfig::default(),
        );
        let stop = AtomicBool::new(false);
        let cfg = RunConfig { ticks: 1000, realtime: false, command: 0.0f32.into() };
        let r = c
            .run(&mut sim, first, &cfg, &stop, |e, _| {
                if e.tick == 9 {
                    stop.store(true, Ordering::Relaxed);
                }
            })
            .unwrap();
        assert_eq!(r.ending, Ending::Stopped { tick: 10 });
        assert_eq!((r.running_ticks, r.damping_ticks), (10, 50));
    }
}
