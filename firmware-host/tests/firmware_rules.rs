//! The robot's side of `docs/PROTOCOL.md`, rule by rule, checked on the virtual robot
//! through a real pseudo-terminal by a raw host (the codec and the accumulator, no host
//! driver): what a firmware author's own rig would check of a firmware.
//!
//! - before Hello: nothing sent, no joint powered; commands rejected with NO_HANDSHAKE
//! - ack_seq: the last command frame handled, applied or rejected; never an undecoded one
//! - REJECTED: set by a rejection, kept until the next command applied
//! - an unknown SetMode value: BAD_COMMAND with the value, mode unchanged
//! - one control tick and one sensor frame per command frame handled; Heartbeat answered
//! - watchdog: 300 ms without a command frame in Run → Damp, WATCHDOG, Fault WATCHDOG;
//!   heartbeats do not feed it; entering Run clears the bit
//! - a Hello damps a moving robot; a hardware fault latches until Disarm; Stats follow Hello

mod support;

use std::time::Duration;

use strider_firmware_host::virtual_robot::{FirmwareConfig, HARDWARE_FAULT_DETAIL};
use strider_firmware_host::{Fault, Message, MessageType, Mode, fault, status};
use strider_robot::{Action, Command, Plant};
use support::{RawHost, StandIn, command, robot};

const FAR: [f32; 6] = [0.8, -1.2, 0.4, -0.6, -0.3, -0.4];
const NEAR: [f32; 6] = [0.1, -0.2, 0.0, 0.1, -0.2, 0.0];

fn nan_command() -> Message {
    let mut c = command(&NEAR);
    c.joints[3].position = f32::NAN;
    Message::JointCommand(c)
}

fn only_disarm(log: &[Command]) -> bool {
    log.iter().all(|c| *c == Command::Disarm)
}

#[test]
fn before_the_first_hello_the_robot_sends_nothing_and_powers_no_joint() {
    let (robot, log) = robot(FirmwareConfig { stats_period_ms: 100, ..Default::default() }, None);
    let mut host = RawHost::open(robot.path());
    assert!(host.collect(Duration::from_millis(400)).is_empty(), "a robot before Hello is silent");
    assert_eq!(*log.lock().unwrap(), [Command::Disarm], "one zero-torque measurement at power-up, no tick");

    host.send(&Message::Heartbeat);
    let got = host.collect(Duration::from_millis(200));
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].frame.message, Message::Heartbeat, "a Heartbeat is answered, even before Hello");

    // Command frames are rejected, each with its Fault and an acknowledging sensor frame.
    for (seq, kind) in [
        (host.send(&Message::SetMode(Mode::Run)), MessageType::SetMode),
        (host.send(&Message::JointCommand(command(&NEAR))), MessageType::JointCommand),
        (host.send_mode_byte(9), MessageType::SetMode),
    ] {
        assert_eq!(host.fault(), Fault { code: fault::NO_HANDSHAKE, detail: kind as u32 });
        let s = host.ack(seq);
        assert_eq!((s.mode, s.status), (Mode::Disarm as u8, status::REJECTED));
    }
    assert_eq!(log.lock().unwrap().len(), 1, "the plant waits on its stand until a Hello");

    host.hello();
    let got = host.collect(Duration::from_millis(300));
    let sensors: Vec<_> = got.iter().filter_map(|r| r.sensors()).collect();
    assert!(sensors.len() >= 8, "after Hello a sensor frame every 20 ms: {}", sensors.len());
    assert!(sensors.iter().all(|s| s.mode == Mode::Disarm as u8));
    assert!(got.iter().any(|r| matches!(r.frame.message, Message::Stats(_))), "Stats follow the Hello");
    assert!(only_disarm(&log.lock().unwrap()), "nothing but zero torque until the host arms it");
}

