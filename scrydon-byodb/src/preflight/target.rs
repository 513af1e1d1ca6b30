//! What preflight checks: the server, the migration role, the components and the expected load.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::catalog::Component;
use crate::dsn::Dsn;
use crate::{Error, Result};

/// The role the runbook creates for the platform (`CREATE ROLE scrydon LOGIN ...`).
pub const DEFAULT_APP_ROLE: &str = "scrydon";

/// PostgreSQL's longest identifier, in bytes (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The expected connections of one component.
///
/// Each app pod holds a pool of `pool_size` connections and its Dapr sidecar holds
/// `sidecar_connections` more (the workflow state store); the migration Job adds one while it
/// runs, next to the old pods during an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ComponentDemand {
    /// App pods (replicas).
    pub pods: u32,
    /// Connections in each pod's pool.
    pub pool_size: u32,
    /// Connections each pod's Dapr sidecar opens.
    pub sidecar_connections: u32,
}

impl ComponentDemand {
    /// One pod, a pool of 10 (node-postgres' default) and 2 sidecar connections.
    pub const DEFAULT: ComponentDemand = ComponentDemand {
        pods: 1,
        pool_size: 10,
        sidecar_connections: 2,
    };

    /// The connections the running pods hold: `pods × (pool_size + sidecar_connections)`.
    pub fn connections(&self) -> u64 {
        u64::from(self.pods) * (u64::from(self.pool_size) + u64::from(self.sidecar_connections))
    }
}

impl Default for ComponentDemand {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The expected load, for the capacity check: a [`ComponentDemand`] per component (one default
/// for all unless overridden) plus one connection per migration Job.
///
/// ```
/// use scrydon_byodb::catalog::Component;
/// use scrydon_byodb::preflight::{ComponentDemand, Demand};
///
/// let demand = Demand::new()
///     .with_default(ComponentDemand { pods: 2, pool_size: 10, sidecar_connections: 2 })
///     .with_component(Component::Cortex, ComponentDemand { pods: 4, pool_size: 20, sidecar_connections: 2 });
/// // 4 × 24 (auth, agentic, analytics, ontology) + 88 (cortex) + 5 migration Jobs.
/// assert_eq!(demand.connections(Component::ALL), 4 * 24 + 88 + 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Demand {
    default: ComponentDemand,
    per_component: BTreeMap<Component, ComponentDemand>,
}

impl Demand {
    /// [`ComponentDemand::DEFAULT`] for every component.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the demand of every component not set with [`Demand::with_component`].
    pub fn with_default(mut self, demand: ComponentDemand) -> Self {
        self.default = demand;
        self
    }

    /// Sets one component's demand.
    pub fn with_component(mut self, component: Component, demand: ComponentDemand) -> Self {
        self.per_component.insert(component, demand);
        self
    }

    /// One component's demand.
    pub fn of(&self, component: Component) -> ComponentDemand {
        self.per_component
            .get(&component)
            .copied()
            .unwrap_or(self.default)
    }

    /// The connections `components` need at once: their pods, plus one per migration Job.
    pub fn connections(&self, components: impl IntoIterator<Item = Component>) -> u64 {
        components
            .into_iter()
            .map(|c| self.of(c).connections() + 1)
            .sum()
    }
}

/// Where preflight looks and what it expects to find. Build with [`Target::builder`].
///
/// ```
/// use scrydon_byodb::catalog::Component;
/// use scrydon_byodb::dsn::Dsn;
/// use scrydon_byodb::preflight::Target;
///
/// let admin: Dsn = "postgres://admin:pw@pg.example.com/postgres?sslmode=verify-full".parse()?;
/// let target = Target::builder(admin)
///     .with_app_role("scrydon")
///     .with_components([Component::Auth, Component::Agentic])
///     .build()?;
/// assert_eq!(target.app_role(), "scrydon");
/// assert_eq!(target.database(Component::Auth), "auth");
/// assert_eq!(target.components().count(), 2);
/// # Ok::<(), scrydon_byodb::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Target {
    admin: Dsn,
    component_dsns: BTreeMap<Component, Dsn>,
    app_role: String,
    components: BTreeSet<Component>,
    demand: Demand,
}

impl Target {
    /// Starts a target on the server `admin` points at. The admin DSN's database is the one
    /// connected to for server-wide checks (usually `postgres`); each component's database is
    /// reached with the same DSN and that database's name, unless
    /// [`TargetBuilder::with_component_dsn`] gives its own.
    pub fn builder(admin: Dsn) -> TargetBuilder {
        TargetBuilder {
            admin,
            component_dsns: BTreeMap::new(),
            app_role: None,
            components: None,
            demand: Demand::new(),
        }
    }

    /// The admin DSN.
    pub fn admin(&self) -> &Dsn {
        &self.admin
    }

    /// The migration role.
    pub fn app_role(&self) -> &str {
        &self.app_role
    }

    /// The enabled components, in catalogue order.
    pub fn components(&self) -> impl Iterator<Item = Component> + '_ {
        self.components.iter().copied()
    }

    /// The expected load.
    pub fn demand(&self) -> &Demand {
        &self.demand
    }

    /// The DSN preflight uses for `component`'s database: its own, or the admin DSN with the
    /// catalogue's database name.
    pub fn component_dsn(&self, component: Component) -> Dsn {
        match self.component_dsns.get(&component) {
            Some(dsn) => dsn.clone(),
            None => self.admin.with_dbname(component.spec().database),
        }
    }

    /// Whether `component` has a DSN of its own.
    pub fn has_own_dsn(&self, component: Component) -> bool {
        self.component_dsns.contains_key(&component)
    }

    /// The name of `component`'s database (its own DSN's `dbname`, else the catalogue's).
    pub fn database(&self, component: Component) -> String {
        self.component_dsns
            .get(&component)
            .and_then(|d| d.dbname())
            .unwrap_or(component.spec().database)
            .to_owned()
    }
}

