//! `strider replay LOG… --model A [--model B …]`: how each model would have acted on the
//! recordings, side by side (`strider-replay` computes; this prints).

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use strider_log::Log;
use strider_plot::{Chart, Marker, Series};
use strider_policy::Manifest;
use strider_replay::{EpisodeTrace, EvalOptions, Evaluation, FieldError, TraceTick};
use strider_robot::RobotSpec;

/// The name `--model` takes for the model built into strider.
pub const BUILT_IN_ARG: &str = "built-in";

/// The model a `--model` argument names: a path, or `None` for `built-in`.
pub fn model_path(arg: &Path) -> Option<&Path> {
    (arg.as_os_str() != BUILT_IN_ARG).then_some(arg)
}

/// Reads every log under `paths`, evaluates each model on all of them, prints a table (or
/// one JSON object).
/// How `replay --model` runs.
pub struct Options<'a> {
    /// Episodes per model call.
    pub lanes: usize,
    pub json: bool,
    /// Write the surprise threshold the logs give into this model's manifest.
    pub calibrate: Option<&'a Path>,
    /// Draw the fields' traces here.
    pub plot: Option<&'a Path>,
    /// Observation or action fields to draw.
    pub fields: Vec<String>,
}

pub fn run(spec: &RobotSpec, paths: &[PathBuf], models: &[PathBuf], opts: &Options) -> anyhow::Result<()> {
    let (lanes, json) = (opts.lanes, opts.json);
    let mut logs = Vec::new();
    for path in paths {
        for file in crate::logs::log_files(path)? {
            let log = Log::read(&file).context("reading log")?;
            log.check_against(spec).context("checking log against the robot")?;
            logs.push(log);
        }
    }
    let ticks: usize = logs.iter().map(Log::tick_count).sum();
    // A lane without an episode would compute for nothing.
    let episodes: usize = logs.iter().map(|l| l.episodes.len()).sum();
    let lanes = lanes.min(episodes).max(1);
    let mut results = Vec::new();
    for model in models {
        let mut loaded = crate::model::load_batch(model_path(model), spec, lanes)?;
        let bar = if json || ticks < 20_000 { ProgressBar::hidden() } else { ProgressBar::new(ticks as u64) };
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ticks, {per_sec}, eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_message(short(&loaded.name));
        let options = EvalOptions { calibrate: opts.calibrate.is_some(), trace: false };
        let eval = strider_replay::evaluate(&mut loaded.policy, &loaded.name, &logs, options, |n| {
            bar.set_position(n)
        })
        .with_context(|| format!("evaluating {}", loaded.name))?;
        bar.finish_and_clear();
        results.push((loaded.name, eval));
    }
    if let Some(dir) = opts.plot {
        plot(spec, dir, &opts.fields, &logs, models, &results)?;
    }
    if let (Some(model), Some((_, eval))) = (opts.calibrate, results.first()) {
        calibrate(model, eval)?;
    }
    if json {
        let value = serde_json::json!({
            "logs": logs.iter().map(|l| l.file.clone()).collect::<Vec<_>>(),
            "ticks": ticks,
            "models": results.iter().map(|(name, eval)| serde_json::json!({"model": name, "evaluation": eval})).collect::<Vec<_>>(),
        });
        println!("{value}");
    } else {
        print!("{}", table(logs.len(), ticks, &results));
    }
    Ok(())
}

