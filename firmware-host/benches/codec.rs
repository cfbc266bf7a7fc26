//! Frame encode + decode throughput: the hot loop on both ends of the link, for the
//! reference biped and for the largest layout a frame carries.
//!
//! `cargo bench -p strider-firmware-host --bench codec`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use strider_firmware_host::{
    Accumulator, Bounded, Counts, Feed, JointCommand, JointTarget, MAX_CONTACTS, MAX_FRAME, MAX_IMU_FIELDS,
    MAX_JOINTS, Message, SensorFrame, encode,
};

/// A sensor frame of `counts` holding the biped's worked-example values, repeated.
fn sensor_frame(counts: Counts) -> Message {
    let pos = [0.26, -0.52, 0.26, 0.26, -0.52, 0.26];
    let vel = [0.0, 0.5, -0.25, 0.0, 0.0, 1.0];
    let mut s = SensorFrame { ack_seq: 16, mode: 3, contacts: 3, ..SensorFrame::zeros(counts) };
    s.joint_pos.iter_mut().zip(pos.iter().cycle()).for_each(|(v, &x)| *v = x);
    s.joint_vel.iter_mut().zip(vel.iter().cycle()).for_each(|(v, &x)| *v = x);
    s.imu.iter_mut().zip([0.05, -0.1].iter().cycle()).for_each(|(v, &x)| *v = x);
    Message::SensorFrame(s)
}

fn joint_command(counts: Counts) -> Message {
    let target = JointTarget { position: 0.26, kp: 300.0, kd: 30.0, tau_ff: 0.0 };
    Message::JointCommand(JointCommand { joints: Bounded::filled(usize::from(counts.joints), target) })
}

/// Encode one frame, feed it to the accumulator, take the decoded message out.
fn round_trip(c: &mut Criterion, name: &str, counts: Counts, message: Message) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    let mut acc: Accumulator = Accumulator::new(counts);
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
    let biped = Counts::new(6, 2, 2).expect("the reference biped's counts");
    round_trip(c, "SensorFrame", biped, sensor_frame(biped));
    round_trip(c, "JointCommand", biped, joint_command(biped));
    let largest = Counts::new(MAX_JOINTS, MAX_IMU_FIELDS, MAX_CONTACTS).expect("the protocol's maxima");
    round_trip(c, "SensorFrame (24 joints)", largest, sensor_frame(largest));
    round_trip(c, "JointCommand (24 joints)", largest, joint_command(largest));
}

criterion_group!(benches, codec);
criterion_main!(benches);
