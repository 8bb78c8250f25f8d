//! Why a request is allowed or denied, from the same rules the authorizer matches: every
//! binding → role → rule that grants it, or, when nothing does, the nearest misses (a rule
//! bound to this subject that lacks only the verb, the resource, the name...; a binding in
//! another namespace; a binding to a role that does not exist) and the smallest Role and
//! binding that would allow it. Plain functions over a [`Policy`]: the server, the CLI and
//! the offline mode all ask here.

use super::{applies_to, rule_allows, split_service_account, Binding, Policy, PolicyRule, Subject};
use crate::Attributes;

/// How many misses an explanation lists.
pub const MAX_MISSES: usize = 5;

/// A binding and the role it names, as a path step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// The binding's namespace ("" for a ClusterRoleBinding).
    pub binding_namespace: String,
    /// The binding's name.
    pub binding_name: String,
    /// The subject of the binding that names the requester.
    pub subject: Subject,
    /// `Role` or `ClusterRole`.
    pub role_kind: String,
    /// The role's name.
    pub role_name: String,
}

/// One rule that allows the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Through which binding and role.
    pub via: Via,
    /// The rule's position in the role.
    pub rule_index: usize,
    /// The rule.
    pub rule: PolicyRule,
}

/// What keeps a rule (or binding) from allowing the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lack {
    /// The rule's verbs do not include the request's.
    Verb,
    /// Its API groups do not include the request's.
    ApiGroup,
    /// Its resources do not include the request's resource (and subresource).
    Resource,
    /// It is limited to names the request's is not among (or the request names none).
    ResourceName,
    /// Its non-resource URLs do not cover the request's path.
    NonResourceUrl,
    /// It is a resource rule and the request is for a URL, or the other way round.
    RuleKind,
    /// The binding is a RoleBinding in this other namespace.
    Namespace(String),
    /// The binding's role does not exist (the error upstream's walk records).
    MissingRole(String),
}

impl Lack {
    /// How far this lack puts a rule from the request, for ranking misses: a name not listed
    /// is nearest (the rule is about this very resource), then a verb, group, namespace or
    /// missing role, then a different resource or URL, and a rule of the other kind is
    /// farthest.
    pub fn weight(&self) -> usize {
        match self {
            Lack::ResourceName => 1,
            Lack::Verb | Lack::ApiGroup | Lack::Namespace(_) | Lack::MissingRole(_) => 2,
            Lack::Resource | Lack::NonResourceUrl => 3,
            Lack::RuleKind => 4,
        }
    }
}

/// A rule bound to the requester that does not allow the request, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Miss {
    /// Through which binding and role.
    pub via: Via,
    /// The rule and its position (None when the role is missing).
    pub rule: Option<(usize, PolicyRule)>,
    /// Everything it lacks, at least one.
    pub lacks: Vec<Lack>,
}

impl Miss {
    /// The sum of its lacks' weights: misses are listed nearest first.
    pub fn distance(&self) -> usize {
        self.lacks.iter().map(Lack::weight).sum()
    }
}

/// The smallest grant that would allow the request: one rule in a Role (namespaced request)
/// or ClusterRole, bound to the requester alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// The namespace of the Role and RoleBinding ("": a ClusterRole and ClusterRoleBinding).
    pub namespace: String,
    /// The name for both objects.
    pub name: String,
    /// The one rule.
    pub rule: PolicyRule,
    /// The requester, as a binding names it.
    pub subject: Subject,
}

/// A decision explained.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Explanation {
    /// Allowed (by RBAC, or by membership of `system:masters`).
    pub allowed: bool,
    /// Allowed because the requester is in `system:masters`, before RBAC is asked.
    pub privileged: bool,
    /// Every rule that allows it, in the authorizer's walk order (the first is the one its
    /// reason names).
    pub grants: Vec<Grant>,
    /// When denied: the nearest misses ([`Miss::distance`]), at most [`MAX_MISSES`].
    pub misses: Vec<Miss>,
    /// When denied: what would allow it.
    pub suggestion: Option<Suggestion>,
}

