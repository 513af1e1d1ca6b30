#![allow(clippy::unwrap_used)] // tests may unwrap

use super::trace::{AuthRequest, Parser, Phase, Trace};
use super::*;

fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn sasl_body(mechanisms: &[&str]) -> Vec<u8> {
    let mut body = 10i32.to_be_bytes().to_vec();
    for m in mechanisms {
        body.extend_from_slice(m.as_bytes());
        body.push(0);
    }
    body.push(0);
    body
}

#[test]
fn parser_reads_ssl_answer_then_auth_request_byte_by_byte() {
    let mut bytes = vec![b'N'];
    bytes.extend(message(
        b'R',
        &sasl_body(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]),
    ));
    let mut parser = Parser::new(Phase::SslResponse);
    let mut trace = Trace::default();
    for b in &bytes {
        parser.feed(std::slice::from_ref(b), &mut trace);
    }
    assert_eq!(trace.ssl_response, Some(b'N'));
    let auth = trace.first_auth.clone().unwrap();
    assert_eq!(auth.code, 10);
    assert!(auth.offers_channel_binding());
    assert!(auth.wants_password());
    assert!(!trace.auth_ok);
}

#[test]
fn parser_sees_auth_ok_and_errors() {
    let mut bytes = message(b'R', &3i32.to_be_bytes());
    bytes.extend(message(b'R', &0i32.to_be_bytes()));
    bytes.extend(message(b'S', b"server_version\x0015.8\0"));
    let mut parser = Parser::new(Phase::Messages);
    let mut trace = Trace::default();
    parser.feed(&bytes, &mut trace);
    assert_eq!(
        trace.first_auth,
        Some(AuthRequest {
            code: 3,
            mechanisms: vec![]
        })
    );
    assert!(trace.auth_ok);

    let mut parser = Parser::new(Phase::Messages);
    let mut trace = Trace::default();
    parser.feed(&message(b'E', b"SFATAL\0C28000\0\0"), &mut trace);
    assert!(trace.error_response);
    assert!(trace.first_auth.is_none());

    // An error instead of an SSLRequest answer.
    let mut parser = Parser::new(Phase::SslResponse);
    let mut trace = Trace::default();
    parser.feed(&message(b'E', b"C53300\0\0"), &mut trace);
    assert_eq!(trace.ssl_response, Some(b'E'));
    assert!(trace.error_response);

    // 'S' then TLS bytes: nothing more is parsed.
    let mut parser = Parser::new(Phase::SslResponse);
    let mut trace = Trace::default();
    parser.feed(&[b'S', 0x16, 0x03, 0x03, 0, 10], &mut trace);
    assert_eq!(trace.ssl_response, Some(b'S'));
    assert!(trace.first_auth.is_none() && !trace.error_response);
}

#[test]
fn server_version_like_libpq() {
    assert_eq!(server_version_num("15.8 (Debian 15.8-1.pgdg120+1)"), 150008);
    assert_eq!(server_version_num("17.2"), 170002);
    assert_eq!(server_version_num("16beta1"), 160000);
    assert_eq!(server_version_num("9.6.24"), 90624);
    assert_eq!(server_version_num("9.6"), 90600);
    assert_eq!(server_version_num(""), 0);
}

#[test]
fn sqlstates_map_to_failures() {
    assert_eq!(
        failure_for_sqlstate(&SqlState::INVALID_PASSWORD),
        ConnectFailure::AuthenticationFailed
    );
    assert_eq!(
        failure_for_sqlstate(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION),
        ConnectFailure::AuthenticationFailed
    );
    assert_eq!(
        failure_for_sqlstate(&SqlState::INVALID_CATALOG_NAME),
        ConnectFailure::DatabaseMissing
    );
    assert_eq!(
        failure_for_sqlstate(&SqlState::TOO_MANY_CONNECTIONS),
        ConnectFailure::TooManyConnections
    );
    assert_eq!(
        failure_for_sqlstate(&SqlState::INSUFFICIENT_PRIVILEGE),
        ConnectFailure::PermissionDenied
    );
    assert_eq!(
        failure_for_sqlstate(&SqlState::CANNOT_CONNECT_NOW),
        ConnectFailure::ServerUnavailable
    );
    assert_eq!(
        failure_for_sqlstate(&SqlState::PROTOCOL_VIOLATION),
        ConnectFailure::Other
    );
}

