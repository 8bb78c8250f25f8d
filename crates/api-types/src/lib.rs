//! Types that cross every layer of kubeward and the HTTP boundary.
//!
//! Architecture invariant: no async, no HTTP framework, no storage. Everything here is plain data
//! and plain functions, so every other crate can depend on it.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

mod status;
mod time;
mod user;

pub use status::{Cause, GroupResource, StatusDetails, StatusError, StatusReason};
pub use time::{format_micro_time, format_rfc3339, human_duration, parse_rfc3339};
pub use user::UserInfo;
