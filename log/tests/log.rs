//! The log format: every channel survives a write → read round trip, any float included
//! (NaN and ±Inf as the documented strings), for the reference biped and for any robot
//! layout; the biped's schemas and messages are the bytes written before layouts; a killed
//! writer leaves its complete chunks readable; logs for another robot layout are refused
//! naming the field and both contract ids; version-1 files still read; summaries and the
//! LeRobot export count non-finite values and keep them out of their statistics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::sync::LazyLock;

use strider_log::{
    ActionMsg, EpisodeStart, Log, LogError, LogMeta, LogWriter, MessageLayout, ObservationMsg, SimState,
    TickRecord, Timing, WriterOptions,
};
use strider_robot::{
    CommandField, CommandValues, Contacts, ImuField, ImuValues, JointValues, Layout, Observation, RobotSpec,
    Sensors,
};

/// The reference biped's layout: 6 joints, torso pitch and pitch rate, 2 contacts, `vx`.
static BIPED: LazyLock<Layout> = LazyLock::new(|| RobotSpec::reference().layout());

/// One value per joint of the biped, `f(joint index)`.
fn per_joint(f: impl Fn(usize) -> f32) -> JointValues {
    JointValues::from_slice(&(0..BIPED.joints).map(f).collect::<Vec<_>>())
}

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
            joint_pos: per_joint(|i| x + i as f32),
            joint_vel: per_joint(|i| -x * i as f32),
            imu: ImuValues::from([x.sin(), x.cos()]),
            contact: Contacts::from([tick.is_multiple_of(2), tick.is_multiple_of(3)]),
        },
        BIPED.forward_command(0.5 + x),
    );
    TickRecord {
        episode,
        tick,
        log_time_ns: 1_700_000_000_000_000_000 + tick * 20_000_000 + u64::from(episode),
        observation: ObservationMsg::new(episode, tick, tick as f64 * 0.02, &obs),
        action: with_action.then(|| ActionMsg {
            episode,
            tick,
            joint_target: per_joint(|i| x * 2.0 + i as f32),
            applied: (tick.is_multiple_of(5)).then(|| per_joint(|i| x * 2.0 + i as f32 + 0.1)),
            surprise: (tick.is_multiple_of(3)).then_some(x.abs() + 0.5),
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
            foot_contact: Contacts::from([true, tick.is_multiple_of(7)]),
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
            "{}: recorded for contract id {}, but the robot's is {}: observation field 1 is `joint_pos.right_knee` in the log but `joint_pos.right_ankle` for the robot; use the robot description it was recorded with",
            path.display(),
            spec.contract_id(),
            swapped.contract_id()
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

/// Whether `read` is `written` as the log documents it: the same bits, or the canonical NaN
/// for any NaN.
fn same_f32(written: f32, read: f32) -> bool {
    read.to_bits() == if written.is_nan() { f32::NAN.to_bits() } else { written.to_bits() }
}

fn same_f64(written: f64, read: f64) -> bool {
    read.to_bits() == if written.is_nan() { f64::NAN.to_bits() } else { written.to_bits() }
}

/// Every float of a tick record, in a fixed order: the f32 fields, then the f64 ones.
fn floats_of(t: &TickRecord) -> (Vec<f32>, Vec<f64>) {
    let o = &t.observation;
    let a = t.action.as_ref().expect("the test records actions");
    let mut f32s = [&o.joint_pos[..], &o.joint_vel, &o.imu, &o.command].concat();
    f32s.extend(a.joint_target.iter().chain(a.applied.iter().flatten()));
    let s = t.sim_state.expect("the test records sim state");
    let f64s = vec![
        o.plant_time_s,
        s.torso_x,
        s.torso_y,
        s.height,
        s.pitch,
        s.com_x,
        s.com_y,
        s.com_vx,
        s.com_vy,
        t.timing.expect("the test records timing").decide_us,
    ];
    (f32s, f64s)
}

/// The floats read back for one tick, in the order of [`floats_of`].
fn floats_read(t: &strider_log::Tick) -> (Vec<f32>, Vec<f64>) {
    let r = TickRecord {
        episode: 0,
        tick: t.tick,
        log_time_ns: t.log_time_ns,
        observation: ObservationMsg::new(0, t.tick, t.plant_time_s, &t.observation),
        action: t.action.clone(),
        sim_state: t.sim_state,
        timing: t.timing,
    };
    floats_of(&r)
}

/// A tick record whose every float is taken, in order, from `f32s` and `f64s`.
fn record_of(tick: u64, f32s: &[f32], f64s: &[f64]) -> TickRecord {
    let arr = |at: usize| per_joint(|i| f32s[at + i]);
    let obs = Observation::new(
        Sensors {
            joint_pos: arr(0),
            joint_vel: arr(6),
            imu: ImuValues::from_slice(&f32s[12..14]),
            contact: Contacts::from([true, false]),
        },
        CommandValues::from_slice(&f32s[14..15]),
    );
    TickRecord {
        episode: 0,
        tick,
        log_time_ns: 1_700_000_000_000_000_000 + tick,
        observation: ObservationMsg::new(0, tick, f64s[0], &obs),
        action: Some(ActionMsg {
            episode: 0,
            tick,
            joint_target: arr(15),
            applied: Some(arr(21)),
            surprise: None,
        }),
        sim_state: Some(SimState {
            torso_x: f64s[1],
            torso_y: f64s[2],
            height: f64s[3],
            pitch: f64s[4],
            com_x: f64s[5],
            com_y: f64s[6],
            com_vx: f64s[7],
            com_vy: f64s[8],
            foot_contact: Contacts::from([false, true]),
            fallen: false,
        }),
        timing: Some(Timing { tick_start_ns: tick, decide_us: f64s[9], deadline_missed: false }),
    }
}

const F32_PER_TICK: usize = 27;
const F64_PER_TICK: usize = 10;

/// Any f32: every bit pattern, with the values that break encoders (NaN with any payload,
/// ±Inf, ±0, subnormals, the extremes) drawn often.
fn any_f32() -> impl proptest::strategy::Strategy<Value = f32> {
    use proptest::prelude::*;
    prop_oneof![
        3 => any::<u32>().prop_map(f32::from_bits),
        1 => (any::<bool>(), 1u32..0x0080_0000).prop_map(|(neg, m)| f32::from_bits(u32::from(neg) << 31 | m)),
        1 => (any::<bool>(), 1u32..0x0080_0000).prop_map(|(neg, m)| f32::from_bits(u32::from(neg) << 31 | 0x7f80_0000 | m)),
        1 => prop::sample::select(vec![
            f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, f32::MAX, f32::MIN, f32::MIN_POSITIVE,
            f32::EPSILON, 1.0e-45, -1.0e-45,
        ]),
    ]
}

fn any_f64() -> impl proptest::strategy::Strategy<Value = f64> {
    use proptest::prelude::*;
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        1 => prop::sample::select(vec![
            f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, f64::MAX, f64::MIN,
            f64::MIN_POSITIVE, 5e-324,
        ]),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Every f32 and f64 field written through the log comes back bit for bit, except a NaN,
    /// which comes back as the canonical NaN (docs/LOGS.md, "Non-finite values").
    #[test]
    fn any_float_survives_the_log_bit_for_bit_or_as_the_canonical_nan(
        f32s in proptest::collection::vec(any_f32(), F32_PER_TICK * 8),
        f64s in proptest::collection::vec(any_f64(), F64_PER_TICK * 8),
    ) {
        let dir = temp_dir("any-float");
        let path = dir.join("run.mcap");
        let spec = RobotSpec::reference();
        let mut w = LogWriter::create(&path, &meta(&spec), WriterOptions::default()).unwrap();
        w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
        let written: Vec<TickRecord> = (0..8)
            .map(|t| {
                let (a, b) = (t * F32_PER_TICK, t * F64_PER_TICK);
                record_of(t as u64, &f32s[a..a + F32_PER_TICK], &f64s[b..b + F64_PER_TICK])
            })
            .collect();
        for t in &written {
            w.write_tick(t).unwrap();
        }
        w.finish().unwrap();
        let log = Log::read(&path).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        proptest::prop_assert_eq!(log.episodes[0].ticks.len(), written.len());
        for (read, want) in log.episodes[0].ticks.iter().zip(&written) {
            let ((w32, w64), (r32, r64)) = (floats_of(want), floats_read(read));
            for (i, (w, r)) in w32.iter().zip(&r32).enumerate() {
                proptest::prop_assert!(same_f32(*w, *r), "tick {} f32 {i}: wrote {w:e} ({:#010x}), read {r:e} ({:#010x})", read.tick, w.to_bits(), r.to_bits());
            }
            for (i, (w, r)) in w64.iter().zip(&r64).enumerate() {
                proptest::prop_assert!(same_f64(*w, *r), "tick {} f64 {i}: wrote {w:e} ({:#018x}), read {r:e} ({:#018x})", read.tick, w.to_bits(), r.to_bits());
            }
        }
    }
}

/// Issue 10. Symptom: a robot run whose sensor frames held a NaN joint angle (how a failed
/// sensor reports) or an infinite pitch could not be read back: `strider replay` failed
/// with "channel /observation, message 1001: invalid type: null, expected f32". Cause:
/// serde_json writes a non-finite float as `null`. Expected: the log reads back with the
/// NaN and the infinity where they were recorded.
#[test]
fn issue_10_a_failed_sensor_no_longer_makes_the_log_unreadable() {
    let dir = temp_dir("issue-10");
    let path = dir.join("robot.mcap");
    let spec = RobotSpec::reference();
    let mut w = LogWriter::create(&path, &meta(&spec), WriterOptions::default()).unwrap();
    w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
    for tick in 0..300 {
        let mut r = record(0, tick, true);
        if tick >= 200 {
            r.observation.joint_pos[1] = f32::NAN;
            r.observation.imu[0] = if tick % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY };
            r.sim_state = None;
        }
        w.write_tick(&r).unwrap();
    }
    w.finish().unwrap();

    let log = Log::read(&path).unwrap();
    let ticks = &log.episodes[0].ticks;
    assert_eq!(ticks.len(), 300);
    for t in &ticks[200..] {
        let s = &t.observation.sensors;
        assert!(s.joint_pos[1].is_nan(), "tick {}: {}", t.tick, s.joint_pos[1]);
        assert_eq!(s.imu[0], if t.tick % 2 == 0 { f32::INFINITY } else { f32::NEG_INFINITY });
        assert_eq!(s.joint_pos[0], record(0, t.tick, true).observation.joint_pos[0]);
    }
    for (i, t) in ticks[..200].iter().enumerate() {
        assert_tick_eq(t, &record(0, i as u64, true));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// docs/LOGS.md quotes an observation message with non-finite fields; this is what the
/// writer writes for it, byte for byte.
#[test]
fn the_documented_non_finite_message_is_what_the_writer_writes() {
    let obs = Observation::new(
        Sensors {
            joint_pos: JointValues::from([0.1, f32::NAN, -0.25, 0.0, -0.5, 0.125]),
            joint_vel: JointValues::zeros(BIPED.joints),
            imu: ImuValues::from([f32::INFINITY, f32::NEG_INFINITY]),
            contact: Contacts::from([true, false]),
        },
        BIPED.forward_command(0.5),
    );
    let layout = MessageLayout::of(&RobotSpec::reference());
    let text = ObservationMsg::new(0, 7, 0.14, &obs).to_json(&layout).unwrap();
    let expected = r#"{"episode":0,"tick":7,"plant_time_s":0.14,"joint_pos":[0.1,"NaN",-0.25,0.0,-0.5,0.125],"joint_vel":[0.0,0.0,0.0,0.0,0.0,0.0],"torso_pitch":"Infinity","torso_pitch_rate":"-Infinity","foot_contact":[true,false],"command_vx":0.5}"#;
    assert_eq!(text, expected);
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/LOGS.md")).unwrap();
    assert!(doc.contains(expected), "docs/LOGS.md should quote {expected}");
    // Anything else in a float's place is refused naming what was expected.
    let bad = expected.replace("\"NaN\"", "\"nan\"");
    let err = ObservationMsg::from_json(&layout, bad.as_bytes()).unwrap_err();
    assert!(
        err.contains(
            r#"invalid value: string "nan", expected a number or one of "NaN", "Infinity", "-Infinity""#
        ),
        "{err}"
    );
}

/// A version-1 file (every float a JSON number, the schemas of that version) is still
/// read; a version this build does not know is refused naming `format_version`.
#[test]
fn a_version_1_log_still_reads_and_an_unknown_version_is_refused() {
    let dir = temp_dir("version-1");
    let spec = RobotSpec::reference();
    let layout = MessageLayout::of(&spec);
    let write = |path: &Path, version: u32| {
        let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        let mut w = mcap::Writer::new(file).unwrap();
        // The metadata of a real file, with its version replaced.
        let donor = dir.join(format!("donor-{version}.mcap"));
        write_small_log(&donor, &meta(&spec));
        let bytes = std::fs::read(&donor).unwrap();
        let summary = mcap::read::Summary::read(&bytes).unwrap().unwrap();
        let mut metadata = mcap::read::metadata(&bytes, &summary.metadata_indexes[0]).unwrap();
        metadata.metadata.insert("format_version".into(), version.to_string());
        w.write_metadata(&metadata).unwrap();
        let mut channels = std::collections::BTreeMap::new();
        for (topic, name, schema) in strider_log::schemas_of(1, &layout).unwrap() {
            let s = w.add_schema(name, "jsonschema", schema.to_string().as_bytes()).unwrap();
            channels.insert(topic, w.add_channel(s, topic, "json", &Default::default()).unwrap());
        }
        let mut sequence = 0;
        let mut put = |w: &mut mcap::Writer<_>, topic: &str, data: String| {
            let header = mcap::records::MessageHeader {
                channel_id: channels[topic],
                sequence,
                log_time: u64::from(sequence),
                publish_time: u64::from(sequence),
            };
            sequence += 1;
            w.write_to_known_channel(&header, data.as_bytes()).unwrap();
        };
        put(&mut w, "/episode", r#"{"episode":0,"seed":5,"conditions":"flat"}"#.into());
        for tick in 0..3 {
            let r = record(0, tick, true);
            put(&mut w, "/observation", r.observation.to_json(&layout).unwrap());
            put(&mut w, "/action", serde_json::to_string(r.action.as_ref().unwrap()).unwrap());
        }
        w.finish().unwrap();
    };
    let old = dir.join("v1.mcap");
    write(&old, 1);
    let log = Log::read(&old).unwrap();
    assert_eq!(log.meta.format_version, 1);
    assert_eq!(log.tick_count(), 3);
    assert_eq!(log.episodes[0].ticks[2].action, record(0, 2, true).action);

    let future = dir.join("v9.mcap");
    write(&future, 9);
    let err = Log::read(&future).unwrap_err().to_string();
    assert!(err.contains("metadata `format_version` is 9; this build reads versions 1 to 2"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `strider replay`'s numbers: a NaN or an infinity is counted per field and left out of
/// the mean, std, min and max, which stay those of the finite values.
#[test]
fn summary_counts_non_finite_values_and_leaves_them_out_of_the_statistics() {
    let dir = temp_dir("summary-non-finite");
    let path = dir.join("run.mcap");
    let spec = RobotSpec::reference();
    let mut w = LogWriter::create(&path, &meta(&spec), WriterOptions::default()).unwrap();
    w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
    for tick in 0..10 {
        let mut r = record(0, tick, true);
        r.observation.imu[0] = tick as f32;
        if tick >= 7 {
            r.observation.imu[0] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][tick as usize - 7];
        }
        r.observation.joint_vel[2] = f32::NAN;
        r.action.as_mut().unwrap().joint_target[0] = if tick == 4 { f32::INFINITY } else { 1.0 };
        w.write_tick(&r).unwrap();
    }
    w.finish().unwrap();
    let s = strider_log::LogSummary::of(&Log::read(&path).unwrap());
    let pitch = &s.observation[12];
    assert_eq!(pitch.field, "torso_pitch");
    assert_eq!((pitch.stats.count, pitch.stats.non_finite), (7, 3));
    assert_eq!((pitch.stats.mean, pitch.stats.min, pitch.stats.max), (3.0, 0.0, 6.0));
    assert_eq!((s.observation[8].stats.count, s.observation[8].stats.non_finite), (0, 10));
    assert_eq!(s.observation[0].stats.non_finite, 0);
    let hip = &s.action[0].stats;
    assert_eq!((hip.count, hip.non_finite, hip.mean, hip.std), (9, 1, 1.0, 0.0));
    // As JSON: the counts, and null (not NaN, not 0) where there is no finite value.
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["observation"][12]["non_finite"], 3);
    assert_eq!(v["observation"][12]["mean"], 3.0);
    assert_eq!(v["observation"][8]["count"], 0);
    assert!(v["observation"][8]["mean"].is_null() && v["observation"][8]["max"].is_null(), "{v}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `strider export lerobot` keeps a NaN or an infinity in its float column as recorded;
/// meta/stats.json holds the statistics of the finite values, `null` for a field that
/// has none, and the frame count.
#[test]
fn export_lerobot_keeps_non_finite_values_and_leaves_them_out_of_stats() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::{Field, ListAccessor};

    let dir = temp_dir("lerobot-non-finite");
    let path = dir.join("run.mcap");
    let spec = RobotSpec::reference();
    let mut w = LogWriter::create(&path, &meta(&spec), WriterOptions::default()).unwrap();
    w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
    for tick in 0..6 {
        let mut r = record(0, tick, true);
        r.observation.joint_pos[0] = [1.0, f32::NAN, 3.0, f32::INFINITY, 5.0, 6.0][tick as usize];
        r.observation.joint_vel[0] = f32::NAN;
        w.write_tick(&r).unwrap();
    }
    w.finish().unwrap();
    let out = dir.join("dataset");
    let summary = strider_log::export_lerobot(&[Log::read(&path).unwrap()], &out, "walk").unwrap();
    assert_eq!(summary.frames, 6);

    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta/stats.json")).unwrap()).unwrap();
    let state = &stats["observation.state"];
    assert_eq!(state["mean"][0], 15.0 / 4.0, "mean of 1, 3, 5, 6");
    assert_eq!((state["min"][0].as_f64(), state["max"][0].as_f64()), (Some(1.0), Some(6.0)));
    assert!(state["mean"][6].is_null() && state["std"][6].is_null(), "{state}");
    assert_eq!(state["count"][0], 6);

    let reader =
        SerializedFileReader::new(std::fs::File::open(out.join("data/chunk-000/file-000.parquet")).unwrap())
            .unwrap();
    let column: Vec<(f32, f32)> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap();
            let (_, field) = row.get_column_iter().next().unwrap();
            let Field::ListInternal(list) = field else { panic!("observation.state is a list: {field:?}") };
            (list.get_float(0).unwrap(), list.get_float(6).unwrap())
        })
        .collect();
    let hip: Vec<f32> = column.iter().map(|c| c.0).collect();
    assert_eq!(hip[0], 1.0);
    assert!(hip[1].is_nan());
    assert_eq!(hip[3], f32::INFINITY);
    assert!(column.iter().all(|c| c.1.is_nan()));
    std::fs::remove_dir_all(dir).unwrap();
}

/// The reference biped's channel schemas, generated from its layout, are the text the build
/// before layouts wrote (`fixtures/biped-schemas.txt`, captured from that build: one
/// `<format version> <topic> <schema name> <schema>` line per channel and version).
#[test]
fn the_biped_schemas_are_the_text_written_before_layouts() {
    let layout = MessageLayout::of(&RobotSpec::reference());
    let mut pinned = include_str!("fixtures/biped-schemas.txt").lines();
    for version in [1, 2] {
        for (topic, name, schema) in strider_log::schemas_of(version, &layout).unwrap() {
            let line = pinned.next().expect("a pinned schema per version and channel");
            assert_eq!(format!("{version} {topic} {name} {schema}"), line);
        }
    }
    assert_eq!(pinned.next(), None);
}

/// Every message of `path` in file order: its topic, schema name, schema text and data.
fn messages_of(path: &Path) -> Vec<(String, String, Vec<u8>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    mcap::MessageStream::new(&bytes)
        .unwrap()
        .map(|m| {
            let m = m.unwrap();
            let schema = m.channel.schema.as_ref().expect("every channel has a schema");
            (m.channel.topic.clone(), schema.name.clone(), schema.data.to_vec(), m.data.to_vec())
        })
        .collect()
}

/// A biped log written before layouts (the tests crate's `fixtures/logs/sim-format-2.mcap`,
/// from `strider sim --log`) reads, and writing what was read with this build gives every
/// channel the same schema and every message the same bytes, in the same order.
#[test]
fn a_biped_log_written_before_layouts_reads_and_writes_back_byte_for_byte() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/logs/sim-format-2.mcap");
    let spec = RobotSpec::reference();
    let log = Log::read(&fixture).unwrap();
    log.check_against(&spec).unwrap();
    assert_eq!(log.tick_count(), 10);
    assert_eq!(log.layout, MessageLayout::of(&spec));

    let dir = temp_dir("rewrite");
    let path = dir.join("rewritten.mcap");
    let mut w = LogWriter::create(&path, &log.meta, WriterOptions::default()).unwrap();
    for (e, episode) in log.episodes.iter().enumerate() {
        w.begin_episode(&episode.start).unwrap();
        for t in &episode.ticks {
            w.write_tick(&TickRecord {
                episode: e as u32,
                tick: t.tick,
                log_time_ns: t.log_time_ns,
                observation: ObservationMsg::new(e as u32, t.tick, t.plant_time_s, &t.observation),
                action: t.action.clone(),
                sim_state: t.sim_state,
                timing: t.timing,
            })
            .unwrap();
        }
    }
    w.finish().unwrap();
    let (before, after) = (messages_of(&fixture), messages_of(&path));
    let topics: std::collections::BTreeSet<&str> = before.iter().map(|m| m.0.as_str()).collect();
    assert_eq!(topics.len(), 6, "the fixture has every channel: {topics:?}");
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((&a.0, &a.1), (&b.0, &b.1));
        assert_eq!(String::from_utf8_lossy(&a.2), String::from_utf8_lossy(&b.2), "{} schema", b.0);
        assert_eq!(String::from_utf8_lossy(&a.3), String::from_utf8_lossy(&b.3), "{} message", b.0);
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A valid description of `joints` joints in a chain ([`RobotSpec::chain`]).
fn robot(joints: usize, imu: Vec<ImuField>, contacts: usize, commands: Vec<CommandField>) -> RobotSpec {
    RobotSpec::chain(joints, imu, contacts, commands).expect("a valid generated description")
}

/// Valid descriptions with 1–24 joints, any IMU fields, 0–4 contacts and 1–3 command
/// components.
fn arb_layout_spec() -> impl proptest::strategy::Strategy<Value = RobotSpec> {
    use proptest::prelude::*;
    let imu = prop::sample::subsequence(ImuField::ALL.to_vec(), 0..=8);
    let commands = prop::sample::subsequence(CommandField::ALL.to_vec(), 1..=3);
    (1usize..=24, imu, 0usize..=4, commands)
        .prop_map(|(joints, imu, contacts, commands)| robot(joints, imu, contacts, commands))
}

/// The brief's small robot: 3 joints, the IMU's pitch, 1 contact, forward and turning commands.
fn three_joint_robot() -> RobotSpec {
    robot(3, vec![ImuField::Pitch], 1, vec![CommandField::Vx, CommandField::YawRate])
}

/// A tick of robot `layout` whose every value is drawn from `floats` and `flags` in turn.
fn tick_of(
    layout: &Layout,
    episode: u32,
    tick: u64,
    floats: &mut impl Iterator<Item = f32>,
    flags: &mut impl Iterator<Item = bool>,
) -> TickRecord {
    let mut joints = || JointValues::from_slice(&floats.by_ref().take(layout.joints).collect::<Vec<_>>());
    let (joint_pos, joint_vel, joint_target) = (joints(), joints(), joints());
    let applied = flags.next().unwrap().then(&mut joints);
    let imu = ImuValues::from_slice(&floats.take(layout.imu.len()).collect::<Vec<_>>());
    let command = CommandValues::from_slice(&floats.take(layout.commands.len()).collect::<Vec<_>>());
    let mut contacts = || Contacts::from_slice(&flags.take(layout.contacts).collect::<Vec<_>>());
    let (contact, ground) = (contacts(), contacts());
    let obs = Observation::new(Sensors { joint_pos, joint_vel, imu, contact }, command);
    let x = f64::from(floats.next().unwrap());
    TickRecord {
        episode,
        tick,
        log_time_ns: 1_700_000_000_000_000_000 + tick * 20_000_000,
        observation: ObservationMsg::new(episode, tick, tick as f64 * 0.02, &obs),
        action: flags.next().unwrap().then_some(ActionMsg {
            episode,
            tick,
            joint_target,
            applied,
            surprise: flags.next().unwrap().then_some(x.abs() as f32),
        }),
        sim_state: Some(SimState { torso_x: x, height: 1.2, foot_contact: ground, ..SimState::default() }),
        timing: Some(Timing { tick_start_ns: tick * 20_000_000, decide_us: x, deadline_missed: false }),
    }
}

/// Writes `ticks` (one episode) for `spec` to `path`.
fn write_ticks(path: &Path, spec: &RobotSpec, ticks: &[TickRecord]) {
    let mut w =
        LogWriter::create(path, &meta(spec), WriterOptions { flush_every_ticks: 3, ..Default::default() })
            .unwrap();
    w.begin_episode(&EpisodeStart { episode: 0, seed: Some(3), conditions: "any".into() }).unwrap();
    for t in ticks {
        w.write_tick(t).unwrap();
    }
    w.finish().unwrap();
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// A robot of any layout — joints, IMU fields, contacts, command components — writes its
    /// ticks to a real file and reads back the same values, under the same contract.
    #[test]
    fn any_robot_layout_survives_the_log(
        spec in arb_layout_spec(),
        floats in proptest::collection::vec(-1e3f32..1e3, 1..400),
        flags in proptest::collection::vec(proptest::prelude::any::<bool>(), 1..64),
    ) {
        let layout = spec.layout();
        let (mut floats, mut flags) = (floats.into_iter().cycle(), flags.into_iter().cycle());
        let written: Vec<TickRecord> = (0..5).map(|t| tick_of(&layout, 0, t, &mut floats, &mut flags)).collect();
        let dir = temp_dir("any-layout");
        let path = dir.join("run.mcap");
        write_ticks(&path, &spec, &written);
        let log = Log::read(&path).unwrap();
        std::fs::remove_dir_all(dir).unwrap();
        log.check_against(&spec).unwrap();
        proptest::prop_assert_eq!(&log.layout, &MessageLayout::of(&spec));
        proptest::prop_assert_eq!(log.layout.to_layout(), layout);
        proptest::prop_assert_eq!(log.episodes[0].ticks.len(), written.len());
        for (read, want) in log.episodes[0].ticks.iter().zip(&written) {
            assert_tick_eq(read, want);
            proptest::prop_assert!(read.observation.sensors.fits(&layout));
        }
        let summary = strider_log::LogSummary::of(&log);
        proptest::prop_assert_eq!(summary.observation.len(), layout.obs_dim());
        proptest::prop_assert_eq!(summary.observation[0].stats.count, 5);
    }
}

/// The small robot's log: its observation keys are its own, and the LeRobot export sizes
/// `observation.state` and `action` by its layout.
#[test]
fn a_three_joint_robot_writes_its_own_keys_and_exports_its_own_widths() {
    let spec = three_joint_robot();
    let layout = spec.layout();
    let mut floats = (0..).map(|i| i as f32 * 0.25);
    let mut flags = [true, false, true].into_iter().cycle();
    let ticks: Vec<TickRecord> = (0..4).map(|t| tick_of(&layout, 0, t, &mut floats, &mut flags)).collect();
    let dir = temp_dir("three-joints");
    let path = dir.join("run.mcap");
    write_ticks(&path, &spec, &ticks);

    let observation = &messages_of(&path).into_iter().find(|m| m.0 == "/observation").unwrap();
    let keys: Vec<String> =
        serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&observation.3)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    let mut want =
        ["episode", "tick", "plant_time_s", "joint_pos", "joint_vel", "link0_pitch", "foot_contact"]
            .map(String::from)
            .to_vec();
    want.extend(["command_vx".into(), "command_yaw_rate".into()]);
    want.sort();
    assert_eq!(keys, want, "{}", String::from_utf8_lossy(&observation.3));
    let schema: serde_json::Value = serde_json::from_slice(&observation.2).unwrap();
    assert_eq!(schema["properties"]["joint_pos"]["maxItems"], 3);
    assert_eq!(schema["properties"]["foot_contact"]["description"], "contact switches, c0");

    let out = dir.join("dataset");
    let summary = strider_log::export_lerobot(&[Log::read(&path).unwrap()], &out, "walk").unwrap();
    assert!(summary.frames > 0);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta/info.json")).unwrap()).unwrap();
    let state = &info["features"]["observation.state"];
    assert_eq!(state["shape"], serde_json::json!([layout.obs_dim()]));
    assert_eq!(layout.obs_dim(), 3 + 3 + 1 + 1 + 2);
    assert_eq!(state["names"].as_array().unwrap().len(), layout.obs_dim());
    assert_eq!(info["features"]["action"]["shape"], serde_json::json!([3]));
    let stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta/stats.json")).unwrap()).unwrap();
    assert_eq!(stats["observation.state"]["mean"].as_array().unwrap().len(), layout.obs_dim());
    std::fs::remove_dir_all(dir).unwrap();
}

/// A log of one layout checked against a robot of another is refused in one line naming
/// the file, both contract ids and the first field that differs — both ways round.
#[test]
fn a_log_of_another_layout_is_refused_naming_the_file_and_both_contract_ids() {
    let dir = temp_dir("other-layout");
    let (small, biped) = (three_joint_robot(), RobotSpec::reference());
    let small_log = dir.join("small.mcap");
    let mut flags = std::iter::repeat(true);
    write_ticks(
        &small_log,
        &small,
        &[tick_of(&small.layout(), 0, 0, &mut (0..).map(|i| i as f32), &mut flags)],
    );
    let biped_log = dir.join("biped.mcap");
    write_small_log(&biped_log, &meta(&biped));
    for (path, log_spec, robot) in [(&small_log, &small, &biped), (&biped_log, &biped, &small)] {
        let err = Log::read(path).unwrap().check_against(robot).unwrap_err().to_string();
        let (log_id, robot_id) = (log_spec.contract_id().to_string(), robot.contract_id().to_string());
        assert_ne!(log_id, robot_id);
        assert!(!err.contains('\n'), "{err}");
        assert!(
            err.starts_with(&format!(
                "{}: recorded for contract id {log_id}, but the robot's is {robot_id}: observation field 0 is `joint_pos.",
                path.display()
            )),
            "{err}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// A tick whose counts are not the log's layout is refused naming the file, the channel and
/// the count, and nothing of it is written.
#[test]
fn a_tick_of_another_layout_is_refused_by_the_writer() {
    let dir = temp_dir("writer-misfit");
    let path = dir.join("run.mcap");
    let spec = three_joint_robot();
    let mut w = LogWriter::create(&path, &meta(&spec), WriterOptions::default()).unwrap();
    w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
    let err = w.write_tick(&record(0, 0, false)).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: channel /sim/state, message 1: ", path.display())), "{err}");
    assert!(err.ends_with("foot_contact: 2 values, but the log's layout has 1 contacts"), "{err}");
    let mut r = record(0, 0, true);
    r.sim_state = None;
    let err = w.write_tick(&r).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "channel /action, message 1: joint_target: 6 values, but the log's layout has 3 joints"
        ),
        "{err}"
    );
    r.action = None;
    let err = w.write_tick(&r).unwrap_err().to_string();
    assert!(
        err.ends_with(
            "channel /observation, message 1: joint_pos: 6 values, but the log's layout has 3 joints"
        ),
        "{err}"
    );
    w.finish().unwrap();
    assert_eq!(Log::read(&path).unwrap().tick_count(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}
