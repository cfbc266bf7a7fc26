//! Teacher-forced evaluation of one model on recorded logs.

use std::time::Instant;

use serde::Serialize;
use strider_log::Log;
use strider_policy::{Policy, PolicyError};
use strider_robot::{ACTION_DIM, Action, ContractId, OBS_DIM};

/// Why a log could not be evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    #[error("{file}: recorded for robot contract {log}, but the model {model} is for contract {expected}")]
    Contract { file: String, log: ContractId, model: String, expected: String },
    #[error(
        "{file}: {kind} field {index} is `{log}` in the log but `{model}` in the model {model_file}; evaluate it with a model of this robot"
    )]
    Field { file: String, kind: &'static str, index: usize, log: String, model: String, model_file: String },
    #[error("{file}, episode {episode}, tick {tick}: {source}")]
    Policy {
        file: String,
        episode: u32,
        tick: u64,
        #[source]
        source: Box<PolicyError>,
    },
}

/// The error of one field over every compared tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub unit: String,
    /// Ticks compared.
    pub ticks: u64,
    /// Ticks where the recording had no value for it (`[M]`: a failed or lost measurement,
    /// a tick without an action), so there was nothing to compare.
    pub masked: u64,
    /// Mean absolute error, in the field's unit.
    pub mae: f64,
    /// Root mean square error, in the field's unit.
    pub rms: f64,
    /// 99th percentile of the absolute error, in the field's unit.
    pub p99: f64,
    /// `mae` over the field's standard deviation in the model's training data.
    pub mae_normalised: f64,
}

/// One of the ticks where the model disagreed most with the recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Worst {
    pub file: String,
    pub episode: u32,
    pub tick: u64,
    /// Plant time of the tick, s.
    pub time_s: f64,
    pub field: String,
    pub model: f32,
    pub recorded: f32,
    /// |model − recorded| over the field's standard deviation.
    pub error_normalised: f64,
}

/// One episode's score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeScore {
    pub file: String,
    pub episode: u32,
    pub ticks: u64,
    /// Mean over joints and ticks of |action error| over the joint's std.
    pub action_mae_normalised: f64,
    /// Mean over sensor fields and ticks of |prediction error| over the field's std.
    pub observation_mae_normalised: f64,
}

/// What [`evaluate`] found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub episodes: u64,
    pub ticks: u64,
    /// The model's action against the recorded action (the label: the expert's clean
    /// action in a demonstration, the pilot's decision in a run log), per joint.
    pub action: Vec<FieldError>,
    /// The model's prediction of each observation (read at the previous action's token,
    /// before the observation was seen) against the observation recorded.
    pub observation: Vec<FieldError>,
    /// Mean of the joints' `mae_normalised`.
    pub action_mae_normalised: f64,
    /// Mean of the sensor fields' `mae_normalised` (the operator's command is an input the
    /// model cannot be asked to predict, so it is left out here; its row is in
    /// `observation`).
    pub observation_mae_normalised: f64,
    pub per_episode: Vec<EpisodeScore>,
    /// The ticks with the largest normalised action error, worst first.
    pub worst: Vec<Worst>,
    /// Wall time of the evaluation, s.
    pub seconds: f64,
}

/// How many of the worst ticks [`Evaluation::worst`] keeps.
pub const WORST: usize = 10;

/// Absolute errors of one field, kept for the percentile.
#[derive(Debug, Clone, Default)]
struct Errors {
    abs: Vec<f32>,
    sum: f64,
    sq: f64,
    masked: u64,
}

impl Errors {
    fn add(&mut self, model: f32, recorded: f32) -> Option<f64> {
        if !recorded.is_finite() {
            self.masked += 1;
            return None;
        }
        let e = f64::from((model - recorded).abs());
        self.abs.push(e as f32);
        self.sum += e;
        self.sq += e * e;
        Some(e)
    }

