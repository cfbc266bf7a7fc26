//! The messages and their bodies, byte for byte as `docs/PROTOCOL.md` lists them.
//! All integers and floats are little-endian; floats are IEEE-754 binary32.
//!
//! SensorFrame and JointCommand bodies are sized by the [`Counts`] (joints, IMU fields,
//! contacts) the robot announces in its HelloAck; every other body has one length per
//! protocol version.

use core::fmt;

use crate::bounded::Bounded;
use crate::error::FrameError;

/// The version this crate speaks. Bumped on any change to a header or body layout.
pub const PROTOCOL_VERSION: u8 = 2;
/// The most joints a frame carries (the robot contract's `MAX_JOINTS`).
pub const MAX_JOINTS: usize = 24;
/// The most IMU fields a SensorFrame carries (the robot contract's `MAX_IMU_FIELDS`).
pub const MAX_IMU_FIELDS: usize = 8;
/// The most contact switches a SensorFrame carries: the bits of its `contacts` byte.
pub const MAX_CONTACTS: usize = 8;
/// version u8, type u8, sequence u16, timestamp u32.
pub const HEADER_LEN: usize = 8;
/// CRC-32C, little-endian, after the body.
pub const CRC_LEN: usize = 4;
/// One joint of a JointCommand: position, kp, kd, tau_ff.
const JOINT_TARGET_LEN: usize = 16;
/// ack_seq, mode, status, contacts: the SensorFrame's fixed head.
const SENSOR_HEAD_LEN: usize = 5;
/// The longest body: a JointCommand for [`MAX_JOINTS`] joints.
pub const MAX_BODY: usize = MAX_JOINTS * JOINT_TARGET_LEN;
/// Header + longest body + CRC, before COBS.
pub const MAX_PAYLOAD: usize = HEADER_LEN + MAX_BODY + CRC_LEN;
/// The longest frame on the wire: COBS adds one byte per started 254, plus the 0x00 delimiter.
pub const MAX_FRAME: usize = frame_len(MAX_PAYLOAD);

/// Wire length of a frame whose payload has `payload` bytes.
const fn frame_len(payload: usize) -> usize {
    payload + payload.div_ceil(254) + 1
}

/// How many joints, IMU fields and contacts a robot's frames carry: what its HelloAck
/// announces, and what sizes every SensorFrame and JointCommand body of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Joints, in the contract's joint order: 1 to [`MAX_JOINTS`].
    pub joints: u8,
    /// IMU fields, in the contract's order: 0 to [`MAX_IMU_FIELDS`].
    pub imu: u8,
    /// Contact switches, in the contract's order: 0 to [`MAX_CONTACTS`].
    pub contacts: u8,
}

impl Counts {
    /// Counts the protocol can carry, or the first one it cannot, named.
    pub const fn new(joints: usize, imu: usize, contacts: usize) -> Result<Counts, FrameError> {
        if joints < 1 || joints > MAX_JOINTS {
            return Err(FrameError::Count { field: "joints", found: joints, min: 1, max: MAX_JOINTS });
        }
        if imu > MAX_IMU_FIELDS {
            return Err(FrameError::Count { field: "imu fields", found: imu, min: 0, max: MAX_IMU_FIELDS });
        }
        if contacts > MAX_CONTACTS {
            return Err(FrameError::Count { field: "contacts", found: contacts, min: 0, max: MAX_CONTACTS });
        }
        Ok(Counts { joints: joints as u8, imu: imu as u8, contacts: contacts as u8 })
    }

