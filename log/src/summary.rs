//! What a log holds, in numbers: per-field statistics, timing jitter, deadline misses and
//! falls. `strider replay` prints it; `strider collect` writes it beside a dataset.

use serde::Serialize;

use crate::reader::Log;

/// Running mean / std / min / max of one field's finite values (Welford; numerically
/// stable for millions of samples), and how many values were not finite (NaN or ±Inf: a
/// failed sensor), which the statistics leave out.
///
/// As JSON: `count`, `non_finite`, and `mean`, `std`, `min`, `max`, which are `null` when
/// there was no finite value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldStats {
    /// Finite values seen.
    pub count: u64,
    /// Non-finite values seen and left out.
    pub non_finite: u64,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub max: f64,
    m2: f64,
}

impl Default for FieldStats {
    fn default() -> FieldStats {
        FieldStats {
            count: 0,
            non_finite: 0,
            mean: 0.0,
            std: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            m2: 0.0,
        }
    }
}

impl Serialize for FieldStats {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json {
            count: u64,
            non_finite: u64,
            mean: Option<f64>,
            std: Option<f64>,
            min: Option<f64>,
            max: Option<f64>,
        }
        let known = |v: f64| (self.count > 0).then_some(v);
        Json {
            count: self.count,
            non_finite: self.non_finite,
            mean: known(self.mean),
            std: known(self.std),
            min: known(self.min),
            max: known(self.max),
        }
        .serialize(serializer)
    }
}

impl FieldStats {
    /// Adds one value; a non-finite one is only counted.
    pub fn push(&mut self, x: f64) {
        if !x.is_finite() {
            self.non_finite += 1;
            return;
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        self.std = (self.m2 / self.count as f64).sqrt();
        self.min = self.min.min(x);
        self.max = self.max.max(x);
    }

    /// Combines two partial statistics (Chan et al.), as if every sample had been pushed
    /// into one.
    pub fn merge(&mut self, other: &FieldStats) {
        self.non_finite += other.non_finite;
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = FieldStats { non_finite: self.non_finite, ..*other };
            return;
        }
        let n = (self.count + other.count) as f64;
        let delta = other.mean - self.mean;
        self.m2 += other.m2 + delta * delta * self.count as f64 * other.count as f64 / n;
        self.mean += delta * other.count as f64 / n;
        self.count += other.count;
        self.std = (self.m2 / n).sqrt();
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }
}

/// A named field's statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedStats {
    pub field: String,
    #[serde(flatten)]
    pub stats: FieldStats,
}

/// Bucket edges of the tick-interval error histogram, µs relative to the nominal period.
pub const JITTER_EDGES_US: [f64; 6] = [-1000.0, -100.0, -10.0, 10.0, 100.0, 1000.0];

/// A summary of a whole log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogSummary {
    pub file: String,
    pub contract_id: String,
    pub controller: String,
    pub physics_hz: u32,
    pub control_hz: u32,
    pub episodes: usize,
    pub ticks: usize,
    /// Episodes whose simulator state reported a fall.
    pub falls: usize,
    /// Plant time covered, s (ticks / control_hz).
    pub plant_seconds: f64,
    /// Wall-clock span from the first to the last message, s.
    pub wall_seconds: f64,
    pub has_actions: bool,
    /// Median measured tick interval, ms (from the timing channel).
    pub tick_interval_median_ms: Option<f64>,
    /// Tick-interval error against the nominal period: counts per bucket of
    /// [`JITTER_EDGES_US`] (one more bucket than edges).
    pub tick_interval_error_histogram: Vec<u64>,
    pub deadline_misses: u64,
    pub truncated: Option<String>,
    pub observation: Vec<NamedStats>,
    pub action: Vec<NamedStats>,
}

impl LogSummary {
    pub fn of(log: &Log) -> LogSummary {
        let layout = log.layout.to_layout();
        let mut obs = vec![FieldStats::default(); layout.obs_dim()];
        let mut act = vec![FieldStats::default(); layout.action_dim()];
        let mut histogram = vec![0u64; JITTER_EDGES_US.len() + 1];
        let mut intervals_ms = Vec::new();
        let mut deadline_misses = 0;
        let period_ns = 1e9 / f64::from(log.meta.control_hz.max(1));
        for episode in &log.episodes {
            let mut previous_start = None;
            for t in &episode.ticks {
                for (s, &x) in obs.iter_mut().zip(t.observation.to_values().iter()) {
                    s.push(f64::from(x));
                }
                if let Some(a) = &t.action {
                    for (s, &x) in act.iter_mut().zip(a.joint_target.iter()) {
                        s.push(f64::from(x));
                    }
                }
                if let Some(timing) = t.timing {
                    deadline_misses += u64::from(timing.deadline_missed);
                    if let Some(prev) = previous_start {
                        let dt = timing.tick_start_ns.saturating_sub(prev) as f64;
                        intervals_ms.push(dt / 1e6);
                        let err_us = (dt - period_ns) / 1e3;
                        histogram[JITTER_EDGES_US.iter().take_while(|&&e| err_us >= e).count()] += 1;
                    }
                    previous_start = Some(timing.tick_start_ns);
                }
            }
        }
        let times = log.episodes.iter().flat_map(|e| &e.ticks).map(|t| t.log_time_ns);
        let (first, last) = times.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let ticks = log.tick_count();
        let named = |names: &[String], stats: &[FieldStats]| {
            names.iter().zip(stats).map(|(f, s)| NamedStats { field: f.clone(), stats: *s }).collect()
        };
        LogSummary {
            file: log.file.clone(),
            contract_id: log.meta.contract_id.to_string(),
            controller: log.meta.controller.clone(),
            physics_hz: log.meta.physics_hz,
            control_hz: log.meta.control_hz,
            episodes: log.episodes.len(),
            ticks,
            falls: log
                .episodes
                .iter()
                .filter(|e| e.ticks.iter().any(|t| t.sim_state.is_some_and(|s| s.fallen)))
                .count(),
            plant_seconds: ticks as f64 / f64::from(log.meta.control_hz.max(1)),
            wall_seconds: if ticks > 0 { (last - first) as f64 / 1e9 } else { 0.0 },
            has_actions: log.has_actions(),
            tick_interval_median_ms: median(&mut intervals_ms),
            tick_interval_error_histogram: histogram,
            deadline_misses,
            truncated: log.truncated.clone(),
            observation: named(&log.meta.observation_fields, &obs),
            action: if log.has_actions() { named(&log.meta.action_fields, &act) } else { Vec::new() },
        }
    }
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}
