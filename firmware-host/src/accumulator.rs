//! Bytes in arbitrary chunks → frames and typed errors. Allocation-free: one fixed buffer.

use crate::error::FrameError;
use crate::frame::{Frame, decode_in_place};
use crate::wire::{Counts, MAX_FRAME};

/// Collects bytes up to each 0x00 delimiter and decodes what lies between, sizing
/// SensorFrame and JointCommand bodies by the session's [`Counts`].
///
/// Garbage costs at most the frame it is glued to: whatever precedes a delimiter is one
/// candidate frame, so decoding resumes cleanly after the next 0x00. Empty frames (0x00
/// 0x00) are skipped silently, so a sender may prefix a frame with 0x00 to cut off garbage.
#[derive(Debug, Clone)]
pub struct Accumulator<const N: usize = MAX_FRAME> {
    buf: [u8; N],
    len: usize,
    /// More than `N` bytes since the last delimiter: discard until the next one.
    overflowed: bool,
    counts: Counts,
}

/// The outcome of [`Accumulator::feed`]. Call `feed` again with `remaining` until `Consumed`.
// The frame is returned inline, as large as the largest layout makes it: the codec never
// allocates.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Feed<'a> {
    /// The whole chunk was taken in; no frame ended in it.
    Consumed,
    /// A frame ended; `remaining` is the rest of the chunk.
    Frame { frame: Frame, remaining: &'a [u8] },
    /// A candidate frame ended but was rejected; `remaining` is the rest of the chunk.
    Error { error: FrameError, remaining: &'a [u8] },
}

impl<const N: usize> Accumulator<N> {
    /// A receiver for a session with `counts` (a robot knows its own; a host expects those of
    /// its robot description). `N` of [`Counts::max_frame_len`] bytes suffices for them.
    pub const fn new(counts: Counts) -> Self {
        Accumulator { buf: [0; N], len: 0, overflowed: false, counts }
    }

    /// The counts SensorFrame and JointCommand bodies are sized by.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Drops any partial frame (after a reconnect, for instance).
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    /// Takes bytes from `chunk` up to the end of the first frame in it.
    pub fn feed<'a>(&mut self, chunk: &'a [u8]) -> Feed<'a> {
        let mut rest = chunk;
        loop {
            let Some(end) = rest.iter().position(|&b| b == 0) else {
                self.push(rest);
                return Feed::Consumed;
            };
            self.push(&rest[..end]);
            rest = &rest[end + 1..];
            if self.len == 0 && !self.overflowed {
                continue; // an empty frame: padding or a flush
            }
            let result = self.finish();
            return match result {
                Ok(frame) => Feed::Frame { frame, remaining: rest },
                Err(error) => Feed::Error { error, remaining: rest },
            };
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.overflowed {
            return;
        }
        let room = N - self.len;
        if bytes.len() > room {
            self.overflowed = true;
            return;
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn finish(&mut self) -> Result<Frame, FrameError> {
        let result = if self.overflowed {
            Err(FrameError::TooLong { limit: N })
        } else {
            decode_in_place(&mut self.buf[..self.len], self.counts)
        };
        self.reset();
        result
    }
}
