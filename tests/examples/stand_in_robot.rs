//! A virtual robot on a pseudo-terminal backed by the stand-in plant (first-order joints,
//! NOT the simulator), for trying `strider link probe` by hand until `strider
//! virtual-robot` exists:
//!
//! `cargo run -p strider-tests --example stand_in_robot [FAULT_SPEC]`, then
//! `strider link probe --port PATH` with the path it prints.

use strider_firmware_host::virtual_robot::{FaultSpec, FirmwareConfig, VirtualRobot};
use strider_robot::RobotSpec;
use strider_tests::support::FirstOrderJoints;

fn main() {
    let faults: FaultSpec = match std::env::args().nth(1).map(|s| s.parse()).transpose() {
        Ok(f) => f.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let plant = FirstOrderJoints::new(RobotSpec::reference(), 0.1);
    let robot = VirtualRobot::spawn(Box::new(plant), FirmwareConfig { faults, ..Default::default() }, None)
        .unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1)
        });
    println!("{}", robot.path().display());
    if let Err(e) = robot.wait() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
