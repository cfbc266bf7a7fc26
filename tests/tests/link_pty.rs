//! The serial link end to end over real pseudo-terminals: the host driver
//! (`SerialLink`) against the virtual robot's firmware, backed by the stand-in plant
//! `FirstOrderJoints` (not the simulator; see `strider_tests::support`).
//!
//! - handshake: works, and refuses a wrong contract id or protocol version (a version-1
//!   robot) naming both values
//! - round trips: every command and every sensor value crosses the link exactly
//! - faults: 1 % dropped frames + corrupt-byte rate 1e-3, counters match what was injected
//! - disconnect: 2 s unplugged → reconnect → re-handshake → first command = measured pose
//! - watchdog: a silent host leaves the robot damped; the driver reports it and re-arms
//!   only after the host chooses a mode, from the measured pose

use std::path::PathBuf;
use std::time::{Duration, Instant};

use strider_firmware_host::link::{LinkConfig, SerialLink};
use strider_firmware_host::virtual_robot::{FaultSpec, FirmwareConfig, VirtualRobot};
use strider_firmware_host::{LinkError, fault};
use strider_robot::{Action, Command, Plant, PlantError, RobotSpec};
use strider_tests::support::FirstOrderJoints;

const TAU_S: f32 = 0.1;

fn robot(config: FirmwareConfig) -> VirtualRobot {
    let plant = FirstOrderJoints::new(RobotSpec::reference(), TAU_S);
    VirtualRobot::spawn(Box::new(plant), config, None).expect("open a pseudo-terminal")
}

/// Defaults, except a handshake limit that survives a busy test machine.
fn config_for(robot: &VirtualRobot) -> LinkConfig {
    LinkConfig {
        port: robot.path().display().to_string(),
        handshake_timeout_ms: 5000,
        ..LinkConfig::default()
    }
}

/// A target pose for the reference biped's six joints that differs per tick and from the
/// standing pose.
fn action(i: u32) -> Action {
    let x = i as f32 * 0.01;
    let targets: [f32; 6] = std::array::from_fn(|j| 0.3 * (x + j as f32).sin());
    Action { joint_target: targets.into() }
}

/// A pose far from standing, for the reference biped.
fn far() -> Action {
    Action { joint_target: [0.8, -1.2, 0.4, -0.6, -0.3, -0.4].into() }
}

#[test]
fn handshake_checks_the_robot_and_reports_its_firmware() {
    let robot = robot(FirmwareConfig::default());
    let link = SerialLink::connect(RobotSpec::reference(), config_for(&robot)).expect("handshake");
    assert_eq!(link.robot().firmware_str(), "strider-virt 0.1");
    assert_eq!(link.robot().info.contract_id, RobotSpec::reference().contract_id().0);
    assert_eq!(link.robot().counts().to_string(), "6 joints, 2 IMU fields, 2 contacts");
    assert_eq!((link.robot().info.physics_hz, link.robot().info.control_hz), (500, 50));
}

#[test]
fn a_contract_mismatch_is_refused_naming_both_ids_before_any_command() {
    let robot =
        robot(FirmwareConfig { contract_id_override: Some(0x0123_4567_89ab_cdef), ..Default::default() });
    let err = SerialLink::connect(RobotSpec::reference(), config_for(&robot)).err().expect("refused");
    let host = RobotSpec::reference().contract_id().to_string();
    let text = err.to_string();
    assert!(matches!(err, LinkError::ContractMismatch { .. }), "{err:?}");
    assert!(text.contains(&host) && text.contains("0123456789abcdef"), "{text}");
    std::thread::sleep(Duration::from_millis(50));
    let fw = robot.firmware_stats();
    assert_eq!(fw.commands_applied, 0);
    assert!(robot.take_commands().is_empty(), "no command may reach a robot that was refused");
}

#[test]
fn a_protocol_version_mismatch_is_refused_naming_both_versions() {
    // A version-1 robot answers in version 1's layout; the host still reads its version.
    let robot = robot(FirmwareConfig { protocol_version: 1, ..Default::default() });
    let err = SerialLink::connect(RobotSpec::reference(), config_for(&robot)).err().expect("refused");
    assert!(err.to_string().contains("host speaks 2, robot speaks 1"), "{err}");
    assert!(robot.take_commands().is_empty());
}

