//! The host driver: a [`SerialLink`] speaks the protocol over a serial port, checks the
//! robot in a handshake, keeps statistics, reconnects by itself, and implements
//! [`strider_robot::Plant`] so the controller drives it exactly like the simulator.
//!
//! Frames are sized by the robot description's layout: the host expects the joint, IMU and
//! contact counts of `RobotSpec::layout()` and refuses a robot whose HelloAck announces
//! others. SensorFrames become [`Sensors`] in the layout's order (IMU fields as sent,
//! contact k from bit k).

mod port;
mod stats;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde::{Deserialize, Serialize};
use strider_robot::{
    Action, Command, Contacts, ContractId, ImuValues, JointValues, Layout, Plant, PlantError, RobotSpec,
    Sensors,
};

pub(crate) use stats::SeqTracker;
pub use stats::{LinkStats, RoundTrips};

use crate::bounded::Bounded;
use crate::error::FrameError;
use crate::frame::{Frame, encode};
use crate::ftdi;
use crate::link_error::LinkError;
use crate::wire::{
    Counts, HelloAck, JointCommand, JointTarget, LinkInfo, MAX_CONTACTS, MAX_FRAME, MAX_IMU_FIELDS,
    MAX_JOINTS, Message, Mode, PROTOCOL_VERSION, SensorFrame, fault, status,
};
use port::{Connection, Inbound};

// The codec keeps its own maxima (it builds without the robot contract, for a firmware);
// they must be the contract's, so that every robot a description allows fits a frame.
const _: () = assert!(MAX_JOINTS == strider_robot::MAX_JOINTS, "the codec's MAX_JOINTS is the contract's");
const _: () =
    assert!(MAX_IMU_FIELDS == strider_robot::MAX_IMU_FIELDS, "the codec's MAX_IMU_FIELDS is the contract's");
const _: () =
    assert!(MAX_CONTACTS == strider_robot::MAX_CONTACTS, "the codec's MAX_CONTACTS is the contract's");

impl Counts {
    /// The counts a robot of `layout` announces, or the first the protocol cannot carry.
    pub fn of(layout: &Layout) -> Result<Counts, FrameError> {
        Counts::new(layout.joints, layout.imu.len(), layout.contacts)
    }
}

/// How the driver opens and watches the link. Loads from TOML (`[link]` keys as below).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LinkConfig {
    /// Serial device, e.g. `/dev/ttyUSB0` or a pseudo-terminal (default `/dev/ttyUSB0`).
    pub port: String,
    /// Baud rate (default 1 000 000).
    pub baud: u32,
    /// How long [`SerialLink::connect`] waits for HelloAck, ms (default 1000); Hello is
    /// resent every 100 ms. A reconnect gets as long, spread over control ticks.
    pub handshake_timeout_ms: u64,
    /// How long a command waits for its acknowledging sensor frame, ms (default 8: a robot
    /// answers within a millisecond plus wire time, and at 50 Hz the pilot's 10 ms budget
    /// and this wait fit in the 20 ms tick). A later answer makes the tick a lost one; it
    /// is taken in, never applied late.
    pub ack_timeout_ms: u64,
    /// Reopen and re-handshake a lost link automatically (default true).
    pub reconnect: bool,
    /// Wait before the first reopen attempt after the link is lost, ms (default 100); it
    /// doubles after every failed attempt up to `max_reconnect_interval_ms`.
    pub reconnect_interval_ms: u64,
    /// Longest wait between two reopen attempts, ms (default 2000).
    pub max_reconnect_interval_ms: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            port: "/dev/ttyUSB0".into(),
            baud: 1_000_000,
            handshake_timeout_ms: 1000,
            ack_timeout_ms: 8,
            reconnect: true,
            reconnect_interval_ms: 100,
            max_reconnect_interval_ms: 2000,
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
    /// The description's layout, and the counts it gives the frames.
    layout: Layout,
    counts: Counts,
    config: LinkConfig,
    conn: Option<Connection>,
    /// A reopened port waiting for its HelloAck.
    pending: Option<Pending>,
    stats: Arc<Mutex<LinkStats>>,
    robot: HelloAck,
    tx_seq: u16,
    /// The mode the robot was last told to be in (Disarm after every handshake).
    mode: Mode,
    /// The robot left Run by itself (watchdog, reset) since the host last chose a mode.
    left_run: Option<SensorFrame>,
    last_sensors: Option<SensorFrame>,
    /// Set by a reconnect: the next JointCommand carries the measured pose.
    reseed_pending: bool,
    retry_at: Instant,
    backoff: Duration,
    epoch: Instant,
    warnings: Vec<String>,
}

