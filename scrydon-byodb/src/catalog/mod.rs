//! The component catalogue: every Scrydon app that owns a database, and the names the chart, the
//! apps and the runbook use for it.
//!
//! This is the one place those names live. Preflight, bootstrap, render and verify all read it,
//! so a renamed key or a new component is a one-line change here.
//!
//! | component | database | env key | Secret | migration Job | enabled by | pgvector |
//! |---|---|---|---|---|---|---|
//! | auth | `auth` | `DATABASE_URL` | `scrydon-db-auth` | `auth-migration` | always | yes |
//! | agentic | `agentic` | `DATABASE_URL` | `scrydon-db-agentic` | `agentic-migration` | always | yes |
//! | analytics | `analytics` | `DATABASE_URL_ANALYTICS` | `scrydon-db-analytics` | `analytics-migration` | `analytics.enabled` | no |
//! | cortex | `cortex` | `DATABASE_URL_CORTEX` | `scrydon-db-cortex` | `cortex-migration` | `cortex.enabled` | yes |
//! | ontology | `ontology` | `DATABASE_URL_ONTOLOGY` | `scrydon-db-ontology` | `api-ontology-migration` | `apiOntology.enabled` | no |
//!
//! # Namespaces
//!
//! Every app deploys to [`DEFAULT_NAMESPACE`] (`scrydon-platform`) unless the customer's values
//! split it out with `namespaces.<component>`, keyed by the same component names the chart uses
//! under `infra.db.external.existingSecrets` (`namespaces.auth`, `namespaces.agentic`,
//! `namespaces.analytics`, `namespaces.cortex`, `namespaces.ontology`). An app's Mode A Secret
//! and its migration Job live in that namespace: a pod can only read Secrets of its own
//! namespace, and the migration Job sources its DSN from the same Secret as the runtime.
//!
//! ```
//! use scrydon_byodb::catalog::Component;
//!
//! let analytics: Component = "analytics".parse().expect("test value");
//! assert_eq!(analytics.spec().env_key, "DATABASE_URL_ANALYTICS");
//! assert_eq!(analytics.spec().enabled_by, Some("analytics.enabled"));
//! assert!(Component::ALL.iter().filter(|c| c.spec().needs_pgvector).count() == 3);
//! ```

use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The namespace every app deploys to unless `namespaces.<component>` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "scrydon-platform";

/// The Helm release name the runbook installs the chart under.
pub const RELEASE_NAME: &str = "scrydon";

/// The namespace the Helm release itself lives in (`helm ... --namespace`).
pub const RELEASE_NAMESPACE: &str = "scrydon-platform";

/// The chart's OCI reference.
pub const CHART_REF: &str = "oci://scrydonops.azurecr.io/scrydon/charts/scrydon";

/// Values key that turns the bundled in-cluster PostgreSQL on or off.
pub const VALUES_INFRA_DB_ENABLED: &str = "infra.db.enabled";

/// Values key of the bundled PostgreSQL's TLS (meaningless with a managed database).
pub const VALUES_INFRA_DB_TLS_ENABLED: &str = "infra.db.tls.enabled";

/// Values key of the bundled backup CronJob (scoped to the in-cluster database only).
pub const VALUES_INFRA_DB_BACKUP_ENABLED: &str = "infra.db.backup.enabled";

/// Values key of the block that points the apps at an external database.
pub const VALUES_EXTERNAL: &str = "infra.db.external";

/// Values key of the global `sslMode` the chart appends to every `<app>Url` as `?sslmode=`.
pub const VALUES_EXTERNAL_SSL_MODE: &str = "infra.db.external.sslMode";

/// Values key prefix of the per-app namespace overrides.
pub const VALUES_NAMESPACES: &str = "namespaces";

