//! Each kind of mismatch between a manifest, its ONNX file and the robot is refused with
//! an error that names the offending field.

use std::path::Path;

use strider_policy::{Manifest, Policy, sha256_hex};
use strider_robot::RobotSpec;

use super::common::{Scratch, export_random, small_config};

/// Exports a small model, lets `edit` change the manifest, and returns the load error.
fn load_after(edit: impl FnOnce(&mut Manifest, &Path)) -> String {
    let dir = Scratch::new("manifest");
    let (_, exported) = export_random(&small_config(4), 1, dir.path());
    let mut m = exported.manifest_data.clone();
    edit(&mut m, dir.path());
    std::fs::write(&exported.manifest, m.to_toml_string()).unwrap();
    match Policy::load(&exported.manifest, &RobotSpec::reference()) {
        Ok(_) => panic!("a mismatched model was accepted"),
        Err(e) => e.to_string(),
    }
}

/// Exports a small model, lets `edit` change its ONNX graph, and writes the file back with
/// the manifest's hash updated (so only the graph can be at fault). Returns the scratch
/// directory (keep it alive) and the manifest's path.
fn with_edited_graph(
    tag: &str,
    edit: impl FnOnce(&mut strider_policy::onnx_pb::GraphProto),
) -> (Scratch, std::path::PathBuf) {
    use prost::Message;
    let dir = Scratch::new(tag);
    let (_, exported) = export_random(&small_config(4), 1, dir.path());
    let bytes = std::fs::read(&exported.onnx).unwrap();
    let mut proto = strider_policy::onnx_pb::ModelProto::decode(bytes.as_slice()).unwrap();
    edit(proto.graph.as_mut().unwrap());
    let bytes = proto.encode_to_vec();
    std::fs::write(&exported.onnx, &bytes).unwrap();
    let mut m = exported.manifest_data.clone();
    m.onnx.sha256 = sha256_hex(&bytes);
    std::fs::write(&exported.manifest, m.to_toml_string()).unwrap();
    (dir, exported.manifest)
}

fn assert_names(err: &str, field: &str) {
    assert!(err.contains(field), "error does not name `{field}`: {err}");
    assert!(!err.contains('\n'), "error is not one line: {err}");
}

#[test]
fn unedited_export_loads() {
    let dir = Scratch::new("manifest-ok");
    let (_, exported) = export_random(&small_config(4), 1, dir.path());
    let policy = Policy::load(&exported.manifest, &RobotSpec::reference()).expect("a fresh export loads");
    assert_eq!(policy.manifest().context.ticks, 4);
}

#[test]
fn wrong_joint_order() {
    let err = load_after(|m, _| m.robot.joints.swap(0, 3));
    assert_names(&err, "robot.joints");
}

#[test]
fn wrong_contract_id() {
    let err = load_after(|m, _| m.robot.contract_id = "0123456789abcdef".into());
    assert_names(&err, "robot.contract_id");
}

#[test]
fn robot_with_other_joint_order_is_refused() {
    let dir = Scratch::new("manifest-robot");
    let (_, exported) = export_random(&small_config(4), 1, dir.path());
    let mut spec = RobotSpec::reference();
    spec.joints.swap(0, 3);
    let err =
        Policy::load(&exported.manifest, &spec).expect_err("accepted for another joint order").to_string();
    assert_names(&err, "robot.contract_id");
}

/// A robot of another layout (its IMU without the pitch rate: one observation field fewer)
/// is refused in one line naming both contract ids, by the single stream and the batch.
#[test]
fn robot_with_another_layout_is_refused_naming_both_contract_ids() {
    let dir = Scratch::new("manifest-layout");
    let (_, exported) = export_random(&small_config(4), 1, dir.path());
    let mut spec = RobotSpec::reference();
    spec.sensors.imu.truncate(1);
    assert_eq!(spec.layout().obs_dim() + 1, RobotSpec::reference().layout().obs_dim());
    let ids = [spec.contract_id().to_string(), RobotSpec::reference().contract_id().to_string()];
    let single =
        Policy::load(&exported.manifest, &spec).expect_err("accepted for another layout").to_string();
    let batch = strider_policy::PolicyBatch::load(&exported.manifest, &spec, 2)
        .expect_err("accepted for another layout")
        .to_string();
    for err in [single, batch] {
        assert_names(&err, "robot.contract_id");
        assert!(ids.iter().all(|id| err.contains(id.as_str())), "{err}");
    }
}

