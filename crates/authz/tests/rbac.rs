//! RBAC matching as data (cases from upstream `rbac_test.go` TestRuleMatches and
//! `rule_test.go` TestAppliesTo), and the property that the indexed engine agrees with the
//! reference evaluator on thousands of generated policies and requests.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use api_types::UserInfo;
use authz::rbac::{self, Binding, Index, Policy, PolicyRule, RoleRef, Subject};
use authz::{Attributes, Authorizer, Decision};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::Arc;

fn v(s: &str) -> Vec<String> {
    s.split_whitespace()
        .map(|x| {
            if x == "\"\"" {
                String::new()
            } else {
                x.to_string()
            }
        })
        .collect()
}

fn rule(verbs: &str, groups: &str, resources: &str, names: &str, urls: &str) -> PolicyRule {
    PolicyRule {
        verbs: v(verbs),
        api_groups: v(groups),
        resources: v(resources),
        resource_names: v(names),
        non_resource_urls: v(urls),
    }
}

/// `req` is `verb group resource[/sub] [name]` or `verb /path`.
fn attrs(req: &str) -> Attributes {
    let p: Vec<&str> = req.split_whitespace().collect();
    if p[1].starts_with('/') {
        return Attributes {
            verb: p[0].into(),
            path: p[1].into(),
            ..Default::default()
        };
    }
    let (resource, sub) = p[2].split_once('/').unwrap_or((p[2], ""));
    Attributes {
        verb: p[0].into(),
        resource_request: true,
        api_group: if p[1] == "core" {
            String::new()
        } else {
            p[1].into()
        },
        resource: resource.into(),
        subresource: sub.into(),
        name: p.get(3).unwrap_or(&"").to_string(),
        ..Default::default()
    }
}

fn check(r: &PolicyRule, req: &str, want: bool) {
    assert_eq!(rbac::rule_allows(&attrs(req), r), want, "{r:?} on {req}");
}

#[test]
fn rule_matching() {
    let pods = rule("get list", "\"\"", "pods", "", "");
    check(&pods, "get core pods", true);
    check(&pods, "GET core pods", false);
    check(&pods, "get core pods/log", false);
    check(&pods, "get apps pods", false);
    check(&pods, "delete core pods", false);
    check(&pods, "get core Pods", false);
    let star = rule("*", "*", "*", "", "");
    check(&star, "delete apps deployments/scale x", true);
    check(&star, "get /healthz", false);
    let scale = rule("get", "*", "*/scale", "", "");
    check(&scale, "get apps deployments/scale", true);
    check(&scale, "get apps deployments", false);
    check(&scale, "get apps deployments/status", false);
    let literal = rule("get", "\"\"", "pods/*", "", "");
    check(&literal, "get core pods/log", false);
    let named = rule("get", "\"\"", "secrets", "a b", "");
    check(&named, "get core secrets a", true);
    check(&named, "get core secrets c", false);
    check(&named, "get core secrets", false);
    let urls = rule("get", "", "", "", "/healthz /apis/* /foo*");
    check(&urls, "get /healthz", true);
    check(&urls, "get /healthz/ping", false);
    check(&urls, "get /apis/v1", true);
    check(&urls, "get /apis", false);
    check(&urls, "get /foobar", true);
    check(&urls, "post /healthz", false);
    check(&rule("*", "", "", "", "*"), "get /anything", true);
}

fn user(name: &str, groups: &[&str]) -> UserInfo {
    UserInfo {
        name: name.into(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
        ..Default::default()
    }
}

fn subject(kind: &str, name: &str, ns: &str) -> Subject {
    Subject {
        kind: kind.into(),
        name: name.into(),
        namespace: ns.into(),
        ..Default::default()
    }
}

#[test]
fn applies_to() {
    let u = user("alice", &["devs", "system:authenticated"]);
    assert_eq!(
        rbac::applies_to(
            &u,
            &[subject("User", "bob", ""), subject("Group", "devs", "")],
            ""
        ),
        Some(1)
    );
    assert_eq!(
        rbac::applies_to(&u, &[subject("User", "*", "")], ""),
        None,
        "no wildcards"
    );
    let sa = user("system:serviceaccount:ns1:robot", &[]);
    assert_eq!(
        rbac::applies_to(&sa, &[subject("ServiceAccount", "robot", "")], "ns1"),
        Some(0),
        "SA namespace defaults to the binding's"
    );
    assert_eq!(
        rbac::applies_to(&sa, &[subject("ServiceAccount", "robot", "")], ""),
        None
    );
    assert_eq!(
        rbac::applies_to(&sa, &[subject("ServiceAccount", "robot", "ns2")], "ns1"),
        None
    );
}

fn binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Vec<Subject>) -> Binding {
    Binding {
        namespace: ns.into(),
        name: name.into(),
        subjects,
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: kind.into(),
            name: role.into(),
        },
    }
}

