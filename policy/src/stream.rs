//! The per-call inputs of the streaming graph other than the caches: the new tokens with
//! their `[M]` masks, and which attention keys hold a token. Buffers are allocated once,
//! when the stream is built, at the widths of the robot's observation and action.

use crate::graph_io::Interface;

/// A normalised token and its mask (1 = `[M]`), one value each per field of its modality.
pub type Token<'a> = (&'a [f32], &'a [f32]);

/// The inputs of one graph call, and the validity of every cached key.
///
/// `key_valid` mirrors the caches the graph keeps: its first `C` entries are the cached
/// tokens, oldest first, and the last ones are the call's new tokens (`A_{k−1}` and `O_k`
/// for the `pair` interface, the one token for `token`). Each call shifts it left by the
/// number of new tokens, as the graph shifts its caches. For `window` the token buffers
/// hold the last K ticks, oldest first, each slot a tick's `O_t` and `A_t` (the newest
/// slot's action is not known yet: `[M]`), and `key_valid` their 2K tokens in that order;
/// each tick shifts them by one tick.
#[derive(Debug, Clone)]
pub struct TokenStream {
    /// `[ticks × observation width]`: one tick, or K for a window.
    pub obs: Vec<f32>,
    pub obs_missing: Vec<f32>,
    /// `[ticks × action width]`.
    pub act: Vec<f32>,
    pub act_missing: Vec<f32>,
    /// `token` interface: 1 when the new token is the observation, 0 for the action.
    pub modality: [f32; 1],
    pub key_valid: Vec<f32>,
    interface: Interface,
    ticks: usize,
    obs_dim: usize,
    action_dim: usize,
}

impl TokenStream {
    /// A stream of a context of `context_ticks` whose observation tokens have `obs_dim`
    /// fields and action tokens `action_dim` (the robot layout's widths).
    pub fn new(context_ticks: usize, interface: Interface, obs_dim: usize, action_dim: usize) -> TokenStream {
        assert!(context_ticks > 0, "a context holds at least one tick");
        let n = interface.input_ticks(context_ticks);
        TokenStream {
            obs: vec![0.0; n * obs_dim],
            obs_missing: vec![1.0; n * obs_dim],
            act: vec![0.0; n * action_dim],
            act_missing: vec![1.0; n * action_dim],
            modality: [0.0],
            key_valid: vec![0.0; interface.keys(context_ticks)],
            interface,
            ticks: 0,
            obs_dim,
            action_dim,
        }
    }

    pub fn interface(&self) -> Interface {
        self.interface
    }

    /// Fields of an observation token.
    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    /// Fields of an action token.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Observations pushed since the stream was built or cleared.
    pub fn ticks(&self) -> usize {
        self.ticks
    }

    /// Forgets the history: every cached key becomes an empty slot.
    pub fn clear(&mut self) {
        self.key_valid.fill(0.0);
        self.ticks = 0;
    }

    /// `pair` and `window` interfaces: prepares the call of tick k: `prev_action` is
    /// `A_{k−1}` (`None` on the first tick of a stream, when there is none: its slot is then
    /// an empty key) and `obs` is `O_k`. Panics unless the tokens have the stream's widths.
    pub fn push(&mut self, prev_action: Option<Token>, obs: Token) {
        match self.interface {
            Interface::Pair => {
                self.shift(&[prev_action.is_some(), true]);
                self.set_action(prev_action);
            }
            Interface::Window => {
                // The previous slot's action is `A_{k−1}`; the new slot's `A_k` is unknown.
                self.set_action(prev_action);
                let n = self.key_valid.len();
                self.key_valid[n - 1] = f32::from(u8::from(prev_action.is_some()));
                self.shift(&[true, false]);
                for (v, dim) in [
                    (&mut self.obs, self.obs_dim),
                    (&mut self.obs_missing, self.obs_dim),
                    (&mut self.act, self.action_dim),
                    (&mut self.act_missing, self.action_dim),
                ] {
                    v.copy_within(dim.., 0);
                }
                self.set_action(None);
            }
            Interface::Token => unreachable!("a one-token stream pushes one token at a time"),
        }
        let n = self.obs.len() - self.obs_dim;
        masked_copy(obs.0, obs.1, &mut self.obs[n..], &mut self.obs_missing[n..]);
        self.ticks += 1;
    }

