//! A keepalive for Neon endpoints whose plan cannot turn auto-suspend off: a small task that
//! runs the cheapest query (`SELECT 1`) at an interval below the suspend timeout, during a
//! window, reconnecting with backoff on errors.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scrydon_byodb::connect::{connect, ConnectOptions};
use scrydon_byodb::dsn::Dsn;
use scrydon_byodb::{Error, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::neon::DEFAULT_SUSPEND_TIMEOUT;

/// The shortest interval allowed.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// What the keepalive has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeepaliveStats {
    /// Successful connections.
    pub connects: u64,
    /// Failed connection attempts.
    pub connect_failures: u64,
    /// Queries that succeeded.
    pub pings: u64,
    /// Queries that failed (the connection is then dropped and reopened).
    pub ping_failures: u64,
    /// The last error, without credentials.
    pub last_error: Option<String>,
    /// Whether the task has ended (window over, or stopped).
    pub finished: bool,
}

/// Configures a keepalive; create with [`Keepalive::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use scrydon_byodb_neon::Keepalive;
///
/// # async fn f(dsn: scrydon_byodb::dsn::Dsn) -> scrydon_byodb::Result<()> {
/// let handle = Keepalive::builder(dsn)
///     .with_interval(Duration::from_secs(240))
///     .with_window(Duration::from_secs(8 * 3600))
///     .spawn()?;
/// // ... the workflow window ...
/// let stats = handle.stop().await;
/// println!("{} pings", stats.pings);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct KeepaliveBuilder {
    dsn: Dsn,
    interval: Duration,
    window: Option<Duration>,
    suspend_timeout: Duration,
    max_backoff: Duration,
}

impl fmt::Debug for KeepaliveBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeepaliveBuilder")
            .field("interval", &self.interval)
            .field("window", &self.window)
            .field("suspend_timeout", &self.suspend_timeout)
            .field("max_backoff", &self.max_backoff)
            .finish_non_exhaustive()
    }
}

/// The keepalive task's entry point.
#[derive(Debug)]
pub struct Keepalive;

impl Keepalive {
    /// A keepalive for `dsn` (use the direct or pooled endpoint; either wakes the compute).
    /// Defaults: every 240 s, no window (until stopped), suspend timeout 300 s, backoff up to
    /// 30 s.
    pub fn builder(dsn: Dsn) -> KeepaliveBuilder {
        KeepaliveBuilder {
            dsn,
            interval: Duration::from_secs(240),
            window: None,
            suspend_timeout: DEFAULT_SUSPEND_TIMEOUT,
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl KeepaliveBuilder {
    /// Time between queries: at least [`MIN_INTERVAL`], below the suspend timeout.
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Stop by itself after this long.
    pub fn with_window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// The endpoint's suspend timeout (see `NeonEndpoint::suspend_timeout`); the interval must
    /// be below it.
    pub fn with_suspend_timeout(mut self, timeout: Duration) -> Self {
        self.suspend_timeout = timeout;
        self
    }

    /// The longest wait between reconnection attempts (backoff doubles from 1 s, or from the
    /// interval if shorter).
    pub fn with_max_backoff(mut self, max: Duration) -> Self {
        self.max_backoff = max;
        self
    }

    /// Validates and starts the task on the current tokio runtime.
    pub fn spawn(self) -> Result<KeepaliveHandle> {
        let bad = |reason: String| Error::InvalidInput {
            field: "keepalive interval".to_owned(),
            value: format!("{:?}", self.interval),
            reason,
        };
        if self.interval < MIN_INTERVAL {
            return Err(bad(format!("must be at least {MIN_INTERVAL:?}")));
        }
        if self.interval >= self.suspend_timeout {
            return Err(bad(format!(
                "must be below the suspend timeout ({:?}) or the endpoint suspends between queries",
                self.suspend_timeout
            )));
        }
        if self.max_backoff.is_zero() {
            return Err(bad("the maximum backoff must not be zero".to_owned()));
        }
        let stats = Arc::new(Mutex::new(KeepaliveStats::default()));
        let (stop_tx, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(self, Arc::clone(&stats), stop_rx));
        Ok(KeepaliveHandle {
            stats,
            stop: stop_tx,
            task: Some(task),
        })
    }
}

/// A running keepalive. Dropping it stops the task too (without waiting).
#[derive(Debug)]
pub struct KeepaliveHandle {
    stats: Arc<Mutex<KeepaliveStats>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl KeepaliveHandle {
    /// What it has done so far.
    pub fn stats(&self) -> KeepaliveStats {
        lock(&self.stats).clone()
    }

    /// Stops the task (interrupting a wait, a connection attempt or a query) and returns the
    /// final stats.
    pub async fn stop(mut self) -> KeepaliveStats {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let mut s = lock(&self.stats).clone();
        s.finished = true;
        s
    }
}

impl Drop for KeepaliveHandle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

fn lock(m: &Mutex<KeepaliveStats>) -> std::sync::MutexGuard<'_, KeepaliveStats> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn run(
    cfg: KeepaliveBuilder,
    stats: Arc<Mutex<KeepaliveStats>>,
    mut stop: watch::Receiver<bool>,
) {
    let deadline = cfg.window.map(|w| tokio::time::Instant::now() + w);
    let first_backoff = cfg.interval.min(Duration::from_secs(1));
    let options = ConnectOptions::new()
        .with_default_connect_timeout(cfg.interval.max(Duration::from_secs(10)));
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = async {
            if let Some(d) = deadline {
                tokio::time::sleep_until(d).await;
            } else {
                std::future::pending::<()>().await;
            }
        } => {}
        _ = work(&cfg, &options, &stats, first_backoff) => {}
    }
    lock(&stats).finished = true;
}

async fn work(
    cfg: &KeepaliveBuilder,
    options: &ConnectOptions,
    stats: &Mutex<KeepaliveStats>,
    first_backoff: Duration,
) {
    let mut backoff = first_backoff;
    loop {
        let conn = match connect(&cfg.dsn, options).await {
            Ok(c) => {
                lock(stats).connects += 1;
                backoff = first_backoff;
                c
            }
            Err(e) => {
                {
                    let mut s = lock(stats);
                    s.connect_failures += 1;
                    s.last_error = Some(e.to_string());
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.max_backoff);
                continue;
            }
        };
        let mut tick = tokio::time::interval(cfg.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // Generous: a slow answer still keeps the compute awake; only a hung one is dropped.
            let ping = tokio::time::timeout(
                cfg.interval.max(Duration::from_secs(10)),
                conn.client().simple_query("SELECT 1"),
            );
            match ping.await {
                Ok(Ok(_)) => lock(stats).pings += 1,
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => match e.code() {
                            Some(c) => format!("keepalive query failed: SQLSTATE {}", c.code()),
                            None => "keepalive query failed: connection lost".to_owned(),
                        },
                        _ => "keepalive query timed out".to_owned(),
                    };
                    let mut s = lock(stats);
                    s.ping_failures += 1;
                    s.last_error = Some(why);
                    break;
                }
            }
        }
        drop(conn);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(cfg.max_backoff);
    }
}
