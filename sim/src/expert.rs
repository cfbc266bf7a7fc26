//! The expert walker of the reference biped: a SIMBICON-style controller (Yin, Loken, van de
//! Panne 2007) that acts only through the policy's interface — 6 joint position targets per
//! control tick, tracked by the plant's fixed-gain PD — while reading privileged state
//! (centre of mass, ankles). It drives robots of the biped's shape only ([`Expert::new`]
//! refuses any other).
//!
//! Four states: lift (right swings, fixed duration), strike (right swings until its foot
//! touches down), and the same two for the left leg. Per state each joint has a target;
//! three terms make it walk through position targets at 50 Hz:
//! - swing hip: a *world-frame* thigh angle with SIMBICON's balance feedback
//!   `θ = θ0 + cd·d + cv·v` (d: centre of mass ahead of the stance ankle; v: its velocity);
//! - stance hip: holds the torso at a desired pitch through a position target that folds in
//!   the PD's relative damping (`gqd = kd/kp`) and cancels the swing hip's reaction torque;
//! - stance ankle: the propulsion knob, driven by a velocity loop (stride-level PI plus a
//!   filtered per-tick P term) so the robot walks at the commanded speed.
//!
//! A fifth state stands: at a command of (nearly) zero the expert slows to stepping in
//! place, and at the first touchdown that is slow enough it keeps both feet down. Both hips
//! then hold the torso, the knees a fixed bend, and both ankles balance the centre of mass
//! over the feet (an ankle strategy on its position and velocity). A push that carries the
//! capture point off the feet starts stepping again (in place) until it can stand; a
//! non-zero command starts walking from standing, forward or backward.

use serde::{Deserialize, Serialize};
use strider_robot::{Action, CommandField, ImuField, JointValues, Layout, Observation, RobotSpec};

use crate::error::SimError;
use crate::simulator::Privileged;

