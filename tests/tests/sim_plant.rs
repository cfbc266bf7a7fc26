//! The simulator behind the `Plant` seam: it is built from the robot description, its PD
//! loop holds the default pose, disarming drops the robot, latency delays commands, falls
//! are flagged, bad scenario files are refused by field name, and the expert walks, stands
//! and walks off again.

use strider_robot::{Command, Plant, RobotSpec, SpeedSchedule};
use strider_sim::{Push, RunOptions, Scenario, Sim, SimConfig, SimError, StartPush, run_expert};

fn quiet() -> Scenario {
    Scenario { start_push: StartPush { max_force_n: 0.0, ..StartPush::default() }, ..Scenario::default() }
}

fn sim() -> Sim {
    Sim::new(RobotSpec::reference(), SimConfig::default()).unwrap()
}

fn hold(spec: &RobotSpec) -> Command {
    Command::Track(spec.default_action())
}

#[test]
fn reset_places_the_robot_in_its_default_pose_on_the_ground() {
    let mut sim = sim();
    let sensors = sim.reset(0, &quiet()).unwrap();
    let pose = sim.spec().default_pose_rad();
    for (j, (&q, want)) in sensors.joint_pos.iter().zip(pose).enumerate() {
        assert!((f64::from(q) - want).abs() < 1e-4, "joint {j}: {q} vs default {want}");
    }
    assert!(sim.privileged().torso_height > 1.1 && !sim.privileged().fallen);
}

#[test]
fn the_pd_loop_holds_the_default_pose_without_falling() {
    let mut sim = sim();
    let start = sim.reset(0, &quiet()).unwrap();
    let h0 = sim.privileged().torso_height;
    let cmd = hold(sim.spec());
    let mut last = start;
    for _ in 0..250 {
        last = sim.step(&cmd).unwrap();
    }
    let p = sim.privileged();
    assert!(!p.fallen, "fell while standing: {p:?}");
    assert!((p.torso_height - h0).abs() < 0.03, "torso moved from {h0} to {}", p.torso_height);
    assert!(p.torso_pitch.abs() < 0.05 && p.torso_x.abs() < 0.05, "drifted: {p:?}");
    assert!(last.contact.iter().all(|&c| c), "feet off the ground: {:?}", last.contact);
    let pose = sim.spec().default_pose_rad();
    for (j, (&q, want)) in last.joint_pos.iter().zip(pose).enumerate() {
        assert!((f64::from(q) - want).abs() < 0.1, "joint {j} sagged to {q}");
    }
}

#[test]
fn disarmed_the_robot_collapses() {
    let mut sim = sim();
    sim.reset(0, &quiet()).unwrap();
    for _ in 0..150 {
        sim.step(&Command::Disarm).unwrap();
    }
    assert!(sim.privileged().fallen, "still up with zero torque: {:?}", sim.privileged());
}

#[test]
fn damping_slows_the_collapse_compared_with_disarm() {
    let height_after = |cmd: Command| {
        let mut sim = sim();
        sim.reset(0, &quiet()).unwrap();
        for _ in 0..20 {
            sim.step(&cmd).unwrap();
        }
        sim.privileged().torso_height
    };
    let (damped, limp) = (height_after(Command::Damp), height_after(Command::Disarm));
    assert!(damped > limp + 0.01, "damp {damped} vs disarm {limp}");
}

#[test]
fn latency_delays_a_command_by_whole_ticks() {
    let first_tick_hip_moves = |latency: u32| {
        let scenario = Scenario {
            randomize: strider_sim::Randomize { latency_ticks: [latency, latency], ..Default::default() },
            ..quiet()
        };
        let mut sim = sim();
        let start = sim.reset(0, &scenario).unwrap();
        let mut target = sim.spec().default_action();
        target.joint_target[0] += 0.6;
        let cmd = Command::Track(target);
        (1..=10)
            .find(|_| {
                let s = sim.step(&cmd).unwrap();
                s.joint_pos[0] - start.joint_pos[0] > 0.05
            })
            .unwrap()
    };
    let (now, later) = (first_tick_hip_moves(0), first_tick_hip_moves(2));
    assert_eq!(later, now + 2, "latency 0 moved at tick {now}, latency 2 at tick {later}");
}

#[test]
fn a_hard_push_is_flagged_as_a_fall() {
    let scenario =
        Scenario { pushes: vec![Push { time_s: 0.2, force_n: 600.0, duration_s: 0.2 }], ..quiet() };
    let mut sim = sim();
    sim.reset(0, &scenario).unwrap();
    let cmd = hold(sim.spec());
    let fell_at = (0..150).find(|_| {
        sim.step(&cmd).unwrap();
        sim.privileged().fallen
    });
    assert!(fell_at.is_some(), "600 N for 0.2 s did not topple a standing robot");
}

