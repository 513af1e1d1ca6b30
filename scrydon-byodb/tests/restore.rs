//! Restore against a real server with archives made by the real `pg_dump`: custom and gzip'd,
//! into a database owned by another role than the source's; truncated and corrupt archives;
//! the password kept out of `pg_restore`'s argv. Assertions are on states, ids and data.

use std::path::{Path, PathBuf};
use std::process::Command;

use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::restore::{self, ids, Compression, RestoreOptions, RestoreState};
use scrydon_byodb::Error;
use scrydon_byodb_testbed::{client_tool, Cluster};

const RESTORER_PW: &str = "R3st0re-s3cret!pw";

struct Fixture {
    cluster: Cluster,
    dir: tempfile::TempDir,
    custom: PathBuf,
    gzip: PathBuf,
}

/// A source database with a vector column, an hnsw index and a few MB of rows, dumped with
/// `pg_dump --format=custom` (and that dump gzip'd, as the backup CronJob writes it).
fn fixture() -> Fixture {
    let cluster = Cluster::builder().start().expect("cluster");
    cluster.create_database("source", None).expect("source db");
    cluster
        .psql_in(
            "source",
            "CREATE EXTENSION vector;
             CREATE TABLE items (id bigserial PRIMARY KEY, body text NOT NULL, embedding vector(8));
             INSERT INTO items (body, embedding)
               SELECT repeat(md5(i::text), 6),
                      array_fill((i % 97)::real / 97, ARRAY[8])::vector
                 FROM generate_series(1, 15000) i;
             CREATE INDEX items_embedding_idx ON items USING hnsw (embedding vector_l2_ops);
             CREATE TABLE notes (id int PRIMARY KEY, item bigint REFERENCES items, note text);
             INSERT INTO notes SELECT i, i, 'n' || i FROM generate_series(1, 500) i;
             CREATE VIEW long_notes AS SELECT * FROM notes WHERE length(note) > 3;
             CREATE FUNCTION item_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM items';",
        )
        .expect("source data");
    let dir = tempfile::tempdir().expect("tempdir");
    // Names that lie about the content: detection is by content only.
    let custom = dir.path().join("source.sql.gz");
    let status = Command::new(client_tool("pg_dump").expect("pg_dump"))
        .args(["--format=custom", "-f"])
        .arg(&custom)
        .arg("-d")
        .arg(cluster.conninfo(cluster.superuser(), "source", &[("sslmode", "require")]))
        .env("PGPASSWORD", cluster.superuser_password())
        .status()
        .expect("pg_dump");
    assert!(status.success());
    let gzip = dir.path().join("source.dump");
    let out = Command::new("gzip")
        .arg("-c")
        .arg(&custom)
        .output()
        .expect("gzip");
    assert!(out.status.success());
    std::fs::write(&gzip, out.stdout).expect("write gzip");
    let _ = cluster.create_role("restorer", Some(RESTORER_PW), "LOGIN");
    Fixture {
        cluster,
        dir,
        custom,
        gzip,
    }
}

/// An empty target database owned by `restorer`, with pgvector pre-created by the administrator
/// (as the runbook's "Pre-create databases and extension" does) when `with_vector`.
fn target(f: &Fixture, db: &str, with_vector: bool) -> Dsn {
    f.cluster
        .create_database(db, Some("restorer"))
        .expect("target db");
    if with_vector {
        f.cluster
            .psql_in(db, "CREATE EXTENSION vector;")
            .expect("vector");
    }
    let ca = f.cluster.ca_pem_path().expect("ca").display().to_string();
    f.cluster
        .dsn_for_host(
            "localhost",
            "restorer",
            Some(RESTORER_PW),
            db,
            &[("sslmode", "verify-full"), ("sslrootcert", &ca)],
        )
        .parse()
        .expect("dsn")
}

/// Row count and a checksum of every row.
fn fingerprint(c: &Cluster, db: &str) -> String {
    c.psql_in(
        db,
        "SELECT (SELECT count(*) || ':' || md5(string_agg(t::text, '|' ORDER BY id)) FROM items t)
             || '/' ||
                (SELECT count(*) || ':' || md5(string_agg(n::text, '|' ORDER BY id)) FROM notes n);",
    )
    .expect("fingerprint")
    .trim()
    .to_owned()
}

