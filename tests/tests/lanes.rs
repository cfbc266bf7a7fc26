//! Closed-loop rollouts through one batched model call: a lane's robot walks the same
//! whatever the other lanes do, and as a one-stream policy would.

use strider_controller::{Controller, LanePool, RunConfig, SafetyConfig, Stop};
use strider_policy::PolicyBatch;
use strider_robot::{Command, RobotSpec, SpeedSchedule};
use strider_sim::{Push, Scenario, Sim, SimConfig};

/// One episode: its seed, command, length and pushes.
struct Case {
    seed: u64,
    command: f32,
    ticks: u64,
    pushes: Vec<Push>,
}

/// Every command the controller sent in `case`, walked on `sim` by `control`.
fn walk(control: &mut Controller, spec: &RobotSpec, case: &Case) -> Vec<Command> {
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let scenario = Scenario { pushes: case.pushes.clone(), ..Scenario::default() };
    let first = sim.reset(case.seed, &scenario).unwrap();
    let cfg = RunConfig {
        ticks: case.ticks,
        realtime: false,
        command: SpeedSchedule::from(case.command),
        wind_down: false,
    };
    let mut sent = Vec::new();
    control.run(&mut sim, first, &cfg, &Stop::default(), |e, _| sent.push(*e.command)).unwrap();
    sent
}

fn pool(spec: &RobotSpec, lanes: usize) -> LanePool {
    let manifest =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/walker2d-biped/model.toml");
    LanePool::start(PolicyBatch::load(&manifest, spec, lanes).unwrap())
}

/// Lane 1 walks a case alone; then the same case while lane 0 walks one that a shove
/// knocks over (its controller damps: ticks that ask nothing of the pilot) and lane 2 walks
/// a shorter one and leaves. Lane 1 sends the same commands to the bit.
#[test]
fn a_lane_walks_the_same_whatever_the_other_lanes_do() {
    let spec = RobotSpec::reference();
    let mine = Case { seed: 3, command: 0.6, ticks: 100, pushes: vec![] };
    let shove = Case {
        seed: 4,
        command: 1.0,
        ticks: 150,
        pushes: vec![Push { time_s: 0.5, force_n: 600.0, duration_s: 0.2 }],
    };
    let short = Case { seed: 5, command: -0.3, ticks: 30, pushes: vec![] };
    let alone = {
        let pool = pool(&spec, 3);
        let mut control = Controller::new(&spec, pool.pilot(1).unwrap(), SafetyConfig::default());
        walk(&mut control, &spec, &mine)
    };
    let pool = pool(&spec, 3);
    assert!(pool.pilot(3).is_none(), "no lane past the last");
    let (busy, fell, left) = std::thread::scope(|s| {
        let (spec, pool) = (&spec, &pool);
        let [fell, left, walked] = [(0, &shove), (2, &short), (1, &mine)].map(|(lane, case)| {
            let mut control = Controller::new(spec, pool.pilot(lane).unwrap(), SafetyConfig::default());
            s.spawn(move || walk(&mut control, spec, case))
        });
        (walked.join().unwrap(), fell.join().unwrap(), left.join().unwrap())
    });
    assert!(fell.contains(&Command::Damp), "the shoved robot fell and damped");
    assert_eq!(left.len(), 30);
    assert!(busy == alone, "lane 1's commands depend on what the other lanes did");
    assert!(pool.pilot(1).is_none(), "a lane serves one pilot");
}
