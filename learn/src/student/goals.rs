//! Goal images re-rendered for training. A collected demonstration shows
//! its last frame as the goal, but at test time the student is shown the
//! goal rendered from the sampled goal state (`eval --goal rendered`),
//! which differs wherever the expert stopped short of the exact goal
//! pose. Re-rendering each demonstration's goal from its reset seed
//! trains on the image the student will be shown.

use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use dexsim::{Catalog, Env, EnvConfig};

use crate::error::{LearnError, Result};
use crate::student::config::TrainGoal;
use crate::student::corpus::Corpus;

/// Give the corpus's episodes the goal images `goal` asks for: nothing
/// to do for [`TrainGoal::LastFrame`]; for [`TrainGoal::Rendered`], each
/// episode without a goal of its own gets one rendered from its seed.
/// `dataset` names the corpus's source in errors. Returns the episodes
/// given a goal.
pub fn prepare_goals(
    catalog: &Catalog,
    c: &mut Corpus,
    goal: TrainGoal,
    dataset: &Path,
) -> Result<usize> {
    match goal {
        TrainGoal::LastFrame => Ok(0),
        TrainGoal::Rendered => render_goals(catalog, c, dataset),
    }
}

/// Re-render the goal image of every episode that has none of its own,
/// resetting its task with the episode's seed. The reset must reproduce
/// the stored first frame, else the seed is not the one the episode was
/// rolled from and the dataset is refused, naming it.
pub fn render_goals(catalog: &Catalog, c: &mut Corpus, dataset: &Path) -> Result<usize> {
    if c.seeds.len() != c.episodes.len() {
        return Err(LearnError::dataset(
            dataset,
            format!(
                "{} episodes but {} reset seeds: cannot re-render goal images",
                c.episodes.len(),
                c.seeds.len()
            ),
        ));
    }
    let size = c.dims.image;
    let px = size * size * 3;
    let cfg = EnvConfig {
        image_size: size,
        render: true,
        ..EnvConfig::default()
    };
    let mut given = 0;
    for (slot, task) in c.tasks.clone().iter().enumerate() {
        let eps: Vec<usize> = (0..c.episodes.len())
            .filter(|&e| {
                let r = &c.episodes[e];
                !r.is_empty()
                    && c.slot[r.start] as usize == slot
                    && c.goal_rows.get(e).copied().flatten().is_none()
            })
            .collect();
        if eps.is_empty() {
            continue;
        }
        let probe = Env::from_catalog(catalog, task, cfg)?;
        let corpus = &*c;
        let goals = eps
            .par_iter()
            .map_init(
                || Env::new(Arc::clone(probe.scene()), Arc::clone(probe.task()), cfg),
                |env, &e| -> Result<Vec<u8>> {
                    let env = env.as_mut().map_err(|err| LearnError::Config {
                        field: "task",
                        message: format!("{task}: {err}"),
                    })?;
                    let seed = corpus.seeds[e];
                    let obs = env.reset(seed);
                    let first = corpus.episodes[e].start;
                    if obs.image.rgb[..] != corpus.images[first * px..(first + 1) * px] {
                        return Err(LearnError::dataset(
                            dataset,
                            format!(
                                "{task} episode with seed {seed}: resetting with that seed does \
                                 not reproduce its first frame, so its goal cannot be \
                                 re-rendered (was it recorded with another scene or seed?)"
                            ),
                        ));
                    }
                    Ok(obs.goal_image.rgb.clone())
                },
            )
            .collect::<Result<Vec<_>>>()?;
        for (e, g) in eps.into_iter().zip(goals) {
            c.set_goal(e, &g)?;
            given += 1;
        }
    }
    Ok(given)
}