    /// `token` interface: prepares the call of the action token `A_k` (`None`: an empty
    /// slot, the `A_0` before a stream's first observation).
    pub fn push_action(&mut self, action: Option<Token>) {
        debug_assert_eq!(self.interface, Interface::Token);
        self.shift(&[action.is_some()]);
        self.set_action(action);
        self.obs.fill(0.0);
        self.obs_missing.fill(1.0);
        self.modality = [0.0];
    }

    /// `token` interface: prepares the call of the observation token `O_k`.
    pub fn push_obs(&mut self, obs: Token) {
        debug_assert_eq!(self.interface, Interface::Token);
        self.shift(&[true]);
        self.set_action(None);
        masked_copy(obs.0, obs.1, &mut self.obs, &mut self.obs_missing);
        self.modality = [1.0];
        self.ticks += 1;
    }

    /// Shifts the keys left by one per new token and marks the new ones.
    fn shift(&mut self, new: &[bool]) {
        let n = self.key_valid.len();
        self.key_valid.copy_within(new.len().., 0);
        for (slot, &valid) in self.key_valid[n - new.len()..].iter_mut().zip(new) {
            *slot = f32::from(u8::from(valid));
        }
    }

    /// Sets the newest tick's action slot.
    fn set_action(&mut self, action: Option<Token>) {
        let n = self.act.len() - self.action_dim;
        let (z_out, m_out) = (&mut self.act[n..], &mut self.act_missing[n..]);
        match action {
            Some((z, m)) => masked_copy(z, m, z_out, m_out),
            None => {
                z_out.fill(0.0);
                m_out.fill(1.0);
            }
        }
    }
}

