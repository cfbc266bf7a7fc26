//! The pilot on its own thread. The control thread sends each tick's observation and
//! waits for the action until its deadline; a reply that comes later is dropped when the
//! next one is awaited, never applied.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use strider_robot::Observation;

use crate::pilot::{Decision, Pilot};

enum Request {
    Reset,
    Act { tick: u64, obs: Observation },
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
                for request in req_rx {
                    match request {
                        Request::Reset => pilot.reset(),
                        Request::Act { tick, obs } => {
                            let started = Instant::now();
                            let result = pilot.act(&obs);
                            let reply = Reply { tick, result, latency: started.elapsed() };
                            if rep_tx.send(reply).is_err() {
                                return;
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
            if obs.command_vx as u32 % 2 == 1 {
                std::thread::sleep(Duration::from_millis(30));
            }
            Ok(Action { joint_target: [obs.command_vx; 6] }.into())
        }
    }

    fn obs(v: f32) -> Observation {
        Observation::new(Default::default(), v)
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
            [2.0; 6],
            "tick 1's late action must not stand in for tick 2's"
        );
    }
}
