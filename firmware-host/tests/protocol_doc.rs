//! `docs/PROTOCOL.md` cannot drift from the code: every worked example in it (the payload
//! before COBS and the bytes on the wire), for the reference biped and for a one-legged
//! hopper, is rebuilt here from the message it describes and compared byte for byte, and
//! the wire bytes are decoded back to that message by a receiver of that robot's counts.
//!
//! To regenerate the blocks after a deliberate format change:
//! `cargo test -p strider-firmware-host --test protocol_doc -- --ignored --nocapture`.

use strider_firmware_host::{
    Accumulator, Bounded, Counts, Fault, Feed, FirmwareStats, HelloAck, JointCommand, JointTarget, LinkInfo,
    MAX_FRAME, MAX_PAYLOAD, Message, Mode, PROTOCOL_VERSION, SensorFrame, encode_with_version, fault,
    write_payload,
};

use sha2::{Digest, Sha256};
use strider_robot::RobotSpec;

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

struct Example {
    name: &'static str,
    /// The header's version, whose layout the body follows.
    version: u8,
    /// The counts of the robot that sends or receives it.
    counts: Counts,
    seq: u16,
    timestamp_us: u32,
    message: Message,
}

/// The reference biped: 6 joints, pitch and pitch rate, 2 contacts.
const BIPED: Counts = Counts { joints: 6, imu: 2, contacts: 2 };
/// The page's second robot, a one-legged hopper: hip, knee, ankle; pitch and pitch rate; one
/// contact switch under the foot.
const HOPPER: Counts = Counts { joints: 3, imu: 2, contacts: 1 };

fn info() -> LinkInfo {
    LinkInfo {
        contract_id: 0x8c1f_5a2e_9d04_b7e3,
        protocol_version: PROTOCOL_VERSION,
        joint_count: BIPED.joints,
        physics_hz: 500,
        control_hz: 50,
    }
}

fn hopper_info() -> LinkInfo {
    LinkInfo {
        contract_id: 0x5d2a_7c19_e0b3_f846,
        protocol_version: PROTOCOL_VERSION,
        joint_count: HOPPER.joints,
        physics_hz: 1000,
        control_hz: 100,
    }
}

fn firmware(name: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..name.len()].copy_from_slice(name);
    out
}

fn targets(pose: &[f32], kp: f32, kd: f32, tau_ff: impl Fn(usize) -> f32) -> JointCommand {
    let mut joints = Bounded::zeros(pose.len());
    for (i, (j, &position)) in joints.iter_mut().zip(pose).enumerate() {
        *j = JointTarget { position, kp, kd, tau_ff: tau_ff(i) };
    }
    JointCommand { joints }
}

