//! The indexed RBAC engine: bindings indexed by subject (user or group name, then binding
//! namespace), so a decision looks only at the bindings that can apply to the requesting user,
//! in the same order the reference walk would meet them; and by the role they bind, so
//! who-can starts from the roles that allow a request (the inverse map). Kept current one
//! object at a time from watch events.
//!
//! Compact: every string is interned (one `Arc<str>` per distinct text: the verbs, groups,
//! kinds and namespaces a policy repeats thousands of times are stored once), each binding is
//! stored once behind an `Arc` that the subject and role maps share, and a decision borrows
//! everything it compares (no allocation until the reason of an Allow is written).

use super::explain::Allowed;
use super::{no_opinion, Binding, Policy, PolicyRule, RoleRef, Subject};
use crate::{Attributes, Authorizer, Decision};
use std::sync::{Arc, RwLock};

/// The index's maps hash with foldhash, seeded at random per map (a binding's subject names
/// are chosen by whoever may write bindings, so the seed is not predictable to them).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// An interned string.
type Str = Arc<str>;

/// `rbacv1.PolicyRule`, interned.
#[derive(Debug, PartialEq, Eq)]
struct Rule {
    verbs: Box<[Str]>,
    api_groups: Box<[Str]>,
    resources: Box<[Str]>,
    resource_names: Box<[Str]>,
    non_resource_urls: Box<[Str]>,
}

/// `rbacv1.Subject`, interned.
#[derive(Debug)]
struct Subj {
    kind: Str,
    api_group: Str,
    name: Str,
    namespace: Str,
}

/// A RoleBinding or ClusterRoleBinding, interned, stored once.
#[derive(Debug)]
struct Bind {
    namespace: Str,
    name: Str,
    subjects: Box<[Subj]>,
    role_api_group: Str,
    role_kind: Str,
    role_name: Str,
}

impl Bind {
    /// The namespace of the role it binds ("" for a ClusterRole), if it can bind one.
    fn role_namespace(&self) -> Option<&str> {
        match &*self.role_kind {
            "ClusterRole" => Some(""),
            "Role" if !self.namespace.is_empty() => Some(&self.namespace),
            _ => None,
        }
    }
}

/// The walk order: ClusterRoleBindings ("" namespace) before the RoleBindings of a namespace,
/// each by name, as the reference walk meets them.
fn walk_order(a: &Arc<Bind>, b: &Arc<Bind>) -> std::cmp::Ordering {
    (&*a.namespace, &*a.name).cmp(&(&*b.namespace, &*b.name))
}

/// Bindings sorted in walk order.
type Sorted = Vec<Arc<Bind>>;

/// namespace → name → T.
type Scoped<T> = HashMap<Str, HashMap<Str, T>>;

#[derive(Default)]
struct Inner {
    /// Every string held, once. Swept of strings nothing else holds when it doubles.
    strings: HashSet<Str>,
    sweep_at: usize,
    /// Roles by namespace ("" for ClusterRoles) and name.
    roles: Scoped<Arc<[Rule]>>,
    /// Bindings by namespace ("" for ClusterRoleBindings) and name.
    bindings: Scoped<Arc<Bind>>,
    /// User name (a service account's `system:serviceaccount:NS:NAME`) → its bindings.
    users: HashMap<Str, Sorted>,
    /// Group name → its bindings.
    groups: HashMap<Str, Sorted>,
    /// The role's namespace ("" for ClusterRoles) and name → the bindings that bind it.
    by_role: Scoped<Sorted>,
}

impl Inner {
    fn intern(&mut self, s: &str) -> Str {
        if let Some(x) = self.strings.get(s) {
            return x.clone();
        }
        let x: Str = Arc::from(s);
        self.strings.insert(x.clone());
        x
    }

    fn interned(&mut self, list: &[String]) -> Box<[Str]> {
        list.iter().map(|s| self.intern(s)).collect()
    }

    /// Drops the strings only the interner still holds, once it has doubled since the last
    /// sweep, so deleted objects' names do not accumulate.
    fn sweep(&mut self) {
        if self.strings.len() > self.sweep_at {
            self.strings.retain(|s| Arc::strong_count(s) > 1);
            self.sweep_at = (2 * self.strings.len()).max(1024);
        }
    }

    fn rule(&mut self, r: &PolicyRule) -> Rule {
        Rule {
            verbs: self.interned(&r.verbs),
            api_groups: self.interned(&r.api_groups),
            resources: self.interned(&r.resources),
            resource_names: self.interned(&r.resource_names),
            non_resource_urls: self.interned(&r.non_resource_urls),
        }
    }

