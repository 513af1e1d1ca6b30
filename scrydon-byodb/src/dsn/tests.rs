#![allow(clippy::unwrap_used)] // tests may unwrap

use std::collections::HashMap;

use super::*;

fn parse(s: &str) -> Dsn {
    match Dsn::parse(s) {
        Ok(d) => d,
        Err(e) => panic!("{s:?} should parse: {e}"),
    }
}

fn params(d: &Dsn) -> Vec<(&'static str, &str)> {
    d.params().collect()
}

fn field_of(e: &Error) -> Option<&str> {
    match e {
        Error::InvalidDsn { field, .. } => field.as_deref(),
        other => panic!("expected InvalidDsn, got {other:?}"),
    }
}

fn dsn_error(s: &str) -> Error {
    match Dsn::parse(s) {
        Ok(d) => panic!("{s:?} should be refused, parsed as {:?}", params(&d)),
        Err(e) => e,
    }
}

/// Every character that means something in a URI or in keyword=value, plus non-ASCII.
const NASTY: &str = "p@ss/w:o?r#d[x]%y&z=+ 'q\"\\ é€😀\t";

#[test]
fn uri_parts_land_in_their_keywords() {
    let d = parse(
        "postgres://app:s%40cret@db.example.com:6432/auth?sslmode=verify-full&application_name=api",
    );
    assert_eq!(
        params(&d),
        vec![
            ("user", "app"),
            ("password", "s@cret"),
            ("dbname", "auth"),
            ("host", "db.example.com"),
            ("port", "6432"),
            ("application_name", "api"),
            ("sslmode", "verify-full"),
        ]
    );
    assert_eq!(d.ssl_mode(), SslMode::VerifyFull);
}

#[test]
fn keyword_value_quoting_and_escapes() {
    let d = parse(r"host = db   user='a b' password='it\'s \\ ok' dbname=x\ y options=''");
    assert_eq!(d.get("host"), Some("db"));
    assert_eq!(d.user(), Some("a b"));
    assert_eq!(d.password(), Some(r"it's \ ok"));
    assert_eq!(d.dbname(), Some("x y"));
    assert_eq!(d.options(), Some(""));
    // Duplicates: the last wins.
    assert_eq!(parse("port=1 port=2").get("port"), Some("2"));
    // Empty and blank strings are valid and set nothing.
    assert!(params(&parse("")).is_empty());
    assert!(params(&parse(" \t\n")).is_empty());
}

#[test]
fn keyword_value_errors_name_the_field() {
    assert_eq!(field_of(&dsn_error("host='db")), Some("host"));
    assert_eq!(field_of(&dsn_error("sslmode=requre")), Some("sslmode"));
    assert_eq!(field_of(&dsn_error("port=0")), Some("port"));
    assert_eq!(field_of(&dsn_error("port=5432,70000")), Some("port"));
    assert_eq!(
        field_of(&dsn_error("hostaddr=db.example.com")),
        Some("hostaddr")
    );
    assert_eq!(
        field_of(&dsn_error("connect_timeout=10s")),
        Some("connect_timeout")
    );
    assert_eq!(
        field_of(&dsn_error("channel_binding=yes")),
        Some("channel_binding")
    );
    assert_eq!(
        field_of(&dsn_error("target_session_attrs=rw")),
        Some("target_session_attrs")
    );
    assert_eq!(
        field_of(&dsn_error("sslnegotiation=tls")),
        Some("sslnegotiation")
    );
    assert_eq!(field_of(&dsn_error("service=prod")), Some("service"));
    // Unknown keyword and missing '=' are not any keyword's fault.
    assert_eq!(field_of(&dsn_error("uzer=x")), None);
    assert_eq!(field_of(&dsn_error("host")), None);
    let reason = dsn_error("sslmode=requre").to_string();
    assert!(reason.contains("\"requre\""), "{reason}");
}

#[test]
fn legacy_spellings_map_as_in_libpq() {
    assert_eq!(parse("requiressl=1").get("sslmode"), Some("require"));
    assert_eq!(parse("requiressl=0").get("sslmode"), Some("prefer"));
    assert_eq!(
        parse("postgres://h?ssl=true").get("sslmode"),
        Some("require")
    );
    assert_eq!(field_of(&dsn_error("postgres://h?ssl=false")), Some("uri"));
}

