//! Carrying out a plan: one pinned admin session under the advisory lock, sessions per database
//! as needed, every session with `statement_timeout` and `lock_timeout`.

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::SimpleQueryMessage;

use super::{
    Action, Applied, AppliedStep, Blocker, Bootstrap, FailedStep, Plan, Step, StepOutcome,
    ADVISORY_LOCK_KEY, APPLICATION_NAME,
};
use crate::connect::{connect, ConnectOptions};
use crate::dsn::Dsn;
use crate::{Error, Result};

/// How long a statement runs before its blockers are sampled (then every as long again); less
/// when `lock_timeout` is short.
const WATCH_EVERY: Duration = Duration::from_millis(1000);

/// A session with its backend pid.
pub(crate) struct Session {
    pub(crate) client: tokio_postgres::Client,
    pub(crate) pid: i32,
}

/// The error for a failed statement, classified by SQLSTATE.
pub(crate) fn db_error(operation: &str, source: tokio_postgres::Error) -> Error {
    Error::database(operation, source)
}

fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

/// Connects with the bootstrap's timeouts and names the session.
pub(crate) async fn open_session(b: &Bootstrap, dsn: &Dsn) -> Result<Session> {
    let options = ConnectOptions::new()
        .with_statement_timeout(b.statement_timeout)
        .with_default_connect_timeout(Duration::from_secs(30));
    let (client, _) = connect(dsn, &options).await?.into_parts();
    let messages = client
        .simple_query(&format!(
            "SET lock_timeout = '{}ms'; SET application_name = '{APPLICATION_NAME}'; SELECT pg_backend_pid()",
            millis(b.lock_timeout)
        ))
        .await
        .map_err(|e| db_error("set lock_timeout", e))?;
    let pid = messages
        .iter()
        .find_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).and_then(|v| v.parse().ok()),
            _ => None,
        })
        .unwrap_or(0);
    Ok(Session { client, pid })
}

/// Whether an error means "someone already did it".
fn already_exists(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::DUPLICATE_DATABASE
            || *c == SqlState::DUPLICATE_OBJECT
            || *c == SqlState::UNIQUE_VIOLATION
    )
}

/// Takes the bootstrap's advisory lock on `admin`, waiting at most `lock_wait`.
async fn lock(b: &Bootstrap, admin: &Session) -> Result<()> {
    admin
        .client
        .batch_execute(&format!(
            "SET lock_timeout = '{}ms'; SELECT pg_advisory_lock({ADVISORY_LOCK_KEY}); SET lock_timeout = '{}ms'",
            millis(b.lock_wait),
            millis(b.lock_timeout)
        ))
        .await
        .map_err(|e| {
            db_error(
                "wait for the bootstrap advisory lock (another bootstrap is running)",
                e,
            )
        })
}

async fn unlock(admin: &Session) {
    // Ending the session releases the lock too; unlock explicitly for poolers that keep it.
    let _ = admin
        .client
        .batch_execute(&format!("SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY})"))
        .await;
}

pub(super) async fn run(b: &Bootstrap) -> Result<(Plan, Applied)> {
    let admin = open_session(b, b.target.admin()).await?;
    lock(b, &admin).await?;
    let plan = match super::plan::plan_on(b, &admin).await {
        Ok(plan) => plan,
        Err(e) => {
            unlock(&admin).await;
            return Err(e);
        }
    };
    let applied = apply_on(b, &admin, &plan).await;
    unlock(&admin).await;
    Ok((plan, applied))
}

pub(super) async fn apply(b: &Bootstrap, plan: &Plan) -> Result<Applied> {
    if plan.is_blocked() || plan.steps.is_empty() {
        return Ok(apply_on_nothing(plan));
    }
    let admin = open_session(b, b.target.admin()).await?;
    lock(b, &admin).await?;
    let applied = apply_on(b, &admin, plan).await;
    unlock(&admin).await;
    Ok(applied)
}

fn apply_on_nothing(plan: &Plan) -> Applied {
    Applied {
        steps: Vec::new(),
        failed: None,
        blocked: plan.is_blocked(),
    }
}

/// Applies on the locked admin session: the server-wide steps in order, then each database's
/// steps, the databases concurrently (each on its own session).
async fn apply_on(b: &Bootstrap, admin: &Session, plan: &Plan) -> Applied {
    let mut applied = apply_on_nothing(plan);
    if plan.is_blocked() {
        return applied;
    }
    for step in plan.steps.iter().filter(|s| s.database.is_none()) {
        let result = match step.action {
            Action::AllowExtension => allow_extension(b, step).await,
            _ => run_step(b, admin, step).await,
        };
        match result {
            Ok(outcome) => record(b, &mut applied, step, outcome),
            Err(failed) => {
                applied.failed = Some(*failed);
                return applied;
            }
        }
    }
    let mut databases: Vec<&str> = Vec::new();
    for step in &plan.steps {
        if let Some(db) = step.database.as_deref() {
            if !databases.contains(&db) {
                databases.push(db);
            }
        }
    }
    let admin_dsn = b.target.admin();
    let per_database = databases.iter().map(|db| async move {
        let steps = plan
            .steps
            .iter()
            .filter(|s| s.database.as_deref() == Some(*db));
        let mut done: Vec<AppliedStep> = Vec::new();
        let session = match open_session(b, &admin_dsn.with_dbname(db)).await {
            Ok(s) => s,
            Err(e) => {
                let first = plan
                    .steps
                    .iter()
                    .find(|s| s.database.as_deref() == Some(*db));
                return (done, first.map(|s| failed_from_error(s, &e)));
            }
        };
        for step in steps {
            match run_step(b, &session, step).await {
                Ok(outcome) => {
                    let step_done = AppliedStep {
                        step: step.clone(),
                        outcome,
                    };
                    if let Some(hook) = &b.hook {
                        hook(&step_done);
                    }
                    done.push(step_done);
                }
                Err(failed) => return (done, Some(*failed)),
            }
        }
        (done, None)
    });
    for (done, failed) in futures_util::future::join_all(per_database).await {
        applied.steps.extend(done);
        if applied.failed.is_none() {
            applied.failed = failed;
        }
    }
    applied
}

