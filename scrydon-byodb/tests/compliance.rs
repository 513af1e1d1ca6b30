//! The compliance report against real servers: (1) plaintext allowed, no archiving; (2) TLS
//! enforced, WAL archiving on, and a synchronous streaming standby made by the test with
//! `pg_basebackup -R`. Assertions are on control statuses and evidence ids and statuses.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use scrydon_byodb::compliance::{Compliance, ComplianceReport, Control, ControlStatus};
use scrydon_byodb::preflight::Target;
use scrydon_byodb::report::{ids, Status};
use scrydon_byodb_testbed::{free_port, Cluster, Hba};

async fn report(cluster: &Cluster) -> ComplianceReport {
    let admin = cluster.admin_uri("verify-full").parse().expect("admin dsn");
    let target = Target::builder(admin).build().expect("target");
    Compliance::new(target).run().await.expect("compliance")
}

fn evidence(r: &ComplianceReport, control: Control, id: &str) -> Status {
    r.control(control)
        .and_then(|c| c.evidence_status(id))
        .unwrap_or_else(|| panic!("{} has no evidence {id}", control.id()))
}

#[tokio::test]
async fn plaintext_allowed_and_no_archiving() {
    let cluster = Cluster::builder()
        .with_hba(Hba::PlaintextAllowed)
        .start()
        .expect("cluster");
    let r = report(&cluster).await;

    for control in [Control::Iso27001A824, Control::NistSc8] {
        let status = r.status_of(control).expect("control");
        assert!(
            matches!(status, ControlStatus::Partly | ControlStatus::NotMet),
            "{}: {status:?}",
            control.id()
        );
        assert_eq!(
            evidence(&r, control, ids::PREFLIGHT_TLS_ENFORCED),
            Status::Fail
        );
        assert_eq!(
            evidence(&r, control, ids::PREFLIGHT_TLS_SESSION),
            Status::Pass
        );
    }
    for control in [Control::Iso27001A813, Control::NistCp9, Control::NistCp10] {
        assert_eq!(
            r.status_of(control),
            Some(ControlStatus::NotMet),
            "{}",
            control.id()
        );
        assert_eq!(
            evidence(&r, control, ids::COMPLIANCE_WAL_ARCHIVING),
            Status::Fail
        );
        assert_eq!(evidence(&r, control, ids::PREFLIGHT_BACKUP), Status::Skip);
    }
    assert_eq!(
        r.status_of(Control::SecNumCloudContinuity),
        Some(ControlStatus::NotMet)
    );
    assert_eq!(
        evidence(
            &r,
            Control::SecNumCloudContinuity,
            ids::COMPLIANCE_SYNC_REPLICATION
        ),
        Status::Fail
    );
    // Generic: RPO/RTO unknown, no backup reminder.
    assert!(!r.recovery_objectives.documented);
    assert!(r.reminders.is_empty());
    // Every control in every rendering.
    let md = r.to_markdown();
    let json = r.to_json();
    for control in Control::ALL {
        assert!(md.contains(control.reference()), "{md}");
        assert!(r.to_text().contains(control.reference()));
    }
    assert_eq!(json["controls"][0]["control"], "iso27001.a.8.13");
    assert_eq!(json["controls"][0]["status"], "not_met");
    assert!(!md.contains(cluster.superuser_password()));
}

/// The server user, when the tests run as root (the test bed runs PostgreSQL as `postgres`).
fn server_user() -> Option<(u32, u32)> {
    let out = Command::new("id").arg("-u").output().expect("id");
    if String::from_utf8_lossy(&out.stdout).trim() != "0" {
        return None;
    }
    let id = |flag: &str| -> u32 {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("id postgres");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("numeric id")
    };
    Some((id("-u"), id("-g")))
}

fn as_server(cmd: &mut Command) -> &mut Command {
    if let Some((uid, gid)) = server_user() {
        // HOME too: libpq looks for ~/.postgresql/postgresql.crt, root's is not readable.
        cmd.uid(uid).gid(gid).env("HOME", "/nonexistent");
    }
    cmd
}

