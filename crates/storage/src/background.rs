//! The backends' own thread for async work behind the synchronous [`crate::Storage`] trait
//! (the etcd client, the watch cache's feeds), and waiting on it from synchronous code.

use crate::{Result, StorageError};
use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// A one-worker runtime of a backend's own, so its tasks never wait on the caller's runtime.
pub(crate) struct Background {
    /// `None` only while dropping.
    runtime: Option<Runtime>,
    /// Where the backend spawns its tasks.
    pub(crate) handle: Handle,
}

impl Background {
    /// Starts the runtime; its thread is named `name`.
    pub(crate) fn start(name: &str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| StorageError::Unavailable(format!("starting {name}: {e}")))?;
        Ok(Background {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // A runtime dropped inside another one's task would panic; let its threads go instead.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs `wait` (which blocks) from synchronous code on any thread, letting a multi-threaded
/// runtime's other tasks move meanwhile.
pub(crate) fn blocking<T>(wait: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(wait)
        }
        _ => wait(),
    }
}