/// The expert's gains and per-phase targets. Pairs are `[lift, strike]`; angles in rad,
/// counter-clockwise positive (hip > 0 swings the thigh forward, knee < 0 flexes, ankle
/// > 0 lifts the toe). Defaults: the tuned 50 Hz set in `docs/SIM.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExpertParams {
    /// Lift phase duration, s (default 0.18).
    pub lift_s: f64,
    /// Strike phase ends at swing-foot contact, or after this, s (default 2.0).
    pub strike_cap_s: f64,
    /// Swing thigh angle to the world (default [0.636, -0.279]).
    pub swing_hip_world: [f64; 2],
    /// Default [-1.448, -0.140].
    pub swing_knee: [f64; 2],
    /// Default [0.435, 0.048].
    pub swing_ankle: [f64; 2],
    /// Default [-0.068, 0.0].
    pub stance_knee: [f64; 2],
    /// Open-loop stance ankle (default [0.113, 0.225]); the velocity loop replaces the
    /// strike value by `velocity_feedforward` + its corrections.
    pub stance_ankle: [f64; 2],
    /// Balance feedback on the distance of the centre of mass ahead of the stance ankle,
    /// rad/m (default [0, 1.499]).
    pub cd: [f64; 2],
    /// Balance feedback on the centre-of-mass velocity, rad·s/m (default [0.368, 0]).
    pub cv: [f64; 2],
    /// Desired torso pitch at zero speed, rad, positive leans back (default 0.010).
    pub pitch_base: f64,
    /// Extra lean back per m/s of command, rad·s/m (default 0.05).
    pub pitch_per_speed: f64,
    /// Stance hip: gain on the pitch error (default 1: target = thigh − desired pitch).
    pub g_pitch: f64,
    /// Stance hip: lead on the pitch rate, s (default 0.155).
    pub g_pitch_rate_s: f64,
    /// Stance hip: share of the swing hip's predicted torque cancelled (default 0.7). The
    /// prediction is the torque at the tick, held for the whole tick; the real torque decays
    /// within it, faster on lighter links. Full cancellation (1.0) survives only 9/20 episodes
    /// at mass ×0.6 (and 18/20 with everything randomised); 0.7 survives all, at some
    /// cost in speed on +6° uphill and ±4 cm steps (docs/SIM.md).
    pub g_swing: f64,
    /// Stance ankle at the command's operating point, rad (default 0.225).
    pub velocity_feedforward: f64,
    /// Stride-level proportional gain, rad per m/s (default 0.02).
    pub velocity_kp: f64,
    /// Stride-level integral gain, rad per m/s per step (default 0.03).
    pub velocity_ki: f64,
    /// Integrator bound, rad (default 0.3).
    pub velocity_integral_limit: f64,
    /// The integrator accumulates step errors clipped to ± this, m/s (default 0.2).
    pub velocity_integrate_clip: f64,
    /// Per-tick proportional gain on the filtered speed error, rad per m/s (default 0.2).
    pub velocity_fast: f64,
    /// Time constant of the per-tick speed filter, s (default 0.3).
    pub velocity_filter_s: f64,
    /// Stance ankle target range, rad (default [-0.3, 0.33]; beyond 0.3 the gait falls).
    pub stance_ankle_range: [f64; 2],
    /// The loops follow the command through a rate limiter, m/s² (default 0.5). Starting
    /// from a standstill the first steps are slow whatever the command; without the ramp
    /// the integrator winds up on them and the gait overshoots for ~10 s.
    pub command_ramp_mps2: f64,
    /// The same limiter while the ramped command shrinks toward zero (slowing down, stopping
    /// or before a reversal), m/s² (default 3.0).
    pub slowdown_ramp_mps2: f64,
    /// A command with |speed| below this means stand, m/s (default 0.05).
    pub stand_below_mps: f64,
    /// Standing starts at a touchdown once the ramped command is zero and the filtered
    /// centre-of-mass speed is below this, m/s (default 0.5; the ankles absorb the rest).
    pub stand_entry_speed_mps: f64,
    /// Knee target while standing, rad (default -0.1).
    pub stand_knee: f64,
    /// Where the centre of mass is held, ahead of the midpoint between the ankles, m
    /// (default 0.05; a foot reaches 0.26 m ahead of its ankle and 0.06 m behind).
    pub stand_com_ahead_m: f64,
    /// Ankle strategy: ankle torque offset per m of centre-of-mass error, as a target angle,
    /// rad/m (default 4.0).
    pub stand_kx: f64,
    /// Ankle strategy: the same per m/s of centre-of-mass velocity, rad·s/m (default 1.0).
    pub stand_kv: f64,
    /// Look-ahead of the capture point, s: `x + v·t` (default 0.3, about √(h/g)).
    pub stand_capture_s: f64,
    /// Standing holds while the capture point stays between the rear ankle + the first and
    /// the front ankle + the second, m (default [-0.03, 0.2]); beyond, the expert steps.
    pub stand_support_m: [f64; 2],
}

impl Default for ExpertParams {
    fn default() -> ExpertParams {
        ExpertParams {
            lift_s: 0.18,
            strike_cap_s: 2.0,
            swing_hip_world: [0.636, -0.279],
            swing_knee: [-1.448, -0.140],
            swing_ankle: [0.435, 0.048],
            stance_knee: [-0.068, 0.0],
            stance_ankle: [0.113, 0.225],
            cd: [0.0, 1.499],
            cv: [0.368, 0.0],
            pitch_base: 0.010,
            pitch_per_speed: 0.05,
            g_pitch: 1.0,
            g_pitch_rate_s: 0.155,
            g_swing: 0.7,
            velocity_feedforward: 0.225,
            velocity_kp: 0.02,
            velocity_ki: 0.03,
            velocity_integral_limit: 0.3,
            velocity_integrate_clip: 0.2,
            velocity_fast: 0.2,
            velocity_filter_s: 0.3,
            stance_ankle_range: [-0.3, 0.33],
            command_ramp_mps2: 0.5,
            slowdown_ramp_mps2: 3.0,
            stand_below_mps: 0.05,
            stand_entry_speed_mps: 0.5,
            stand_knee: -0.1,
            stand_com_ahead_m: 0.05,
            stand_kx: 4.0,
            stand_kv: 1.0,
            stand_capture_s: 0.3,
            stand_support_m: [-0.03, 0.2],
        }
    }
}

/// The biped's joints: hip, knee and ankle of the right leg, then of the left.
const BIPED_JOINTS: usize = 6;

/// Shadow mode: a lift whose foot never leaves the ground gives way to the strike after
/// this long, s.
const SHADOW_LIFT_CAP_S: f64 = 1.0;

