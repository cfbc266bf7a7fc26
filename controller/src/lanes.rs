//! Many controllers, one model call per tick: the pilots of unpaced closed-loop rollouts
//! (evaluation suites, DAgger rollouts) served by one [`PolicyBatch`], so that a rollout
//! tick costs a row of a batched call instead of a whole call (docs/BENCHMARKS.md).
//!
//! Each controller gets a [`LanePilot`] on a lane of its own. The pool's thread collects one
//! report from every joined lane — its tick's observation, or a pass when its controller
//! sent a command of its own (homing, holding, damping) — then steps every lane that asked
//! in one call, each exactly as a one-stream [`strider_policy::Policy`] would (the parity
//! tests hold the batch to it). A lane's controller waits for the slowest lane of its round,
//! so this is for controllers that are not paced: under a real-time deadline each
//! controller keeps a policy of its own.

use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, Sender};
use strider_policy::PolicyBatch;
use strider_robot::Observation;

use crate::pilot::{Decision, Pilot};

// An `Observation` is held inline (about 270 bytes) so that a tick allocates nothing;
// boxing it to shrink the enum would allocate once per tick.
#[allow(clippy::large_enum_variant)]
enum Message {
    Join { lane: usize, replies: Sender<Result<Decision, String>> },
    Reset(usize),
    Act(usize, Observation),
    Pass(usize),
    Leave(usize),
}

/// A [`PolicyBatch`] on its own thread, handing out one [`LanePilot`] per lane.
pub struct LanePool {
    requests: Sender<Message>,
    taken: Vec<AtomicBool>,
    threshold: Option<f32>,
}

impl std::fmt::Debug for LanePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanePool").field("lanes", &self.lanes()).finish()
    }
}

impl LanePool {
    /// Starts the thread that runs `batch`; it ends when the pool and every pilot are gone.
    pub fn start(batch: PolicyBatch) -> LanePool {
        let (requests, inbox) = crossbeam_channel::unbounded();
        let lanes = batch.lanes();
        let threshold = batch.manifest().surprise.as_ref().map(|s| s.threshold);
        std::thread::Builder::new()
            .name("strider-lanes".into())
            .spawn(move || serve(batch, &inbox))
            .expect("spawn the batched pilot's thread");
        LanePool { requests, taken: (0..lanes).map(|_| AtomicBool::new(false)).collect(), threshold }
    }

    pub fn lanes(&self) -> usize {
        self.taken.len()
    }

    /// The pilot of lane `lane`; `None` past the last lane or if the lane was handed out
    /// before (a lane serves one pilot for the pool's life). A lane's row is its own, but
    /// its rounding may depend on its position in the call: the same work on the same
    /// lane gives the same numbers.
    pub fn pilot(&self, lane: usize) -> Option<LanePilot> {
        if self.taken.get(lane)?.swap(true, Ordering::Relaxed) {
            return None;
        }
        let (replies, answers) = crossbeam_channel::bounded(1);
        // The thread lives as long as any sender, and this pool holds one.
        let _ = self.requests.send(Message::Join { lane, replies });
        Some(LanePilot { lane, requests: self.requests.clone(), answers, threshold: self.threshold })
    }
}

/// One controller's lane of a [`LanePool`].
pub struct LanePilot {
    lane: usize,
    requests: Sender<Message>,
    answers: Receiver<Result<Decision, String>>,
    threshold: Option<f32>,
}

impl LanePilot {
    fn send(&self, message: Message) {
        // The pool's thread outlives every sender, so the channel is open.
        let _ = self.requests.send(message);
    }
}

impl Pilot for LanePilot {
    fn reset(&mut self) {
        self.send(Message::Reset(self.lane));
    }

    fn act(&mut self, obs: &Observation) -> Result<Decision, String> {
        self.send(Message::Act(self.lane, *obs));
        self.answers.recv().unwrap_or_else(|_| Err("the batched pilot's thread stopped".into()))
    }

    fn pass(&mut self) {
        self.send(Message::Pass(self.lane));
    }

    fn surprise_threshold(&self) -> Option<f32> {
        self.threshold
    }
}

impl Drop for LanePilot {
    fn drop(&mut self) {
        self.send(Message::Leave(self.lane));
    }
}

/// The pool's thread: a round closes when every joined lane has asked or passed.
fn serve(mut batch: PolicyBatch, inbox: &Receiver<Message>) {
    let lanes = batch.lanes();
    let mut replies: Vec<Option<Sender<Result<Decision, String>>>> = vec![None; lanes];
    let mut asked: Vec<Option<Observation>> = vec![None; lanes];
    let mut reported = vec![false; lanes];
    for message in inbox {
        match message {
            Message::Join { lane, replies: to } => {
                replies[lane] = Some(to);
                batch.reset_lane(lane);
            }
            Message::Reset(lane) => batch.reset_lane(lane),
            Message::Act(lane, obs) => {
                asked[lane] = Some(obs);
                reported[lane] = true;
            }
            Message::Pass(lane) => reported[lane] = true,
            Message::Leave(lane) => {
                replies[lane] = None;
                (asked[lane], reported[lane]) = (None, false);
            }
        }
        if (0..lanes).any(|l| replies[l].is_some() && !reported[l]) {
            continue;
        }
        if asked.iter().any(Option::is_some) {
            for (lane, answer) in batch.step(&asked).into_iter().enumerate() {
                if let (Some(answer), Some(to)) = (answer, &replies[lane]) {
                    let decision = answer
                        .map(|out| Decision { action: out.action, surprise: out.surprise })
                        .map_err(|e| e.to_string());
                    let _ = to.send(decision);
                }
            }
        }
        asked.fill(None);
        reported.fill(false);
    }
}