#[test]
fn reasons_match_upstream() {
    let mut p = Policy::default();
    p.cluster_roles.insert(
        "view".into(),
        Arc::new(vec![rule("get list", "\"\"", "pods", "", "")]),
    );
    p.role_bindings.insert(
        ("a".into(), "rb".into()),
        binding(
            "a",
            "rb",
            "ClusterRole",
            "view",
            vec![subject("ServiceAccount", "bot", "")],
        ),
    );
    p.role_bindings.insert(
        ("a".into(), "broken".into()),
        binding(
            "a",
            "broken",
            "Role",
            "missing",
            vec![subject("User", "bob", "")],
        ),
    );
    let idx = Index::from_policy(&p);
    let mut a = attrs("list core pods");
    a.namespace = "a".into();
    a.user = user("system:serviceaccount:a:bot", &[]);
    let want = Decision::Allow(
        r#"RBAC: allowed by RoleBinding "rb/a" of ClusterRole "view" to ServiceAccount "bot/a""#
            .into(),
    );
    assert_eq!(rbac::reference::authorize(&p, &a), want);
    assert_eq!(idx.authorize(&a), want);
    a.namespace = "b".into();
    assert_eq!(idx.authorize(&a), Decision::NoOpinion(String::new()));
    a.namespace = "a".into();
    a.user = user("bob", &[]);
    let want =
        Decision::NoOpinion(r#"RBAC: role.rbac.authorization.k8s.io "missing" not found"#.into());
    assert_eq!(idx.authorize(&a), want);
    assert_eq!(rbac::reference::authorize(&p, &a), want);
}

const VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "delete",
    "*",
    "impersonate",
];
const GROUPS: &[&str] = &["", "apps", "rbac.authorization.k8s.io", "*"];
const RESOURCES: &[&str] = &[
    "pods",
    "pods/log",
    "secrets",
    "deployments",
    "deployments/scale",
    "*/scale",
    "*",
    "roles",
];
const NAMES: &[&str] = &["a", "b", "web"];
const URLS: &[&str] = &["/healthz", "/api", "/apis/*", "*", "/version"];
const NAMESPACES: &[&str] = &["", "ns1", "ns2", "ns3"];
const USERS: &[&str] = &[
    "alice",
    "bob",
    "system:serviceaccount:ns1:bot",
    "system:serviceaccount:ns2:bot",
    "*",
];
const GROUP_NAMES: &[&str] = &[
    "devs",
    "ops",
    "system:authenticated",
    "system:serviceaccounts",
];

fn pick<'a>(rng: &mut StdRng, xs: &[&'a str]) -> &'a str {
    xs[rng.random_range(0..xs.len())]
}

fn some(rng: &mut StdRng, xs: &[&str], max: usize) -> Vec<String> {
    (0..rng.random_range(0..=max))
        .map(|_| pick(rng, xs).to_string())
        .collect()
}

fn random_rule(rng: &mut StdRng) -> PolicyRule {
    if rng.random_bool(0.2) {
        PolicyRule {
            verbs: some(rng, VERBS, 2),
            non_resource_urls: some(rng, URLS, 2),
            ..Default::default()
        }
    } else {
        PolicyRule {
            verbs: some(rng, VERBS, 4),
            api_groups: some(rng, GROUPS, 3),
            resources: some(rng, RESOURCES, 3),
            resource_names: if rng.random_bool(0.3) {
                some(rng, NAMES, 2)
            } else {
                vec![]
            },
            non_resource_urls: vec![],
        }
    }
}

fn random_subject(rng: &mut StdRng) -> Subject {
    match rng.random_range(0..3) {
        0 => subject("User", pick(rng, USERS), ""),
        1 => subject("Group", pick(rng, GROUP_NAMES), ""),
        _ => subject("ServiceAccount", "bot", pick(rng, NAMESPACES)),
    }
}

fn random_policy(rng: &mut StdRng) -> Policy {
    let mut p = Policy::default();
    for i in 0..rng.random_range(2..7) {
        p.cluster_roles.insert(
            format!("cr{i}"),
            Arc::new(
                (0..rng.random_range(0..6))
                    .map(|_| random_rule(rng))
                    .collect(),
            ),
        );
    }
    for i in 0..rng.random_range(0..6) {
        let ns = pick(rng, &NAMESPACES[1..]).to_string();
        p.roles.insert(
            (ns, format!("r{i}")),
            Arc::new(
                (0..rng.random_range(0..4))
                    .map(|_| random_rule(rng))
                    .collect(),
            ),
        );
    }
    for i in 0..rng.random_range(0..10) {
        let subjects = (0..rng.random_range(0..4))
            .map(|_| random_subject(rng))
            .collect();
        let role = format!("cr{}", rng.random_range(0..7));
        p.cluster_role_bindings.insert(
            format!("crb{i}"),
            binding("", &format!("crb{i}"), "ClusterRole", &role, subjects),
        );
    }
    for i in 0..rng.random_range(0..14) {
        let ns = pick(rng, &NAMESPACES[1..]);
        let subjects = (0..rng.random_range(0..4))
            .map(|_| random_subject(rng))
            .collect();
        let (kind, role) = if rng.random_bool(0.5) {
            ("Role", format!("r{}", rng.random_range(0..7)))
        } else {
            ("ClusterRole", format!("cr{}", rng.random_range(0..7)))
        };
        let name = format!("rb{i}");
        p.role_bindings.insert(
            (ns.into(), name.clone()),
            binding(ns, &name, kind, &role, subjects),
        );
    }
    p
}