/// A masked field is stored as 0 whatever the caller passed: the graph computes
/// `z·(1 − m) + [M]·m`, and 0·NaN would still be NaN.
fn masked_copy(z: &[f32], m: &[f32], z_out: &mut [f32], m_out: &mut [f32]) {
    assert!(
        z.len() == z_out.len() && m.len() == m_out.len(),
        "a token of {} fields, the stream's {}",
        z.len(),
        z_out.len()
    );
    for ((out, &z), &m) in z_out.iter_mut().zip(z).zip(m) {
        *out = if m != 0.0 { 0.0 } else { z };
    }
    m_out.copy_from_slice(m);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::LazyLock;
    use strider_robot::RobotSpec;

    /// The reference biped's observation and action widths.
    static WIDTHS: LazyLock<(usize, usize)> = LazyLock::new(|| {
        let layout = RobotSpec::reference().layout();
        (layout.obs_dim(), layout.action_dim())
    });

    fn stream(k: usize, interface: Interface) -> TokenStream {
        TokenStream::new(k, interface, WIDTHS.0, WIDTHS.1)
    }

    /// A token's values and mask, owned.
    type Owned = (Vec<f32>, Vec<f32>);

    /// An observation token of `obs`s and an action token of `act`s, all present.
    fn tokens(obs: f32, act: f32) -> (Owned, Owned) {
        let (o, a) = *WIDTHS;
        ((vec![obs; o], vec![0.0; o]), (vec![act; a], vec![0.0; a]))
    }

    proptest! {
        /// After n ticks, the keys that hold a token are exactly the newest tokens of those
        /// ticks, right-aligned: `A_0` does not exist, so the oldest slot of the first
        /// tick stays empty until it is shifted out.
        #[test]
        fn key_validity_after_wrap_around(k in 1usize..12, n in 0usize..60) {
            let mut s = stream(k, Interface::Pair);
            for t in 0..n {
                let (obs, act) = tokens(t as f32, 0.5);
                let prev = (t > 0).then_some((&act.0[..], &act.1[..]));
                s.push(prev, (&obs.0, &obs.1));
            }
            let len = s.key_valid.len();
            prop_assert_eq!(len, 2 * k + 1);
            // Tokens streamed so far: A_0 (empty), O_1, A_1, O_2 … A_{n−1}, O_n.
            for (p, &v) in s.key_valid.iter().enumerate() {
                let from_end = len - 1 - p; // 0 = O_n
                let want = n > 0 && from_end < 2 * n - 1;
                prop_assert_eq!(v, f32::from(u8::from(want)), "slot {} of {} after {} ticks", p, len, n);
            }
            prop_assert_eq!(s.ticks(), n);
            if n > 0 {
                prop_assert!(s.obs.iter().all(|&x| x == (n - 1) as f32));
            }
        }

        /// A one-token stream (`A_0` skipped, then `O_1`, `A_1`, `O_2` …) marks the same keys
        /// as the two-token stream after each observation — the pair's extra slot is the
        /// oldest, shifted out by the same call — and between ticks the action's key is
        /// valid, or empty when it was not known.
        #[test]
        fn one_token_keys_match_the_pair_stream(k in 1usize..8, n in 1usize..30, known in any::<bool>()) {
            let (mut pair, mut one) = (stream(k, Interface::Pair), stream(k, Interface::Token));
            let act = tokens(0.0, 0.5).1;
            for t in 0..n {
                let obs = tokens(t as f32, 0.0).0;
                pair.push((t > 0).then_some((&act.0, &act.1)), (&obs.0, &obs.1));
                if t > 0 {
                    one.push_action(Some((&act.0, &act.1)));
                    prop_assert_eq!(one.modality, [0.0]);
                }
                one.push_obs((&obs.0, &obs.1));
                prop_assert_eq!(&one.key_valid[..], &pair.key_valid[1..], "after O_{}", t + 1);
                prop_assert_eq!(one.modality, [1.0]);
                prop_assert!(one.act_missing.iter().all(|&m| m == 1.0), "no action rides on an observation");
            }
            prop_assert_eq!(one.ticks(), n);
            one.push_action(known.then_some((&act.0, &act.1)));
            prop_assert_eq!(*one.key_valid.last().unwrap(), f32::from(u8::from(known)));
        }

        /// A window holds the last K ticks oldest first — tick t's slot has `O_t` and
        /// `A_t`, the newest one's action unknown — and marks as valid the keys the
        /// two-token stream does for those tokens.
        #[test]
        fn the_window_holds_the_last_k_ticks(k in 1usize..8, n in 1usize..30) {
            let (mut pair, mut window) = (stream(k, Interface::Pair), stream(k, Interface::Window));
            let (obs_dim, action_dim) = *WIDTHS;
            for t in 0..n {
                let (obs, act) = tokens(t as f32, t as f32 - 1.0);
                let prev = (t > 0).then_some((&act.0[..], &act.1[..]));
                pair.push(prev, (&obs.0, &obs.1));
                window.push(prev, (&obs.0, &obs.1));
                // Pair: …, A_{k−K}, O_{k−K+1}, …, A_{k−1}, O_k; window: O_{k−K+1}, A_{k−K+1}, …, O_k, A_k.
                let w = window.key_valid.len();
                prop_assert_eq!(&window.key_valid[..w - 1], &pair.key_valid[2..], "after O_{}", t + 1);
                prop_assert_eq!(window.key_valid[w - 1], 0.0, "A_k is not known yet");
            }
            prop_assert_eq!(window.obs.len(), k * obs_dim);
            for slot in 0..k.min(n) {
                // Slot k − 1 is the newest tick, n − 1.
                let tick = n - k.min(n) + slot;
                let at = k - k.min(n) + slot;
                prop_assert_eq!(window.obs[at * obs_dim], tick as f32);
                if tick + 1 < n {
                    prop_assert_eq!(window.act[at * action_dim], tick as f32);
                } else {
                    prop_assert_eq!(window.act_missing[at * action_dim], 1.0, "the newest action is [M]");
                }
            }
        }

        /// A masked field reaches the graph as value 0 with mask 1, whatever was measured,
        /// and a tick without a previous action gives an all-`[M]` action token.
        #[test]
        fn masks_never_leak_values(secret in 1.0f32..100.0, field in any::<prop::sample::Index>(), start in any::<bool>()) {
            let mut s = stream(4, Interface::Pair);
            let ((mut obs, mut missing), (act, _)) = tokens(secret, secret);
            let field = field.index(obs.len());
            obs[field] = f32::NAN;
            missing[field] = 1.0;
            let act_missing = vec![1.0; act.len()];
            let prev = (!start).then_some((&act[..], &act_missing[..]));
            s.push(prev, (&obs, &missing));
            prop_assert_eq!(s.obs[field], 0.0);
            prop_assert_eq!(s.obs_missing[field], 1.0);
            prop_assert!(s.act.iter().all(|&x| x == 0.0));
            prop_assert!(s.act_missing.iter().all(|&x| x == 1.0));
            prop_assert_eq!(s.key_valid[s.key_valid.len() - 2], f32::from(u8::from(!start)));
        }
    }
}
