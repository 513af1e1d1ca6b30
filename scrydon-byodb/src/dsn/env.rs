//! Where the `PG*` environment variables come from. Reading them is opt-in
//! ([`Dsn::with_env`](super::Dsn::with_env)); tests pass a map instead of touching the process
//! environment.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use super::{keywords::KEYWORDS, Dsn};
use crate::{Error, Result};

/// A source of environment variables.
pub trait EnvSource {
    /// The variable's value, if it is set (an empty value counts as set, as for libpq's
    /// `getenv`).
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment. Variables whose value is not UTF-8 are treated as unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl<S: BuildHasher> EnvSource for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl<S: BuildHasher> EnvSource for HashMap<&str, &str, S> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }
}

impl EnvSource for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

impl EnvSource for BTreeMap<&str, &str> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).map(|v| (*v).to_owned())
    }
}

impl EnvSource for [(&str, &str)] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .rev() // the last setting wins, as with repeated `export`
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

impl<const N: usize> EnvSource for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.as_slice().var(name)
    }
}

impl<T: EnvSource + ?Sized> EnvSource for &T {
    fn var(&self, name: &str) -> Option<String> {
        (**self).var(name)
    }
}

/// libpq's `conninfo_add_defaults`, minus the compiled-in defaults (the accessors apply those)
/// and minus the service file.
pub(super) fn apply(mut dsn: Dsn, env: &(impl EnvSource + ?Sized)) -> Result<Dsn> {
    if let Some(service) = env.var("PGSERVICE") {
        return Err(Error::dsn(
            "service".to_owned(),
            format!(
                "PGSERVICE={} is set, but service files (pg_service.conf) are not read; unset it \
                 and put the settings in the connection string",
                super::shown(&service)
            ),
        ));
    }
    for kw in KEYWORDS.iter() {
        let Some(var) = kw.env else { continue };
        if kw.name == "service" || dsn.get(kw.name).is_some() {
            continue;
        }
        if let Some(value) = env.var(var) {
            super::keywords::check_value(kw, &value, Some(var))?;
            dsn.store(kw.name, value);
        } else if kw.name == "sslmode" {
            // The deprecated PGREQUIRESSL: a value starting with "1" means sslmode=require.
            if env.var("PGREQUIRESSL").is_some_and(|v| v.starts_with('1')) {
                dsn.store("sslmode", "require".to_owned());
            }
        }
    }
    Ok(dsn)
}
