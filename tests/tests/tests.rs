//! Integration tests across crates and documents, one binary.
//!
//! Modules:
//! - `dagger`: the shadow expert follows the expert's own gait unchanged and labels exactly
//!   the ticks a policy rollout visited.
//! - `sim_plant`: the simulator behind the `Plant` seam (built from the description, PD,
//!   disarm, latency, falls, scenario refusals, the expert walks).
//! - `sim_determinism`: same seed and scenario, bit-identical trajectories.
//! - `sim_regression`: regressions of the expert, each named after its failure.
//! - `link_pty`: host driver against the virtual firmware over real pseudo-terminals
//!   (handshake refusals, 10^5 round trips, injected faults, disconnect and re-seed).
//! - `link_firmware`: the virtual firmware spoken to byte for byte.
//! - `link_faults`: the fault matrix of deploy: the controller riding through each injected
//!   link fault (hold, damp, reconnect, resume) over a real pty.
//! - `resim`: a policy run re-simulated from its recorded start, closed loop and open loop,
//!   reproduces the recording tick for tick; a difference is named by tick and field.
//! - `policy`: candle ↔ tract parity of the exported model and manifest refusals.
//! - `docs`: what the README and docs/ quote (contract ids, shipped files) is what the code
//!   computes, and docs/LOGS.md documents every channel field, so the documents cannot drift.

mod dagger;
mod link_faults;
mod link_firmware;
mod link_pty;
mod policy;
mod resim;
mod sim_determinism;
mod sim_plant;
mod sim_regression;

/// The shipped model (`models/walker2d-biped`), loaded through the runtime that deploys it.
fn shipped_model(spec: &strider_robot::RobotSpec) -> strider_policy::Policy {
    let manifest =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/walker2d-biped/model.toml");
    strider_policy::Policy::load(&manifest, spec).unwrap()
}

mod docs {
    use std::path::Path;

    use strider_robot::RobotSpec;

    fn repo_file(rel: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn shipped_robot_file_is_the_embedded_one_and_valid() {
        let on_disk = RobotSpec::from_toml_str(&repo_file("robots/biped.toml"), "robots/biped.toml").unwrap();
        assert_eq!(on_disk, RobotSpec::reference());
    }

    #[test]
    fn logs_doc_lists_every_channel_and_field() {
        let doc = repo_file("docs/LOGS.md");
        for (topic, name, schema) in strider_log::schemas() {
            let heading = format!("### `{topic}` — `{name}`");
            let section =
                doc.split(&heading).nth(1).unwrap_or_else(|| panic!("docs/LOGS.md lacks `{heading}`"));
            let section = section.split("\n### ").next().unwrap();
            for field in schema["properties"].as_object().unwrap().keys() {
                assert!(
                    section.contains(&format!("`{field}`")),
                    "docs/LOGS.md, {topic}: field `{field}` undocumented"
                );
            }
        }
    }

    #[test]
    fn shipped_training_config_loads_with_the_paper_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/train.toml");
        let cfg = strider_train::TrainConfig::load(&path).unwrap();
        assert_eq!(cfg, strider_train::TrainConfig { data: cfg.data.clone(), ..Default::default() });
        assert_eq!(cfg.data.logs, [Path::new("data")]);
    }

    #[test]
    fn readme_quotes_the_reference_contract_id() {
        let id = RobotSpec::reference().contract_id().to_string();
        assert!(
            repo_file("README.md").contains(&format!("`{id}`")),
            "README.md should quote the reference contract id `{id}`"
        );
    }
}
