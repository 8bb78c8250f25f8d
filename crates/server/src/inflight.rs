//! The in-flight limit (`--max-requests-inflight`, `--max-mutating-requests-inflight`), as
//! kube-apiserver's `WithMaxInFlightLimit` (`filters/maxinflight.go`) without priority and
//! fairness: a request over its kind's limit is refused at once with 429 and `Retry-After:
//! 1`. `system:masters`, long-running requests (watches) and health checks are never
//! limited.

use api_types::{StatusError, UserInfo};
use request_info::RequestInfo;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The two limits; None is unlimited (a flag of 0).
#[derive(Debug, Clone)]
pub struct InFlightLimits {
    read: Option<Arc<Semaphore>>,
    mutating: Option<Arc<Semaphore>>,
}

impl Default for InFlightLimits {
    /// Upstream's defaults: 400 reads, 200 writes.
    fn default() -> Self {
        Self::new(400, 200)
    }
}

const NON_MUTATING: [&str; 3] = ["get", "list", "watch"];

impl InFlightLimits {
    /// At most `read` non-mutating and `mutating` mutating requests at once (0: no limit).
    pub fn new(read: usize, mutating: usize) -> Self {
        let limit = |n: usize| (n > 0).then(|| Arc::new(Semaphore::new(n)));
        InFlightLimits {
            read: limit(read),
            mutating: limit(mutating),
        }
    }

    /// A place for this request while it runs (None when it is not limited), or the 429.
    pub(crate) fn admit(
        &self,
        user: &UserInfo,
        info: &RequestInfo,
    ) -> Result<Option<OwnedSemaphorePermit>, StatusError> {
        let health = !info.is_resource_request
            && ["/healthz", "/livez", "/readyz"]
                .iter()
                .any(|p| info.path == *p || info.path.starts_with(&format!("{p}/")));
        let long_running = info.is_resource_request && info.verb == "watch";
        if health || long_running || user.in_group("system:masters") {
            return Ok(None);
        }
        let pool = if NON_MUTATING.contains(&info.verb.as_str()) {
            &self.read
        } else {
            &self.mutating
        };
        let Some(pool) = pool else {
            return Ok(None);
        };
        pool.clone().try_acquire_owned().map(Some).map_err(|_| {
            StatusError::too_many_requests("Too many requests, please try again later.", 1)
        })
    }
}
