//! Authorization as kube-apiserver does it: a chain of authorizers, each answering Allow, Deny
//! or NoOpinion; the privileged group `system:masters` first, then RBAC.
//!
//! Architecture invariant: sans-IO. Plain data in, decisions out; no HTTP, no storage, no
//! async. RBAC never denies (it allows or has no opinion), and the indexed engine and the
//! reference evaluator agree on every input (property-tested in `tests/`).

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

pub mod node;
pub mod rbac;

use api_types::UserInfo;

/// What is being asked (`authorizer.Attributes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attributes {
    /// Who asks.
    pub user: UserInfo,
    /// The verb (`get`, `list`, `create`, ..., `impersonate`, `bind`, `escalate`).
    pub verb: String,
    /// Whether this is about a resource (else a non-resource path).
    pub resource_request: bool,
    /// The namespace ("" for cluster scope).
    pub namespace: String,
    /// The API group.
    pub api_group: String,
    /// The API version.
    pub api_version: String,
    /// The resource (plural).
    pub resource: String,
    /// The subresource ("" when none).
    pub subresource: String,
    /// The object's name, or for non-resource requests the path.
    pub name: String,
    /// For non-resource requests.
    pub path: String,
    /// A list's or watch's field selector ("" when none).
    pub field_selector: String,
}

/// An authorizer's answer, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, with the reason.
    Allow(String),
    /// Denied: no later authorizer is asked.
    Deny(String),
    /// No opinion: the next authorizer decides (all of them: forbidden).
    NoOpinion(String),
}

impl Decision {
    /// Whether the request may go on.
    pub fn allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason given.
    pub fn reason(&self) -> &str {
        match self {
            Decision::Allow(r) | Decision::Deny(r) | Decision::NoOpinion(r) => r,
        }
    }
}

/// One authorizer of the chain.
pub trait Authorizer: Send + Sync {
    /// The decision for `a`.
    fn authorize(&self, a: &Attributes) -> Decision;
}

/// Members of `system:masters` may do anything (`authorizerfactory.NewPrivilegedGroups`).
pub struct PrivilegedGroups;

impl Authorizer for PrivilegedGroups {
    fn authorize(&self, a: &Attributes) -> Decision {
        if a.user.in_group("system:masters") {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(String::new())
        }
    }
}

/// A union of authorizers: the first Allow or Deny wins; when all have no opinion, the
/// non-empty reasons are joined with newlines (`union.New`).
pub struct Chain(pub Vec<Box<dyn Authorizer>>);

impl Authorizer for Chain {
    fn authorize(&self, a: &Attributes) -> Decision {
        let mut reasons = Vec::new();
        for z in &self.0 {
            match z.authorize(a) {
                Decision::NoOpinion(r) => {
                    if !r.is_empty() {
                        reasons.push(r)
                    }
                }
                decided => return decided,
            }
        }
        Decision::NoOpinion(reasons.join("\n"))
    }
}

/// `--authorization-mode=AlwaysAllow`: every request is allowed.
pub struct AlwaysAllow;

impl Authorizer for AlwaysAllow {
    fn authorize(&self, _: &Attributes) -> Decision {
        Decision::Allow(String::new())
    }
}

pub mod escalation;
