//! The expert of the one-legged hopper (robots/hopper.toml): a Raibert-style hopping
//! controller (Raibert, Brown, Chepponis 1984) acting only through the policy's interface —
//! 3 joint position targets per control tick (hip, knee, ankle), tracked by the plant's
//! fixed-gain PD — while reading privileged state (centre of mass and its velocity, the
//! ankle). It drives robots of the hopper's shape only ([`HopperExpert::new`] refuses any
//! other).
//!
//! Three phases: flight (no contact), compression (foot down, the centre of mass still
//! falling, at least `compress_min_s`) and thrust (foot down, rising). Raibert's three parts:
//! - thrust: in compression the knee yields to a bent target, in thrust it extends (and the
//!   ankle pushes the toe down), putting back the energy the landing lost;
//! - foot placement: in flight the hip aims the leg so the ankle would land
//!   `v·T_stance/2 + k·(v − v_cmd)` (+ a fixed offset) ahead of the centre of mass,
//!   `T_stance` the last stance's duration;
//! - attitude: in stance the hip servoes the torso pitch (the foot on the ground takes the
//!   reaction).
//!
//! The hopper is not Raibert's machine: its leg (thigh, leg and a 5.3 kg foot, ~6.6 kg·m²
//! about the hip) is some 30 times the torso's inertia about the hip (~0.22 kg·m²), so in
//! flight a hip torque turns the torso far more than the leg and the placement law moves the
//! foot only a little (at the cost of torso pitch). In flight the foot moves relative to the
//! centre of mass only through the rotation the body took off with, so the push-off sets it:
//! in thrust the ankle also acts on the leg's angular rate in the world (`spin_gain`,
//! `spin_per_speed`). Most of the speed regulation is done in stance by the long foot: the
//! ankle moves the centre of mass against a reference over the foot (`stance_kx`) and against
//! the speed error (`stance_kv`); a hop-to-hop integrator on the speed error
//! (`speed_integral`) trims the reference. The default gains came out of a local search on
//! the flat scenario with the random start push (tests/hopper.rs, `search`, seeds 0 and
//! 100–104 at 0–0.3 m/s), chosen on seeds 17000–17039; docs/SIM.md ("A second robot") has
//! them on fresh seeds.

use serde::{Deserialize, Serialize};
use strider_robot::{Action, JointValues, Observation, RobotSpec};

use crate::error::SimError;
use crate::expert::Inputs;
use crate::simulator::Privileged;

/// The hopping expert's gains and targets; angles in rad, counter-clockwise positive (hip > 0
/// swings the thigh forward, knee < 0 flexes, ankle > 0 lifts the toe).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HopperParams {
    /// Knee target in flight.
    pub flight_knee: f64,
    /// Knee target while compressing (the PD yields toward it like a spring).
    pub compress_knee: f64,
    /// Knee target in thrust.
    pub thrust_knee: f64,
    /// Ankle offset from the flat foot in thrust (< 0 pushes the toe down).
    pub thrust_ankle: f64,
    /// Ankle offset from the flat foot in flight (> 0 lands heel first).
    pub flight_ankle: f64,
    /// Foot placement gain on the speed error, m per m/s.
    pub k_place: f64,
    /// Share of the neutral point `v·T_stance/2` used (1 = Raibert's).
    pub neutral_share: f64,
    /// Fixed offset of the ankle ahead of the centre of mass at landing, m.
    pub place_offset_m: f64,
    /// Placement bound, ankle ahead of the centre of mass, m.
    pub place_limit_m: f64,
    /// Stance duration before the first touchdown, s.
    pub stance_guess_s: f64,
    /// Desired torso pitch at zero speed (positive leans back).
    pub pitch_base: f64,
    /// Extra lean back per m/s of command.
    pub pitch_per_speed: f64,
    /// Stance hip: gain on the pitch error.
    pub g_pitch: f64,
    /// Stance hip: lead on the pitch rate, s.
    pub g_pitch_rate_s: f64,
    /// Stance hip: share of the PD's relative damping folded into the target (biped: 1).
    pub hip_damping_share: f64,
    /// Flight hip: share of the attitude servo added to the placement target.
    pub flight_attitude: f64,
    /// Stance ankle: balance on the centre of mass ahead of the foot's middle, rad/m.
    pub stance_kx: f64,
    /// Stance ankle: balance on the speed error, rad·s/m.
    pub stance_kv: f64,
    /// Stance ankle: the centre of mass reference moves over the foot at the command, from
    /// `v·T_stance/2` behind its middle at touchdown (share of that motion, 0 = fixed).
    pub stance_ref_share: f64,
    /// Where the foot's middle is, ahead of the ankle, m.
    pub foot_middle_m: f64,
    /// Compression lasts at least this before thrust, s.
    pub compress_min_s: f64,
    /// Thrust lasts at most this before compressing again (a stance that never leaves), s.
    pub thrust_cap_s: f64,
    /// Command rate limit, m/s².
    pub command_ramp_mps2: f64,
    /// Hop-to-hop speed integrator: at each touchdown the stance and placement speed
    /// reference moves by this share of (command − the last hop's mean speed), so a gait
    /// that settles slower or faster than commanded is pulled back (0 = off).
    pub speed_integral: f64,
    /// Bound of that correction, m/s.
    pub speed_integral_limit_mps: f64,
    /// Thrust ankle: gain on the leg's angular rate in the world (torso pitch rate + hip +
    /// knee rates) against `spin_per_speed × command`, rad per rad/s. The push-off sets the
    /// rotation the body takes into flight, and that rotation is what carries the foot
    /// forward of the centre of mass before the next landing (the hip cannot: the leg has
    /// some 30 times the torso's inertia).
    pub spin_gain: f64,
    /// The leg's angular rate that push-off aims at, per m/s of command, rad/s per m/s
    /// (counter-clockwise positive: the foot swings forward in flight).
    pub spin_per_speed: f64,
}

