//! The bridge from the simulator's privileged state to the log's `/sim/state` channel.

use strider_log::SimState;
use strider_sim::Privileged;

pub fn sim_state(p: &Privileged) -> SimState {
    SimState {
        torso_x: p.torso_x,
        torso_y: p.torso_y,
        height: p.torso_height,
        pitch: p.torso_pitch,
        com_x: p.com_x,
        com_y: p.com_y,
        com_vx: p.com_vx,
        com_vy: p.com_vy,
        foot_contact: p.foot_contact,
        fallen: p.fallen,
    }
}