#[test]
fn uri_hosts_ports_and_sockets() {
    let d = parse("postgresql://a:1,[::1]:2,%2Ftmp%2Fpg/db");
    assert_eq!(d.get("host"), Some("a,::1,/tmp/pg"));
    assert_eq!(d.get("port"), Some("1,2,"));
    let eps = d.endpoints().unwrap();
    assert_eq!(
        eps,
        vec![
            Endpoint {
                host: Host::Tcp("a".into()),
                hostaddr: None,
                port: 1
            },
            Endpoint {
                host: Host::Tcp("::1".into()),
                hostaddr: None,
                port: 2
            },
            Endpoint {
                host: Host::Unix("/tmp/pg".into()),
                hostaddr: None,
                port: DEFAULT_PORT
            },
        ]
    );
}

#[test]
fn endpoints_follow_libpq_pairing() {
    let d = parse("host=a,b,c port=6432");
    let ports: Vec<u16> = d.endpoints().unwrap().iter().map(|e| e.port).collect();
    assert_eq!(ports, vec![6432, 6432, 6432]);

    let d = parse("host=a,,c");
    let hosts: Vec<Host> = d.endpoints().unwrap().into_iter().map(|e| e.host).collect();
    assert_eq!(
        hosts,
        vec![
            Host::Tcp("a".into()),
            Host::Unix(DEFAULT_SOCKET_DIR.into()),
            Host::Tcp("c".into())
        ]
    );

    assert_eq!(
        parse("").endpoints().unwrap(),
        vec![Endpoint {
            host: Host::Unix(DEFAULT_SOCKET_DIR.into()),
            hostaddr: None,
            port: DEFAULT_PORT
        }]
    );

    let d = parse("hostaddr=10.0.0.1,::1 host=db,");
    let eps = d.endpoints().unwrap();
    assert_eq!(eps[0].host, Host::Tcp("db".into()));
    assert_eq!(eps[0].hostaddr, Some("10.0.0.1".parse().unwrap()));
    // No host name for the second entry: the address stands in for it.
    assert_eq!(eps[1].host, Host::Tcp("::1".into()));

    let err = parse("host=a,b port=1,2,3").endpoints().unwrap_err();
    assert_eq!(field_of(&err), Some("port"));
    let err = parse("host=a hostaddr=10.0.0.1,10.0.0.2")
        .endpoints()
        .unwrap_err();
    assert_eq!(field_of(&err), Some("host"));
    assert!(parse("host=a hostaddr=10.0.0.1,10.0.0.2")
        .validate()
        .is_err());
}

#[test]
fn effective_sslmode_and_tls_checks() {
    assert_eq!(parse("").ssl_mode(), SslMode::Prefer);
    assert_eq!(parse("sslrootcert=system").ssl_mode(), SslMode::VerifyFull);
    assert_eq!(
        parse("sslrootcert=system sslmode=disable").ssl_mode(),
        SslMode::Disable
    );
    assert_eq!(
        parse("sslrootcert=system").ssl_root_cert(),
        Some(SslRootCert::System)
    );
    assert_eq!(
        parse("sslrootcert=/etc/ca.pem").ssl_root_cert(),
        Some(SslRootCert::File("/etc/ca.pem".into()))
    );
    assert_eq!(parse("sslrootcert=").ssl_root_cert(), None);

    assert!(parse("sslrootcert=system").validate_tls().is_ok());
    for weak in ["verify-ca", "require", "prefer"] {
        let d = parse(&format!("sslrootcert=system sslmode={weak}"));
        assert!(
            matches!(d.validate_tls(), Err(Error::TlsConfig { .. })),
            "{weak}"
        );
    }
    assert!(parse("sslnegotiation=direct").validate_tls().is_err());
    assert!(parse("sslnegotiation=direct sslmode=require")
        .validate_tls()
        .is_ok());
    assert!(
        parse("ssl_min_protocol_version=TLSv1.3 ssl_max_protocol_version=TLSv1.2")
            .validate_tls()
            .is_err()
    );
}

