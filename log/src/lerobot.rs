//! Export to a LeRobot v3-style dataset, so Python robot-learning users can load our logs:
//! `data/chunk-000/file-000.parquet` (one row per tick), `meta/info.json` (fps, features),
//! `meta/stats.json`, `meta/tasks.parquet` and `meta/episodes/chunk-000/file-000.parquet`.
//!
//! Parquet is written with the `parquet` crate's column API (no arrow): arrow would roughly
//! double the export's build cost for nothing we need.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{ConvertedType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, FloatType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde::Serialize;
use serde_json::json;
use strider_robot::{ACTION_DIM, OBS_DIM};

use crate::error::LogError;
use crate::reader::Log;
use crate::summary::FieldStats;

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportSummary {
    pub out: String,
    pub episodes: usize,
    pub frames: usize,
    pub fps: u32,
    /// Episodes left out because they had no actions.
    pub skipped_without_actions: usize,
    pub files: Vec<String>,
}

/// One column of a table: a name and its values, one entry per row.
enum Column {
    I64(&'static str, Vec<i64>),
    F32(&'static str, Vec<f32>),
    /// A fixed-width list of floats per row (`observation.state`, `action`).
    F32List(&'static str, usize, Vec<f32>),
    Str(&'static str, Vec<String>),
    StrList(&'static str, Vec<Vec<String>>),
}

/// Writes the logs' ticks that have actions as a LeRobot v3-style dataset in `out`,
/// which must not exist or be empty (nothing is ever overwritten).
pub fn export_lerobot(logs: &[Log], out: &Path, task: &str) -> Result<ExportSummary, LogError> {
    let io = |file: &Path, e: std::io::Error| LogError::Io {
        file: file.display().to_string(),
        message: e.to_string(),
    };
    if out.exists() && std::fs::read_dir(out).map_err(|e| io(out, e))?.next().is_some() {
        return Err(LogError::Exists { file: out.display().to_string() });
    }
    let Some(first) = logs.first() else {
        return Err(LogError::Io { file: out.display().to_string(), message: "no logs to export".into() });
    };
    let fps = first.meta.control_hz;
    for log in logs {
        if log.meta.control_hz != fps || log.meta.contract_id != first.meta.contract_id {
            return Err(LogError::Metadata {
                file: log.file.clone(),
                key: "control_hz / contract_id".into(),
                problem: format!(
                    "{} Hz / {}, unlike {} ({} Hz / {}); export logs of one robot and rate together",
                    log.meta.control_hz, log.meta.contract_id, first.file, fps, first.meta.contract_id
                ),
            });
        }
    }

    let mut state = Vec::new();
    let mut action = Vec::new();
    let (mut timestamp, mut frame_index, mut episode_index, mut index) = (vec![], vec![], vec![], vec![]);
    let mut episodes: Vec<(i64, i64, i64)> = Vec::new(); // (episode, from, to)
    let mut obs_stats = [FieldStats::default(); OBS_DIM];
    let mut act_stats = [FieldStats::default(); ACTION_DIM];
    let mut skipped = 0;
    for episode in logs.iter().flat_map(|l| &l.episodes) {
        // A frame is a tick with its action; an episode's last tick (the final state) has none.
        let frames: Vec<_> = episode.ticks.iter().filter_map(|t| Some((t, t.action.as_ref()?))).collect();
        if frames.is_empty() {
            skipped += 1;
            continue;
        }
        let e = episodes.len() as i64;
        let from = index.len() as i64;
        for (t, a) in frames {
            let o = t.observation.to_array();
            let a = a.joint_target;
            o.iter().zip(&mut obs_stats).for_each(|(&x, s)| s.push(f64::from(x)));
            a.iter().zip(&mut act_stats).for_each(|(&x, s)| s.push(f64::from(x)));
            state.extend_from_slice(&o);
            action.extend_from_slice(&a);
            timestamp.push(t.tick as f32 / fps as f32);
            frame_index.push(t.tick as i64);
            episode_index.push(e);
            index.push(index.len() as i64);
        }
        episodes.push((e, from, index.len() as i64));
    }
    let frames = index.len();
    let task_index = vec![0i64; frames];

    let data = out.join("data/chunk-000/file-000.parquet");
    let episodes_file = out.join("meta/episodes/chunk-000/file-000.parquet");
    let tasks_file = out.join("meta/tasks.parquet");
    let info_file = out.join("meta/info.json");
    let stats_file = out.join("meta/stats.json");
    write_table(
        &data,
        vec![
            Column::F32List("observation.state", OBS_DIM, state),
            Column::F32List("action", ACTION_DIM, action),
            Column::F32("timestamp", timestamp),
            Column::I64("frame_index", frame_index),
            Column::I64("episode_index", episode_index),
            Column::I64("index", index),
            Column::I64("task_index", task_index),
        ],
    )?;
    write_table(
        &episodes_file,
        vec![
            Column::I64("episode_index", episodes.iter().map(|e| e.0).collect()),
            Column::StrList("tasks", episodes.iter().map(|_| vec![task.to_string()]).collect()),
            Column::I64("length", episodes.iter().map(|e| e.2 - e.1).collect()),
            Column::I64("data/chunk_index", vec![0; episodes.len()]),
            Column::I64("data/file_index", vec![0; episodes.len()]),
            Column::I64("dataset_from_index", episodes.iter().map(|e| e.1).collect()),
            Column::I64("dataset_to_index", episodes.iter().map(|e| e.2).collect()),
        ],
    )?;
    write_table(
        &tasks_file,
        vec![Column::Str("task", vec![task.to_string()]), Column::I64("task_index", vec![0])],
    )?;

    let scalar = |dtype: &str| json!({"dtype": dtype, "shape": [1], "names": null});
    let info = json!({
        "codebase_version": "v3.0",
        "robot_type": first.meta.robot,
        "total_episodes": episodes.len(),
        "total_frames": frames,
        "total_tasks": 1,
        "chunks_size": 1000,
        "fps": fps,
        "splits": {"train": format!("0:{}", episodes.len())},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": null,
        "features": {
            "observation.state": {"dtype": "float32", "shape": [OBS_DIM], "names": first.meta.observation_fields},
            "action": {"dtype": "float32", "shape": [ACTION_DIM], "names": first.meta.action_fields},
            "timestamp": scalar("float32"),
            "frame_index": scalar("int64"),
            "episode_index": scalar("int64"),
            "index": scalar("int64"),
            "task_index": scalar("int64"),
        },
        "strider": {"contract_id": first.meta.contract_id.to_string(), "controller": first.meta.controller},
    });
    // A NaN or ±Inf (a failed sensor) stays in the data as it was recorded; the statistics
    // are over each field's finite values, and `null` for a field that never had one.
    let stats_json = |stats: &[FieldStats]| {
        let known =
            |f: fn(&FieldStats) -> f64| stats.iter().map(|s| (s.count > 0).then(|| f(s))).collect::<Vec<_>>();
        json!({
            "mean": known(|s| s.mean),
            "std": known(|s| s.std),
            "min": known(|s| s.min),
            "max": known(|s| s.max),
            "count": [frames],
        })
    };
    let stats = json!({"observation.state": stats_json(&obs_stats), "action": stats_json(&act_stats)});
    for (path, value) in [(&info_file, info), (&stats_file, stats)] {
        let text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
        std::fs::write(path, text).map_err(|e| io(path, e))?;
    }

    let files = [data, episodes_file, tasks_file, info_file, stats_file];
    Ok(ExportSummary {
        out: out.display().to_string(),
        episodes: episodes.len(),
        frames,
        fps,
        skipped_without_actions: skipped,
        files: files.iter().map(|p: &PathBuf| p.display().to_string()).collect(),
    })
}

fn write_table(path: &Path, columns: Vec<Column>) -> Result<(), LogError> {
    let file = path.display().to_string();
    let err = |e: parquet::errors::ParquetError| LogError::Io { file: file.clone(), message: e.to_string() };
    let parent = path.parent().expect("table paths have a parent");
    std::fs::create_dir_all(parent)
        .map_err(|e| LogError::Io { file: file.clone(), message: e.to_string() })?;
    let schema = Type::group_type_builder("schema")
        .with_fields(columns.iter().map(|c| Arc::new(column_type(c))).collect())
        .build()
        .map_err(err)?;
    let handle =
        File::create(path).map_err(|e| LogError::Io { file: file.clone(), message: e.to_string() })?;
    let props = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(handle, Arc::new(schema), props).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    for column in &columns {
        let mut w = group.next_column().map_err(err)?.expect("one writer per schema column");
        match column {
            Column::I64(_, v) => {
                w.typed::<Int64Type>().write_batch(v, None, None).map_err(err)?;
            }
            Column::F32(_, v) => {
                w.typed::<FloatType>().write_batch(v, None, None).map_err(err)?;
            }
            Column::F32List(_, width, v) => {
                let (def, rep) = list_levels(std::iter::repeat_n(*width, v.len() / width));
                w.typed::<FloatType>().write_batch(v, Some(&def), Some(&rep)).map_err(err)?;
            }
            Column::Str(_, v) => {
                let v: Vec<ByteArray> = v.iter().map(|s| ByteArray::from(s.as_str())).collect();
                w.typed::<ByteArrayType>().write_batch(&v, None, None).map_err(err)?;
            }
            Column::StrList(_, rows) => {
                let (def, rep) = list_levels(rows.iter().map(Vec::len));
                let v: Vec<ByteArray> = rows.iter().flatten().map(|s| ByteArray::from(s.as_str())).collect();
                w.typed::<ByteArrayType>().write_batch(&v, Some(&def), Some(&rep)).map_err(err)?;
            }
        }
        w.close().map_err(err)?;
    }
    group.close().map_err(err)?;
    writer.close().map_err(err)?;
    Ok(())
}

/// Definition and repetition levels of `required group (LIST) { repeated group list {
/// required element } }` rows of the given lengths (every row non-empty).
fn list_levels(lengths: impl Iterator<Item = usize>) -> (Vec<i16>, Vec<i16>) {
    let (mut def, mut rep) = (Vec::new(), Vec::new());
    for n in lengths {
        for i in 0..n {
            def.push(1);
            rep.push(i16::from(i > 0));
        }
    }
    (def, rep)
}

fn column_type(column: &Column) -> Type {
    let primitive = |name: &str, physical: Physical, converted: ConvertedType| {
        Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::REQUIRED)
            .with_converted_type(converted)
            .build()
            .expect("valid primitive type")
    };
    let list = |name: &str, element: Type| {
        let inner = Type::group_type_builder("list")
            .with_repetition(Repetition::REPEATED)
            .with_fields(vec![Arc::new(element)])
            .build()
            .expect("valid list group");
        Type::group_type_builder(name)
            .with_repetition(Repetition::REQUIRED)
            .with_converted_type(ConvertedType::LIST)
            .with_fields(vec![Arc::new(inner)])
            .build()
            .expect("valid list type")
    };
    match column {
        Column::I64(name, _) => primitive(name, Physical::INT64, ConvertedType::NONE),
        Column::F32(name, _) => primitive(name, Physical::FLOAT, ConvertedType::NONE),
        Column::F32List(name, _, _) => list(name, primitive("element", Physical::FLOAT, ConvertedType::NONE)),
        Column::Str(name, _) => primitive(name, Physical::BYTE_ARRAY, ConvertedType::UTF8),
        Column::StrList(name, _) => {
            list(name, primitive("element", Physical::BYTE_ARRAY, ConvertedType::UTF8))
        }
    }
}
