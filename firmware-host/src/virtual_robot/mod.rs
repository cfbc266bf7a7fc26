//! The virtual robot: the robot's firmware side of the protocol, on a real pseudo-terminal,
//! over any [`strider_robot::Plant`] (the bundled simulator, or a stand-in in tests).
//!
//! It follows `docs/PROTOCOL.md` as a firmware must: silent until the first Hello; every
//! command frame it decodes is handled (applied or rejected), acknowledged and answered by
//! one sensor frame; a silent host sees a sensor frame per control period, and in Run the
//! 300 ms command watchdog drops it to Damp. Faults ([`FaultSpec`]) are injected into
//! what it sends.
//!
//! Any robot layout goes: its HelloAck announces the joint, IMU and contact counts of the
//! plant's description, and its frames are sized by them. A Hello of another protocol
//! version is answered (in that version's layout when it is older, so the host can read it
//! and refuse by name) and opens no session.
//!
//! Where a real robot's joint loop runs on by itself, this one advances its plant one
//! control tick per command frame it handles (applied or rejected), and once per control
//! period when the host has been silent for more than 1.5 periods: simulated time keeps
//! the host's pace. Until the first Hello the plant waits, as a robot on its stand would,
//! after one zero-torque measurement at power-up.
//!
//! The plant seam carries position targets under the contract's fixed gains, so this
//! firmware accepts JointCommands whose kp / kd equal the contract's and whose
//! feed-forward torque is zero, and answers any other with Fault `UNSUPPORTED_GAINS`.

mod faults;
// openpty(3), poll(2), termios and ttyname_r through libc: the one place in the workspace
// allowed `unsafe` (each block states why it is sound). serialport's `TTYPort::pair`
// (already a dependency) could replace it; it has not been moved yet.
#[allow(unsafe_code)]
mod pty;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use strider_robot::{Action, Command, ImuField, JointValues, Layout, Plant, RobotSpec, Sensors};

pub use faults::{FaultSpec, HARDWARE_FAULT_DETAIL, InjectedFaults, Window};

use crate::error::FrameError;
use crate::frame::{decode_payload, encode_with_version};
use crate::link::{SeqTracker, expected_info, frame_from_sensors};
use crate::link_error::LinkError;
use crate::wire::{
    Counts, Fault, FirmwareStats, Header, HelloAck, JointCommand, MAX_FRAME, Message, MessageType, Mode,
    PROTOCOL_VERSION, SensorFrame, fault, status,
};
use faults::Rng;
use pty::Pty;

/// How the virtual firmware behaves. Loads from TOML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirmwareConfig {
    /// Name and version in HelloAck, at most 16 ASCII bytes (default `strider-virt 0.1`).
    pub firmware_name: String,
    /// In Run, with no command frame for this long the robot drops to Damp, ms (default
    /// 300, the protocol's watchdog time).
    pub watchdog_ms: u64,
    /// Protocol version the robot speaks, in the header of every frame and in HelloAck
    /// (default: this crate's); another value tests refusal (`1`: a version-1 robot's
    /// HelloAck, in version 1's layout).
    pub protocol_version: u8,
    /// Contract id announced instead of the plant's (default none); tests refusal.
    pub contract_id_override: Option<u64>,
    /// Host silence, in control periods, after which the robot ticks on its own (default 1.5).
    /// A large value makes the robot tick only on command frames: lockstep, for tests that
    /// compare every sensor value with a twin of the plant.
    pub idle_after_periods: f64,
    /// Stats frame period, ms, counted from the Hello that opened the session (default 1000).
    pub stats_period_ms: u64,
    /// Faults injected into what the robot sends (default none).
    pub faults: FaultSpec,
}

impl Default for FirmwareConfig {
    fn default() -> Self {
        FirmwareConfig {
            firmware_name: "strider-virt 0.1".into(),
            watchdog_ms: 300,
            protocol_version: PROTOCOL_VERSION,
            contract_id_override: None,
            idle_after_periods: 1.5,
            stats_period_ms: 1000,
            faults: FaultSpec::default(),
        }
    }
}

