//! One `Policy::step` (tokenize, tract streaming step, detokenize) of the default-size model
//! (4 layers, width 192, 4 heads) with a full context of 16, 32 and 64 ticks, one thread.
//! `cargo bench -p strider-train --bench policy_step`; the ONNX Runtime comparison on
//! the same files is `bench/policy_latency.sh` (see docs/BENCHMARKS.md).

use criterion::{Criterion, criterion_group, criterion_main};

use strider_policy::{Policy, Tokenizer};
use strider_robot::{Observation, RobotSpec, Sensors};
use strider_train::{Model, ModelConfig, write_model};

fn step(c: &mut Criterion) {
    let spec = RobotSpec::reference();
    let layout = spec.layout();
    let mut group = c.benchmark_group("policy_step");
    for ticks in [16, 32, 64] {
        let dir = std::env::temp_dir().join(format!("strider-bench-{}-k{ticks}", std::process::id()));
        let cfg = ModelConfig { context_ticks: ticks, ..ModelConfig::default() };
        let model = Model::new(&cfg, &layout, 1).expect("model");
        let e = write_model(&model, &Tokenizer::identity(&layout), &spec, &dir, "model").expect("export");
        let mut policy = Policy::load(&e.manifest, &spec).expect("load");
        let obs = Observation::new(Sensors::zeros(&layout), layout.forward_command(0.5));
        for _ in 0..ticks {
            policy.step(&obs).expect("step");
        }
        group.bench_function(format!("k{ticks}"), |b| {
            b.iter(|| policy.step(std::hint::black_box(&obs)).expect("step"))
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
    group.finish();
}

criterion_group!(benches, step);
criterion_main!(benches);