#[test]
fn typed_accessors() {
    let d = parse(
        "connect_timeout=1 keepalives=0 keepalives_idle=30 keepalives_interval=-5 \
         keepalives_count=3 tcp_user_timeout=1500 channel_binding=require \
         target_session_attrs=read-write sslnegotiation=direct load_balance_hosts=random \
         sslcert=/c sslkey=/k sslcrl=/r application_name=api",
    );
    assert_eq!(d.connect_timeout(), Some(Duration::from_secs(2)));
    assert!(!d.keepalives());
    assert_eq!(d.keepalives_idle(), Some(Duration::from_secs(30)));
    assert_eq!(d.keepalives_interval(), Some(Duration::ZERO));
    assert_eq!(d.keepalives_count(), Some(3));
    assert_eq!(d.tcp_user_timeout(), Some(Duration::from_millis(1500)));
    assert_eq!(d.channel_binding(), ChannelBinding::Require);
    assert_eq!(d.target_session_attrs(), TargetSessionAttrs::ReadWrite);
    assert_eq!(d.ssl_negotiation(), SslNegotiation::Direct);
    assert_eq!(d.load_balance_hosts(), LoadBalanceHosts::Random);
    assert_eq!(d.ssl_cert(), Some(Path::new("/c")));
    assert_eq!(d.ssl_key(), Some(Path::new("/k")));
    assert_eq!(d.ssl_crl(), Some(Path::new("/r")));
    assert_eq!(d.application_name(), Some("api"));

    assert_eq!(parse("connect_timeout=0").connect_timeout(), None);
    assert_eq!(parse("connect_timeout=-3").connect_timeout(), None);
    assert_eq!(
        parse("connect_timeout=' 10 '").connect_timeout(),
        Some(Duration::from_secs(10))
    );
    let d = parse("");
    assert!(d.keepalives());
    assert_eq!(d.channel_binding(), ChannelBinding::Prefer);
    assert_eq!(d.target_session_attrs(), TargetSessionAttrs::Any);
    assert_eq!(d.ssl_negotiation(), SslNegotiation::Postgres);
    assert_eq!(d.connect_timeout(), None);
}

#[test]
fn set_validates_and_replaces() {
    let mut d = parse("postgres://app@db/auth?sslmode=prefer");
    d.set("sslmode", "require").unwrap();
    assert_eq!(
        params(&d).iter().filter(|(k, _)| *k == "sslmode").count(),
        1
    );
    assert_eq!(d.ssl_mode(), SslMode::Require);
    assert_eq!(d.to_string(), "postgresql://app@db/auth?sslmode=require");

    assert_eq!(
        field_of(&d.set("sslmode", "on").unwrap_err()),
        Some("sslmode")
    );
    assert_eq!(field_of(&d.set("bogus", "1").unwrap_err()), None);
    assert_eq!(
        field_of(&d.set("service", "x").unwrap_err()),
        Some("service")
    );
    assert!(d.set("dbname", "a\0b").is_err());
    // A failed set leaves the value as it was.
    assert_eq!(d.ssl_mode(), SslMode::Require);

    assert!(d.remove("sslmode").unwrap());
    assert!(!d.remove("sslmode").unwrap());
    assert_eq!(d.ssl_mode(), SslMode::Prefer);
}

#[test]
fn with_dbname_keeps_everything_else() {
    let d = parse("host=a,b port=1,2 user=u password=p sslmode=verify-full dbname=one");
    let other = d.with_dbname("two");
    assert_eq!(other.dbname(), Some("two"));
    let mut back = other.clone();
    back.set("dbname", "one").unwrap();
    assert_eq!(back, d);
    assert_eq!(d.dbname(), Some("one"));
}

#[test]
fn to_uri_round_trips_any_password() {
    let mut d = parse("postgresql://u@db.example.com/app");
    d.set("password", NASTY).unwrap();
    let uri = d.to_uri();
    assert_eq!(Dsn::parse(uri.expose_secret()).unwrap(), d);
    assert_eq!(
        Dsn::parse(uri.expose_secret()).unwrap().password(),
        Some(NASTY)
    );

    // Every keyword set to the nasty value (where the value is free-form) round-trips.
    let mut all = Dsn::new();
    for key in [
        "user",
        "password",
        "dbname",
        "host",
        "options",
        "application_name",
    ] {
        all.set(key, NASTY).unwrap();
    }
    let back = Dsn::parse(all.to_uri().expose_secret()).unwrap();
    assert_eq!(back, all);
}

#[test]
fn to_uri_round_trips_awkward_host_lists_and_empty_values() {
    for s in [
        "host=a,b",
        "host=a,b port=5432",
        "host=a,,b port=1,2,3",
        "host= port=1",
        "host=/tmp,db port=,5",
        "host='::1,fe80::1' port=1,2",
        "user='' password='' dbname=''",
        "port=5433",
        "port=1,2",
        "host=' a ' port=' 5432 '",
        "sslpassword=x sslrootcert=system",
    ] {
        let d = parse(s);
        let uri = d.to_uri();
        let back = Dsn::parse(uri.expose_secret())
            .unwrap_or_else(|e| panic!("{s:?} rendered as {uri:?} does not parse: {e}"));
        assert_eq!(params(&back), params(&d), "{s:?}");
    }
}