/// How many received commands the virtual robot keeps for inspection (~64 MB at most:
/// each has room for the most joints a frame carries).
pub const COMMAND_LOG_LEN: usize = 1 << 17;

/// A JointCommand as the firmware received it, with the pose it measured just before.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReceivedCommand {
    pub seq: u16,
    pub command: JointCommand,
    /// Joint positions of the last sensor frame before this command, rad.
    pub measured_pos: JointValues,
}

impl ReceivedCommand {
    /// The command's position targets, rad, in joint order.
    pub fn targets(&self) -> JointValues {
        JointValues::from_slice(&self.command.positions())
    }
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
    /// Opens a pseudo-terminal and starts the firmware on `plant`, whose description sizes
    /// the frames. With `link`, the device is reachable under that stable path, also after a
    /// simulated disconnect (which creates a new pseudo-terminal, as replugging a USB
    /// adapter does). Refuses a layout the protocol cannot carry, and a fault spec the
    /// robot cannot inject (`bad_pitch` without an IMU pitch).
    pub fn spawn(
        plant: Box<dyn Plant + Send>,
        config: FirmwareConfig,
        link: Option<&Path>,
    ) -> Result<VirtualRobot, LinkError> {
        let shared = Arc::new(Shared::default());
        let firmware = Firmware::new(plant, config, shared.clone())?;
        let pty = Pty::open(link)?;
        let path = link.map_or_else(|| pty.slave_path.clone(), Path::to_path_buf);
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
    /// The plant's layout, and the counts it gives the frames.
    layout: Layout,
    counts: Counts,
    /// Where the IMU's pitch sits among its fields (`bad_pitch` spoils it).
    pitch: Option<usize>,
    shared: Arc<Shared>,
    boot: Instant,
    period: Duration,
    rng: Rng,
    /// COBS bytes since the last 0x00. The firmware frames bytes itself rather than through
    /// [`crate::Accumulator`]: a SetMode with an unknown mode is a frame to acknowledge
    /// and reject, so its header must still be at hand when its body fails to parse.
    line: Vec<u8>,
    /// More bytes than a frame since the last 0x00: garbage until the next one.
    overflowed: bool,
    rx_seq: SeqTracker,
    /// When the first Hello arrived: time zero of the fault schedule. None: not yet.
    first_hello: Option<Instant>,
    mode: Mode,
    targets: JointValues,
    ack_seq: u16,
    status: u8,
    /// The firmware's own code of a latched hardware fault.
    latched: Option<u32>,
    hw_fault_done: bool,
    tx_seq: u16,
    last_ts: u32,
    /// Whether the last frame fell in a silence (to count silences as they begin).
    silent: bool,
    sensors: Sensors,
    last_command: Instant,
    next_stats: Option<Instant>,
    stats: FirmwareStats,
}

impl Firmware {
    fn new(
        plant: Box<dyn Plant + Send>,
        config: FirmwareConfig,
        shared: Arc<Shared>,
    ) -> Result<Firmware, LinkError> {
        let spec = plant.spec();
        let layout = spec.layout();
        let counts =
            Counts::of(&layout).map_err(|problem| LinkError::Layout { robot: spec.name.clone(), problem })?;
        let pitch = layout.imu_index(ImuField::Pitch);
        if pitch.is_none() && !config.faults.bad_pitch.is_empty() {
            return Err(LinkError::BadFaultSpec {
                spec: config
                    .faults
                    .bad_pitch
                    .iter()
                    .map(|w| format!("bad_pitch={w}"))
                    .collect::<Vec<_>>()
                    .join(","),
                problem: format!(
                    "robot `{}` reports no IMU pitch (sensors.imu); leave bad_pitch out, or use nan / inf",
                    spec.name
                ),
            });
        }
        let period = Duration::from_secs_f64(spec.control_dt_s());
        let rng = Rng::new(config.faults.seed);
        Ok(Firmware {
            plant,
            config,
            layout,
            counts,
            pitch,
            shared,
            boot: Instant::now(),
            period,
            rng,
            line: Vec::with_capacity(MAX_FRAME),
            overflowed: false,
            rx_seq: SeqTracker::default(),
            first_hello: None,
            mode: Mode::Disarm,
            targets: JointValues::zeros(layout.joints),
            ack_seq: 0,
            status: 0,
            latched: None,
            hw_fault_done: false,
            tx_seq: 0,
            last_ts: 0,
            silent: false,
            sensors: Sensors::zeros(&layout),
            last_command: Instant::now(),
            next_stats: None,
            stats: FirmwareStats::default(),
        })
    }

