//! Appending episodes to a dataset, atomically, one episode at a time.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::{DATASET_FORMAT, EpisodeEntry, Frames, Manifest, ShardEntry, TaskEntry};
use crate::error::{LearnError, Result};
use crate::expert::write_tensors;
use crate::fsio::{file_hash, write_json};

/// Writes episodes into a dataset folder (new or existing).
#[derive(Debug)]
pub struct DatasetWriter {
    dir: PathBuf,
    manifest: Manifest,
    chunk: usize,
    /// Frames of the open shard (the last one, if it has room).
    open: Option<(usize, Frames)>,
    version: u64,
}

impl DatasetWriter {
    /// Open `dir` for appending (creating it), with at most `chunk`
    /// episodes per shard. An existing dataset must have the same image size.
    pub fn open(dir: &Path, image_size: usize, chunk: usize) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| LearnError::io(dir, e))?;
        let mpath = dir.join("manifest.json");
        let manifest = if mpath.exists() {
            let d = super::Dataset::open(dir)?;
            if d.manifest.image_size != image_size {
                return Err(LearnError::dataset(
                    &mpath,
                    format!(
                        "existing images are {0}x{0}, asked to append {image_size}x{image_size}",
                        d.manifest.image_size
                    ),
                ));
            }
            d.manifest
        } else {
            Manifest {
                format: DATASET_FORMAT.into(),
                image_size,
                tasks: Vec::new(),
                shards: Vec::new(),
            }
        };
        let version = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut w = Self {
            dir: dir.to_path_buf(),
            manifest,
            chunk: chunk.max(1),
            open: None,
            version,
        };
        w.clean_orphans();
        Ok(w)
    }

    /// The manifest as written so far.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Remove shard files the manifest does not name (left by a kill
    /// between writing a shard and the manifest).
    fn clean_orphans(&mut self) {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let named = self.manifest.shards.iter().any(|s| s.file == name);
            if name.starts_with("shard-") && !named {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Append one finished episode and make it durable: the shard is
    /// rewritten under a new name, then the manifest, then the old shard
    /// version is removed.
    pub fn append(&mut self, task: &TaskEntry, entry: EpisodeEntry, frames: &Frames) -> Result<()> {
        let s = self.manifest.image_size;
        let n = frames.len();
        let ok = n > 0
            && entry.frames == n
            && frames.image.len() == n * s * s * 3
            && frames.state.len() == n * task.state_dim
            && frames.proprio.len() == n * task.proprio_dim
            && frames.action.len() == n * task.action_dim
            && frames.q.len() == n
            && frames.task.len() == n;
        if !ok {
            return Err(LearnError::dataset(
                &self.dir,
                format!(
                    "episode of {} has inconsistent columns ({n} frames)",
                    task.name
                ),
            ));
        }
        match self.manifest.tasks.iter().find(|t| t.name == task.name) {
            Some(t) if t != task => {
                return Err(LearnError::dataset(
                    self.dir.join("manifest.json"),
                    format!("task `{}` is stored with other widths: {t:?}", task.name),
                ));
            }
            Some(_) => {}
            None => self.manifest.tasks.push(task.clone()),
        }
        // Continue the last shard if it is ours, of this task and has room.
        let last = self.manifest.shards.len().checked_sub(1);
        let reuse = match (&self.open, last) {
            (Some((i, _)), Some(l)) => {
                *i == l
                    && self.manifest.shards[l].task == task.name
                    && self.manifest.shards[l].episodes.len() < self.chunk
            }
            _ => false,
        };
        if !reuse {
            self.manifest.shards.push(ShardEntry {
                file: String::new(),
                task: task.name.clone(),
                episodes: Vec::new(),
                frames: 0,
                bytes: 0,
                fnv1a: String::new(),
            });
            self.open = Some((self.manifest.shards.len() - 1, Frames::default()));
        }
        let Some((si, buf)) = self.open.as_mut() else {
            return Err(LearnError::dataset(&self.dir, "no open shard"));
        };
        let si = *si;
        let start = buf.len();
        buf.extend(frames);
        let all = buf.clone();
        self.version += 1;
        let file = format!("shard-{si:06}-v{}.safetensors", self.version);
        let path = self.dir.join(&file);
        write_tensors(&path, shard_tensors(&all, task, s)?)?;
        let shard = &mut self.manifest.shards[si];
        let old = std::mem::replace(&mut shard.file, file);
        shard.episodes.push(EpisodeEntry { start, ..entry });
        shard.frames = all.len();
        shard.bytes = std::fs::metadata(&path)
            .map_err(|e| LearnError::io(&path, e))?
            .len();
        shard.fnv1a = file_hash(&path)?;
        write_json(&self.dir.join("manifest.json"), &self.manifest)?;
        if !old.is_empty() {
            let _ = std::fs::remove_file(self.dir.join(old));
        }
        Ok(())
    }
}

fn shard_tensors(f: &Frames, task: &TaskEntry, s: usize) -> Result<Vec<(String, Tensor)>> {
    let n = f.len();
    let d = Device::Cpu;
    Ok(vec![
        (
            "image".into(),
            Tensor::from_slice(&f.image, (n, s, s, 3), &d)?,
        ),
        (
            "proprio".into(),
            Tensor::from_slice(&f.proprio, (n, task.proprio_dim), &d)?,
        ),
        (
            "state".into(),
            Tensor::from_slice(&f.state, (n, task.state_dim), &d)?,
        ),
        (
            "action".into(),
            Tensor::from_slice(&f.action, (n, task.action_dim), &d)?,
        ),
        ("reward".into(), Tensor::from_slice(&f.reward, n, &d)?),
        ("done".into(), Tensor::from_slice(&f.done, n, &d)?),
        ("success".into(), Tensor::from_slice(&f.success, n, &d)?),
        ("task".into(), Tensor::from_slice(&f.task, n, &d)?),
        ("q".into(), Tensor::from_slice(&f.q, n, &d)?),
    ])
}
