//! Rights granted and never used: for every binding → role → rule, the requests of a log (an
//! audit log's window) that the rule allowed its subjects, and — for a rule without wildcards —
//! each verb on each resource (or URL) it grants that no request used. The input to shrinking
//! roles. Matching is the authorizer's own (`appliesTo`, the binding's scope, `RuleAllows`).

use super::explain::Via;
use super::{applies_to, rule_allows, Binding, Policy, PolicyRule, Subject};
use crate::Attributes;
use std::collections::HashMap;

/// One rule of one binding, for one of its subjects, and how the log used it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleUse {
    /// The binding, its subject and role.
    pub via: Via,
    /// The rule's position in the role.
    pub rule_index: usize,
    /// The rule.
    pub rule: PolicyRule,
    /// Requests of the subject this rule allowed.
    pub requests: usize,
    /// For a rule without wildcards: each (verb, resource or URL) it grants that no request
    /// of the subject used, resources as `resource[.group][/subresource]`. Empty for a rule
    /// with a wildcard (its unused part cannot be listed), see `wildcard`.
    pub never: Vec<(String, String)>,
    /// Whether the rule has a `*` (verbs, groups, resources or URLs).
    pub wildcard: bool,
}

fn has_wildcard(r: &PolicyRule) -> bool {
    [&r.verbs, &r.api_groups, &r.resources, &r.non_resource_urls]
        .iter()
        .any(|l| l.iter().any(|s| s.contains('*')))
}

/// Whether request `a` is the use of (verb, group, resource[/sub]) or (verb, URL).
fn uses(a: &Attributes, verb: &str, group: Option<&str>, target: &str) -> bool {
    if a.verb != verb {
        return false;
    }
    match group {
        None => !a.resource_request && a.path == target,
        Some(g) => {
            let (resource, sub) = target.split_once('/').unwrap_or((target, ""));
            a.resource_request && a.api_group == g && a.resource == resource && a.subresource == sub
        }
    }
}

/// How the log `requests` used every rule of every binding in `policy` that `include` keeps.
/// A request counts for a binding's subject when the subject names its user, the binding is in
/// scope (cluster-wide, or the request's namespace) and the rule allows it.
pub fn usage(
    policy: &Policy,
    requests: &[Attributes],
    include: &dyn Fn(&Binding, &Subject) -> bool,
) -> Vec<RuleUse> {
    // Requests by user name and by group, so each subject looks only at its own.
    let mut by_user: HashMap<&str, Vec<&Attributes>> = HashMap::new();
    let mut by_group: HashMap<&str, Vec<&Attributes>> = HashMap::new();
    for a in requests {
        by_user.entry(a.user.name.as_str()).or_default().push(a);
        // Each group once, though a user may name one twice.
        let groups: std::collections::BTreeSet<&str> =
            a.user.groups.iter().map(String::as_str).collect();
        for g in groups {
            by_group.entry(g).or_default().push(a);
        }
    }
    let mut out = Vec::new();
    for b in policy
        .cluster_role_bindings
        .values()
        .chain(policy.role_bindings.values())
    {
        let Ok(rules) = policy.resolve(b) else {
            continue;
        };
        for s in &b.subjects {
            if !include(b, s) {
                continue;
            }
            let name = match s.kind.as_str() {
                "ServiceAccount" => {
                    let ns = if s.namespace.is_empty() {
                        &b.namespace
                    } else {
                        &s.namespace
                    };
                    if ns.is_empty() {
                        continue;
                    }
                    format!("system:serviceaccount:{ns}:{}", s.name)
                }
                "User" | "Group" => s.name.clone(),
                _ => continue,
            };
            let theirs: Vec<&Attributes> = match s.kind.as_str() {
                "Group" => by_group.get(name.as_str()).cloned().unwrap_or_default(),
                _ => by_user.get(name.as_str()).cloned().unwrap_or_default(),
            };
            // The subject's requests this binding reaches: it names their user, in scope.
            let reached: Vec<&Attributes> = theirs
                .into_iter()
                .filter(|a| {
                    (b.namespace.is_empty() || (a.resource_request && a.namespace == b.namespace))
                        && applies_to(&a.user, std::slice::from_ref(s), &b.namespace).is_some()
                })
                .collect();
            for (i, rule) in rules.iter().enumerate() {
                let allowed: Vec<&Attributes> = reached
                    .iter()
                    .copied()
                    .filter(|a| rule_allows(a, rule))
                    .collect();
                let wildcard = has_wildcard(rule);
                let mut never = Vec::new();
                if !wildcard {
                    for verb in &rule.verbs {
                        for g in &rule.api_groups {
                            for r in &rule.resources {
                                if !allowed.iter().any(|a| uses(a, verb, Some(g), r)) {
                                    let (res, sub) = r.split_once('/').unwrap_or((r, ""));
                                    let mut shown = res.to_string();
                                    if !g.is_empty() {
                                        shown = format!("{shown}.{g}");
                                    }
                                    if !sub.is_empty() {
                                        shown = format!("{shown}/{sub}");
                                    }
                                    never.push((verb.clone(), shown));
                                }
                            }
                        }
                        for u in &rule.non_resource_urls {
                            if !allowed.iter().any(|a| uses(a, verb, None, u)) {
                                never.push((verb.clone(), u.clone()));
                            }
                        }
                    }
                }
                out.push(RuleUse {
                    via: Via {
                        binding_namespace: b.namespace.clone(),
                        binding_name: b.name.clone(),
                        subject: s.clone(),
                        role_kind: b.role_ref.kind.clone(),
                        role_name: b.role_ref.name.clone(),
                    },
                    rule_index: i,
                    rule: rule.clone(),
                    requests: allowed.len(),
                    never,
                    wildcard,
                });
            }
        }
    }
    out
}
