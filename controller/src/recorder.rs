//! Writes a controller run as a Strider log (MCAP, docs/LOGS.md), tick by tick, so a run
//! on the simulator or on a robot can be replayed, summarised and trained on like a
//! collected demonstration.

use std::path::Path;

use strider_log::{
    ActionMsg, EpisodeStart, LogError, LogMeta, LogWriter, ObservationMsg, SimState, TickRecord, Timing,
    WriterOptions, now_ns,
};
use strider_robot::{Command, RobotSpec};

use crate::run::TickEvent;

/// An open run log: one episode per run.
pub struct Recorder {
    writer: LogWriter,
    dt_s: f64,
}

impl Recorder {
    /// Creates `path` (never overwriting a file) for a run of `controller` (e.g. the model's
    /// name and hash) in `conditions` (a scenario, a port).
    pub fn create(
        path: &Path,
        spec: &RobotSpec,
        controller: &str,
        conditions: &str,
        seed: Option<u64>,
    ) -> Result<Recorder, LogError> {
        let meta = LogMeta::new(spec, controller, conditions, seed);
        let mut writer = LogWriter::create(path, &meta, WriterOptions::default())?;
        writer.begin_episode(&EpisodeStart { episode: 0, seed, conditions: conditions.to_string() })?;
        Ok(Recorder { writer, dt_s: spec.control_dt_s() })
    }

    /// One tick: what the pilot saw, its action and what was applied when the envelope or
    /// a miss changed it, timing, and the simulator's state when there is one.
    pub fn record(&mut self, e: &TickEvent<'_>, sim_state: Option<SimState>) -> Result<(), LogError> {
        let applied = match e.command {
            Command::Track(a) => Some(a.joint_target),
            Command::Disarm | Command::Damp => None,
        };
        let action = e.action.map(|a| ActionMsg {
            episode: 0,
            tick: e.tick,
            joint_target: a.joint_target,
            applied: applied.filter(|t| *t != a.joint_target),
            surprise: e.surprise,
        });
        self.writer.write_tick(&TickRecord {
            episode: 0,
            tick: e.tick,
            log_time_ns: now_ns(),
            observation: ObservationMsg::new(0, e.tick, e.tick as f64 * self.dt_s, e.observation),
            action,
            sim_state,
            timing: Some(Timing {
                tick_start_ns: e.started.as_nanos() as u64,
                decide_us: e.policy_latency.map_or(0.0, |d| d.as_secs_f64() * 1e6),
                deadline_missed: e.missed,
            }),
        })
    }

    /// Writes the index and closes the file.
    pub fn finish(self) -> Result<(), LogError> {
        self.writer.finish()
    }
}
