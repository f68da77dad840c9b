//! The fleets the demo runs on besides the built-in sample: a fleet file, or a generated
//! fleet of the shape users report trouble with.

use std::path::Path;

use grafana_sim::FleetSpec;

use crate::exit::CliError;

pub(super) fn load_fleet(path: &Path) -> Result<FleetSpec, CliError> {
    let text = crate::exit::read_text(path)?;
    FleetSpec::from_json(&text)
        .map_err(|error| CliError::invalid_file(path.display().to_string(), error.to_string()))
}

/// The most workspaces `--generate-fleet` makes: far beyond the benchmark's 1,000, small
/// enough that a mistyped count cannot exhaust memory.
pub const MAX_GENERATED_WORKSPACES: usize = 20_000;

/// A fleet of the shape issue reports describe: `workspaces` AMG workspaces in two regions,
/// Grafana 9.4, 10.4 and 12.1 in turn, and the same legacy key names on every workspace (one
/// of them expired), so checks that confuse instances would show.
pub fn generated_fleet(workspaces: usize) -> Result<FleetSpec, CliError> {
    if workspaces == 0 || workspaces > MAX_GENERATED_WORKSPACES {
        return Err(CliError::InvalidArgument {
            flag: "--generate-fleet".to_owned(),
            message: format!(
                "{workspaces} workspaces: give between 1 and {MAX_GENERATED_WORKSPACES}"
            ),
        });
    }
    const REGIONS: [&str; 2] = ["eu-west-1", "us-east-1"];
    const VERSIONS: [&str; 3] = ["9.4", "10.4", "12.1"];
    let specs: Vec<serde_json::Value> = (0..workspaces)
        .map(|index| {
            serde_json::json!({
                "kind": "amg",
                "id": format!("g-{:010x}", index + 1),
                "region": REGIONS[index % REGIONS.len()],
                "name": format!("fleet-{index:05}"),
                "status": "ACTIVE",
                "tags": {"keyshift": "managed", "team": if index % 2 == 0 { "sre" } else { "data" }},
                "version": VERSIONS[index % VERSIONS.len()],
                "apiKeys": [
                    {"name": "terraform-admin", "role": "Admin", "expires": "30d", "lastUsed": "-2h"},
                    {"name": "ci-deploy", "role": "Editor"},
                    {"name": "status-page", "role": "Viewer", "expires": "6d"},
                    {"name": "old-exporter", "role": "Viewer", "expires": "-2d"}
                ]
            })
        })
        .collect();
    let fleet = serde_json::json!({"seed": 8, "workspaces": specs});
    serde_json::from_value(fleet)
        .map_err(|error| CliError::environment("generating a fleet", error))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use grafana_sim::WorkspaceKind;

    use super::*;

    #[test]
    fn generated_fleets_have_the_shape_asked_for() {
        let fleet = generated_fleet(7).unwrap();
        assert_eq!(fleet.workspaces.len(), 7);
        assert!(
            fleet
                .workspaces
                .iter()
                .all(|w| w.kind == WorkspaceKind::Amg)
        );
        let regions: BTreeSet<_> = fleet.workspaces.iter().map(|w| w.region.clone()).collect();
        assert_eq!(regions.len(), 2);
        let versions: BTreeSet<String> = fleet
            .workspaces
            .iter()
            .map(|w| format!("{:?}", w.version))
            .collect();
        assert_eq!(versions.len(), 3);
        let key_names: BTreeSet<Vec<String>> = fleet
            .workspaces
            .iter()
            .map(|w| w.api_keys.iter().map(|k| k.name.clone()).collect())
            .collect();
        assert_eq!(key_names.len(), 1, "the same key names on every workspace");
        assert!(generated_fleet(0).is_err());
        assert!(generated_fleet(MAX_GENERATED_WORKSPACES + 1).is_err());
    }
}
