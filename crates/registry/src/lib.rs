//! The generic registry: kube-apiserver's `registry/generic/registry/store.go` over plain
//! JSON objects. It owns object metadata (uid, timestamps, resourceVersion, generateName),
//! optimistic concurrency, selectors, paging, dry-run, finalizers and watches; per-kind rules
//! come from each resource's [`Strategy`].
//!
//! Architecture invariant: the registry does not know which storage backend runs, nor anything
//! of HTTP, TLS or who is asking. It answers with values or [`StatusError`]s.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

mod apply;
pub mod client;
pub mod informer;
pub mod keys;
pub mod kinds;
pub mod lists;
pub mod meta;
mod paging;
pub mod resource;
pub mod schema;
pub mod selectors;
mod store;
pub mod table;
pub mod validation;
mod watch;

pub use api_types::StatusError;
pub use client::{BoxFuture, Client, WatchRequest};
pub use informer::{Change, Informer};
pub use keys::{group_resource_of_key, resource_prefix_len};
pub use kinds::{access_matrix_rows, resources};
pub use resource::{ResourceDef, Strategy, Subresource};
pub use store::{
    os_random, parse_resource_version, Admission, Clock, DeleteOptions, Deleted, Encoding,
    FieldValidation, ListOptions, ListOut, PatchType, Random, Registry, ServiceRanges,
    WriteOptions, Written,
};
pub use watch::{WatchEvent, WatchOptions};
