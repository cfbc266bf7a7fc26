//! Any robot layout over the link, host driver (`SerialLink`) against the virtual robot's
//! firmware through a real pseudo-terminal, and the refusals of the handshake:
//!
//! - a one-legged hopper (3 joints, pitch and pitch rate, 1 contact) round-trips every
//!   command and every sensor value, sized by its own counts
//! - a robot of another layout is refused naming both contract ids and both counts
//! - a version-1 robot is refused naming both versions; a version-1 host gets a HelloAck it
//!   can read, and no session
//! - a fault the robot cannot inject (`bad_pitch` without an IMU pitch) is refused at start

mod support;

use std::time::Duration;

use strider_firmware_host::link::{LinkConfig, SerialLink};
use strider_firmware_host::virtual_robot::{FirmwareConfig, VirtualRobot};
use strider_firmware_host::{Counts, LinkError, LinkInfo, Message};
use strider_robot::{Action, Command, ImuField, Plant, RobotSpec};
use support::{RawHost, StandIn, hopper, robot_of};

fn config_for(robot: &VirtualRobot) -> LinkConfig {
    LinkConfig {
        port: robot.path().display().to_string(),
        handshake_timeout_ms: 5000,
        ..LinkConfig::default()
    }
}

/// Every JointCommand arrives as sent, and every sensor value of the hopper comes back bit
/// for bit equal to a twin of the stand-in stepped with the same commands in this process.
#[test]
fn a_hopper_round_trips_exact_data_sized_by_its_own_counts() {
    let spec = hopper();
    let layout = spec.layout();
    let config = FirmwareConfig { idle_after_periods: 1e4, watchdog_ms: 60_000, ..Default::default() };
    let (robot, _) = robot_of(spec.clone(), config, None);
    let link_config = LinkConfig { ack_timeout_ms: 5000, ..config_for(&robot) };
    let mut link = SerialLink::connect(spec.clone(), link_config).expect("handshake");
    let ack = link.robot();
    assert_eq!(ack.counts(), Counts::new(3, 2, 1).unwrap(), "{ack:?}");
    assert_eq!(ack.info.contract_id, spec.contract_id().0);

    let action = |i: u32| Action::from_slice(&[0.3 * (i as f32 * 0.01).sin(), -0.5, 0.2]);
    let mut twin = StandIn::of(spec);
    let first = link.step(&Command::Track(action(0))).expect("first step");
    assert!(first.fits(&layout), "{first:?}");
    twin.pos = first.joint_pos;
    twin.vel = first.joint_vel;
    for i in 1..500 {
        let got = link.step(&Command::Track(action(i))).unwrap_or_else(|e| panic!("step {i}: {e}"));
        assert_eq!(got, twin.step(&Command::Track(action(i))).unwrap(), "sensors differ at step {i}");
    }
    let last = link.last_sensors().copied().expect("a sensor frame");
    assert_eq!((last.joint_pos.len(), last.imu.len(), last.contacts), (3, 2, 0b1), "{last:?}");
    let pitch = layout.imu_index(ImuField::Pitch).unwrap();
    assert_eq!(last.imu[pitch], 0.05, "the IMU's pitch in the layout's slot");

    let received = robot.take_commands();
    assert_eq!(received.len(), 500);
    for (i, r) in received.iter().enumerate() {
        assert_eq!(r.targets(), action(i as u32).joint_target, "command {i}");
        assert!(r.command.joints.iter().all(|j| j.kp == 300.0 && j.kd == 30.0 && j.tau_ff == 0.0));
    }
    let s = link.stats();
    assert_eq!((s.bad_frames(), s.frames_lost, s.timeouts), (0, 0, 0), "{s:?}");

    // An action for another robot is refused, not sent.
    let err = link.step(&Command::Track(Action::from_slice(&[0.0; 6]))).unwrap_err();
    assert!(err.to_string().contains("an action of 6 joint targets for a robot of 3 joints"), "{err}");
    assert_eq!(robot.take_commands().len(), 0);
}

