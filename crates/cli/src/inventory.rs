//! `keyshift inventory`: every legacy API key and service-account token of the fleet, with its
//! role, expiry, last use, owner and whether keyshift manages it, so a team sees what it still
//! depends on before it migrates. Read-only: discover-keys' read half
//! ([`keyshift_core::steps::discover_inventory`]), then on AMG the look-up's short-lived admin
//! token is deleted again, as `plan` does.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use keyshift_core::KeyshiftError;
use keyshift_core::model::{GrafanaVersion, WorkspaceRef, WorkspaceTarget};
use keyshift_core::plan::Inventory;
use keyshift_core::steps::discover_inventory;
use keyshift_core::steps::io::DiscoverInput;
use serde::Serialize;

use crate::cli::TargetArgs;
use crate::exit::{self, CliError};
use crate::fleet::{fleet_context, release_bootstrap};

/// How `keyshift inventory` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InventoryFormat {
    /// Aligned text for people.
    Table,
    /// JSON for scripts.
    Json,
    /// One CSV row per credential, for spreadsheets.
    Csv,
}

/// Arguments of `keyshift inventory`.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// The workspaces (selected as `keyshift plan` selects them).
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Table for people, JSON for scripts, CSV for spreadsheets.
    #[arg(long, value_enum, default_value = "table")]
    pub output: InventoryFormat,
}