    /// `Ok` when every count lies in the protocol's range (see [`Counts::new`]).
    pub const fn check(self) -> Result<(), FrameError> {
        match Counts::new(self.joints as usize, self.imu as usize, self.contacts as usize) {
            Ok(_) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Body length of a SensorFrame: its 5-byte head, joint_pos and joint_vel, the IMU fields.
    pub const fn sensor_body_len(self) -> usize {
        SENSOR_HEAD_LEN + 8 * self.joints as usize + 4 * self.imu as usize
    }

    /// Body length of a JointCommand: 16 bytes per joint.
    pub const fn command_body_len(self) -> usize {
        JOINT_TARGET_LEN * self.joints as usize
    }

    /// The longest frame on the wire in a session with these counts (COBS and the 0x00
    /// included): the receive buffer a firmware needs.
    pub const fn max_frame_len(self) -> usize {
        // The HelloAck is the longest body of fixed length.
        let fixed = MessageType::HelloAck.fixed_len(PROTOCOL_VERSION);
        let body = larger(larger(self.sensor_body_len(), self.command_body_len()), fixed);
        frame_len(HEADER_LEN + body + CRC_LEN)
    }
}

const fn larger(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

impl fmt::Display for Counts {
    /// `6 joints, 2 IMU fields, 2 contacts`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |n: u8| if n == 1 { "" } else { "s" };
        write!(
            f,
            "{} joint{}, {} IMU field{}, {} contact{}",
            self.joints,
            s(self.joints),
            self.imu,
            s(self.imu),
            self.contacts,
            s(self.contacts)
        )
    }
}

/// The frame header, in front of every body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version whose layout the body follows: the sender's own, except in a
    /// HelloAck answering an older host's Hello (see `docs/PROTOCOL.md`, "Versions").
    pub version: u8,
    /// Message type code (see [`MessageType`]).
    pub kind: u8,
    /// Sender's frame counter, +1 per frame sent in each direction, wrapping at 2^16.
    pub seq: u16,
    /// Sender's clock when the frame was built, µs, wrapping at 2^32 (~71.6 min).
    pub timestamp_us: u32,
}

/// Message type codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MessageType {
    Hello = 0x01,
    HelloAck = 0x02,
    SensorFrame = 0x10,
    JointCommand = 0x11,
    SetMode = 0x12,
    Heartbeat = 0x20,
    Fault = 0x30,
    Stats = 0x31,
}

/// What each side states in the handshake. The host's Hello says what it expects; the
/// robot's HelloAck says what it is. Laid out identically in every protocol version, at
/// the start of both bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// First 64 bits of the robot contract's SHA-256 (see `strider robot show`).
    pub contract_id: u64,
    /// The version the sender speaks.
    pub protocol_version: u8,
    pub joint_count: u8,
    /// PD loop / physics rate, Hz.
    pub physics_hz: u16,
    /// Control tick (sensor frame) rate, Hz.
    pub control_hz: u16,
}

/// The robot's answer to Hello: what it is, which firmware it runs, and the counts that
/// size the session's SensorFrames and JointCommands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloAck {
    pub info: LinkInfo,
    /// Firmware name and version, ASCII, zero-padded.
    pub firmware: [u8; 16],
    /// IMU fields per SensorFrame. Not in a version-1 HelloAck, which reads as 0.
    pub imu_count: u8,
    /// Contact switches per SensorFrame. Not in a version-1 HelloAck, which reads as 0.
    pub contact_count: u8,
}

impl HelloAck {
    /// The firmware string up to its first zero byte (non-ASCII bytes as they are).
    pub fn firmware_str(&self) -> &str {
        let end = self.firmware.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.firmware[..end]).unwrap_or("<not ascii>")
    }

    /// The counts the robot announces (not checked against the protocol's ranges).
    pub fn counts(&self) -> Counts {
        Counts { joints: self.info.joint_count, imu: self.imu_count, contacts: self.contact_count }
    }
}

/// Operating mode of the robot's joint loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Zero torque on every joint. The state after power-up and after a reconnect.
    Disarm = 0,
    /// Damping only: kp = 0, kd from the robot's own configuration.
    Damp = 1,
    /// Hold the pose measured on entering the mode with the robot's own gains.
    Hold = 2,
    /// Track JointCommands.
    Run = 3,
}

impl Mode {
    pub fn from_u8(v: u8) -> Result<Mode, FrameError> {
        Ok(match v {
            0 => Mode::Disarm,
            1 => Mode::Damp,
            2 => Mode::Hold,
            3 => Mode::Run,
            _ => return Err(FrameError::BadValue { field: "mode", value: u32::from(v) }),
        })
    }
}

/// Bits of [`SensorFrame::status`].
pub mod status {
    /// The command watchdog fired since the robot last entered Run.
    pub const WATCHDOG: u8 = 0x01;
    /// The last command frame handled was rejected (a Fault frame says why); cleared by the
    /// next one applied.
    pub const REJECTED: u8 = 0x02;
    /// A hardware fault is latched (Fault `HARDWARE`); SetMode(Disarm) clears it once its
    /// cause has gone.
    pub const FAULT: u8 = 0x04;
}

/// What the robot measured at the end of a control tick, sized by the session's [`Counts`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SensorFrame {
    /// Sequence number of the last command frame (JointCommand or SetMode) handled, applied
    /// or rejected.
    pub ack_seq: u16,
    /// Mode code (see [`Mode`]) during the tick.
    pub mode: u8,
    /// [`status`] bits.
    pub status: u8,
    /// Contact switches: bit k is contact k in the contract's order (closed = 1); the bits
    /// from the contact count up are 0.
    pub contacts: u8,
    /// rad, joint order.
    pub joint_pos: Bounded<f32, MAX_JOINTS>,
    /// rad/s, as many as `joint_pos`.
    pub joint_vel: Bounded<f32, MAX_JOINTS>,
    /// The IMU link's fields in the contract's order (for the reference biped: pitch, rad,
    /// counter-clockwise positive; pitch rate, rad/s).
    pub imu: Bounded<f32, MAX_IMU_FIELDS>,
}

