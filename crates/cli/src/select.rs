//! Which workspaces `keyshift plan`, `run` and `status` cover: one named on the command line,
//! or the fleet of the config file listed the way fleet-start lists it
//! ([`keyshift_core::fleet::list_fleet`]): this account's AMG selection, every `accounts`
//! entry through its role (the role carried in each workspace's reference, so the steps call
//! that account's AMG), then the self-hosted targets.

use std::collections::BTreeMap;

use keyshift_aws::TokioSleeper;
use keyshift_core::fleet::{FleetDirectory, FleetLister, FleetListing, StartRetry, list_fleet};
use keyshift_core::model::WorkspaceRef;

use crate::cli::TargetArgs;
use crate::config::{AmgSelection, FleetConfig};
use crate::exit::CliError;

/// Whether `targets` and `config` select any AMG workspace (so an AMG connector is needed).
pub fn selects_amg(targets: &TargetArgs, config: &FleetConfig) -> bool {
    targets.workspace.is_some()
        || (targets.url.is_none()
            && (config.amg.is_some() || !config.accounts.is_empty() || targets.region.is_some()))
}

fn argument(flag: &str, message: impl Into<String>) -> CliError {
    CliError::InvalidArgument {
        flag: flag.to_owned(),
        message: message.into(),
    }
}

/// The flag that must come with `with`, or a refusal saying so.
fn companion(value: &Option<String>, flag: &str, with: &str) -> Result<String, CliError> {
    value
        .clone()
        .ok_or_else(|| argument(flag, format!("required with {with}")))
}

/// The one target named on the command line, with `--secret-name` applied; a refusal names
/// the flag that made it.
fn one_target(
    reference: keyshift_core::Result<WorkspaceRef>,
    flag: &str,
    targets: &TargetArgs,
) -> Result<Vec<WorkspaceRef>, CliError> {
    let reference = reference
        .map_err(|error| argument(flag, error.to_string()))?
        .with_secret_name(targets.secret_name.clone())
        .map_err(|error| argument("--secret-name", error.to_string()))?;
    Ok(vec![reference])
}

/// The workspaces selected: `--workspace`/`--region`, `--url`/`--admin-secret-id`, or the
/// fleet (listed through `directory`, which is `None` only when no AMG workspace is selected).
/// A region or account that cannot be listed fails the command; a workspace that cannot be
/// served (not ACTIVE, Grafana before 9.1, listed twice) is skipped with its reason on stderr.
pub async fn select_workspaces(
    targets: &TargetArgs,
    config: &FleetConfig,
    directory: Option<&dyn FleetDirectory>,
) -> Result<Vec<WorkspaceRef>, CliError> {
    if let Some(workspace_id) = &targets.workspace {
        let region = companion(&targets.region, "--region", "--workspace")?;
        let reference = WorkspaceRef::amg(workspace_id.clone(), region, targets.org_id);
        return one_target(reference, "--workspace", targets);
    }
    if let Some(url) = &targets.url {
        let secret = companion(&targets.admin_secret_id, "--admin-secret-id", "--url")?;
        let reference = WorkspaceRef::self_hosted(url.clone(), secret, targets.org_id);
        return one_target(reference, "--url", targets);
    }
    if targets.secret_name.is_some() {
        return Err(argument(
            "--secret-name",
            "names one target: give it with --workspace or --url (the config has secretName)",
        ));
    }
    let lister = FleetLister {
        directory: directory.unwrap_or(&NoDirectory),
        retry: StartRetry::default(),
        sleeper: &TokioSleeper,
    };
    let listing = list_fleet(lister, &fleet_selection(targets, config)?).await;
    workspaces_of(listing)
}

/// The config's selections with the command line's on top: `--tag` replaces the tags of every
/// AMG selection (this account's and each account's); without an `amg` part, `--region`
/// selects that region's workspaces of this account.
fn fleet_selection(targets: &TargetArgs, config: &FleetConfig) -> Result<FleetConfig, CliError> {
    let mut tags = BTreeMap::new();
    for tag in &targets.tags {
        let (key, value) = tag
            .split_once('=')
            .ok_or_else(|| argument("--tag", format!("{tag:?} is not KEY=VALUE")))?;
        tags.insert(key.to_owned(), value.to_owned());
    }
    let mut selection = config.clone();
    if selection.amg.is_none()
        && let Some(region) = &targets.region
    {
        selection.amg = Some(AmgSelection {
            regions: vec![region.clone()],
            tags: tags.clone(),
            org_id: targets.org_id,
            secret_names: BTreeMap::new(),
        });
    }
    if !tags.is_empty() {
        if let Some(amg) = &mut selection.amg {
            amg.tags = tags.clone();
        }
        for account in &mut selection.accounts {
            account.tags = tags.clone();
        }
    }
    Ok(selection)
}

/// The listed targets, or the first listing failure as the command's error; skips are
/// reported on stderr (stdout stays the report).
fn workspaces_of(listing: FleetListing) -> Result<Vec<WorkspaceRef>, CliError> {
    if let Some(failure) = listing.listing_failures.first() {
        let via = failure
            .role_arn
            .as_ref()
            .map(|role| format!(" through {role}"))
            .unwrap_or_default();
        return Err(CliError::environment(
            format!("listing AMG workspaces in {}{via}", failure.region),
            format!("{}: {}", failure.error, failure.message),
        ));
    }
    for skip in &listing.skips {
        eprintln!("skipped {}: {}", skip.workspace, skip.why);
    }
    if listing.targets.is_empty() {
        return Err(argument(
            "--config",
            "no workspace selected: give --workspace/--region, --url/--admin-secret-id, --region with --tag, or a config file",
        ));
    }
    Ok(listing.targets)
}

/// The directory when no AMG control plane was built: the selection then has no AMG part
/// ([`selects_amg`]), so it is never asked; if it were, the listing fails with a sentence.
struct NoDirectory;

#[async_trait::async_trait]
impl FleetDirectory for NoDirectory {
    async fn list_workspaces(
        &self,
        _role: Option<&keyshift_core::model::AssumeRole>,
        region: &str,
    ) -> keyshift_core::Result<Vec<keyshift_core::ports::AmgWorkspaceSummary>> {
        Err(keyshift_core::KeyshiftError::invalid_input(
            "amg",
            format!("no AMG control plane to list {region} with"),
        ))
    }
}
