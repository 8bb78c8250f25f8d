//! Authorization decisions: the indexed RBAC engine against the reference evaluator, on the
//! same generated policies and requests, at growing numbers of bindings.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use api_types::UserInfo;
use authz::rbac::{self, Binding, Index, Policy, PolicyRule, RoleRef, Subject};
use authz::{Attributes, Authorizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    PolicyRule {
        verbs: s(verbs),
        api_groups: s(groups),
        resources: s(resources),
        ..Default::default()
    }
}

/// A realistic policy: the default-like roles plus per-team roles; 20% ClusterRoleBindings,
/// 80% RoleBindings spread over namespaces (10 bindings per namespace); subjects are a mix of
/// users, groups and service accounts.
pub(crate) fn policy(bindings: usize, rng: &mut StdRng) -> Policy {
    let mut p = Policy::default();
    let read = ["get", "list", "watch"];
    let write = ["create", "delete", "deletecollection", "patch", "update"];
    p.cluster_roles.insert(
        "view".into(),
        Arc::new(vec![
            rule(
                &read,
                &[""],
                &[
                    "configmaps",
                    "endpoints",
                    "pods",
                    "serviceaccounts",
                    "services",
                ],
            ),
            rule(&read, &[""], &["events", "pods/log", "pods/status"]),
            rule(
                &read,
                &["apps"],
                &["deployments", "replicasets", "statefulsets"],
            ),
        ]),
    );
    p.cluster_roles.insert(
        "edit".into(),
        Arc::new(vec![
            rule(
                &write,
                &[""],
                &[
                    "pods",
                    "configmaps",
                    "secrets",
                    "services",
                    "serviceaccounts",
                ],
            ),
            rule(&read, &[""], &["secrets", "pods/exec"]),
            rule(
                &write,
                &["apps"],
                &["deployments", "replicasets", "statefulsets"],
            ),
        ]),
    );
    p.cluster_roles.insert(
        "secret-reader".into(),
        Arc::new(vec![rule(&read, &[""], &["secrets"])]),
    );
    let namespaces = (bindings / 10).max(1);
    for ns in 0..namespaces {
        p.roles.insert(
            (format!("ns{ns}"), "team".into()),
            Arc::new(vec![
                rule(&read, &["batch"], &["jobs", "cronjobs"]),
                rule(&["create"], &[""], &["pods/exec"]),
            ]),
        );
    }
    for i in 0..bindings {
        let subject = match rng.random_range(0..10) {
            0..=5 => Subject {
                kind: "User".into(),
                api_group: "rbac.authorization.k8s.io".into(),
                name: format!("user{}", rng.random_range(0..bindings.max(10))),
                namespace: String::new(),
            },
            6..=7 => Subject {
                kind: "Group".into(),
                api_group: "rbac.authorization.k8s.io".into(),
                name: format!("team{}", rng.random_range(0..(bindings / 5).max(2))),
                namespace: String::new(),
            },
            _ => Subject {
                kind: "ServiceAccount".into(),
                api_group: String::new(),
                name: format!("sa{}", rng.random_range(0..20)),
                namespace: format!("ns{}", rng.random_range(0..namespaces)),
            },
        };
        let role = ["view", "edit", "secret-reader"][rng.random_range(0..3)];
        if i % 5 == 0 {
            let name = format!("crb{i}");
            p.cluster_role_bindings.insert(
                name.clone(),
                Binding {
                    namespace: String::new(),
                    name,
                    subjects: vec![subject],
                    role_ref: RoleRef {
                        api_group: "rbac.authorization.k8s.io".into(),
                        kind: "ClusterRole".into(),
                        name: role.into(),
                    },
                },
            );
        } else {
            let ns = format!("ns{}", rng.random_range(0..namespaces));
            let name = format!("rb{i}");
            let role_ref = if rng.random_bool(0.2) {
                RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "Role".into(),
                    name: "team".into(),
                }
            } else {
                RoleRef {
                    api_group: "rbac.authorization.k8s.io".into(),
                    kind: "ClusterRole".into(),
                    name: role.into(),
                }
            };
            p.role_bindings.insert(
                (ns.clone(), name.clone()),
                Binding {
                    namespace: ns,
                    name,
                    subjects: vec![subject],
                    role_ref,
                },
            );
        }
    }
    p
}