#[test]
fn the_model_is_built_from_the_description_not_constants() {
    let mut spec = RobotSpec::reference();
    for j in spec.joints.iter_mut().filter(|j| j.name.ends_with("knee")) {
        j.child_anchor_m[1] += 0.1;
    }
    let mut tall = Sim::new(spec, SimConfig::default()).unwrap();
    tall.reset(0, &quiet()).unwrap();
    let mut reference = sim();
    reference.reset(0, &quiet()).unwrap();
    let dh = tall.privileged().torso_y - reference.privileged().torso_y;
    // The shin hangs 0.1 m lower below the knee, tilted by the default pose (15° here).
    let expect = 0.1 * 15f64.to_radians().cos();
    assert!((dh - expect).abs() < 2e-3, "torso rose {dh} m, expected {expect}");
}

#[test]
fn a_scenario_with_a_bad_field_is_refused_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("strider-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[terrain.slope]\ndegrees = 3.0\n\n[randomize]\nmotor_strenght = [0.8, 1.2]\n")
        .unwrap();
    let err = Scenario::load(&path).unwrap_err();
    assert!(matches!(err, SimError::Parse { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("bad.toml") && text.contains("motor_strenght"), "{text}");

    std::fs::write(&path, "[randomize]\nlatency_ticks = [3, 1]\n").unwrap();
    let text = Scenario::load(&path).unwrap_err().to_string();
    assert!(text.contains("randomize.latency_ticks") && text.contains("[3, 1]"), "{text}");
}

#[test]
fn the_shipped_scenarios_load() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 4, "only {n} scenarios in {}", dir.display());
}

#[test]
fn the_expert_walks_at_least_8_m_in_10_s_at_1_m_per_s() {
    let mut sim = sim();
    let opts = RunOptions { command: 1.0f32.into(), seconds: 10.0, ..RunOptions::default() };
    let s = run_expert(&mut sim, &Scenario::default(), 3, &opts, |_| {}).unwrap();
    assert!(!s.fell, "fell at {:?}", s.fell_at_s);
    assert!(s.distance_m >= 8.0, "walked {} m", s.distance_m);
    assert!(s.steps >= 20, "only {} steps", s.steps);
}

#[test]
fn the_expert_follows_a_slow_and_a_backward_command() {
    for v in [0.3f32, -0.5] {
        let mut sim = sim();
        let opts = RunOptions { command: v.into(), seconds: 10.0, ..RunOptions::default() };
        let s = run_expert(&mut sim, &Scenario::default(), 1, &opts, |_| {}).unwrap();
        assert!(!s.fell, "fell at {v} m/s");
        assert!(s.speed_error_mps.abs() < 0.1, "command {v}: mean speed {}", s.mean_speed_mps);
    }
}

/// At a zero command the expert stands from the start: both feet down, no step, no drift.
#[test]
fn the_expert_stands_still_at_a_zero_command() {
    let mut sim = sim();
    let opts = RunOptions { command: 0.0f32.into(), seconds: 6.0, ..RunOptions::default() };
    let s = run_expert(&mut sim, &quiet(), 0, &opts, |_| {}).unwrap();
    assert!(!s.fell, "fell at {:?}", s.fell_at_s);
    assert_eq!(s.steps, 0, "stepped while standing");
    assert_eq!(s.rest_after_s.map(|t| t < 0.5), Some(true), "{s:?}");
    assert!(s.rest_drift_m.unwrap() < 0.02, "{s:?}");
}

/// Walk, stop and stand, walk off backward: no fall, it comes to rest, and it walks back.
#[test]
fn the_expert_stops_stands_and_walks_off_backward() {
    let mut sim = sim();
    let command: SpeedSchedule = "0.6,0@3,-0.4@8".parse().unwrap();
    let opts = RunOptions { command, seconds: 12.0, ..RunOptions::default() };
    let (mut standing_x, mut end_x) = (None, 0.0);
    let s = run_expert(&mut sim, &Scenario::default(), 1, &opts, |view| {
        let p = view.sim.privileged();
        if (p.time_s - 7.9).abs() < 1e-6 {
            standing_x = Some(p.torso_x);
            assert!(
                p.foot_contact.iter().all(|&c| c) && p.com_vx.abs() < 0.05,
                "not standing at 7.9 s: {p:?}"
            );
        }
        end_x = p.torso_x;
    })
    .unwrap();
    assert!(!s.fell, "fell at {:?}", s.fell_at_s);
    let walked = end_x - standing_x.unwrap();
    assert!(walked < -0.5, "walked {walked:+.2} m in the 4 s at -0.4 m/s");
}

#[test]
fn a_non_finite_target_is_refused_and_nothing_moves() {
    let mut sim = sim();
    sim.reset(0, &quiet()).unwrap();
    let mut target = sim.spec().default_action();
    target.joint_target[4] = f32::NAN;
    let err = sim.step(&Command::Track(target)).unwrap_err();
    assert!(matches!(err, strider_robot::PlantError::Fault { .. }), "{err:?}");
    assert_eq!(sim.privileged().tick, 0);
    assert_eq!(sim.physics_steps(), 0);
}