/// Right or left, as in the joint order (right leg = joints 0..3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leg {
    Right = 0,
    Left = 1,
}

impl ExpertParams {
    /// Reads expert parameters from TOML (any field left out keeps its default).
    pub fn load(path: &std::path::Path) -> Result<ExpertParams, SimError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Read { file: file.clone(), message: e.to_string() })?;
        let params: ExpertParams = toml::from_str(&text).map_err(|e| SimError::Parse {
            file: file.clone(),
            what: "expert parameter file",
            message: crate::scenario::one_line(&e.to_string()),
        })?;
        params.validate(&file)?;
        Ok(params)
    }

    /// The first value the controller cannot run with, naming its field and the fix: every
    /// number finite; durations, rates, limits and time constants positive (a clamp with an
    /// inverted range, or a rate limit of zero, would panic or freeze the gait); ranges in
    /// order.
    pub fn validate(&self, origin: &str) -> Result<(), SimError> {
        let bad = SimError::invalid(origin);
        let positive = [
            ("lift_s", self.lift_s),
            ("strike_cap_s", self.strike_cap_s),
            ("velocity_integral_limit", self.velocity_integral_limit),
            ("velocity_integrate_clip", self.velocity_integrate_clip),
            ("velocity_filter_s", self.velocity_filter_s),
            ("command_ramp_mps2", self.command_ramp_mps2),
            ("slowdown_ramp_mps2", self.slowdown_ramp_mps2),
            ("stand_capture_s", self.stand_capture_s),
        ];
        for (field, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return Err(bad(field, v.to_string(), "use a number > 0"));
            }
        }
        let finite = [
            ("pitch_base", self.pitch_base),
            ("pitch_per_speed", self.pitch_per_speed),
            ("g_pitch", self.g_pitch),
            ("g_pitch_rate_s", self.g_pitch_rate_s),
            ("g_swing", self.g_swing),
            ("velocity_feedforward", self.velocity_feedforward),
            ("velocity_kp", self.velocity_kp),
            ("velocity_ki", self.velocity_ki),
            ("velocity_fast", self.velocity_fast),
            ("stand_below_mps", self.stand_below_mps),
            ("stand_entry_speed_mps", self.stand_entry_speed_mps),
            ("stand_knee", self.stand_knee),
            ("stand_com_ahead_m", self.stand_com_ahead_m),
            ("stand_kx", self.stand_kx),
            ("stand_kv", self.stand_kv),
        ];
        for (field, v) in finite {
            if !v.is_finite() {
                return Err(bad(field, v.to_string(), "use a finite number"));
            }
        }
        let pairs = [
            ("swing_hip_world", self.swing_hip_world),
            ("swing_knee", self.swing_knee),
            ("swing_ankle", self.swing_ankle),
            ("stance_knee", self.stance_knee),
            ("stance_ankle", self.stance_ankle),
            ("cd", self.cd),
            ("cv", self.cv),
        ];
        for (field, v) in pairs {
            if !v.iter().all(|x| x.is_finite()) {
                return Err(bad(field, format!("{v:?}"), "use two finite numbers"));
            }
        }
        for (field, [lo, hi]) in
            [("stance_ankle_range", self.stance_ankle_range), ("stand_support_m", self.stand_support_m)]
        {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(bad(field, format!("[{lo}, {hi}]"), "write [min, max] with min <= max"));
            }
        }
        Ok(())
    }
}

impl Leg {
    fn other(self) -> Leg {
        match self {
            Leg::Right => Leg::Left,
            Leg::Left => Leg::Right,
        }
    }

    fn hip(self) -> usize {
        3 * self as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Lift = 0,
    Strike = 1,
    /// Both feet down, balancing; `swing` is the leg that lifts first when walking resumes.
    Stand = 2,
}

/// The hip PD the plant runs, for predicting the swing hip's torque.
#[derive(Debug, Clone, Copy)]
struct HipGains {
    kp: f64,
    kd: f64,
    limit: f64,
}

/// Where the expert's inputs sit in the robot's observation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Inputs {
    /// In [`strider_robot::Sensors::imu`].
    pub(crate) pitch: usize,
    pub(crate) pitch_rate: usize,
    /// In [`Observation::command`].
    pub(crate) vx: usize,
}

