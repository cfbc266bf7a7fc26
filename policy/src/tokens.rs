//! Observation and action vectors ⇄ normalised tokens, and the `[M]` masks.
//!
//! A token field is `z = clamp((x − mean) / std, −clamp, +clamp)`. A field that is not a
//! finite number (a failed sensor) is not normalised: its mask bit is set and its value
//! is 0, so the model sees the learned `[M]` value there and nothing of the bad reading.

use strider_robot::{Action, JointValues, Layout, ObsValues, Observation};

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

/// The two modalities' normalisers, one field per field of the robot layout's observation
/// and action.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokenizer {
    pub obs: Normaliser,
    pub act: Normaliser,
}

impl Tokenizer {
    /// The identity normalisation of `layout`'s observation and action.
    pub fn identity(layout: &Layout) -> Tokenizer {
        Tokenizer {
            obs: Normaliser::identity(layout.obs_dim()),
            act: Normaliser::identity(layout.action_dim()),
        }
    }

    /// `o` as a token into `z` and `m`, each one value per observation field.
    pub fn observation(&self, o: &Observation, z: &mut [f32], m: &mut [f32]) {
        self.obs.normalise(&o.to_values(), z, m);
    }

    /// `a` as a token into `z` and `m`, each one value per joint.
    pub fn action(&self, a: &Action, z: &mut [f32], m: &mut [f32]) {
        self.act.normalise(&a.joint_target, z, m);
    }

    pub fn detokenize_action(&self, z: &[f32]) -> Action {
        let mut x = JointValues::zeros(self.act.dim());
        self.act.denormalise(z, &mut x);
        Action { joint_target: x }
    }

    /// The observation token `z` back in `layout`'s fields; `layout` is the one the
    /// normaliser was made for.
    pub fn detokenize_observation(&self, layout: &Layout, z: &[f32]) -> Observation {
        let mut x = ObsValues::zeros(self.obs.dim());
        self.obs.denormalise(z, &mut x);
        Observation::from_values(layout, &x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use strider_robot::{CommandField, ImuField, Sensors, Values};

    use crate::graph_io::Interface;
    use crate::stream::TokenStream;

    /// A normaliser of 1 to 40 fields.
    fn norm() -> impl Strategy<Value = Normaliser> {
        (1usize..40).prop_flat_map(|dim| {
            (prop::collection::vec(-10.0f32..10.0, dim), prop::collection::vec(0.01f32..20.0, dim))
                .prop_map(move |(mean, std)| Normaliser { mean, std, clamp: vec![DEFAULT_CLAMP; dim] })
        })
    }

    proptest! {
        #[test]
        fn round_trip_within_clamp(n in norm(), u in prop::collection::vec(-0.999f32..0.999, 40)) {
            // Values inside mean ± clamp·std come back within float rounding.
            let dim = n.dim();
            let x: Vec<f32> = (0..dim).map(|i| n.mean[i] + u[i] * DEFAULT_CLAMP * n.std[i]).collect();
            let (mut z, mut m, mut back) = (vec![0.0; dim], vec![0.0; dim], vec![0.0; dim]);
            n.normalise(&x, &mut z, &mut m);
            n.denormalise(&z, &mut back);
            for i in 0..dim {
                prop_assert_eq!(m[i], 0.0);
                let tol = 1e-5 * (n.mean[i].abs() + DEFAULT_CLAMP * n.std[i]);
                prop_assert!((back[i] - x[i]).abs() <= tol, "field {i}: {} vs {}", back[i], x[i]);
            }
        }

        #[test]
        fn outliers_are_clamped(n in norm(), field in any::<prop::sample::Index>(), big in 6.0f32..1e6) {
            let i = field.index(n.dim());
            let mut x = n.mean.clone();
            x[i] = n.mean[i] + big * n.std[i];
            let (mut z, mut m) = (vec![0.0; n.dim()], vec![0.0; n.dim()]);
            n.normalise(&x, &mut z, &mut m);
            prop_assert_eq!(z[i], DEFAULT_CLAMP);
        }

        #[test]
        fn failed_fields_become_mask_and_leak_nothing(
            n in norm(),
            x in prop::collection::vec(-1e3f32..1e3, 40),
            bad in prop::collection::vec(any::<bool>(), 40),
            kind in 0..3usize,
        ) {
            let dim = n.dim();
            let poison = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][kind];
            let x: Vec<f32> = x.iter().zip(&bad).take(dim).map(|(&v, &b)| if b { poison } else { v }).collect();
            let (mut z, mut m) = (vec![7.0; dim], vec![7.0; dim]);
            n.normalise(&x, &mut z, &mut m);
            for i in 0..dim {
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

    /// A robot that is not the biped — 3 joints, pitch only, one contact, forward and
    /// turning commands: its observations are 10 fields and its actions 3, tokens and the
    /// stream's buffers have those widths, and an observation comes back from its token.
    #[test]
    fn another_layout_round_trips_with_its_own_widths() {
        let layout = Layout {
            joints: 3,
            imu: Values::from([ImuField::Pitch]),
            contacts: 1,
            commands: Values::from([CommandField::Vx, CommandField::YawRate]),
        };
        assert_eq!((layout.obs_dim(), layout.action_dim()), (10, 3));
        let mut sensors = Sensors::zeros(&layout);
        sensors.joint_pos.copy_from_slice(&[0.1, -0.2, 0.3]);
        sensors.joint_vel.copy_from_slice(&[1.5, -2.5, 0.25]);
        sensors.imu[0] = -0.05;
        sensors.contact[0] = true;
        let mut command = layout.forward_command(0.4);
        command[layout.command_index(CommandField::YawRate).unwrap()] = -0.3;
        let obs = Observation::new(sensors, command);

        let mut tokenizer = Tokenizer::identity(&layout);
        tokenizer.obs.mean = (0..10).map(|i| 0.1 * i as f32).collect();
        tokenizer.obs.std = (0..10).map(|i| 0.5 + 0.25 * i as f32).collect();
        let (mut z, mut m) = (vec![0.0; 10], vec![1.0; 10]);
        tokenizer.observation(&obs, &mut z, &mut m);
        assert!(m.iter().all(|&m| m == 0.0));
        let back = tokenizer.detokenize_observation(&layout, &z);
        assert!(back.sensors.fits(&layout) && back.command.len() == 2);
        assert_eq!(back.sensors.contact[..], [true]);
        for (b, x) in back.to_values().iter().zip(obs.to_values().iter()) {
            assert!((b - x).abs() < 1e-6, "{back:?} vs {obs:?}");
        }

        let action = Action::from_slice(&[0.5, -0.5, 0.125]);
        let (mut za, mut ma) = (vec![0.0; 3], vec![1.0; 3]);
        tokenizer.action(&action, &mut za, &mut ma);
        assert_eq!(tokenizer.detokenize_action(&za), action);

        for interface in [Interface::Pair, Interface::Token, Interface::Window] {
            let mut stream = TokenStream::new(4, interface, layout.obs_dim(), layout.action_dim());
            let ticks = interface.input_ticks(4);
            assert_eq!((stream.obs.len(), stream.act.len()), (ticks * 10, ticks * 3), "{interface:?}");
            if interface == Interface::Token {
                stream.push_action(Some((&za, &ma)));
                stream.push_obs((&z, &m));
            } else {
                stream.push(Some((&za, &ma)), (&z, &m));
            }
            assert_eq!(&stream.obs[stream.obs.len() - 10..], &z[..], "{interface:?}");
        }
    }
}