    fn spec(&self) -> &RobotSpec {
        self.plant.spec()
    }

    fn handshaken(&self) -> bool {
        self.first_hello.is_some()
    }

    /// Whether now lies in one of `windows` (seconds after the first Hello).
    fn in_window(&self, windows: &[Window]) -> bool {
        self.first_hello.is_some_and(|t0| {
            let t = t0.elapsed().as_secs_f64();
            windows.iter().any(|w| w.contains(t))
        })
    }

    fn count(&self, what: impl FnOnce(&mut InjectedFaults)) {
        what(&mut self.shared.injected.lock().expect("lock"));
    }

    fn run(mut self, pty: Pty, link: Option<&Path>) -> Result<(), LinkError> {
        let mut pty = Some(pty);
        let mut unplugged_until: Option<Instant> = None;
        let mut next_tick = Instant::now() + self.period;
        self.sensors = self.step_plant();
        let mut buf = [0u8; 512];
        while !self.shared.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if let Some(d) = self.shared.disconnect.lock().expect("lock").take() {
                unplugged_until = Some(now + d);
            }
            let unplugged =
                unplugged_until.is_some_and(|t| now < t) || self.in_window(&self.config.faults.disconnect_s);
            if unplugged && pty.is_some() {
                pty = None;
                self.count(|i| i.disconnects += 1);
            } else if !unplugged && pty.is_none() {
                pty = Some(Pty::open(link)?);
                unplugged_until = None;
                self.line.clear();
                self.overflowed = false;
            }

            let wait = next_tick.saturating_duration_since(now).min(Duration::from_millis(5));
            match pty.as_mut() {
                Some(p) if p.readable(wait) => {
                    let n = p.read(&mut buf);
                    if self.receive(&buf[..n], p) {
                        next_tick =
                            Instant::now() + self.period.mul_f64(self.config.idle_after_periods.max(1.0));
                    }
                }
                Some(_) => {}
                None => std::thread::sleep(wait),
            }

            if self.handshaken() {
                self.hardware_fault(pty.as_mut());
                self.watchdog(pty.as_mut());
            } else {
                // On its stand: no ticks, nothing sent, until a host says Hello.
                next_tick = Instant::now() + self.period;
            }
            if Instant::now() >= next_tick {
                self.sensors = self.step_plant();
                if let Some(p) = pty.as_mut() {
                    self.send_sensors(p);
                }
                next_tick += self.period;
                if next_tick < Instant::now() {
                    next_tick = Instant::now() + self.period;
                }
            }
            if let Some(at) = self.next_stats.filter(|&at| Instant::now() >= at) {
                self.stats.uptime_ms = self.boot.elapsed().as_millis() as u32;
                let stats = self.stats;
                if let Some(p) = pty.as_mut() {
                    self.transmit(&Message::Stats(stats), p);
                }
                self.next_stats = Some(at + Duration::from_millis(self.config.stats_period_ms.max(1)));
            }
            *self.shared.stats.lock().expect("lock") = self.stats;
        }
        Ok(())
    }

    /// Handles received bytes; true when a command frame or a Hello was among them (the
    /// robot's own ticks then wait for 1.5 periods of silence again).
    fn receive(&mut self, bytes: &[u8], pty: &mut Pty) -> bool {
        let mut commanded = false;
        for &b in bytes {
            if b != 0 {
                if self.line.len() < MAX_FRAME {
                    self.line.push(b);
                } else {
                    self.overflowed = true;
                }
                continue;
            }
            if self.line.is_empty() && !self.overflowed {
                continue; // an empty frame: padding or a flush
            }
            let mut encoded = std::mem::take(&mut self.line);
            if std::mem::take(&mut self.overflowed) {
                self.stats.rx_bad_frames += 1;
            } else {
                commanded |= self.candidate(&mut encoded, pty);
            }
            encoded.clear();
            self.line = encoded;
        }
        commanded
    }

