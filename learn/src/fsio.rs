//! Atomic file writes: a temporary file in the same folder, then a rename,
//! so a crash or Ctrl-C never leaves a half-written file under the real name.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{LearnError, Result};

/// The temporary name `path` is written under before the rename.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".part");
    path.with_file_name(name)
}

/// Write `bytes` to `path` atomically (creating parent folders).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })
}

/// Let `write` fill a temporary file, then rename it onto `path`.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&Path) -> std::io::Result<()>,
) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| LearnError::io(dir, e))?;
    }
    let tmp = temp_path(path);
    write(&tmp).map_err(|e| LearnError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LearnError::io(path, e))
}

/// FNV-1a 64 of a file's bytes, as 16 hex digits: written beside weights so
/// that a truncated or altered file is caught before it is used.
pub fn file_hash(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).map_err(|e| LearnError::io(path, e))?;
    Ok(bytes_hash(&bytes))
}

/// FNV-1a 64 of `bytes`, as 16 hex digits.
pub fn bytes_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Read and parse a JSON file, naming the file in every error.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| LearnError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| LearnError::checkpoint(path, e.to_string()))
}

/// Write a value as pretty JSON, atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| LearnError::checkpoint(path, e.to_string()))?;
    write_atomic(path, text.as_bytes())
}
