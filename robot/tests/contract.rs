//! The robot contract: the reference biped as DESIGN §4 states it, refusal of invalid
//! descriptions naming the field, and a contract id that changes when and only when the
//! observation/action layout does.

use proptest::prelude::*;
use strider_robot::{Action, CommandField, ImuField, Observation, RobotSpec, SpecError};

fn reference() -> RobotSpec {
    RobotSpec::reference()
}

/// Edits the reference TOML text and parses it, returning the error line.
fn refuse(edit: impl Fn(&str) -> String) -> String {
    let text = edit(strider_robot::REFERENCE_BIPED_TOML);
    assert_ne!(text, strider_robot::REFERENCE_BIPED_TOML, "the edit must change the file");
    match RobotSpec::from_toml_str(&text, "robots/edited.toml") {
        Ok(_) => panic!("the edited spec was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reference_biped_matches_the_design() {
    let spec = reference();
    let names: Vec<_> = spec.joints.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(names, ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"]);
    let limits: Vec<_> = spec.joints.iter().map(|j| j.limits_deg).collect();
    let (hip, knee, ankle) = ([-150.0, 90.0], [-150.0, 0.0], [-45.0, 45.0]);
    assert_eq!(limits, [hip, knee, ankle, hip, knee, ankle]);
    for j in &spec.joints {
        assert_eq!(
            (j.torque_limit_nm, j.kp_nm_per_rad, j.kd_nms_per_rad),
            (100.0, 300.0, 30.0),
            "{}",
            j.name
        );
    }
    assert!((spec.total_mass_kg() - 23.68).abs() < 0.01, "total mass {}", spec.total_mass_kg());
    assert_eq!(spec.link("right_foot").unwrap().friction, 1.9);
    assert_eq!(
        (spec.physics.physics_hz, spec.control.control_hz, spec.physics_steps_per_tick()),
        (500, 50, 10)
    );
    let layout = spec.layout();
    assert_eq!((layout.joints, layout.contacts, layout.obs_dim(), layout.action_dim()), (6, 2, 17, 6));
    assert_eq!(spec.observation_layout().len(), layout.obs_dim());
    assert_eq!(spec.action_layout().len(), layout.action_dim());
    // The layout declared in the description names its fields as the contract always has:
    // the id is the one every shipped model and log carries.
    let names: Vec<_> = spec.observation_layout().into_iter().skip(12).map(|f| f.name).collect();
    assert_eq!(
        names,
        ["torso_pitch", "torso_pitch_rate", "foot_contact.right", "foot_contact.left", "command_vx"]
    );
    assert_eq!(spec.contract_id().to_string(), "2bc32739b7941a2b");
}

#[test]
fn min_above_max_is_refused_naming_the_joint_and_values() {
    let err = refuse(|t| t.replacen("limits_deg = [-150.0, 0.0]", "limits_deg = [10.0, -150.0]", 1));
    assert!(err.contains("robots/edited.toml"), "{err}");
    assert!(err.contains("joints[1] (right_knee).limits_deg = [10, -150]"), "{err}");
    assert!(err.contains("min <= max"), "{err}");
}

#[test]
fn non_positive_mass_is_refused() {
    let err = refuse(|t| t.replacen("mass_kg = 3.66519", "mass_kg = 0.0", 1));
    assert!(err.contains("links[0] (torso).mass_kg = 0"), "{err}");
    let err = refuse(|t| t.replacen("mass_kg = 3.66519", "mass_kg = -2.0", 1));
    assert!(err.contains("links[0] (torso).mass_kg = -2"), "{err}");
}

#[test]
fn unknown_link_is_refused() {
    let err = refuse(|t| t.replacen("child = \"right_shin\"", "child = \"right_shinn\"", 1));
    assert!(err.contains("joints[1] (right_knee).child = right_shinn"), "{err}");
    assert!(err.contains("name a link defined in [[links]]"), "{err}");
}

#[test]
fn duplicate_joint_name_is_refused() {
    let err = refuse(|t| t.replacen("name = \"left_knee\"", "name = \"right_knee\"", 1));
    assert!(err.contains("joints[4] (right_knee).name = right_knee"), "{err}");
    assert!(err.contains("unique"), "{err}");
}

#[test]
fn control_rate_that_does_not_divide_physics_rate_is_refused() {
    let err = refuse(|t| t.replacen("control_hz = 50", "control_hz = 60", 1));
    assert!(err.contains("control.control_hz = 60 (physics_hz 500)"), "{err}");
    assert!(err.contains("divides physics_hz"), "{err}");
}

#[test]
fn default_pose_outside_limits_is_refused() {
    let err = refuse(|t| t.replacen("default_deg = -30.0", "default_deg = 30.0", 1));
    assert!(err.contains("joints[1] (right_knee).default_deg = 30"), "{err}");
}

#[test]
fn a_rated_speed_range_without_standing_or_a_default_outside_it_is_refused() {
    let err = refuse(|t| t.replacen("vx_range_mps = [-0.5, 1.2]", "vx_range_mps = [0.3, 1.2]", 1));
    assert!(err.contains("control.vx_range_mps = [0.3, 1.2]"), "{err}");
    assert!(err.contains("min <= 0 < max"), "{err}");
    let err = refuse(|t| t.replacen("vx_default_mps = 1.0", "vx_default_mps = 1.5", 1));
    assert!(err.contains("control.vx_default_mps = 1.5"), "{err}");
    assert!(err.contains("within control.vx_range_mps [-0.5, 1.2]"), "{err}");
}

#[test]
fn a_schedule_is_checked_against_the_rated_range_at_every_change() {
    let control = reference().control;
    let within: strider_robot::SpeedSchedule = "1.0,0@6,-0.5@12".parse().unwrap();
    assert_eq!(control.speed_outside_range(&within), None);
    let beyond: strider_robot::SpeedSchedule = "1.0,0@6,-0.8@12,1.2@14".parse().unwrap();
    assert_eq!(control.speed_outside_range(&beyond), Some(-0.8));
    // A description that says nothing about the range gets the reference biped's.
    let text = strider_robot::REFERENCE_BIPED_TOML.replacen("vx_range_mps = [-0.5, 1.2]\n", "", 1).replacen(
        "vx_default_mps = 1.0",
        "",
        1,
    );
    let spec = RobotSpec::from_toml_str(&text, "robots/edited.toml").unwrap();
    assert_eq!((spec.control.vx_range_mps, spec.control.vx_default_mps), ([-0.5, 1.2], 1.0));
}

#[test]
fn several_problems_are_listed_one_per_line() {
    let err = refuse(|t| {
        t.replacen("mass_kg = 3.66519", "mass_kg = 0.0", 1).replacen("control_hz = 50", "control_hz = 7", 1)
    });
    assert!(err.contains("2 problems"), "{err}");
    assert_eq!(err.lines().count(), 3, "{err}");
}

#[test]
fn misspelt_key_is_refused_naming_it() {
    let err = refuse(|t| t.replacen("kp_nm_per_rad = 300.0", "kp = 300.0", 1));
    assert!(err.contains("robots/edited.toml: not a valid robot description"), "{err}");
    assert!(err.contains("kp"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn missing_file_names_the_path() {
    let err = RobotSpec::load(std::path::Path::new("no/such/robot.toml")).unwrap_err();
    assert!(matches!(err, SpecError::Read { .. }));
    assert!(err.to_string().starts_with("no/such/robot.toml: cannot read"), "{err}");
}

#[test]
fn contract_id_ignores_everything_but_the_layout() {
    let base = reference();
    let id = base.contract_id();
    let mut other = base.clone();
    other.name = "heavier".into();
    other.links[0].mass_kg *= 2.0;
    other.joints[0].kp_nm_per_rad = 100.0;
    other.joints[2].limits_deg = [-30.0, 30.0];
    other.control.control_hz = 100;
    other.physics.ground_friction = 0.3;
    assert_eq!(other.contract_id(), id);

    let mut renamed = base.clone();
    renamed.joints[0].name = "r_hip".into();
    assert_ne!(renamed.contract_id(), id);

    let mut swapped = base;
    swapped.joints.swap(0, 3);
    assert_ne!(swapped.contract_id(), id);
}

#[test]
fn contract_id_prints_and_parses_as_16_hex_digits() {
    let id = reference().contract_id();
    let text = id.to_string();
    assert_eq!(text.len(), 16);
    assert_eq!(text.parse::<strider_robot::ContractId>().unwrap(), id);
    assert!("xyz".parse::<strider_robot::ContractId>().is_err());
}

fn arb_spec() -> impl Strategy<Value = RobotSpec> {
    (
        prop::collection::vec((0.1f64..10.0, 0.001f64..0.5, 0.0f64..2.0), 7),
        prop::collection::vec(
            (-170.0f64..-10.0, 10.0f64..170.0, 0.0f64..1.0, 1.0f64..500.0, 0.0f64..1000.0),
            6,
        ),
        prop::sample::select(vec![25u32, 50, 100, 125, 250, 500]),
    )
        .prop_map(|(links, joints, control_hz)| {
            let mut spec = RobotSpec::reference();
            for (l, (m, i, f)) in spec.links.iter_mut().zip(links) {
                (l.mass_kg, l.inertia_kgm2, l.friction) = (m, i, f);
            }
            for (j, (lo, hi, t, tau, kp)) in spec.joints.iter_mut().zip(joints) {
                j.limits_deg = [lo, hi];
                j.default_deg = lo + t * (hi - lo);
                j.torque_limit_nm = tau;
                j.kp_nm_per_rad = kp;
                j.kd_nms_per_rad = kp / 10.0;
            }
            spec.control.control_hz = control_hz;
            spec
        })
}

proptest! {
    #[test]
    fn spec_survives_a_toml_round_trip(spec in arb_spec()) {
        prop_assert!(spec.validate().is_ok());
        let back = RobotSpec::from_toml_str(&spec.to_toml_string(), "round-trip").unwrap();
        prop_assert_eq!(back.contract_id(), spec.contract_id());
        prop_assert_eq!(back, spec);
    }

    #[test]
    fn any_joint_permutation_changes_the_contract_id(perm in Just((0..6).collect::<Vec<usize>>()).prop_shuffle()) {
        let base = RobotSpec::reference();
        let mut permuted = base.clone();
        permuted.joints = perm.iter().map(|&i| base.joints[i].clone()).collect();
        let identity = perm.iter().enumerate().all(|(k, &i)| k == i);
        prop_assert_eq!(permuted.contract_id() == base.contract_id(), identity);
    }

    #[test]
    fn observation_and_action_survive_the_flat_layout(
        (spec, values) in arb_layout_spec().prop_flat_map(|spec| {
            let n = spec.layout().obs_dim();
            (Just(spec), prop::collection::vec(-30.0f32..30.0, n))
        })
    ) {
        let layout = spec.layout();
        let mut flat = values;
        for v in &mut flat[layout.contact_offset()..layout.command_offset()] {
            *v = if *v > 0.0 { 1.0 } else { 0.0 };
        }
        let obs = Observation::from_values(&layout, &flat);
        prop_assert!(obs.sensors.fits(&layout));
        prop_assert_eq!(&*obs.to_values(), &flat[..]);
        prop_assert_eq!(obs.command.len(), layout.commands.len());
        let action = Action::from_slice(&flat[..layout.joints]);
        prop_assert_eq!(action.joint_target.len(), layout.action_dim());
        prop_assert_eq!(spec.observation_layout().len(), layout.obs_dim());
        prop_assert_eq!(spec.action_layout().len(), layout.action_dim());
    }

    #[test]
    fn a_layout_change_changes_the_contract_id(spec in arb_layout_spec()) {
        let base = RobotSpec::reference();
        prop_assert_eq!(spec.contract_id() == base.contract_id(), spec.observation_layout() == base.observation_layout());
    }
}

/// Valid descriptions with 1–24 joints (a chain of links), 0–4 contacts, any IMU fields and
/// 1–3 command components.
fn arb_layout_spec() -> impl Strategy<Value = RobotSpec> {
    let imu = prop::sample::subsequence(ImuField::ALL.to_vec(), 0..=8);
    let commands = prop::sample::subsequence(CommandField::ALL.to_vec(), 1..=3);
    (1usize..=24, 0usize..=4, imu, commands).prop_map(|(joints, contacts, imu, commands)| {
        RobotSpec::chain(joints, imu, contacts, commands).expect("a valid generated description")
    })
}
