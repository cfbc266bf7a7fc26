//! The messages and their bodies, byte for byte as `docs/PROTOCOL.md` lists them.
//! All integers and floats are little-endian; floats are IEEE-754 binary32.

use crate::error::FrameError;

/// The version this crate speaks. Bumped on any change to a header or body layout.
pub const PROTOCOL_VERSION: u8 = 1;
/// Joints per frame in protocol version 1 (the planar biped contract).
pub const JOINTS: usize = 6;
/// version u8, type u8, sequence u16, timestamp u32.
pub const HEADER_LEN: usize = 8;
/// CRC-32C, little-endian, after the body.
pub const CRC_LEN: usize = 4;
/// The longest body (JointCommand).
pub const MAX_BODY: usize = JOINTS * 16;
/// Header + longest body + CRC, before COBS.
pub const MAX_PAYLOAD: usize = HEADER_LEN + MAX_BODY + CRC_LEN;
/// The longest frame on the wire: COBS adds one byte per started 254, plus the 0x00 delimiter.
pub const MAX_FRAME: usize = MAX_PAYLOAD + MAX_PAYLOAD.div_ceil(254) + 1;

/// The frame header, in front of every body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Protocol version of the sender.
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
/// robot's HelloAck says what it is. Laid out identically in every protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkInfo {
    /// First 64 bits of the robot contract's SHA-256 (see `strider robot show`).
    pub contract_id: u64,
    pub protocol_version: u8,
    pub joint_count: u8,
    /// PD loop / physics rate, Hz.
    pub physics_hz: u16,
    /// Control tick (sensor frame) rate, Hz.
    pub control_hz: u16,
}

/// The robot's answer to Hello: what it is, and which firmware it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloAck {
    pub info: LinkInfo,
    /// Firmware name and version, ASCII, zero-padded.
    pub firmware: [u8; 16],
}

impl HelloAck {
    /// The firmware string up to its first zero byte (non-ASCII bytes as they are).
    pub fn firmware_str(&self) -> &str {
        let end = self.firmware.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.firmware[..end]).unwrap_or("<not ascii>")
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

/// What the robot measured at the end of a control tick.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SensorFrame {
    /// Sequence number of the last command frame (JointCommand or SetMode) handled, applied
    /// or rejected.
    pub ack_seq: u16,
    /// Mode code (see [`Mode`]) during the tick.
    pub mode: u8,
    /// [`status`] bits.
    pub status: u8,
    /// Contact switches: bit 0 right foot, bit 1 left foot.
    pub contacts: u8,
    /// rad, joint order.
    pub joint_pos: [f32; JOINTS],
    /// rad/s.
    pub joint_vel: [f32; JOINTS],
    /// IMU link pitch, rad, counter-clockwise positive.
    pub pitch: f32,
    /// rad/s.
    pub pitch_rate: f32,
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

/// Targets for every joint, applied from the next physics step on.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct JointCommand {
    pub joints: [JointTarget; JOINTS],
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

/// Every message of protocol version 1.
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

    /// Body length in bytes; every message type has a fixed length.
    pub const fn body_len(self) -> usize {
        match self {
            MessageType::Hello => 14,
            MessageType::HelloAck => 30,
            MessageType::SensorFrame => 61,
            MessageType::JointCommand => JOINTS * 16,
            MessageType::SetMode => 1,
            MessageType::Heartbeat => 0,
            MessageType::Fault => 6,
            MessageType::Stats => 28,
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
    fn f32s<const N: usize>(&mut self) -> [f32; N] {
        core::array::from_fn(|_| self.f32())
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

/// Writes `msg`'s body into `out` (at least `msg.kind().body_len()` bytes); returns its length.
pub(crate) fn write_body(msg: &Message, out: &mut [u8]) -> usize {
    let mut w = Writer { buf: out, at: 0 };
    match msg {
        Message::Hello(info) => write_info(&mut w, info),
        Message::HelloAck(ack) => {
            write_info(&mut w, &ack.info);
            w.bytes(&ack.firmware);
        }
        Message::SensorFrame(s) => {
            w.u16(s.ack_seq);
            w.u8(s.mode);
            w.u8(s.status);
            w.u8(s.contacts);
            s.joint_pos.iter().chain(&s.joint_vel).for_each(|&v| w.f32(v));
            w.f32(s.pitch);
            w.f32(s.pitch_rate);
        }
        Message::JointCommand(c) => {
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
    w.at
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

/// Parses a body of type `kind`; the length is checked first.
pub(crate) fn read_body(kind: MessageType, body: &[u8]) -> Result<Message, FrameError> {
    let expected = kind.body_len();
    if body.len() != expected {
        return Err(FrameError::BadLength { kind: kind as u8, expected, found: body.len() });
    }
    let mut r = Reader { buf: body, at: 0 };
    Ok(match kind {
        MessageType::Hello => Message::Hello(read_info(&mut r)),
        MessageType::HelloAck => Message::HelloAck(HelloAck { info: read_info(&mut r), firmware: r.take() }),
        MessageType::SensorFrame => Message::SensorFrame(SensorFrame {
            ack_seq: r.u16(),
            mode: r.u8(),
            status: r.u8(),
            contacts: r.u8(),
            joint_pos: r.f32s(),
            joint_vel: r.f32s(),
            pitch: r.f32(),
            pitch_rate: r.f32(),
        }),
        MessageType::JointCommand => Message::JointCommand(JointCommand {
            joints: core::array::from_fn(|_| JointTarget {
                position: r.f32(),
                kp: r.f32(),
                kd: r.f32(),
                tau_ff: r.f32(),
            }),
        }),
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
