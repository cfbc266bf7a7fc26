//! The safety envelope outside the model, the plausibility screen on measurements, and the
//! controller's modes.

use serde::{Deserialize, Serialize};
use strider_robot::{Action, ImuField, JointValues, Layout, MAX_OBS, RobotSpec, Sensors};

/// Limits and timings of the controller. Every field has a default; see each.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// Largest change of any joint target from one tick to the next, rad (default 1.75).
    /// The expert's demonstrations step a target by up to 1.62 rad in one tick (the swing
    /// leg's targets switch at touchdown), so the clamp engages only on a jump the robot
    /// was never shown.
    pub max_target_step_rad: f32,
    /// Torso pitch beyond ± this is a fall, rad (default 1.0): the controller damps.
    pub fall_pitch_rad: f32,
    /// Time to interpolate from the measured pose to the default pose before running, s
    /// (default 2.0).
    pub homing_s: f64,
    /// Homing is skipped when every joint is already this close to the default pose, rad
    /// (default 0.05).
    pub at_pose_rad: f32,
    /// Consecutive ticks without a usable action before the controller damps (default 5).
    pub max_consecutive_misses: u32,
    /// Share of the tick the pilot may take in real time (default 0.5); later is a miss.
    pub inference_budget: f64,
    /// Least time spent damping (kp = 0) after a stop or a fault before the robot may be
    /// disarmed, s (default 1.0).
    pub damp_s: f64,
    /// Damping that has not brought the robot to rest after this long ends the run with
    /// the robot left damping, never disarmed, s (default 5.0).
    pub max_damp_s: f64,
    /// The robot is at rest when every joint speed and the pitch rate stay below this for
    /// `rest_s`, rad/s (default 0.2).
    pub rest_speed_rad_s: f32,
    /// How long the robot must stay below `rest_speed_rad_s` to count as at rest, s
    /// (default 0.2).
    pub rest_s: f64,
    /// Ride-through: while the plant gives no measurement (a lost or corrupt frame, a
    /// silent robot) for less than this, the last command is held and the run goes on, s
    /// (default 0.25, below the 0.3 s command watchdog every firmware implements,
    /// docs/PROTOCOL.md). Longer: the controller damps and waits for the link.
    pub hold_s: f64,
    /// The link must answer every tick for this long before a damped robot is homed again
    /// and the pilot resumes, s (default 0.2).
    pub resume_after_s: f64,
    /// With no measurement for this long the controller gives up on the link and the run
    /// ends (the robot's own watchdog keeps it damping), s (default 30).
    pub give_up_s: f64,
    /// A measured joint angle further than this outside its joint limits is implausible,
    /// rad (default 0.3).
    pub joint_limit_margin_rad: f32,
    /// A measured joint speed above this is implausible, rad/s (default 50).
    pub max_joint_speed_rad_s: f32,
    /// A measured pitch rate above this is implausible, rad/s (default 30).
    pub max_pitch_rate_rad_s: f32,
    /// Consecutive ticks with a safety-relevant field implausible (pitch, pitch rate, or
    /// two or more joint angles) before the controller damps (default 5).
    pub max_implausible_ticks: u32,
    /// Damp (and end the run) after this many consecutive ticks above the model's
    /// surprise threshold; `None` (the default): surprise is reported, never acted on.
    pub damp_after_surprising_ticks: Option<u32>,
}

impl Default for SafetyConfig {
    fn default() -> SafetyConfig {
        SafetyConfig {
            max_target_step_rad: 1.75,
            fall_pitch_rad: 1.0,
            homing_s: 2.0,
            at_pose_rad: 0.05,
            max_consecutive_misses: 5,
            inference_budget: 0.5,
            damp_s: 1.0,
            max_damp_s: 5.0,
            rest_speed_rad_s: 0.2,
            rest_s: 0.2,
            hold_s: 0.25,
            resume_after_s: 0.2,
            give_up_s: 30.0,
            joint_limit_margin_rad: 0.3,
            max_joint_speed_rad_s: 50.0,
            max_pitch_rate_rad_s: 30.0,
            max_implausible_ticks: 5,
            damp_after_surprising_ticks: None,
        }
    }
}

