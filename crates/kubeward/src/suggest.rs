//! `kubeward suggest-role`: the Roles and ClusterRoles, with their bindings, that cover exactly
//! what one subject did, read from an audit log (audit.k8s.io/v1 events, one JSON object a
//! line as kube-apiserver's log backend writes them, or an `EventList`), from kubeward or any
//! cluster. The rules come from `authz::rbac::suggest`; with `--missing-only`, the requests
//! the subject's current bindings (manifests or a server, as for `explain`) already allow are
//! left out first.

use authz::rbac::suggest::{suggest, Grant, Widen};
use authz::{Attributes, Authorizer};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;

/// `kubeward suggest-role`'s arguments.
#[derive(Args)]
pub(crate) struct SuggestArgs {
    /// The user whose requests to cover
    #[arg(long, value_name = "NAME", group = "subject")]
    user: Option<String>,
    /// The group whose members' requests to cover
    #[arg(long, value_name = "NAME", group = "subject")]
    group: Option<String>,
    /// The service account whose requests to cover, as NAMESPACE:NAME
    #[arg(long, value_name = "NAMESPACE:NAME", group = "subject")]
    serviceaccount: Option<String>,
    /// The audit log: JSON lines of audit.k8s.io/v1 events, or an EventList (- for stdin)
    #[arg(long, value_name = "FILE")]
    audit_log: PathBuf,
    /// Only the requests made in this namespace
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Leave out resourceNames: grant the verbs on every object of a resource
    #[arg(long)]
    widen_names: bool,
    /// Grant namespaced requests cluster-wide (one ClusterRole and ClusterRoleBinding)
    #[arg(long)]
    widen_namespaces: bool,
    /// Leave out what the subject's current bindings already allow (read from -f manifests, or
    /// from the kubeconfig's server)
    #[arg(long)]
    missing_only: bool,
    /// The name of the Roles, ClusterRole and bindings [default: suggested-<subject>]
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    manifests: crate::explain::Manifests,
}

/// Why no suggestion could be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SuggestError {
    /// None of --user, --group, --serviceaccount.
    #[error("name the subject: --user, --group or --serviceaccount")]
    NoSubject,
    /// --serviceaccount is not NAMESPACE:NAME.
    #[error("--serviceaccount {0:?}: want NAMESPACE:NAME")]
    ServiceAccount(String),
    /// The log could not be read.
    #[error("reading {0}: {1}")]
    Read(String, std::io::Error),
    /// A line of the log is not an audit event.
    #[error("{file}:{line}: not an audit.k8s.io/v1 event: {why}")]
    Event {
        /// The log.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// The current bindings could not be read (--missing-only).
    #[error(transparent)]
    Policy(#[from] crate::explain::ExplainError),
}

/// Who the requests must come from.
enum Who {
    User(String),
    Group(String),
}

/// The events of a log: JSON lines, or one `EventList` document.
fn events(text: &str, file: &str) -> Result<Vec<Value>, SuggestError> {
    if let Ok(Value::Object(list)) = serde_json::from_str::<Value>(text) {
        if let Some(Value::Array(items)) = list.get("items") {
            return Ok(items.clone());
        }
        return Ok(vec![Value::Object(list)]);
    }
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| SuggestError::Event {
            file: file.into(),
            line: i + 1,
            why: e.to_string(),
        })?;
        out.push(v);
    }
    Ok(out)
}

