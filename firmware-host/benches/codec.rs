//! Frame encode + decode throughput: the hot loop on both ends of the link.
//!
//! `cargo bench -p strider-firmware-host --bench codec`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strider_firmware_host::{
    Accumulator, Feed, JOINTS, JointCommand, JointTarget, MAX_FRAME, Message, SensorFrame, encode,
};

fn sensor_frame() -> Message {
    Message::SensorFrame(SensorFrame {
        ack_seq: 16,
        mode: 3,
        status: 0,
        contacts: 3,
        joint_pos: [0.26, -0.52, 0.26, 0.26, -0.52, 0.26],
        joint_vel: [0.0, 0.5, -0.25, 0.0, 0.0, 1.0],
        pitch: 0.05,
        pitch_rate: -0.1,
    })
}

fn joint_command() -> Message {
    Message::JointCommand(JointCommand {
        joints: [JointTarget { position: 0.26, kp: 300.0, kd: 30.0, tau_ff: 0.0 }; JOINTS],
    })
}

/// Encode one frame, feed it to the accumulator, take the decoded message out.
fn round_trip(c: &mut Criterion, name: &str, message: Message) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let mut acc: Accumulator = Accumulator::new();
    let mut buf = [0u8; MAX_FRAME];
    let mut seq = 0u16;
    group.bench_function(format!("encode+decode {name}"), |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            let n = encode(black_box(&message), seq, 1234, &mut buf).expect("fits");
            match acc.feed(black_box(&buf[..n])) {
                Feed::Frame { frame, .. } => black_box(frame),
                other => panic!("{other:?}"),
            }
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    round_trip(c, "SensorFrame", sensor_frame());
    round_trip(c, "JointCommand", joint_command());
}

criterion_group!(benches, codec);
criterion_main!(benches);