impl Inputs {
    /// Where pitch, pitch rate and the forward-speed command sit in `layout`, when its IMU
    /// reports both and vx is its only command (what the planar experts read); otherwise
    /// `refuse(field, what was found)`.
    pub(crate) fn planar(
        layout: &Layout,
        refuse: impl Fn(String, String) -> SimError,
    ) -> Result<Inputs, SimError> {
        let imu = |field: ImuField| layout.imu_index(field);
        let (Some(pitch), Some(pitch_rate)) = (imu(ImuField::Pitch), imu(ImuField::PitchRate)) else {
            let list: Vec<&str> = layout.imu.iter().map(|f| f.name()).collect();
            return Err(refuse("sensors.imu".into(), format!("[{}]", list.join(", "))));
        };
        let commands = &layout.commands;
        let vx = match layout.command_index(CommandField::Vx) {
            Some(vx) if commands.len() == 1 => vx,
            _ => {
                let list: Vec<&str> = commands.iter().map(|c| c.name()).collect();
                return Err(refuse("control.commands".into(), format!("[{}]", list.join(", "))));
            }
        };
        Ok(Inputs { pitch, pitch_rate, vx })
    }
}

/// The controller's state; one per episode.
#[derive(Debug, Clone)]
pub struct Expert {
    p: ExpertParams,
    dt: f64,
    hip: [HipGains; 2],
    inputs: Inputs,
    swing: Leg,
    phase: Phase,
    ticks_in_phase: u32,
    /// Filtered centre-of-mass speed, m/s.
    v_filtered: f64,
    integral: f64,
    /// Stride-level correction of the stance ankle, rad.
    stride_adjust: f64,
    /// Centre-of-mass x and time at the last touchdown.
    last_strike: (f64, f64),
    steps: u32,
    /// The command after the rate limiter, m/s.
    v_ref: f64,
    /// Set after the first tick.
    started: bool,
    /// Follows a gait it does not drive (see [`Expert::shadowing`]).
    shadow: bool,
    /// Shadow mode: the swing foot has left the ground since this swing began.
    swing_lifted: bool,
}

impl Expert {
    /// A fresh controller for `spec`'s rates and hip gains; `first_swing` lifts first.
    /// Refuses, naming the field, a robot that is not of the reference biped's shape: two
    /// legs of hip, knee and ankle hanging from the IMU link (joints right then left), a
    /// contact on each foot (right, left), an IMU reporting pitch and pitch rate, and forward
    /// speed as the only command.
    pub fn new(spec: &RobotSpec, params: ExpertParams, first_swing: Leg) -> Result<Expert, SimError> {
        let inputs = biped_inputs(spec)?;
        let hip = [Leg::Right, Leg::Left].map(|leg| {
            let j = &spec.joints[leg.hip()];
            HipGains { kp: j.kp_nm_per_rad, kd: j.kd_nms_per_rad, limit: j.torque_limit_nm }
        });
        Ok(Expert {
            p: params,
            dt: spec.control_dt_s(),
            hip,
            inputs,
            swing: first_swing,
            phase: Phase::Lift,
            ticks_in_phase: 0,
            v_filtered: 0.0,
            integral: 0.0,
            stride_adjust: 0.0,
            last_strike: (f64::NAN, 0.0),
            steps: 0,
            v_ref: 0.0,
            started: false,
            shadow: false,
            swing_lifted: false,
        })
    }

    /// An expert that labels states another controller drives (DAgger): it keeps its gait
    /// phase in step with the robot's instead of assuming the robot follows its own. When
    /// the leg it thinks is in stance is the one in the air (and the other is down), the
    /// robot started a swing of that leg: the expert takes it as a touchdown and lifts the
    /// airborne leg. While standing, a robot with one foot in the air is stepping: the
    /// expert steps with that foot, and stands again at a slow enough touchdown. And a
    /// swing only moves on from lift to strike once its foot has left the ground (or after
    /// a second): a robot that keeps both feet down is told to lift the foot, not to put
    /// down one it never lifted. A robot that follows the expert never triggers these
    /// rules (`tests/tests/dagger.rs`). Refuses what [`Expert::new`] refuses.
    pub fn shadowing(spec: &RobotSpec, params: ExpertParams) -> Result<Expert, SimError> {
        Ok(Expert { shadow: true, ..Expert::new(spec, params, Leg::Right)? })
    }

