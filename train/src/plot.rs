//! The loss-curve PNG, drawn with plotters and encoded with `png`.
//!
//! Text is set with plotters' pure-Rust `ab_glyph` backend in DejaVu Sans, bundled in
//! `assets/fonts/` (Bitstream Vera licence, beside it), so a machine without system fonts
//! draws the same picture; plotters' own bitmap encoder is left out (it pulls `image`), the
//! RGB buffer goes through the `png` crate already used here.
//!
//! The picture: title, x = optimiser step, y = loss on a log scale (normalised units),
//! tick values on both, a legend. Blue: training loss per step; red: held-out loss at each
//! evaluation, with a dot per evaluation.

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::error::TrainError;

const W: u32 = 800;
const H: u32 = 480;
/// Colours of the two series (tests look for them).
pub const TRAIN_RGB: [u8; 3] = [30, 90, 200];
pub const HELD_OUT_RGB: [u8; 3] = [210, 40, 40];

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled file is a valid TrueType font; a failure here is a broken checkout.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Writes `train` (step, loss) and `eval` (step, loss) as a PNG at `path`.
pub fn write_loss_curve(
    path: &Path,
    train: &[(usize, f32)],
    eval: &[(usize, f32)],
) -> Result<(), TrainError> {
    let file = path.display().to_string();
    let io = |e: &dyn std::fmt::Display| TrainError::Io { file: file.clone(), message: e.to_string() };
    let positive = |s: &[(usize, f32)]| -> Vec<(f64, f64)> {
        s.iter().filter(|(_, l)| l.is_finite() && *l > 0.0).map(|&(s, l)| (s as f64, f64::from(l))).collect()
    };
    let (train, eval) = (positive(train), positive(eval));
    let (mut lo, mut hi, mut last) = (f64::MAX, f64::MIN, 1.0f64);
    for &(s, l) in train.iter().chain(&eval) {
        (lo, hi, last) = (lo.min(l), hi.max(l), last.max(s));
    }
    if lo > hi {
        (lo, hi) = (0.1, 1.0);
    }
    // Whole decades around the data, so the log axis has labelled ticks.
    let (lo, hi) =
        (10f64.powf(lo.log10().floor()), 10f64.powf(hi.log10().ceil().max(lo.log10().floor() + 1.0)));

    register_font();
    let mut rgb = vec![255u8; (W * H * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| io(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Training loss: MSE(actions) + λ·MSE(next observations)", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..last, (lo..hi).log_scale())
            .map_err(|e| io(&e))?;
        chart
            .configure_mesh()
            .x_desc("optimiser step")
            .y_desc("loss (normalised units, log scale)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| if *y >= 1.0 { format!("{y:.0}") } else { format!("{}", *y as f32) })
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()
            .map_err(|e| io(&e))?;
        let [r, g, b] = TRAIN_RGB;
        let blue = RGBColor(r, g, b);
        chart
            .draw_series(LineSeries::new(train, &blue))
            .map_err(|e| io(&e))?
            .label("training (each step)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], blue));
        let [r, g, b] = HELD_OUT_RGB;
        let red = RGBColor(r, g, b);
        chart
            .draw_series(LineSeries::new(eval.iter().copied(), red.stroke_width(2)))
            .map_err(|e| io(&e))?
            .label("held-out (each evaluation)")
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red.stroke_width(2)));
        chart.draw_series(eval.iter().map(|&p| Circle::new(p, 4, red.filled()))).map_err(|e| io(&e))?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| io(&e))?;
        root.present().map_err(|e| io(&e))?;
    }
    let out = std::fs::File::create(path).map_err(|e| io(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(out), W, H);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| io(&e))?;
    writer.write_image_data(&rgb).map_err(|e| io(&e))?;
    writer.finish().map_err(|e| io(&e))
}
