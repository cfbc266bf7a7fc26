//! `strider policy …`: look inside a model file.

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use strider_controller::LatencyStats;
#[cfg(feature = "train")]
use strider_policy::Interface;
use strider_policy::Policy;

use crate::model::Loaded;
use strider_robot::{Observation, Sensors};

use crate::robot::RobotArg;

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Print a model's manifest, parameter count, graph op histogram and a latency estimate.
    Inspect(InspectArgs),
    /// Re-export a Strider model with another graph interface (e.g. a two-token `pair`
    /// model as `token`, whose action step runs between ticks, or as a plain `window`
    /// graph): same weights, normalisation and surprise calibration, into a new directory.
    #[cfg(feature = "train")]
    Convert(ConvertArgs),
    /// Re-export a Strider model with another graph interface (needs a build with
    /// `--features train`).
    #[cfg(not(feature = "train"))]
    Convert(crate::NoEngine),
    /// List the ONNX operators the model loader knows (one per line).
    Ops,
}

#[cfg(feature = "train")]
#[derive(Args)]
pub struct ConvertArgs {
    /// The model: its manifest (`model.toml`) or the `.onnx` beside it.
    model: PathBuf,
    /// Directory for the new `model.onnx` and `model.toml`; must not hold a model yet.
    #[arg(long)]
    out: PathBuf,
    /// The graph interface to write.
    #[arg(long, value_enum, default_value_t = InterfaceArg::Token)]
    interface: InterfaceArg,
    #[command(flatten)]
    robot: RobotArg,
}

#[cfg(feature = "train")]
#[derive(Clone, Copy, clap::ValueEnum)]
enum InterfaceArg {
    /// One token per call (what `strider train` writes).
    Token,
    /// A tick's two tokens per call.
    Pair,
    /// The whole context every call, no caches (slower; for engines without state).
    Window,
}

#[derive(Args)]
pub struct InspectArgs {
    /// The model: its manifest (`model.toml`) or the `.onnx` beside it.
    model: PathBuf,
    #[command(flatten)]
    robot: RobotArg,
    /// Steps timed for the latency estimate (one thread, after a full context and n/10 warm-up steps).
    #[arg(long, default_value_t = 300)]
    ticks: usize,
    /// Also time every op of the optimised graph over this many steps and print where a
    /// step's time goes, by op type.
    #[arg(long, value_name = "STEPS")]
    profile: Option<usize>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: PolicyCommand) -> anyhow::Result<()> {
    match cmd {
        PolicyCommand::Inspect(args) => inspect(&args),
        #[cfg(feature = "train")]
        PolicyCommand::Convert(args) => convert(&args),
        #[cfg(not(feature = "train"))]
        PolicyCommand::Convert(args) => args.refuse("policy convert"),
        PolicyCommand::Ops => {
            for op in strider_policy::supported_onnx_ops() {
                println!("{op}");
            }
            Ok(())
        }
    }
}

#[cfg(feature = "train")]
fn convert(args: &ConvertArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let target = args.out.join("model.toml");
    anyhow::ensure!(
        !target.exists() && !args.out.join("model.onnx").exists(),
        "{}: already holds a model; choose another --out (nothing was written)",
        args.out.display()
    );
    let interface = match args.interface {
        InterfaceArg::Token => Interface::Token,
        InterfaceArg::Pair => Interface::Pair,
        InterfaceArg::Window => Interface::Window,
    };
    let e =
        strider_train::convert_model(&crate::model::manifest_path(&args.model), &spec, &args.out, interface)?;
    println!(
        "{} ({} interface, sha256 {})",
        e.manifest.display(),
        interface.name(),
        e.manifest_data.onnx.sha256
    );
    Ok(())
}

