//! Who-can and the access matrix against a running kubeward holding 10,000 and 100,000
//! bindings (`authz_bench`'s generated policy, created through the API), each answered three
//! ways against the same server in the same run: by the server from its index in one request
//! (WhoCanReview, AccessMatrixReview); by the client-side ways other tools take — one
//! SubjectAccessReview per candidate subject (a who-can built on reviews) or per cell (rakkess),
//! and a full list of every RBAC object then a scan (kubectl-who-can; here `kubeward who-can`
//! and `access-matrix` without `-f`, as a user runs them). Every way's answer is checked
//! against the others.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::cast_precision_loss,
    reason = "benchmarks: a failed step fails the run, they run on the real clock, and rates are floats"
)]

use crate::{client_config, connect, send, Kubeward, Sender};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

const RBAC: &str = "/apis/rbac.authorization.k8s.io/v1";

/// POSTs every (path, body) over `conns` connections; 409 (a bootstrap role of that name)
/// counts as there.
async fn create_all(port: u16, dir: &Path, objects: Vec<(String, Value)>, conns: usize) {
    let chunk = objects.len().div_ceil(conns).max(1);
    let mut tasks = Vec::new();
    for part in objects.chunks(chunk) {
        let part = part.to_vec();
        let tls = client_config(dir, true);
        tasks.push(tokio::spawn(async move {
            let mut s = connect(port, tls).await;
            for (path, body) in part {
                let (code, resp) = send(
                    &mut s,
                    "POST",
                    &path,
                    Some(serde_json::to_vec(&body).unwrap()),
                )
                .await;
                assert!(
                    code == 201 || code == 409,
                    "{path}: {code} {}",
                    String::from_utf8_lossy(&resp)
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn subject_json(s: &authz::rbac::Subject) -> Value {
    let mut v = json!({"kind": s.kind, "name": s.name});
    if !s.api_group.is_empty() {
        v["apiGroup"] = s.api_group.clone().into();
    }
    if !s.namespace.is_empty() {
        v["namespace"] = s.namespace.clone().into();
    }
    v
}

fn binding_json(b: &authz::rbac::Binding) -> Value {
    let mut meta = json!({"name": b.name});
    if !b.namespace.is_empty() {
        meta["namespace"] = b.namespace.clone().into();
    }
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": if b.namespace.is_empty() { "ClusterRoleBinding" } else { "RoleBinding" },
        "metadata": meta,
        "roleRef": {"apiGroup": b.role_ref.api_group, "kind": b.role_ref.kind, "name": b.role_ref.name},
        "subjects": b.subjects.iter().map(subject_json).collect::<Vec<_>>(),
    })
}

fn rule_json(r: &authz::rbac::PolicyRule) -> Value {
    json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources})
}

/// The generated policy's objects, as API paths and bodies, in the order they can be made.
fn objects(p: &authz::rbac::Policy) -> Vec<Vec<(String, Value)>> {
    let namespaces: BTreeSet<&String> = p
        .roles
        .keys()
        .map(|(ns, _)| ns)
        .chain(p.role_bindings.keys().map(|(ns, _)| ns))
        .collect();
    let ns: Vec<(String, Value)> = namespaces
        .iter()
        .map(|n| {
            (
                "/api/v1/namespaces".to_string(),
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}),
            )
        })
        .collect();
    let mut roles: Vec<(String, Value)> = p
        .cluster_roles
        .iter()
        .map(|(name, rules)| {
            (
                format!("{RBAC}/clusterroles"),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
                       "rules": rules.iter().map(rule_json).collect::<Vec<_>>()}),
            )
        })
        .collect();
    roles.extend(p.roles.iter().map(|((ns, name), rules)| {
        (
            format!("{RBAC}/namespaces/{ns}/roles"),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name, "namespace": ns},
                   "rules": rules.iter().map(rule_json).collect::<Vec<_>>()}),
        )
    }));
    let bindings = p
        .cluster_role_bindings
        .values()
        .map(|b| (format!("{RBAC}/clusterrolebindings"), binding_json(b)))
        .chain(p.role_bindings.values().map(|b| {
            (
                format!("{RBAC}/namespaces/{}/rolebindings", b.namespace),
                binding_json(b),
            )
        }))
        .collect();
    vec![ns, roles, bindings]
}

/// POSTs `body` to `path` five times: the median time, and the answer.
async fn review(s: &mut Sender, path: &str, body: &Value) -> (Duration, Value) {
    let body = serde_json::to_vec(body).unwrap();
    let mut times = Vec::new();
    let mut answer = Value::Null;
    for _ in 0..5 {
        let t = Instant::now();
        let (code, resp) = send(s, "POST", path, Some(body.clone())).await;
        times.push(t.elapsed());
        assert_eq!(code, 201, "{}", String::from_utf8_lossy(&resp));
        answer = serde_json::from_slice(&resp).unwrap();
    }
    times.sort_unstable();
    (times[2], answer)
}

