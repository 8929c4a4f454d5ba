//! One student setting trained with several seeds: the spread between
//! seeds is the yardstick a method's effect has to beat.

use std::collections::BTreeMap;

use dexlearn::student::{CriticSpan, QNorm, StudentMeta};
use serde::Serialize;

/// The setting of a student (its config without the seed, suite, tasks
/// and demonstrations, and its DAgger schedule: `(beta, episodes)` per
/// round, empty for any other method) and its seed.
pub fn setting(m: &StudentMeta, dagger: &[(f32, usize)]) -> (String, u64) {
    let mut cfg = m.config.clone();
    let seed = cfg.seed;
    cfg.seed = 0;
    if !cfg.method.critic() {
        // Without a critic term the span and Q constant change nothing.
        cfg.critic_span = CriticSpan::default();
        cfg.q_norm = QNorm::default();
    }
    // Plain structs of numbers and strings: serialising cannot fail.
    // The label keeps DAgger (which copies its base student's config) apart
    // from its base, and the schedule two DAgger runs of other lengths.
    let key = serde_json::to_string(&(
        cfg,
        &m.label,
        &m.suite,
        &m.tasks,
        &m.episodes_per_task,
        dagger,
    ))
    .unwrap_or_default();
    (key, seed)
}

/// One member of a seed group: its row label, whether it is the
/// default-named run, its setting and its mean success.
pub struct Member<'a> {
    pub label: &'a str,
    pub default_named: bool,
    pub setting: Option<&'a (String, u64)>,
    pub mean: Option<f64>,
}

/// A setting trained with two or more seeds.
#[derive(Clone, Debug, Serialize)]
pub struct SeedGroup {
    pub label: String,
    pub seeds: Vec<u64>,
    pub means: Vec<f64>,
    pub mean: f64,
    /// Largest minus smallest per-seed mean.
    pub spread: f64,
}

/// Settings with at least two seeds evaluated on the report's tasks, in
/// label order.
pub fn groups(members: &[Member]) -> Vec<SeedGroup> {
    let mut by: BTreeMap<&str, Vec<&Member>> = BTreeMap::new();
    for m in members {
        if let (Some((key, _)), Some(_)) = (m.setting, m.mean) {
            by.entry(key.as_str()).or_default().push(m);
        }
    }
    let mut out: Vec<SeedGroup> = by
        .into_values()
        .filter(|ms| ms.len() >= 2)
        .map(|mut ms| {
            ms.sort_by_key(|m| m.setting.map_or(0, |s| s.1));
            let label = ms
                .iter()
                .find(|m| m.default_named)
                .unwrap_or(&ms[0])
                .label
                .to_string();
            let means: Vec<f64> = ms.iter().filter_map(|m| m.mean).collect();
            let lo = means.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = means.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            SeedGroup {
                label,
                seeds: ms.iter().filter_map(|m| m.setting.map(|s| s.1)).collect(),
                mean: means.iter().sum::<f64>() / means.len() as f64,
                spread: hi - lo,
                means,
            }
        })
        .collect();
    out.sort_by(|a, b| a.label.cmp(&b.label));
    out
}

/// The markdown section, empty without groups.
pub fn markdown(groups: &[SeedGroup]) -> String {
    if groups.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Seeds: one setting, several training seeds\n\n\
         | setting | seeds | mean success per seed | mean over seeds | spread |\n\
         |---|---|---|---|---|\n",
    );
    for g in groups {
        let seeds: Vec<String> = g.seeds.iter().map(ToString::to_string).collect();
        let means: Vec<String> = g.means.iter().map(|m| format!("{m:.3}")).collect();
        md += &format!(
            "| {} | {} | {} | {:.3} | {:.3} |\n",
            g.label,
            seeds.join(", "),
            means.join(", "),
            g.mean,
            g.spread
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dagger_schedules_are_settings_and_seeds_are_not() {
        let meta: StudentMeta = dexlearn::fsio::read_json(std::path::Path::new(
            "assets/students/bc-bidex/student.json",
        ))
        .expect("the shipped bidex BC student");
        let mut other_seed = meta.clone();
        other_seed.config.seed += 1;
        let two = [(0.5, 10), (0.75, 10)];
        let six = [
            (0.5, 10),
            (0.75, 10),
            (0.875, 10),
            (0.9375, 10),
            (0.96875, 10),
            (0.984375, 10),
        ];
        let (key, seed) = setting(&meta, &two);
        let (key_seed, seed2) = setting(&other_seed, &two);
        assert_eq!(key, key_seed, "the seed is not part of the setting");
        assert_eq!(seed2, seed + 1);
        assert_ne!(
            setting(&meta, &six).0,
            key,
            "six rounds are another setting"
        );
        assert_ne!(setting(&meta, &[]).0, key, "DAgger is not its base student");
    }

    #[test]
    fn groups_need_two_seeds_of_one_setting() {
        let a = ("acgd".to_string(), 1);
        let b = ("acgd".to_string(), 2);
        let c = ("bc".to_string(), 1);
        let members = [
            Member {
                label: "acgd [acgd-s2]",
                default_named: false,
                setting: Some(&b),
                mean: Some(0.2),
            },
            Member {
                label: "acgd",
                default_named: true,
                setting: Some(&a),
                mean: Some(0.3),
            },
            Member {
                label: "bc",
                default_named: true,
                setting: Some(&c),
                mean: Some(0.25),
            },
        ];
        let g = groups(&members);
        assert_eq!(g.len(), 1, "bc has one seed");
        assert_eq!(g[0].label, "acgd");
        assert_eq!(g[0].seeds, vec![1, 2]);
        assert_eq!(g[0].means, vec![0.3, 0.2]);
        assert!((g[0].mean - 0.25).abs() < 1e-12);
        assert!((g[0].spread - 0.1).abs() < 1e-12);
        assert!(markdown(&g).contains("| acgd | 1, 2 | 0.300, 0.200 | 0.250 | 0.100 |"));
    }
}
