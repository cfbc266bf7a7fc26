//! The codec core: round trips of every message, typed errors, and resynchronisation after
//! garbage (property tests over arbitrary byte soup and arbitrary chunking).

use proptest::prelude::*;
use strider_firmware_host::{
    Accumulator, CRC32C, Fault, Feed, FirmwareStats, Frame, FrameError, HelloAck, JOINTS, JointCommand,
    JointTarget, LinkInfo, MAX_FRAME, Message, Mode, PROTOCOL_VERSION, SensorFrame, encode,
    encode_with_version,
};

fn wire(message: &Message, seq: u16, ts: u32) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    let n = encode(message, seq, ts, &mut buf).expect("MAX_FRAME always suffices");
    buf[..n].to_vec()
}

/// Every frame and error the accumulator yields for `bytes` fed in `chunks`-sized pieces.
fn feed_all(acc: &mut Accumulator, bytes: &[u8], chunk: usize) -> Vec<Result<Frame, FrameError>> {
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        let mut rest = piece;
        loop {
            match acc.feed(rest) {
                Feed::Consumed => break,
                Feed::Frame { frame, remaining } => {
                    out.push(Ok(frame));
                    rest = remaining;
                }
                Feed::Error { error, remaining } => {
                    out.push(Err(error));
                    rest = remaining;
                }
            }
        }
    }
    out
}

fn finite() -> impl Strategy<Value = f32> {
    -1.0e6f32..1.0e6f32
}

