//! Scenarios: the ground, the pushes and the domain randomisation of an episode, as TOML.
//!
//! A scenario is a *distribution*; [`Scenario::draw`] turns it and a seed into one concrete
//! [`Episode`] (terrain vertices, masses, friction, motor strength, latency, push times).
//! The same seed and scenario always give the same episode.

use std::path::Path;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::SimError;
use crate::terrain::Terrain;

/// Everything about an episode that is not the robot or the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scenario {
    /// A short name for summaries (default `flat`).
    pub name: String,
    /// The ground (default flat).
    pub terrain: TerrainSpec,
    /// A horizontal push on the torso at a random time early in the episode, so that seeds
    /// start differently (default: up to ±60 N for 0.1 s within the first 1.5 s).
    pub start_push: StartPush,
    /// Horizontal pushes on the torso at fixed times (default none).
    pub pushes: Vec<Push>,
    /// Per-episode draws of physical parameters and sensor imperfections (default none).
    pub randomize: Randomize,
    /// Sudden changes at fixed times: the floor's friction, a failing sensor (default
    /// none). What the surprise signal must notice (`strider sim eval --suite surprise`).
    /// Left out of the TOML when empty, so a scenario written before events existed reads
    /// back as the same text (a resumed collection compares them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

/// A change mid-episode that lasts until the episode ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// From `time_s` on, every friction coefficient (ground and links) is `scale` times the
    /// episode's: 0.2 is a wet floor.
    Friction { time_s: f64, scale: f64 },
    /// From `time_s` on, one sensor reads wrong: `field` is an observation field name
    /// (`strider robot show`), e.g. `joint_pos.right_knee` or `torso_pitch`.
    Sensor {
        time_s: f64,
        field: String,
        fault: SensorFault,
        /// The offset added, in the field's unit (`offset` only; default 0).
        #[serde(default)]
        value: f64,
    },
}

/// How a failing sensor reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensorFault {
    /// Holds the reading it had when it failed (a frozen encoder or IMU).
    Stuck,
    /// Reads the truth plus a constant (a slipped encoder, a knocked IMU).
    Offset,
}

impl Event {
    pub fn time_s(&self) -> f64 {
        match self {
            Event::Friction { time_s, .. } | Event::Sensor { time_s, .. } => *time_s,
        }
    }
}

/// The ground under the robot. The robot starts at x = 0; features begin at `start_x_m`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TerrainSpec {
    #[default]
    Flat,
    /// A constant incline (positive = uphill in +x), after a flat run-up.
    Slope {
        /// Incline, degrees; positive rises in +x.
        degrees: f64,
        /// Where the incline starts, m (default 1.0).
        #[serde(default = "default_feature_start")]
        start_x_m: f64,
    },
    /// Flat treads of random length at random heights, joined by vertical risers.
    Steps {
        /// Each tread's height is uniform in ±`height_m` around zero, m.
        height_m: f64,
        /// Tread length is uniform in `[min, max]`, m (default [0.3, 0.6]).
        #[serde(default = "default_tread")]
        tread_m: [f64; 2],
        /// Where the first step starts, m (default 1.0).
        #[serde(default = "default_feature_start")]
        start_x_m: f64,
    },
}

fn default_feature_start() -> f64 {
    1.0
}

fn default_tread() -> [f64; 2] {
    [0.3, 0.6]
}

/// A force on the torso's centre of mass, horizontal.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Push {
    /// When it starts, s since reset.
    pub time_s: f64,
    /// Force, N; positive pushes forward (+x).
    pub force_n: f64,
    /// How long it lasts, s (default 0.1).
    #[serde(default = "default_push_duration")]
    pub duration_s: f64,
}

fn default_push_duration() -> f64 {
    0.1
}

/// A push of random size and time: force uniform in ±`max_force_n`, start uniform in
/// `window_s`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StartPush {
    /// Largest force, N (default 60; 0 disables the push).
    pub max_force_n: f64,
    /// s (default 0.1).
    pub duration_s: f64,
    /// Start time range, s (default [0, 1.5]).
    pub window_s: [f64; 2],
}

impl Default for StartPush {
    fn default() -> StartPush {
        StartPush { max_force_n: 60.0, duration_s: 0.1, window_s: [0.0, 1.5] }
    }
}