fn record(b: &Bootstrap, applied: &mut Applied, step: &Step, outcome: StepOutcome) {
    let done = AppliedStep {
        step: step.clone(),
        outcome,
    };
    if let Some(hook) = &b.hook {
        hook(&done);
    }
    applied.steps.push(done);
}

async fn allow_extension(b: &Bootstrap, step: &Step) -> Result<StepOutcome, Box<FailedStep>> {
    let Some(provider) = &b.provider else {
        return Err(Box::new(FailedStep {
            step: step.clone(),
            sqlstate: None,
            message: "no provider configured to change the extension allow-list".into(),
            blocked_by: Vec::new(),
            diagnosis: None,
        }));
    };
    match provider.allow_extension("vector").await {
        Ok(change) if change.applies == crate::provider::Applies::Immediately => Ok(StepOutcome::Done),
        Ok(change) => Err(Box::new(FailedStep {
            step: step.clone(),
            sqlstate: None,
            message: format!(
                "{} now allows vector but only after a restart; restart the server, then run bootstrap again",
                change.name
            ),
            blocked_by: Vec::new(),
            diagnosis: None,
        })),
        Err(e) => Err(Box::new(failed_from_error(step, &e))),
    }
}

fn failed_from_error(step: &Step, e: &Error) -> FailedStep {
    FailedStep {
        step: step.clone(),
        sqlstate: e.sqlstate().map(str::to_owned),
        message: e.to_string(),
        blocked_by: Vec::new(),
        diagnosis: e
            .connect_failure()
            .map(|f| crate::diagnose::for_connect_failure(f).id),
    }
}

fn failed_from_pg(step: &Step, e: &tokio_postgres::Error, blocked_by: Vec<Blocker>) -> FailedStep {
    let message = e
        .as_db_error()
        .map_or_else(|| e.to_string(), |d| d.message().to_owned());
    // A server message may quote the statement; never let a verifier through.
    let message = match message.find("SCRAM-SHA-256$") {
        Some(i) => format!("{}<SCRAM-SHA-256 verifier>", &message[..i]),
        None => message,
    };
    FailedStep {
        step: step.clone(),
        sqlstate: Some(
            e.code()
                .map_or(SqlState::CONNECTION_FAILURE.code(), |c| c.code())
                .to_owned(),
        ),
        message,
        blocked_by,
        diagnosis: None,
    }
}

async fn run_step(
    b: &Bootstrap,
    session: &Session,
    step: &Step,
) -> Result<StepOutcome, Box<FailedStep>> {
    let mut outcome = Ok(StepOutcome::Done);
    for statement in &step.exec {
        if let Err((e, blockers)) = exec_watched(b, session, statement.text()).await {
            outcome = if already_exists(&e)
                && matches!(
                    step.action,
                    Action::CreateRole | Action::CreateDatabase | Action::CreateExtension
                ) {
                Ok(StepOutcome::AlreadyDone)
            } else {
                Err(Box::new(failed_from_pg(step, &e, blockers)))
            };
            break;
        }
    }
    for statement in &step.cleanup {
        if let Err((e, blockers)) = exec_watched(b, session, statement.text()).await {
            if outcome.is_ok() {
                outcome = Err(Box::new(failed_from_pg(step, &e, blockers)));
            }
        }
    }
    outcome
}

/// Runs `sql`; while it runs longer than [`WATCH_EVERY`], samples who blocks it.
async fn exec_watched(
    b: &Bootstrap,
    session: &Session,
    sql: &str,
) -> Result<(), (tokio_postgres::Error, Vec<Blocker>)> {
    let fut = session.client.batch_execute(sql);
    tokio::pin!(fut);
    let mut blockers = Vec::new();
    let mut monitor: Option<Session> = None;
    // Sample a few times before lock_timeout ends the wait, at most once a second.
    let every = WATCH_EVERY
        .min(b.lock_timeout / 3)
        .max(Duration::from_millis(100));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            r = &mut fut => return r.map_err(|e| (e, blockers)),
            _ = tick.tick() => {
                if monitor.is_none() {
                    monitor = open_session(b, b.target.admin()).await.ok();
                }
                if let Some(m) = &monitor {
                    if let Ok(found) = blockers_of(m, session.pid).await {
                        if !found.is_empty() {
                            blockers = found;
                        }
                    }
                }
            }
        }
    }
}

async fn blockers_of(monitor: &Session, pid: i32) -> Result<Vec<Blocker>, tokio_postgres::Error> {
    let rows = monitor
        .client
        .query(
            "SELECT pid, usename::text, application_name, \
                    to_char(query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), state \
             FROM pg_stat_activity WHERE pid = ANY (pg_blocking_pids($1)) ORDER BY pid",
            &[&pid],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| Blocker {
            pid: r.get(0),
            user: r.get(1),
            application_name: r.get(2),
            query_start: r.get(3),
            state: r.get(4),
        })
        .collect())
}
