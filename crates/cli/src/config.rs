//! Reading the fleet config file of `keyshift plan`/`run`/`fleet start`. The type, its format
//! and its checks live in [`keyshift_core::fleet::config`], shared with the fleet-start Lambda,
//! whose event is the same JSON.

use std::path::Path;

pub use keyshift_core::fleet::config::{
    AccountSelection, AmgSelection, FleetConfig, SelfHostedTarget,
};

use crate::exit::{CliError, read_text};

/// Reading a [`FleetConfig`] from a file, as an extension so callers keep writing
/// `FleetConfig::load(path)`.
pub trait LoadFleetConfig: Sized {
    /// Reads and checks a config file; every problem names the file and the field.
    fn load(path: &Path) -> Result<Self, CliError>;
}

impl LoadFleetConfig for FleetConfig {
    fn load(path: &Path) -> Result<Self, CliError> {
        let text = read_text(path)?;
        let config: FleetConfig = serde_json::from_str(&text).map_err(|error| {
            CliError::invalid_file(path.display().to_string(), error.to_string())
        })?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(CliError::invalid_file(
                path.display().to_string(),
                problems.join("; "),
            ))
        }
    }
}
