//! Trajectories in, training windows out.
//!
//! [`EpisodeSource`] is the seam a recorded-log reader implements; [`SyntheticLinear`]
//! is the built-in source: a known linear system under a known linear feedback policy,
//! so that what a model should learn is known exactly.

use std::ops::{Deref, Index, IndexMut};
use std::path::PathBuf;

use strider_log::{ActionMsg, Log};
use strider_robot::{JointValues, Layout, RobotSpec};

use crate::error::TrainError;
use crate::rng::Rng;

/// Rows of equal width stored one after the other: a value per field of a modality (the
/// robot layout's observation or action), one row per tick. `rows[t]` is tick t's slice.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    width: usize,
    values: Vec<f32>,
}

impl Rows {
    /// No rows yet, each to have `width` values.
    pub fn new(width: usize) -> Rows {
        Rows { width, values: Vec::new() }
    }

    /// Rows of `width` values from `rows`. Panics on a row of another width.
    pub fn from_rows<R: Deref<Target = [f32]>>(width: usize, rows: impl IntoIterator<Item = R>) -> Rows {
        let mut out = Rows::new(width);
        rows.into_iter().for_each(|r| out.push(&r));
        out
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Appends a row. Panics unless it has [`Rows::width`] values.
    pub fn push(&mut self, row: &[f32]) {
        assert_eq!(row.len(), self.width, "a row of {} values where rows have {}", row.len(), self.width);
        self.values.extend_from_slice(row);
    }

    /// Keeps the first `rows` rows.
    pub fn truncate(&mut self, rows: usize) {
        self.values.truncate(rows * self.width);
    }

    pub fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        self.values.chunks_exact(self.width.max(1))
    }
}

impl<'a> IntoIterator for &'a Rows {
    type Item = &'a [f32];
    type IntoIter = std::slice::ChunksExact<'a, f32>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl Index<usize> for Rows {
    type Output = [f32];
    fn index(&self, row: usize) -> &[f32] {
        &self.values[row * self.width..(row + 1) * self.width]
    }
}

impl IndexMut<usize> for Rows {
    fn index_mut(&mut self, row: usize) -> &mut [f32] {
        &mut self.values[row * self.width..(row + 1) * self.width]
    }
}

/// One recorded episode: an observation per tick and, unless the log has none, the
/// action taken at that tick. A non-finite observation field is a failed sensor (`[M]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    /// One row per tick of the layout's observation width.
    pub obs: Rows,
    /// `None` for an action-free log (e.g. observations only); its action tokens are `[M]`
    /// and carry no loss. Otherwise the action at each tick (at least `obs.len() − 1` of
    /// them), rows of the layout's action width; a tick without one is NaN, i.e. `[M]`,
    /// with no loss.
    pub act: Option<Rows>,
    /// The action executed at each tick, where the log records one apart from its label
    /// (DART noise, a DAgger rollout's policy; the label where they agree). `None`: the
    /// labels were executed. Read as the model's past actions under
    /// [`ActionHistory::Executed`](crate::config::ActionHistory).
    pub executed: Option<Rows>,
    /// Which of the source's sets it comes from (an entry of `data.logs`): the held-out
    /// split takes its share from the end of every set.
    pub set: usize,
}

impl Episode {
    pub fn len(&self) -> usize {
        self.obs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.obs.is_empty()
    }
}

/// Anything that yields training episodes (synthetic generators, log readers).
pub trait EpisodeSource {
    /// A short description for reports, e.g. `synthetic linear system, 64 episodes`.
    fn describe(&self) -> String;
    /// The robot layout every episode's rows follow: the model's input and output widths.
    fn layout(&self) -> Layout;
    fn episodes(&self) -> Result<Vec<Episode>, TrainError>;
}

/// `x_{t+1} = A x_t + B u_t + w_t`, `u_t = −K x_t + v_t`, with the closed loop
/// `A − B K` a scaled orthogonal matrix (so it is stable by construction) and Gaussian
/// process noise `w` and action noise `v`. The state is observed whole: it has the robot
/// layout's observation width, `u` its action width.
#[derive(Debug, Clone)]
pub struct LinearSystem {
    /// State (= observation) components.
    pub obs_dim: usize,
    /// Action components.
    pub action_dim: usize,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub k: Vec<f32>,
    /// Std of the process noise per state component.
    pub process_noise: f32,
    /// Std of the action noise: the part of an action no model can predict.
    pub action_noise: f32,
}

