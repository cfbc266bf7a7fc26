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

    /// A tick that starts late does not move the next deadline: after a 30 ms stall the next
    /// 10 ms tick is still due at 20 ms, so `wait` returns at once.
    #[test]
    fn a_late_tick_does_not_push_the_next_ones_back() {
        let pacer = Pacer::start(Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(30));
        let before = Instant::now();
        assert_eq!(pacer.wait(2), pacer.due(2));
        assert!(before.elapsed() < Duration::from_millis(5), "no sleep for a tick already due");
        assert_eq!(pacer.due(5) - pacer.due(2), Duration::from_millis(30));
    }
}
