//! Admission, as kube-apiserver's `admission.Interface`: plug-ins that say which kinds and
//! operations they handle; the mutating ones change the object before the registry sees it,
//! the validating ones run inside the registry after its own validation (with the new and,
//! on update, the current object). Handlers call [`admit`] and [`validation`] once per write
//! and never name a kind.
//!
//! The plug-ins, in the order they run (upstream's `AllOrderedPlugins`); which of them run is
//! chosen by kube-apiserver's flags ([`plugins`]), RbacEscalation always:
//!
//! 1. [`NamespaceAutoProvision`] (off by default) — before the lifecycle check, so a create
//!    in a missing namespace makes the namespace first.
//! 2. [`NamespaceLifecycle`] — first of the default ones, so nothing else works on an object
//!    that cannot be created: no new objects in a namespace that is missing or terminating
//!    (checked as the first mutating plug-in on a create, as upstream, and again inside the
//!    store where a write turns out to create, an apply too), and the system namespaces are
//!    not deleted. Every writer meets it: the controllers write through the chain.
//! 3. [`NamespaceExists`] (off by default) — a namespace that does not exist is 404 for any
//!    write into it, an update or a delete too.
//! 4. [`ServiceAccount`] — before validation, so a pod is checked with its account, token
//!    volume and mounts in place.
//! 5. [`NodeRestriction`] — after ServiceAccount as upstream: a node (`system:node:<name>`)
//!    writes only its own Node and Lease and the status of pods bound to it, deletes only
//!    those pods; what the Node authorizer allows every node, limited to its own.
//! 6. [`pod_defaults::Priority`] — a pod's priority from its class (only the system classes
//!    exist here).
//! 7. [`pod_defaults::DefaultTolerationSeconds`] — a pod tolerates a not-ready or
//!    unreachable node for 300 s unless it says otherwise.
//! 8. [`RbacEscalation`] — last, on the final object: a role grants only what its writer
//!    holds, a binding binds only a role its writer holds (or `escalate` / `bind`). Not an
//!    admission plug-in upstream (the RBAC storage's own check), so always on.

mod namespace_lifecycle;
pub(crate) mod node_restriction;
pub(crate) mod plugins;
mod pod_defaults;
mod rbac_escalation;
mod service_account;