#[test]
fn password_never_shown() {
    let secret_pw = "hunter2-very-secret";
    for s in [
        format!("postgresql://u:{secret_pw}@h/db"),
        format!("host=h password={secret_pw} sslpassword={secret_pw}"),
        format!("postgresql://h?password={secret_pw}&sslpassword={secret_pw}"),
    ] {
        let d = parse(&s);
        assert!(!d.to_string().contains(secret_pw), "{d}");
        assert!(!format!("{d:?}").contains(secret_pw));
        assert!(!format!("{:?}", d.to_uri()).contains(secret_pw));
        assert!(d.to_uri().expose_secret().contains(secret_pw));
    }
    assert_eq!(
        parse("postgresql://u:pw@h").to_string(),
        format!("postgresql://u:{PASSWORD_MASK}@h")
    );
}

#[test]
fn errors_do_not_echo_passwords() {
    let pw = "s3cr3t-p4ss";
    let cases = [
        format!("postgresql://u:{pw}%zz@h"),
        format!("postgresql://u:{pw} x@h"),
        format!("postgresql://u:{pw}%00@h"),
        format!("postgresql://h?password={pw}%zz"),
        format!("postgresql://h?password={pw}%20x%20 y"),
        format!("password={pw} {pw}"),
        format!("password={pw} {pw}=1"),
        format!("password='{pw}"),
        // An unencoded '/' in the password: libpq reads "u" as the host and the start of the
        // password as the port.
        format!("postgresql://u:{pw}/x@h/db"),
        format!("postgresql://u:{pw}%zz/x@h/db"),
    ];
    for s in &cases {
        let e = dsn_error(s);
        assert!(!e.to_string().contains(pw), "{s:?}: {e}");
        assert!(!format!("{e:?}").contains(pw), "{s:?}: {e:?}");
    }
}

#[test]
fn env_is_opt_in_and_explicit_values_win() {
    let env: HashMap<String, String> = [
        ("PGHOST", "envhost"),
        ("PGPORT", "6000"),
        ("PGUSER", "envuser"),
        ("PGPASSWORD", "envpw"),
        ("PGSSLROOTCERT", "system"),
        ("PGAPPNAME", "envapp"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let d = parse("host=mine application_name=");
    assert_eq!(d.get("port"), None, "parse never reads the environment");
    let d = d.with_env(&env).unwrap();
    assert_eq!(d.get("host"), Some("mine"));
    assert_eq!(d.get("port"), Some("6000"));
    assert_eq!(d.user(), Some("envuser"));
    assert_eq!(d.password(), Some("envpw"));
    // Set to empty in the string: the environment does not fill it.
    assert_eq!(d.application_name(), Some(""));
    assert_eq!(d.ssl_mode(), SslMode::VerifyFull);

    let bad = [("PGSSLMODE", "sometimes")];
    let err = Dsn::from_env_and("", &bad).unwrap_err();
    assert_eq!(field_of(&err), Some("sslmode"));
    assert!(err.to_string().contains("PGSSLMODE"));

    let legacy = [("PGREQUIRESSL", "1")];
    assert_eq!(
        Dsn::from_env_and("", &legacy).unwrap().ssl_mode(),
        SslMode::Require
    );
    let both = [("PGREQUIRESSL", "1"), ("PGSSLMODE", "disable")];
    assert_eq!(
        Dsn::from_env_and("", &both).unwrap().ssl_mode(),
        SslMode::Disable
    );
    let service = [("PGSERVICE", "prod")];
    assert_eq!(
        field_of(&Dsn::from_env_and("", &service).unwrap_err()),
        Some("service")
    );
}

#[test]
fn passfile_lookup() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pgpass");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "# host:port:db:user:password").unwrap();
    writeln!(f, "db1:5432:app:alice:one").unwrap();
    writeln!(f, "db2:6432:*:alice:two\\:colon").unwrap();
    writeln!(f, "localhost:5432:alice:alice:sock").unwrap();
    drop(f);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let d = parse("host=db1,db2 port=5432,6432 user=alice dbname=app");
    let pws: Vec<Option<String>> = d
        .passfile_passwords(&path)
        .unwrap()
        .into_iter()
        .map(|p| p.map(|s| s.expose_secret().to_owned()))
        .collect();
    assert_eq!(
        pws,
        vec![Some("one".to_owned()), Some("two:colon".to_owned())]
    );

    let mut d = parse("host=db2 port=6432 user=alice");
    assert!(d.resolve_password_from_passfile(&path).unwrap());
    assert_eq!(d.password(), Some("two:colon"));

    // No host: the default socket directory, looked up as localhost; dbname defaults to user.
    let mut d = parse("user=alice");
    assert!(d.resolve_password_from_passfile(&path).unwrap());
    assert_eq!(d.password(), Some("sock"));

    // An explicit password wins.
    let mut d = parse("host=db1 user=alice dbname=app password=given");
    assert!(!d.resolve_password_from_passfile(&path).unwrap());
    assert_eq!(d.password(), Some("given"));

    // No user: refused rather than guessed.
    assert!(parse("host=db1").passfile_passwords(&path).is_err());

    // Missing file: no password.
    let mut d = parse("host=db1 user=alice dbname=app");
    assert!(!d
        .resolve_password_from_passfile(&dir.path().join("missing"))
        .unwrap());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            d.resolve_password_from_passfile(&path),
            Err(Error::InvalidInput { .. })
        ));
    }
}

