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

/// How far each slot's demonstrations end from their goal image: the mean
/// absolute difference per byte (0–255) between each episode's last frame
/// and its own goal image, over the slot's episodes that have one (`None`
/// for slots with none). Near 0 means training on last frames already
/// shows the student the goal it is shown at test time.
pub fn last_frame_gap(c: &Corpus) -> Vec<Option<f64>> {
    let px = c.dims.image * c.dims.image * 3;
    let mut sum = vec![0f64; c.tasks.len()];
    let mut n = vec![0usize; c.tasks.len()];
    for r in c.episodes.iter().filter(|r| !r.is_empty()) {
        let Some(g) = c.goal_row(r.start) else {
            continue;
        };
        let last = &c.images[(r.end - 1) * px..r.end * px];
        let goal = &c.goal_images[g * px..(g + 1) * px];
        let diff: u64 = last
            .iter()
            .zip(goal.iter())
            .map(|(&a, &b)| u64::from(a.abs_diff(b)))
            .sum();
        let s = c.slot[r.start] as usize;
        sum[s] += diff as f64 / px.max(1) as f64;
        n[s] += 1;
    }
    sum.iter()
        .zip(&n)
        .map(|(&s, &n)| (n > 0).then(|| s / n as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::student::model::Dims;

    #[test]
    fn last_frame_gap_is_the_mean_byte_difference_per_episode() {
        let mut c = Corpus {
            tasks: vec!["a".into(), "b".into()],
            dims: Dims {
                tasks: 2,
                action: 1,
                proprio: 1,
                image: 1,
            },
            // Two 2-frame episodes of slot 0; slot 1 has none.
            images: vec![0, 0, 0, 10, 10, 10, 9, 9, 9, 0, 0, 0],
            slot: vec![0; 4],
            episode: vec![0, 0, 1, 1],
            episodes: vec![0..2, 2..4],
            ..Corpus::default()
        };
        c.set_goal(0, &[12, 10, 7]).unwrap();
        c.set_goal(1, &[0, 0, 3]).unwrap();
        // |10-12| + 0 + |10-7| = 5 over 3 bytes, then 3 over 3 bytes.
        let gap = last_frame_gap(&c);
        assert!((gap[0].unwrap() - (5.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        assert_eq!(gap[1], None);
    }
}
