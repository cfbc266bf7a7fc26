//! Round-trip latency of the serial link over a pseudo-terminal, at fixed command rates:
//! the host driver (`SerialLink::step`) against the virtual robot backed by the stand-in
//! plant (not the simulator; the plant's cost is a few hundred flops per tick).
//!
//! `cargo run --release -p strider-tests --example link_latency [SECONDS_PER_RATE]`

use std::time::{Duration, Instant};

use strider_firmware_host::link::{LinkConfig, SerialLink};
use strider_firmware_host::virtual_robot::{FirmwareConfig, VirtualRobot};
use strider_robot::{Command, Plant, RobotSpec};
use strider_tests::support::FirstOrderJoints;

fn main() {
    let seconds: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    println!("| rate | round trips | failed | p50 µs | p99 µs | max µs |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for rate in [50.0, 500.0, 1000.0] {
        let plant = FirstOrderJoints::new(RobotSpec::reference(), 0.1);
        let robot = VirtualRobot::spawn(Box::new(plant), FirmwareConfig::default(), None).expect("pty");
        let config = LinkConfig { port: robot.path().display().to_string(), ..LinkConfig::default() };
        let mut link = SerialLink::connect(RobotSpec::reference(), config).expect("handshake");
        let target = RobotSpec::reference().default_action();
        let period = Duration::from_secs_f64(1.0 / rate);
        let start = Instant::now();
        let mut next = start;
        let mut failed = 0;
        while start.elapsed().as_secs_f64() < seconds {
            if link.step(&Command::Track(target)).is_err() {
                failed += 1;
            }
            next += period;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let s = link.stats();
        let h = &s.round_trip_us;
        let q = |q| h.quantile_us(q).unwrap_or(0);
        println!("| {rate} Hz | {} | {failed} | {} | {} | {} |", h.count(), q(0.5), q(0.99), q(1.0));
        drop(link);
        robot.stop().expect("firmware stopped cleanly");
    }
}
