//! Controllers: loops that watch objects and act on them, as kube-controller-manager's.
//!
//! Architecture invariant: controllers act only through the registry's public verbs (the same
//! ones the HTTP handlers call: list, watch, delete, update), never on storage keys. When the
//! RBAC issue lands they will carry their own identity, as upstream controllers do.

mod aggregation;
mod bootstrap;
mod compaction;
mod namespace;
pub mod rbac;
mod serviceaccounts;
pub mod tokens;

pub use aggregation::{aggregate_all, run_aggregation_controller};
pub use bootstrap::ensure_bootstrap_policy;
pub use compaction::run_compactor;
pub use namespace::{finalize_namespace, run_namespace_controller};
pub use serviceaccounts::{reconcile_namespace, run_namespace_defaults};
