//! The reference evaluator: upstream's `VisitRulesFor` walk over every binding, kept as the
//! oracle the indexed engine is tested against. Linear in the number of bindings.

use super::{applies_to, describe, no_opinion, Policy};
use crate::{Attributes, Decision};

/// Every ClusterRoleBinding (by name), then every RoleBinding of the request's namespace (by
/// name); the first rule that allows wins.
pub fn authorize(policy: &Policy, a: &Attributes) -> Decision {
    let mut errors = Vec::new();
    let cluster = policy.cluster_role_bindings.values();
    let namespaced = policy
        .role_bindings
        .values()
        .filter(|b| !a.namespace.is_empty() && b.namespace == a.namespace);
    for b in cluster.chain(namespaced) {
        let Some(i) = applies_to(&a.user, &b.subjects, &b.namespace) else {
            continue;
        };
        match policy.resolve(b) {
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