fn random_request(rng: &mut StdRng) -> Attributes {
    let u = user(
        pick(rng, USERS),
        &some(rng, GROUP_NAMES, 2)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    if rng.random_bool(0.2) {
        return Attributes {
            user: u,
            verb: pick(rng, VERBS).into(),
            path: pick(rng, &["/healthz", "/api", "/apis/v1", "/version", "/x"]).into(),
            ..Default::default()
        };
    }
    let (resource, sub) = pick(
        rng,
        &["pods", "pods/log", "secrets", "deployments/scale", "roles"],
    )
    .split_once('/')
    .map_or(
        (pick(rng, &["pods", "secrets", "deployments"]), ""),
        |(r, s)| (r, s),
    );
    Attributes {
        user: u,
        verb: pick(rng, VERBS).into(),
        resource_request: true,
        namespace: pick(rng, NAMESPACES).into(),
        api_group: pick(rng, &["", "apps", "rbac.authorization.k8s.io"]).into(),
        resource: resource.into(),
        subresource: sub.into(),
        name: pick(rng, &["", "a", "web"]).into(),
        ..Default::default()
    }
}

#[test]
fn indexed_engine_agrees_with_the_reference_on_generated_cases() {
    let mut rng = StdRng::seed_from_u64(0x6b75_6265);
    let mut allowed = 0;
    let mut cases = 0;
    for _ in 0..400 {
        let p = random_policy(&mut rng);
        let idx = Index::from_policy(&p);
        for _ in 0..25 {
            let a = random_request(&mut rng);
            let want = rbac::reference::authorize(&p, &a);
            assert_eq!(idx.authorize(&a), want, "policy {p:#?}\nrequest {a:#?}");
            allowed += usize::from(want.allowed());
            cases += 1;
        }
    }
    assert_eq!(cases, 10_000);
    // The generator must exercise both outcomes, or the agreement means little.
    assert!(
        allowed > 300 && allowed < 9_700,
        "allowed {allowed} of {cases}"
    );
}

#[test]
fn incremental_updates_match_a_rebuild() {
    let mut rng = StdRng::seed_from_u64(7);
    let idx = Index::new();
    let mut p = Policy::default();
    for step in 0..2_000 {
        // Apply one random change to both the plain policy and the index.
        match rng.random_range(0..5) {
            0 => {
                let name = format!("cr{}", rng.random_range(0..5));
                if rng.random_bool(0.8) {
                    let rules: Vec<PolicyRule> = (0..rng.random_range(0..3))
                        .map(|_| random_rule(&mut rng))
                        .collect();
                    idx.set_role("", &name, Some(rules.clone()));
                    p.cluster_roles.insert(name, Arc::new(rules));
                } else {
                    idx.set_role("", &name, None);
                    p.cluster_roles.remove(&name);
                }
            }
            1 => {
                let name = format!("crb{}", rng.random_range(0..5));
                if rng.random_bool(0.8) {
                    let subjects = (0..rng.random_range(0..3))
                        .map(|_| random_subject(&mut rng))
                        .collect();
                    let b = binding(
                        "",
                        &name,
                        "ClusterRole",
                        &format!("cr{}", rng.random_range(0..5)),
                        subjects,
                    );
                    idx.set_binding("", &name, Some(b.clone()));
                    p.cluster_role_bindings.insert(name, b);
                } else {
                    idx.set_binding("", &name, None);
                    p.cluster_role_bindings.remove(&name);
                }
            }
            2 => {
                let ns = pick(&mut rng, &NAMESPACES[1..]).to_string();
                let name = format!("r{}", rng.random_range(0..3));
                if rng.random_bool(0.8) {
                    let rules: Vec<PolicyRule> = (0..rng.random_range(0..3))
                        .map(|_| random_rule(&mut rng))
                        .collect();
                    idx.set_role(&ns, &name, Some(rules.clone()));
                    p.roles.insert((ns, name), Arc::new(rules));
                } else {
                    idx.set_role(&ns, &name, None);
                    p.roles.remove(&(ns, name));
                }
            }
            _ => {
                let ns = pick(&mut rng, &NAMESPACES[1..]).to_string();
                let name = format!("rb{}", rng.random_range(0..5));
                if rng.random_bool(0.8) {
                    let subjects = (0..rng.random_range(0..3))
                        .map(|_| random_subject(&mut rng))
                        .collect();
                    let (kind, role) = if rng.random_bool(0.5) {
                        ("ClusterRole", format!("cr{}", rng.random_range(0..5)))
                    } else {
                        ("Role", format!("r{}", rng.random_range(0..3)))
                    };
                    let b = binding(&ns, &name, kind, &role, subjects);
                    idx.set_binding(&ns, &name, Some(b.clone()));
                    p.role_bindings.insert((ns, name), b);
                } else {
                    idx.set_binding(&ns, &name, None);
                    p.role_bindings.remove(&(ns, name));
                }
            }
        }
        let a = random_request(&mut rng);
        assert_eq!(
            idx.authorize(&a),
            rbac::reference::authorize(&p, &a),
            "step {step}"
        );
        assert_eq!(
            idx.who_can(&a),
            rbac::explain::who_can(&p, &a),
            "step {step}"
        );
    }
    // And the index gives back exactly the objects it was given.
    let back = idx.policy();
    assert_eq!(back.cluster_roles, p.cluster_roles);
    assert_eq!(back.roles, p.roles);
    assert_eq!(back.cluster_role_bindings, p.cluster_role_bindings);
    assert_eq!(back.role_bindings, p.role_bindings);
}

#[test]
fn covers_as_upstream() {
    use authz::escalation::{compact_string, uncovered};
    let check = |owner: Vec<PolicyRule>, servant: Vec<PolicyRule>, want: &[&str]| {
        let got: Vec<String> = uncovered(&owner, &servant)
            .iter()
            .map(compact_string)
            .collect();
        assert_eq!(got, want, "owner {owner:?} servant {servant:?}");
    };
    let all = rule("*", "*", "*", "", "");
    check(
        vec![all.clone()],
        vec![rule("get list", "apps", "deployments", "", "")],
        &[],
    );
    check(
        vec![rule("get", "apps", "deployments", "", "")],
        vec![rule("get list", "apps", "deployments", "", "")],
        &[r#"{APIGroups:["apps"], Resources:["deployments"], Verbs:["list"]}"#],
    );
    // Enumerations never cover a star.
    check(
        vec![rule("get list watch", "\"\"", "pods", "", "")],
        vec![rule("*", "\"\"", "pods", "", "")],
        &[r#"{APIGroups:[""], Resources:["pods"], Verbs:["*"]}"#],
    );
    // */scale covers any scale subresource.
    check(
        vec![rule("get", "apps", "*/scale", "", "")],
        vec![rule("get", "apps", "deployments/scale", "", "")],
        &[],
    );
    // A rule with names does not cover one without.
    check(
        vec![rule("get", "\"\"", "secrets", "a", "")],
        vec![rule("get", "\"\"", "secrets", "", "")],
        &[r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}"#],
    );
    check(
        vec![rule("get", "\"\"", "secrets", "", "")],
        vec![rule("get", "\"\"", "secrets", "a", "")],
        &[],
    );
    check(
        vec![rule("get", "", "", "", "/apis/*")],
        vec![rule("get", "", "", "", "/apis/v1 /healthz")],
        &[r#"{NonResourceURLs:["/healthz"], Verbs:["get"]}"#],
    );
}

/// The policy with a suggestion applied (its role and binding added).
fn with_suggestion(p: &Policy, s: &rbac::explain::Suggestion) -> Policy {
    let (rules, b) = rbac::explain::suggestion_policy(s);
    let mut p = p.clone();
    if s.namespace.is_empty() {
        p.cluster_roles.insert(s.name.clone(), Arc::new(rules));
        p.cluster_role_bindings.insert(s.name.clone(), b);
    } else {
        p.roles
            .insert((s.namespace.clone(), s.name.clone()), Arc::new(rules));
        p.role_bindings
            .insert((s.namespace.clone(), s.name.clone()), b);
    }
    p
}

/// Would the suggestion for `a` cover `b` (the same requester and exactly its request, up to
/// the name when `a` had none and the namespace when `a` was cluster-wide; a request for verb
/// `*`, as a SubjectAccessReview may ask, is allowed only by a rule for every verb)?
fn covered(a: &Attributes, b: &Attributes) -> bool {
    let same_user = b.user.name == a.user.name;
    let verb = a.verb == "*" || b.verb == a.verb;
    if !a.resource_request {
        return same_user && !b.resource_request && verb && b.path == a.path;
    }
    same_user
        && b.resource_request
        && verb
        && b.api_group == a.api_group
        && b.resource == a.resource
        && b.subresource == a.subresource
        && (a.name.is_empty() || b.name == a.name)
        && (a.namespace.is_empty() || b.namespace == a.namespace)
}

#[test]
fn explanations_agree_with_the_reference_and_suggestions_allow_exactly_the_request() {
    let mut rng = StdRng::seed_from_u64(0x6578_706c);
    let (mut denied, mut with_misses, mut grants) = (0, 0, 0);
    for _ in 0..300 {
        let p = random_policy(&mut rng);
        for _ in 0..20 {
            let a = random_request(&mut rng);
            let want = rbac::reference::authorize(&p, &a);
            let e = rbac::explain::explain(&p, &a);
            assert_eq!(e.allowed, want.allowed(), "policy {p:#?}\nrequest {a:#?}");
            // The index's part of the policy that bears on the user explains the same.
            let part = Index::from_policy(&p).policy_for(&a.user);
            assert_eq!(rbac::explain::explain(&part, &a), e, "request {a:#?}");
            // Every rule's lacks are exactly why it does not allow.
            for rules in p.cluster_roles.values().chain(p.roles.values()) {
                for r in rules.iter() {
                    assert_eq!(
                        rbac::explain::lacks(&a, r).is_empty(),
                        rbac::rule_allows(&a, r),
                        "rule {r:?}\nrequest {a:#?}"
                    );
                }
            }
            if let Decision::Allow(reason) = &want {
                // The first grant is the binding the authorizer's reason names.
                let g = &e.grants[0];
                let b = if g.via.binding_namespace.is_empty() {
                    &p.cluster_role_bindings[&g.via.binding_name]
                } else {
                    &p.role_bindings[&(g.via.binding_namespace.clone(), g.via.binding_name.clone())]
                };
                assert_eq!(
                    *reason,
                    format!("RBAC: allowed by {}", rbac::describe(b, &g.via.subject))
                );
                assert!(e.grants.iter().all(|g| rbac::rule_allows(&a, &g.rule)));
                grants += e.grants.len();
                continue;
            }
            denied += 1;
            with_misses += usize::from(!e.misses.is_empty());
            assert!(e.misses.len() <= rbac::explain::MAX_MISSES);
            assert!(e
                .misses
                .windows(2)
                .all(|w| w[0].distance() <= w[1].distance()));
            assert!(e.misses.iter().all(|m| !m.lacks.is_empty()));
            // The suggestion allows the request, and nothing else but what it names.
            let s = e
                .suggestion
                .as_ref()
                .expect("a denied request gets a suggestion");
            let after = with_suggestion(&p, s);
            assert!(
                rbac::reference::authorize(&after, &a).allowed(),
                "the suggestion {s:#?} does not allow {a:#?}"
            );
            for _ in 0..30 {
                let b = random_request(&mut rng);
                let (before, now) = (
                    rbac::reference::authorize(&p, &b).allowed(),
                    rbac::reference::authorize(&after, &b).allowed(),
                );
                if before != now {
                    assert!(
                        covered(&a, &b),
                        "the suggestion for {a:#?}\nalso allowed {b:#?}"
                    );
                }
            }
        }
    }
    assert!(
        denied > 300 && grants > 300,
        "denied {denied}, grants {grants}"
    );
    assert!(with_misses > 100, "only {with_misses} denials had misses");
}

#[test]
fn misses_name_what_is_lacking() {
    let mut p = Policy::default();
    p.cluster_roles.insert(
        "pod-reader".into(),
        Arc::new(vec![rule("get list", "\"\"", "pods", "", "")]),
    );
    p.roles.insert(
        ("ns1".into(), "web-only".into()),
        Arc::new(vec![rule("get", "\"\"", "secrets", "web", "")]),
    );
    let alice = || vec![subject("User", "alice", "")];
    p.cluster_role_bindings.insert(
        "readers".into(),
        binding("", "readers", "ClusterRole", "pod-reader", alice()),
    );
    p.role_bindings.insert(
        ("ns1".into(), "web".into()),
        binding("ns1", "web", "Role", "web-only", alice()),
    );
    p.role_bindings.insert(
        ("ns2".into(), "gone".into()),
        binding("ns2", "gone", "Role", "missing", alice()),
    );
    p.role_bindings.insert(
        ("ns2".into(), "secrets".into()),
        binding("ns2", "secrets", "ClusterRole", "pod-reader", alice()),
    );
    let req = |verb: &str, ns: &str, resource: &str, name: &str| Attributes {
        user: user("alice", &[]),
        verb: verb.into(),
        resource_request: true,
        namespace: ns.into(),
        resource: resource.into(),
        name: name.into(),
        ..Default::default()
    };
    use rbac::explain::{explain, Lack};
    let lacks = |a: &Attributes| -> Vec<(String, Vec<Lack>)> {
        explain(&p, a)
            .misses
            .into_iter()
            .map(|m| (m.via.binding_name, m.lacks))
            .collect()
    };
    // The nearest miss first: a name the Role does not list.
    assert_eq!(
        lacks(&req("get", "ns1", "secrets", "db"))[0],
        ("web".to_string(), vec![Lack::ResourceName])
    );
    // Deleting pods: the ClusterRole lacks only the verb (then, in ns2, the verb and namespace).
    let l = lacks(&req("delete", "ns1", "pods", "p"));
    assert_eq!(l[0], ("readers".to_string(), vec![Lack::Verb]));
    assert!(l.contains(&(
        "secrets".to_string(),
        vec![Lack::Verb, Lack::Namespace("ns2".into())]
    )));
    // Reading secrets in ns3: the binding to a missing Role is named as such.
    let l = lacks(&req("get", "ns3", "secrets", "web"));
    assert!(l.iter().any(|(b, ls)| b == "gone"
        && ls.contains(&Lack::MissingRole(
            "role.rbac.authorization.k8s.io \"missing\" not found".into()
        ))));
    assert!(l.contains(&("web".to_string(), vec![Lack::Namespace("ns1".into())])));
    // Allowed: every grant listed.
    let e = explain(&p, &req("get", "ns2", "pods", "p"));
    assert!(e.allowed && e.misses.is_empty() && e.suggestion.is_none());
    let names: Vec<_> = e
        .grants
        .iter()
        .map(|g| g.via.binding_name.as_str())
        .collect();
    assert_eq!(names, ["readers", "secrets"]);
    // A service account's suggestion binds the ServiceAccount.
    let mut sa = req("list", "ns1", "pods", "");
    sa.user = user("system:serviceaccount:ns1:bot", &[]);
    let s = explain(&p, &sa).suggestion.unwrap();
    assert_eq!(
        (
            s.subject.kind.as_str(),
            s.subject.name.as_str(),
            s.subject.namespace.as_str()
        ),
        ("ServiceAccount", "bot", "ns1")
    );
    assert_eq!(s.name, "bot-list-pods");
    assert_eq!(s.namespace, "ns1");
}

/// A user that a subject names, for checking who-can.
fn user_of(s: &Subject) -> UserInfo {
    match s.kind.as_str() {
        "User" => user(&s.name, &[]),
        "Group" => user("someone-in-the-group", &[s.name.as_str()]),
        _ => user(
            &format!("system:serviceaccount:{}:{}", s.namespace, s.name),
            &[],
        ),
    }
}

#[test]
fn who_can_lists_exactly_the_subjects_the_reference_allows() {
    let mut rng = StdRng::seed_from_u64(0x7768_6f63);
    let mut found = 0;
    for _ in 0..300 {
        let p = random_policy(&mut rng);
        let idx = Index::from_policy(&p);
        for _ in 0..20 {
            let a = random_request(&mut rng);
            let allowed = idx.who_can(&a);
            // The inverse map gives exactly the scan's rows, in its order.
            assert_eq!(allowed, rbac::explain::who_can(&p, &a), "request {a:#?}");
            // Everyone listed is allowed, through the binding named.
            for w in &allowed {
                let mut as_them = a.clone();
                as_them.user = user_of(&w.subject);
                assert!(
                    rbac::reference::authorize(&p, &as_them).allowed(),
                    "who-can listed {:?} for {a:#?}\npolicy {p:#?}",
                    w.subject
                );
                assert!(rbac::rule_allows(&a, &w.grant.rule));
            }
            found += allowed.len();
            // Everyone allowed is listed: each generated user, by name or by a group.
            for _ in 0..10 {
                let mut b = a.clone();
                b.user = random_request(&mut rng).user;
                if !rbac::reference::authorize(&p, &b).allowed() {
                    continue;
                }
                let listed = allowed.iter().any(|w| match w.subject.kind.as_str() {
                    "Group" => b.user.in_group(&w.subject.name),
                    "User" => w.subject.name == b.user.name,
                    _ => {
                        b.user.name
                            == format!(
                                "system:serviceaccount:{}:{}",
                                w.subject.namespace, w.subject.name
                            )
                    }
                });
                assert!(listed, "{:?} is allowed {a:#?} but not listed", b.user);
            }
        }
    }
    assert!(found > 1000, "only {found} subjects found");
}

#[test]
fn who_can_in_any_namespace_lists_whoever_is_allowed_somewhere() {
    let mut rng = StdRng::seed_from_u64(0x616e_7973);
    let mut found = 0;
    for _ in 0..300 {
        let p = random_policy(&mut rng);
        let idx = Index::from_policy(&p);
        for _ in 0..10 {
            let a = random_request(&mut rng);
            let rows = idx.who_can_in_any_namespace(&a);
            // Everyone listed is allowed in its binding's namespace (anywhere, for a
            // ClusterRoleBinding), through that binding.
            for w in &rows {
                let mut as_them = a.clone();
                as_them.user = user_of(&w.subject);
                as_them.namespace = w.grant.via.binding_namespace.clone();
                assert!(
                    rbac::reference::authorize(&p, &as_them).allowed(),
                    "listed {:?} for {a:#?}\npolicy {p:#?}",
                    w.subject
                );
            }
            found += rows.len();
            // Whoever is allowed in some namespace is listed; and it is exactly the union of
            // who-can over every namespace.
            let mut union = BTreeSet::new();
            for ns in NAMESPACES {
                let mut b = a.clone();
                b.namespace = (*ns).to_string();
                for w in idx.who_can(&b) {
                    union.insert(format!("{:?}", (&w.subject, &w.grant.via)));
                }
            }
            let listed: BTreeSet<String> = rows
                .iter()
                .map(|w| format!("{:?}", (&w.subject, &w.grant.via)))
                .collect();
            assert_eq!(listed, union, "request {a:#?}");
        }
    }
    assert!(found > 500, "only {found} rows");
}

#[test]
fn the_access_matrix_equals_one_decision_per_cell() {
    let mut rng = StdRng::seed_from_u64(0x6d61_7472);
    let cells: Vec<(String, String, String)> = [
        ("", "pods", ""),
        ("", "pods", "log"),
        ("", "secrets", ""),
        ("apps", "deployments", ""),
        ("apps", "deployments", "scale"),
        ("rbac.authorization.k8s.io", "roles", ""),
    ]
    .iter()
    .map(|(g, r, s)| (g.to_string(), r.to_string(), s.to_string()))
    .collect();
    let verbs = ["get", "list", "create", "delete", "escalate"];
    let mut yes = 0;
    for _ in 0..300 {
        let p = random_policy(&mut rng);
        let a = random_request(&mut rng);
        for ns in ["", "ns1", "ns2"] {
            let m = rbac::explain::access_matrix(&p, &a.user, ns, &cells, &verbs);
            assert_eq!(
                m,
                Index::from_policy(&p).access_matrix(&a.user, ns, &cells, &verbs)
            );
            for (row, (g, r, s)) in m.iter().zip(&cells) {
                for (cell, verb) in row.iter().zip(verbs) {
                    let one = Attributes {
                        user: a.user.clone(),
                        verb: verb.into(),
                        resource_request: true,
                        namespace: ns.into(),
                        api_group: g.clone(),
                        resource: r.clone(),
                        subresource: s.clone(),
                        ..Default::default()
                    };
                    assert_eq!(
                        *cell,
                        rbac::reference::authorize(&p, &one).allowed(),
                        "{one:#?}\n{p:#?}"
                    );
                    yes += usize::from(*cell);
                }
            }
        }
    }
    assert!(yes > 500, "only {yes} cells allowed");
}

#[test]
fn every_audit_finding_names_a_rule_that_grants_it() {
    use rbac::audit::{findings, paths, Severity, CHECKS};
    let mut rng = StdRng::seed_from_u64(0x6175_6469);
    let (mut total, mut chains) = (0, 0);
    for _ in 0..300 {
        let p = random_policy(&mut rng);
        let single = findings(&p, &|_| false);
        for f in &single {
            let Some(check) = CHECKS.iter().find(|c| c.id == f.id) else {
                continue; // KW011 names the binding, not a rule
            };
            // subject → binding → role → rule
            let (b, role, rule) = (&f.path[1], &f.path[2], &f.path[3]);
            let binding = if b.kind == "ClusterRoleBinding" {
                &p.cluster_role_bindings[&b.name]
            } else {
                &p.role_bindings[&(b.namespace.clone(), b.name.clone())]
            };
            assert_eq!(binding.role_ref.name, role.name);
            let rules = p.resolve(binding).unwrap();
            let r = &rules[rule.name.parse::<usize>().unwrap()];
            let grants = check.probes.iter().any(|(verb, group, resource, sub)| {
                rbac::rule_allows(
                    &Attributes {
                        verb: (*verb).into(),
                        resource_request: true,
                        namespace: binding.namespace.clone(),
                        api_group: (*group).into(),
                        resource: (*resource).into(),
                        subresource: (*sub).into(),
                        name: f.names.first().cloned().unwrap_or_default(),
                        ..Default::default()
                    },
                    r,
                )
            });
            assert!(grants, "{f:#?}\nrule {r:?}");
            assert_eq!(f.severity == Severity::Medium, !f.names.is_empty());
            total += 1;
        }
        for path in paths(&p, &single, &|_| false) {
            // A chain starts at its subject and ends at a subject holding a cluster-wide
            // critical grant (or system:masters).
            assert_eq!(
                path.path[0].name.rsplit(':').next(),
                path.subject.rsplit(':').next()
            );
            chains += 1;
        }
    }
    assert!(total > 500, "only {total} findings");
    assert!(chains > 0, "no chain in 300 policies");
}

/// The suggestion's rules bound to one user, as a policy (a Role per namespace, a
/// ClusterRole for the rest).
fn bound(grants: &[rbac::suggest::Grant], who: &str) -> Policy {
    let mut p = Policy::default();
    for g in grants {
        let rules: Vec<PolicyRule> = g.rules.iter().map(|r| r.rule.clone()).collect();
        let subject = Subject {
            kind: "User".into(),
            api_group: "rbac.authorization.k8s.io".into(),
            name: who.into(),
            namespace: String::new(),
        };
        if g.namespace.is_empty() {
            p.cluster_roles.insert("s".into(), Arc::new(rules));
            p.cluster_role_bindings.insert(
                "s".into(),
                binding("", "s", "ClusterRole", "s", vec![subject]),
            );
        } else {
            p.roles
                .insert((g.namespace.clone(), "s".into()), Arc::new(rules));
            p.role_bindings.insert(
                (g.namespace.clone(), "s".into()),
                binding(&g.namespace, "s", "Role", "s", vec![subject]),
            );
        }
    }
    p
}

#[test]
fn suggested_roles_allow_every_logged_request_and_nothing_it_did_not_do() {
    let mut rng = StdRng::seed_from_u64(0x7375_6767);
    let (mut probes_allowed, mut cases) = (0, 0);
    for round in 0..400 {
        let widen = rbac::suggest::Widen {
            names: round % 3 == 1,
            namespaces: round % 5 == 2,
        };
        // Requests as a server logs them: never a `*` verb.
        let mut log: Vec<Attributes> = (0..rng.random_range(1..12))
            .map(|_| random_request(&mut rng))
            .filter(|a| a.verb != "*")
            .collect();
        if log.is_empty() {
            continue;
        }
        if rng.random_bool(0.3) {
            log.push(Attributes {
                verb: pick(&mut rng, &["get", "post"]).into(),
                path: pick(&mut rng, &["/healthz", "/metrics", "/api"]).into(),
                ..Default::default()
            });
        }
        let grants = rbac::suggest::suggest(&log, widen);
        let p = bound(&grants, "worker");
        let counted: usize = grants
            .iter()
            .flat_map(|g| &g.rules)
            .map(|r| r.requests)
            .sum();
        assert_eq!(counted, log.len(), "each request counted once");
        let as_worker = |a: &Attributes| Attributes {
            user: user("worker", &[]),
            ..a.clone()
        };
        for a in &log {
            assert!(
                rbac::reference::authorize(&p, &as_worker(a)).allowed(),
                "{a:#?} not covered by {grants:#?}"
            );
        }
        // Whatever the suggestion allows, some logged request did (up to the widening).
        let did = |b: &Attributes| {
            log.iter().any(|a| {
                if !b.resource_request {
                    return !a.resource_request && a.verb == b.verb && a.path == b.path;
                }
                let named = rbac::suggest::NAMED_VERBS.contains(&b.verb.as_str());
                a.resource_request
                    && a.verb == b.verb
                    && a.api_group == b.api_group
                    && a.resource == b.resource
                    && a.subresource == b.subresource
                    && (widen.namespaces || a.namespace == b.namespace || a.namespace.is_empty())
                    && (widen.names || !named || a.name.is_empty() || a.name == b.name)
            })
        };
        for _ in 0..60 {
            // Probes near the log: a logged request with one attribute changed, or a new one.
            let mut b = match rng.random_range(0..3) {
                0 => random_request(&mut rng),
                _ => log[rng.random_range(0..log.len())].clone(),
            };
            if b.resource_request {
                match rng.random_range(0..5) {
                    0 => b.verb = pick(&mut rng, VERBS).into(),
                    1 => b.name = pick(&mut rng, &["", "a", "web", "other"]).into(),
                    2 => b.namespace = pick(&mut rng, NAMESPACES).into(),
                    _ => {}
                }
            }
            cases += 1;
            if rbac::reference::authorize(&p, &as_worker(&b)).allowed() {
                probes_allowed += 1;
                assert!(did(&b), "{b:#?} allowed by {grants:#?}\nlog {log:#?}");
            }
        }
    }
    assert!(
        probes_allowed > 2_000 && probes_allowed < cases,
        "{probes_allowed} of {cases}"
    );
}

#[test]
fn unused_counts_what_the_authorizer_allowed_and_lists_only_pairs_nobody_used() {
    let mut rng = StdRng::seed_from_u64(0x756e_7573);
    let (mut used, mut never) = (0, 0);
    for _ in 0..200 {
        let p = random_policy(&mut rng);
        let log: Vec<Attributes> = (0..30).map(|_| random_request(&mut rng)).collect();
        let uses = rbac::unused::usage(&p, &log, &|_, _| true);
        for u in &uses {
            let b = if u.via.binding_namespace.is_empty() {
                &p.cluster_role_bindings[&u.via.binding_name]
            } else {
                &p.role_bindings[&(u.via.binding_namespace.clone(), u.via.binding_name.clone())]
            };
            // The requests counted: those whose user the subject names, in the binding's
            // scope, that the rule allows; each is allowed by the reference walk too.
            let counted: Vec<&Attributes> = log
                .iter()
                .filter(|a| {
                    rbac::applies_to(&a.user, std::slice::from_ref(&u.via.subject), &b.namespace)
                        .is_some()
                        && (b.namespace.is_empty() || a.namespace == b.namespace)
                        && rbac::rule_allows(a, &u.rule)
                })
                .collect();
            assert_eq!(u.requests, counted.len(), "{u:#?}");
            for a in &counted {
                assert!(rbac::reference::authorize(&p, a).allowed(), "{a:#?}");
            }
            used += u.requests;
            // A pair is listed as never used exactly when no counted request used it.
            if !u.wildcard {
                for verb in &u.rule.verbs {
                    for g in &u.rule.api_groups {
                        for r in &u.rule.resources {
                            let (res, sub) = r.split_once('/').unwrap_or((r, ""));
                            let hit = counted.iter().any(|a| {
                                a.verb == *verb
                                    && a.api_group == *g
                                    && a.resource == res
                                    && a.subresource == sub
                            });
                            let mut shown = res.to_string();
                            if !g.is_empty() {
                                shown = format!("{shown}.{g}");
                            }
                            if !sub.is_empty() {
                                shown = format!("{shown}/{sub}");
                            }
                            let listed = u.never.contains(&(verb.clone(), shown));
                            assert_eq!(listed, !hit, "{u:#?}");
                            never += usize::from(listed);
                        }
                    }
                }
            }
        }
    }
    assert!(used > 100 && never > 100, "used {used}, never {never}");
}