    fn bind(&mut self, b: &Binding) -> Bind {
        let subjects = b
            .subjects
            .iter()
            .map(|s| Subj {
                kind: self.intern(&s.kind),
                api_group: self.intern(&s.api_group),
                name: self.intern(&s.name),
                namespace: self.intern(&s.namespace),
            })
            .collect();
        Bind {
            namespace: self.intern(&b.namespace),
            name: self.intern(&b.name),
            subjects,
            role_api_group: self.intern(&b.role_ref.api_group),
            role_kind: self.intern(&b.role_ref.kind),
            role_name: self.intern(&b.role_ref.name),
        }
    }

    /// The user and group names a binding's subjects index it under (a ServiceAccount
    /// subject's namespace defaults to its binding's; one naming no namespace names no one).
    fn whos(&mut self, b: &Bind) -> Vec<(bool, Str)> {
        let mut out = Vec::new();
        for s in b.subjects.iter() {
            match &*s.kind {
                "User" => out.push((true, s.name.clone())),
                "Group" => out.push((false, s.name.clone())),
                "ServiceAccount" => {
                    let ns = if s.namespace.is_empty() {
                        &b.namespace
                    } else {
                        &s.namespace
                    };
                    if !ns.is_empty() {
                        let user = format!("system:serviceaccount:{ns}:{}", s.name);
                        out.push((true, self.intern(&user)));
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn role(&self, namespace: &str, name: &str) -> Option<&Arc<[Rule]>> {
        self.roles.get(namespace)?.get(name)
    }

    /// The rules a binding's roleRef resolves to, or the lister's error text (as
    /// [`Policy::resolve`]).
    fn resolve(&self, b: &Bind) -> Result<&Arc<[Rule]>, String> {
        let missing = |what: &str| {
            format!(
                "{what}.rbac.authorization.k8s.io {:?} not found",
                &*b.role_name
            )
        };
        match (&*b.role_kind, b.role_namespace()) {
            ("ClusterRole", Some(ns)) => self
                .role(ns, &b.role_name)
                .ok_or_else(|| missing("clusterrole")),
            ("Role", Some(ns)) => self.role(ns, &b.role_name).ok_or_else(|| missing("role")),
            (kind, _) => Err(format!("unsupported role reference kind: {kind:?}")),
        }
    }

    /// The bindings that may apply to the user for a request in `namespace`, in walk order:
    /// for its name and each group, the cluster-wide ones and those of the namespace.
    fn candidates<'a>(&'a self, user: &api_types::UserInfo, namespace: &str) -> Vec<&'a Arc<Bind>> {
        let mut out: Vec<&Arc<Bind>> = Vec::new();
        let mut lists = 0;
        let lookups = std::iter::once(self.users.get(user.name.as_str()))
            .chain(user.groups.iter().map(|g| self.groups.get(g.as_str())));
        for list in lookups.flatten() {
            out.extend(in_scope(list, namespace));
            lists += 1;
        }
        if lists > 1 {
            out.sort_unstable_by(|a, b| walk_order(a, b));
            out.dedup_by(|a, b| Arc::ptr_eq(a, b));
        }
        out
    }
}

/// The bindings of a walk-ordered list that are in scope for a request in `namespace`: the
/// cluster-wide ones, then (for a namespaced request) that namespace's.
fn in_scope<'a>(list: &'a [Arc<Bind>], namespace: &str) -> impl Iterator<Item = &'a Arc<Bind>> {
    let cluster = list.partition_point(|b| b.namespace.is_empty());
    let rest = &list[cluster..];
    let local = if namespace.is_empty() {
        &rest[..0]
    } else {
        let start = rest.partition_point(|b| &*b.namespace < namespace);
        let end = rest.partition_point(|b| &*b.namespace <= namespace);
        &rest[start..end]
    };
    list[..cluster].iter().chain(local)
}

fn add_sorted(list: &mut Sorted, b: &Arc<Bind>) {
    if let Err(i) = list.binary_search_by(|x| walk_order(x, b)) {
        list.insert(i, b.clone());
    }
}

fn remove_sorted<K: std::hash::Hash + Eq + std::borrow::Borrow<str>>(
    map: &mut HashMap<K, Sorted>,
    key: &str,
    b: &Arc<Bind>,
) {
    if let Some(list) = map.get_mut(key) {
        if let Ok(i) = list.binary_search_by(|x| walk_order(x, b)) {
            list.remove(i);
        }
        if list.is_empty() {
            map.remove(key);
        }
    }
}

fn has(list: &[Str], v: &str) -> bool {
    list.iter().any(|x| &**x == v)
}

/// [`super::rule_allows`] over an interned rule, without building `resource/subresource`.
fn allows(a: &Attributes, r: &Rule) -> bool {
    if !(has(&r.verbs, "*") || has(&r.verbs, &a.verb)) {
        return false;
    }
    if !a.resource_request {
        return r.non_resource_urls.iter().any(|u| {
            &**u == "*"
                || **u == *a.path
                || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
        });
    }
    let (res, sub) = (a.resource.as_str(), a.subresource.as_str());
    let resource_ok = r.resources.iter().any(|x| {
        let x: &str = x;
        x == "*"
            || (sub.is_empty() && x == res)
            || (!sub.is_empty()
                && x.len() == res.len() + 1 + sub.len()
                && x.starts_with(res)
                && x.as_bytes()[res.len()] == b'/'
                && x.ends_with(sub))
            || (!sub.is_empty()
                && x.len() == sub.len() + 2
                && x.starts_with("*/")
                && x.ends_with(sub))
    });
    (has(&r.api_groups, "*") || has(&r.api_groups, &a.api_group))
        && resource_ok
        && (r.resource_names.is_empty() || has(&r.resource_names, &a.name))
}

/// `appliesTo` over an interned binding: the first subject that names the user.
fn applies_to(user: &api_types::UserInfo, b: &Bind) -> Option<usize> {
    b.subjects.iter().position(|s| match &*s.kind {
        "User" => user.name == *s.name,
        "Group" => user.in_group(&s.name),
        "ServiceAccount" => {
            let ns: &str = if s.namespace.is_empty() {
                &b.namespace
            } else {
                &s.namespace
            };
            !ns.is_empty()
                && user
                    .name
                    .strip_prefix("system:serviceaccount:")
                    .and_then(|r| r.strip_prefix(ns))
                    .and_then(|r| r.strip_prefix(':'))
                    == Some(&*s.name)
        }
        _ => false,
    })
}

fn plain_rule(r: &Rule) -> PolicyRule {
    let list = |l: &[Str]| l.iter().map(|s| s.to_string()).collect();
    PolicyRule {
        verbs: list(&r.verbs),
        api_groups: list(&r.api_groups),
        resources: list(&r.resources),
        resource_names: list(&r.resource_names),
        non_resource_urls: list(&r.non_resource_urls),
    }
}

fn plain_subject(s: &Subj) -> Subject {
    Subject {
        kind: s.kind.to_string(),
        api_group: s.api_group.to_string(),
        name: s.name.to_string(),
        namespace: s.namespace.to_string(),
    }
}

fn plain_binding(b: &Bind) -> Binding {
    Binding {
        namespace: b.namespace.to_string(),
        name: b.name.to_string(),
        subjects: b.subjects.iter().map(plain_subject).collect(),
        role_ref: RoleRef {
            api_group: b.role_api_group.to_string(),
            kind: b.role_kind.to_string(),
            name: b.role_name.to_string(),
        },
    }
}

/// The indexed engine. Cheap to share; updates take a write lock for one object.
#[derive(Default)]
pub struct Index {
    inner: RwLock<Inner>,
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

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds, replaces (Some) or removes (None) a Role (namespace non-empty) or ClusterRole.
    pub fn set_role(&self, namespace: &str, name: &str, rules: Option<Vec<PolicyRule>>) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        match rules {
            Some(rules) => {
                let rules: Arc<[Rule]> = rules.iter().map(|r| inner.rule(r)).collect();
                let (ns, name) = (inner.intern(namespace), inner.intern(name));
                inner.roles.entry(ns).or_default().insert(name, rules);
            }
            None => {
                if let Some(m) = inner.roles.get_mut(namespace) {
                    m.remove(name);
                    if m.is_empty() {
                        inner.roles.remove(namespace);
                    }
                }
            }
        }
        inner.sweep();
    }

