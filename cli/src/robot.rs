//! `strider robot …`: the robot contract, printed for people and for scripts.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use strider_robot::{Field, REFERENCE_BIPED_NAME, RobotSpec, SpeedSchedule};

#[derive(Subcommand)]
pub enum RobotCommand {
    /// Print the joints, the observation and action layouts, the rates and the contract id.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    robot: RobotArg,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

/// `--robot FILE`, shared by every command that needs the robot description.
#[derive(Args, Clone, Debug)]
pub struct RobotArg {
    /// Robot description (TOML). Default: the built-in reference biped (robots/biped.toml).
    #[arg(long, value_name = "FILE")]
    pub robot: Option<PathBuf>,
}

impl RobotArg {
    pub fn load(&self) -> anyhow::Result<RobotSpec> {
        match &self.robot {
            None => Ok(RobotSpec::reference()),
            Some(path) => load_spec(path),
        }
    }
}

/// What the operator commands: `given`, or the robot's default speed (at most `cap`, m/s).
/// A speed outside the robot's rated range is refused when `strict` (a real robot), and
/// warned about on stderr otherwise (the simulator).
pub fn speed_command(
    spec: &RobotSpec,
    origin: &RobotArg,
    given: Option<&SpeedSchedule>,
    cap: f64,
    strict: bool,
) -> anyhow::Result<SpeedSchedule> {
    let control = &spec.control;
    let Some(given) = given else {
        return Ok(SpeedSchedule::constant(control.vx_default_mps.min(cap)));
    };
    if let Some(v) = control.speed_outside_range(given) {
        let [lo, hi] = control.vx_range_mps;
        let file =
            origin.robot.as_ref().map_or(REFERENCE_BIPED_NAME.to_string(), |p| p.display().to_string());
        let line = format!(
            "--speed {given}: {v} m/s is outside {file} control.vx_range_mps [{lo}, {hi}], the speeds {} is rated for",
            spec.name
        );
        anyhow::ensure!(
            !strict,
            "{line}: command a speed within it, or widen the range once the robot is measured there"
        );
        eprintln!("warning: {line}");
    }
    Ok(given.clone())
}

fn load_spec(path: &Path) -> anyhow::Result<RobotSpec> {
    // The error already names the file and each field; add nothing but the verb.
    RobotSpec::load(path).context("loading robot description")
}

pub fn run(cmd: RobotCommand) -> anyhow::Result<()> {
    match cmd {
        RobotCommand::Show(args) => {
            let spec = args.robot.load()?;
            if args.json {
                println!("{}", show_json(&spec));
            } else {
                print!("{}", show_text(&spec));
            }
            Ok(())
        }
    }
}

fn show_text(spec: &RobotSpec) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let p = &spec.physics;
    let _ = writeln!(s, "robot        {}", spec.name);
    let _ = writeln!(s, "contract id  {}", spec.contract_id());
    let _ = writeln!(
        s,
        "rates        physics/PD {} Hz (dt {} ms), control {} Hz ({} physics steps per tick)",
        p.physics_hz,
        1000.0 / f64::from(p.physics_hz),
        spec.control.control_hz,
        spec.physics_steps_per_tick()
    );
    let _ = writeln!(
        s,
        "physics      gravity {} m/s², ground friction {} (max-combined), {} solver iterations",
        p.gravity_mps2, p.ground_friction, p.solver_iterations
    );
    let sn = &spec.sensors;
    let imu: Vec<&str> = sn.imu.iter().map(|f| f.name()).collect();
    let contacts: Vec<String> = sn.contacts.iter().map(|c| format!("{} on {}", c.name, c.link)).collect();
    let contacts = if contacts.is_empty() { "none".to_string() } else { contacts.join(", ") };
    let _ = writeln!(s, "sensors      IMU on {} ({}); contacts: {}", sn.imu_link, imu.join(", "), contacts);
    let commands: Vec<String> =
        spec.control.commands.iter().map(|c| format!("{} {}", c.name(), c.unit())).collect();
    let _ = writeln!(s, "commands     {}", commands.join(", "));
    let [lo, hi] = spec.control.vx_range_mps;
    let _ = writeln!(s, "rated vx     {lo} … {hi} m/s, default {} m/s", spec.control.vx_default_mps);

    let _ = writeln!(s, "\nlinks (total {:.2} kg)", spec.total_mass_kg());
    let _ = writeln!(
        s,
        "  {:<12} {:<26} {:>9} {:>12} {:>8}",
        "name", "shape", "mass kg", "inertia kgm²", "friction"
    );
    for l in &spec.links {
        let strider_robot::Shape::Capsule { axis, length_m, radius_m } = l.shape;
        let shape = format!("capsule {axis:?} len {length_m} r {radius_m}");
        let _ = writeln!(
            s,
            "  {:<12} {:<26} {:>9.5} {:>12.6} {:>8}",
            l.name, shape, l.mass_kg, l.inertia_kgm2, l.friction
        );
    }

    let _ = writeln!(s, "\njoints (order used everywhere)");
    let _ = writeln!(
        s,
        "  {:<3} {:<12} {:<24} {:>16} {:>11} {:>11} {:>10} {:>12}",
        "#", "name", "parent → child", "limits °", "default °", "torque N·m", "kp N·m/rad", "kd N·m·s/rad"
    );
    for (i, j) in spec.joints.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {:<3} {:<12} {:<24} {:>16} {:>11} {:>11} {:>10} {:>12}",
            i,
            j.name,
            format!("{} → {}", j.parent, j.child),
            format!("[{}, {}]", j.limits_deg[0], j.limits_deg[1]),
            j.default_deg,
            j.torque_limit_nm,
            j.kp_nm_per_rad,
            j.kd_nms_per_rad
        );
    }

    for (title, fields) in [
        ("observation", spec.observation_layout()),
        ("action (position targets for the plant's PD loop)", spec.action_layout()),
    ] {
        let _ = writeln!(s, "\n{title}: {} fields", fields.len());
        let _ = writeln!(s, "  {:<3} {:<26} unit", "#", "field");
        for Field { index, name, unit } in fields {
            let _ = writeln!(s, "  {index:<3} {name:<26} {unit}");
        }
    }
    s
}

fn show_json(spec: &RobotSpec) -> String {
    serde_json::json!({
        "contract_id": spec.contract_id().to_string(),
        "total_mass_kg": spec.total_mass_kg(),
        "physics_steps_per_tick": spec.physics_steps_per_tick(),
        "spec": spec,
        "observation": spec.observation_layout(),
        "action": spec.action_layout(),
    })
    .to_string()
}