/// What the controller is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Interpolating from the measured pose to the default pose.
    Homing,
    /// The pilot's actions, through the envelope; during a short link silence, the last
    /// command held.
    Running,
    /// The link was silent longer than the hold time or the robot left Run by itself:
    /// damping while the link comes back, then homing again.
    Recovering,
    /// Damping only, after a stop or a fault, until the robot is at rest; then disarmed.
    Damping,
}

/// Joint-limit and rate clamps for position targets.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    lo: JointValues,
    hi: JointValues,
    max_step: f32,
}

impl Envelope {
    pub fn new(spec: &RobotSpec, cfg: &SafetyConfig) -> Envelope {
        let limit = |k: usize| -> JointValues {
            let v: Vec<f32> = spec.joints.iter().map(|j| j.limits_rad()[k] as f32).collect();
            JointValues::from_slice(&v)
        };
        Envelope { lo: limit(0), hi: limit(1), max_step: cfg.max_target_step_rad }
    }

    /// `target` clamped within `max_step` of `last`, then into the joint limits, and
    /// which clamps engaged; `None` when either is not finite or does not have one target
    /// per joint. (`min`/`max`, not `clamp`: nothing here can panic, whatever the numbers.)
    pub fn apply(&self, target: &Action, last: &Action) -> Option<(Action, Clamped)> {
        if !self.fits(target) || !self.fits(last) {
            return None;
        }
        let mut clamped = Clamped::default();
        let mut out = *target;
        for (i, v) in out.joint_target.iter_mut().enumerate() {
            let want = *v;
            let step = self.max_step;
            let paced = want.max(last.joint_target[i] - step).min(last.joint_target[i] + step);
            *v = paced.max(self.lo[i]).min(self.hi[i]);
            clamped.rate |= paced != want;
            clamped.limit |= *v != paced;
        }
        Some((out, clamped))
    }

    /// `target` inside the joint limits, or `None` if it is not finite (or not one target
    /// per joint).
    pub fn limit(&self, target: &Action) -> Option<Action> {
        self.fits(target).then(|| {
            let mut out = *target;
            for (i, v) in out.joint_target.iter_mut().enumerate() {
                *v = v.max(self.lo[i]).min(self.hi[i]);
            }
            out
        })
    }

    /// True when every target is finite and inside the joint limits.
    pub fn contains(&self, target: &Action) -> bool {
        self.fits(target)
            && target.joint_target.iter().enumerate().all(|(i, &q)| self.lo[i] <= q && q <= self.hi[i])
    }

    fn fits(&self, a: &Action) -> bool {
        a.joint_target.len() == self.lo.len() && a.is_finite()
    }
}

/// Which clamps of the [`Envelope`] changed an action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clamped {
    /// The per-tick rate limit.
    pub rate: bool,
    /// A joint limit.
    pub limit: bool,
}

/// Which measured fields were implausible, by observation-layout index
/// ([`RobotSpec::observation_layout`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Implausible(u128);

// One bit per field of the longest observation.
const _: () = assert!(MAX_OBS <= 128);

impl Implausible {
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The observation-layout indices set, in order.
    pub fn fields(self) -> impl Iterator<Item = usize> {
        (0..MAX_OBS).filter(move |i| self.0 & (1 << i) != 0)
    }

    fn set(&mut self, i: usize) {
        self.0 |= 1 << i;
    }

    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }
}

/// The IMU's view of the robot's attitude that fall detection relies on: the tilt angles
/// (pitch, roll) and their rates, by index in [`Sensors::imu`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Attitude {
    angles: Vec<usize>,
    rates: Vec<usize>,
}