/// A `pg_restore` wrapper that records its argv and whether PGPASSWORD was set.
fn recording_pg_restore(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("argv.log");
    let script = dir.join("pg_restore");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{log}'; done\n\
             [ -n \"$PGPASSWORD\" ] && echo PGPASSWORD-set >> '{log}'\n\
             exec '{real}' \"$@\"\n",
            log = log.display(),
            real = client_tool("pg_restore").expect("pg_restore").display()
        ),
    )
    .expect("script");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, log)
}

#[tokio::test]
async fn restores_custom_and_gzip_archives_with_equal_data_and_no_password_in_argv() {
    let f = fixture();
    let source = fingerprint(&f.cluster, "source");
    assert!(source.starts_with("15000:"), "{source}");
    let (script, log) = recording_pg_restore(f.dir.path());

    for (archive, db, compression) in [
        (&f.custom, "auth", Compression::None),
        (&f.gzip, "agentic", Compression::Gzip),
    ] {
        let info = restore::inspect(archive).expect("inspect");
        assert_eq!(info.compression, compression);
        assert_eq!((info.version.major, info.version.minor), (1, 14));

        let dsn = target(&f, db, true);
        let report =
            restore::restore(&RestoreOptions::new(archive, dsn.clone()).with_pg_restore(&script))
                .await
                .expect("restore");
        assert_eq!(
            report.state,
            RestoreState::Complete,
            "{:#?}",
            report.findings
        );
        assert!(report.succeeded());
        assert_eq!(report.exit_code, Some(0));
        assert_eq!(report.bytes_read, info.size);
        let ids: Vec<_> = report.findings.iter().map(|f| f.id).collect();
        assert!(ids.contains(&ids::COMPLETE) && ids.contains(&ids::DAPR_CRYPTO_KEY));
        assert!(ids.contains(&ids::ROLLOUT_RESTART));
        let items = report
            .tables
            .iter()
            .find(|t| t.table == "items")
            .expect("items in report");
        assert_eq!(items.rows_estimate, Some(15000.0));
        assert_eq!(fingerprint(&f.cluster, db), source, "data of {db}");
        // The hnsw index and the view came along, owned by the restoring role.
        let owner = f
            .cluster
            .psql_in(
                db,
                "SELECT (SELECT count(*) FROM pg_indexes WHERE indexname = 'items_embedding_idx')
                     || ',' || (SELECT tableowner FROM pg_tables WHERE tablename = 'items')
                     || ',' || (SELECT count(*) FROM pg_views WHERE viewname = 'long_notes');",
            )
            .expect("catalog");
        assert_eq!(owner.trim(), "1,restorer,1");
        // Secrets: never in Display of the report target.
        assert!(!report.target.contains(RESTORER_PW));
    }

    let argv = std::fs::read_to_string(&log).expect("argv log");
    assert!(!argv.contains(RESTORER_PW), "password in argv:\n{argv}");
    assert!(argv.contains("PGPASSWORD-set"));
    assert!(argv.contains("--no-owner") && argv.contains("--no-privileges"));
    // The TLS settings were carried over into the conninfo given to -d.
    assert!(argv.contains("sslmode=verify-full") && argv.contains("sslrootcert="));
}

#[tokio::test]
async fn truncated_and_corrupt_archives_fail_cleanly_as_partial_restores() {
    let f = fixture();
    let bytes = std::fs::read(&f.custom).expect("archive");
    let truncated = f.dir.path().join("truncated");
    std::fs::write(&truncated, &bytes[..bytes.len() * 6 / 10]).expect("write");

    let report = restore::restore(&RestoreOptions::new(&truncated, target(&f, "auth", true)))
        .await
        .expect("restore runs");
    assert_eq!(
        report.state,
        RestoreState::Partial,
        "{:#?}",
        report.findings
    );
    assert!(!report.succeeded());
    assert_ne!(report.exit_code, Some(0));
    let ids: Vec<_> = report.findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&ids::PG_RESTORE_FAILED), "{ids:?}");
    assert!(ids.contains(&ids::PG_RESTORE_ERROR), "{ids:?}");

    // A gzip stream with its middle overwritten: the decompression fails mid-stream.
    let mut gz = std::fs::read(&f.gzip).expect("gzip");
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 4096] {
        *b = 0xA5;
    }
    let corrupt = f.dir.path().join("corrupt.gz");
    std::fs::write(&corrupt, &gz).expect("write");
    let report = restore::restore(&RestoreOptions::new(&corrupt, target(&f, "agentic", true)))
        .await
        .expect("restore runs");
    assert_eq!(
        report.state,
        RestoreState::Partial,
        "{:#?}",
        report.findings
    );
    assert!(!report.succeeded());
    let ids: Vec<_> = report.findings.iter().map(|f| f.id).collect();
    assert!(ids.contains(&ids::ARCHIVE_UNREADABLE), "{ids:?}");
}

