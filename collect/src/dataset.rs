//! A dataset on disk: the plan (`collect.toml`), the shards, the summary.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use serde::{Deserialize, Serialize};
use strider_log::{EpisodeStart, FieldStats, Log, LogMeta, LogSummary, LogWriter, WriterOptions};
use strider_robot::RobotSpec;
use strider_sim::{Scenario, Sim, SimConfig};

use crate::error::io;
use crate::rollout::{Pilot, Worker};
use crate::{CollectError, CommandMix};

/// Everything that determines the data; kept as `collect.toml` so a resume can refuse
/// options that would mix two different datasets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub contract_id: String,
    pub episodes: u32,
    /// Episode length, s.
    pub seconds: f64,
    pub seed: u64,
    pub shard_episodes: u32,
    /// Standard deviation of the noise added to the expert's executed actions, rad (the
    /// expert pilot only).
    pub action_noise: f64,
    /// m/s.
    pub speed_range: [f64; 2],
    /// A new command is drawn after a hold uniform in this range, s.
    pub command_hold_s: [f64; 2],
    pub command_mix: CommandMix,
    pub record_actions: bool,
    /// The policy that walked the robot while the expert labelled its states (DAgger);
    /// absent for expert demonstrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyRef>,
    pub scenario: Scenario,
}

/// Which model walked a DAgger dataset.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyRef {
    pub name: String,
    pub onnx_sha256: String,
}

/// The dataset summary, written as `summary.json`.
#[derive(Debug, Serialize)]
pub struct DatasetSummary {
    pub out: String,
    pub episodes: usize,
    pub ticks: usize,
    pub hours: f64,
    pub falls: usize,
    pub shards: usize,
    pub bytes: u64,
    /// Shards written by this run (the rest were already there).
    pub shards_written: usize,
    pub wall_s: f64,
    /// Ticks per wall-clock second over the shards written by this run.
    pub ticks_per_s: f64,
    pub episode_seeds: Vec<u64>,
    pub observation: Vec<(String, FieldStats)>,
    pub action: Vec<(String, FieldStats)>,
}

impl Plan {
    /// Refuses a plan that cannot make a dataset, naming the option.
    pub fn check(&self) -> Result<(), CollectError> {
        let bad = |m: &str| Err(CollectError::Invalid(m.to_string()));
        if self.episodes == 0 || self.shard_episodes == 0 {
            return bad("--episodes and --shard-episodes must be > 0");
        }
        if self.seconds.is_nan() || self.seconds <= 0.0 || self.seconds.is_infinite() {
            return bad("--seconds must be a positive number of seconds");
        }
        let [lo, hi] = self.speed_range;
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return bad("--min-speed must not exceed --max-speed");
        }
        if !self.action_noise.is_finite() || self.action_noise < 0.0 {
            return bad("--action-noise must be ≥ 0 rad");
        }
        self.command_mix.check(self.speed_range)
    }

    /// Control ticks in a full episode (one fewer than the observations recorded).
    pub fn ticks_per_episode(&self, spec: &RobotSpec) -> u64 {
        (self.seconds * f64::from(spec.control.control_hz)).round() as u64
    }

    pub fn shards(&self) -> usize {
        self.episodes.div_ceil(self.shard_episodes) as usize
    }

    /// The shards not yet written in `out`.
    pub fn missing_shards(&self, out: &Path) -> Vec<usize> {
        (0..self.shards()).filter(|&k| !shard_path(out, k).exists()).collect()
    }

    /// The most ticks the missing shards can hold (a fall ends an episode early).
    pub fn ticks_to_write(&self, spec: &RobotSpec, out: &Path) -> u64 {
        let per = self.ticks_per_episode(spec);
        self.missing_shards(out).iter().map(|&k| shard_episodes(self, k).len() as u64 * per).sum()
    }
}

pub fn shard_path(out: &Path, k: usize) -> PathBuf {
    out.join(format!("shard-{k:04}.mcap"))
}

fn shard_episodes(plan: &Plan, k: usize) -> std::ops::Range<u32> {
    let first = k as u32 * plan.shard_episodes;
    first..(first + plan.shard_episodes).min(plan.episodes)
}