impl Attitude {
    /// `None` when the IMU reports no tilt angle (neither pitch nor roll).
    pub(crate) fn new(layout: &Layout) -> Option<Attitude> {
        let find = |fields: &[ImuField]| -> Vec<usize> {
            fields.iter().filter_map(|&f| layout.imu_index(f)).collect()
        };
        let angles = find(&[ImuField::Pitch, ImuField::Roll]);
        (!angles.is_empty())
            .then(|| Attitude { angles, rates: find(&[ImuField::PitchRate, ImuField::RollRate]) })
    }

    /// The largest tilt magnitude, rad; NaN when a tilt angle is not known.
    pub(crate) fn tilt(&self, s: &Sensors) -> f32 {
        self.angles
            .iter()
            .map(|&i| s.imu[i].abs())
            .fold(0.0, |m, v| if v.is_nan() || m.is_nan() { f32::NAN } else { m.max(v) })
    }

    /// True when IMU field `k` is a tilt angle.
    pub(crate) fn is_angle(&self, k: usize) -> bool {
        self.angles.contains(&k)
    }

    /// True when every tilt rate is below `v` (rad/s).
    pub(crate) fn still(&self, s: &Sensors, v: f32) -> bool {
        self.rates.iter().all(|&i| s.imu[i].abs() < v)
    }
}

/// Checks every measurement against the contract before the pilot sees it: finite, joint
/// angles within the limits plus a margin, speeds within bounds. An implausible field is
/// replaced by NaN, which the policy's tokenizer turns into `[M]` (docs/TOKENS.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    layout: Layout,
    lo: JointValues,
    hi: JointValues,
    max_joint_speed: f32,
    max_pitch_rate: f32,
}

impl Screen {
    pub fn new(spec: &RobotSpec, cfg: &SafetyConfig) -> Screen {
        let m = cfg.joint_limit_margin_rad;
        let limit = |k: usize, d: f32| -> JointValues {
            let v: Vec<f32> = spec.joints.iter().map(|j| j.limits_rad()[k] as f32 + d).collect();
            JointValues::from_slice(&v)
        };
        Screen {
            layout: spec.layout(),
            lo: limit(0, -m),
            hi: limit(1, m),
            max_joint_speed: cfg.max_joint_speed_rad_s,
            max_pitch_rate: cfg.max_pitch_rate_rad_s,
        }
    }

    /// `s` with every implausible field set to NaN, and which fields those were. A
    /// measurement that does not fit the robot's layout is implausible in every field.
    pub fn screen(&self, s: &Sensors) -> (Sensors, Implausible) {
        let layout = &self.layout;
        if !s.fits(layout) {
            let mut bad = Implausible::default();
            (0..layout.command_offset()).for_each(|i| bad.set(i));
            return (Sensors::filled(layout, f32::NAN), bad);
        }
        let mut out = *s;
        let mut bad = Implausible::default();
        // `RangeInclusive::contains` is false for NaN, so a NaN fails every test here.
        let speed = |v: f32, max: f32| (-max..=max).contains(&v);
        let n = layout.joints;
        for i in 0..n {
            if !(self.lo[i]..=self.hi[i]).contains(&s.joint_pos[i]) {
                out.joint_pos[i] = f32::NAN;
                bad.set(i);
            }
            if !speed(s.joint_vel[i], self.max_joint_speed) {
                out.joint_vel[i] = f32::NAN;
                bad.set(n + i);
            }
        }
        for (k, field) in layout.imu.iter().enumerate() {
            let bound = match field {
                ImuField::Pitch | ImuField::Roll => std::f32::consts::PI,
                ImuField::PitchRate | ImuField::RollRate | ImuField::YawRate => self.max_pitch_rate,
                // A unit vector's component, with room for the accelerometer's own noise.
                ImuField::GravityX | ImuField::GravityY | ImuField::GravityZ => 1.5,
            };
            if !speed(s.imu[k], bound) {
                out.imu[k] = f32::NAN;
                bad.set(layout.imu_offset() + k);
            }
        }
        (out, bad)
    }

