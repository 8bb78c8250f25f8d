//! Controllers: loops that watch objects and act on them, as kube-controller-manager's, all on
//! one runtime ([`runtime`]: informers, a work queue, `reconcile` with back-off).
//!
//! Architecture invariant: controllers act only through a [`registry::Client`] (the server's
//! in-process client: the whole handler chain, as an identity RBAC authorizes), never on the
//! registry or storage. No write's result is dropped: a reconcile returns it, and the runtime
//! retries failures.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

mod aggregation;
mod bootstrap;
pub mod leaderelection;
pub mod manager;
mod namespace;
mod post_start;
pub mod rbac;
pub mod runtime;
mod serviceaccounts;
pub mod tokens;

pub use aggregation::{aggregate_all, aggregation_controller};
pub use bootstrap::{bootstrap_bindings, ensure_bootstrap_policy};
pub use manager::ControllerManager;
pub use namespace::{finalize_namespace, namespace_controller};
pub use post_start::{ensure_kubernetes_service, post_start, until_done, SYSTEM_NAMESPACES};
pub use serviceaccounts::{
    reconcile_root_ca, reconcile_service_account, root_ca_publisher, service_account_controller,
};

pub(crate) use registry::meta::meta_str;