/// One credential of the fleet (or, with no credential, one workspace that could not be read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryRow {
    /// `WorkspaceRef::key`.
    pub workspace: String,
    /// The Grafana version, when it was read.
    pub grafana_version: Option<String>,
    /// `legacyKey` or `serviceAccountToken`; `None` on a workspace's note row.
    pub kind: Option<String>,
    /// The key's or token's name.
    pub name: Option<String>,
    /// Its id in Grafana.
    pub id: Option<i64>,
    /// The service account owning the token (`None` for a legacy key).
    pub owner: Option<String>,
    /// The role it acts as (the key's, or its account's).
    pub role: Option<String>,
    /// When it expires (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// When Grafana last saw it used (`None`: never, or not recorded by this version).
    pub last_used_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`.
    pub state: Option<String>,
    /// Whether a keyshift managed secret holds it.
    pub managed: bool,
    /// The managed secret holding it.
    pub secret_id: Option<String>,
    /// Why the workspace has no rows (an old AMG version, an unreachable Grafana).
    pub note: Option<String>,
}

impl InventoryRow {
    fn note(workspace: &WorkspaceRef, version: Option<String>, note: String) -> Self {
        Self {
            note: Some(note),
            ..Self::blank(workspace.key(), version)
        }
    }

    fn blank(workspace: String, grafana_version: Option<String>) -> Self {
        Self {
            workspace,
            grafana_version,
            kind: None,
            name: None,
            id: None,
            owner: None,
            role: None,
            expires_at: None,
            last_used_at: None,
            state: None,
            managed: false,
            secret_id: None,
            note: None,
        }
    }
}

/// Runs `keyshift inventory`: exits 1 when a workspace could not be read (its note row says
/// why), except AMG workspaces too old for service accounts, which are listed, not failed.
pub async fn inventory_command(args: InventoryArgs) -> Result<u8, CliError> {
    let context = fleet_context(&args.targets, None, false).await?;
    let mut rows = Vec::new();
    let mut unreadable = 0;
    for workspace in &context.workspaces {
        let execution_name = format!("inventory-{}", uuid::Uuid::new_v4().simple());
        let input = DiscoverInput {
            execution_name: execution_name.clone(),
            workspace: workspace.clone(),
            policy: context.policy.clone(),
        };
        match discover_inventory(&context.deps, &input).await {
            Ok(discovered) => {
                let own_token = keyshift_core::naming::bootstrap_name_for(&execution_name);
                rows.extend(rows_of(
                    &discovered.inventory,
                    context.deps.clock.now(),
                    &own_token,
                ));
                if let Some(error) = release_bootstrap(
                    &context.deps,
                    execution_name,
                    workspace,
                    &discovered.bootstrap,
                    &context.policy,
                )
                .await
                {
                    unreadable += 1;
                    rows.push(InventoryRow::note(workspace, None, error));
                }
            }
            Err(KeyshiftError::GrafanaUnsupportedVersion { version, .. })
                if matches!(workspace.target, WorkspaceTarget::Amg { .. }) =>
            {
                let note = format!(
                    "Grafana {version} has no service accounts: {}",
                    GrafanaVersion::AMG_UPGRADE_ADVICE
                );
                rows.push(InventoryRow::note(workspace, Some(version), note));
            }
            Err(error) => {
                unreadable += 1;
                let note = format!("cannot be read: {}: {error}", error.asl_name());
                rows.push(InventoryRow::note(workspace, None, note));
            }
        }
    }
    match args.output {
        InventoryFormat::Json => crate::print_json(&rows)?,
        InventoryFormat::Table => print!("{}", render_table(&rows)),
        InventoryFormat::Csv => print!("{}", render_csv(&rows)?),
    }
    Ok(if unreadable > 0 {
        exit::FAILED
    } else {
        exit::SUCCESS
    })
}

/// One row per legacy key and per token of the inventory, marked managed where a keyshift
/// secret holds the token; the look-up's own short-lived admin token (`own_token`) is left out.
pub fn rows_of(inventory: &Inventory, now: DateTime<Utc>, own_token: &str) -> Vec<InventoryRow> {
    let version = inventory.version.to_string();
    let holders: BTreeMap<i64, &str> = inventory
        .managed_secrets
        .iter()
        .flat_map(|secret| {
            secret
                .stored_token_ids
                .iter()
                .chain(secret.current_token_id.iter())
                .map(move |id| (*id, secret.secret_id.as_str()))
        })
        .collect();
    let base = |kind: &str, name: &str, id: i64| InventoryRow {
        kind: Some(kind.to_owned()),
        name: Some(name.to_owned()),
        id: Some(id),
        ..InventoryRow::blank(inventory.workspace.key(), Some(version.clone()))
    };
    let mut rows = Vec::new();
    for key in &inventory.legacy_keys {
        let mut row = base("legacyKey", &key.name, key.id);
        row.role = Some(key.role.as_grafana().to_owned());
        row.expires_at = key.expiration;
        row.last_used_at = key.last_used_at;
        row.state = Some(
            if key.is_expired(now) {
                "expired"
            } else {
                "active"
            }
            .to_owned(),
        );
        rows.push(row);
    }
    for account in &inventory.accounts {
        for token in &account.tokens {
            if token.name == own_token {
                continue;
            }
            let mut row = base("serviceAccountToken", &token.name, token.id);
            row.owner = Some(account.account.name.clone());
            row.role = Some(account.account.role.as_grafana().to_owned());
            row.expires_at = token.expiration;
            row.last_used_at = token.last_used_at;
            let expired = token.has_expired || token.expiration.is_some_and(|at| at <= now);
            row.state = Some(
                if token.is_revoked {
                    "revoked"
                } else if expired {
                    "expired"
                } else {
                    "active"
                }
                .to_owned(),
            );
            if let Some(secret_id) = holders.get(&token.id) {
                row.managed = true;
                row.secret_id = Some((*secret_id).to_owned());
            }
            rows.push(row);
        }
    }
    rows
}

fn text_of(time: Option<DateTime<Utc>>, none: &str) -> String {
    time.map_or_else(
        || none.to_owned(),
        |at| at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

/// The table for people: one line per credential, notes for workspaces without rows.
pub fn render_table(rows: &[InventoryRow]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut workspace = None;
    for row in rows {
        if workspace != Some(&row.workspace) {
            workspace = Some(&row.workspace);
            let version = row.grafana_version.as_deref().unwrap_or("?");
            let _ = writeln!(out, "{} (Grafana {version})", row.workspace);
        }
        if let Some(note) = &row.note {
            let _ = writeln!(out, "  ! {note}");
            continue;
        }
        let _ = writeln!(
            out,
            "  {:<20} {:<32} {:<24} {:<7} {:<8} expires {:<20} last used {:<20} {}",
            row.kind.as_deref().unwrap_or_default(),
            row.name.as_deref().unwrap_or_default(),
            row.owner.as_deref().unwrap_or("-"),
            row.role.as_deref().unwrap_or_default(),
            row.state.as_deref().unwrap_or_default(),
            text_of(row.expires_at, "never"),
            text_of(row.last_used_at, "never"),
            row.secret_id
                .as_deref()
                .map_or_else(|| "not managed".to_owned(), |id| format!("managed in {id}")),
        );
    }
    out
}

/// The rows as CSV with a header line.
pub fn render_csv(rows: &[InventoryRow]) -> Result<String, CliError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |error: csv::Error| CliError::environment("writing CSV", error);
    writer
        .write_record([
            "workspace",
            "grafanaVersion",
            "kind",
            "name",
            "id",
            "owner",
            "role",
            "expiresAt",
            "lastUsedAt",
            "state",
            "managed",
            "secretId",
            "note",
        ])
        .map_err(failed)?;
    for row in rows {
        let optional = |value: &Option<String>| value.clone().unwrap_or_default();
        writer
            .write_record([
                row.workspace.clone(),
                optional(&row.grafana_version),
                optional(&row.kind),
                optional(&row.name),
                row.id.map(|id| id.to_string()).unwrap_or_default(),
                optional(&row.owner),
                optional(&row.role),
                text_of(row.expires_at, ""),
                text_of(row.last_used_at, ""),
                optional(&row.state),
                row.managed.to_string(),
                optional(&row.secret_id),
                optional(&row.note),
            ])
            .map_err(failed)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|error| CliError::environment("writing CSV", error.error().to_string()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
