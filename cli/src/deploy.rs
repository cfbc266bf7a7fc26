//! `strider deploy`: the policy on a robot over the serial link, through the same
//! real-time controller `strider sim` uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Args;
use strider_controller::{Controller, Recorder, RunConfig, SafetyConfig};
use strider_firmware_host::link::{LinkConfig, SerialLink, sensors_from_frame};
use strider_robot::{Command, Plant};

use crate::robot::RobotArg;

#[derive(Args)]
pub struct DeployArgs {
    /// Serial device, e.g. /dev/ttyUSB0, or the pseudo-terminal of `strider virtual-robot`.
    #[arg(long, value_name = "PATH")]
    port: String,
    /// Baud rate.
    #[arg(long, default_value_t = 1_000_000)]
    baud: u32,
    /// The policy's manifest (`model.toml`). Default: the built-in model.
    #[arg(long, value_name = "FILE")]
    model: Option<PathBuf>,
    /// Commanded forward speed, m/s.
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    speed: f64,
    /// Stop (damp, then disarm) after this long, s. Default: run until Ctrl-C.
    #[arg(long)]
    seconds: Option<f64>,
    /// Record the run as a Strider log (MCAP): every tick's observation, action, what was
    /// applied, timing. Created before the robot moves; never overwrites a file.
    #[arg(long, value_name = "PATH")]
    log: Option<PathBuf>,
    #[command(flatten)]
    robot: RobotArg,
    /// Print the run report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: DeployArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    if let Some(s) = args.seconds {
        anyhow::ensure!(s.is_finite() && s > 0.0, "--seconds {s}: use a positive duration");
    }
    // The model is checked against the robot before the link is even opened, and the
    // link's handshake checks the firmware's contract: nothing moves on a mismatch.
    let policy = crate::model::load(args.model.as_deref(), &spec)?;
    let mut log = match &args.log {
        Some(path) => {
            let label =
                format!("policy {} (onnx sha256 {})", policy.name, policy.policy.manifest().onnx.sha256);
            let conditions = format!("serial robot on {} at {} baud", args.port, args.baud);
            Some(Recorder::create(path, &spec, &label, &conditions, None)?)
        }
        None => None,
    };
    let config = LinkConfig { port: args.port.clone(), baud: args.baud, ..LinkConfig::default() };
    let mut link = SerialLink::connect(spec.clone(), config).context("deploy")?;
    let first = sensors_from_frame(&link.ping_disarmed().context("deploy: first measurement")?);

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    if !args.json {
        eprintln!("deploy: {} on {} at {} m/s; Ctrl-C damps and stops", policy.name, args.port, args.speed);
    }
    let dt = spec.control_dt_s();
    let cfg = RunConfig {
        ticks: args.seconds.map_or(u64::MAX, |s| (s / dt).round() as u64),
        realtime: true,
        command: (args.speed as f32).into(),
    };
    let mut control = Controller::new(&spec, policy.policy, SafetyConfig::default());
    let mut log_error = None;
    let report = control.run(&mut link, first, &cfg, &stop, |event, _| {
        if let (Some(log), None) = (log.as_mut(), &log_error) {
            log_error = log.record(event, None).err();
        }
    });
    // Whatever happened, leave the robot with zero torque if the link still answers.
    let disarmed = link.step(&Command::Disarm).is_ok();
    let report = report?;
    if let Some(log) = log {
        log.finish()?;
    }
    if let Some(e) = log_error {
        return Err(e).context("recording the run (the robot was stopped and disarmed)");
    }
    let stats = link.stats();
    if args.json {
        let value = serde_json::json!({
            "model": policy.name,
            "port": args.port,
            "command_vx": args.speed,
            "control": report,
            "disarmed": disarmed,
            "link": {
                "frames_rx": stats.frames_rx,
                "frames_tx": stats.frames_tx,
                "crc_errors": stats.crc_errors,
                "frames_lost": stats.frames_lost,
                "timeouts": stats.timeouts,
                "reconnects": stats.reconnects,
                "round_trip_p99_us": stats.round_trip_us.value_at_quantile(0.99),
            },
        });
        println!("{value}");
        return Ok(());
    }
    print!("{report}");
    println!(
        "link       {} frames received, {} CRC errors, {} lost, {} reconnects; robot {}",
        stats.frames_rx,
        stats.crc_errors,
        stats.frames_lost,
        stats.reconnects,
        if disarmed { "disarmed" } else { "did not answer the final disarm" }
    );
    Ok(())
}
