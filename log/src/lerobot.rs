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
use serde_json::{Value, json};
use strider_robot::Layout;

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
    let first = check_logs(logs, out)?;
    let fps = first.meta.control_hz;
    let f = Frames::of(logs, fps, first.layout.to_layout());
    let frames = f.index.len();
    let episodes = f.episodes.len();
    let skipped = f.skipped;
    let data = out.join("data/chunk-000/file-000.parquet");
    let episodes_file = out.join("meta/episodes/chunk-000/file-000.parquet");
    let tasks_file = out.join("meta/tasks.parquet");
    let info_file = out.join("meta/info.json");
    let stats_file = out.join("meta/stats.json");
    let (info, stats) = (info_json(first, episodes, frames, (f.obs_dim, f.action_dim)), f.stats_json());
    f.write_tables(&data, &episodes_file, task)?;
    write_table(
        &tasks_file,
        vec![Column::Str("task", vec![task.to_string()]), Column::I64("task_index", vec![0])],
    )?;
    for (path, value) in [(&info_file, info), (&stats_file, stats)] {
        let text = serde_json::to_string_pretty(&value).expect("JSON values serialise");
        std::fs::write(path, text).map_err(|e| io_error(path, e))?;
    }
    let files = [data, episodes_file, tasks_file, info_file, stats_file];
    Ok(ExportSummary {
        out: out.display().to_string(),
        episodes,
        frames,
        fps,
        skipped_without_actions: skipped,
        files: files.iter().map(|p: &PathBuf| p.display().to_string()).collect(),
    })
}

fn io_error(file: &Path, e: std::io::Error) -> LogError {
    LogError::Io { file: file.display().to_string(), message: e.to_string() }
}

/// The first log, once `out` is known to be new or empty and every log is of the first's
/// robot and rate.
fn check_logs<'a>(logs: &'a [Log], out: &Path) -> Result<&'a Log, LogError> {
    if out.exists() && std::fs::read_dir(out).map_err(|e| io_error(out, e))?.next().is_some() {
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
    Ok(first)
}

/// Every frame (a tick with its action) of the logs as columns, with per-field statistics.
struct Frames {
    /// Values per row of `observation.state` and of `action`.
    obs_dim: usize,
    action_dim: usize,
    state: Vec<f32>,
    action: Vec<f32>,
    timestamp: Vec<f32>,
    frame_index: Vec<i64>,
    episode_index: Vec<i64>,
    index: Vec<i64>,
    /// (episode, from, to) in `index`.
    episodes: Vec<(i64, i64, i64)>,
    obs_stats: Vec<FieldStats>,
    act_stats: Vec<FieldStats>,
    /// Episodes without a single action.
    skipped: usize,
}

impl Frames {
    /// The frames of `logs`, all of robot `layout` (one contract id: `check_logs`).
    fn of(logs: &[Log], fps: u32, layout: Layout) -> Frames {
        let (obs_dim, action_dim) = (layout.obs_dim(), layout.action_dim());
        let mut f = Frames {
            obs_dim,
            action_dim,
            state: Vec::new(),
            action: Vec::new(),
            timestamp: Vec::new(),
            frame_index: Vec::new(),
            episode_index: Vec::new(),
            index: Vec::new(),
            episodes: Vec::new(),
            obs_stats: vec![FieldStats::default(); obs_dim],
            act_stats: vec![FieldStats::default(); action_dim],
            skipped: 0,
        };
        for episode in logs.iter().flat_map(|l| &l.episodes) {
            // A frame is a tick with its action; an episode's last tick (the final state) has none.
            let frames: Vec<_> = episode.ticks.iter().filter_map(|t| Some((t, t.action.as_ref()?))).collect();
            if frames.is_empty() {
                f.skipped += 1;
                continue;
            }
            let e = f.episodes.len() as i64;
            let from = f.index.len() as i64;
            for (t, a) in frames {
                let o = t.observation.to_values();
                let a = &a.joint_target;
                o.iter().zip(&mut f.obs_stats).for_each(|(&x, s)| s.push(f64::from(x)));
                a.iter().zip(&mut f.act_stats).for_each(|(&x, s)| s.push(f64::from(x)));
                f.state.extend_from_slice(&o);
                f.action.extend_from_slice(a);
                f.timestamp.push(t.tick as f32 / fps as f32);
                f.frame_index.push(t.tick as i64);
                f.episode_index.push(e);
                f.index.push(f.index.len() as i64);
            }
            f.episodes.push((e, from, f.index.len() as i64));
        }
        f
    }

