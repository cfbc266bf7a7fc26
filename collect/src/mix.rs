//! How an episode's commands are drawn: on purpose, not uniformly, so the data holds the
//! transitions a policy must learn.

use rand::RngExt;
use rand::rngs::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use strider_robot::SpeedSchedule;

use crate::CollectError;

/// `Ok` when `ok`, else an [`CollectError::Invalid`] with `message` (naming the option).
fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), CollectError> {
    if ok { Ok(()) } else { Err(CollectError::Invalid(message())) }
}

/// How commands are drawn. The first command of an episode is a stop (stand from the
/// start) or a walk; each later one, after a hold, depends on the current one: from
/// standing, a walk (a start); while walking, a stop, a reversal or another walk. A walk is
/// backward or forward, at a speed uniform between the walking minimum and the speed
/// range's end on that side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CommandMix {
    /// Share of episodes that start standing (command 0) (default 0.25).
    pub start_standing_share: f64,
    /// Share of the commands after a walk that stop (command 0) (default 0.3).
    pub stop_share: f64,
    /// Share of the commands after a walk that reverse its direction (default 0.25).
    pub reverse_share: f64,
    /// Share of the other walks (first, after a stop, or neither stop nor reversal) that go
    /// backward (default 0.35).
    pub backward_share: f64,
    /// Slowest walking command, m/s (default 0.1): a command is 0 or at least this fast, so
    /// the expert never hovers at its stand threshold (0.05 m/s).
    pub min_walk_speed: f64,
}

impl Default for CommandMix {
    fn default() -> CommandMix {
        CommandMix {
            start_standing_share: 0.25,
            stop_share: 0.3,
            reverse_share: 0.25,
            backward_share: 0.35,
            min_walk_speed: 0.1,
        }
    }
}

impl CommandMix {
    /// Refuses shares outside [0, 1] and a walking minimum outside the speed range, naming
    /// the option and the fix.
    pub fn check(&self, speed_range: [f64; 2]) -> Result<(), CollectError> {
        for (name, v) in [
            ("--start-standing-share", self.start_standing_share),
            ("--stop-share", self.stop_share),
            ("--reverse-share", self.reverse_share),
            ("--backward-share", self.backward_share),
        ] {
            ensure((0.0..=1.0).contains(&v), || format!("{name} {v}: use a share between 0 and 1"))?;
        }
        ensure(self.stop_share + self.reverse_share <= 1.0, || {
            format!(
                "--stop-share {} and --reverse-share {} add up to more than 1: lower one of them",
                self.stop_share, self.reverse_share
            )
        })?;
        let [lo, hi] = speed_range;
        let w = self.min_walk_speed;
        ensure(w > 0.0, || format!("--min-walk-speed {w}: use a positive speed, m/s"))?;
        ensure(hi >= w, || {
            format!("--max-speed {hi} is below --min-walk-speed {w}: forward walks need --max-speed ≥ {w}")
        })?;
        ensure((self.backward_share == 0.0 && self.reverse_share == 0.0) || lo <= -w, || {
            format!(
                "--min-speed {lo} leaves no backward walk faster than --min-walk-speed {w}: use --min-speed ≤ -{w}, or --backward-share 0 and --reverse-share 0"
            )
        })?;
        Ok(())
    }