fn text(v: &Value, pointer: &str) -> String {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// The request an event records, as the authorizer saw it: the impersonated user when there
/// is one, the resource from `objectRef`, else the path of a non-resource request.
fn request(e: &Value) -> Option<Attributes> {
    let who = if e.get("impersonatedUser").is_some_and(Value::is_object) {
        "/impersonatedUser"
    } else {
        "/user"
    };
    let user = api_types::UserInfo {
        name: text(e, &format!("{who}/username")),
        uid: text(e, &format!("{who}/uid")),
        groups: e
            .pointer(&format!("{who}/groups"))
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    let verb = text(e, "/verb");
    if verb.is_empty() {
        return None;
    }
    match e.get("objectRef").filter(|o| o.is_object()) {
        Some(o) => Some(Attributes {
            user,
            verb,
            resource_request: true,
            namespace: text(o, "/namespace"),
            api_group: text(o, "/apiGroup"),
            api_version: text(o, "/apiVersion"),
            resource: text(o, "/resource"),
            subresource: text(o, "/subresource"),
            name: text(o, "/name"),
            ..Default::default()
        }),
        None => {
            // The path of the request target (an absolute URI from some writers: its path).
            let uri = text(e, "/requestURI");
            let path = match uri.parse::<http::Uri>() {
                Ok(u) => u.path().to_string(),
                Err(_) => uri.split('?').next().unwrap_or("").to_string(),
            };
            Some(Attributes {
                user,
                verb,
                path,
                ..Default::default()
            })
        }
    }
}

/// A name Kubernetes takes for the suggested objects: lowercase, `-` for anything else.
fn object_name(subject: &str) -> String {
    let mut s: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    s.truncate(200);
    format!("suggested-{}", s.trim_matches('-'))
}

/// A YAML flow list of JSON strings (valid YAML, and every string quoted).
fn flow(list: &[String]) -> String {
    let items: Vec<String> = list
        .iter()
        .map(|s| serde_json::to_string(s).unwrap_or_default())
        .collect();
    format!("[{}]", items.join(", "))
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// The objects as YAML for `kubectl apply -f -`, a comment on each rule saying how many
/// requests it covers.
fn render(grants: &[Grant], name: &str, subject: &str) -> String {
    let mut out = String::new();
    for g in grants {
        let (role_kind, binding_kind) = if g.namespace.is_empty() {
            ("ClusterRole", "ClusterRoleBinding")
        } else {
            ("Role", "RoleBinding")
        };
        let ns = if g.namespace.is_empty() {
            String::new()
        } else {
            format!("\n  namespace: {}", quoted(&g.namespace))
        };
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {role_kind}\nmetadata:\n  name: {}{ns}\nrules:\n",
            quoted(name)
        ));
        for r in &g.rules {
            let s = if r.requests == 1 { "" } else { "s" };
            out.push_str(&format!("# {} request{s}\n", r.requests));
            let rule = &r.rule;
            let mut first = true;
            let mut field = |k: &str, v: &[String]| {
                if v.is_empty() {
                    return;
                }
                let lead = if first { "- " } else { "  " };
                first = false;
                out.push_str(&format!("{lead}{k}: {}\n", flow(v)));
            };
            field("apiGroups", &rule.api_groups);
            field("resources", &rule.resources);
            field("resourceNames", &rule.resource_names);
            field("nonResourceURLs", &rule.non_resource_urls);
            field("verbs", &rule.verbs);
        }
        out.push_str(&format!(
            "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: {binding_kind}\nmetadata:\n  name: {}{ns}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: {role_kind}\n  name: {}\nsubjects:\n{subject}",
            quoted(name),
            quoted(name)
        ));
    }
    out
}

/// Runs `kubeward suggest-role`: the YAML to print (empty when nothing is missing).
pub(crate) async fn run(args: &SuggestArgs) -> Result<String, SuggestError> {
    let (who, shown, subject) = match (&args.user, &args.group, &args.serviceaccount) {
        (Some(u), _, _) => (
            Who::User(u.clone()),
            u.clone(),
            format!(
                "- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: {}\n",
                quoted(u)
            ),
        ),
        (_, Some(g), _) => (
            Who::Group(g.clone()),
            g.clone(),
            format!(
                "- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: {}\n",
                quoted(g)
            ),
        ),
        (_, _, Some(sa)) => {
            let (ns, name) = sa
                .split_once(':')
                .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains(':'))
                .ok_or_else(|| SuggestError::ServiceAccount(sa.clone()))?;
            (
                Who::User(format!("system:serviceaccount:{ns}:{name}")),
                format!("{ns}-{name}"),
                format!(
                    "- kind: ServiceAccount\n  name: {}\n  namespace: {}\n",
                    quoted(name),
                    quoted(ns)
                ),
            )
        }
        _ => return Err(SuggestError::NoSubject),
    };
    let file = args.audit_log.display().to_string();
    let log = if file == "-" {
        let mut t = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
            .map_err(|e| SuggestError::Read(file.clone(), e))?;
        t
    } else {
        std::fs::read_to_string(&args.audit_log).map_err(|e| SuggestError::Read(file.clone(), e))?
    };
    // One request per audit ID (a watch has a ResponseStarted and a ResponseComplete event).
    let mut seen = std::collections::HashSet::new();
    let mut requests = Vec::new();
    for e in events(&log, &file)? {
        let id = text(&e, "/auditID");
        if !id.is_empty() && !seen.insert(id) {
            continue;
        }
        let Some(a) = request(&e) else { continue };
        let mine = match &who {
            Who::User(u) => a.user.name == *u,
            Who::Group(g) => a.user.in_group(g),
        };
        let here = args
            .namespace
            .as_deref()
            .is_none_or(|ns| a.resource_request && a.namespace == ns);
        if mine && here {
            requests.push(a);
        }
    }
    if args.missing_only {
        let policy = args.manifests.load(false).await?.policy;
        let index = authz::rbac::Index::from_policy(&policy);
        // A group's members are asked about as the group alone: what its own bindings allow.
        let as_asked = |a: &Attributes| match &who {
            Who::User(_) => a.clone(),
            Who::Group(g) => Attributes {
                user: api_types::UserInfo {
                    groups: vec![g.clone(), "system:authenticated".into()],
                    ..Default::default()
                },
                ..a.clone()
            },
        };
        requests.retain(|a| {
            let a = as_asked(a);
            !(a.user.in_group("system:masters") || index.authorize(&a).allowed())
        });
    }
    let grants = suggest(
        &requests,
        Widen {
            names: args.widen_names,
            namespaces: args.widen_namespaces,
        },
    );
    let name = args.name.clone().unwrap_or_else(|| object_name(&shown));
    Ok(render(&grants, &name, &subject))
}
