//! [`Sim`]: a planar robot (the reference biped, or any tree of revolute joints rooted at the
//! IMU link) in rapier2d behind the [`Plant`] seam, with the plant's fixed-gain PD loop,
//! sensor noise, action latency, pushes and fall detection.

use std::collections::VecDeque;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use strider_robot::{
    Action, Command, CommandField, Contacts, ImuField, JointValues, Layout, MAX_CONTACTS, MAX_JOINTS,
    Observation, Plant, PlantError, RobotSpec, Sensors, Values,
};

use crate::error::SimError;
use crate::kinematics::{Kinematics, LinkPose};
use crate::physics::{BuildParams, Physics};
use crate::scenario::{Episode, Event, Scenario, SensorFault};

/// Simulator options that are not part of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimConfig {
    /// A fall: torso centre less than this above the ground under it, m (default 0.8,
    /// Walker2d's "healthy" limit; the torso centre stands at about 1.2 m).
    pub fall_height_m: f64,
    /// A fall: |torso pitch| above this, rad (default 1.0, Walker2d's limit).
    pub fall_pitch_rad: f64,
    /// Noise standard deviations at `sensor_noise_scale = 1`.
    pub noise: SensorNoise,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig { fall_height_m: 0.8, fall_pitch_rad: 1.0, noise: SensorNoise::default() }
    }
}

/// Gaussian sensor noise, one standard deviation per quantity (each IMU field takes its
/// kind's). The PD loop inside the plant always uses the true joint state (it runs on the
/// motor drivers of a real robot).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SensorNoise {
    /// rad (default 0.01).
    pub joint_pos_rad: f64,
    /// rad/s (default 0.1).
    pub joint_vel_radps: f64,
    /// rad (default 0.01).
    pub pitch_rad: f64,
    /// rad/s (default 0.1).
    pub pitch_rate_radps: f64,
    /// Centre-of-mass x as the expert sees it, m (default 0.01).
    pub com_x_m: f64,
    /// Centre-of-mass x velocity as the expert sees it, m/s (default 0.05).
    pub com_vx_mps: f64,
}

impl Default for SensorNoise {
    fn default() -> SensorNoise {
        SensorNoise {
            joint_pos_rad: 0.01,
            joint_vel_radps: 0.1,
            pitch_rad: 0.01,
            pitch_rate_radps: 0.1,
            com_x_m: 0.01,
            com_vx_mps: 0.05,
        }
    }
}

/// The simulator's full state at a tick: for evaluation and for the expert, never for the
/// policy.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Privileged {
    /// Control ticks since reset.
    pub tick: u64,
    /// s since reset.
    pub time_s: f64,
    /// Torso (IMU link) centre, m.
    pub torso_x: f64,
    pub torso_y: f64,
    /// Torso centre above the ground directly under it, m.
    pub torso_height: f64,
    /// rad, positive leans back.
    pub torso_pitch: f64,
    /// m/s.
    pub torso_vx: f64,
    pub torso_vy: f64,
    /// rad/s.
    pub torso_pitch_rate: f64,
    /// Whole-body centre of mass, m and m/s.
    pub com_x: f64,
    pub com_y: f64,
    pub com_vx: f64,
    pub com_vy: f64,
    /// x of the joint each contact's link hangs from (for a foot, its ankle), in the
    /// description's contact order (the reference biped: right, left), m.
    pub ankle_x: Values<f64, MAX_CONTACTS>,
    /// Each contact link touching the ground, in the description's contact order (the
    /// reference biped: right, left).
    pub foot_contact: Contacts,
    /// Latched at the first tick that met a fall threshold.
    pub fallen: bool,
}

