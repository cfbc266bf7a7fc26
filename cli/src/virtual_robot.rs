//! `strider virtual-robot`: the bundled simulator behind a pseudo-terminal, speaking the
//! robot's serial protocol, so `link probe` and `deploy` run without hardware.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strider_firmware_host::virtual_robot::{FaultSpec, FirmwareConfig, VirtualRobot};
use strider_sim::{Scenario, Sim, SimConfig};

use crate::robot::RobotArg;

#[derive(Args)]
pub struct VirtualRobotArgs {
    /// Faults injected into what the robot sends, as KEY=VALUE,..., e.g.
    /// `drop=0.01,garbage=1,nan=0.001,silence=0.2@3,disconnect_s=2@60/300,seed=7`.
    ///
    /// Every time counts from the robot's first Hello (a host connects some time after the
    /// robot starts), in seconds. Probabilities (0..1) per frame sent: `drop` (not sent),
    /// `garbage` (1..=32 random bytes and a 0x00 after the frame), `nan`, `inf` (one sensor
    /// value of a SensorFrame), `out_of_range` (one joint angle at ±10 rad), `seq_jump` (the
    /// sequence number jumps ahead), `ts_back` (the timestamp goes backwards); `corrupt` per
    /// byte. Windows, DURATION@AT or DURATION@AT/EVERY, each key repeatable: `disconnect_s`
    /// (unplug, then replug at the same path), `silence` (send nothing; commands are still
    /// obeyed and the watchdog runs), `bad_pitch` (pitch NaN). Also `delay_ms`, `jitter_ms`
    /// (added to every frame), `hw_fault_at_s` (latch Fault HARDWARE once), `seed`. See
    /// docs/PROTOCOL.md, "Testing against faults".
    #[arg(long, value_name = "SPEC")]
    faults: Option<FaultSpec>,
    /// Scenario (TOML) of the simulated world. Default: flat ground, no start push.
    #[arg(long, value_name = "FILE")]
    scenario: Option<PathBuf>,
    /// Seed of the scenario's draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also expose the device under this stable path (a symlink that survives a simulated
    /// disconnect, like a udev rule for a USB adapter).
    #[arg(long, value_name = "PATH")]
    link: Option<PathBuf>,
    #[command(flatten)]
    robot: RobotArg,
}

pub fn run(args: VirtualRobotArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let scenario = match &args.scenario {
        Some(path) => Scenario::load(path).context("loading scenario")?,
        None => Scenario {
            start_push: strider_sim::StartPush { max_force_n: 0.0, ..Default::default() },
            ..Default::default()
        },
    };
    let mut sim = Sim::new(spec.clone(), SimConfig::default())?;
    sim.reset(args.seed, &scenario)?;
    let config = FirmwareConfig { faults: args.faults.unwrap_or_default(), ..FirmwareConfig::default() };
    let robot = VirtualRobot::spawn(Box::new(sim), config, args.link.as_deref())
        .context("starting the virtual robot")?;
    println!("{}", robot.path().display());
    eprintln!(
        "virtual robot `{}` (contract {}) on {}; simulator scenario `{}`, seed {}; Ctrl-C to stop",
        spec.name,
        spec.contract_id(),
        robot.path().display(),
        scenario.name,
        args.seed
    );
    robot.wait().context("virtual robot")?;
    Ok(())
}
