//! Upstream's RBAC test tables (`plugin/pkg/auth/authorizer/rbac/rbac_test.go`,
//! TestRuleMatches and TestAuthorizer), re-expressed as data: every case runs through the
//! matching function, and the authorizer cases through both the reference evaluator and the
//! indexed engine.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use api_types::UserInfo;
use authz::rbac::{self, Binding, Index, Policy, PolicyRule, RoleRef, Subject};
use authz::{Attributes, Authorizer};
use std::sync::Arc;

fn list(s: &str) -> Vec<String> {
    if s == "-" {
        return vec![];
    }
    s.split(',')
        .map(|x| {
            if x == "\"\"" {
                String::new()
            } else {
                x.to_string()
            }
        })
        .collect()
}

/// `verbs groups resources urls`, comma-separated, `-` for none.
fn rule(spec: &str) -> PolicyRule {
    let f: Vec<&str> = spec.split_whitespace().collect();
    PolicyRule {
        verbs: list(f[0]),
        api_groups: list(f[1]),
        resources: list(f[2]),
        non_resource_urls: list(f[3]),
        ..Default::default()
    }
}

/// `verb group resource[/sub]` or `verb /path`.
fn request(spec: &str) -> Attributes {
    let f: Vec<&str> = spec.split_whitespace().collect();
    if f[1].starts_with('/') {
        return Attributes {
            verb: f[0].into(),
            path: f[1].into(),
            ..Default::default()
        };
    }
    let (resource, sub) = f[2].split_once('/').unwrap_or((f[2], ""));
    Attributes {
        verb: f[0].into(),
        resource_request: true,
        api_group: f[1].into(),
        resource: resource.into(),
        subresource: sub.into(),
        ..Default::default()
    }
}

/// TestRuleMatches: (rule, requests with `+` allowed or `-` refused).
const RULE_MATCHES: &[(&str, &[&str])] = &[
    (
        "* group1 resource1 -",
        &[
            "verb1 group1 resource1 +",
            "verb1 group2 resource1 -",
            "verb1 group1 resource2 -",
            "verb1 group2 resource2 -",
            "verb2 group1 resource1 +",
            "verb2 group2 resource1 -",
            "verb2 group1 resource2 -",
            "verb2 group2 resource2 -",
        ],
    ),
    (
        "verb1 * resource1 -",
        &[
            "verb1 group1 resource1 +",
            "verb1 group2 resource1 +",
            "verb1 group1 resource2 -",
            "verb1 group2 resource2 -",
            "verb2 group1 resource1 -",
            "verb2 group2 resource1 -",
            "verb2 group1 resource2 -",
            "verb2 group2 resource2 -",
        ],
    ),
    (
        "verb1 group1 * -",
        &[
            "verb1 group1 resource1 +",
            "verb1 group2 resource1 -",
            "verb1 group1 resource2 +",
            "verb1 group2 resource2 -",
            "verb2 group1 resource1 -",
            "verb2 group2 resource1 -",
            "verb2 group1 resource2 -",
            "verb2 group2 resource2 -",
        ],
    ),
    (
        "verb1,verb2 group1,group2 resource1,resource2 -",
        &[
            "verb1 group1 resource1 +",
            "verb1 group2 resource1 +",
            "verb1 group1 resource2 +",
            "verb1 group2 resource2 +",
            "verb2 group1 resource1 +",
            "verb2 group2 resource1 +",
            "verb2 group1 resource2 +",
            "verb2 group2 resource2 +",
        ],
    ),
    (
        "* * resource1/subresource1 -",
        &[
            "verb1 group1 resource1/subresource1 +",
            "verb1 group2 resource1/subresource2 -",
            "verb1 group1 resource2/subresource1 -",
            "verb1 group2 resource2/subresource1 -",
            "verb2 group1 resource1/subresource1 +",
            "verb2 group2 resource1/subresource2 -",
            "verb2 group1 resource2/subresource1 -",
            "verb2 group2 resource2/subresource1 -",
        ],
    ),
    (
        "verb1 - - *",
        &[
            "verb1 /foo +",
            "verb1 /foo/bar +",
            "verb1 /foo/baz +",
            "verb1 /foo/bar/one +",
            "verb1 /foo/baz/one +",
            "verb2 /foo -",
            "verb2 /foo/bar -",
            "verb2 /foo/baz -",
            "verb2 /foo/bar/one -",
            "verb2 /foo/baz/one -",
        ],
    ),
    (
        "verb1 - - /foo/*",
        &[
            "verb1 /foo -",
            "verb1 /foo/bar +",
            "verb1 /foo/baz +",
            "verb1 /foo/bar/one +",
            "verb1 /foo/baz/one +",
            "verb1 /notfoo -",
            "verb1 /notfoo/bar -",
            "verb1 /notfoo/baz -",
            "verb1 /notfoo/bar/one -",
            "verb1 /notfoo/baz/one -",
        ],
    ),
    (
        "* - - /foo,/foo/bar/one",
        &[
            "verb1 /foo +",
            "verb1 /foo/bar -",
            "verb1 /foo/baz -",
            "verb1 /foo/bar/one +",
            "verb1 /foo/baz/one -",
            "verb2 /foo +",
            "verb2 /foo/bar -",
            "verb2 /foo/baz -",
            "verb2 /foo/bar/one +",
            "verb2 /foo/baz/one -",
        ],
    ),
];

