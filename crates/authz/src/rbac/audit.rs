//! Permissions that amount to privilege, found in a [`Policy`]: the rule families of
//! rbac-police and KubiScan (read secrets, create pods or exec into them, bind or escalate
//! roles, impersonate, mint service-account tokens, everything on everything, the node proxy,
//! CSR approval, admission webhooks, anything held by anonymous users), each finding with the
//! path that grants it; and the multi-hop paths behind them — a subject that can create pods
//! or mint tokens in a namespace (or read its secrets, the legacy token Secrets among them) acts
//! as that namespace's service accounts, one that can impersonate acts as its targets —
//! followed, shortest first, to cluster-admin's powers, system:masters or kube-system's
//! secrets.
//!
//! Matching is the authorizer's own ([`rule_allows`]), so wildcards, resourceNames and
//! subresources count exactly as they do for a request.

use super::{rule_allows, Binding, Policy, PolicyRule, Subject};
use crate::Attributes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Expected (the bootstrap policy's own grants).
    Info,
    /// Worth a look.
    Low,
    /// Widens what a subject can reach.
    Medium,
    /// Leads to others' credentials or workloads.
    High,
    /// Amounts to cluster-admin.
    Critical,
}

impl Severity {
    /// The lower-case name (`--fail-on high`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Info,
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.name() == s)
    }
}

/// One rule family: its ID, what it means, and the requests that show it.
pub struct Check {
    /// A stable ID (`KW001`).
    pub id: &'static str,
    /// A short name.
    pub name: &'static str,
    /// Severity when held in one namespace.
    pub namespaced: Severity,
    /// Severity when held cluster-wide.
    pub cluster: Severity,
    /// Why it matters.
    pub why: &'static str,
    /// (verb, group, resource, subresource): holding any one is the finding.
    pub probes: &'static [(&'static str, &'static str, &'static str, &'static str)],
}

/// The built-in checks.
pub const CHECKS: &[Check] = &[
    Check {
        id: "KW001",
        name: "read-secrets",
        namespaced: Severity::High,
        cluster: Severity::Critical,
        why: "secrets hold credentials, service-account tokens among them",
        probes: &[
            ("get", "", "secrets", ""),
            ("list", "", "secrets", ""),
            ("watch", "", "secrets", ""),
        ],
    },
    Check {
        id: "KW002",
        name: "create-pods",
        namespaced: Severity::High,
        cluster: Severity::Critical,
        why: "a pod can mount any service account of its namespace, and so act as it",
        probes: &[("create", "", "pods", "")],
    },
    Check {
        id: "KW003",
        name: "exec-into-pods",
        namespaced: Severity::High,
        cluster: Severity::Critical,
        why: "exec, attach and ephemeral containers reach a running pod's token and data",
        probes: &[
            ("create", "", "pods", "exec"),
            ("get", "", "pods", "exec"),
            ("create", "", "pods", "attach"),
            ("get", "", "pods", "attach"),
            ("update", "", "pods", "ephemeralcontainers"),
            ("patch", "", "pods", "ephemeralcontainers"),
        ],
    },
    Check {
        id: "KW004",
        name: "bind-or-escalate",
        namespaced: Severity::High,
        cluster: Severity::Critical,
        why: "bind and escalate lift RBAC's escalation check: any role can be granted",
        probes: &[
            ("bind", "rbac.authorization.k8s.io", "roles", ""),
            ("bind", "rbac.authorization.k8s.io", "clusterroles", ""),
            ("escalate", "rbac.authorization.k8s.io", "roles", ""),
            ("escalate", "rbac.authorization.k8s.io", "clusterroles", ""),
        ],
    },
    Check {
        id: "KW005",
        name: "impersonate",
        namespaced: Severity::High,
        cluster: Severity::Critical,
        why: "impersonation acts as another user, group or service account",
        probes: &[
            ("impersonate", "", "users", ""),
            ("impersonate", "", "groups", ""),
            ("impersonate", "", "serviceaccounts", ""),
        ],
    },
    Check {
        id: "KW006",
        name: "mint-service-account-tokens",
        namespaced: Severity::High,
        cluster: Severity::Critical,
        why: "a TokenRequest gives a token of the service account",
        probes: &[("create", "", "serviceaccounts", "token")],
    },
    Check {
        id: "KW007",
        name: "everything",
        namespaced: Severity::High,
        cluster: Severity::Critical,
        why: "every verb on every resource",
        probes: &[("*", "*", "*", "")],
    },
    Check {
        id: "KW008",
        name: "node-proxy",
        namespaced: Severity::Critical,
        cluster: Severity::Critical,
        why: "the node proxy reaches the kubelet API: exec in any pod on the node",
        probes: &[
            ("get", "", "nodes", "proxy"),
            ("create", "", "nodes", "proxy"),
        ],
    },
    Check {
        id: "KW009",
        name: "approve-csrs",
        namespaced: Severity::High,
        cluster: Severity::High,
        why: "approving certificate requests issues client certificates, for any name",
        probes: &[(
            "update",
            "certificates.k8s.io",
            "certificatesigningrequests",
            "approval",
        )],
    },
    Check {
        id: "KW010",
        name: "admission-webhooks",
        namespaced: Severity::High,
        cluster: Severity::High,
        why: "a webhook sees, and a mutating one rewrites, every request it matches",
        probes: &[
            (
                "create",
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                "",
            ),
            (
                "update",
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                "",
            ),
            (
                "patch",
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                "",
            ),
            (
                "create",
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                "",
            ),
            (
                "update",
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                "",
            ),
            (
                "patch",
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                "",
            ),
        ],
    },
];

