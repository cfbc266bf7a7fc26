//! What decides the next action.

use strider_policy::Policy;
use strider_robot::{Action, Observation};

/// A pilot's answer for one tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub action: Action,
    /// How far this tick's observation lay from the pilot's prediction of it
    /// ([`strider_policy::surprise`]); `None` for a pilot that predicts nothing, on the first
    /// tick, or with every sensor field `[M]`.
    pub surprise: Option<f32>,
}

impl From<Action> for Decision {
    fn from(action: Action) -> Decision {
        Decision { action, surprise: None }
    }
}

/// Turns the observation of each tick into an action. It runs on the controller's
/// inference thread and sees every tick of an episode in order.
pub trait Pilot: Send + 'static {
    /// A new episode: forget the history.
    fn reset(&mut self);
    /// The action for this tick. An error is a missed tick for the controller (it holds
    /// the last safe command), never a command.
    fn act(&mut self, obs: &Observation) -> Result<Decision, String>;
    /// Work for the next tick that needs this tick's action but not the next observation,
    /// run right after the action is handed over, off the critical path (a one-token
    /// model's call on the action). An error is reported as the next tick's.
    fn prepare(&mut self) -> Result<(), String> {
        Ok(())
    }
    /// A tick that asked nothing of the pilot: the controller sent a command of its own
    /// (homing, holding, damping). A pilot that serves many controllers at once
    /// ([`crate::LanePilot`]) stops waiting for this one's tick.
    fn pass(&mut self) {}
    /// The surprise above which a tick is surprising (a model's calibrated threshold);
    /// `None`: nothing is.
    fn surprise_threshold(&self) -> Option<f32> {
        None
    }
}

impl Pilot for Policy {
    fn reset(&mut self) {
        Policy::reset(self);
    }

    fn act(&mut self, obs: &Observation) -> Result<Decision, String> {
        self.step(obs)
            .map(|out| Decision { action: out.action, surprise: out.surprise })
            .map_err(|e| e.to_string())
    }

    fn prepare(&mut self) -> Result<(), String> {
        Policy::prepare(self).map_err(|e| e.to_string())
    }

    fn surprise_threshold(&self) -> Option<f32> {
        self.manifest().surprise.as_ref().map(|s| s.threshold)
    }
}

impl Pilot for Box<dyn Pilot> {
    fn reset(&mut self) {
        (**self).reset();
    }

    fn act(&mut self, obs: &Observation) -> Result<Decision, String> {
        (**self).act(obs)
    }

    fn prepare(&mut self) -> Result<(), String> {
        (**self).prepare()
    }

    fn pass(&mut self) {
        (**self).pass();
    }

    fn surprise_threshold(&self) -> Option<f32> {
        (**self).surprise_threshold()
    }
}