/// The expert walking at 1 m/s for `ticks` ticks in `scenario`: the sensors of every tick and
/// the true torso x at the end.
fn walk(scenario: &Scenario, ticks: usize) -> (Vec<strider_robot::Sensors>, f64) {
    let mut sim = sim();
    let mut expert =
        strider_sim::Expert::new(sim.spec(), strider_sim::ExpertParams::default(), strider_sim::Leg::Right)
            .unwrap();
    let mut sensors = sim.reset(3, scenario).unwrap();
    let mut seen = vec![sensors];
    for _ in 0..ticks {
        let obs = strider_robot::Observation::new(sensors, [1.0].into());
        let action = expert.act(&obs, sim.privileged_observed());
        sensors = sim.step(&Command::Track(action)).unwrap();
        seen.push(sensors);
    }
    (seen, sim.privileged().torso_x)
}

/// A friction event changes nothing before its time and the walk after it; a stuck sensor
/// freezes at its reading when it fails while the truth goes on; an offset adds to the truth;
/// a field the robot does not have is refused naming the event.
#[test]
fn events_change_the_world_or_a_sensor_from_their_time_on() {
    use strider_sim::{Event, SensorFault};
    let (clean, clean_x) = walk(&quiet(), 250);
    let slippery = Scenario { events: vec![Event::Friction { time_s: 2.0, scale: 0.05 }], ..quiet() };
    let (slip, slip_x) = walk(&slippery, 250);
    assert_eq!(clean[..100], slip[..100], "identical until the floor changes at tick 100");
    assert!(clean[101..] != slip[101..] && (clean_x - slip_x).abs() > 0.01, "{clean_x} vs {slip_x}");

    let sensor = |fault, value| Scenario {
        events: vec![Event::Sensor { time_s: 2.0, field: "joint_pos.right_knee".into(), fault, value }],
        ..quiet()
    };
    let (stuck, _) = walk(&sensor(SensorFault::Stuck, 0.0), 150);
    let knee = |s: &[strider_robot::Sensors], t: usize| s[t].joint_pos[1];
    assert!((100..=150).all(|t| knee(&stuck, t) == knee(&clean, 100)), "frozen at its tick-100 reading");
    assert!((101..=150).any(|t| knee(&clean, t) != knee(&clean, 100)), "while the knee moved");
    let (offset, _) = walk(&sensor(SensorFault::Offset, 0.2), 100);
    assert!((knee(&offset, 100) - knee(&clean, 100) - 0.2).abs() < 1e-6, "the truth + 0.2 rad");
    assert_eq!(offset[..100], clean[..100]);

    let wrong = Scenario {
        events: vec![Event::Sensor {
            time_s: 1.0,
            field: "knee".into(),
            fault: SensorFault::Stuck,
            value: 0.0,
        }],
        ..quiet()
    };
    let err = sim().reset(0, &wrong).unwrap_err().to_string();
    assert!(err.contains("events[0].field") && err.contains("joint_pos.right_knee"), "{err}");
}

/// An expert parameter the controller cannot run with is refused at load, naming the file,
/// the field and the fix (an inverted range used to panic in `clamp` mid-episode).
#[test]
fn bad_expert_parameters_are_refused_by_field() {
    let dir = std::env::temp_dir().join(format!("strider-expert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (text, field) in [
        ("stance_ankle_range = [0.3, -0.3]\n", "stance_ankle_range"),
        ("command_ramp_mps2 = -1.0\n", "command_ramp_mps2"),
        ("velocity_filter_s = 0.0\n", "velocity_filter_s"),
        ("cd = [0.0, nan]\n", "cd"),
    ] {
        let path = dir.join("expert.toml");
        std::fs::write(&path, text).unwrap();
        let err = strider_sim::ExpertParams::load(&path).unwrap_err();
        assert!(matches!(&err, SimError::Invalid { field: f, .. } if f == field), "{text}: {err}");
        assert!(err.to_string().contains("expert.toml"), "{err}");
    }
    std::fs::write(dir.join("ok.toml"), "lift_s = 0.2\n").unwrap();
    assert_eq!(strider_sim::ExpertParams::load(&dir.join("ok.toml")).unwrap().lift_s, 0.2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A description whose foot is the IMU's root link loads (it is a valid tree) but cannot be
/// simulated: refused naming the field, where it used to panic.
#[test]
fn a_foot_that_is_the_root_link_is_refused_by_field() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../robots/biped.toml"))
        .unwrap()
        .replace("link = \"right_foot\"", "link = \"torso\"");
    let spec = RobotSpec::from_toml_str(&text, "root-foot.toml").expect("a valid description");
    let err = Sim::new(spec, SimConfig::default()).err().expect("refused").to_string();
    assert!(err.contains("sensors.contacts[0].link") && err.contains("torso"), "{err}");
}