impl SensorFrame {
    /// Every value 0 and every contact open, sized by `counts`.
    pub fn zeros(counts: Counts) -> SensorFrame {
        SensorFrame {
            joint_pos: Bounded::zeros(usize::from(counts.joints)),
            joint_vel: Bounded::zeros(usize::from(counts.joints)),
            imu: Bounded::zeros(usize::from(counts.imu)),
            ..SensorFrame::default()
        }
    }

    /// Whether contact switch `k` is closed (false past the 8 bits).
    pub fn contact(&self, k: usize) -> bool {
        k < MAX_CONTACTS && self.contacts & (1 << k) != 0
    }
}

/// One joint's target for the robot's PD loop: `tau = kp (q* - q) - kd q' + tau_ff`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JointTarget {
    /// rad.
    pub position: f32,
    /// N·m/rad.
    pub kp: f32,
    /// N·m·s/rad.
    pub kd: f32,
    /// Feed-forward torque, N·m.
    pub tau_ff: f32,
}

/// Targets for every joint, in joint order, applied from the next physics step on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JointCommand {
    pub joints: Bounded<JointTarget, MAX_JOINTS>,
}

impl JointCommand {
    /// The position targets, rad, in joint order.
    pub fn positions(&self) -> Bounded<f32, MAX_JOINTS> {
        let mut out = Bounded::zeros(self.joints.len());
        for (p, j) in out.iter_mut().zip(&self.joints) {
            *p = j.position;
        }
        out
    }
}

/// A fault the robot reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// See [`fault`].
    pub code: u16,
    /// Meaning depends on the code (see [`fault`]).
    pub detail: u32,
}

/// Fault codes and what their `detail` carries.
pub mod fault {
    /// No command frame for longer than the watchdog; the robot dropped to Damp.
    /// Detail: ms since the last command.
    pub const WATCHDOG: u16 = 1;
    /// A JointCommand with a non-finite value or a negative gain (detail: joint index), or
    /// a SetMode with an unknown mode (detail: that value).
    pub const BAD_COMMAND: u16 = 2;
    /// A JointCommand outside Run mode; rejected. Detail: the current mode.
    pub const NOT_RUNNING: u16 = 3;
    /// A JointCommand whose gains this firmware cannot apply. Detail: joint index.
    pub const UNSUPPORTED_GAINS: u16 = 4;
    /// A command frame before a successful handshake. Detail: message type.
    pub const NO_HANDSHAKE: u16 = 5;
    /// A robot-side fault (motor driver, encoder, temperature, supply). Latched: the robot
    /// damps, sets status FAULT and refuses Hold and Run until SetMode(Disarm) clears it
    /// once the cause has gone. Detail: the firmware's own code.
    pub const HARDWARE: u16 = 6;
}

/// The robot's own link counters, sent once a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FirmwareStats {
    /// Valid frames received.
    pub rx_frames: u32,
    /// Frames rejected (CRC, COBS, length, type).
    pub rx_bad_frames: u32,
    /// Host frames missing according to the host's sequence numbers.
    pub rx_lost_frames: u32,
    /// Frames sent.
    pub tx_frames: u32,
    /// JointCommands applied.
    pub commands_applied: u32,
    /// Times the command watchdog fired.
    pub watchdog_trips: u32,
    /// ms since power-up.
    pub uptime_ms: u32,
}

/// Every message of the protocol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Message {
    /// Host → robot: start of the handshake.
    Hello(LinkInfo),
    /// Robot → host: the handshake answer.
    HelloAck(HelloAck),
    /// Robot → host, once per control tick.
    SensorFrame(SensorFrame),
    /// Host → robot, once per control tick in Run.
    JointCommand(JointCommand),
    /// Host → robot.
    SetMode(Mode),
    /// Either way: "I am alive" when there is nothing else to send.
    Heartbeat,
    /// Robot → host.
    Fault(Fault),
    /// Robot → host, once a second.
    Stats(FirmwareStats),
}

