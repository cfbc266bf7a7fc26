//! Writes a randomly initialised model of the default size (or as given) with its
//! manifest, for benchmarks: `cargo run --release -p strider-train --example export_random
//! -- --ticks 32 --out bench/out/k32 [--layers 4 --width 192 --heads 4] [--interface token|pair|window]`.

use std::path::PathBuf;

use strider_policy::{Interface, Tokenizer};
use strider_robot::RobotSpec;
use strider_train::{Model, ModelConfig, write_model_as};

fn main() {
    let mut cfg = ModelConfig::default();
    let mut out = PathBuf::from("bench/out/model");
    let mut interface = Interface::Token;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let value = pair.get(1).unwrap_or_else(|| panic!("{} needs a value", pair[0]));
        let n = || value.parse::<usize>().unwrap_or_else(|_| panic!("{}: not a number: {value}", pair[0]));
        match pair[0].as_str() {
            "--ticks" => cfg.context_ticks = n(),
            "--layers" => cfg.layers = n(),
            "--width" => cfg.width = n(),
            "--heads" => cfg.heads = n(),
            "--out" => out = PathBuf::from(value),
            "--interface" => {
                interface = match value.as_str() {
                    "token" => Interface::Token,
                    "pair" => Interface::Pair,
                    "window" => Interface::Window,
                    other => panic!("--interface: `{other}` is not token, pair or window"),
                }
            }
            other => panic!("unknown option {other}"),
        }
    }
    let spec = RobotSpec::reference();
    let layout = spec.layout();
    let model = Model::new(&cfg, &layout, 1).expect("model");
    let e = write_model_as(&model, &Tokenizer::identity(&layout), &spec, &out, "model", interface)
        .expect("export");
    println!(
        "{} ({} parameters, {} ticks)",
        e.manifest.display(),
        model.parameter_count(),
        cfg.context_ticks
    );
}
