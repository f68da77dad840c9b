//! The Lambda zips' sizes (scripts/package.sh's output) against the 5 MiB target.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A Lambda zip must stay under this size.
pub const ZIP_TARGET_BYTES: u64 = 5 * 1024 * 1024;

/// Why the zips could not be listed.
#[derive(Debug, thiserror::Error)]
#[error("reading the zips in {path}: {source}")]
pub struct ZipError {
    path: PathBuf,
    source: std::io::Error,
}

/// A Lambda zip's size.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ZipFigure {
    /// The function (the zip's file stem).
    pub name: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Whether it is under [`ZIP_TARGET_BYTES`].
    pub under_target: bool,
}

/// Every `*.zip` in `dir`, by name.
pub fn zip_sizes(dir: &Path) -> Result<Vec<ZipFigure>, ZipError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ZipError {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut zips = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("zip") {
            continue;
        }
        let bytes = entry.metadata().map(|m| m.len()).unwrap_or_default();
        zips.push(ZipFigure {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            bytes,
            under_target: bytes < ZIP_TARGET_BYTES,
        });
    }
    zips.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(zips)
}

/// The zips as lines of the printed report (nothing when there are none).
pub fn render_zips(zips: &[ZipFigure]) -> String {
    if zips.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nLambda zips (target < 5 MiB):\n");
    for zip in zips {
        out.push_str(&format!(
            "  {:<16} {:>8.2} MiB {}\n",
            zip.name,
            zip.bytes as f64 / (1024.0 * 1024.0),
            if zip.under_target { "ok" } else { "OVER" }
        ));
    }
    out
}
