//! The virtual robot: the robot's firmware side of the protocol, on a real pseudo-terminal,
//! over any [`strider_robot::Plant`] (the bundled simulator, or a stand-in in tests).
//!
//! It answers the handshake with the plant's contract, obeys modes, applies each command
//! frame for one control tick of the plant (whose own PD loop runs at the physics rate) and
//! answers it with a sensor frame; once a host has shaken hands, when it is silent for
//! more than 1.5 control periods the robot keeps ticking on its own at the control rate,
//! and in Run its command watchdog drops it to Damp. (Before the first handshake the
//! plant waits, as a robot on its stand would, instead of collapsing unpowered.) Faults ([`FaultSpec`]) are injected into what it sends.
//!
//! The plant seam carries position targets under the contract's fixed gains, so this
//! firmware accepts JointCommands whose kp / kd equal the contract's and whose
//! feed-forward torque is zero, and answers any other with Fault `UNSUPPORTED_GAINS`.

mod faults;
mod pty;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use strider_robot::{Action, Command, Plant, RobotSpec, Sensors};

pub use faults::{FaultSpec, InjectedFaults};

use crate::accumulator::{Accumulator, Feed};
use crate::frame::{Frame, encode_with_version};
use crate::link::SeqTracker;
use crate::link::expected_info;
use crate::link_error::LinkError;
use crate::wire::{
    Fault, FirmwareStats, HelloAck, JOINTS, JointCommand, MAX_FRAME, Message, Mode, PROTOCOL_VERSION,
    SensorFrame, fault, status,
};
use faults::Rng;
use pty::Pty;

/// How the virtual firmware behaves. Loads from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirmwareConfig {
    /// Name and version in HelloAck, at most 16 ASCII bytes (default `strider-virt 0.1`).
    pub firmware_name: String,
    /// Control ticks in Run without a command frame before the watchdog drops to Damp (default 5).
    pub watchdog_ticks: u32,
    /// Protocol version announced in HelloAck (default: this crate's); another value tests refusal.
    pub protocol_version: u8,
    /// Contract id announced instead of the plant's (default none); tests refusal.
    pub contract_id_override: Option<u64>,
    /// Host silence, in control periods, after which the robot ticks on its own (default 1.5).
    /// A large value makes the robot tick only on command frames: lockstep, for tests that
    /// compare every sensor value with a twin of the plant.
    pub idle_after_periods: f64,
    /// Stats frame period, ms (default 1000).
    pub stats_period_ms: u64,
    /// Faults injected into what the robot sends (default none).
    pub faults: FaultSpec,
}

impl Default for FirmwareConfig {
    fn default() -> Self {
        FirmwareConfig {
            firmware_name: "strider-virt 0.1".into(),
            watchdog_ticks: 5,
            protocol_version: PROTOCOL_VERSION,
            contract_id_override: None,
            idle_after_periods: 1.5,
            stats_period_ms: 1000,
            faults: FaultSpec::default(),
        }
    }
}

/// How many received commands the virtual robot keeps for inspection (~34 MB at most).
pub const COMMAND_LOG_LEN: usize = 1 << 18;

/// A JointCommand as the firmware received it, with the pose it measured just before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceivedCommand {
    pub seq: u16,
    pub command: JointCommand,
    /// Joint positions of the last sensor frame before this command, rad.
    pub measured_pos: [f32; JOINTS],
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    disconnect: Mutex<Option<Duration>>,
    injected: Mutex<InjectedFaults>,
    commands: Mutex<VecDeque<ReceivedCommand>>,
    stats: Mutex<FirmwareStats>,
}

/// A running virtual robot. Dropping it stops the firmware and removes the pseudo-terminal.
pub struct VirtualRobot {
    path: PathBuf,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<Result<(), LinkError>>>,
}

