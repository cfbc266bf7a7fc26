//! The safety envelope outside the model, and the controller's modes.

use serde::{Deserialize, Serialize};
use strider_robot::{Action, NUM_JOINTS, RobotSpec};

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
    /// Time spent damping (kp = 0) after a stop or a fault before the run ends, s
    /// (default 1.0).
    pub damp_s: f64,
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
        }
    }
}

/// What the controller is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Interpolating to the default pose.
    Homing,
    /// The pilot's actions, through the envelope.
    Running,
    /// Damping only, after a stop or a fault.
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
    /// which clamps engaged; `None` for a non-finite target.
    pub fn apply(&self, target: &Action, last: &Action) -> Option<(Action, Clamped)> {
        if !target.is_finite() {
            return None;
        }
        let mut clamped = Clamped::default();
        let joint_target = std::array::from_fn(|i| {
            let want = target.joint_target[i];
            let step = self.max_step;
            let paced = want.clamp(last.joint_target[i] - step, last.joint_target[i] + step);
            let v = paced.clamp(self.lo[i], self.hi[i]);
            clamped.rate |= paced != want;
            clamped.limit |= v != paced;
            v
        });
        Some((Action { joint_target }, clamped))
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
    }
}