fn examples() -> Vec<Example> {
    // 15° and −30° written to four decimals, as someone typing a test vector would.
    #[allow(clippy::approx_constant)]
    let pose = [0.2618, -0.5236, 0.2618, 0.2618, -0.5236, 0.2618];
    let biped = |name, seq, timestamp_us, message| Example {
        name,
        version: PROTOCOL_VERSION,
        counts: BIPED,
        seq,
        timestamp_us,
        message,
    };
    let hopper = |name, seq, timestamp_us, message| Example {
        name,
        version: PROTOCOL_VERSION,
        counts: HOPPER,
        seq,
        timestamp_us,
        message,
    };
    let ack = HelloAck {
        info: info(),
        firmware: firmware(b"strider-virt 0.1"),
        imu_count: BIPED.imu,
        contact_count: BIPED.contacts,
    };
    vec![
        biped("hello", 0, 1_000, Message::Hello(info())),
        biped("hello_ack", 0, 2_345_678, Message::HelloAck(ack)),
        // A version-2 robot answering a version-1 host: in version 1's layout, which has no
        // counts (they read as 0), stating its own version 2.
        Example {
            name: "hello_ack_v1",
            version: 1,
            counts: BIPED,
            seq: 0,
            timestamp_us: 2_345_678,
            message: Message::HelloAck(HelloAck { imu_count: 0, contact_count: 0, ..ack }),
        },
        biped(
            "sensor_frame",
            17,
            2_360_000,
            Message::SensorFrame(SensorFrame {
                ack_seq: 16,
                mode: Mode::Run as u8,
                status: 0,
                contacts: 0b11,
                joint_pos: pose.into(),
                joint_vel: [0.0, 0.5, -0.25, 0.0, 0.0, 1.0].into(),
                imu: [0.05, -0.1].into(),
            }),
        ),
        biped(
            "joint_command",
            16,
            40_000_000,
            Message::JointCommand(targets(&pose, 300.0, 30.0, |i| if i == 2 { 1.5 } else { 0.0 })),
        ),
        hopper(
            "hopper_hello_ack",
            0,
            812_500,
            Message::HelloAck(HelloAck {
                info: hopper_info(),
                firmware: firmware(b"hopper-fw 2.0"),
                imu_count: HOPPER.imu,
                contact_count: HOPPER.contacts,
            }),
        ),
        hopper(
            "hopper_sensor_frame",
            40,
            5_000_000,
            Message::SensorFrame(SensorFrame {
                ack_seq: 39,
                mode: Mode::Run as u8,
                status: 0,
                contacts: 0b1,
                joint_pos: Bounded::from_slice(&pose[..3]),
                joint_vel: [0.5, -1.0, 0.25].into(),
                imu: [0.05, -0.1].into(),
            }),
        ),
        hopper(
            "hopper_joint_command",
            39,
            4_990_000,
            Message::JointCommand(targets(&pose[..3], 150.0, 5.0, |_| 0.0)),
        ),
        biped("set_mode", 15, 39_980_000, Message::SetMode(Mode::Run)),
        biped("heartbeat", 300, 46_000_000, Message::Heartbeat),
        biped("fault", 18, 2_480_000, Message::Fault(Fault { code: fault::WATCHDOG, detail: 302 })),
        biped(
            "stats",
            65_535,
            3_000_000,
            Message::Stats(FirmwareStats {
                rx_frames: 1_520,
                rx_bad_frames: 2,
                rx_lost_frames: 1,
                tx_frames: 1_600,
                commands_applied: 1_450,
                watchdog_trips: 0,
                uptime_ms: 3_000,
            }),
        ),
    ]
}

fn payload(e: &Example) -> Vec<u8> {
    let mut buf = [0u8; MAX_PAYLOAD];
    let n = write_payload(e.version, &e.message, e.seq, e.timestamp_us, &mut buf).expect("a sized message");
    buf[..n].to_vec()
}

fn wire(e: &Example) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    let n =
        encode_with_version(e.version, &e.message, e.seq, e.timestamp_us, &mut buf).expect("fits MAX_FRAME");
    buf[..n].to_vec()
}

