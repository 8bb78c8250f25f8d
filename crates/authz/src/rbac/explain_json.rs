//! Explanations as data (`-o json|yaml` of `kubeward explain`, and the `AccessReview` API's
//! status): the same fields for the CLI and the server.

use super::explain::{Explanation, Lack, Miss, Suggestion, Via};
use super::PolicyRule;
use serde_json::{json, Value};

/// A rule as RBAC writes it (empty lists left out).
pub fn rule_json(r: &PolicyRule) -> Value {
    let mut o = serde_json::Map::new();
    let mut put = |k: &str, v: &[String]| {
        if !v.is_empty() {
            o.insert(k.into(), json!(v));
        }
    };
    put("apiGroups", &r.api_groups);
    put("nonResourceURLs", &r.non_resource_urls);
    put("resourceNames", &r.resource_names);
    put("resources", &r.resources);
    put("verbs", &r.verbs);
    Value::Object(o)
}

/// A binding → role step.
pub fn via_json(v: &Via) -> Value {
    let binding_kind = if v.binding_namespace.is_empty() {
        "ClusterRoleBinding"
    } else {
        "RoleBinding"
    };
    json!({
        "binding": {"kind": binding_kind, "namespace": v.binding_namespace, "name": v.binding_name},
        "role": {"kind": v.role_kind, "name": v.role_name},
        "subject": {"kind": v.subject.kind, "name": v.subject.name, "namespace": v.subject.namespace},
    })
}

/// What a miss lacks, as data.
pub fn lack_json(l: &Lack) -> Value {
    match l {
        Lack::Verb => json!({"lacks": "verb"}),
        Lack::ApiGroup => json!({"lacks": "apiGroup"}),
        Lack::Resource => json!({"lacks": "resource"}),
        Lack::ResourceName => json!({"lacks": "resourceName"}),
        Lack::NonResourceUrl => json!({"lacks": "nonResourceURL"}),
        Lack::RuleKind => json!({"lacks": "ruleKind"}),
        Lack::Namespace(ns) => json!({"lacks": "namespace", "boundIn": ns}),
        Lack::MissingRole(msg) => json!({"lacks": "role", "message": msg}),
    }
}

/// The suggestion as the two objects `kubectl apply` takes.
pub fn suggestion_objects(s: &Suggestion) -> [Value; 2] {
    let (role_kind, binding_kind) = if s.namespace.is_empty() {
        ("ClusterRole", "ClusterRoleBinding")
    } else {
        ("Role", "RoleBinding")
    };
    let meta = |name: &str| {
        if s.namespace.is_empty() {
            json!({"name": name})
        } else {
            json!({"name": name, "namespace": s.namespace})
        }
    };
    let mut subject = json!({"kind": s.subject.kind, "name": s.subject.name});
    if s.subject.kind == "ServiceAccount" {
        subject["namespace"] = s.subject.namespace.clone().into();
    } else {
        subject["apiGroup"] = "rbac.authorization.k8s.io".into();
    }
    [
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": role_kind, "metadata": meta(&s.name),
               "rules": [rule_json(&s.rule)]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind, "metadata": meta(&s.name),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": s.name},
               "subjects": [subject]}),
    ]
}

/// A miss, with its rule and lacks.
pub fn miss_json(m: &Miss) -> Value {
    let mut v = via_json(&m.via);
    if let Some((i, r)) = &m.rule {
        v["ruleIndex"] = json!(i);
        v["rule"] = rule_json(r);
    }
    v["lacks"] = m.lacks.iter().map(lack_json).collect();
    v
}

/// The explanation as data (`-o json|yaml`).
pub fn to_json(a: &crate::Attributes, e: &Explanation) -> Value {
    let mut out = json!({
        "allowed": e.allowed,
        "user": {"username": a.user.name, "groups": a.user.groups},
        "request": if a.resource_request {
            json!({"verb": a.verb, "group": a.api_group, "resource": a.resource,
                   "subresource": a.subresource, "name": a.name, "namespace": a.namespace})
        } else {
            json!({"verb": a.verb, "path": a.path})
        },
    });
    if e.privileged {
        out["privilegedGroup"] = "system:masters".into();
    }
    out["grants"] = e
        .grants
        .iter()
        .map(|g| {
            let mut v = via_json(&g.via);
            v["ruleIndex"] = json!(g.rule_index);
            v["rule"] = rule_json(&g.rule);
            v
        })
        .collect();
    if !e.allowed {
        out["misses"] = e.misses.iter().map(miss_json).collect();
        if let Some(s) = &e.suggestion {
            out["suggestion"] = json!(suggestion_objects(s));
        }
    }
    out
}

/// The first who-can row: members of `system:masters`, allowed before RBAC is asked.
pub fn masters_row() -> Value {
    json!({
        "subject": {"kind": "Group", "name": "system:masters"},
        "name": "system:masters",
        "privileged": true,
    })
}

/// One who-can row: the subject (`name` as RBAC's user and group names say it,
/// `system:serviceaccount:NS:NAME` for a service account), its binding, role and rule.
pub fn allowed_json(w: &super::explain::Allowed) -> Value {
    let s = &w.subject;
    let mut v = via_json(&w.grant.via);
    v["subject"] = json!({"kind": s.kind, "name": s.name, "namespace": s.namespace});
    v["name"] = if s.kind == "ServiceAccount" {
        format!("system:serviceaccount:{}:{}", s.namespace, s.name).into()
    } else {
        s.name.clone().into()
    };
    v["ruleIndex"] = json!(w.grant.rule_index);
    v["rule"] = rule_json(&w.grant.rule);
    v
}

/// An access matrix as data: `resource[.group][/subresource]` → the verbs held on it.
pub fn matrix_json(
    rows: &[(String, String, String)],
    cells: &[Vec<bool>],
    verbs: &[&str],
) -> serde_json::Map<String, Value> {
    rows.iter()
        .zip(cells)
        .map(|((g, r, s), held)| {
            let mut name = r.clone();
            if !g.is_empty() {
                name = format!("{name}.{g}");
            }
            if !s.is_empty() {
                name = format!("{name}/{s}");
            }
            let held: Vec<&str> = verbs
                .iter()
                .zip(held)
                .filter(|(_, ok)| **ok)
                .map(|(v, _)| *v)
                .collect();
            (name, json!(held))
        })
        .collect()
}
