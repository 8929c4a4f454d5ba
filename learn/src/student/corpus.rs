//! The frames a student learns from, gathered from a dataset into flat
//! arrays: per-frame proprioception, actions, privileged states (for the
//! critics), expert Q labels and images, with episode boundaries so that
//! histories and action chunks never cross episodes.

use std::ops::Range;
use std::path::Path;

use crate::data::{Dataset, slice_frames};
use crate::error::{LearnError, Result};
use crate::student::model::Dims;

/// Smallest proprioception scale (rad, rad/s): joints the experts hardly
/// move would otherwise turn small test-time deviations into huge inputs.
pub const PROPRIO_STD_FLOOR: f64 = 0.05;

/// A normalised proprioception value, clipped to ±5 like the experts'
/// state normaliser.
pub fn normalise(v: f32, mean: f32, std: f32) -> f32 {
    ((v - mean) / std).clamp(-5.0, 5.0)
}

/// Demonstrations of several tasks, flattened.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// Task names, in student slot order.
    pub tasks: Vec<String>,
    /// Privileged-state width of each slot (0 where the dataset has none).
    pub state_dims: Vec<usize>,
    /// Episodes per slot.
    pub episodes_per_task: Vec<usize>,
    /// Widths.
    pub dims: Dims,
    /// `[n, S, S, 3]` bytes.
    pub images: Vec<u8>,
    /// `[n, P]`.
    pub proprio: Vec<f32>,
    /// `[n, A]`.
    pub actions: Vec<f32>,
    /// Per slot, `[rows, state_dims[slot]]`.
    pub states: Vec<Vec<f32>>,
    /// Row of each frame in its slot's `states`.
    pub state_row: Vec<usize>,
    /// Slot of each frame.
    pub slot: Vec<u32>,
    /// Episode of each frame.
    pub episode: Vec<u32>,
    /// Frame ranges of the episodes.
    pub episodes: Vec<Range<usize>>,
    /// The expert's `Q(s_t, a_t)` per frame.
    pub q: Vec<f32>,
    /// Frames of each slot, for task-balanced sampling.
    pub frames_of: Vec<Vec<u32>>,
    /// Explicit action-chunk labels, `[n, k·A]` (DAgger's expert chunks);
    /// empty when chunks are read off the episodes' actions.
    pub chunk_labels: Vec<f32>,
    /// Reset seed of each episode (goal images are re-rendered from it).
    pub seeds: Vec<u64>,
    /// Goal images other than the episodes' last frames, `[g, S, S, 3]`:
    /// re-rendered from the sampled goal (what the student is shown at test
    /// time), or the goal a DAgger rollout was shown.
    pub goal_images: Vec<u8>,
    /// Per episode, its row in `goal_images`; `None` (or an episode past
    /// the end) means its last frame, as collected demonstrations have.
    pub goal_rows: Vec<Option<u32>>,
}

impl Corpus {
    /// Frames in the corpus.
    pub fn len(&self) -> usize {
        self.slot.len()
    }

    /// Whether there are no frames.
    pub fn is_empty(&self) -> bool {
        self.slot.is_empty()
    }

    /// Read up to `per_task` episodes of each of `tasks` (dataset order)
    /// from the dataset at `dir`. Tasks without episodes keep their slot
    /// (the student still gets evaluated on them) with no frames.
    pub fn load(dir: &Path, tasks: &[String], per_task: usize) -> Result<Self> {
        let ds = Dataset::open(dir)?;
        let image = ds.manifest.image_size;
        let mut c = Corpus {
            tasks: tasks.to_vec(),
            state_dims: vec![0; tasks.len()],
            episodes_per_task: vec![0; tasks.len()],
            states: vec![Vec::new(); tasks.len()],
            frames_of: vec![Vec::new(); tasks.len()],
            ..Default::default()
        };
        let mut dims: Option<(usize, usize)> = None;
        for (si, shard) in ds.manifest.shards.iter().enumerate() {
            let Some(slot) = tasks.iter().position(|t| *t == shard.task) else {
                continue;
            };
            if c.episodes_per_task[slot] >= per_task {
                continue;
            }
            let (task, frames) = ds.read_shard(si)?;
            match dims {
                None => dims = Some((task.action_dim, task.proprio_dim)),
                Some(d) if d != (task.action_dim, task.proprio_dim) => {
                    return Err(LearnError::dataset(
                        dir,
                        format!(
                            "task `{}` has {} actions and {} proprio values, earlier tasks {} and {}: \
                             one student needs one hand (distill `bidex` on its own)",
                            task.name, task.action_dim, task.proprio_dim, d.0, d.1
                        ),
                    ));
                }
                Some(_) => {}
            }
            c.state_dims[slot] = task.state_dim;
            for e in &shard.episodes {
                if c.episodes_per_task[slot] >= per_task {
                    break;
                }
                let f = slice_frames(&frames, e.start, e.frames, &task, image);
                let start = c.slot.len();
                let ep = c.episodes.len() as u32;
                for i in 0..e.frames {
                    c.frames_of[slot].push((start + i) as u32);
                    c.state_row
                        .push(c.states[slot].len() / task.state_dim.max(1) + i);
                    c.slot.push(slot as u32);
                    c.episode.push(ep);
                }
                c.images.extend_from_slice(&f.image);
                c.proprio.extend_from_slice(&f.proprio);
                c.actions.extend_from_slice(&f.action);
                c.states[slot].extend_from_slice(&f.state);
                c.q.extend_from_slice(&f.q);
                c.episodes.push(start..start + e.frames);
                c.seeds.push(e.seed);
                c.goal_rows.push(None);
                c.episodes_per_task[slot] += 1;
            }
        }
        let Some((action, proprio)) = dims else {
            return Err(LearnError::dataset(
                dir,
                format!(
                    "no episodes of {} in this dataset; collect some first with \
                     `dexstudio collect --task <task> --episodes N --session <dir>`",
                    tasks.join(", ")
                ),
            ));
        };
        c.dims = Dims {
            tasks: tasks.len(),
            action,
            proprio,
            image,
        };
        Ok(c)
    }