/// A planar robot in rapier2d: the reference biped, or any description whose links hang from
/// the IMU link through 1 to [`MAX_JOINTS`] revolute joints, whose IMU reports no more than
/// pitch and pitch rate, and whose commands include forward speed (`vx`).
pub struct Sim {
    spec: RobotSpec,
    layout: Layout,
    config: SimConfig,
    kin: Kinematics,
    /// Joint index above each contact link (for a foot, its ankle), in contact order.
    ankles: Vec<usize>,
    /// What each IMU field of the layout measures, in layout order.
    imu: Vec<PlanarImu>,
    physics: Physics,
    episode: Episode,
    noise: Xoshiro256PlusPlus,
    /// Commands sent but not yet applied (action latency).
    pending: VecDeque<Command>,
    applied: Command,
    physics_steps: u64,
    truth: Privileged,
    observed: Privileged,
    sensors: Sensors,
    poses: Vec<LinkPose>,
    /// The episode's sensor faults, resolved to observation indices.
    faults: Vec<Fault>,
    /// The episode's friction events (time, scale), in time order, and how many are applied.
    friction_events: Vec<(f64, f64)>,
    friction_events_done: usize,
}

/// Per-joint values of the plant's own loop (angles, rates, torques), inline.
type JointState = Values<f64, MAX_JOINTS>;

/// The IMU fields a planar simulation measures: the IMU link's angle and its rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PlanarImu {
    Pitch,
    PitchRate,
}

/// A failing sensor of the episode (an [`Event::Sensor`]).
#[derive(Debug, Clone, Copy)]
struct Fault {
    time_s: f64,
    index: usize,
    kind: SensorFault,
    value: f64,
    /// The reading it froze at (`Stuck`), once it failed.
    held: Option<f32>,
}

