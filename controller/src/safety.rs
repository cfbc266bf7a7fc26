//! The safety envelope outside the model, the plausibility screen on measurements, and the
//! controller's modes.

use serde::{Deserialize, Serialize};
use strider_robot::{Action, NUM_JOINTS, OBS_DIM, RobotSpec, Sensors};

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
    lo: [f32; NUM_JOINTS],
    hi: [f32; NUM_JOINTS],
    max_step: f32,
}

impl Envelope {
    pub fn new(spec: &RobotSpec, cfg: &SafetyConfig) -> Envelope {
        let lim = |i: usize| spec.joints[i].limits_rad();
        Envelope {
            lo: std::array::from_fn(|i| lim(i)[0] as f32),
            hi: std::array::from_fn(|i| lim(i)[1] as f32),
            max_step: cfg.max_target_step_rad,
        }
    }

    /// `target` clamped within `max_step` of `last`, then into the joint limits, and
    /// which clamps engaged; `None` when either is not finite. (`min`/`max`, not `clamp`:
    /// nothing here can panic, whatever the numbers.)
    pub fn apply(&self, target: &Action, last: &Action) -> Option<(Action, Clamped)> {
        if !target.is_finite() || !last.is_finite() {
            return None;
        }
        let mut clamped = Clamped::default();
        let joint_target = std::array::from_fn(|i| {
            let want = target.joint_target[i];
            let step = self.max_step;
            let paced = want.max(last.joint_target[i] - step).min(last.joint_target[i] + step);
            let v = paced.max(self.lo[i]).min(self.hi[i]);
            clamped.rate |= paced != want;
            clamped.limit |= v != paced;
            v
        });
        Some((Action { joint_target }, clamped))
    }

    /// `target` inside the joint limits, or `None` if it is not finite.
    pub fn limit(&self, target: &Action) -> Option<Action> {
        target.is_finite().then(|| Action {
            joint_target: std::array::from_fn(|i| target.joint_target[i].max(self.lo[i]).min(self.hi[i])),
        })
    }

    /// True when every target is finite and inside the joint limits.
    pub fn contains(&self, target: &Action) -> bool {
        target
            .joint_target
            .iter()
            .enumerate()
            .all(|(i, &q)| q.is_finite() && self.lo[i] <= q && q <= self.hi[i])
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

/// The observation-layout indices of the fields the screen checks.
const PITCH: usize = 2 * NUM_JOINTS;
const PITCH_RATE: usize = PITCH + 1;

/// Which measured fields were implausible, by observation-layout index
/// ([`RobotSpec::observation_layout`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Implausible(u32);

impl Implausible {
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The observation-layout indices set, in order.
    pub fn fields(self) -> impl Iterator<Item = usize> {
        (0..OBS_DIM).filter(move |i| self.0 & (1 << i) != 0)
    }

    fn set(&mut self, i: usize) {
        self.0 |= 1 << i;
    }

    /// The field that makes this tick unsafe to act on, if any: the pitch or its rate (fall
    /// detection would be blind), or the first of two or more joint angles.
    pub fn safety_relevant(self) -> Option<usize> {
        if self.0 & (1 << PITCH) != 0 {
            return Some(PITCH);
        }
        if self.0 & (1 << PITCH_RATE) != 0 {
            return Some(PITCH_RATE);
        }
        let joints = self.0 & ((1 << NUM_JOINTS) - 1);
        (joints.count_ones() >= 2).then(|| joints.trailing_zeros() as usize)
    }
}

/// Checks every measurement against the contract before the pilot sees it: finite, joint
/// angles within the limits plus a margin, speeds within bounds. An implausible field is
/// replaced by NaN, which the policy's tokenizer turns into `[M]` (docs/TOKENS.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Screen {
    lo: [f32; NUM_JOINTS],
    hi: [f32; NUM_JOINTS],
    max_joint_speed: f32,
    max_pitch_rate: f32,
}

impl Screen {
    pub fn new(spec: &RobotSpec, cfg: &SafetyConfig) -> Screen {
        let lim = |i: usize| spec.joints[i].limits_rad();
        let m = cfg.joint_limit_margin_rad;
        Screen {
            lo: std::array::from_fn(|i| lim(i)[0] as f32 - m),
            hi: std::array::from_fn(|i| lim(i)[1] as f32 + m),
            max_joint_speed: cfg.max_joint_speed_rad_s,
            max_pitch_rate: cfg.max_pitch_rate_rad_s,
        }
    }

    /// `s` with every implausible field set to NaN, and which fields those were.
    pub fn screen(&self, s: &Sensors) -> (Sensors, Implausible) {
        let mut out = *s;
        let mut bad = Implausible::default();
        // `RangeInclusive::contains` is false for NaN, so a NaN fails every test here.
        let speed = |v: f32, max: f32| (-max..=max).contains(&v);
        for i in 0..NUM_JOINTS {
            if !(self.lo[i]..=self.hi[i]).contains(&s.joint_pos[i]) {
                out.joint_pos[i] = f32::NAN;
                bad.set(i);
            }
            if !speed(s.joint_vel[i], self.max_joint_speed) {
                out.joint_vel[i] = f32::NAN;
                bad.set(NUM_JOINTS + i);
            }
        }
        if !speed(s.torso_pitch, std::f32::consts::PI) {
            out.torso_pitch = f32::NAN;
            bad.set(PITCH);
        }
        if !speed(s.torso_pitch_rate, self.max_pitch_rate) {
            out.torso_pitch_rate = f32::NAN;
            bad.set(PITCH_RATE);
        }
        (out, bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamps_rate_then_limits_and_refuses_non_finite() {
        let spec = RobotSpec::reference();
        let env = Envelope::new(&spec, &SafetyConfig::default());
        let home = Action { joint_target: spec.default_pose_rad().map(|q| q as f32) };
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
        let home = Sensors { joint_pos: spec.default_pose_rad().map(|q| q as f32), ..Sensors::default() };
        assert_eq!(screen.screen(&home), (home, Implausible::default()));

        let mut s = home;
        s.joint_pos[0] = 10.0; // hip far outside its limits
        s.joint_pos[1] = -7.0;
        s.joint_vel[4] = f32::INFINITY;
        s.torso_pitch_rate = 3.0; // plausible
        let (out, bad) = screen.screen(&s);
        assert_eq!(bad.fields().collect::<Vec<_>>(), [0, 1, NUM_JOINTS + 4]);
        assert!(out.joint_pos[0].is_nan() && out.joint_pos[1].is_nan() && out.joint_vel[4].is_nan());
        assert_eq!((out.joint_pos[2], out.torso_pitch_rate), (s.joint_pos[2], 3.0));
        assert_eq!(bad.safety_relevant(), Some(0), "two joint angles are safety-relevant");

        let mut one = home;
        one.joint_vel[0] = f32::NAN;
        assert_eq!(screen.screen(&one).1.safety_relevant(), None, "one velocity is not");
        let mut pitch = home;
        pitch.torso_pitch = f32::NAN;
        assert_eq!(screen.screen(&pitch).1.safety_relevant(), Some(PITCH));
    }
}
