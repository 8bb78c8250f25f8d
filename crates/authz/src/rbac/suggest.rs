//! Least privilege from what really happened (audit2rbac's job): the rules that cover exactly
//! a subject's requests, grouped by where they must be granted — a Role per namespace it acted
//! in, a ClusterRole for cluster-scoped, all-namespace and non-resource requests. Names are
//! kept only for the verbs that take one (get, update, patch, delete: never create, list,
//! watch or deletecollection), and a rule lists only the names every verb in it was used on,
//! so nothing is granted that no request did. Plain data in, plain data out.

use super::PolicyRule;
use crate::Attributes;
use std::collections::{BTreeMap, BTreeSet};

/// The verbs whose requests name one object, and so may be limited by `resourceNames`.
pub const NAMED_VERBS: [&str; 4] = ["get", "update", "patch", "delete"];

/// How far to widen what the log shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Widen {
    /// Leave out resourceNames: the verbs on any object of the resource.
    pub names: bool,
    /// Grant namespaced requests cluster-wide (one ClusterRole) instead of per namespace.
    pub namespaces: bool,
}

/// A rule and how many requests of the log it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoveringRule {
    /// The rule.
    pub rule: PolicyRule,
    /// Requests it was made for.
    pub requests: usize,
}

/// The rules to grant in one place: a namespace's Role, or (namespace "") a ClusterRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The namespace; "" for the ClusterRole.
    pub namespace: String,
    /// Its rules, in a stable order.
    pub rules: Vec<CoveringRule>,
}

/// (api group, resource[/subresource]) → verb → the names used (None: used without a name,
/// or names widened) and the requests counted.
type ByResource = BTreeMap<(String, String), BTreeMap<String, (Option<BTreeSet<String>>, usize)>>;

/// The grants that cover every request of `requests` (their users are not read), widened as
/// asked. Requests are counted once each.
pub fn suggest(requests: &[Attributes], widen: Widen) -> Vec<Grant> {
    let mut resources: BTreeMap<String, ByResource> = BTreeMap::new();
    // path → verb → requests
    let mut urls: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for a in requests {
        // No request is for `*`: such a line is not a real request, and granting it would
        // grant everything.
        let wild = |s: &str| s.contains('*');
        if [&a.verb, &a.api_group, &a.resource, &a.subresource, &a.path]
            .iter()
            .any(|s| wild(s))
        {
            continue;
        }
        if !a.resource_request {
            *urls
                .entry(a.path.clone())
                .or_default()
                .entry(a.verb.clone())
                .or_default() += 1;
            continue;
        }
        let scope = if widen.namespaces {
            String::new()
        } else {
            a.namespace.clone()
        };
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        let named = !widen.names && !a.name.is_empty() && NAMED_VERBS.contains(&a.verb.as_str());
        let slot = resources
            .entry(scope)
            .or_default()
            .entry((a.api_group.clone(), resource))
            .or_default()
            .entry(a.verb.clone())
            .or_insert_with(|| (Some(BTreeSet::new()), 0));
        slot.1 += 1;
        match (named, &mut slot.0) {
            (true, Some(names)) => {
                names.insert(a.name.clone());
            }
            // Once used without a name, the verb needs every name.
            (_, names) => *names = None,
        }
    }
    let mut out: Vec<Grant> = resources
        .into_iter()
        .map(|(namespace, by)| Grant {
            namespace,
            rules: resource_rules(by),
        })
        .collect();
    if !urls.is_empty() {
        // Paths used with the same verbs share a rule.
        let mut by_verbs: BTreeMap<Vec<String>, (Vec<String>, usize)> = BTreeMap::new();
        for (path, verbs) in urls {
            let n: usize = verbs.values().sum();
            let e = by_verbs.entry(verbs.into_keys().collect()).or_default();
            e.0.push(path);
            e.1 += n;
        }
        let rules = by_verbs
            .into_iter()
            .map(|(verbs, (paths, n))| CoveringRule {
                rule: PolicyRule {
                    verbs,
                    non_resource_urls: paths,
                    ..Default::default()
                },
                requests: n,
            });
        match out.iter_mut().find(|g| g.namespace.is_empty()) {
            Some(g) => g.rules.extend(rules),
            None => out.insert(
                0,
                Grant {
                    namespace: String::new(),
                    rules: rules.collect(),
                },
            ),
        }
    }
    out
}

/// One resource's verbs as rules: the verbs used on any object in one rule, and the verbs used
/// on the same set of names in one rule each.
fn resource_rules(by: ByResource) -> Vec<CoveringRule> {
    let mut rules = Vec::new();
    for ((group, resource), verbs) in by {
        let mut any: (Vec<String>, usize) = (Vec::new(), 0);
        let mut named: BTreeMap<BTreeSet<String>, (Vec<String>, usize)> = BTreeMap::new();
        for (verb, (names, n)) in verbs {
            match names {
                None => {
                    any.0.push(verb);
                    any.1 += n;
                }
                Some(names) => {
                    let e = named.entry(names).or_default();
                    e.0.push(verb);
                    e.1 += n;
                }
            }
        }
        let rule = |verbs: Vec<String>, names: Vec<String>| PolicyRule {
            verbs,
            api_groups: vec![group.clone()],
            resources: vec![resource.clone()],
            resource_names: names,
            non_resource_urls: Vec::new(),
        };
        if !any.0.is_empty() {
            rules.push(CoveringRule {
                rule: rule(any.0, Vec::new()),
                requests: any.1,
            });
        }
        for (names, (verbs, n)) in named {
            rules.push(CoveringRule {
                rule: rule(verbs, names.into_iter().collect()),
                requests: n,
            });
        }
    }
    rules
}