use crate::State;
use api_types::{StatusError, UserInfo};
use registry::{kinds, ResourceDef};
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The write being admitted (`admission.Operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    Create,
    Update,
    Delete,
}

/// What a plug-in is told about a request (`admission.Attributes`).
pub(crate) struct Attributes<'a> {
    pub(crate) def: &'static ResourceDef,
    /// "" for the object itself.
    pub(crate) subresource: &'a str,
    pub(crate) namespace: &'a str,
    /// The name in the URL ("" on a create that generates one).
    pub(crate) name: &'a str,
    pub(crate) operation: Operation,
    pub(crate) user: &'a UserInfo,
}

type Admitted<'a> = Pin<Box<dyn Future<Output = Result<Value, StatusError>> + Send + 'a>>;

/// One admission plug-in.
pub(crate) trait Plugin: Sync {
    /// Its name, as the flags say it ("" for a check that always runs).
    fn name(&self) -> &'static str;

    /// Whether the plug-in has anything to do with this request (`Handles`).
    fn handles(&self, a: &Attributes<'_>) -> bool;

    /// Whether it changes objects (a mutating plug-in).
    fn mutates(&self) -> bool {
        false
    }

    /// Mutating admission: the object as the plug-in leaves it.
    fn admit<'a>(&'a self, _state: &'a State, _a: &'a Attributes<'a>, obj: Value) -> Admitted<'a> {
        Box::pin(std::future::ready(Ok(obj)))
    }

    /// Mutating-phase admission that must know whether the write creates (the registry
    /// finds out: an apply may create): the check it runs on a create, before validation.
    fn on_create(&self, _state: &State, _a: &Attributes<'_>) -> Option<registry::Admission> {
        None
    }

    /// Admission of a delete (nothing to mutate; a plug-in that needs the object reads it).
    fn delete(&self, _state: &State, _a: &Attributes<'_>) -> Result<(), StatusError> {
        Ok(())
    }

    /// Validating admission: the check the registry runs on the final object, if any.
    fn validate(&self, _state: &State, _a: &Attributes<'_>) -> Option<registry::Admission> {
        None
    }
}

/// The name an admission refusal gives an object (`admission.NewForbidden`): its name, else
/// its `generateName` (names are generated later), else "Unknown".
pub(crate) fn object_name(obj: &Value) -> String {
    let meta = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    meta("name")
        .or_else(|| meta("generateName"))
        .unwrap_or("Unknown")
        .to_string()
}

/// The plug-ins in order (see the module's list).
static PLUGINS: &[&dyn Plugin] = &[
    &NamespaceAutoProvision,
    &NamespaceLifecycle,
    &NamespaceExists,
    &ServiceAccount,
    &NodeRestriction,
    &pod_defaults::Priority,
    &pod_defaults::DefaultTolerationSeconds,
    &RbacEscalation,
];

/// The plug-ins that run, in order.
fn active(state: &State) -> impl Iterator<Item = &'static dyn Plugin> + '_ {
    PLUGINS
        .iter()
        .copied()
        .filter(|p| p.name().is_empty() || state.admission.is_on(p.name()))
}

/// Whether any mutating plug-in handles the request (the handler then keeps the object as
/// the client sent it, for field ownership).
pub(crate) fn mutates(state: &State, a: &Attributes<'_>) -> bool {
    active(state).any(|p| p.mutates() && p.handles(a))
}

/// Runs every mutating plug-in that handles the request, in order.
pub(crate) async fn admit(
    state: &State,
    a: &Attributes<'_>,
    mut obj: Value,
) -> Result<Value, StatusError> {
    for p in active(state).filter(|p| p.mutates() && p.handles(a)) {
        obj = p.admit(state, a, obj).await?;
    }
    Ok(obj)
}

/// Every plug-in's admission of a delete, in order.
pub(crate) fn delete(state: &State, a: &Attributes<'_>) -> Result<(), StatusError> {
    active(state)
        .filter(|p| p.handles(a))
        .try_for_each(|p| p.delete(state, a))
}

/// The create-time checks of the plug-ins that handle a create like this write, as one check
/// for the registry to run if the write creates.
pub(crate) fn on_create(state: &State, a: &Attributes<'_>) -> Option<registry::Admission> {
    let create = Attributes {
        operation: Operation::Create,
        ..*a
    };
    combined(
        active(state)
            .filter(|p| p.handles(&create))
            .filter_map(|p| p.on_create(state, &create))
            .collect(),
    )
}

/// The validating plug-ins that handle the request, as one check for the registry.
pub(crate) fn validation(state: &State, a: &Attributes<'_>) -> Option<registry::Admission> {
    combined(
        active(state)
            .filter(|p| p.handles(a))
            .filter_map(|p| p.validate(state, a))
            .collect(),
    )
}

fn combined(checks: Vec<registry::Admission>) -> Option<registry::Admission> {
    match checks.len() {
        0 => None,
        1 => checks.into_iter().next(),
        _ => Some(Arc::new(move |new: &Value, old: Option<&Value>| {
            checks.iter().try_for_each(|c| c(new, old))
        })),
    }
}

/// NamespaceLifecycle: creates of namespaced objects, deletes of namespaces.
struct NamespaceLifecycle;

impl Plugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        match a.operation {
            Operation::Create => a.def.namespaced,
            Operation::Update => false,
            Operation::Delete => a.def.is(&kinds::NAMESPACES),
        }
    }

    fn on_create(&self, state: &State, a: &Attributes<'_>) -> Option<registry::Admission> {
        Some(namespace_lifecycle::create(state, a.def, a.namespace))
    }

    /// Upstream's plug-in admits in the mutating phase, first: a pod for a namespace that
    /// does not exist is 404 `namespaces "x" not found`, before ServiceAccount admission
    /// would look for its account there. It changes nothing.
    fn mutates(&self) -> bool {
        true
    }

    fn admit<'a>(&'a self, state: &'a State, a: &'a Attributes<'a>, obj: Value) -> Admitted<'a> {
        let check = namespace_lifecycle::create(state, a.def, a.namespace);
        Box::pin(async move { check(&obj, None).map(|()| obj) })
    }

    fn delete(&self, _state: &State, a: &Attributes<'_>) -> Result<(), StatusError> {
        namespace_lifecycle::delete(a.def, a.name)
    }
}

/// The ServiceAccount plug-in: pods, on create.
struct ServiceAccount;

impl Plugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        a.def.is(&kinds::PODS) && a.subresource.is_empty() && a.operation == Operation::Create
    }

    fn mutates(&self) -> bool {
        true
    }

    fn admit<'a>(&'a self, state: &'a State, a: &'a Attributes<'a>, obj: Value) -> Admitted<'a> {
        Box::pin(service_account::service_account_for_pod(
            state,
            a.namespace,
            obj,
        ))
    }
}

/// NodeRestriction: writes by a node to pods, nodes and leases.
struct NodeRestriction;

impl Plugin for NodeRestriction {
    fn name(&self) -> &'static str {
        "NodeRestriction"
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        node_restriction::handles(a.def) && node_restriction::node_of(a.user).is_some()
    }

    fn delete(&self, state: &State, a: &Attributes<'_>) -> Result<(), StatusError> {
        match node_restriction::node_of(a.user) {
            Some(node) => node_restriction::delete(state, node, a.def, a.namespace, a.name),
            None => Ok(()),
        }
    }

    fn validate(&self, _state: &State, a: &Attributes<'_>) -> Option<registry::Admission> {
        let node = node_restriction::node_of(a.user)?;
        Some(node_restriction::admission(
            node,
            a.def,
            a.subresource,
            a.name,
        ))
    }
}

/// The RBAC escalation check: roles, cluster roles and their bindings, on every write.
struct RbacEscalation;

impl Plugin for RbacEscalation {
    fn name(&self) -> &'static str {
        ""
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        [
            &kinds::ROLES,
            &kinds::CLUSTER_ROLES,
            &kinds::ROLE_BINDINGS,
            &kinds::CLUSTER_ROLE_BINDINGS,
        ]
        .iter()
        .any(|k| a.def.is(k))
    }

    fn validate(&self, state: &State, a: &Attributes<'_>) -> Option<registry::Admission> {
        rbac_escalation::admission(state, a.user, a.def, a.namespace, a.name)
    }
}

/// NamespaceAutoProvision (`plugin/pkg/admission/namespace/autoprovision`): a create in a
/// namespace that does not exist makes the namespace first.
struct NamespaceAutoProvision;

impl Plugin for NamespaceAutoProvision {
    fn name(&self) -> &'static str {
        "NamespaceAutoProvision"
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        a.operation == Operation::Create && a.def.namespaced && !a.namespace.is_empty()
    }

    fn mutates(&self) -> bool {
        true
    }

    fn admit<'a>(&'a self, state: &'a State, a: &'a Attributes<'a>, obj: Value) -> Admitted<'a> {
        Box::pin(async move {
            namespace_lifecycle::provision(state, a.namespace)?;
            Ok(obj)
        })
    }
}

/// NamespaceExists (`plugin/pkg/admission/namespace/exists`): any write into a namespace
/// that does not exist is 404.
struct NamespaceExists;

impl Plugin for NamespaceExists {
    fn name(&self) -> &'static str {
        "NamespaceExists"
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        a.def.namespaced && !a.namespace.is_empty()
    }

    fn mutates(&self) -> bool {
        true
    }

    fn admit<'a>(&'a self, state: &'a State, a: &'a Attributes<'a>, obj: Value) -> Admitted<'a> {
        Box::pin(async move { namespace_lifecycle::exists(state, a.namespace).map(|()| obj) })
    }

    fn delete(&self, state: &State, a: &Attributes<'_>) -> Result<(), StatusError> {
        namespace_lifecycle::exists(state, a.namespace)
    }

    fn validate(&self, state: &State, a: &Attributes<'_>) -> Option<registry::Admission> {
        let (registry, namespace) = (state.registry.clone(), a.namespace.to_string());
        Some(Arc::new(move |_: &Value, _: Option<&Value>| {
            namespace_lifecycle::exists_in(&registry, &namespace)
        }))
    }
}
