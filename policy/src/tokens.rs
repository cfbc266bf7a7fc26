//! Observation and action vectors ⇄ normalised tokens, and the `[M]` masks.
//!
//! A token field is `z = clamp((x − mean) / std, −clamp, +clamp)`. A field that is not a
//! finite number (a failed sensor) is not normalised: its mask bit is set and its value
//! is 0, so the model sees the learned `[M]` value there and nothing of the bad reading.

use strider_robot::{ACTION_DIM, Action, OBS_DIM, Observation};

/// Default clamp on a normalised field, in standard deviations (5): a sensor glitch cannot
/// push a token far outside what training saw.
pub const DEFAULT_CLAMP: f32 = 5.0;

/// Per-field affine normalisation of one modality, fitted on the training set.
#[derive(Debug, Clone, PartialEq)]
pub struct Normaliser {
    pub mean: Vec<f32>,
    /// Strictly positive and finite (a constant field gets std 1, see [`Normaliser::fit`]).
    pub std: Vec<f32>,
    /// Clamp on `|z|` in standard deviations.
    pub clamp: Vec<f32>,
}

impl Normaliser {
    /// Mean and standard deviation of each column of `rows`, skipping non-finite values.
    /// A field with (nearly) no spread gets std 1 so that it passes through unscaled.
    pub fn fit<'a>(dim: usize, rows: impl Iterator<Item = &'a [f32]>) -> Normaliser {
        let mut n = vec![0f64; dim];
        let mut sum = vec![0f64; dim];
        let mut sq = vec![0f64; dim];
        for row in rows {
            for (i, &x) in row.iter().enumerate().take(dim) {
                if x.is_finite() {
                    n[i] += 1.0;
                    sum[i] += f64::from(x);
                    sq[i] += f64::from(x) * f64::from(x);
                }
            }
        }
        let mut mean = vec![0f32; dim];
        let mut std = vec![1f32; dim];
        for i in 0..dim {
            if n[i] > 0.0 {
                let m = sum[i] / n[i];
                let var = (sq[i] / n[i] - m * m).max(0.0);
                mean[i] = m as f32;
                if var.sqrt() > 1e-6 {
                    std[i] = var.sqrt() as f32;
                }
            }
        }
        Normaliser { mean, std, clamp: vec![DEFAULT_CLAMP; dim] }
    }

    /// The identity normalisation (mean 0, std 1) of `dim` fields.
    pub fn identity(dim: usize) -> Normaliser {
        Normaliser { mean: vec![0.0; dim], std: vec![1.0; dim], clamp: vec![DEFAULT_CLAMP; dim] }
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Normalises `x` into `z` and sets `missing` (1 = `[M]`) for every non-finite field.
    pub fn normalise(&self, x: &[f32], z: &mut [f32], missing: &mut [f32]) {
        for i in 0..self.dim() {
            if x[i].is_finite() {
                let c = self.clamp[i];
                z[i] = ((x[i] - self.mean[i]) / self.std[i]).clamp(-c, c);
                missing[i] = 0.0;
            } else {
                z[i] = 0.0;
                missing[i] = 1.0;
            }
        }
    }

    /// The inverse of [`Normaliser::normalise`] for an unclamped, present field.
    pub fn denormalise(&self, z: &[f32], x: &mut [f32]) {
        for i in 0..self.dim() {
            x[i] = z[i] * self.std[i] + self.mean[i];
        }
    }
}

/// The two modalities' normalisers.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokenizer {
    pub obs: Normaliser,
    pub act: Normaliser,
}

impl Tokenizer {
    pub fn identity() -> Tokenizer {
        Tokenizer { obs: Normaliser::identity(OBS_DIM), act: Normaliser::identity(ACTION_DIM) }
    }

    pub fn observation(&self, o: &Observation, z: &mut [f32; OBS_DIM], m: &mut [f32; OBS_DIM]) {
        self.obs.normalise(&o.to_array(), z, m);
    }

