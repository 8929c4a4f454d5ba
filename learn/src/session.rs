//! Sessions: a folder with a `session.json` manifest (what the studio
//! restores: task, seed, driver, speed, viewports) beside the folders the
//! commands fill (`experts/`, `data/`, `students/`, `captures/`).
//!
//! Every write goes through a temporary file and a rename, so a crash in
//! the middle of a save leaves the previous manifest, never half of one.
//! This module knows nothing of Bevy: the studio's session plugin and the
//! CLI share it.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{LearnError, Result};
use crate::fsio::{write_atomic_with, write_json};

/// Format tag of a session manifest.
pub const SESSION_FORMAT: &str = "dexstudio-session/1";
/// The manifest's file name inside a session folder.
pub const MANIFEST: &str = "session.json";
/// The folders a session holds; `save_as` copies these.
pub const FOLDERS: [&str; 4] = ["experts", "data", "students", "captures"];
/// Format tag of the recent-sessions list.
pub const RECENT_FORMAT: &str = "dexstudio-recent/1";
/// How many sessions the recent list keeps.
pub const MAX_RECENT: usize = 10;

/// One viewport's state, when the studio shows more than one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ViewState {
    /// Task open in the viewport.
    pub task: String,
    /// Seed of its episode.
    pub seed: u64,
    /// Who acts (`zero`, `random`, `expert`, `teleop`, ...).
    pub driver: String,
}

/// The contents of `session.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    /// Always [`SESSION_FORMAT`].
    pub format: String,
    /// Display name (the folder's name unless renamed).
    pub name: String,
    /// When the session was created (UTC, ISO 8601).
    pub created: String,
    /// When the manifest was last saved (UTC, ISO 8601).
    pub modified: String,
    /// Task of the (first) viewport.
    pub task: String,
    /// Seed of its episode.
    pub seed: u64,
    /// Its driver, by name; the studio falls back to zero actions for a
    /// name it does not know.
    pub driver: String,
    /// Playback speed (multiple of real time).
    pub speed: f32,
    /// Every viewport, left to right, when there are more than one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub viewports: Vec<ViewState>,
}

impl Manifest {
    /// A fresh manifest named `name`: reach-easy, seed 0, zero actions.
    pub fn new(name: &str) -> Self {
        let now = now_utc();
        Self {
            format: SESSION_FORMAT.into(),
            name: name.into(),
            created: now.clone(),
            modified: now,
            task: "reach-easy".into(),
            seed: 0,
            driver: "zero".into(),
            speed: 1.0,
            viewports: Vec::new(),
        }
    }

    /// Parse and validate manifest `text` read from `path`; errors name
    /// the file and the field.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let bad = |m: String| LearnError::session(path, m);
        let value: Value =
            serde_json::from_str(text).map_err(|e| bad(format!("malformed JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(bad("expected a JSON object".into()));
        };
        let format: String = field(path, &obj, "format").map_err(|_| {
            bad(format!(
                "no `format` field: not a {SESSION_FORMAT} manifest"
            ))
        })?;
        if format != SESSION_FORMAT {
            return Err(bad(format!(
                "field `format`: unknown format `{format}` (this dexstudio reads {SESSION_FORMAT})"
            )));
        }
        let m = Self {
            format,
            name: field(path, &obj, "name")?,
            created: field(path, &obj, "created")?,
            modified: field(path, &obj, "modified")?,
            task: field(path, &obj, "task")?,
            seed: field(path, &obj, "seed")?,
            driver: field(path, &obj, "driver")?,
            speed: field(path, &obj, "speed")?,
            viewports: match obj.get("viewports") {
                None | Some(Value::Null) => Vec::new(),
                Some(_) => field(path, &obj, "viewports")?,
            },
        };
        for (name, value) in [("name", &m.name), ("task", &m.task), ("driver", &m.driver)] {
            if value.trim().is_empty() {
                return Err(bad(format!("field `{name}`: must not be empty")));
            }
        }
        if !(m.speed.is_finite() && m.speed > 0.0) {
            return Err(bad(format!(
                "field `speed`: {} is not a positive speed",
                m.speed
            )));
        }
        Ok(m)
    }
}

/// Field `name` of a manifest object, with an error naming file and field.
fn field<T: DeserializeOwned>(path: &Path, obj: &Map<String, Value>, name: &str) -> Result<T> {
    let v = obj
        .get(name)
        .ok_or_else(|| LearnError::session(path, format!("missing field `{name}`")))?;
    serde_json::from_value(v.clone())
        .map_err(|e| LearnError::session(path, format!("field `{name}`: {e}")))
}

/// A session: its folder and its manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// The session folder.
    pub dir: PathBuf,
    /// What `session.json` holds (or will once saved).
    pub manifest: Manifest,
}