fn give_to_server(path: &Path) {
    if let Some((uid, gid)) = server_user() {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).expect("chown");
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A streaming standby of a test bed cluster, stopped on drop.
struct Standby {
    pg_ctl: PathBuf,
    data: PathBuf,
}

impl Standby {
    /// `pg_basebackup -R` from `primary` into a directory next to the test's, on its own port,
    /// with `application_name` set so the primary's `synchronous_standby_names` can name it.
    fn start(primary: &Cluster, dir: &Path, application_name: &str) -> Standby {
        let data = dir.join("standby");
        std::fs::create_dir(&data).expect("standby dir");
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        give_to_server(&data);
        let conninfo = format!(
            "host=127.0.0.1 port={} user={} password={} sslmode=require application_name={application_name}",
            primary.port(),
            primary.superuser(),
            primary.superuser_password()
        );
        run(
            as_server(
                Command::new(primary.bin_dir().join("pg_basebackup"))
                    .arg("-d")
                    .arg(&conninfo)
                    .arg("-D")
                    .arg(&data)
                    .args(["-X", "stream", "-R", "--no-sync"]),
            ),
            "pg_basebackup",
        );
        let port = free_port().expect("port");
        // postgresql.auto.conf is read last: its lines win over the copied configuration.
        let extra = format!(
            "\nport = {port}\nunix_socket_directories = ''\narchive_mode = off\n\
             primary_conninfo = '{}'\n",
            conninfo.replace('\'', "\\'")
        );
        let auto = data.join("postgresql.auto.conf");
        let mut text = std::fs::read_to_string(&auto).expect("auto.conf");
        text.push_str(&extra);
        std::fs::write(&auto, text).expect("write auto.conf");
        give_to_server(&auto);
        let standby = Standby {
            pg_ctl: primary.bin_dir().join("pg_ctl"),
            data,
        };
        let log = dir.join("standby.log");
        std::fs::File::create(&log).expect("log");
        give_to_server(&log);
        run(
            as_server(
                Command::new(&standby.pg_ctl)
                    .arg("-D")
                    .arg(&standby.data)
                    .arg("-l")
                    .arg(&log)
                    .args(["-w", "-t", "60", "start"]),
            ),
            "pg_ctl start (standby)",
        );
        standby
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = as_server(Command::new(&self.pg_ctl).arg("-D").arg(&self.data).args([
            "-m",
            "immediate",
            "-w",
            "stop",
        ]))
        .output();
    }
}

#[tokio::test]
async fn tls_enforced_archiving_and_a_synchronous_standby() {
    let scratch = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(
        scratch.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let archive = scratch.path().join("archive");
    std::fs::create_dir(&archive).expect("archive dir");
    give_to_server(&archive);

    let hba = "hostssl all all 127.0.0.1/32 scram-sha-256\n\
               hostssl replication all 127.0.0.1/32 scram-sha-256";
    let mut primary = Cluster::builder()
        .with_hba(Hba::Custom(hba.into()))
        .with_setting("archive_mode", "on")
        .with_setting("archive_command", format!("cp %p {}/%f", archive.display()))
        .start()
        .expect("primary");
    let _standby = Standby::start(&primary, scratch.path(), "standby1");
    primary
        .set_setting("synchronous_standby_names", "standby1")
        .expect("synchronous_standby_names");
    primary
        .set_setting("synchronous_commit", "on")
        .expect("synchronous_commit");
    // Wait until the standby streams as the synchronous one, and a segment is archived.
    let began = Instant::now();
    loop {
        let state = primary
            .psql("SELECT string_agg(sync_state, ',') FROM pg_stat_replication WHERE state = 'streaming';")
            .expect("pg_stat_replication");
        if state == "sync" {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "standby not synchronous: {state:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    primary
        .psql("SELECT pg_switch_wal(); CHECKPOINT;")
        .expect("switch wal");

    let r = report(&primary).await;

    for control in [Control::Iso27001A824, Control::NistSc8] {
        assert_eq!(
            r.status_of(control),
            Some(ControlStatus::Met),
            "{}",
            control.id()
        );
        assert_eq!(
            evidence(&r, control, ids::PREFLIGHT_TLS_ENFORCED),
            Status::Pass
        );
        assert_eq!(
            evidence(&r, control, ids::PREFLIGHT_TLS_SESSION),
            Status::Pass
        );
        assert_eq!(
            evidence(&r, control, ids::PREFLIGHT_TLS_SSLMODE),
            Status::Pass
        );
        assert_eq!(
            evidence(&r, control, ids::COMPLIANCE_SERVER_TLS),
            Status::Pass
        );
    }
    assert_eq!(
        evidence(
            &r,
            Control::Iso27001A824,
            ids::COMPLIANCE_PASSWORD_ENCRYPTION
        ),
        Status::Pass
    );
    // Archiving on; the generic provider cannot show base backups: partly.
    for control in [Control::Iso27001A813, Control::NistCp9] {
        assert_eq!(
            r.status_of(control),
            Some(ControlStatus::Partly),
            "{}",
            control.id()
        );
        assert_eq!(
            evidence(&r, control, ids::COMPLIANCE_WAL_ARCHIVING),
            Status::Pass
        );
        assert_eq!(evidence(&r, control, ids::PREFLIGHT_BACKUP), Status::Skip);
        assert!(r
            .control(control)
            .and_then(|c| c.decided_by.as_ref())
            .is_some());
    }
    // A synchronous standby; where it runs is not visible over SQL: partly.
    assert_eq!(
        r.status_of(Control::SecNumCloudContinuity),
        Some(ControlStatus::Partly)
    );
    assert_eq!(
        evidence(
            &r,
            Control::SecNumCloudContinuity,
            ids::COMPLIANCE_SYNC_REPLICATION
        ),
        Status::Pass
    );
    assert_eq!(r.status_of(Control::NistCp10), Some(ControlStatus::Partly));
}

/// Every finding that cites a control in its references (preflight's and the compliance
/// evidence) is mapped to that control: a check cannot claim a control the report ignores.
#[tokio::test]
async fn every_check_citing_a_control_is_mapped_to_it() {
    let cluster = Cluster::builder()
        .with_hba(Hba::PlaintextAllowed)
        .start()
        .expect("cluster");
    let admin: scrydon_byodb::dsn::Dsn = cluster.admin_uri("verify-full").parse().expect("dsn");
    let target = Target::builder(admin).build().expect("target");
    let preflight = scrydon_byodb::preflight::Preflight::new(target.clone())
        .run()
        .await
        .expect("preflight");
    let compliance = Compliance::new(target).run().await.expect("compliance");
    let mut cited = 0;
    for f in preflight.findings.iter().chain(&compliance.evidence) {
        for control in Control::ALL {
            if f.references.contains(&control.reference()) {
                cited += 1;
                assert!(
                    control.evidence_ids().contains(&f.id),
                    "{} cites {} but is not mapped to it",
                    f.id,
                    control.id()
                );
            }
        }
    }
    assert!(cited >= 10, "only {cited} citations seen");
}
