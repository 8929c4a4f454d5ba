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
