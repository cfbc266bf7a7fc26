//! Finding log files on the command line: a file, or a directory of `*.mcap` shards.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// `path` itself, or the `*.mcap` files in it, sorted by name.
pub fn log_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("{}: cannot list", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mcap"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "{}: no .mcap files in this directory", path.display());
    Ok(files)
}