#[test]
fn upstream_rule_matches() {
    let mut n = 0;
    for (r, cases) in RULE_MATCHES {
        let rule = rule(r);
        for c in *cases {
            let (req, want) = c.rsplit_once(' ').unwrap();
            assert_eq!(
                rbac::rule_allows(&request(req), &rule),
                want == "+",
                "rule {r}: {req}"
            );
            n += 1;
        }
    }
    assert_eq!(n, 70, "all of upstream's TestRuleMatches requests");
}

fn subjects(list: &[&str]) -> Vec<Subject> {
    list.iter()
        .map(|s| {
            let (kind, name) = s.split_once(':').unwrap();
            let api_group = if kind == "ServiceAccount" {
                ""
            } else {
                "rbac.authorization.k8s.io"
            };
            Subject {
                kind: kind.into(),
                api_group: api_group.into(),
                name: name.into(),
                namespace: String::new(),
            }
        })
        .collect()
}

/// `user groups verb resource[/sub] namespace` (resource requests) or `user groups verb /path`;
/// `-` for an empty user, groups comma-separated.
fn attributes(spec: &str) -> Attributes {
    let f: Vec<&str> = spec.split_whitespace().collect();
    let user = UserInfo {
        name: if f[0] == "-" {
            String::new()
        } else {
            f[0].into()
        },
        groups: if f[1] == "-" {
            vec![]
        } else {
            f[1].split(',').map(str::to_string).collect()
        },
        ..Default::default()
    };
    if f[3].starts_with('/') {
        return Attributes {
            user,
            verb: f[2].into(),
            path: f[3].into(),
            ..Default::default()
        };
    }
    let (resource, sub) = f[3].split_once('/').unwrap_or((f[3], ""));
    Attributes {
        user,
        verb: f[2].into(),
        resource_request: true,
        resource: resource.into(),
        subresource: sub.into(),
        namespace: f.get(4).map(|n| n.to_string()).unwrap_or_default(),
        ..Default::default()
    }
}

struct Case {
    cluster_roles: &'static [(&'static str, &'static str)],
    /// (namespace, cluster role, subjects)
    role_bindings: &'static [(&'static str, &'static str, &'static [&'static str])],
    cluster_role_bindings: &'static [(&'static str, &'static [&'static str])],
    pass: &'static [&'static str],
    fail: &'static [&'static str],
}

