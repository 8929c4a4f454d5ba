//! Task specifications: one TOML file per task under `scenes/tasks/`, and
//! `scenes/suites.toml`. Parsing rejects unknown fields and reports the file,
//! the field and the line, because a silently ignored typo in a reward weight
//! would quietly change an experiment.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Result, SimError};

/// What a task asks for; each family has its own goal, reward and success.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// Move the fingertips to goal positions.
    Reach,
    /// Match a goal finger posture.
    Pose,
    /// Lift an object and hold it at a goal position.
    ObjHold,
    /// Turn a key in its lock to a goal angle.
    KeyTurn,
    /// Spin a pen on the table to a goal heading.
    PenTwirl,
    /// Press a spray bottle's trigger while keeping the bottle upright.
    Spray,
    /// Open a pair of scissors with two hands.
    Scissors,
    /// Press two switches at once, one per hand.
    Switch,
    /// Lift a bottle's cap off while holding the bottle.
    BottleCap,
}

/// A goal parameter: a fixed value (easy tasks) or a uniform range (hard).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum GoalValue {
    /// Always this value.
    Fixed(f64),
    /// Uniform in `[lo, hi]`.
    Range([f64; 2]),
}

impl GoalValue {
    /// Whether the value is sampled.
    pub fn is_random(&self) -> bool {
        matches!(self, GoalValue::Range(_))
    }
}

/// Weights of the reward terms; a term a family does not compute is unused.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RewardWeights {
    /// Negative distance of the task quantity to its goal.
    #[serde(default)]
    pub goal: f64,
    /// Negative distance of the fingertips to the part they must touch.
    #[serde(default)]
    pub reach: f64,
    /// Progress toward the goal in [0, 1] (pressing, opening, lifting).
    #[serde(default)]
    pub progress: f64,
    /// Uprightness of a bottle, `cos(tilt) - 1`.
    #[serde(default)]
    pub upright: f64,
    /// Bonus while the success predicate holds.
    #[serde(default)]
    pub success: f64,
    /// Penalty on the squared action norm (mean over actuators).
    #[serde(default)]
    pub action: f64,
    /// Penalty on the step where the object is dropped.
    #[serde(default)]
    pub drop: f64,
}

/// The fixed camera of a task's observation image.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Eye position (m).
    pub eye: [f32; 3],
    /// Point looked at (m).
    pub target: [f32; 3],
    /// Vertical field of view (degrees).
    #[serde(default = "default_fov")]
    pub fov_deg: f32,
}

fn default_fov() -> f32 {
    55.0
}

impl Default for CameraSpec {
    fn default() -> Self {
        Self {
            eye: [0.17, 0.36, 0.27],
            target: [0.0, 0.1, 0.05],
            fov_deg: default_fov(),
        }
    }
}

/// One task, as written in `scenes/tasks/<name>.toml`.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Unique name, e.g. `key-turn-hard`.
    pub name: String,
    /// One or two sentences for people.
    pub description: String,
    /// Which family's goal, reward and success logic applies.
    pub family: Family,
    /// Scene file, relative to the scenes directory.
    pub scene: String,
    /// Object bodies the family reads, in the family's order (docs/tasks.md).
    #[serde(default)]
    pub bodies: Vec<String>,
    /// Object joints the family reads, in the family's order.
    #[serde(default)]
    pub joints: Vec<String>,
    /// Episode length in control steps.
    pub episode_steps: usize,
    /// Control rate (Hz); the physics substeps per control step follow from
    /// the scene's timestep.
    pub control_hz: f64,
    /// The success predicate must hold this many consecutive control steps
    /// for the episode to count as solved.
    #[serde(default = "default_hold")]
    pub hold_steps: usize,
    /// End the episode once it is solved.
    #[serde(default)]
    pub terminate_on_success: bool,
    /// End the episode when the object is dropped or knocked away.
    #[serde(default)]
    pub terminate_on_drop: bool,
    /// Success threshold, in the family's unit (m, rad or fraction).
    pub success_threshold: f64,
    /// Std of the uniform noise on initial hand joint positions (rad or m).
    #[serde(default)]
    pub init_noise: f64,
    /// Half-width of the uniform noise on initial object x/y positions (m).
    #[serde(default)]
    pub object_noise: f64,
    /// Named goal parameters of the family (fixed values or ranges).
    #[serde(default)]
    pub goal: BTreeMap<String, GoalValue>,
    /// Reward term weights.
    pub reward: RewardWeights,
    /// Camera of the observation image.
    #[serde(default)]
    pub camera: CameraSpec,
}

fn default_hold() -> usize {
    5
}

/// `scenes/suites.toml`: suite name to task names.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuitesFile {
    /// Suites in file order.
    pub suites: BTreeMap<String, Vec<String>>,
}

/// 1-based line and column of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let upto = &source[..offset.min(source.len())];
    let line = upto.matches('\n').count() + 1;
    let column = upto
        .rfind('\n')
        .map_or(upto.len(), |nl| upto.len() - nl - 1)
        + 1;
    (line, column)
}

/// Line of the first `key =` assignment (or `[key]` table), for semantic
/// errors found after parsing.
fn line_of_key(source: &str, key: &str) -> (usize, usize) {
    for (i, l) in source.lines().enumerate() {
        let t = l.trim_start();
        let is_assign = t.strip_prefix(key).is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.starts_with('=') || rest.starts_with('.')
        });
        if is_assign || t.starts_with(&format!("[{key}]")) {
            return (i + 1, l.len() - t.len() + 1);
        }
    }
    (1, 1)
}

