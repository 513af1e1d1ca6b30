//! Parses arbitrary input as a DSN; whatever parses must render to a URI that parses back to the
//! same parameters, and its Display/Debug must not depend on the password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scrydon_byodb::dsn::Dsn;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(dsn) = Dsn::parse(input) else {
        return;
    };

    let uri = dsn.to_uri();
    let back = match Dsn::parse(uri.expose_secret()) {
        Ok(back) => back,
        Err(e) => panic!("{input:?}: its URI does not parse: {e}"),
    };
    assert_eq!(
        back, dsn,
        "{input:?}: the URI round trip changed the parameters"
    );

    // The redacted form is a valid DSN too.
    let shown = dsn.to_string();
    assert!(
        Dsn::parse(&shown).is_ok(),
        "{input:?}: Display does not parse"
    );

    // Neither may panic, whatever the host lists hold.
    let _ = dsn.endpoints();
    let _ = dsn.validate();

    if let Some(password) = dsn.password().filter(|p| !p.is_empty()) {
        let mut other = dsn.clone();
        if other.set("password", "a-different-password").is_err() {
            panic!("{input:?}: set(password) refused a plain value");
        }
        assert_eq!(shown, other.to_string(), "Display depends on the password");
        assert_eq!(
            format!("{dsn:?}"),
            format!("{other:?}"),
            "Debug depends on the password"
        );
        // Literal check, unless the password also occurs in the rest of the string.
        if password.len() >= 4 && !other.to_string().contains(password) {
            assert!(
                !shown.contains(password),
                "{input:?}: Display shows the password"
            );
        }
    }
});
