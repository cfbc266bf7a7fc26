//! The loss-curve PNG, rasterised by hand and encoded with `png`.
//!
//! Why not plotters: its text needs a font backend (`ttf` pulls font-kit and system
//! fonts, which CI machines may lack) and its bitmap encoder pulls `image`; a loss curve
//! needs lines, not a charting library. Axes: x = optimiser step (linear, 0 → last),
//! y = log10 loss between the smallest and largest value plotted, grid lines at each
//! decade. Blue: training loss per step; red: held-out loss at each evaluation.

use std::path::Path;

use crate::error::TrainError;

const W: usize = 800;
const H: usize = 480;
const MARGIN: usize = 40;

struct Canvas {
    px: Vec<u8>,
}

impl Canvas {
    fn new() -> Canvas {
        Canvas { px: vec![255; W * H * 3] }
    }

    fn dot(&mut self, x: i64, y: i64, rgb: [u8; 3]) {
        if (0..W as i64).contains(&x) && (0..H as i64).contains(&y) {
            let i = (y as usize * W + x as usize) * 3;
            self.px[i..i + 3].copy_from_slice(&rgb);
        }
    }

    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), rgb: [u8; 3]) {
        let n = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
        for s in 0..=n {
            let t = s as f64 / n as f64;
            self.dot((x0 + t * (x1 - x0)).round() as i64, (y0 + t * (y1 - y0)).round() as i64, rgb);
        }
    }
}

/// Writes `train` (step, loss) and `eval` (step, loss) as a PNG at `path`.
pub fn write_loss_curve(
    path: &Path,
    train: &[(usize, f32)],
    eval: &[(usize, f32)],
) -> Result<(), TrainError> {
    let all = train.iter().chain(eval).filter(|(_, l)| l.is_finite() && *l > 0.0);
    let (mut lo, mut hi, mut last) = (f64::MAX, f64::MIN, 1usize);
    for &(s, l) in all {
        lo = lo.min(f64::from(l).log10());
        hi = hi.max(f64::from(l).log10());
        last = last.max(s);
    }
    if lo > hi {
        (lo, hi) = (-1.0, 0.0);
    }
    let (lo, hi) = (lo.floor(), hi.ceil().max(lo.floor() + 1.0));
    let (pw, ph) = ((W - 2 * MARGIN) as f64, (H - 2 * MARGIN) as f64);
    let map = |s: usize, l: f32| {
        let x = MARGIN as f64 + pw * s as f64 / last as f64;
        let y = MARGIN as f64 + ph * (1.0 - (f64::from(l).log10() - lo) / (hi - lo));
        (x, y)
    };
    let mut c = Canvas::new();
    let (left, right, top, bottom) = (MARGIN as f64, (W - MARGIN) as f64, MARGIN as f64, (H - MARGIN) as f64);
    let mut decade = lo;
    while decade <= hi {
        let y = top + ph * (1.0 - (decade - lo) / (hi - lo));
        c.line((left, y), (right, y), [220, 220, 220]);
        decade += 1.0;
    }
    c.line((left, bottom), (right, bottom), [0, 0, 0]);
    c.line((left, top), (left, bottom), [0, 0, 0]);
    for (series, rgb) in [(train, [30, 90, 200]), (eval, [210, 40, 40])] {
        let pts: Vec<_> =
            series.iter().filter(|(_, l)| l.is_finite() && *l > 0.0).map(|&(s, l)| map(s, l)).collect();
        for w in pts.windows(2) {
            c.line(w[0], w[1], rgb);
        }
    }
    let file = path.display().to_string();
    let io = |e: &dyn std::fmt::Display| TrainError::Io { file: file.clone(), message: e.to_string() };
    let out = std::fs::File::create(path).map_err(|e| io(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(out), W as u32, H as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| io(&e))?;
    writer.write_image_data(&c.px).map_err(|e| io(&e))?;
    writer.finish().map_err(|e| io(&e))
}
