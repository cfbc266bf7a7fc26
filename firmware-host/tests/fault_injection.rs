//! The virtual robot's injected faults (`FaultSpec`), seen through a real pseudo-terminal
//! by a raw host: each fault happens when and as often as the spec says, and each is
//! counted in `InjectedFaults` exactly as the host sees it. Times count from the first Hello.

mod support;

use std::time::{Duration, Instant};

use strider_firmware_host::virtual_robot::{FaultSpec, FirmwareConfig, InjectedFaults};
use strider_firmware_host::{Header, Message, Mode, PROTOCOL_VERSION};
use support::{RawHost, Received, robot, temp_link};

const NEAR: [f32; 6] = [0.1, -0.2, 0.0, 0.1, -0.2, 0.0];

fn faulty(spec: &str) -> FirmwareConfig {
    FirmwareConfig { faults: spec.parse::<FaultSpec>().unwrap(), ..Default::default() }
}

/// Seconds from the HelloAck to `r` by the robot's own clock: the HelloAck is stamped as
/// the first Hello starts the fault schedule, and the robot decides a silence as it stamps
/// a frame, so this is exact where the host's clock would be late by its own delays.
fn since_hello(hello: &Received, r: &Received) -> f64 {
    f64::from(r.frame.header.timestamp_us.wrapping_sub(hello.frame.header.timestamp_us)) / 1e6
}

/// Commands every 20 ms for `duration` without waiting for answers; every frame received.
fn command_for(host: &mut RawHost, duration: Duration) -> (Vec<u16>, Vec<Received>) {
    let start = Instant::now();
    let (mut sent, mut got) = (Vec::new(), Vec::new());
    while start.elapsed() < duration {
        sent.push(host.send(&Message::JointCommand(support::command(&NEAR))));
        got.extend(host.collect(Duration::from_millis(20)));
    }
    (sent, got)
}

#[test]
fn a_silence_sends_nothing_for_its_window_while_commands_are_still_obeyed() {
    let (robot, _) = robot(faulty("silence=0.4@0.3"), None);
    let mut host = RawHost::open(robot.path());
    let hello = host.hello();
    host.set_mode(Mode::Run);
    let (sent, got) = command_for(&mut host, Duration::from_millis(1100));
    let since = |r: &Received| since_hello(&hello, r);

    assert!(got.iter().any(|r| since(r) < 0.3), "frames before the silence");
    let inside: Vec<f64> = got.iter().map(since).filter(|t| (0.31..0.69).contains(t)).collect();
    assert!(inside.is_empty(), "frames stamped during the silence at {inside:?} s");
    let after: Vec<_> = got.iter().filter(|r| since(r) > 0.7).filter_map(|r| r.sensors()).collect();
    assert!(!after.is_empty(), "frames after the silence");
    // Commands kept arriving and feeding the watchdog: still in Run, no watchdog.
    assert!(got.iter().all(|r| r.fault().is_none()));
    assert!(after.iter().all(|s| s.mode == Mode::Run as u8 && s.status == 0), "{after:?}");
    assert_eq!(robot.firmware_stats().commands_applied as usize, sent.len(), "every command applied");

    // The frames built in silence were given sequence numbers: the gap shows how many.
    let injected = robot.injected();
    assert_eq!(injected.silences, 1);
    let gap =
        got.windows(2).map(|w| w[1].frame.header.seq.wrapping_sub(w[0].frame.header.seq) - 1).max().unwrap();
    assert_eq!(u64::from(gap), injected.silenced, "{injected:?}");
    assert!(injected.silenced >= 15, "0.4 s of 50 Hz answers: {injected:?}");
}

