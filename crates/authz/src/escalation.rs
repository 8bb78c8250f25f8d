//! Escalation prevention: does what a user holds cover what a role grants?
//! (`k8s.io/component-helpers/auth/rbac/validation/policy_comparator.go` `Covers`,
//! `pkg/registry/rbac/validation/rule.go` `ConfirmNoEscalation`, `CompactRules`.)

use crate::rbac::PolicyRule;

/// One permission: a verb on one group/resource (and maybe one name), or on one URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Atom {
    Resource {
        group: String,
        resource: String,
        name: Option<String>,
        verb: String,
    },
    Url {
        url: String,
        verb: String,
    },
}

/// `BreakdownRule`.
fn breakdown(rule: &PolicyRule) -> Vec<Atom> {
    let mut out = Vec::new();
    for g in &rule.api_groups {
        for r in &rule.resources {
            for v in &rule.verbs {
                if rule.resource_names.is_empty() {
                    out.push(Atom::Resource {
                        group: g.clone(),
                        resource: r.clone(),
                        name: None,
                        verb: v.clone(),
                    });
                }
                for n in &rule.resource_names {
                    out.push(Atom::Resource {
                        group: g.clone(),
                        resource: r.clone(),
                        name: Some(n.clone()),
                        verb: v.clone(),
                    });
                }
            }
        }
    }
    for u in &rule.non_resource_urls {
        for v in &rule.verbs {
            out.push(Atom::Url {
                url: u.clone(),
                verb: v.clone(),
            });
        }
    }
    out
}

fn has_or_star(list: &[String], v: &str) -> bool {
    list.iter().any(|x| x == "*" || x == v)
}

fn rule_covers(owner: &PolicyRule, atom: &Atom) -> bool {
    match atom {
        Atom::Resource {
            group,
            resource,
            name,
            verb,
        } => {
            let resource_ok = owner.resources.iter().any(|r| {
                r == "*"
                    || r == resource
                    || resource
                        .split_once('/')
                        .is_some_and(|(_, sub)| r.strip_prefix("*/") == Some(sub))
            });
            has_or_star(&owner.verbs, verb)
                && has_or_star(&owner.api_groups, group)
                && resource_ok
                && match name {
                    None => owner.resource_names.is_empty(),
                    Some(n) => owner.resource_names.is_empty() || owner.resource_names.contains(n),
                }
        }
        Atom::Url { url, verb } => {
            has_or_star(&owner.verbs, verb)
                && owner.non_resource_urls.iter().any(|o| {
                    o == "*"
                        || o == url
                        || (o.ends_with('*') && url.starts_with(o.trim_end_matches('*')))
                })
        }
    }
}

/// The servant's permissions that no owner rule covers, compacted (one rule per
/// group/resource/name or per URL, verbs merged) and sorted as upstream prints them.
pub fn uncovered(owner: &[PolicyRule], servant: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut missing: Vec<Atom> = servant
        .iter()
        .flat_map(breakdown)
        .filter(|a| !owner.iter().any(|o| rule_covers(o, a)))
        .collect();
    missing.dedup();
    let mut rules: Vec<PolicyRule> = Vec::new();
    for atom in missing {
        match atom {
            Atom::Resource {
                group,
                resource,
                name,
                verb,
            } => {
                let names: Vec<String> = name.into_iter().collect();
                let existing = rules.iter_mut().find(|r| {
                    r.non_resource_urls.is_empty()
                        && r.api_groups == [group.clone()]
                        && r.resources == [resource.clone()]
                        && r.resource_names == names
                });
                match existing {
                    Some(r) if !r.verbs.contains(&verb) => r.verbs.push(verb),
                    Some(_) => {}
                    None => rules.push(PolicyRule {
                        verbs: vec![verb],
                        api_groups: vec![group],
                        resources: vec![resource],
                        resource_names: names,
                        non_resource_urls: vec![],
                    }),
                }
            }
            Atom::Url { url, verb } => match rules
                .iter_mut()
                .find(|r| r.non_resource_urls == [url.clone()])
            {
                Some(r) if !r.verbs.contains(&verb) => r.verbs.push(verb),
                Some(_) => {}
                None => rules.push(PolicyRule {
                    verbs: vec![verb],
                    non_resource_urls: vec![url],
                    ..Default::default()
                }),
            },
        }
    }
    rules.sort_by_key(compact_string);
    rules
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
fn q(list: &[String]) -> String {
    format!(
        "[{}]",
        list.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// `rbacv1helpers.CompactString`.
pub fn compact_string(r: &PolicyRule) -> String {
    let mut parts = Vec::new();
    for (label, list) in [
        ("APIGroups", &r.api_groups),
        ("Resources", &r.resources),
        ("NonResourceURLs", &r.non_resource_urls),
        ("ResourceNames", &r.resource_names),
        ("Verbs", &r.verbs),
    ] {
        if !list.is_empty() {
            parts.push(format!("{label}:{}", q(list)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// The text after `<resource> "<name>" is forbidden: ` when a write would escalate.
pub fn escalation_message(
    user: &api_types::UserInfo,
    missing: &[PolicyRule],
    resolution_errors: &[String],
) -> String {
    let mut msg = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        q(&user.groups),
        missing
            .iter()
            .map(compact_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    if !resolution_errors.is_empty() {
        msg.push_str(&format!(
            "; resolution errors: [{}]",
            resolution_errors.join(" ")
        ));
    }
    msg
}
