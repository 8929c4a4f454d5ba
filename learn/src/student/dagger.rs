//! DAgger (METHOD §6): roll a mixture of student and expert, label every
//! visited state with an expert action chunk (restore a snapshot, roll the
//! expert `k` steps), aggregate with the demonstrations and retrain. Every
//! environment step this costs is counted: that cost is the paper's case
//! for ACGD, which needs none.

use std::path::PathBuf;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use dexsim::{Catalog, Env, EnvConfig, SeedDomain};

use crate::error::{LearnError, Result};
use crate::expert::Expert;
use crate::rollout::domain_seed;
use crate::student::ckpt::Student;
use crate::student::corpus::Corpus;
use crate::student::policy::StudentRollout;
use crate::student::train::{DistillJob, DistillProgress, distill};
use crate::train::Control;

/// DAgger's schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DaggerConfig {
    /// Aggregation rounds.
    pub rounds: usize,
    /// Episodes rolled per task and round.
    pub episodes: usize,
    /// Probability of the student's action in round 1; round `r` uses
    /// `1 - (1 - beta)^r`, handing control to the student over rounds.
    pub beta: f32,
    /// Stage (b) steps of each retraining.
    pub steps: usize,
    /// Base of the rollout seeds (collection domain, salted).
    pub seed: u64,
}

impl Default for DaggerConfig {
    fn default() -> Self {
        Self {
            rounds: 2,
            episodes: 10,
            beta: 0.5,
            steps: 2000,
            seed: 0xda66_e000,
        }
    }
}

/// What one round did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DaggerRound {
    /// Round, from 1.
    pub round: usize,
    /// Student share of actions.
    pub beta: f32,
    /// Frames added to the aggregate.
    pub frames: usize,
    /// Environment steps of the rollouts.
    pub rollout_steps: usize,
    /// Environment steps of the expert labelling rollouts.
    pub label_steps: usize,
    /// Episodes solved while rolling the mixture.
    pub solved: usize,
    /// Episodes rolled.
    pub episodes: usize,
}

/// One visited state with its expert chunk.
struct Visit {
    image: Vec<u8>,
    proprio: Vec<f32>,
    state: Vec<f32>,
    chunk: Vec<f32>,
    q: f32,
}

/// One mixture episode: the goal image the student was shown and every
/// state it visited.
struct RolledEpisode {
    seed: u64,
    goal: Vec<u8>,
    visits: Vec<Visit>,
}

/// Roll `episodes` mixture episodes of `task`; returns the episodes, the
/// rollout and labelling step counts and the solved count.
#[allow(clippy::too_many_arguments)]
fn roll_task(
    catalog: &Catalog,
    student: &Arc<Student>,
    expert: &Expert,
    task: &str,
    episodes: usize,
    beta: f32,
    base: u64,
) -> Result<(Vec<RolledEpisode>, usize, usize, usize)> {
    let k = student.meta.config.chunk;
    let cfg = EnvConfig {
        image_size: student.meta.dims.image,
        render: true,
        ..EnvConfig::default()
    };
    let probe = Env::from_catalog(catalog, task, cfg)?;
    let quiet = EnvConfig {
        render: false,
        ..cfg
    };
    let out = (0..episodes)
        .into_par_iter()
        .map(|i| -> Result<(RolledEpisode, usize, usize, bool)> {
            let mut env = Env::new(Arc::clone(probe.scene()), Arc::clone(probe.task()), cfg)?;
            let mut labeller =
                Env::new(Arc::clone(probe.scene()), Arc::clone(probe.task()), quiet)?;
            let seed = domain_seed(SeedDomain::Collect, base, i);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut obs = env.reset(seed);
            // Rendered from the sampled goal, as at test time; a failed
            // rollout's last frame would show another scene.
            let goal = obs.goal_image.rgb.clone();
            let mut roll = StudentRollout::new(Arc::clone(student), task, &goal)?;
            let (mut visits, mut steps, mut label_steps, mut solved) = (Vec::new(), 0, 0, false);
            loop {
                // The expert's chunk from here, on a restored copy.
                labeller.restore(&env.snapshot());
                let mut chunk = Vec::with_capacity(k * expert.meta.action_dim);
                let mut s = obs.state.clone();
                for _ in 0..k {
                    let a = expert.act(&s)?;
                    chunk.extend_from_slice(&a);
                    let st = labeller.step(&a)?;
                    label_steps += 1;
                    if st.done {
                        break;
                    }
                    s = st.obs.state;
                }
                let last = chunk[chunk.len() - expert.meta.action_dim..].to_vec();
                while chunk.len() < k * expert.meta.action_dim {
                    chunk.extend_from_slice(&last);
                }
                let expert_a = chunk[..expert.meta.action_dim].to_vec();
                let student_a = roll.act(&obs.image.rgb, &obs.proprio)?;
                let q = expert
                    .q(&obs.state, &expert_a)?
                    .first()
                    .copied()
                    .unwrap_or(0.0);
                visits.push(Visit {
                    image: obs.image.rgb.clone(),
                    proprio: obs.proprio.clone(),
                    state: obs.state.clone(),
                    chunk,
                    q,
                });
                let a = if rng.random_range(0.0..1.0) < beta {
                    student_a
                } else {
                    expert_a
                };
                let st = env.step(&a)?;
                steps += 1;
                solved |= st.info.solved;
                if st.done {
                    break;
                }
                obs = st.obs;
            }
            let ep = RolledEpisode { seed, goal, visits };
            Ok((ep, steps, label_steps, solved))
        })
        .collect::<Result<Vec<_>>>()?;
    let steps = out.iter().map(|o| o.1).sum();
    let labels = out.iter().map(|o| o.2).sum();
    let solved = out.iter().filter(|o| o.3).count();
    Ok((
        out.into_iter().map(|o| o.0).collect(),
        steps,
        labels,
        solved,
    ))
}

