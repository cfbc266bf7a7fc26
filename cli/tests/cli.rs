//! The `strider` binary, run as a user runs it.
//!
//! Modules, one per command group:
//! - `sim_cli`: `strider sim` prints a JSON summary, writes a GIF, follows a speed schedule
//!   (rest and position error), refuses a bad scenario or schedule.
//! - `robot`: `strider robot show` prints the contract and refuses bad descriptions.
//! - `replay`: `strider replay LOG` summarises a log (counting NaN and ±Inf values rather
//!   than averaging them) and refuses one for another robot; `strider export lerobot`
//!   writes a LeRobot dataset from it.
//! - `collect`: `strider collect` writes shards that resume after an interruption without
//!   touching finished ones, refuses changed options, and replays into the simulator with
//!   zero divergence (and measurable divergence on a different robot); `strider train`
//!   learns from those logs and refuses logs of another joint order.
//! - `link`: `strider virtual-robot` serves the simulator on a pseudo-terminal and
//!   `strider link probe` handshakes with it over the real serial protocol; `strider deploy`
//!   walks it and logs the run, which `replay --into-sim` refuses in one line (no scenario).
//! - `policy`: `strider policy convert` re-exports the shipped model as `pair` and back
//!   byte for byte and as a `window` graph that runs the simulator, and refuses to write
//!   over a model.
//! - `hopper_cli`: the second robot through sim, deploy and replay with its built-in model.

mod hopper_cli;
mod sim_cli;