impl Session {
    /// The manifest file of the session in `dir`.
    pub fn manifest_path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST)
    }

    /// Whether `dir` holds a session manifest.
    pub fn exists(dir: &Path) -> bool {
        Self::manifest_path(dir).is_file()
    }

    /// Read and validate the session in `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let path = Self::manifest_path(dir);
        let text = std::fs::read_to_string(&path).map_err(|e| LearnError::io(&path, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            manifest: Manifest::parse(&path, &text)?,
        })
    }

    /// A new session in `dir` (created if missing), named after the folder.
    /// Refuses a folder that already holds a session, so nothing is
    /// overwritten; files already there (a dataset, experts) stay and
    /// become the session's.
    pub fn create(dir: &Path) -> Result<Self> {
        let path = Self::manifest_path(dir);
        if path.exists() {
            return Err(LearnError::session(
                &path,
                "a session already exists here; open it instead",
            ));
        }
        for f in FOLDERS {
            let sub = dir.join(f);
            std::fs::create_dir_all(&sub).map_err(|e| LearnError::io(&sub, e))?;
        }
        let mut s = Self {
            dir: dir.to_path_buf(),
            manifest: Manifest::new(&folder_name(dir)),
        };
        s.save()?;
        Ok(s)
    }

    /// The session in `dir`, created there if it has no manifest yet.
    pub fn open_or_create(dir: &Path) -> Result<Self> {
        if Self::exists(dir) {
            Self::open(dir)
        } else {
            Self::create(dir)
        }
    }

    /// Stamp the modification time and write the manifest atomically.
    pub fn save(&mut self) -> Result<()> {
        self.manifest.modified = now_utc();
        write_json(&Self::manifest_path(&self.dir), &self.manifest)
    }

    /// Copy this session's folders to `dir` and save the manifest there
    /// (last, so an interrupted copy never looks like a session). The
    /// source is only read: nothing saved in it can be lost.
    pub fn save_as(&self, dir: &Path) -> Result<Self> {
        let target = Self::manifest_path(dir);
        if target.exists() {
            return Err(LearnError::session(
                &target,
                "a session already exists here; pick an empty folder",
            ));
        }
        let (from, to) = (absolute(&self.dir), absolute(dir));
        if to.starts_with(&from) {
            return Err(LearnError::session(
                dir,
                format!(
                    "cannot save a session inside itself ({})",
                    self.dir.display()
                ),
            ));
        }
        for f in FOLDERS {
            copy_tree(&self.dir.join(f), &dir.join(f))?;
        }
        let now = now_utc();
        let mut s = Self {
            dir: dir.to_path_buf(),
            manifest: Manifest {
                name: folder_name(dir),
                created: now,
                ..self.manifest.clone()
            },
        };
        s.save()?;
        Ok(s)
    }
}

/// `path` made absolute (resolving links where it exists), as the recent
/// list stores it.
pub fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The last component of `dir`, or "session".
fn folder_name(dir: &Path) -> String {
    absolute(dir)
        .file_name()
        .map_or_else(|| "session".into(), |n| n.to_string_lossy().into_owned())
}

