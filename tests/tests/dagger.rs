//! DAgger data: the expert in shadow labels exactly the states a policy visited.

use crate::shipped_model;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use strider_collect::{CommandMix, Pilot, Plan, PolicyRef, collect, episode_seed, shard_path};
use strider_controller::{Envelope, SafetyConfig};
use strider_log::Log;
use strider_robot::{Action, Command, Observation, Plant, RobotSpec, SpeedSchedule};
use strider_sim::{Expert, ExpertParams, Leg, Scenario, Scripted, Sim, SimConfig};

/// An expert in shadow mode, fed the states its own gait produces, acts exactly as the
/// expert driving: the phase-following rules never fire on the gait they follow — through
/// starts, stops with standing, walking off and a reversal.
#[test]
fn a_shadow_expert_on_the_experts_own_gait_changes_nothing() {
    let spec = RobotSpec::reference();
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let schedule = "0.8,0@4,0.5@8,-0.3@12".parse::<SpeedSchedule>().unwrap();
    for seed in 0..3 {
        let mut sensors = sim.reset(seed, &Scenario::default()).unwrap();
        let mut driver = Expert::new(&spec, ExpertParams::default(), Leg::Right).unwrap();
        let mut shadow = Expert::shadowing(&spec, ExpertParams::default()).unwrap();
        let dt = spec.control_dt_s();
        for tick in 0..800 {
            let obs = Observation::new(sensors, [schedule.at(tick as f64 * dt)].into());
            let a = driver.act(&obs, sim.privileged_observed());
            let b = shadow.act(&obs, sim.privileged_observed());
            assert_eq!(a, b, "seed {seed} tick {tick}: the shadow expert left the driver's gait");
            sensors = sim.step(&Command::Track(a)).unwrap();
            assert!(!sim.privileged().fallen, "seed {seed}: the expert fell at tick {tick}");
        }
        assert!(driver.steps() > 10, "seed {seed}: only {} steps", driver.steps());
    }
}

/// A robot that stands while the command says walk (a policy that does not start) is told
/// to lift one foot, tick after tick, until a second has passed: the shadow expert does
/// not count a foot that never left the ground as a touchdown and flip legs every lift.
#[test]
fn a_shadow_expert_asks_a_robot_that_keeps_its_feet_down_to_lift_one() {
    let spec = RobotSpec::reference();
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let still = Scenario {
        start_push: strider_sim::StartPush { max_force_n: 0.0, ..Default::default() },
        ..Scenario::default()
    };
    let mut sensors = sim.reset(0, &still).unwrap();
    let hold = Command::Track(spec.default_action());
    let mut shadow = Expert::shadowing(&spec, ExpertParams::default()).unwrap();
    let lift_knee = ExpertParams::default().swing_knee[0] as f32;
    let mut lifting = Vec::new();
    for _ in 0..45 {
        let label = shadow.act(&Observation::new(sensors, [-0.3].into()), sim.privileged_observed());
        lifting.push([label.joint_target[1], label.joint_target[4]].map(|k| k == lift_knee));
        sensors = sim.step(&hold).unwrap();
        assert_eq!(&sensors.contact[..], [true, true], "the held robot lifted a foot");
    }
    assert!(lifting.iter().all(|l| *l == lifting[0]) && lifting[0] != [false, false], "{lifting:?}");
}

/// A DAgger rollout of the shipped biped policy: its applied commands are the policy's own
/// actions on the recorded observations, and every label is what a shadow expert says at
/// exactly the state re-simulated from those commands — no tick of the policy unlabelled.
#[test]
fn the_shadow_expert_labels_exactly_the_ticks_the_policy_visited() {
    let spec = RobotSpec::reference();
    shadow_labels_exactly_the_visited_ticks(
        &spec,
        &|| shipped_model(&spec),
        [-0.5, 1.2],
        CommandMix::default(),
    );
}

/// The same for the hopper's built-in model and its expert ([`Scripted`] picks it by shape).
#[test]
fn the_hoppers_shadow_expert_labels_exactly_the_ticks_its_policy_visited() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let spec = RobotSpec::load(&root.join("robots/hopper.toml")).unwrap();
    let manifest = root.join("models/hopper/model.toml");
    let model = || strider_policy::Policy::load(&manifest, &spec).unwrap();
    let forward = CommandMix { backward_share: 0.0, reverse_share: 0.0, ..CommandMix::default() };
    shadow_labels_exactly_the_visited_ticks(&spec, &model, [0.0, 0.4], forward);
}

fn shadow_labels_exactly_the_visited_ticks(
    spec: &RobotSpec,
    model: &(dyn Fn() -> strider_policy::Policy + Sync),
    speed_range: [f64; 2],
    mix: CommandMix,
) {
    let dir = std::env::temp_dir().join(format!("strider-dagger-{}-{}", spec.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let plan = Plan {
        contract_id: spec.contract_id().to_string(),
        episodes: 1,
        seconds: 3.0,
        seed: 7,
        shard_episodes: 1,
        action_noise: 0.0,
        speed_range,
        command_hold_s: [1.0, 2.0],
        command_mix: CommandMix { start_standing_share: 0.0, ..mix },
        record_actions: true,
        policy: Some(PolicyRef { name: "shipped".into(), onnx_sha256: "test".into() }),
        scenario: Scenario::default(),
    };
    let load = |_| Ok(Box::new(model()) as Box<dyn strider_controller::Pilot>);
    let summary = collect(spec, &plan, &Pilot::Policy { load: &load }, &dir, 1, &|_| {}).unwrap();
    assert_eq!((summary.episodes, summary.falls), (1, 0));
    let log = Log::read(&shard_path(&dir, 0)).unwrap();
    let ticks = &log.episodes[0].ticks;
    assert_eq!(ticks.len(), 150, "3 s at 50 Hz");

    // The policy, fed the recorded observations, produced the recorded commands (through
    // the controller's envelope, as at run time: joint limits and the rate limit).
    let mut policy = model();
    let envelope = Envelope::new(spec, &SafetyConfig::default());
    let mut last = envelope.limit(&Action { joint_target: ticks[0].observation.sensors.joint_pos }).unwrap();
    let mut applied = Vec::new();
    for t in ticks {
        let a = t.action.as_ref().expect("every running tick is labelled");
        let sent = a.applied.unwrap_or(a.joint_target);
        let own = policy.step(&t.observation).unwrap().action;
        last = envelope.apply(&own, &last).unwrap().0;
        assert_eq!(last.joint_target, sent, "tick {}: not the policy's action", t.tick);
        assert_ne!(a.joint_target, sent, "tick {}: the label is the executed action", t.tick);
        applied.push(sent);
    }

    // Re-simulated from those commands, a shadow expert gives the recorded labels.
    let seed = episode_seed(plan.seed, 0);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xC0_11EC7);
    let schedule = plan.command_mix.draw(plan.speed_range, plan.command_hold_s, plan.seconds, &mut rng);
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let mut sensors = sim.reset(seed, &plan.scenario).unwrap();
    let mut shadow = Scripted::shadowing(spec, ExpertParams::default()).unwrap();
    for (t, sent) in ticks.iter().zip(applied) {
        let obs = Observation::new(sensors, [schedule.at(t.tick as f64 * spec.control_dt_s())].into());
        assert_eq!(obs, t.observation, "tick {}: another state", t.tick);
        let label = shadow.act(&obs, sim.privileged_observed());
        assert_eq!(Some(label.joint_target), t.action.as_ref().map(|a| a.joint_target), "tick {}", t.tick);
        sensors = sim.step(&Command::Track(Action { joint_target: sent })).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
