//! Absolute-deadline pacing, the one clock of every real-time loop.

use std::time::{Duration, Instant};

/// Tick k is due at `start + k·period`: a late tick never pushes the later ones back.
#[derive(Debug, Clone, Copy)]
pub struct Pacer {
    start: Instant,
    period: Duration,
}

impl Pacer {
    /// Tick 0 is due now.
    pub fn start(period: Duration) -> Pacer {
        Pacer { start: Instant::now(), period }
    }

    pub fn due(&self, tick: u64) -> Instant {
        self.start + self.period.mul_f64(tick as f64)
    }

    /// Sleeps until `tick` is due (not at all if it already is) and returns when it was due.
    pub fn wait(&self, tick: u64) -> Instant {
        let due = self.due(tick);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        due
    }

    /// Time since tick 0 was due.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A late tick does not move the next deadline: after a 30 ms stall tick 2 of 10 ms is
    /// still due at 20 ms and tick 5 at 50 ms; `wait` returns no earlier than the deadline.
    #[test]
    fn a_late_tick_does_not_push_the_next_ones_back() {
        let pacer = Pacer::start(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(pacer.wait(2), pacer.due(2));
        assert_eq!(pacer.due(5) - pacer.due(2), Duration::from_millis(30));
        let due = pacer.wait(6);
        assert!(Instant::now() >= due, "waited until tick 6 was due");
    }
}