/// What a rule lacks for the request (empty: it allows it). Exactly the negation of
/// [`rule_allows`], dimension by dimension.
pub fn lacks(a: &Attributes, rule: &PolicyRule) -> Vec<Lack> {
    let has = |list: &[String], v: &str| list.iter().any(|x| x == "*" || x == v);
    let mut out = Vec::new();
    if !has(&rule.verbs, &a.verb) {
        out.push(Lack::Verb);
    }
    if a.resource_request {
        if rule.resources.is_empty() && !rule.non_resource_urls.is_empty() {
            out.push(Lack::RuleKind);
            return out;
        }
        if !has(&rule.api_groups, &a.api_group) {
            out.push(Lack::ApiGroup);
        }
        // The resource dimension alone: a rule like this one with every verb, group and name.
        let resource_only = PolicyRule {
            verbs: vec!["*".into()],
            api_groups: vec!["*".into()],
            resources: rule.resources.clone(),
            ..Default::default()
        };
        if !rule_allows(a, &resource_only) {
            out.push(Lack::Resource);
        }
        if !rule.resource_names.is_empty() && !rule.resource_names.contains(&a.name) {
            out.push(Lack::ResourceName);
        }
    } else {
        if rule.non_resource_urls.is_empty() && !rule.resources.is_empty() {
            out.push(Lack::RuleKind);
            return out;
        }
        let url_only = PolicyRule {
            verbs: vec!["*".into()],
            non_resource_urls: rule.non_resource_urls.clone(),
            ..Default::default()
        };
        if !rule_allows(a, &url_only) {
            out.push(Lack::NonResourceUrl);
        }
    }
    out
}

fn via(b: &Binding, subject: &Subject) -> Via {
    Via {
        binding_namespace: b.namespace.clone(),
        binding_name: b.name.clone(),
        subject: subject.clone(),
        role_kind: b.role_ref.kind.clone(),
        role_name: b.role_ref.name.clone(),
    }
}

/// Explains the decision for `a` under `policy`, as the authorizer chain makes it
/// (`system:masters` first, then RBAC's walk: ClusterRoleBindings, then the RoleBindings of
/// the request's namespace).
pub fn explain(policy: &Policy, a: &Attributes) -> Explanation {
    let mut e = Explanation::default();
    if a.user.in_group("system:masters") {
        e.allowed = true;
        e.privileged = true;
    }
    let mut misses = Vec::new();
    let in_scope = |b: &Binding| b.namespace.is_empty() || b.namespace == a.namespace;
    for b in policy
        .cluster_role_bindings
        .values()
        .chain(policy.role_bindings.values())
    {
        let Some(i) = applies_to(&a.user, &b.subjects, &b.namespace) else {
            continue;
        };
        let v = via(b, &b.subjects[i]);
        let elsewhere = (!in_scope(b)).then(|| Lack::Namespace(b.namespace.clone()));
        match policy.resolve(b) {
            Err(msg) => misses.push(Miss {
                via: v,
                rule: None,
                lacks: elsewhere
                    .into_iter()
                    .chain([Lack::MissingRole(msg)])
                    .collect(),
            }),
            Ok(rules) => {
                for (ri, rule) in rules.iter().enumerate() {
                    let mut l = lacks(a, rule);
                    if l.is_empty() && elsewhere.is_none() {
                        e.grants.push(Grant {
                            via: v.clone(),
                            rule_index: ri,
                            rule: rule.clone(),
                        });
                        continue;
                    }
                    l.extend(elsewhere.clone());
                    misses.push(Miss {
                        via: v.clone(),
                        rule: Some((ri, rule.clone())),
                        lacks: l,
                    });
                }
            }
        }
    }
    if !e.grants.is_empty() {
        e.allowed = true;
    }
    if !e.allowed {
        // A rule of the other kind (URLs for a resource request) says nothing useful while
        // there is a nearer miss.
        if misses.iter().any(|m| !m.lacks.contains(&Lack::RuleKind)) {
            misses.retain(|m| !m.lacks.contains(&Lack::RuleKind));
        }
        // Stable: the walk order among equally near misses.
        misses.sort_by_key(Miss::distance);
        misses.truncate(MAX_MISSES);
        e.misses = misses;
        e.suggestion = Some(suggest(a));
    }
    e
}

/// The requester as a binding's subject: a service account's user name as a ServiceAccount,
/// anyone else as a User.
pub fn subject_of(user: &str) -> Subject {
    match split_service_account(user) {
        Some((ns, name)) => Subject {
            kind: "ServiceAccount".into(),
            api_group: String::new(),
            name: name.into(),
            namespace: ns.into(),
        },
        None => Subject {
            kind: "User".into(),
            api_group: "rbac.authorization.k8s.io".into(),
            name: user.into(),
            namespace: String::new(),
        },
    }
}

/// A DNS-1123 subdomain made from `parts`: lower case, `[a-z0-9.-]`, joined by `-`.
fn object_name(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts.iter().filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push('-');
        }
        for c in p.chars() {
            let c = c.to_ascii_lowercase();
            out.push(if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            });
        }
    }
    let mut name: String = out.chars().take(253).collect();
    while name.ends_with(['-', '.']) {
        name.pop();
    }
    name
}