    /// Adds, replaces (Some) or removes (None) a RoleBinding or ClusterRoleBinding.
    pub fn set_binding(&self, namespace: &str, name: &str, binding: Option<Binding>) {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let inner = &mut *guard;
        let old = inner
            .bindings
            .get_mut(namespace)
            .and_then(|m| m.remove(name));
        if let Some(old) = old {
            if inner.bindings.get(namespace).is_some_and(HashMap::is_empty) {
                inner.bindings.remove(namespace);
            }
            for (user, who) in inner.whos(&old) {
                let map = if user {
                    &mut inner.users
                } else {
                    &mut inner.groups
                };
                remove_sorted(map, &who, &old);
            }
            if let Some(role_ns) = old.role_namespace() {
                if let Some(m) = inner.by_role.get_mut(role_ns) {
                    remove_sorted(m, &old.role_name, &old);
                    if m.is_empty() {
                        inner.by_role.remove(role_ns);
                    }
                }
            }
        }
        if let Some(b) = binding {
            let b = Arc::new(inner.bind(&b));
            for (user, who) in inner.whos(&b) {
                let map = if user {
                    &mut inner.users
                } else {
                    &mut inner.groups
                };
                add_sorted(map.entry(who).or_default(), &b);
            }
            if let Some(role_ns) = b.role_namespace() {
                let role_ns = inner.intern(role_ns);
                let list = inner
                    .by_role
                    .entry(role_ns)
                    .or_default()
                    .entry(b.role_name.clone())
                    .or_default();
                add_sorted(list, &b);
            }
            inner
                .bindings
                .entry(b.namespace.clone())
                .or_default()
                .insert(b.name.clone(), b);
        }
        inner.sweep();
    }

