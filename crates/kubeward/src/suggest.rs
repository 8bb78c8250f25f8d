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

/// The subject a command is about, as a binding names it: one of three flags.
#[derive(Args)]
pub(crate) struct SubjectArgs {
    /// The user (suggest-role: whose requests to cover; unused: whose bindings to read)
    #[arg(long, value_name = "NAME", group = "subject")]
    user: Option<String>,
    /// The group (suggest-role: whose members' requests to cover; unused: whose bindings)
    #[arg(long, value_name = "NAME", group = "subject")]
    group: Option<String>,
    /// The service account, as NAMESPACE:NAME (as --user)
    #[arg(long, value_name = "NAMESPACE:NAME", group = "subject")]
    serviceaccount: Option<String>,
}

impl SubjectArgs {
    /// The subject named, as an RBAC subject (none when no flag is given).
    fn subject(&self) -> Result<Option<authz::rbac::Subject>, SuggestError> {
        let rbac = |kind: &str, name: &str| authz::rbac::Subject {
            kind: kind.into(),
            api_group: "rbac.authorization.k8s.io".into(),
            name: name.into(),
            namespace: String::new(),
        };
        Ok(match (&self.user, &self.group, &self.serviceaccount) {
            (Some(u), _, _) => Some(rbac("User", u)),
            (_, Some(g), _) => Some(rbac("Group", g)),
            (_, _, Some(sa)) => {
                let (ns, name) = sa
                    .split_once(':')
                    .filter(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains(':'))
                    .ok_or_else(|| SuggestError::ServiceAccount(sa.clone()))?;
                Some(authz::rbac::Subject {
                    kind: "ServiceAccount".into(),
                    api_group: String::new(),
                    name: name.into(),
                    namespace: ns.into(),
                })
            }
            _ => None,
        })
    }
}

/// Where the audit log comes from: a file, or the server's own.
#[derive(Args)]
#[group(required = true, multiple = false)]
pub(crate) struct LogSource {
    /// The audit log: JSON lines of audit.k8s.io/v1 events, or an EventList (- for stdin)
    #[arg(long, value_name = "FILE")]
    audit_log: Option<PathBuf>,
    /// The audit log of the kubeconfig's server (kubeward's GET /logs/audit, its backups
    /// included), read as the kubeconfig's user, who must be allowed to get that path
    #[arg(long)]
    server: bool,
}