    /// Touchdowns so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Both feet down and balancing (the command is zero and the robot came to rest).
    pub fn standing(&self) -> bool {
        self.phase == Phase::Stand
    }

    /// One control tick: reads the observation (sensors and command) and the privileged
    /// state, returns the joint targets.
    pub fn act(&mut self, obs: &Observation, state: &Privileged) -> Action {
        let command_vx = f64::from(obs.command[self.inputs.vx]);
        let stand = command_vx.abs() < self.p.stand_below_mps;
        let target = if stand { 0.0 } else { command_vx };
        let slowing = self.v_ref * (target - self.v_ref) < 0.0;
        let rate = if slowing { self.p.slowdown_ramp_mps2 } else { self.p.command_ramp_mps2 };
        let max_change = rate * self.dt;
        let step = (target - self.v_ref).clamp(-max_change, max_change);
        // Never overshoot zero at the slow-down rate: a reversal accelerates at the normal one.
        self.v_ref = if slowing && (self.v_ref + step) * self.v_ref < 0.0 { 0.0 } else { self.v_ref + step };
        let v_cmd = self.v_ref;
        if !self.started {
            self.started = true;
            self.last_strike = (state.com_x, state.time_s);
            if stand {
                self.phase = Phase::Stand;
            }
        }
        self.v_filtered += self.dt / self.p.velocity_filter_s * (state.com_vx - self.v_filtered);
        self.advance(obs, state, v_cmd, stand);
        let q = if self.phase == Phase::Stand {
            self.stand_targets(obs, state)
        } else {
            self.targets(obs, state, v_cmd)
        };
        Action { joint_target: JointValues::from(q.map(|q| q as f32)) }
    }

    fn advance(&mut self, obs: &Observation, state: &Privileged, v_cmd: f64, stand: bool) {
        if self.shadow {
            self.follow(obs, state, v_cmd);
        }
        self.ticks_in_phase += 1;
        let elapsed = f64::from(self.ticks_in_phase) * self.dt;
        match self.phase {
            Phase::Lift
                if elapsed >= self.p.lift_s - 1e-9
                    && (!self.shadow || self.swing_lifted || elapsed >= SHADOW_LIFT_CAP_S) =>
            {
                self.phase = Phase::Strike;
                self.ticks_in_phase = 0;
            }
            Phase::Strike
                if obs.sensors.contact[self.swing as usize] || elapsed >= self.p.strike_cap_s - 1e-9 =>
            {
                self.touchdown(state, v_cmd);
                self.swing = self.swing.other();
                self.ticks_in_phase = 0;
                let slow = self.v_filtered.abs() < self.p.stand_entry_speed_mps;
                self.phase = Phase::Lift;
                if stand && v_cmd == 0.0 && slow && self.capturable(state) {
                    // Walking resumes from standing as from the start: no correction held
                    // over from a walk in another direction or at another speed.
                    (self.phase, self.integral, self.stride_adjust) = (Phase::Stand, 0.0, 0.0);
                }
            }
            Phase::Stand if !stand => {
                // Walk off: lift the leg ahead for a forward start, the one behind for a
                // backward start (the body then falls the commanded way over the other).
                let [r, l] = ankles(state);
                if (r - l).abs() > 0.03 {
                    let right_ahead = r > l;
                    let forward = obs.command[self.inputs.vx] > 0.0;
                    self.swing = if right_ahead == forward { Leg::Right } else { Leg::Left };
                }
                self.resume_stepping(state);
            }
            Phase::Stand if !self.capturable(state) => {
                // Pushed off the feet: step toward the capture point with the leg farther
                // from it, in place, until the robot can stand again.
                let xi = self.capture_point(state);
                let [r, l] = ankles(state);
                self.swing = if (r - xi).abs() > (l - xi).abs() { Leg::Right } else { Leg::Left };
                self.resume_stepping(state);
            }
            _ => {}
        }
    }

