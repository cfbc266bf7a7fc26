//! What the firmware tests share: a raw host (the codec and the accumulator over a real
//! pseudo-terminal, no host driver), a stand-in plant of any layout that records every
//! command the firmware gives it, and a second robot layout (a one-legged hopper).

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use strider_firmware_host::virtual_robot::{FirmwareConfig, VirtualRobot};
use strider_firmware_host::{
    Accumulator, Bounded, Counts, Fault, Feed, Frame, JointCommand, JointTarget, LinkInfo, MAX_FRAME,
    MAX_PAYLOAD, Message, Mode, PROTOCOL_VERSION, SensorFrame, encode, encode_with_version, write_payload,
};
use strider_robot::{Command, ImuField, ImuValues, JointValues, Plant, PlantError, RobotSpec, Sensors};

/// The reference biped's counts: 6 joints, pitch and pitch rate, 2 contacts.
pub fn biped_counts() -> Counts {
    Counts::of(&RobotSpec::reference().layout()).unwrap()
}

/// A one-legged hopper cut from the reference biped: torso and right leg (hip, knee,
/// ankle), pitch and pitch rate, one contact switch under the foot. Not a robot anybody
/// walks; a second layout for the link.
pub fn hopper() -> RobotSpec {
    let mut spec = RobotSpec::reference();
    spec.name = "hopper".into();
    spec.joints.truncate(3);
    spec.links.retain(|l| l.name == "torso" || l.name.starts_with("right_"));
    spec.sensors.contacts.truncate(1);
    spec.sensors.contacts[0].name = "foot".into();
    spec
}

/// A stand-in plant for protocol tests. **Not the simulator** (the protocol's rules do not
/// depend on physics): each joint follows its position target as a first-order system
/// with a 0.1 s time constant at the spec's physics rate; Damp and Disarm bleed velocity
/// off. Deterministic, so a twin stepped with the same commands measures the same values.
/// Every command it is given is appended to `log`.
#[derive(Debug, Clone)]
pub struct StandIn {
    spec: RobotSpec,
    pub pos: JointValues,
    pub vel: JointValues,
    pub log: Arc<Mutex<Vec<Command>>>,
}

impl StandIn {
    /// The reference biped.
    pub fn new() -> StandIn {
        StandIn::of(RobotSpec::reference())
    }

    /// Any robot, starting in its default pose.
    pub fn of(spec: RobotSpec) -> StandIn {
        let pos = spec.default_action().joint_target;
        let vel = JointValues::zeros(pos.len());
        StandIn { spec, pos, vel, log: Arc::default() }
    }
}

impl Plant for StandIn {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
        self.log.lock().unwrap().push(*command);
        let dt = self.spec.physics_dt_s() as f32;
        for _ in 0..self.spec.physics_steps_per_tick() {
            for j in 0..self.pos.len() {
                self.vel[j] = match command {
                    Command::Track(a) => (a.joint_target[j] - self.pos[j]) / 0.1,
                    Command::Damp => self.vel[j] * (-dt / 0.05).exp(),
                    Command::Disarm => self.vel[j] * (-dt / 0.5).exp(),
                };
                self.pos[j] += self.vel[j] * dt;
            }
        }
        // The IMU reads a slight backward lean, slowly tipping forward; every contact closed.
        let layout = self.spec.layout();
        let mut imu = ImuValues::zeros(layout.imu.len());
        for (v, field) in imu.iter_mut().zip(layout.imu.iter()) {
            *v = match field {
                ImuField::Pitch => 0.05,
                ImuField::PitchRate => -0.1,
                _ => 0.01,
            };
        }
        let mut sensors = Sensors::zeros(&layout);
        sensors.contact.fill(true);
        Ok(Sensors { joint_pos: self.pos, joint_vel: self.vel, imu, ..sensors })
    }
}

/// A virtual reference biped on the stand-in, and the log of what its plant was told.
pub fn robot(config: FirmwareConfig, link: Option<&Path>) -> (VirtualRobot, Arc<Mutex<Vec<Command>>>) {
    robot_of(RobotSpec::reference(), config, link)
}

