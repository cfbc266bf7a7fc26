//! Teacher-forced evaluation of one model on recorded logs.

use std::time::Instant;

use serde::Serialize;
use strider_log::Log;
use strider_policy::{
    Calibration, PolicyBatch, PolicyError, SURPRISE_QUANTILE, SurpriseSection, quantile, surprise,
    surprise_scale,
};
use strider_robot::{Action, ContractId};

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
    /// Ticks whose surprise was above the model's threshold.
    pub surprising_ticks: u64,
}

/// What [`evaluate`] computes besides the scores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EvalOptions {
    /// Calibrate the surprise on these logs ([`Evaluation::calibration`]).
    pub calibrate: bool,
    /// Keep every tick's outputs ([`Evaluation::traces`]): for plotting a few episodes.
    pub trace: bool,
}

/// One episode as the model saw it, tick by tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeTrace {
    pub file: String,
    pub episode: u32,
    pub ticks: Vec<TraceTick>,
}

/// One tick of an [`EpisodeTrace`], denormalised (the fields' units).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceTick {
    pub tick: u64,
    pub time_s: f64,
    /// The recorded observation (NaN where `[M]`) and the model's prediction of it (none
    /// on the first tick).
    pub recorded_obs: Vec<f32>,
    pub predicted_obs: Option<Vec<f32>>,
    /// The recorded action, if any, and the model's.
    pub recorded_action: Option<Vec<f32>>,
    pub action: Vec<f32>,
    pub surprise: Option<f32>,
    /// The simulator says the robot has fallen (simulator logs).
    pub fallen: bool,
}

/// A tick the model found surprising.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurprisingTick {
    pub file: String,
    pub episode: u32,
    pub tick: u64,
    /// Plant time of the tick, s.
    pub time_s: f64,
    pub surprise: f32,
}

/// The per-tick surprise ([`strider_policy::surprise()`]) over the recording.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SurpriseSummary {
    /// The model's calibrated threshold, if it has one.
    pub threshold: Option<f32>,
    /// Ticks with a surprise value (every tick but an episode's first, unless all its
    /// sensor fields were `[M]`).
    pub ticks: u64,
    pub p50: f32,
    pub p99: f32,
    /// The `SURPRISE_QUANTILE` (0.999): what `--calibrate-surprise` makes the threshold.
    pub p999: f32,
    pub max: f32,
    /// Ticks above the threshold.
    pub surprising: u64,
    /// The most surprising ticks, most first.
    pub most: Vec<SurprisingTick>,
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
    pub surprise: SurpriseSummary,
    /// With `trace`: every episode tick by tick, in log order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub traces: Vec<EpisodeTrace>,
    /// With `calibrate`: the surprise calibration these logs give.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub calibration: Option<SurpriseSection>,
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

/// Where one lane of the batch is: which episode, which tick, what it has summed so far.
struct Lane {
    log: usize,
    episode: usize,
    tick: usize,
    /// `A_{k−1}` for the lane's next tick, normalised; `None` at an episode's start.
    prev: Option<(Vec<f32>, Vec<f32>)>,
    /// This tick's observation token and mask, as the model saw them.
    obs: (Vec<f32>, Vec<f32>),
    surprising: u64,
    /// With `trace`: the ticks so far.
    trace: Vec<TraceTick>,
    action_sum: f64,
    action_n: u64,
    obs_sum: f64,
    obs_n: u64,
}