    /// One episode's schedule over `seconds`, with holds uniform in `hold_s`.
    pub fn draw(
        &self,
        speed_range: [f64; 2],
        hold_s: [f64; 2],
        seconds: f64,
        rng: &mut Xoshiro256PlusPlus,
    ) -> SpeedSchedule {
        let [lo, hi] = speed_range;
        let w = self.min_walk_speed;
        let walk = |backward: bool, rng: &mut Xoshiro256PlusPlus| -> f64 {
            if backward { rng.random_range(lo..=-w) } else { rng.random_range(w..=hi) }
        };
        let any_walk =
            |rng: &mut Xoshiro256PlusPlus| -> f64 { walk(rng.random_bool(self.backward_share), rng) };
        let first = if rng.random_bool(self.start_standing_share) { 0.0 } else { any_walk(rng) };
        let mut changes = Vec::new();
        let (mut now, mut t) = (first, rng.random_range(hold_s[0]..=hold_s[1]));
        while t < seconds {
            now = if now == 0.0 {
                any_walk(rng)
            } else {
                let r: f64 = rng.random_range(0.0..1.0);
                if r < self.stop_share {
                    0.0
                } else if r < self.stop_share + self.reverse_share {
                    walk(now > 0.0, rng)
                } else {
                    any_walk(rng)
                }
            };
            changes.push((t, now));
            t += rng.random_range(hold_s[0]..=hold_s[1]);
        }
        SpeedSchedule::new(first, changes).expect("holds are positive, speeds finite")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Over many episodes the draws hold every kind of command in about the shares asked
    /// for, and every walk is at least the walking minimum.
    #[test]
    fn draws_cover_stops_starts_reversals_and_backward_walks_in_their_shares() {
        let mix = CommandMix::default();
        let (range, hold) = ([-0.5, 1.2], [3.0, 8.0]);
        let (mut episodes, mut standing_starts) = (0, 0);
        let (mut after_walk, mut stops, mut reversals) = (0, 0, 0);
        let (mut starts, mut walks, mut backward) = (0, 0, 0);
        for seed in 0..2000u64 {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
            let s = mix.draw(range, hold, 20.0, &mut rng);
            episodes += 1;
            standing_starts += usize::from(s.first() == 0.0);
            let mut previous = s.first();
            let values = std::iter::once(s.first()).chain(s.changes().iter().map(|c| c.1));
            for (k, v) in values.enumerate() {
                assert!(v == 0.0 || v.abs() >= mix.min_walk_speed, "{s}");
                assert!((-0.5..=1.2).contains(&v), "{s}");
                if v != 0.0 {
                    walks += 1;
                    backward += usize::from(v < 0.0);
                }
                if k == 0 {
                    continue;
                }
                if previous == 0.0 {
                    assert_ne!(v, 0.0, "a stop follows a stop in {s}");
                    starts += 1;
                } else {
                    after_walk += 1;
                    stops += usize::from(v == 0.0);
                    reversals += usize::from(v * previous < 0.0);
                }
                previous = v;
            }
        }
        let share = |n: usize, of: usize| n as f64 / of as f64;
        assert!((share(standing_starts, episodes) - 0.25).abs() < 0.03, "{standing_starts}/{episodes}");
        assert!((share(stops, after_walk) - 0.3).abs() < 0.03, "{stops}/{after_walk}");
        // Reversals: the asked 0.25, plus the other walks that happen to change direction.
        assert!(share(reversals, after_walk) > 0.3, "{reversals}/{after_walk}");
        assert!(starts > 1000, "{starts} starts from standing");
        assert!(share(backward, walks) > 0.35, "{backward}/{walks}");
    }

    #[test]
    fn a_bad_mix_is_refused_naming_the_option() {
        let range = [-0.5, 1.2];
        let e = CommandMix { stop_share: 1.5, ..CommandMix::default() }.check(range).unwrap_err();
        assert!(e.to_string().starts_with("--stop-share 1.5: use a share between 0 and 1"), "{e}");
        let e = CommandMix { stop_share: 0.6, reverse_share: 0.5, ..CommandMix::default() }
            .check(range)
            .unwrap_err();
        assert!(e.to_string().contains("add up to more than 1"), "{e}");
        let e = CommandMix::default().check([0.0, 1.2]).unwrap_err();
        assert!(e.to_string().contains("--min-speed 0 leaves no backward walk"), "{e}");
        let forward_only = CommandMix { backward_share: 0.0, reverse_share: 0.0, ..CommandMix::default() };
        assert!(forward_only.check([0.0, 1.2]).is_ok());
    }
}