#[test]
fn passfile_path_is_opt_in() {
    let env = [("HOME", "/home/u")];
    assert_eq!(
        parse("").passfile_path(&env),
        Some(PathBuf::from("/home/u/.pgpass"))
    );
    let env = [("HOME", "/home/u"), ("PGPASSFILE", "/etc/pgpass")];
    assert_eq!(
        parse("").passfile_path(&env),
        Some(PathBuf::from("/etc/pgpass"))
    );
    assert_eq!(
        parse("passfile=/x").passfile_path(&env),
        Some(PathBuf::from("/x"))
    );
    assert_eq!(parse("").passfile_path(&[("X", "y")]), None);
}

#[test]
fn keyword_list_and_defaults() {
    let kws: Vec<&str> = keywords().collect();
    assert_eq!(kws.len(), 40);
    assert!(!kws.contains(&"service"));
    assert_eq!(kws[0], "user");
    assert_eq!(compiled_default("port"), Some("5432"));
    assert_eq!(compiled_default("sslmode"), Some("prefer"));
    assert_eq!(compiled_default("host"), None);
    assert_eq!(compiled_default("bogus"), None);
}

/// Checks what must hold for any input: no panic, and on success a lossless URI and a
/// password-free Display. Shared with the fuzz target's checks (fuzz/fuzz_targets/dsn_parse.rs).
fn check_invariants(input: &str) {
    let Ok(d) = Dsn::parse(input) else { return };
    let uri = d.to_uri();
    let back = Dsn::parse(uri.expose_secret())
        .unwrap_or_else(|e| panic!("{input:?}: rendered URI does not parse: {e}"));
    assert_eq!(params(&back), params(&d), "{input:?}");
    let _ = d.endpoints();
    let _ = d.validate();
    if let Some(pw) = d.password().filter(|p| !p.is_empty()) {
        let mut other = d.clone();
        other.set("password", "a-different-password").unwrap();
        assert_eq!(
            d.to_string(),
            other.to_string(),
            "Display depends on the password"
        );
        assert_eq!(format!("{d:?}"), format!("{other:?}"));
        if pw.len() >= 4 && !other.to_string().contains(pw) {
            assert!(!d.to_string().contains(pw), "{input:?}");
        }
    }
}

/// A deterministic pseudo-random corpus built from the tokens that matter to both parsers, run
/// on every `cargo test` (the fuzz target explores further).
#[test]
fn pseudo_random_corpus_never_panics_and_round_trips() {
    const TOKENS: &[&str] = &[
        "postgresql://",
        "postgres://",
        "@",
        ":",
        "/",
        "?",
        "&",
        "=",
        ",",
        "[",
        "]",
        "%",
        "%2",
        "%41",
        "%2F",
        "%00",
        "%zz",
        "%20",
        "'",
        "\\",
        " ",
        "\t",
        "\n",
        "host",
        "hostaddr",
        "port",
        "user",
        "password",
        "dbname",
        "sslmode",
        "require",
        "verify-full",
        "sslrootcert",
        "system",
        "options",
        "5432",
        "0",
        "65536",
        "::1",
        "127.0.0.1",
        "db",
        "é",
        "😀",
        "x",
        "requiressl",
        "ssl",
        "true",
        "service",
        "keepalives",
        "connect_timeout",
        "-1",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let mut parsed = 0;
    for _ in 0..20_000 {
        let len = (next() % 12) as usize;
        let mut s = String::new();
        for _ in 0..len {
            s.push_str(TOKENS[(next() % TOKENS.len() as u64) as usize]);
        }
        if Dsn::parse(&s).is_ok() {
            parsed += 1;
        }
        check_invariants(&s);
    }
    // The corpus must exercise the success path too, or the round-trip checks test nothing.
    assert!(parsed > 1_000, "only {parsed} inputs parsed");
}