impl Message {
    pub fn kind(&self) -> MessageType {
        match self {
            Message::Hello(_) => MessageType::Hello,
            Message::HelloAck(_) => MessageType::HelloAck,
            Message::SensorFrame(_) => MessageType::SensorFrame,
            Message::JointCommand(_) => MessageType::JointCommand,
            Message::SetMode(_) => MessageType::SetMode,
            Message::Heartbeat => MessageType::Heartbeat,
            Message::Fault(_) => MessageType::Fault,
            Message::Stats(_) => MessageType::Stats,
        }
    }
}

impl MessageType {
    pub fn from_u8(kind: u8) -> Result<MessageType, FrameError> {
        Ok(match kind {
            0x01 => MessageType::Hello,
            0x02 => MessageType::HelloAck,
            0x10 => MessageType::SensorFrame,
            0x11 => MessageType::JointCommand,
            0x12 => MessageType::SetMode,
            0x20 => MessageType::Heartbeat,
            0x30 => MessageType::Fault,
            0x31 => MessageType::Stats,
            _ => return Err(FrameError::UnknownType { kind }),
        })
    }

    /// Body length in bytes in this protocol version: SensorFrame and JointCommand follow
    /// `counts`, every other type has one length.
    pub const fn body_len(self, counts: Counts) -> usize {
        match self {
            MessageType::SensorFrame => counts.sensor_body_len(),
            MessageType::JointCommand => counts.command_body_len(),
            _ => self.fixed_len(PROTOCOL_VERSION),
        }
    }

    /// Body length of a type that does not depend on the counts, in the layout of
    /// `version`: the HelloAck grew by the two counts in version 2; Hello never changed.
    const fn fixed_len(self, version: u8) -> usize {
        match self {
            MessageType::Hello => 14,
            MessageType::HelloAck if version <= 1 => 30,
            MessageType::HelloAck => 32,
            MessageType::SetMode => 1,
            MessageType::Heartbeat => 0,
            MessageType::Fault => 6,
            MessageType::Stats => 28,
            // Sized by the counts; never asked for.
            MessageType::SensorFrame | MessageType::JointCommand => 0,
        }
    }
}

/// Writes little-endian fields into a slice that is known to be long enough.
struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.bytes(&v.to_le_bytes());
    }
}

/// Reads little-endian fields from a slice whose length was checked against the type.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let out: [u8; N] = self.buf[self.at..self.at + N].try_into().unwrap_or([0; N]);
        self.at += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
    /// `n` floats (`n` ≤ `N`, checked by the caller).
    fn f32s<const N: usize>(&mut self, n: usize) -> Bounded<f32, N> {
        let mut out = Bounded::zeros(n);
        out.iter_mut().for_each(|v| *v = self.f32());
        out
    }
}

impl Header {
    pub(crate) fn write(&self, out: &mut [u8]) {
        let mut w = Writer { buf: out, at: 0 };
        w.u8(self.version);
        w.u8(self.kind);
        w.u16(self.seq);
        w.u32(self.timestamp_us);
    }

    pub(crate) fn read(bytes: &[u8]) -> Header {
        let mut r = Reader { buf: bytes, at: 0 };
        Header { version: r.u8(), kind: r.u8(), seq: r.u16(), timestamp_us: r.u32() }
    }
}

/// Writes `msg`'s body in the layout of `version` into `out` ([`MAX_BODY`] bytes or more);
/// returns its length. A SensorFrame whose `joint_vel` and `joint_pos` differ in length, or
/// a frame without joints, is refused: no receiver could size it.
pub(crate) fn write_body(msg: &Message, version: u8, out: &mut [u8]) -> Result<usize, FrameError> {
    let mut w = Writer { buf: out, at: 0 };
    match msg {
        Message::Hello(info) => write_info(&mut w, info),
        Message::HelloAck(ack) => {
            write_info(&mut w, &ack.info);
            w.bytes(&ack.firmware);
            if version > 1 {
                w.u8(ack.imu_count);
                w.u8(ack.contact_count);
            }
        }
        Message::SensorFrame(s) => {
            let n = s.joint_pos.len();
            check_joints(n)?;
            if s.joint_vel.len() != n {
                return Err(FrameError::Count {
                    field: "joint_vel",
                    found: s.joint_vel.len(),
                    min: n,
                    max: n,
                });
            }
            w.u16(s.ack_seq);
            w.u8(s.mode);
            w.u8(s.status);
            w.u8(s.contacts);
            s.joint_pos.iter().chain(s.joint_vel.iter()).chain(s.imu.iter()).for_each(|&v| w.f32(v));
        }
        Message::JointCommand(c) => {
            check_joints(c.joints.len())?;
            for j in &c.joints {
                w.f32(j.position);
                w.f32(j.kp);
                w.f32(j.kd);
                w.f32(j.tau_ff);
            }
        }
        Message::SetMode(mode) => w.u8(*mode as u8),
        Message::Heartbeat => {}
        Message::Fault(f) => {
            w.u16(f.code);
            w.u32(f.detail);
        }
        Message::Stats(s) => {
            for v in [
                s.rx_frames,
                s.rx_bad_frames,
                s.rx_lost_frames,
                s.tx_frames,
                s.commands_applied,
                s.watchdog_trips,
                s.uptime_ms,
            ] {
                w.u32(v);
            }
        }
    }
    Ok(w.at)
}