fn matvec(m: &[f32], rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    for r in 0..rows {
        out[r] = (0..cols).map(|c| m[r * cols + c] * x[c]).sum();
    }
}

impl LinearSystem {
    /// A random system of `layout`'s widths from `seed`; closed-loop spectral radius 0.9.
    pub fn random(layout: &Layout, seed: u64, process_noise: f32, action_noise: f32) -> LinearSystem {
        let mut rng = Rng::new(seed);
        let (n, m) = (layout.obs_dim(), layout.action_dim());
        let mut q: Vec<f32> = (0..n * n).map(|_| rng.normal()).collect();
        gram_schmidt(&mut q, n);
        let a_cl: Vec<f32> = q.iter().map(|x| 0.9 * x).collect();
        let b: Vec<f32> = (0..n * m).map(|_| rng.normal() / (m as f32).sqrt()).collect();
        let k: Vec<f32> = (0..m * n).map(|_| rng.normal() / (n as f32).sqrt()).collect();
        // A = A_cl + B K, so that A − B K = A_cl.
        let mut a = a_cl;
        for r in 0..n {
            for c in 0..n {
                a[r * n + c] += (0..m).map(|j| b[r * m + j] * k[j * n + c]).sum::<f32>();
            }
        }
        LinearSystem { obs_dim: n, action_dim: m, a, b, k, process_noise, action_noise }
    }

    /// The noise-free action for state `x`.
    pub fn policy(&self, x: &[f32]) -> Vec<f32> {
        let mut u = vec![0.0; self.action_dim];
        matvec(&self.k, self.action_dim, self.obs_dim, x, &mut u);
        u.iter_mut().for_each(|v| *v = -*v);
        u
    }

    pub fn rollout(&self, ticks: usize, rng: &mut Rng) -> Episode {
        let n = self.obs_dim;
        let mut x = vec![0f32; n];
        x.iter_mut().for_each(|v| *v = rng.normal());
        let (mut obs, mut act) = (Rows::new(n), Rows::new(self.action_dim));
        let (mut ax, mut bu) = (vec![0f32; n], vec![0f32; n]);
        for _ in 0..ticks {
            let mut u = self.policy(&x);
            u.iter_mut().for_each(|v| *v += self.action_noise * rng.normal());
            obs.push(&x);
            act.push(&u);
            matvec(&self.a, n, n, &x, &mut ax);
            matvec(&self.b, n, self.action_dim, &u, &mut bu);
            for i in 0..n {
                x[i] = ax[i] + bu[i] + self.process_noise * rng.normal();
            }
        }
        Episode { obs, act: Some(act), executed: None, set: 0 }
    }
}

fn gram_schmidt(q: &mut [f32], n: usize) {
    for r in 0..n {
        for p in 0..r {
            let dot: f32 = (0..n).map(|c| q[r * n + c] * q[p * n + c]).sum();
            for c in 0..n {
                q[r * n + c] -= dot * q[p * n + c];
            }
        }
        let norm = (0..n).map(|c| q[r * n + c].powi(2)).sum::<f32>().sqrt();
        (0..n).for_each(|c| q[r * n + c] /= norm);
    }
}

/// Episodes of a [`LinearSystem`] of a robot layout's widths; a fraction of them have their
/// actions removed to stand in for action-free logs.
#[derive(Debug, Clone)]
pub struct SyntheticLinear {
    /// Whose widths the system has (the model trained on it is one for this layout).
    pub layout: Layout,
    pub system: LinearSystem,
    pub episodes: usize,
    pub ticks: usize,
    /// Fraction of episodes without actions (default 0.25).
    pub action_free_fraction: f64,
    pub seed: u64,
}

impl SyntheticLinear {
    pub fn new(layout: &Layout, seed: u64, episodes: usize, ticks: usize) -> SyntheticLinear {
        SyntheticLinear {
            layout: *layout,
            system: LinearSystem::random(layout, seed, 0.3, 0.05),
            episodes,
            ticks,
            action_free_fraction: 0.25,
            seed,
        }
    }
}