#[tokio::test]
async fn refuses_other_formats_and_non_empty_targets() {
    let f = fixture();
    let dir = f.dir.path();
    // Plain SQL, gzip'd plain SQL, garbage, empty: refused by content, naming the archive.
    let plain = dir.join("plain.dump");
    std::fs::write(&plain, "--\n-- PostgreSQL database dump\n--\nSET x = 1;\n").expect("w");
    let gz_plain = dir.join("plain.sql.gz");
    let out = Command::new("gzip")
        .arg("-c")
        .arg(&plain)
        .output()
        .expect("gzip");
    std::fs::write(&gz_plain, out.stdout).expect("w");
    let garbage = dir.join("garbage.sql.gz");
    std::fs::write(&garbage, [0u8, 1, 2, 3, 4, 5, 6, 7, 8, 9]).expect("w");
    let empty = dir.join("empty");
    std::fs::write(&empty, []).expect("w");
    for p in [&plain, &gz_plain, &garbage, &empty] {
        match restore::inspect(p) {
            Err(Error::InvalidInput { field, value, .. }) => {
                assert_eq!(field, "archive");
                assert_eq!(value, p.display().to_string());
            }
            other => panic!("{}: {other:?}", p.display()),
        }
    }

    // A target that is not empty: refused before anything is done, unless --clean.
    let dsn = target(&f, "auth", true);
    f.cluster
        .psql_in(
            "auth",
            "CREATE TABLE items (id bigint); ALTER TABLE items OWNER TO restorer;",
        )
        .expect("table");
    match restore::restore(&RestoreOptions::new(&f.custom, dsn.clone())).await {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "target database"),
        other => panic!("{other:?}"),
    }
    let report = restore::restore(&RestoreOptions::new(&f.custom, dsn).with_clean(true))
        .await
        .expect("restore --clean");
    assert_eq!(
        report.state,
        RestoreState::Complete,
        "{:#?}",
        report.findings
    );
    assert_eq!(
        fingerprint(&f.cluster, "auth"),
        fingerprint(&f.cluster, "source")
    );

    // An archive version newer than this pg_restore reads (1.16, PostgreSQL 17): refused
    // before anything is done, naming the client to install.
    let mut bytes = std::fs::read(&f.custom).expect("archive");
    bytes[6] = 16;
    let newer = dir.join("newer.dump");
    std::fs::write(&newer, bytes).expect("w");
    assert_eq!(restore::inspect(&newer).expect("inspect").version.minor, 16);
    match restore::restore(&RestoreOptions::new(&newer, target(&f, "ontology", true))).await {
        Err(Error::InvalidInput { field, reason, .. }) => {
            assert_eq!(field, "pg_restore");
            assert!(reason.contains("postgresql-client-17"), "{reason}");
        }
        other => panic!("{other:?}"),
    }

    // A pg_restore that is not one.
    match restore::restore(
        &RestoreOptions::new(&f.custom, target(&f, "cortex", true)).with_pg_restore("/bin/true"),
    )
    .await
    {
        Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "pg_restore"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_extension_is_diagnosed_from_the_catalog() {
    let f = fixture();
    // pgvector installed on the server but not pre-created; the restoring role may not create
    // it (vector is not a trusted extension).
    let dsn = target(&f, "analytics", false);
    let report = restore::restore(&RestoreOptions::new(&f.gzip, dsn))
        .await
        .expect("restore runs");
    assert_eq!(report.state, RestoreState::Partial);
    let missing_ext = report
        .findings
        .iter()
        .find(|x| x.id == ids::OBJECT_MISSING && x.observed.contains("vector"))
        .expect("vector reported missing");
    assert_eq!(missing_ext.diagnosis, Some("extension.permission_denied"));
}
