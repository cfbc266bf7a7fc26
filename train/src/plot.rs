//! The loss-curve PNG (drawn by `strider-plot`).
//!
//! The picture: title, x = optimiser step, y = loss on a log scale (normalised units),
//! tick values on both, a legend. Blue: training loss per step; red: held-out loss at each
//! evaluation, with a dot per evaluation.

use std::path::Path;

use strider_plot::{Chart, Series};

use crate::error::TrainError;

/// Colours of the two series (tests look for them).
pub const TRAIN_RGB: [u8; 3] = [30, 90, 200];
pub const HELD_OUT_RGB: [u8; 3] = [210, 40, 40];

/// Writes `train` (step, loss) and `eval` (step, loss) as a PNG at `path`.
pub fn write_loss_curve(
    path: &Path,
    train: &[(usize, f32)],
    eval: &[(usize, f32)],
) -> Result<(), TrainError> {
    let points = |s: &[(usize, f32)]| -> Vec<(f64, f64)> {
        s.iter().filter(|(_, l)| l.is_finite() && *l > 0.0).map(|&(s, l)| (s as f64, f64::from(l))).collect()
    };
    let chart = Chart {
        title: "Training loss: MSE(actions) + λ·MSE(next observations)".into(),
        x_label: "optimiser step".into(),
        y_label: "loss (normalised units, log scale)".into(),
        y_log: true,
        series: vec![
            Series {
                label: "training (each step)".into(),
                rgb: TRAIN_RGB,
                points: points(train),
                dots: false,
            },
            Series {
                label: "held-out (each evaluation)".into(),
                rgb: HELD_OUT_RGB,
                points: points(eval),
                dots: true,
            },
        ],
        markers: vec![],
    };
    chart.write_png(path).map_err(|e| TrainError::Io { file: e.file, message: e.message })
}
