//! The surprise signal: how far each measured observation lies from the model's own
//! prediction of it, made one token earlier. A model that walks as it learned predicts its
//! next observation well; a push, a slippery floor or a failing sensor is what it did not
//! expect. See docs/CONTROLLER.md, "Surprise".
//!
//! Each field's error is measured in that field's *typical prediction error* on clean data
//! (an innovation test per field, as in a Kalman filter), and the tick's surprise is the
//! largest of them: a joint angle the model predicts to a hundredth of its range counts as
//! much when it is off by ten times that as a joint speed it only predicts to a tenth, and
//! one failing sensor is not averaged away by the fifteen that are fine. (The largest beat
//! the root mean square on every condition of `sim eval --suite surprise`: fewer false
//! alarms, a 0.2 rad IMU offset caught in 10 of 10 runs instead of 5; docs/SIM.md.)
//! Without a calibration every field's error counts in standard deviations of the
//! training data.

use serde::{Deserialize, Serialize};

/// Which quantile of the per-tick surprise on clean data a calibrated threshold is: at
/// 50 Hz, one clean tick in 20 s is above it.
pub const SURPRISE_QUANTILE: f64 = 0.999;

/// How surprised a model is on clean data: the manifest's optional `[surprise]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurpriseSection {
    /// A tick whose surprise is above this is surprising.
    pub threshold: f32,
    /// Which quantile of the per-tick surprise on `data` the threshold is, e.g. 0.999.
    pub quantile: f64,
    /// Each observation field's RMS prediction error on `data`, in the field's normalised
    /// units (1 for the operator's command, which is not predicted), token order.
    pub field_error: Vec<f32>,
    /// Ticks it was measured on.
    pub ticks: u64,
    /// What it was measured on, e.g. "held-out training episodes".
    pub data: String,
}

/// The surprise of one tick: the largest, over the sensor fields measured this tick, of
/// |predicted − measured| / `scale` — both normalised by the model's tokenizer, `scale` the
/// field's typical error ([`SurpriseSection::field_error`], or 1). The operator's command
/// is an input the model is not asked to predict (`sensor[i]` false); an `[M]` field has
/// nothing to compare. `None` when no sensor field was measured. Every slice has one value
/// per observation field.
pub fn surprise(
    predicted: &[f32],
    measured: &[f32],
    missing: &[f32],
    sensor: &[bool],
    scale: &[f32],
) -> Option<f32> {
    debug_assert!(
        [measured.len(), missing.len(), sensor.len(), scale.len()].iter().all(|&n| n == predicted.len())
    );
    let (mut max, mut n) = (0f32, 0u32);
    let fields = predicted.iter().zip(measured).zip(missing).zip(sensor).zip(scale);
    for ((((&p, &x), &m), &is_sensor), &scale) in fields {
        if is_sensor && m == 0.0 {
            max = max.max(((p - x) / scale).abs());
            n += 1;
        }
    }
    (n > 0).then_some(max)
}

/// The per-field scale of a manifest's surprise for `fields` observation fields: its
/// calibrated `field_error`, or 1s.
pub fn surprise_scale(section: Option<&SurpriseSection>, fields: usize) -> Vec<f32> {
    let mut scale = vec![1.0; fields];
    if let Some(s) = section {
        for (out, &e) in scale.iter_mut().zip(&s.field_error) {
            if e.is_finite() && e > 0.0 {
                *out = e;
            }
        }
    }
    scale
}

/// Collects prediction errors on clean data and turns them into a [`SurpriseSection`]:
/// each field's RMS error, then the [`SURPRISE_QUANTILE`] of the per-tick surprise
/// measured with those scales. Used at training time (held-out episodes) and by
/// `strider replay --calibrate-surprise`.
#[derive(Debug, Clone, Default)]
pub struct Calibration {
    /// Observation fields per tick (the first tick's).
    fields: usize,
    /// Per tick, each field's normalised error, tick-major; NaN where the field was `[M]`
    /// or is not a sensor.
    errors: Vec<f32>,
}

impl Calibration {
    /// One tick: the model's normalised prediction and the normalised measurement, one
    /// value each per observation field. Panics if the width differs from the first tick's.
    pub fn add(&mut self, predicted: &[f32], measured: &[f32], missing: &[f32], sensor: &[bool]) {
        if self.errors.is_empty() {
            self.fields = predicted.len();
        }
        assert_eq!(predicted.len(), self.fields, "every tick of a calibration has the same fields");
        let fields = predicted.iter().zip(measured).zip(missing).zip(sensor);
        self.errors.extend(fields.map(
            |(((&p, &x), &m), &is_sensor)| {
                if is_sensor && m == 0.0 { p - x } else { f32::NAN }
            },
        ));
    }

    pub fn ticks(&self) -> usize {
        self.errors.len().checked_div(self.fields).unwrap_or(0)
    }

