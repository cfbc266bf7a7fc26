//! Record → re-simulate: a policy run logged as `strider sim --log` does is reproduced
//! tick for tick from its recorded start, closed loop with the same model and open loop
//! from its recorded commands; a recording that differs is named at its first tick/field.

use crate::shipped_model;
use strider_controller::{Controller, Recorder, RunConfig, SafetyConfig, Stop};
use strider_log::Log;
use strider_replay::resim;
use strider_robot::{RobotSpec, SpeedSchedule};
use strider_sim::{Scenario, Sim, SimConfig};

#[test]
fn a_policy_run_is_re_simulated_tick_for_tick_and_a_difference_is_named() {
    let spec = RobotSpec::reference();
    let path = std::env::temp_dir().join(format!("strider-resim-{}.mcap", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let (scenario, seed) = (Scenario::default(), 3);
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let first = sim.reset(seed, &scenario).unwrap();
    let conditions = toml::to_string(&scenario).unwrap();
    let mut rec = Recorder::create(&path, &spec, "policy (shipped)", &conditions, Some(seed)).unwrap();
    let mut control = Controller::new(&spec, shipped_model(&spec), SafetyConfig::default());
    let command: SpeedSchedule = "0.6,0@1.2".parse().unwrap();
    let cfg = RunConfig { ticks: 100, realtime: false, command, wind_down: false };
    let mut before = strider_collect::sim_state(sim.privileged());
    control
        .run(&mut sim, first, &cfg, &Stop::default(), |e, sim| {
            rec.record(e, Some(before)).unwrap();
            before = strider_collect::sim_state(sim.privileged());
        })
        .unwrap();
    rec.finish().unwrap();
    let mut log = Log::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(log.tick_count(), 100);

    let closed = resim::closed_loop(&spec, &log, shipped_model(&spec)).unwrap();
    assert_eq!(closed[0].ticks, 100);
    assert_eq!(closed[0].first_difference, None, "{:?}", closed[0]);
    let open = resim::open_loop(&spec, &log).unwrap();
    assert_eq!(open[0].first_difference, None, "{:?}", open[0]);

    log.episodes[0].ticks[40].observation.sensors.imu[0] += 1e-3; // torso_pitch
    let closed = resim::closed_loop(&spec, &log, shipped_model(&spec)).unwrap();
    let d = closed[0].first_difference.as_ref().expect("a difference");
    assert_eq!((d.tick, d.field.as_str()), (40, "torso_pitch"), "{d:?}");
    assert!((d.recorded - d.replayed - 1e-3).abs() < 1e-6, "{d:?}");
}
