//! What decides the next action.

use strider_policy::Policy;
use strider_robot::{Action, Observation};

/// Turns the observation of each tick into an action. It runs on the controller's
/// inference thread and sees every tick of an episode in order.
pub trait Pilot: Send + 'static {
    /// A new episode: forget the history.
    fn reset(&mut self);
    /// The action for this tick. An error is a missed tick for the controller (it holds
    /// the last safe command), never a command.
    fn act(&mut self, obs: &Observation) -> Result<Action, String>;
}

impl Pilot for Policy {
    fn reset(&mut self) {
        Policy::reset(self);
    }

    fn act(&mut self, obs: &Observation) -> Result<Action, String> {
        self.step(obs).map(|out| out.action).map_err(|e| e.to_string())
    }
}
