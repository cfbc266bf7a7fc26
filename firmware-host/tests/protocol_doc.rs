//! `docs/PROTOCOL.md` cannot drift from the code: every worked example in it (the payload
//! before COBS and the bytes on the wire) is rebuilt here from the message it describes and
//! compared byte for byte, and the wire bytes are decoded back to that message.
//!
//! To regenerate the blocks after a deliberate format change:
//! `cargo test -p strider-firmware-host --test protocol_doc -- --ignored --nocapture`.

use strider_firmware_host::{
    Accumulator, Fault, Feed, FirmwareStats, HelloAck, JOINTS, JointCommand, JointTarget, LinkInfo,
    MAX_FRAME, MAX_PAYLOAD, Message, Mode, PROTOCOL_VERSION, SensorFrame, encode, fault, write_payload,
};

use sha2::{Digest, Sha256};
use strider_robot::RobotSpec;

const DOC: &str = include_str!("../../docs/PROTOCOL.md");

struct Example {
    name: &'static str,
    seq: u16,
    timestamp_us: u32,
    message: Message,
}

fn info() -> LinkInfo {
    LinkInfo {
        contract_id: 0x8c1f_5a2e_9d04_b7e3,
        protocol_version: PROTOCOL_VERSION,
        joint_count: JOINTS as u8,
        physics_hz: 500,
        control_hz: 50,
    }
}

fn examples() -> Vec<Example> {
    // 15° and −30° written to four decimals, as someone typing a test vector would.
    #[allow(clippy::approx_constant)]
    let pose = [0.2618, -0.5236, 0.2618, 0.2618, -0.5236, 0.2618];
    let mut firmware = [0u8; 16];
    firmware[..16].copy_from_slice(b"strider-virt 0.1");
    let joints: [JointTarget; JOINTS] = std::array::from_fn(|i| JointTarget {
        position: pose[i],
        kp: 300.0,
        kd: 30.0,
        tau_ff: if i == 2 { 1.5 } else { 0.0 },
    });
    vec![
        Example { name: "hello", seq: 0, timestamp_us: 1_000, message: Message::Hello(info()) },
        Example {
            name: "hello_ack",
            seq: 0,
            timestamp_us: 2_345_678,
            message: Message::HelloAck(HelloAck { info: info(), firmware }),
        },
        Example {
            name: "sensor_frame",
            seq: 17,
            timestamp_us: 2_360_000,
            message: Message::SensorFrame(SensorFrame {
                ack_seq: 16,
                mode: Mode::Run as u8,
                status: 0,
                contacts: 0b11,
                joint_pos: pose,
                joint_vel: [0.0, 0.5, -0.25, 0.0, 0.0, 1.0],
                pitch: 0.05,
                pitch_rate: -0.1,
            }),
        },
        Example {
            name: "joint_command",
            seq: 16,
            timestamp_us: 40_000_000,
            message: Message::JointCommand(JointCommand { joints }),
        },
        Example { name: "set_mode", seq: 15, timestamp_us: 39_980_000, message: Message::SetMode(Mode::Run) },
        Example { name: "heartbeat", seq: 300, timestamp_us: 46_000_000, message: Message::Heartbeat },
        Example {
            name: "fault",
            seq: 18,
            timestamp_us: 2_480_000,
            message: Message::Fault(Fault { code: fault::WATCHDOG, detail: 302 }),
        },
        Example {
            name: "stats",
            seq: 65_535,
            timestamp_us: 3_000_000,
            message: Message::Stats(FirmwareStats {
                rx_frames: 1_520,
                rx_bad_frames: 2,
                rx_lost_frames: 1,
                tx_frames: 1_600,
                commands_applied: 1_450,
                watchdog_trips: 0,
                uptime_ms: 3_000,
            }),
        },
    ]
}

fn payload(e: &Example) -> Vec<u8> {
    let mut buf = [0u8; MAX_PAYLOAD];
    let n = write_payload(PROTOCOL_VERSION, &e.message, e.seq, e.timestamp_us, &mut buf);
    buf[..n].to_vec()
}

fn wire(e: &Example) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    let n = encode(&e.message, e.seq, e.timestamp_us, &mut buf).expect("fits MAX_FRAME");
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
        let mut acc: Accumulator = Accumulator::new();
        match acc.feed(&bytes) {
            Feed::Frame { frame, remaining } => {
                assert!(remaining.is_empty(), "{}: bytes after the delimiter", e.name);
                assert_eq!(frame.message, e.message, "{}", e.name);
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
