//! The simulator builds robots other than the reference biped from their description, and
//! what only fits the biped (the expert) or a planar world (the IMU, the command) refuses
//! the rest in one line that names the field.

use strider_robot::{
    Action, Command, CommandField, ContactSpec, ImuField, Observation, Plant, PlantError, RobotSpec,
};
use strider_sim::{Expert, ExpertParams, Leg, Scenario, Sim, SimConfig, SimError};

/// The reference biped without its left leg: a torso and one leg of hip, knee and ankle,
/// with a contact switch on the foot.
fn one_legged() -> RobotSpec {
    let mut spec = RobotSpec::reference();
    spec.name = "one-legged".into();
    spec.links.retain(|l| !l.name.starts_with("left_"));
    spec.joints.retain(|j| !j.name.starts_with("left_"));
    spec.sensors.contacts = vec![ContactSpec { name: "foot".into(), link: "right_foot".into() }];
    spec.validate().expect("a valid description");
    spec
}

fn refusal(spec: RobotSpec) -> String {
    match Sim::new(spec, SimConfig::default()) {
        Ok(_) => panic!("the simulator took it"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_three_joint_chain_steps_and_its_sensors_fit_its_layout() {
    let spec = one_legged();
    let layout = spec.layout();
    assert_eq!((layout.joints, layout.contacts, layout.obs_dim()), (3, 1, 3 + 3 + 2 + 1 + 1));
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    assert_eq!(sim.layout(), &layout);
    assert_eq!(sim.leg_links(0).len(), 3);
    assert!(sim.leg_links(1).is_empty());
    let mut sensors = sim.reset(3, &Scenario::default()).unwrap();
    assert!(sensors.fits(&layout), "{sensors:?}");
    let pose = spec.default_action();
    for _ in 0..50 {
        sensors = sim.step(&Command::Track(pose)).unwrap();
        assert!(sensors.fits(&layout), "{sensors:?}");
        assert!(
            sensors.joint_pos.iter().chain(&sensors.joint_vel).chain(&sensors.imu).all(|v| v.is_finite())
        );
        // No noise in the default scenario: the IMU reads the torso exactly.
        let p = sim.privileged();
        assert_eq!(sensors.imu_field(&layout, ImuField::Pitch), Some(p.torso_pitch as f32));
        assert_eq!(sensors.imu_field(&layout, ImuField::PitchRate), Some(p.torso_pitch_rate as f32));
        assert_eq!((p.foot_contact.len(), p.ankle_x.len()), (1, 1));
        assert_eq!(sensors.contact, p.foot_contact);
    }
    assert_eq!(sim.privileged().tick, 50);
    let obs = Observation::new(sensors, layout.forward_command(0.5));
    let flat = obs.to_values();
    assert_eq!(flat.len(), layout.obs_dim());
    assert_eq!(Observation::from_values(&layout, &flat), obs);
    assert_eq!(obs.command_of(&layout, CommandField::Vx), Some(0.5));

    // A biped-sized action is refused, not misread.
    let err = sim.step(&Command::Track(Action::from_slice(&[0.0; 6]))).unwrap_err();
    assert!(
        matches!(&err, PlantError::Mismatch(m) if m.contains("6 joint targets") && m.contains("3 joints")),
        "{err}"
    );

    let err = Expert::new(&spec, ExpertParams::default(), Leg::Right).unwrap_err().to_string();
    assert!(
        err.contains("one-legged") && err.contains("joints: 3 joints, not 6") && err.contains("biped"),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    assert!(Expert::shadowing(&spec, ExpertParams::default()).is_err());
}

#[test]
fn the_imu_fields_come_in_the_order_the_description_lists_them() {
    let mut spec = one_legged();
    spec.sensors.imu = vec![ImuField::PitchRate];
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let sensors = sim.reset(0, &Scenario::default()).unwrap();
    assert_eq!(sensors.imu.len(), 1);
    assert_eq!(sensors.imu[0], sim.privileged().torso_pitch_rate as f32);
    spec.sensors.imu = vec![ImuField::PitchRate, ImuField::Pitch];
    let mut sim = Sim::new(spec, SimConfig::default()).unwrap();
    let sensors = sim.reset(0, &Scenario::default()).unwrap();
    let p = sim.privileged();
    assert_eq!(*sensors.imu, [p.torso_pitch_rate as f32, p.torso_pitch as f32]);
}

#[test]
fn what_a_planar_simulation_cannot_measure_or_drive_is_refused_in_one_line() {
    let mut spec = one_legged();
    spec.sensors.imu = vec![ImuField::Pitch, ImuField::Roll];
    let err = refusal(spec);
    assert!(
        err.contains("sensors.imu") && err.contains("`roll`") && err.contains("pitch and pitch_rate only"),
        "{err}"
    );

    let mut spec = one_legged();
    spec.control.commands = vec![CommandField::YawRate];
    let err = refusal(spec);
    assert!(err.contains("control.commands") && err.contains("vx"), "{err}");

    let mut spec = one_legged();
    spec.sensors.contacts = vec![ContactSpec { name: "back".into(), link: "torso".into() }];
    let err = refusal(spec);
    assert!(err.contains("sensors.contacts[0].link") && err.contains("root"), "{err}");

    let mut spec = one_legged();
    spec.sensors.contacts[0].link = "left_foot".into();
    let err = refusal(spec);
    assert!(err.contains("sensors.contacts[0].link") && err.contains("names no link"), "{err}");
}

#[test]
fn the_expert_takes_the_reference_biped_and_refuses_other_shapes_by_field() {
    let spec = RobotSpec::reference();
    assert!(Expert::new(&spec, ExpertParams::default(), Leg::Left).is_ok());

    let mut turning = spec.clone();
    turning.control.commands = vec![CommandField::Vx, CommandField::YawRate];
    // The simulator drives it (yaw rate stays 0); the expert cannot follow a turn.
    assert!(Sim::new(turning.clone(), SimConfig::default()).is_ok());
    let err = Expert::new(&turning, ExpertParams::default(), Leg::Right).unwrap_err();
    assert!(matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "control.commands"), "{err}");

    let mut swapped = spec.clone();
    swapped.sensors.contacts.reverse();
    let err = Expert::new(&swapped, ExpertParams::default(), Leg::Right).unwrap_err();
    assert!(
        matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "sensors.contacts[0].link"),
        "{err}"
    );

    let mut blind = spec.clone();
    blind.sensors.imu = vec![ImuField::Pitch];
    let err = Expert::new(&blind, ExpertParams::default(), Leg::Right).unwrap_err();
    assert!(matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "sensors.imu"), "{err}");
}

/// The bundled hopper (robots/hopper.toml: the Hopper benchmark's torso, thigh, leg and
/// foot) is a description the simulator builds: three joints, one contact, its own contract
/// id. (Its hopping expert is not written yet; the biped's refuses it.)
#[test]
fn the_bundled_hopper_is_simulated_from_its_description() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../robots/hopper.toml");
    let spec = RobotSpec::load(std::path::Path::new(path)).unwrap();
    let layout = spec.layout();
    assert_eq!((layout.joints, layout.imu.len(), layout.contacts, layout.commands.len()), (3, 2, 1, 1));
    assert_ne!(spec.contract_id(), RobotSpec::reference().contract_id());
    assert!((spec.total_mass_kg() - 15.82).abs() < 0.01, "{}", spec.total_mass_kg());
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let start = sim.reset(0, &Scenario::default()).unwrap();
    assert!(start.fits(&layout), "{start:?}");
    let mut s = start;
    for _ in 0..10 {
        s = sim.step(&Command::Track(spec.default_action())).unwrap();
        assert!(s.fits(&layout), "{s:?}");
    }
    assert!(s.contact[0], "stands on its foot after 0.2 s: {s:?}");
    let err =
        Expert::new(&spec, ExpertParams::default(), Leg::Right).map(|_| ()).expect_err("refused").to_string();
    assert!(err.contains("joints"), "{err}");
}
