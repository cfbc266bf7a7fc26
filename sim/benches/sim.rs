//! The simulator's hot loop on one core: one control tick (10 physics steps of the
//! reference biped with its PD loop) standing, and one closed-loop tick of the expert
//! walking at 1.0 m/s. Physics steps/s = 10 / (time per tick).
//!
//! `cargo bench -p strider-sim --bench sim`; `bench/sim_vs_mujoco.py` compares the same
//! workload with MuJoCo in one run (numbers in docs/BENCHMARKS.md).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use strider_robot::{Command, Observation, Plant, RobotSpec};
use strider_sim::{Expert, ExpertParams, Leg, Scenario, Sim, SimConfig};

/// Episodes restart after this many ticks so the robot never walks off the terrain.
const EPISODE_TICKS: u64 = 1000;

fn standing(c: &mut Criterion) {
    let spec = RobotSpec::reference();
    let pose = spec.default_action();
    let mut sim = Sim::new(spec, SimConfig::default()).unwrap();
    let scenario = Scenario::default();
    sim.reset(0, &scenario).unwrap();
    c.bench_function("sim tick standing (10 physics steps)", |b| {
        b.iter(|| sim.step(&Command::Track(pose)).unwrap());
    });
}

fn walking(c: &mut Criterion) {
    let spec = RobotSpec::reference();
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let scenario = Scenario::default();
    let mut ticks = 0u64;
    let command = spec.layout().forward_command(1.0);
    let mut expert = Expert::new(&spec, ExpertParams::default(), Leg::Right).unwrap();
    let mut sensors = sim.reset(0, &scenario).unwrap();
    c.bench_function("sim tick walking with the expert (10 physics steps)", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                if ticks.is_multiple_of(EPISODE_TICKS) || sim.privileged().fallen {
                    sensors = sim.reset(ticks / EPISODE_TICKS, &scenario).unwrap();
                    expert = Expert::new(&spec, ExpertParams::default(), Leg::Right).unwrap();
                }
                let started = Instant::now();
                let action = expert.act(&Observation::new(sensors, command), sim.privileged_observed());
                sensors = sim.step(&Command::Track(action)).unwrap();
                spent += started.elapsed();
                ticks += 1;
            }
            spent
        });
    });
}

criterion_group!(benches, standing, walking);
criterion_main!(benches);