/// Builds a [`Target`]; setters never fail, [`build`](TargetBuilder::build) validates.
#[derive(Debug, Clone)]
pub struct TargetBuilder {
    admin: Dsn,
    component_dsns: BTreeMap<Component, Dsn>,
    app_role: Option<String>,
    components: Option<Vec<Component>>,
    demand: Demand,
}

impl TargetBuilder {
    /// The role the migration Jobs (and the apps) connect as. Default: [`DEFAULT_APP_ROLE`].
    pub fn with_app_role(mut self, role: impl Into<String>) -> Self {
        self.app_role = Some(role.into());
        self
    }

    /// The enabled components. Default: all five.
    pub fn with_components(mut self, components: impl IntoIterator<Item = Component>) -> Self {
        self.components = Some(components.into_iter().collect());
        self
    }

    /// The DSN of one component's database (as the app will use it), instead of the admin DSN
    /// with the catalogue's database name.
    pub fn with_component_dsn(mut self, component: Component, dsn: Dsn) -> Self {
        self.component_dsns.insert(component, dsn);
        self
    }

    /// The expected load. Default: [`Demand::new`].
    pub fn with_demand(mut self, demand: Demand) -> Self {
        self.demand = demand;
        self
    }

    /// Validates and builds: the DSNs must be well-formed (libpq's rules), the role a valid
    /// PostgreSQL identifier, at least one component enabled, and a component DSN only for an
    /// enabled component. Errors name the field and the value (passwords masked).
    pub fn build(self) -> Result<Target> {
        self.admin.validate()?;
        self.admin.endpoints()?;
        let app_role = self.app_role.unwrap_or_else(|| DEFAULT_APP_ROLE.to_owned());
        validate_identifier("app_role", &app_role)?;
        let components: BTreeSet<Component> = match self.components {
            Some(list) => list.into_iter().collect(),
            None => Component::ALL.into_iter().collect(),
        };
        if components.is_empty() {
            return Err(Error::input(
                "components",
                "",
                "no component enabled; enable at least one of auth, agentic, analytics, cortex, ontology",
            ));
        }
        for (component, dsn) in &self.component_dsns {
            if !components.contains(component) {
                return Err(Error::input(
                    "component_dsn",
                    dsn.to_string(),
                    format!("a DSN is given for {component}, which is not enabled"),
                ));
            }
            dsn.validate()?;
            dsn.endpoints()?;
        }
        Ok(Target {
            admin: self.admin,
            component_dsns: self.component_dsns,
            app_role,
            components,
            demand: self.demand,
        })
    }
}

fn validate_identifier(field: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::input(field, value, "must not be empty"));
    }
    if value.contains('\0') {
        return Err(Error::input(
            field,
            value.replace('\0', "\\0"),
            "must not contain a NUL character",
        ));
    }
    if value.len() > MAX_IDENTIFIER_BYTES {
        return Err(Error::input(
            field,
            value,
            format!(
                "is {} bytes long; PostgreSQL names are at most {MAX_IDENTIFIER_BYTES}",
                value.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Dsn {
        Dsn::parse("postgres://admin:hunter2@db.example.com/postgres?sslmode=require").unwrap()
    }

    #[test]
    fn defaults() {
        let t = Target::builder(admin()).build().unwrap();
        assert_eq!(t.app_role(), DEFAULT_APP_ROLE);
        assert_eq!(t.components().collect::<Vec<_>>(), Component::ALL);
        assert_eq!(t.component_dsn(Component::Cortex).dbname(), Some("cortex"));
        assert_eq!(t.database(Component::Ontology), "ontology");
        // 5 × (1 × (10 + 2)) + 5 migration Jobs.
        assert_eq!(t.demand().connections(t.components()), 65);
    }

    #[test]
    fn component_dsn_overrides_database() {
        let own = Dsn::parse("postgres://scrydon@db.example.com/auth_prod").unwrap();
        let t = Target::builder(admin())
            .with_component_dsn(Component::Auth, own.clone())
            .build()
            .unwrap();
        assert_eq!(t.component_dsn(Component::Auth), own);
        assert_eq!(t.database(Component::Auth), "auth_prod");
        assert!(t.has_own_dsn(Component::Auth));
        assert!(!t.has_own_dsn(Component::Agentic));
    }

    #[test]
    fn invalid_inputs_name_field_and_value() {
        let err = Target::builder(admin())
            .with_app_role("")
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "app_role"));

        let long = "r".repeat(64);
        let err = Target::builder(admin())
            .with_app_role(long.clone())
            .build()
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { ref field, ref value, .. } if field == "app_role" && *value == long)
        );

        let err = Target::builder(admin())
            .with_components([])
            .build()
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { ref field, .. } if field == "components"));

        let err = Target::builder(admin())
            .with_components([Component::Auth])
            .with_component_dsn(
                Component::Cortex,
                Dsn::parse("postgres://u:topsecret@h/cortex").unwrap(),
            )
            .build()
            .unwrap_err();
        match err {
            Error::InvalidInput { field, value, .. } => {
                assert_eq!(field, "component_dsn");
                assert!(!value.contains("topsecret"), "{value}");
            }
            other => panic!("{other:?}"),
        }
    }
}