fn info() -> impl Strategy<Value = LinkInfo> {
    (any::<u64>(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()).prop_map(|(c, v, j, p, k)| {
        LinkInfo { contract_id: c, protocol_version: v, joint_count: j, physics_hz: p, control_hz: k }
    })
}

fn message() -> impl Strategy<Value = Message> {
    let joints = proptest::array::uniform6((finite(), finite(), finite(), finite()));
    prop_oneof![
        info().prop_map(Message::Hello),
        (info(), any::<[u8; 16]>())
            .prop_map(|(info, firmware)| Message::HelloAck(HelloAck { info, firmware })),
        (
            any::<(u16, u8, u8, u8)>(),
            proptest::array::uniform6(finite()),
            proptest::array::uniform6(finite()),
            finite(),
            finite()
        )
            .prop_map(
                |((ack_seq, mode, status, contacts), joint_pos, joint_vel, pitch, pitch_rate)| {
                    Message::SensorFrame(SensorFrame {
                        ack_seq,
                        mode,
                        status,
                        contacts,
                        joint_pos,
                        joint_vel,
                        pitch,
                        pitch_rate,
                    })
                }
            ),
        joints.prop_map(|j| Message::JointCommand(JointCommand {
            joints: j.map(|(position, kp, kd, tau_ff)| JointTarget { position, kp, kd, tau_ff }),
        })),
        prop_oneof![Just(Mode::Disarm), Just(Mode::Damp), Just(Mode::Hold), Just(Mode::Run)]
            .prop_map(Message::SetMode),
        Just(Message::Heartbeat),
        any::<(u16, u32)>().prop_map(|(code, detail)| Message::Fault(Fault { code, detail })),
        any::<[u32; 7]>().prop_map(|v| Message::Stats(FirmwareStats {
            rx_frames: v[0],
            rx_bad_frames: v[1],
            rx_lost_frames: v[2],
            tx_frames: v[3],
            commands_applied: v[4],
            watchdog_trips: v[5],
            uptime_ms: v[6],
        })),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(msg in message(), seq in any::<u16>(), ts in any::<u32>(), chunk in 1usize..130) {
        let bytes = wire(&msg, seq, ts);
        prop_assert!(bytes.len() <= MAX_FRAME);
        prop_assert_eq!(bytes.iter().filter(|&&b| b == 0).count(), 1, "0x00 only as the delimiter");
        let got = feed_all(&mut Accumulator::new(), &bytes, chunk);
        prop_assert_eq!(got.len(), 1);
        let frame = got[0].expect("a valid frame");
        prop_assert_eq!(frame.message, msg);
        prop_assert_eq!((frame.header.seq, frame.header.timestamp_us), (seq, ts));
        prop_assert_eq!(frame.header.version, PROTOCOL_VERSION);
    }

    /// Any soup, then a delimiter, then a frame: no panic, and the frame comes out last.
    #[test]
    fn byte_soup_never_panics_and_the_next_frame_is_recovered(
        soup in proptest::collection::vec(any::<u8>(), 0..600),
        msg in message(),
        chunk in 1usize..200,
    ) {
        let mut bytes = soup;
        bytes.push(0);
        bytes.extend(wire(&msg, 7, 9));
        let got = feed_all(&mut Accumulator::new(), &bytes, chunk);
        let last = got.last().expect("at least the frame").expect("the frame after garbage decodes");
        prop_assert_eq!(last.message, msg);
    }

    /// Without a delimiter after the garbage the frame glued to it is lost, never the next one.
    #[test]
    fn garbage_costs_at_most_the_frame_it_touches(
        soup in proptest::collection::vec(any::<u8>(), 0..600),
        a in message(),
        b in message(),
        chunk in 1usize..200,
    ) {
        let mut bytes = soup;
        bytes.extend(wire(&a, 1, 1));
        bytes.extend(wire(&b, 2, 2));
        let got = feed_all(&mut Accumulator::new(), &bytes, chunk);
        let last = got.last().expect("a result").expect("the second frame decodes");
        prop_assert_eq!(last.message, b);
        prop_assert_eq!(last.header.seq, 2);
    }

    /// One corrupted byte in a frame is always detected (CRC-32C catches every burst ≤ 32 bits).
    #[test]
    fn a_corrupted_byte_is_always_detected(msg in message(), at in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let mut bytes = wire(&msg, 3, 4);
        let i = at.index(bytes.len() - 1);
        bytes[i] ^= xor;
        let got = feed_all(&mut Accumulator::new(), &bytes, 64);
        prop_assert!(got.iter().all(|r| r.is_err()), "corruption at {} accepted: {:?}", i, got);
    }
}

#[test]
fn crc_is_crc32c_with_the_catalogue_check_value() {
    assert_eq!(CRC32C.checksum(b"123456789"), 0xE306_9283);
}

#[test]
fn a_bad_crc_reports_both_values() {
    let mut bytes = wire(&Message::Heartbeat, 300, 46_000_000);
    // Heartbeat's wire bytes: code byte, 12 payload bytes, 0x00. Flip a CRC byte (non-zero either way).
    let n = bytes.len();
    bytes[n - 2] ^= 0x01;
    let got = feed_all(&mut Accumulator::new(), &bytes, 64);
    match got[..] {
        [Err(FrameError::BadCrc { expected, found })] => {
            assert_eq!(expected ^ found, 0x0100_0000, "the flipped bit is the CRC's top byte's lowest");
        }
        ref other => panic!("expected one BadCrc, got {other:?}"),
    }
}

#[test]
fn another_protocol_version_is_rejected_except_for_the_handshake() {
    let mut buf = [0u8; MAX_FRAME];
    let n = encode_with_version(2, &Message::Heartbeat, 1, 1, &mut buf).unwrap();
    let got = feed_all(&mut Accumulator::new(), &buf[..n], 64);
    assert_eq!(got, vec![Err(FrameError::Version { expected: PROTOCOL_VERSION, found: 2 })]);

    let hello = Message::Hello(LinkInfo {
        contract_id: 1,
        protocol_version: 2,
        joint_count: JOINTS as u8,
        physics_hz: 500,
        control_hz: 50,
    });
    let n = encode_with_version(2, &hello, 1, 1, &mut buf).unwrap();
    let got = feed_all(&mut Accumulator::new(), &buf[..n], 64);
    assert_eq!(got[0].unwrap().message, hello);
}

#[test]
fn an_overlong_run_without_delimiter_is_one_error_then_sync_is_back() {
    let mut bytes = vec![0x55u8; 5 * MAX_FRAME];
    bytes.extend(wire(&Message::SetMode(Mode::Damp), 5, 6));
    let got = feed_all(&mut Accumulator::new(), &bytes, 37);
    // The garbage and the frame glued to it form one overlong candidate; nothing after is lost.
    assert_eq!(got, vec![Err(FrameError::TooLong { limit: MAX_FRAME })]);
    let got = feed_all(&mut Accumulator::new(), &[&bytes[..], &wire(&Message::Heartbeat, 6, 7)].concat(), 37);
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].unwrap().message, Message::Heartbeat);
}