    /// Shadow mode: brings the phase in step with the gait the robot is walking.
    fn follow(&mut self, obs: &Observation, state: &Privileged, v_cmd: f64) {
        if self.phase == Phase::Lift && self.ticks_in_phase == 0 {
            // A swing begins (at a touchdown, a walk-off or a resumed step).
            self.swing_lifted = false;
        }
        let contact = &obs.sensors.contact;
        let airborne = match (contact[Leg::Right as usize], contact[Leg::Left as usize]) {
            (false, true) => Leg::Right,
            (true, false) => Leg::Left,
            _ => return,
        };
        match self.phase {
            Phase::Lift | Phase::Strike if airborne != self.swing => {
                self.touchdown(state, v_cmd);
                self.swing = airborne;
                (self.phase, self.ticks_in_phase) = (Phase::Lift, 0);
            }
            Phase::Lift | Phase::Strike => {}
            Phase::Stand => {
                self.swing = airborne;
                self.resume_stepping(state);
            }
        }
        // Whichever way it got here, the swing foot is the one in the air.
        self.swing_lifted = true;
    }

    fn resume_stepping(&mut self, state: &Privileged) {
        self.phase = Phase::Lift;
        self.ticks_in_phase = 0;
        self.last_strike = (state.com_x, state.time_s);
    }

    fn capture_point(&self, state: &Privileged) -> f64 {
        state.com_x + self.p.stand_capture_s * state.com_vx
    }

    /// The capture point lies over the feet (with the standing margins).
    fn capturable(&self, state: &Privileged) -> bool {
        let [r, l] = ankles(state);
        let [back, front] = self.p.stand_support_m;
        let xi = self.capture_point(state);
        xi >= r.min(l) + back && xi <= r.max(l) + front
    }

    /// The stride-level PI: the speed of the step just finished against the command.
    fn touchdown(&mut self, state: &Privileged, v_cmd: f64) {
        let (x0, t0) = self.last_strike;
        let duration = state.time_s - t0;
        if duration > 0.0 {
            let error = v_cmd - (state.com_x - x0) / duration;
            let lim = self.p.velocity_integral_limit;
            // The integrator sees the error clipped: the first steps from a standstill (or
            // a push) are far off whatever the command and would otherwise wind it up.
            let clip = self.p.velocity_integrate_clip;
            self.integral = (self.integral + self.p.velocity_ki * error.clamp(-clip, clip)).clamp(-lim, lim);
            self.stride_adjust = self.p.velocity_kp * error + self.integral;
        }
        self.last_strike = (state.com_x, state.time_s);
        self.steps += 1;
    }

    /// Both feet down: each hip holds the torso at its standing pitch (the stance-hip law
    /// without a swing leg), the knees hold a fixed bend, and both ankles push the centre of
    /// mass toward a point over the feet, through a target offset from the flat-foot angle
    /// (on a flat foot, a torque of `kp · offset` less the PD's damping).
    fn stand_targets(&self, obs: &Observation, state: &Privileged) -> [f64; BIPED_JOINTS] {
        let p = &self.p;
        let s = &obs.sensors;
        let (pitch, pitch_rate) = (s.imu[self.inputs.pitch], s.imu[self.inputs.pitch_rate]);
        let [r, l] = ankles(state);
        let error = state.com_x - (0.5 * (r + l) + p.stand_com_ahead_m);
        let ankle_offset = -(p.stand_kx * error + p.stand_kv * state.com_vx);
        let mut q = [0.0; BIPED_JOINTS];
        for leg in [Leg::Right, Leg::Left] {
            let h = leg.hip();
            let g = self.hip[leg as usize];
            let (q_hip, qd_hip) = (f64::from(s.joint_pos[h]), f64::from(s.joint_vel[h]));
            q[h] = q_hip
                + p.g_pitch * (f64::from(pitch) - p.pitch_base)
                + p.g_pitch_rate_s * f64::from(pitch_rate)
                + g.kd / g.kp * qd_hip;
            q[h + 1] = p.stand_knee;
            // The ankle angle that puts the foot flat (its world angle is the torso pitch
            // plus the leg's joint angles), plus the balance offset. Relative to the
            // measured ankle alone the feet could roll onto their heels and slide.
            let flat = -(f64::from(pitch) + q_hip + f64::from(s.joint_pos[h + 1]));
            q[h + 2] = flat + ankle_offset;
        }
        q
    }

