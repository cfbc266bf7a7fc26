//! The log format: every channel survives a write → read round trip; a killed writer leaves
//! its complete chunks readable; logs for another robot layout are refused naming the field.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use strider_log::{
    ActionMsg, EpisodeStart, Log, LogError, LogMeta, LogWriter, ObservationMsg, SimState, TickRecord, Timing,
    WriterOptions,
};
use strider_robot::{Observation, RobotSpec, Sensors};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("strider-log-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A deterministic, tick-dependent record so a reader can check every value it recovers.
fn record(episode: u32, tick: u64, with_action: bool) -> TickRecord {
    let x = tick as f32 * 0.01 + episode as f32;
    let obs = Observation::new(
        Sensors {
            joint_pos: std::array::from_fn(|i| x + i as f32),
            joint_vel: std::array::from_fn(|i| -x * i as f32),
            torso_pitch: x.sin(),
            torso_pitch_rate: x.cos(),
            foot_contact: [tick.is_multiple_of(2), tick.is_multiple_of(3)],
        },
        0.5 + x,
    );
    TickRecord {
        episode,
        tick,
        log_time_ns: 1_700_000_000_000_000_000 + tick * 20_000_000 + u64::from(episode),
        observation: ObservationMsg::new(episode, tick, tick as f64 * 0.02, &obs),
        action: with_action.then(|| ActionMsg {
            episode,
            tick,
            joint_target: std::array::from_fn(|i| x * 2.0 + i as f32),
            applied: (tick.is_multiple_of(5)).then(|| std::array::from_fn(|i| x * 2.0 + i as f32 + 0.1)),
        }),
        sim_state: Some(SimState {
            torso_x: f64::from(x),
            torso_y: 1.2,
            height: 1.19,
            pitch: 0.01 * tick as f64,
            com_x: f64::from(x) - 0.01,
            com_y: 1.0,
            com_vx: 1.0,
            com_vy: -0.01,
            foot_contact: [true, tick.is_multiple_of(7)],
            fallen: false,
        }),
        timing: Some(Timing {
            tick_start_ns: tick * 20_000_000 + 13,
            decide_us: 41.5,
            deadline_missed: tick == 3,
        }),
    }
}

fn meta(spec: &RobotSpec) -> LogMeta {
    LogMeta::new(spec, "expert", "flat", Some(7))
}

fn assert_tick_eq(read: &strider_log::Tick, want: &TickRecord) {
    assert_eq!(read.tick, want.tick);
    assert_eq!(read.log_time_ns, want.log_time_ns);
    assert_eq!(read.plant_time_s, want.observation.plant_time_s);
    assert_eq!(read.observation, want.observation.observation());
    assert_eq!(read.action, want.action);
    assert_eq!(read.sim_state, want.sim_state);
    assert_eq!(read.timing, want.timing);
}

#[test]
fn every_channel_survives_a_round_trip() {
    let dir = temp_dir("round-trip");
    let path = dir.join("run.mcap");
    let spec = RobotSpec::reference();
    let mut w =
        LogWriter::create(&path, &meta(&spec), WriterOptions { flush_every_ticks: 7, ..Default::default() })
            .unwrap();
    let mut written = Vec::new();
    for episode in 0..3u32 {
        w.begin_episode(&EpisodeStart {
            episode,
            seed: Some(100 + u64::from(episode)),
            conditions: "flat".into(),
        })
        .unwrap();
        let ticks: Vec<_> = (0..40).map(|t| record(episode, t, episode != 1)).collect();
        for t in &ticks {
            w.write_tick(t).unwrap();
        }
        written.push(ticks);
    }
    w.finish().unwrap();

    let log = Log::read(&path).unwrap();
    assert_eq!(log.truncated, None);
    assert_eq!(log.meta, meta(&spec));
    log.check_against(&spec).unwrap();
    assert_eq!(log.episodes.len(), 3);
    assert_eq!(log.tick_count(), 120);
    for (episode, ticks) in log.episodes.iter().zip(&written) {
        assert_eq!(episode.start.seed, Some(100 + u64::from(episode.start.episode)));
        for (read, want) in episode.ticks.iter().zip(ticks) {
            assert_tick_eq(read, want);
        }
    }
    // Episode 1 was recorded without actions (an observation-only source).
    assert!(log.episodes[1].ticks.iter().all(|t| t.action.is_none()));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn an_existing_file_is_never_overwritten() {
    let dir = temp_dir("exists");
    let path = dir.join("run.mcap");
    std::fs::write(&path, b"precious").unwrap();
    let err =
        LogWriter::create(&path, &meta(&RobotSpec::reference()), WriterOptions::default()).err().unwrap();
    assert!(matches!(err, LogError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_dir_all(dir).unwrap();
}

fn write_small_log(path: &Path, meta: &LogMeta) {
    let mut w = LogWriter::create(path, meta, WriterOptions::default()).unwrap();
    w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
    w.write_tick(&record(0, 0, true)).unwrap();
    w.finish().unwrap();
}

#[test]
fn a_log_for_another_joint_order_is_refused_naming_the_field() {
    let dir = temp_dir("order");
    let path = dir.join("run.mcap");
    let spec = RobotSpec::reference();
    write_small_log(&path, &meta(&spec));
    let mut swapped = spec.clone();
    swapped.joints.swap(1, 2);
    let err = Log::read(&path).unwrap().check_against(&swapped).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: observation field 1 is `joint_pos.right_knee` in the log but `joint_pos.right_ankle` for the robot",
            path.display()
        )
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_log_with_another_contract_id_is_refused_naming_both() {
    let dir = temp_dir("contract");
    let path = dir.join("run.mcap");
    let spec = RobotSpec::reference();
    let mut m = meta(&spec);
    m.contract_id = strider_robot::ContractId(0x0123_4567_89ab_cdef);
    write_small_log(&path, &m);
    let err = Log::read(&path).unwrap().check_against(&spec).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LogError::ContractMismatch { .. }), "{text}");
    assert!(text.contains("0123456789abcdef") && text.contains(&spec.contract_id().to_string()), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_foreign_schema_is_refused_naming_the_channel() {
    let dir = temp_dir("schema");
    let path = dir.join("foreign.mcap");
    let spec = RobotSpec::reference();
    {
        let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let mut w = mcap::Writer::new(file).unwrap();
        let good = LogMeta::new(&spec, "expert", "flat", None);
        // Borrow a real Strider file's metadata record so only the schema differs.
        let donor = dir.join("donor.mcap");
        write_small_log(&donor, &good);
        let bytes = std::fs::read(&donor).unwrap();
        let summary = mcap::read::Summary::read(&bytes).unwrap().unwrap();
        let record = mcap::read::metadata(&bytes, &summary.metadata_indexes[0]).unwrap();
        w.write_metadata(&record).unwrap();
        let schema = w.add_schema("strider.Observation", "jsonschema", br#"{"type":"object"}"#).unwrap();
        let channel = w.add_channel(schema, "/observation", "json", &Default::default()).unwrap();
        let header =
            mcap::records::MessageHeader { channel_id: channel, sequence: 0, log_time: 0, publish_time: 0 };
        w.write_to_known_channel(&header, b"{}").unwrap();
        w.finish().unwrap();
    }
    let err = Log::read(&path).unwrap_err().to_string();
    assert!(err.contains("channel /observation: schema strider.Observation differs"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

const CHILD_ENV: &str = "STRIDER_LOG_TEST_CHILD";

/// The writer half of the SIGKILL test, run in a child process (this same test binary):
/// writes ticks forever and reports each flushed tick count on stdout.
fn killed_writer_child(path: &str) -> ! {
    let spec = RobotSpec::reference();
    let mut w = LogWriter::create(
        Path::new(&path),
        &meta(&spec),
        WriterOptions { flush_every_ticks: 25, ..Default::default() },
    )
    .unwrap();
    w.begin_episode(&EpisodeStart { episode: 0, seed: Some(1), conditions: "flat".into() }).unwrap();
    for tick in 0.. {
        w.write_tick(&record(0, tick, true)).unwrap();
        if (tick + 1).is_multiple_of(25) {
            println!("flushed {}", tick + 1);
        }
        if tick.is_multiple_of(5) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    unreachable!("the writer runs until it is killed")
}

#[test]
fn a_writer_killed_with_sigkill_leaves_its_complete_chunks_readable() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        killed_writer_child(&path);
    }
    let dir = temp_dir("sigkill");
    let path = dir.join("killed.mcap");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "a_writer_killed_with_sigkill_leaves_its_complete_chunks_readable", "--nocapture"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut flushed = 0u64;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        if let Some(n) = line.unwrap().strip_prefix("flushed ") {
            flushed = n.parse().unwrap();
            if flushed >= 500 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no footer.
    child.wait().unwrap();
    assert!(flushed >= 500, "the child stopped before writing 500 ticks");

    let log = Log::read(&path).unwrap();
    assert!(log.truncated.is_some(), "a killed writer leaves no footer");
    let ticks = &log.episodes[0].ticks;
    assert!(ticks.len() as u64 >= flushed, "recovered {} ticks, {flushed} were flushed", ticks.len());
    for (i, t) in ticks.iter().enumerate() {
        assert_tick_eq(t, &record(0, i as u64, true));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn summary_counts_ticks_misses_falls_and_field_statistics() {
    let dir = temp_dir("summary");
    let path = dir.join("run.mcap");
    let spec = RobotSpec::reference();
    let mut w = LogWriter::create(&path, &meta(&spec), WriterOptions::default()).unwrap();
    for episode in 0..3u32 {
        w.begin_episode(&EpisodeStart { episode, seed: None, conditions: String::new() }).unwrap();
        for tick in 0..40 {
            let mut r = record(episode, tick, episode != 1);
            r.sim_state.as_mut().unwrap().fallen = episode == 2 && tick > 30;
            w.write_tick(&r).unwrap();
        }
    }
    w.finish().unwrap();
    let s = strider_log::LogSummary::of(&Log::read(&path).unwrap());
    assert_eq!((s.episodes, s.ticks, s.falls, s.deadline_misses), (3, 120, 1, 3));
    assert_eq!(s.plant_seconds, 120.0 / 50.0);
    assert_eq!(s.tick_interval_median_ms, Some(20.0));
    // Every interval is exactly the 20 ms period: all in the [-10, 10) µs bucket.
    assert_eq!(s.tick_interval_error_histogram, vec![0, 0, 0, 117, 0, 0, 0]);
    let pitch = &s.observation[12];
    assert_eq!((pitch.field.as_str(), pitch.stats.count), ("torso_pitch", 120));
    assert_eq!(s.action[0].stats.count, 80, "episode 1 has no actions");
    let hip: Vec<f64> =
        (0..3u32).flat_map(|e| (0..40u64).map(move |t| f64::from(t as f32 * 0.01 + e as f32))).collect();
    let mean = hip.iter().sum::<f64>() / 120.0;
    assert!((s.observation[0].stats.mean - mean).abs() < 1e-9);
    std::fs::remove_dir_all(dir).unwrap();
}

proptest::proptest! {
    #[test]
    fn merged_statistics_equal_one_pass(xs in proptest::collection::vec(-1e3f64..1e3, 1..200), cut in 0usize..200) {
        let cut = cut.min(xs.len());
        let [mut all, mut a, mut b] = [strider_log::FieldStats::default(); 3];
        xs.iter().for_each(|&x| all.push(x));
        xs[..cut].iter().for_each(|&x| a.push(x));
        xs[cut..].iter().for_each(|&x| b.push(x));
        a.merge(&b);
        proptest::prop_assert_eq!(a.count, all.count);
        proptest::prop_assert!((a.mean - all.mean).abs() < 1e-9 && (a.std - all.std).abs() < 1e-6);
        proptest::prop_assert_eq!((a.min, a.max), (all.min, all.max));
    }
}
