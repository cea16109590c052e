//! Bounded growth: the sweep that removes expired entries, stale temporary files and tombstones left by
//! crashed processes, and empty collection directories, a bounded number of files per run.

use std::fs;
use std::path::PathBuf;
use std::sync::Weak;
use std::time::Duration;

use crate::files::{blocking, read_with_inode};
use crate::format;
use crate::layout::{COLLECTION_PREFIX, ENTRY_SUFFIX, TEMP_PREFIX, TOMB_PREFIX};
use crate::store::Inner;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Files looked at.
    pub examined: usize,
    /// Expired entries removed.
    pub expired_removed: usize,
    /// Stale temporary files and tombstones removed.
    pub temp_removed: usize,
    /// Corrupt or foreign files found (left in place and logged).
    pub corrupt: usize,
}

impl Inner {
    /// One bounded sweep: expired entries, stale temporary files and tombstones, empty collection
    /// directories.
    pub(crate) fn sweep(&self) -> SweepReport {
        let mut report = SweepReport::default();
        let Ok(listing) = fs::read_dir(&self.root) else { return report };
        let mut dirs: Vec<PathBuf> = listing
            .filter_map(Result::ok)
            .filter(|item| item.file_name().to_str().is_some_and(|n| n.starts_with(COLLECTION_PREFIX)))
            .map(|item| item.path())
            .collect();
        if dirs.is_empty() {
            return report;
        }
        // Start at a random directory so that, over runs, a bounded sweep covers every directory.
        let start = rand::random::<usize>() % dirs.len();
        dirs.rotate_left(start);
        let now_ms = self.now_ms();
        let now = self.clock.now();
        for dir in dirs {
            if report.examined >= self.sweep_batch {
                break;
            }
            let Ok(listing) = fs::read_dir(&dir) else { continue };
            for item in listing.filter_map(Result::ok) {
                if report.examined >= self.sweep_batch {
                    break;
                }
                report.examined += 1;
                let path = item.path();
                let Some(name) = item.file_name().to_str().map(str::to_owned) else { continue };
                if name.starts_with(TEMP_PREFIX) || name.starts_with(TOMB_PREFIX) {
                    let age = item
                        .metadata()
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|modified| now.duration_since(modified).ok());
                    if age.is_some_and(|age| age >= self.stale_temp_after) && fs::remove_file(&path).is_ok() {
                        report.temp_removed += 1;
                    }
                    continue;
                }
                if !name.ends_with(ENTRY_SUFFIX) {
                    continue;
                }
                match read_with_inode(&path) {
                    Ok(Some((bytes, inode))) => match format::decode(&bytes) {
                        Ok(entry) if !entry.is_live(now_ms) => {
                            if Self::remove_if_same(&dir, &path, inode).is_ok() {
                                report.expired_removed += 1;
                            }
                        }
                        Ok(_) => {}
                        Err(reason) => {
                            report.corrupt += 1;
                            tracing::warn!(path = %path.display(), %reason, "sweep found a corrupt or foreign file");
                        }
                    },
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(path = %path.display(), error = %err, "sweep cannot read a file");
                    }
                }
            }
            // Fails (harmlessly) unless the directory is empty; writers recreate it when needed.
            let _ = fs::remove_dir(&dir);
        }
        report
    }
}

pub(crate) async fn sweep_forever(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        match blocking(move || Ok(inner.sweep())).await {
            Ok(report) if report.expired_removed + report.temp_removed + report.corrupt > 0 => {
                tracing::debug!(?report, "file store sweep");
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "file store sweep failed"),
        }
    }
}