    /// The section, or `None` without a tick to calibrate on. `sensor` has one entry per
    /// observation field.
    pub fn finish(self, sensor: &[bool], data: String) -> Option<SurpriseSection> {
        let dim = sensor.len();
        assert!(self.errors.is_empty() || dim == self.fields, "one sensor flag per observation field");
        let ticks = || self.errors.chunks_exact(self.fields.max(1));
        let field_error: Vec<f32> = (0..dim)
            .map(|i| {
                let seen: Vec<f32> = ticks().map(|e| e[i]).filter(|e| e.is_finite()).collect();
                if !sensor[i] || seen.is_empty() {
                    return 1.0;
                }
                let ms = seen.iter().map(|e| f64::from(*e).powi(2)).sum::<f64>() / seen.len() as f64;
                (ms.sqrt() as f32).max(1e-6)
            })
            .collect();
        let (mut missing, mut zero_where_missing, zero) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
        let mut values: Vec<f32> = ticks()
            .filter_map(|e| {
                for (i, &e) in e.iter().enumerate() {
                    missing[i] = f32::from(u8::from(!e.is_finite()));
                    zero_where_missing[i] = if e.is_finite() { e } else { 0.0 };
                }
                surprise(&zero_where_missing, &zero, &missing, sensor, &field_error)
            })
            .collect();
        let ticks = values.len() as u64;
        let threshold = quantile(&mut values, SURPRISE_QUANTILE)?;
        Some(SurpriseSection { threshold, quantile: SURPRISE_QUANTILE, field_error, ticks, data })
    }
}

/// The `q` quantile of `values` (nearest rank; reorders them). `None` when empty.
pub fn quantile(values: &mut [f32], q: f64) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
    Some(*values.select_nth_unstable_by(rank, f32::total_cmp).1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strider_robot::RobotSpec;

    /// The reference biped's observation width.
    fn width() -> usize {
        RobotSpec::reference().layout().obs_dim()
    }

    fn sensors() -> Vec<bool> {
        let mut sensor = vec![true; width()];
        *sensor.last_mut().unwrap() = false; // the command
        sensor
    }

    #[test]
    fn largest_error_over_measured_sensor_fields_in_each_fields_scale() {
        let (sensor, n) = (sensors(), width());
        let predicted = vec![0.0; n];
        let mut measured = vec![0.0; n];
        measured[0] = 3.0;
        measured[1] = 100.0; // masked: not compared
        measured[n - 1] = 50.0; // the command: not compared
        let mut missing = vec![0.0; n];
        missing[1] = 1.0;
        measured[2] = -1.0;
        let ones = vec![1.0; n];
        let s = surprise(&predicted, &measured, &missing, &sensor, &ones).unwrap();
        assert_eq!(s, 3.0, "the largest measured sensor error");
        let mut scale = ones.clone();
        scale[0] = 6.0;
        scale[2] = 0.25;
        let s = surprise(&predicted, &measured, &missing, &sensor, &scale).unwrap();
        assert_eq!(s, 4.0, "an error counts in its field's scale: field 2 is now the largest");
        assert_eq!(surprise(&predicted, &measured, &vec![1.0; n], &sensor, &ones), None);
    }

    #[test]
    fn calibration_scales_each_field_by_its_rms_error_and_takes_the_quantile() {
        let (sensor, n) = (sensors(), width());
        let mut c = Calibration::default();
        let zero = vec![0.0; n];
        for t in 0..1000 {
            // Field 0 errs by ±0.1, every other sensor by ±2 (alternating signs).
            let sign = if t % 2 == 0 { 1.0 } else { -1.0 };
            let mut p = vec![2.0 * sign; n];
            p[0] = 0.1 * sign;
            c.add(&p, &zero, &zero, &sensor);
        }
        let s = c.finish(&sensor, "test".into()).unwrap();
        assert!(
            (s.field_error[0] - 0.1).abs() < 1e-5 && (s.field_error[1] - 2.0).abs() < 1e-5,
            "{:?}",
            s.field_error
        );
        assert_eq!(s.field_error.len(), n);
        assert_eq!(s.field_error[n - 1], 1.0, "the command is not scaled");
        assert!(
            (s.threshold - 1.0).abs() < 1e-5,
            "every field at exactly its RMS: surprise 1, got {}",
            s.threshold
        );
        assert_eq!(s.ticks, 1000);
    }

    #[test]
    fn nearest_rank_quantile() {
        let mut v: Vec<f32> = (1..=1000).rev().map(|i| i as f32).collect();
        assert_eq!(quantile(&mut v, 0.999), Some(999.0));
        assert_eq!(quantile(&mut v, 0.5), Some(500.0));
        assert_eq!(quantile(&mut v, 1.0), Some(1000.0));
        assert_eq!(quantile(&mut [], 0.5), None);
    }
}