/// A Scrydon app that owns a database.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Component {
    /// The auth service (`DATABASE_URL`).
    Auth,
    /// The agentic service (`DATABASE_URL`).
    Agentic,
    /// The analytics service (`DATABASE_URL_ANALYTICS`), on unless `analytics.enabled: false`.
    Analytics,
    /// The cortex service (`DATABASE_URL_CORTEX`), on unless `cortex.enabled: false`.
    Cortex,
    /// The ontology API (`DATABASE_URL_ONTOLOGY`), on unless `apiOntology.enabled: false`.
    Ontology,
}

impl Component {
    /// Every component, in the runbook's order.
    pub const ALL: [Component; 5] = [
        Component::Auth,
        Component::Agentic,
        Component::Analytics,
        Component::Cortex,
        Component::Ontology,
    ];

    /// Everything the chart and the runbook call this component.
    pub fn spec(self) -> &'static ComponentSpec {
        &CATALOG[self as usize]
    }

    /// The component's name (`auth`, `agentic`, ...), as used in values keys and on the CLI.
    pub fn as_str(self) -> &'static str {
        self.spec().name
    }
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Component {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Component::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                Error::input(
                    "component",
                    s,
                    "not a Scrydon component; expected one of auth, agentic, analytics, cortex, ontology",
                )
            })
    }
}

/// What the chart, the apps and the runbook call one component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComponentSpec {
    /// The component.
    pub component: Component,
    /// Its name in values keys and on the command line.
    pub name: &'static str,
    /// The database it owns, as the runbook pre-creates it.
    pub database: &'static str,
    /// The environment variable the app reads its DSN from (the key of its Mode A Secret).
    pub env_key: &'static str,
    /// The Mode A Secret name the runbook uses.
    pub secret_name: &'static str,
    /// Values key naming the app's Mode A Secret (`infra.db.external.existingSecrets.<app>`).
    pub existing_secret_values_key: &'static str,
    /// Values key of the app's Mode B inline DSN (`infra.db.external.<app>Url`).
    pub url_values_key: &'static str,
    /// The app's Helm-hook migration Job (also its `app` label).
    pub migration_job: &'static str,
    /// The boolean values key that enables the app (`None`: always on).
    pub enabled_by: Option<&'static str>,
    /// The values key that moves the app to another namespace (`namespaces.<app>`).
    pub namespace_values_key: &'static str,
    /// Whether its database needs the pgvector extension.
    pub needs_pgvector: bool,
}

impl ComponentSpec {
    /// The last segment of [`ComponentSpec::url_values_key`] (`authUrl`), the key inside
    /// `infra.db.external`.
    pub fn url_key(&self) -> &'static str {
        last_segment(self.url_values_key)
    }

    /// The last segment of [`ComponentSpec::namespace_values_key`], the key inside `namespaces`.
    pub fn namespace_key(&self) -> &'static str {
        last_segment(self.namespace_values_key)
    }
}