#[test]
fn edited_onnx_file() {
    let err = load_after(|m, dir| {
        let path = dir.join(&m.onnx.file);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(path, bytes).unwrap();
    });
    assert_names(&err, "onnx.sha256");
}

#[test]
fn missing_normalisation() {
    let err = load_after(|m, _| m.observation[3].std = None);
    assert_names(&err, "observation[3] (joint_pos.left_hip).std");
    let err = load_after(|m, _| m.action[5].mean = None);
    assert_names(&err, "action[5] (joint_target.left_ankle).mean");
}

#[test]
fn invalid_normalisation() {
    let err = load_after(|m, _| m.observation[0].std = Some(0.0));
    assert_names(&err, "observation[0] (joint_pos.right_hip).std");
}

#[test]
fn wrong_field_unit_or_name() {
    let err = load_after(|m, _| m.observation[0].unit = "deg".into());
    assert_names(&err, "observation[0] (joint_pos.right_hip).unit");
    let err = load_after(|m, _| m.action.swap(0, 1));
    assert_names(&err, "action[0] (joint_target.right_hip).name");
}

#[test]
fn wrong_control_rate() {
    let err = load_after(|m, _| m.timing.control_hz = 100);
    assert_names(&err, "timing.control_hz");
}

#[test]
fn wrong_shapes_in_manifest() {
    let err = load_after(|m, _| m.onnx.inputs[0].shape[1] = "16".into());
    assert_names(&err, "onnx.inputs[0] (obs).shape");
}

#[test]
fn context_length_disagrees_with_graph() {
    // A manifest for 8 ticks in front of a graph built for 4 (hash updated, so only the
    // graph's declared shapes can tell).
    let err = load_after(|m, dir| {
        let other = Scratch::new("manifest-other");
        let (_, e8) = export_random(&small_config(8), 1, other.path());
        let m8 = e8.manifest_data;
        m.context.ticks = 8;
        m.onnx.inputs = m8.onnx.inputs;
        m.onnx.outputs = m8.onnx.outputs;
        m.onnx.sha256 = sha256_hex(&std::fs::read(dir.join(&m.onnx.file)).unwrap());
    });
    assert_names(&err, "onnx.inputs (as declared in the ONNX graph)[5] (key_valid).shape");
}

#[test]
fn wrong_opset_or_format_version() {
    let err = load_after(|m, _| m.onnx.opset = 13);
    assert_names(&err, "onnx.opset");
    let err = load_after(|m, _| m.format_version = 99);
    assert_names(&err, "format_version");
}

#[test]
fn unknown_key_is_refused() {
    let dir = Scratch::new("manifest-key");
    let (_, exported) = export_random(&small_config(4), 1, dir.path());
    let text =
        std::fs::read_to_string(&exported.manifest).unwrap().replace("[timing]", "[timing]\nlatency_ms = 3");
    std::fs::write(&exported.manifest, text).unwrap();
    let err = Policy::load(&exported.manifest, &RobotSpec::reference()).unwrap_err().to_string();
    assert_names(&err, "latency_ms");
}