impl Default for HopperParams {
    fn default() -> HopperParams {
        HopperParams {
            flight_knee: -0.1594182623893373,
            compress_knee: -0.6844615405230603,
            thrust_knee: -0.1424990424842306,
            thrust_ankle: 0.04342723225368899,
            flight_ankle: -0.019087763780505945,
            k_place: -0.15280530781179663,
            neutral_share: 1.1740692372081478,
            place_offset_m: -0.06257655713714644,
            place_limit_m: 0.35,
            stance_guess_s: 0.2,
            pitch_base: 0.02497004048330416,
            pitch_per_speed: 0.04084406758198063,
            g_pitch: 0.5829645903272965,
            g_pitch_rate_s: 0.04772911471901288,
            hip_damping_share: 0.0,
            flight_attitude: 0.1372908880223454,
            stance_kx: 3.1236755519525463,
            stance_kv: 0.8117641326164833,
            stance_ref_share: -0.20981630930661144,
            foot_middle_m: 0.065,
            compress_min_s: 0.0830444395489702,
            thrust_cap_s: 0.47168054601329357,
            command_ramp_mps2: 0.5,
            speed_integral: 0.08297386427082956,
            speed_integral_limit_mps: 0.5241095853178133,
            spin_gain: 0.04695991562425932,
            spin_per_speed: 1.2405414481550643,
        }
    }
}

impl HopperParams {
    /// Reads parameters from TOML text (any field left out keeps its default).
    pub fn from_toml_str(text: &str, origin: &str) -> Result<HopperParams, SimError> {
        toml::from_str(text).map_err(|e| SimError::Parse {
            file: origin.into(),
            what: "hopper expert parameters",
            message: crate::scenario::one_line(&e.to_string()),
        })
    }
}

/// The hopper's joints: hip, knee, ankle.
const HOPPER_JOINTS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HopPhase {
    Flight,
    Compress,
    Thrust,
}

/// The leg's geometry from the description: link vectors in their own frames.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    /// Hip in the torso's frame.
    hip_in_torso: [f64; 2],
    /// Hip to knee in the thigh's frame.
    thigh: [f64; 2],
    /// Knee to ankle in the leg's frame.
    leg: [f64; 2],
}

/// The controller's state; one per episode.
#[derive(Debug, Clone)]
pub struct HopperExpert {
    p: HopperParams,
    dt: f64,
    /// kd/kp of hip, knee, ankle.
    damping: [f64; HOPPER_JOINTS],
    inputs: Inputs,
    geo: Geometry,
    phase: HopPhase,
    ticks_in_phase: u32,
    touchdown_s: f64,
    stance_s: f64,
    hops: u32,
    v_ref: f64,
    /// Centre-of-mass x and time at the last touchdown.
    last_touchdown: Option<(f64, f64)>,
    /// The integrator's correction of the speed reference, m/s.
    v_trim: f64,
}