const AUTHORIZER: &[Case] = &[
    Case {
        cluster_roles: &[("admin", "* * * *")],
        role_bindings: &[("ns1", "admin", &["User:admin", "Group:admins"])],
        cluster_role_bindings: &[],
        pass: &[
            "admin - get Pods ns1",
            "admin - watch Pods ns1",
            "admin group1 watch Foobar ns1",
            "joe admins watch Foobar ns1",
            "joe group1,admins watch Foobar ns1",
        ],
        fail: &[
            "admin - GET Pods ns2",
            "admin - GET Nodes",
            "admin admins GET Pods ns2",
            "admin admins GET Nodes",
        ],
    },
    Case {
        cluster_roles: &[
            ("non-resource-url-getter", "get \"\" \"\" /apis"),
            ("non-resource-url", "* \"\" \"\" /apis"),
            ("non-resource-url-prefix", "get \"\" \"\" /apis/*"),
        ],
        role_bindings: &[],
        cluster_role_bindings: &[
            ("non-resource-url-getter", &["User:foo", "Group:bar"]),
            ("non-resource-url", &["User:admin", "Group:admin"]),
            (
                "non-resource-url-prefix",
                &["User:prefixed", "Group:prefixed"],
            ),
        ],
        pass: &[
            "foo - get /apis",
            "- bar get /apis",
            "admin - get /apis",
            "- admin get /apis",
            "admin - watch /apis",
            "- admin watch /apis",
            "prefixed - get /apis/v1",
            "- prefixed get /apis/v1",
            "prefixed - get /apis/v1/foobar",
            "- prefixed get /apis/v1/foorbar",
        ],
        fail: &[
            "foo - watch /apis",
            "- bar watch /apis",
            "foo - get /api/v1",
            "- bar get /api/v1",
            "admin - get /api/v1",
            "- admin get /api/v1",
            "prefixed - get /api/v1",
            "- prefixed get /api/v1",
        ],
    },
    Case {
        cluster_roles: &[("admin", "* * pods *")],
        role_bindings: &[("ns1", "admin", &["User:admin", "Group:admins"])],
        cluster_role_bindings: &[],
        pass: &["admin - get pods ns1"],
        fail: &["admin - get pods/status ns1"],
    },
    Case {
        cluster_roles: &[("admin", "* * pods/status *")],
        role_bindings: &[("ns1", "admin", &["User:admin", "Group:admins"])],
        cluster_role_bindings: &[],
        pass: &["admin - get pods/status ns1"],
        fail: &["admin - get pods ns1"],
    },
];

#[test]
fn upstream_authorizer_cases_on_both_evaluators() {
    for (i, case) in AUTHORIZER.iter().enumerate() {
        let mut p = Policy::default();
        for (name, r) in case.cluster_roles {
            p.cluster_roles
                .insert(name.to_string(), Arc::new(vec![rule(r)]));
        }
        for (j, (ns, role, subs)) in case.role_bindings.iter().enumerate() {
            let name = format!("rb{j}");
            let role_ref = RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: role.to_string(),
            };
            p.role_bindings.insert(
                (ns.to_string(), name.clone()),
                Binding {
                    namespace: ns.to_string(),
                    name,
                    subjects: subjects(subs),
                    role_ref,
                },
            );
        }
        for (j, (role, subs)) in case.cluster_role_bindings.iter().enumerate() {
            let name = format!("crb{j}");
            let role_ref = RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "ClusterRole".into(),
                name: role.to_string(),
            };
            p.cluster_role_bindings.insert(
                name.clone(),
                Binding {
                    namespace: String::new(),
                    name,
                    subjects: subjects(subs),
                    role_ref,
                },
            );
        }
        let idx = Index::from_policy(&p);
        for (attrs, want) in case
            .pass
            .iter()
            .map(|a| (a, true))
            .chain(case.fail.iter().map(|a| (a, false)))
        {
            let a = attributes(attrs);
            assert_eq!(
                rbac::reference::authorize(&p, &a).allowed(),
                want,
                "case {i} reference: {attrs}"
            );
            assert_eq!(
                idx.authorize(&a).allowed(),
                want,
                "case {i} indexed: {attrs}"
            );
        }
    }
}

/// `groups verbs resources names urls` per rule (comma lists, `-` for none), `;` between rules.
fn rules(spec: &str) -> Vec<PolicyRule> {
    spec.split(';')
        .map(|r| {
            let f: Vec<&str> = r.split_whitespace().collect();
            PolicyRule {
                api_groups: list(f[0]),
                verbs: list(f[1]),
                resources: list(f[2]),
                resource_names: list(f[3]),
                non_resource_urls: list(f[4]),
            }
        })
        .collect()
}

