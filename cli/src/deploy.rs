//! `strider deploy`: the policy on a robot over the serial link, through the same
//! real-time controller `strider sim` uses.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use strider_controller::{Controller, Recorder, RunConfig, SafetyConfig, Stop, Throttle};
use strider_firmware_host::link::{LinkConfig, SerialLink, sensors_from_frame};
use strider_robot::{Sensors, SpeedSchedule};

use crate::keys::Keyboard;
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
    /// Commanded forward speed, m/s: a number, or a schedule SPEED[,SPEED@SECONDS...] such
    /// as `0.5,0@10,-0.3@20` (walk, stop and stand at 10 s, walk backward from 20 s).
    /// Default: the robot's `control.vx_default_mps`, at most 0.5 m/s (a first run on a
    /// robot starts gently). A speed outside its `control.vx_range_mps` is refused.
    #[arg(long, allow_hyphen_values = true, value_name = "SCHEDULE")]
    speed: Option<SpeedSchedule>,
    /// Stop after this long, s: damp, then disarm once the robot is at rest. Default: run
    /// until Ctrl-C (which does the same; a second Ctrl-C disarms at once).
    #[arg(long)]
    seconds: Option<f64>,
    /// Ride-through: a link silent for less than this holds the last command and the run
    /// goes on; longer, the robot is damped until the link is back, then homed and resumed
    /// (s, at most 0.3, the robot's own command watchdog).
    #[arg(long, default_value_t = SafetyConfig::default().hold_s)]
    hold_s: f64,
    /// A link silent for this long ends the run (the robot's watchdog keeps it damped), s.
    #[arg(long, default_value_t = SafetyConfig::default().give_up_s)]
    give_up_s: f64,
    /// Damp (then disarm at rest) after this many consecutive ticks above the model's
    /// surprise threshold (off by default: surprise is reported and logged, never acted on).
    #[arg(long, value_name = "TICKS", value_parser = clap::value_parser!(u32).range(1..))]
    damp_on_surprise: Option<u32>,
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

/// The most `deploy` commands when told no speed, m/s.
const DEPLOY_SPEED_CAP_MPS: f64 = 0.5;

pub fn run(args: DeployArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let speed =
        crate::robot::speed_command(&spec, &args.robot, args.speed.as_ref(), DEPLOY_SPEED_CAP_MPS, true)?;
    if let Some(s) = args.seconds {
        anyhow::ensure!(s.is_finite() && s > 0.0, "--seconds {s}: use a positive duration");
    }
    let safety = SafetyConfig {
        hold_s: args.hold_s,
        give_up_s: args.give_up_s,
        damp_after_surprising_ticks: args.damp_on_surprise,
        ..SafetyConfig::default()
    };
    anyhow::ensure!(
        args.hold_s.is_finite() && (0.0..=0.3).contains(&args.hold_s),
        "--hold-s {}: use 0 to 0.3 s (the robot's own command watchdog fires at 0.3 s, docs/PROTOCOL.md)",
        args.hold_s
    );
    anyhow::ensure!(
        args.give_up_s.is_finite() && args.give_up_s > args.hold_s,
        "--give-up-s {}: use a time longer than --hold-s",
        args.give_up_s
    );
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
    let first = first_measurement(&mut link).context("deploy: first measurement")?;

    let stop = Arc::new(Stop::default());
    let button = stop.clone();
    ctrlc::set_handler(move || button.press()).context("installing the Ctrl-C handler")?;
    if !args.json {
        eprintln!(
            "deploy: {} on {} at {} m/s; Ctrl-C damps, then disarms at rest; Ctrl-C twice disarms at once",
            policy.name, args.port, speed
        );
    }
    let dt = spec.control_dt_s();
    let cfg = RunConfig {
        ticks: args.seconds.map_or(u64::MAX, |s| (s / dt).round() as u64),
        realtime: true,
        command: speed.clone(),
        wind_down: true,
    };
    let mut control = Controller::new(&spec, policy.policy, safety);
    let throttle = Arc::new(Throttle::default());
    control.follow(throttle.clone());
    let keyboard = if args.json {
        None
    } else {
        Keyboard::listen(speed.first(), spec.control.vx_range_mps, throttle, stop.clone())?
    };
    let mut log_error = None;
    let report = control.run(&mut link, first, &cfg, &stop, |event, _| {
        if let (Some(log), None) = (log.as_mut(), &log_error) {
            log_error = log.record(event, None).err();
        }
    });
    drop(keyboard);
    let report = report?;
    if let Some(log) = log {
        log.finish()?;
    }
    if let Some(e) = log_error {
        return Err(e).context("recording the run (the run itself went on to its end)");
    }
    let stats = link.stats();
    if args.json {
        let value = serde_json::json!({
            "model": policy.name,
            "port": args.port,
            "command_vx": speed.as_constant().map_or_else(|| speed.to_string().into(), serde_json::Value::from),
            "control": report,
            "link": {
                "frames_rx": stats.frames_rx,
                "frames_tx": stats.frames_tx,
                "crc_errors": stats.crc_errors,
                "bad_frames": stats.bad_frames(),
                "frames_lost": stats.frames_lost,
                "timeouts": stats.timeouts,
                "disconnects": stats.disconnects,
                "reconnects": stats.reconnects,
                "faults": stats.faults,
                "round_trip_p99_us": stats.round_trip_quantile_us(0.99),
            },
        });
        println!("{value}");
    } else {
        print!("{report}");
        println!(
            "link       {} frames received, {} bad, {} lost, {} acks late; {} disconnects, {} reconnects; robot {}",
            stats.frames_rx,
            stats.bad_frames(),
            stats.frames_lost,
            stats.timeouts,
            stats.disconnects,
            stats.reconnects,
            if report.disarmed { "disarmed" } else { "left damping (not disarmed)" }
        );
    }
    anyhow::ensure!(report.ending.is_success(), "the run did not complete: {}", report.ending);
    Ok(())
}

/// The robot's pose before anything moves: a few tries, so that one lost frame on a noisy
/// link does not stop a deploy before it starts.
fn first_measurement(link: &mut SerialLink) -> anyhow::Result<Sensors> {
    let mut last = None;
    for _ in 0..25 {
        match link.ping_disarmed() {
            Ok(frame) => return Ok(sensors_from_frame(link.layout(), &frame)),
            Err(e) => last = Some(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Err(last.expect("tried").into())
}