    /// One candidate frame (COBS bytes without the delimiter); true for a command frame or a Hello.
    fn candidate(&mut self, encoded: &mut [u8], pty: &mut Pty) -> bool {
        let Ok(n) = cobs::decode_in_place(encoded) else {
            self.stats.rx_bad_frames += 1;
            return false;
        };
        let payload = &encoded[..n];
        match decode_payload(payload, self.counts) {
            Ok(frame) => {
                self.count_rx(frame.header.seq);
                self.handle(frame.header, frame.message, pty)
            }
            // The CRC held and only the mode is unknown: a SetMode to acknowledge and reject.
            Err(FrameError::BadValue { field: "mode", value }) => {
                let seq = Header::read(payload).seq;
                self.count_rx(seq);
                if self.handshaken() {
                    self.reject(seq, fault::BAD_COMMAND, value, pty);
                } else {
                    self.reject(seq, fault::NO_HANDSHAKE, MessageType::SetMode as u32, pty);
                }
                true
            }
            Err(_) => {
                self.stats.rx_bad_frames += 1;
                false
            }
        }
    }

    fn count_rx(&mut self, seq: u16) {
        self.stats.rx_frames += 1;
        self.stats.rx_lost_frames += u32::from(self.rx_seq.observe(seq));
    }

    /// One frame from the host; true for a command frame (it then got its tick) or a Hello
    /// that opened a session.
    fn handle(&mut self, header: Header, message: Message, pty: &mut Pty) -> bool {
        let seq = header.seq;
        match message {
            // A host of another version gets an answer it can read (in its own layout when
            // it is older) and nothing else: it will refuse this robot by name.
            Message::Hello(_) if header.version != self.config.protocol_version => {
                let ack = self.hello_ack();
                self.transmit_as(header.version.min(self.config.protocol_version), &ack, pty);
                false
            }
            Message::Hello(_) => {
                self.hello(seq);
                let ack = self.hello_ack();
                self.transmit(&ack, pty);
                true
            }
            // Answered, and nothing else: no tick, no acknowledgement, no watchdog.
            Message::Heartbeat => {
                self.transmit(&Message::Heartbeat, pty);
                false
            }
            Message::SetMode(_) | Message::JointCommand(_) if !self.handshaken() => {
                self.reject(seq, fault::NO_HANDSHAKE, u32::from(message.kind() as u8), pty);
                true
            }
            Message::SetMode(mode) => {
                match self.latched {
                    Some(code) if matches!(mode, Mode::Hold | Mode::Run) => {
                        self.reject(seq, fault::HARDWARE, code, pty)
                    }
                    _ => {
                        self.enter(mode);
                        self.apply(seq, pty);
                    }
                }
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
                        self.targets = JointValues::from_slice(&cmd.positions());
                        self.stats.commands_applied += 1;
                        self.apply(seq, pty);
                    }
                }
                true
            }
            // Robot → host types: nothing for a robot to do with them.
            Message::HelloAck(_) | Message::SensorFrame(_) | Message::Fault(_) | Message::Stats(_) => false,
        }
    }

    /// A Hello opens a session: the host arms explicitly, so a robot that was moving is
    /// damped (never dropped to zero torque: it may be standing); acknowledgements start
    /// from the Hello's seq, which no command of the new session has; the schedule of
    /// injected faults starts at the first Hello.
    fn hello(&mut self, seq: u16) {
        let now = Instant::now();
        self.first_hello.get_or_insert(now);
        self.ack_seq = seq;
        if matches!(self.mode, Mode::Run | Mode::Hold) {
            self.mode = Mode::Damp;
        }
        self.status &= !status::REJECTED;
        self.next_stats = Some(now + Duration::from_millis(self.config.stats_period_ms.max(1)));
    }

    fn hello_ack(&self) -> Message {
        // What the robot is: the same fields the host expects of this description.
        let mut info = expected_info(self.spec());
        info.protocol_version = self.config.protocol_version;
        if let Some(id) = self.config.contract_id_override {
            info.contract_id = id;
        }
        let mut firmware = [0u8; 16];
        let name = self.config.firmware_name.as_bytes();
        let n = name.len().min(16);
        firmware[..n].copy_from_slice(&name[..n]);
        Message::HelloAck(HelloAck {
            info,
            firmware,
            imu_count: self.counts.imu,
            contact_count: self.counts.contacts,
        })
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
            self.latched = None;
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

    /// A command frame refused: its Fault, then its tick, acknowledging it with REJECTED set.
    fn reject(&mut self, seq: u16, code: u16, detail: u32, pty: &mut Pty) {
        self.status |= status::REJECTED;
        self.transmit(&Message::Fault(Fault { code, detail }), pty);
        self.tick(seq, pty);
    }

    /// A command frame applied: its tick, acknowledging it with REJECTED clear.
    fn apply(&mut self, seq: u16, pty: &mut Pty) {
        self.status &= !status::REJECTED;
        self.tick(seq, pty);
    }

    /// One control tick for a handled command frame, answered with the sensor frame that
    /// acknowledges it. Every command frame feeds the watchdog, applied or not: it watches
    /// the link, not what comes over it.
    fn tick(&mut self, seq: u16, pty: &mut Pty) {
        self.ack_seq = seq;
        self.last_command = Instant::now();
        if self.handshaken() {
            self.sensors = self.step_plant();
        }
        self.send_sensors(pty);
    }

    /// In Run, no command frame for the watchdog time: Damp, never Disarm.
    fn watchdog(&mut self, pty: Option<&mut Pty>) {
        let quiet = self.last_command.elapsed();
        if self.mode != Mode::Run || quiet < Duration::from_millis(self.config.watchdog_ms) {
            return;
        }
        self.mode = Mode::Damp;
        self.status |= status::WATCHDOG;
        self.stats.watchdog_trips += 1;
        let ms = u32::try_from(quiet.as_millis()).unwrap_or(u32::MAX);
        if let Some(p) = pty {
            self.transmit(&Message::Fault(Fault { code: fault::WATCHDOG, detail: ms }), p);
        }
    }

    /// The injected hardware fault, once, at its time.
    fn hardware_fault(&mut self, pty: Option<&mut Pty>) {
        let Some(at) = self.config.faults.hw_fault_at_s else { return };
        let due = self.first_hello.is_some_and(|t0| t0.elapsed().as_secs_f64() >= at);
        if self.hw_fault_done || !due {
            return;
        }
        self.hw_fault_done = true;
        self.count(|i| i.hw_faults += 1);
        self.latched = Some(HARDWARE_FAULT_DETAIL);
        self.status |= status::FAULT;
        if matches!(self.mode, Mode::Run | Mode::Hold) {
            self.mode = Mode::Damp;
        }
        if let Some(p) = pty {
            let fault = Fault { code: fault::HARDWARE, detail: HARDWARE_FAULT_DETAIL };
            self.transmit(&Message::Fault(fault), p);
        }
    }

    fn step_plant(&mut self) -> Sensors {
        let command = match self.mode {
            Mode::Disarm => Command::Disarm,
            Mode::Damp => Command::Damp,
            Mode::Hold | Mode::Run => Command::Track(Action { joint_target: self.targets }),
        };
        // A plant error (the simulator refusing a step), or a measurement that does not fit
        // the plant's own layout, keeps the last measurement.
        match self.plant.step(&command) {
            Ok(s) if s.fits(&self.layout) => s,
            _ => self.sensors,
        }
    }

    fn send_sensors(&mut self, pty: &mut Pty) {
        // Counters are visible to the test harness before the frame that acknowledges
        // what they count.
        *self.shared.stats.lock().expect("lock") = self.stats;
        let mut frame = frame_from_sensors(&self.sensors, self.ack_seq, self.mode as u8, self.status);
        self.spoil(&mut frame);
        self.transmit(&Message::SensorFrame(frame), pty);
    }

    /// The sensor-value faults of the fault spec.
    fn spoil(&mut self, frame: &mut SensorFrame) {
        let f = &self.config.faults;
        let (nan, inf, out_of_range) = (f.nan, f.inf, f.out_of_range);
        let values = sensor_values(frame);
        if self.rng.chance(nan) {
            *sensor_value(frame, self.rng.below(values)) = f32::NAN;
            self.count(|i| i.nan += 1);
        }
        if self.rng.chance(inf) {
            let v = if self.rng.chance(0.5) { f32::INFINITY } else { f32::NEG_INFINITY };
            *sensor_value(frame, self.rng.below(values)) = v;
            self.count(|i| i.inf += 1);
        }
        if self.rng.chance(out_of_range) {
            let v = if self.rng.chance(0.5) { 10.0 } else { -10.0 };
            let joint = self.rng.below(frame.joint_pos.len() as u64) as usize;
            frame.joint_pos[joint] = v;
            self.count(|i| i.out_of_range += 1);
        }
        if let Some(pitch) = self.pitch.filter(|_| self.in_window(&self.config.faults.bad_pitch)) {
            frame.imu[pitch] = f32::NAN;
            self.count(|i| i.bad_pitch += 1);
        }
    }

    /// Encodes in the robot's own version, injects the configured faults, and writes.
    fn transmit(&mut self, message: &Message, pty: &mut Pty) {
        self.transmit_as(self.config.protocol_version, message, pty);
    }

    /// [`Firmware::transmit`] with `version` in the header and its layout for the body.
    fn transmit_as(&mut self, version: u8, message: &Message, pty: &mut Pty) {
        if self.rng.chance(self.config.faults.seq_jump) {
            self.tx_seq = self.tx_seq.wrapping_add(2 + self.rng.below(1000) as u16);
            self.count(|i| i.seq_jumps += 1);
        }
        let seq = self.tx_seq;
        self.tx_seq = self.tx_seq.wrapping_add(1);
        let mut ts = self.boot.elapsed().as_micros() as u32;
        if self.rng.chance(self.config.faults.ts_back) {
            ts = self.last_ts.wrapping_sub(1 + self.rng.below(100_000) as u32);
            self.count(|i| i.ts_back += 1);
        }
        self.last_ts = ts;
        let mut buf = [0u8; MAX_FRAME];
        let Ok(n) = encode_with_version(version, message, seq, ts, &mut buf) else {
            return;
        };
        self.count(|i| i.frames += 1);
        // Decided as the frame is stamped, so its timestamp says whether it fell in a silence.
        let silent = self.in_window(&self.config.faults.silence);
        if silent && !self.silent {
            self.count(|i| i.silences += 1);
        }
        self.silent = silent;
        if silent {
            self.count(|i| i.silenced += 1);
            return;
        }
        if self.rng.chance(self.config.faults.drop) {
            self.count(|i| i.dropped += 1);
            return;
        }
        let mut corrupted = 0;
        for b in &mut buf[..n] {
            if self.rng.chance(self.config.faults.corrupt) {
                *b ^= 1 + self.rng.below(255) as u8;
                corrupted += 1;
            }
        }
        if corrupted > 0 {
            self.count(|i| {
                i.corrupted_frames += 1;
                i.corrupted_bytes += corrupted;
            });
        }
        let (delay_ms, jitter_ms) = (self.config.faults.delay_ms, self.config.faults.jitter_ms);
        if delay_ms > 0.0 || jitter_ms > 0.0 {
            let jitter = (self.rng.unit() * 2.0 - 1.0) * jitter_ms;
            std::thread::sleep(Duration::from_secs_f64((delay_ms + jitter).max(0.0) / 1000.0));
        }
        // Led by a 0x00, as the protocol asks of every sender: garbage before a frame
        // then costs that frame nothing.
        if pty.write(&[0]) == 1 && pty.write(&buf[..n]) == n {
            self.stats.tx_frames += 1;
        }
        if self.rng.chance(self.config.faults.garbage) {
            // Ended by a delimiter, so the junk costs the host a rejected frame, not a real one.
            let len = 1 + self.rng.below(32) as usize;
            let mut garbage: Vec<u8> = (0..len).map(|_| self.rng.next_u64() as u8).collect();
            garbage.push(0);
            self.count(|i| i.garbage_bursts += 1);
            pty.write(&garbage);
        }
    }
}