/// `kubeward ARGS` against the server, as a user runs it: its JSON answer.
fn cli(k: &Kubeward, args: &[&str]) -> Value {
    let out = std::process::Command::new(crate::kubeward_bin())
        .args(args)
        .arg("--kubeconfig")
        .arg(k.dir.join("admin.kubeconfig"))
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kubeward {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) async fn run(dir: &Path) {
    println!("| bindings | who-can: WhoCanReview (one request) | one SubjectAccessReview per subject | list every RBAC object, then scan (`kubeward who-can` without -f) | matrix: AccessMatrixReview | one SubjectAccessReview per cell | list, then compute (`kubeward access-matrix` without -f) | server RSS |");
    println!("|---|---|---|---|---|---|---|---|");
    for bindings in [10_000usize, 100_000] {
        let d = dir.join(format!("access-{bindings}"));
        let (k, _) = Kubeward::start_with(&d, 0, &["--storage", "memory://"]);
        let mut rng = StdRng::seed_from_u64(bindings as u64);
        let p = crate::authz_bench::policy(bindings, &mut rng);
        for batch in objects(&p) {
            create_all(k.port, &d, batch, 8).await;
        }
        let mut s = connect(k.port, client_config(&d, true)).await;
        // who-can get secrets in ns5, three ways.
        let who_can = json!({"apiVersion": "access.kubeward.io/v1alpha1", "kind": "WhoCanReview",
            "spec": {"resourceAttributes": {"verb": "get", "resource": "secrets", "namespace": "ns5"}}});
        let (server_who, answer) = review(
            &mut s,
            "/apis/access.kubeward.io/v1alpha1/whocanreviews",
            &who_can,
        )
        .await;
        let rows = answer["status"]["subjects"].as_array().unwrap().clone();
        let allowed_names: BTreeSet<String> = rows
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        let t = Instant::now();
        let listed = cli(&k, &["who-can", "get", "secrets", "-n", "ns5"]);
        let list_scan = t.elapsed();
        assert_eq!(listed["allowed"].as_array().unwrap(), &rows);
        // One review per distinct subject of any binding.
        let subjects: BTreeSet<(String, String)> = p
            .cluster_role_bindings
            .values()
            .chain(p.role_bindings.values())
            .flat_map(|b| b.subjects.iter())
            .map(|s| match s.kind.as_str() {
                "ServiceAccount" => (
                    "User".to_string(),
                    format!("system:serviceaccount:{}:{}", s.namespace, s.name),
                ),
                k => (k.to_string(), s.name.clone()),
            })
            .collect();
        let t = Instant::now();
        let mut yes = BTreeSet::new();
        for (kind, name) in &subjects {
            let spec = if kind == "Group" {
                json!({"user": "member", "groups": [name]})
            } else {
                json!({"user": name})
            };
            let mut sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec});
            sar["spec"]["resourceAttributes"] =
                json!({"verb": "get", "resource": "secrets", "namespace": "ns5"});
            let (code, resp) = send(
                &mut s,
                "POST",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                Some(serde_json::to_vec(&sar).unwrap()),
            )
            .await;
            assert_eq!(code, 201);
            if serde_json::from_slice::<Value>(&resp).unwrap()["status"]["allowed"] == true {
                yes.insert(name.clone());
            }
        }
        let per_subject = t.elapsed();
        // Every generated subject the reviews allow is listed, and only those (the server's
        // own bootstrap subjects are listed too).
        let generated: BTreeSet<&String> = subjects.iter().map(|(_, n)| n).collect();
        let listed_generated: BTreeSet<String> = allowed_names
            .iter()
            .filter(|n| generated.contains(n))
            .cloned()
            .collect();
        assert_eq!(listed_generated, yes);
        // The access matrix of a bound user in ns5, three ways.
        let user = p
            .role_bindings
            .values()
            .find(|b| b.namespace == "ns5" && b.subjects[0].kind == "User")
            .map(|b| b.subjects[0].name.clone())
            .unwrap();
        let matrix_review = json!({"apiVersion": "access.kubeward.io/v1alpha1", "kind": "AccessMatrixReview",
            "spec": {"user": user, "groups": ["system:authenticated"], "resourceAttributes": {"namespace": "ns5"}}});
        let (server_matrix, answer) = review(
            &mut s,
            "/apis/access.kubeward.io/v1alpha1/accessmatrixreviews",
            &matrix_review,
        )
        .await;
        let matrix = answer["status"]["resources"].as_object().unwrap().clone();
        let t = Instant::now();
        let computed = cli(&k, &["access-matrix", "--as", &user, "-n", "ns5"]);
        let list_compute = t.elapsed();
        assert_eq!(computed["resources"].as_object().unwrap(), &matrix);
        let verbs = authz::rbac::explain::MATRIX_VERBS;
        let t = Instant::now();
        let mut cells = 0;
        for (name, held) in &matrix {
            let (main, sub) = name.split_once('/').unwrap_or((name, ""));
            let (resource, group) = main.split_once('.').unwrap_or((main, ""));
            for verb in verbs {
                let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                    "spec": {"user": user, "groups": ["system:authenticated"], "resourceAttributes":
                        {"verb": verb, "group": group, "resource": resource, "subresource": sub, "namespace": "ns5"}}});
                let (_, resp) = send(
                    &mut s,
                    "POST",
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    Some(serde_json::to_vec(&sar).unwrap()),
                )
                .await;
                let allowed =
                    serde_json::from_slice::<Value>(&resp).unwrap()["status"]["allowed"] == true;
                assert_eq!(allowed, held.as_array().unwrap().contains(&json!(verb)));
                cells += 1;
            }
        }
        let per_cell = t.elapsed();
        println!(
            "| {bindings} | {:.2} ms ({} rows) | {:.0} ms ({} subjects asked) | {:.0} ms | {:.2} ms | {:.1} ms ({cells} cells) | {:.0} ms | {} MiB |",
            ms(server_who),
            rows.len(),
            ms(per_subject),
            subjects.len(),
            ms(list_scan),
            ms(server_matrix),
            ms(per_cell),
            ms(list_compute),
            k.rss_kib() / 1024
        );
    }
}