/// A virtual `spec` on the stand-in, and the log of what its plant was told.
pub fn robot_of(
    spec: RobotSpec,
    config: FirmwareConfig,
    link: Option<&Path>,
) -> (VirtualRobot, Arc<Mutex<Vec<Command>>>) {
    let plant = StandIn::of(spec);
    let log = plant.log.clone();
    (VirtualRobot::spawn(Box::new(plant), config, link).expect("open a pseudo-terminal"), log)
}

/// A path for a stable link, unique to this process and `name`.
pub fn temp_link(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("strider-fw-{name}-{}", std::process::id()))
}

/// What the host expects of the reference biped.
pub fn hello_info() -> LinkInfo {
    let spec = RobotSpec::reference();
    LinkInfo {
        contract_id: spec.contract_id().0,
        protocol_version: PROTOCOL_VERSION,
        joint_count: spec.joints.len() as u8,
        physics_hz: spec.physics.physics_hz as u16,
        control_hz: spec.control.control_hz as u16,
    }
}

/// A JointCommand to `position` with the reference biped's gains (the hopper's too).
pub fn command(position: &[f32]) -> JointCommand {
    let mut joints = Bounded::zeros(position.len());
    for (j, &p) in joints.iter_mut().zip(position) {
        *j = JointTarget { position: p, kp: 300.0, kd: 30.0, tau_ff: 0.0 };
    }
    JointCommand { joints }
}

/// A frame received, and when.
#[derive(Debug, Clone, Copy)]
pub struct Received {
    pub at: Instant,
    pub frame: Frame,
}

impl Received {
    pub fn sensors(&self) -> Option<SensorFrame> {
        match self.frame.message {
            Message::SensorFrame(s) => Some(s),
            _ => None,
        }
    }

    pub fn fault(&self) -> Option<Fault> {
        match self.frame.message {
            Message::Fault(f) => Some(f),
            _ => None,
        }
    }
}

/// A host made of the codec and nothing else: what a firmware author's own rig would be.
pub struct RawHost {
    path: PathBuf,
    port: Option<Box<dyn serialport::SerialPort>>,
    acc: Accumulator,
    /// The sequence number of the next frame sent.
    pub seq: u16,
    pending: VecDeque<Received>,
    /// Candidate frames that did not decode.
    pub bad: u64,
}

impl RawHost {
    /// A host for the reference biped.
    pub fn open(path: &Path) -> RawHost {
        RawHost::open_for(path, biped_counts())
    }

    /// A host whose frames are sized by `counts`.
    pub fn open_for(path: &Path, counts: Counts) -> RawHost {
        let mut host = RawHost {
            path: path.to_path_buf(),
            port: None,
            acc: Accumulator::new(counts),
            seq: 0,
            pending: VecDeque::new(),
            bad: 0,
        };
        assert!(host.reopen(), "cannot open {}", path.display());
        host
    }

    /// Opens the port again (after an unplug); false while there is none. Sends a lone
    /// 0x00 first, as the protocol asks, to end whatever the line held.
    pub fn reopen(&mut self) -> bool {
        self.port = None;
        self.acc.reset();
        let Ok(mut port) =
            serialport::new(self.path.to_string_lossy(), 1_000_000).timeout(Duration::from_millis(5)).open()
        else {
            return false;
        };
        let flushed = port.write_all(&[0]).is_ok();
        self.port = Some(port);
        flushed
    }

    pub fn connected(&self) -> bool {
        self.port.is_some()
    }

    /// Sends `message` and returns its sequence number.
    pub fn send(&mut self, message: &Message) -> u16 {
        let mut buf = [0u8; MAX_FRAME];
        let n = encode(message, self.seq, 0, &mut buf).unwrap();
        self.send_bytes(&buf[..n]);
        self.next_seq()
    }

    /// `message` in the header and layout of protocol `version` (an older or newer host).
    pub fn send_as(&mut self, version: u8, message: &Message) -> u16 {
        let mut buf = [0u8; MAX_FRAME];
        let n = encode_with_version(version, message, self.seq, 0, &mut buf).unwrap();
        self.send_bytes(&buf[..n]);
        self.next_seq()
    }

