//! kube-controller-manager in process, with `--use-service-account-credentials`: the shared
//! informers read as `system:kube-controller-manager`; each controller writes as its own
//! service account in `kube-system` (created at start, as upstream's
//! `SAControllerClientBuilder` does), authorized by its `system:controller:*` role. Remove
//! a controller's binding and its writes are refused (403) and retried with back-off.

use crate::runtime::{AlwaysLeader, Elector};
use crate::{aggregation, namespace, serviceaccounts, tokens};
use api_types::{StatusError, UserInfo};
use registry::Client;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// Makes a client that acts as a user (the server's in-process client).
pub type Connect = Arc<dyn Fn(UserInfo) -> Arc<dyn Client> + Send + Sync>;

/// The manager's own user (`system:kube-controller-manager`, as its client certificate says).
pub fn manager_user() -> UserInfo {
    UserInfo::authenticated("system:kube-controller-manager", &[])
}

/// A controller's user: its service account in `kube-system`.
pub fn controller_user(account: &str) -> UserInfo {
    UserInfo::service_account("kube-system", account)
}

/// The controllers' service accounts, by upstream's names.
pub const NAMESPACE_CONTROLLER: &str = "namespace-controller";
/// See [`NAMESPACE_CONTROLLER`].
pub const SERVICE_ACCOUNT_CONTROLLER: &str = "service-account-controller";
/// See [`NAMESPACE_CONTROLLER`].
pub const ROOT_CA_CERT_PUBLISHER: &str = "root-ca-cert-publisher";
/// See [`NAMESPACE_CONTROLLER`].
pub const CLUSTERROLE_AGGREGATION_CONTROLLER: &str = "clusterrole-aggregation-controller";

/// What the controllers need.
pub struct ControllerManager {
    /// Clients by identity.
    pub connect: Connect,
    /// The cluster CA (the root CA publisher's ConfigMaps, token Secrets' `ca.crt`).
    pub ca_pem: String,
    /// Signs secret-based tokens.
    pub sign: tokens::Sign,
    /// `--legacy-token-secrets`.
    pub legacy_token_secrets: bool,
    /// A token Secret's 5-character name suffix (injected randomness).
    pub suffix: Arc<dyn Fn() -> String + Send + Sync>,
    /// How often a namespace whose contents still have finalizers is looked at again.
    pub namespace_resync: Duration,
    /// Whether the ClusterRole aggregation controller runs (RBAC authorization).
    pub aggregation: bool,
    /// When the controllers may act.
    pub elector: Arc<dyn Elector>,
}

impl ControllerManager {
    /// With the defaults of a single process.
    pub fn new(connect: Connect, ca_pem: String, sign: tokens::Sign) -> Self {
        ControllerManager {
            connect,
            ca_pem,
            sign,
            legacy_token_secrets: false,
            suffix: Arc::new(String::new),
            namespace_resync: Duration::from_secs(5),
            aggregation: true,
            elector: Arc::new(AlwaysLeader),
        }
    }

    /// Creates the controllers' service accounts, then starts every controller on its own
    /// task. Returns once they run.
    pub async fn start(self) -> Result<(), StatusError> {
        let shared = (self.connect)(manager_user());
        let own = |account: &str| (self.connect)(controller_user(account));
        let mut accounts = vec![
            NAMESPACE_CONTROLLER,
            SERVICE_ACCOUNT_CONTROLLER,
            ROOT_CA_CERT_PUBLISHER,
        ];
        if self.aggregation {
            accounts.push(CLUSTERROLE_AGGREGATION_CONTROLLER);
        }
        for account in &accounts {
            // Get first, as the client builder does: a restart writes nothing.
            let def = &registry::kinds::SERVICE_ACCOUNTS;
            match shared.get(def, "kube-system", account).await {
                Ok(_) => continue,
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
            let sa = json!({"metadata": {"name": account}});
            match shared.create(def, "kube-system", sa).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        let elector = self.elector;
        let mut controllers = vec![
            namespace::namespace_controller(own(NAMESPACE_CONTROLLER), self.namespace_resync),
            serviceaccounts::service_account_controller(
                shared.clone(),
                own(SERVICE_ACCOUNT_CONTROLLER),
            ),
            serviceaccounts::root_ca_publisher(
                shared.clone(),
                own(ROOT_CA_CERT_PUBLISHER),
                self.ca_pem.clone(),
            ),
        ];
        if self.aggregation {
            controllers.push(aggregation::aggregation_controller(
                shared.clone(),
                own(CLUSTERROLE_AGGREGATION_CONTROLLER),
            ));
        }
        let tokens = tokens::TokenController {
            client: shared.clone(),
            sign: self.sign,
            ca_pem: self.ca_pem,
            auto_create: self.legacy_token_secrets,
            suffix: self.suffix,
        };
        controllers.extend(tokens.controllers());
        for c in controllers {
            tokio::spawn(c.run(shared.clone(), elector.clone()));
        }
        Ok(())
    }
}