    /// The policy as plain objects (for the reference evaluator, explanations, rule listing
    /// and escalation checks).
    pub fn policy(&self) -> Policy {
        let inner = self.read();
        let mut p = Policy::default();
        for (ns, roles) in &inner.roles {
            for (name, rules) in roles {
                let rules = Arc::new(rules.iter().map(plain_rule).collect());
                if ns.is_empty() {
                    p.cluster_roles.insert(name.to_string(), rules);
                } else {
                    p.roles.insert((ns.to_string(), name.to_string()), rules);
                }
            }
        }
        for (ns, bindings) in &inner.bindings {
            for (name, b) in bindings {
                if ns.is_empty() {
                    p.cluster_role_bindings
                        .insert(name.to_string(), plain_binding(b));
                } else {
                    p.role_bindings
                        .insert((ns.to_string(), name.to_string()), plain_binding(b));
                }
            }
        }
        p
    }

    /// The part of the policy that can bear on `user`: every binding that names it (by name,
    /// as a service account, or through one of its groups) in any namespace, and the roles
    /// those bindings refer to. [`super::explain::explain`] looks at no other binding, so its
    /// answer over this is its answer over the whole policy, at the cost of the user's
    /// bindings rather than of every binding.
    pub fn policy_for(&self, user: &api_types::UserInfo) -> Policy {
        let inner = self.read();
        let mut p = Policy::default();
        let lists = std::iter::once(inner.users.get(user.name.as_str()))
            .chain(user.groups.iter().map(|g| inner.groups.get(g.as_str())));
        for b in lists.flatten().flatten() {
            if let Some(ns) = b.role_namespace() {
                if let Some(rules) = inner.role(ns, &b.role_name) {
                    let rules = Arc::new(rules.iter().map(plain_rule).collect());
                    if ns.is_empty() {
                        p.cluster_roles.insert(b.role_name.to_string(), rules);
                    } else {
                        p.roles
                            .insert((ns.to_string(), b.role_name.to_string()), rules);
                    }
                }
            }
            if b.namespace.is_empty() {
                p.cluster_role_bindings
                    .insert(b.name.to_string(), plain_binding(b));
            } else {
                p.role_bindings.insert(
                    (b.namespace.to_string(), b.name.to_string()),
                    plain_binding(b),
                );
            }
        }
        p
    }

    /// Every rule that applies to the user in `namespace` (cluster-wide and bound there), and
    /// the resolution errors met (`RulesFor`, for SelfSubjectRulesReview and escalation checks).
    pub fn rules_for(
        &self,
        user: &api_types::UserInfo,
        namespace: &str,
    ) -> (Vec<PolicyRule>, Vec<String>) {
        let inner = self.read();
        let (mut rules, mut errors) = (Vec::new(), Vec::new());
        for b in inner.candidates(user, namespace) {
            if applies_to(user, b).is_none() {
                continue;
            }
            match inner.resolve(b) {
                Ok(r) => rules.extend(r.iter().map(plain_rule)),
                Err(e) => errors.push(e),
            }
        }
        (rules, errors)
    }

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

