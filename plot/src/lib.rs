//! Pictures: line charts written as PNG files, for the training loss curve and replay's
//! predicted-vs-recorded traces.
//!
//! This crate owns the plotting engine (plotters, the only crate that imports it) and the
//! picture conventions every Strider plot follows: a title, both axes labelled with their
//! units and tick values, a legend, and vertical markers for events (a push, a fall).
//! Text is set with plotters' pure-Rust `ab_glyph` backend in DejaVu Sans, bundled in
//! `assets/fonts/` (Bitstream Vera licence, beside it), so a machine without system fonts
//! draws the same picture; plotters' own bitmap encoder is left out (it pulls `image`), the
//! RGB buffer goes through the `png` crate.
//!
//! It does not decide what to plot (the trainer and the CLI do) or read logs.

use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::FontStyle;

const W: u32 = 900;
const H: u32 = 480;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// A picture could not be drawn or written.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct PlotError {
    pub file: String,
    pub message: String,
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend's text.
    pub label: String,
    pub rgb: [u8; 3],
    pub points: Vec<(f64, f64)>,
    /// A dot on every point as well as the line.
    pub dots: bool,
}

/// A vertical line across the chart at `x`, named in the legend.
#[derive(Debug, Clone)]
pub struct Marker {
    pub x: f64,
    pub label: String,
    pub rgb: [u8; 3],
}

/// A line chart: what every Strider picture needs to be read on its own.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    /// Axis descriptions, with units.
    pub x_label: String,
    pub y_label: String,
    /// A log-scale y axis (whole decades around the data).
    pub y_log: bool,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bundled file is a valid TrueType font; a failure here is a broken checkout.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

fn colour([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

impl Chart {
    /// The x and y ranges the finite points (and markers) span, with a margin on y.
    fn bounds(&self) -> (Range<f64>, Range<f64>) {
        let points = || {
            self.series.iter().flat_map(|s| s.points.iter()).filter(|(x, y)| x.is_finite() && y.is_finite())
        };
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in points().filter(|(_, y)| !self.y_log || *y > 0.0) {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        for m in &self.markers {
            (x0, x1) = (x0.min(m.x), x1.max(m.x));
        }
        if x0 > x1 {
            (x0, x1) = (0.0, 1.0);
        }
        if x1 == x0 {
            x1 = x0 + 1.0;
        }
        if y0 > y1 {
            (y0, y1) = if self.y_log { (0.1, 1.0) } else { (0.0, 1.0) };
        }
        let y = if self.y_log {
            // Whole decades, so the log axis has labelled ticks.
            let lo = y0.log10().floor();
            10f64.powf(lo)..10f64.powf(y1.log10().ceil().max(lo + 1.0))
        } else {
            let pad = ((y1 - y0) * 0.08).max(1e-6);
            y0 - pad..y1 + pad
        };
        (x0..x1, y)
    }

    /// Draws the chart into an RGB buffer of `W` × `H`.
    fn draw(&self, rgb: &mut [u8]) -> Result<(), String> {
        let e = |e: &dyn std::fmt::Display| e.to_string();
        let (xr, yr) = self.bounds();
        let root = BitMapBackend::with_buffer(rgb, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70);
        // plotters types a log axis differently; the two arms draw the same picture.
        macro_rules! body {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart
                    .configure_mesh()
                    .x_desc(self.x_label.as_str())
                    .y_desc(self.y_label.as_str())
                    .x_label_formatter(&|x| format!("{x}"))
                    // Rounded first (a tick at 0 may come out as -2e-17), and -0 made 0.
                    .y_label_formatter(&|y| format!("{}", ((y * 1e9).round() / 1e9 + 0.0) as f32))
                    .axis_desc_style(("sans-serif", 15))
                    .label_style(("sans-serif", 13))
                    .light_line_style(RGBColor(235, 235, 235))
                    .draw()
                    .map_err(|x| e(&x))?;
                let (y0, y1) = (yr.start, yr.end);
                for m in &self.markers {
                    let c = colour(m.rgb);
                    chart
                        .draw_series(LineSeries::new([(m.x, y0), (m.x, y1)], c.stroke_width(2)))
                        .map_err(|x| e(&x))?
                        .label(m.label.as_str())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x + 10, y - 6), (x + 10, y + 6)], c.stroke_width(2))
                        });
                }
                for s in &self.series {
                    let c = colour(s.rgb);
                    let pts: Vec<(f64, f64)> =
                        s.points.iter().copied().filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
                    chart
                        .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))
                        .map_err(|x| e(&x))?
                        .label(s.label.as_str())
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
                    if s.dots {
                        chart
                            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, c.filled())))
                            .map_err(|x| e(&x))?;
                    }
                }
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::UpperRight)
                    .label_font(("sans-serif", 14))
                    .background_style(WHITE.mix(0.9))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|x| e(&x))?;
            }};
        }
        if self.y_log {
            body!(builder.build_cartesian_2d(xr.clone(), yr.clone().log_scale()).map_err(|x| e(&x))?);
        } else {
            body!(builder.build_cartesian_2d(xr.clone(), yr.clone()).map_err(|x| e(&x))?);
        }
        root.present().map_err(|x| e(&x))
    }

    /// Draws the chart and writes it as a PNG at `path`.
    pub fn write_png(&self, path: &Path) -> Result<(), PlotError> {
        let file = path.display().to_string();
        let fail = |message: String| PlotError { file: file.clone(), message };
        register_font();
        let mut rgb = vec![255u8; (W * H * 3) as usize];
        self.draw(&mut rgb).map_err(fail)?;
        let out = std::fs::File::create(path).map_err(|e| fail(e.to_string()))?;
        let mut enc = png::Encoder::new(std::io::BufWriter::new(out), W, H);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| fail(e.to_string()))?;
        writer.write_image_data(&rgb).map_err(|e| fail(e.to_string()))?;
        writer.finish().map_err(|e| fail(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every series and marker is drawn in its colour; a series with no finite point (all
    /// `[M]`) draws nothing and breaks nothing.
    #[test]
    fn series_and_markers_are_drawn_in_their_colours() {
        let line = |rgb, f: fn(f64) -> f64| Series {
            label: format!("{rgb:?}"),
            rgb,
            points: (0..100).map(|i| (i as f64 * 0.1, f(i as f64 * 0.1))).collect(),
            dots: false,
        };
        let chart = Chart {
            title: "test".into(),
            x_label: "time (s)".into(),
            y_label: "value (rad)".into(),
            y_log: false,
            series: vec![
                line([200, 0, 0], f64::sin),
                line([0, 0, 200], f64::cos),
                Series {
                    label: "all [M]".into(),
                    rgb: [0, 200, 0],
                    points: vec![(1.0, f64::NAN)],
                    dots: true,
                },
            ],
            markers: vec![Marker { x: 5.0, label: "push".into(), rgb: [150, 150, 150] }],
        };
        register_font();
        let mut rgb = vec![255u8; (W * H * 3) as usize];
        chart.draw(&mut rgb).unwrap();
        let px = |c: [u8; 3]| rgb.chunks(3).filter(|p| *p == c).count();
        assert!(px([200, 0, 0]) > 300 && px([0, 0, 200]) > 300, "both curves");
        assert!(px([150, 150, 150]) > 300, "the marker spans the plot's height");
        assert!(px([0, 200, 0]) < 100, "only its legend entry");
    }
}