fn last_segment(key: &'static str) -> &'static str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The catalogue, indexed by `Component as usize`.
static CATALOG: [ComponentSpec; 5] = [
    ComponentSpec {
        component: Component::Auth,
        name: "auth",
        database: "auth",
        env_key: "DATABASE_URL",
        secret_name: "scrydon-db-auth",
        existing_secret_values_key: "infra.db.external.existingSecrets.auth",
        url_values_key: "infra.db.external.authUrl",
        migration_job: "auth-migration",
        enabled_by: None,
        namespace_values_key: "namespaces.auth",
        needs_pgvector: true,
    },
    ComponentSpec {
        component: Component::Agentic,
        name: "agentic",
        database: "agentic",
        env_key: "DATABASE_URL",
        secret_name: "scrydon-db-agentic",
        existing_secret_values_key: "infra.db.external.existingSecrets.agentic",
        url_values_key: "infra.db.external.agenticUrl",
        migration_job: "agentic-migration",
        enabled_by: None,
        namespace_values_key: "namespaces.agentic",
        needs_pgvector: true,
    },
    ComponentSpec {
        component: Component::Analytics,
        name: "analytics",
        database: "analytics",
        env_key: "DATABASE_URL_ANALYTICS",
        secret_name: "scrydon-db-analytics",
        existing_secret_values_key: "infra.db.external.existingSecrets.analytics",
        url_values_key: "infra.db.external.analyticsUrl",
        migration_job: "analytics-migration",
        enabled_by: Some("analytics.enabled"),
        namespace_values_key: "namespaces.analytics",
        needs_pgvector: false,
    },
    ComponentSpec {
        component: Component::Cortex,
        name: "cortex",
        database: "cortex",
        env_key: "DATABASE_URL_CORTEX",
        secret_name: "scrydon-db-cortex",
        existing_secret_values_key: "infra.db.external.existingSecrets.cortex",
        url_values_key: "infra.db.external.cortexUrl",
        migration_job: "cortex-migration",
        enabled_by: Some("cortex.enabled"),
        namespace_values_key: "namespaces.cortex",
        needs_pgvector: true,
    },
    ComponentSpec {
        component: Component::Ontology,
        name: "ontology",
        database: "ontology",
        env_key: "DATABASE_URL_ONTOLOGY",
        secret_name: "scrydon-db-ontology",
        existing_secret_values_key: "infra.db.external.existingSecrets.ontology",
        url_values_key: "infra.db.external.ontologyUrl",
        migration_job: "api-ontology-migration",
        enabled_by: Some("apiOntology.enabled"),
        namespace_values_key: "namespaces.ontology",
        needs_pgvector: false,
    },
];

/// The component whose catalogue database is `name`, if any.
pub fn component_for_database(name: &str) -> Option<Component> {
    Component::ALL
        .into_iter()
        .find(|c| c.spec().database == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_indexed_by_component() {
        for c in Component::ALL {
            assert_eq!(c.spec().component, c);
            assert_eq!(c.as_str().parse::<Component>().expect("test value"), c);
            assert_eq!(c.spec().secret_name, format!("scrydon-db-{c}"));
            assert_eq!(
                c.spec().existing_secret_values_key,
                format!("infra.db.external.existingSecrets.{c}")
            );
            assert_eq!(c.spec().url_key(), format!("{c}Url"));
            assert_eq!(c.spec().namespace_key(), c.as_str());
        }
    }

    #[test]
    fn runbook_names() {
        let keys: Vec<_> = Component::ALL.iter().map(|c| c.spec().env_key).collect();
        assert_eq!(
            keys,
            [
                "DATABASE_URL",
                "DATABASE_URL",
                "DATABASE_URL_ANALYTICS",
                "DATABASE_URL_CORTEX",
                "DATABASE_URL_ONTOLOGY"
            ]
        );
        let jobs: Vec<_> = Component::ALL
            .iter()
            .map(|c| c.spec().migration_job)
            .collect();
        assert_eq!(
            jobs,
            [
                "auth-migration",
                "agentic-migration",
                "analytics-migration",
                "cortex-migration",
                "api-ontology-migration"
            ]
        );
        let vector: Vec<_> = Component::ALL
            .into_iter()
            .filter(|c| c.spec().needs_pgvector)
            .collect();
        assert_eq!(
            vector,
            [Component::Auth, Component::Agentic, Component::Cortex]
        );
        assert_eq!(Component::Auth.spec().enabled_by, None);
        assert_eq!(
            Component::Ontology.spec().enabled_by,
            Some("apiOntology.enabled")
        );
    }

    #[test]
    fn unknown_component_names_the_value() {
        let err = "api-ontology".parse::<Component>().expect_err("must fail");
        match err {
            Error::InvalidInput { field, value, .. } => {
                assert_eq!(field, "component");
                assert_eq!(value, "api-ontology");
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn serde_is_lowercase() {
        assert_eq!(
            serde_json::to_string(&Component::Ontology).expect("test value"),
            "\"ontology\""
        );
        let c: Component = serde_json::from_str("\"cortex\"").expect("test value");
        assert_eq!(c, Component::Cortex);
    }
}