/// `policy_comparator_test.go`: (owner rules, servant rules, uncovered rules; "" = covered).
const COVERS: &[(&str, &str, &str)] = &[
    ("v1 get builds - -", "v1 get builds - -", ""),
    ("v1 get */scale - -", "v1 get foo/scale - -", ""),
    ("v1 delete deployments - -; v1 delete builds - -; v1 update builds,deployments - -", "v1 delete,update builds,deployments - -", ""),
    (
        "group1 delete deployments - -; group1 delete builds - -; group1 update builds,deployments - -; group2 delete deployments - -; group2 delete builds - -; group2 update builds,deployments - -",
        "group1,group2 delete,update builds,deployments - -",
        "",
    ),
    (
        "group1,group2 delete,update builds,deployments - -",
        "group1 delete deployments - -; group1 delete builds - -; group1 update builds,deployments - -; group2 delete deployments - -; group2 delete builds - -; group2 update builds,deployments - -",
        "",
    ),
    ("v1 delete,update builds,deployments - -; v1 delete pods - -", "v1 delete,update builds,deployments,pods - -", "v1 update pods - -"),
    ("* get roles - -", "group1,group2 get roles - -", ""),
    ("dummy-group get roles - -", "* get roles - -", "* get roles - -"),
    ("* get roles - -", "* get roles - -", ""),
    ("v1 * roles - -", "v1 watch,list roles - -", ""),
    ("v1 get,list,watch,create,update,delete,exec roles - -", "v1 * roles - -", "v1 * roles - -"),
    ("v1 * roles - -", "v1 * roles - -", ""),
    ("v1 get * - -", "v1 get resourcegroup:deployments - -", ""),
    ("v1 get roles,resourcegroup:deployments - -", "v1 get * - -", "v1 get * - -"),
    ("v1 get * - -", "v1 get * - -", ""),
    ("v1 get pods - -", "v1 get pods foo,bar -", ""),
    ("v1 get pods foo,bar -", "v1 get pods - -", "v1 get pods - -"),
    ("- * - - /apis", "- * - - /apis", ""),
    ("- * - - *", "- * - - /apis,/apis/v1,/", ""),
    ("- * - - /apis/*", "- get - - /apis,/apis/v1", "- get - - /apis"),
    ("- * - - /apis/*", "- get - - /apis/v1/foo,/apis/v1", ""),
    ("v1 get builds - /apis", "v1 get builds - /apis", ""),
    ("v1 get builds - -", "v1 get builds - /apis", "- get - - /apis"),
];

#[test]
fn upstream_covers_cases() {
    use authz::escalation::{compact_string, uncovered};
    for (owner, servant, want) in COVERS {
        let got: Vec<String> = uncovered(&rules(owner), &rules(servant))
            .iter()
            .map(compact_string)
            .collect();
        let want: Vec<String> = if want.is_empty() {
            vec![]
        } else {
            rules(want).iter().map(compact_string).collect()
        };
        assert_eq!(got, want, "owner {owner} / servant {servant}");
    }
    assert_eq!(COVERS.len(), 23);
}

/// The shape of upstream's TestDefaultRuleResolver: which rules apply to a user in a namespace.
#[test]
fn rules_for_a_user_in_a_namespace() {
    let mut p = Policy::default();
    p.cluster_roles
        .insert("cluster-reader".into(), Arc::new(vec![rule("get * * -")]));
    p.cluster_roles.insert(
        "ns-writer".into(),
        Arc::new(vec![rule("create \"\" pods -")]),
    );
    let crr = RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: "ClusterRole".into(),
        name: "cluster-reader".into(),
    };
    let nsw = RoleRef {
        name: "ns-writer".into(),
        ..crr.clone()
    };
    p.cluster_role_bindings.insert(
        "crb".into(),
        Binding {
            namespace: String::new(),
            name: "crb".into(),
            subjects: subjects(&["User:foo"]),
            role_ref: crr,
        },
    );
    p.role_bindings.insert(
        ("ns1".into(), "rb".into()),
        Binding {
            namespace: "ns1".into(),
            name: "rb".into(),
            subjects: subjects(&["User:foo"]),
            role_ref: nsw,
        },
    );
    let idx = Index::from_policy(&p);
    let foo = UserInfo {
        name: "foo".into(),
        ..Default::default()
    };
    let count = |u: &UserInfo, ns: &str| idx.rules_for(u, ns).0.len();
    assert_eq!(
        count(&foo, "ns1"),
        2,
        "cluster-wide rules plus those bound in the namespace"
    );
    assert_eq!(
        count(&foo, "ns2"),
        1,
        "a RoleBinding applies only in its namespace"
    );
    assert_eq!(
        count(&foo, ""),
        1,
        "cluster scope sees only ClusterRoleBindings"
    );
    assert_eq!(
        count(&UserInfo::default(), "ns1"),
        0,
        "nothing for an empty user"
    );
}
