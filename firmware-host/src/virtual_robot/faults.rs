//! Fault injection on the virtual robot's transmit side, and the count of what was injected.
//!
//! Every time in a [`FaultSpec`] counts from the robot's *first Hello*, not from its
//! start: a host connects some time after the virtual robot comes up, and a fault meant
//! for "3 s into the session" must not fire while nobody listens.

use std::fmt;
use std::str::FromStr;

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::link_error::LinkError;

/// A stretch of time: `duration_s` seconds from `at_s` seconds after the first Hello, and
/// again every `every_s` seconds after that when it is set. Written `DURATION@AT` or
/// `DURATION@AT/EVERY`, in seconds (`0.2@3`, `2@60/300`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "WindowFields")]
pub struct Window {
    /// How long it lasts, s (> 0).
    pub duration_s: f64,
    /// When it first starts, s after the first Hello (>= 0).
    pub at_s: f64,
    /// Period of repetition, s (> `duration_s`); none: once (default).
    #[serde(default)]
    pub every_s: Option<f64>,
}

/// A [`Window`] as written in TOML, checked before it becomes one (a negative or NaN
/// duration would panic where it becomes a `Duration`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowFields {
    duration_s: f64,
    at_s: f64,
    #[serde(default)]
    every_s: Option<f64>,
}

impl TryFrom<WindowFields> for Window {
    type Error = String;

    fn try_from(f: WindowFields) -> Result<Window, String> {
        let w = Window { duration_s: f.duration_s, at_s: f.at_s, every_s: f.every_s };
        w.check()?;
        Ok(w)
    }
}

impl Window {
    /// Whether `t_s` (s after the first Hello) lies inside the window or a repetition of it.
    pub fn contains(&self, t_s: f64) -> bool {
        if t_s < self.at_s {
            return false;
        }
        let since = t_s - self.at_s;
        let into = self.every_s.map_or(since, |every| since % every);
        into < self.duration_s
    }

    fn check(&self) -> Result<(), String> {
        let Window { duration_s: d, at_s: at, every_s } = *self;
        if !(d.is_finite() && d > 0.0) {
            return Err(format!("duration {d} s: use a time > 0"));
        }
        if !(at.is_finite() && at >= 0.0) {
            return Err(format!("start {at} s: use a time >= 0 (seconds after the first Hello)"));
        }
        match every_s {
            Some(e) if !(e.is_finite() && e > d) => {
                Err(format!("period {e} s: use a period longer than the duration ({d} s)"))
            }
            _ => Ok(()),
        }
    }
}

impl FromStr for Window {
    type Err = String;

    fn from_str(text: &str) -> Result<Window, String> {
        let form = "write DURATION@AT or DURATION@AT/EVERY in seconds, e.g. 0.2@3 or 2@60/300";
        let (duration, rest) = text.split_once('@').ok_or_else(|| format!("{text:?}: {form}"))?;
        let (at, every) = match rest.split_once('/') {
            Some((at, every)) => (at, Some(every)),
            None => (rest, None),
        };
        let seconds = |v: &str| v.trim().parse::<f64>().map_err(|_| format!("{v:?} is not a number; {form}"));
        let window = Window {
            duration_s: seconds(duration)?,
            at_s: seconds(at)?,
            every_s: every.map(seconds).transpose()?,
        };
        window.check()?;
        Ok(window)
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.duration_s, self.at_s)?;
        match self.every_s {
            Some(every) => write!(f, "/{every}"),
            None => Ok(()),
        }
    }
}