/// A step of a finding's path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Step {
    /// `User`, `Group`, `ServiceAccount`, `RoleBinding`, `ClusterRoleBinding`, `Role`,
    /// `ClusterRole`, or `Rule`.
    pub kind: String,
    /// The namespace ("" for cluster objects and users).
    pub namespace: String,
    /// The name (for a rule, its index in the role).
    pub name: String,
}

fn step(kind: &str, namespace: &str, name: &str) -> Step {
    Step {
        kind: kind.into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The check's ID (`KW001`), or `KW100` for a multi-hop path.
    pub id: String,
    /// The check's name.
    pub name: String,
    /// How much it matters.
    pub severity: Severity,
    /// Who holds it, as RBAC names users (`system:serviceaccount:NS:NAME` for a service
    /// account), with `Group`/`User`/`ServiceAccount` as its kind.
    pub subject_kind: String,
    /// The subject's name, as RBAC names it.
    pub subject: String,
    /// Where it holds it ("" cluster-wide).
    pub namespace: String,
    /// The path: subject → binding → role → rule (→ the next subject ...).
    pub path: Vec<Step>,
    /// One line saying what it is.
    pub message: String,
    /// The resourceNames it is limited to (empty: any name).
    pub names: Vec<String>,
}

/// A subject as RBAC names the user it matches.
fn subject_name(s: &Subject, binding_ns: &str) -> Option<(String, String)> {
    match s.kind.as_str() {
        "User" | "Group" => Some((s.kind.clone(), s.name.clone())),
        "ServiceAccount" => {
            let ns = if s.namespace.is_empty() {
                binding_ns
            } else {
                &s.namespace
            };
            (!ns.is_empty()).then(|| {
                (
                    "ServiceAccount".to_string(),
                    format!("system:serviceaccount:{ns}:{}", s.name),
                )
            })
        }
        _ => None,
    }
}

fn subject_step(kind: &str, name: &str) -> Step {
    match super::split_service_account(name) {
        Some((ns, n)) if kind == "ServiceAccount" => step("ServiceAccount", ns, n),
        _ => step(kind, "", name),
    }
}

/// The first rule of `rules` allowing the probe in `namespace`, if any; else the first that
/// would but for its resourceNames (`Some((i, true))`: held for those names only).
fn first_allowing(
    rules: &[PolicyRule],
    probe: &(&str, &str, &str, &str),
    namespace: &str,
) -> Option<(usize, bool)> {
    let a = Attributes {
        verb: probe.0.into(),
        resource_request: true,
        namespace: namespace.into(),
        api_group: probe.1.into(),
        resource: probe.2.into(),
        subresource: probe.3.into(),
        ..Default::default()
    };
    if let Some(i) = rules.iter().position(|r| rule_allows(&a, r)) {
        return Some((i, false));
    }
    rules
        .iter()
        .position(|r| super::explain::lacks(&a, r) == [super::explain::Lack::ResourceName])
        .map(|i| (i, true))
}

fn binding_steps(b: &Binding, rule: usize) -> [Step; 3] {
    let (bk, rk_ns) = if b.namespace.is_empty() {
        ("ClusterRoleBinding", "")
    } else {
        ("RoleBinding", b.namespace.as_str())
    };
    let role_ns = if b.role_ref.kind == "Role" { rk_ns } else { "" };
    [
        step(bk, &b.namespace, &b.name),
        step(&b.role_ref.kind, role_ns, &b.role_ref.name),
        step("Rule", "", &rule.to_string()),
    ]
}

/// Every binding of the policy, cluster ones first.
fn bindings(policy: &Policy) -> impl Iterator<Item = &Binding> {
    policy
        .cluster_role_bindings
        .values()
        .chain(policy.role_bindings.values())
}

/// The single-rule findings: for each check, each binding whose role holds a probe (in the
/// binding's namespace for a RoleBinding), a finding per subject. `expected` says whether a
/// binding is the bootstrap policy's own (its findings are Info).
pub fn findings(policy: &Policy, expected: &dyn Fn(&Binding) -> bool) -> Vec<Finding> {
    let mut out = Vec::new();
    for check in CHECKS {
        for b in bindings(policy) {
            let Ok(rules) = policy.resolve(b) else {
                continue;
            };
            // Unrestricted first; a grant limited to resourceNames only when there is none.
            let found = check
                .probes
                .iter()
                .filter_map(|p| first_allowing(rules, p, &b.namespace))
                .min_by_key(|(_, named)| *named);
            let Some((rule, named)) = found else {
                continue;
            };
            let severity = if expected(b) {
                Severity::Info
            } else if named {
                // Limited to the names the rule lists: less, not nothing (a named secret, a
                // named user to impersonate).
                Severity::Medium
            } else if b.namespace.is_empty() {
                check.cluster
            } else {
                check.namespaced
            };
            for s in &b.subjects {
                let Some((kind, name)) = subject_name(s, &b.namespace) else {
                    continue;
                };
                let mut path = vec![subject_step(&kind, &name)];
                path.extend(binding_steps(b, rule));
                let scope = if b.namespace.is_empty() {
                    "cluster-wide".to_string()
                } else {
                    format!("in namespace {:?}", b.namespace)
                };
                let only = if named {
                    format!(
                        " (only for the names {})",
                        rules[rule].resource_names.join(", ")
                    )
                } else {
                    String::new()
                };
                out.push(Finding {
                    id: check.id.into(),
                    name: check.name.into(),
                    severity,
                    subject_kind: kind,
                    subject: name.clone(),
                    namespace: b.namespace.clone(),
                    path,
                    message: format!("{name} may {} {scope}{only}: {}", check.name, check.why),
                    names: if named {
                        rules[rule].resource_names.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
        }
    }
    // KW011: anything at all granted to anonymous requests, beyond the bootstrap policy's.
    for b in bindings(policy).filter(|b| !expected(b)) {
        let Ok(rules) = policy.resolve(b) else {
            continue;
        };
        if rules.is_empty() {
            continue;
        }
        for s in &b.subjects {
            let anonymous = (s.kind == "User" && s.name == "system:anonymous")
                || (s.kind == "Group" && s.name == "system:unauthenticated");
            if !anonymous {
                continue;
            }
            let mut path = vec![subject_step(&s.kind, &s.name)];
            path.extend(binding_steps(b, 0));
            out.push(Finding {
                id: "KW011".into(),
                name: "anonymous-access".into(),
                severity: if b.namespace.is_empty() {
                    Severity::Critical
                } else {
                    Severity::High
                },
                subject_kind: s.kind.clone(),
                subject: s.name.clone(),
                namespace: b.namespace.clone(),
                path,
                message: format!(
                    "{} holds {} {:?}: anyone who can reach the server may use it",
                    s.name, b.role_ref.kind, b.role_ref.name
                ),
                names: Vec::new(),
            });
        }
    }
    out
}

/// A node of the privilege graph: a user name or a group (or one standing for a namespace's
/// service accounts, or all namespaces').
type Node = (String, String);

const NAMESPACE: &str = "(namespace)";
const ALL_NAMESPACES: &str = "(all namespaces)";

fn is_virtual(n: &Node) -> bool {
    n.0 == NAMESPACE || n.0 == ALL_NAMESPACES
}

/// The multi-hop paths: from each subject not `expected` (not the bootstrap policy's own),
/// the shortest chain of "acts as" steps (creating pods, exec-ing into them, minting tokens or
/// reading the token Secrets in a namespace acts as its service accounts; impersonating acts
/// as the users and groups it may name) to a sink: a subject holding a cluster-wide Critical
/// finding, one that may read every secret of kube-system, or `system:masters`. Every path of at
/// least one such step is reported: creating pods where a service account is cluster-admin
/// is one step, and cluster-admin in effect.
pub fn paths(
    policy: &Policy,
    single: &[Finding],
    expected: &dyn Fn(&Binding) -> bool,
) -> Vec<Finding> {
    // Service accounts that any binding names, by namespace: those whose rights a pod or a
    // token would carry.
    let mut service_accounts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for b in bindings(policy) {
        for s in &b.subjects {
            if let Some((kind, name)) = subject_name(s, &b.namespace) {
                if kind == "ServiceAccount" {
                    if let Some((ns, _)) = super::split_service_account(&name) {
                        service_accounts
                            .entry(ns.to_string())
                            .or_default()
                            .insert(name.clone());
                    }
                }
            }
        }
    }
    // Edges: who may act as whom, and through which finding.
    // A pod or a token in a namespace goes through a node standing for the namespace's
    // service accounts (and a cluster-wide grant through one for all namespaces), so a grant
    // is one edge however many accounts there are. Those nodes have no finding of their own.
    let mut edges: BTreeMap<Node, Vec<(Node, Option<&Finding>)>> = BTreeMap::new();
    for f in single.iter().filter(|f| f.severity != Severity::Info) {
        let from = (f.subject_kind.clone(), f.subject.clone());
        let targets: Vec<Node> = match f.name.as_str() {
            // Limited to names: those service accounts' tokens, those users and groups.
            "mint-service-account-tokens" if !f.names.is_empty() => f
                .names
                .iter()
                .map(|n| {
                    let sa = format!("system:serviceaccount:{}:{n}", f.namespace);
                    ("ServiceAccount".to_string(), sa)
                })
                .collect(),
            "impersonate" if !f.names.is_empty() => f
                .names
                .iter()
                .flat_map(|n| {
                    [
                        ("User".to_string(), n.clone()),
                        ("Group".to_string(), n.clone()),
                    ]
                })
                .collect(),
            _ if !f.names.is_empty() => Vec::new(),
            // Reading secrets reads the namespace's legacy token Secrets
            // (`kubernetes.io/service-account-token`, still filled in by the token
            // controller when anyone creates one; one per account with
            // --legacy-token-secrets): it acts as their service accounts.
            "create-pods" | "mint-service-account-tokens" | "exec-into-pods" | "read-secrets" => {
                if f.namespace.is_empty() {
                    vec![(ALL_NAMESPACES.to_string(), String::new())]
                } else {
                    vec![(NAMESPACE.to_string(), f.namespace.clone())]
                }
            }
            // Impersonation, unrestricted by name: anyone, system:masters among groups.
            "impersonate" => vec![("Group".to_string(), "system:masters".to_string())],
            _ => Vec::new(),
        };
        for t in targets {
            if t != from {
                edges.entry(from.clone()).or_default().push((t, Some(f)));
            }
        }
    }
    for (ns, accounts) in &service_accounts {
        let node = (NAMESPACE.to_string(), ns.clone());
        edges
            .entry((ALL_NAMESPACES.to_string(), String::new()))
            .or_default()
            .push((node.clone(), None));
        for sa in accounts {
            edges
                .entry(node.clone())
                .or_default()
                .push((("ServiceAccount".to_string(), sa.clone()), None));
        }
    }
    // Sinks: a subject with a cluster-wide Critical finding, or system:masters itself.
    // Sinks, with what makes each one: a subject with a cluster-wide Critical finding
    // (cluster-admin's powers), one that may read every secret of kube-system (the control
    // plane's credentials), and system:masters itself.
    let mut sinks: BTreeMap<Node, String> = BTreeMap::new();
    for f in single {
        let node = (f.subject_kind.clone(), f.subject.clone());
        if f.severity == Severity::Critical && f.namespace.is_empty() {
            // "everything" says cluster-admin best; else the first such finding.
            let what = format!("{} ({})", f.name, f.id);
            if f.name == "everything" {
                sinks.insert(node, what);
            } else {
                sinks.entry(node).or_insert(what);
            }
        } else if f.name == "read-secrets" && f.namespace == "kube-system" && f.names.is_empty() {
            sinks
                .entry(node)
                .or_insert_with(|| format!("{} in kube-system ({})", f.name, f.id));
        }
    }
    sinks.insert(
        ("Group".into(), "system:masters".into()),
        "system:masters".into(),
    );
    let starts: BTreeSet<Node> = bindings(policy)
        .filter(|b| !expected(b))
        .flat_map(|b| {
            b.subjects
                .iter()
                .filter_map(|s| subject_name(s, &b.namespace))
                .collect::<Vec<_>>()
        })
        .collect();
    // Breadth first from every sink at once, along the edges reversed: each node learns its
    // next step on a shortest path to the nearest sink, in time linear in the graph.
    let mut reverse: BTreeMap<&Node, Vec<(&Node, Option<&Finding>)>> = BTreeMap::new();
    for (from, out_edges) in &edges {
        for (to, f) in out_edges {
            reverse.entry(to).or_default().push((from, *f));
        }
    }
    let mut next: BTreeMap<&Node, (&Node, Option<&Finding>)> = BTreeMap::new();
    let mut seen: BTreeSet<&Node> = sinks.keys().collect();
    let mut queue: VecDeque<&Node> = sinks.keys().collect();
    while let Some(n) = queue.pop_front() {
        for (from, f) in reverse.get(n).into_iter().flatten() {
            if seen.insert(from) {
                next.insert(from, (n, *f));
                queue.push_back(from);
            }
        }
    }
    let mut out = Vec::new();
    for start in starts {
        if sinks.contains_key(&start) {
            continue;
        }
        // The chain of steps, a finding paired with the subject it reaches (past the
        // namespace nodes in between).
        let mut hops: Vec<(&Finding, Node)> = Vec::new();
        let mut pending: Option<&Finding> = None;
        let mut at = &start;
        while let Some((to, f)) = next.get(at) {
            if f.is_some() {
                pending = *f;
            }
            if !is_virtual(to) {
                if let Some(f) = pending.take() {
                    hops.push((f, (*to).clone()));
                }
            }
            at = to;
        }
        let Some(end) = hops.last().map(|(_, n)| n.clone()) else {
            continue;
        };
        let mut path = Vec::new();
        let mut via = Vec::new();
        for (i, (f, to)) in hops.iter().enumerate() {
            // Each hop's finding starts with its subject: the previous hop's end.
            path.extend(f.path.iter().skip(usize::from(i > 0)).cloned());
            path.push(subject_step(&to.0, &to.1));
            via.push(format!("{} ({})", f.name, f.id));
        }
        out.push(Finding {
            id: "KW100".into(),
            name: "escalation-path".into(),
            severity: Severity::Critical,
            subject_kind: start.0.clone(),
            subject: start.1.clone(),
            namespace: String::new(),
            path,
            message: format!(
                "{} reaches {} {} (holding {}) in {} hop(s): {}",
                start.1,
                end.0,
                end.1,
                sinks.get(&end).map_or("", String::as_str),
                hops.len(),
                via.join(" → ")
            ),
            names: Vec::new(),
        });
    }
    out
}

/// Every finding: the single-rule ones and the multi-hop paths from them (what audit-rbac
/// reports before its filters, and what the RBAC map lists).
pub fn all_findings(policy: &Policy, expected: &dyn Fn(&Binding) -> bool) -> Vec<Finding> {
    let single = findings(policy, expected);
    let mut all = paths(policy, &single, expected);
    all.extend(single);
    all
}

/// The order findings are listed in: the most severe first, then by check, subject and path.
pub fn report_order(a: &Finding, b: &Finding) -> std::cmp::Ordering {
    b.severity
        .cmp(&a.severity)
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| a.subject.cmp(&b.subject))
        .then_with(|| a.path.cmp(&b.path))
}
