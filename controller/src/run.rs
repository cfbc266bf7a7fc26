//! The control loop: pacing, the pilot's thread and the plant around the
//! [`Supervisor`](crate::supervisor::Supervisor)'s decisions.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use strider_robot::{Action, Command, Observation, Plant, PlantError, RobotSpec, Sensors};

use crate::inference::InferenceThread;
use crate::metrics::{LatencyStats, Percentiles};
use crate::pacing::Pacer;
use crate::pilot::Pilot;
use crate::safety::{Mode, SafetyConfig};
use crate::supervisor::{Operator, Plan, Supervisor};

/// One run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunConfig {
    /// Control ticks to run (homing included) before the run completes.
    pub ticks: u64,
    /// Pace ticks at the robot's control rate against the wall clock, with an inference
    /// budget per tick. Off (the simulator as fast as it goes): every tick waits for its
    /// action, so a run is deterministic.
    pub realtime: bool,
    /// Commanded forward speed over the run's time, m/s (the observation's `command_vx`).
    pub command: strider_robot::SpeedSchedule,
    /// When the ticks run out: damp, then disarm once the robot is at rest (a robot), or
    /// end right there (a simulation whose walk is being measured).
    pub wind_down: bool,
}

/// The operator's stop button (Ctrl-C): the first press damps and disarms once the robot
/// is at rest; a second press disarms at once.
#[derive(Debug, Default)]
pub struct Stop(AtomicU8);

impl Stop {
    pub fn press(&self) {
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_add(1)));
    }

    fn operator(&self) -> Operator {
        match self.0.load(Ordering::Relaxed) {
            0 => Operator::Carry,
            1 => Operator::Stop,
            _ => Operator::Disarm,
        }
    }
}

/// The operator's live speed command (the keyboard of `strider sim --realtime` and
/// `strider deploy`): once set, it replaces the run's schedule from the next tick on.
#[derive(Debug)]
pub struct Throttle(AtomicU64);

impl Default for Throttle {
    fn default() -> Throttle {
        Throttle(AtomicU64::new(f64::NAN.to_bits()))
    }
}

impl Throttle {
    /// Commands `speed_mps` from the next tick on; a non-finite value is ignored.
    pub fn set(&self, speed_mps: f64) {
        if speed_mps.is_finite() {
            self.0.store(speed_mps.to_bits(), Ordering::Relaxed);
        }
    }

    /// The live command, once one was set.
    pub fn get(&self) -> Option<f64> {
        Some(f64::from_bits(self.0.load(Ordering::Relaxed))).filter(|v| v.is_finite())
    }
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
    /// The operator stopped the run at `tick`.
    Stopped { tick: u64 },
    /// The link gave no measurement for `silent_s` (the give-up time) by `tick`.
    LinkLost { tick: u64, silent_s: f64 },
    /// A safety-relevant measurement (`field`) stayed implausible for too many ticks.
    Implausible { tick: u64, field: String },
    /// After a reconnect another robot answered; it was never commanded.
    Refused { tick: u64, why: String },
    /// The pilot was surprised (above its model's threshold) for `ticks` ticks in a row,
    /// the limit `SafetyConfig::damp_after_surprising_ticks` set.
    Surprised { tick: u64, ticks: u32 },
}

impl Ending {
    /// True when the run did what was asked: it completed, or the operator stopped it.
    pub fn is_success(&self) -> bool {
        matches!(self, Ending::Completed | Ending::Stopped { .. })
    }
}

/// `completed`, `fell (tick 12)`, …
impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Completed => write!(f, "completed"),
            Ending::Fell { tick } => write!(f, "fell (tick {tick})"),
            Ending::Misses { tick, last_error } => write!(f, "misses (tick {tick}: {last_error})"),
            Ending::Stopped { tick } => write!(f, "stopped (tick {tick})"),
            Ending::LinkLost { tick, silent_s } => {
                write!(f, "link lost (tick {tick}: silent {silent_s:.1} s)")
            }
            Ending::Implausible { tick, field } => write!(f, "implausible {field} (tick {tick})"),
            Ending::Refused { tick, why } => write!(f, "refused (tick {tick}: {why})"),
            Ending::Surprised { tick, ticks } => write!(f, "surprised {ticks} ticks in a row (tick {tick})"),
        }
    }
}