#[test]
fn a_periodic_silence_comes_back_every_period() {
    let (robot, _) = robot(faulty("silence=0.1@0.1/0.4"), None);
    let mut host = RawHost::open(robot.path());
    let hello = host.hello();
    let got = host.collect(Duration::from_millis(1100));
    // Windows 0.1–0.2, 0.5–0.6 and 0.9–1.0 s: the robot's own 50 Hz ticks pause in each.
    for (from, to) in [(0.11, 0.19), (0.51, 0.59), (0.91, 0.99)] {
        let inside = got.iter().filter(|r| (from..to).contains(&since_hello(&hello, r)));
        assert_eq!(inside.count(), 0, "a frame stamped in {from}–{to} s");
    }
    assert!(got.iter().any(|r| (0.2..0.5).contains(&since_hello(&hello, r))), "frames between");
    assert_eq!(robot.injected().silences, 3);
}

/// Each sensor fault on its own robot, so one fault cannot overwrite another's value.
#[test]
fn nan_inf_and_out_of_range_spoil_one_sensor_value_of_a_frame_at_their_rate() {
    /// The spec, what a spoiled value looks like, and where the robot counted it.
    type Case = (&'static str, fn(f32) -> bool, fn(&InjectedFaults) -> u64);
    let cases: [Case; 3] = [
        ("nan=0.5", f32::is_nan, |i| i.nan),
        ("inf=0.5", f32::is_infinite, |i| i.inf),
        ("out_of_range=0.5", |v| v.abs() == 10.0, |i| i.out_of_range),
    ];
    for (spec, spoiled, count) in cases {
        let config = FirmwareConfig { idle_after_periods: 1e4, ..faulty(spec) };
        let (robot, _) = robot(config, None);
        let mut host = RawHost::open(robot.path());
        host.hello();
        host.set_mode(Mode::Run);
        let mut hits = 0;
        for _ in 0..200 {
            let s = host.command(&NEAR);
            let values: Vec<f32> = s.joint_pos.iter().chain(&s.joint_vel).chain(&s.imu).copied().collect();
            let bad = values.iter().filter(|v| spoiled(**v)).count();
            assert!(bad <= 1, "{spec}: one value per frame at most: {s:?}");
            assert!(values.iter().filter(|v| !spoiled(**v)).all(|v| v.is_finite() && v.abs() < 5.0), "{s:?}");
            if spec.starts_with("out_of_range") {
                assert!(s.joint_vel.iter().chain(&s.imu).all(|v| !spoiled(*v)), "angles only");
            }
            hits += bad as u64;
        }
        assert_eq!(count(&robot.injected()), hits, "{spec}: counted as received");
        assert!((60..140).contains(&hits), "{spec}: {hits} of 200 frames at p = 0.5");
    }
}

#[test]
fn bad_pitch_is_nan_in_every_frame_of_its_window_and_only_there() {
    let (robot, _) = robot(faulty("bad_pitch=0.3@0.2"), None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    let got: Vec<_> = host
        .collect(Duration::from_millis(800))
        .iter()
        .filter_map(|r| r.sensors().map(|s| (r.frame.header.timestamp_us, s)))
        .collect();
    // The biped's IMU fields: pitch, then pitch rate.
    let bad: Vec<u32> = got.iter().filter(|(_, s)| s.imu[0].is_nan()).map(|&(ts, _)| ts).collect();
    assert!((12..=17).contains(&bad.len()), "{} frames with a NaN pitch in 0.3 s at 50 Hz", bad.len());
    assert_eq!(robot.injected().bad_pitch, bad.len() as u64);
    let span_us = bad[bad.len() - 1] - bad[0];
    assert!(span_us <= 320_000, "one stretch of 0.3 s, not {span_us} µs");
    let first = got.iter().position(|(_, s)| s.imu[0].is_nan()).unwrap();
    assert!(got[first..first + bad.len()].iter().all(|(_, s)| s.imu[0].is_nan()), "contiguous");
    assert!(got.iter().all(|(_, s)| s.imu[1].is_finite() && s.joint_pos.iter().all(|q| q.is_finite())));
}

/// The 30-minute soak's unplug, compressed: 0.3 s cuts every second from 0.3 s on.
#[test]
fn disconnect_every_unplugs_and_replugs_at_the_same_path_each_period() {
    let path = temp_link("disconnect-every");
    let (robot, _) = robot(faulty("disconnect_s=0.3@0.3/1"), Some(&path));
    let mut host = RawHost::open(&path);
    host.hello();
    let t0 = Instant::now();
    let mut cuts: Vec<(f64, f64)> = Vec::new();
    let mut lost_at = None;
    while t0.elapsed() < Duration::from_millis(3000) {
        if host.connected() {
            host.collect(Duration::from_millis(10));
            if !host.connected() {
                lost_at = Some(t0.elapsed().as_secs_f64());
            }
        } else if host.reopen() {
            host.hello();
            cuts.push((lost_at.take().expect("lost before"), t0.elapsed().as_secs_f64()));
        } else {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert_eq!(cuts.len(), 3, "cuts at 0.3, 1.3 and 2.3 s: {cuts:?}");
    for (i, &(lost, back)) in cuts.iter().enumerate() {
        let start = 0.3 + i as f64;
        // The host's clock: late by however long a busy machine keeps it waiting.
        assert!((start - 0.05..start + 0.25).contains(&lost), "cut {i} seen at {lost} s");
        assert!((0.2..0.8).contains(&(back - lost)), "cut {i} lasted {} s", back - lost);
    }
    assert_eq!(robot.injected().disconnects, 3);
    assert!(host.connected());
}

#[test]
fn garbage_after_every_frame_costs_no_frame() {
    let config =
        FirmwareConfig { idle_after_periods: 1e4, stats_period_ms: 3_600_000, ..faulty("garbage=1,seed=11") };
    let (robot, _) = robot(config, None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    host.set_mode(Mode::Run);
    for _ in 0..300 {
        host.command(&NEAR); // each one acknowledged: no frame lost to the junk
    }
    std::thread::sleep(Duration::from_millis(50)); // the last burst follows the last answer
    let injected = robot.injected();
    assert_eq!(injected.garbage_bursts, injected.frames, "a burst after every frame");
    assert!(
        host.bad as f64 >= 0.9 * injected.garbage_bursts as f64,
        "{} bad candidates, {injected:?}",
        host.bad
    );
}

#[test]
fn sequence_jumps_and_backward_timestamps_are_counted_as_the_host_sees_them() {
    // Lockstep and no Stats: every frame the robot builds answers a frame of this test.
    let config = FirmwareConfig {
        idle_after_periods: 1e4,
        stats_period_ms: 3_600_000,
        ..faulty("seq_jump=0.2,ts_back=0.2,seed=5")
    };
    let (robot, _) = robot(config, None);
    let mut host = RawHost::open(robot.path());
    // Every frame from the very first: the robot's first frame has seq 0 and follows time 0.
    let mut headers = vec![Header { version: PROTOCOL_VERSION, kind: 0, seq: u16::MAX, timestamp_us: 0 }];
    let mut exchange = |host: &mut RawHost, message: Message| {
        let seq = host.send(&message);
        let (last, before) = host.until(|r| match r.frame.message {
            Message::HelloAck(_) => Some(*r),
            Message::SensorFrame(s) if s.ack_seq == seq => Some(*r),
            _ => None,
        });
        headers.extend(before.iter().chain([&last]).map(|r| r.frame.header));
    };
    exchange(&mut host, Message::Hello(support::hello_info()));
    exchange(&mut host, Message::SetMode(Mode::Run));
    for _ in 0..300 {
        exchange(&mut host, Message::JointCommand(support::command(&NEAR)));
    }
    let jumps = headers.windows(2).filter(|w| w[1].seq != w[0].seq.wrapping_add(1)).count() as u64;
    // Timestamps wrap at 2^32 µs: "earlier" is a negative wrapping difference.
    let back =
        headers.windows(2).filter(|w| (w[1].timestamp_us.wrapping_sub(w[0].timestamp_us) as i32) < 0).count()
            as u64;
    let injected = robot.injected();
    assert_eq!((injected.seq_jumps, injected.ts_back), (jumps, back), "{injected:?}");
    assert!(jumps > 30 && back > 30, "{jumps} jumps, {back} steps back in {} frames", headers.len());
}
