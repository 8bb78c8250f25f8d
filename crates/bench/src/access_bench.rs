//! Who-can, the access matrix and the RBAC audit at 10,000 and 100,000 bindings, each beside
//! the client-side way on the same policy in the same process: one authorization decision per
//! candidate subject (asking the server about each, as a who-can built on reviews must) and
//! one per matrix cell (rakkess's one SelfSubjectAccessReview per cell, here without the
//! network, so the figures favour the client-side way).

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    clippy::cast_precision_loss,
    reason = "benchmarks: a failed step fails the run, they run on the real clock, and rates are floats"
)]

use api_types::UserInfo;
use authz::rbac::{self, explain, Index};
use authz::{Attributes, Authorizer};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeSet;
use std::time::Instant;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ms(t: std::time::Duration) -> f64 {
    t.as_secs_f64() * 1e3
}

pub(crate) fn run() {
    println!("| bindings | who-can get secrets (inverse map) | the same by a scan of every binding | one decision per subject | who-can create pods/exec (inverse map) | the same by a scan | access matrix (one user, one namespace) | one decision per cell | audit-rbac (findings + paths) | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for bindings in [10_000, 100_000] {
        let mut rng = StdRng::seed_from_u64(bindings as u64);
        let p = crate::authz_bench::policy(bindings, &mut rng);
        let idx = Index::from_policy(&p);
        let probe = Attributes {
            verb: "get".into(),
            resource_request: true,
            namespace: "ns5".into(),
            resource: "secrets".into(),
            ..Default::default()
        };
        // who-can from the inverse map, the same rows from a scan of every binding, and the
        // same answer from one decision per distinct subject.
        let t = Instant::now();
        let found = idx.who_can(&probe);
        let who = t.elapsed();
        let t = Instant::now();
        let scanned = explain::who_can(&p, &probe);
        let scan = t.elapsed();
        assert_eq!(found, scanned);
        // A narrow question (one namespace's Role grants it): the inverse map's cost follows
        // the answer, the scan's the policy.
        let team_ns = p
            .role_bindings
            .values()
            .find(|b| b.role_ref.kind == "Role")
            .map(|b| b.namespace.clone())
            .unwrap();
        let narrow = Attributes {
            namespace: team_ns,
            verb: "create".into(),
            subresource: "exec".into(),
            resource: "pods".into(),
            ..probe.clone()
        };
        let t = Instant::now();
        let few = idx.who_can(&narrow);
        let few_time = t.elapsed();
        let t = Instant::now();
        assert_eq!(few, explain::who_can(&p, &narrow));
        let few_scan = t.elapsed();
        assert!(!few.is_empty());
        let subjects: BTreeSet<(String, String)> = p
            .cluster_role_bindings
            .values()
            .chain(p.role_bindings.values())
            .flat_map(|b| b.subjects.iter().map(|s| (s.kind.clone(), s.name.clone())))
            .collect();
        let t = Instant::now();
        let mut allowed = 0;
        for (kind, name) in &subjects {
            let mut a = probe.clone();
            a.user = match kind.as_str() {
                "Group" => UserInfo {
                    name: "member".into(),
                    groups: vec![name.clone()],
                    ..Default::default()
                },
                _ => UserInfo {
                    name: name.clone(),
                    ..Default::default()
                },
            };
            allowed += usize::from(idx.authorize(&a).allowed());
        }
        let per_subject = t.elapsed();
        assert!(!found.is_empty() && allowed > 0);
        // The matrix of one user, and one decision per cell.
        let user = crate::authz_bench::requests(bindings, 1, &mut rng)[0]
            .user
            .clone();
        let cells: Vec<(String, String, String)> = registry::resources()
            .iter()
            .filter(|d| d.namespaced && !d.is_review())
            .take(13)
            .map(|d| (d.group.to_string(), d.resource.to_string(), String::new()))
            .collect();
        let verbs = explain::MATRIX_VERBS;
        let t = Instant::now();
        let m = idx.access_matrix(&user, "ns5", &cells, &verbs);
        let matrix = t.elapsed();
        let t = Instant::now();
        for (row, (g, r, s)) in m.iter().zip(&cells) {
            for (cell, verb) in row.iter().zip(verbs) {
                let a = Attributes {
                    user: user.clone(),
                    verb: verb.into(),
                    resource_request: true,
                    namespace: "ns5".into(),
                    api_group: g.clone(),
                    resource: r.clone(),
                    subresource: s.clone(),
                    ..Default::default()
                };
                assert_eq!(*cell, idx.authorize(&a).allowed());
            }
        }
        let per_cell = t.elapsed();
        // The audit, on everything.
        let t = Instant::now();
        let single = rbac::audit::findings(&p, &|_| false);
        let paths = rbac::audit::paths(&p, &single, &|_| false);
        let audit = t.elapsed();
        println!(
            "| {bindings} | {:.3} ms ({} subjects) | {:.2} ms | {:.2} ms ({} subjects asked) | {:.3} ms ({} subjects) | {:.2} ms | {:.3} ms | {:.3} ms ({} cells) | {:.0} ms ({} findings, {} paths) | {} MiB |",
            ms(who),
            found.len(),
            ms(scan),
            ms(per_subject),
            subjects.len(),
            ms(few_time),
            few.len(),
            ms(few_scan),
            ms(matrix),
            ms(per_cell),
            cells.len() * verbs.len(),
            ms(audit),
            single.len(),
            paths.len(),
            rss_kib() / 1024
        );
    }
}
