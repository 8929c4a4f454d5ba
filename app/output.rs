//! Printing figures: a human table or the same numbers as JSON.

use serde::Serialize;

/// Print `value` as pretty JSON, or call `human` to print it for people.
pub fn emit<T: Serialize>(json: bool, value: &T, human: impl FnOnce(&T)) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
    } else {
        human(value);
    }
    Ok(())
}

/// A progress bar of `len` units styled by `template`; hidden under
/// `--json`, so scripts read clean JSON.
pub fn progress(len: u64, json: bool, template: &str) -> anyhow::Result<indicatif::ProgressBar> {
    let bar = indicatif::ProgressBar::new(len);
    if json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar.set_style(indicatif::ProgressStyle::with_template(template)?.progress_chars("=> "));
    Ok(bar)
}