/// How many floats a SensorFrame carries: joint angles, joint velocities, IMU fields.
fn sensor_values(frame: &SensorFrame) -> u64 {
    (frame.joint_pos.len() + frame.joint_vel.len() + frame.imu.len()) as u64
}

/// The `i`-th float of a SensorFrame in wire order (`i < sensor_values(frame)`).
fn sensor_value(frame: &mut SensorFrame, i: u64) -> &mut f32 {
    let (i, n) = (i as usize, frame.joint_pos.len());
    match i {
        _ if i < n => &mut frame.joint_pos[i],
        _ if i < 2 * n => &mut frame.joint_vel[i - n],
        _ => &mut frame.imu[i - 2 * n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::LinkConfig;

    #[test]
    fn configs_load_from_toml_and_refuse_unknown_keys() {
        let fw: FirmwareConfig = toml::from_str(
            "watchdog_ms = 250\n[faults]\ndrop = 0.01\n\
             disconnect_s = [{ duration_s = 2.0, at_s = 5.0 }, { duration_s = 1.0, at_s = 60.0, every_s = 300.0 }]\n",
        )
        .unwrap();
        assert_eq!(fw.watchdog_ms, 250);
        assert_eq!(fw.faults.drop, 0.01);
        assert_eq!(
            fw.faults.disconnect_s,
            "disconnect_s=2@5,disconnect_s=1@60/300".parse::<FaultSpec>().unwrap().disconnect_s
        );
        assert_eq!(
            fw.stats_period_ms,
            FirmwareConfig::default().stats_period_ms,
            "unset keys keep their default"
        );
        assert_eq!(FirmwareConfig::default().watchdog_ms, 300, "the protocol's watchdog time");

        let err = toml::from_str::<FirmwareConfig>("watchdog_ticks = 5\n").unwrap_err().to_string();
        assert!(err.contains("watchdog_ticks"), "{err}");

        let link: LinkConfig = toml::from_str("port = \"/dev/ttyACM0\"\nbaud = 2000000\n").unwrap();
        assert_eq!((link.port.as_str(), link.baud, link.ack_timeout_ms), ("/dev/ttyACM0", 2_000_000, 8));

        let err = toml::from_str::<LinkConfig>("baudrate = 9600\n").unwrap_err().to_string();
        assert!(err.contains("baudrate"), "{err}");

        // A window that would panic where it becomes a Duration is refused as it is read.
        let err = toml::from_str::<FirmwareConfig>(
            "[faults]\ndisconnect_s = [{ duration_s = -1.0, at_s = 5.0 }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("duration -1 s: use a time > 0"), "{err}");
    }

    #[test]
    fn sensor_values_are_numbered_in_wire_order() {
        let counts = Counts::of(&RobotSpec::reference().layout()).unwrap();
        let mut frame = SensorFrame::zeros(counts);
        assert_eq!(sensor_values(&frame), 14, "the biped: 6 angles, 6 velocities, pitch and its rate");
        for i in 0..sensor_values(&frame) {
            *sensor_value(&mut frame, i) = i as f32 + 1.0;
        }
        assert_eq!(frame.joint_pos, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0].into());
        assert_eq!(frame.joint_vel, [7.0, 8.0, 9.0, 10.0, 11.0, 12.0].into());
        assert_eq!(frame.imu, [13.0, 14.0].into());

        let hopper = SensorFrame::zeros(Counts::new(3, 1, 1).unwrap());
        assert_eq!(sensor_values(&hopper), 7);
    }
}