/// `kubeward suggest-role`'s arguments.
#[derive(Args)]
pub(crate) struct SuggestArgs {
    #[command(flatten)]
    subject: SubjectArgs,
    #[command(flatten)]
    log: LogSource,
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
    /// The current bindings could not be read (--missing-only), or the kubeconfig names no
    /// server (--server).
    #[error(transparent)]
    Policy(#[from] crate::explain::ExplainError),
    /// The server's audit log could not be read (--server).
    #[error(transparent)]
    Server(#[from] crate::online::OnlineError),
}

/// Who the requests must come from.
enum Who {
    User(String),
    Group(String),
}

fn text_at(v: &Value, pointer: &str) -> String {
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
        name: text_at(e, &format!("{who}/username")),
        uid: text_at(e, &format!("{who}/uid")),
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
    let verb = text_at(e, "/verb");
    if verb.is_empty() {
        return None;
    }
    match e.get("objectRef").filter(|o| o.is_object()) {
        Some(o) => Some(Attributes {
            user,
            verb,
            resource_request: true,
            namespace: text_at(o, "/namespace"),
            api_group: text_at(o, "/apiGroup"),
            api_version: text_at(o, "/apiVersion"),
            resource: text_at(o, "/resource"),
            subresource: text_at(o, "/subresource"),
            name: text_at(o, "/name"),
            ..Default::default()
        }),
        None => {
            // The path of the request target (an absolute URI from some writers: its path).
            let uri = text_at(e, "/requestURI");
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

/// An audit log's requests, one per audit ID (a watch has a ResponseStarted and a
/// ResponseComplete event), and the window it covers (its first and last
/// requestReceivedTimestamp).
struct Log {
    requests: Vec<Attributes>,
    window: Option<(String, String)>,
}

impl Log {
    /// Adds one event (once per audit ID).
    fn add(&mut self, seen: &mut std::collections::HashSet<String>, e: &Value) {
        let id = text_at(e, "/auditID");
        if !id.is_empty() && !seen.insert(id) {
            return;
        }
        let Some(a) = request(e) else { return };
        let at = text_at(e, "/requestReceivedTimestamp");
        if !at.is_empty() {
            self.window = Some(match self.window.take() {
                None => (at.clone(), at),
                Some((from, to)) => (from.min(at.clone()), to.max(at)),
            });
        }
        self.requests.push(a);
    }

    /// One line of JSON lines: an event (or an `EventList` on one line).
    fn add_line(
        &mut self,
        seen: &mut std::collections::HashSet<String>,
        line: &[u8],
    ) -> Result<(), serde_json::Error> {
        let v: Value = serde_json::from_slice(line)?;
        self.add_document(seen, &v);
        Ok(())
    }

    /// A document: an `EventList`'s items, or one event.
    fn add_document(&mut self, seen: &mut std::collections::HashSet<String>, v: &Value) {
        match v.get("items").and_then(Value::as_array) {
            Some(items) => items.iter().for_each(|e| self.add(seen, e)),
            None => self.add(seen, v),
        }
    }
}

/// Reads a log a line at a time (JSON lines, as the log backend writes them, never held
/// whole); a first line that is not a whole JSON object starts one document (an `EventList`
/// written over several lines), read to its end.
fn read_log(path: &std::path::Path) -> Result<Log, SuggestError> {
    use std::io::BufRead;
    let file = path.display().to_string();
    let read_err = |e| SuggestError::Read(file.clone(), e);
    let reader: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(path).map_err(read_err)?,
        ))
    };
    let bad = |line: usize, e: serde_json::Error| SuggestError::Event {
        file: file.clone(),
        line,
        why: e.to_string(),
    };
    let mut log = Log {
        requests: Vec::new(),
        window: None,
    };
    let mut seen = std::collections::HashSet::new();
    let mut first = true;
    let mut lines = reader.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let line = line.map_err(read_err)?;
        if line.trim().is_empty() {
            continue;
        }
        match log.add_line(&mut seen, line.as_bytes()) {
            Ok(()) => {}
            Err(_) if first => {
                // One document over many lines.
                let mut text = line;
                for (_, rest) in lines.by_ref() {
                    text.push('\n');
                    text.push_str(&rest.map_err(read_err)?);
                }
                let v: Value = serde_json::from_str(&text).map_err(|e| bad(i + 1, e))?;
                log.add_document(&mut seen, &v);
                break;
            }
            Err(e) => return Err(bad(i + 1, e)),
        }
        first = false;
    }
    Ok(log)
}

/// The longest audit event line read from a server.
const MAX_EVENT_LINE: usize = 64 << 20;

/// The server's audit log (`GET /logs/audit`), a line at a time as it arrives: never held
/// whole.
async fn read_server_log(manifests: &crate::explain::Manifests) -> Result<Log, SuggestError> {
    let target = manifests.target()?;
    let mut api = crate::online::Api::connect(&target).await?;
    let mut log = Log {
        requests: Vec::new(),
        window: None,
    };
    let mut seen = std::collections::HashSet::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut line_no = 0usize;
    let mut take = |log: &mut Log, line: &[u8]| -> Result<(), String> {
        line_no += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        log.add_line(&mut seen, line)
            .map_err(|e| format!("line {line_no} is not an audit.k8s.io/v1 event: {e}"))
    };
    let what = format!("reading the audit log of {}", target.server);
    api.stream("/logs/audit", &what, &mut |chunk| {
        pending.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(n) = pending[start..].iter().position(|&b| b == b'\n') {
            take(&mut log, &pending[start..start + n])?;
            start += n + 1;
        }
        pending.drain(..start);
        // An event holds at most a request and a response body (3 MiB each on a server).
        if pending.len() > MAX_EVENT_LINE {
            return Err(format!(
                "a line is longer than {} MiB",
                MAX_EVENT_LINE >> 20
            ));
        }
        Ok(())
    })
    .await?;
    if !pending.is_empty() {
        take(&mut log, &pending).map_err(|e| crate::online::OnlineError::Body(what, e))?;
    }
    Ok(log)
}

impl LogSource {
    /// The log's requests, from the file or the server.
    async fn read(&self, manifests: &crate::explain::Manifests) -> Result<Log, SuggestError> {
        match &self.audit_log {
            Some(path) => read_log(path),
            None => read_server_log(manifests).await,
        }
    }
}

/// Runs `kubeward suggest-role`: the YAML to print (empty when nothing is missing).
pub(crate) async fn run(args: &SuggestArgs) -> Result<String, SuggestError> {
    let named = args.subject.subject()?.ok_or(SuggestError::NoSubject)?;
    let (who, shown, subject) = match named.kind.as_str() {
        "ServiceAccount" => (
            Who::User(format!(
                "system:serviceaccount:{}:{}",
                named.namespace, named.name
            )),
            format!("{}-{}", named.namespace, named.name),
            format!(
                "- kind: ServiceAccount\n  name: {}\n  namespace: {}\n",
                quoted(&named.name),
                quoted(&named.namespace)
            ),
        ),
        kind => (
            match kind {
                "Group" => Who::Group(named.name.clone()),
                _ => Who::User(named.name.clone()),
            },
            named.name.clone(),
            format!(
                "- apiGroup: rbac.authorization.k8s.io\n  kind: {kind}\n  name: {}\n",
                quoted(&named.name)
            ),
        ),
    };
    let log = args.log.read(&args.manifests).await?;
    let mut requests = Vec::new();
    for a in log.requests {
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
        let policy = args
            .manifests
            .load_beside(false, args.log.server)
            .await?
            .policy;
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

/// `kubeward unused`'s arguments.
#[derive(Args)]
pub(crate) struct UnusedArgs {
    #[command(flatten)]
    log: LogSource,
    #[command(flatten)]
    subject: SubjectArgs,
    /// Also the bootstrap policy's own bindings (left out by default)
    #[arg(long)]
    all: bool,
    /// Output: text (default), json or yaml
    #[arg(short = 'o', long, value_parser = ["json", "yaml"])]
    output: Option<String>,
    #[command(flatten)]
    manifests: crate::explain::Manifests,
}

fn describe_subject(s: &authz::rbac::Subject, binding_ns: &str) -> String {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = if s.namespace.is_empty() {
                binding_ns
            } else {
                &s.namespace
            };
            format!("ServiceAccount {ns}/{}", s.name)
        }
        k => format!("{k} {}", s.name),
    }
}

/// Runs `kubeward unused`: every binding's rules and what of them the log never used.
pub(crate) async fn unused(args: &UnusedArgs) -> Result<String, SuggestError> {
    use authz::rbac::unused::usage;
    let log = args.log.read(&args.manifests).await?;
    let loaded = args
        .manifests
        .load_beside(!args.all, args.log.server)
        .await?;
    let wanted = args.subject.subject()?;
    let include = |b: &authz::rbac::Binding, s: &authz::rbac::Subject| {
        if !args.all && loaded.is_default(b) {
            return false;
        }
        wanted.as_ref().is_none_or(|w| {
            let ns = if s.namespace.is_empty() {
                &b.namespace
            } else {
                &s.namespace
            };
            s.kind == w.kind
                && s.name == w.name
                && (w.kind != "ServiceAccount" || *ns == w.namespace)
        })
    };
    let uses = usage(&loaded.policy, &log.requests, &include);
    let (from, to) = log.window.clone().unwrap_or_default();
    if let Some(format) = args.output.as_deref() {
        let rules: Vec<Value> = uses
            .iter()
            .map(|u| {
                let mut v = authz::rbac::explain_json::via_json(&u.via);
                v["ruleIndex"] = u.rule_index.into();
                v["rule"] = authz::rbac::explain_json::rule_json(&u.rule);
                v["requests"] = u.requests.into();
                v["wildcard"] = u.wildcard.into();
                v["never"] = u
                    .never
                    .iter()
                    .map(|(verb, what)| Value::from(format!("{verb} {what}")))
                    .collect();
                v
            })
            .collect();
        let out = serde_json::json!({
            "window": {"from": from, "to": to, "requests": log.requests.len()},
            "rules": rules,
        });
        return Ok(match format {
            "yaml" => serde_saphyr::to_string(&out).unwrap_or_default(),
            _ => serde_json::to_string_pretty(&out).unwrap_or_default() + "\n",
        });
    }
    let mut out = format!(
        "the log covers {} – {}: {} requests\n",
        if from.is_empty() { "?" } else { &from },
        if to.is_empty() { "?" } else { &to },
        log.requests.len()
    );
    let mut last = String::new();
    for u in &uses {
        let v = &u.via;
        let binding = if v.binding_namespace.is_empty() {
            format!("ClusterRoleBinding {}", v.binding_name)
        } else {
            format!("RoleBinding {}/{}", v.binding_namespace, v.binding_name)
        };
        let head = format!(
            "{}, through {binding} → {} {}:\n",
            describe_subject(&v.subject, &v.binding_namespace),
            v.role_kind,
            v.role_name
        );
        if head != last {
            out.push_str(&head);
            last = head;
        }
        let what = match (u.requests, u.never.is_empty(), u.wildcard) {
            (0, _, _) => "never used".to_string(),
            (n, true, false) => format!("{n} requests; every verb and resource used"),
            (n, _, true) => {
                format!("{n} requests (a wildcard rule: its unused part is not listed)")
            }
            (n, false, false) => {
                let never: Vec<String> = u.never.iter().map(|(v, w)| format!("{v} {w}")).collect();
                format!("{n} requests; never: {}", never.join(", "))
            }
        };
        let r = &u.rule;
        let on = if r.non_resource_urls.is_empty() {
            r.resources.join(",")
        } else {
            r.non_resource_urls.join(",")
        };
        out.push_str(&format!(
            "  rule {} ({} on {on}): {what}\n",
            u.rule_index,
            r.verbs.join(",")
        ));
    }
    Ok(out)
}
