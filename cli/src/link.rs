//! `strider link …`: the serial link to a robot, checked from the command line.

use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use strider_firmware_host::ftdi;
use strider_firmware_host::link::{self, LinkConfig, LinkStats, SerialLink};

use crate::robot::RobotArg;

#[derive(Subcommand)]
pub enum LinkCommand {
    /// Handshake with a robot, print its firmware, then measure round trips and count errors.
    /// Safe on a robot that is not walking: it only ever sends SetMode(Disarm).
    Probe(ProbeArgs),
}

#[derive(Args)]
pub struct ProbeArgs {
    /// Serial device, e.g. /dev/ttyUSB0 or a pseudo-terminal.
    #[arg(long, value_name = "PATH")]
    port: String,
    /// Baud rate.
    #[arg(long, default_value_t = 1_000_000)]
    baud: u32,
    /// How long to measure round trips, seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Round trips per second (default: the robot's control rate).
    #[arg(long)]
    rate_hz: Option<f64>,
    #[command(flatten)]
    robot: RobotArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: LinkCommand) -> anyhow::Result<()> {
    match cmd {
        LinkCommand::Probe(args) => probe(&args),
    }
}

fn probe(args: &ProbeArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let rate = args.rate_hz.unwrap_or(f64::from(spec.control.control_hz));
    anyhow::ensure!(rate > 0.0 && rate.is_finite(), "--rate-hz {rate}: use a positive rate");
    let config =
        LinkConfig { port: args.port.clone(), baud: args.baud, reconnect: false, ..LinkConfig::default() };
    let mut link = SerialLink::connect(spec, config).context("link probe")?;
    if !args.json {
        print_header(&link, rate, args.seconds);
    }
    let report = link::probe(&mut link, Duration::from_secs_f64(args.seconds.max(0.0)), rate);
    if args.json {
        println!("{}", report_json(&link, &report.stats, report.ok, report.failed));
    } else {
        print_report(&report.stats, report.ok, report.failed);
    }
    Ok(())
}

fn print_header(link: &SerialLink, rate: f64, seconds: f64) {
    let r = link.robot();
    println!("firmware     {}", r.firmware_str());
    println!("protocol     v{}", r.info.protocol_version);
    println!("contract id  {:016x} (matches)", r.info.contract_id);
    println!("joints       {}", r.info.joint_count);
    println!("rates        physics {} Hz, control {} Hz", r.info.physics_hz, r.info.control_hz);
    for w in link.warnings() {
        println!("warning      {w}");
    }
    for p in ftdi::find_ftdi_ports(std::path::Path::new(ftdi::SYSFS_USB_SERIAL)) {
        println!("ftdi         /dev/{} latency timer {} ms", p.name, p.latency_ms);
    }
    println!("measuring    {seconds} s of round trips at {rate} Hz (SetMode(Disarm) → sensor frame)");
}

fn quantiles(stats: &LinkStats) -> Vec<(&'static str, Option<u64>)> {
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999), ("max", 1.0)]
        .into_iter()
        .map(|(name, q)| (name, stats.round_trip_quantile_us(q)))
        .collect()
}

fn print_report(stats: &LinkStats, ok: u64, failed: u64) {
    println!("\nround trips  {ok} ok, {failed} failed");
    let cells: Vec<String> = quantiles(stats)
        .into_iter()
        .map(|(name, v)| format!("{name} {}", v.map_or("-".into(), |us| format!("{us} µs"))))
        .collect();
    println!("latency      {}", cells.join("  "));
    println!(
        "errors       crc {}  framing {}  decode {}  lost frames {} (in {} gaps)  timeouts {}",
        stats.crc_errors,
        stats.framing_errors,
        stats.decode_errors,
        stats.frames_lost,
        stats.seq_gaps,
        stats.timeouts
    );
    println!("frames       rx {}  tx {}  faults {}", stats.frames_rx, stats.frames_tx, stats.faults);
    if let Some(fw) = stats.firmware {
        println!(
            "robot says   rx {}  bad {}  lost {}  tx {}  watchdog trips {}  uptime {} ms",
            fw.rx_frames, fw.rx_bad_frames, fw.rx_lost_frames, fw.tx_frames, fw.watchdog_trips, fw.uptime_ms
        );
    }
}

fn report_json(link: &SerialLink, stats: &LinkStats, ok: u64, failed: u64) -> String {
    let r = link.robot();
    let latency: serde_json::Map<String, serde_json::Value> =
        quantiles(stats).into_iter().map(|(name, v)| (name.to_string(), v.into())).collect();
    let warnings: Vec<String> = link.warnings().iter().map(ToString::to_string).collect();
    serde_json::json!({
        "firmware": r.firmware_str(),
        "protocol_version": r.info.protocol_version,
        "contract_id": format!("{:016x}", r.info.contract_id),
        "joint_count": r.info.joint_count,
        "physics_hz": r.info.physics_hz,
        "control_hz": r.info.control_hz,
        "round_trips_ok": ok,
        "round_trips_failed": failed,
        "round_trip_us": latency,
        "crc_errors": stats.crc_errors,
        "framing_errors": stats.framing_errors,
        "decode_errors": stats.decode_errors,
        "frames_lost": stats.frames_lost,
        "seq_gaps": stats.seq_gaps,
        "timeouts": stats.timeouts,
        "frames_rx": stats.frames_rx,
        "frames_tx": stats.frames_tx,
        "faults": stats.faults,
        "warnings": warnings,
    })
    .to_string()
}
