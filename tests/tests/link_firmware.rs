//! The virtual robot's firmware spoken to byte for byte, without the host driver: what a
//! firmware author's own host (a Python script, a test rig) would see. Commands before a
//! handshake, outside Run, with foreign gains or with NaN are rejected with the documented
//! fault; Hold keeps the pose it was entered at; ack_seq follows the command frames.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use strider_firmware_host::virtual_robot::{FirmwareConfig, VirtualRobot};
use strider_firmware_host::{
    Accumulator, Bounded, Counts, Fault, Feed, Frame, JointCommand, JointTarget, MAX_FRAME, Message, Mode,
    SensorFrame, encode, fault, status,
};
use strider_robot::RobotSpec;
use strider_tests::support::FirstOrderJoints;

struct RawHost {
    port: Box<dyn serialport::SerialPort>,
    acc: Accumulator,
    seq: u16,
    pending: Vec<Frame>,
}

impl RawHost {
    fn open(robot: &VirtualRobot) -> RawHost {
        let port = serialport::new(robot.path().to_string_lossy(), 1_000_000)
            .timeout(Duration::from_millis(20))
            .open()
            .expect("open the pty");
        // Frames sized by the reference biped's counts, as its firmware announces them.
        let counts = Counts::of(&RobotSpec::reference().layout()).unwrap();
        RawHost { port, acc: Accumulator::new(counts), seq: 0, pending: Vec::new() }
    }

    fn send(&mut self, message: Message) -> u16 {
        let mut buf = [0u8; MAX_FRAME];
        let n = encode(&message, self.seq, 0, &mut buf).unwrap();
        self.port.write_all(&buf[..n]).unwrap();
        self.seq = self.seq.wrapping_add(1);
        self.seq.wrapping_sub(1)
    }

    /// The next frame `pick` accepts, within 2 s; frames before it are skipped.
    fn wait_for<T>(&mut self, mut pick: impl FnMut(&Message) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            while let Some(frame) = (!self.pending.is_empty()).then(|| self.pending.remove(0)) {
                if let Some(t) = pick(&frame.message) {
                    return t;
                }
            }
            assert!(Instant::now() < deadline, "no matching frame within 2 s");
            let mut buf = [0u8; 256];
            let n = self.port.read(&mut buf).unwrap_or(0);
            let mut rest = &buf[..n];
            loop {
                match self.acc.feed(rest) {
                    Feed::Consumed => break,
                    Feed::Frame { frame, remaining } => {
                        self.pending.push(frame);
                        rest = remaining;
                    }
                    Feed::Error { error, .. } => panic!("a clean line carried a bad frame: {error}"),
                }
            }
        }
    }

    fn ack(&mut self, seq: u16) -> SensorFrame {
        self.wait_for(|m| match m {
            Message::SensorFrame(s) if s.ack_seq == seq => Some(*s),
            _ => None,
        })
    }

    fn fault(&mut self) -> Fault {
        self.wait_for(|m| match m {
            Message::Fault(f) => Some(*f),
            _ => None,
        })
    }

    fn hello(&mut self) {
        let spec = RobotSpec::reference();
        self.send(Message::Hello(strider_firmware_host::link::expected_info(&spec)));
        self.wait_for(|m| matches!(m, Message::HelloAck(_)).then_some(()));
    }
}

/// A JointCommand to `position` with the reference biped's gains.
fn spec_command(position: &[f32]) -> JointCommand {
    let mut joints = Bounded::zeros(position.len());
    for (j, &p) in joints.iter_mut().zip(position) {
        *j = JointTarget { position: p, kp: 300.0, kd: 30.0, tau_ff: 0.0 };
    }
    JointCommand { joints }
}

fn robot() -> VirtualRobot {
    let plant = FirstOrderJoints::new(RobotSpec::reference(), 0.1);
    VirtualRobot::spawn(Box::new(plant), FirmwareConfig::default(), None).unwrap()
}

#[test]
fn commands_before_the_handshake_are_refused() {
    let robot = robot();
    let mut host = RawHost::open(&robot);
    let seq = host.send(Message::SetMode(Mode::Run));
    assert_eq!(host.fault(), Fault { code: fault::NO_HANDSHAKE, detail: 0x12 });
    let s = host.ack(seq);
    assert_eq!((s.mode, s.status & status::REJECTED), (Mode::Disarm as u8, status::REJECTED));
}

#[test]
fn joint_commands_outside_run_with_foreign_gains_or_nan_are_refused_with_their_fault() {
    let robot = robot();
    let mut host = RawHost::open(&robot);
    host.hello();
    let pose = [0.1; 6];

    let seq = host.send(Message::JointCommand(spec_command(&pose)));
    assert_eq!(host.fault(), Fault { code: fault::NOT_RUNNING, detail: Mode::Disarm as u32 });
    assert_ne!(host.ack(seq).status & status::REJECTED, 0);

    let seq = host.send(Message::SetMode(Mode::Run));
    assert_eq!(host.ack(seq).mode, Mode::Run as u8);

    let mut foreign = spec_command(&pose);
    foreign.joints[4].kp = 50.0;
    let seq = host.send(Message::JointCommand(foreign));
    assert_eq!(host.fault(), Fault { code: fault::UNSUPPORTED_GAINS, detail: 4 });
    assert_ne!(host.ack(seq).status & status::REJECTED, 0);

    let mut nan = spec_command(&pose);
    nan.joints[1].position = f32::NAN;
    let seq = host.send(Message::JointCommand(nan));
    assert_eq!(host.fault(), Fault { code: fault::BAD_COMMAND, detail: 1 });
    assert_ne!(host.ack(seq).status & status::REJECTED, 0);

    // A good command clears REJECTED and is applied.
    let seq = host.send(Message::JointCommand(spec_command(&pose)));
    let s = host.ack(seq);
    assert_eq!(s.status & status::REJECTED, 0);
    assert_eq!(robot.firmware_stats().commands_applied, 1);
}

#[test]
fn hold_keeps_the_pose_it_was_entered_at() {
    let robot = robot();
    let mut host = RawHost::open(&robot);
    host.hello();
    let seq = host.send(Message::SetMode(Mode::Run));
    host.ack(seq);
    // Move towards a far pose for a few ticks, then hold.
    for _ in 0..5 {
        let seq = host.send(Message::JointCommand(spec_command(&[0.8, -1.2, 0.4, -0.6, -0.3, -0.4])));
        host.ack(seq);
    }
    let seq = host.send(Message::SetMode(Mode::Hold));
    let entered = host.ack(seq);
    assert_eq!(entered.mode, Mode::Hold as u8);
    for _ in 0..10 {
        let seq = host.send(Message::SetMode(Mode::Hold));
        let s = host.ack(seq);
        // Still short of the far pose, the joints would keep moving if Hold kept the Run targets;
        // the stand-in has no inertia, so holding is exact.
        assert_eq!(s.joint_pos, entered.joint_pos);
    }
}
