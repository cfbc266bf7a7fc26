//! One frame: header + body + CRC-32C, COBS-encoded and terminated by 0x00.

use crc::{CRC_32_ISCSI, Crc, Table};

use crate::error::FrameError;
use crate::wire::{
    CRC_LEN, Counts, HEADER_LEN, Header, MAX_PAYLOAD, Message, MessageType, PROTOCOL_VERSION, read_body,
    write_body,
};

/// The CRC's lookup table: slice-by-16 (16 KiB) on the host, where speed matters and memory
/// does not; one 1 KiB table on a microcontroller. Both compute the same CRC.
#[cfg(feature = "std")]
type CrcTable = Table<16>;
#[cfg(not(feature = "std"))]
type CrcTable = Table<1>;

/// CRC-32C (Castagnoli), catalogued as CRC-32/ISCSI: poly 0x1EDC6F41, init 0xFFFFFFFF,
/// reflected in and out, xorout 0xFFFFFFFF, check("123456789") = 0xE3069283.
pub const CRC32C: Crc<u32, CrcTable> = Crc::<u32, CrcTable>::new(&CRC_32_ISCSI);

/// A decoded frame: who sent it when, and what it says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub header: Header,
    pub message: Message,
}

/// Encodes `message` as a complete wire frame (COBS bytes and the trailing 0x00) into
/// `out`; returns the number of bytes written. `out` of [`crate::MAX_FRAME`] bytes always
/// suffices. A SensorFrame or JointCommand is as long as its own values: the sender sizes
/// it by the session's counts.
pub fn encode(message: &Message, seq: u16, timestamp_us: u32, out: &mut [u8]) -> Result<usize, FrameError> {
    encode_with_version(PROTOCOL_VERSION, message, seq, timestamp_us, out)
}

/// [`encode`] with another protocol version in the header, and a HelloAck in that version's
/// layout (a robot answering an older host's Hello; tests of the version checks).
pub fn encode_with_version(
    version: u8,
    message: &Message,
    seq: u16,
    timestamp_us: u32,
    out: &mut [u8],
) -> Result<usize, FrameError> {
    let mut payload = [0u8; MAX_PAYLOAD];
    let len = write_payload(version, message, seq, timestamp_us, &mut payload)?;
    let too_small =
        FrameError::BufferTooSmall { needed: cobs::max_encoding_length(len) + 1, available: out.len() };
    let n = cobs::try_encode(&payload[..len], out).map_err(|_| too_small)?;
    *out.get_mut(n).ok_or(too_small)? = 0;
    Ok(n + 1)
}

/// Header, body and CRC before COBS (what `docs/PROTOCOL.md` calls the payload); returns
/// its length.
pub fn write_payload(
    version: u8,
    message: &Message,
    seq: u16,
    timestamp_us: u32,
    out: &mut [u8; MAX_PAYLOAD],
) -> Result<usize, FrameError> {
    let kind = message.kind() as u8;
    Header { version, kind, seq, timestamp_us }.write(&mut out[..HEADER_LEN]);
    let body = write_body(message, version, &mut out[HEADER_LEN..])?;
    let end = HEADER_LEN + body;
    let crc = CRC32C.checksum(&out[..end]);
    out[end..end + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
    Ok(end + CRC_LEN)
}

/// Checks and parses a payload (COBS already removed); SensorFrame and JointCommand bodies
/// must have the length `counts` give them.
pub fn decode_payload(payload: &[u8], counts: Counts) -> Result<Frame, FrameError> {
    if payload.len() < HEADER_LEN + CRC_LEN {
        return Err(FrameError::TooShort { len: payload.len() });
    }
    let (checked, crc) = payload.split_at(payload.len() - CRC_LEN);
    let found = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let expected = CRC32C.checksum(checked);
    if expected != found {
        return Err(FrameError::BadCrc { expected, found });
    }
    let header = Header::read(&checked[..HEADER_LEN]);
    let kind = MessageType::from_u8(header.kind)?;
    // Hello and HelloAck of every version are read (their fields only ever grow at the
    // end), so that a peer of another version can be told apart and refused by name.
    let handshake = matches!(kind, MessageType::Hello | MessageType::HelloAck);
    if header.version != PROTOCOL_VERSION && !handshake {
        return Err(FrameError::Version { expected: PROTOCOL_VERSION, found: header.version });
    }
    let message = read_body(kind, header.version, counts, &checked[HEADER_LEN..])?;
    Ok(Frame { header, message })
}

/// Decodes one frame's COBS bytes (without the 0x00 delimiter), in place.
pub fn decode_in_place(encoded: &mut [u8], counts: Counts) -> Result<Frame, FrameError> {
    let n = cobs::decode_in_place(encoded).map_err(|_| FrameError::Cobs)?;
    decode_payload(&encoded[..n], counts)
}