/// Faults the virtual robot injects into what it sends. Parsed from `KEY=VALUE,...`, e.g.
/// `drop=0.01,garbage=1,nan=0.001,silence=0.2@3,disconnect_s=2@60/300,seed=7`; a window
/// key may be given more than once. Probabilities are per frame sent (per byte for
/// `corrupt`); windows are [`Window`]s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSpec {
    /// Probability that a frame is not sent at all (default 0).
    pub drop: f64,
    /// Probability that any one byte sent is replaced by another value (default 0).
    pub corrupt: f64,
    /// Probability that a burst of 1..=32 random bytes, ended by a 0x00, follows a frame
    /// (default 0). The delimiter keeps the next frame intact, so `garbage = 1` puts junk
    /// after every frame and costs none.
    pub garbage: f64,
    /// Added to every frame before it is sent, ms (default 0).
    pub delay_ms: f64,
    /// Uniform ± jitter on that delay, ms (default 0).
    pub jitter_ms: f64,
    /// Unplug the pseudo-terminal during these windows and plug a new one in at the same
    /// path after each (default none).
    pub disconnect_s: Vec<Window>,
    /// Send nothing during these windows; the robot still receives and obeys commands, and
    /// its watchdog still runs (default none).
    pub silence: Vec<Window>,
    /// Probability that one sensor value of a SensorFrame (a joint angle or velocity or an
    /// IMU field, chosen at random) is sent as NaN (default 0).
    pub nan: f64,
    /// Same, as +∞ or −∞ (default 0).
    pub inf: f64,
    /// Probability that one joint angle of a SensorFrame is sent as ±10 rad, far outside
    /// every joint's limits (default 0).
    pub out_of_range: f64,
    /// The IMU pitch of every SensorFrame is NaN during these windows (default none). A
    /// robot whose IMU reports no pitch refuses this key when it starts.
    pub bad_pitch: Vec<Window>,
    /// Probability that the robot's sequence number jumps ahead by 2..=1001 before a frame,
    /// as if that many frames had been lost (default 0).
    pub seq_jump: f64,
    /// Probability that a frame's timestamp lies 1 µs..100 ms before the previous frame's
    /// (default 0).
    pub ts_back: f64,
    /// Latch a hardware fault (Fault `HARDWARE`, detail [`HARDWARE_FAULT_DETAIL`]) this many
    /// seconds after the first Hello; its cause is gone at once, so SetMode(Disarm) clears
    /// it (default none).
    pub hw_fault_at_s: Option<f64>,
    /// Random seed, so a faulty run can be repeated exactly (default 1).
    pub seed: u64,
}

/// The firmware's own code in the detail of an injected `HARDWARE` fault.
pub const HARDWARE_FAULT_DETAIL: u32 = 0xDEAD;

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            drop: 0.0,
            corrupt: 0.0,
            garbage: 0.0,
            delay_ms: 0.0,
            jitter_ms: 0.0,
            disconnect_s: Vec::new(),
            silence: Vec::new(),
            nan: 0.0,
            inf: 0.0,
            out_of_range: 0.0,
            bad_pitch: Vec::new(),
            seq_jump: 0.0,
            ts_back: 0.0,
            hw_fault_at_s: None,
            seed: 1,
        }
    }
}

const KEYS: &str = "drop, corrupt, garbage, nan, inf, out_of_range, seq_jump, ts_back (probabilities); \
delay_ms, jitter_ms (ms); disconnect_s, silence, bad_pitch (DURATION@AT[/EVERY], s); hw_fault_at_s (s); seed";

impl FromStr for FaultSpec {
    type Err = LinkError;

