//! The second robot, end to end as a user runs it: `strider sim --robot robots/hopper.toml`
//! picks the hopper's built-in model by its contract id and hops; `strider deploy` drives
//! `strider virtual-robot --robot robots/hopper.toml` over the serial protocol and logs the
//! run; `strider replay` reads that log for the hopper and refuses it for the biped; the
//! hopper's model refuses the biped, naming both contract ids.

use strider_robot::RobotSpec;

use super::{scratch, strider};

const HOPPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../robots/hopper.toml");
const HOPPER_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/hopper/model.toml");

fn hopper_id() -> String {
    RobotSpec::load(std::path::Path::new(HOPPER)).unwrap().contract_id().to_string()
}

fn biped_id() -> String {
    RobotSpec::reference().contract_id().to_string()
}

/// The built-in hopper model hops it in place and forward through the real-time controller
/// (the default scenario, start push included): no fall, every tick an action in time. Told
/// no speed, it runs at the hopper's own default (`control.vx_default_mps`), not the biped's.
#[test]
fn the_built_in_hopper_model_hops_the_hopper() {
    for (speed, seed, command) in [(Some("0"), "3", 0.0), (None, "4", 0.2)] {
        let mut args = vec!["sim", "--robot", HOPPER, "--seconds", "10", "--seed", seed, "--json"];
        args.extend(speed.map(|s| ["--speed", s]).into_iter().flatten());
        let (ok, out, err) = strider(&args);
        assert!(ok, "{err}");
        assert!(err.is_empty(), "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["model"], "built-in models/hopper/model.toml", "{v}");
        assert_eq!(v["command_vx"], command, "{v}");
        assert_eq!(v["fell"], false, "speed {speed:?}: {v}");
        let c = &v["control"];
        assert_eq!(c["ending"]["reason"], "completed", "{v}");
        assert_eq!(c["running_ticks"], 500, "{v}");
        assert_eq!(c["missed_ticks"], 0, "{v}");
    }
}

/// The hopper's model refuses the biped in one line naming both contract ids (the biped's
/// model refusing the hopper: `robot::the_hopper_is_its_own_layout_…`).
#[test]
fn the_hopper_model_refuses_the_biped() {
    let (ok, _, err) = strider(&["sim", "--model", HOPPER_MODEL, "--seconds", "1"]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&hopper_id()) && err.contains(&biped_id()), "{err}");
}

/// A speed the hopper is not rated for is refused before any port is opened, in one line
/// naming the description, the field and its range; in the simulator it is only a warning.
#[test]
fn deploy_refuses_a_speed_outside_the_hoppers_rated_range() {
    let (ok, out, err) =
        strider(&["deploy", "--robot", HOPPER, "--port", "/dev/no-such-port", "--speed", "0.2,0.6@5"]);
    assert!(!ok && out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("0.6 m/s is outside") && err.contains("hopper.toml control.vx_range_mps [0, 0.2]"),
        "{err}"
    );
    assert!(!err.contains("no-such-port"), "{err}");

    let (ok, _, err) = strider(&[
        "sim",
        "--robot",
        HOPPER,
        "--controller",
        "expert",
        "--speed",
        "0.3",
        "--seconds",
        "1",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(err.starts_with("warning: --speed 0.3: 0.3 m/s is outside"), "{err}");
}

/// `deploy --robot robots/hopper.toml` against the simulated hopper behind a pty: the
/// handshake announces the hopper's counts, the built-in hopper model drives it over the
/// serial protocol, and the run log replays for the hopper and is refused for the biped.
#[test]
fn deploy_drives_the_virtual_hopper_and_its_log_replays_for_the_hopper_only() {
    let dir = scratch("hopper-deploy");
    let log = dir.join("hopper.mcap");
    let (_, out) = super::link::deploy_logged_with(&["--robot", HOPPER], "2", &log);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v["control"];
    assert_eq!(c["ending"]["reason"], "completed", "{v}");
    assert!(c["running_ticks"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(c["disarmed"], true, "{v}");
    assert_eq!(v["link"]["crc_errors"], 0, "{v}");

    let (ok, replay, err) = strider(&["replay", "--json", "--robot", HOPPER, log.to_str().unwrap()]);
    assert!(ok, "{err}");
    let r: serde_json::Value = serde_json::from_str(&replay).unwrap();
    assert_eq!(r["ticks"], c["ticks"], "{r}");
    assert_eq!(r["has_actions"], true, "{r}");

    let (ok, out, err) = strider(&["replay", log.to_str().unwrap()]);
    assert!(!ok && out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&hopper_id()) && err.contains(&biped_id()), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Told no speeds, `collect` draws commands over the robot's rated range: the biped's walks
/// go backward too, the hopper (rated 0 … 0.2 m/s) gets no backward walks or reversals
/// instead of a refusal.
#[test]
fn collect_draws_commands_over_each_robots_rated_range() {
    let dir = scratch("collect-range");
    for (robot, range, backward, reverse) in
        [(None, [-0.5, 1.2], 0.35, 0.25), (Some(HOPPER), [0.0, 0.2], 0.0, 0.0)]
    {
        let out = dir.join(if robot.is_some() { "hopper" } else { "biped" });
        let mut args = vec!["collect", "--out", out.to_str().unwrap(), "--episodes", "1", "--seconds", "1"];
        args.extend(robot.map(|r| ["--robot", r]).into_iter().flatten());
        let (ok, _, err) = strider(&args);
        assert!(ok, "{err}");
        let plan: toml::Value =
            toml::from_str(&std::fs::read_to_string(out.join("collect.toml")).unwrap()).unwrap();
        let got: Vec<f64> =
            plan["speed_range"].as_array().unwrap().iter().map(|v| v.as_float().unwrap()).collect();
        assert_eq!(got, range, "{plan}");
        let mix = &plan["command_mix"];
        assert_eq!(mix["backward_share"].as_float(), Some(backward), "{plan}");
        assert_eq!(mix["reverse_share"].as_float(), Some(reverse), "{plan}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