/// Copy the files under `from` to `to`, each through a temporary file;
/// leftovers of interrupted writes (`*.part`) are skipped. A missing
/// `from` copies nothing.
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(LearnError::io(from, e)),
    };
    std::fs::create_dir_all(to).map_err(|e| LearnError::io(to, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LearnError::io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        // Follows links, so a linked dataset is copied, not re-linked.
        let meta = std::fs::metadata(&src).map_err(|e| LearnError::io(&src, e))?;
        if meta.is_dir() {
            copy_tree(&src, &dst)?;
        } else if src.extension().is_none_or(|x| x != "part") {
            write_atomic_with(&dst, |tmp| std::fs::copy(&src, tmp).map(drop))?;
        }
    }
    Ok(())
}

/// The sessions opened last, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Recent {
    /// Always [`RECENT_FORMAT`].
    pub format: String,
    /// Absolute session folders.
    pub sessions: Vec<PathBuf>,
}

impl Recent {
    /// Where the list lives: `$XDG_CONFIG_HOME/dexstudio/recent.json`, else
    /// `~/.config/dexstudio/recent.json`; `None` without either variable.
    pub fn default_path() -> Option<PathBuf> {
        let var = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
        let config = var("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(config.join("dexstudio").join("recent.json"))
    }

    /// The list in `path`: empty when the file is missing, and empty with
    /// a warning when it is unreadable or corrupt (a broken list must
    /// never keep the studio from starting).
    pub fn load(path: &Path) -> (Self, Option<String>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Self::empty(), None),
            Err(e) => {
                let warn = format!("{}: {e}; starting an empty recent list", path.display());
                return (Self::empty(), Some(warn));
            }
        };
        match serde_json::from_str::<Self>(&text) {
            Ok(r) if r.format == RECENT_FORMAT => (r, None),
            Ok(r) => {
                let warn = format!(
                    "{}: unknown format `{}`; starting an empty recent list",
                    path.display(),
                    r.format
                );
                (Self::empty(), Some(warn))
            }
            Err(e) => {
                let warn = format!(
                    "{}: corrupt ({e}); starting an empty recent list",
                    path.display()
                );
                (Self::empty(), Some(warn))
            }
        }
    }

    /// An empty list.
    pub fn empty() -> Self {
        Self {
            format: RECENT_FORMAT.into(),
            sessions: Vec::new(),
        }
    }

    /// Put `dir` first (absolute, once), keeping [`MAX_RECENT`].
    pub fn add(&mut self, dir: &Path) {
        let dir = absolute(dir);
        self.sessions.retain(|d| *d != dir);
        self.sessions.insert(0, dir);
        self.sessions.truncate(MAX_RECENT);
    }

    /// Write the list atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_json(path, self)
    }
}

/// The present moment as UTC ISO 8601, to the second.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    iso8601(secs)
}

