//! The codec core: round trips of every message for any robot layout, typed errors, and
//! resynchronisation after garbage (property tests over arbitrary layouts, byte soup and
//! chunking).

use proptest::collection::vec;
use proptest::prelude::*;
use strider_firmware_host::{
    Accumulator, Bounded, CRC32C, Counts, Fault, Feed, FirmwareStats, Frame, FrameError, HelloAck,
    JointCommand, JointTarget, LinkInfo, MAX_CONTACTS, MAX_FRAME, MAX_IMU_FIELDS, MAX_JOINTS, MAX_PAYLOAD,
    Message, MessageType, Mode, PROTOCOL_VERSION, SensorFrame, decode_payload, encode, encode_with_version,
    write_payload,
};
use strider_robot::RobotSpec;

fn wire(message: &Message, seq: u16, ts: u32) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    let n = encode(message, seq, ts, &mut buf).expect("MAX_FRAME always suffices");
    buf[..n].to_vec()
}

/// The reference biped's counts: 6 joints, pitch and pitch rate, 2 contacts.
fn biped() -> Counts {
    Counts::of(&RobotSpec::reference().layout()).unwrap()
}

/// Every frame and error the accumulator yields for `bytes` fed in `chunk`-sized pieces.
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

/// Any layout the protocol carries: 1–24 joints, 0–8 IMU fields, 0–8 contacts.
fn counts() -> impl Strategy<Value = Counts> {
    (1..=MAX_JOINTS, 0..=MAX_IMU_FIELDS, 0..=MAX_CONTACTS).prop_map(|(j, i, c)| Counts::new(j, i, c).unwrap())
}

fn info() -> impl Strategy<Value = LinkInfo> {
    (any::<u64>(), any::<u8>(), any::<u8>(), any::<u16>(), any::<u16>()).prop_map(|(c, v, j, p, k)| {
        LinkInfo { contract_id: c, protocol_version: v, joint_count: j, physics_hz: p, control_hz: k }
    })
}

/// A SensorFrame sized by `c`, with only the contact bits `c` has.
fn sensor_frame(c: Counts) -> impl Strategy<Value = SensorFrame> {
    let (n, m) = (usize::from(c.joints), usize::from(c.imu));
    (any::<(u16, u8, u8)>(), 0u16..(1 << c.contacts), vec(finite(), n), vec(finite(), n), vec(finite(), m))
        .prop_map(|((ack_seq, mode, status), contacts, pos, vel, imu)| SensorFrame {
            ack_seq,
            mode,
            status,
            contacts: contacts as u8,
            joint_pos: Bounded::from_slice(&pos),
            joint_vel: Bounded::from_slice(&vel),
            imu: Bounded::from_slice(&imu),
        })
}

/// A JointCommand sized by `c`.
fn joint_command(c: Counts) -> impl Strategy<Value = JointCommand> {
    vec((finite(), finite(), finite(), finite()), usize::from(c.joints)).prop_map(|targets| {
        let targets: Vec<JointTarget> = targets
            .into_iter()
            .map(|(position, kp, kd, tau_ff)| JointTarget { position, kp, kd, tau_ff })
            .collect();
        JointCommand { joints: Bounded::from_slice(&targets) }
    })
}

