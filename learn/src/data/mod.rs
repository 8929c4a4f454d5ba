//! Demonstration datasets: chunked safetensors shards plus a JSON manifest.
//!
//! A dataset is a folder with `manifest.json` and `shard-NNNNNN-vK.safetensors`
//! files. Each shard holds whole episodes of one task, frame by frame:
//! `image` u8 `[F, H, W, 3]` (the observation before the action), `proprio`,
//! `state`, `action`, `reward`, `q` (the expert's `Q(s_t, a_t)`) as f32
//! `[F, ·]`, `done` and `success` u8 `[F]`, and `task` u32 `[F]`. The goal
//! image of an episode is its last frame. The manifest is rewritten
//! atomically after every episode and always names shard versions that
//! are complete, so an interrupted writer leaves every finished episode
//! readable.

pub mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::error::{LearnError, Result};
use crate::fsio::file_hash;

pub use writer::DatasetWriter;

/// Format tag of `manifest.json`.
pub const DATASET_FORMAT: &str = "dexstudio-dataset/1";

/// One task present in a dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEntry {
    /// Task name.
    pub name: String,
    /// Index stored in the `task` column (position in the catalog).
    pub index: u32,
    /// Width of the privileged state.
    pub state_dim: usize,
    /// Width of proprioception.
    pub proprio_dim: usize,
    /// Width of the action.
    pub action_dim: usize,
}

/// One episode inside a shard.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeEntry {
    /// First frame within the shard.
    pub start: usize,
    /// Frames.
    pub frames: usize,
    /// Reset seed.
    pub seed: u64,
    /// Undiscounted return.
    pub ret: f64,
    /// Solved (success held for the task's hold steps).
    pub solved: bool,
    /// Who produced it ("expert", "teleop", ...).
    pub source: String,
}

/// One shard file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardEntry {
    /// File name inside the dataset folder.
    pub file: String,
    /// Task name (one task per shard).
    pub task: String,
    /// Episodes, in order.
    pub episodes: Vec<EpisodeEntry>,
    /// Frames in all its episodes.
    pub frames: usize,
    /// File size in bytes.
    pub bytes: u64,
    /// FNV-1a 64 of the file.
    pub fnv1a: String,
}

/// `manifest.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`DATASET_FORMAT`].
    pub format: String,
    /// Side of the square images.
    pub image_size: usize,
    /// Tasks present.
    pub tasks: Vec<TaskEntry>,
    /// Shards, in writing order.
    pub shards: Vec<ShardEntry>,
}

/// Every column of a run of frames.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frames {
    /// `[F, H, W, 3]` RGB bytes.
    pub image: Vec<u8>,
    /// `[F, P]`.
    pub proprio: Vec<f32>,
    /// `[F, S]`.
    pub state: Vec<f32>,
    /// `[F, A]`.
    pub action: Vec<f32>,
    /// `[F]`.
    pub reward: Vec<f32>,
    /// `[F]` the episode ended at this step.
    pub done: Vec<u8>,
    /// `[F]` the success predicate held after this step.
    pub success: Vec<u8>,
    /// `[F]` task index.
    pub task: Vec<u32>,
    /// `[F]` the expert's `Q(s_t, a_t)`.
    pub q: Vec<f32>,
}

impl Frames {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.reward.len()
    }

    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.reward.is_empty()
    }

    /// Append another run of frames.
    pub fn extend(&mut self, o: &Frames) {
        self.image.extend_from_slice(&o.image);
        self.proprio.extend_from_slice(&o.proprio);
        self.state.extend_from_slice(&o.state);
        self.action.extend_from_slice(&o.action);
        self.reward.extend_from_slice(&o.reward);
        self.done.extend_from_slice(&o.done);
        self.success.extend_from_slice(&o.success);
        self.task.extend_from_slice(&o.task);
        self.q.extend_from_slice(&o.q);
    }
}

/// An episode read back: its frames and where it came from.
#[derive(Clone, Debug)]
pub struct Episode {
    /// Task of the episode.
    pub task: TaskEntry,
    /// Manifest entry.
    pub entry: EpisodeEntry,
    /// Frames.
    pub frames: Frames,
    /// Image side.
    pub image_size: usize,
}

impl Episode {
    /// RGB bytes of frame `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_size * self.image_size * 3;
        &self.frames.image[i * n..(i + 1) * n]
    }

    /// The goal image: the episode's last frame.
    pub fn goal_image(&self) -> &[u8] {
        self.image(self.entry.frames.saturating_sub(1))
    }
}

/// A dataset opened for reading.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Its folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: Manifest,
}

/// The dataset folder for `path`: itself if it holds a manifest, else its
/// `data/` folder (a session).
pub fn resolve(path: &Path) -> PathBuf {
    if path.join("manifest.json").exists() || !path.join("data").is_dir() {
        path.to_path_buf()
    } else {
        path.join("data")
    }
}

