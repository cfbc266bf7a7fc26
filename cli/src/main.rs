//! `strider`: the command-line front end. Thin glue: argument parsing, progress bars and
//! error reporting around the library crates, which do the work.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod policy;
mod robot;
mod train;

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
    /// Inspect a trained model (manifest, size, graph, latency).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Train the trajectory transformer and export model.onnx + model.toml.
    Train(train::TrainArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Robot(cmd) => robot::run(cmd),
        Command::Policy(cmd) => policy::run(cmd),
        Command::Train(args) => train::run(args),
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
