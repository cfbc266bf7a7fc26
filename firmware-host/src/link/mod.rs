//! The host driver: a [`SerialLink`] speaks the protocol over a serial port, checks the
//! robot in a handshake, keeps statistics, reconnects by itself, and implements
//! [`strider_robot::Plant`] so the controller drives it exactly like the simulator.

mod port;
mod stats;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde::{Deserialize, Serialize};
use strider_robot::{Action, Command, ContractId, NUM_JOINTS, Plant, PlantError, RobotSpec, Sensors};

pub use stats::LinkStats;
pub(crate) use stats::SeqTracker;

use crate::frame::{Frame, encode};
use crate::ftdi;
use crate::link_error::LinkError;
use crate::wire::{
    HelloAck, JOINTS, JointCommand, JointTarget, LinkInfo, MAX_FRAME, Message, Mode, PROTOCOL_VERSION,
    SensorFrame, status,
};
use port::{Connection, Inbound};

/// How the driver opens and watches the link. Loads from TOML (`[link]` keys as below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkConfig {
    /// Serial device, e.g. `/dev/ttyUSB0` or a pseudo-terminal (default `/dev/ttyUSB0`).
    pub port: String,
    /// Baud rate (default 1 000 000).
    pub baud: u32,
    /// How long to wait for HelloAck, ms (default 1000); Hello is resent every 100 ms.
    pub handshake_timeout_ms: u64,
    /// How long a command waits for its acknowledging sensor frame, ms (default 100).
    pub ack_timeout_ms: u64,
    /// With no valid frame for this long the link counts as lost, ms (default 500).
    pub link_lost_after_ms: u64,
    /// Reopen and re-handshake a lost link automatically (default true).
    pub reconnect: bool,
    /// Least time between two reconnect attempts, ms (default 200).
    pub reconnect_interval_ms: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            port: "/dev/ttyUSB0".into(),
            baud: 1_000_000,
            handshake_timeout_ms: 1000,
            ack_timeout_ms: 100,
            link_lost_after_ms: 500,
            reconnect: true,
            reconnect_interval_ms: 200,
        }
    }
}

/// What [`probe`] measured.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    /// Round trips acknowledged.
    pub ok: u64,
    /// Round trips that timed out or were rejected.
    pub failed: u64,
    /// The link's counters and round-trip histogram at the end.
    pub stats: LinkStats,
}