/// `secs` since the Unix epoch as `YYYY-MM-DDThh:mm:ssZ` (Howard
/// Hinnant's days-to-civil; no date crate for one timestamp).
fn iso8601(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days.cast_signed() + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsio::temp_path;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("dexlearn-session-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn timestamps_are_iso8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn a_session_round_trips() {
        let dir = temp("round");
        let mut s = Session::create(&dir).expect("create");
        for f in FOLDERS {
            assert!(dir.join(f).is_dir(), "{f}/ made");
        }
        s.manifest.task = "key-turn-hard".into();
        s.manifest.seed = 42;
        s.manifest.driver = "expert".into();
        s.manifest.speed = 2.5;
        s.manifest.viewports = vec![ViewState {
            task: "reach-easy".into(),
            seed: 1,
            driver: "random".into(),
        }];
        s.save().expect("save");
        let back = Session::open(&dir).expect("open");
        assert_eq!(back, s);
        assert!(Session::create(&dir).is_err(), "never overwrites a session");
        assert_eq!(Session::open_or_create(&dir).expect("open"), s);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failed_save_keeps_the_old_manifest() {
        let dir = temp("atomic");
        let mut s = Session::create(&dir).expect("create");
        s.manifest.seed = 7;
        s.save().expect("save");
        let before = std::fs::read(Session::manifest_path(&dir)).expect("read");
        // A folder where the temporary file must go: the write fails.
        std::fs::create_dir_all(temp_path(&Session::manifest_path(&dir))).expect("block");
        s.manifest.seed = 8;
        assert!(s.save().is_err());
        let after = std::fs::read(Session::manifest_path(&dir)).expect("read");
        assert_eq!(before, after, "the old manifest is intact");
        assert_eq!(Session::open(&dir).expect("open").manifest.seed, 7);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_manifests_name_the_file_and_field() {
        let dir = temp("bad");
        let mut s = Session::create(&dir).expect("create");
        s.save().expect("save");
        let path = Session::manifest_path(&dir);
        let good = std::fs::read_to_string(&path).expect("read");
        let cases = [
            ("{ \"format\": ", "malformed JSON"),
            ("[1, 2]", "expected a JSON object"),
            (
                &good.replace(SESSION_FORMAT, "dexstudio-session/9"),
                "unknown format `dexstudio-session/9`",
            ),
            (
                &good.replace("\"seed\": 0", "\"seed\": \"zero\""),
                "field `seed`",
            ),
            (
                &good.replace("\"speed\": 1.0", "\"speed\": -1.0"),
                "field `speed`",
            ),
            (
                &good.replace("\"task\"", "\"tusk\""),
                "missing field `task`",
            ),
            ("{}", "no `format` field"),
        ];
        for (text, needle) in cases {
            std::fs::write(&path, text).expect("write");
            let err = Session::open(&dir).expect_err(needle).to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
            assert!(
                err.contains(&path.display().to_string()),
                "{err} lacks the file"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn save_as_copies_the_folders_and_keeps_the_source() {
        let (a, b) = (temp("from"), temp("to"));
        let mut s = Session::create(&a).expect("create");
        s.manifest.task = "pose-easy".into();
        s.save().expect("save");
        std::fs::create_dir_all(a.join("data/nested")).expect("mkdir");
        std::fs::write(a.join("data/manifest.json"), b"{}").expect("write");
        std::fs::write(a.join("data/nested/shard.bin"), b"abc").expect("write");
        std::fs::write(a.join("data/shard.bin.part"), b"half").expect("write");
        let copy = s.save_as(&b).expect("save as");
        assert_eq!(copy.manifest.task, "pose-easy");
        assert_eq!(copy.dir, b);
        assert_eq!(
            std::fs::read(b.join("data/nested/shard.bin")).expect("copied"),
            b"abc"
        );
        assert!(
            !b.join("data/shard.bin.part").exists(),
            "leftovers are not copied"
        );
        assert_eq!(Session::open(&b).expect("open").manifest, copy.manifest);
        assert_eq!(Session::open(&a).expect("source").manifest, s.manifest);
        assert!(
            a.join("data/nested/shard.bin").is_file(),
            "the source keeps its data"
        );
        assert!(s.save_as(&b).is_err(), "never over another session");
        assert!(s.save_as(&a.join("inner")).is_err(), "never inside itself");
        let _ = std::fs::remove_dir_all(&a);
        let _ = std::fs::remove_dir_all(&b);
    }

    #[test]
    fn the_recent_list_survives_corruption() {
        let dir = temp("recent");
        let path = dir.join("dexstudio/recent.json");
        let (r, warn) = Recent::load(&path);
        assert!(
            r.sessions.is_empty() && warn.is_none(),
            "missing: empty, quiet"
        );

        let mut r = Recent::empty();
        for i in 0..(MAX_RECENT + 2) {
            r.add(&dir.join(format!("s{i}")));
        }
        r.add(&dir.join("s3"));
        r.save(&path).expect("save");
        let (back, warn) = Recent::load(&path);
        assert!(warn.is_none());
        assert_eq!(back, r);
        assert_eq!(back.sessions.len(), MAX_RECENT);
        assert!(
            back.sessions[0].ends_with("s3"),
            "the last added comes first"
        );

        std::fs::write(&path, b"{ not json").expect("corrupt");
        let (r, warn) = Recent::load(&path);
        assert!(r.sessions.is_empty());
        assert!(warn.is_some_and(|w| w.contains("corrupt") && w.contains("recent.json")));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