fn hex_block(kind: &str, name: &str, bytes: &[u8]) -> String {
    let rows: Vec<String> = bytes
        .chunks(16)
        .map(|row| row.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "))
        .collect();
    format!("```hex {kind} {name}\n{}\n```", rows.join("\n"))
}

/// The bytes of the block that opens with "```hex {kind} {name}".
fn doc_block(kind: &str, name: &str) -> Option<Vec<u8>> {
    let opener = format!("```hex {kind} {name}");
    let mut lines = DOC.lines().skip_while(|l| l.trim() != opener);
    lines.next()?;
    let bytes = lines
        .take_while(|l| !l.starts_with("```"))
        .flat_map(|l| l.split_whitespace())
        .map(|t| u8::from_str_radix(t, 16).unwrap_or_else(|_| panic!("{opener}: {t:?} is not a hex byte")))
        .collect();
    Some(bytes)
}

#[test]
fn every_document_example_matches_the_codec_byte_for_byte() {
    let mut wrong = Vec::new();
    for e in examples() {
        for (kind, bytes) in [("payload", payload(&e)), ("wire", wire(&e))] {
            match doc_block(kind, e.name) {
                Some(doc) if doc == bytes => {}
                Some(_) => {
                    wrong.push(format!("differs; the code gives:\n{}", hex_block(kind, e.name, &bytes)))
                }
                None => wrong.push(format!("missing; the code gives:\n{}", hex_block(kind, e.name, &bytes))),
            }
        }
    }
    assert!(wrong.is_empty(), "docs/PROTOCOL.md examples:\n{}", wrong.join("\n"));
}

#[test]
fn every_document_wire_example_decodes_to_its_message() {
    for e in examples() {
        let bytes = doc_block("wire", e.name).unwrap_or_else(|| panic!("no wire example for {}", e.name));
        let mut acc: Accumulator = Accumulator::new(e.counts);
        match acc.feed(&bytes) {
            Feed::Frame { frame, remaining } => {
                assert!(remaining.is_empty(), "{}: bytes after the delimiter", e.name);
                assert_eq!(frame.message, e.message, "{}", e.name);
                assert_eq!(frame.header.version, e.version, "{}", e.name);
                assert_eq!(
                    (frame.header.seq, frame.header.timestamp_us),
                    (e.seq, e.timestamp_us),
                    "{}",
                    e.name
                );
            }
            other => panic!("{}: {other:?}", e.name),
        }
    }
}

#[test]
fn every_message_type_has_an_example() {
    let kinds: std::collections::BTreeSet<u8> = examples().iter().map(|e| e.message.kind() as u8).collect();
    assert_eq!(kinds.len(), 8, "one example per message type");
}

/// The page's two robots are what their descriptions give: the reference biped, and the
/// hopper cut from it (its right leg, one contact).
#[test]
fn the_example_counts_are_the_robots() {
    assert_eq!(Counts::of(&RobotSpec::reference().layout()).unwrap(), BIPED);
    let mut hopper = RobotSpec::reference();
    hopper.joints.truncate(3);
    hopper.sensors.contacts.truncate(1);
    assert_eq!(Counts::of(&hopper.layout()).unwrap(), HOPPER);
}

/// Version 2 changed no byte of the reference biped's SensorFrame and JointCommand bodies:
/// only the version in the header (and so the CRC). These are version 1's worked examples.
#[test]
fn the_bipeds_sized_bodies_are_version_1s_bytes() {
    let v1_sensor_frame =
        "01 10 11 00 c0 02 24 00 10 00 03 00 03 a6 0a 86 3e a6 0a 06 bf a6 0a 86 3e a6 0a 86 3e
        a6 0a 06 bf a6 0a 86 3e 00 00 00 00 00 00 00 3f 00 00 80 be 00 00 00 00 00 00 00 00 00 00 80 3f
        cd cc 4c 3d cd cc cc bd 00 6f 1a 4c";
    let v1_joint_command =
        "01 11 10 00 00 5a 62 02 a6 0a 86 3e 00 00 96 43 00 00 f0 41 00 00 00 00 a6 0a 06 bf
        00 00 96 43 00 00 f0 41 00 00 00 00 a6 0a 86 3e 00 00 96 43 00 00 f0 41 00 00 c0 3f a6 0a 86 3e
        00 00 96 43 00 00 f0 41 00 00 00 00 a6 0a 06 bf 00 00 96 43 00 00 f0 41 00 00 00 00 a6 0a 86 3e
        00 00 96 43 00 00 f0 41 00 00 00 00 11 42 45 ba";
    let hex =
        |t: &str| -> Vec<u8> { t.split_whitespace().map(|b| u8::from_str_radix(b, 16).unwrap()).collect() };
    for (name, v1) in [("sensor_frame", v1_sensor_frame), ("joint_command", v1_joint_command)] {
        let e = examples().into_iter().find(|e| e.name == name).unwrap();
        let (v1, v2) = (hex(v1), payload(&e));
        assert_eq!((v1[0], v2[0]), (1, 2), "{name}: the version byte");
        assert_eq!(v1.len(), v2.len(), "{name}");
        assert_eq!(v1[1..v1.len() - 4], v2[1..v2.len() - 4], "{name}: header after the version, and body");
    }
}

/// The lines of the block that opens with "```text {name}", each ended by a newline.
fn doc_text_block(name: &str) -> Option<String> {
    let opener = format!("```text {name}");
    let mut lines = DOC.lines().skip_while(|l| l.trim() != opener);
    lines.next()?;
    Some(lines.take_while(|l| !l.starts_with("```")).map(|l| format!("{l}\n")).collect())
}

/// The worked example of the contract id: a firmware hashing the page's text gets the id
/// the host sends in Hello, and the page states that id.
#[test]
fn the_documented_contract_text_hashes_to_the_reference_contract_id() {
    let text = doc_text_block("contract").expect("a ```text contract block in docs/PROTOCOL.md");
    let digest = Sha256::digest(text.as_bytes());
    let id = u64::from_be_bytes(digest[..8].try_into().unwrap());
    let reference = RobotSpec::reference().contract_id();
    assert_eq!(format!("{id:016x}"), reference.to_string(), "the documented text:\n{text}");
    assert!(DOC.contains(&format!("`{reference}`")), "the page names the id {reference}");
}

#[test]
#[ignore = "prints the document blocks; run by hand after a format change"]
fn print_document_blocks() {
    for e in examples() {
        println!(
            "{}\n\n{}\n",
            hex_block("payload", e.name, &payload(&e)),
            hex_block("wire", e.name, &wire(&e))
        );
    }
}