/// How many ticks a measured field was implausible (and masked as `[M]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldCount {
    pub field: String,
    pub ticks: u64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunReport {
    pub ending: Ending,
    pub ticks: u64,
    pub homing_ticks: u64,
    pub running_ticks: u64,
    /// Ticks spent damping while the link came back (or the robot recovered).
    pub recovering_ticks: u64,
    pub damping_ticks: u64,
    /// Running ticks that held the last command because the action was late, non-finite
    /// or an error.
    pub missed_ticks: u64,
    /// Running ticks where the per-tick rate clamp changed the pilot's action.
    pub rate_clamped_ticks: u64,
    /// Running ticks where a joint-limit clamp changed it (a target just past a limit
    /// is common and harmless: the joint stops there either way).
    pub limit_clamped_ticks: u64,
    /// Ticks whose plant step gave no measurement (a lost or corrupt frame, a silent or
    /// disconnected robot).
    pub lost_ticks: u64,
    /// Ticks that held the last command through a silence shorter than the hold time.
    pub held_ticks: u64,
    /// Silences ridden through without damping.
    pub holds: u64,
    /// Times the controller damped for a lost link or a robot that left Run by itself.
    pub recoveries: u64,
    /// Times it homed again and resumed after one.
    pub resumes: u64,
    /// Measured fields the plausibility screen masked, with how often.
    pub implausible: Vec<FieldCount>,
    /// The last error the plant reported, if any.
    pub last_plant_error: Option<String>,
    /// The run ended with the robot disarmed (the plant acknowledged the Disarm).
    pub disarmed: bool,
    /// Ticks that started more than a period after their deadline (real time only).
    pub overruns: u64,
    /// Time the pilot spent per action.
    pub policy_latency: Percentiles,
    /// How late each tick started against its absolute deadline (real time only).
    pub jitter: Percentiles,
    /// How surprised the pilot was by what it measured.
    pub surprise: SurpriseReport,
}

/// The pilot's surprise over a run (docs/CONTROLLER.md, "Surprise").
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SurpriseReport {
    /// The model's calibrated threshold; `None`: no tick is called surprising.
    pub threshold: Option<f32>,
    /// Running ticks with a surprise value.
    pub ticks: u64,
    /// Of those, the ticks above the threshold.
    pub surprising: u64,
    /// The first surprising tick.
    pub first_surprising_tick: Option<u64>,
    /// The longest run of consecutive surprising ticks.
    pub longest_streak: u32,
    /// The largest surprise, and its tick.
    pub max: Option<(f32, u64)>,
}

impl Default for RunReport {
    fn default() -> RunReport {
        RunReport {
            ending: Ending::Completed,
            ticks: 0,
            homing_ticks: 0,
            running_ticks: 0,
            recovering_ticks: 0,
            damping_ticks: 0,
            missed_ticks: 0,
            rate_clamped_ticks: 0,
            limit_clamped_ticks: 0,
            lost_ticks: 0,
            held_ticks: 0,
            holds: 0,
            recoveries: 0,
            resumes: 0,
            implausible: Vec::new(),
            last_plant_error: None,
            disarmed: false,
            overruns: 0,
            policy_latency: Percentiles::default(),
            jitter: Percentiles::default(),
            surprise: SurpriseReport::default(),
        }
    }
}

/// The report as the CLI prints it: aligned lines; link and sensor lines only when
/// something happened, jitter only for a real-time run.
impl std::fmt::Display for RunReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "control    {} ticks: {} homing, {} running, {} recovering, {} damping; {} missed; clamped: {} rate, {} joint limit; ended: {}{}",
            self.ticks,
            self.homing_ticks,
            self.running_ticks,
            self.recovering_ticks,
            self.damping_ticks,
            self.missed_ticks,
            self.rate_clamped_ticks,
            self.limit_clamped_ticks,
            self.ending,
            if self.disarmed { ", disarmed" } else { "" },
        )?;
        if self.lost_ticks > 0 {
            writeln!(
                f,
                "faults     {} ticks without a measurement: {} held through {} silences, {} recoveries ({} resumed); last: {}",
                self.lost_ticks,
                self.held_ticks,
                self.holds,
                self.recoveries,
                self.resumes,
                self.last_plant_error.as_deref().unwrap_or("-"),
            )?;
        }
        if !self.implausible.is_empty() {
            let fields: Vec<String> =
                self.implausible.iter().map(|c| format!("{} ×{}", c.field, c.ticks)).collect();
            writeln!(f, "sensors    implausible, masked: {}", fields.join(", "))?;
        }
        let l = &self.policy_latency;
        writeln!(
            f,
            "policy     p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs per action",
            l.p50_us, l.p99_us, l.max_us
        )?;
        let su = &self.surprise;
        if let Some((max, at)) = su.max {
            match su.threshold {
                Some(t) => writeln!(
                    f,
                    "surprise   {} of {} ticks above the model's threshold {t:.2} (longest {} in a row{}); max {max:.2} at tick {at}",
                    su.surprising,
                    su.ticks,
                    su.longest_streak,
                    su.first_surprising_tick.map_or(String::new(), |t| format!(", first at tick {t}")),
                )?,
                None => writeln!(
                    f,
                    "surprise   max {max:.2} at tick {at} over {} ticks; the model has no calibrated threshold",
                    su.ticks
                )?,
            }
        }
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
    /// What the pilot saw (or would have): the screened sensors — implausible fields, and
    /// every sensor field of a tick without a measurement, are NaN (`[M]`) — and the command.
    pub observation: &'a Observation,
    /// The pilot's action this tick, before the envelope; `None` if missed or not running.
    pub action: Option<&'a Action>,
    /// What was sent to the plant.
    pub command: &'a Command,
    pub policy_latency: Option<Duration>,
    /// The pilot's surprise at this tick's observation, if it gave one.
    pub surprise: Option<f32>,
    /// A running tick that held the last command instead of an action.
    pub missed: bool,
    /// When the tick started, since the run began.
    pub started: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// The first measurement is not a pose the robot can be homed from; nothing was sent.
    #[error("{0}")]
    ImplausibleStart(String),
}

