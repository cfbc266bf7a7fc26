//! `strider virtual-robot`: the bundled simulator behind a pseudo-terminal, speaking the
//! robot's serial protocol, so `link probe` (and later `deploy`) run without hardware.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use strider_firmware_host::virtual_robot::{FaultSpec, FirmwareConfig, VirtualRobot};
use strider_sim::{Scenario, Sim, SimConfig};

use crate::robot::RobotArg;

#[derive(Args)]
pub struct VirtualRobotArgs {
    /// Faults injected into what the robot sends, e.g.
    /// `drop=0.01,corrupt=1e-3,garbage=0.01,delay_ms=2,jitter_ms=1,disconnect_s=2@5,seed=7`.
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
