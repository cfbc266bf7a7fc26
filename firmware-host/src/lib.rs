//! The serial link to the robot.
//!
//! This crate owns the wire: the frame format of `docs/PROTOCOL.md` (COBS framing, a
//! versioned header, CRC-32C), the typed messages, whose SensorFrame and JointCommand
//! bodies are sized by the joint, IMU and contact [`Counts`] the robot announces in the
//! handshake (any layout up to [`MAX_JOINTS`] joints), and — with the `std` feature — the host
//! driver that speaks them over a serial port ([`link::SerialLink`], which implements
//! `strider_robot::Plant`) and a virtual robot that speaks them over a pseudo-terminal
//! ([`virtual_robot`]). It never decides what to send: the caller (the real-time
//! controller, `strider-controller`; `strider link probe`) decides; the robot contract (`strider-robot`) says what the numbers mean.
//!
//! Without `std` the crate is a `no_std`, allocation-free codec ([`encode`],
//! [`Accumulator`]; variable-length bodies live in fixed-capacity [`Bounded`] lists) that a
//! microcontroller firmware can use unchanged.

#![cfg_attr(not(feature = "std"), no_std)]

mod accumulator;
mod bounded;
mod error;
mod frame;
mod wire;

#[cfg(feature = "std")]
pub mod ftdi;
#[cfg(feature = "std")]
pub mod link;
#[cfg(feature = "std")]
mod link_error;
#[cfg(feature = "std")]
pub mod virtual_robot;

pub use accumulator::{Accumulator, Feed};
pub use bounded::Bounded;
pub use error::FrameError;
pub use frame::{CRC32C, Frame, decode_in_place, decode_payload, encode, encode_with_version, write_payload};
#[cfg(feature = "std")]
pub use link_error::LinkError;
pub use wire::{
    CRC_LEN, Counts, Fault, FirmwareStats, HEADER_LEN, Header, HelloAck, JointCommand, JointTarget, LinkInfo,
    MAX_BODY, MAX_CONTACTS, MAX_FRAME, MAX_IMU_FIELDS, MAX_JOINTS, MAX_PAYLOAD, Message, MessageType, Mode,
    PROTOCOL_VERSION, SensorFrame, fault, status,
};