#[test]
fn wrong_length_unknown_type_and_bad_mode_are_typed_errors() {
    // Build payloads by hand (header | body | crc), COBS them, and feed them.
    let frame_of = |kind: u8, body: &[u8]| {
        let mut p = vec![PROTOCOL_VERSION, kind, 0, 0, 0, 0, 0, 0];
        p.extend_from_slice(body);
        p.extend_from_slice(&CRC32C.checksum(&p).to_le_bytes());
        let mut out = vec![0u8; p.len() + 2];
        let n = cobs::encode(&p, &mut out);
        out.truncate(n);
        out.push(0);
        feed_all(&mut Accumulator::new(), &out, 64)
    };
    assert_eq!(
        frame_of(0x12, &[3, 3]),
        vec![Err(FrameError::BadLength { kind: 0x12, expected: 1, found: 2 })]
    );
    assert_eq!(frame_of(0x7f, &[]), vec![Err(FrameError::UnknownType { kind: 0x7f })]);
    assert_eq!(frame_of(0x12, &[9]), vec![Err(FrameError::BadValue { field: "mode", value: 9 })]);
    assert_eq!(frame_of(0x20, &[]).len(), 1, "a hand-built heartbeat decodes");
    assert!(frame_of(0x20, &[])[0].is_ok());
}

#[test]
fn too_short_and_invalid_cobs_are_typed_errors() {
    let got = feed_all(&mut Accumulator::new(), &[0x03, 0x01, 0x02, 0x00], 8);
    assert_eq!(got, vec![Err(FrameError::TooShort { len: 2 })]);
    let got = feed_all(&mut Accumulator::new(), &[0x09, 0x01, 0x00], 8);
    assert_eq!(got, vec![Err(FrameError::Cobs)]);
}

#[test]
fn a_small_output_buffer_is_an_error_not_a_panic() {
    let mut small = [0u8; 20];
    let err = encode(&Message::JointCommand(JointCommand::default()), 0, 0, &mut small).unwrap_err();
    assert!(matches!(err, FrameError::BufferTooSmall { available: 20, .. }), "{err:?}");
}

/// 10^5 command / sensor exchanges through encoder and accumulator, in process: every field
/// survives. (The same exchange over a real pseudo-terminal runs in the link tests.)
#[test]
fn a_hundred_thousand_round_trips_carry_exact_data() {
    let mut robot_rx: Accumulator = Accumulator::new();
    let mut host_rx: Accumulator = Accumulator::new();
    for i in 0..100_000u32 {
        let x = i as f32 * 1e-3;
        let cmd = JointCommand {
            joints: std::array::from_fn(|j| JointTarget {
                position: x.sin() + j as f32,
                kp: 300.0,
                kd: 30.0,
                tau_ff: x.cos(),
            }),
        };
        let seq = i as u16;
        let got = feed_all(&mut robot_rx, &wire(&Message::JointCommand(cmd), seq, i), 64);
        assert_eq!(
            got,
            vec![Ok(Frame { header: header(0x11, seq, i), message: Message::JointCommand(cmd) })]
        );
        let sensors = SensorFrame {
            ack_seq: seq,
            mode: 3,
            status: 0,
            contacts: (i % 4) as u8,
            joint_pos: cmd.joints.map(|j| j.position),
            joint_vel: cmd.joints.map(|j| j.tau_ff),
            pitch: x,
            pitch_rate: -x,
        };
        let got = feed_all(&mut host_rx, &wire(&Message::SensorFrame(sensors), seq, i), 64);
        assert_eq!(
            got,
            vec![Ok(Frame { header: header(0x10, seq, i), message: Message::SensorFrame(sensors) })]
        );
    }
}

fn header(kind: u8, seq: u16, ts: u32) -> strider_firmware_host::Header {
    strider_firmware_host::Header { version: PROTOCOL_VERSION, kind, seq, timestamp_us: ts }
}

/// `docs/PROTOCOL.md` "Sizes and rates" and `docs/BENCHMARKS.md` quote these: COBS adds
/// exactly one byte to a payload under 254 bytes, plus the delimiter.
#[test]
fn wire_sizes_are_payload_plus_two() {
    let sensor = Message::SensorFrame(SensorFrame::default());
    let command = Message::JointCommand(JointCommand::default());
    assert_eq!(wire(&sensor, 0, 0).len(), 75);
    assert_eq!(wire(&command, 0, 0).len(), 110);
    assert_eq!(MAX_FRAME, 110);
}