/// Domain randomisation. Each `[min, max]` range is sampled uniformly once per episode;
/// `[1, 1]` (the default) leaves the robot as described.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Randomize {
    /// Multiplies every friction coefficient, ground and links (default [1, 1]).
    pub friction_scale: [f64; 2],
    /// Multiplies every link's mass and inertia by one common factor (default [1, 1]).
    pub mass_scale: [f64; 2],
    /// Then each link's mass and inertia by its own factor in 1 ± this (default 0).
    pub link_mass_jitter: f64,
    /// Multiplies every motor torque after the torque limit (default [1, 1]).
    pub motor_strength: [f64; 2],
    /// Gaussian sensor noise, in multiples of the standard deviations in
    /// [`crate::SensorNoise`] (default 0 = exact sensors).
    pub sensor_noise_scale: f64,
    /// Action latency in whole control ticks, uniform over `[min, max]` (default [0, 0]).
    pub latency_ticks: [u32; 2],
}

impl Default for Randomize {
    fn default() -> Randomize {
        Randomize {
            friction_scale: [1.0, 1.0],
            mass_scale: [1.0, 1.0],
            link_mass_jitter: 0.0,
            motor_strength: [1.0, 1.0],
            sensor_noise_scale: 0.0,
            latency_ticks: [0, 0],
        }
    }
}

impl Default for Scenario {
    fn default() -> Scenario {
        Scenario {
            name: "flat".into(),
            terrain: TerrainSpec::Flat,
            start_push: StartPush::default(),
            pushes: Vec::new(),
            randomize: Randomize::default(),
            events: Vec::new(),
        }
    }
}

