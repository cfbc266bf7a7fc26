//! Live commands from the terminal for `strider sim --realtime` and `strider deploy`:
//! ←/↓ slower and →/↑ faster by 0.1 m/s, space stops and stands, q (or Ctrl-C) damps and
//! quits (a second press disarms at once), shown in a status line. The terminal is put in
//! raw mode through crossterm (the field's portable terminal library) and restored when
//! the run ends, also on an error.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::terminal;
use strider_controller::{Stop, Throttle};

/// Speed change per key press, m/s.
pub const STEP_MPS: f64 = 0.1;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Request {
    /// Command this speed, m/s.
    Speed(f64),
    /// Damp and quit (the stop button).
    Stop,
}

/// The request a key makes at commanded speed `now`, within `range` (m/s); `None` for a
/// key that means nothing here.
pub fn request(key: &KeyEvent, now: f64, range: [f64; 2]) -> Option<Request> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    // Speeds stay on the 0.1 m/s grid, so repeated presses never accumulate rounding.
    let step = |delta: f64| {
        Request::Speed(((now + delta) * 10.0).round().clamp(range[0] * 10.0, range[1] * 10.0) / 10.0)
    };
    match key.code {
        KeyCode::Right | KeyCode::Up => Some(step(STEP_MPS)),
        KeyCode::Left | KeyCode::Down => Some(step(-STEP_MPS)),
        KeyCode::Char(' ') => Some(Request::Speed(0.0)),
        KeyCode::Char('q') | KeyCode::Esc => Some(Request::Stop),
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Some(Request::Stop),
        _ => None,
    }
}

/// The keyboard while a run lasts; dropping it restores the terminal.
pub struct Keyboard {
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Keyboard {
    /// Listens to the terminal if stdin and stderr are one (else `None`: scripts and
    /// pipes keep the schedule and Ctrl-C), starting from `initial` m/s.
    pub fn listen(
        initial: f64,
        range: [f64; 2],
        throttle: Arc<Throttle>,
        stop: Arc<Stop>,
    ) -> anyhow::Result<Option<Keyboard>> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return Ok(None);
        }
        terminal::enable_raw_mode()?;
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let thread = std::thread::spawn(move || {
            let mut speed = initial;
            let mut stopping = false;
            status(speed, stopping);
            while !flag.load(Ordering::Relaxed) {
                let Ok(true) = event::poll(Duration::from_millis(100)) else { continue };
                let Ok(Event::Key(key)) = event::read() else { continue };
                match request(&key, speed, range) {
                    Some(Request::Speed(v)) if !stopping => {
                        speed = v;
                        throttle.set(v);
                    }
                    Some(Request::Stop) => {
                        stopping = true;
                        stop.press();
                    }
                    _ => continue,
                }
                status(speed, stopping);
            }
        });
        Ok(Some(Keyboard { done, thread: Some(thread) }))
    }
}

fn status(speed: f64, stopping: bool) {
    let line = if stopping {
        "stopping: damping until at rest, then disarm (q again: disarm now)".to_string()
    } else {
        format!("command {speed:+.1} m/s   ←/↓ slower  →/↑ faster  space stand  q stop")
    };
    // Raw mode: return to the line's start and clear it by hand.
    let mut err = std::io::stderr();
    let _ = write!(err, "\r\x1b[2K{line}");
    let _ = err.flush();
}

impl Drop for Keyboard {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = terminal::disable_raw_mode();
        eprintln!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn arrows_step_the_speed_on_a_grid_within_the_range_space_stands_q_stops() {
        let range = [-0.5, 1.2];
        assert_eq!(request(&press(KeyCode::Right), 0.6, range), Some(Request::Speed(0.7)));
        assert_eq!(request(&press(KeyCode::Up), 0.6, range), Some(Request::Speed(0.7)));
        assert_eq!(request(&press(KeyCode::Left), 0.6, range), Some(Request::Speed(0.5)));
        assert_eq!(request(&press(KeyCode::Down), 0.05, range), Some(Request::Speed(-0.1)));
        assert_eq!(request(&press(KeyCode::Right), 1.2, range), Some(Request::Speed(1.2)));
        assert_eq!(request(&press(KeyCode::Left), -0.5, range), Some(Request::Speed(-0.5)));
        assert_eq!(request(&press(KeyCode::Char(' ')), 0.8, range), Some(Request::Speed(0.0)));
        assert_eq!(request(&press(KeyCode::Char('q')), 0.8, range), Some(Request::Stop));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(request(&ctrl_c, 0.8, range), Some(Request::Stop));
        assert_eq!(request(&press(KeyCode::Char('c')), 0.8, range), None);
        let mut v = 0.0;
        for _ in 0..7 {
            let Some(Request::Speed(next)) = request(&press(KeyCode::Right), v, range) else { panic!() };
            v = next;
        }
        assert_eq!(v, 0.7, "seven presses from 0 land exactly on 0.7");
        let release = KeyEvent { kind: KeyEventKind::Release, ..press(KeyCode::Right) };
        assert_eq!(request(&release, 0.6, range), None);
    }
}