/// Every JointCommand arrives as sent, and every sensor value comes back bit for bit equal to
/// a twin of the stand-in plant stepped with the same commands in this process.
#[test]
fn round_trips_over_a_pty_carry_exact_data() {
    const N: u32 = 100_000;
    // Lockstep: the robot ticks only on command frames, even if this process is descheduled
    // for longer than 1.5 control periods on a busy machine.
    // Nor does a host descheduled for longer than the watchdog time trip it.
    let robot = robot(FirmwareConfig { idle_after_periods: 1e4, watchdog_ms: 60_000, ..Default::default() });
    // This test is about data, not timing: generous limits for a busy machine.
    let config = LinkConfig { ack_timeout_ms: 5000, ..config_for(&robot) };
    let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake");
    let mut twin = FirstOrderJoints::new(RobotSpec::reference(), TAU_S);
    // The virtual robot ticked on its own (Disarm) while nobody was connected; keep the twin
    // in step by copying its state from the first measurement, then compare everything after.
    let first = link.step(&Command::Track(action(0))).expect("first step");
    twin.pos = first.joint_pos;
    twin.vel = first.joint_vel;
    let mut sent = vec![action(0)];
    for i in 1..N {
        let a = action(i);
        let got = link.step(&Command::Track(a)).unwrap_or_else(|e| panic!("step {i}: {e}"));
        let want = twin.step(&Command::Track(a)).unwrap();
        assert_eq!(got, want, "sensors differ at step {i}");
        sent.push(a);
    }
    let received = robot.take_commands();
    assert_eq!(received.len(), N as usize);
    for (i, (r, a)) in received.iter().zip(&sent).enumerate() {
        assert_eq!(r.targets(), a.joint_target, "command {i}");
        assert!(r.command.joints.iter().all(|j| j.kp == 300.0 && j.kd == 30.0 && j.tau_ff == 0.0));
    }
    let s = link.stats();
    assert_eq!((s.bad_frames(), s.frames_lost, s.timeouts), (0, 0, 0), "{s:?}");
    assert_eq!(
        s.round_trip_us.count(),
        u64::from(N) + 1,
        "one latency sample per command frame (and the arming SetMode)"
    );
}

/// Counters match injected faults: every frame the robot dropped or corrupted shows up as lost
/// on the host (sequence gaps), every corrupted frame as one rejected frame. Tolerance: 3
/// frames + 3 % (a corrupted delimiter merges two frames into one rejection; a byte
/// corrupted into 0x00 splits one into two; a few frames straddle the two snapshots).
#[test]
fn dropped_and_corrupted_frames_are_counted_and_the_link_keeps_running() {
    let faults: FaultSpec = "drop=0.01,corrupt=1e-3,seed=42".parse().unwrap();
    let robot = robot(FirmwareConfig { faults, ..Default::default() });
    let config = LinkConfig { ack_timeout_ms: 20, ..config_for(&robot) };
    let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake (Hello is resent)");
    let before = robot.injected();
    let host_before = link.stats();
    let (mut ok, mut failed) = (0u32, 0u32);
    for i in 0..3000 {
        match link.step(&Command::Track(action(i))) {
            Ok(_) => ok += 1,
            Err(PlantError::Timeout { .. } | PlantError::Fault { .. }) => failed += 1,
            Err(e) => panic!("step {i}: the link must survive faults, got {e}"),
        }
    }
    let host = link.stats();
    let after = robot.injected();
    let dropped = after.dropped - before.dropped;
    let corrupted = after.corrupted_frames - before.corrupted_frames;
    let lost = host.frames_lost - host_before.frames_lost;
    let bad = host.bad_frames() - host_before.bad_frames();
    let tolerance = |n: u64| 3 + n * 3 / 100;
    assert!(dropped > 10 && corrupted > 100, "faults were injected: {after:?}");
    assert!(
        lost.abs_diff(dropped + corrupted) <= tolerance(dropped + corrupted),
        "lost {lost}, injected {dropped} dropped + {corrupted} corrupted"
    );
    assert!(bad.abs_diff(corrupted) <= tolerance(corrupted), "bad frames {bad}, corrupted {corrupted}");
    assert!(host.seq_gaps <= host.frames_lost && host.seq_gaps > 0);
    assert!(link.is_connected() && host.reconnects == 0, "{host:?}");
    assert!(f64::from(ok) > 0.5 * 3000.0, "{ok} ok, {failed} failed");
    // Still running: a clean stretch at the end.
    assert!(link.step(&Command::Damp).is_ok() || link.step(&Command::Damp).is_ok());
}

fn temp_link(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("strider-{name}-{}", std::process::id()))
}