    /// A SetMode frame carrying `mode`, which need not be a mode this protocol has.
    pub fn send_mode_byte(&mut self, mode: u8) -> u16 {
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = write_payload(PROTOCOL_VERSION, &Message::SetMode(Mode::Disarm), self.seq, 0, &mut payload)
            .unwrap();
        payload[8] = mode;
        let crc = strider_firmware_host::CRC32C.checksum(&payload[..9]);
        payload[9..n].copy_from_slice(&crc.to_le_bytes());
        self.send_payload(&payload[..n])
    }

    /// `message` with one bit of its CRC flipped: a frame a receiver cannot trust.
    pub fn send_with_bad_crc(&mut self, message: &Message) -> u16 {
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = write_payload(PROTOCOL_VERSION, message, self.seq, 0, &mut payload).unwrap();
        payload[n - 1] ^= 0x01;
        self.send_payload(&payload[..n])
    }

    fn send_payload(&mut self, payload: &[u8]) -> u16 {
        let mut buf = [0u8; MAX_FRAME];
        let n = cobs::try_encode(payload, &mut buf).unwrap();
        buf[n] = 0;
        self.send_bytes(&buf[..=n]);
        self.next_seq()
    }

    fn next_seq(&mut self) -> u16 {
        self.seq = self.seq.wrapping_add(1);
        self.seq.wrapping_sub(1)
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        if let Some(port) = self.port.as_mut()
            && port.write_all(bytes).is_err()
        {
            self.port = None;
        }
    }

    /// Reads what the line holds now (waiting up to a few ms); an unplugged port closes.
    fn fill(&mut self) {
        let Some(port) = self.port.as_mut() else {
            std::thread::sleep(Duration::from_millis(5));
            return;
        };
        let mut buf = [0u8; 512];
        let n = match port.read(&mut buf) {
            Ok(0) => {
                self.port = None;
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return,
            Err(_) => {
                self.port = None;
                return;
            }
        };
        let at = Instant::now();
        let mut rest = &buf[..n];
        loop {
            match self.acc.feed(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => {
                    self.pending.push_back(Received { at, frame });
                    rest = remaining;
                }
                Feed::Error { remaining, .. } => {
                    self.bad += 1;
                    rest = remaining;
                }
            }
        }
    }

    /// The next frame within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.pending.pop_front() {
                return Some(r);
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.fill();
        }
    }

    /// Every frame that arrives within `duration`.
    pub fn collect(&mut self, duration: Duration) -> Vec<Received> {
        let deadline = Instant::now() + duration;
        let mut out = Vec::new();
        while let Some(r) = self.next(deadline.saturating_duration_since(Instant::now())) {
            out.push(r);
        }
        out
    }

    /// The first frame `pick` accepts within 2 s, and every frame before it.
    pub fn until<T>(&mut self, mut pick: impl FnMut(&Received) -> Option<T>) -> (T, Vec<Received>) {
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut before = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self.next(left).expect("no matching frame within 2 s");
            if let Some(t) = pick(&r) {
                return (t, before);
            }
            before.push(r);
        }
    }

    /// The sensor frame that acknowledges `seq`.
    pub fn ack(&mut self, seq: u16) -> SensorFrame {
        self.until(|r| r.sensors().filter(|s| s.ack_seq == seq)).0
    }

    /// The next Fault.
    pub fn fault(&mut self) -> Fault {
        self.until(Received::fault).0
    }

    /// Hello, and the HelloAck frame that answers it.
    pub fn hello(&mut self) -> Received {
        self.send(&Message::Hello(hello_info()));
        self.until(|r| matches!(r.frame.message, Message::HelloAck(_)).then_some(*r)).0
    }

    /// SetMode(`mode`), and the sensor frame that acknowledges it.
    pub fn set_mode(&mut self, mode: Mode) -> SensorFrame {
        let seq = self.send(&Message::SetMode(mode));
        self.ack(seq)
    }

    /// A JointCommand to `position`, and the sensor frame that acknowledges it.
    pub fn command(&mut self, position: &[f32]) -> SensorFrame {
        let seq = self.send(&Message::JointCommand(command(position)));
        self.ack(seq)
    }
}
