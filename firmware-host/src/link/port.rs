//! One open port: a reader thread (bytes → frames, counted) and a writer thread (frames →
//! bytes). The caller talks to them through channels and never blocks on the port itself.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use serialport::SerialPort;

use crate::accumulator::{Accumulator, Feed};
use crate::frame::Frame;
use crate::link::stats::{LinkStats, SeqTracker};
use crate::link_error::LinkError;
use crate::wire::Counts;

/// What the reader hands to the caller.
// Frames travel inline, as the codec yields them, rather than one allocation each.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A valid frame.
    Frame(Frame),
    /// The port failed (unplugged, EIO); the connection is over.
    Closed(String),
}

/// Both threads of one open port. Dropping it stops them and closes the port.
pub(crate) struct Connection {
    pub(crate) stats: Arc<Mutex<LinkStats>>,
    pub(crate) outbound: Option<Sender<Vec<u8>>>,
    pub(crate) inbound: Receiver<Inbound>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// How long a blocked read waits before checking whether to stop.
const READ_POLL: Duration = Duration::from_millis(5);

/// Opens `path`; the reader sizes SensorFrames by `counts`, those the host expects (a robot
/// that announces others is refused in the handshake, whose frames do not depend on them).
pub(crate) fn open(
    path: &str,
    baud: u32,
    counts: Counts,
    stats: Arc<Mutex<LinkStats>>,
) -> Result<Connection, LinkError> {
    let open_err = |e: serialport::Error| LinkError::Open { port: path.to_string(), message: e.to_string() };
    let mut reader = serialport::new(path, baud).timeout(READ_POLL).open().map_err(open_err)?;
    // Clear whatever the line held before we came; a lone 0x00 ends any partial frame at the robot.
    let _ = reader.clear(serialport::ClearBuffer::All);
    let writer = reader.try_clone().map_err(open_err)?;

    let (in_tx, inbound) = unbounded();
    // Bounded: a caller that outruns the port blocks instead of queueing stale commands.
    let (out_tx, out_rx) = bounded::<Vec<u8>>(8);
    let stop = Arc::new(AtomicBool::new(false));
    let _ = out_tx.send(vec![0]);

    let reader_thread = {
        let (stop, in_tx) = (stop.clone(), in_tx.clone());
        std::thread::Builder::new()
            .name("link-reader".into())
            .spawn({
                let stats = stats.clone();
                move || read_loop(&mut *reader, counts, &in_tx, &stats, &stop)
            })
            .map_err(|e| LinkError::Open { port: path.to_string(), message: e.to_string() })?
    };
    let writer_thread = std::thread::Builder::new()
        .name("link-writer".into())
        .spawn(move || write_loop(writer, &out_rx, &in_tx))
        .map_err(|e| LinkError::Open { port: path.to_string(), message: e.to_string() })?;
    Ok(Connection {
        stats,
        outbound: Some(out_tx),
        inbound,
        stop,
        threads: vec![reader_thread, writer_thread],
    })
}

fn read_loop(
    port: &mut dyn SerialPort,
    counts: Counts,
    out: &Sender<Inbound>,
    stats: &Mutex<LinkStats>,
    stop: &AtomicBool,
) {
    let mut acc: Accumulator = Accumulator::new(counts);
    let mut seq = SeqTracker::default();
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        let n = match port.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::TimedOut | ErrorKind::Interrupted | ErrorKind::WouldBlock
                ) =>
            {
                continue;
            }
            Err(e) => {
                let _ = out.send(Inbound::Closed(format!("read failed: {e}")));
                return;
            }
        };
        let mut rest = &buf[..n];
        loop {
            match acc.feed(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => {
                    rest = remaining;
                    let missing = seq.observe(frame.header.seq);
                    {
                        let mut s = stats.lock().expect("stats lock");
                        s.frames_rx += 1;
                        if missing > 0 {
                            s.seq_gaps += 1;
                            s.frames_lost += u64::from(missing);
                        }
                    }
                    if out.send(Inbound::Frame(frame)).is_err() {
                        return;
                    }
                }
                Feed::Error { error, remaining } => {
                    rest = remaining;
                    stats.lock().expect("stats lock").count_error(&error);
                }
            }
        }
    }
}

fn write_loop(mut port: Box<dyn SerialPort>, frames: &Receiver<Vec<u8>>, inbound: &Sender<Inbound>) {
    // Ends when the connection drops its sender.
    for bytes in frames {
        if let Err(e) = port.write_all(&bytes).and_then(|()| port.flush()) {
            let _ = inbound.send(Inbound::Closed(format!("write failed: {e}")));
            return;
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.outbound = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