/// Round trips at `rate_hz` for `duration`, each a SetMode(Disarm) and its sensor frame:
/// the link's latency and error counters without moving the robot (`strider link probe`).
pub fn probe(link: &mut SerialLink, duration: Duration, rate_hz: f64) -> ProbeReport {
    let period = Duration::from_secs_f64(1.0 / rate_hz.max(1e-3));
    let start = Instant::now();
    let mut next = start;
    let (mut ok, mut failed) = (0, 0);
    while start.elapsed() < duration {
        match link.ping_disarmed() {
            Ok(_) => ok += 1,
            Err(_) => failed += 1,
        }
        next += period;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    ProbeReport { ok, failed, stats: link.stats() }
}

/// A robot on a serial port. See the module docs.
pub struct SerialLink {
    spec: RobotSpec,
    config: LinkConfig,
    conn: Option<Connection>,
    stats: Arc<Mutex<LinkStats>>,
    robot: HelloAck,
    tx_seq: u16,
    /// The mode the robot was last told to be in (Disarm after every handshake).
    mode: Mode,
    last_sensors: Option<SensorFrame>,
    last_rx: Instant,
    /// Set by a reconnect: the next JointCommand carries the measured pose.
    reseed_pending: bool,
    last_attempt: Instant,
    epoch: Instant,
    warnings: Vec<String>,
}

impl SerialLink {
    /// Opens the port and performs the handshake; refuses a robot that does not match `spec`
    /// before any command is sent.
    pub fn connect(spec: RobotSpec, config: LinkConfig) -> Result<SerialLink, LinkError> {
        let stats = Arc::new(Mutex::new(LinkStats::default()));
        let epoch = Instant::now();
        let mut conn = port::open(&config.port, config.baud, stats.clone())?;
        let mut tx_seq = 0;
        let robot = handshake(&spec, &config, &mut conn, &mut tx_seq, epoch)?;
        let warnings = ftdi::ftdi_port_for(Path::new(ftdi::SYSFS_USB_SERIAL), Path::new(&config.port))
            .and_then(|p| p.warning())
            .into_iter()
            .collect();
        Ok(SerialLink {
            spec,
            config,
            conn: Some(conn),
            stats,
            robot,
            tx_seq,
            mode: Mode::Disarm,
            last_sensors: None,
            last_rx: Instant::now(),
            reseed_pending: false,
            last_attempt: Instant::now(),
            epoch,
            warnings,
        })
    }

    /// What the robot said in its last HelloAck.
    pub fn robot(&self) -> &HelloAck {
        &self.robot
    }

    /// Problems found with the port that do not stop the link (e.g. a slow FTDI latency timer).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// A snapshot of the counters and the round-trip histogram.
    pub fn stats(&self) -> LinkStats {
        self.stats.lock().expect("stats lock").clone()
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// The last sensor frame received, if any.
    pub fn last_sensors(&self) -> Option<&SensorFrame> {
        self.last_sensors.as_ref()
    }

    /// One round trip that cannot move the robot: SetMode(Disarm) and its acknowledgement.
    /// For `strider link probe` on a robot that is not walking.
    pub fn ping_disarmed(&mut self) -> Result<SensorFrame, LinkError> {
        self.ensure_connected()?;
        let result = self.exchange(Message::SetMode(Mode::Disarm));
        self.note_loss(&result);
        self.mode = Mode::Disarm;
        result
    }

    /// Reconnects (with a new handshake) if the link is down and the retry interval passed.
    fn ensure_connected(&mut self) -> Result<(), LinkError> {
        if self.conn.is_some() {
            return Ok(());
        }
        let lost =
            || LinkError::Disconnected { port: self.config.port.clone(), reason: "reconnecting".into() };
        if !self.config.reconnect || self.last_attempt.elapsed() < ms(self.config.reconnect_interval_ms) {
            return Err(lost());
        }
        self.last_attempt = Instant::now();
        let mut conn = port::open(&self.config.port, self.config.baud, self.stats.clone())?;
        self.robot = handshake(&self.spec, &self.config, &mut conn, &mut self.tx_seq, self.epoch)?;
        self.conn = Some(conn);
        self.mode = Mode::Disarm;
        self.last_sensors = None;
        self.last_rx = Instant::now();
        self.reseed_pending = true;
        self.stats.lock().expect("stats lock").reconnects += 1;
        Ok(())
    }

    fn note_loss<T>(&mut self, result: &Result<T, LinkError>) {
        let lost = match result {
            Err(LinkError::Disconnected { .. }) => true,
            Err(LinkError::Timeout { .. }) => self.last_rx.elapsed() >= ms(self.config.link_lost_after_ms),
            _ => false,
        };
        if lost && self.conn.take().is_some() {
            self.stats.lock().expect("stats lock").disconnects += 1;
            self.last_attempt = Instant::now() - ms(self.config.reconnect_interval_ms);
        }
    }

    fn track(&mut self, action: &Action) -> Result<SensorFrame, LinkError> {
        // Learn first whether the robot left Run by itself (then the targets are re-seeded).
        self.drain()?;
        if self.mode != Mode::Run {
            let armed = self.exchange(Message::SetMode(Mode::Run))?;
            self.mode = Mode::Run;
            self.last_sensors = Some(armed);
        }
        let targets = if self.reseed_pending {
            // Never resume the targets from before the cut: start from where the robot is.
            self.last_sensors.map(|s| s.joint_pos).ok_or_else(|| LinkError::Disconnected {
                port: self.config.port.clone(),
                reason: "no sensor frame to re-seed from".into(),
            })?
        } else {
            std::array::from_fn(|i| action.joint_target[i])
        };
        let cmd = JointCommand {
            joints: std::array::from_fn(|i| {
                let j = &self.spec.joints[i];
                JointTarget {
                    position: targets[i],
                    kp: j.kp_nm_per_rad as f32,
                    kd: j.kd_nms_per_rad as f32,
                    tau_ff: 0.0,
                }
            }),
        };
        let sensors = self.exchange(Message::JointCommand(cmd))?;
        if self.reseed_pending {
            self.reseed_pending = false;
            self.stats.lock().expect("stats lock").reseeds += 1;
        }
        Ok(sensors)
    }

    fn set_mode(&mut self, mode: Mode) -> Result<SensorFrame, LinkError> {
        let s = self.exchange(Message::SetMode(mode))?;
        self.mode = mode;
        Ok(s)
    }

    /// Sends one command frame and waits for the sensor frame that acknowledges it.
    fn exchange(&mut self, message: Message) -> Result<SensorFrame, LinkError> {
        let port = self.config.port.clone();
        self.drain()?;
        let conn = self
            .conn
            .as_ref()
            .ok_or_else(|| LinkError::Disconnected { port: port.clone(), reason: "down".into() })?;
        let seq = next_seq(&mut self.tx_seq);
        send(conn, &message, seq, self.epoch, &port)?;
        let sent = Instant::now();
        let deadline = sent + ms(self.config.ack_timeout_ms);
        loop {
            let conn = self.conn.as_ref().expect("checked above");
            let item = match conn.inbound.recv_deadline(deadline) {
                Ok(item) => item,
                Err(RecvTimeoutError::Timeout) => {
                    self.stats.lock().expect("stats lock").timeouts += 1;
                    return Err(LinkError::Timeout { seq, limit_ms: self.config.ack_timeout_ms });
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(LinkError::Disconnected { port, reason: "reader stopped".into() });
                }
            };
            let Some(s) = self.absorb(item)? else { continue };
            if s.ack_seq != seq {
                continue;
            }
            let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
            let mut stats = self.stats.lock().expect("stats lock");
            let _ = stats.round_trip_us.record(us);
            return if s.status & status::REJECTED != 0 {
                let (code, detail) = stats.last_fault.map_or((0, 0), |f| (f.code, f.detail));
                Err(LinkError::Rejected { seq, code, detail })
            } else {
                Ok(s)
            };
        }
    }

    /// Takes in everything that arrived since the last command (sensor frames of idle ticks,
    /// faults, stats), so the driver knows the robot's mode before it sends.
    fn drain(&mut self) -> Result<(), LinkError> {
        while let Some(item) = self.conn.as_ref().and_then(|c| c.inbound.try_recv().ok()) {
            self.absorb(item)?;
        }
        Ok(())
    }

    /// Books one inbound item; returns the sensor frame if it was one.
    fn absorb(&mut self, item: Inbound) -> Result<Option<SensorFrame>, LinkError> {
        let frame = match item {
            Inbound::Frame(frame, at) => {
                self.last_rx = at;
                frame
            }
            Inbound::Closed(reason) => {
                return Err(LinkError::Disconnected { port: self.config.port.clone(), reason });
            }
        };
        let Message::SensorFrame(s) = frame.message else {
            note_message(&self.stats, &frame.message);
            return Ok(None);
        };
        self.last_sensors = Some(s);
        if s.mode != self.mode as u8 {
            // The robot changed mode by itself (watchdog, reset): whatever it does next, the
            // first command after re-arming starts from the measured pose.
            if self.mode == Mode::Run {
                self.reseed_pending = true;
            }
            self.mode = Mode::from_u8(s.mode).unwrap_or(Mode::Damp);
        }
        Ok(Some(s))
    }
}

fn note_message(stats: &Mutex<LinkStats>, message: &Message) {
    let mut s = stats.lock().expect("stats lock");
    match message {
        Message::Fault(f) => {
            s.faults += 1;
            s.last_fault = Some(*f);
        }
        Message::Stats(fw) => s.firmware = Some(*fw),
        _ => {}
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn next_seq(seq: &mut u16) -> u16 {
    let s = *seq;
    *seq = seq.wrapping_add(1);
    s
}

fn send(conn: &Connection, message: &Message, seq: u16, epoch: Instant, port: &str) -> Result<(), LinkError> {
    let mut buf = [0u8; MAX_FRAME];
    let n = encode(message, seq, epoch.elapsed().as_micros() as u32, &mut buf)?;
    let out = conn.outbound.as_ref().expect("open connection has a writer");
    out.send(buf[..n].to_vec())
        .map_err(|_| LinkError::Disconnected { port: port.to_string(), reason: "writer stopped".into() })?;
    conn.stats.lock().expect("stats lock").frames_tx += 1;
    Ok(())
}

/// What this host expects of the robot, as sent in Hello.
pub fn expected_info(spec: &RobotSpec) -> LinkInfo {
    LinkInfo {
        contract_id: spec.contract_id().0,
        protocol_version: PROTOCOL_VERSION,
        joint_count: JOINTS as u8,
        physics_hz: u16::try_from(spec.physics.physics_hz).unwrap_or(u16::MAX),
        control_hz: u16::try_from(spec.control.control_hz).unwrap_or(u16::MAX),
    }
}

/// Hello / HelloAck, with the checks; nothing else is sent until it succeeds.
fn handshake(
    spec: &RobotSpec,
    config: &LinkConfig,
    conn: &mut Connection,
    tx_seq: &mut u16,
    epoch: Instant,
) -> Result<HelloAck, LinkError> {
    let port = config.port.as_str();
    let ours = expected_info(spec);
    let start = Instant::now();
    let deadline = start + ms(config.handshake_timeout_ms);
    let mut resend = start;
    while Instant::now() < deadline {
        if Instant::now() >= resend {
            send(conn, &Message::Hello(ours), next_seq(tx_seq), epoch, port)?;
            resend = Instant::now() + Duration::from_millis(100);
        }
        match conn.inbound.recv_deadline(resend.min(deadline)) {
            Ok(Inbound::Frame(Frame { header, message: Message::HelloAck(ack) }, _)) => {
                check_robot(port, &ours, header.version, &ack)?;
                return Ok(ack);
            }
            Ok(Inbound::Frame(..)) | Err(RecvTimeoutError::Timeout) => {}
            Ok(Inbound::Closed(reason)) => return Err(LinkError::Disconnected { port: port.into(), reason }),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(LinkError::Disconnected { port: port.into(), reason: "reader stopped".into() });
            }
        }
    }
    Err(LinkError::HandshakeTimeout {
        port: port.into(),
        waited_ms: config.handshake_timeout_ms,
        baud: config.baud,
    })
}

fn check_robot(port: &str, ours: &LinkInfo, header_version: u8, ack: &HelloAck) -> Result<(), LinkError> {
    let theirs = &ack.info;
    for robot in [header_version, theirs.protocol_version] {
        if robot != PROTOCOL_VERSION {
            return Err(LinkError::VersionMismatch { port: port.into(), host: PROTOCOL_VERSION, robot });
        }
    }
    if theirs.contract_id != ours.contract_id {
        return Err(LinkError::ContractMismatch {
            port: port.into(),
            host: ContractId(ours.contract_id),
            robot: ContractId(theirs.contract_id),
        });
    }
    for (field, host, robot) in [
        ("joint_count", u32::from(ours.joint_count), u32::from(theirs.joint_count)),
        ("physics_hz", u32::from(ours.physics_hz), u32::from(theirs.physics_hz)),
        ("control_hz", u32::from(ours.control_hz), u32::from(theirs.control_hz)),
    ] {
        if host != robot {
            return Err(LinkError::SpecMismatch { port: port.into(), field, host, robot });
        }
    }
    Ok(())
}

/// The sensor frame as the robot contract's [`Sensors`].
pub fn sensors_from_frame(s: &SensorFrame) -> Sensors {
    let joint_pos: [f32; NUM_JOINTS] = std::array::from_fn(|i| s.joint_pos[i]);
    let joint_vel: [f32; NUM_JOINTS] = std::array::from_fn(|i| s.joint_vel[i]);
    Sensors {
        joint_pos,
        joint_vel,
        torso_pitch: s.pitch,
        torso_pitch_rate: s.pitch_rate,
        foot_contact: [s.contacts & 1 != 0, s.contacts & 2 != 0],
    }
}

impl Plant for SerialLink {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    /// One control tick: the command frame(s) for `command`, then the acknowledging sensor
    /// frame. Disarm / Damp become SetMode; Track arms the robot (SetMode(Run)) if needed,
    /// then sends a JointCommand with the contract's gains. A lost link is reopened here.
    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
        self.ensure_connected()?;
        let result = match command {
            Command::Disarm => self.set_mode(Mode::Disarm),
            Command::Damp => self.set_mode(Mode::Damp),
            Command::Track(action) => self.track(action),
        };
        self.note_loss(&result);
        Ok(sensors_from_frame(&result?))
    }
}
