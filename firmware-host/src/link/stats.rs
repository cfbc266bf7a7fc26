//! What the driver counts: errors by kind, lost frames, faults, and the round-trip histogram.

use std::fmt;

use hdrhistogram::Histogram;

use crate::error::FrameError;
use crate::wire::{Fault, FirmwareStats};

/// The host's view of the link since [`crate::link::SerialLink::connect`].
#[derive(Clone, Default)]
pub struct LinkStats {
    /// Valid frames received.
    pub frames_rx: u64,
    /// Frames handed to the writer.
    pub frames_tx: u64,
    /// Frames whose CRC-32C did not match.
    pub crc_errors: u64,
    /// Candidate frames that were not valid COBS, too short or too long (garbage, lost delimiters).
    pub framing_errors: u64,
    /// Frames with a valid CRC but an unknown type, wrong length, other version or bad value.
    pub decode_errors: u64,
    /// Jumps in the robot's sequence numbers (each is one or more lost frames).
    pub seq_gaps: u64,
    /// Robot frames missing according to its sequence numbers (dropped or rejected as corrupt).
    pub frames_lost: u64,
    /// Commands whose acknowledging sensor frame did not arrive in time.
    pub timeouts: u64,
    /// Times the link was found lost.
    pub disconnects: u64,
    /// Successful reconnects (each with a new handshake).
    pub reconnects: u64,
    /// First commands after a reconnect whose targets were re-seeded from the measured pose.
    pub reseeds: u64,
    /// Fault frames received, and the last one.
    pub faults: u64,
    pub last_fault: Option<Fault>,
    /// The robot's own counters, from its last Stats frame.
    pub firmware: Option<FirmwareStats>,
    /// Command → acknowledging sensor frame, µs, as the caller of `step` sees it.
    pub round_trip_us: RoundTrips,
}

/// Round-trip times, µs: a histogram of 1 µs … 60 s at 3 significant digits (~200 kB,
/// fixed at construction; hdrhistogram inside), read as counts and quantiles.
#[derive(Clone)]
pub struct RoundTrips(Histogram<u64>);

impl Default for RoundTrips {
    fn default() -> RoundTrips {
        RoundTrips(Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"))
    }
}

impl RoundTrips {
    /// Records one round trip; beyond 60 s it counts as 60 s.
    pub(crate) fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.max(1));
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The quantile `q` (0..=1), or `None` before the first round trip.
    pub fn quantile_us(&self, q: f64) -> Option<u64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q))
    }

    pub fn min_us(&self) -> Option<u64> {
        (!self.0.is_empty()).then(|| self.0.min())
    }

    pub fn max_us(&self) -> Option<u64> {
        (!self.0.is_empty()).then(|| self.0.max())
    }
}

impl fmt::Debug for LinkStats {
    /// Every counter, and the histogram as count / p50 / p99 / max instead of its buckets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let q = |q| self.round_trip_quantile_us(q);
        f.debug_struct("LinkStats")
            .field("frames_rx", &self.frames_rx)
            .field("frames_tx", &self.frames_tx)
            .field("crc_errors", &self.crc_errors)
            .field("framing_errors", &self.framing_errors)
            .field("decode_errors", &self.decode_errors)
            .field("seq_gaps", &self.seq_gaps)
            .field("frames_lost", &self.frames_lost)
            .field("timeouts", &self.timeouts)
            .field("disconnects", &self.disconnects)
            .field("reconnects", &self.reconnects)
            .field("reseeds", &self.reseeds)
            .field("faults", &self.faults)
            .field("last_fault", &self.last_fault)
            .field("firmware", &self.firmware)
            .field("round_trips", &self.round_trip_us.count())
            .field("round_trip_p50_us", &q(0.5))
            .field("round_trip_p99_us", &q(0.99))
            .field("round_trip_max_us", &q(1.0))
            .finish()
    }
}

impl LinkStats {
    /// Every rejected candidate frame, whatever the reason.
    pub fn bad_frames(&self) -> u64 {
        self.crc_errors + self.framing_errors + self.decode_errors
    }

    pub(crate) fn count_error(&mut self, error: &FrameError) {
        match error {
            FrameError::BadCrc { .. } => self.crc_errors += 1,
            FrameError::Cobs | FrameError::TooShort { .. } | FrameError::TooLong { .. } => {
                self.framing_errors += 1
            }
            _ => self.decode_errors += 1,
        }
    }

    /// The round-trip quantile `q` (0..=1) in µs, or None before the first round trip.
    pub fn round_trip_quantile_us(&self, q: f64) -> Option<u64> {
        self.round_trip_us.quantile_us(q)
    }
}

/// Follows one sender's sequence numbers and reports how many frames went missing.
#[derive(Debug, Default)]
pub(crate) struct SeqTracker {
    last: Option<u16>,
}

impl SeqTracker {
    /// Frames missing before `seq` (0 when it follows on). A jump backwards (a rebooted
    /// sender, or a duplicate) restarts the count instead of reporting ~65 000 lost.
    pub(crate) fn observe(&mut self, seq: u16) -> u16 {
        let missing = match self.last {
            Some(last) => {
                let gap = seq.wrapping_sub(last).wrapping_sub(1);
                if gap < 0x8000 { gap } else { 0 }
            }
            None => 0,
        };
        self.last = Some(seq);
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::SeqTracker;

    #[test]
    fn gaps_count_missing_frames_across_the_wrap_and_ignore_restarts() {
        let mut t = SeqTracker::default();
        assert_eq!(t.observe(65_534), 0);
        assert_eq!(t.observe(65_535), 0);
        assert_eq!(t.observe(2), 2, "65535 → 2 misses 0 and 1");
        assert_eq!(t.observe(0), 0, "a sender that restarted is not 65 000 lost frames");
        assert_eq!(t.observe(1), 0);
    }
}
