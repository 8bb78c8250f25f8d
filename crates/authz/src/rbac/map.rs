//! The RBAC map's data: subjects → bindings → roles → rules as one graph document, the same
//! for the page a server serves (`/map/graph`, cut to what its reader may list) and for the
//! file `kubeward map` writes from manifests (everything). Sans-IO: a policy and findings in,
//! JSON out.
//!
//! Node IDs are `Kind/namespace/name` (`User//alice`, `RoleBinding/team-a/read`,
//! `ClusterRole//view`); a rule is its role's ID, `#`, and its index. A service account
//! subject is `ServiceAccount/NS/NAME` with its namespace filled in from the binding, as RBAC
//! reads it.

use super::audit::{Finding, Step};
use super::explain_json::rule_json;
use super::{Binding, Policy, Subject};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

/// The four RBAC resources, as a reader's `list` rights name them.
pub const CLUSTER_ROLES: &str = "clusterroles";
/// See [`CLUSTER_ROLES`].
pub const ROLES: &str = "roles";
/// See [`CLUSTER_ROLES`].
pub const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings";
/// See [`CLUSTER_ROLES`].
pub const ROLE_BINDINGS: &str = "rolebindings";

/// A node's ID.
pub fn node_id(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

/// The ID of the subject `s` of a binding in `binding_ns`; None for a kind RBAC ignores or a
/// service account without a namespace (which matches no one).
fn subject_id(s: &Subject, binding_ns: &str) -> Option<String> {
    match s.kind.as_str() {
        "User" | "Group" => Some(node_id(&s.kind, "", &s.name)),
        "ServiceAccount" => {
            let ns = if s.namespace.is_empty() {
                binding_ns
            } else {
                &s.namespace
            };
            (!ns.is_empty()).then(|| node_id("ServiceAccount", ns, &s.name))
        }
        _ => None,
    }
}

/// The role ID a binding refers to.
fn role_id(b: &Binding) -> String {
    let ns = if b.role_ref.kind == "Role" {
        b.namespace.as_str()
    } else {
        ""
    };
    node_id(&b.role_ref.kind, ns, &b.role_ref.name)
}

/// A finding's path as node IDs (a rule step names the role before it).
fn path_ids(path: &[Step]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(path.len());
    for s in path {
        if s.kind == "Rule" {
            let role = out.last().cloned().unwrap_or_default();
            out.push(format!("{role}#{}", s.name));
        } else {
            out.push(node_id(&s.kind, &s.namespace, &s.name));
        }
    }
    out
}

/// The graph document. `may_list(resource, namespace)` says whether its reader may list one
/// of the four RBAC resources in a namespace ("" cluster-wide); it is asked once per pair.
/// A visible binding whose role is not visible shows the role with `rules: null`; a finding
/// is kept only if every binding and role on its path is visible with its rules, so nothing
/// hidden is told through it. Nothing counts what is hidden.
pub fn graph(
    policy: &Policy,
    findings: &[Finding],
    may_list: &dyn Fn(&str, &str) -> bool,
) -> Value {
    let mut asked: HashMap<(&str, String), bool> = HashMap::new();
    let mut visible = |resource: &'static str, ns: &str| -> bool {
        *asked
            .entry((resource, ns.to_string()))
            .or_insert_with(|| may_list(resource, ns))
    };

    // Roles with their rules, as visible.
    let mut roles: BTreeMap<String, Value> = BTreeMap::new();
    for (name, rules) in &policy.cluster_roles {
        if visible(CLUSTER_ROLES, "") {
            let id = node_id("ClusterRole", "", name);
            roles.insert(
                id.clone(),
                role_json(&id, "ClusterRole", "", name, Some(rules.as_slice())),
            );
        }
    }
    for ((ns, name), rules) in &policy.roles {
        if visible(ROLES, ns) {
            let id = node_id("Role", ns, name);
            roles.insert(
                id.clone(),
                role_json(&id, "Role", ns, name, Some(rules.as_slice())),
            );
        }
    }

    let mut bindings = Vec::new();
    let mut subjects: BTreeMap<String, Value> = BTreeMap::new();
    let all = policy
        .cluster_role_bindings
        .values()
        .map(|b| (CLUSTER_ROLE_BINDINGS, "ClusterRoleBinding", b))
        .chain(
            policy
                .role_bindings
                .values()
                .map(|b| (ROLE_BINDINGS, "RoleBinding", b)),
        );
    for (resource, kind, b) in all {
        if !visible(resource, &b.namespace) {
            continue;
        }
        let role = role_id(b);
        if !roles.contains_key(&role) {
            // Not visible, or missing: a node without rules, saying which.
            let role_ns = if b.role_ref.kind == "Role" {
                b.namespace.as_str()
            } else {
                ""
            };
            let mut stub = role_json(&role, &b.role_ref.kind, role_ns, &b.role_ref.name, None);
            let exists = match b.role_ref.kind.as_str() {
                "ClusterRole" => policy.cluster_roles.contains_key(&b.role_ref.name),
                _ => policy
                    .roles
                    .contains_key(&(b.namespace.clone(), b.role_ref.name.clone())),
            };
            // Whether it exists is told only to a reader who may list that kind there.
            let may_know = match b.role_ref.kind.as_str() {
                "ClusterRole" => visible(CLUSTER_ROLES, ""),
                _ => visible(ROLES, &b.namespace),
            };
            stub["missing"] = (may_know && !exists).into();
            roles.insert(role.clone(), stub);
        }
        let mut ids = Vec::with_capacity(b.subjects.len());
        for s in &b.subjects {
            let Some(id) = subject_id(s, &b.namespace) else {
                continue;
            };
            subjects.entry(id.clone()).or_insert_with(|| {
                let ns = id.split('/').nth(1).unwrap_or("");
                json!({"id": id, "kind": s.kind, "namespace": ns, "name": s.name})
            });
            ids.push(Value::String(id));
        }
        bindings.push(json!({
            "id": node_id(kind, &b.namespace, &b.name),
            "kind": kind,
            "namespace": b.namespace,
            "name": b.name,
            "role": role,
            "subjects": ids,
        }));
    }

    let shown: std::collections::HashSet<&str> =
        bindings.iter().filter_map(|b| b["id"].as_str()).collect();
    // The most severe first, as audit-rbac lists them.
    let mut ordered: Vec<&Finding> = findings.iter().collect();
    ordered.sort_by(|a, b| super::audit::report_order(a, b));
    let findings: Vec<Value> = ordered
        .into_iter()
        .filter_map(|f| {
            let path = path_ids(&f.path);
            let ok = f
                .path
                .iter()
                .zip(&path)
                .all(|(s, id)| match s.kind.as_str() {
                    "RoleBinding" | "ClusterRoleBinding" => shown.contains(id.as_str()),
                    "Role" | "ClusterRole" => roles.get(id).is_some_and(|r| !r["rules"].is_null()),
                    _ => true,
                });
            ok.then(|| {
                json!({
                    "id": f.id,
                    "name": f.name,
                    "severity": f.severity.name(),
                    "subject": f.subject,
                    "namespace": f.namespace,
                    "message": f.message,
                    "path": path,
                })
            })
        })
        .collect();

    let mut namespaces: Vec<&str> = bindings
        .iter()
        .filter_map(|b| b["namespace"].as_str())
        .chain(roles.values().filter_map(|r| r["namespace"].as_str()))
        .filter(|ns| !ns.is_empty())
        .collect();
    namespaces.sort_unstable();
    namespaces.dedup();
    let namespaces: Vec<String> = namespaces.into_iter().map(String::from).collect();

    // Whether the reader sees everything: it may list all four resources cluster-wide.
    let complete = [CLUSTER_ROLES, ROLES, CLUSTER_ROLE_BINDINGS, ROLE_BINDINGS]
        .into_iter()
        .all(|r| visible(r, ""));
    json!({
        "kind": "RBACMap",
        "namespaces": namespaces,
        "subjects": subjects.into_values().collect::<Vec<_>>(),
        "bindings": bindings,
        "roles": roles.into_values().collect::<Vec<_>>(),
        "findings": findings,
        "complete": complete,
    })
}

