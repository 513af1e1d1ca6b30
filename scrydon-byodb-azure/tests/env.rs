//! `from_env`: what it reads, and that the client secret it reads never shows. In its own test
//! binary (nextest runs each test in its own process; this file has one test) because it sets
//! environment variables. Nothing is built: building would ask Entra ID for a token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use scrydon_byodb_azure::FlexibleServerProvider;

#[test]
fn from_env_reads_the_documented_variables_and_redacts_the_secret() {
    const SECRET: &str = "cl1ent-s3cret-value~xyz";
    for (k, v) in [
        (
            "AZURE_SUBSCRIPTION_ID",
            "0b1f6471-1bf0-4dda-aec3-111122223333",
        ),
        ("AZURE_RESOURCE_GROUP", "rg-from-env"),
        ("AZURE_POSTGRES_SERVER", "pg-from-env"),
        ("AZURE_TENANT_ID", "72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555"),
        ("AZURE_CLIENT_SECRET", SECRET),
    ] {
        std::env::set_var(k, v);
    }
    std::env::remove_var("AZURE_FEDERATED_TOKEN_FILE");
    let b = FlexibleServerProvider::from_env();
    let shown = format!("{b:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("client secret"), "{shown}");
    assert!(
        shown.contains("rg-from-env") && shown.contains("pg-from-env"),
        "{shown}"
    );

    // Workload identity wins over a client secret when its token file is set.
    std::env::set_var(
        "AZURE_FEDERATED_TOKEN_FILE",
        "/var/run/secrets/azure/tokens/token",
    );
    let shown = format!("{:?}", FlexibleServerProvider::from_env());
    assert!(shown.contains("workload identity"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");

    // new() reads nothing.
    let shown = format!("{:?}", FlexibleServerProvider::builder());
    assert!(!shown.contains("rg-from-env"), "{shown}");
}
