//! Storage compaction, as kube-apiserver's `compact.go`: every `interval`, drop the history
//! older than the revision seen one interval ago, so watches can resume across short
//! disconnects while the store stays bounded.

use crate::Storage;
use std::sync::Arc;
use std::time::Duration;

/// Runs for ever, compacting `storage` every `interval`.
pub async fn run_compactor(storage: Arc<dyn Storage>, interval: Duration) {
    let mut previous = None;
    loop {
        tokio::time::sleep(interval).await;
        if let Some(rev) = previous {
            if let Err(e) = storage.compact(rev) {
                tracing::warn!(error = %e, revision = rev, "compaction failed");
            }
        }
        previous = storage.current_revision().ok();
    }
}
