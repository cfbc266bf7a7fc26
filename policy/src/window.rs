//! The last K ticks of tokens, as a ring buffer that allocates only when it is built.

use strider_robot::{ACTION_DIM, OBS_DIM};

/// The context window: up to `capacity` ticks, each an observation token and an action
/// token with their `[M]` masks. Pushing a tick overwrites the oldest once full.
///
/// [`ContextWindow::write_inputs`] lays the window out the way the graph reads it: oldest
/// tick first, right-aligned, so the newest tick is always in the last slot and the empty
/// slots of a partly filled window are on the left with `tick_valid = 0`.
#[derive(Debug, Clone)]
pub struct ContextWindow {
    capacity: usize,
    /// Ring storage, slot-major: `obs[slot * OBS_DIM + i]`.
    obs: Vec<f32>,
    obs_missing: Vec<f32>,
    act: Vec<f32>,
    act_missing: Vec<f32>,
    /// Slot of the newest tick.
    head: usize,
    len: usize,
}

impl ContextWindow {
    pub fn new(capacity: usize) -> ContextWindow {
        assert!(capacity > 0, "a context window holds at least one tick");
        ContextWindow {
            capacity,
            obs: vec![0.0; capacity * OBS_DIM],
            obs_missing: vec![1.0; capacity * OBS_DIM],
            act: vec![0.0; capacity * ACTION_DIM],
            act_missing: vec![1.0; capacity * ACTION_DIM],
            head: capacity - 1,
            len: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Ticks held, at most the capacity.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Starts a new tick with its observation token; its action is `[M]` until
    /// [`ContextWindow::set_action`] fills it.
    pub fn push_observation(&mut self, z: &[f32; OBS_DIM], missing: &[f32; OBS_DIM]) {
        self.head = (self.head + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        let s = self.head;
        // A masked field is stored as 0 whatever the caller passed: the graph computes
        // `z·(1 − m) + [M]·m`, and 0·NaN would still be NaN.
        for i in 0..OBS_DIM {
            self.obs[s * OBS_DIM + i] = if missing[i] != 0.0 { 0.0 } else { z[i] };
        }
        self.obs_missing[s * OBS_DIM..(s + 1) * OBS_DIM].copy_from_slice(missing);
        self.act[s * ACTION_DIM..(s + 1) * ACTION_DIM].fill(0.0);
        self.act_missing[s * ACTION_DIM..(s + 1) * ACTION_DIM].fill(1.0);
    }

    /// Sets the newest tick's action token (and its mask: 1 = `[M]`).
    pub fn set_action(&mut self, z: &[f32; ACTION_DIM], missing: &[f32; ACTION_DIM]) {
        assert!(self.len > 0, "set_action before any observation");
        let s = self.head;
        for i in 0..ACTION_DIM {
            self.act[s * ACTION_DIM + i] = if missing[i] != 0.0 { 0.0 } else { z[i] };
        }
        self.act_missing[s * ACTION_DIM..(s + 1) * ACTION_DIM].copy_from_slice(missing);
    }

    /// Ring slot of window position `p` (0 = leftmost of `capacity`), or `None` if empty.
    fn slot(&self, p: usize) -> Option<usize> {
        let empty = self.capacity - self.len;
        if p < empty {
            return None;
        }
        let back = self.capacity - 1 - p; // 0 = newest
        Some((self.head + self.capacity - back) % self.capacity)
    }

    /// Writes the graph inputs for one batch row (see [`crate::input`]). Slices must have
    /// `capacity × dim` (and `capacity` for `tick_valid`) elements.
    pub fn write_inputs(
        &self,
        obs: &mut [f32],
        obs_missing: &mut [f32],
        act: &mut [f32],
        act_missing: &mut [f32],
        tick_valid: &mut [f32],
    ) {
        for (p, valid) in tick_valid.iter_mut().enumerate().take(self.capacity) {
            let (o, a) = (p * OBS_DIM..(p + 1) * OBS_DIM, p * ACTION_DIM..(p + 1) * ACTION_DIM);
            match self.slot(p) {
                Some(s) => {
                    let (so, sa) = (s * OBS_DIM..(s + 1) * OBS_DIM, s * ACTION_DIM..(s + 1) * ACTION_DIM);
                    obs[o.clone()].copy_from_slice(&self.obs[so.clone()]);
                    obs_missing[o].copy_from_slice(&self.obs_missing[so]);
                    act[a.clone()].copy_from_slice(&self.act[sa.clone()]);
                    act_missing[a].copy_from_slice(&self.act_missing[sa]);
                    *valid = 1.0;
                }
                None => {
                    obs[o.clone()].fill(0.0);
                    obs_missing[o].fill(1.0);
                    act[a.clone()].fill(0.0);
                    act_missing[a].fill(1.0);
                    *valid = 0.0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// obs, obs_missing, act, act_missing, tick_valid.
    type Inputs = (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>);

    fn inputs(w: &ContextWindow) -> Inputs {
        let k = w.capacity();
        let mut v = (
            vec![9.0; k * OBS_DIM],
            vec![9.0; k * OBS_DIM],
            vec![9.0; k * ACTION_DIM],
            vec![9.0; k * ACTION_DIM],
            vec![9.0; k],
        );
        w.write_inputs(&mut v.0, &mut v.1, &mut v.2, &mut v.3, &mut v.4);
        v
    }

    proptest! {
        /// After any number of pushes the window holds the newest `min(n, K)` ticks, oldest
        /// first and right-aligned, each with its own action.
        #[test]
        fn order_after_wrap_around(k in 1usize..20, n in 0usize..70) {
            let mut w = ContextWindow::new(k);
            for t in 0..n {
                w.push_observation(&[t as f32; OBS_DIM], &[0.0; OBS_DIM]);
                w.set_action(&[-(t as f32); ACTION_DIM], &[0.0; ACTION_DIM]);
            }
            let (obs, om, act, am, valid) = inputs(&w);
            let filled = n.min(k);
            prop_assert_eq!(w.len(), filled);
            for p in 0..k {
                if p < k - filled {
                    prop_assert_eq!(valid[p], 0.0);
                    prop_assert!(obs[p * OBS_DIM..(p + 1) * OBS_DIM].iter().all(|&x| x == 0.0));
                    prop_assert!(om[p * OBS_DIM..(p + 1) * OBS_DIM].iter().all(|&x| x == 1.0));
                    prop_assert!(am[p * ACTION_DIM..(p + 1) * ACTION_DIM].iter().all(|&x| x == 1.0));
                } else {
                    let t = (n - (k - p)) as f32;
                    prop_assert_eq!(valid[p], 1.0);
                    prop_assert!(obs[p * OBS_DIM..(p + 1) * OBS_DIM].iter().all(|&x| x == t));
                    prop_assert!(act[p * ACTION_DIM..(p + 1) * ACTION_DIM].iter().all(|&x| x == -t));
                    prop_assert!(om[p * OBS_DIM..(p + 1) * OBS_DIM].iter().all(|&x| x == 0.0));
                }
            }
        }

        /// A tick's pending action is `[M]` with value 0 until set, and nothing of an
        /// overwritten tick survives in its reused slot.
        #[test]
        fn masks_never_leak_values(k in 1usize..8, n in 1usize..30, secret in 1.0f32..100.0) {
            let mut w = ContextWindow::new(k);
            for _ in 0..n {
                w.push_observation(&[secret; OBS_DIM], &[0.0; OBS_DIM]);
                w.set_action(&[secret; ACTION_DIM], &[0.0; ACTION_DIM]);
            }
            w.push_observation(&[f32::NAN; OBS_DIM], &[1.0; OBS_DIM]);
            let (obs, om, act, am, _) = inputs(&w);
            let last = k - 1;
            prop_assert!(obs[last * OBS_DIM..].iter().all(|&x| x == 0.0));
            prop_assert!(act[last * ACTION_DIM..].iter().all(|&x| x == 0.0));
            prop_assert!(am[last * ACTION_DIM..].iter().all(|&x| x == 1.0));
            prop_assert!(om[last * OBS_DIM..].iter().all(|&x| x == 1.0));
        }
    }
}
