//! What the controller decides each tick, without clocks, threads or I/O: the state
//! machine homing → running → (recovering → homing …) → damping → disarmed, the ride-through
//! of a silent link, the plausibility screen and the envelope. `run.rs` paces it, asks the
//! pilot and talks to the plant; everything here is plain data in, command out, so it can
//! be driven tick by tick with any input (see the proptest below).

use serde::Serialize;
use strider_robot::{Action, Command, JointValues, Layout, Observation, PlantError, RobotSpec, Sensors};

use crate::pilot::Decision;
use crate::run::{Ending, FieldCount, RunReport};
use crate::safety::{Attitude, Envelope, Implausible, Mode, SafetyConfig, Screen};

/// What the run loop does next in a tick.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Plan {
    /// Ask the pilot for `obs` (after resetting it, for a new or resumed episode), then
    /// hand its answer to [`Supervisor::decide`].
    Ask { obs: Observation, reset: bool },
    /// Send this command.
    Send(Command),
    /// The run is over.
    End,
}

/// The operator's requests, read each tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub(crate) enum Operator {
    #[default]
    Carry,
    /// Damp, then disarm once the robot is at rest.
    Stop,
    /// Disarm now.
    Disarm,
}

#[derive(Debug, Clone, Copy)]
struct Homing {
    from: JointValues,
    start: u64,
    ticks: u64,
}

pub(crate) struct Supervisor {
    safety: SafetyConfig,
    envelope: Envelope,
    screen: Screen,
    attitude: Attitude,
    layout: Layout,
    field_names: Vec<String>,
    home: JointValues,
    dt: f64,
    ticks: u64,
    wind_down: bool,
    pub(crate) mode: Mode,
    homing: Homing,
    /// The last target sent; always finite and inside the joint limits.
    last: Action,
    /// This tick's screened measurement (`None`: the plant gave none).
    sensors: Option<Sensors>,
    /// Which of its fields the screen masked.
    bad: Implausible,
    silent_ticks: u64,
    good_ticks: u64,
    implausible_in_a_row: u32,
    misses_in_a_row: u32,
    surprising_in_a_row: u32,
    damping_since: u64,
    rest_ticks: u64,
    pilot_reset: bool,
    disarm_sent: bool,
    ending: Option<Ending>,
    /// Implausible ticks per observation field.
    implausible: Vec<u64>,
    pub(crate) report: RunReport,
}

impl Supervisor {
    /// A run of `ticks` ticks (then winding down: damp, disarm at rest, if `wind_down`)
    /// starting from the measurement `first`. Refuses to start from an implausible pose, and
    /// a robot whose IMU reports no tilt (fall detection needs pitch or roll).
    pub(crate) fn new(
        spec: &RobotSpec,
        safety: &SafetyConfig,
        first: &Sensors,
        ticks: u64,
        wind_down: bool,
    ) -> Result<Supervisor, String> {
        let layout = spec.layout();
        let attitude = Attitude::new(&layout).ok_or_else(|| {
            format!(
                "robot {}: sensors.imu reports no pitch or roll, and fall detection needs the IMU's tilt; add \"pitch\" to sensors.imu",
                spec.name
            )
        })?;
        let screen = Screen::new(spec, safety);
        let field_names: Vec<String> = spec.observation_layout().into_iter().map(|f| f.name).collect();
        if !first.fits(&layout) {
            return Err(format!(
                "refusing to home: the robot measured {} joints, {} IMU fields and {} contacts, its description ({}) has {}, {} and {}; check the --robot file",
                first.joint_pos.len(),
                first.imu.len(),
                first.contact.len(),
                spec.name,
                layout.joints,
                layout.imu.len(),
                layout.contacts
            ));
        }
        let (_, bad) = screen.screen(first);
        let tilt = |i: usize| i >= layout.imu_offset() && attitude.is_angle(i - layout.imu_offset());
        if let Some(i) = bad.fields().find(|&i| i < layout.joints || tilt(i)) {
            let value = Observation::new(*first, layout.forward_command(0.0)).to_values()[i];
            return Err(format!(
                "refusing to home from an implausible pose: {} = {value} (limits ± {} rad); check the sensor or the --robot file",
                field_names[i], safety.joint_limit_margin_rad
            ));
        }
        let envelope = Envelope::new(spec, safety);
        let home = spec.default_action().joint_target;
        let dt = spec.control_dt_s();
        let mut s = Supervisor {
            safety: *safety,
            last: envelope.limit(&Action { joint_target: first.joint_pos }).expect("screened finite"),
            envelope,
            screen,
            attitude,
            layout,
            field_names,
            home,
            dt,
            ticks,
            wind_down,
            mode: Mode::Homing,
            homing: Homing { from: first.joint_pos, start: 0, ticks: 0 },
            sensors: None,
            bad: Implausible::default(),
            silent_ticks: 0,
            good_ticks: 0,
            implausible_in_a_row: 0,
            misses_in_a_row: 0,
            surprising_in_a_row: 0,
            damping_since: 0,
            rest_ticks: 0,
            pilot_reset: true,
            disarm_sent: false,
            ending: None,
            implausible: vec![0; layout.obs_dim()],
            report: RunReport::default(),
        };
        s.start_homing(first, 0);
        Ok(s)
    }

