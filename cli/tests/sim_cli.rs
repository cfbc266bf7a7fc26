//! `strider sim` as a user runs it: the built-in policy walking, the expert's JSON summary,
//! the GIF, a speed schedule, and bad input.

use std::process::Command;

fn strider() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strider"))
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strider-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn json_summary_is_one_object_with_the_run_facts() {
    let out = strider()
        .args(["sim", "--controller", "expert", "--speed", "0.6", "--seconds", "4", "--seed", "2", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["controller"], "expert");
    assert_eq!(v["command_vx"], 0.6);
    assert_eq!(v["seed"], 2);
    assert_eq!(v["fell"], false);
    assert!(v["distance_m"].as_f64().unwrap() > 1.0, "{v}");
    assert!(v["physics_steps"].as_u64().unwrap() == 2000, "{v}");
    assert!(v["realtime_factor"].as_f64().unwrap() > 0.0);
}

/// A schedule on `--speed`: the summary names it, reports the paper's position error and,
/// as it ends at 0, when the robot came to rest.
#[test]
fn a_speed_schedule_runs_and_reports_rest_and_position_error() {
    let out = strider()
        .args(["sim", "--controller", "expert", "--speed", "-0.3,0@3", "--seconds", "6", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["command"], "-0.3,0@3");
    assert_eq!(v["fell"], false, "{v}");
    assert!(v["position_error_m"].as_f64().unwrap() < 0.5, "{v}");
    assert!(v["rest_after_s"].as_f64().is_some_and(|t| t < 3.0), "{v}");
    assert_eq!(v["steps_at_rest"], 0, "{v}");
}

#[test]
fn a_bad_speed_schedule_is_refused_naming_the_item_and_the_form() {
    let out = strider().args(["sim", "--speed", "1,0@6,0.5@4"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    let first = err.lines().next().unwrap();
    assert!(
        first.contains("--speed") && first.contains("item 3") && first.contains("1.0,0@6,-0.3@12"),
        "{err}"
    );
}

#[test]
fn gif_option_writes_an_animation() {
    let path = scratch("walk.gif");
    let out = strider().args(["sim", "--seconds", "1"]).arg("--gif").arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..6], b"GIF89a");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("26 frames"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_bad_scenario_field_is_one_line_naming_file_and_field() {
    let path = scratch("typo.toml");
    std::fs::write(&path, "[randomize]\nfriction = [0.5, 1.5]\n").unwrap();
    let out = strider().arg("sim").arg("--scenario").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("typo.toml") && err.contains("`friction`") && err.contains("friction_scale"),
        "{err}"
    );
}

/// The README's main command: the built-in model walks the simulated biped through the
/// real-time controller, every tick an action in time, no fall.
#[test]
fn the_built_in_policy_walks() {
    let out = strider()
        .args(["sim", "--speed", "0.6", "--seconds", "8", "--seed", "1", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["controller"], "policy");
    assert_eq!(v["fell"], false, "{v}");
    assert!(v["distance_m"].as_f64().unwrap() > 2.0, "{v}");
    let c = &v["control"];
    assert_eq!(c["ending"]["reason"], "completed", "{v}");
    assert_eq!(c["running_ticks"], 400, "{v}");
    assert_eq!(c["missed_ticks"], 0, "{v}");
    assert_eq!(c["policy_latency"]["count"], 400, "{v}");
}

/// `--log` records the run as a Strider log that `strider replay` reads back whole, and
/// never overwrites a file.
#[test]
fn log_option_records_the_policy_run() {
    let path = scratch("run.mcap");
    let _ = std::fs::remove_file(&path);
    let out = strider().args(["sim", "--seconds", "2", "--json", "--log"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = strider().args(["replay", "--json"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["episodes"].as_u64(), v["ticks"].as_u64()), (Some(1), Some(100)), "{v}");
    assert_eq!(v["has_actions"], true);
    assert!(v["controller"].as_str().unwrap().starts_with("policy built-in"), "{v}");
    let again = strider().args(["sim", "--seconds", "1", "--log"]).arg(&path).output().unwrap();
    assert!(!again.status.success(), "an existing log was overwritten");
}

#[test]
fn a_missing_model_is_one_line_naming_the_file() {
    let out = strider().args(["sim", "--model", "no/such/model.toml"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no/such/model.toml"), "{err}");
}

/// The shipped model's surprise signal notices a knee encoder that freezes mid-walk (its
/// threshold is calibrated), and the suite reports it as a detection with its delay.
#[test]
fn the_surprise_suite_detects_a_stuck_encoder_with_the_built_in_model() {
    let out = strider()
        .args([
            "sim",
            "eval",
            "--suite",
            "surprise",
            "--seeds",
            "1",
            "--first-seed",
            "7000",
            "--only",
            "knee",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &v["rows"][0];
    assert_eq!(row["label"], "right knee encoder stuck", "{v}");
    let s = &row["surprise"];
    assert_eq!((s["disturbed"].as_u64(), s["detected"].as_u64()), (Some(1), Some(1)), "{v}");
    assert!(s["worst_delay_ticks"].as_u64().unwrap() <= 50, "{v}");
    assert!(s["clean_ticks"].as_u64().unwrap() > 200, "{v}");
}

/// `replay --model --plot` draws the chosen fields of a recorded run, recording against
/// prediction; a field the robot does not have is refused naming it and the choices.
#[test]
fn replay_plots_predicted_against_recorded() {
    let log = scratch("plotted.mcap");
    let dir = scratch("plots");
    let _ = std::fs::remove_file(&log);
    let _ = std::fs::remove_dir_all(&dir);
    let out = strider().args(["sim", "--seconds", "2", "--json", "--log"]).arg(&log).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let replay = |fields: &str| {
        strider()
            .arg("replay")
            .arg(&log)
            .args(["--model", "built-in", "--fields", fields, "--plot"])
            .arg(&dir)
            .output()
            .unwrap()
    };
    let out = replay("torso_pitch,joint_target.left_knee");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in ["torso_pitch", "joint_target.left_knee"] {
        let png = std::fs::read(dir.join(format!("{f}.png"))).unwrap();
        assert_eq!(&png[1..4], b"PNG", "{f}");
        assert!(png.len() > 10_000, "{f}: {} bytes, too few for a drawn chart", png.len());
    }
    let out = replay("knee");
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("`knee`") && err.contains("joint_pos.right_knee"), "{err}");
}