impl VirtualRobot {
    /// Opens a pseudo-terminal and starts the firmware on `plant`. With `link`, the
    /// device is reachable under that stable path, also after a simulated disconnect
    /// (which creates a new pseudo-terminal, as replugging a USB adapter does).
    pub fn spawn(
        plant: Box<dyn Plant + Send>,
        config: FirmwareConfig,
        link: Option<&Path>,
    ) -> Result<VirtualRobot, LinkError> {
        let pty = Pty::open(link)?;
        let path = link.map_or_else(|| pty.slave_path.clone(), Path::to_path_buf);
        let shared = Arc::new(Shared::default());
        let firmware = Firmware::new(plant, config, shared.clone());
        let link = link.map(Path::to_path_buf);
        let thread = std::thread::Builder::new()
            .name("virtual-robot".into())
            .spawn(move || firmware.run(pty, link.as_deref()))
            .map_err(|e| LinkError::Pty(format!("cannot start the firmware thread: {e}")))?;
        Ok(VirtualRobot { path, shared, thread: Some(thread) })
    }

    /// The device path a host opens.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unplugs the pseudo-terminal now for `duration`.
    pub fn disconnect_for(&self, duration: Duration) {
        *self.shared.disconnect.lock().expect("lock") = Some(duration);
    }

    /// What the robot injected so far.
    pub fn injected(&self) -> InjectedFaults {
        *self.shared.injected.lock().expect("lock")
    }

    /// The robot's own counters (what its Stats frames carry).
    pub fn firmware_stats(&self) -> FirmwareStats {
        *self.shared.stats.lock().expect("lock")
    }

    /// JointCommands received since the last call, oldest first (the last
    /// [`COMMAND_LOG_LEN`] of them).
    pub fn take_commands(&self) -> Vec<ReceivedCommand> {
        std::mem::take(&mut *self.shared.commands.lock().expect("lock")).into()
    }

    /// Stops the firmware and reports whether it ended cleanly.
    pub fn stop(mut self) -> Result<(), LinkError> {
        self.shutdown()
    }