/// Append labelled episodes of `slot` to the corpus, each with the goal
/// image its rollout was shown.
fn aggregate(c: &mut Corpus, slot: usize, episodes: Vec<RolledEpisode>) -> Result<usize> {
    let mut added = 0;
    for ep in episodes {
        let start = c.len();
        let e = c.episodes.len() as u32;
        for v in ep.visits {
            let d = v.state.len();
            if c.state_dims[slot] == 0 {
                c.state_dims[slot] = d;
            }
            if d != c.state_dims[slot] || v.proprio.len() != c.dims.proprio {
                return Err(LearnError::Config {
                    field: "dagger",
                    message: format!("task slot {slot}: state or proprio width changed"),
                });
            }
            let i = c.len();
            c.frames_of[slot].push(i as u32);
            c.state_row.push(c.states[slot].len() / d.max(1));
            c.states[slot].extend_from_slice(&v.state);
            c.slot.push(slot as u32);
            c.episode.push(e);
            c.images.extend_from_slice(&v.image);
            c.proprio.extend_from_slice(&v.proprio);
            c.actions.extend_from_slice(&v.chunk[..c.dims.action]);
            c.chunk_labels.extend_from_slice(&v.chunk);
            c.q.push(v.q);
            added += 1;
        }
        c.episodes.push(start..c.len());
        c.seeds.push(ep.seed);
        c.set_goal(e as usize, &ep.goal)?;
    }
    Ok(added)
}