/// Parse TOML text into `T`, mapping errors to [`SimError::Spec`].
pub fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, source: &str) -> Result<T> {
    toml::from_str(source).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_col(source, s.start));
        // Type errors point at the value; name the field it belongs to.
        let key = source
            .lines()
            .nth(line - 1)
            .and_then(|l| l.split_once('='))
            .map(|(k, _)| k.trim().to_string())
            .filter(|k| !k.is_empty() && !e.message().contains(k.as_str()));
        let message = match key {
            Some(k) => format!("field `{k}`: {}", e.message()),
            None => e.message().to_string(),
        };
        SimError::Spec {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    })
}

fn spec_err(path: &Path, source: &str, key: &str, message: String) -> SimError {
    let (line, column) = line_of_key(source, key);
    SimError::Spec {
        path: path.to_path_buf(),
        line,
        column,
        message: format!("field `{key}`: {message}"),
    }
}

/// Goal parameters each family accepts, so a misspelt one is an error.
pub fn goal_keys(family: Family) -> &'static [&'static str] {
    match family {
        Family::Reach | Family::Pose => &["curl", "spread", "thumb"],
        Family::ObjHold => &["x", "y", "z"],
        Family::KeyTurn => &["angle"],
        Family::PenTwirl => &["yaw"],
        Family::Spray => &["press"],
        Family::Scissors => &["open"],
        Family::Switch => &["press", "flip"],
        Family::BottleCap => &["lift"],
    }
}

/// How many object bodies and joints each family reads.
pub fn object_counts(family: Family) -> (usize, usize) {
    match family {
        Family::Reach | Family::Pose => (0, 0),
        Family::ObjHold | Family::PenTwirl => (1, 0),
        Family::KeyTurn | Family::Spray => (1, 1),
        Family::Scissors => (2, 1),
        Family::Switch => (2, 2),
        Family::BottleCap => (2, 1),
    }
}

impl TaskSpec {
    /// Read and validate a task file.
    pub fn load(path: &Path) -> Result<Self> {
        let source = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &source)
    }

    /// Parse and validate task text; `path` is only used in errors.
    pub fn parse(path: &Path, source: &str) -> Result<Self> {
        let spec: TaskSpec = parse_toml(path, source)?;
        spec.validate(path, source)?;
        Ok(spec)
    }

    fn validate(&self, path: &Path, source: &str) -> Result<()> {
        let err = |key: &str, msg: String| Err(spec_err(path, source, key, msg));
        if self.name.trim().is_empty() {
            return err("name", "must not be empty".into());
        }
        if !(1..=10_000).contains(&self.episode_steps) {
            return err(
                "episode_steps",
                format!("{} is outside 1..=10000", self.episode_steps),
            );
        }
        if !(self.control_hz.is_finite() && self.control_hz > 0.0 && self.control_hz <= 1000.0) {
            return err(
                "control_hz",
                format!("{} must be in (0, 1000]", self.control_hz),
            );
        }
        if self.hold_steps == 0 || self.hold_steps > self.episode_steps {
            return err(
                "hold_steps",
                format!("{} must be in 1..=episode_steps", self.hold_steps),
            );
        }
        if !(self.success_threshold.is_finite() && self.success_threshold > 0.0) {
            return err(
                "success_threshold",
                format!("{} must be a positive number", self.success_threshold),
            );
        }
        for (key, v) in [
            ("init_noise", self.init_noise),
            ("object_noise", self.object_noise),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return err(key, format!("{v} must be a non-negative number"));
            }
        }
        let (nb, nj) = object_counts(self.family);
        if self.bodies.len() != nb {
            return err(
                "bodies",
                format!(
                    "family {:?} needs {nb} object bodies, got {}",
                    self.family,
                    self.bodies.len()
                ),
            );
        }
        if self.joints.len() != nj {
            return err(
                "joints",
                format!(
                    "family {:?} needs {nj} object joints, got {}",
                    self.family,
                    self.joints.len()
                ),
            );
        }
        let known = goal_keys(self.family);
        for (key, value) in &self.goal {
            if !known.contains(&key.as_str()) {
                return err(
                    key,
                    format!(
                        "unknown goal parameter for family {:?}; expected one of {}",
                        self.family,
                        known.join(", ")
                    ),
                );
            }
            let ok = match value {
                GoalValue::Fixed(v) => v.is_finite(),
                GoalValue::Range([lo, hi]) => lo.is_finite() && hi.is_finite() && lo <= hi,
            };
            if !ok {
                return err(
                    key,
                    "must be a finite number or a range [lo, hi] with lo <= hi".into(),
                );
            }
        }
        let w = &self.reward;
        for (key, v) in [
            ("goal", w.goal),
            ("reach", w.reach),
            ("progress", w.progress),
            ("upright", w.upright),
            ("success", w.success),
            ("action", w.action),
            ("drop", w.drop),
        ] {
            if !v.is_finite() {
                return err(key, format!("reward weight {v} is not finite"));
            }
        }
        if self.camera.fov_deg <= 1.0 || self.camera.fov_deg >= 170.0 {
            return err(
                "fov_deg",
                format!("{} must be in (1, 170) degrees", self.camera.fov_deg),
            );
        }
        Ok(())
    }

    /// Whether any goal parameter is sampled (the `-hard` tasks).
    pub fn random_goal(&self) -> bool {
        self.goal.values().any(GoalValue::is_random)
    }
}