    /// Proprioception of frames `i-h+1 ..= i` (the first frame of the
    /// episode repeated before it), concatenated oldest first.
    pub fn history(&self, i: usize, h: usize) -> Vec<f32> {
        let p = self.dims.proprio;
        let first = self.episodes[self.episode[i] as usize].start;
        let mut out = Vec::with_capacity(h * p);
        for back in (0..h).rev() {
            let j = i.saturating_sub(back).max(first);
            out.extend_from_slice(&self.proprio[j * p..(j + 1) * p]);
        }
        out
    }

    /// Actions `a_i .. a_{i+k-1}`, the episode's last action repeated past
    /// its end.
    pub fn chunk(&self, i: usize, k: usize) -> Vec<f32> {
        let a = self.dims.action;
        if !self.chunk_labels.is_empty() {
            return self.chunk_labels[i * k * a..(i + 1) * k * a].to_vec();
        }
        let end = self.episodes[self.episode[i] as usize].end;
        let mut out = Vec::with_capacity(k * a);
        for t in 0..k {
            let j = (i + t).min(end - 1);
            out.extend_from_slice(&self.actions[j * a..(j + 1) * a]);
        }
        out
    }

    /// Store every frame's chunk explicitly, so frames with their own
    /// labels (DAgger) can be appended beside demonstrations.
    pub fn materialise_chunks(&mut self, k: usize) {
        if self.chunk_labels.is_empty() {
            self.chunk_labels = (0..self.len()).flat_map(|i| self.chunk(i, k)).collect();
        }
    }

    /// The goal frame of frame `i`'s episode (its last frame).
    pub fn goal_frame(&self, i: usize) -> usize {
        self.episodes[self.episode[i] as usize].end - 1
    }

    /// Row in `goal_images` of frame `i`'s goal, if its episode has one
    /// of its own rather than its last frame.
    pub fn goal_row(&self, i: usize) -> Option<usize> {
        let e = self.episode[i] as usize;
        self.goal_rows.get(e).copied().flatten().map(|r| r as usize)
    }

    /// Frame `i`'s goal features (width `f`): its episode's own goal image
    /// (`goal_features`, encoded from `goal_images`) or its last frame
    /// (`features`, one row per frame).
    pub fn goal_features<'a>(
        &self,
        i: usize,
        features: &'a [f32],
        goal_features: &'a [f32],
        f: usize,
    ) -> &'a [f32] {
        match self.goal_row(i) {
            Some(r) => &goal_features[r * f..(r + 1) * f],
            None => {
                let g = self.goal_frame(i);
                &features[g * f..(g + 1) * f]
            }
        }
    }

    /// Give episode `e` its own goal image (replacing any it had).
    pub fn set_goal(&mut self, e: usize, image: &[u8]) -> Result<()> {
        let px = self.dims.image * self.dims.image * 3;
        if image.len() != px {
            return Err(LearnError::Config {
                field: "goal_image",
                message: format!(
                    "episode {e}: goal image has {} bytes, {} needed for {}x{} RGB",
                    image.len(),
                    px,
                    self.dims.image,
                    self.dims.image
                ),
            });
        }
        if self.goal_rows.len() <= e {
            self.goal_rows.resize(e + 1, None);
        }
        let row = self.goal_images.len() / px;
        self.goal_images.extend_from_slice(image);
        self.goal_rows[e] = Some(row as u32);
        Ok(())
    }

    /// Privileged state of frame `i`.
    pub fn state(&self, i: usize) -> &[f32] {
        let s = self.slot[i] as usize;
        let d = self.state_dims[s];
        let r = self.state_row[i];
        &self.states[s][r * d..(r + 1) * d]
    }

    /// Mean `|Q|` of each slot's expert labels: the per-task constant that
    /// normalises `L_distill` (1 for slots without frames).
    pub fn q_norms(&self) -> Vec<f32> {
        let mut sum = vec![0f64; self.tasks.len()];
        let mut n = vec![0usize; self.tasks.len()];
        for (i, &q) in self.q.iter().enumerate() {
            let s = self.slot[i] as usize;
            sum[s] += f64::from(q.abs());
            n[s] += 1;
        }
        sum.iter()
            .zip(&n)
            .map(|(&s, &n)| {
                if n == 0 {
                    1.0
                } else {
                    ((s / n as f64) as f32).max(1e-3)
                }
            })
            .collect()
    }

    /// Per-dimension mean and standard deviation of proprioception.
    pub fn proprio_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let p = self.dims.proprio;
        let n = self.len().max(1) as f64;
        let mut mean = vec![0f64; p];
        let mut sq = vec![0f64; p];
        for row in self.proprio.chunks_exact(p.max(1)) {
            for (j, &v) in row.iter().enumerate() {
                mean[j] += f64::from(v);
                sq[j] += f64::from(v) * f64::from(v);
            }
        }
        let mean: Vec<f64> = mean.iter().map(|m| m / n).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt().max(PROPRIO_STD_FLOOR)) as f32)
            .collect();
        (mean.iter().map(|&m| m as f32).collect(), std)
    }
}