impl HopperExpert {
    /// A fresh controller with default parameters. Refuses, naming the field, a robot that is
    /// not of the hopper's shape: one leg of hip, knee and ankle hanging from the IMU link, a
    /// contact on its foot, an IMU reporting pitch and pitch rate, and forward speed as the
    /// only command.
    pub fn new(spec: &RobotSpec) -> Result<HopperExpert, SimError> {
        HopperExpert::with_params(spec, HopperParams::default())
    }

    /// As [`HopperExpert::new`], with these parameters.
    pub fn with_params(spec: &RobotSpec, params: HopperParams) -> Result<HopperExpert, SimError> {
        let inputs = hopper_inputs(spec)?;
        let j = &spec.joints;
        let sub = |a: [f64; 2], b: [f64; 2]| [a[0] - b[0], a[1] - b[1]];
        let geo = Geometry {
            hip_in_torso: j[0].parent_anchor_m,
            thigh: sub(j[1].parent_anchor_m, j[0].child_anchor_m),
            leg: sub(j[2].parent_anchor_m, j[1].child_anchor_m),
        };
        let damping = [0, 1, 2].map(|i| j[i].kd_nms_per_rad / j[i].kp_nm_per_rad);
        Ok(HopperExpert {
            p: params,
            dt: spec.control_dt_s(),
            damping,
            inputs,
            geo,
            phase: HopPhase::Compress,
            ticks_in_phase: 0,
            touchdown_s: 0.0,
            stance_s: params.stance_guess_s,
            hops: 0,
            v_ref: 0.0,
            last_touchdown: None,
            v_trim: 0.0,
        })
    }

    /// Touchdowns so far.
    pub fn hops(&self) -> u32 {
        self.hops
    }

    pub fn phase(&self) -> HopPhase {
        self.phase
    }

    /// One control tick: reads the observation and the privileged state, returns the joint
    /// targets.
    pub fn act(&mut self, obs: &Observation, state: &Privileged) -> Action {
        let p = self.p;
        let target = f64::from(obs.command[self.inputs.vx]);
        let max_change = p.command_ramp_mps2 * self.dt;
        self.v_ref += (target - self.v_ref).clamp(-max_change, max_change);
        let v_cmd = self.v_ref;
        let s = &obs.sensors;
        let contact = s.contact[0];
        self.ticks_in_phase += 1;
        let elapsed = f64::from(self.ticks_in_phase) * self.dt;
        let next = match self.phase {
            HopPhase::Flight if contact => {
                self.touchdown_s = state.time_s;
                self.hops += 1;
                if let Some((x, t)) = self.last_touchdown.filter(|&(_, t)| state.time_s - t > 1e-6) {
                    let hop_speed = (state.com_x - x) / (state.time_s - t);
                    let limit = p.speed_integral_limit_mps;
                    self.v_trim =
                        (self.v_trim + p.speed_integral * (self.v_ref - hop_speed)).clamp(-limit, limit);
                }
                self.last_touchdown = Some((state.com_x, state.time_s));
                Some(HopPhase::Compress)
            }
            HopPhase::Compress if !contact => Some(HopPhase::Flight),
            HopPhase::Compress if state.com_vy >= 0.0 && elapsed >= p.compress_min_s - 1e-9 => {
                Some(HopPhase::Thrust)
            }
            HopPhase::Thrust if !contact => {
                self.stance_s = (state.time_s - self.touchdown_s).clamp(0.05, 0.5);
                Some(HopPhase::Flight)
            }
            HopPhase::Thrust if elapsed >= p.thrust_cap_s => Some(HopPhase::Compress),
            _ => None,
        };
        if let Some(n) = next {
            self.phase = n;
            self.ticks_in_phase = 0;
        }

        let pitch = f64::from(s.imu[self.inputs.pitch]);
        let pitch_rate = f64::from(s.imu[self.inputs.pitch_rate]);
        let q = [0, 1, 2].map(|i| f64::from(s.joint_pos[i]));
        let qd = [0, 1, 2].map(|i| f64::from(s.joint_vel[i]));
        let pitch_des = p.pitch_base + p.pitch_per_speed * v_cmd;
        let v_aim = v_cmd + self.v_trim;
        let attitude = p.g_pitch * (pitch - pitch_des) + p.g_pitch_rate_s * pitch_rate;
        let flat = -(pitch + q[0] + q[1]);

        let out = match self.phase {
            HopPhase::Flight => {
                let v = state.com_vx;
                let ahead =
                    (p.place_offset_m + p.neutral_share * v * self.stance_s / 2.0 + p.k_place * (v - v_aim))
                        .clamp(-p.place_limit_m, p.place_limit_m);
                let hip_x = state.torso_x + rotate(pitch, self.geo.hip_in_torso)[0];
                let dx = state.com_x + ahead - hip_x;
                let thigh_world = self.thigh_for(dx, p.flight_knee);
                let hip = thigh_world - pitch_des + p.flight_attitude * attitude;
                let ankle = -(thigh_world + p.flight_knee) + p.flight_ankle;
                [hip, p.flight_knee, ankle]
            }
            HopPhase::Compress | HopPhase::Thrust => {
                let hip = q[0] + attitude + p.hip_damping_share * self.damping[0] * qd[0];
                let thrust = self.phase == HopPhase::Thrust;
                let knee = if thrust { p.thrust_knee } else { p.compress_knee };
                // Bounded by the last stance's duration: a stance that lasts longer (a policy's,
                // under the shadow expert) must not drag the reference off the foot.
                let since = (state.time_s - self.touchdown_s).min(self.stance_s);
                let foot_mid = state.ankle_x[0]
                    + p.foot_middle_m
                    + p.stance_ref_share * v_cmd * (since - self.stance_s / 2.0);
                let balance =
                    -(p.stance_kx * (state.com_x - foot_mid) + p.stance_kv * (state.com_vx - v_aim));
                let leg_rate = pitch_rate + qd[0] + qd[1];
                let spin = p.spin_gain * (leg_rate - p.spin_per_speed * v_cmd);
                let ankle = flat + balance + if thrust { p.thrust_ankle + spin } else { 0.0 };
                [hip, knee, ankle]
            }
        };
        Action { joint_target: JointValues::from(out.map(|q| q as f32)) }
    }

