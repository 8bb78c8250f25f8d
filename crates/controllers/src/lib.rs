//! Controllers: loops that watch objects and act on them, as kube-controller-manager's, all on
//! one runtime ([`runtime`]: informers, a work queue, `reconcile` with back-off).
//!
//! Architecture invariant: controllers act only through the registry's public verbs (the same
//! ones the HTTP handlers call: list, watch, create, update, delete), never on storage keys.
//! No write's result is dropped: a reconcile returns it, and the runtime retries failures.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

mod aggregation;
mod bootstrap;
mod namespace;
pub mod rbac;
pub mod runtime;
mod serviceaccounts;
pub mod tokens;

pub use aggregation::{aggregate_all, aggregation_controller, run_aggregation_controller};
pub use bootstrap::ensure_bootstrap_policy;
pub use namespace::{finalize_namespace, namespace_controller, run_namespace_controller};
pub use serviceaccounts::{
    reconcile_root_ca, reconcile_service_account, root_ca_publisher, run_namespace_defaults,
    service_account_controller,
};

pub(crate) use registry::meta::meta_str;
