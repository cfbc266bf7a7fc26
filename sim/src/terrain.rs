//! The ground as a polyline in the x–y plane, generated from a [`TerrainSpec`] and a seed.

use rand::rngs::Xoshiro256PlusPlus;

use crate::scenario::{TerrainSpec, uniform};

/// How far the ground reaches behind and ahead of the start, m. Covers 60 s of walking at
/// the expert's top speed in either direction.
const BEHIND_M: f64 = 60.0;
const AHEAD_M: f64 = 150.0;

/// A ground profile: vertices with non-decreasing x (a riser repeats an x).
#[derive(Debug, Clone, PartialEq)]
pub struct Terrain {
    pub vertices: Vec<[f64; 2]>,
}

impl Terrain {
    pub fn flat() -> Terrain {
        Terrain { vertices: vec![[-BEHIND_M, 0.0], [AHEAD_M, 0.0]] }
    }

    pub(crate) fn generate(spec: &TerrainSpec, rng: &mut Xoshiro256PlusPlus) -> Terrain {
        match *spec {
            TerrainSpec::Flat => Terrain::flat(),
            TerrainSpec::Slope { degrees, start_x_m } => {
                let rise = (AHEAD_M - start_x_m) * degrees.to_radians().tan();
                Terrain { vertices: vec![[-BEHIND_M, 0.0], [start_x_m, 0.0], [AHEAD_M, rise]] }
            }
            TerrainSpec::Steps { height_m, tread_m, start_x_m } => {
                let mut vertices = vec![[-BEHIND_M, 0.0], [start_x_m, 0.0]];
                let mut x = start_x_m;
                while x < AHEAD_M {
                    let y = uniform(rng, [-height_m, height_m]);
                    let len = uniform(rng, tread_m);
                    vertices.push([x, y]);
                    x += len;
                    vertices.push([x, y]);
                }
                Terrain { vertices }
            }
        }
    }

    /// Ground height under `x`, m; on a riser, the higher tread.
    pub fn height_at(&self, x: f64) -> f64 {
        let v = &self.vertices;
        let i = v.partition_point(|p| p[0] <= x);
        if i == 0 {
            return v[0][1];
        }
        if i == v.len() {
            return v[v.len() - 1][1];
        }
        let (a, b) = (v[i - 1], v[i]);
        if b[0] - a[0] < 1e-9 {
            return a[1].max(b[1]);
        }
        a[1] + (b[1] - a[1]) * (x - a[0]) / (b[0] - a[0])
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_slope_rises_by_its_tangent_after_the_run_up() {
        let t = Terrain::generate(
            &TerrainSpec::Slope { degrees: 6.0, start_x_m: 1.0 },
            &mut Xoshiro256PlusPlus::seed_from_u64(0),
        );
        assert_eq!(t.height_at(0.5), 0.0);
        let expect = 10.0 * 6f64.to_radians().tan();
        assert!((t.height_at(11.0) - expect).abs() < 1e-9);
    }

    #[test]
    fn steps_stay_within_their_height_range_and_are_flat_treads() {
        let t = Terrain::generate(
            &TerrainSpec::Steps { height_m: 0.04, tread_m: [0.3, 0.6], start_x_m: 1.0 },
            &mut Xoshiro256PlusPlus::seed_from_u64(3),
        );
        assert!(t.vertices.iter().all(|v| v[1].abs() <= 0.04));
        assert!(t.vertices.len() > 200);
        let (x0, x1) = (t.vertices[4][0], t.vertices[5][0]);
        assert_eq!(t.height_at(x0 + 0.01), t.height_at(x1 - 0.01));
        assert!(t.vertices.windows(2).all(|w| w[0][0] <= w[1][0]));
    }
}
