//! Trajectories in, training windows out.
//!
//! [`EpisodeSource`] is the seam a recorded-log reader implements; [`SyntheticLinear`]
//! is the built-in source: a known linear system under a known linear feedback policy,
//! so that what a model should learn is known exactly.

use std::path::PathBuf;

use strider_log::{ActionMsg, Log};
use strider_robot::{ACTION_DIM, OBS_DIM, RobotSpec};

use crate::error::TrainError;
use crate::rng::Rng;

/// One recorded episode: an observation per tick and, unless the log has none, the
/// action taken at that tick. A non-finite observation field is a failed sensor (`[M]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Episode {
    pub obs: Vec<[f32; OBS_DIM]>,
    /// `None` for an action-free log (e.g. observations only); its action tokens are `[M]`
    /// and carry no loss. Otherwise the action at each tick (at least `obs.len() − 1` of
    /// them); a tick without one is NaN, i.e. `[M]`, with no loss.
    pub act: Option<Vec<[f32; ACTION_DIM]>>,
    /// The action executed at each tick, where the log records one apart from its label
    /// (DART noise, a DAgger rollout's policy; the label where they agree). `None`: the
    /// labels were executed. Read as the model's past actions under
    /// [`ActionHistory::Executed`](crate::config::ActionHistory).
    pub executed: Option<Vec<[f32; ACTION_DIM]>>,
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
    fn episodes(&self) -> Result<Vec<Episode>, TrainError>;
}

/// `x_{t+1} = A x_t + B u_t + w_t`, `u_t = −K x_t + v_t`, with the closed loop
/// `A − B K` a scaled orthogonal matrix (so it is stable by construction) and Gaussian
/// process noise `w` and action noise `v`.
#[derive(Debug, Clone)]
pub struct LinearSystem {
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
    /// A random system from `seed`; closed-loop spectral radius 0.9.
    pub fn random(seed: u64, process_noise: f32, action_noise: f32) -> LinearSystem {
        let mut rng = Rng::new(seed);
        let (n, m) = (OBS_DIM, ACTION_DIM);
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
        LinearSystem { a, b, k, process_noise, action_noise }
    }

    /// The noise-free action for state `x`.
    pub fn policy(&self, x: &[f32; OBS_DIM]) -> [f32; ACTION_DIM] {
        let mut u = [0.0; ACTION_DIM];
        matvec(&self.k, ACTION_DIM, OBS_DIM, x, &mut u);
        u.map(|v| -v)
    }

    pub fn rollout(&self, ticks: usize, rng: &mut Rng) -> Episode {
        let mut x = [0f32; OBS_DIM];
        x.iter_mut().for_each(|v| *v = rng.normal());
        let (mut obs, mut act) = (Vec::with_capacity(ticks), Vec::with_capacity(ticks));
        for _ in 0..ticks {
            let mut u = self.policy(&x);
            u.iter_mut().for_each(|v| *v += self.action_noise * rng.normal());
            obs.push(x);
            act.push(u);
            let (mut ax, mut bu) = ([0f32; OBS_DIM], [0f32; OBS_DIM]);
            matvec(&self.a, OBS_DIM, OBS_DIM, &x, &mut ax);
            matvec(&self.b, OBS_DIM, ACTION_DIM, &u, &mut bu);
            for i in 0..OBS_DIM {
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

/// Episodes of a [`LinearSystem`]; a fraction of them have their actions removed to
/// stand in for action-free logs.
#[derive(Debug, Clone)]
pub struct SyntheticLinear {
    pub system: LinearSystem,
    pub episodes: usize,
    pub ticks: usize,
    /// Fraction of episodes without actions (default 0.25).
    pub action_free_fraction: f64,
    pub seed: u64,
}

impl SyntheticLinear {
    pub fn new(seed: u64, episodes: usize, ticks: usize) -> SyntheticLinear {
        SyntheticLinear {
            system: LinearSystem::random(seed, 0.3, 0.05),
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
/// laid out `[B, K, dim]` as the model and the graph read them.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    pub batch: usize,
    pub ticks: usize,
    pub obs: Vec<f32>,
    pub obs_missing: Vec<f32>,
    pub act: Vec<f32>,
    pub act_missing: Vec<f32>,
    /// Target of the action head at each tick (the action input before any masking).
    pub act_target: Vec<f32>,
    /// 1 where that target is unknown (action-free episode), else 0.
    pub act_target_missing: Vec<f32>,
    /// The newest tick's action target of each window, `[B, ACTION_DIM]`.
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

    fn episodes(&self) -> Result<Vec<Episode>, TrainError> {
        let mut out = Vec::new();
        for (set, path) in
            self.sets.iter().enumerate().flat_map(|(k, files)| files.iter().map(move |f| (k, f)))
        {
            let log = Log::read(path).map_err(|e| TrainError::Data(e.to_string()))?;
            log.check_against(&self.spec).map_err(|e| TrainError::Data(e.to_string()))?;
            for episode in &log.episodes {
                let obs: Vec<_> = episode.ticks.iter().map(|t| t.observation.to_array()).collect();
                // A label per tick; a tick without one (homing, a missed or damped tick of a
                // run log, an episode's final state) is NaN, which the tokenizer makes [M]:
                // no loss there, and the episode's other labels still count.
                let per_tick = |pick: fn(&ActionMsg) -> [f32; ACTION_DIM]| -> Vec<[f32; ACTION_DIM]> {
                    episode
                        .ticks
                        .iter()
                        .map(|t| t.action.as_ref().map_or([f32::NAN; ACTION_DIM], pick))
                        .collect()
                };
                let act =
                    episode.ticks.iter().any(|t| t.action.is_some()).then(|| per_tick(|a| a.joint_target));
                let executed = episode
                    .ticks
                    .iter()
                    .any(|t| t.action.as_ref().is_some_and(|a| a.applied.is_some()))
                    .then(|| per_tick(|a| a.applied.unwrap_or(a.joint_target)));
                out.push(Episode { obs, act, executed, set });
            }
        }
        Ok(out)
    }
}
