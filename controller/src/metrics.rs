//! Latency histograms of a run, summarised as percentiles.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Durations recorded in microseconds, 3 significant digits, up to 60 s.
#[derive(Debug, Clone)]
pub struct LatencyStats {
    hist: Histogram<u64>,
}

/// p50/p99/max of a [`LatencyStats`], µs; all 0 when nothing was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub max_us: f64,
}

impl Default for LatencyStats {
    fn default() -> LatencyStats {
        LatencyStats { hist: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds") }
    }
}

impl LatencyStats {
    pub fn record(&mut self, d: Duration) {
        // Saturates at the upper bound rather than dropping an outlier.
        self.hist.saturating_record((d.as_micros() as u64).max(1));
    }

    pub fn percentiles(&self) -> Percentiles {
        if self.hist.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: self.hist.len(),
            p50_us: self.hist.value_at_quantile(0.5) as f64,
            p99_us: self.hist.value_at_quantile(0.99) as f64,
            max_us: self.hist.max() as f64,
        }
    }
}