/// Evaluates `policy` on every episode of `logs`, teacher-forced: each tick the model gets
/// the recorded previous action — what was applied where the log has it, else the decided
/// one, `[M]` where there was none — and the recorded observation (non-finite fields are
/// `[M]`). Episodes run side by side, one per lane of the batch, each with its own history
/// (a lane takes the next episode when its own ends). `progress` is called with the ticks
/// done so far; `options` asks for a calibration or per-tick traces. Refuses a log of
/// another robot contract or field layout than the model's.
pub fn evaluate(
    policy: &mut PolicyBatch,
    model_file: &str,
    logs: &[Log],
    options: EvalOptions,
    mut progress: impl FnMut(u64),
) -> Result<Evaluation, EvalError> {
    let started = Instant::now();
    let manifest = policy.manifest().clone();
    for log in logs {
        check(log, &manifest, model_file)?;
    }
    let tokenizer = manifest.tokenizer();
    let layout = *policy.layout();
    let (obs_dim, action_dim) = (layout.obs_dim(), layout.action_dim());
    let obs_std = &tokenizer.obs.std;
    let act_std = &tokenizer.act.std;
    let sensor = manifest.sensor_fields();
    let threshold = manifest.surprise.as_ref().map(|s| s.threshold);
    let scale = surprise_scale(manifest.surprise.as_ref(), obs_dim);
    let mut calibration = options.calibrate.then(Calibration::default);
    let mut traces: Vec<(usize, usize, EpisodeTrace)> = Vec::new();
    let mut surprises: Vec<f32> = Vec::new();
    let mut most: Vec<SurprisingTick> = Vec::with_capacity(WORST + 1);
    let mut act_err: Vec<Errors> = vec![Errors::default(); action_dim];
    let mut obs_err: Vec<Errors> = vec![Errors::default(); obs_dim];
    let mut worst: Vec<Worst> = Vec::with_capacity(WORST + 1);
    // (log, episode index in it, score), sorted into log order at the end.
    let mut per_episode: Vec<(usize, usize, EpisodeScore)> = Vec::new();
    let mut queue = logs.iter().enumerate().flat_map(|(l, log)| (0..log.episodes.len()).map(move |e| (l, e)));
    let episodes = logs.iter().map(|l| l.episodes.len() as u64).sum();
    let mut lanes: Vec<Option<Lane>> = (0..policy.lanes()).map(|_| None).collect();
    let (mut ticks, mut drained) = (0u64, false);
    let mut pred = vec![0f32; obs_dim];
    loop {
        // Give every lane its next tick; a lane whose episode ended takes the next one.
        for (i, slot) in lanes.iter_mut().enumerate() {
            let ended = |l: &Lane| l.tick == logs[l.log].episodes[l.episode].ticks.len();
            while slot.as_ref().is_some_and(ended) || (slot.is_none() && !drained) {
                if let Some(mut lane) = slot.take() {
                    if options.trace {
                        let (log, ep) = (&logs[lane.log], &logs[lane.log].episodes[lane.episode]);
                        let ticks = std::mem::take(&mut lane.trace);
                        let trace = EpisodeTrace { file: log.file.clone(), episode: ep.start.episode, ticks };
                        traces.push((lane.log, lane.episode, trace));
                    }
                    per_episode.push(finish_episode(&lane, logs));
                }
                *slot = queue.next().map(|(log, episode)| Lane {
                    log,
                    episode,
                    tick: 0,
                    prev: None,
                    obs: (vec![0.0; obs_dim], vec![1.0; obs_dim]),
                    surprising: 0,
                    trace: Vec::new(),
                    action_sum: 0.0,
                    action_n: 0,
                    obs_sum: 0.0,
                    obs_n: 0,
                });
                drained |= slot.is_none();
                policy.reset_lane(i);
            }
            if let Some(lane) = slot {
                let t = &logs[lane.log].episodes[lane.episode].ticks[lane.tick];
                let (z, m) = &mut lane.obs;
                tokenizer.observation(&t.observation, z, m);
                policy.push(i, lane.prev.as_ref().map(|(z, m)| (&z[..], &m[..])), (z, m));
            }
        }
        let Some(first) = lanes.iter().flatten().next() else { break };
        policy.run().map_err(|source| {
            let (log, ep) = (&logs[first.log], &logs[first.log].episodes[first.episode]);
            EvalError::Policy {
                file: log.file.clone(),
                episode: ep.start.episode,
                tick: ep.ticks[first.tick].tick,
                source: Box::new(source),
            }
        })?;
        for (i, lane) in lanes.iter_mut().enumerate() {
            let Some(lane) = lane else { continue };
            let (log, ep) = (&logs[lane.log], &logs[lane.log].episodes[lane.episode]);
            let t = &ep.ticks[lane.tick];
            let (a, o) = policy.output(i);
            let recorded_obs = t.observation.to_values();
            let mut tick_surprise = None;
            if lane.prev.is_some() {
                if let Some(c) = calibration.as_mut() {
                    c.add(o, &lane.obs.0, &lane.obs.1, &sensor);
                }
                if let Some(s) = surprise(o, &lane.obs.0, &lane.obs.1, &sensor, &scale) {
                    tick_surprise = Some(s);
                    surprises.push(s);
                    lane.surprising += u64::from(threshold.is_some_and(|t| s > t));
                    keep_top(
                        &mut most,
                        f64::from(s),
                        |m| f64::from(m.surprise),
                        || SurprisingTick {
                            file: log.file.clone(),
                            episode: ep.start.episode,
                            tick: t.tick,
                            time_s: t.plant_time_s,
                            surprise: s,
                        },
                    );
                }
                tokenizer.obs.denormalise(o, &mut pred);
                for f in 0..obs_dim {
                    if let Some(e) = obs_err[f].add(pred[f], recorded_obs[f])
                        && sensor[f]
                    {
                        lane.obs_sum += e / f64::from(obs_std[f]);
                        lane.obs_n += 1;
                    }
                }
            }
            let model = tokenizer.detokenize_action(a).joint_target;
            if options.trace {
                lane.trace.push(TraceTick {
                    tick: t.tick,
                    time_s: t.plant_time_s,
                    recorded_obs: recorded_obs.to_vec(),
                    predicted_obs: lane.prev.is_some().then(|| pred.clone()),
                    recorded_action: t.action.as_ref().map(|a| a.joint_target.to_vec()),
                    action: model.to_vec(),
                    surprise: tick_surprise,
                    fallen: t.sim_state.is_some_and(|s| s.fallen),
                });
            }
            match &t.action {
                Some(rec) => {
                    for j in 0..action_dim {
                        let Some(e) = act_err[j].add(model[j], rec.joint_target[j]) else { continue };
                        let n = e / f64::from(act_std[j]);
                        lane.action_sum += n;
                        lane.action_n += 1;
                        keep_top(
                            &mut worst,
                            n,
                            |w| w.error_normalised,
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
                        );
                    }
                }
                None => act_err.iter_mut().for_each(|e| e.masked += 1),
            }
            // The next tick's A_{k−1}: what the robot really got, or `[M]` if none.
            let (mut z, mut m) = (vec![0.0; action_dim], vec![1.0; action_dim]);
            if let Some(rec) = &t.action {
                let applied = Action { joint_target: rec.applied.unwrap_or(rec.joint_target) };
                tokenizer.action(&applied, &mut z, &mut m);
            }
            lane.prev = Some((z, m));
            lane.tick += 1;
            ticks += 1;
            if ticks.is_multiple_of(1024) {
                progress(ticks);
            }
        }
    }
    progress(ticks);
    per_episode.sort_by_key(|&(log, episode, _)| (log, episode));
    traces.sort_by_key(|&(log, episode, _)| (log, episode));
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
            &observation.iter().zip(&sensor).filter(|(_, s)| **s).map(|(f, _)| f).collect::<Vec<_>>(),
        ),
        action,
        observation,
        per_episode: per_episode.into_iter().map(|(_, _, score)| score).collect(),
        worst,
        traces: traces.into_iter().map(|(_, _, t)| t).collect(),
        surprise: SurpriseSummary {
            threshold,
            ticks: surprises.len() as u64,
            surprising: threshold.map_or(0, |t| surprises.iter().filter(|&&s| s > t).count() as u64),
            p50: quantile(&mut surprises, 0.5).unwrap_or(0.0),
            p99: quantile(&mut surprises, 0.99).unwrap_or(0.0),
            p999: quantile(&mut surprises, SURPRISE_QUANTILE).unwrap_or(0.0),
            max: quantile(&mut surprises, 1.0).unwrap_or(0.0),
            most,
        },
        calibration: calibration.and_then(|c| {
            let files = match logs {
                [one] => one.file.clone(),
                many => format!("{} logs ({} …)", many.len(), many[0].file),
            };
            c.finish(&sensor, format!("{episodes} episodes of {files}, teacher-forced by strider replay"))
        }),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The score of the episode `lane` has just finished, keyed by where it is in `logs`.
fn finish_episode(lane: &Lane, logs: &[Log]) -> (usize, usize, EpisodeScore) {
    let (log, ep) = (&logs[lane.log], &logs[lane.log].episodes[lane.episode]);
    let mean = |s: f64, n: u64| if n == 0 { 0.0 } else { s / n as f64 };
    let score = EpisodeScore {
        file: log.file.clone(),
        episode: ep.start.episode,
        ticks: ep.ticks.len() as u64,
        action_mae_normalised: mean(lane.action_sum, lane.action_n),
        observation_mae_normalised: mean(lane.obs_sum, lane.obs_n),
        surprising_ticks: lane.surprising,
    };
    (lane.log, lane.episode, score)
}

/// Keeps the [`WORST`] entries with the largest `score` (as `score_of` reads it back),
/// largest first; builds the entry only when it ranks.
fn keep_top<T>(top: &mut Vec<T>, score: f64, score_of: impl Fn(&T) -> f64, entry: impl FnOnce() -> T) {
    if top.len() == WORST && top.last().is_some_and(|t| score_of(t) >= score) {
        return;
    }
    let at = top.partition_point(|t| score_of(t) >= score);
    top.insert(at, entry());
    top.truncate(WORST);
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
