//! A server in process for the controllers' tests: memory (or a given) storage, the RBAC
//! policy and index loaded through the chain, and clients by identity — the wiring of the
//! binary, without a socket.

#![allow(dead_code, reason = "each test file uses the part it needs")]

use api_types::UserInfo;
use registry::{Client, Registry};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct Cluster {
    pub(crate) registry: Arc<Registry>,
    pub(crate) state: Arc<server::State>,
}

impl Cluster {
    pub(crate) async fn new(namespaces: &[&str]) -> Self {
        Self::on(Arc::new(storage::MemoryStorage::new()), namespaces).await
    }

    pub(crate) async fn on(storage: Arc<dyn storage::Storage>, namespaces: &[&str]) -> Self {
        let registry = Arc::new(Registry::new(storage, Arc::new(jiff::Timestamp::now)));
        let mut all = vec!["default", "kube-system"];
        all.extend(namespaces);
        registry.ensure_namespaces(&all).unwrap();
        let index = Arc::new(authz::rbac::Index::new());
        let state = Arc::new(server::State::new(
            registry.clone(),
            "127.0.0.1:6443".into(),
            false,
            Some(index.clone()),
        ));
        let cluster = Cluster { registry, state };
        controllers::post_start(cluster.admin(), Some(index))
            .await
            .unwrap();
        cluster
    }

    /// A client acting as `user`.
    pub(crate) fn client(&self, user: UserInfo) -> Arc<dyn Client> {
        Arc::new(server::InProcess::new(
            self.state.clone(),
            user,
            "kube-controller-manager",
        ))
    }

    /// The apiserver's own client (system:masters).
    pub(crate) fn admin(&self) -> Arc<dyn Client> {
        Arc::new(server::InProcess::new(
            self.state.clone(),
            UserInfo::authenticated("system:apiserver", &["system:masters"]),
            "kube-apiserver",
        ))
    }

    pub(crate) fn connect(&self) -> controllers::manager::Connect {
        let state = self.state.clone();
        Arc::new(move |user| {
            Arc::new(server::InProcess::new(
                state.clone(),
                user,
                "kube-controller-manager",
            )) as Arc<dyn Client>
        })
    }
}

/// Waits (yielding, with a deadline) until `done` holds.
pub(crate) async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
