//! `dexstudio tasks list|check`.

use std::path::PathBuf;

use clap::Subcommand;
use dexsim::{Catalog, Env, EnvConfig, TaskSpec};
use serde::Serialize;

use crate::output::emit;

#[derive(Subcommand, Debug)]
pub enum TasksCmd {
    /// Every task with its suites, DoF, observation sizes and episode length.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Validate a task spec file (and load its scene).
    Check {
        /// The TOML file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct TaskRow {
    task: String,
    family: dexsim::Family,
    suites: Vec<String>,
    dof: usize,
    state_dim: usize,
    proprio_dim: usize,
    image: [usize; 3],
    goal_image: [usize; 3],
    episode_steps: usize,
    control_hz: f64,
    frame_skip: usize,
    random_goal: bool,
    description: String,
}

#[derive(Serialize)]
struct Listing {
    tasks: Vec<TaskRow>,
    suites: std::collections::BTreeMap<String, Vec<String>>,
}

fn row(catalog: &Catalog, spec: &TaskSpec) -> anyhow::Result<TaskRow> {
    let env = Env::from_catalog(
        catalog,
        &spec.name,
        EnvConfig {
            render: false,
            ..EnvConfig::default()
        },
    )?;
    let size = env.config().image_size;
    Ok(TaskRow {
        task: spec.name.clone(),
        family: spec.family,
        suites: catalog
            .suites_of(&spec.name)
            .into_iter()
            .map(String::from)
            .collect(),
        dof: env.action_dim(),
        state_dim: env.state_dim(),
        proprio_dim: env.proprio().len(),
        image: [size, size, 3],
        goal_image: [size, size, 3],
        episode_steps: spec.episode_steps,
        control_hz: spec.control_hz,
        frame_skip: env.frame_skip(),
        random_goal: spec.random_goal(),
        description: spec.description.clone(),
    })
}

pub fn run(cmd: TasksCmd) -> anyhow::Result<()> {
    match cmd {
        TasksCmd::List { json } => {
            let catalog = Catalog::bundled()?;
            let mut tasks = Vec::new();
            for names in catalog.suites.get("all").into_iter() {
                for name in names {
                    tasks.push(row(&catalog, catalog.task(name)?)?);
                }
            }
            let listing = Listing {
                tasks,
                suites: catalog.suites.clone(),
            };
            emit(json, &listing, |l| {
                println!(
                    "{:<16} {:<34} {:>4} {:>6} {:>7} {:>9} {:>6} {:>5}",
                    "task", "suites", "dof", "state", "proprio", "image", "steps", "goal"
                );
                for t in &l.tasks {
                    let suites: Vec<&str> = t
                        .suites
                        .iter()
                        .map(String::as_str)
                        .filter(|s| *s != "all")
                        .collect();
                    println!(
                        "{:<16} {:<34} {:>4} {:>6} {:>7} {:>9} {:>6} {:>5}",
                        t.task,
                        suites.join(","),
                        t.dof,
                        t.state_dim,
                        t.proprio_dim,
                        format!("{}x{}x3", t.image[0], t.image[1]),
                        t.episode_steps,
                        if t.random_goal { "random" } else { "fixed" }
                    );
                }
                println!("\nsuites:");
                for (s, names) in &l.suites {
                    println!("  {s:<10} {} tasks: {}", names.len(), names.join(", "));
                }
            })
        }
        TasksCmd::Check { file, json } => {
            let spec = TaskSpec::load(&file)?;
            // A spec's scene is relative to the scenes directory above its
            // `tasks/` folder, falling back to the bundled scenes.
            let beside = file
                .parent()
                .and_then(|p| p.parent())
                .map(|d| d.join(&spec.scene));
            let scene_path = beside
                .filter(|p| p.exists())
                .unwrap_or_else(|| dexsim::catalog::scenes_dir().join(&spec.scene));
            let scene = dexsim::Scene::load(&scene_path)?;
            let task = dexsim::task::Task::new(&spec, &scene)?;
            let env = Env::new(
                std::sync::Arc::new(scene),
                std::sync::Arc::new(task),
                EnvConfig {
                    render: false,
                    ..EnvConfig::default()
                },
            )?;
            #[derive(Serialize)]
            struct Checked {
                file: PathBuf,
                task: String,
                scene: PathBuf,
                dof: usize,
                state_dim: usize,
                ok: bool,
            }
            let c = Checked {
                file: file.clone(),
                task: spec.name.clone(),
                scene: scene_path,
                dof: env.action_dim(),
                state_dim: env.state_dim(),
                ok: true,
            };
            emit(json, &c, |c| {
                println!(
                    "{}: ok (task `{}`, scene {}, {} actuators, state {})",
                    c.file.display(),
                    c.task,
                    c.scene.display(),
                    c.dof,
                    c.state_dim
                );
            })
        }
    }
}