#[test]
fn a_robot_of_another_layout_is_refused_naming_both_contracts_and_counts() {
    let (robot, _) = robot_of(hopper(), FirmwareConfig::default(), None);
    let biped = RobotSpec::reference();
    let err = SerialLink::connect(biped.clone(), config_for(&robot)).err().expect("refused");
    let text = err.to_string();
    assert!(matches!(err, LinkError::ContractMismatch { .. }), "{err:?}");
    let (host, theirs) = (biped.contract_id().to_string(), hopper().contract_id().to_string());
    assert!(text.contains(&format!("host expects {host} (6 joints, 2 IMU fields, 2 contacts)")), "{text}");
    assert!(text.contains(&format!("robot is {theirs} (3 joints, 2 IMU fields, 1 contact)")), "{text}");
    assert!(robot.take_commands().is_empty(), "no command may reach a robot that was refused");
}

#[test]
fn a_version_1_robot_is_refused_naming_both_versions() {
    let (robot, _) =
        robot_of(RobotSpec::reference(), FirmwareConfig { protocol_version: 1, ..Default::default() }, None);
    let err = SerialLink::connect(RobotSpec::reference(), config_for(&robot)).err().expect("refused");
    assert!(matches!(err, LinkError::VersionMismatch { host: 2, robot: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("host speaks 2, robot speaks 1; update the older side"), "{err}");

    // A newer robot is refused the same way.
    let (robot, _) =
        robot_of(RobotSpec::reference(), FirmwareConfig { protocol_version: 3, ..Default::default() }, None);
    let err = SerialLink::connect(RobotSpec::reference(), config_for(&robot)).err().expect("refused");
    assert!(err.to_string().contains("host speaks 2, robot speaks 3"), "{err}");
    assert!(robot.take_commands().is_empty());
}

/// What a version-1 host sees of this robot: a HelloAck in version 1's layout (header
/// version 1, 30 bytes, which its decoder accepts) saying "version 2", and nothing else.
#[test]
fn a_version_1_host_gets_a_hello_ack_it_can_read_and_no_session() {
    let (robot, log) = robot_of(RobotSpec::reference(), FirmwareConfig::default(), None);
    let mut host = RawHost::open(robot.path());
    let spec = RobotSpec::reference();
    let hello = LinkInfo {
        contract_id: spec.contract_id().0,
        protocol_version: 1,
        joint_count: 6,
        physics_hz: 500,
        control_hz: 50,
    };
    host.send_as(1, &Message::Hello(hello));
    let got = host.collect(Duration::from_millis(300));
    assert_eq!(got.len(), 1, "the HelloAck and nothing more: {got:?}");
    let Message::HelloAck(ack) = got[0].frame.message else { panic!("{got:?}") };
    assert_eq!(got[0].frame.header.version, 1, "version 1's layout: the 30-byte HelloAck");
    assert_eq!((ack.info.protocol_version, ack.info.contract_id), (2, hello.contract_id));
    assert_eq!(*log.lock().unwrap(), [Command::Disarm], "no session: the plant waits on its stand");
    assert_eq!(robot.firmware_stats().tx_frames, 1, "the HelloAck only");
}

#[test]
fn bad_pitch_on_a_robot_without_an_imu_pitch_is_refused_at_start() {
    let mut spec = hopper();
    spec.sensors.imu = vec![ImuField::RollRate];
    let faults = "bad_pitch=0.3@1".parse().unwrap();
    let err = VirtualRobot::spawn(
        Box::new(StandIn::of(spec)),
        FirmwareConfig { faults, ..Default::default() },
        None,
    )
    .err()
    .expect("refused");
    assert!(matches!(err, LinkError::BadFaultSpec { .. }), "{err:?}");
    assert!(err.to_string().contains("robot `hopper` reports no IMU pitch (sensors.imu)"), "{err}");
}