    /// The field that makes this tick unsafe to act on, if any: a tilt angle or its rate
    /// (fall detection would be blind), or the first of two or more joint angles.
    pub fn safety_relevant(&self, bad: Implausible) -> Option<usize> {
        let layout = &self.layout;
        for field in [ImuField::Pitch, ImuField::PitchRate, ImuField::Roll, ImuField::RollRate] {
            if let Some(k) = layout.imu_index(field).map(|k| layout.imu_offset() + k)
                && bad.has(k)
            {
                return Some(k);
            }
        }
        let mut joints = (0..layout.joints).filter(|&i| bad.has(i));
        let first = joints.next();
        joints.next().and(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_rate_then_limits_and_refuses_non_finite() {
        let spec = RobotSpec::reference();
        let env = Envelope::new(&spec, &SafetyConfig::default());
        let home = spec.default_action();
        let (same, clamped) = env.apply(&home, &home).unwrap();
        assert_eq!((same, clamped), (home, Clamped::default()));

        let mut far = home;
        far.joint_target[1] -= 3.0; // knee: −0.52 rad − 3 rad, limit −2.62 rad
        let (out, clamped) = env.apply(&far, &home).unwrap();
        assert!(clamped.rate && !clamped.limit, "{clamped:?}");
        let step = SafetyConfig::default().max_target_step_rad;
        assert_eq!(out.joint_target[1], home.joint_target[1] - step);

        let mut beyond = home;
        let hi = spec.joints[0].limits_rad()[1] as f32;
        beyond.joint_target[0] = hi + 0.2;
        let mut last = home;
        last.joint_target[0] = hi;
        let (out, clamped) = env.apply(&beyond, &last).unwrap();
        assert!(clamped.limit && !clamped.rate, "{clamped:?}");
        assert_eq!(out.joint_target[0], hi, "never past the joint limit");

        let mut nan = home;
        nan.joint_target[3] = f32::NAN;
        assert_eq!(env.apply(&nan, &home), None);
        assert_eq!(env.apply(&home, &nan), None, "a non-finite last target is refused, not a panic");
    }

    #[test]
    fn the_screen_masks_non_finite_and_out_of_range_fields() {
        let spec = RobotSpec::reference();
        let screen = Screen::new(&spec, &SafetyConfig::default());
        let layout = spec.layout();
        let home = Sensors { joint_pos: spec.default_action().joint_target, ..Sensors::zeros(&layout) };
        let (pitch_at, rate_at) =
            (layout.imu_index(ImuField::Pitch).unwrap(), layout.imu_index(ImuField::PitchRate).unwrap());
        assert_eq!(screen.screen(&home), (home, Implausible::default()));

        let mut s = home;
        s.joint_pos[0] = 10.0; // hip far outside its limits
        s.joint_pos[1] = -7.0;
        s.joint_vel[4] = f32::INFINITY;
        s.imu[rate_at] = 3.0; // plausible
        let (out, bad) = screen.screen(&s);
        assert_eq!(bad.fields().collect::<Vec<_>>(), [0, 1, layout.joints + 4]);
        assert!(out.joint_pos[0].is_nan() && out.joint_pos[1].is_nan() && out.joint_vel[4].is_nan());
        assert_eq!((out.joint_pos[2], out.imu[rate_at]), (s.joint_pos[2], 3.0));
        assert_eq!(screen.safety_relevant(bad), Some(0), "two joint angles are safety-relevant");

        let mut one = home;
        one.joint_vel[0] = f32::NAN;
        assert_eq!(screen.safety_relevant(screen.screen(&one).1), None, "one velocity is not");
        let mut pitch = home;
        pitch.imu[pitch_at] = f32::NAN;
        assert_eq!(screen.safety_relevant(screen.screen(&pitch).1), Some(layout.imu_offset() + pitch_at));

        let short = Sensors { joint_pos: JointValues::zeros(3), ..home };
        let (out, bad) = screen.screen(&short);
        assert!(out.fits(&layout) && out.joint_pos.iter().all(|q| q.is_nan()), "{out:?}");
        assert_eq!(
            screen.safety_relevant(bad),
            Some(layout.imu_offset() + pitch_at),
            "a measurement of another robot"
        );
    }
}