/// One concrete episode drawn from a [`Scenario`].
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub terrain: Terrain,
    /// Every push of the episode (the drawn start push first), sorted by time.
    pub pushes: Vec<Push>,
    pub friction_scale: f64,
    /// One factor per link, in the robot description's link order.
    pub link_mass_scale: Vec<f64>,
    pub motor_strength: f64,
    pub sensor_noise_scale: f64,
    pub latency_ticks: u32,
    /// The stream for sensor noise, independent of the draws above.
    pub noise_seed: u64,
    /// The scenario's events, sorted by time.
    pub events: Vec<Event>,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, SimError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Read { file: file.clone(), message: e.to_string() })?;
        Scenario::from_toml_str(&text, &file)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| SimError::Parse {
            file: origin.into(),
            what: "scenario",
            message: one_line(&e.to_string()),
        })?;
        scenario.validate(origin)?;
        Ok(scenario)
    }

    /// The first out-of-range value, naming its field and the fix.
    pub fn validate(&self, origin: &str) -> Result<(), SimError> {
        let bad = SimError::invalid(origin);
        match self.terrain {
            TerrainSpec::Flat => {}
            TerrainSpec::Slope { degrees, start_x_m } => {
                if !(degrees.is_finite() && degrees.abs() <= 30.0) {
                    return Err(bad("terrain.slope.degrees", degrees.to_string(), "use -30..30 degrees"));
                }
                if !(start_x_m.is_finite() && start_x_m >= 0.0) {
                    return Err(bad("terrain.slope.start_x_m", start_x_m.to_string(), "use a value >= 0"));
                }
            }
            TerrainSpec::Steps { height_m, tread_m, start_x_m } => {
                if !(height_m.is_finite() && (0.0..=0.5).contains(&height_m)) {
                    return Err(bad("terrain.steps.height_m", height_m.to_string(), "use 0..0.5 m"));
                }
                if !(tread_m[0].is_finite() && tread_m[0] >= 0.05 && tread_m[0] <= tread_m[1]) {
                    return Err(bad(
                        "terrain.steps.tread_m",
                        format!("{tread_m:?}"),
                        "write [min, max] with 0.05 <= min <= max",
                    ));
                }
                if !(start_x_m.is_finite() && start_x_m >= 0.0) {
                    return Err(bad("terrain.steps.start_x_m", start_x_m.to_string(), "use a value >= 0"));
                }
            }
        }
        let sp = &self.start_push;
        if !(sp.max_force_n.is_finite() && sp.max_force_n >= 0.0) {
            return Err(bad("start_push.max_force_n", sp.max_force_n.to_string(), "use a force >= 0 N"));
        }
        if !(sp.duration_s.is_finite() && sp.duration_s >= 0.0) {
            return Err(bad("start_push.duration_s", sp.duration_s.to_string(), "use a duration >= 0 s"));
        }
        check_range(&bad, "start_push.window_s", sp.window_s, 0.0)?;
        for (i, p) in self.pushes.iter().enumerate() {
            if !(p.time_s.is_finite() && p.time_s >= 0.0) {
                return Err(bad(&format!("pushes[{i}].time_s"), p.time_s.to_string(), "use a time >= 0 s"));
            }
            if !p.force_n.is_finite() {
                return Err(bad(
                    &format!("pushes[{i}].force_n"),
                    p.force_n.to_string(),
                    "use a finite force",
                ));
            }
            if !(p.duration_s.is_finite() && p.duration_s > 0.0) {
                return Err(bad(
                    &format!("pushes[{i}].duration_s"),
                    p.duration_s.to_string(),
                    "use a duration > 0 s",
                ));
            }
        }
        for (i, e) in self.events.iter().enumerate() {
            let t = e.time_s();
            if !(t.is_finite() && t >= 0.0) {
                return Err(bad(&format!("events[{i}].time_s"), t.to_string(), "use a time >= 0 s"));
            }
            match e {
                Event::Friction { scale, .. } if !(scale.is_finite() && *scale > 0.0) => {
                    return Err(bad(&format!("events[{i}].scale"), scale.to_string(), "use a factor > 0"));
                }
                Event::Sensor { value, .. } if !value.is_finite() => {
                    return Err(bad(&format!("events[{i}].value"), value.to_string(), "use a finite offset"));
                }
                _ => {}
            }
        }
        let r = &self.randomize;
        check_range(&bad, "randomize.friction_scale", r.friction_scale, f64::MIN_POSITIVE)?;
        check_range(&bad, "randomize.mass_scale", r.mass_scale, f64::MIN_POSITIVE)?;
        check_range(&bad, "randomize.motor_strength", r.motor_strength, 0.0)?;
        if !(r.link_mass_jitter.is_finite() && (0.0..0.9).contains(&r.link_mass_jitter)) {
            return Err(bad(
                "randomize.link_mass_jitter",
                r.link_mass_jitter.to_string(),
                "use 0 <= jitter < 0.9",
            ));
        }
        if !(r.sensor_noise_scale.is_finite() && r.sensor_noise_scale >= 0.0) {
            return Err(bad(
                "randomize.sensor_noise_scale",
                r.sensor_noise_scale.to_string(),
                "use a value >= 0",
            ));
        }
        let [lo, hi] = r.latency_ticks;
        if lo > hi || hi > 50 {
            return Err(bad(
                "randomize.latency_ticks",
                format!("[{lo}, {hi}]"),
                "write [min, max] with min <= max <= 50",
            ));
        }
        Ok(())
    }

    /// When the first disturbance the scenario fixes in time happens — a push of `pushes`
    /// or an event (the random start push is not one) — s; `None` if there is none.
    pub fn first_disturbance_s(&self) -> Option<f64> {
        self.pushes
            .iter()
            .map(|p| p.time_s)
            .chain(self.events.iter().map(Event::time_s))
            .min_by(f64::total_cmp)
    }

    /// The concrete episode for `seed`. `links` is the number of links of the robot.
    pub fn draw(&self, seed: u64, links: usize) -> Episode {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let terrain = Terrain::generate(&self.terrain, &mut rng);
        let r = &self.randomize;
        let friction_scale = uniform(&mut rng, r.friction_scale);
        let common = uniform(&mut rng, r.mass_scale);
        let j = r.link_mass_jitter;
        let link_mass_scale = (0..links).map(|_| common * uniform(&mut rng, [1.0 - j, 1.0 + j])).collect();
        let motor_strength = uniform(&mut rng, r.motor_strength);
        let [lo, hi] = r.latency_ticks;
        let latency_ticks = if lo == hi { lo } else { rng.random_range(lo..=hi) };
        let mut pushes = Vec::with_capacity(self.pushes.len() + 1);
        let sp = &self.start_push;
        let force = uniform(&mut rng, [-sp.max_force_n, sp.max_force_n]);
        let time_s = uniform(&mut rng, sp.window_s);
        if sp.max_force_n > 0.0 && sp.duration_s > 0.0 {
            pushes.push(Push { time_s, force_n: force, duration_s: sp.duration_s });
        }
        pushes.extend(self.pushes.iter().copied());
        pushes.sort_by(|a, b| a.time_s.total_cmp(&b.time_s));
        let noise_seed: u64 = rng.random();
        let mut events = self.events.clone();
        events.sort_by(|a, b| a.time_s().total_cmp(&b.time_s()));
        Episode {
            events,
            terrain,
            pushes,
            friction_scale,
            link_mass_scale,
            motor_strength,
            sensor_noise_scale: r.sensor_noise_scale,
            latency_ticks,
            noise_seed,
        }
    }
}

