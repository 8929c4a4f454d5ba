//! Dataset shards: round trip, interrupted writers, and corrupt shards.

use dexlearn::data::{Dataset, DatasetWriter, EpisodeEntry, Frames, TaskEntry};

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("dexdata-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn task() -> TaskEntry {
    TaskEntry {
        name: "toy".into(),
        index: 3,
        state_dim: 2,
        proprio_dim: 1,
        action_dim: 1,
    }
}

fn episode(n: usize, k: f32) -> (EpisodeEntry, Frames) {
    let f = Frames {
        image: (0..n * 4 * 4 * 3).map(|i| (i as f32 * k) as u8).collect(),
        proprio: (0..n).map(|i| i as f32 * k).collect(),
        state: (0..2 * n).map(|i| i as f32 + k).collect(),
        action: (0..n).map(|i| -(i as f32) * k).collect(),
        reward: vec![k; n],
        done: (0..n).map(|i| u8::from(i + 1 == n)).collect(),
        success: vec![1; n],
        task: vec![3; n],
        q: (0..n).map(|i| i as f32 * 0.5).collect(),
    };
    let e = EpisodeEntry {
        start: 0,
        frames: n,
        seed: k as u64,
        ret: f64::from(k) * n as f64,
        solved: true,
        source: "test".into(),
    };
    (e, f)
}

#[test]
fn round_trip_across_shards() {
    let dir = tmp("rt");
    let mut w = DatasetWriter::open(&dir, 4, 2).expect("open");
    let eps: Vec<_> = (1..=5).map(|k| episode(3 + k, k as f32)).collect();
    for (e, f) in &eps {
        w.append(&task(), e.clone(), f).expect("append");
    }
    let d = Dataset::open(&dir).expect("open");
    assert_eq!(d.episodes(), 5);
    assert_eq!(d.manifest.shards.len(), 3, "chunks of 2 episodes");
    for (i, (_, f)) in eps.iter().enumerate() {
        let ep = d.episode(i).expect("episode");
        assert_eq!(&ep.frames, f, "episode {i}");
        assert_eq!(ep.goal_image(), ep.image(f.len() - 1));
    }
    // Appending later continues the dataset.
    let mut w = DatasetWriter::open(&dir, 4, 2).expect("reopen");
    let (e, f) = episode(2, 9.0);
    w.append(&task(), e, &f).expect("append");
    assert_eq!(Dataset::open(&dir).expect("open").episodes(), 6);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A writer killed after writing a new shard version but before the
/// manifest leaves the previous, complete state readable, and the next
/// writer cleans the orphan up.
#[test]
fn interrupted_write_keeps_finished_episodes() {
    let dir = tmp("kill");
    let mut w = DatasetWriter::open(&dir, 4, 10).expect("open");
    let (e, f) = episode(4, 1.0);
    w.append(&task(), e, &f).expect("append");
    let manifest = std::fs::read(dir.join("manifest.json")).expect("manifest");
    let first = Dataset::open(&dir).expect("open").manifest.shards[0]
        .file
        .clone();
    let shard = std::fs::read(dir.join(&first)).expect("shard");
    let (e2, f2) = episode(5, 2.0);
    w.append(&task(), e2, &f2).expect("append");
    // Roll back to the moment of the kill: new shard version written (now
    // an orphan), old manifest and old shard version still in place.
    std::fs::write(dir.join("manifest.json"), &manifest).expect("manifest");
    std::fs::write(dir.join(&first), &shard).expect("shard");
    std::fs::write(dir.join("manifest.json.part"), b"{ half").expect("part");
    let d = Dataset::open(&dir).expect("open after kill");
    assert_eq!(d.episodes(), 1);
    assert_eq!(d.episode(0).expect("episode").frames, f);
    let files = || std::fs::read_dir(&dir).expect("dir").count();
    let before = files();
    let mut w = DatasetWriter::open(&dir, 4, 10).expect("reopen");
    assert_eq!(files(), before - 1, "orphan shard removed");
    w.append(&task(), episode(3, 3.0).0, &episode(3, 3.0).1)
        .expect("append");
    assert_eq!(Dataset::open(&dir).expect("open").episodes(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_shard_names_the_file() {
    let dir = tmp("trunc");
    let mut w = DatasetWriter::open(&dir, 4, 10).expect("open");
    let (e, f) = episode(6, 1.0);
    w.append(&task(), e, &f).expect("append");
    let d = Dataset::open(&dir).expect("open");
    let shard = dir.join(&d.manifest.shards[0].file);
    let bytes = std::fs::read(&shard).expect("read");
    std::fs::write(&shard, &bytes[..bytes.len() - 100]).expect("truncate");
    let msg = d
        .episode(0)
        .map(|_| ())
        .expect_err("truncated shard read")
        .to_string();
    assert!(msg.contains(&d.manifest.shards[0].file), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
    std::fs::write(dir.join("manifest.json"), "[1, 2").expect("garbage");
    let msg = Dataset::open(&dir)
        .map(|_| ())
        .expect_err("garbage manifest")
        .to_string();
    assert!(msg.contains("manifest.json"), "{msg}");
    let _ = std::fs::remove_dir_all(&dir);
}