/// The smallest grant for exactly this request: its verb, its group and resource (with the
/// subresource) limited to its name when it has one, in its namespace when it has one; or its
/// URL. Nothing broader.
pub fn suggest(a: &Attributes) -> Suggestion {
    let rule = if a.resource_request {
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        PolicyRule {
            verbs: vec![a.verb.clone()],
            api_groups: vec![a.api_group.clone()],
            resources: vec![resource],
            resource_names: if a.name.is_empty() {
                Vec::new()
            } else {
                vec![a.name.clone()]
            },
            non_resource_urls: Vec::new(),
        }
    } else {
        PolicyRule {
            verbs: vec![a.verb.clone()],
            non_resource_urls: vec![a.path.clone()],
            ..Default::default()
        }
    };
    let subject = subject_of(&a.user.name);
    let resource = if a.resource_request {
        a.resource.as_str()
    } else {
        "url"
    };
    Suggestion {
        namespace: if a.resource_request {
            a.namespace.clone()
        } else {
            String::new()
        },
        name: object_name(&[&subject.name, &a.verb, resource, &a.subresource, &a.name]),
        rule,
        subject,
    }
}

/// The suggestion as the objects to apply: a Role (or ClusterRole) and its binding.
pub fn suggestion_policy(s: &Suggestion) -> (Vec<PolicyRule>, Binding) {
    let kind = if s.namespace.is_empty() {
        "ClusterRole"
    } else {
        "Role"
    };
    (
        vec![s.rule.clone()],
        Binding {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            subjects: vec![s.subject.clone()],
            role_ref: super::RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: kind.into(),
                name: s.name.clone(),
            },
        },
    )
}

/// One subject allowed by [`who_can`], with the grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// The subject as its binding names it (a ServiceAccount's namespace filled in).
    pub subject: Subject,
    /// The binding and role, and the first rule of it that allows.
    pub grant: Grant,
}

/// Everyone RBAC allows to make the request `a` (its user ignored): every subject of every
/// binding in scope whose role has a rule that allows it, in the authorizer's walk order (a
/// subject bound twice is listed for each binding). Members of `system:masters` are allowed
/// too, before RBAC; the caller says so. Each role's rules are matched once, however many
/// bindings name it.
pub fn who_can(policy: &Policy, a: &Attributes) -> Vec<Allowed> {
    let mut matched: std::collections::HashMap<
        (String, String, String),
        Option<(usize, PolicyRule)>,
    > = std::collections::HashMap::new();
    let mut out = Vec::new();
    let namespaced = policy
        .role_bindings
        .values()
        .filter(|b| !a.namespace.is_empty() && b.namespace == a.namespace);
    for b in policy.cluster_role_bindings.values().chain(namespaced) {
        let role_ns = if b.role_ref.kind == "Role" {
            b.namespace.clone()
        } else {
            String::new()
        };
        let key = (role_ns, b.role_ref.kind.clone(), b.role_ref.name.clone());
        let first = matched
            .entry(key)
            .or_insert_with(|| {
                let rules = policy.resolve(b).ok()?;
                rules
                    .iter()
                    .enumerate()
                    .find(|(_, r)| rule_allows(a, r))
                    .map(|(i, r)| (i, r.clone()))
            })
            .clone();
        let Some((rule_index, rule)) = first else {
            continue;
        };
        allowed_rows(b, rule_index, &rule, &mut out);
    }
    out
}

/// who-can's rows for a binding whose role allows the request by its rule `rule_index`: each
/// subject that names someone, a ServiceAccount's namespace filled in from the binding's.
pub(crate) fn allowed_rows(
    b: &Binding,
    rule_index: usize,
    rule: &PolicyRule,
    out: &mut Vec<Allowed>,
) {
    for s in &b.subjects {
        let mut subject = s.clone();
        match s.kind.as_str() {
            "ServiceAccount" => {
                if subject.namespace.is_empty() {
                    subject.namespace = b.namespace.clone();
                }
                if subject.namespace.is_empty() {
                    continue; // names no one (`appliesTo` skips it too)
                }
            }
            "User" | "Group" => {}
            _ => continue,
        }
        out.push(Allowed {
            grant: Grant {
                via: via(b, s),
                rule_index,
                rule: rule.clone(),
            },
            subject,
        });
    }
}

/// An access matrix's columns, as rakkess's `--verbs` would list them all.
pub const MATRIX_VERBS: [&str; 8] = [
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];