    fn secs(&self, ticks: u64) -> f64 {
        ticks as f64 * self.dt
    }

    /// Homing from `from` at `tick`, or straight to running when already at the pose.
    fn start_homing(&mut self, from: &Sensors, tick: u64) {
        let at_pose =
            from.joint_pos.iter().zip(&self.home).all(|(q, h)| (q - h).abs() <= self.safety.at_pose_rad);
        let ticks = if at_pose { 0 } else { (self.safety.homing_s / self.dt).round().max(1.0) as u64 };
        self.homing = Homing { from: from.joint_pos, start: tick, ticks };
        self.last = self.envelope.limit(&Action { joint_target: from.joint_pos }).unwrap_or(self.last);
        self.mode = if ticks == 0 { Mode::Running } else { Mode::Homing };
        self.pilot_reset = true;
        self.misses_in_a_row = 0;
    }

    fn damp(&mut self, tick: u64, ending: Ending) -> Plan {
        if self.mode != Mode::Damping {
            self.mode = Mode::Damping;
            self.damping_since = tick;
            self.rest_ticks = 0;
        }
        self.ending.get_or_insert(ending);
        Plan::Send(Command::Damp)
    }

    fn end(&mut self, ending: Ending) -> Plan {
        self.ending.get_or_insert(ending);
        Plan::End
    }

    /// The observation the pilot (and the log) sees this tick: the screened sensors, or
    /// every sensor field `[M]` (NaN) on a tick without a measurement.
    pub(crate) fn observation(&self, command_vx: f32) -> Observation {
        let nan = Sensors::filled(&self.layout, f32::NAN);
        Observation::new(self.sensors.unwrap_or(nan), self.layout.forward_command(command_vx))
    }