/// Any message of a session with counts `c`.
fn message(c: Counts) -> impl Strategy<Value = Message> {
    prop_oneof![
        info().prop_map(Message::Hello),
        (info(), any::<[u8; 16]>(), any::<(u8, u8)>()).prop_map(
            |(info, firmware, (imu_count, contact_count))| {
                Message::HelloAck(HelloAck { info, firmware, imu_count, contact_count })
            }
        ),
        sensor_frame(c).prop_map(Message::SensorFrame),
        joint_command(c).prop_map(Message::JointCommand),
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

/// A layout and a message of a session with it.
fn session_message() -> impl Strategy<Value = (Counts, Message)> {
    counts().prop_flat_map(|c| (Just(c), message(c)))
}

proptest! {
    #[test]
    fn every_message_round_trips(
        (counts, msg) in session_message(),
        seq in any::<u16>(),
        ts in any::<u32>(),
        chunk in 1usize..130,
    ) {
        let bytes = wire(&msg, seq, ts);
        prop_assert!(bytes.len() <= counts.max_frame_len() && bytes.len() <= MAX_FRAME);
        prop_assert_eq!(bytes.iter().filter(|&&b| b == 0).count(), 1, "0x00 only as the delimiter");
        let got = feed_all(&mut Accumulator::new(counts), &bytes, chunk);
        prop_assert_eq!(got.len(), 1);
        let frame = got[0].expect("a valid frame");
        prop_assert_eq!(frame.message, msg);
        prop_assert_eq!((frame.header.seq, frame.header.timestamp_us), (seq, ts));
        prop_assert_eq!(frame.header.version, PROTOCOL_VERSION);
    }

    /// Any robot's layout (1–24 joints, 0–8 IMU fields, 0–8 contacts): a SensorFrame and a
    /// JointCommand sized by it go through encode → accumulator → decode unchanged, each
    /// exactly as long as the counts say.
    #[test]
    fn any_layout_round_trips_sensor_frames_and_joint_commands(
        (counts, sensors, command) in counts().prop_flat_map(|c| (Just(c), sensor_frame(c), joint_command(c))),
        chunk in 1usize..300,
    ) {
        let mut acc = Accumulator::new(counts);
        for (msg, body) in [
            (Message::SensorFrame(sensors), counts.sensor_body_len()),
            (Message::JointCommand(command), counts.command_body_len()),
        ] {
            let mut payload = [0u8; MAX_PAYLOAD];
            let n = write_payload(PROTOCOL_VERSION, &msg, 5, 6, &mut payload).unwrap();
            prop_assert_eq!(n, 8 + body + 4, "header + body sized by {} + CRC", counts);
            prop_assert_eq!(body, msg.kind().body_len(counts));
            let got = feed_all(&mut acc, &wire(&msg, 5, 6), chunk);
            prop_assert_eq!(got.len(), 1);
            prop_assert_eq!(got[0].map(|f| f.message), Ok(msg));
        }
    }

    /// A frame sized for one layout is refused by a receiver of another, naming both lengths.
    #[test]
    fn a_body_of_other_counts_is_a_length_error((counts, msg) in session_message(), other in counts()) {
        let kind = msg.kind();
        prop_assume!(matches!(kind, MessageType::SensorFrame | MessageType::JointCommand));
        let (expected, found) = (kind.body_len(other), kind.body_len(counts));
        prop_assume!(expected != found);
        let got = feed_all(&mut Accumulator::new(other), &wire(&msg, 1, 2), 64);
        let error = FrameError::LengthForCounts { kind: kind as u8, counts: other, expected, found };
        prop_assert_eq!(got, vec![Err(error)]);
    }

    /// Any soup, then a delimiter, then a frame: no panic, and the frame comes out last.
    #[test]
    fn byte_soup_never_panics_and_the_next_frame_is_recovered(
        soup in proptest::collection::vec(any::<u8>(), 0..600),
        (counts, msg) in session_message(),
        chunk in 1usize..200,
    ) {
        let mut bytes = soup;
        bytes.push(0);
        bytes.extend(wire(&msg, 7, 9));
        let got = feed_all(&mut Accumulator::new(counts), &bytes, chunk);
        let last = got.last().expect("at least the frame").expect("the frame after garbage decodes");
        prop_assert_eq!(last.message, msg);
    }

    /// Without a delimiter after the garbage the frame glued to it is lost, never the next one.
    #[test]
    fn garbage_costs_at_most_the_frame_it_touches(
        soup in proptest::collection::vec(any::<u8>(), 0..600),
        (counts, a, b) in counts().prop_flat_map(|c| (Just(c), message(c), message(c))),
        chunk in 1usize..200,
    ) {
        let mut bytes = soup;
        bytes.extend(wire(&a, 1, 1));
        bytes.extend(wire(&b, 2, 2));
        let got = feed_all(&mut Accumulator::new(counts), &bytes, chunk);
        let last = got.last().expect("a result").expect("the second frame decodes");
        prop_assert_eq!(last.message, b);
        prop_assert_eq!(last.header.seq, 2);
    }

    /// One corrupted byte in a frame is always detected (CRC-32C catches every burst ≤ 32 bits).
    #[test]
    fn a_corrupted_byte_is_always_detected(
        (counts, msg) in session_message(),
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
    ) {
        let mut bytes = wire(&msg, 3, 4);
        let i = at.index(bytes.len() - 1);
        bytes[i] ^= xor;
        let got = feed_all(&mut Accumulator::new(counts), &bytes, 64);
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
    let got = feed_all(&mut Accumulator::new(biped()), &bytes, 64);
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
    for version in [1, 3] {
        let n = encode_with_version(version, &Message::Heartbeat, 1, 1, &mut buf).unwrap();
        let got = feed_all(&mut Accumulator::new(biped()), &buf[..n], 64);
        assert_eq!(got, vec![Err(FrameError::Version { expected: PROTOCOL_VERSION, found: version })]);
    }

    // A Hello of any version reads (its layout never changed) …
    let info = |protocol_version| LinkInfo {
        contract_id: 1,
        protocol_version,
        joint_count: 6,
        physics_hz: 500,
        control_hz: 50,
    };
    for version in [1, 3] {
        let hello = Message::Hello(info(version));
        let n = encode_with_version(version, &hello, 1, 1, &mut buf).unwrap();
        let got = feed_all(&mut Accumulator::new(biped()), &buf[..n], 64);
        assert_eq!(got[0].unwrap().message, hello);
    }
    // … and so does a version-1 HelloAck: 30 bytes, without the counts, which read as 0.
    let ack = HelloAck { info: info(1), firmware: *b"old firmware 1.0", imu_count: 2, contact_count: 2 };
    let mut payload = [0u8; MAX_PAYLOAD];
    let n = write_payload(1, &Message::HelloAck(ack), 1, 1, &mut payload).unwrap();
    assert_eq!(n, 8 + 30 + 4, "version 1's HelloAck layout");
    let n = encode_with_version(1, &Message::HelloAck(ack), 1, 1, &mut buf).unwrap();
    let got = feed_all(&mut Accumulator::new(biped()), &buf[..n], 64);
    let frame = got[0].unwrap();
    assert_eq!(frame.header.version, 1);
    assert_eq!(frame.message, Message::HelloAck(HelloAck { imu_count: 0, contact_count: 0, ..ack }));
}

/// A newer version may only append to Hello and HelloAck: what this version knows is read,
/// the rest ignored, so that the newer peer can be refused naming its version.
#[test]
fn a_newer_handshake_with_appended_fields_reads_what_this_version_knows() {
    let ack = HelloAck {
        info: LinkInfo {
            contract_id: 7,
            protocol_version: 3,
            joint_count: 6,
            physics_hz: 500,
            control_hz: 50,
        },
        firmware: *b"next firmware 3\0",
        imu_count: 2,
        contact_count: 2,
    };
    for (message, len) in [(Message::Hello(ack.info), 14), (Message::HelloAck(ack), 32)] {
        let mut payload = [0u8; MAX_PAYLOAD];
        let n = write_payload(3, &message, 9, 9, &mut payload).unwrap();
        assert_eq!(n, 8 + len + 4);
        // Four more bytes of a field this version does not know, and the CRC again.
        let mut longer = payload[..n - 4].to_vec();
        longer.extend([0xaa, 0xbb, 0xcc, 0xdd]);
        longer.extend(CRC32C.checksum(&longer).to_le_bytes());
        assert_eq!(decode_payload(&longer, biped()).unwrap().message, message);

        // The same bytes from this version are a length error: it knows its own layout.
        let mut ours = longer[..longer.len() - 4].to_vec();
        ours[0] = PROTOCOL_VERSION;
        ours.extend(CRC32C.checksum(&ours).to_le_bytes());
        let err = decode_payload(&ours, biped()).unwrap_err();
        assert_eq!(err, FrameError::BadLength { kind: message.kind() as u8, expected: len, found: len + 4 });
    }
}

#[test]
fn an_overlong_run_without_delimiter_is_one_error_then_sync_is_back() {
    let mut bytes = vec![0x55u8; 5 * MAX_FRAME];
    bytes.extend(wire(&Message::SetMode(Mode::Damp), 5, 6));
    let got = feed_all(&mut Accumulator::new(biped()), &bytes, 37);
    // The garbage and the frame glued to it form one overlong candidate; nothing after is lost.
    assert_eq!(got, vec![Err(FrameError::TooLong { limit: MAX_FRAME })]);
    let more = [&bytes[..], &wire(&Message::Heartbeat, 6, 7)].concat();
    let got = feed_all(&mut Accumulator::new(biped()), &more, 37);
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
        let mut out = vec![0u8; p.len() + 3];
        let n = cobs::encode(&p, &mut out);
        out.truncate(n);
        out.push(0);
        feed_all(&mut Accumulator::new(biped()), &out, 64)
    };
    assert_eq!(
        frame_of(0x12, &[3, 3]),
        vec![Err(FrameError::BadLength { kind: 0x12, expected: 1, found: 2 })]
    );
    assert_eq!(frame_of(0x7f, &[]), vec![Err(FrameError::UnknownType { kind: 0x7f })]);
    assert_eq!(frame_of(0x12, &[9]), vec![Err(FrameError::BadValue { field: "mode", value: 9 })]);
    assert_eq!(frame_of(0x20, &[]).len(), 1, "a hand-built heartbeat decodes");
    assert!(frame_of(0x20, &[])[0].is_ok());

    // Sized bodies follow the session's counts, the biped's here: 61 and 96 bytes.
    let sensor = [0u8; 61];
    assert!(frame_of(0x10, &sensor)[0].is_ok());
    let err = frame_of(0x10, &sensor[..57])[0].unwrap_err();
    assert_eq!(err, FrameError::LengthForCounts { kind: 0x10, counts: biped(), expected: 61, found: 57 });
    assert_eq!(
        err.to_string(),
        "message type 0x10: body of 57 bytes, expected 61 for the handshake's 6 joints, 2 IMU fields, 2 contacts"
    );
    let err = frame_of(0x11, &[0u8; 112])[0].unwrap_err();
    assert_eq!(err, FrameError::LengthForCounts { kind: 0x11, counts: biped(), expected: 96, found: 112 });

    // A contact bit past the biped's two switches is no reading of this robot.
    let mut stray = sensor;
    stray[4] = 0b100;
    assert_eq!(frame_of(0x10, &stray), vec![Err(FrameError::BadValue { field: "contacts", value: 4 })]);
}

#[test]
fn counts_outside_the_protocol_are_refused_naming_the_field() {
    let refused = [
        ((0, 2, 2), "joints: 0, the protocol carries 1 to 24"),
        ((25, 2, 2), "joints: 25, the protocol carries 1 to 24"),
        ((6, 9, 2), "imu fields: 9, the protocol carries 0 to 8"),
        ((6, 2, 9), "contacts: 9, the protocol carries 0 to 8"),
    ];
    for ((j, i, c), text) in refused {
        assert_eq!(Counts::new(j, i, c).unwrap_err().to_string(), text);
    }
    assert_eq!(
        Counts::new(24, 8, 8).unwrap().max_frame_len(),
        MAX_FRAME,
        "the largest layout sets MAX_FRAME"
    );
    assert_eq!(biped().to_string(), "6 joints, 2 IMU fields, 2 contacts");
    assert_eq!(Counts::new(1, 1, 1).unwrap().to_string(), "1 joint, 1 IMU field, 1 contact");

    // A receiver given counts outside the protocol refuses sized bodies instead of overrunning.
    let wild = Counts { joints: 30, imu: 2, contacts: 2 };
    let cmd = Message::JointCommand(JointCommand { joints: Bounded::zeros(24) });
    let got = feed_all(&mut Accumulator::new(wild), &wire(&cmd, 1, 1), 64);
    assert_eq!(got, vec![Err(FrameError::Count { field: "joints", found: 30, min: 1, max: 24 })]);
}

#[test]
fn a_frame_no_receiver_could_size_is_refused_by_the_encoder() {
    let mut buf = [0u8; MAX_FRAME];
    let mut s = SensorFrame::zeros(biped());
    s.joint_vel = Bounded::zeros(5);
    let err = encode(&Message::SensorFrame(s), 0, 0, &mut buf).unwrap_err();
    assert_eq!(err, FrameError::Count { field: "joint_vel", found: 5, min: 6, max: 6 });
    assert_eq!(err.to_string(), "joint_vel: 5, expected 6");
    for empty in
        [Message::SensorFrame(SensorFrame::default()), Message::JointCommand(JointCommand::default())]
    {
        let err = encode(&empty, 0, 0, &mut buf).unwrap_err();
        assert_eq!(err, FrameError::Count { field: "joints", found: 0, min: 1, max: MAX_JOINTS });
    }
}

/// The codec builds without the robot contract (for a firmware), so it keeps its own maxima;
/// they are the contract's (the host driver also asserts it at compile time).
#[test]
fn the_codec_maxima_are_the_robot_contracts() {
    assert_eq!(
        (MAX_JOINTS, MAX_IMU_FIELDS, MAX_CONTACTS),
        (strider_robot::MAX_JOINTS, strider_robot::MAX_IMU_FIELDS, strider_robot::MAX_CONTACTS)
    );
}

#[test]
fn too_short_and_invalid_cobs_are_typed_errors() {
    let got = feed_all(&mut Accumulator::new(biped()), &[0x03, 0x01, 0x02, 0x00], 8);
    assert_eq!(got, vec![Err(FrameError::TooShort { len: 2 })]);
    let got = feed_all(&mut Accumulator::new(biped()), &[0x09, 0x01, 0x00], 8);
    assert_eq!(got, vec![Err(FrameError::Cobs)]);
}

#[test]
fn a_small_output_buffer_is_an_error_not_a_panic() {
    let mut small = [0u8; 20];
    let command = JointCommand { joints: Bounded::zeros(6) };
    let err = encode(&Message::JointCommand(command), 0, 0, &mut small).unwrap_err();
    assert!(matches!(err, FrameError::BufferTooSmall { available: 20, .. }), "{err:?}");
}

/// 10^5 command / sensor exchanges through encoder and accumulator, in process: every field
/// survives. (The same exchange over a real pseudo-terminal runs in the link tests.)
#[test]
fn a_hundred_thousand_round_trips_carry_exact_data() {
    let mut robot_rx: Accumulator = Accumulator::new(biped());
    let mut host_rx: Accumulator = Accumulator::new(biped());
    for i in 0..100_000u32 {
        let x = i as f32 * 1e-3;
        let targets: [JointTarget; 6] = std::array::from_fn(|j| JointTarget {
            position: x.sin() + j as f32,
            kp: 300.0,
            kd: 30.0,
            tau_ff: x.cos(),
        });
        let cmd = JointCommand { joints: targets.into() };
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
            joint_pos: cmd.positions(),
            joint_vel: targets.map(|j| j.tau_ff).into(),
            imu: [x, -x].into(),
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
/// one byte per started 254 bytes of payload, plus the delimiter.
#[test]
fn wire_sizes_are_payload_plus_two() {
    let sensor = Message::SensorFrame(SensorFrame::zeros(biped()));
    let command = Message::JointCommand(JointCommand { joints: Bounded::zeros(6) });
    assert_eq!(wire(&sensor, 0, 0).len(), 75);
    assert_eq!(wire(&command, 0, 0).len(), 110);
    assert_eq!(biped().max_frame_len(), 110);
    let hopper = Counts::new(3, 2, 1).unwrap();
    assert_eq!(wire(&Message::SensorFrame(SensorFrame::zeros(hopper)), 0, 0).len(), 51);
    assert_eq!(hopper.max_frame_len(), 62, "its longest frame is the 48-byte JointCommand");
    let one_joint = Counts::new(1, 2, 1).unwrap();
    assert_eq!(one_joint.max_frame_len(), 46, "its longest frame is the 32-byte HelloAck");
    assert_eq!(MAX_FRAME, 399, "24 joints: a 396-byte payload, two COBS bytes, the delimiter");
}