/// What a user may do to each of `resources` (group, resource, subresource) in `namespace`
/// ("": cluster-wide), for each of `verbs`: one pass over the bindings that apply (the rules
/// RBAC's `RulesFor` gathers), then each cell matched against those rules. A member of
/// `system:masters` may do everything.
pub fn access_matrix(
    policy: &Policy,
    user: &api_types::UserInfo,
    namespace: &str,
    resources: &[(String, String, String)],
    verbs: &[&str],
) -> Vec<Vec<bool>> {
    let mut rules: Vec<PolicyRule> = Vec::new();
    let namespaced = policy
        .role_bindings
        .values()
        .filter(|b| !namespace.is_empty() && b.namespace == namespace);
    for b in policy.cluster_role_bindings.values().chain(namespaced) {
        if applies_to(user, &b.subjects, &b.namespace).is_none() {
            continue;
        }
        if let Ok(r) = policy.resolve(b) {
            rules.extend(r.iter().cloned());
        }
    }
    matrix_of_rules(&rules, user, namespace, resources, verbs)
}

/// The matrix from the rules that apply to `user` in `namespace` (as `RulesFor` gathers them;
/// [`super::Index::access_matrix`] gathers them from its index).
pub fn matrix_of_rules(
    rules: &[PolicyRule],
    user: &api_types::UserInfo,
    namespace: &str,
    resources: &[(String, String, String)],
    verbs: &[&str],
) -> Vec<Vec<bool>> {
    let privileged = user.in_group("system:masters");
    resources
        .iter()
        .map(|(group, resource, sub)| {
            verbs
                .iter()
                .map(|verb| {
                    let a = Attributes {
                        user: user.clone(),
                        verb: (*verb).to_string(),
                        resource_request: true,
                        namespace: namespace.to_string(),
                        api_group: group.clone(),
                        resource: resource.clone(),
                        subresource: sub.clone(),
                        ..Default::default()
                    };
                    privileged || rules.iter().any(|r| rule_allows(&a, r))
                })
                .collect()
        })
        .collect()
}

/// `--explain-forbidden`'s one line for a denied request: its nearest miss, naming the
/// binding and role only when `can_see` says the caller may read that binding (else only what
/// the rule lacks).
pub fn hint(a: &Attributes, e: &Explanation, can_see: &dyn Fn(&Via) -> bool) -> String {
    let Some(m) = e.misses.first() else {
        return "kubeward: no role bound to you has a rule near this request".into();
    };
    let what = |l: &Lack| match l {
        Lack::Verb => format!("the verb {:?}", a.verb),
        Lack::ApiGroup => format!("the API group {:?}", a.api_group),
        Lack::Resource => {
            let r = if a.subresource.is_empty() {
                a.resource.clone()
            } else {
                format!("{}/{}", a.resource, a.subresource)
            };
            format!("the resource {r:?}")
        }
        Lack::ResourceName if a.name.is_empty() => "a request for every name".into(),
        Lack::ResourceName => format!("the name {:?}", a.name),
        Lack::NonResourceUrl => format!("the path {:?}", a.path),
        Lack::RuleKind => "this kind of request".into(),
        Lack::Namespace(ns) => format!("this namespace (its RoleBinding is in {ns:?})"),
        Lack::MissingRole(_) => "a role that exists".into(),
    };
    // A nearest rule about something else says only that nothing is about this.
    if let Some(far) = m
        .lacks
        .iter()
        .find(|l| matches!(l, Lack::Resource | Lack::NonResourceUrl | Lack::RuleKind))
    {
        let subject = match far {
            Lack::NonResourceUrl | Lack::RuleKind if !a.resource_request => {
                format!("the path {:?}", a.path)
            }
            _ => what(&Lack::Resource),
        };
        return format!("kubeward: no rule bound to you is about {subject}");
    }
    let lacks: Vec<String> = m.lacks.iter().map(what).collect();
    let lacks = lacks.join(" and ");
    if !can_see(&m.via) {
        return format!("kubeward: the nearest rule bound to you lacks {lacks}");
    }
    let v = &m.via;
    let binding = if v.binding_namespace.is_empty() {
        format!("ClusterRoleBinding {:?}", v.binding_name)
    } else {
        format!(
            "RoleBinding {:?}",
            format!("{}/{}", v.binding_namespace, v.binding_name)
        )
    };
    format!(
        "kubeward: nearest grant: {binding} → {} {:?}, which lacks {lacks}",
        v.role_kind, v.role_name
    )
}