    /// Books what the plant returned for the previous tick (the first measurement for tick
    /// 0) and decides what tick `tick` does.
    pub(crate) fn begin(
        &mut self,
        tick: u64,
        measurement: Result<&Sensors, &PlantError>,
        operator: Operator,
        command_vx: f32,
    ) -> Plan {
        match measurement {
            Ok(raw) => {
                if self.disarm_sent {
                    self.report.disarmed = true;
                }
                let (s, bad) = self.screen.screen(raw);
                for i in bad.fields() {
                    self.implausible[i] += 1;
                }
                self.implausible_in_a_row = if self.screen.safety_relevant(bad).is_some() {
                    self.implausible_in_a_row + 1
                } else {
                    0
                };
                if self.silent_ticks > 0 && matches!(self.mode, Mode::Homing | Mode::Running) {
                    self.report.holds += 1;
                }
                self.sensors = Some(s);
                self.silent_ticks = 0;
                self.good_ticks += 1;
                self.bad = bad;
            }
            Err(e) => {
                self.sensors = None;
                self.bad = Implausible::default();
                self.silent_ticks += 1;
                self.good_ticks = 0;
                self.report.lost_ticks += 1;
                self.report.last_plant_error = Some(e.to_string());
                if let PlantError::Mismatch(why) = e {
                    // Another robot answered: it must never be commanded, not even to damp.
                    return self.end(Ending::Refused { tick, why: why.clone() });
                }
                if matches!(e, PlantError::Fault { .. }) && matches!(self.mode, Mode::Homing | Mode::Running)
                {
                    // The robot refused a command or left Run by itself: whatever it is
                    // doing, damp and start over from where it is.
                    self.enter_recovering();
                }
            }
        }
        if self.disarm_sent {
            return self.end(Ending::Completed);
        }
        match operator {
            Operator::Disarm => {
                self.ending.get_or_insert(Ending::Stopped { tick });
                self.disarm_sent = true;
                return Plan::Send(Command::Disarm);
            }
            Operator::Stop if self.mode != Mode::Damping => return self.damp(tick, Ending::Stopped { tick }),
            _ => {}
        }
        if tick >= self.ticks && self.mode != Mode::Damping {
            return if self.wind_down {
                self.damp(tick, Ending::Completed)
            } else {
                self.end(Ending::Completed)
            };
        }
        match self.mode {
            Mode::Homing | Mode::Running => self.act(tick, command_vx),
            Mode::Recovering => self.recover(tick, command_vx),
            Mode::Damping => self.wind(tick),
        }
    }

    fn enter_recovering(&mut self) {
        self.mode = Mode::Recovering;
        self.report.recoveries += 1;
    }

    fn act(&mut self, tick: u64, command_vx: f32) -> Plan {
        let Some(s) = self.sensors else {
            if self.secs(self.silent_ticks) >= self.safety.hold_s {
                self.enter_recovering();
                return Plan::Send(Command::Damp);
            }
            // Ride-through: the robot keeps tracking the last target.
            self.report.held_ticks += 1;
            return Plan::Send(Command::Track(self.last));
        };
        if self.attitude.tilt(&s) > self.safety.fall_pitch_rad {
            return self.damp(tick, Ending::Fell { tick });
        }
        if self.implausible_in_a_row >= self.safety.max_implausible_ticks {
            let field = self
                .screen
                .safety_relevant(self.bad)
                .map_or_else(String::new, |i| self.field_names[i].clone());
            return self.damp(tick, Ending::Implausible { tick, field });
        }
        if self.mode == Mode::Homing {
            let h = self.homing;
            let k = (tick - h.start + 1).min(h.ticks);
            let f = k as f32 / h.ticks as f32;
            let mut target = Action { joint_target: h.from };
            for (q, home) in target.joint_target.iter_mut().zip(&self.home) {
                *q += f * (home - *q);
            }
            if let Some(t) = self.envelope.limit(&target) {
                self.last = t;
            }
            if k >= h.ticks {
                self.mode = Mode::Running;
            }
            self.report.homing_ticks += 1;
            return Plan::Send(Command::Track(self.last));
        }
        let reset = std::mem::take(&mut self.pilot_reset);
        Plan::Ask { obs: Observation::new(s, self.layout.forward_command(command_vx)), reset }
    }

