//! A headless renderer: the robot, the ground and a text line (time, commanded and measured
//! speed) drawn into an indexed-colour frame buffer, written as an animated GIF.
//!
//! Drawing is plain pixel work (capsules by distance to a segment, a 5×7 bitmap font): the
//! pictures are simple and flat-coloured, which is also what keeps the GIF small.

use std::borrow::Cow;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use strider_robot::Plant;

use crate::error::SimError;
use crate::simulator::Sim;

/// Picture options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenderOptions {
    /// Pixels (default 480 × 270).
    pub width: u16,
    pub height: u16,
    /// Pixels per metre (default 110).
    pub scale: f64,
    /// Draw every n-th control tick (default 2: 25 frames/s at 50 Hz, played in real time).
    pub every_ticks: u32,
}

impl Default for RenderOptions {
    fn default() -> RenderOptions {
        RenderOptions { width: 480, height: 270, scale: 110.0, every_ticks: 2 }
    }
}

const SKY: u8 = 0;
const EARTH: u8 = 1;
const EARTH_EDGE: u8 = 2;
const MARK: u8 = 3;
const TORSO: u8 = 4;
const NEAR_LEG: u8 = 5;
const FAR_LEG: u8 = 6;
const INK: u8 = 7;
const ALERT: u8 = 8;
const PALETTE: [[u8; 3]; 16] = [
    [236, 241, 246],
    [205, 195, 172],
    [96, 84, 70],
    [160, 150, 130],
    [52, 84, 150],
    [196, 78, 58],
    [232, 160, 130],
    [24, 24, 28],
    [214, 32, 32],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
];

/// Collects frames while an episode runs; [`GifRecorder::finish`] writes the file.
pub struct GifRecorder {
    path: PathBuf,
    opts: RenderOptions,
    encoder: gif::Encoder<BufWriter<File>>,
    canvas: Canvas,
    /// Centre-of-mass x per tick, for the measured speed (mean over the last second).
    history: Vec<f64>,
    frames: u32,
}

impl GifRecorder {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path, opts: RenderOptions) -> Result<GifRecorder, SimError> {
        let err = |e: &dyn std::fmt::Display| SimError::Render {
            file: path.display().to_string(),
            message: e.to_string(),
        };
        let file = File::create(path).map_err(|e| err(&e))?;
        let palette: Vec<u8> = PALETTE.iter().flatten().copied().collect();
        let mut encoder = gif::Encoder::new(BufWriter::new(file), opts.width, opts.height, &palette)
            .map_err(|e| err(&e))?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(|e| err(&e))?;
        Ok(GifRecorder {
            path: path.to_path_buf(),
            opts,
            encoder,
            canvas: Canvas::new(opts.width.into(), opts.height.into()),
            history: Vec::new(),
            frames: 0,
        })
    }

    /// Call once per control tick (frames are kept every `every_ticks`).
    pub fn tick(&mut self, sim: &Sim, command_vx: f64) -> Result<(), SimError> {
        let state = sim.privileged();
        self.history.push(state.com_x);
        if !state.tick.is_multiple_of(u64::from(self.opts.every_ticks.max(1))) {
            return Ok(());
        }
        self.draw(sim, command_vx);
        let dt = sim.spec().control_dt_s();
        let delay = (f64::from(self.opts.every_ticks.max(1)) * dt * 100.0).round() as u16;
        let frame = gif::Frame {
            width: self.opts.width,
            height: self.opts.height,
            buffer: Cow::Borrowed(&self.canvas.pixels),
            delay,
            ..gif::Frame::default()
        };
        self.encoder.write_frame(&frame).map_err(|e| SimError::Render {
            file: self.path.display().to_string(),
            message: e.to_string(),
        })?;
        self.frames += 1;
        Ok(())
    }

    /// Finishes the file; returns the number of frames written.
    pub fn finish(self) -> Result<u32, SimError> {
        let path = self.path.display().to_string();
        let writer = self
            .encoder
            .into_inner()
            .map_err(|e| SimError::Render { file: path.clone(), message: e.to_string() })?;
        writer.into_inner().map_err(|e| SimError::Render { file: path, message: e.to_string() })?;
        Ok(self.frames)
    }

    fn draw(&mut self, sim: &Sim, command_vx: f64) {
        let state = sim.privileged();
        let terrain = &sim.episode().terrain;
        let c = &mut self.canvas;
        let s = self.opts.scale;
        let (w, h) = (c.width as f64, c.height as f64);
        let cam_x = state.torso_x;
        let cam_y = terrain.height_at(cam_x);
        let to_px = |x: f64, y: f64| (w / 2.0 + (x - cam_x) * s, h * 0.82 - (y - cam_y) * s);
        c.fill(SKY);
        for px in 0..c.width {
            let x = cam_x + (px as f64 + 0.5 - w / 2.0) / s;
            let (_, top) = to_px(x, terrain.height_at(x));
            let top = top.round().max(0.0) as usize;
            for py in top..c.height {
                c.set(px, py, if py < top + 2 { EARTH_EDGE } else { EARTH });
            }
        }
        // A tick every metre on the ground, so motion reads even when the camera follows.
        let first = ((cam_x - w / 2.0 / s).floor()) as i64;
        for m in first..=first + (w / s) as i64 + 1 {
            let (px, py) = to_px(m as f64, terrain.height_at(m as f64));
            c.segment([px, py + 3.0], [px, py + 12.0], 1.0, MARK);
        }
        // The limb of the second contact behind the body, the first contact's in front (the
        // reference biped: left leg, torso, right leg); every other link in the body's colour.
        let capsules = sim.capsules();
        let far: Vec<usize> = sim.leg_links(1);
        let near: Vec<usize> = sim.leg_links(0);
        let body = (0..capsules.len()).filter(|i| !far.contains(i) && !near.contains(i));
        let order = far
            .iter()
            .map(|&i| (i, FAR_LEG))
            .chain(body.map(|i| (i, TORSO)))
            .chain(near.iter().map(|&i| (i, NEAR_LEG)));
        for (i, colour) in order {
            let ([a, b], r) = capsules[i];
            c.segment(to_px(a[0], a[1]).into(), to_px(b[0], b[1]).into(), r * s, colour);
        }
        let push = sim.push_now();
        if push != 0.0 {
            let (px, py) = to_px(state.torso_x, state.torso_y);
            let len = 30.0 + push.abs() * 0.2;
            let dir = push.signum();
            let tail = [px - dir * (len + 14.0), py];
            let head = [px - dir * 14.0, py];
            c.segment(tail, head, 2.0, ALERT);
            c.segment(head, [head[0] - dir * 8.0, py - 6.0], 2.0, ALERT);
            c.segment(head, [head[0] - dir * 8.0, py + 6.0], 2.0, ALERT);
        }
        let ticks_per_s = (1.0 / sim.spec().control_dt_s()).round() as usize;
        let n = self.history.len();
        let measured =
            if n > ticks_per_s { self.history[n - 1] - self.history[n - 1 - ticks_per_s] } else { f64::NAN };
        c.text(8, 8, &format!("t {:5.2} s", state.time_s), INK);
        c.text(8, 26, &format!("cmd {command_vx:5.2} m/s"), INK);
        let v = if measured.is_nan() { "v   -.-- m/s".to_string() } else { format!("v {measured:5.2} m/s") };
        c.text(8, 44, &v, INK);
        if push != 0.0 {
            c.text(8, 62, &format!("push {push:.0} N"), ALERT);
        }
        if state.fallen {
            c.text(c.width / 2 - 30, 20, "FELL", ALERT);
        }
    }
}

struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Canvas {
        Canvas { width, height, pixels: vec![SKY; width * height] }
    }

    fn fill(&mut self, colour: u8) {
        self.pixels.fill(colour);
    }

    fn set(&mut self, x: usize, y: usize, colour: u8) {
        if x < self.width && y < self.height {
            self.pixels[y * self.width + x] = colour;
        }
    }

    /// A thick segment with round ends (a capsule), radius in pixels.
    fn segment(&mut self, a: [f64; 2], b: [f64; 2], radius: f64, colour: u8) {
        let lo_x = (a[0].min(b[0]) - radius).floor().max(0.0) as usize;
        let hi_x = (a[0].max(b[0]) + radius).ceil().min(self.width as f64 - 1.0);
        let lo_y = (a[1].min(b[1]) - radius).floor().max(0.0) as usize;
        let hi_y = (a[1].max(b[1]) + radius).ceil().min(self.height as f64 - 1.0);
        if hi_x < 0.0 || hi_y < 0.0 {
            return;
        }
        let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
        let len2 = (dx * dx + dy * dy).max(1e-12);
        for y in lo_y..=hi_y as usize {
            for x in lo_x..=hi_x as usize {
                let (px, py) = (x as f64 + 0.5 - a[0], y as f64 + 0.5 - a[1]);
                let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
                let (ex, ey) = (px - t * dx, py - t * dy);
                if ex * ex + ey * ey <= radius * radius {
                    self.set(x, y, colour);
                }
            }
        }
    }

    /// Text in the 5×7 font at twice its size; unknown characters are left blank.
    fn text(&mut self, x: usize, y: usize, text: &str, colour: u8) {
        for (k, ch) in text.chars().enumerate() {
            let rows = glyph(ch);
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..5 {
                    if bits & (0x10 >> col) != 0 {
                        for (ox, oy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                            self.set(x + k * 12 + col * 2 + ox, y + r * 2 + oy, colour);
                        }
                    }
                }
            }
        }
    }
}

/// 5×7 glyphs, one byte per row, bit 4 = leftmost column.
fn glyph(ch: char) -> [u8; 7] {
    match ch {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0, 0, 0, 0, 0, 0x0C, 0x0C],
        '-' => [0, 0, 0, 0x1F, 0, 0, 0],
        '/' => [0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10],
        'c' => [0, 0, 0x0E, 0x10, 0x10, 0x11, 0x0E],
        'd' => [0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F],
        'h' => [0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11],
        'm' => [0, 0, 0x1A, 0x15, 0x15, 0x11, 0x11],
        'p' => [0, 0, 0x1E, 0x11, 0x1E, 0x10, 0x10],
        's' => [0, 0, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        't' => [0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06],
        'u' => [0, 0, 0x11, 0x11, 0x11, 0x13, 0x0D],
        'v' => [0, 0, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        _ => [0; 7],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capsule_covers_its_axis_and_not_beyond_its_radius() {
        let mut c = Canvas::new(40, 40);
        c.segment([10.0, 20.0], [30.0, 20.0], 3.0, INK);
        assert_eq!(c.pixels[20 * 40 + 20], INK);
        assert_eq!(c.pixels[20 * 40 + 5], SKY);
        assert_eq!(c.pixels[26 * 40 + 20], SKY);
    }

    #[test]
    fn every_character_of_the_overlay_has_a_glyph() {
        for ch in "t 0123456789.- s cmd m/s v push N FELL".chars().filter(|c| *c != ' ') {
            assert_ne!(glyph(ch), [0; 7], "{ch:?}");
        }
    }
}
