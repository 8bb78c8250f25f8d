//! `kubeward explain`: why a subject may or may not do something, from manifests (`-f`),
//! with every binding → role → rule that grants it, or the nearest misses and the smallest
//! Role and binding that would allow it. Arguments as `kubectl auth can-i` takes them.

use authz::rbac::explain::{Explanation, Lack, Via, MATRIX_VERBS};
use authz::rbac::explain_json::{
    allowed_json, masters_row, matrix_json, suggestion_objects, to_json,
};
use authz::rbac::PolicyRule;
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;

/// Where the policy comes from, for every command here: manifests (`-f`), else the server
/// the kubeconfig names, as kubectl chooses between them.
#[derive(Args)]
pub(crate) struct Manifests {
    /// Manifests (a file, a directory, or - for standard input; repeatable), loaded over the
    /// bootstrap policy. Without -f: the RBAC objects of the kubeconfig's server
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    files: Vec<PathBuf>,
    /// Without the bootstrap policy: only what the manifests hold (and, for audit-rbac,
    /// nothing is then expected)
    #[arg(long)]
    no_defaults: bool,
    /// Without -f (or with --server): the kubeconfig file (else KUBECONFIG's files, else
    /// ~/.kube/config)
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Without -f (or with --server): the kubeconfig context to use (else its current one)
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
}

impl Manifests {
    /// The server the kubeconfig names (--kubeconfig, --context).
    pub(crate) fn target(&self) -> Result<crate::kubeconfig::Target, ExplainError> {
        Ok(crate::online::target(
            self.kubeconfig.as_deref(),
            self.context.as_deref(),
        )?)
    }

    /// The policy, and with `defaults` the bootstrap policy beside it (audit-rbac's expected
    /// grants).
    pub(crate) async fn load(
        &self,
        defaults: bool,
    ) -> Result<crate::offline::Loaded, ExplainError> {
        self.load_beside(defaults, false).await
    }

    /// As [`Self::load`]; `server_too` says the command reads the kubeconfig's server for
    /// something else as well (`--server`), so --kubeconfig and --context may come with -f.
    pub(crate) async fn load_beside(
        &self,
        defaults: bool,
        server_too: bool,
    ) -> Result<crate::offline::Loaded, ExplainError> {
        if !self.files.is_empty() && !server_too {
            let flag = match (&self.kubeconfig, &self.context) {
                (Some(_), _) => Some("--kubeconfig"),
                (None, Some(_)) => Some("--context"),
                (None, None) => None,
            };
            if let Some(flag) = flag {
                return Err(ExplainError::Usage(format!(
                    "{flag} names the server to read instead of -f: give one or the other"
                )));
            }
        }
        if !self.files.is_empty() {
            return Ok(crate::offline::load(&self.files, self.no_defaults).await?);
        }
        // Online: the server's objects; the bootstrap policy is the in-memory server's, as
        // offline, made only when asked for.
        let target = self.target()?;
        let policy = crate::online::policy(&target).await?;
        let defaults = match defaults {
            true => crate::offline::load(&[], self.no_defaults).await?.defaults,
            false => authz::rbac::Policy::default(),
        };
        Ok(crate::offline::Loaded {
            policy,
            sources: Default::default(),
            defaults,
        })
    }
}

