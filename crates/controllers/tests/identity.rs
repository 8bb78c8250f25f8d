//! The audit-ready trail: every controller writes as its own identity, through the chain,
//! and only as far as its `system:controller:*` role allows. With its binding removed, the
//! ServiceAccount controller's create is refused with upstream's Forbidden message (and
//! retried), while the root CA publisher, bound separately, goes on; bound again, the retry
//! lands.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

mod common;

use registry::kinds::{CLUSTER_ROLE_BINDINGS, CONFIG_MAPS, NAMESPACES, SERVICE_ACCOUNTS};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// Log lines, captured.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_controller_acts_only_as_far_as_its_role_allows() {
    let log = Captured::default();
    let writer = log.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .unwrap();

    let cluster = common::Cluster::new(&[]).await;
    let admin = cluster.admin();
    let admin = admin.as_ref();
    let manager = controllers::ControllerManager::new(
        cluster.connect(),
        "the CA".into(),
        Arc::new(|_| String::new()),
    );
    manager.start().await.unwrap();

    // The controllers' accounts exist in kube-system, as kube-controller-manager makes them.
    for account in [
        "namespace-controller",
        "service-account-controller",
        "root-ca-cert-publisher",
        "clusterrole-aggregation-controller",
    ] {
        admin
            .get(&SERVICE_ACCOUNTS, "kube-system", account)
            .await
            .unwrap();
    }

    let namespace = |name: &str| json!({"metadata": {"name": name}});
    admin
        .create(&NAMESPACES, "", namespace("before"))
        .await
        .unwrap();
    common::until("the default account in `before`", || async {
        admin
            .get(&SERVICE_ACCOUNTS, "before", "default")
            .await
            .is_ok()
    })
    .await;
    common::until("kube-root-ca.crt in `before`", || async {
        admin
            .get(&CONFIG_MAPS, "before", "kube-root-ca.crt")
            .await
            .is_ok()
    })
    .await;
    let cm = admin
        .get(&CONFIG_MAPS, "before", "kube-root-ca.crt")
        .await
        .unwrap();
    assert_eq!(
        cm["metadata"]["managedFields"][0]["manager"], "kube-controller-manager",
        "written with kube-controller-manager's user agent"
    );

    // Unbind the ServiceAccount controller; the index hears of it through its informer.
    let binding_name = "system:controller:service-account-controller";
    admin
        .delete(
            &CLUSTER_ROLE_BINDINGS,
            "",
            binding_name,
            &Default::default(),
        )
        .await
        .unwrap();
    let controller = cluster.client(controllers::manager::controller_user(
        controllers::manager::SERVICE_ACCOUNT_CONTROLLER,
    ));
    let probe = json!({"metadata": {"name": "probe"}});
    common::until("the unbinding to reach the index", || {
        let (controller, probe) = (controller.clone(), probe.clone());
        async move {
            match controller.create(&SERVICE_ACCOUNTS, "before", probe).await {
                Err(e) => e.code == 403,
                Ok(_) => {
                    admin
                        .delete(&SERVICE_ACCOUNTS, "before", "probe", &Default::default())
                        .await
                        .unwrap();
                    false
                }
            }
        }
    })
    .await;

    admin
        .create(&NAMESPACES, "", namespace("after"))
        .await
        .unwrap();
    let refused = "serviceaccounts is forbidden: User \"system:serviceaccount:kube-system:service-account-controller\" cannot create resource \"serviceaccounts\" in API group \"\" in the namespace \"after\"";
    common::until("the controller's write to be refused", || async {
        log.text().contains(refused)
    })
    .await;
    assert_eq!(
        admin
            .get(&SERVICE_ACCOUNTS, "after", "default")
            .await
            .unwrap_err()
            .code,
        404,
        "refused, not written"
    );
    // The root CA publisher is bound on its own and goes on.
    common::until("kube-root-ca.crt in `after`", || async {
        admin
            .get(&CONFIG_MAPS, "after", "kube-root-ca.crt")
            .await
            .is_ok()
    })
    .await;

    // Bound again (as the next start's reconciliation does), the retried write lands.
    controllers::ensure_bootstrap_policy(admin).await.unwrap();
    common::until("the default account in `after`", || async {
        admin
            .get(&SERVICE_ACCOUNTS, "after", "default")
            .await
            .is_ok()
    })
    .await;
}
