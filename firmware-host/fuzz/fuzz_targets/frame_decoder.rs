//! The frame decoder on arbitrary bytes, for arbitrary counts, fed in arbitrary chunks: it
//! must never panic, and every frame it accepts must re-encode to exactly the payload it
//! was decoded from (up to what its version knows, for a newer peer's handshake).
//!
//! `cargo +nightly fuzz run frame_decoder` (from `firmware-host/`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use strider_firmware_host::{
    Accumulator, CRC_LEN, Counts, Feed, MAX_PAYLOAD, PROTOCOL_VERSION, decode_payload, write_payload,
};

fuzz_target!(|data: &[u8]| {
    // Byte 0: chunk size for the accumulator; bytes 1–3: the counts (any u8, in range or
    // not); the rest: the stream.
    let Some((&[chunk, joints, imu, contacts], stream)) = data.split_first_chunk::<4>() else { return };
    let counts = Counts { joints, imu, contacts };
    let mut acc: Accumulator = Accumulator::new(counts);
    for piece in stream.chunks(usize::from(chunk).max(1)) {
        let mut rest = piece;
        loop {
            match acc.feed(rest) {
                Feed::Consumed => break,
                Feed::Frame { remaining, .. } | Feed::Error { remaining, .. } => rest = remaining,
            }
        }
    }

    // The whole input as one payload (COBS already removed).
    if let Ok(frame) = decode_payload(stream, counts) {
        let mut again = [0u8; MAX_PAYLOAD];
        let h = frame.header;
        let n = write_payload(h.version, &frame.message, h.seq, h.timestamp_us, &mut again)
            .expect("an accepted frame re-encodes");
        if h.version > PROTOCOL_VERSION {
            // A newer Hello / HelloAck may carry fields past those this version reads.
            assert_eq!(&again[..n - CRC_LEN], &stream[..n - CRC_LEN], "what this version knows re-encodes");
        } else {
            assert_eq!(&again[..n], stream, "an accepted payload re-encodes to itself");
        }
    }
});