/// A file that annotates intermediate values with a symbolic `batch` (as PyTorch's dynamo
/// exporter writes `value_info`) loads: the runtime binds batch 1 and re-infers the
/// intermediate shapes rather than failing to unify `batch` with 1. Nothing the model
/// computes depends on those annotations.
#[test]
fn intermediate_shape_annotations_with_a_symbolic_batch_are_ignored() {
    use strider_policy::onnx_pb as pb;
    let (_dir, manifest) = with_edited_graph("value-info", |graph| {
        // Every node output gets a declared shape: [batch, 7] — wrong in rank and size.
        let dim = |v: pb::tensor_shape_proto::dimension::Value| pb::tensor_shape_proto::Dimension {
            value: Some(v),
            ..Default::default()
        };
        let declared: Vec<pb::ValueInfoProto> = graph
            .node
            .iter()
            .flat_map(|n| n.output.clone())
            .filter(|o| !o.starts_with("present_") && o != "action" && o != "next_obs")
            .map(|name| pb::ValueInfoProto {
                name,
                r#type: Some(pb::TypeProto {
                    value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                        elem_type: pb::tensor_proto::DataType::Float as i32,
                        shape: Some(pb::TensorShapeProto {
                            dim: vec![
                                dim(pb::tensor_shape_proto::dimension::Value::DimParam("batch".into())),
                                dim(pb::tensor_shape_proto::dimension::Value::DimValue(7)),
                            ],
                        }),
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect();
        assert!(!declared.is_empty());
        graph.value_info = declared;
    });
    let mut policy = Policy::load(&manifest, &RobotSpec::reference()).expect("annotations ignored");
    let layout = RobotSpec::reference().layout();
    let still =
        strider_robot::Observation::new(strider_robot::Sensors::zeros(&layout), layout.forward_command(0.0));
    policy.step(&still).expect("it steps");
}

/// A graph whose shapes do not follow from its inputs is refused in one line that names the
/// file, the node tract stopped at, and where to look.
#[test]
fn a_graph_whose_shapes_do_not_fit_is_refused_naming_the_node() {
    let (_dir, manifest) = with_edited_graph("bad-reshape", |graph| {
        // The key-bias reshape asks for 999 keys where `key_valid` holds 2K.
        let shape = graph.initializer.iter_mut().find(|t| t.name == "shape_key_bias").unwrap();
        shape.raw_data = [0i64, 1, 1, 999].iter().flat_map(|x| x.to_le_bytes()).collect();
    });
    let err = Policy::load(&manifest, &RobotSpec::reference()).unwrap_err().to_string();
    assert!(err.contains("model.onnx") && err.contains("Reshape") && err.contains("named `batch`"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

/// Weights kept in a separate file (PyTorch's dynamo exporter does so by default) are
/// refused in one line that says how to export one file.
#[test]
fn weights_in_an_external_file_are_refused_saying_how_to_export() {
    use strider_policy::onnx_pb::{StringStringEntryProto, tensor_proto::DataLocation};
    let (_dir, manifest) = with_edited_graph("external", |graph| {
        let t = graph.initializer.iter_mut().find(|t| t.name == "ln_f.weight").unwrap();
        t.raw_data.clear();
        t.data_location = Some(DataLocation::External as i32);
        t.external_data =
            vec![StringStringEntryProto { key: "location".into(), value: "model.onnx.data".into() }];
    });
    let err = Policy::load(&manifest, &RobotSpec::reference()).unwrap_err().to_string();
    assert!(err.contains("model.onnx") && err.contains("external_data=False"), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
}

/// A window graph needs two ticks: it reads the prediction of `O_k` at `A_{k−1}`.
#[test]
fn a_one_tick_window_is_refused() {
    let err = load_after(|m, _| {
        m.onnx.interface = strider_policy::Interface::Window;
        m.context.ticks = 1;
    });
    assert_names(&err, "context.ticks");
    assert!(err.contains("window"), "{err}");
}

/// A manifest whose `interface` is not the graph's: its input list is not the one that
/// interface has.
#[test]
fn an_interface_that_is_not_the_graphs_is_refused() {
    let err = load_after(|m, _| m.onnx.interface = strider_policy::Interface::Pair);
    assert_names(&err, "onnx.inputs (count)");
}

/// The graph's own names and batch dimension are checked against the manifest: an input
/// named as an exporter's default, or a batch fixed at 1.
#[test]
fn graph_names_and_a_fixed_batch_are_refused_as_declared() {
    let (_dir, manifest) = with_edited_graph("input-name", |graph| graph.input[0].name = "input_0".into());
    let err = Policy::load(&manifest, &RobotSpec::reference()).unwrap_err().to_string();
    assert_names(&err, "onnx.inputs (as declared in the ONNX graph)[0].name");
    assert!(err.contains("input_0"), "{err}");

    use strider_policy::onnx_pb::{tensor_shape_proto::dimension::Value as Dim, type_proto::Value as Type};
    let (_dir, manifest) = with_edited_graph("fixed-batch", |graph| {
        let Some(Type::TensorType(t)) = graph.input[0].r#type.as_mut().and_then(|t| t.value.as_mut()) else {
            panic!("a tensor input")
        };
        t.shape.as_mut().unwrap().dim[0].value = Some(Dim::DimValue(1));
    });
    let err = Policy::load(&manifest, &RobotSpec::reference()).unwrap_err().to_string();
    assert_names(&err, "onnx.inputs (as declared in the ONNX graph)[0] (obs).shape");
}