    pub fn action(&self, a: &Action, z: &mut [f32; ACTION_DIM], m: &mut [f32; ACTION_DIM]) {
        self.act.normalise(&a.to_array(), z, m);
    }

    pub fn detokenize_action(&self, z: &[f32; ACTION_DIM]) -> Action {
        let mut x = [0.0; ACTION_DIM];
        self.act.denormalise(z, &mut x);
        Action::from_array(&x)
    }

    pub fn detokenize_observation(&self, z: &[f32; OBS_DIM]) -> Observation {
        let mut x = [0.0; OBS_DIM];
        self.obs.denormalise(z, &mut x);
        Observation::from_array(&x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm() -> impl Strategy<Value = Normaliser> {
        (prop::collection::vec(-10.0f32..10.0, OBS_DIM), prop::collection::vec(0.01f32..20.0, OBS_DIM))
            .prop_map(|(mean, std)| Normaliser { mean, std, clamp: vec![DEFAULT_CLAMP; OBS_DIM] })
    }

    proptest! {
        #[test]
        fn round_trip_within_clamp(n in norm(), u in prop::collection::vec(-0.999f32..0.999, OBS_DIM)) {
            // Values inside mean ± clamp·std come back within float rounding.
            let x: Vec<f32> = (0..OBS_DIM).map(|i| n.mean[i] + u[i] * DEFAULT_CLAMP * n.std[i]).collect();
            let (mut z, mut m, mut back) = ([0.0; OBS_DIM], [0.0; OBS_DIM], [0.0; OBS_DIM]);
            n.normalise(&x, &mut z, &mut m);
            n.denormalise(&z, &mut back);
            for i in 0..OBS_DIM {
                prop_assert_eq!(m[i], 0.0);
                let tol = 1e-5 * (n.mean[i].abs() + DEFAULT_CLAMP * n.std[i]);
                prop_assert!((back[i] - x[i]).abs() <= tol, "field {i}: {} vs {}", back[i], x[i]);
            }
        }

        #[test]
        fn outliers_are_clamped(n in norm(), i in 0..OBS_DIM, big in 6.0f32..1e6) {
            let mut x = n.mean.clone();
            x[i] = n.mean[i] + big * n.std[i];
            let (mut z, mut m) = ([0.0; OBS_DIM], [0.0; OBS_DIM]);
            n.normalise(&x, &mut z, &mut m);
            prop_assert_eq!(z[i], DEFAULT_CLAMP);
        }

        #[test]
        fn failed_fields_become_mask_and_leak_nothing(
            n in norm(),
            x in prop::collection::vec(-1e3f32..1e3, OBS_DIM),
            bad in prop::collection::vec(any::<bool>(), OBS_DIM),
            kind in 0..3usize,
        ) {
            let poison = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][kind];
            let x: Vec<f32> = x.iter().zip(&bad).map(|(&v, &b)| if b { poison } else { v }).collect();
            let (mut z, mut m) = ([7.0; OBS_DIM], [7.0; OBS_DIM]);
            n.normalise(&x, &mut z, &mut m);
            for i in 0..OBS_DIM {
                prop_assert_eq!(m[i], if bad[i] { 1.0 } else { 0.0 });
                prop_assert!(z[i].is_finite());
                if bad[i] { prop_assert_eq!(z[i], 0.0); }
            }
        }
    }

    #[test]
    fn fit_recovers_mean_and_std_and_guards_constant_fields() {
        let rows: Vec<[f32; 2]> = (0..1000).map(|i| [if i % 2 == 0 { 1.0 } else { 3.0 }, 4.0]).collect();
        let n = Normaliser::fit(2, rows.iter().map(|r| &r[..]));
        assert!((n.mean[0] - 2.0).abs() < 1e-6 && (n.std[0] - 1.0).abs() < 1e-6);
        assert_eq!((n.mean[1], n.std[1]), (4.0, 1.0));
    }
}