fn check_joints(n: usize) -> Result<(), FrameError> {
    if n == 0 {
        return Err(FrameError::Count { field: "joints", found: 0, min: 1, max: MAX_JOINTS });
    }
    Ok(())
}

fn write_info(w: &mut Writer<'_>, info: &LinkInfo) {
    w.u64(info.contract_id);
    w.u8(info.protocol_version);
    w.u8(info.joint_count);
    w.u16(info.physics_hz);
    w.u16(info.control_hz);
}

fn read_info(r: &mut Reader<'_>) -> LinkInfo {
    LinkInfo {
        contract_id: r.u64(),
        protocol_version: r.u8(),
        joint_count: r.u8(),
        physics_hz: r.u16(),
        control_hz: r.u16(),
    }
}

/// Checks a body's length: SensorFrame and JointCommand against `counts`; Hello and HelloAck
/// against the layout of the header's `version`, where a newer version may only have
/// appended fields (read up to what this version knows); every other type exactly.
fn check_len(kind: MessageType, version: u8, counts: Counts, found: usize) -> Result<(), FrameError> {
    let sized = matches!(kind, MessageType::SensorFrame | MessageType::JointCommand);
    if sized {
        counts.check()?;
        let expected = kind.body_len(counts);
        return if found == expected {
            Ok(())
        } else {
            Err(FrameError::LengthForCounts { kind: kind as u8, counts, expected, found })
        };
    }
    let expected = kind.fixed_len(version);
    let newer_handshake =
        version > PROTOCOL_VERSION && matches!(kind, MessageType::Hello | MessageType::HelloAck);
    if found == expected || (newer_handshake && found > expected) {
        Ok(())
    } else {
        Err(FrameError::BadLength { kind: kind as u8, expected, found })
    }
}

/// Parses a body of type `kind` from a frame of header version `version`, sized by
/// `counts`; the length is checked first.
pub(crate) fn read_body(
    kind: MessageType,
    version: u8,
    counts: Counts,
    body: &[u8],
) -> Result<Message, FrameError> {
    check_len(kind, version, counts, body.len())?;
    let mut r = Reader { buf: body, at: 0 };
    Ok(match kind {
        MessageType::Hello => Message::Hello(read_info(&mut r)),
        MessageType::HelloAck => {
            let info = read_info(&mut r);
            let firmware = r.take();
            let (imu_count, contact_count) = if version > 1 { (r.u8(), r.u8()) } else { (0, 0) };
            Message::HelloAck(HelloAck { info, firmware, imu_count, contact_count })
        }
        MessageType::SensorFrame => {
            let (n, m) = (usize::from(counts.joints), usize::from(counts.imu));
            let (ack_seq, mode, status, contacts) = (r.u16(), r.u8(), r.u8(), r.u8());
            if u32::from(contacts) >> counts.contacts != 0 {
                return Err(FrameError::BadValue { field: "contacts", value: u32::from(contacts) });
            }
            Message::SensorFrame(SensorFrame {
                ack_seq,
                mode,
                status,
                contacts,
                joint_pos: r.f32s(n),
                joint_vel: r.f32s(n),
                imu: r.f32s(m),
            })
        }
        MessageType::JointCommand => {
            let mut joints = Bounded::zeros(usize::from(counts.joints));
            for j in joints.iter_mut() {
                *j = JointTarget { position: r.f32(), kp: r.f32(), kd: r.f32(), tau_ff: r.f32() };
            }
            Message::JointCommand(JointCommand { joints })
        }
        MessageType::SetMode => Message::SetMode(Mode::from_u8(r.u8())?),
        MessageType::Heartbeat => Message::Heartbeat,
        MessageType::Fault => Message::Fault(Fault { code: r.u16(), detail: r.u32() }),
        MessageType::Stats => Message::Stats(FirmwareStats {
            rx_frames: r.u32(),
            rx_bad_frames: r.u32(),
            rx_lost_frames: r.u32(),
            tx_frames: r.u32(),
            commands_applied: r.u32(),
            watchdog_trips: r.u32(),
            uptime_ms: r.u32(),
        }),
    })
}