fn role_json(
    id: &str,
    kind: &str,
    namespace: &str,
    name: &str,
    rules: Option<&[super::PolicyRule]>,
) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), id.into());
    o.insert("kind".into(), kind.into());
    o.insert("namespace".into(), namespace.into());
    o.insert("name".into(), name.into());
    o.insert(
        "rules".into(),
        match rules {
            Some(rs) => Value::Array(rs.iter().map(rule_json).collect()),
            None => Value::Null,
        },
    );
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::audit::Severity;
    use crate::rbac::{PolicyRule, RoleRef};
    use std::sync::Arc;

    fn binding(ns: &str, name: &str, kind: &str, role: &str, subjects: &[(&str, &str)]) -> Binding {
        Binding {
            namespace: ns.into(),
            name: name.into(),
            subjects: subjects
                .iter()
                .map(|(k, n)| Subject {
                    kind: (*k).into(),
                    name: (*n).into(),
                    ..Default::default()
                })
                .collect(),
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: kind.into(),
                name: role.into(),
            },
        }
    }

    fn policy() -> Policy {
        let rule = Arc::new(vec![PolicyRule {
            verbs: vec!["get".into()],
            api_groups: vec!["".into()],
            resources: vec!["secrets".into()],
            ..Default::default()
        }]);
        let mut p = Policy::default();
        p.cluster_roles.insert("view".into(), rule.clone());
        p.roles.insert(("dev".into(), "reader".into()), rule);
        for b in [
            binding(
                "dev",
                "a",
                "Role",
                "reader",
                &[("User", "alice"), ("ServiceAccount", "ci")],
            ),
            binding("dev", "b", "ClusterRole", "view", &[("Group", "devs")]),
            binding("dev", "c", "Role", "gone", &[("User", "alice")]),
            binding("prod", "d", "ClusterRole", "view", &[("User", "bob")]),
        ] {
            p.role_bindings
                .insert((b.namespace.clone(), b.name.clone()), b);
        }
        let crb = binding("", "admins", "ClusterRole", "view", &[("Group", "admins")]);
        p.cluster_role_bindings.insert(crb.name.clone(), crb);
        p
    }

    fn finding(path: &[(&str, &str, &str)]) -> Finding {
        Finding {
            id: "KW001".into(),
            name: "read-secrets".into(),
            severity: Severity::High,
            subject_kind: "User".into(),
            subject: "alice".into(),
            namespace: "dev".into(),
            path: path
                .iter()
                .map(|(k, ns, n)| Step {
                    kind: (*k).into(),
                    namespace: (*ns).into(),
                    name: (*n).into(),
                })
                .collect(),
            message: "m".into(),
            names: vec![],
        }
    }

    fn ids(g: &Value, key: &str) -> Vec<String> {
        g[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn everything_when_everything_may_be_listed() {
        let f = [finding(&[
            ("User", "", "alice"),
            ("RoleBinding", "dev", "a"),
            ("Role", "dev", "reader"),
            ("Rule", "", "0"),
        ])];
        let g = graph(&policy(), &f, &|_, _| true);
        assert_eq!(g["complete"], true);
        assert_eq!(
            ids(&g, "bindings"),
            [
                "ClusterRoleBinding//admins",
                "RoleBinding/dev/a",
                "RoleBinding/dev/b",
                "RoleBinding/dev/c",
                "RoleBinding/prod/d"
            ]
        );
        // A service account subject takes its binding's namespace, as RBAC reads it.
        assert!(ids(&g, "subjects").contains(&"ServiceAccount/dev/ci".to_string()));
        let gone = &g["roles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "Role/dev/gone")
            .unwrap();
        assert_eq!(
            (gone["rules"].is_null(), gone["missing"].as_bool()),
            (true, Some(true))
        );
        assert_eq!(
            g["findings"][0]["path"],
            json!([
                "User//alice",
                "RoleBinding/dev/a",
                "Role/dev/reader",
                "Role/dev/reader#0"
            ])
        );
        assert_eq!(g["namespaces"], json!(["dev", "prod"]));
    }

    #[test]
    fn a_namespace_reader_sees_its_namespace_and_nothing_through_it() {
        let asked = std::cell::RefCell::new(Vec::new());
        let dev_only = |resource: &str, ns: &str| {
            asked
                .borrow_mut()
                .push((resource.to_string(), ns.to_string()));
            ns == "dev" && (resource == ROLES || resource == ROLE_BINDINGS)
        };
        let through_view = finding(&[
            ("Group", "", "devs"),
            ("RoleBinding", "dev", "b"),
            ("ClusterRole", "", "view"),
            ("Rule", "", "0"),
        ]);
        let through_reader = finding(&[
            ("User", "", "alice"),
            ("RoleBinding", "dev", "a"),
            ("Role", "dev", "reader"),
            ("Rule", "", "0"),
        ]);
        let g = graph(&policy(), &[through_view, through_reader], &dev_only);
        assert_eq!(g["complete"], false);
        assert_eq!(
            ids(&g, "bindings"),
            [
                "RoleBinding/dev/a",
                "RoleBinding/dev/b",
                "RoleBinding/dev/c"
            ]
        );
        let roles = g["roles"].as_array().unwrap();
        let view = roles
            .iter()
            .find(|r| r["id"] == "ClusterRole//view")
            .unwrap();
        // view's rules are not the reader's to see, nor whether it exists.
        assert_eq!(
            (view["rules"].is_null(), view["missing"].as_bool()),
            (true, Some(false))
        );
        assert!(roles
            .iter()
            .all(|r| r["namespace"] == "" || r["namespace"] == "dev"));
        // The finding through view is left out; the one through dev's own Role is kept.
        assert_eq!(g["findings"].as_array().unwrap().len(), 1);
        assert_eq!(g["findings"][0]["path"][2], "Role/dev/reader");
        assert!(!ids(&g, "subjects").contains(&"User//bob".to_string()));
        // Each (resource, namespace) is asked once.
        let mut seen = asked.borrow().clone();
        let n = seen.len();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), n);
    }
}