/// What a request names: the verb, the resource (or URL), the name and the namespace, as
/// `kubectl auth can-i` takes them.
#[derive(Args)]
pub(crate) struct Request {
    /// The verb (get, list, create, update, patch, delete, watch, impersonate, bind, ...)
    verb: String,
    /// The resource, as kubectl names it: `pods`, `pods/log`, `deployments.apps`,
    /// `roles.rbac.authorization.k8s.io`; or a non-resource URL such as `/metrics`
    resource: String,
    /// The object's name (optional)
    name: Option<String>,
    /// The namespace (without it: a cluster-wide request)
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Every namespace: for explain, as `kubectl auth can-i -A` (the request in all namespaces
    /// at once, which only cluster-wide grants allow); for who-can, as kubectl-who-can's
    /// (everyone allowed in any namespace, RoleBindings of every namespace included)
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
}

/// Who asks, as impersonation names them.
#[derive(Args)]
pub(crate) struct Who {
    /// Who asks: a user name, or system:serviceaccount:NAMESPACE:NAME
    #[arg(long = "as", value_name = "USER")]
    as_user: String,
    /// A group the user is in (repeatable); system:authenticated (and a service account's
    /// groups) are added as impersonation adds them
    #[arg(long = "as-group", value_name = "GROUP")]
    as_group: Vec<String>,
}

impl Who {
    /// The user, with the groups impersonation adds.
    fn user(&self) -> api_types::UserInfo {
        let mut headers = vec![("impersonate-user", self.as_user.as_str())];
        headers.extend(
            self.as_group
                .iter()
                .map(|g| ("impersonate-group", g.as_str())),
        );
        authn::impersonation::Request::from_headers(headers.into_iter())
            .map(|r| r.user())
            .unwrap_or_default()
    }
}

/// `-o json` (pretty, a trailing newline) or `-o yaml`.
fn render(out: &Value, format: &str) -> Result<String, ExplainError> {
    if format == "json" {
        Ok(serde_json::to_string_pretty(out).unwrap_or_default() + "\n")
    } else {
        yaml(out)
    }
}

/// `kubeward explain`'s arguments.
#[derive(Args)]
pub(crate) struct ExplainArgs {
    #[command(flatten)]
    request: Request,
    #[command(flatten)]
    who: Who,
    #[command(flatten)]
    manifests: Manifests,
    /// Output: text (default), json or yaml
    #[arg(short = 'o', long, value_parser = ["json", "yaml"])]
    output: Option<String>,
}

/// Why `explain` could not answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ExplainError {
    /// The manifests could not be loaded.
    #[error(transparent)]
    Offline(#[from] crate::offline::OfflineError),
    /// The server's objects could not be read.
    #[error(transparent)]
    Online(#[from] crate::online::OnlineError),
    /// The arguments ask something that cannot be answered.
    #[error("{0}")]
    Usage(String),
    /// The output could not be written as YAML.
    #[error("writing YAML: {0}")]
    Yaml(String),
    /// The output file could not be written.
    #[error("writing {0}: {1}")]
    Write(String, std::io::Error),
}

/// `resource[.group][/subresource]` as kubectl splits it; a bare name is looked up among the
/// kinds kubeward serves (else the core group, as kubectl falls back with a warning).
fn resource_parts(text: &str) -> (String, String, String) {
    let (main, sub) = text.split_once('/').unwrap_or((text, ""));
    let (resource, group) = main.split_once('.').unwrap_or((main, ""));
    let group = if main.contains('.') {
        group.to_string()
    } else {
        registry::resources()
            .iter()
            .find(|d| {
                d.resource == resource
                    || d.singular == resource
                    || d.short_names.contains(&resource)
            })
            .map(|d| d.group.to_string())
            .unwrap_or_default()
    };
    let resource = registry::resources()
        .iter()
        .find(|d| d.group == group && (d.singular == resource || d.short_names.contains(&resource)))
        .map_or(resource, |d| d.resource);
    (group, resource.to_string(), sub.to_string())
}

/// The request's attributes, for `user`.
fn attributes(r: &Request, user: api_types::UserInfo) -> authz::Attributes {
    if r.resource.starts_with('/') {
        return authz::Attributes {
            user,
            verb: r.verb.clone(),
            path: r.resource.clone(),
            ..Default::default()
        };
    }
    let (api_group, resource, subresource) = resource_parts(&r.resource);
    authz::Attributes {
        user,
        verb: r.verb.clone(),
        resource_request: true,
        namespace: r.namespace.clone().unwrap_or_default(),
        api_group,
        resource,
        subresource,
        name: r.name.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn lack_text(l: &Lack, a: &authz::Attributes) -> String {
    match l {
        Lack::Verb => format!("the verb {:?}", a.verb),
        Lack::ApiGroup => format!("the API group {:?}", a.api_group),
        Lack::Resource if a.subresource.is_empty() => format!("the resource {:?}", a.resource),
        Lack::Resource => format!(
            "the resource {:?}",
            format!("{}/{}", a.resource, a.subresource)
        ),
        Lack::ResourceName if a.name.is_empty() => {
            "a name (the rule is limited to resourceNames)".into()
        }
        Lack::ResourceName => format!("the name {:?}", a.name),
        Lack::NonResourceUrl => format!("the URL {:?}", a.path),
        Lack::RuleKind if a.resource_request => "resources (it is a non-resource URL rule)".into(),
        Lack::RuleKind => "URLs (it is a resource rule)".into(),
        Lack::Namespace(ns) => format!("the namespace (it is bound in {ns:?})"),
        Lack::MissingRole(msg) => format!("its role ({msg})"),
    }
}

fn describe_via(v: &Via) -> String {
    let binding = if v.binding_namespace.is_empty() {
        format!("ClusterRoleBinding {:?}", v.binding_name)
    } else {
        format!(
            "RoleBinding {:?} (namespace {:?})",
            v.binding_name, v.binding_namespace
        )
    };
    let subject = if v.subject.kind == "ServiceAccount" {
        format!("ServiceAccount {}/{}", v.subject.namespace, v.subject.name)
    } else {
        format!("{} {:?}", v.subject.kind, v.subject.name)
    };
    format!(
        "{binding} → {} {:?}, bound to {subject}",
        v.role_kind, v.role_name
    )
}

fn describe_rule(r: &PolicyRule) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|s| {
                if s.is_empty() {
                    "\"\"".to_string()
                } else {
                    s.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    if !r.non_resource_urls.is_empty() {
        return format!(
            "verbs {} on URLs {}",
            list(&r.verbs),
            list(&r.non_resource_urls)
        );
    }
    let mut s = format!(
        "verbs {} on {} in groups {}",
        list(&r.verbs),
        list(&r.resources),
        list(&r.api_groups)
    );
    if !r.resource_names.is_empty() {
        s.push_str(&format!(" named {}", list(&r.resource_names)));
    }
    s
}

fn describe_request(a: &authz::Attributes) -> String {
    if !a.resource_request {
        return format!("{} {}", a.verb, a.path);
    }
    let mut r = a.resource.clone();
    if !a.api_group.is_empty() {
        r = format!("{r}.{}", a.api_group);
    }
    if !a.subresource.is_empty() {
        r = format!("{r}/{}", a.subresource);
    }
    let mut s = format!("{} {r}", a.verb);
    if !a.name.is_empty() {
        s.push_str(&format!(" {:?}", a.name));
    }
    if a.namespace.is_empty() {
        s.push_str(" (cluster-wide)");
    } else {
        s.push_str(&format!(" in namespace {:?}", a.namespace));
    }
    s
}

/// The explanation for a terminal.
pub(crate) fn to_text(a: &authz::Attributes, e: &Explanation) -> Result<String, ExplainError> {
    let mut out = String::new();
    let who = &a.user.name;
    let what = describe_request(a);
    if e.allowed {
        out.push_str(&format!("yes: {who} may {what}\n"));
        if e.privileged {
            out.push_str("  as a member of system:masters (allowed before RBAC is asked)\n");
        }
        for g in &e.grants {
            out.push_str(&format!(
                "  by {}\n     rule {}: {}\n",
                describe_via(&g.via),
                g.rule_index,
                describe_rule(&g.rule)
            ));
        }
        return Ok(out);
    }
    out.push_str(&format!("no: {who} may not {what}\n"));
    if e.misses.is_empty() {
        out.push_str("  no binding names this user or its groups\n");
    } else {
        out.push_str("nearest misses:\n");
        for m in &e.misses {
            let lacks: Vec<String> = m.lacks.iter().map(|l| lack_text(l, a)).collect();
            match &m.rule {
                Some((i, r)) => out.push_str(&format!(
                    "  {}\n     rule {i}: {}\n     lacks {}\n",
                    describe_via(&m.via),
                    describe_rule(r),
                    lacks.join("; ")
                )),
                None => out.push_str(&format!(
                    "  {}\n     lacks {}\n",
                    describe_via(&m.via),
                    lacks.join("; ")
                )),
            }
        }
    }
    if let Some(s) = &e.suggestion {
        out.push_str("to allow exactly this (kubectl apply -f -):\n");
        for o in suggestion_objects(s) {
            out.push_str("---\n");
            out.push_str(&yaml(&o)?);
        }
    }
    Ok(out)
}

/// Colour only on a terminal, and not when `NO_COLOR` is set (no-color.org).
fn use_color() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn yaml(v: &Value) -> Result<String, ExplainError> {
    serde_saphyr::to_string(v).map_err(|e| ExplainError::Yaml(e.to_string()))
}

/// Runs `kubeward explain`: the text (or JSON/YAML) to print, and whether it was allowed.
pub(crate) async fn run(args: &ExplainArgs) -> Result<(String, bool), ExplainError> {
    let policy = args.manifests.load(false).await?.policy;
    let a = attributes(&args.request, args.who.user());
    let e = authz::rbac::explain::explain(&policy, &a);
    let text = match args.output.as_deref() {
        Some(format) => render(&to_json(&a, &e), format)?,
        None => to_text(&a, &e)?,
    };
    Ok((text, e.allowed))
}

/// `kubeward who-can`'s arguments.
#[derive(Args)]
pub(crate) struct WhoCanArgs {
    #[command(flatten)]
    request: Request,
    #[command(flatten)]
    manifests: Manifests,
    /// Output: a table (default), json or yaml
    #[arg(short = 'o', long, value_parser = ["json", "yaml"])]
    output: Option<String>,
}

/// Runs `kubeward who-can`: the table (or JSON/YAML) to print.
pub(crate) async fn who_can(args: &WhoCanArgs) -> Result<String, ExplainError> {
    let policy = args.manifests.load(false).await?.policy;
    let a = attributes(&args.request, api_types::UserInfo::default());
    if args.request.all_namespaces && !a.resource_request {
        return Err(ExplainError::Usage(
            "-A: a non-resource URL has no namespace".into(),
        ));
    }
    let index = authz::rbac::Index::from_policy(&policy);
    let allowed = match args.request.all_namespaces {
        true => index.who_can_in_any_namespace(&a),
        false => index.who_can(&a),
    };
    if let Some(format) = args.output.as_deref() {
        let mut rows = vec![masters_row()];
        rows.extend(allowed.iter().map(allowed_json));
        let out =
            json!({"request": to_json(&a, &Explanation::default())["request"], "allowed": rows});
        return render(&out, format);
    }
    let mut rows = vec![[
        "SUBJECT".to_string(),
        "BINDING".to_string(),
        "ROLE".to_string(),
    ]];
    rows.push([
        "Group system:masters".into(),
        "(allowed before RBAC)".into(),
        String::new(),
    ]);
    for w in &allowed {
        let v = &w.grant.via;
        let subject = match w.subject.kind.as_str() {
            "ServiceAccount" => {
                format!("ServiceAccount {}/{}", w.subject.namespace, w.subject.name)
            }
            k => format!("{k} {}", w.subject.name),
        };
        let binding = if v.binding_namespace.is_empty() {
            format!("ClusterRoleBinding {}", v.binding_name)
        } else {
            format!("RoleBinding {}/{}", v.binding_namespace, v.binding_name)
        };
        rows.push([subject, binding, format!("{} {}", v.role_kind, v.role_name)]);
    }
    let width = |i: usize| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    let mut asked = describe_request(&a);
    if args.request.all_namespaces {
        asked = asked.replace(" (cluster-wide)", " in any namespace");
    }
    let mut out = format!("who may {asked}:\n");
    for r in &rows {
        let line = format!("{:w0$}   {:w1$}   {}", r[0], r[1], r[2]);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Ok(out)
}

/// `kubeward access-matrix`'s arguments.
#[derive(Args)]
pub(crate) struct MatrixArgs {
    #[command(flatten)]
    who: Who,
    /// In this namespace (its namespaced resources); without it, every resource cluster-wide
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Cluster-wide, in all namespaces at once (as `kubectl auth can-i -A`; the default
    /// without -n)
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    all_namespaces: bool,
    #[command(flatten)]
    manifests: Manifests,
    /// Output: a table (default), json or yaml
    #[arg(short = 'o', long, value_parser = ["json", "yaml"])]
    output: Option<String>,
}

/// Runs `kubeward access-matrix`: every served resource (and subresource) a row, every verb
/// a column.
pub(crate) async fn access_matrix(args: &MatrixArgs) -> Result<String, ExplainError> {
    let policy = args.manifests.load(false).await?.policy;
    let user = args.who.user();
    let ns = args.namespace.clone().unwrap_or_default();
    let rows = registry::access_matrix_rows(&ns);
    let m = authz::rbac::Index::from_policy(&policy).access_matrix(
        &user,
        &ns,
        &rows,
        &MATRIX_VERBS[..],
    );
    let name = |(g, r, s): &(String, String, String)| {
        let mut n = r.clone();
        if !g.is_empty() {
            n = format!("{n}.{g}");
        }
        if !s.is_empty() {
            n = format!("{n}/{s}");
        }
        n
    };
    if let Some(format) = args.output.as_deref() {
        let resources = matrix_json(&rows, &m, &MATRIX_VERBS[..]);
        let out = json!({"user": {"username": user.name, "groups": user.groups}, "namespace": ns, "resources": resources});
        return render(&out, format);
    }
    let color = use_color();
    let names: Vec<String> = rows.iter().map(name).collect();
    let w = names
        .iter()
        .map(|n| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let scope = if ns.is_empty() {
        "cluster-wide".to_string()
    } else {
        format!("in namespace {ns:?}")
    };
    let mut out = format!("what {} may do {scope}:\n{:w$}", user.name, "NAME");
    for v in MATRIX_VERBS {
        out.push_str(&format!("  {}", v.to_uppercase()));
    }
    out.push('\n');
    for (n, cells) in names.iter().zip(&m) {
        out.push_str(&format!("{n:w$}"));
        for (v, ok) in MATRIX_VERBS.iter().zip(cells) {
            let mark = match (*ok, color) {
                (true, true) => "\x1b[32m✔\x1b[0m",
                (false, true) => "\x1b[31m✖\x1b[0m",
                (true, false) => "✔",
                (false, false) => "✖",
            };
            // The mark under the middle of its column's heading.
            let width = v.len();
            let left = (width - 1) / 2;
            out.push_str(&format!(
                "  {:left$}{mark}{:right$}",
                "",
                "",
                right = width - 1 - left
            ));
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    }
    Ok(out)
}

/// `kubeward audit-rbac`'s arguments.
#[derive(Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    manifests: Manifests,
    /// Exit 1 when a finding is at least this severe (info, low, medium, high, critical)
    #[arg(long, value_name = "SEVERITY", value_parser = ["info", "low", "medium", "high", "critical"])]
    fail_on: Option<String>,
    /// Also list the bootstrap policy's own grants (severity info)
    #[arg(long)]
    show_info: bool,
    /// A previous `-o json` report: list only findings it does not hold
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Accepted findings, not listed: a YAML or JSON list of {id, subject[, namespace]}
    /// (a missing namespace matches any)
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
    /// Output: text (default), json, yaml, or sarif (SARIF 2.1.0, for code scanning)
    #[arg(short = 'o', long, value_parser = ["json", "yaml", "sarif"])]
    output: Option<String>,
}

/// A finding's identity across runs: what it is, who holds it, where, through what.
fn finding_key(f: &Value) -> String {
    format!(
        "{}|{}|{}|{}",
        f["id"].as_str().unwrap_or(""),
        f["subject"].as_str().unwrap_or(""),
        f["namespace"].as_str().unwrap_or(""),
        f["path"]
    )
}

fn read_yaml(path: &PathBuf) -> Result<Value, ExplainError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| crate::offline::OfflineError::Read(path.display().to_string(), e))?;
    serde_saphyr::from_str::<Value>(&text).map_err(|e| {
        ExplainError::Offline(crate::offline::OfflineError::Parse(
            path.display().to_string(),
            e.to_string(),
        ))
    })
}

/// SARIF 2.1.0: one rule per check, one result per finding, located at the manifest of the
/// binding that grants it (its first binding for a path).
fn sarif(findings: &[Value], sources: &crate::offline::Sources) -> Value {
    let mut rules: Vec<Value> = authz::rbac::audit::CHECKS
        .iter()
        .map(|c| json!({"id": c.id, "name": c.name, "shortDescription": {"text": c.why}}))
        .collect();
    rules.push(json!({"id": "KW100", "name": "escalation-path",
                      "shortDescription": {"text": "a chain of acts-as steps reaching cluster-admin's powers"}}));
    rules.push(json!({"id": "KW011", "name": "anonymous-access",
                      "shortDescription": {"text": "anything granted to unauthenticated requests"}}));
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let level = match f["severity"].as_str().unwrap_or("") {
                "critical" | "high" => "error",
                "medium" => "warning",
                _ => "note",
            };
            let binding = f["path"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|s| s["kind"] == "RoleBinding" || s["kind"] == "ClusterRoleBinding");
            let mut r = json!({"ruleId": f["id"], "level": level, "message": {"text": f["message"]}});
            if let Some(b) = binding {
                let key = (
                    b["kind"].as_str().unwrap_or("").to_string(),
                    b["namespace"].as_str().unwrap_or("").to_string(),
                    b["name"].as_str().unwrap_or("").to_string(),
                );
                let logical = format!("{}/{}/{}", key.0, key.1, key.2);
                let mut loc = json!({"logicalLocations": [{"fullyQualifiedName": logical, "kind": "resource"}]});
                if let Some(file) = sources.get(&key) {
                    loc["physicalLocation"] = json!({"artifactLocation": {"uri": file}});
                }
                r["locations"] = json!([loc]);
            }
            r
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{"tool": {"driver": {"name": "kubeward audit-rbac", "rules": rules}}, "results": results}],
    })
}

fn finding_json(f: &authz::rbac::audit::Finding) -> Value {
    json!({
        "id": f.id,
        "name": f.name,
        "severity": f.severity.name(),
        "subject": f.subject,
        "subjectKind": f.subject_kind,
        "namespace": f.namespace,
        "message": f.message,
        "path": f.path.iter().map(|s| json!({"kind": s.kind, "namespace": s.namespace, "name": s.name})).collect::<Vec<_>>(),
    })
}

/// Runs `kubeward audit-rbac`: what to print, and whether `--fail-on` was met.
pub(crate) async fn audit_rbac(args: &AuditArgs) -> Result<(String, bool), ExplainError> {
    use authz::rbac::audit::Severity;
    // The bootstrap policy's own bindings, unchanged, are expected: their grants are Info.
    let loaded = args.manifests.load(true).await?;
    let (policy, sources) = (&loaded.policy, &loaded.sources);
    let mut all = authz::rbac::audit::all_findings(policy, &|b| loaded.is_default(b));
    all.retain(|f| args.show_info || f.severity != Severity::Info);
    all.sort_by(authz::rbac::audit::report_order);
    // Accepted and already-known findings are left out.
    let known: std::collections::BTreeSet<String> = match &args.baseline {
        Some(p) => read_yaml(p)?["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .map(finding_key)
            .collect(),
        None => Default::default(),
    };
    let allowed: Vec<Value> = match &args.allow {
        Some(p) => read_yaml(p)?.as_array().cloned().unwrap_or_default(),
        None => Vec::new(),
    };
    let accepted = |f: &authz::rbac::audit::Finding| {
        allowed.iter().any(|a| {
            a["id"].as_str() == Some(f.id.as_str())
                && a["subject"].as_str() == Some(f.subject.as_str())
                && a.get("namespace")
                    .and_then(Value::as_str)
                    .is_none_or(|ns| ns == f.namespace)
        })
    };
    all.retain(|f| !accepted(f) && !known.contains(&finding_key(&finding_json(f))));
    let fail_on = args.fail_on.as_deref().and_then(Severity::parse);
    let failed = fail_on.is_some_and(|s| all.iter().any(|f| f.severity >= s));
    let text = match args.output.as_deref() {
        Some("sarif") => {
            let found: Vec<Value> = all.iter().map(finding_json).collect();
            serde_json::to_string_pretty(&sarif(&found, sources)).unwrap_or_default() + "\n"
        }
        Some(format) => render(
            &json!({"findings": all.iter().map(finding_json).collect::<Vec<_>>()}),
            format,
        )?,
        None => {
            let color = use_color();
            let mut out = String::new();
            for f in &all {
                let path: Vec<String> = f
                    .path
                    .iter()
                    .map(|s| match (s.kind.as_str(), s.namespace.is_empty()) {
                        ("Rule", _) => format!("rule {}", s.name),
                        (k, true) => format!("{k} {}", s.name),
                        (k, false) => format!("{k} {}/{}", s.namespace, s.name),
                    })
                    .collect();
                let severity = format!("{:8}", f.severity.name().to_uppercase());
                let severity = match (color, f.severity) {
                    (true, Severity::Critical | Severity::High) => {
                        format!("\x1b[31m{severity}\x1b[0m")
                    }
                    (true, Severity::Medium) => format!("\x1b[33m{severity}\x1b[0m"),
                    _ => severity,
                };
                out.push_str(&format!(
                    "{severity} {} {}\n         {}\n",
                    f.id,
                    f.message,
                    path.join(" → ")
                ));
            }
            let count = |s: Severity| all.iter().filter(|f| f.severity == s).count();
            out.push_str(&format!(
                "{} findings: {} critical, {} high, {} medium, {} low\n",
                all.len(),
                count(Severity::Critical),
                count(Severity::High),
                count(Severity::Medium),
                count(Severity::Low)
            ));
            out
        }
    };
    Ok((text, failed))
}
