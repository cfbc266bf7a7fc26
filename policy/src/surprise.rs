//! The surprise signal: how far each measured observation lies from the model's own
//! prediction of it, made one token earlier. A model that walks as it learned predicts its
//! next observation well; a push, a slippery floor or a failing sensor is what it did not
//! expect. See docs/CONTROLLER.md, "Surprise".

use serde::{Deserialize, Serialize};

use strider_robot::OBS_DIM;

/// Which quantile of the per-tick surprise on clean data a calibrated threshold is: at
/// 50 Hz, one clean tick in 20 s is above it.
pub const SURPRISE_QUANTILE: f64 = 0.999;

/// How surprised a model is on clean data: the manifest's optional `[surprise]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurpriseSection {
    /// A tick whose surprise is above this is surprising (normalised units, see
    /// [`surprise`]).
    pub threshold: f32,
    /// Which quantile of the per-tick surprise on `data` the threshold is, e.g. 0.999.
    pub quantile: f64,
    /// Ticks it was measured on.
    pub ticks: u64,
    /// What it was measured on, e.g. "held-out training episodes".
    pub data: String,
}

/// The surprise of one tick: the root mean square over the sensor fields measured this
/// tick of (predicted − measured), both normalised by the model's tokenizer (so in
/// standard deviations of the training data). The operator's command is an input the
/// model is not asked to predict (`sensor[i]` false); an `[M]` field has nothing to
/// compare. `None` when no sensor field was measured.
pub fn surprise(
    predicted: &[f32; OBS_DIM],
    measured: &[f32; OBS_DIM],
    missing: &[f32; OBS_DIM],
    sensor: &[bool; OBS_DIM],
) -> Option<f32> {
    let (mut sum, mut n) = (0f32, 0u32);
    for i in (0..OBS_DIM).filter(|&i| sensor[i] && missing[i] == 0.0) {
        sum += (predicted[i] - measured[i]).powi(2);
        n += 1;
    }
    (n > 0).then(|| (sum / n as f32).sqrt())
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

    #[test]
    fn rms_over_measured_sensor_fields_only() {
        let mut sensor = [true; OBS_DIM];
        sensor[OBS_DIM - 1] = false; // the command
        let predicted = [0.0; OBS_DIM];
        let mut measured = [0.0; OBS_DIM];
        measured[0] = 3.0;
        measured[1] = 100.0; // masked: not compared
        measured[OBS_DIM - 1] = 50.0; // the command: not compared
        let mut missing = [0.0; OBS_DIM];
        missing[1] = 1.0;
        let compared = (OBS_DIM - 2) as f32;
        let s = surprise(&predicted, &measured, &missing, &sensor).unwrap();
        assert!((s - (9.0 / compared).sqrt()).abs() < 1e-6, "{s}");
        assert_eq!(surprise(&predicted, &measured, &[1.0; OBS_DIM], &sensor), None);
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
