//! The audit policy (`audit.k8s.io/v1` `Policy`) and which rule a request meets, as
//! upstream's `staging/src/k8s.io/apiserver/pkg/audit/policy/checker.go`: rules in order, the
//! first that matches sets the level; no match is level None. Sans-IO.

use serde::Deserialize;

/// How much of a request is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub(crate) enum Level {
    /// Nothing.
    None,
    /// Who, what, when and the answer's status; no bodies.
    Metadata,
    /// And the request's object.
    Request,
    /// And the response's object.
    RequestResponse,
}

/// A stage of a request's handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub(crate) enum Stage {
    /// As soon as the request is authenticated, before anything else.
    RequestReceived,
    /// When a long-running response (a watch) has sent its headers.
    ResponseStarted,
    /// When the response is done.
    ResponseComplete,
    /// When a handler panicked.
    Panic,
}

/// `GroupResources`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupResources {
    #[serde(default)]
    group: String,
    #[serde(default)]
    resources: Vec<String>,
    #[serde(default)]
    resource_names: Vec<String>,
}

/// `PolicyRule`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Rule {
    level: Level,
    #[serde(default)]
    users: Vec<String>,
    #[serde(default)]
    user_groups: Vec<String>,
    #[serde(default)]
    verbs: Vec<String>,
    #[serde(default)]
    resources: Vec<GroupResources>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    non_resource_urls: Vec<String>,
    #[serde(default)]
    omit_stages: Vec<Stage>,
    omit_managed_fields: Option<bool>,
}

/// `Policy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Policy {
    #[serde(default)]
    rules: Vec<Rule>,
    #[serde(default)]
    omit_stages: Vec<Stage>,
    #[serde(default)]
    omit_managed_fields: bool,
}

/// What the policy says of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The level to record at.
    pub(crate) level: Level,
    /// Stages not recorded (the policy's and the rule's).
    pub(crate) omit_stages: Vec<Stage>,
    /// Whether `managedFields` are left out of recorded objects.
    pub(crate) omit_managed_fields: bool,
}

/// The request as the policy sees it (authorizer attributes).
#[derive(Debug, Clone, Default)]
pub(crate) struct Attributes<'a> {
    pub(crate) user: &'a str,
    pub(crate) groups: &'a [String],
    pub(crate) verb: &'a str,
    pub(crate) resource_request: bool,
    pub(crate) path: &'a str,
    pub(crate) api_group: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) resource: &'a str,
    pub(crate) subresource: &'a str,
    pub(crate) name: &'a str,
}

/// Why a policy file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The file is neither a Policy in JSON nor in YAML.
    #[error("decoding the audit policy: {0}")]
    Decode(String),
    /// Not `kind: Policy` of `audit.k8s.io/v1`.
    #[error("the audit policy must be kind Policy of audit.k8s.io/v1, not {0}")]
    Kind(String),
}

impl Policy {
    /// Parses a policy file (YAML or JSON), as `--audit-policy-file` gives it.
    pub(crate) fn parse(text: &str) -> Result<Self, PolicyError> {
        let value: serde_json::Value =
            serde_saphyr::from_str(text).map_err(|e| PolicyError::Decode(e.to_string()))?;
        let kind = (
            value
                .get("apiVersion")
                .and_then(|v| v.as_str())
                .unwrap_or(""),
            value.get("kind").and_then(|v| v.as_str()).unwrap_or(""),
        );
        if kind != ("audit.k8s.io/v1", "Policy") {
            return Err(PolicyError::Kind(format!("{}/{}", kind.0, kind.1)));
        }
        serde_json::from_value(value).map_err(|e| PolicyError::Decode(e.to_string()))
    }

    /// The first matching rule's level, with the stages to omit.
    pub(crate) fn decide(&self, a: &Attributes<'_>) -> Decision {
        for r in &self.rules {
            if r.matches(a) {
                let mut omit = self.omit_stages.clone();
                omit.extend(r.omit_stages.iter().copied());
                return Decision {
                    level: r.level,
                    omit_stages: omit,
                    omit_managed_fields: r.omit_managed_fields.unwrap_or(self.omit_managed_fields),
                };
            }
        }
        Decision {
            level: Level::None,
            omit_stages: self.omit_stages.clone(),
            omit_managed_fields: self.omit_managed_fields,
        }
    }
}