    /// `meta/stats.json`. A NaN or ±Inf (a failed sensor) stays in the data as it was
    /// recorded; the statistics are over each field's finite values, and `null` for a
    /// field that never had one.
    fn stats_json(&self) -> Value {
        let frames = self.index.len();
        let stats_json = |stats: &[FieldStats]| {
            let known = |f: fn(&FieldStats) -> f64| {
                stats.iter().map(|s| (s.count > 0).then(|| f(s))).collect::<Vec<_>>()
            };
            json!({
                "mean": known(|s| s.mean),
                "std": known(|s| s.std),
                "min": known(|s| s.min),
                "max": known(|s| s.max),
                "count": [frames],
            })
        };
        json!({"observation.state": stats_json(&self.obs_stats), "action": stats_json(&self.act_stats)})
    }

    /// The frames table and the episodes table.
    fn write_tables(self, data: &Path, episodes_file: &Path, task: &str) -> Result<(), LogError> {
        let episodes = self.episodes;
        let task_index = vec![0i64; self.index.len()];
        write_table(
            data,
            vec![
                Column::F32List("observation.state", self.obs_dim, self.state),
                Column::F32List("action", self.action_dim, self.action),
                Column::F32("timestamp", self.timestamp),
                Column::I64("frame_index", self.frame_index),
                Column::I64("episode_index", self.episode_index),
                Column::I64("index", self.index),
                Column::I64("task_index", task_index),
            ],
        )?;
        write_table(
            episodes_file,
            vec![
                Column::I64("episode_index", episodes.iter().map(|e| e.0).collect()),
                Column::StrList("tasks", episodes.iter().map(|_| vec![task.to_string()]).collect()),
                Column::I64("length", episodes.iter().map(|e| e.2 - e.1).collect()),
                Column::I64("data/chunk_index", vec![0; episodes.len()]),
                Column::I64("data/file_index", vec![0; episodes.len()]),
                Column::I64("dataset_from_index", episodes.iter().map(|e| e.1).collect()),
                Column::I64("dataset_to_index", episodes.iter().map(|e| e.2).collect()),
            ],
        )
    }
}

/// `meta/info.json`: the dataset's shape (`dims`: observation and action widths), features
/// and where it came from.
fn info_json(first: &Log, episodes: usize, frames: usize, dims: (usize, usize)) -> Value {
    let (obs_dim, action_dim) = dims;
    let scalar = |dtype: &str| json!({"dtype": dtype, "shape": [1], "names": null});
    json!({
        "codebase_version": "v3.0",
        "robot_type": first.meta.robot,
        "total_episodes": episodes,
        "total_frames": frames,
        "total_tasks": 1,
        "chunks_size": 1000,
        "fps": first.meta.control_hz,
        "splits": {"train": format!("0:{episodes}")},
        "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
        "video_path": null,
        "features": {
            "observation.state": {"dtype": "float32", "shape": [obs_dim], "names": first.meta.observation_fields},
            "action": {"dtype": "float32", "shape": [action_dim], "names": first.meta.action_fields},
            "timestamp": scalar("float32"),
            "frame_index": scalar("int64"),
            "episode_index": scalar("int64"),
            "index": scalar("int64"),
            "task_index": scalar("int64"),
        },
        "strider": {"contract_id": first.meta.contract_id.to_string(), "controller": first.meta.controller},
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