#[test]
fn ack_seq_names_the_last_command_frame_handled_and_never_an_undecoded_one() {
    let (robot, _) = robot(FirmwareConfig::default(), None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    assert_eq!(host.set_mode(Mode::Run).mode, Mode::Run as u8);
    let applied = host.send(&Message::JointCommand(command(&NEAR)));
    assert_eq!(host.ack(applied).status, 0);

    // A frame that fails its CRC is never acknowledged; a Heartbeat is no command frame.
    let garbled = host.send_with_bad_crc(&Message::JointCommand(command(&FAR)));
    host.send(&Message::Heartbeat);
    let got = host.collect(Duration::from_millis(150));
    let acks: Vec<u16> = got.iter().filter_map(|r| r.sensors()).map(|s| s.ack_seq).collect();
    assert!(!acks.is_empty(), "the robot ticks on its own while the host is silent");
    assert!(acks.iter().all(|&a| a == applied), "acks {acks:?}; {garbled} was never decoded");
    assert_eq!(robot.firmware_stats().rx_bad_frames, 1);

    // A rejected command is acknowledged too.
    let rejected = host.send(&nan_command());
    assert_eq!(host.fault(), Fault { code: fault::BAD_COMMAND, detail: 3 });
    assert_eq!(host.ack(rejected).status, status::REJECTED);
}

#[test]
fn rejected_stays_set_until_the_next_command_frame_applied() {
    let (robot, _) = robot(FirmwareConfig::default(), None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    host.set_mode(Mode::Run);
    host.command(&NEAR);

    let seq = host.send(&nan_command());
    assert_eq!(host.ack(seq).status, status::REJECTED);
    let idle: Vec<_> = host.collect(Duration::from_millis(150)).iter().filter_map(|r| r.sensors()).collect();
    assert!(!idle.is_empty() && idle.iter().all(|s| s.status == status::REJECTED && s.ack_seq == seq));
    // A SetMode applied clears it, even one that changes nothing …
    assert_eq!(host.set_mode(Mode::Run).status, 0);
    // … and so does a JointCommand applied.
    let seq = host.send(&nan_command());
    assert_eq!(host.ack(seq).status, status::REJECTED);
    assert_eq!(host.command(&NEAR).status, 0);
}

#[test]
fn an_unknown_mode_is_rejected_as_a_bad_command_and_the_mode_stays() {
    let (robot, _) = robot(FirmwareConfig::default(), None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    host.set_mode(Mode::Run);
    let seq = host.send_mode_byte(7);
    assert_eq!(host.fault(), Fault { code: fault::BAD_COMMAND, detail: 7 });
    let s = host.ack(seq);
    assert_eq!((s.mode, s.status), (Mode::Run as u8, status::REJECTED));
    let fw = robot.firmware_stats();
    assert_eq!(fw.rx_bad_frames, 0, "a valid frame with an invalid command: {fw:?}");
}

/// In lockstep (the robot never ticks on its own), so that every tick is a command frame's.
#[test]
fn every_command_frame_handled_is_one_tick_answered_by_one_sensor_frame() {
    let config = FirmwareConfig { idle_after_periods: 1e4, ..Default::default() };
    let (robot, log) = robot(config, None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    let frames = [
        Message::SetMode(Mode::Run),
        Message::JointCommand(command(&FAR)),
        nan_command(),
        Message::SetMode(Mode::Run),
        Message::Heartbeat,
        Message::JointCommand(command(&NEAR)),
        Message::SetMode(Mode::Damp),
    ];
    let mut sensor_frames = Vec::new();
    for m in &frames {
        let seq = host.send(m);
        if *m == Message::Heartbeat {
            let got = host.collect(Duration::from_millis(100));
            assert!(matches!(got[..], [ref r] if r.frame.message == Message::Heartbeat), "{got:?}");
            continue;
        }
        let (s, before) = host.until(|r| r.sensors().filter(|s| s.ack_seq == seq));
        assert!(before.iter().all(|r| r.sensors().is_none()), "one sensor frame per command frame");
        sensor_frames.push(s);
    }
    assert!(host.collect(Duration::from_millis(100)).is_empty(), "nothing more in lockstep");

    // The plant saw the power-up measurement, then one tick per command frame handled.
    let mut twin = StandIn::new();
    let pose = {
        twin.step(&Command::Disarm).unwrap();
        twin.pos
    };
    let track = |t: &[f32]| Command::Track(Action::from_slice(t));
    let expected = [
        Command::Disarm,
        track(&pose), // Run entered: hold the measured pose
        track(&FAR),
        track(&FAR), // rejected: the last targets hold
        track(&FAR), // Run again: nothing changes
        track(&NEAR),
        Command::Damp,
    ];
    assert_eq!(*log.lock().unwrap(), expected);
    for (i, c) in expected[1..].iter().enumerate() {
        let want = twin.step(c).unwrap();
        assert_eq!(sensor_frames[i].joint_pos[..], want.joint_pos[..], "tick {i}");
    }
}

#[test]
fn a_host_quiet_for_200_ms_keeps_the_robot_in_run() {
    let (robot, _) = robot(FirmwareConfig::default(), None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    host.set_mode(Mode::Run);
    host.command(&NEAR);
    let quiet = host.collect(Duration::from_millis(200));
    assert!(quiet.iter().all(|r| r.fault().is_none()), "{quiet:?}");
    assert!(quiet.iter().filter_map(|r| r.sensors()).all(|s| s.mode == Mode::Run as u8));
    let s = host.command(&NEAR);
    assert_eq!((s.mode, s.status), (Mode::Run as u8, 0));
    assert_eq!(robot.firmware_stats().watchdog_trips, 0);
}

#[test]
fn a_host_quiet_for_400_ms_finds_the_robot_damped_with_watchdog_set_and_a_fault_sent() {
    let (robot, log) = robot(FirmwareConfig::default(), None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    host.set_mode(Mode::Run);
    host.command(&FAR);
    let ticks_before = log.lock().unwrap().len();
    // Heartbeats all along: answered, and no food for the watchdog.
    let mut got = Vec::new();
    for _ in 0..8 {
        host.send(&Message::Heartbeat);
        got.extend(host.collect(Duration::from_millis(50)));
    }
    let heartbeats = got.iter().filter(|r| r.frame.message == Message::Heartbeat).count();
    assert_eq!(heartbeats, 8, "one answer per Heartbeat");
    let at = got.iter().position(|r| r.fault().is_some()).expect("a Fault frame");
    let f = got[at].fault().unwrap();
    assert_eq!(f.code, fault::WATCHDOG);
    assert!((300..400).contains(&f.detail), "WATCHDOG after {} ms without a command frame", f.detail);
    let after: Vec<_> = got[at..].iter().filter_map(|r| r.sensors()).collect();
    assert!(!after.is_empty());
    assert!(after.iter().all(|s| s.mode == Mode::Damp as u8 && s.status == status::WATCHDOG), "{after:?}");
    let ticks = log.lock().unwrap()[ticks_before..].to_vec();
    assert!(ticks.contains(&Command::Damp) && !ticks.contains(&Command::Disarm), "damped, never dropped");
    assert_eq!(robot.firmware_stats().watchdog_trips, 1);

    // Damped, a JointCommand is rejected; entering Run again clears WATCHDOG.
    let seq = host.send(&Message::JointCommand(command(&FAR)));
    assert_eq!(host.fault(), Fault { code: fault::NOT_RUNNING, detail: Mode::Damp as u32 });
    assert_eq!(host.ack(seq).status, status::WATCHDOG | status::REJECTED);
    let s = host.set_mode(Mode::Run);
    assert_eq!((s.mode, s.status), (Mode::Run as u8, 0));
}

#[test]
fn a_hello_damps_a_moving_robot_and_leaves_a_disarmed_one_disarmed() {
    let (robot, _) = robot(FirmwareConfig::default(), None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    host.hello();
    let s = host.until(|r| r.sensors()).0;
    assert_eq!(s.mode, Mode::Disarm as u8);
    host.set_mode(Mode::Run);
    host.command(&FAR);
    host.hello();
    let hello = host.seq.wrapping_sub(1);
    let s = host.until(|r| r.sensors()).0;
    assert_eq!(s.mode, Mode::Damp as u8, "a robot that may be standing is never dropped");
    assert_eq!(s.ack_seq, hello, "acknowledgements start from the Hello");
}

#[test]
fn a_hardware_fault_latches_until_disarm_clears_it() {
    let faults = "hw_fault_at_s=0.2".parse().unwrap();
    let (robot, _) = robot(FirmwareConfig { faults, ..Default::default() }, None);
    let mut host = RawHost::open(robot.path());
    host.hello();
    host.set_mode(Mode::Run);
    let latched = Fault { code: fault::HARDWARE, detail: HARDWARE_FAULT_DETAIL };
    let mut found = None;
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
        let seq = host.send(&Message::JointCommand(command(&NEAR)));
        let (s, before) = host.until(|r| r.sensors().filter(|s| s.ack_seq == seq));
        if let Some(f) = before.iter().find_map(|r| r.fault()) {
            found = Some((f, s));
            break;
        }
    }
    let (f, s) = found.expect("the hardware fault within 2 s");
    assert_eq!(f, latched);
    assert_eq!((s.mode, s.status & status::FAULT), (Mode::Damp as u8, status::FAULT));

    for mode in [Mode::Run, Mode::Hold] {
        let seq = host.send(&Message::SetMode(mode));
        assert_eq!(host.fault(), latched, "{mode:?} refused while latched");
        let s = host.ack(seq);
        assert_eq!((s.mode, s.status), (Mode::Damp as u8, status::FAULT | status::REJECTED));
    }
    assert_eq!(host.set_mode(Mode::Damp).status, status::FAULT, "Damp is allowed and keeps it latched");
    let s = host.set_mode(Mode::Disarm);
    assert_eq!((s.mode, s.status), (Mode::Disarm as u8, 0), "Disarm clears it");
    assert_eq!(host.set_mode(Mode::Run).mode, Mode::Run as u8);
    assert_eq!(robot.injected().hw_faults, 1);
}

#[test]
fn stats_come_once_a_period_counted_from_the_hello() {
    let (robot, _) = robot(FirmwareConfig { stats_period_ms: 100, ..Default::default() }, None);
    let mut host = RawHost::open(robot.path());
    std::thread::sleep(Duration::from_millis(250));
    host.hello();
    let start = std::time::Instant::now();
    let got = host.collect(Duration::from_millis(550));
    let stats: Vec<_> = got
        .iter()
        .filter_map(|r| match r.frame.message {
            Message::Stats(s) => Some((r.at - start, s)),
            _ => None,
        })
        .collect();
    assert!((4..=6).contains(&stats.len()), "{} Stats in 550 ms at a 100 ms period", stats.len());
    assert!(
        stats[0].0 >= Duration::from_millis(80),
        "the first Stats a period after Hello: {:?}",
        stats[0].0
    );
    let (_, last) = stats[stats.len() - 1];
    assert!(last.rx_frames >= 1 && last.tx_frames > 10 && last.uptime_ms >= 750, "{last:?}");
}