    /// Runs until the firmware thread ends (it does not end by itself; for the CLI).
    pub fn wait(mut self) -> Result<(), LinkError> {
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| Err(LinkError::Pty("firmware thread panicked".into()))),
            None => Ok(()),
        }
    }

    fn shutdown(&mut self) -> Result<(), LinkError> {
        self.shared.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| Err(LinkError::Pty("firmware thread panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for VirtualRobot {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The firmware's state: what a microcontroller would hold.
struct Firmware {
    plant: Box<dyn Plant + Send>,
    config: FirmwareConfig,
    shared: Arc<Shared>,
    boot: Instant,
    period: Duration,
    rng: Rng,
    acc: Accumulator,
    rx_seq: SeqTracker,
    handshaken: bool,
    mode: Mode,
    targets: [f32; JOINTS],
    ack_seq: u16,
    status: u8,
    tx_seq: u16,
    sensors: Sensors,
    last_command: Instant,
    idle_ticks: u32,
    stats: FirmwareStats,
}

impl Firmware {
    fn new(plant: Box<dyn Plant + Send>, config: FirmwareConfig, shared: Arc<Shared>) -> Firmware {
        let period = Duration::from_secs_f64(plant.spec().control_dt_s());
        let rng = Rng::new(config.faults.seed);
        Firmware {
            plant,
            config,
            shared,
            boot: Instant::now(),
            period,
            rng,
            acc: Accumulator::new(),
            rx_seq: SeqTracker::default(),
            handshaken: false,
            mode: Mode::Disarm,
            targets: [0.0; JOINTS],
            ack_seq: 0,
            status: 0,
            tx_seq: 0,
            sensors: Sensors::default(),
            last_command: Instant::now(),
            idle_ticks: 0,
            stats: FirmwareStats::default(),
        }
    }

    fn spec(&self) -> &RobotSpec {
        self.plant.spec()
    }

    fn run(mut self, pty: Pty, link: Option<&Path>) -> Result<(), LinkError> {
        let mut pty = Some(pty);
        let mut down_until: Option<Instant> = None;
        let mut scheduled = self
            .config
            .faults
            .disconnect_s
            .map(|(d, at)| (self.boot + Duration::from_secs_f64(at), Duration::from_secs_f64(d)));
        let mut next_idle = Instant::now() + self.period;
        let mut next_stats = Instant::now() + Duration::from_millis(self.config.stats_period_ms);
        self.sensors = self.step_plant();
        let mut buf = [0u8; 512];
        while !self.shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let requested = self.shared.disconnect.lock().expect("lock").take();
            let due = scheduled.filter(|(at, _)| now >= *at).map(|(_, d)| d);
            if let Some(d) = requested.or(due) {
                if due.is_some() {
                    scheduled = None;
                }
                pty = None;
                down_until = Some(now + d);
                self.shared.injected.lock().expect("lock").disconnects += 1;
            }
            if down_until.is_some_and(|t| now >= t) {
                pty = Some(Pty::open(link)?);
                down_until = None;
                self.acc.reset();
            }

            let wait = next_idle.saturating_duration_since(now).min(Duration::from_millis(5));
            match pty.as_mut() {
                Some(p) if p.readable(wait) => {
                    let n = p.read(&mut buf);
                    if self.receive(&buf[..n], p) {
                        next_idle =
                            Instant::now() + self.period.mul_f64(self.config.idle_after_periods.max(1.0));
                    }
                }
                Some(_) => {}
                None => std::thread::sleep(wait),
            }

            // Until a host has shaken hands the robot is on its stand: the plant waits
            // rather than collapsing, disarmed, before anyone could have commanded it.
            if Instant::now() >= next_idle && !self.handshaken {
                next_idle = Instant::now() + self.period;
            }
            if Instant::now() >= next_idle {
                self.idle_tick(pty.as_mut());
                next_idle += self.period;
                if next_idle < Instant::now() {
                    next_idle = Instant::now() + self.period;
                }
            }
            if Instant::now() >= next_stats {
                self.stats.uptime_ms = self.boot.elapsed().as_millis() as u32;
                let stats = self.stats;
                if let Some(p) = pty.as_mut() {
                    self.transmit(&Message::Stats(stats), p);
                }
                next_stats += Duration::from_millis(self.config.stats_period_ms);
            }
            *self.shared.stats.lock().expect("lock") = self.stats;
        }
        Ok(())
    }

    /// Handles received bytes; true when a command frame was among them.
    fn receive(&mut self, bytes: &[u8], pty: &mut Pty) -> bool {
        let mut commanded = false;
        let mut rest = bytes;
        loop {
            match self.acc.feed(rest) {
                Feed::Consumed => return commanded,
                Feed::Frame { frame, remaining } => {
                    rest = remaining;
                    self.stats.rx_frames += 1;
                    self.stats.rx_lost_frames += u32::from(self.rx_seq.observe(frame.header.seq));
                    commanded |= self.handle(frame, pty);
                }
                Feed::Error { remaining, .. } => {
                    rest = remaining;
                    self.stats.rx_bad_frames += 1;
                }
            }
        }
    }

    /// One frame from the host; true when it was a command frame (it then got its tick).
    fn handle(&mut self, frame: Frame, pty: &mut Pty) -> bool {
        let seq = frame.header.seq;
        match frame.message {
            Message::Hello(_) => {
                // A new session: the host must arm explicitly.
                self.handshaken = true;
                self.mode = Mode::Disarm;
                self.status = 0;
                let ack = self.hello_ack();
                self.transmit(&ack, pty);
                false
            }
            Message::SetMode(_) | Message::JointCommand(_) if !self.handshaken => {
                self.reject(seq, fault::NO_HANDSHAKE, u32::from(frame.header.kind), pty);
                true
            }
            Message::SetMode(mode) => {
                self.enter(mode);
                self.command_tick(seq, pty);
                true
            }
            Message::JointCommand(cmd) => {
                let mut log = self.shared.commands.lock().expect("lock");
                if log.len() == COMMAND_LOG_LEN {
                    log.pop_front();
                }
                log.push_back(ReceivedCommand { seq, command: cmd, measured_pos: self.sensors.joint_pos });
                drop(log);
                match self.check(&cmd) {
                    Err((code, detail)) => self.reject(seq, code, detail, pty),
                    Ok(()) => {
                        self.targets = cmd.joints.map(|j| j.position);
                        self.stats.commands_applied += 1;
                        self.command_tick(seq, pty);
                    }
                }
                true
            }
            _ => false,
        }
    }

    fn hello_ack(&self) -> Message {
        let mut info = expected_info(self.spec());
        info.protocol_version = self.config.protocol_version;
        if let Some(id) = self.config.contract_id_override {
            info.contract_id = id;
        }
        let mut firmware = [0u8; 16];
        let name = self.config.firmware_name.as_bytes();
        let n = name.len().min(16);
        firmware[..n].copy_from_slice(&name[..n]);
        Message::HelloAck(HelloAck { info, firmware })
    }

    fn enter(&mut self, mode: Mode) {
        if mode != self.mode && matches!(mode, Mode::Hold | Mode::Run) {
            // Entering Hold or Run holds the measured pose: nothing jumps.
            self.targets = self.sensors.joint_pos;
        }
        if mode == Mode::Run && self.mode != Mode::Run {
            self.status &= !status::WATCHDOG;
        }
        if mode == Mode::Disarm {
            self.status &= !status::FAULT;
        }
        self.mode = mode;
    }

    fn check(&self, cmd: &JointCommand) -> Result<(), (u16, u32)> {
        if self.mode != Mode::Run {
            return Err((fault::NOT_RUNNING, self.mode as u32));
        }
        for (i, (j, spec)) in cmd.joints.iter().zip(&self.spec().joints).enumerate() {
            let finite = [j.position, j.kp, j.kd, j.tau_ff].iter().all(|v| v.is_finite());
            if !finite || j.kp < 0.0 || j.kd < 0.0 {
                return Err((fault::BAD_COMMAND, i as u32));
            }
            let same = |a: f32, b: f64| (f64::from(a) - b).abs() <= 1e-3 * b.abs().max(1.0);
            if !same(j.kp, spec.kp_nm_per_rad) || !same(j.kd, spec.kd_nms_per_rad) || j.tau_ff != 0.0 {
                return Err((fault::UNSUPPORTED_GAINS, i as u32));
            }
        }
        Ok(())
    }

    fn reject(&mut self, seq: u16, code: u16, detail: u32, pty: &mut Pty) {
        self.status |= status::REJECTED;
        self.transmit(&Message::Fault(Fault { code, detail }), pty);
        self.ack_seq = seq;
        self.last_command = Instant::now();
        self.send_sensors(pty);
    }

    /// A command frame: one tick of the plant, answered with a sensor frame acknowledging it.
    fn command_tick(&mut self, seq: u16, pty: &mut Pty) {
        self.status &= !status::REJECTED;
        self.ack_seq = seq;
        self.last_command = Instant::now();
        self.idle_ticks = 0;
        self.sensors = self.step_plant();
        self.send_sensors(pty);
    }

    /// A tick with no command from the host: keep the loop going, and watch the host.
    fn idle_tick(&mut self, pty: Option<&mut Pty>) {
        self.idle_ticks += 1;
        if self.mode == Mode::Run && self.idle_ticks >= self.config.watchdog_ticks {
            self.mode = Mode::Damp;
            self.status |= status::WATCHDOG;
            self.stats.watchdog_trips += 1;
            let ms = self.last_command.elapsed().as_millis() as u32;
            if let Some(p) = pty {
                self.transmit(&Message::Fault(Fault { code: fault::WATCHDOG, detail: ms }), p);
                self.sensors = self.step_plant();
                self.send_sensors(p);
            } else {
                self.sensors = self.step_plant();
            }
            return;
        }
        self.sensors = self.step_plant();
        if let Some(p) = pty {
            self.send_sensors(p);
        }
    }

    fn step_plant(&mut self) -> Sensors {
        let command = match self.mode {
            Mode::Disarm => Command::Disarm,
            Mode::Damp => Command::Damp,
            Mode::Hold | Mode::Run => Command::Track(Action { joint_target: self.targets }),
        };
        // A plant error (the simulator refusing a step) keeps the last measurement.
        self.plant.step(&command).unwrap_or(self.sensors)
    }

    fn send_sensors(&mut self, pty: &mut Pty) {
        // Counters are visible to the test harness before the frame that acknowledges
        // what they count.
        *self.shared.stats.lock().expect("lock") = self.stats;
        let s = &self.sensors;
        let frame = SensorFrame {
            ack_seq: self.ack_seq,
            mode: self.mode as u8,
            status: self.status,
            contacts: u8::from(s.foot_contact[0]) | (u8::from(s.foot_contact[1]) << 1),
            joint_pos: s.joint_pos,
            joint_vel: s.joint_vel,
            pitch: s.torso_pitch,
            pitch_rate: s.torso_pitch_rate,
        };
        self.transmit(&Message::SensorFrame(frame), pty);
    }

    /// Encodes, injects the configured faults, and writes.
    fn transmit(&mut self, message: &Message, pty: &mut Pty) {
        let mut buf = [0u8; MAX_FRAME];
        let ts = self.boot.elapsed().as_micros() as u32;
        let seq = self.tx_seq;
        self.tx_seq = self.tx_seq.wrapping_add(1);
        let Ok(n) = encode_with_version(self.config.protocol_version, message, seq, ts, &mut buf) else {
            return;
        };
        let f = self.config.faults.clone();
        let mut injected = self.shared.injected.lock().expect("lock");
        injected.frames += 1;
        if self.rng.chance(f.drop) {
            injected.dropped += 1;
            return;
        }
        if self.rng.chance(f.garbage) {
            let len = 1 + (self.rng.next_u64() % 32) as usize;
            let garbage: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
            injected.garbage_bursts += 1;
            pty.write(&garbage);
        }
        let mut corrupted = 0;
        for b in &mut buf[..n] {
            if self.rng.chance(f.corrupt) {
                *b ^= 1 + (self.rng.next_u64() % 255) as u8;
                corrupted += 1;
            }
        }
        if corrupted > 0 {
            injected.corrupted_frames += 1;
            injected.corrupted_bytes += corrupted;
        }
        drop(injected);
        if f.delay_ms > 0.0 || f.jitter_ms > 0.0 {
            let jitter = (self.rng.unit() * 2.0 - 1.0) * f.jitter_ms;
            std::thread::sleep(Duration::from_secs_f64((f.delay_ms + jitter).max(0.0) / 1000.0));
        }
        // Led by a 0x00, as the protocol asks of every sender: garbage before a frame
        // then costs that frame nothing.
        if pty.write(&[0]) == 1 && pty.write(&buf[..n]) == n {
            self.stats.tx_frames += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::LinkConfig;

    #[test]
    fn configs_load_from_toml_and_refuse_unknown_keys() {
        let fw: FirmwareConfig =
            toml::from_str("watchdog_ticks = 3\n[faults]\ndrop = 0.01\ndisconnect_s = [2.0, 5.0]\n").unwrap();
        assert_eq!(fw.watchdog_ticks, 3);
        assert_eq!(fw.faults.drop, 0.01);
        assert_eq!(fw.faults.disconnect_s, Some((2.0, 5.0)));
        assert_eq!(
            fw.stats_period_ms,
            FirmwareConfig::default().stats_period_ms,
            "unset keys keep their default"
        );

        let link: LinkConfig = toml::from_str("port = \"/dev/ttyACM0\"\nbaud = 2000000\n").unwrap();
        assert_eq!((link.port.as_str(), link.baud, link.ack_timeout_ms), ("/dev/ttyACM0", 2_000_000, 8));

        let err = toml::from_str::<LinkConfig>("baudrate = 9600\n").unwrap_err().to_string();
        assert!(err.contains("baudrate"), "{err}");
    }
}