pub(crate) fn requests(bindings: usize, n: usize, rng: &mut StdRng) -> Vec<Attributes> {
    let namespaces = (bindings / 10).max(1);
    (0..n)
        .map(|_| {
            let user = match rng.random_range(0..4) {
                0 => UserInfo {
                    name: format!(
                        "system:serviceaccount:ns{}:sa{}",
                        rng.random_range(0..namespaces),
                        rng.random_range(0..20)
                    ),
                    groups: vec![
                        "system:serviceaccounts".into(),
                        "system:authenticated".into(),
                    ],
                    ..Default::default()
                },
                _ => UserInfo {
                    name: format!("user{}", rng.random_range(0..bindings.max(10))),
                    groups: vec![
                        format!("team{}", rng.random_range(0..(bindings / 5).max(2))),
                        "system:authenticated".into(),
                    ],
                    ..Default::default()
                },
            };
            let (verb, resource) = [
                ("get", "pods"),
                ("list", "secrets"),
                ("create", "pods"),
                ("delete", "deployments"),
                ("watch", "configmaps"),
            ][rng.random_range(0..5)];
            Attributes {
                user,
                verb: verb.into(),
                resource_request: true,
                namespace: format!("ns{}", rng.random_range(0..namespaces)),
                api_group: if resource == "deployments" {
                    "apps".into()
                } else {
                    String::new()
                },
                resource: resource.into(),
                ..Default::default()
            }
        })
        .collect()
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Decisions per second over `reqs`, cycling, for at least `min` time.
fn rate(min: Duration, reqs: &[Attributes], decide: &dyn Fn(&Attributes) -> bool) -> (f64, usize) {
    let t0 = Instant::now();
    let (mut n, mut allowed) = (0usize, 0usize);
    while t0.elapsed() < min || n < reqs.len().min(100) {
        allowed += usize::from(decide(&reqs[n % reqs.len()]));
        n += 1;
    }
    (n as f64 / t0.elapsed().as_secs_f64(), allowed)
}

pub(crate) fn run() {
    for bindings in [10, 1_000, 10_000, 100_000] {
        let mut rng = StdRng::seed_from_u64(bindings as u64);
        let start = rss_kib();
        let p = policy(bindings, &mut rng);
        let policy_kib = rss_kib().saturating_sub(start);
        let reqs = requests(bindings, 2_000, &mut rng);
        let before = rss_kib();
        let idx = Index::from_policy(&p);
        let index_kib = rss_kib().saturating_sub(before);
        // Same inputs, same answers: the comparison is meaningful only if they agree.
        for a in reqs.iter().take(200) {
            assert_eq!(idx.authorize(a), rbac::reference::authorize(&p, a));
        }
        let allowed = reqs.iter().filter(|a| idx.authorize(a).allowed()).count();
        let (ri, _) = rate(Duration::from_secs(1), &reqs, &|a| {
            idx.authorize(a).allowed()
        });
        let (rr, _) = rate(Duration::from_secs(1), &reqs, &|a| {
            rbac::reference::authorize(&p, a).allowed()
        });
        let mem = if bindings == 100_000 {
            format!(
                "{:.1} MiB (the plain objects alone: {:.1} MiB)",
                index_kib as f64 / 1024.0,
                policy_kib as f64 / 1024.0
            )
        } else {
            "–".into()
        };
        println!(
            "| {bindings} | {ri:.0}/s | {rr:.0}/s | {:.1}x | {:.0}% | {mem} |",
            ri / rr,
            100.0 * allowed as f64 / reqs.len() as f64
        );
    }
}