/// Runs the binary; returns (success, stdout, stderr).
fn strider(args: &[&str]) -> (bool, String, String) {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_strider")).args(args).output().expect("run strider");
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("strider-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

mod policy {
    use super::{scratch, strider};

    #[test]
    fn convert_round_trips_the_shipped_model_and_never_overwrites() {
        let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/walker2d-biped");
        let dir = scratch("convert");
        let (pair, back) = (dir.join("pair"), dir.join("token"));
        let manifest = format!("{shipped}/model.toml");
        let pair_manifest = pair.join("model.toml");
        let pair_manifest = pair_manifest.to_str().unwrap();
        let convert = |from: &str, interface: &str, out: &std::path::Path| {
            strider(&["policy", "convert", from, "--interface", interface, "--out", out.to_str().unwrap()])
        };
        let (ok, _, err) = convert(&manifest, "pair", &pair);
        assert!(ok, "{err}");
        let (ok, out, err) = strider(&["policy", "inspect", pair_manifest, "--ticks", "20", "--json"]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["onnx"]["interface"], "pair");
        assert!(v["surprise"]["threshold"].as_f64().is_some(), "the calibration came along: {out}");

        let (ok, _, err) = convert(pair_manifest, "token", &back);
        assert!(ok, "{err}");
        let read = |p: std::path::PathBuf| std::fs::read(p).unwrap();
        assert!(
            read(back.join("model.onnx")) == read(format!("{shipped}/model.onnx").into()),
            "token → pair → token differs"
        );
        assert_eq!(
            std::fs::read_to_string(back.join("model.toml")).unwrap(),
            std::fs::read_to_string(format!("{shipped}/model.toml")).unwrap()
        );

        // The same weights as a plain window graph run the simulator.
        let window = dir.join("window");
        let (ok, _, err) = convert(&manifest, "window", &window);
        assert!(ok, "{err}");
        let window_manifest = window.join("model.toml");
        let (ok, out, err) =
            strider(&["sim", "--model", window_manifest.to_str().unwrap(), "--seconds", "1", "--json"]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["fell"], false, "{out}");

        let before = read(back.join("model.onnx"));
        let (ok, _, err) = convert(pair_manifest, "pair", &back);
        assert!(!ok && err.contains("already holds a model") && err.trim().lines().count() == 1, "{err}");
        assert!(read(back.join("model.onnx")) == before, "nothing was written");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

mod robot {
    use strider_robot::RobotSpec;

    use super::{scratch, strider};

    #[test]
    fn show_lists_joints_in_contract_order_with_the_contract_id() {
        let (ok, out, err) = strider(&["robot", "show"]);
        assert!(ok, "{err}");
        let order = ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"];
        let rows: Vec<_> = out
            .lines()
            .skip_while(|l| !l.starts_with("joints"))
            .skip(2)
            .take(6)
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect();
        assert_eq!(rows, order);
        assert!(out.contains(&RobotSpec::reference().contract_id().to_string()));
        assert!(out.contains("observation: 17 fields"), "{out}");
        assert!(out.contains("16  command_vx                 m/s"), "{out}");
        assert!(out.contains("rated vx     -0.5 … 1.2 m/s, default 1 m/s"), "{out}");
        assert!(out.contains("action (position targets for the plant's PD loop): 6 fields"), "{out}");
    }

    #[test]
    fn show_json_is_one_object_with_the_layouts() {
        let (ok, out, err) = strider(&["robot", "show", "--json"]);
        assert!(ok, "{err}");
        assert_eq!(out.trim().lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["contract_id"], RobotSpec::reference().contract_id().to_string());
        assert_eq!(v["observation"].as_array().unwrap().len(), 17);
        assert_eq!(v["action"][5]["name"], "joint_target.left_ankle");
        assert_eq!(v["spec"]["joints"][1]["limits_deg"][0], -150.0);
    }

    /// The bundled hopper is another layout: shown with its own fields, and the biped's
    /// model refuses it in one line naming both contract ids; the expert for its shape
    /// drives it.
    #[test]
    fn the_hopper_is_its_own_layout_and_the_biped_model_refuses_it() {
        let hopper = concat!(env!("CARGO_MANIFEST_DIR"), "/../robots/hopper.toml");
        let biped_model = concat!(env!("CARGO_MANIFEST_DIR"), "/../models/walker2d-biped/model.toml");
        let (ok, out, err) = strider(&["robot", "show", "--robot", hopper]);
        assert!(ok, "{err}");
        assert!(out.contains("observation: 10 fields") && out.contains("foot_contact.foot"), "{out}");
        assert!(out.contains("rated vx     0 … 0.2 m/s, default 0.2 m/s"), "{out}");
        let id = RobotSpec::load(std::path::Path::new(hopper)).unwrap().contract_id().to_string();
        let (ok, _, err) = strider(&["sim", "--robot", hopper, "--model", biped_model, "--seconds", "1"]);
        assert!(!ok);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&id) && err.contains(&RobotSpec::reference().contract_id().to_string()),
            "{err}"
        );
        // Its own expert hops it in place for 20 s, start push included (docs/SIM.md, "A
        // second robot").
        let (ok, out, err) = strider(&[
            "sim",
            "--robot",
            hopper,
            "--controller",
            "expert",
            "--speed",
            "0",
            "--seconds",
            "20",
            "--json",
        ]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["fell"], false, "{out}");
    }

    #[test]
    fn a_bad_description_fails_with_one_line_naming_file_and_field() {
        let dir = scratch("bad-robot");
        let path = dir.join("bad.toml");
        let text =
            strider_robot::REFERENCE_BIPED_TOML.replacen("inertia_kgm2 = 0.069246", "inertia_kgm2 = -1.0", 1);
        std::fs::write(&path, text).unwrap();
        let (ok, out, err) = strider(&["robot", "show", "--robot", path.to_str().unwrap()]);
        assert!(!ok);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("bad.toml") && err.contains("links[0] (torso).inertia_kgm2 = -1"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

mod replay {
    use strider_log::{ActionMsg, EpisodeStart, LogMeta, LogWriter, ObservationMsg, TickRecord, Timing};
    use strider_robot::{Observation, RobotSpec, Sensors};

    use super::{scratch, strider};

    /// Two episodes of 50 ticks at a steady 20 ms; tick 7 of each missed its deadline.
    fn write_log(path: &std::path::Path) {
        let spec = RobotSpec::reference();
        let mut w =
            LogWriter::create(path, &LogMeta::new(&spec, "expert", "flat", Some(3)), Default::default())
                .unwrap();
        for episode in 0..2 {
            w.begin_episode(&EpisodeStart { episode, seed: Some(3), conditions: "flat".into() }).unwrap();
            for tick in 0..50u64 {
                let mut sensors = Sensors::zeros(&spec.layout());
                sensors.imu[0] = 0.1; // torso_pitch
                let obs = Observation::new(sensors, [1.0].into());
                w.write_tick(&TickRecord {
                    episode,
                    tick,
                    log_time_ns: tick * 20_000_000,
                    observation: ObservationMsg::new(episode, tick, tick as f64 * 0.02, &obs),
                    action: Some(ActionMsg {
                        episode,
                        tick,
                        joint_target: [0.5; 6].into(),
                        applied: None,
                        surprise: None,
                    }),
                    sim_state: None,
                    timing: Some(Timing {
                        tick_start_ns: tick * 20_000_000,
                        decide_us: 10.0,
                        deadline_missed: tick == 7,
                    }),
                })
                .unwrap();
            }
        }
        w.finish().unwrap();
    }

    #[test]
    fn replay_summarises_a_log() {
        let dir = scratch("replay");
        let path = dir.join("run.mcap");
        write_log(&path);
        let (ok, out, err) = strider(&["replay", path.to_str().unwrap()]);
        assert!(ok, "{err}");
        assert!(out.contains("2 episodes, 100 ticks = 2.0 s at 50 Hz"), "{out}");
        assert!(out.contains("tick interval median 20.000 ms (nominal 20.0 ms), 2 deadline misses"), "{out}");
        assert!(out.contains("torso_pitch"), "{out}");

        let (ok, out, err) = strider(&["replay", path.to_str().unwrap(), "--json"]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ticks"], 100);
        assert_eq!(v["deadline_misses"], 2);
        assert_eq!(v["observation"][12]["mean"], 0.10000000149011612);
        assert_eq!(v["action"][0]["std"], 0.0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A log whose sensors failed (NaN joint angle, infinite pitch) reads, and its summary
    /// counts the non-finite values per field instead of printing NaN statistics.
    #[test]
    fn replay_counts_non_finite_values_instead_of_averaging_them() {
        let dir = scratch("replay-non-finite");
        let path = dir.join("robot.mcap");
        let spec = RobotSpec::reference();
        let mut w =
            LogWriter::create(&path, &LogMeta::new(&spec, "expert", "flat", None), Default::default())
                .unwrap();
        w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
        for tick in 0..20u64 {
            let mut sensors = Sensors::zeros(&spec.layout());
            sensors.imu[0] = 0.25; // torso_pitch
            sensors.joint_vel[0] = f32::NAN; // a sensor that never worked
            if tick >= 15 {
                sensors.joint_pos[1] = f32::NAN;
                sensors.imu[0] = f32::INFINITY;
            }
            let obs = Observation::new(sensors, [1.0].into());
            w.write_tick(&TickRecord {
                episode: 0,
                tick,
                log_time_ns: tick * 20_000_000,
                observation: ObservationMsg::new(0, tick, tick as f64 * 0.02, &obs),
                action: None,
                sim_state: None,
                timing: None,
            })
            .unwrap();
        }
        w.finish().unwrap();

        let (ok, out, err) = strider(&["replay", path.to_str().unwrap()]);
        assert!(ok, "{err}");
        assert!(out.split_whitespace().all(|w| !matches!(w, "NaN" | "inf" | "-inf")), "{out}");
        let row = |field: &str| {
            let line = out.lines().find(|l| l.trim_start().starts_with(&format!("{field} "))).unwrap();
            line.split_whitespace().skip(1).collect::<Vec<_>>()
        };
        assert_eq!(row("torso_pitch"), ["0.2500", "0.0000", "0.2500", "0.2500", "5"], "{out}");
        assert_eq!(row("joint_vel.right_hip"), ["-", "-", "-", "-", "20"], "{out}");
        assert!(out.contains("30 non-finite observation values (NaN or ±Inf) are left out"), "{out}");

        let (ok, out, err) = strider(&["replay", path.to_str().unwrap(), "--json"]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["observation"][1]["field"], "joint_pos.right_knee");
        assert_eq!(v["observation"][1]["count"], 15);
        assert_eq!(v["observation"][1]["non_finite"], 5);
        assert_eq!(v["observation"][12]["mean"], 0.25);
        assert!(v["observation"][6]["mean"].is_null(), "no finite value: null, not NaN or 0");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replay_refuses_a_log_for_another_joint_order() {
        let dir = scratch("replay-order");
        let path = dir.join("run.mcap");
        write_log(&path);
        let robot = dir.join("swapped.toml");
        let mut spec = RobotSpec::reference();
        spec.joints.swap(0, 3);
        std::fs::write(&robot, spec.to_toml_string()).unwrap();
        let (ok, _, err) = strider(&["replay", path.to_str().unwrap(), "--robot", robot.to_str().unwrap()]);
        assert!(!ok);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("observation field 0 is `joint_pos.right_hip` in the log but `joint_pos.left_hip`"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn export_lerobot_writes_frames_and_info_without_overwriting() {
        let dir = scratch("export");
        let path = dir.join("run.mcap");
        write_log(&path);
        let out = dir.join("dataset");
        let (ok, stdout, err) =
            strider(&["export", "lerobot", path.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(ok, "{err}");
        assert!(stdout.contains("2 episodes, 100 frames at 50 fps"), "{stdout}");
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("meta/info.json")).unwrap()).unwrap();
        assert_eq!(info["fps"], 50);
        assert_eq!(info["total_frames"], 100);
        assert_eq!(info["features"]["observation.state"]["shape"][0], 17);
        assert_eq!(info["features"]["action"]["names"][0], "joint_target.right_hip");
        let data = std::fs::read(out.join("data/chunk-000/file-000.parquet")).unwrap();
        assert_eq!((&data[..4], &data[data.len() - 4..]), (&b"PAR1"[..], &b"PAR1"[..]));

        let (ok, _, err) = strider(&["export", "lerobot", path.to_str().unwrap(), out.to_str().unwrap()]);
        assert!(!ok && err.contains("already exists"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

mod link {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::strider;

    /// `strider virtual-robot` in the background, and the pty it serves.
    fn virtual_robot() -> (std::process::Child, String) {
        virtual_robot_with(&[])
    }

    /// `strider virtual-robot ARGS` in the background, and the pty it serves.
    fn virtual_robot_with(args: &[&str]) -> (std::process::Child, String) {
        let mut robot = Command::new(env!("CARGO_BIN_EXE_strider"))
            .arg("virtual-robot")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut port = String::new();
        BufReader::new(robot.stdout.take().unwrap()).read_line(&mut port).unwrap();
        (robot, port)
    }

    #[test]
    fn probe_handshakes_with_the_simulator_behind_a_pty() {
        let (mut robot, port) = virtual_robot();
        let (ok, out, err) = strider(&["link", "probe", "--port", port.trim(), "--seconds", "1", "--json"]);
        robot.kill().unwrap();
        robot.wait().unwrap();
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let text = v.to_string();
        assert!(text.contains(&strider_robot::RobotSpec::reference().contract_id().to_string()), "{text}");
        assert!(v["round_trips_ok"].as_u64().unwrap_or(0) >= 25, "{text}");
    }

    /// `strider deploy --seconds SECONDS --json --log LOG` against a fresh virtual robot,
    /// which must succeed; the robot's port and deploy's JSON output.
    fn deploy_logged(seconds: &str, log: &std::path::Path) -> (String, String) {
        deploy_logged_with(&[], seconds, log)
    }

    /// As [`deploy_logged`], with `args` (e.g. `--robot FILE`) given to both the virtual
    /// robot and deploy.
    pub(super) fn deploy_logged_with(
        args: &[&str],
        seconds: &str,
        log: &std::path::Path,
    ) -> (String, String) {
        let (mut robot, port) = virtual_robot_with(args);
        let port = port.trim().to_string();
        let mut deploy = vec!["deploy", "--port", &port, "--seconds", seconds, "--json", "--log"];
        deploy.push(log.to_str().unwrap());
        deploy.extend_from_slice(args);
        let (ok, out, err) = strider(&deploy);
        robot.kill().unwrap();
        robot.wait().unwrap();
        assert!(ok, "{err}");
        (port, out)
    }

    /// `strider deploy` against the simulator behind a pty: the same controller as
    /// `strider sim`, paced in real time over the serial protocol; when `--seconds` runs out
    /// it damps until the robot is at rest, then disarms it.
    #[test]
    fn deploy_walks_the_virtual_robot_then_damps_and_disarms_it() {
        let dir = super::scratch("deploy-log");
        let log = dir.join("run.mcap");
        let (_, out) = deploy_logged("3", &log);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let c = &v["control"];
        let ticks = c["ticks"].as_u64().unwrap();
        assert_eq!(c["ending"]["reason"], "completed", "{v}");
        let n = |k: &str| c[k].as_u64().unwrap();
        // Homing, running, and ticks that held the last command through a lost frame.
        assert_eq!(n("homing_ticks") + n("running_ticks") + n("held_ticks"), 150, "{v}");
        assert_eq!(n("recoveries"), 0, "{v}");
        assert!(c["damping_ticks"].as_u64().unwrap() >= 50, "damped for at least 1 s: {v}");
        assert_eq!(ticks, 150 + c["damping_ticks"].as_u64().unwrap() + 1, "then one Disarm: {v}");
        assert_eq!(c["disarmed"], true, "{v}");
        assert_eq!(v["link"]["crc_errors"], 0, "{v}");
        // Real time: every tick was paced, and the policy answered within its budget.
        assert_eq!(c["jitter"]["count"], ticks, "{v}");
        let running = c["running_ticks"].as_u64().unwrap();
        assert!(running > 0 && c["missed_ticks"].as_u64().unwrap() * 10 <= running, "{v}");
        // The run log reads back: one episode, every tick, paced in real time.
        let (ok, replay, err) = strider(&["replay", "--json", log.to_str().unwrap()]);
        assert!(ok, "{err}");
        let r: serde_json::Value = serde_json::from_str(&replay).unwrap();
        assert_eq!(r["ticks"], ticks, "{r}");
        let interval = r["tick_interval_median_ms"].as_f64().unwrap();
        assert!((interval - 20.0).abs() < 2.0, "median tick interval {interval} ms at 50 Hz");
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// A robot's log (`deploy --log`) has no simulator scenario: `replay --into-sim` says so
    /// in one line naming the file, instead of a TOML parse error about the port name.
    #[test]
    fn replay_into_sim_refuses_a_robot_log_in_one_line() {
        let dir = super::scratch("deploy-into-sim");
        let log = dir.join("robot.mcap");
        let (port, _) = deploy_logged("1", &log);
        let (ok, out, err) = strider(&["replay", "--into-sim", log.to_str().unwrap()]);
        assert!(!ok && out.is_empty(), "{out}");
        assert_eq!(err.lines().count(), 1, "{err}");
        let file = format!("{}: a robot log (", log.display());
        assert!(err.contains(&file) && err.contains(&port), "{err}");
        assert!(err.contains("with no simulator scenario, so it cannot be re-simulated"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn deploy_refuses_a_model_of_another_robot_before_opening_the_port() {
        let dir = super::scratch("deploy-model");
        let mut other = strider_robot::RobotSpec::reference();
        other.joints.swap(0, 3);
        let robot = dir.join("swapped.toml");
        std::fs::write(&robot, other.to_toml_string()).unwrap();
        let (ok, _, err) =
            strider(&["deploy", "--port", "/dev/does-not-exist", "--robot", robot.to_str().unwrap()]);
        assert!(!ok);
        assert!(err.contains("robot.") && !err.contains("does-not-exist"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}

mod collect {
    use std::path::Path;
    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::{scratch, strider};

    fn collect(out: &Path, extra: &[&str]) -> (bool, String, String) {
        let mut args = vec!["collect", "--out", out.to_str().unwrap(), "--jobs", "2"];
        args.extend_from_slice(extra);
        strider(&args)
    }

    fn shard(out: &Path, k: usize) -> std::path::PathBuf {
        out.join(format!("shard-{k:04}.mcap"))
    }

    #[test]
    fn replay_into_sim_of_a_fresh_collection_has_zero_divergence() {
        let dir = scratch("collect-replay");
        let out = dir.join("data");
        let (ok, _, err) = collect(&out, &["--episodes", "2", "--seconds", "3", "--shard-episodes", "2"]);
        assert!(ok, "{err}");
        let (ok, stdout, err) =
            strider(&["replay", "--into-sim", "--json", shard(&out, 0).to_str().unwrap()]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let episodes = v["episodes"].as_array().unwrap();
        assert_eq!(episodes.len(), 2);
        for e in episodes {
            assert_eq!(e["ticks"], 151, "{e}");
            assert_eq!(e["max_sensor"], 0.0, "{e}");
            assert_eq!(e["max_torso_position_m"], 0.0, "{e}");
            assert!(e["first_differing_tick"].is_null(), "{e}");
        }

        // The same actions on a heavier robot (same layout, so the same contract) drift.
        let mut heavy = strider_robot::RobotSpec::reference();
        heavy.links[0].mass_kg *= 1.5;
        let robot = dir.join("heavy.toml");
        std::fs::write(&robot, heavy.to_toml_string()).unwrap();
        let (ok, stdout, err) = strider(&[
            "replay",
            "--into-sim",
            "--json",
            "--robot",
            robot.to_str().unwrap(),
            shard(&out, 0).to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert!(v["episodes"][0]["max_torso_position_m"].as_f64().unwrap() > 1e-4, "{v}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_interrupted_collect_resumes_without_touching_finished_shards() {
        let dir = scratch("collect-resume");
        let out = dir.join("data");
        let args = ["--episodes", "6", "--seconds", "8", "--shard-episodes", "1"];
        let mut child = Command::new(env!("CARGO_BIN_EXE_strider"))
            .args(["collect", "--out", out.to_str().unwrap(), "--jobs", "1"])
            .args(args)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !shard(&out, 0).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL: no cleanup at all.
        child.wait().unwrap();
        let finished: Vec<usize> = (0..6).filter(|&k| shard(&out, k).exists()).collect();
        assert!(!finished.is_empty() && finished.len() < 6, "finished before the kill: {finished:?}");
        let before: Vec<Vec<u8>> = finished.iter().map(|&k| std::fs::read(shard(&out, k)).unwrap()).collect();

        let (ok, stdout, err) = collect(&out, &args);
        assert!(ok, "{err}");
        assert!(stdout.contains("6 episodes"), "{stdout}");
        assert!(stdout.contains(&format!("wrote {} shards", 6 - finished.len())), "{stdout}");
        for (k, bytes) in finished.iter().zip(before) {
            assert_eq!(std::fs::read(shard(&out, *k)).unwrap(), bytes, "shard {k} was rewritten");
        }
        assert!((0..6).all(|k| shard(&out, k).exists()));
        assert!(
            std::fs::read_dir(&out).unwrap().all(|e| !e
                .unwrap()
                .path()
                .to_string_lossy()
                .ends_with(".partial"))
        );

        let (ok, _, err) =
            collect(&out, &["--episodes", "6", "--seconds", "8", "--shard-episodes", "1", "--seed", "9"]);
        assert!(!ok);
        assert!(err.contains("collect.toml: `seed` is 0 there but 9 now"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn train_learns_from_collected_logs_improves_by_dagger_and_refuses_another_layout() {
        let dir = scratch("collect-train");
        let out = dir.join("data");
        // Walks only: four 4-s episodes are too few to hold out a stand the rest never show.
        let walks = ["--start-standing-share", "0", "--stop-share", "0"];
        let (ok, _, err) = collect(
            &out,
            &[&["--episodes", "4", "--seconds", "4", "--shard-episodes", "2"][..], &walks].concat(),
        );
        assert!(ok, "{err}");
        let config = dir.join("train.toml");
        let run = dir.join("run");
        std::fs::write(
            &config,
            format!(
                "out_dir = {run:?}\n[model]\nlayers = 1\nwidth = 32\nheads = 2\ncontext_ticks = 4\n\
                 [optim]\nsteps = 150\nbatch_size = 16\neval_every = 150\n[data]\nlogs = {out:?}\nheld_out_fraction = 0.25\n"
            ),
        )
        .unwrap();
        let (ok, stdout, err) = strider(&["train", "--config", config.to_str().unwrap(), "--json"]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert!(v["data"].as_str().unwrap().contains("2 recorded logs"), "{v}");
        // Normalised actions have unit variance: a model that learned nothing scores ~1.
        let mse = v["held_out"]["action_mse"].as_f64().unwrap();
        assert!(mse < 0.5, "held-out action MSE {mse}");
        assert!(run.join("model.onnx").exists() && run.join("model.toml").exists());

        // Training calibrated the surprise on its held-out episode; replay recalibrates it on
        // other logs, changing nothing else in the manifest.
        let manifest = run.join("model.toml");
        let trained = strider_policy::Manifest::load(&manifest).unwrap();
        let section = trained.surprise.clone().expect("a [surprise] section");
        assert!(section.threshold > 0.0 && section.data.contains("held-out"), "{section:?}");
        let (ok, _, err) = strider(&[
            "replay",
            out.join("shard-0000.mcap").to_str().unwrap(),
            "--model",
            manifest.to_str().unwrap(),
            "--calibrate-surprise",
        ]);
        assert!(ok, "{err}");
        let recalibrated = strider_policy::Manifest::load(&manifest).unwrap();
        let section = recalibrated.surprise.clone().expect("a [surprise] section");
        assert!(section.data.contains("shard-0000.mcap") && section.ticks > 0, "{section:?}");
        assert_eq!(
            strider_policy::Manifest { surprise: None, ..recalibrated },
            strider_policy::Manifest { surprise: None, ..trained }
        );

        // The trained model loads, steps and profiles: every op of the plan is timed.
        let (ok, stdout, err) = strider(&[
            "policy",
            "inspect",
            manifest.to_str().unwrap(),
            "--ticks",
            "20",
            "--profile",
            "20",
            "--json",
        ]);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["context_ticks"], 4);
        let ops: Vec<&str> =
            v["profile"].as_array().unwrap().iter().map(|o| o["op"].as_str().unwrap()).collect();
        assert!(ops.contains(&"OptMatMul"), "{ops:?}");
        assert!(v["latency_us"]["p50"].as_f64().unwrap() > 0.0);

        // One DAgger round on that model: rollouts labelled in shadow, fine-tuned from it,
        // scored closed-loop; a rerun resumes and redoes nothing.
        let dagger = dir.join("dagger");
        let improve = [
            "improve",
            "--from",
            run.to_str().unwrap(),
            "--data",
            out.to_str().unwrap(),
            "--out",
            dagger.to_str().unwrap(),
            "--rounds",
            "1",
            "--episodes",
            "2",
            "--seconds",
            "2",
            "--steps",
            "5",
            "--select-seeds",
            "1",
            "--json",
        ];
        let (ok, stdout, err) = strider(&improve);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let rounds = v["rounds"].as_array().unwrap();
        assert_eq!(rounds.len(), 2, "{v}");
        assert_eq!(rounds[1]["rollout_episodes"], 2, "{v}");
        assert_eq!(rounds[1]["selection"]["episodes"], 19, "{v}");
        let plan = std::fs::read_to_string(dagger.join("round-1/data/collect.toml")).unwrap();
        assert!(plan.contains("[policy]"), "{plan}");
        let report = std::fs::read_to_string(dagger.join("round-1/report.toml")).unwrap();
        assert!(report.contains("init_from") && report.contains("round-1/data"), "{report}");
        assert!(dagger.join("best/model.toml").exists());
        let modified = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
        let onnx = dagger.join("round-1/model.onnx");
        let before = modified(&onnx);
        let (ok, again, err) = strider(&improve);
        assert!(ok, "{err}");
        assert_eq!(modified(&onnx), before, "the rerun trained again");
        assert_eq!(again, stdout, "the rerun reports another result");

        let mut swapped = strider_robot::RobotSpec::reference();
        swapped.joints.swap(1, 4);
        let robot = dir.join("swapped.toml");
        std::fs::write(&robot, swapped.to_toml_string()).unwrap();
        let (ok, _, err) = strider(&[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--robot",
            robot.to_str().unwrap(),
            "--force",
        ]);
        assert!(!ok);
        assert!(err.contains("observation field 1 is `joint_pos.right_knee` in the log"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