/// The seed of episode `i`: a SplitMix64 step of (base, i), so episodes are independent
/// of how they are sharded or scheduled. A hash of two numbers, not a generator (rand
/// offers none); changing it would change every collected dataset and recipe.
pub fn episode_seed(base: u64, i: u32) -> u64 {
    let mut z = base ^ (u64::from(i) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Writes the shards of `plan` that `out` lacks with `pilot`, on `jobs` threads, calling
/// `progress` with the ticks of each finished episode; then reads every shard back and
/// writes `summary.json`. A rerun with the same plan finishes what is missing; a plan
/// that differs from the `collect.toml` already in `out` is refused naming the key.
pub fn collect(
    spec: &RobotSpec,
    plan: &Plan,
    pilot: &Pilot<'_>,
    out: &Path,
    jobs: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<DatasetSummary, CollectError> {
    plan.check()?;
    if plan.policy.is_some() != matches!(pilot, Pilot::Policy { .. }) {
        return Err(CollectError::Invalid("the plan's `policy` and the pilot disagree".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    check_or_write_plan(out, plan)?;
    let todo = plan.missing_shards(out);
    let todo_ticks = plan.ticks_to_write(spec, out);
    let started = Instant::now();
    let failure: Mutex<Option<CollectError>> = Mutex::new(None);
    let jobs = jobs.max(1);
    std::thread::scope(|s| {
        for w in 0..jobs {
            // Worker `w` writes the missing shards `k` with `k mod jobs = w`: a fixed
            // assignment, so a pilot whose numbers depend on its worker (a lane of a
            // batched call) writes the same shards every run, resumed or not.
            let mine: Vec<usize> = todo.iter().copied().filter(|k| k % jobs == w).collect();
            if mine.is_empty() {
                continue;
            }
            let failure = &failure;
            s.spawn(move || {
                let fail = |e| {
                    failure.lock().expect("no panics hold the lock").get_or_insert(e);
                };
                let mut worker = match Worker::new(spec, pilot, w) {
                    Ok(w) => w,
                    Err(e) => return fail(e),
                };
                for k in mine {
                    if failure.lock().expect("no panics hold the lock").is_some() {
                        return;
                    }
                    if let Err(e) = write_shard(&mut worker, spec, plan, out, k, progress) {
                        return fail(e);
                    }
                }
            });
        }
    });
    if let Some(e) = failure.into_inner().expect("no panics hold the lock") {
        return Err(e);
    }
    let wall_s = started.elapsed().as_secs_f64();
    let summary = summarise(spec, plan, out, todo.len(), wall_s, todo_ticks)?;
    let path = out.join("summary.json");
    let text = serde_json::to_string_pretty(&summary).expect("summaries serialise");
    std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    Ok(summary)
}

fn check_or_write_plan(out: &Path, plan: &Plan) -> Result<(), CollectError> {
    let path = out.join("collect.toml");
    let text = toml::to_string(plan).expect("plans serialise");
    if !path.exists() {
        return std::fs::write(&path, text).map_err(|e| io(&path, e));
    }
    let old = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
    let old: toml::Table = toml::from_str(&old).map_err(|_| io(&path, "not a collect plan"))?;
    let new: toml::Table = toml::from_str(&text).expect("a plan reads back");
    let keys = old.keys().chain(new.keys());
    for key in keys {
        if old.get(key) != new.get(key) {
            let show = |v: Option<&toml::Value>| v.map_or_else(|| "absent".to_string(), ToString::to_string);
            return Err(CollectError::PlanMismatch {
                file: path.display().to_string(),
                key: key.clone(),
                was: show(old.get(key)),
                now: show(new.get(key)),
            });
        }
    }
    Ok(())
}

fn write_shard(
    worker: &mut Worker,
    spec: &RobotSpec,
    plan: &Plan,
    out: &Path,
    k: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(), CollectError> {
    let path = shard_path(out, k);
    let partial = path.with_extension("mcap.partial");
    // A partial shard is this command's own output from an interrupted run: redo it.
    let _ = std::fs::remove_file(&partial);
    let scenario_toml = toml::to_string(&plan.scenario).expect("scenarios serialise");
    let controller = match &plan.policy {
        Some(p) => {
            format!("policy {} (onnx sha256 {}), labelled by the expert in shadow", p.name, p.onnx_sha256)
        }
        None => "expert".to_string(),
    };
    let meta = LogMeta::new(spec, &controller, &scenario_toml, Some(plan.seed));
    let mut writer = LogWriter::create(&partial, &meta, WriterOptions::default())?;
    let mut sim = Sim::new(spec.clone(), SimConfig::default())?;
    let ticks_per_episode = plan.ticks_per_episode(spec);
    for (local, i) in shard_episodes(plan, k).enumerate() {
        let seed = episode_seed(plan.seed, i);
        // Commands and action noise have their own stream: the simulator's draws stay those
        // of (seed, scenario), which is what `replay --into-sim` reproduces.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xC0_11EC7);
        let command = plan.command_mix.draw(plan.speed_range, plan.command_hold_s, plan.seconds, &mut rng);
        writer.begin_episode(&EpisodeStart {
            episode: local as u32,
            seed: Some(seed),
            conditions: format!("{} (episode {i}; speed schedule {command})", plan.scenario.name),
        })?;
        let episode = crate::rollout::Episode {
            index: local as u32,
            seed,
            command: &command,
            ticks: ticks_per_episode,
            scenario: &plan.scenario,
            action_noise: plan.action_noise,
            record_actions: plan.record_actions,
        };
        let ticks = worker.rollout(&mut sim, &episode, &mut rng, &mut writer)?;
        writer.flush()?;
        progress(ticks_per_episode.max(ticks));
    }
    writer.finish()?;
    std::fs::rename(&partial, &path).map_err(|e| io(&partial, e))
}

fn summarise(
    spec: &RobotSpec,
    plan: &Plan,
    out: &Path,
    shards_written: usize,
    wall_s: f64,
    ticks_written: u64,
) -> Result<DatasetSummary, CollectError> {
    let mut s = DatasetSummary {
        out: out.display().to_string(),
        episodes: 0,
        ticks: 0,
        hours: 0.0,
        falls: 0,
        shards: plan.shards(),
        bytes: 0,
        shards_written,
        wall_s,
        ticks_per_s: if wall_s > 0.0 { ticks_written as f64 / wall_s } else { 0.0 },
        episode_seeds: (0..plan.episodes).map(|i| episode_seed(plan.seed, i)).collect(),
        observation: spec.observation_layout().into_iter().map(|f| (f.name, FieldStats::default())).collect(),
        action: spec.action_layout().into_iter().map(|f| (f.name, FieldStats::default())).collect(),
    };
    for k in 0..plan.shards() {
        let path = shard_path(out, k);
        let log = Log::read(&path)?;
        log.check_against(spec)?;
        let one = LogSummary::of(&log);
        s.episodes += one.episodes;
        s.ticks += one.ticks;
        s.falls += one.falls;
        s.bytes += std::fs::metadata(&path).map_or(0, |m| m.len());
        for (mine, theirs) in s.observation.iter_mut().zip(&one.observation) {
            mine.1.merge(&theirs.stats);
        }
        for (mine, theirs) in s.action.iter_mut().zip(&one.action) {
            mine.1.merge(&theirs.stats);
        }
    }
    s.hours = s.ticks as f64 / f64::from(spec.control.control_hz) / 3600.0;
    Ok(s)
}

/// The simulator's privileged state as a log records it.
pub fn sim_state(p: &strider_sim::Privileged) -> strider_log::SimState {
    strider_log::SimState {
        torso_x: p.torso_x,
        torso_y: p.torso_y,
        height: p.torso_height,
        pitch: p.torso_pitch,
        com_x: p.com_x,
        com_y: p.com_y,
        com_vx: p.com_vx,
        com_vy: p.com_vy,
        foot_contact: p.foot_contact,
        fallen: p.fallen,
    }
}