impl EpisodeSource for SyntheticLinear {
    fn describe(&self) -> String {
        format!(
            "synthetic linear system (seed {}), {} episodes × {} ticks, {:.0} % without actions",
            self.seed,
            self.episodes,
            self.ticks,
            100.0 * self.action_free_fraction
        )
    }

    fn layout(&self) -> Layout {
        self.layout
    }

    fn episodes(&self) -> Result<Vec<Episode>, TrainError> {
        let mut rng = Rng::new(self.seed.wrapping_add(1));
        let f = self.action_free_fraction;
        Ok((0..self.episodes)
            .map(|i| {
                let mut e = self.system.rollout(self.ticks, &mut rng);
                // Evenly spread over the list, so both splits get their share.
                if ((i + 1) as f64 * f).floor() > (i as f64 * f).floor() {
                    e.act = None;
                }
                e
            })
            .collect())
    }
}

/// Flat, normalised training windows of K ticks (plus the observation after the last),
/// laid out `[B, K, width]` as the model and the graph read them.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    pub batch: usize,
    pub ticks: usize,
    /// Fields of an observation token.
    pub obs_dim: usize,
    /// Fields of an action token.
    pub action_dim: usize,
    pub obs: Vec<f32>,
    pub obs_missing: Vec<f32>,
    pub act: Vec<f32>,
    pub act_missing: Vec<f32>,
    /// Target of the action head at each tick (the action input before any masking).
    pub act_target: Vec<f32>,
    /// 1 where that target is unknown (action-free episode), else 0.
    pub act_target_missing: Vec<f32>,
    /// The newest tick's action target of each window, `[B, action width]`.
    pub act_target_last: Vec<f32>,
    /// Target of the observation head at each tick: the next tick's observation.
    pub next_obs: Vec<f32>,
    /// 1 where that target is unknown (failed field), else 0.
    pub next_obs_missing: Vec<f32>,
}

/// Recorded MCAP logs (`strider collect`, or any Strider log), each checked against the
/// robot contract before its first tick is used.
#[derive(Debug, Clone)]
pub struct LogEpisodes {
    /// The files of each set (an entry of `data.logs`: a file, or a directory's files).
    pub sets: Vec<Vec<PathBuf>>,
    pub spec: RobotSpec,
}

impl EpisodeSource for LogEpisodes {
    fn describe(&self) -> String {
        let files: Vec<&PathBuf> = self.sets.iter().flatten().collect();
        match files.as_slice() {
            [one] => format!("recorded log {}", one.display()),
            many => format!("{} recorded logs ({} … )", many.len(), many[0].display()),
        }
    }

    fn layout(&self) -> Layout {
        self.spec.layout()
    }

    fn episodes(&self) -> Result<Vec<Episode>, TrainError> {
        let layout = self.spec.layout();
        let (obs_dim, action_dim) = (layout.obs_dim(), layout.action_dim());
        let unknown = vec![f32::NAN; action_dim];
        let mut out = Vec::new();
        for (set, path) in
            self.sets.iter().enumerate().flat_map(|(k, files)| files.iter().map(move |f| (k, f)))
        {
            let log = Log::read(path).map_err(|e| TrainError::Data(e.to_string()))?;
            log.check_against(&self.spec).map_err(|e| TrainError::Data(e.to_string()))?;
            for episode in &log.episodes {
                let obs = Rows::from_rows(obs_dim, episode.ticks.iter().map(|t| t.observation.to_values()));
                // A label per tick; a tick without one (homing, a missed or damped tick of a
                // run log, an episode's final state) is NaN, which the tokenizer makes [M]:
                // no loss there, and the episode's other labels still count.
                let per_tick = |pick: fn(&ActionMsg) -> &JointValues| -> Rows {
                    let mut labels = Rows::new(action_dim);
                    for t in &episode.ticks {
                        labels.push(t.action.as_ref().map_or(&unknown[..], |a| &pick(a)[..]));
                    }
                    labels
                };
                let act =
                    episode.ticks.iter().any(|t| t.action.is_some()).then(|| per_tick(|a| &a.joint_target));
                let executed = episode
                    .ticks
                    .iter()
                    .any(|t| t.action.as_ref().is_some_and(|a| a.applied.is_some()))
                    .then(|| per_tick(|a| a.applied.as_ref().unwrap_or(&a.joint_target)));
                out.push(Episode { obs, act, executed, set });
            }
        }
        Ok(out)
    }
}