impl Sim {
    /// A simulator for `spec`, reset to seed 0 on the default (flat) scenario. Refuses, with
    /// the field and the fix, a description it cannot simulate: links that are not a tree of
    /// revolute joints rooted at the IMU link, a contact on the root link, an IMU field other
    /// than pitch and pitch rate, or commands without forward speed (`vx`).
    pub fn new(spec: RobotSpec, config: SimConfig) -> Result<Sim, SimError> {
        let kin = Kinematics::new(&spec)?;
        let unsupported = |field: String, problem: String| SimError::UnsupportedRobot {
            robot: spec.name.clone(),
            field,
            problem,
        };
        let imu = spec
            .sensors
            .imu
            .iter()
            .map(|&f| match f {
                ImuField::Pitch => Ok(PlanarImu::Pitch),
                ImuField::PitchRate => Ok(PlanarImu::PitchRate),
                other => Err(unsupported(
                    "sensors.imu".into(),
                    format!(
                        "`{}`: the planar simulator measures pitch and pitch_rate only; remove the field",
                        other.name()
                    ),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !spec.control.commands.contains(&CommandField::Vx) {
            let list: Vec<&str> = spec.control.commands.iter().map(|c| c.name()).collect();
            return Err(unsupported(
                "control.commands".into(),
                format!(
                    "[{}]: the planar simulator drives forward speed; add \"vx\" to the commands",
                    list.join(", ")
                ),
            ));
        }
        let ankles = kin
            .contacts
            .iter()
            .enumerate()
            .map(|(k, &link)| {
                kin.joint_above(link).ok_or_else(|| {
                    unsupported(
                        format!("sensors.contacts[{k}].link"),
                        format!(
                            "`{}` is the root (IMU) link; a contact link must hang from a joint",
                            spec.links[link].name
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let layout = spec.layout();
        let episode = Scenario::default().draw(0, spec.links.len());
        let physics = build(&spec, &kin, &episode)?;
        let mut sim = Sim {
            applied: hold_default(&spec),
            spec,
            layout,
            config,
            kin,
            ankles,
            imu,
            physics,
            noise: Xoshiro256PlusPlus::seed_from_u64(episode.noise_seed),
            episode,
            pending: VecDeque::new(),
            physics_steps: 0,
            truth: Privileged::default(),
            observed: Privileged::default(),
            sensors: Sensors::zeros(&layout),
            poses: Vec::new(),
            faults: Vec::new(),
            friction_events: Vec::new(),
            friction_events_done: 0,
        };
        sim.measure(0);
        Ok(sim)
    }

    /// Starts a new episode: draws it from `scenario` and `seed`, rebuilds the world and
    /// places the robot in its default pose standing on the ground at x = 0. Until the
    /// first command takes effect (after any latency) the plant holds that pose.
    pub fn reset(&mut self, seed: u64, scenario: &Scenario) -> Result<Sensors, SimError> {
        scenario.validate(&scenario.name)?;
        let episode = scenario.draw(seed, self.spec.links.len());
        self.faults = faults(&self.spec, &episode, &scenario.name)?;
        self.friction_events = episode
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Friction { time_s, scale } => Some((*time_s, *scale)),
                Event::Sensor { .. } => None,
            })
            .collect();
        self.friction_events_done = 0;
        self.physics = build(&self.spec, &self.kin, &episode)?;
        self.noise = Xoshiro256PlusPlus::seed_from_u64(episode.noise_seed);
        self.episode = episode;
        self.pending.clear();
        self.applied = hold_default(&self.spec);
        self.physics_steps = 0;
        self.truth = Privileged::default();
        self.measure(0);
        Ok(self.sensors)
    }

    /// The shape of the robot's observation and action (from its description).
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The true state at the last tick.
    pub fn privileged(&self) -> &Privileged {
        &self.truth
    }

    /// The state as a noisy estimator would report it (centre of mass with the scenario's
    /// sensor noise; everything else true): what the expert reads.
    pub fn privileged_observed(&self) -> &Privileged {
        &self.observed
    }

    /// The episode drawn at the last reset.
    pub fn episode(&self) -> &Episode {
        &self.episode
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Physics steps since reset.
    pub fn physics_steps(&self) -> u64 {
        self.physics_steps
    }

    /// Every link's pose at the last tick, in the robot description's link order.
    pub fn link_poses(&self) -> &[LinkPose] {
        &self.poses
    }

    /// Every link as a capsule (end points and radius, world frame), for drawing.
    pub fn capsules(&self) -> Vec<([[f64; 2]; 2], f64)> {
        self.kin.capsules(&self.poses)
    }

    /// The IMU (root) link's index.
    pub fn torso_link(&self) -> usize {
        self.kin.root
    }

    /// The links of contact `k`'s limb, top down: every link from the root (left out) to the
    /// contact's link (the reference biped: 0 the right leg, 1 the left, thigh to foot);
    /// empty when the robot has no contact `k`.
    pub fn leg_links(&self, k: usize) -> Vec<usize> {
        self.kin.contacts.get(k).map_or_else(Vec::new, |&link| self.kin.chain_to(link))
    }

    /// The push force acting on the torso now, N.
    pub fn push_now(&self) -> f64 {
        self.push_at(self.truth.time_s)
    }

    fn push_at(&self, t: f64) -> f64 {
        self.episode
            .pushes
            .iter()
            .filter(|p| t >= p.time_s && t < p.time_s + p.duration_s)
            .map(|p| p.force_n)
            .sum()
    }

    fn physics_step(&mut self) {
        let dt = self.spec.physics_dt_s();
        let t = self.physics_steps as f64 * dt;
        let (q, qd) = self.joint_state();
        let torques = self.torques(&q, &qd);
        let push = self.push_at(t);
        while let Some(&(at, scale)) = self.friction_events.get(self.friction_events_done)
            && t >= at
        {
            self.friction_events_done += 1;
            self.physics.set_friction_scale(&self.spec, self.episode.friction_scale * scale);
        }
        self.physics.apply(&self.kin, &torques, push);
        self.physics.step();
        self.physics_steps += 1;
    }

    fn joint_state(&self) -> (JointState, JointState) {
        let mut q = JointState::zeros(self.layout.joints);
        let mut qd = JointState::zeros(self.layout.joints);
        for j in 0..self.layout.joints {
            let p = self.physics.link(self.kin.parent[j]);
            let c = self.physics.link(self.kin.child[j]);
            q[j] = wrap(c.angle - p.angle);
            qd[j] = c.omega - p.omega;
        }
        (q, qd)
    }

    /// The plant's PD loop: `clamp(kp (target − q) − kd q̇, ±limit) × motor strength`.
    fn torques(&self, q: &JointState, qd: &JointState) -> JointState {
        let mut torques = JointState::zeros(self.layout.joints);
        for (j, tau_j) in torques.iter_mut().enumerate() {
            let js = &self.spec.joints[j];
            let tau = match &self.applied {
                Command::Disarm => 0.0,
                Command::Damp => -js.kd_nms_per_rad * qd[j],
                Command::Track(a) => {
                    js.kp_nm_per_rad * (f64::from(a.joint_target[j]) - q[j]) - js.kd_nms_per_rad * qd[j]
                }
            };
            *tau_j = tau.clamp(-js.torque_limit_nm, js.torque_limit_nm) * self.episode.motor_strength;
        }
        torques
    }

    /// Reads the world after a tick into sensors and privileged state.
    fn measure(&mut self, tick: u64) {
        self.poses.clear();
        self.poses.extend((0..self.spec.links.len()).map(|i| self.physics.link(i)));
        let (q, qd) = self.joint_state();
        let torso = self.poses[self.kin.root];
        let mass: f64 = (0..self.poses.len()).map(|i| self.physics.mass(i)).sum();
        let weighted = |f: fn(&LinkPose) -> f64| {
            self.poses.iter().enumerate().map(|(i, p)| self.physics.mass(i) * f(p)).sum::<f64>() / mass
        };
        let mut contact = Contacts::zeros(self.kin.contacts.len());
        for (on, &link) in contact.iter_mut().zip(&self.kin.contacts) {
            *on = self.physics.touches_ground(link);
        }
        let mut ankle_x = Values::zeros(self.ankles.len());
        for (x, &j) in ankle_x.iter_mut().zip(&self.ankles) {
            *x = self.kin.joint_position(&self.poses, j)[0];
        }
        let height = torso.y - self.episode.terrain.height_at(torso.x);
        let fell = height < self.config.fall_height_m || torso.angle.abs() > self.config.fall_pitch_rad;
        self.truth = Privileged {
            tick,
            time_s: tick as f64 * self.spec.control_dt_s(),
            torso_x: torso.x,
            torso_y: torso.y,
            torso_height: height,
            torso_pitch: torso.angle,
            torso_vx: torso.vx,
            torso_vy: torso.vy,
            torso_pitch_rate: torso.omega,
            com_x: weighted(|p| p.x),
            com_y: weighted(|p| p.y),
            com_vx: weighted(|p| p.vx),
            com_vy: weighted(|p| p.vy),
            ankle_x,
            foot_contact: contact,
            fallen: self.truth.fallen || fell,
        };
        let scale = self.episode.sensor_noise_scale;
        let n = self.config.noise;
        let mut noisy = |sd: f64| if scale > 0.0 { gaussian(&mut self.noise) * sd * scale } else { 0.0 };
        // The noise stream is drawn in observation order: joint angles, joint rates, IMU.
        let mut sensors = Sensors::zeros(&self.layout);
        for (v, q) in sensors.joint_pos.iter_mut().zip(q.iter()) {
            *v = (q + noisy(n.joint_pos_rad)) as f32;
        }
        for (v, qd) in sensors.joint_vel.iter_mut().zip(qd.iter()) {
            *v = (qd + noisy(n.joint_vel_radps)) as f32;
        }
        for (v, field) in sensors.imu.iter_mut().zip(&self.imu) {
            *v = match field {
                PlanarImu::Pitch => (torso.angle + noisy(n.pitch_rad)) as f32,
                PlanarImu::PitchRate => (torso.omega + noisy(n.pitch_rate_radps)) as f32,
            };
        }
        sensors.contact = contact;
        self.sensors = sensors;
        self.observed = Privileged {
            com_x: self.truth.com_x + noisy(n.com_x_m),
            com_vx: self.truth.com_vx + noisy(n.com_vx_mps),
            ..self.truth
        };
        self.apply_faults();
    }

    /// The failed sensors' readings replace the measured ones.
    fn apply_faults(&mut self) {
        let now = self.truth.time_s;
        if !self.faults.iter().any(|f| now >= f.time_s) {
            return;
        }
        let mut obs = Observation::new(self.sensors, self.layout.forward_command(0.0)).to_values();
        for f in self.faults.iter_mut().filter(|f| now >= f.time_s) {
            obs[f.index] = match f.kind {
                SensorFault::Stuck => *f.held.get_or_insert(obs[f.index]),
                SensorFault::Offset => obs[f.index] + f.value as f32,
            };
        }
        self.sensors = Observation::from_values(&self.layout, &obs).sensors;
    }
}

impl Plant for Sim {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    /// Applies the command sent `latency_ticks` ago (or holds the last one) for
    /// `physics_steps_per_tick` physics steps, and returns the (noisy) sensors at the end.
    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
        if let Command::Track(a) = command {
            if a.joint_target.len() != self.layout.joints {
                return Err(PlantError::Mismatch(format!(
                    "{} joint targets for a robot of {} joints",
                    a.joint_target.len(),
                    self.layout.joints
                )));
            }
            if !a.is_finite() {
                return Err(PlantError::Fault { code: 1, detail: "non-finite joint target".into() });
            }
        }
        self.pending.push_back(*command);
        while self.pending.len() > self.episode.latency_ticks as usize {
            self.applied = self.pending.pop_front().expect("non-empty");
        }
        for _ in 0..self.spec.physics_steps_per_tick() {
            self.physics_step();
        }
        let tick = self.truth.tick + 1;
        self.measure(tick);
        Ok(self.sensors)
    }
}

fn build(spec: &RobotSpec, kin: &Kinematics, episode: &Episode) -> Result<Physics, SimError> {
    let pose = spec.default_pose_rad();
    let params = BuildParams {
        terrain: &episode.terrain,
        friction_scale: episode.friction_scale,
        link_mass_scale: &episode.link_mass_scale,
        joint_pos: &pose,
        start_x: 0.0,
    };
    Physics::build(spec, kin, &params)
}

/// The sensor events of `episode`, each field name resolved against the robot's layout.
fn faults(spec: &RobotSpec, episode: &Episode, origin: &str) -> Result<Vec<Fault>, SimError> {
    let layout = spec.observation_layout();
    let sensors: Vec<_> = layout.iter().filter(|f| !f.name.starts_with("command")).collect();
    let mut out = Vec::new();
    for (i, e) in episode.events.iter().enumerate() {
        let Event::Sensor { time_s, field, fault, value } = e else { continue };
        let Some(f) = sensors.iter().find(|f| &f.name == field) else {
            let names: Vec<&str> = sensors.iter().map(|f| f.name.as_str()).collect();
            return Err(SimError::Invalid {
                file: origin.into(),
                field: format!("events[{i}].field"),
                value: field.clone(),
                fix: format!("use a sensor field of the robot: {}", names.join(", ")),
            });
        };
        out.push(Fault { time_s: *time_s, index: f.index, kind: *fault, value: *value, held: None });
    }
    Ok(out)
}

fn hold_default(spec: &RobotSpec) -> Command {
    let mut target = JointValues::zeros(spec.joints.len());
    for (t, js) in target.iter_mut().zip(&spec.joints) {
        *t = js.default_rad() as f32;
    }
    Command::Track(Action { joint_target: target })
}

fn wrap(a: f64) -> f64 {
    let two_pi = std::f64::consts::TAU;
    a - two_pi * ((a + std::f64::consts::PI) / two_pi).floor()
}

/// Standard normal by Box–Muller (one of the pair; the stream stays simple and portable).
fn gaussian(rng: &mut Xoshiro256PlusPlus) -> f64 {
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
