//! Students distilled for dex5-easy or dex5-hard alone, beside the dex10
//! students read on the same tasks: does one student for ten tasks lose
//! anything against one for five?

use dexsim::Catalog;
use serde::Serialize;

use super::{Entry, best, cell, mean_over};

/// One suite's row: mean success on its tasks.
#[derive(Clone, Debug, Serialize)]
pub struct SuiteRow {
    pub suite: String,
    /// ACGD and BC trained on this suite alone.
    pub acgd_own: Option<f64>,
    pub bc_own: Option<f64>,
    /// ACGD and BC trained on dex10, on this suite's tasks.
    pub acgd_dex10: Option<f64>,
    pub bc_dex10: Option<f64>,
}

/// Rows for dex5-easy and dex5-hard where a student was trained on one of
/// them alone; empty otherwise.
pub fn rows(catalog: &Catalog, entries: &[Entry], demos: usize) -> anyhow::Result<Vec<SuiteRow>> {
    let mut out = Vec::new();
    for suite in ["dex5-easy", "dex5-hard"] {
        let tasks: Vec<String> = catalog.suite(suite)?.to_vec();
        // Mean success of the best `method` student trained on `trained`.
        let pick = |trained: &str, method: &str| {
            let set = entries.iter().filter(|e| e.trained_suite == trained);
            best(set, method, &tasks, demos).and_then(|e| mean_over(e, &tasks))
        };
        let row = SuiteRow {
            suite: suite.to_string(),
            acgd_own: pick(suite, "acgd"),
            bc_own: pick(suite, "bc"),
            acgd_dex10: pick("dex10", "acgd"),
            bc_dex10: pick("dex10", "bc"),
        };
        if row.acgd_own.is_some() || row.bc_own.is_some() {
            out.push(row);
        }
    }
    Ok(out)
}

/// The markdown section (empty without rows).
pub fn markdown(rows: &[SuiteRow]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "\n## Students for one suite against the dex10 students\n\nMean success on the \
         suite's tasks: students distilled for that suite alone, and the dex10 students \
         (trained on all ten tasks) on the same tasks.\n\n\
         | suite | ACGD (own) | BC (own) | ACGD (dex10) | BC (dex10) |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        md += &format!(
            "| {} | {} | {} | {} | {} |\n",
            r.suite,
            cell(r.acgd_own),
            cell(r.bc_own),
            cell(r.acgd_dex10),
            cell(r.bc_dex10)
        );
    }
    md
}