impl Dataset {
    /// Open the dataset in `path` (a dataset folder or a session folder).
    pub fn open(path: &Path) -> Result<Self> {
        let dir = resolve(path);
        let mpath = dir.join("manifest.json");
        let text = std::fs::read_to_string(&mpath).map_err(|e| LearnError::io(&mpath, e))?;
        let manifest: Manifest = serde_json::from_str(&text)
            .map_err(|e| LearnError::dataset(&mpath, format!("not a dataset manifest: {e}")))?;
        if manifest.format != DATASET_FORMAT {
            return Err(LearnError::dataset(
                &mpath,
                format!(
                    "field `format` is `{}`, expected `{DATASET_FORMAT}`",
                    manifest.format
                ),
            ));
        }
        for s in &manifest.shards {
            if !manifest.tasks.iter().any(|t| t.name == s.task) {
                return Err(LearnError::dataset(
                    &mpath,
                    format!(
                        "shard {} names task `{}`, absent from `tasks`",
                        s.file, s.task
                    ),
                ));
            }
        }
        Ok(Self { dir, manifest })
    }

    /// Episodes in the dataset.
    pub fn episodes(&self) -> usize {
        self.manifest.shards.iter().map(|s| s.episodes.len()).sum()
    }

    /// Frames in the dataset.
    pub fn frames(&self) -> usize {
        self.manifest.shards.iter().map(|s| s.frames).sum()
    }

    /// Read every frame of shard `i`, checking hash and shapes.
    pub fn read_shard(&self, i: usize) -> Result<(TaskEntry, Frames)> {
        let entry = self.manifest.shards.get(i).ok_or_else(|| {
            LearnError::dataset(
                &self.dir,
                format!("no shard {i} (dataset has {})", self.manifest.shards.len()),
            )
        })?;
        let path = self.dir.join(&entry.file);
        let task = self
            .manifest
            .tasks
            .iter()
            .find(|t| t.name == entry.task)
            .cloned()
            .ok_or_else(|| LearnError::dataset(&path, format!("unknown task `{}`", entry.task)))?;
        let got = file_hash(&path)?;
        if got != entry.fnv1a {
            return Err(LearnError::dataset(
                &path,
                format!(
                    "shard does not match the manifest (fnv1a {got}, expected {}): truncated or altered",
                    entry.fnv1a
                ),
            ));
        }
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| LearnError::dataset(&path, format!("not readable as safetensors: {e}")))?;
        let f = entry.frames;
        let s = self.manifest.image_size;
        let frames = Frames {
            image: column(&tensors, &path, "image", f, s * s * 3, |t| {
                t.flatten_all()?.to_vec1::<u8>()
            })?,
            proprio: column(&tensors, &path, "proprio", f, task.proprio_dim, f32s)?,
            state: column(&tensors, &path, "state", f, task.state_dim, f32s)?,
            action: column(&tensors, &path, "action", f, task.action_dim, f32s)?,
            reward: column(&tensors, &path, "reward", f, 1, f32s)?,
            done: column(&tensors, &path, "done", f, 1, |t| {
                t.flatten_all()?.to_vec1::<u8>()
            })?,
            success: column(&tensors, &path, "success", f, 1, |t| {
                t.flatten_all()?.to_vec1::<u8>()
            })?,
            task: column(&tensors, &path, "task", f, 1, |t| {
                t.flatten_all()?.to_vec1::<u32>()
            })?,
            q: column(&tensors, &path, "q", f, 1, f32s)?,
        };
        Ok((task, frames))
    }

    /// Episode `i`, counting over all shards in order.
    pub fn episode(&self, i: usize) -> Result<Episode> {
        let mut k = i;
        for (si, s) in self.manifest.shards.iter().enumerate() {
            if k < s.episodes.len() {
                let (task, frames) = self.read_shard(si)?;
                let e = s.episodes[k].clone();
                let frames =
                    slice_frames(&frames, e.start, e.frames, &task, self.manifest.image_size);
                return Ok(Episode {
                    task,
                    entry: e,
                    frames,
                    image_size: self.manifest.image_size,
                });
            }
            k -= s.episodes.len();
        }
        Err(LearnError::dataset(
            self.dir.join("manifest.json"),
            format!(
                "no episode {i}: the dataset has {} episodes",
                self.episodes()
            ),
        ))
    }
}

fn f32s(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

fn column<T>(
    tensors: &HashMap<String, Tensor>,
    path: &Path,
    name: &str,
    frames: usize,
    width: usize,
    read: impl Fn(&Tensor) -> candle_core::Result<Vec<T>>,
) -> Result<Vec<T>> {
    let t = tensors
        .get(name)
        .ok_or_else(|| LearnError::dataset(path, format!("missing tensor `{name}`")))?;
    let mut v = read(t).map_err(|e| LearnError::dataset(path, format!("tensor `{name}`: {e}")))?;
    if v.len() < frames * width {
        return Err(LearnError::dataset(
            path,
            format!(
                "tensor `{name}` holds {} values, the manifest needs {frames} frames x {width}",
                v.len()
            ),
        ));
    }
    v.truncate(frames * width);
    Ok(v)
}

/// Frames `[start, start + n)` of a run.
pub fn slice_frames(f: &Frames, start: usize, n: usize, task: &TaskEntry, image: usize) -> Frames {
    let r = |w: usize| start * w..(start + n) * w;
    Frames {
        image: f.image[r(image * image * 3)].to_vec(),
        proprio: f.proprio[r(task.proprio_dim)].to_vec(),
        state: f.state[r(task.state_dim)].to_vec(),
        action: f.action[r(task.action_dim)].to_vec(),
        reward: f.reward[r(1)].to_vec(),
        done: f.done[r(1)].to_vec(),
        success: f.success[r(1)].to_vec(),
        task: f.task[r(1)].to_vec(),
        q: f.q[r(1)].to_vec(),
    }
}
