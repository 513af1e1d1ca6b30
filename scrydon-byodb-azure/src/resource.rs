//! Which Flexible Server: subscription, resource group and server name, or a resource id.

use std::fmt;

use scrydon_byodb::{Error, Result};

/// A Flexible Server's Azure Resource Manager identity.
///
/// ```
/// use scrydon_byodb_azure::FlexibleServerId;
///
/// let id: FlexibleServerId = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-db\
///     /providers/Microsoft.DBforPostgreSQL/flexibleServers/scrydon-prod"
///     .parse()
///     .unwrap();
/// assert_eq!(id.resource_group, "rg-db");
/// assert_eq!(id.server_name, "scrydon-prod");
/// assert!(id.resource_id().ends_with("/flexibleServers/scrydon-prod"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FlexibleServerId {
    /// The subscription (a GUID).
    pub subscription_id: String,
    /// The resource group.
    pub resource_group: String,
    /// The server's name (the first label of its host name).
    pub server_name: String,
}

const PROVIDER_SEGMENT: &str = "Microsoft.DBforPostgreSQL";
const TYPE_SEGMENT: &str = "flexibleServers";

impl FlexibleServerId {
    /// Checks each part; errors are [`Error::InvalidInput`] naming the field
    /// (`subscription_id`, `resource_group`, `server_name`).
    pub fn new(
        subscription_id: impl Into<String>,
        resource_group: impl Into<String>,
        server_name: impl Into<String>,
    ) -> Result<Self> {
        let id = FlexibleServerId {
            subscription_id: subscription_id.into(),
            resource_group: resource_group.into(),
            server_name: server_name.into(),
        };
        validate_subscription(&id.subscription_id)?;
        validate_resource_group(&id.resource_group)?;
        validate_server_name(&id.server_name)?;
        Ok(id)
    }

    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{name}`.
    pub fn resource_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/{PROVIDER_SEGMENT}/{TYPE_SEGMENT}/{}",
            self.subscription_id, self.resource_group, self.server_name
        )
    }

    /// The path segments of [`resource_id`](Self::resource_id), for building URLs.
    pub(crate) fn segments(&self) -> [&str; 8] {
        [
            "subscriptions",
            &self.subscription_id,
            "resourceGroups",
            &self.resource_group,
            "providers",
            PROVIDER_SEGMENT,
            TYPE_SEGMENT,
            &self.server_name,
        ]
    }
}

impl fmt::Display for FlexibleServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resource_id())
    }
}

impl std::str::FromStr for FlexibleServerId {
    type Err = Error;

    /// Parses a resource id. Segment names are matched case-insensitively (ARM does); the
    /// values keep their case. Errors name the field `resource_id`, or the part at fault.
    fn from_str(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidInput {
            field: "resource_id".to_owned(),
            value: s.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = s.trim().trim_end_matches('/');
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(bad("a resource id starts with /subscriptions/"));
        };
        let parts: Vec<&str> = rest.split('/').collect();
        let [subs, sub, rgs, rg, providers, provider, kind, name] = parts.as_slice() else {
            return Err(bad(
                "expected /subscriptions/<id>/resourceGroups/<group>/providers/\
                 Microsoft.DBforPostgreSQL/flexibleServers/<server>",
            ));
        };
        let expect = |got: &str, want: &str| got.eq_ignore_ascii_case(want);
        if !expect(subs, "subscriptions")
            || !expect(rgs, "resourceGroups")
            || !expect(providers, "providers")
        {
            return Err(bad(
                "expected /subscriptions/<id>/resourceGroups/<group>/providers/...",
            ));
        }
        if !expect(provider, PROVIDER_SEGMENT) || !expect(kind, TYPE_SEGMENT) {
            return Err(bad(
                "not a Flexible Server (Microsoft.DBforPostgreSQL/flexibleServers)",
            ));
        }
        FlexibleServerId::new(*sub, *rg, *name)
    }
}

fn invalid(field: &str, value: &str, reason: &str) -> Error {
    Error::InvalidInput {
        field: field.to_owned(),
        value: value.to_owned(),
        reason: reason.to_owned(),
    }
}

/// A subscription id is a GUID (8-4-4-4-12 hex digits).
pub(crate) fn validate_subscription(s: &str) -> Result<()> {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "subscription_id",
            s,
            "not a subscription id (a GUID such as 00000000-0000-0000-0000-000000000000)",
        ))
    }
}

/// Resource group names: 1-90 characters, letters, digits, `_`, `-`, `.`, `(`, `)`; not ending
/// with `.`.
pub(crate) fn validate_resource_group(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.chars().count() <= 90
        && !s.ends_with('.')
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '(' | ')'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "resource_group",
            s,
            "not a resource group name (1-90 letters, digits, _ - . ( ), not ending with .)",
        ))
    }
}

/// Flexible Server names: 3-63 lower-case letters, digits and hyphens, not starting or ending
/// with a hyphen.
pub(crate) fn validate_server_name(s: &str) -> Result<()> {
    let ok = (3..=63).contains(&s.len())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "server_name",
            s,
            "not a Flexible Server name (3-63 lower-case letters, digits and hyphens)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "0b1f6471-1bf0-4dda-aec3-111122223333";

    #[test]
    fn parses_and_round_trips() {
        let s = format!(
            "/subscriptions/{SUB}/resourcegroups/RG-1/providers/microsoft.dbforpostgresql/flexibleservers/pg-1/"
        );
        let id: FlexibleServerId = s.parse().unwrap();
        assert_eq!(id.subscription_id, SUB);
        assert_eq!(id.resource_group, "RG-1");
        assert_eq!(id.server_name, "pg-1");
        let again: FlexibleServerId = id.resource_id().parse().unwrap();
        assert_eq!(again, id);
    }

    #[test]
    fn names_the_field_at_fault() {
        let field = |s: &str| match s.parse::<FlexibleServerId>() {
            Err(Error::InvalidInput { field, .. }) => field,
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(field("subscriptions/x"), "resource_id");
        assert_eq!(
            field(&format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.DBforMySQL/flexibleServers/a1b"
            )),
            "resource_id"
        );
        assert_eq!(
            field("/subscriptions/nope/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/a1b"),
            "subscription_id"
        );
        assert_eq!(
            field(&format!(
                "/subscriptions/{SUB}/resourceGroups/rg./providers/Microsoft.DBforPostgreSQL/flexibleServers/a1b"
            )),
            "resource_group"
        );
        assert_eq!(
            field(&format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.DBforPostgreSQL/flexibleServers/Bad_Name"
            )),
            "server_name"
        );
    }
}