/// Writes the calibration `eval` found into the manifest of `model` (its `[surprise]`
/// section; every other field stays as it was).
fn calibrate(model: &Path, eval: &Evaluation) -> anyhow::Result<()> {
    let section = eval
        .calibration
        .clone()
        .ok_or_else(|| anyhow::anyhow!("--calibrate-surprise: the logs gave no tick to calibrate on"))?;
    let path = crate::model::manifest_path(model);
    let mut manifest = Manifest::load(&path)?;
    eprintln!(
        "surprise   threshold {:.3} (the {} quantile of {} ticks) written into {}",
        section.threshold,
        section.quantile,
        section.ticks,
        path.display()
    );
    manifest.surprise = Some(section);
    std::fs::write(&path, manifest.to_toml_string())
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// One PNG per field in `dir`: the recording and each model's prediction of it over the
/// episode where the first model disagreed most with the recording (its worst tick), with
/// the simulator's pushes and a fall marked.
fn plot(
    spec: &RobotSpec,
    dir: &Path,
    fields: &[String],
    logs: &[Log],
    models: &[PathBuf],
    results: &[(String, Evaluation)],
) -> anyhow::Result<()> {
    let obs_names: Vec<String> = spec.observation_layout().into_iter().map(|f| f.name).collect();
    let act_names: Vec<String> = spec.action_layout().into_iter().map(|f| f.name).collect();
    let units: Vec<(String, &str)> =
        spec.observation_layout().into_iter().chain(spec.action_layout()).map(|f| (f.name, f.unit)).collect();
    for f in fields {
        anyhow::ensure!(
            obs_names.contains(f) || act_names.contains(f),
            "--fields: `{f}` is not a field of this robot; use one of {}, {}",
            obs_names.join(", "),
            act_names.join(", ")
        );
    }
    // The episode to draw: the first model's worst tick, else the first episode.
    let (log, episode) = match results.first().and_then(|(_, e)| e.worst.first()) {
        Some(w) => {
            let log = logs.iter().find(|l| l.file == w.file).expect("the worst tick is in a log read here");
            (log, log.episodes.iter().find(|e| e.start.episode == w.episode).expect("its episode"))
        }
        None => {
            let log =
                logs.iter().find(|l| !l.episodes.is_empty()).context("--plot: the logs hold no episode")?;
            (log, &log.episodes[0])
        }
    };
    let one = Log { episodes: vec![episode.clone()], ..log.clone() };
    let mut traces = Vec::new();
    for model in models {
        let mut loaded = crate::model::load_batch(model_path(model), spec, 1)?;
        let options = EvalOptions { calibrate: false, trace: true };
        let eval = strider_replay::evaluate(
            &mut loaded.policy,
            &loaded.name,
            std::slice::from_ref(&one),
            options,
            |_| {},
        )?;
        traces.push((short(&loaded.name), eval.traces.into_iter().next().context("a traced episode")?));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut markers: Vec<Marker> = strider_replay::resim::pushes(log, episode, spec.links.len())
        .iter()
        .map(|p| Marker { x: p.time_s, label: format!("push {:+.0} N", p.force_n), rgb: PUSH_RGB })
        .collect();
    if let Some(t) = traces.first().and_then(|(_, tr)| tr.ticks.iter().find(|t| t.fallen)) {
        markers.push(Marker { x: t.time_s, label: "fell".into(), rgb: FALL_RGB });
    }
    for field in fields {
        let (obs_at, act_at) =
            (obs_names.iter().position(|n| n == field), act_names.iter().position(|n| n == field));
        // One point per tick where the trace has a value: the recording's, or the model's.
        let points = |trace: &EpisodeTrace, model: bool| -> Vec<(f64, f64)> {
            let value = |t: &TraceTick| match (obs_at, act_at, model) {
                (Some(i), _, false) => Some(t.recorded_obs[i]),
                (Some(i), _, true) => t.predicted_obs.as_ref().map(|p| p[i]),
                (_, Some(j), false) => t.recorded_action.as_ref().map(|a| a[j]),
                (_, Some(j), true) => Some(t.action[j]),
                _ => None,
            };
            trace.ticks.iter().filter_map(|t| Some((t.time_s, f64::from(value(t)?)))).collect()
        };
        let mut series = vec![Series {
            label: "recorded".into(),
            rgb: RECORDED_RGB,
            points: points(&traces[0].1, false),
            dots: false,
        }];
        for (k, (name, trace)) in traces.iter().enumerate() {
            let points = points(trace, true);
            let what = if obs_at.is_some() { "predicted" } else { "action" };
            series.push(Series {
                label: format!("{name} ({what})"),
                rgb: MODEL_RGB[k % MODEL_RGB.len()],
                points,
                dots: false,
            });
        }
        let unit = units.iter().find(|(n, _)| n == field).map_or("", |(_, u)| *u);
        let chart = Chart {
            title: format!("{field}: {} episode {}", file_name(&log.file), episode.start.episode),
            x_label: "time (s)".into(),
            y_label: if unit == "1" { field.clone() } else { format!("{field} ({unit})") },
            y_log: false,
            series,
            markers: markers.clone(),
        };
        let path = dir.join(format!("{field}.png"));
        chart.write_png(&path)?;
        eprintln!("plot       {}", path.display());
    }
    Ok(())
}

/// Colours: the recording in black, models in blue, orange, green, purple; pushes grey,
/// falls red.
const RECORDED_RGB: [u8; 3] = [20, 20, 20];
const MODEL_RGB: [[u8; 3]; 4] = [[30, 90, 200], [230, 130, 20], [40, 150, 60], [140, 60, 170]];
const PUSH_RGB: [u8; 3] = [150, 150, 150];
const FALL_RGB: [u8; 3] = [210, 40, 40];

/// The last two path components: enough to tell runs apart in a column header.
fn short(name: &str) -> String {
    let p = Path::new(name);
    let parts: Vec<_> = p.iter().rev().take(2).collect();
    parts.into_iter().rev().collect::<PathBuf>().display().to_string()
}

/// One row per metric, one column per model, and which model is best (lower is better).
fn table(files: usize, ticks: usize, results: &[(String, Evaluation)]) -> String {
    let mut out = String::new();
    let first = &results[0].1;
    let _ = writeln!(
        out,
        "replay     {files} log files, {} episodes, {ticks} ticks, teacher-forced through tract",
        first.episodes
    );
    let names: Vec<String> = results.iter().map(|(n, _)| short(n)).collect();
    let width = names.iter().map(String::len).max().unwrap_or(0).max(12);
    let _ = write!(out, "\n{:<34}", "metric (lower is better)");
    for n in &names {
        let _ = write!(out, " {n:>width$}");
    }
    let _ = writeln!(out, "  verdict");
    // `judged`: lower is better and the models' values compare (not so for the surprise,
    // which each model measures in its own calibrated units).
    let mut row_of = |label: &str, value: &dyn Fn(&Evaluation) -> f64, unit: &str, judged: bool| {
        let values: Vec<f64> = results.iter().map(|(_, e)| value(e)).collect();
        let _ = write!(out, "{label:<34}");
        for v in &values {
            let _ = write!(out, " {:>width$}", format!("{v:.4}{unit}"));
        }
        let _ = writeln!(out, "  {}", if judged { verdict(&names, &values) } else { String::new() });
    };
    let mut row =
        |label: &str, value: &dyn Fn(&Evaluation) -> f64, unit: &str| row_of(label, value, unit, true);
    let mean = |rows: &[FieldError], f: fn(&FieldError) -> f64| {
        rows.iter().map(f).sum::<f64>() / rows.len().max(1) as f64
    };
    row("action MAE, mean over joints", &|e| mean(&e.action, |f| f.mae), " rad");
    row("action RMS, mean over joints", &|e| mean(&e.action, |f| f.rms), " rad");
    row("action p99, worst joint", &|e| e.action.iter().map(|f| f.p99).fold(0.0, f64::max), " rad");
    row("action MAE / std", &|e| e.action_mae_normalised, "");
    row("next-observation MAE / std", &|e| e.observation_mae_normalised, "");
    for j in 0..first.action.len() {
        let label = format!("  {} MAE", first.action[j].field);
        row(&label, &move |e| e.action[j].mae, " rad");
    }
    for (i, f) in first.observation.iter().enumerate() {
        if f.field.starts_with("command") {
            continue;
        }
        let label = format!("  {} pred. MAE", f.field);
        let unit = format!(" {}", f.unit);
        row(&label, &move |e| e.observation[i].mae, if unit == " 1" { "" } else { &unit });
    }
    // Each model's surprise is in its own units: shown, not judged.
    row_of("surprise p50 (own units)", &|e| f64::from(e.surprise.p50), "", false);
    row_of("surprise p99.9 (own units)", &|e| f64::from(e.surprise.p999), "", false);
    let masked = first.action.first().map_or(0, |f| f.masked);
    let obs_masked: u64 = first.observation.iter().map(|f| f.masked).sum();
    let _ = writeln!(
        out,
        "\n[M]        {masked} ticks without a recorded action, {obs_masked} masked observation fields (not scored)"
    );
    for (name, eval) in results {
        let su = &eval.surprise;
        let _ = match su.threshold {
            Some(t) => writeln!(
                out,
                "surprise   {}: {} of {} ticks above the model's threshold {t:.2} (max {:.2})",
                short(name),
                su.surprising,
                su.ticks,
                su.max
            ),
            None => writeln!(
                out,
                "surprise   {}: max {:.2}; no calibrated threshold in the model",
                short(name),
                su.max
            ),
        };
        for m in su.most.iter().take(3).filter(|m| su.threshold.is_none_or(|t| m.surprise > t)) {
            let _ = writeln!(
                out,
                "  most surprising: {} episode {} tick {} (t = {:.2} s): {:.2}",
                file_name(&m.file),
                m.episode,
                m.tick,
                m.time_s,
                m.surprise
            );
        }
        let _ = writeln!(
            out,
            "worst      {} ({:.1} s, {:.0} ticks/s):",
            short(name),
            eval.seconds,
            eval.ticks as f64 / eval.seconds.max(1e-9)
        );
        for w in eval.worst.iter().take(5) {
            let _ = writeln!(
                out,
                "  {} episode {} tick {} (t = {:.2} s): {} model {:.3}, recorded {:.3} ({:.1} std)",
                file_name(&w.file),
                w.episode,
                w.tick,
                w.time_s,
                w.field,
                w.model,
                w.recorded,
                w.error_normalised
            );
        }
    }
    out
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or(path.to_string(), |f| f.to_string_lossy().into())
}

/// `best: NAME (−12 % vs NEXT)`, or the value alone for one model.
fn verdict(names: &[String], values: &[f64]) -> String {
    if values.len() < 2 {
        return String::new();
    }
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let (best, next) = (order[0], order[1]);
    if values[next] == 0.0 || values[best] == values[next] {
        return "tie".into();
    }
    format!(
        "best: {} ({:+.0} % vs {})",
        names[best],
        100.0 * (values[best] / values[next] - 1.0),
        names[next]
    )
}