fn inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let spec = args.robot.load()?;
    let Loaded { mut policy, name: manifest } = crate::model::load(Some(&args.model), &spec)?;
    let latency = latency_us(&mut policy, args.ticks.max(1))?;
    let (p50, p99) = latency.critical;
    let profile = args.profile.map(|n| policy.profile(n.max(1))).transpose()?;
    let m = policy.manifest().clone();
    let s = policy.summary().clone();
    if args.json {
        let profile = profile.as_ref().map(|p| {
            p.iter()
                .map(|o| serde_json::json!({"op": o.op, "nodes": o.nodes, "us_per_step": o.us_per_step}))
                .collect::<Vec<_>>()
        });
        let v = serde_json::json!({
            "manifest": manifest, "format_version": m.format_version,
            "robot": {"name": m.robot.name, "contract_id": m.robot.contract_id, "joints": m.robot.joints},
            "context_ticks": m.context.ticks, "position": m.context.position,
            "model": {"layers": m.model.layers, "width": m.model.width, "heads": m.model.heads, "parameters": m.model.parameters},
            "initializer_scalars": s.initializer_scalars,
            "onnx": {"file": m.onnx.file, "sha256": m.onnx.sha256, "opset": m.onnx.opset, "interface": m.onnx.interface},
            "onnx_ops": s.onnx_ops, "optimised_ops": s.optimised_ops,
            "latency_us": {
                "p50": p50, "p99": p99,
                "between_ticks_p50": latency.between.0, "between_ticks_p99": latency.between.1,
                "tick_p50": latency.tick.0, "tick_p99": latency.tick.1,
                "ticks": args.ticks, "threads": 1,
            },
            "profile": profile,
            "surprise": m.surprise,
        });
        println!("{v}");
        return Ok(());
    }
    println!("manifest     {manifest} (format {})", m.format_version);
    println!(
        "robot        {} (contract {}), joints {}",
        m.robot.name,
        m.robot.contract_id,
        m.robot.joints.join(", ")
    );
    println!("timing       {} Hz, action delay {} ticks", m.timing.control_hz, m.timing.action_delay_ticks);
    println!(
        "context      {} ticks ({} tokens), positions {}",
        m.context.ticks,
        2 * m.context.ticks,
        m.context.position
    );
    println!(
        "model        {} layers, width {}, {} heads, {} parameters",
        m.model.layers, m.model.width, m.model.heads, m.model.parameters
    );
    match &m.surprise {
        Some(su) => println!(
            "surprise     threshold {:.3}, the {} quantile over {} ticks of {}",
            su.threshold, su.quantile, su.ticks, su.data
        ),
        None => println!("surprise     not calibrated (strider replay LOGS --model M --calibrate-surprise)"),
    }
    println!(
        "graph        {} opset {}, interface {}, sha256 {}",
        m.onnx.file,
        m.onnx.opset,
        m.onnx.interface.name(),
        m.onnx.sha256
    );
    println!("             {} initializer scalars (weights + baked attention bias)", s.initializer_scalars);
    for f in m.observation.iter().chain(&m.action) {
        println!(
            "  {:<28} {:<6} mean {:>9.4}  std {:>9.4}  clamp {}",
            f.name,
            f.unit,
            f.mean.unwrap_or(f32::NAN),
            f.std.unwrap_or(f32::NAN),
            f.clamp.map_or("-".to_string(), |c| c.to_string())
        );
    }
    let hist = |h: &std::collections::BTreeMap<String, usize>| {
        h.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
    };
    println!("onnx ops     {}", hist(&s.onnx_ops));
    println!("tract ops    {}", hist(&s.optimised_ops));
    println!(
        "latency      observation → action p50 {p50:.0} µs, p99 {p99:.0} µs ({} ticks, one thread, full context)",
        args.ticks
    );
    println!(
        "             between ticks (the action's token) p50 {:.0} µs, p99 {:.0} µs; whole tick p50 {:.0} µs, p99 {:.0} µs",
        latency.between.0, latency.between.1, latency.tick.0, latency.tick.1
    );
    if let Some(p) = profile {
        let total: f64 = p.iter().map(|o| o.us_per_step).sum();
        println!("profile      µs per tick by op type (timed op by op; total {total:.0} µs)");
        for o in p {
            println!(
                "  {:<28} {:>3} nodes {:>8.1} µs {:>5.1} %",
                o.op,
                o.nodes,
                o.us_per_step,
                100.0 * o.us_per_step / total
            );
        }
    }
    Ok(())
}

/// (p50, p99) in µs of the parts of a tick, as the control loop runs them.
struct Latency {
    /// `Policy::step`: from the measurement to the action (the critical path).
    critical: (f64, f64),
    /// `Policy::prepare`: the action's token, run once the action is sent (one-token graphs).
    between: (f64, f64),
    /// Both.
    tick: (f64, f64),
}

/// Tick latency percentiles over `n` ticks after filling the context.
fn latency_us(policy: &mut Policy, n: usize) -> anyhow::Result<Latency> {
    let layout = *policy.layout();
    let obs = Observation::new(Sensors::zeros(&layout), layout.forward_command(0.5));
    // Fill the context, then let caches and the allocator settle.
    for _ in 0..policy.manifest().context.ticks + n / 10 {
        policy.step(&obs)?;
        policy.prepare()?;
    }
    let (mut critical, mut between, mut tick) =
        (LatencyStats::default(), LatencyStats::default(), LatencyStats::default());
    for _ in 0..n {
        let start = Instant::now();
        policy.step(&obs)?;
        let acted = Instant::now();
        policy.prepare()?;
        let prepared = Instant::now();
        critical.record(acted - start);
        between.record(prepared - acted);
        tick.record(prepared - start);
    }
    let p50_p99 = |s: &LatencyStats| (s.percentiles().p50_us, s.percentiles().p99_us);
    Ok(Latency { critical: p50_p99(&critical), between: p50_p99(&between), tick: p50_p99(&tick) })
}
