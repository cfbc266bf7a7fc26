//! `strider`: the command-line front end. Thin glue: argument parsing, progress bars and
//! error reporting around the library crates, which do the work.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod collect;
mod deploy;
mod export;
#[cfg(feature = "train")]
mod improve;
mod keys;
mod link;
mod logs;
mod model;
mod policy;
mod replay;
mod replay_eval;
mod robot;
mod sim;
#[cfg(feature = "train")]
mod train;
mod virtual_robot;

/// Walk legged robots with a causal trajectory transformer running on the robot's CPU.
#[derive(Parser)]
#[command(name = "strider", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect the robot contract (joints, gains, observation and action layout, contract id).
    #[command(subcommand)]
    Robot(robot::RobotCommand),
    /// Record expert demonstrations in the simulator as sharded MCAP logs (resumable).
    Collect(collect::CollectArgs),
    /// Export logs to other ecosystems' formats (LeRobot).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Summarise a recorded log (episodes, rates, per-field statistics, timing jitter, falls).
    Replay(replay::ReplayArgs),
    /// Run a controller on the bundled simulator and print a run summary (or `sim eval`).
    Sim(Box<sim::SimArgs>),
    /// Walk a robot over its serial link: the policy through the real-time controller
    /// (homing, safety envelope, damping on a fall or Ctrl-C).
    Deploy(deploy::DeployArgs),
    /// Serve the simulator on a pseudo-terminal as a robot speaking the serial protocol.
    VirtualRobot(virtual_robot::VirtualRobotArgs),
    /// The serial link to a robot: probe a port (handshake, firmware, latency, errors).
    #[command(subcommand)]
    Link(link::LinkCommand),
    /// Inspect a trained model (manifest, size, graph, latency).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Train the trajectory transformer and export model.onnx + model.toml.
    #[cfg(feature = "train")]
    Train(train::TrainArgs),
    /// Train the trajectory transformer (needs a build with `--features train`).
    #[cfg(not(feature = "train"))]
    Train(NoEngine),
    /// DAgger rounds on a trained model: roll it out with the expert in shadow, fine-tune on
    /// the labelled rollouts, keep the round that walks best in closed loop (resumable).
    #[cfg(feature = "train")]
    Improve(improve::ImproveArgs),
    /// DAgger rounds on a trained model (needs a build with `--features train`).
    #[cfg(not(feature = "train"))]
    Improve(NoEngine),
}

/// A command of the training engine in a build without it: whatever follows is refused in
/// one line saying how to get a build that has it.
#[derive(clap::Args)]
pub struct NoEngine {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    args: Vec<String>,
}

impl NoEngine {
    pub fn refuse(&self, command: &str) -> anyhow::Result<()> {
        anyhow::bail!(
            "`strider {command}` needs the training engine, which this build leaves out (a shorter first build); \
             run it as: cargo run --release --features train -- {command} {}",
            self.args.join(" ")
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Robot(cmd) => robot::run(cmd),
        Command::Replay(args) => replay::run(args),
        Command::Export(cmd) => export::run(cmd),
        Command::Collect(args) => collect::run(args),
        Command::Sim(args) => sim::run(*args),
        Command::Deploy(args) => deploy::run(args),
        Command::VirtualRobot(args) => virtual_robot::run(args),
        Command::Link(cmd) => link::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
        #[cfg(feature = "train")]
        Command::Train(args) => train::run(args),
        #[cfg(feature = "train")]
        Command::Improve(args) => improve::run(args),
        #[cfg(not(feature = "train"))]
        Command::Train(args) => args.refuse("train"),
        #[cfg(not(feature = "train"))]
        Command::Improve(args) => args.refuse("improve"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the context chain, outermost first.
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