/// A port reopened after a loss, in its handshake.
struct Pending {
    conn: Connection,
    since: Instant,
    next_hello: Instant,
}

impl SerialLink {
    /// Opens the port and performs the handshake; refuses a robot that does not match `spec`
    /// (protocol version, contract id, counts, rates) before any command is sent.
    pub fn connect(spec: RobotSpec, config: LinkConfig) -> Result<SerialLink, LinkError> {
        let layout = spec.layout();
        let counts =
            Counts::of(&layout).map_err(|problem| LinkError::Layout { robot: spec.name.clone(), problem })?;
        let stats = Arc::new(Mutex::new(LinkStats::default()));
        let conn = port::open(&config.port, config.baud, counts, stats.clone())?;
        let warnings = ftdi::ftdi_port_for(Path::new(ftdi::SYSFS_USB_SERIAL), Path::new(&config.port))
            .and_then(|p| p.warning())
            .into_iter()
            .collect();
        let now = Instant::now();
        // Replaced by the robot's own HelloAck before `connect` returns.
        let robot = HelloAck {
            info: expected_info(&spec),
            firmware: [0; 16],
            imu_count: counts.imu,
            contact_count: counts.contacts,
        };
        let mut link = SerialLink {
            spec,
            layout,
            counts,
            backoff: ms(config.reconnect_interval_ms),
            config,
            conn: None,
            pending: Some(Pending { conn, since: now, next_hello: now }),
            stats,
            robot,
            tx_seq: 0,
            mode: Mode::Disarm,
            left_run: None,
            last_sensors: None,
            reseed_pending: false,
            retry_at: now,
            epoch: now,
            warnings,
        };
        let deadline = now + ms(link.config.handshake_timeout_ms);
        while link.pending.is_some() {
            let wait = deadline.saturating_duration_since(Instant::now()).min(Duration::from_millis(100));
            if link.handshake_step(wait)? {
                link.reseed_pending = false;
                return Ok(link);
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        Err(LinkError::HandshakeTimeout {
            port: link.config.port.clone(),
            waited_ms: link.config.handshake_timeout_ms,
            baud: link.config.baud,
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

    /// The robot description's layout, by which sensor frames become [`Sensors`].
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// One round trip that cannot move the robot: SetMode(Disarm) and its acknowledgement.
    /// For `strider link probe` on a robot that is not walking, and for the first
    /// measurement before a run.
    pub fn ping_disarmed(&mut self) -> Result<SensorFrame, LinkError> {
        self.ensure_connected()?;
        let result = self.set_mode(Mode::Disarm);
        self.note_loss(&result);
        result
    }

    fn disconnected(&self, reason: impl Into<String>) -> LinkError {
        LinkError::Disconnected { port: self.config.port.clone(), reason: reason.into() }
    }

    /// Moves a lost link one step towards a new session without blocking a control tick
    /// for long: reopens the port when the backoff has passed, sends Hello (again every
    /// 100 ms) and takes a HelloAck that arrives within the ack wait. `Ok` once connected.
    fn ensure_connected(&mut self) -> Result<(), LinkError> {
        if self.conn.is_some() {
            return Ok(());
        }
        if !self.config.reconnect {
            return Err(self.disconnected("down (reconnect is off)"));
        }
        if self.pending.is_none() {
            let now = Instant::now();
            if now < self.retry_at {
                return Err(
                    self.disconnected(format!("down; reopening in {} ms", (self.retry_at - now).as_millis()))
                );
            }
            match port::open(&self.config.port, self.config.baud, self.counts, self.stats.clone()) {
                Ok(conn) => self.pending = Some(Pending { conn, since: now, next_hello: now }),
                Err(e) => {
                    self.back_off();
                    return Err(e);
                }
            }
        }
        if self.handshake_step(ms(self.config.ack_timeout_ms))? {
            self.stats.lock().expect("stats lock").reconnects += 1;
            return Ok(());
        }
        Err(self.disconnected("reconnecting: waiting for HelloAck"))
    }

    /// Sends Hello when due and waits up to `wait` for the HelloAck; true when the session
    /// is up. A robot that does not match is refused (and the port closed) naming both
    /// values; a handshake that takes too long closes the port and backs off.
    fn handshake_step(&mut self, wait: Duration) -> Result<bool, LinkError> {
        let port = self.config.port.clone();
        let ours = expected_info(&self.spec);
        let counts = self.counts;
        let Some(p) = self.pending.as_mut() else { return Ok(self.conn.is_some()) };
        if Instant::now() >= p.next_hello {
            send(&p.conn, &Message::Hello(ours), next_seq(&mut self.tx_seq), self.epoch, &port)?;
            p.next_hello = Instant::now() + Duration::from_millis(100);
        }
        let deadline = (Instant::now() + wait).min(p.next_hello);
        let outcome = loop {
            match p.conn.inbound.recv_deadline(deadline) {
                Ok(Inbound::Frame(Frame { header, message: Message::HelloAck(ack) })) => {
                    break Some(check_robot(&port, &ours, counts, header.version, &ack).map(|()| ack));
                }
                Ok(Inbound::Frame(..)) => {}
                Ok(Inbound::Closed(reason)) => break Some(Err(LinkError::Disconnected { port, reason })),
                Err(RecvTimeoutError::Timeout) => break None,
                Err(RecvTimeoutError::Disconnected) => {
                    break Some(Err(LinkError::Disconnected { port, reason: "reader stopped".into() }));
                }
            }
        };
        match outcome {
            Some(Ok(ack)) => {
                let p = self.pending.take().expect("pending");
                self.conn = Some(p.conn);
                self.robot = ack;
                self.mode = Mode::Disarm;
                self.left_run = None;
                self.last_sensors = None;
                self.reseed_pending = true;
                self.backoff = ms(self.config.reconnect_interval_ms);
                Ok(true)
            }
            Some(Err(e)) => {
                self.pending = None;
                self.back_off();
                Err(e)
            }
            None => {
                if p.since.elapsed() >= ms(self.config.handshake_timeout_ms) {
                    self.pending = None;
                    self.back_off();
                }
                Ok(false)
            }
        }
    }

    fn back_off(&mut self) {
        self.retry_at = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(ms(self.config.max_reconnect_interval_ms));
    }

    /// A port that failed (unplugged, closed) is dropped and reopened; so is a session the
    /// robot no longer knows (it answers NO_HANDSHAKE after a reset). Silence alone is not
    /// a loss: the port stays open and the next frame ends it.
    fn note_loss<T>(&mut self, result: &Result<T, LinkError>) {
        let lost = match result {
            Err(LinkError::Disconnected { .. }) => true,
            Err(LinkError::Rejected { code, .. }) => *code == fault::NO_HANDSHAKE,
            _ => false,
        };
        if lost && self.conn.take().is_some() {
            self.stats.lock().expect("stats lock").disconnects += 1;
            self.retry_at = Instant::now();
        }
    }

    fn track(&mut self, action: &Action) -> Result<SensorFrame, LinkError> {
        let n = self.layout.joints;
        if action.joint_target.len() != n {
            return Err(LinkError::ActionLength { expected: n, found: action.joint_target.len() });
        }
        // Learn first whether the robot left Run by itself: then it is not re-armed here —
        // the controller hears of it, damps, and homes again from where the robot is.
        self.drain()?;
        if let Some(s) = self.left_run {
            return Err(LinkError::LeftRun { mode: s.mode, watchdog: s.status & status::WATCHDOG != 0 });
        }
        if self.mode != Mode::Run {
            let armed = self.set_mode(Mode::Run)?;
            self.last_sensors = Some(armed);
        }
        let targets: Bounded<f32, MAX_JOINTS> = if self.reseed_pending {
            // Never resume the targets from before the cut: start from where the robot is.
            self.last_sensors
                .map(|s| s.joint_pos)
                .ok_or_else(|| self.disconnected("no sensor frame to re-seed from"))?
        } else {
            Bounded::from_slice(&action.joint_target)
        };
        let mut joints = Bounded::<JointTarget, MAX_JOINTS>::zeros(n);
        for ((target, &position), j) in joints.iter_mut().zip(targets.iter()).zip(&self.spec.joints) {
            *target = JointTarget {
                position,
                kp: j.kp_nm_per_rad as f32,
                kd: j.kd_nms_per_rad as f32,
                tau_ff: 0.0,
            };
        }
        let cmd = JointCommand { joints };
        let sensors = self.exchange(Message::JointCommand(cmd))?;
        if self.reseed_pending {
            self.reseed_pending = false;
            self.stats.lock().expect("stats lock").reseeds += 1;
        }
        Ok(sensors)
    }

    /// Tells the robot to be in `mode`; the host's choice clears a Run the robot left.
    fn set_mode(&mut self, mode: Mode) -> Result<SensorFrame, LinkError> {
        let s = self.exchange(Message::SetMode(mode))?;
        self.mode = mode;
        self.left_run = None;
        Ok(s)
    }

    /// Sends one command frame and waits for the sensor frame that acknowledges it.
    fn exchange(&mut self, message: Message) -> Result<SensorFrame, LinkError> {
        self.drain()?;
        let conn = self.conn.as_ref().ok_or_else(|| self.disconnected("down"))?;
        let seq = next_seq(&mut self.tx_seq);
        // The round trip starts before the write: a thread descheduled between the write and
        // reading the clock would otherwise miss time the robot was already answering.
        let sent = Instant::now();
        send(conn, &message, seq, self.epoch, &self.config.port)?;
        let deadline = sent + ms(self.config.ack_timeout_ms);
        loop {
            let conn = self.conn.as_ref().expect("checked above");
            let item = match conn.inbound.recv_deadline(deadline) {
                Ok(item) => item,
                Err(RecvTimeoutError::Timeout) => {
                    self.stats.lock().expect("stats lock").timeouts += 1;
                    return Err(LinkError::Timeout { seq, limit_ms: self.config.ack_timeout_ms });
                }
                Err(RecvTimeoutError::Disconnected) => return Err(self.disconnected("reader stopped")),
            };
            let Some(s) = self.absorb(item)? else { continue };
            if s.ack_seq != seq {
                continue;
            }
            let us = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
            let mut stats = self.stats.lock().expect("stats lock");
            stats.round_trip_us.record_us(us);
            return if s.status & status::REJECTED != 0 {
                let (code, detail) = stats.last_fault.map_or((0, 0), |f| (f.code, f.detail));
                Err(LinkError::Rejected { seq, code, detail })
            } else {
                Ok(s)
            };
        }
    }

    /// Takes in everything that arrived since the last command (sensor frames of idle ticks,
    /// late acknowledgements, faults, stats), so the driver knows the robot's mode before it
    /// sends.
    fn drain(&mut self) -> Result<(), LinkError> {
        while let Some(item) = self.conn.as_ref().and_then(|c| c.inbound.try_recv().ok()) {
            self.absorb(item)?;
        }
        Ok(())
    }

    /// Books one inbound item; returns the sensor frame if it was one.
    fn absorb(&mut self, item: Inbound) -> Result<Option<SensorFrame>, LinkError> {
        let frame = match item {
            Inbound::Frame(frame) => frame,
            Inbound::Closed(reason) => return Err(self.disconnected(reason)),
        };
        let Message::SensorFrame(s) = frame.message else {
            note_message(&self.stats, &frame.message);
            return Ok(None);
        };
        self.last_sensors = Some(s);
        if self.mode == Mode::Run && s.mode != Mode::Run as u8 {
            // The robot left Run by itself (watchdog, reset): whatever it does next, the
            // first command after re-arming starts from the measured pose.
            self.left_run = Some(s);
            self.reseed_pending = true;
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

/// Encodes and queues one frame, led by a 0x00: whatever garbage the line held before it
/// ends there, so it costs no frame of ours (docs/PROTOCOL.md, "Frame").
fn send(conn: &Connection, message: &Message, seq: u16, epoch: Instant, port: &str) -> Result<(), LinkError> {
    let mut buf = [0u8; MAX_FRAME + 1];
    let n = encode(message, seq, epoch.elapsed().as_micros() as u32, &mut buf[1..])?;
    let out = conn.outbound.as_ref().expect("open connection has a writer");
    out.send(buf[..=n].to_vec())
        .map_err(|_| LinkError::Disconnected { port: port.to_string(), reason: "writer stopped".into() })?;
    conn.stats.lock().expect("stats lock").frames_tx += 1;
    Ok(())
}

/// What this host expects of the robot, as sent in Hello (the IMU and contact counts are
/// compared with the HelloAck's; see [`Counts::of`]).
pub fn expected_info(spec: &RobotSpec) -> LinkInfo {
    LinkInfo {
        contract_id: spec.contract_id().0,
        protocol_version: PROTOCOL_VERSION,
        joint_count: u8::try_from(spec.joints.len()).unwrap_or(u8::MAX),
        physics_hz: u16::try_from(spec.physics.physics_hz).unwrap_or(u16::MAX),
        control_hz: u16::try_from(spec.control.control_hz).unwrap_or(u16::MAX),
    }
}

/// Refuses a robot that is not the one `ours` and `counts` describe, naming both values:
/// the protocol version first (a robot of another version may lay out the rest otherwise),
/// then the contract id, the counts, the rates.
fn check_robot(
    port: &str,
    ours: &LinkInfo,
    counts: Counts,
    header_version: u8,
    ack: &HelloAck,
) -> Result<(), LinkError> {
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
            host_counts: counts,
            robot_counts: ack.counts(),
        });
    }
    if ack.counts() != counts {
        return Err(LinkError::CountsMismatch { port: port.into(), host: counts, robot: ack.counts() });
    }
    for (field, host, robot) in [
        ("physics_hz", u32::from(ours.physics_hz), u32::from(theirs.physics_hz)),
        ("control_hz", u32::from(ours.control_hz), u32::from(theirs.control_hz)),
    ] {
        if host != robot {
            return Err(LinkError::SpecMismatch { port: port.into(), field, host, robot });
        }
    }
    Ok(())
}

/// The sensor frame as the robot contract's [`Sensors`] under `layout`: joints and IMU
/// fields in order, contact k from bit k. The frame was sized by the same layout's counts.
pub fn sensors_from_frame(layout: &Layout, s: &SensorFrame) -> Sensors {
    let mut contact = Contacts::zeros(layout.contacts);
    for (k, on) in contact.iter_mut().enumerate() {
        *on = s.contact(k);
    }
    Sensors {
        joint_pos: JointValues::from_slice(&s.joint_pos),
        joint_vel: JointValues::from_slice(&s.joint_vel),
        imu: ImuValues::from_slice(&s.imu),
        contact,
    }
}

/// The sensor frame carrying `sensors` (contact k as bit k), with its head fields.
pub fn frame_from_sensors(sensors: &Sensors, ack_seq: u16, mode: u8, status: u8) -> SensorFrame {
    let contacts = sensors
        .contact
        .iter()
        .take(MAX_CONTACTS)
        .enumerate()
        .fold(0u8, |bits, (k, &on)| bits | (u8::from(on) << k));
    SensorFrame {
        ack_seq,
        mode,
        status,
        contacts,
        joint_pos: Bounded::from_slice(&sensors.joint_pos),
        joint_vel: Bounded::from_slice(&sensors.joint_vel),
        imu: Bounded::from_slice(&sensors.imu),
    }
}

impl Plant for SerialLink {
    fn spec(&self) -> &RobotSpec {
        &self.spec
    }

    /// One control tick: the command frame(s) for `command`, then the acknowledging sensor
    /// frame. Disarm / Damp become SetMode; Track arms the robot (SetMode(Run)) if needed,
    /// then sends a JointCommand with the contract's gains. A missing acknowledgement is a
    /// `Timeout` for this tick only; a lost port is reopened and re-handshaken here, a
    /// little each tick; a robot that left Run by itself is a `Fault` until the controller
    /// chooses a mode again; another robot after a reconnect is a `Mismatch`.
    fn step(&mut self, command: &Command) -> Result<Sensors, PlantError> {
        self.ensure_connected()?;
        let result = match command {
            Command::Disarm => self.set_mode(Mode::Disarm),
            Command::Damp => self.set_mode(Mode::Damp),
            Command::Track(action) => self.track(action),
        };
        self.note_loss(&result);
        Ok(sensors_from_frame(&self.layout, &result?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn biped() -> (RobotSpec, Counts, HelloAck) {
        let spec = RobotSpec::reference();
        let counts = Counts::of(&spec.layout()).unwrap();
        let ack = HelloAck {
            info: expected_info(&spec),
            firmware: *b"strider-virt 0.1",
            imu_count: counts.imu,
            contact_count: counts.contacts,
        };
        (spec, counts, ack)
    }

    #[test]
    fn the_handshake_refuses_each_difference_naming_both_values() {
        let (spec, counts, ack) = biped();
        let ours = expected_info(&spec);
        let check = |version: u8, ack: &HelloAck| check_robot("/dev/robot", &ours, counts, version, ack);
        assert_eq!(check(PROTOCOL_VERSION, &ack), Ok(()));

        let err = check(1, &HelloAck { imu_count: 0, contact_count: 0, ..ack }).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/robot: protocol version mismatch: host speaks 2, robot speaks 1; update the older side"
        );

        let other = HelloAck {
            info: LinkInfo { contract_id: 0x0123_4567_89ab_cdef, joint_count: 3, ..ours },
            contact_count: 1,
            ..ack
        };
        let err = check(PROTOCOL_VERSION, &other).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "/dev/robot: robot contract mismatch: host expects {} (6 joints, 2 IMU fields, 2 contacts), robot is \
                 0123456789abcdef (3 joints, 2 IMU fields, 1 contact); run with the --robot file this robot implements",
                spec.contract_id()
            )
        );

        // The same contract with other counts: the robot contradicts itself.
        let err = check(PROTOCOL_VERSION, &HelloAck { imu_count: 3, ..ack }).unwrap_err();
        assert!(matches!(err, LinkError::CountsMismatch { .. }), "{err:?}");
        assert!(
            err.to_string().contains("host expects 6 joints, 2 IMU fields, 2 contacts, robot announces 6 joints, 3 IMU fields, 2 contacts"),
            "{err}"
        );

        let err = check(PROTOCOL_VERSION, &HelloAck { info: LinkInfo { control_hz: 100, ..ours }, ..ack })
            .unwrap_err();
        assert_eq!(err.to_string(), "/dev/robot: control_hz mismatch: host expects 50, robot reports 100");
    }

    #[test]
    fn sensors_cross_the_frame_in_the_layouts_order() {
        let mut spec = RobotSpec::reference();
        spec.sensors.imu = vec![strider_robot::ImuField::YawRate, strider_robot::ImuField::Pitch];
        spec.sensors.contacts.push(strider_robot::ContactSpec { name: "tail".into(), link: "torso".into() });
        let layout = spec.layout();
        let mut sensors = Sensors::zeros(&layout);
        sensors.joint_pos.iter_mut().enumerate().for_each(|(i, q)| *q = i as f32);
        sensors.joint_vel.iter_mut().enumerate().for_each(|(i, v)| *v = -(i as f32));
        sensors.imu.copy_from_slice(&[0.25, 0.05]);
        sensors.contact.copy_from_slice(&[true, false, true]);

        let frame = frame_from_sensors(&sensors, 7, Mode::Run as u8, status::WATCHDOG);
        assert_eq!(frame.contacts, 0b101, "contact k is bit k");
        assert_eq!(frame.imu[..], [0.25, 0.05], "IMU fields as the layout lists them");
        assert_eq!((frame.ack_seq, frame.mode, frame.status), (7, 3, status::WATCHDOG));
        assert_eq!(sensors_from_frame(&layout, &frame), sensors);
    }
}
