//! Progress bars for fleet operations, shown only when stdout is a terminal so scripts and
//! logs never receive control characters.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over a fleet operation, or nothing.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar of `length` items labelled `label` when `enabled`, else a no-op.
    pub fn new(enabled: bool, length: u64, label: &str) -> Self {
        let bar = enabled.then(|| {
            let bar = ProgressBar::new(length);
            if let Ok(style) =
                ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {elapsed}")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(label.to_owned());
            bar
        });
        Progress { bar }
    }

    /// One item done.
    pub fn inc(&self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whether progress bars should be drawn.
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}
