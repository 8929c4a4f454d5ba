//! The bundled catalog: every task spec under `scenes/tasks/` and the suites
//! of `scenes/suites.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Result, SimError};
use crate::spec::{SuitesFile, TaskSpec, parse_toml};

/// The scenes directory: `$DEXSTUDIO_SCENES` if set, else the repository's
/// `scenes/` (the crate is always built from a checkout).
pub fn scenes_dir() -> PathBuf {
    std::env::var_os("DEXSTUDIO_SCENES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenes"))
}

/// All tasks and suites found in a scenes directory.
#[derive(Clone, Debug)]
pub struct Catalog {
    /// The directory the catalog was read from.
    pub dir: PathBuf,
    /// Tasks by name.
    pub tasks: BTreeMap<String, TaskSpec>,
    /// Suites by name, each a list of task names.
    pub suites: BTreeMap<String, Vec<String>>,
}

impl Catalog {
    /// Read the catalog of the default scenes directory.
    pub fn bundled() -> Result<Self> {
        Self::load(&scenes_dir())
    }

    /// Read every `tasks/*.toml` and `suites.toml` under `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        let tasks_dir = dir.join("tasks");
        let entries = std::fs::read_dir(&tasks_dir).map_err(|source| SimError::Io {
            path: tasks_dir.clone(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        let mut tasks = BTreeMap::new();
        for path in paths {
            let spec = TaskSpec::load(&path)?;
            if let Some(prev) = tasks.insert(spec.name.clone(), spec) {
                return Err(SimError::Spec {
                    path,
                    line: 1,
                    column: 1,
                    message: format!("field `name`: task `{}` is defined twice", prev.name),
                });
            }
        }
        let suites_path = dir.join("suites.toml");
        let source = std::fs::read_to_string(&suites_path).map_err(|source| SimError::Io {
            path: suites_path.clone(),
            source,
        })?;
        let suites: SuitesFile = parse_toml(&suites_path, &source)?;
        for (suite, names) in &suites.suites {
            for name in names {
                if !tasks.contains_key(name) {
                    let (line, column) = source
                        .find(&format!("\"{name}\""))
                        .map_or((1, 1), |o| crate::spec::line_col(&source, o));
                    return Err(SimError::Spec {
                        path: suites_path,
                        line,
                        column,
                        message: format!("suite `{suite}` lists unknown task `{name}`"),
                    });
                }
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            tasks,
            suites: suites.suites,
        })
    }

    /// The spec of a task, or an error listing the known names.
    pub fn task(&self, name: &str) -> Result<&TaskSpec> {
        self.tasks.get(name).ok_or_else(|| SimError::UnknownTask {
            name: name.to_string(),
            known: self.tasks.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }

    /// The task names of a suite.
    pub fn suite(&self, name: &str) -> Result<&[String]> {
        self.suites
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| SimError::UnknownSuite {
                name: name.to_string(),
                known: self.suites.keys().cloned().collect::<Vec<_>>().join(", "),
            })
    }

    /// Suites that contain a task, in name order.
    pub fn suites_of(&self, task: &str) -> Vec<&str> {
        self.suites
            .iter()
            .filter(|(_, t)| t.iter().any(|n| n == task))
            .map(|(s, _)| s.as_str())
            .collect()
    }
}
