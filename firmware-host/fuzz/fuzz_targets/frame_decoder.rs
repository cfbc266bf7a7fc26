//! The frame decoder on arbitrary bytes, fed in arbitrary chunks: it must never panic, and
//! every frame it accepts must re-encode to exactly the payload it was decoded from.
//!
//! `cargo +nightly fuzz run frame_decoder` (from `firmware-host/`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use strider_firmware_host::{Accumulator, Feed, MAX_PAYLOAD, decode_payload, write_payload};

fuzz_target!(|data: &[u8]| {
    // First byte: chunk size for the accumulator; the rest: the stream.
    let Some((&chunk, stream)) = data.split_first() else { return };
    let mut acc: Accumulator = Accumulator::new();
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
    if let Ok(frame) = decode_payload(stream) {
        let mut again = [0u8; MAX_PAYLOAD];
        let h = frame.header;
        let n = write_payload(h.version, &frame.message, h.seq, h.timestamp_us, &mut again);
        assert_eq!(&again[..n], stream, "an accepted payload re-encodes to itself");
    }
});
