//! A replay buffer of n-step transitions in flat ring arrays.

use std::collections::VecDeque;

use rand::Rng;

/// One environment transition as it arrives from the VecEnv.
#[derive(Clone, Debug)]
pub struct Transition {
    /// State before the action.
    pub state: Vec<f32>,
    /// Action taken (clamped to [-1, 1]).
    pub action: Vec<f32>,
    /// Scaled reward.
    pub reward: f32,
    /// State after the action (the final state when the episode ended).
    pub next_state: Vec<f32>,
    /// The episode ended in a terminal state: no bootstrapping past it.
    pub terminal: bool,
    /// The episode ended (terminal or time limit).
    pub done: bool,
}

/// A sampled batch, row-major.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// `[batch, state]`.
    pub state: Vec<f32>,
    /// `[batch, action]`.
    pub action: Vec<f32>,
    /// `[batch]` n-step discounted reward sums.
    pub reward: Vec<f32>,
    /// `[batch, state]` state n steps later.
    pub next_state: Vec<f32>,
    /// `[batch]` `gamma^n` when bootstrapping, else 0.
    pub discount: Vec<f32>,
}

/// Ring buffer of n-step transitions, with one pending queue per
/// environment that folds single steps into n-step ones.
#[derive(Debug)]
pub struct Replay {
    sdim: usize,
    adim: usize,
    capacity: usize,
    gamma: f32,
    n: usize,
    len: usize,
    head: usize,
    state: Vec<f32>,
    action: Vec<f32>,
    reward: Vec<f32>,
    next_state: Vec<f32>,
    discount: Vec<f32>,
    pending: Vec<VecDeque<Transition>>,
}

impl Replay {
    /// An empty buffer for `envs` environments.
    pub fn new(
        sdim: usize,
        adim: usize,
        capacity: usize,
        gamma: f32,
        n: usize,
        envs: usize,
    ) -> Self {
        Self {
            sdim,
            adim,
            capacity,
            gamma,
            n: n.max(1),
            len: 0,
            head: 0,
            state: vec![0.0; capacity * sdim],
            action: vec![0.0; capacity * adim],
            reward: vec![0.0; capacity],
            next_state: vec![0.0; capacity * sdim],
            discount: vec![0.0; capacity],
            pending: vec![VecDeque::new(); envs],
        }
    }

    /// Stored n-step transitions.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Add one step of environment `env`.
    pub fn push(&mut self, env: usize, t: Transition) {
        let done = t.done;
        self.pending[env].push_back(t);
        if self.pending[env].len() >= self.n {
            self.emit_front(env);
        }
        if done {
            while !self.pending[env].is_empty() {
                self.emit_front(env);
            }
        }
    }

    /// Fold the pending queue of `env` from its front into one stored
    /// transition and drop the front.
    fn emit_front(&mut self, env: usize) {
        let q = &self.pending[env];
        let Some(first) = q.front() else { return };
        let mut ret = 0.0;
        let mut g = 1.0;
        let mut last = first;
        let mut terminal = false;
        for t in q.iter().take(self.n) {
            ret += g * t.reward;
            g *= self.gamma;
            last = t;
            if t.terminal {
                terminal = true;
                break;
            }
        }
        let i = self.head;
        let (s, a) = (self.sdim, self.adim);
        self.state[i * s..(i + 1) * s].copy_from_slice(&first.state);
        self.action[i * a..(i + 1) * a].copy_from_slice(&first.action);
        self.next_state[i * s..(i + 1) * s].copy_from_slice(&last.next_state);
        self.reward[i] = ret;
        self.discount[i] = if terminal { 0.0 } else { g };
        self.head = (self.head + 1) % self.capacity;
        self.len = (self.len + 1).min(self.capacity);
        self.pending[env].pop_front();
    }

    /// Sample `size` transitions uniformly with replacement.
    pub fn sample(&self, size: usize, rng: &mut impl Rng) -> Batch {
        let (s, a) = (self.sdim, self.adim);
        let mut b = Batch {
            state: Vec::with_capacity(size * s),
            action: Vec::with_capacity(size * a),
            reward: Vec::with_capacity(size),
            next_state: Vec::with_capacity(size * s),
            discount: Vec::with_capacity(size),
        };
        for _ in 0..size {
            let i = rng.random_range(0..self.len.max(1));
            b.state.extend_from_slice(&self.state[i * s..(i + 1) * s]);
            b.action.extend_from_slice(&self.action[i * a..(i + 1) * a]);
            b.next_state
                .extend_from_slice(&self.next_state[i * s..(i + 1) * s]);
            b.reward.push(self.reward[i]);
            b.discount.push(self.discount[i]);
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::{Replay, Transition};

    fn t(x: f32, r: f32, terminal: bool, done: bool) -> Transition {
        Transition {
            state: vec![x],
            action: vec![0.0],
            reward: r,
            next_state: vec![x + 1.0],
            terminal,
            done,
        }
    }

    /// Three-step returns by hand: rewards 1, 2, 4 with gamma 0.5.
    #[test]
    fn n_step_sums_and_terminal_cut() {
        let mut r = Replay::new(1, 1, 16, 0.5, 3, 1);
        r.push(0, t(0.0, 1.0, false, false));
        r.push(0, t(1.0, 2.0, false, false));
        assert_eq!(r.len(), 0);
        r.push(0, t(2.0, 4.0, false, false));
        assert_eq!(r.len(), 1);
        assert_eq!(r.reward[0], 1.0 + 0.5 * 2.0 + 0.25 * 4.0);
        assert_eq!(r.discount[0], 0.125);
        assert_eq!(r.next_state[0], 3.0);
        // a terminal step flushes the queue without bootstrapping
        r.push(0, t(3.0, 8.0, true, true));
        assert_eq!(r.len(), 4);
        assert_eq!(r.reward[1], 2.0 + 0.5 * 4.0 + 0.25 * 8.0);
        assert_eq!(r.discount[1], 0.0);
        assert_eq!(r.reward[3], 8.0);
        assert_eq!(r.discount[3], 0.0);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let b = r.sample(5, &mut rng);
        assert_eq!(b.state.len(), 5);
    }

    /// A time-limit end flushes but still bootstraps.
    #[test]
    fn truncation_bootstraps() {
        let mut r = Replay::new(1, 1, 4, 0.9, 2, 1);
        r.push(0, t(0.0, 1.0, false, true));
        assert_eq!(r.len(), 1);
        assert!((r.discount[0] - 0.9).abs() < 1e-7);
    }
}
