//! `/healthz`, `/livez` and `/readyz` as kube-apiserver's `healthz` package answers them:
//! `ok`, or with `?verbose` a `[+]<check> ok` line per check and `<endpoint> check passed`;
//! `?exclude=<check>` skips one; a failure is a 500 listing `[-]<check> failed: reason
//! withheld` (the reason is logged, never sent); `/<endpoint>/<check>` runs one check.

use crate::respond::{self, Resp};
use crate::State;

/// The checks of an endpoint, in upstream's order (the post-start hooks kubeward runs).
fn checks(endpoint: &str) -> &'static [&'static str] {
    // Not upstream: kube-apiserver's /livez also runs `etcd`, so a liveness probe restarts
    // every replica while etcd is down, which mends nothing (kubernetes/kubernetes#130229,
    // #111290). Here liveness is the process's own; /readyz reports the store.
    const LIVE: &[&str] = &[
        "ping",
        "log",
        "poststarthook/start-system-namespaces-controller",
        "poststarthook/rbac/bootstrap-roles",
    ];
    const READY: &[&str] = &[
        "ping",
        "log",
        "etcd",
        "etcd-readiness",
        "informer-sync",
        "poststarthook/start-system-namespaces-controller",
        "poststarthook/rbac/bootstrap-roles",
        "shutdown",
    ];
    match endpoint {
        "readyz" => READY,
        _ => LIVE,
    }
}

/// One check's result; the error is for the log.
fn run(state: &State, check: &str) -> Result<(), String> {
    match check {
        // Storage answers: the current revision can be read.
        "etcd" | "etcd-readiness" => state
            .registry
            .storage()
            .current_revision()
            .map(drop)
            .map_err(|e| e.to_string()),
        // Done once the start-up work that precedes serving is (the server is then ready).
        "informer-sync"
        | "poststarthook/start-system-namespaces-controller"
        | "poststarthook/rbac/bootstrap-roles" => {
            if state.is_ready() {
                Ok(())
            } else {
                Err("not finished".into())
            }
        }
        // Fails from the first moment of a graceful shutdown (upstream's `shutdown` check),
        // so load balancers stop sending while in-flight work finishes.
        "shutdown" if state.shutdown.phase() >= crate::shutdown::Phase::Draining => {
            Err("the server is shutting down".into())
        }
        _ => Ok(()),
    }
}

fn text(code: u16, body: &str) -> Resp {
    let mut r = respond::text(code, body);
    r.headers_mut().insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    r
}

/// `path` is `/healthz`, `/livez`, `/readyz`, or one of them with `/<check>`; None when it is
/// none of them.
pub(crate) fn handle(state: &State, path: &str, query: &str) -> Option<Resp> {
    let rest = path.strip_prefix('/')?;
    let (endpoint, check) = rest.split_once('/').unwrap_or((rest, ""));
    if !matches!(endpoint, "healthz" | "livez" | "readyz") {
        return None;
    }
    let all = checks(endpoint);
    if !check.is_empty() {
        if !all.contains(&check) {
            return None;
        }
        return Some(match run(state, check) {
            Ok(()) => text(200, "ok"),
            Err(e) => text(500, &format!("internal server error: {e}\n")),
        });
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let verbose = pairs.iter().any(|(k, _)| k == "verbose");
    let mut excluded: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "exclude")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut out = String::new();
    let mut failed = Vec::new();
    for name in all {
        if let Some(i) = excluded.iter().position(|x| x == name) {
            excluded.remove(i);
            out.push_str(&format!("[+]{name} excluded: ok\n"));
            continue;
        }
        match run(state, name) {
            Ok(()) => out.push_str(&format!("[+]{name} ok\n")),
            Err(e) => {
                tracing::info!(check = name, error = %e, "{endpoint} check failed");
                out.push_str(&format!("[-]{name} failed: reason withheld\n"));
                failed.push(*name);
            }
        }
    }
    if !excluded.is_empty() {
        let quoted: Vec<String> = excluded.iter().map(|x| format!("{x:?}")).collect();
        out.push_str(&format!(
            "warn: some health checks cannot be excluded: no matches for {}\n",
            quoted.join(",")
        ));
    }
    Some(if !failed.is_empty() {
        text(500, &format!("{out}{endpoint} check failed\n"))
    } else if verbose {
        text(200, &format!("{out}{endpoint} check passed\n"))
    } else {
        text(200, "ok")
    })
}
