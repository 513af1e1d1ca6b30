//! Proving the migration Jobs will work: as the app role, in each database, what drizzle-kit
//! does, in a transaction that is rolled back.

use futures_util::future::join_all;

use super::apply::db_error;
use super::Bootstrap;
use crate::connect::{connect, ConnectOptions};
use crate::report::{ids, Finding, Status};
use crate::Result;

const SCHEMA: &str = "scrydon_bootstrap_proof";

fn proof_sql(vector: bool) -> String {
    let vector_column = if vector { ", embedding vector(3)" } else { "" };
    let mut sql = format!(
        "BEGIN;\n\
         CREATE SCHEMA {SCHEMA};\n\
         CREATE TABLE {SCHEMA}.t (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, doc jsonb NOT NULL, \
           n int GENERATED ALWAYS AS ((doc->>'n')::int) STORED{vector_column});\n\
         CREATE INDEX ON {SCHEMA}.t USING gin (doc);\n\
         CREATE TABLE public.{SCHEMA} (id bigint PRIMARY KEY);\n\
         CREATE INDEX ON public.{SCHEMA} (id);\n"
    );
    if vector {
        sql.push_str(&format!(
            "CREATE INDEX ON {SCHEMA}.t USING hnsw (embedding vector_cosine_ops);\n"
        ));
    }
    sql.push_str("ROLLBACK;");
    sql
}

pub(super) async fn prove(b: &Bootstrap) -> Result<Vec<Finding>> {
    let target = &b.target;
    let role = target.app_role();
    let Some(password) = &b.password else {
        return Ok(target
            .components()
            .map(|c| {
                Finding::new(ids::BOOTSTRAP_PROOF, Status::Skip)
                    .with_component(c)
                    .with_observed("no password for the app role: cannot connect as it")
            })
            .collect());
    };
    let checks = target.components().map(|c| async move {
        let db = target.database(c);
        let mut dsn = target.admin().with_dbname(&db);
        dsn.set("user", role)?;
        dsn.set("password", password.expose_secret())?;
        let options = ConnectOptions::new()
            .with_statement_timeout(b.statement_timeout)
            .with_default_connect_timeout(std::time::Duration::from_secs(30));
        let base = Finding::new(ids::BOOTSTRAP_PROOF, Status::Pass)
            .with_component(c)
            .with_reference("runbook: Migrations");
        let conn = match connect(&dsn, &options).await {
            Ok(conn) => conn,
            Err(e) => {
                let mut f = base
                    .clone()
                    .with_observed(format!("could not connect to {db} as {role}: {e}"));
                f.status = Status::Fail;
                if let Some(failure) = e.connect_failure() {
                    f = f.with_diagnosis(crate::diagnose::for_connect_failure(failure).id);
                }
                return Ok::<_, crate::Error>(f);
            }
        };
        let vector = c.spec().needs_pgvector;
        let result = conn
            .client()
            .batch_execute(&format!(
                "SET lock_timeout = '{}ms';\n{}",
                b.lock_timeout.as_millis().max(1),
                proof_sql(vector)
            ))
            .await;
        Ok(match result {
            Ok(()) => base.with_observed(format!(
                "{role} can create a schema, tables{} and indexes{} in {db} (rolled back)",
                if vector { " with a vector column" } else { "" },
                if vector { " including hnsw" } else { "" }
            )),
            Err(e) => {
                let message = e
                    .as_db_error()
                    .map_or_else(|| e.to_string(), |d| d.message().to_owned());
                let e = db_error("prove", e);
                let mut f = base
                    .with_observed(format!(
                        "{role} in {db}: {message} (SQLSTATE {})",
                        e.sqlstate().unwrap_or("")
                    ))
                    .with_remediation("run bootstrap as an administrator to grant what is missing");
                f.status = Status::Fail;
                f
            }
        })
    });
    join_all(checks).await.into_iter().collect()
}
