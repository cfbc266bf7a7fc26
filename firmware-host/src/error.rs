//! What can be wrong with bytes received on the link. `no_std`: no allocation, `Copy`.

use core::fmt;

use crate::wire::Counts;

/// Why a frame was not accepted. Every variant says what was found; the accumulator has
/// already resynchronised (at the next 0x00) when it reports one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The CRC-32C computed over header and body differs from the one in the frame.
    BadCrc { expected: u32, found: u32 },
    /// The bytes between two delimiters are not valid COBS.
    Cobs,
    /// Fewer bytes than a header and a CRC.
    TooShort { len: usize },
    /// No delimiter within `limit` bytes: garbage or a lost delimiter; dropped up to the next 0x00.
    TooLong { limit: usize },
    /// A message type this protocol version does not define.
    UnknownType { kind: u8 },
    /// A known message type whose body has the wrong length.
    BadLength { kind: u8, expected: usize, found: usize },
    /// A SensorFrame or JointCommand whose body is not the length the session's counts (the
    /// HelloAck's joints, IMU fields and contacts) give it.
    LengthForCounts { kind: u8, counts: Counts, expected: usize, found: usize },
    /// A count the protocol cannot carry (joints 1–24, IMU fields 0–8, contacts 0–8), or a
    /// SensorFrame whose `joint_vel` has another length than its `joint_pos`.
    Count { field: &'static str, found: usize, min: usize, max: usize },
    /// A frame (other than Hello / HelloAck) from another protocol version.
    Version { expected: u8, found: u8 },
    /// A field holds a value outside its range (e.g. mode 7).
    BadValue { field: &'static str, value: u32 },
    /// The caller's output buffer cannot hold the encoded frame.
    BufferTooSmall { needed: usize, available: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FrameError::BadCrc { expected, found } => {
                write!(f, "bad CRC-32C: computed {expected:#010x}, frame carries {found:#010x}")
            }
            FrameError::Cobs => write!(f, "invalid COBS encoding"),
            FrameError::TooShort { len } => write!(f, "frame of {len} bytes is shorter than header + CRC"),
            FrameError::TooLong { limit } => write!(f, "no frame delimiter within {limit} bytes"),
            FrameError::UnknownType { kind } => write!(f, "unknown message type {kind:#04x}"),
            FrameError::BadLength { kind, expected, found } => {
                write!(f, "message type {kind:#04x}: body of {found} bytes, expected {expected}")
            }
            FrameError::LengthForCounts { kind, counts, expected, found } => write!(
                f,
                "message type {kind:#04x}: body of {found} bytes, expected {expected} for the handshake's {counts}"
            ),
            FrameError::Count { field, found, min, max } if min == max => {
                write!(f, "{field}: {found}, expected {min}")
            }
            FrameError::Count { field, found, min, max } => {
                write!(f, "{field}: {found}, the protocol carries {min} to {max}")
            }
            FrameError::Version { expected, found } => {
                write!(f, "protocol version {found}, expected {expected}")
            }
            FrameError::BadValue { field, value } => write!(f, "{field} = {value} is out of range"),
            FrameError::BufferTooSmall { needed, available } => {
                write!(f, "output buffer of {available} bytes, frame needs {needed}")
            }
        }
    }
}

impl core::error::Error for FrameError {}
