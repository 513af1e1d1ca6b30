//! Any PostgreSQL, SQL only.

use async_trait::async_trait;

use super::{Capabilities, Provider, ProviderKind};

/// Any PostgreSQL: nothing beyond SQL. Every capability is off, so every provider operation
/// returns [`Error::NotSupported`](crate::Error::NotSupported) and the checks that need one are
/// skipped. What SQL shows (`rds.force_ssl`, `azure.extensions`, the version, the roles) is
/// checked by preflight itself whatever the provider.
///
/// ```
/// use scrydon_byodb::provider::{Capabilities, GenericProvider, Provider};
///
/// let p = GenericProvider::new();
/// assert_eq!(p.name(), "generic");
/// assert_eq!(p.capabilities(), Capabilities::NONE);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GenericProvider {
    _private: (),
}

impl GenericProvider {
    /// The generic provider.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Provider for GenericProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Generic
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
}
