//! Fault injection on the virtual robot's transmit side, and the count of what was injected.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::link_error::LinkError;

/// Faults the virtual robot injects into what it sends. Parsed from
/// `drop=0.01,corrupt=1e-3,garbage=0.01,delay_ms=2,jitter_ms=1,disconnect_s=2@5,seed=7`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultSpec {
    /// Probability that a frame is not sent at all (default 0).
    pub drop: f64,
    /// Probability that any one byte sent is replaced by another value (default 0).
    pub corrupt: f64,
    /// Probability that a burst of random bytes (1..=32) precedes a frame (default 0).
    pub garbage: f64,
    /// Added to every frame before it is sent, ms (default 0).
    pub delay_ms: f64,
    /// Uniform ± jitter on that delay, ms (default 0).
    pub jitter_ms: f64,
    /// `(duration_s, at_s)`: unplug the pseudo-terminal for `duration_s` seconds, `at_s`
    /// seconds after start (default none).
    pub disconnect_s: Option<(f64, f64)>,
    /// Random seed, so a faulty run can be repeated exactly (default 1).
    pub seed: u64,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            drop: 0.0,
            corrupt: 0.0,
            garbage: 0.0,
            delay_ms: 0.0,
            jitter_ms: 0.0,
            disconnect_s: None,
            seed: 1,
        }
    }
}

const KEYS: &str = "drop, corrupt, garbage, delay_ms, jitter_ms, disconnect_s (DURATION@AT), seed";

impl FromStr for FaultSpec {
    type Err = LinkError;

    fn from_str(text: &str) -> Result<FaultSpec, LinkError> {
        let bad = |problem: String| LinkError::BadFaultSpec { spec: text.to_string(), problem };
        let mut spec = FaultSpec::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| bad(format!("{item:?} is not KEY=VALUE; keys: {KEYS}")))?;
            let number =
                |v: &str| v.parse::<f64>().map_err(|_| bad(format!("{key} = {v:?} is not a number")));
            match key {
                "drop" | "corrupt" | "garbage" => {
                    let p = number(value)?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(bad(format!("{key} = {p} is a probability: use 0..1")));
                    }
                    *match key {
                        "drop" => &mut spec.drop,
                        "corrupt" => &mut spec.corrupt,
                        _ => &mut spec.garbage,
                    } = p;
                }
                "delay_ms" | "jitter_ms" => {
                    let v = number(value)?;
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(bad(format!("{key} = {v}: use a time >= 0")));
                    }
                    *if key == "delay_ms" { &mut spec.delay_ms } else { &mut spec.jitter_ms } = v;
                }
                "disconnect_s" => {
                    let (d, at) = value.split_once('@').ok_or_else(|| {
                        bad(format!("disconnect_s = {value:?}: write DURATION@AT, e.g. 2@5"))
                    })?;
                    spec.disconnect_s = Some((number(d)?, number(at)?));
                }
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
    /// Frames not sent.
    pub dropped: u64,
    /// Frames sent with at least one corrupted byte.
    pub corrupted_frames: u64,
    /// Bytes corrupted.
    pub corrupted_bytes: u64,
    /// Garbage bursts sent.
    pub garbage_bursts: u64,
    /// Disconnects.
    pub disconnects: u64,
}

/// SplitMix64: small, seedable, good enough to draw fault events.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_and_names_the_bad_one() {
        let s: FaultSpec =
            "drop=0.01, corrupt=1e-3,garbage=0.5,delay_ms=2,jitter_ms=0.5,disconnect_s=2@5,seed=9"
                .parse()
                .unwrap();
        assert_eq!(
            s,
            FaultSpec {
                drop: 0.01,
                corrupt: 1e-3,
                garbage: 0.5,
                delay_ms: 2.0,
                jitter_ms: 0.5,
                disconnect_s: Some((2.0, 5.0)),
                seed: 9
            }
        );
        let e = "drop=2".parse::<FaultSpec>().unwrap_err().to_string();
        assert!(e.contains("drop = 2 is a probability"), "{e}");
        let e = "lag=3".parse::<FaultSpec>().unwrap_err().to_string();
        assert!(e.contains("unknown key \"lag\""), "{e}");
    }

    #[test]
    fn chance_follows_its_probability() {
        let mut rng = Rng::new(3);
        let hits = (0..100_000).filter(|_| rng.chance(0.01)).count();
        assert!((800..1200).contains(&hits), "{hits} hits of 100 000 at p = 0.01");
    }
}