/// Run DAgger from the trained student in `job.init`, writing round `r`'s
/// student to `job.out/round-r` and the last one to `job.out`. `experts`
/// holds one expert per task slot (tasks without one are not rolled).
pub fn dagger(
    catalog: &Catalog,
    mut corpus: Corpus,
    experts: &[Option<Expert>],
    template: DistillJob,
    cfg: &DaggerConfig,
    control: &Control,
    mut progress: impl FnMut(&str, Option<&DistillProgress>),
) -> Result<(Student, Vec<DaggerRound>)> {
    let first = template.init.clone().ok_or_else(|| LearnError::Config {
        field: "init",
        message: "DAgger starts from a trained student".into(),
    })?;
    let k = template.cfg.chunk;
    corpus.materialise_chunks(k);
    let mut current: PathBuf = first;
    let mut rounds = Vec::new();
    let mut last: Option<Student> = None;
    for r in 1..=cfg.rounds {
        let student = Arc::new(Student::load(&current)?);
        let beta = 1.0 - (1.0 - cfg.beta).powi(r as i32);
        let mut row = DaggerRound {
            round: r,
            beta,
            frames: 0,
            rollout_steps: 0,
            label_steps: 0,
            solved: 0,
            episodes: 0,
        };
        for (slot, expert) in experts.iter().enumerate() {
            let Some(expert) = expert else { continue };
            if control.is_cancelled() {
                return Err(LearnError::Config {
                    field: "control",
                    message: format!("cancelled in DAgger round {r}"),
                });
            }
            let task = corpus.tasks[slot].clone();
            progress(&format!("round {r}: rolling {task}"), None);
            let base = cfg.seed ^ ((r as u64) << 20);
            let (eps, steps, labels, solved) =
                roll_task(catalog, &student, expert, &task, cfg.episodes, beta, base)?;
            row.frames += aggregate(&mut corpus, slot, eps)?;
            row.rollout_steps += steps;
            row.label_steps += labels;
            row.solved += solved;
            row.episodes += cfg.episodes;
        }
        let mut job_cfg = template.cfg.clone();
        job_cfg.tokenizer_steps = 0;
        job_cfg.steps = cfg.steps;
        let out = template.out.join(format!("round-{r}"));
        let job = DistillJob {
            cfg: job_cfg,
            corpus: &corpus,
            critics: Vec::new(),
            out: out.clone(),
            backbone: None,
            resume: false,
            suite: template.suite.clone(),
            dataset: template.dataset.clone(),
            command: template.command.clone(),
            save_every: 0,
            init: Some(current.clone()),
            label: template.label.clone(),
            catalog: Some(catalog),
        };
        let s = distill(job, control, |p| {
            progress(&format!("round {r}: retraining"), Some(p))
        })?;
        rounds.push(row);
        crate::fsio::write_json(&template.out.join("dagger.json"), &rounds)?;
        current = out;
        last = Some(s);
    }
    let student = last.ok_or_else(|| LearnError::Config {
        field: "rounds",
        message: "DAgger needs at least one round".into(),
    })?;
    student.save(&template.out)?;
    Ok((student, rounds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::model::Dims;

    /// A failed rollout's last frame shows another scene than its goal:
    /// the aggregate must train on the goal image the student was shown.
    #[test]
    fn aggregate_keeps_the_goal_image_the_rollout_was_shown() {
        let dims = Dims {
            tasks: 1,
            action: 2,
            proprio: 2,
            image: 2,
        };
        let mut c = Corpus {
            tasks: vec!["t".into()],
            state_dims: vec![0],
            episodes_per_task: vec![0],
            states: vec![Vec::new()],
            frames_of: vec![Vec::new()],
            dims,
            ..Corpus::default()
        };
        let visit = |shade: u8| Visit {
            image: vec![shade; 12],
            proprio: vec![0.0; 2],
            state: vec![0.0; 3],
            chunk: vec![0.5; 2 * 4],
            q: 1.0,
        };
        let ep = |seed, goal| RolledEpisode {
            seed,
            goal: vec![goal; 12],
            visits: (1..=3).map(visit).collect(),
        };
        assert_eq!(
            aggregate(&mut c, 0, vec![ep(7, 200), ep(8, 201)]).unwrap(),
            6
        );
        assert_eq!(c.seeds, vec![7, 8]);
        assert_eq!((c.goal_row(2), c.goal_row(3)), (Some(0), Some(1)));
        assert_eq!(&c.goal_images[..12], &[200; 12]);
        assert_eq!(&c.goal_images[12..], &[201; 12]);
        // Features: frame i is [i], goal row r is [100 + r].
        let frames: Vec<f32> = (0..6).map(|i| i as f32).collect();
        let goals = [100.0, 101.0];
        assert_eq!(c.goal_features(4, &frames, &goals, 1), &[101.0]);
        // Not the episode's last frame (frame 5).
        assert_eq!(c.goal_frame(4), 5);
        // A goal image of another size is refused, naming the episode.
        let mut bad = ep(9, 0);
        bad.goal.pop();
        let err = aggregate(&mut c, 0, vec![bad]).unwrap_err().to_string();
        assert!(
            err.contains("episode 2") && err.contains("11 bytes"),
            "{err}"
        );
    }
}