    /// The thigh's world angle that puts the ankle `dx` ahead of the hip with the knee at
    /// `knee`.
    fn thigh_for(&self, dx: f64, knee: f64) -> f64 {
        let l = rotate(knee, self.geo.leg);
        let w = [self.geo.thigh[0] + l[0], self.geo.thigh[1] + l[1]];
        let len = w[0].hypot(w[1]);
        let psi0 = w[0].atan2(-w[1]);
        (dx / len).clamp(-0.95, 0.95).asin() - psi0
    }
}

fn rotate(a: f64, v: [f64; 2]) -> [f64; 2] {
    let (s, c) = a.sin_cos();
    [c * v[0] - s * v[1], s * v[0] + c * v[1]]
}

/// Where the expert's inputs sit in `spec`'s observation, if `spec` has the hopper's shape;
/// otherwise the first difference, naming its field.
fn hopper_inputs(spec: &RobotSpec) -> Result<Inputs, SimError> {
    let refuse = |field: String, found: String| SimError::UnsupportedRobot {
        robot: spec.name.clone(),
        field,
        problem: format!(
            "{found}: the hopping expert drives the hopper's shape only (one leg of hip, knee and ankle \
             from the IMU link; a contact on its foot; IMU pitch and pitch_rate; command vx)"
        ),
    };
    let layout = spec.layout();
    if layout.joints != HOPPER_JOINTS {
        return Err(refuse("joints".into(), format!("{} joints, not {HOPPER_JOINTS}", layout.joints)));
    }
    let contacts = &spec.sensors.contacts;
    if contacts.len() != 1 {
        return Err(refuse("sensors.contacts".into(), format!("{} contacts, not 1", contacts.len())));
    }
    let chain = [
        (0, spec.sensors.imu_link.as_str()),
        (1, spec.joints[0].child.as_str()),
        (2, spec.joints[1].child.as_str()),
    ];
    for (j, above) in chain {
        if spec.joints[j].parent != above {
            return Err(refuse(
                format!("joints[{j}] ({}).parent", spec.joints[j].name),
                format!("`{}`, not `{above}`", spec.joints[j].parent),
            ));
        }
    }
    let foot = &spec.joints[2].child;
    if contacts[0].link != *foot {
        return Err(refuse(
            "sensors.contacts[0].link".into(),
            format!("`{}`, not the foot `{foot}`", contacts[0].link),
        ));
    }
    Inputs::planar(&layout, refuse)
}