    /// Everyone RBAC allows to make the resource request `a` in some namespace (its
    /// namespace and user ignored), as kubectl-who-can's `--all-namespaces`: every subject of
    /// every binding, cluster-wide or in any namespace, whose role allows it, in walk order
    /// (ClusterRoleBindings, then RoleBindings by namespace and name).
    pub fn who_can_in_any_namespace(&self, a: &Attributes) -> Vec<Allowed> {
        let inner = self.read();
        let mut found: Vec<(&Arc<Bind>, usize, &Rule)> = Vec::new();
        for (role_ns, roles) in &inner.roles {
            for (name, rules) in roles {
                let Some((i, rule)) = rules.iter().enumerate().find(|(_, r)| allows(a, r)) else {
                    continue;
                };
                if let Some(bound) = inner.by_role.get(role_ns).and_then(|m| m.get(name)) {
                    found.extend(bound.iter().map(|b| (b, i, rule)));
                }
            }
        }
        found.sort_unstable_by(|x, y| walk_order(x.0, y.0));
        rows(found)
    }

    /// [`super::explain::who_can`] from the inverse map: the roles in scope whose rules allow
    /// `a` (its user ignored), then only the bindings of those roles — not a scan of every
    /// binding. The same rows in the same order.
    pub fn who_can(&self, a: &Attributes) -> Vec<Allowed> {
        let inner = self.read();
        // (binding, first allowing rule's index, that rule)
        let mut found: Vec<(&Arc<Bind>, usize, &Rule)> = Vec::new();
        let mut scopes = vec![""];
        if !a.namespace.is_empty() {
            scopes.push(&a.namespace);
        }
        for role_ns in scopes {
            let Some(roles) = inner.roles.get(role_ns) else {
                continue;
            };
            for (name, rules) in roles {
                let Some((i, rule)) = rules.iter().enumerate().find(|(_, r)| allows(a, r)) else {
                    continue;
                };
                let Some(bound) = inner.by_role.get(role_ns).and_then(|m| m.get(name)) else {
                    continue;
                };
                // A role's bindings in scope: the cluster-wide ones and the request
                // namespace's, two runs of the walk-ordered list.
                found.extend(in_scope(bound, &a.namespace).map(|b| (b, i, rule)));
            }
        }
        found.sort_unstable_by(|x, y| walk_order(x.0, y.0));
        rows(found)
    }
}

/// who-can's rows: each subject of each (binding, first allowing rule) found, as the scan
/// lists them.
fn rows(found: Vec<(&Arc<Bind>, usize, &Rule)>) -> Vec<Allowed> {
    let mut out = Vec::new();
    for (b, rule_index, rule) in found {
        super::explain::allowed_rows(&plain_binding(b), rule_index, &plain_rule(rule), &mut out);
    }
    out
}

impl Authorizer for Index {
    fn authorize(&self, a: &Attributes) -> Decision {
        let inner = self.read();
        let mut errors = Vec::new();
        for b in inner.candidates(&a.user, &a.namespace) {
            let Some(i) = applies_to(&a.user, b) else {
                continue;
            };
            match inner.resolve(b) {
                Ok(rules) => {
                    if rules.iter().any(|r| allows(a, r)) {
                        let s = &b.subjects[i];
                        return Decision::Allow(format!(
                            "RBAC: allowed by {}",
                            super::describe_parts(
                                &b.namespace,
                                &b.name,
                                &b.role_kind,
                                &b.role_name,
                                &s.kind,
                                &s.name,
                                &s.namespace
                            )
                        ));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        no_opinion(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleted_objects_strings_are_swept() {
        let idx = Index::new();
        let subject = |name: &str| Subject {
            kind: "User".into(),
            api_group: "rbac.authorization.k8s.io".into(),
            name: name.into(),
            namespace: String::new(),
        };
        for i in 0..20_000 {
            let (ns, name) = (format!("ns-{i}"), format!("b-{i}"));
            let b = Binding {
                namespace: ns.clone(),
                name: name.clone(),
                subjects: vec![subject(&format!("user-{i}"))],
                role_ref: RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "ClusterRole".into(),
                    name: "view".into(),
                },
            };
            idx.set_binding(&ns, &name, Some(b));
            idx.set_binding(&ns, &name, None);
        }
        let inner = idx.read();
        assert!(inner.bindings.is_empty() && inner.users.is_empty() && inner.by_role.is_empty());
        // 80,000 distinct strings passed through; what is left is bounded by the sweep.
        assert!(
            inner.strings.len() <= 2 * 1024,
            "{} strings kept",
            inner.strings.len()
        );
    }
}