    fn targets(&self, obs: &Observation, state: &Privileged, v_cmd: f64) -> [f64; BIPED_JOINTS] {
        let p = &self.p;
        let ph = self.phase as usize;
        let (sw, st) = (self.swing, self.swing.other());
        let s = &obs.sensors;
        let (pitch, pitch_rate) = (s.imu[self.inputs.pitch], s.imu[self.inputs.pitch_rate]);
        let pitch_des = p.pitch_base + p.pitch_per_speed * v_cmd;

        let d = state.com_x - ankles(state)[st as usize];
        let thigh_world = p.swing_hip_world[ph] + p.cd[ph] * d + p.cv[ph] * state.com_vx;
        let swing_hip = thigh_world - pitch_des;

        let [lo, hi] = p.stance_ankle_range;
        let stance_ankle = (p.stance_ankle[ph] - p.stance_ankle[1]
            + p.velocity_feedforward
            + self.stride_adjust
            + p.velocity_fast * (v_cmd - self.v_filtered))
            .clamp(lo, hi);

        // The swing hip's torque at this tick; its reaction on the torso is cancelled by the
        // stance hip, as SIMBICON's `τ_stance = −τ_torso − τ_swing` does with torques.
        let g = self.hip[sw as usize];
        let (q_sw, qd_sw) = (f64::from(s.joint_pos[sw.hip()]), f64::from(s.joint_vel[sw.hip()]));
        let tau_swing = (g.kp * (swing_hip - q_sw) - g.kd * qd_sw).clamp(-g.limit, g.limit);
        let g = self.hip[st as usize];
        let (q_st, qd_st) = (f64::from(s.joint_pos[st.hip()]), f64::from(s.joint_vel[st.hip()]));
        let stance_hip = q_st
            + p.g_pitch * (f64::from(pitch) - pitch_des)
            + p.g_pitch_rate_s * f64::from(pitch_rate)
            + g.kd / g.kp * qd_st
            - p.g_swing * tau_swing / g.kp;

        let mut q = [0.0; BIPED_JOINTS];
        q[sw.hip()] = swing_hip;
        q[sw.hip() + 1] = p.swing_knee[ph];
        q[sw.hip() + 2] = p.swing_ankle[ph];
        q[st.hip()] = stance_hip;
        q[st.hip() + 1] = p.stance_knee[ph];
        q[st.hip() + 2] = stance_ankle;
        q
    }
}

/// The ankles' x, right then left (the biped's contacts are its feet, in that order).
fn ankles(state: &Privileged) -> [f64; 2] {
    [state.ankle_x[Leg::Right as usize], state.ankle_x[Leg::Left as usize]]
}

/// Where the expert's inputs sit in `spec`'s observation, if `spec` has the reference biped's
/// shape; otherwise the first difference, naming its field.
fn biped_inputs(spec: &RobotSpec) -> Result<Inputs, SimError> {
    let refuse = |field: String, found: String| SimError::UnsupportedRobot {
        robot: spec.name.clone(),
        field,
        problem: format!(
            "{found}: the walking expert drives the reference biped's shape only (two legs of hip, knee \
             and ankle from the IMU link, right then left; contacts on the right and left foot; IMU pitch \
             and pitch_rate; command vx)"
        ),
    };
    let layout = spec.layout();
    if layout.joints != BIPED_JOINTS {
        return Err(refuse("joints".into(), format!("{} joints, not {BIPED_JOINTS}", layout.joints)));
    }
    let contacts = &spec.sensors.contacts;
    if contacts.len() != 2 {
        return Err(refuse("sensors.contacts".into(), format!("{} contacts, not 2", contacts.len())));
    }
    for leg in [Leg::Right, Leg::Left] {
        let h = leg.hip();
        let chain = [
            (h, spec.sensors.imu_link.as_str()),
            (h + 1, spec.joints[h].child.as_str()),
            (h + 2, spec.joints[h + 1].child.as_str()),
        ];
        for (j, above) in chain {
            if spec.joints[j].parent != above {
                return Err(refuse(
                    format!("joints[{j}] ({}).parent", spec.joints[j].name),
                    format!("`{}`, not `{above}`", spec.joints[j].parent),
                ));
            }
        }
        let k = leg as usize;
        let foot = &spec.joints[h + 2].child;
        if contacts[k].link != *foot {
            return Err(refuse(
                format!("sensors.contacts[{k}].link"),
                format!("`{}`, not the foot `{foot}`", contacts[k].link),
            ));
        }
    }
    Inputs::planar(&layout, refuse)
}