    fn from_str(text: &str) -> Result<FaultSpec, LinkError> {
        let bad = |problem: String| LinkError::BadFaultSpec { spec: text.to_string(), problem };
        let mut spec = FaultSpec::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| bad(format!("{item:?} is not KEY=VALUE; keys: {KEYS}")))?;
            let (key, value) = (key.trim(), value.trim());
            let number =
                |v: &str| v.parse::<f64>().map_err(|_| bad(format!("{key} = {v:?} is not a number")));
            let probability = |v: &str| {
                let p = number(v)?;
                if (0.0..=1.0).contains(&p) {
                    Ok(p)
                } else {
                    Err(bad(format!("{key} = {p} is a probability: use 0..1")))
                }
            };
            let window = |v: &str| v.parse::<Window>().map_err(|e| bad(format!("{key} = {e}")));
            match key {
                "drop" => spec.drop = probability(value)?,
                "corrupt" => spec.corrupt = probability(value)?,
                "garbage" => spec.garbage = probability(value)?,
                "nan" => spec.nan = probability(value)?,
                "inf" => spec.inf = probability(value)?,
                "out_of_range" => spec.out_of_range = probability(value)?,
                "seq_jump" => spec.seq_jump = probability(value)?,
                "ts_back" => spec.ts_back = probability(value)?,
                "delay_ms" | "jitter_ms" | "hw_fault_at_s" => {
                    let v = number(value)?;
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(bad(format!("{key} = {v}: use a time >= 0")));
                    }
                    match key {
                        "delay_ms" => spec.delay_ms = v,
                        "jitter_ms" => spec.jitter_ms = v,
                        _ => spec.hw_fault_at_s = Some(v),
                    }
                }
                "disconnect_s" => spec.disconnect_s.push(window(value)?),
                "silence" => spec.silence.push(window(value)?),
                "bad_pitch" => spec.bad_pitch.push(window(value)?),
                "seed" => {
                    spec.seed =
                        value.parse().map_err(|_| bad(format!("seed = {value:?} is not an integer")))?
                }
                other => return Err(bad(format!("unknown key {other:?}; keys: {KEYS}"))),
            }
        }
        Ok(spec)
    }
}

/// What the virtual robot did to its own output, to compare with what the host counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InjectedFaults {
    /// Frames built (and given a sequence number) while a host could be connected.
    pub frames: u64,
    /// Frames not sent (`drop`).
    pub dropped: u64,
    /// Frames sent with at least one corrupted byte.
    pub corrupted_frames: u64,
    /// Bytes corrupted.
    pub corrupted_bytes: u64,
    /// Garbage bursts sent.
    pub garbage_bursts: u64,
    /// Disconnects (scheduled or requested).
    pub disconnects: u64,
    /// Silences begun (counted at the first frame a silence holds back).
    pub silences: u64,
    /// Frames not sent because the robot was silent.
    pub silenced: u64,
    /// Sensor values sent as NaN (`nan`).
    pub nan: u64,
    /// Sensor values sent as ±∞ (`inf`).
    pub inf: u64,
    /// Joint angles sent as ±10 rad (`out_of_range`).
    pub out_of_range: u64,
    /// SensorFrames sent with a NaN pitch inside a `bad_pitch` window.
    pub bad_pitch: u64,
    /// Sequence-number jumps.
    pub seq_jumps: u64,
    /// Timestamps sent earlier than the previous frame's.
    pub ts_back: u64,
    /// Hardware faults latched.
    pub hw_faults: u64,
}

