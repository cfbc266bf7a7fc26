//! The pilot on its own thread. The control thread sends each tick's observation and
//! waits for the action until its deadline; a reply that comes later is dropped when the
//! next one is awaited, never applied. Once a reply is sent the thread runs the pilot's
//! [`Pilot::prepare`] while the control thread applies the action and waits for the next
//! observation.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use strider_robot::Observation;

use crate::pilot::{Decision, Pilot};

// An `Observation` is held inline (about 270 bytes) so that a tick allocates nothing;
// boxing it to shrink the enum would allocate once per tick.
#[allow(clippy::large_enum_variant)]
enum Request {
    Reset,
    Act { tick: u64, obs: Observation },
    Pass,
}

/// The pilot's answer for one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub tick: u64,
    pub result: Result<Decision, String>,
    /// Time the pilot spent on it.
    pub latency: Duration,
}

/// Owns the inference thread; dropping it stops and joins the thread.
pub struct InferenceThread {
    requests: Option<Sender<Request>>,
    replies: Receiver<Reply>,
    handle: Option<JoinHandle<()>>,
}

impl InferenceThread {
    pub fn spawn<P: Pilot>(mut pilot: P) -> InferenceThread {
        let (req_tx, req_rx) = crossbeam_channel::unbounded::<Request>();
        let (rep_tx, rep_rx) = crossbeam_channel::unbounded::<Reply>();
        let handle = std::thread::Builder::new()
            .name("strider-inference".into())
            .spawn(move || {
                // A failed `prepare` is the next tick's error.
                let mut failed: Option<String> = None;
                for request in req_rx {
                    match request {
                        Request::Reset => {
                            pilot.reset();
                            failed = None;
                        }
                        Request::Pass => pilot.pass(),
                        Request::Act { tick, obs } => {
                            let started = Instant::now();
                            let (result, acted) = match failed.take() {
                                Some(e) => (Err(e), false),
                                None => (pilot.act(&obs), true),
                            };
                            let reply = Reply { tick, result, latency: started.elapsed() };
                            if rep_tx.send(reply).is_err() {
                                return;
                            }
                            if acted {
                                failed = pilot.prepare().err();
                            }
                        }
                    }
                }
            })
            .expect("spawn the inference thread");
        InferenceThread { requests: Some(req_tx), replies: rep_rx, handle: Some(handle) }
    }

    fn send(&self, request: Request) {
        // The thread only ends when this handle drops, so the channel is open.
        let _ = self.requests.as_ref().expect("open until drop").send(request);
    }

    /// A new episode for the pilot (ordered before any later request).
    pub fn reset(&self) {
        self.send(Request::Reset);
    }

    /// Tells the pilot that this tick asks nothing of it ([`Pilot::pass`]).
    pub fn pass(&self) {
        self.send(Request::Pass);
    }

    /// Hands tick `tick`'s observation to the pilot.
    pub fn request(&self, tick: u64, obs: Observation) {
        self.send(Request::Act { tick, obs });
    }

    /// The reply for `tick`, waiting until `deadline` (`None`: as long as it takes).
    /// Replies to earlier ticks that arrived late are discarded. `None` if the deadline
    /// passed first — also when the reply is there but this thread only looks after the
    /// deadline (it was descheduled): late is late.
    pub fn reply(&self, tick: u64, deadline: Option<Instant>) -> Option<Reply> {
        loop {
            let reply = match deadline {
                Some(d) => match self.replies.recv_deadline(d) {
                    Ok(r) => r,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
                },
                None => self.replies.recv().ok()?,
            };
            if reply.tick == tick {
                return match deadline {
                    Some(d) if Instant::now() > d => None,
                    _ => Some(reply),
                };
            }
        }
    }
}

impl Drop for InferenceThread {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strider_robot::Action;

    /// Answers with the command speed as every joint target, slowly on odd ticks.
    struct Slow;

    impl Pilot for Slow {
        fn reset(&mut self) {}
        fn act(&mut self, obs: &Observation) -> Result<Decision, String> {
            if obs.command[0] as u32 % 2 == 1 {
                std::thread::sleep(Duration::from_millis(30));
            }
            Ok(Action { joint_target: [obs.command[0]; 6].into() }.into())
        }
    }

    /// Counts its calls; its `prepare` fails after the tick whose command speed is 3.
    #[derive(Default)]
    struct Preparing {
        acted: u32,
        prepared: u32,
        last: f32,
    }

    impl Pilot for Preparing {
        fn reset(&mut self) {}
        fn act(&mut self, obs: &Observation) -> Result<Decision, String> {
            assert_eq!(self.prepared, self.acted, "every action was prepared for before the next");
            self.acted += 1;
            self.last = obs.command[0];
            Ok(Action { joint_target: [self.prepared as f32; 6].into() }.into())
        }
        fn prepare(&mut self) -> Result<(), String> {
            self.prepared += 1;
            if self.last == 3.0 { Err("the action's call failed".into()) } else { Ok(()) }
        }
    }

    #[test]
    fn prepare_runs_between_ticks_and_its_failure_is_the_next_ticks() {
        let t = InferenceThread::spawn(Preparing::default());
        let mut replies = vec![];
        for tick in 1..=5u64 {
            t.request(tick, obs(tick as f32));
            replies.push(t.reply(tick, None).expect("answered").result);
        }
        let targets: Vec<Result<f32, String>> =
            replies.into_iter().map(|r| r.map(|d| d.action.joint_target[0])).collect();
        // Tick k's action sees the k − 1 prepares before it; tick 4 carries tick 3's
        // failed prepare (its observation never reaches the pilot), tick 5 goes on.
        assert_eq!(targets, vec![Ok(0.0), Ok(1.0), Ok(2.0), Err("the action's call failed".into()), Ok(3.0)]);
    }

    fn obs(v: f32) -> Observation {
        Observation::new(Default::default(), [v].into())
    }

    #[test]
    fn a_late_reply_is_dropped_not_delivered_for_the_next_tick() {
        let t = InferenceThread::spawn(Slow);
        t.request(1, obs(1.0));
        let missed = t.reply(1, Some(Instant::now() + Duration::from_millis(2)));
        assert_eq!(missed, None, "tick 1 takes 30 ms and must miss a 2 ms deadline");
        t.request(2, obs(2.0));
        let r = t.reply(2, None).expect("tick 2 answered");
        assert_eq!(r.tick, 2);
        assert_eq!(
            r.result.unwrap().action.joint_target,
            [2.0; 6].into(),
            "tick 1's late action must not stand in for tick 2's"
        );
    }
}
