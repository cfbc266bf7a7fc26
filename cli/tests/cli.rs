//! The `strider` binary, run as a user runs it.
//!
//! Modules, one per command group:
//! - `robot`: `strider robot show` prints the contract and refuses bad descriptions.

mod robot {
    use std::process::Command;

    use strider_robot::RobotSpec;

    fn strider(args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_strider")).args(args).output().expect("run strider");
        (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    }

    #[test]
    fn show_lists_joints_in_contract_order_with_the_contract_id() {
        let (ok, out, err) = strider(&["robot", "show"]);
        assert!(ok, "{err}");
        let order = ["right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle"];
        let rows: Vec<_> = out
            .lines()
            .skip_while(|l| !l.starts_with("joints"))
            .skip(2)
            .take(6)
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect();
        assert_eq!(rows, order);
        assert!(out.contains(&RobotSpec::reference().contract_id().to_string()));
        assert!(out.contains("observation: 17 fields"), "{out}");
        assert!(out.contains("16  command_vx                 m/s"), "{out}");
        assert!(out.contains("action (position targets for the plant's PD loop): 6 fields"), "{out}");
    }

    #[test]
    fn show_json_is_one_object_with_the_layouts() {
        let (ok, out, err) = strider(&["robot", "show", "--json"]);
        assert!(ok, "{err}");
        assert_eq!(out.trim().lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["contract_id"], RobotSpec::reference().contract_id().to_string());
        assert_eq!(v["observation"].as_array().unwrap().len(), 17);
        assert_eq!(v["action"][5]["name"], "joint_target.left_ankle");
        assert_eq!(v["spec"]["joints"][1]["limits_deg"][0], -150.0);
    }

    #[test]
    fn a_bad_description_fails_with_one_line_naming_file_and_field() {
        let dir = std::env::temp_dir().join(format!("strider-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        let text =
            strider_robot::REFERENCE_BIPED_TOML.replacen("inertia_kgm2 = 0.069246", "inertia_kgm2 = -1.0", 1);
        std::fs::write(&path, text).unwrap();
        let (ok, out, err) = strider(&["robot", "show", "--robot", path.to_str().unwrap()]);
        assert!(!ok);
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("bad.toml") && err.contains("links[0] (torso).inertia_kgm2 = -1"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