    fn finish(mut self, field: &str, unit: &str, std: f32) -> FieldError {
        let n = self.abs.len();
        let p99 = if n == 0 {
            0.0
        } else {
            let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n) - 1;
            f64::from(*self.abs.select_nth_unstable_by(rank, f32::total_cmp).1)
        };
        let mean = |x: f64| if n == 0 { 0.0 } else { x / n as f64 };
        FieldError {
            field: field.to_string(),
            unit: unit.to_string(),
            ticks: n as u64,
            masked: self.masked,
            mae: mean(self.sum),
            rms: mean(self.sq).sqrt(),
            p99,
            mae_normalised: mean(self.sum) / f64::from(std),
        }
    }
}

/// Evaluates `policy` on every episode of `logs`, teacher-forced: each tick the model gets
/// the recorded previous action — what was applied where the log has it, else the decided
/// one, `[M]` where there was none — and the recorded observation (non-finite fields are
/// `[M]`). `progress` is called with the ticks done so far. Refuses a log of another robot
/// contract or field layout than the model's.
pub fn evaluate(
    policy: &mut Policy,
    model_file: &str,
    logs: &[Log],
    mut progress: impl FnMut(u64),
) -> Result<Evaluation, EvalError> {
    let started = Instant::now();
    let manifest = policy.manifest().clone();
    for log in logs {
        check(log, &manifest, model_file)?;
    }
    let tokenizer = manifest.tokenizer();
    let obs_std = &tokenizer.obs.std;
    let act_std = &tokenizer.act.std;
    let sensor_fields: Vec<usize> =
        (0..OBS_DIM).filter(|&i| !manifest.observation[i].name.starts_with("command")).collect();
    let mut act_err: Vec<Errors> = vec![Errors::default(); ACTION_DIM];
    let mut obs_err: Vec<Errors> = vec![Errors::default(); OBS_DIM];
    let mut worst: Vec<Worst> = Vec::with_capacity(WORST + 1);
    let mut per_episode = Vec::new();
    let (mut ticks, mut episodes) = (0u64, 0u64);
    let mut pred = [0f32; OBS_DIM];
    for log in logs {
        for ep in &log.episodes {
            policy.reset();
            episodes += 1;
            let (mut ep_act, mut ep_act_n, mut ep_obs, mut ep_obs_n) = (0.0, 0u64, 0.0, 0u64);
            let mut prev: Option<([f32; ACTION_DIM], [f32; ACTION_DIM])> = None;
            for t in &ep.ticks {
                let (mut z, mut m) = ([0.0; OBS_DIM], [0.0; OBS_DIM]);
                tokenizer.observation(&t.observation, &mut z, &mut m);
                let (a, o) =
                    policy.advance(prev.as_ref().map(|(z, m)| (z, m)), (&z, &m)).map_err(|source| {
                        EvalError::Policy {
                            file: log.file.clone(),
                            episode: ep.start.episode,
                            tick: t.tick,
                            source: Box::new(source),
                        }
                    })?;
                let recorded_obs = t.observation.to_array();
                if prev.is_some() {
                    tokenizer.obs.denormalise(&o, &mut pred);
                    for i in 0..OBS_DIM {
                        if let Some(e) = obs_err[i].add(pred[i], recorded_obs[i])
                            && sensor_fields.contains(&i)
                        {
                            ep_obs += e / f64::from(obs_std[i]);
                            ep_obs_n += 1;
                        }
                    }
                }
                let model = tokenizer.detokenize_action(&a).joint_target;
                match &t.action {
                    Some(rec) => {
                        for j in 0..ACTION_DIM {
                            let Some(e) = act_err[j].add(model[j], rec.joint_target[j]) else { continue };
                            let n = e / f64::from(act_std[j]);
                            ep_act += n;
                            ep_act_n += 1;
                            note_worst(
                                &mut worst,
                                || Worst {
                                    file: log.file.clone(),
                                    episode: ep.start.episode,
                                    tick: t.tick,
                                    time_s: t.plant_time_s,
                                    field: manifest.action[j].name.clone(),
                                    model: model[j],
                                    recorded: rec.joint_target[j],
                                    error_normalised: n,
                                },
                                n,
                            );
                        }
                    }
                    None => act_err.iter_mut().for_each(|e| e.masked += 1),
                }
                // The next tick's A_{k−1}: what the robot really got, or `[M]` if none.
                let (mut z, mut m) = ([0.0; ACTION_DIM], [1.0; ACTION_DIM]);
                if let Some(rec) = &t.action {
                    let applied = Action { joint_target: rec.applied.unwrap_or(rec.joint_target) };
                    tokenizer.action(&applied, &mut z, &mut m);
                }
                prev = Some((z, m));
                ticks += 1;
                if ticks.is_multiple_of(1024) {
                    progress(ticks);
                }
            }
            let mean = |s: f64, n: u64| if n == 0 { 0.0 } else { s / n as f64 };
            per_episode.push(EpisodeScore {
                file: log.file.clone(),
                episode: ep.start.episode,
                ticks: ep.ticks.len() as u64,
                action_mae_normalised: mean(ep_act, ep_act_n),
                observation_mae_normalised: mean(ep_obs, ep_obs_n),
            });
        }
    }
    progress(ticks);
    let action: Vec<FieldError> = act_err
        .into_iter()
        .enumerate()
        .map(|(j, e)| e.finish(&manifest.action[j].name, &manifest.action[j].unit, act_std[j]))
        .collect();
    let observation: Vec<FieldError> = obs_err
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.finish(&manifest.observation[i].name, &manifest.observation[i].unit, obs_std[i]))
        .collect();
    let mean_of = |rows: &[&FieldError]| {
        if rows.is_empty() {
            0.0
        } else {
            rows.iter().map(|f| f.mae_normalised).sum::<f64>() / rows.len() as f64
        }
    };
    Ok(Evaluation {
        episodes,
        ticks,
        action_mae_normalised: mean_of(&action.iter().collect::<Vec<_>>()),
        observation_mae_normalised: mean_of(
            &sensor_fields.iter().map(|&i| &observation[i]).collect::<Vec<_>>(),
        ),
        action,
        observation,
        per_episode,
        worst,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Keeps the [`WORST`] largest errors, worst first; builds the entry only when it ranks.
fn note_worst(worst: &mut Vec<Worst>, entry: impl FnOnce() -> Worst, error: f64) {
    if worst.len() == WORST && worst.last().is_some_and(|w| w.error_normalised >= error) {
        return;
    }
    let at = worst.partition_point(|w| w.error_normalised >= error);
    worst.insert(at, entry());
    worst.truncate(WORST);
}

/// The log must be of the model's robot: contract id and every field name in order.
fn check(log: &Log, manifest: &strider_policy::Manifest, model_file: &str) -> Result<(), EvalError> {
    if log.meta.contract_id.to_string() != manifest.robot.contract_id {
        return Err(EvalError::Contract {
            file: log.file.clone(),
            log: log.meta.contract_id,
            model: model_file.to_string(),
            expected: manifest.robot.contract_id.clone(),
        });
    }
    for (kind, logged, model) in [
        ("observation", &log.meta.observation_fields, &manifest.observation),
        ("action", &log.meta.action_fields, &manifest.action),
    ] {
        let n = logged.len().max(model.len());
        for index in 0..n {
            let (l, m) = (logged.get(index), model.get(index).map(|f| &f.name));
            if l != m {
                return Err(EvalError::Field {
                    file: log.file.clone(),
                    kind,
                    index,
                    log: l.cloned().unwrap_or_else(|| "(none)".into()),
                    model: m.cloned().unwrap_or_else(|| "(none)".into()),
                    model_file: model_file.to_string(),
                });
            }
        }
    }
    Ok(())
}