/// The fault draws: a seeded Xoshiro256++ (the simulator's generator), behind the four
/// questions the virtual robot asks of it.
#[derive(Debug, Clone)]
pub(crate) struct Rng(Xoshiro256PlusPlus);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0.random()
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        self.0.random()
    }

    /// Uniform in 0..n (n > 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0.random_range(0..n)
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        text.parse::<FaultSpec>().unwrap_err().to_string()
    }

    #[test]
    fn parses_every_key() {
        let s: FaultSpec = "drop=0.01, corrupt=1e-3,garbage=1,delay_ms=2,jitter_ms=0.5,disconnect_s=2@5,\
             disconnect_s=1@60/300,silence=0.2@3,silence=0.1@10/20,nan=0.001,inf=0.002,out_of_range=0.003,\
             bad_pitch=0.5@4,seq_jump=0.01,ts_back=0.02,hw_fault_at_s=7.5,seed=9"
            .parse()
            .unwrap();
        let w = |duration_s, at_s, every_s| Window { duration_s, at_s, every_s };
        assert_eq!(
            s,
            FaultSpec {
                drop: 0.01,
                corrupt: 1e-3,
                garbage: 1.0,
                delay_ms: 2.0,
                jitter_ms: 0.5,
                disconnect_s: vec![w(2.0, 5.0, None), w(1.0, 60.0, Some(300.0))],
                silence: vec![w(0.2, 3.0, None), w(0.1, 10.0, Some(20.0))],
                nan: 0.001,
                inf: 0.002,
                out_of_range: 0.003,
                bad_pitch: vec![w(0.5, 4.0, None)],
                seq_jump: 0.01,
                ts_back: 0.02,
                hw_fault_at_s: Some(7.5),
                seed: 9,
            }
        );
        assert_eq!("".parse::<FaultSpec>().unwrap(), FaultSpec::default(), "no key, no fault");
    }

    #[test]
    fn a_bad_value_is_refused_naming_its_key_and_the_fix() {
        for key in ["drop", "corrupt", "garbage", "nan", "inf", "out_of_range", "seq_jump", "ts_back"] {
            let e = err(&format!("{key}=1.5"));
            assert!(e.contains(&format!("{key} = 1.5 is a probability: use 0..1")), "{e}");
            let e = err(&format!("{key}=often"));
            assert!(e.contains(&format!("{key} = \"often\" is not a number")), "{e}");
        }
        for key in ["delay_ms", "jitter_ms", "hw_fault_at_s"] {
            let e = err(&format!("{key}=-1"));
            assert!(e.contains(&format!("{key} = -1: use a time >= 0")), "{e}");
        }
        for key in ["disconnect_s", "silence", "bad_pitch"] {
            let e = err(&format!("{key}=2"));
            assert!(e.contains(&format!("{key} = \"2\": write DURATION@AT")), "{e}");
            let e = err(&format!("{key}=0@5"));
            assert!(e.contains(&format!("{key} = duration 0 s: use a time > 0")), "{e}");
            let e = err(&format!("{key}=1@-5"));
            assert!(e.contains(&format!("{key} = start -5 s: use a time >= 0")), "{e}");
            let e = err(&format!("{key}=2@5/1"));
            assert!(e.contains(&format!("{key} = period 1 s: use a period longer than the duration")), "{e}");
            let e = err(&format!("{key}=2@soon"));
            assert!(e.contains(&format!("{key} = \"soon\" is not a number")), "{e}");
        }
        let e = err("seed=1.5");
        assert!(e.contains("seed = \"1.5\" is not an integer"), "{e}");
        let e = err("lag=3");
        assert!(e.contains("unknown key \"lag\"; keys: drop"), "{e}");
        let e = err("drop");
        assert!(e.contains("\"drop\" is not KEY=VALUE"), "{e}");
    }

    #[test]
    fn a_window_covers_its_stretch_and_each_repetition() {
        let once: Window = "0.5@2".parse().unwrap();
        let inside = |w: &Window, t: &[f64]| t.iter().map(|&t| w.contains(t)).collect::<Vec<_>>();
        assert_eq!(
            inside(&once, &[0.0, 1.99, 2.0, 2.49, 2.5, 12.2]),
            [false, false, true, true, false, false]
        );
        let periodic: Window = "0.5@2/10".parse().unwrap();
        assert_eq!(
            inside(&periodic, &[1.9, 2.1, 2.6, 11.9, 12.2, 12.6, 32.4]),
            [false, true, false, false, true, false, true]
        );
        assert_eq!(
            periodic.to_string().parse::<Window>().unwrap(),
            periodic,
            "Display writes the parsed form"
        );
    }

    #[test]
    fn chance_follows_its_probability() {
        let mut rng = Rng::new(3);
        let hits = (0..100_000).filter(|_| rng.chance(0.01)).count();
        assert!((800..1200).contains(&hits), "{hits} hits of 100 000 at p = 0.01");
        assert!((0..10_000).all(|_| rng.below(7) < 7));
    }
}
