//! The indexed RBAC engine: bindings indexed by (subject, namespace), so a decision looks only
//! at the bindings that can apply to the requesting user, in the same order the reference
//! walk would meet them. Kept current one object at a time from watch events.

use super::{applies_to, describe, no_opinion, Binding, Policy, PolicyRule};
use crate::{Attributes, Authorizer, Decision};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

/// Who a subject names, resolved (a ServiceAccount subject's namespace defaults to its
/// binding's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    User(String),
    Group(String),
}

/// Binding keys in walk order: ClusterRoleBindings ("" namespace) sort before RoleBindings of
/// one namespace, and within each by name, exactly as the reference walk.
type Key = (String, String);

#[derive(Default)]
struct Inner {
    policy: Policy,
    /// (who, binding namespace) → binding keys, sorted. A sorted Vec rather than a BTreeSet:
    /// most subjects have one or two bindings, and a B-tree node per entry tripled the
    /// index's memory.
    by_subject: HashMap<(Who, String), Vec<Key>>,
}

/// The indexed engine. Cheap to share; updates take a write lock for one object.
#[derive(Default)]
pub struct Index {
    inner: RwLock<Inner>,
}

fn whos(b: &Binding) -> Vec<Who> {
    b.subjects
        .iter()
        .filter_map(|s| match s.kind.as_str() {
            "User" => Some(Who::User(s.name.clone())),
            "Group" => Some(Who::Group(s.name.clone())),
            "ServiceAccount" => {
                let ns = if s.namespace.is_empty() {
                    &b.namespace
                } else {
                    &s.namespace
                };
                (!ns.is_empty())
                    .then(|| Who::User(format!("system:serviceaccount:{ns}:{}", s.name)))
            }
            _ => None,
        })
        .collect()
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds an index holding `policy`.
    pub fn from_policy(policy: &Policy) -> Self {
        let idx = Index::new();
        for (name, rules) in &policy.cluster_roles {
            idx.set_role("", name, Some(rules.as_ref().clone()));
        }
        for ((ns, name), rules) in &policy.roles {
            idx.set_role(ns, name, Some(rules.as_ref().clone()));
        }
        for b in policy
            .cluster_role_bindings
            .values()
            .chain(policy.role_bindings.values())
        {
            idx.set_binding(&b.namespace, &b.name, Some(b.clone()));
        }
        idx
    }

    /// Adds, replaces (Some) or removes (None) a Role (namespace non-empty) or ClusterRole.
    pub fn set_role(&self, namespace: &str, name: &str, rules: Option<Vec<PolicyRule>>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let p = &mut inner.policy;
        match (namespace.is_empty(), rules) {
            (true, Some(r)) => {
                p.cluster_roles.insert(name.to_string(), Arc::new(r));
            }
            (true, None) => {
                p.cluster_roles.remove(name);
            }
            (false, Some(r)) => {
                p.roles
                    .insert((namespace.to_string(), name.to_string()), Arc::new(r));
            }
            (false, None) => {
                p.roles.remove(&(namespace.to_string(), name.to_string()));
            }
        }
    }

    /// Adds, replaces (Some) or removes (None) a RoleBinding or ClusterRoleBinding.
    pub fn set_binding(&self, namespace: &str, name: &str, binding: Option<Binding>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let key: Key = (namespace.to_string(), name.to_string());
        let old = if namespace.is_empty() {
            inner.policy.cluster_role_bindings.remove(name)
        } else {
            inner.policy.role_bindings.remove(&key)
        };
        if let Some(old) = old {
            for w in whos(&old) {
                if let Some(set) = inner
                    .by_subject
                    .get_mut(&(w.clone(), namespace.to_string()))
                {
                    if let Ok(i) = set.binary_search(&key) {
                        set.remove(i);
                    }
                    if set.is_empty() {
                        inner.by_subject.remove(&(w, namespace.to_string()));
                    }
                }
            }
        }
        if let Some(b) = binding {
            for w in whos(&b) {
                let set = inner
                    .by_subject
                    .entry((w, namespace.to_string()))
                    .or_default();
                if let Err(i) = set.binary_search(&key) {
                    set.insert(i, key.clone());
                }
            }
            if namespace.is_empty() {
                inner
                    .policy
                    .cluster_role_bindings
                    .insert(name.to_string(), b);
            } else {
                inner.policy.role_bindings.insert(key, b);
            }
        }
    }

    /// A copy of the policy (for the reference evaluator, rule listing and escalation checks).
    pub fn policy(&self) -> Policy {
        self.inner
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .policy
            .clone()
    }

    /// The bindings that may apply to the user for a request in `namespace`, in walk order.
    fn candidates(inner: &Inner, a: &Attributes) -> Vec<Key> {
        let mut whos = vec![Who::User(a.user.name.clone())];
        whos.extend(a.user.groups.iter().map(|g| Who::Group(g.clone())));
        let mut cluster = BTreeSet::new();
        let mut local = BTreeSet::new();
        for w in whos {
            if let Some(s) = inner.by_subject.get(&(w.clone(), String::new())) {
                cluster.extend(s.iter().cloned());
            }
            if !a.namespace.is_empty() {
                if let Some(s) = inner.by_subject.get(&(w, a.namespace.clone())) {
                    local.extend(s.iter().cloned());
                }
            }
        }
        cluster.into_iter().chain(local).collect()
    }

    /// Every rule that applies to the user in `namespace` (cluster-wide and bound there), and
    /// the resolution errors met (`RulesFor`, for SelfSubjectRulesReview and escalation checks).
    pub fn rules_for(
        &self,
        user: &api_types::UserInfo,
        namespace: &str,
    ) -> (Vec<PolicyRule>, Vec<String>) {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let a = Attributes {
            user: user.clone(),
            namespace: namespace.to_string(),
            ..Default::default()
        };
        let (mut rules, mut errors) = (Vec::new(), Vec::new());
        for key in Self::candidates(&inner, &a) {
            let b = if key.0.is_empty() {
                &inner.policy.cluster_role_bindings[&key.1]
            } else {
                &inner.policy.role_bindings[&key]
            };
            if applies_to(user, &b.subjects, &b.namespace).is_none() {
                continue;
            }
            match inner.policy.resolve(b) {
                Ok(r) => rules.extend(r.iter().cloned()),
                Err(e) => errors.push(e),
            }
        }
        (rules, errors)
    }
}

impl Index {
    /// [`super::explain::access_matrix`] from the index: the user's rules gathered by its
    /// subject lookups, not by a walk over every binding.
    pub fn access_matrix(
        &self,
        user: &api_types::UserInfo,
        namespace: &str,
        resources: &[(String, String, String)],
        verbs: &[&str],
    ) -> Vec<Vec<bool>> {
        let (rules, _) = self.rules_for(user, namespace);
        super::explain::matrix_of_rules(&rules, user, namespace, resources, verbs)
    }
}

impl Authorizer for Index {
    fn authorize(&self, a: &Attributes) -> Decision {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut errors = Vec::new();
        for key in Self::candidates(&inner, a) {
            let b = if key.0.is_empty() {
                &inner.policy.cluster_role_bindings[&key.1]
            } else {
                &inner.policy.role_bindings[&key]
            };
            let Some(i) = applies_to(&a.user, &b.subjects, &b.namespace) else {
                continue;
            };
            match inner.policy.resolve(b) {
                Ok(rules) => {
                    if rules.iter().any(|r| super::rule_allows(a, r)) {
                        return Decision::Allow(format!(
                            "RBAC: allowed by {}",
                            describe(b, &b.subjects[i])
                        ));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        no_opinion(errors)
    }
}