    /// The pilot's answer for a tick that asked: through the envelope, or a miss.
    pub(crate) fn decide(&mut self, tick: u64, answer: Result<Decision, String>) -> Command {
        self.report.running_ticks += 1;
        if let Ok(Decision { surprise: Some(s), .. }) = answer
            && self.note_surprise(tick, s)
        {
            self.damp(tick, Ending::Surprised { tick, ticks: self.surprising_in_a_row });
            return Command::Damp;
        }
        let usable = answer
            .map(|d| d.action)
            .and_then(|a| self.envelope.apply(&a, &self.last).ok_or_else(|| "non-finite action".into()));
        match usable {
            Ok((a, clamped)) => {
                self.misses_in_a_row = 0;
                self.report.rate_clamped_ticks += u64::from(clamped.rate);
                self.report.limit_clamped_ticks += u64::from(clamped.limit);
                self.last = a;
                Command::Track(a)
            }
            Err(e) => {
                self.misses_in_a_row += 1;
                self.report.missed_ticks += 1;
                if self.misses_in_a_row >= self.safety.max_consecutive_misses {
                    self.damp(tick, Ending::Misses { tick, last_error: e });
                    Command::Damp
                } else {
                    Command::Track(self.last)
                }
            }
        }
    }

    /// Counts one tick's surprise; true when the run must damp for it (the option
    /// `damp_after_surprising_ticks`, off by default).
    fn note_surprise(&mut self, tick: u64, s: f32) -> bool {
        let r = &mut self.report.surprise;
        r.ticks += 1;
        if r.max.is_none_or(|(m, _)| s > m) {
            r.max = Some((s, tick));
        }
        if r.threshold.is_some_and(|t| s > t) {
            r.surprising += 1;
            r.first_surprising_tick.get_or_insert(tick);
            self.surprising_in_a_row += 1;
            r.longest_streak = r.longest_streak.max(self.surprising_in_a_row);
        } else {
            self.surprising_in_a_row = 0;
        }
        self.safety.damp_after_surprising_ticks.is_some_and(|n| self.surprising_in_a_row >= n)
    }

    fn recover(&mut self, tick: u64, command_vx: f32) -> Plan {
        if self.secs(self.silent_ticks) >= self.safety.give_up_s {
            return self.end(Ending::LinkLost { tick, silent_s: self.secs(self.silent_ticks) });
        }
        // Damp until the link has answered for a while with a pose homing can start from.
        let ready = self.sensors.filter(|s| {
            self.secs(self.good_ticks) >= self.safety.resume_after_s
                && !self.bad.fields().any(|i| i < self.layout.joints)
                && self.attitude.tilt(s).is_finite()
        });
        let Some(s) = ready else {
            self.report.recovering_ticks += 1;
            return Plan::Send(Command::Damp);
        };
        if self.attitude.tilt(&s) > self.safety.fall_pitch_rad {
            return self.damp(tick, Ending::Fell { tick });
        }
        self.report.resumes += 1;
        self.start_homing(&s, tick);
        self.act(tick, command_vx)
    }

    fn wind(&mut self, tick: u64) -> Plan {
        let since = self.secs(tick - self.damping_since);
        let still = self.sensors.is_some_and(|s| {
            let v = self.safety.rest_speed_rad_s;
            s.joint_vel.iter().all(|w| w.abs() < v) && self.attitude.still(&s, v)
        });
        self.rest_ticks = if still { self.rest_ticks + 1 } else { 0 };
        if since >= self.safety.damp_s && self.secs(self.rest_ticks) >= self.safety.rest_s {
            self.disarm_sent = true;
            return Plan::Send(Command::Disarm);
        }
        if since >= self.safety.max_damp_s || self.secs(self.silent_ticks) >= self.safety.give_up_s {
            return Plan::End; // left damping: the firmware keeps it so
        }
        Plan::Send(Command::Damp)
    }

    /// The report, with the ending and the per-field counts filled in.
    pub(crate) fn finish(mut self) -> RunReport {
        self.report.ending = self.ending.take().unwrap_or(Ending::Completed);
        self.report.implausible = self
            .implausible
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(i, &n)| FieldCount { field: self.field_names[i].clone(), ticks: n })
            .collect();
        self.report
    }
}