fn check_range(
    bad: &impl Fn(&str, String, &str) -> SimError,
    field: &str,
    [lo, hi]: [f64; 2],
    min: f64,
) -> Result<(), SimError> {
    if lo.is_finite() && hi.is_finite() && lo >= min && lo <= hi {
        Ok(())
    } else {
        let fix = if min > 0.0 {
            "write [min, max] with 0 < min <= max"
        } else {
            "write [min, max] with 0 <= min <= max"
        };
        Err(bad(field, format!("[{lo}, {hi}]"), fix))
    }
}

/// Uniform in `[lo, hi]`; a degenerate range draws nothing, so adding a fixed factor to a
/// scenario does not shift the other draws of the stream.
pub(crate) fn uniform(rng: &mut Xoshiro256PlusPlus, [lo, hi]: [f64; 2]) -> f64 {
    if lo == hi { lo } else { lo + (hi - lo) * rng.random::<f64>() }
}

/// toml's messages span several lines (a source excerpt); keep the first and the reason.
pub(crate) fn one_line(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default().to_string();
    match lines.next_back() {
        Some(reason) if !reason.starts_with('|') && !reason.starts_with('^') => format!("{first}: {reason}"),
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_field_is_refused_by_name() {
        let err = Scenario::from_toml_str("[randomize]\nfriction_scal = [0.5, 1.5]\n", "x.toml").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("x.toml") && text.contains("friction_scal"), "{text}");
    }

    #[test]
    fn an_inverted_range_is_refused_naming_the_field() {
        let err = Scenario::from_toml_str("[randomize]\nmass_scale = [1.2, 0.8]\n", "y.toml").unwrap_err();
        assert!(matches!(&err, SimError::Invalid { field, .. } if field == "randomize.mass_scale"), "{err}");
    }

    #[test]
    fn every_section_round_trips_through_toml() {
        let s = Scenario {
            name: "all".into(),
            terrain: TerrainSpec::Steps { height_m: 0.02, tread_m: [0.3, 0.6], start_x_m: 1.0 },
            start_push: StartPush::default(),
            pushes: vec![Push { time_s: 8.0, force_n: -150.0, duration_s: 0.1 }],
            randomize: Randomize { latency_ticks: [1, 2], sensor_noise_scale: 1.0, ..Randomize::default() },
            events: vec![
                Event::Friction { time_s: 6.0, scale: 0.2 },
                Event::Sensor {
                    time_s: 7.0,
                    field: "torso_pitch".into(),
                    fault: SensorFault::Offset,
                    value: 0.1,
                },
            ],
        };
        let text = toml::to_string(&s).unwrap();
        assert_eq!(Scenario::from_toml_str(&text, "rt").unwrap(), s);
    }

    #[test]
    fn an_event_reads_from_toml_and_a_bad_one_is_refused_by_field() {
        let s = Scenario::from_toml_str(
            "[[events]]\nkind = \"sensor\"\ntime_s = 8\nfield = \"joint_pos.right_knee\"\nfault = \"stuck\"\n",
            "e.toml",
        )
        .unwrap();
        assert_eq!(s.first_disturbance_s(), Some(8.0));
        let err =
            Scenario::from_toml_str("[[events]]\nkind = \"friction\"\ntime_s = 8\nscale = 0\n", "f.toml")
                .unwrap_err();
        assert!(matches!(&err, SimError::Invalid { field, .. } if field == "events[0].scale"), "{err}");
    }

    #[test]
    fn the_same_seed_draws_the_same_episode_and_another_seed_does_not() {
        let s = Scenario {
            randomize: Randomize {
                friction_scale: [0.5, 1.5],
                link_mass_jitter: 0.1,
                ..Randomize::default()
            },
            ..Scenario::default()
        };
        assert_eq!(s.draw(7, 7), s.draw(7, 7));
        assert_ne!(s.draw(7, 7).friction_scale, s.draw(8, 7).friction_scale);
    }
}