#[test]
fn after_a_two_second_disconnect_the_link_reconnects_and_resumes_from_the_measured_pose() {
    let path = temp_link("disconnect");
    // Slow joints (1 s time constant): the robot keeps tracking for the 300 ms watchdog time
    // after the cut, and must still be short of the last target when it damps.
    let plant = FirstOrderJoints::new(RobotSpec::reference(), 1.0);
    let robot = VirtualRobot::spawn(Box::new(plant), FirmwareConfig::default(), Some(&path)).unwrap();
    let config = LinkConfig { port: path.display().to_string(), ..LinkConfig::default() };
    let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake");

    // Ask for a pose far from standing; the joints lag behind it.
    let far = far();
    for _ in 0..5 {
        link.step(&Command::Track(far)).expect("step before the cut");
    }
    let _ = robot.take_commands();
    let cut = Instant::now();
    robot.disconnect_for(Duration::from_secs(2));
    // The firmware acts on the request within one 5 ms poll; no command may slip in before.
    std::thread::sleep(Duration::from_millis(50));
    let mut errors = 0;
    let back = loop {
        assert!(cut.elapsed() < Duration::from_secs(10), "no reconnect within 10 s");
        match link.step(&Command::Track(far)) {
            Ok(s) if cut.elapsed() > Duration::from_millis(100) => break s,
            Ok(_) => {}
            Err(_) => errors += 1,
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(cut.elapsed() >= Duration::from_secs(2), "reconnected during the cut");
    assert!(errors > 0, "the cut was seen");
    let s = link.stats();
    assert_eq!((s.disconnects, s.reconnects, s.reseeds), (1, 1, 1), "{s:?}");

    let after = robot.take_commands();
    let first = after.first().expect("a command after the reconnect");
    let targets = first.targets();
    assert_eq!(targets, first.measured_pos, "first command after the reconnect = the measured pose");
    assert_eq!(targets, back.joint_pos, "… which is what the host was given back");
    let gap = targets.iter().zip(far.joint_target.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(gap > 0.05, "the measured pose differs from the last command before the cut ({gap} rad)");
    // The next command is the controller's again.
    link.step(&Command::Track(far)).expect("step after the reseed");
    assert_eq!(robot.take_commands().last().unwrap().targets(), far.joint_target);
}

/// A robot that leaves Run by itself (its command watchdog fired while the host was
/// silent) is reported to the controller, not silently re-armed: every Track is a fault
/// until the host chooses a mode again; then re-arming starts from the measured pose.
#[test]
fn a_robot_that_left_run_is_reported_and_re_armed_only_after_the_host_chooses_a_mode() {
    let robot = robot(FirmwareConfig::default());
    let mut link = SerialLink::connect(RobotSpec::reference(), config_for(&robot)).expect("handshake");
    let far = far();
    for _ in 0..3 {
        link.step(&Command::Track(far)).unwrap();
    }
    let _ = robot.take_commands();
    std::thread::sleep(Duration::from_millis(700)); // past the firmware's watchdog, with margin
    for _ in 0..2 {
        match link.step(&Command::Track(far)) {
            Err(PlantError::Fault { code, detail }) => {
                assert_eq!(code, fault::WATCHDOG, "{detail}");
                assert!(detail.contains("left Run by itself"), "{detail}");
            }
            other => panic!("expected the robot's own Damp to be reported, got {other:?}"),
        }
    }
    assert!(robot.take_commands().is_empty(), "not re-armed behind the controller's back");
    assert!(robot.firmware_stats().watchdog_trips >= 1);
    link.step(&Command::Damp).expect("the host chooses Damp");
    link.step(&Command::Track(far)).expect("re-armed");
    let s = link.stats();
    assert_eq!(s.last_fault.map(|f| f.code), Some(fault::WATCHDOG), "{s:?}");
    assert!(s.reseeds >= 1, "{s:?}");
    let first = robot.take_commands()[0];
    assert_eq!(first.targets(), first.measured_pos);
}

#[test]
fn a_missing_port_is_one_error_naming_it() {
    let err = SerialLink::connect(
        RobotSpec::reference(),
        LinkConfig { port: "/dev/no-such-robot".into(), ..Default::default() },
    )
    .err()
    .expect("no such port");
    assert!(matches!(err, LinkError::Open { .. }), "{err:?}");
    assert!(err.to_string().starts_with("/dev/no-such-robot: cannot open"), "{err}");
}

/// Garbage bursts between frames cost at most the frame they are glued to: the host counts
/// every burst as (at least) one bad candidate frame and keeps going.
#[test]
fn garbage_bursts_are_counted_and_survived() {
    let faults: FaultSpec = "garbage=0.05,seed=3".parse().unwrap();
    let robot = robot(FirmwareConfig { faults, ..Default::default() });
    let config = LinkConfig { ack_timeout_ms: 50, ..config_for(&robot) };
    let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake");
    let before = (robot.injected().garbage_bursts, link.stats().bad_frames());
    let ok = (0..1000).filter(|&i| link.step(&Command::Track(action(i))).is_ok()).count();
    let bursts = robot.injected().garbage_bursts - before.0;
    let bad = link.stats().bad_frames() - before.1;
    assert!(bursts > 20, "{bursts} bursts injected");
    // A burst made only of 0x00 bytes is harmless; 1..=32 random bytes are rarely all zero.
    assert!(bad as f64 >= 0.9 * bursts as f64, "{bad} bad frames for {bursts} bursts");
    assert!(ok >= 800, "{ok} of 1000 steps ok");
    assert!(link.is_connected());
}

/// `strider link probe`'s measurement: every round trip is counted and every dropped frame
/// shows up as lost. A dropped acknowledgement delays its round trip instead of failing it:
/// 1.5 control periods later the robot ticks on its own, and that sensor frame acknowledges
/// the same command (ack_seq is "last command applied"), well within the 1 s timeout here.
#[test]
fn probe_counts_round_trips_and_losses() {
    let faults: FaultSpec = "drop=0.05,seed=5".parse().unwrap();
    let robot = robot(FirmwareConfig { faults, ..Default::default() });
    let config = LinkConfig { ack_timeout_ms: 1000, ..config_for(&robot) };
    let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake");
    let before = (robot.injected().dropped, link.stats().frames_lost);
    let report = strider_firmware_host::link::probe(&mut link, Duration::from_millis(1500), 200.0);
    let dropped = robot.injected().dropped - before.0;
    let lost = report.stats.frames_lost - before.1;
    assert!(report.ok > 50 && report.failed == 0, "{report:?}");
    assert!(dropped > 2 && lost.abs_diff(dropped) <= 1, "lost {lost}, dropped {dropped}");
    assert_eq!(report.stats.round_trip_us.count(), report.ok, "one latency sample per acknowledged ping");
    assert!(robot.take_commands().is_empty(), "probing never sends a JointCommand");
}

/// The fault spec's scheduled unplug (`disconnect_s=DURATION@AT`) works like the manual one.
#[test]
fn a_scheduled_disconnect_is_survived() {
    let path = temp_link("scheduled");
    let plant = FirstOrderJoints::new(RobotSpec::reference(), TAU_S);
    let faults: FaultSpec = "disconnect_s=0.5@1.5".parse().unwrap();
    let robot =
        VirtualRobot::spawn(Box::new(plant), FirmwareConfig { faults, ..Default::default() }, Some(&path))
            .unwrap();
    let config = LinkConfig { port: path.display().to_string(), ..LinkConfig::default() };
    let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake");
    let start = Instant::now();
    let mut saw_error = false;
    while start.elapsed() < Duration::from_secs(10) {
        match link.step(&Command::Damp) {
            Err(_) => saw_error = true,
            Ok(_) if saw_error => break,
            Ok(_) => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_error, "the unplug was seen");
    assert_eq!(robot.injected().disconnects, 1);
    assert_eq!(link.stats().reconnects, 1, "{:?}", link.stats());
    assert!(link.is_connected());
}

/// Injected delay (3 ± 1 ms per frame) is a floor under every round trip the driver records.
#[test]
fn injected_delay_shows_in_the_round_trip_histogram() {
    let faults: FaultSpec = "delay_ms=3,jitter_ms=1".parse().unwrap();
    let robot = robot(FirmwareConfig { faults, ..Default::default() });
    // What is measured is the floor under the round trips, not the deadline: a generous
    // one, so a loaded machine does not turn a late answer into a failed step.
    let config = LinkConfig { ack_timeout_ms: 200, ..config_for(&robot) };
    let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake");
    for i in 0..20 {
        link.step(&Command::Track(action(i))).expect("a delayed link still works");
    }
    let h = link.stats().round_trip_us;
    assert_eq!(h.count(), 21);
    let min = h.min_us().expect("round trips");
    assert!(min >= 2_000, "fastest round trip {min} µs under a 2 ms minimum delay");
}
