//! A one-line progress bar on stderr: bytes of the archive read, of its size on disk.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Draws until dropped.
pub(crate) struct Progress {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts drawing `count` of `total` bytes every 200 ms.
    pub(crate) fn start(label: &'static str, count: Arc<AtomicU64>, total: u64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = thread::spawn(move || {
            let mut err = std::io::stderr();
            loop {
                let done = flag.load(Ordering::Relaxed);
                let n = count.load(Ordering::Relaxed);
                let _ = write!(err, "\r{}", line(label, n, total));
                let _ = err.flush();
                if done {
                    let _ = writeln!(err);
                    break;
                }
                thread::sleep(Duration::from_millis(200));
            }
        });
        Progress {
            stop,
            handle: Some(handle),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn line(label: &str, n: u64, total: u64) -> String {
    const WIDTH: u64 = 30;
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let filled = (n.min(total) * WIDTH).checked_div(total).unwrap_or(WIDTH);
    let pct = (n.min(total) * 100).checked_div(total).unwrap_or(100);
    format!(
        "{label} [{}{}] {pct:>3}% {:.1}/{:.1} MiB",
        "#".repeat(filled as usize),
        " ".repeat((WIDTH - filled) as usize),
        mib(n),
        mib(total)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn line_shows_share_read() {
        let l = super::line("restore", 512 * 1024, 1024 * 1024);
        assert!(l.contains(" 50% 0.5/1.0 MiB"), "{l}");
    }
}