fn has(list: &[String], s: &str) -> bool {
    list.iter().any(|x| x == s)
}

impl Rule {
    fn matches(&self, a: &Attributes<'_>) -> bool {
        if !self.users.is_empty() && !has(&self.users, a.user) {
            return false;
        }
        if !self.user_groups.is_empty() && !a.groups.iter().any(|g| has(&self.user_groups, g)) {
            return false;
        }
        if !self.verbs.is_empty() && !has(&self.verbs, a.verb) {
            return false;
        }
        if !self.namespaces.is_empty() || !self.resources.is_empty() {
            return self.matches_resource(a);
        }
        if !self.non_resource_urls.is_empty() {
            return !a.resource_request
                && self
                    .non_resource_urls
                    .iter()
                    .any(|spec| path_matches(a.path, spec));
        }
        true
    }

    fn matches_resource(&self, a: &Attributes<'_>) -> bool {
        if !a.resource_request {
            return false;
        }
        // Cluster-scoped resources have the namespace "".
        if !self.namespaces.is_empty() && !has(&self.namespaces, a.namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        let combined = if a.subresource.is_empty() {
            a.resource.to_string()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        self.resources
            .iter()
            .filter(|gr| gr.group == a.api_group)
            .any(|gr| {
                gr.resources.is_empty()
                    || gr.resources.iter().any(|res| {
                        (gr.resource_names.is_empty() || has(&gr.resource_names, a.name))
                            && (*res == combined
                                || res == "*"
                                || (!a.subresource.is_empty()
                                    && res.strip_prefix("*/") == Some(a.subresource))
                                || res.strip_suffix("/*") == Some(a.resource))
                    })
            })
    }
}

/// `*`, the path itself, or a prefix ending in `*`.
fn path_matches(path: &str, spec: &str) -> bool {
    spec == "*"
        || spec == path
        || spec
            .strip_suffix('*')
            .is_some_and(|prefix| path.starts_with(prefix.trim_end_matches('*')))
}

/// The audit policy's fuzz target (`crates/fuzzing`): any text either fails to parse with a
/// [`PolicyError`] or is a policy that decides a level for every kind of request, the same
/// one each time.
pub fn fuzz(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text) else {
        return;
    };
    let groups = ["system:authenticated".to_string(), "devs".to_string()];
    for (verb, resource_request, path, group, resource, subresource, name) in [
        (
            "get",
            true,
            "/api/v1/namespaces/ns/secrets/s",
            "",
            "secrets",
            "",
            "s",
        ),
        (
            "create",
            true,
            "/api/v1/namespaces/ns/pods/p/binding",
            "",
            "pods",
            "binding",
            "p",
        ),
        (
            "list",
            true,
            "/apis/rbac.authorization.k8s.io/v1/roles",
            "rbac.authorization.k8s.io",
            "roles",
            "",
            "",
        ),
        ("get", false, "/healthz/etcd", "", "", "", ""),
        ("get", false, "/metrics", "", "", "", ""),
    ] {
        let a = Attributes {
            user: "alice",
            groups: &groups,
            verb,
            resource_request,
            path,
            api_group: group,
            namespace: if resource_request { "ns" } else { "" },
            resource,
            subresource,
            name,
        };
        let d = policy.decide(&a);
        let again = policy.decide(&a);
        assert!(
            d.level == again.level && d.omit_stages == again.omit_stages,
            "a policy decided twice differently"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:kube-proxy"]
  - level: None
    nonResourceURLs: ["/healthz*", "/version"]
  - level: Metadata
    resources:
      - group: ""
        resources: ["secrets", "configmaps/*"]
  - level: Request
    userGroups: ["system:serviceaccounts"]
    namespaces: ["kube-system"]
    omitStages: ["ResponseStarted"]
  - level: RequestResponse
    resources:
      - group: "rbac.authorization.k8s.io"
        resources: ["*/status", "roles"]
        resourceNames: ["r1"]
  - level: Request
    omitManagedFields: true
"#;

    fn req<'a>(
        verb: &'a str,
        ns: &'a str,
        res: &'a str,
        sub: &'a str,
        name: &'a str,
    ) -> Attributes<'a> {
        Attributes {
            user: "alice",
            verb,
            resource_request: true,
            namespace: ns,
            resource: res,
            subresource: sub,
            name,
            ..Default::default()
        }
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let p = Policy::parse(POLICY).unwrap();
        let groups = vec!["system:serviceaccounts".to_string()];
        let rbac = |res, sub, name| Attributes {
            api_group: "rbac.authorization.k8s.io",
            ..req("get", "x", res, sub, name)
        };
        let cases: Vec<(&str, Attributes<'_>, Level)> = vec![
            (
                "user listed",
                Attributes {
                    user: "system:kube-proxy",
                    ..req("get", "x", "pods", "", "")
                },
                Level::None,
            ),
            (
                "path prefix",
                Attributes {
                    path: "/healthz/etcd",
                    ..Default::default()
                },
                Level::None,
            ),
            (
                "exact path",
                Attributes {
                    path: "/version",
                    ..Default::default()
                },
                Level::None,
            ),
            (
                "path not listed",
                Attributes {
                    path: "/versions",
                    ..Default::default()
                },
                Level::Request,
            ),
            (
                "a resource",
                req("get", "x", "secrets", "", "s"),
                Level::Metadata,
            ),
            (
                "resource/*",
                req("get", "x", "configmaps", "status", "c"),
                Level::Metadata,
            ),
            (
                "resource/* is the resource too",
                req("get", "x", "configmaps", "", "c"),
                Level::Metadata,
            ),
            (
                "group and namespace",
                Attributes {
                    groups: &groups,
                    ..req("get", "kube-system", "pods", "", "")
                },
                Level::Request,
            ),
            (
                "group, other namespace",
                Attributes {
                    groups: &groups,
                    ..req("get", "x", "pods", "", "")
                },
                Level::Request,
            ),
            (
                "*/subresource by name",
                rbac("clusterroles", "status", "r1"),
                Level::RequestResponse,
            ),
            (
                "resource by name",
                rbac("roles", "", "r1"),
                Level::RequestResponse,
            ),
            ("another name", rbac("roles", "", "r2"), Level::Request),
            (
                "another group",
                req("get", "x", "roles", "", "r1"),
                Level::Request,
            ),
        ];
        for (what, a, want) in cases {
            assert_eq!(p.decide(&a).level, want, "{what}");
        }
        let d = p.decide(&Attributes {
            groups: &groups,
            ..req("get", "kube-system", "pods", "", "")
        });
        assert_eq!(
            d.omit_stages,
            [Stage::RequestReceived, Stage::ResponseStarted]
        );
        assert!(
            p.decide(&req("get", "x", "pods", "", ""))
                .omit_managed_fields
        );
        assert!(
            !p.decide(&req("get", "x", "secrets", "", ""))
                .omit_managed_fields
        );
    }

    #[test]
    fn only_an_audit_policy_is_one() {
        assert!(matches!(
            Policy::parse("apiVersion: v1\nkind: ConfigMap\n"),
            Err(PolicyError::Kind(_))
        ));
        assert!(matches!(
            Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: [{level: Loud}]\n"),
            Err(PolicyError::Decode(_))
        ));
        let empty =
            Policy::parse(r#"{"apiVersion": "audit.k8s.io/v1", "kind": "Policy"}"#).unwrap();
        assert_eq!(empty.decide(&Attributes::default()).level, Level::None);
    }

    /// The policy parser on mangled input (the file is the operator's, but a typo must be an
    /// error at start, never a panic): byte flips, cuts and repeats of a real policy.
    #[test]
    fn mangled_policies_are_errors_not_panics() {
        let base = POLICY.as_bytes();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let attrs = req("get", "kube-system", "pods", "", "");
        let mut parsed = 0;
        for _ in 0..2_000 {
            let mut text = base.to_vec();
            for _ in 0..(next() % 4 + 1) {
                let i = usize::try_from(next() % text.len() as u64).unwrap_or(0);
                match next() % 3 {
                    0 => {
                        let set = b"{}[]:-'\"\n #*,";
                        text[i] = set[usize::try_from(next() % set.len() as u64).unwrap_or(0)];
                    }
                    1 => text.truncate(i.max(1)),
                    _ => {
                        let tail = text[i..].to_vec();
                        text.extend_from_slice(&tail);
                    }
                }
            }
            if let Ok(p) = Policy::parse(&String::from_utf8_lossy(&text)) {
                parsed += 1;
                let _ = p.decide(&attrs);
            }
        }
        assert!(parsed > 0, "some mangled policies still parse");
    }
}