/// The loop's state between runs: the pilot's thread and the limits.
pub struct Controller {
    spec: RobotSpec,
    safety: SafetyConfig,
    inference: InferenceThread,
    throttle: Option<Arc<Throttle>>,
    /// The pilot's [`Pilot::surprise_threshold`].
    surprise_threshold: Option<f32>,
}

impl Controller {
    pub fn new<P: Pilot>(spec: &RobotSpec, pilot: P, safety: SafetyConfig) -> Controller {
        Controller {
            spec: spec.clone(),
            safety,
            surprise_threshold: pilot.surprise_threshold(),
            inference: InferenceThread::spawn(pilot),
            throttle: None,
        }
    }

    /// Takes the speed command from `throttle` once the operator set it, instead of the
    /// run's schedule.
    pub fn follow(&mut self, throttle: Arc<Throttle>) {
        self.throttle = Some(throttle);
    }

    /// Runs one episode on `plant`, whose latest measurement is `first`: homing (skipped if
    /// already at the default pose), then the pilot, riding through short link silences and
    /// recovering from long ones, then damping after a fall, too many misses, implausible
    /// sensors or a stop, and disarming once the robot is at rest. `observe` sees every
    /// tick with the plant after its step. Refuses, before sending anything, to start from
    /// an implausible pose.
    pub fn run<P: Plant>(
        &mut self,
        plant: &mut P,
        first: Sensors,
        cfg: &RunConfig,
        stop: &Stop,
        mut observe: impl FnMut(&TickEvent<'_>, &P),
    ) -> Result<RunReport, ControllerError> {
        let mut sup = Supervisor::new(&self.spec, &self.safety, &first, cfg.ticks, cfg.wind_down)
            .map_err(ControllerError::ImplausibleStart)?;
        sup.report.surprise.threshold = self.surprise_threshold;
        let period = Duration::from_secs_f64(self.spec.control_dt_s());
        let budget = period.mul_f64(self.safety.inference_budget.clamp(0.0, 1.0));
        let (mut latency, mut jitter) = (LatencyStats::default(), LatencyStats::default());
        let (mut ticks, mut overruns) = (0, 0);
        let mut measurement: Result<Sensors, PlantError> = Ok(first);
        let pacer = Pacer::start(period);
        for tick in 0.. {
            let due = if cfg.realtime { pacer.wait(tick) } else { pacer.due(tick) };
            let started = pacer.elapsed();
            let command_vx = match self.throttle.as_ref().and_then(|t| t.get()) {
                Some(live) => live as f32,
                None => cfg.command.at(tick as f64 * period.as_secs_f64()),
            };
            let plan = sup.begin(tick, measurement.as_ref(), stop.operator(), command_vx);
            if cfg.realtime && plan != Plan::End {
                let late = Instant::now().saturating_duration_since(due);
                jitter.record(late);
                overruns += u64::from(late > period);
            }
            let observation = sup.observation(command_vx);
            let (mut action, mut missed, mut policy_latency, mut surprise) = (None, false, None, None);
            let command = match plan {
                Plan::End => break,
                Plan::Send(command) => {
                    self.inference.pass();
                    command
                }
                Plan::Ask { obs, reset } => {
                    if reset {
                        self.inference.reset();
                    }
                    self.inference.request(tick, obs);
                    let deadline = cfg.realtime.then(|| due + budget);
                    let answer = match self.inference.reply(tick, deadline) {
                        Some(reply) => {
                            latency.record(reply.latency);
                            policy_latency = Some(reply.latency);
                            action = reply.result.as_ref().ok().map(|d| d.action);
                            surprise = reply.result.as_ref().ok().and_then(|d| d.surprise);
                            reply.result
                        }
                        None => Err(format!("no action within {} µs", budget.as_micros())),
                    };
                    missed = answer.is_err() || !action.is_some_and(|a| a.is_finite());
                    sup.decide(tick, answer)
                }
            };
            if sup.mode == Mode::Damping && command == Command::Damp {
                sup.report.damping_ticks += 1;
            }
            measurement = plant.step(&command);
            ticks += 1;
            observe(
                &TickEvent {
                    tick,
                    mode: sup.mode,
                    observation: &observation,
                    action: action.as_ref(),
                    command: &command,
                    policy_latency,
                    surprise,
                    missed,
                    started,
                },
                plant,
            );
        }
        let mut r = sup.finish();
        r.ticks = ticks;
        r.overruns = overruns;
        r.policy_latency = latency.percentiles();
        r.jitter = jitter.percentiles();
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pilot::Decision;
    use strider_sim::{Scenario, Sim, SimConfig, StartPush};

    /// Holds a fixed pose, or answers with a fixed result, optionally slowly.
    struct Fixed {
        answer: Result<Action, String>,
        delay: Duration,
    }

    impl Pilot for Fixed {
        fn reset(&mut self) {}
        fn act(&mut self, _: &Observation) -> Result<Decision, String> {
            std::thread::sleep(self.delay);
            self.answer.clone().map(Decision::from)
        }
    }

    fn home(spec: &RobotSpec) -> Action {
        spec.default_action()
    }

    fn hold_home() -> Fixed {
        Fixed { answer: Ok(home(&RobotSpec::reference())), delay: Duration::ZERO }
    }

    /// The simulated biped standing on flat ground, without the default start push (the
    /// pilots here only hold the pose).
    fn sim() -> (Sim, Sensors) {
        let mut sim = Sim::new(RobotSpec::reference(), SimConfig::default()).unwrap();
        let still = Scenario {
            start_push: StartPush { max_force_n: 0.0, ..StartPush::default() },
            ..Scenario::default()
        };
        let first = sim.reset(3, &still).unwrap();
        (sim, first)
    }

    /// The real simulator behind a link that fails the way `fault` says at each tick:
    /// an error instead of the measurement, or the measurement altered.
    struct Faulty<F: FnMut(u64, Sensors) -> Result<Sensors, PlantError>> {
        sim: Sim,
        tick: u64,
        fault: F,
    }

    impl<F: FnMut(u64, Sensors) -> Result<Sensors, PlantError>> Plant for Faulty<F> {
        fn spec(&self) -> &RobotSpec {
            self.sim.spec()
        }
        fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
            let s = self.sim.step(command)?;
            self.tick += 1;
            (self.fault)(self.tick - 1, s)
        }
    }

    /// Holds the default pose and reports a surprise of 3.0 on its calls 50–59 (ticks 50–59:
    /// the robot starts at the pose, so there is no homing), 0.5 otherwise, against a
    /// threshold of 1.0.
    struct Surprised(u64);

    impl Pilot for Surprised {
        fn reset(&mut self) {
            self.0 = 0;
        }
        fn act(&mut self, _: &Observation) -> Result<Decision, String> {
            let surprise = if (50..60).contains(&self.0) { 3.0 } else { 0.5 };
            self.0 += 1;
            Ok(Decision { action: home(&RobotSpec::reference()), surprise: Some(surprise) })
        }
        fn surprise_threshold(&self) -> Option<f32> {
            Some(1.0)
        }
    }

    /// Surprise is counted and shown to the observer every tick; it damps the run only when
    /// asked to, after that many surprising ticks in a row.
    #[test]
    fn surprise_is_reported_and_damps_only_when_asked() {
        let spec = RobotSpec::reference();
        let cfg = RunConfig { ticks: 100, realtime: false, command: 0.0f32.into(), wind_down: false };
        let run = |safety: SafetyConfig| {
            let (mut sim, first) = sim();
            let mut c = Controller::new(&spec, Surprised(0), safety);
            let mut logged = vec![];
            let r = c.run(&mut sim, first, &cfg, &Stop::default(), |e, _| logged.push(e.surprise)).unwrap();
            (r, logged)
        };
        let (r, logged) = run(SafetyConfig::default());
        assert_eq!(r.ending, Ending::Completed, "reported, never acted on by default");
        let s = &r.surprise;
        assert_eq!((s.threshold, s.ticks, s.surprising), (Some(1.0), 100, 10));
        assert_eq!((s.first_surprising_tick, s.longest_streak, s.max), (Some(50), 10, Some((3.0, 50))));
        assert_eq!(logged[49..51], [Some(0.5), Some(3.0)], "the observer sees each tick's value");

        let (r, _) = run(SafetyConfig { damp_after_surprising_ticks: Some(4), ..SafetyConfig::default() });
        assert_eq!(r.ending, Ending::Surprised { tick: 53, ticks: 4 });
        assert!(r.damping_ticks > 0);
    }

    /// The operator's live command replaces the schedule from the tick after it is set.
    #[test]
    fn a_live_speed_command_replaces_the_schedule_from_the_next_tick() {
        let (mut sim, first) = sim();
        let spec = RobotSpec::reference();
        let mut c = Controller::new(&spec, hold_home(), SafetyConfig::default());
        let throttle = Arc::new(Throttle::default());
        c.follow(throttle.clone());
        let cfg = RunConfig { ticks: 20, realtime: false, command: 0.6f32.into(), wind_down: false };
        let mut seen = vec![];
        c.run(&mut sim, first, &cfg, &Stop::default(), |e, _| {
            seen.push(e.observation.command[0]);
            if e.tick == 9 {
                throttle.set(-0.3);
                throttle.set(f64::NAN);
            }
        })
        .unwrap();
        assert_eq!(seen.len(), 20);
        assert!(seen[..10].iter().all(|&v| v == 0.6), "{seen:?}");
        assert!(seen[10..].iter().all(|&v| v == -0.3), "{seen:?}");
    }

    fn lost() -> PlantError {
        PlantError::Timeout { waited_ms: 8, limit_ms: 8 }
    }

    fn run_on<P: Plant>(
        plant: &mut P,
        first: Sensors,
        pilot: Fixed,
        cfg: RunConfig,
    ) -> (RunReport, Vec<(Mode, Command)>) {
        let spec = RobotSpec::reference();
        let mut c = Controller::new(&spec, pilot, SafetyConfig::default());
        let mut seen = vec![];
        let report =
            c.run(plant, first, &cfg, &Stop::default(), |e, _| seen.push((e.mode, *e.command))).unwrap();
        (report, seen)
    }

    fn cfg(ticks: u64) -> RunConfig {
        RunConfig { ticks, realtime: false, command: 0.0f32.into(), wind_down: false }
    }

    fn run_with(pilot: Fixed, ticks: u64, realtime: bool) -> (RunReport, Vec<(Mode, Command)>) {
        let (mut sim, first) = sim();
        run_on(&mut sim, first, pilot, RunConfig { realtime, ..cfg(ticks) })
    }

    /// After the ending's tick: damping until at rest (at least `damp_s`), then one Disarm.
    fn damped_then_disarmed(r: &RunReport, after: &[(Mode, Command)]) {
        let (last, damping) = after.split_last().expect("ticks after the fault");
        assert!(damping.iter().all(|(m, c)| *m == Mode::Damping && *c == Command::Damp), "{damping:?}");
        assert_eq!(last.1, Command::Disarm, "disarmed once at rest");
        assert!(r.disarmed && damping.len() >= 50, "{r:?}");
    }

    #[test]
    fn a_pilot_that_holds_the_pose_runs_to_the_end_without_homing() {
        let spec = RobotSpec::reference();
        let (r, seen) = run_with(hold_home(), 100, false);
        assert_eq!(r.ending, Ending::Completed);
        assert_eq!((r.homing_ticks, r.running_ticks, r.missed_ticks, r.lost_ticks), (0, 100, 0, 0), "{r:?}");
        assert_eq!(r.policy_latency.count, 100);
        assert!(seen.iter().all(|(m, c)| *m == Mode::Running && *c == Command::Track(home(&spec))));
    }

    #[test]
    fn winding_down_damps_until_at_rest_then_disarms() {
        let (mut sim, first) = sim();
        let (r, seen) = run_on(&mut sim, first, hold_home(), RunConfig { wind_down: true, ..cfg(100) });
        assert_eq!(r.ending, Ending::Completed);
        damped_then_disarmed(&r, &seen[100..]);
    }

    #[test]
    fn non_finite_actions_are_never_sent_and_end_in_damping() {
        let spec = RobotSpec::reference();
        let mut nan = home(&spec);
        nan.joint_target[2] = f32::NAN;
        let (r, seen) = run_with(Fixed { answer: Ok(nan), delay: Duration::ZERO }, 1000, false);
        let max = SafetyConfig::default().max_consecutive_misses as u64;
        assert!(matches!(r.ending, Ending::Misses { tick, .. } if tick == max - 1), "{r:?}");
        assert_eq!(r.missed_ticks, max);
        // Every missed tick before the limit held the last safe command (the start pose).
        assert!(seen[..max as usize - 1].iter().all(|(_, c)| *c == Command::Track(home(&spec))));
        damped_then_disarmed(&r, &seen[max as usize - 1..]);
    }

    #[test]
    fn a_fall_is_detected_and_damped() {
        let spec = RobotSpec::reference();
        // Knees straight and hips thrown back: the biped topples.
        let mut bad = home(&spec);
        bad.joint_target = [-1.0, 0.0, 0.0, -1.0, 0.0, 0.0].into();
        let (r, seen) = run_with(Fixed { answer: Ok(bad), delay: Duration::ZERO }, 1500, false);
        let Ending::Fell { tick } = r.ending else { panic!("expected a fall: {r:?}") };
        damped_then_disarmed(&r, &seen[tick as usize..]);
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
    fn stop_damps_until_at_rest_then_disarms_and_a_second_press_disarms_at_once() {
        let spec = RobotSpec::reference();
        for presses in [1, 2] {
            let (mut sim, first) = sim();
            let mut c = Controller::new(&spec, hold_home(), SafetyConfig::default());
            let stop = Stop::default();
            let mut seen = vec![];
            let r = c
                .run(&mut sim, first, &cfg(1000), &stop, |e, _| {
                    seen.push((e.mode, *e.command));
                    if e.tick == 9 {
                        (0..presses).for_each(|_| stop.press());
                    }
                })
                .unwrap();
            assert_eq!(r.ending, Ending::Stopped { tick: 10 });
            assert_eq!(r.running_ticks, 10);
            if presses == 1 {
                damped_then_disarmed(&r, &seen[10..]);
            } else {
                assert_eq!(
                    &seen[10..],
                    [(Mode::Running, Command::Disarm)],
                    "the second press disarms at once"
                );
                assert!(r.disarmed);
            }
        }
    }

    #[test]
    fn a_silence_shorter_than_the_hold_time_is_ridden_through() {
        let (sim, first) = sim();
        // 0.2 s without a measurement (10 ticks at 50 Hz), from tick 100.
        let mut plant =
            Faulty { sim, tick: 0, fault: |t, s| if (100..110).contains(&t) { Err(lost()) } else { Ok(s) } };
        let (r, seen) = run_on(&mut plant, first, hold_home(), cfg(300));
        assert_eq!(r.ending, Ending::Completed, "{r:?}");
        assert_eq!((r.lost_ticks, r.held_ticks, r.holds, r.recoveries), (10, 10, 1, 0), "{r:?}");
        assert_eq!(r.damping_ticks + r.recovering_ticks, 0);
        let home = Command::Track(home(&RobotSpec::reference()));
        assert!(seen.iter().all(|(m, c)| *m == Mode::Running && *c == home), "the last command is held");
    }

    /// A long silence (0.6 s: hold 0.25 s, then damp) — short enough that the standing
    /// biped is still upright when the link comes back (damped for about a second, it sits
    /// down and tips over; then the run ends as a fall, see the next test).
    #[test]
    fn a_long_silence_damps_then_homes_and_resumes_when_the_robot_answers_again() {
        const SILENT: u64 = 30;
        let (sim, first) = sim();
        let silent = 100..100 + SILENT;
        let mut plant =
            Faulty { sim, tick: 0, fault: |t, s| if silent.contains(&t) { Err(lost()) } else { Ok(s) } };
        let (r, seen) = run_on(&mut plant, first, hold_home(), cfg(600));
        assert_eq!((r.recoveries, r.resumes), (1, 1), "{r:?}");
        let modes: Vec<Mode> = seen.iter().map(|(m, _)| *m).collect();
        // Held for 0.25 s, damped while silent and until the link had answered for 0.2 s,
        // homed again from where the robot was, then the pilot ran on.
        let recovering = modes.iter().position(|m| *m == Mode::Recovering).unwrap();
        assert_eq!(recovering, 101 + 12, "damps once the silence reaches the hold time: {modes:?}");
        assert_eq!(r.ending, Ending::Completed);
        assert!(seen[recovering..100 + SILENT as usize].iter().all(|(_, c)| *c == Command::Damp));
        let homing = modes.iter().position(|m| *m == Mode::Homing).unwrap();
        assert!(
            homing > 100 + SILENT as usize && modes[homing..].iter().all(|m| *m != Mode::Recovering),
            "{modes:?}"
        );
        assert_eq!(modes.last(), Some(&Mode::Running));
        assert!(r.damping_ticks == 0 && !r.disarmed, "never disarmed: {r:?}");
    }

    #[test]
    fn a_robot_that_fell_while_damped_is_not_homed_again() {
        let (sim, first) = sim();
        let mut plant =
            Faulty { sim, tick: 0, fault: |t, s| if (100..200).contains(&t) { Err(lost()) } else { Ok(s) } };
        let (r, seen) = run_on(&mut plant, first, hold_home(), cfg(600));
        let Ending::Fell { tick } = r.ending else { panic!("expected a fall: {r:?}") };
        assert!(tick > 200, "found when the link was back: {r:?}");
        assert_eq!((r.recoveries, r.resumes, r.homing_ticks), (1, 0, 0), "{r:?}");
        assert!(seen[113..tick as usize].iter().all(|s| *s == (Mode::Recovering, Command::Damp)));
        damped_then_disarmed(&r, &seen[tick as usize..]);
    }

    #[test]
    fn a_link_that_never_comes_back_ends_the_run_without_disarming() {
        let (sim, first) = sim();
        let mut plant = Faulty { sim, tick: 0, fault: |t, s| if t >= 50 { Err(lost()) } else { Ok(s) } };
        let (r, seen) = run_on(&mut plant, first, hold_home(), cfg(100_000));
        assert!(matches!(r.ending, Ending::LinkLost { silent_s, .. } if silent_s >= 30.0), "{r:?}");
        assert!(
            !seen.iter().any(|(_, c)| *c == Command::Disarm),
            "a robot that cannot be seen is not disarmed"
        );
    }

    #[test]
    fn another_robot_after_a_reconnect_is_never_commanded() {
        let (sim, first) = sim();
        let mut plant = Faulty {
            sim,
            tick: 0,
            fault: |t, s| if t == 20 { Err(PlantError::Mismatch("contract id".into())) } else { Ok(s) },
        };
        let (r, seen) = run_on(&mut plant, first, hold_home(), cfg(100));
        assert!(matches!(r.ending, Ending::Refused { tick: 21, .. }), "{r:?}");
        assert_eq!(seen.len(), 21, "no command after the refusal");
    }

    #[test]
    fn a_failed_pitch_sensor_damps_and_a_failed_velocity_is_masked() {
        let (sim, first) = sim();
        let mut plant = Faulty {
            sim,
            tick: 0,
            fault: |t, mut s: Sensors| {
                s.joint_vel[3] = f32::NAN;
                if t >= 40 {
                    s.imu[0] = f32::INFINITY; // the reference biped's pitch
                }
                Ok(s)
            },
        };
        let (r, _) = run_on(&mut plant, first, hold_home(), cfg(200));
        let limit = u64::from(SafetyConfig::default().max_implausible_ticks);
        assert_eq!(r.ending, Ending::Implausible { tick: 40 + limit, field: "torso_pitch".into() }, "{r:?}");
        assert_eq!(r.implausible[0], FieldCount { field: "joint_vel.left_hip".into(), ticks: r.ticks });
    }

    #[test]
    fn homing_refuses_to_start_from_an_implausible_pose() {
        let (mut sim, mut first) = sim();
        first.joint_pos[1] = f32::NAN;
        let mut c = Controller::new(&RobotSpec::reference(), hold_home(), SafetyConfig::default());
        let e =
            c.run(&mut sim, first, &cfg(10), &Stop::default(), |_, _| panic!("nothing is sent")).unwrap_err();
        assert!(e.to_string().contains("joint_pos.right_knee = NaN"), "{e}");
    }

    mod any_input {
        use super::*;
        use proptest::prelude::*;
        use strider_robot::{Contacts, ImuValues, JointValues};

        fn any_f32() -> impl Strategy<Value = f32> {
            prop_oneof![
                4 => -3.0f32..3.0,
                1 => Just(f32::NAN),
                1 => Just(f32::INFINITY),
                1 => Just(f32::NEG_INFINITY),
                1 => any::<f32>(),
            ]
        }

        /// Mostly the reference biped's six joints, sometimes a measurement or an action of
        /// another size (a robot or a model that does not match).
        fn any_count() -> impl Strategy<Value = usize> {
            prop_oneof![12 => Just(6), 1 => 0usize..10]
        }

        fn any_values(n: usize) -> impl Strategy<Value = JointValues> {
            proptest::collection::vec(any_f32(), n).prop_map(|v| JointValues::from_slice(&v))
        }

        fn any_sensors() -> impl Strategy<Value = Sensors> {
            (
                any_count(),
                prop_oneof![12 => Just(2), 1 => 0usize..4],
                prop_oneof![12 => Just(2), 1 => 0usize..4],
            )
                .prop_flat_map(|(n, imu, contacts)| {
                    (
                        any_values(n),
                        any_values(n),
                        proptest::collection::vec(any_f32(), imu),
                        proptest::collection::vec(any::<bool>(), contacts),
                    )
                })
                .prop_map(|(joint_pos, joint_vel, imu, contact)| Sensors {
                    joint_pos,
                    joint_vel,
                    imu: ImuValues::from_slice(&imu),
                    contact: Contacts::from_slice(&contact),
                })
        }

        fn any_tick() -> impl Strategy<Value = (Option<Sensors>, JointValues)> {
            (proptest::option::weighted(0.9, any_sensors()), any_count().prop_flat_map(any_values))
        }

        proptest! {
            /// Whatever the sensors and the pilot say — NaN, Inf, nonsense, silence — no tick
            /// panics and no target sent is non-finite or outside the joint limits.
            #[test]
            fn never_panics_and_never_sends_a_bad_target(
                first in any_sensors(),
                ticks in proptest::collection::vec(any_tick(), 1..80),
            ) {
                let spec = RobotSpec::reference();
                let safety = SafetyConfig::default();
                let envelope = crate::safety::Envelope::new(&spec, &safety);
                let Ok(mut sup) = Supervisor::new(&spec, &safety, &first, 60, true) else { return Ok(()) };
                let mut measurement = Ok(first);
                for (tick, (sensors, target)) in ticks.into_iter().enumerate() {
                    let tick = tick as u64;
                    let command = match sup.begin(tick, measurement.as_ref(), Operator::Carry, 0.5) {
                        Plan::End => break,
                        Plan::Send(c) => c,
                        Plan::Ask { obs, .. } => {
                            prop_assert!(obs.sensors.joint_pos.iter().all(|q| q.is_nan() || q.abs() < 4.0));
                            sup.decide(tick, Ok(Action { joint_target: target }.into()))
                        }
                    };
                    if let Command::Track(a) = command {
                        prop_assert!(envelope.contains(&a), "tick {tick}: sent {a:?}");
                    }
                    measurement = sensors.ok_or_else(lost);
                }
            }
        }
    }
}

/// A measurement, not part of the default suite (about a minute in the dev profile):
/// `cargo test --workspace -- --ignored the_shipped_policy_walks_through`. docs/CONTROLLER.md
/// quotes its result.
#[cfg(test)]
mod ride_through_walking {
    use super::*;
    use strider_sim::{Scenario, Sim, SimConfig};

    /// The simulator behind a link that goes silent for `silent` ticks every `every` ticks
    /// once the robot walks.
    struct Silences {
        sim: Sim,
        tick: u64,
        every: u64,
        silent: u64,
    }

    impl Plant for Silences {
        fn spec(&self) -> &RobotSpec {
            self.sim.spec()
        }
        fn step(&mut self, c: &Command) -> Result<Sensors, PlantError> {
            let s = self.sim.step(c)?;
            self.tick += 1;
            if self.tick > 150 && self.tick % self.every < self.silent {
                Err(PlantError::Timeout { waited_ms: 8, limit_ms: 8 })
            } else {
                Ok(s)
            }
        }
    }

    /// The shipped policy walking at 0.6 m/s through a silence just shy of the hold time
    /// (0.24 s, the last command held) every 2 s, on 10 seeds with the default start push.
    #[test]
    #[ignore = "a measurement; run with --ignored"]
    fn the_shipped_policy_walks_through_silences_up_to_the_hold_time() {
        let spec = RobotSpec::reference();
        let model =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/walker2d-biped/model.toml");
        let mut ended = vec![];
        for seed in 0..10 {
            let policy = strider_policy::Policy::load(&model, &spec).unwrap();
            let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
            let first = sim.reset(seed, &Scenario::default()).unwrap();
            let mut plant = Silences { sim, tick: 0, every: 100, silent: 12 };
            let mut c = Controller::new(&spec, policy, SafetyConfig::default());
            let cfg = RunConfig { ticks: 750, realtime: false, command: 0.6f32.into(), wind_down: false };
            let r = c.run(&mut plant, first, &cfg, &Stop::default(), |_, _| {}).unwrap();
            assert_eq!((r.held_ticks, r.recoveries), (72, 0), "seed {seed}: {r:?}");
            ended.push(r.ending);
        }
        assert!(ended.iter().all(|e| *e == Ending::Completed), "{ended:?}");
    }
}