#[test]
fn session_attributes() {
    use TargetSessionAttrs::*;
    assert!(session_matches(Any, None, None));
    assert!(session_matches(ReadWrite, Some(false), Some(false)));
    assert!(!session_matches(ReadWrite, Some(true), Some(true)));
    assert!(session_matches(ReadOnly, Some(true), Some(true)));
    assert!(session_matches(Primary, Some(false), Some(true)));
    assert!(!session_matches(Standby, Some(false), Some(false)));
    assert!(session_matches(Standby, Some(true), Some(true)));
}

#[test]
fn connection_info_serializes() {
    let info = ConnectionInfo {
        endpoint: EndpointInfo {
            host: "localhost".into(),
            port: 5432,
            hostaddr: None,
            address: "127.0.0.1:5432".into(),
            unix_socket: false,
        },
        server_version: ServerVersion {
            num: 150008,
            text: "15.8".into(),
        },
        tls: None,
        channel_binding_used: false,
        authentication: AuthMethod::ScramSha256,
        user: "app".into(),
        dbname: "app".into(),
        ssl_mode: SslMode::VerifyFull,
        in_hot_standby: Some(false),
        read_only: Some(false),
        earlier_attempts: vec![FailedAttempt {
            target: "db (10.0.0.1:5432)".into(),
            tls: true,
            failure: ConnectFailure::CertificateUntrusted,
        }],
    };
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["server_version"]["num"], 150008);
    assert_eq!(json["ssl_mode"], "verify-full");
    assert_eq!(json["authentication"], "scram-sha-256");
    assert_eq!(
        json["earlier_attempts"][0]["failure"],
        "certificate_untrusted"
    );
}

#[tokio::test]
async fn refused_port_is_classified() {
    // Bind then drop a listener: nothing listens on the port any more.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dsn = Dsn::parse(&format!(
        "host=127.0.0.1 port={port} user=u dbname=d sslmode=disable"
    ))
    .unwrap();
    let err = connect(&dsn, &ConnectOptions::new()).await.unwrap_err();
    assert_eq!(err.connect_failure(), Some(ConnectFailure::Refused));
}

#[tokio::test]
async fn unresolvable_host_is_dns() {
    let dsn =
        Dsn::parse("host=no-such-host.invalid user=u sslmode=disable connect_timeout=5").unwrap();
    let err = connect(&dsn, &ConnectOptions::new()).await.unwrap_err();
    assert_eq!(err.connect_failure(), Some(ConnectFailure::Dns));
}

#[tokio::test]
async fn silent_server_times_out() {
    // Accepts TCP but never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let dsn = Dsn::parse(&format!(
        "host=127.0.0.1 port={port} user=u sslmode=disable connect_timeout=2"
    ))
    .unwrap();
    let started = std::time::Instant::now();
    let err = connect(&dsn, &ConnectOptions::new()).await.unwrap_err();
    assert_eq!(err.connect_failure(), Some(ConnectFailure::Timeout));
    assert!(started.elapsed() >= Duration::from_secs(2));
    server.abort();
}

#[tokio::test]
async fn server_without_tls_under_require() {
    // Answers 'N' to the SSLRequest, then nothing.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        if let Ok((mut s, _)) = listener.accept().await {
            let mut req = [0u8; 8];
            let _ = s.read_exact(&mut req).await;
            let _ = s.write_all(b"N").await;
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest).await;
        }
    });
    let dsn = Dsn::parse(&format!(
        "host=127.0.0.1 port={port} user=u sslmode=require"
    ))
    .unwrap();
    let err = connect(&dsn, &ConnectOptions::new()).await.unwrap_err();
    assert_eq!(
        err.connect_failure(),
        Some(ConnectFailure::ServerDoesNotSupportTls)
    );
    server.abort();
}
