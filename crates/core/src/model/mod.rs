//! keyshift's domain types. All are serde with camelCase JSON field names, because they
//! travel through Step Functions payloads and configuration files.

pub mod duration;
pub mod grafana;
pub mod policy;
pub mod role;
pub mod secret_value;
pub mod straggler_tag;
pub mod version;
pub mod workspace;

pub use grafana::{
    AUTOGEN_ACCOUNT_PREFIX, GrafanaCredential, LegacyApiKey, MigrationReport, MintedToken, Org,
    Permissions, ServiceAccount, ServiceAccountToken,
};
pub use policy::{
    AMG_MAX_SECONDS_TO_LIVE, DEFAULT_MAX_GRACE_PERIOD_SECONDS, MigrationMode, ModeOverride, Policy,
    UsageRule,
};
pub use role::{Role, RolePolicy};
pub use secret_value::ManagedSecretValue;
pub use straggler_tag::{RecordedStraggler, STRAGGLERS_TAG, StragglerRecord};
pub use version::GrafanaVersion;
pub use workspace::{
    AmgWorkspace, AssumeRole, DEFAULT_ORG_ID, OrgId, WorkspaceRef, WorkspaceTarget, amg_base_url,
};
