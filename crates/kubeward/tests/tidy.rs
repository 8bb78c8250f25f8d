//! Tidy: the architecture invariants a machine can check (rust-analyzer's `tidy.rs` habit).
//! Each check names the rule of ARCHITECTURE.md it enforces.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn crates() -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(root().join("crates"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Every `.rs` file below `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push((p.clone(), fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

/// The names in a Cargo.toml section (`[dependencies]`, `[dev-dependencies]`).
fn section(manifest: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            inside = t == format!("[{name}]");
            continue;
        }
        if inside && !t.is_empty() && !t.starts_with('#') {
            if let Some((k, _)) = t.split_once('=') {
                let k = k.trim();
                out.push(k.split('.').next().unwrap_or(k).to_string());
            }
        }
    }
    out
}

fn dependencies(krate: &str) -> Vec<String> {
    let manifest =
        fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap();
    section(&manifest, "dependencies")
}

#[test]
fn layering_rules_hold() {
    // "Only the server crate knows HTTP frameworks and TLS" (the binary wires TLS config).
    let http_tls = [
        "hyper",
        "hyper-util",
        "rustls",
        "tokio-rustls",
        "axum",
        "http",
        "http-body",
    ];
    let may = ["server", "kubeward", "bench"];
    // "Storage knows no Kubernetes"; "the registry knows no backend"; "controllers know no
    // storage"; the sans-IO crates know no async runtime.
    let forbidden: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        (
            "storage",
            vec!["api-types", "k8s-openapi", "registry", "authn", "authz"],
        ),
        ("registry", vec!["rusqlite"]),
        ("controllers", vec!["storage", "rusqlite"]),
        ("api-types", vec!["tokio", "storage", "registry"]),
        (
            "request-info",
            vec!["tokio", "storage", "registry", "api-types"],
        ),
        ("authn", vec!["tokio", "storage", "registry"]),
        ("authz", vec!["tokio", "storage", "registry"]),
        // The libraries below the registry are sans-IO and know no Kubernetes object store.
        (
            "strategicpatch",
            vec!["tokio", "storage", "registry", "api-types", "k8s-openapi"],
        ),
        (
            "managedfields",
            vec!["tokio", "storage", "registry", "api-types", "k8s-openapi"],
        ),
    ]);
    let mut broken = Vec::new();
    for krate in crates() {
        let deps = dependencies(&krate);
        if !may.contains(&krate.as_str()) {
            for d in deps.iter().filter(|d| http_tls.contains(&d.as_str())) {
                broken.push(format!("{krate} depends on {d}"));
            }
        }
        for d in forbidden.get(krate.as_str()).into_iter().flatten() {
            if deps.iter().any(|x| x == d) {
                broken.push(format!("{krate} depends on {d}"));
            }
        }
    }
    // "Controllers act only through a Client": the registry's own type never appears there.
    for (p, text) in sources(&root().join("crates/controllers/src")) {
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("Registry") {
                broken.push(format!(
                    "{}:{}: a controller names the Registry: {}",
                    p.display(),
                    i + 1,
                    line.trim()
                ));
            }
        }
    }
    let registry_src = sources(&root().join("crates/registry/src"));
    for (p, text) in &registry_src {
        if text.contains("SqliteStorage") || text.contains("MemoryStorage") {
            broken.push(format!("{} names a storage backend", p.display()));
        }
    }
    assert!(
        broken.is_empty(),
        "layering rules broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn every_dependency_is_used() {
    let mut unused = Vec::new();
    for krate in crates() {
        let dir = root().join("crates").join(&krate);
        let text: String = sources(&dir.join("src"))
            .into_iter()
            .map(|(_, t)| t)
            .collect();
        for dep in dependencies(&krate) {
            let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            // A renamed dependency (`webpki = { package = "rustls-webpki" }`) is used by its key.
            let ident = dep.replace('-', "_");
            let used = text.contains(&format!("{ident}::"))
                || text.contains(&format!("use {ident}"))
                || text.contains(&format!("extern crate {ident}"))
                // Proc-macro and feature-only crates show in attributes.
                || text.contains(&format!("{ident}("))
                || manifest.contains(&format!("# {dep}: used by features"));
            if !used {
                unused.push(format!("{krate}: {dep}"));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "dependencies no source uses:\n{}",
        unused.join("\n")
    );
}

#[test]
fn generic_code_names_kinds_by_constants() {
    // "Kinds are referred to by typed constants, not strings": no handler, store or review code
    // compares a resource name to a string literal (the kinds table itself defines them).
    let mut found = Vec::new();
    for dir in [
        "crates/server/src",
        "crates/registry/src",
        "crates/controllers/src",
    ] {
        for (p, text) in sources(&root().join(dir)) {
            if p.ends_with("kinds/mod.rs") {
                continue;
            }
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if code.contains(".resource == \"")
                    || code.contains(".resource != \"")
                    || (code.contains("match ") && code.contains(".resource {"))
                    || code.contains("served(\"")
                {
                    found.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "kind names compared as strings:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_stale_markers_and_every_crate_is_mapped() {
    let architecture = fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut problems = Vec::new();
    for krate in crates() {
        if !architecture.contains(&format!("### `crates/{krate}`")) {
            problems.push(format!("ARCHITECTURE.md has no section for crates/{krate}"));
        }
        for (p, text) in sources(&root().join("crates").join(&krate)) {
            for (i, line) in text.lines().enumerate() {
                // A marker for later work belongs in an issue, not in the code.
                let marked = ["TODO", "FIXME", "XXX", "issue lands"]
                    .iter()
                    .any(|m| line.contains(m) && !line.contains("\"TODO"));
                if marked && !p.ends_with("tidy.rs") {
                    problems.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn unsafe_code_lives_in_one_module_with_its_reasons() {
    // "unsafe only in the one module that needs it, each block with a // SAFETY: comment":
    // the sandbox's `ns.rs`; every other crate forbids it through the workspace's lints, and
    // the sandbox crate's own lints deny it everywhere else.
    let allowed = root().join("crates/sandbox/src/ns.rs");
    let mut problems = Vec::new();
    for krate in crates() {
        let manifest =
            fs::read_to_string(root().join("crates").join(&krate).join("Cargo.toml")).unwrap();
        let own_lints = krate == "sandbox";
        if !own_lints && !manifest.contains("[lints]\nworkspace = true") {
            problems.push(format!(
                "crates/{krate} does not take the workspace's lints"
            ));
        }
        if own_lints && !manifest.contains("unsafe_code = \"deny\"") {
            problems.push("crates/sandbox must deny unsafe code outside ns.rs".into());
        }
        for (p, text) in sources(&root().join("crates").join(&krate).join("src")) {
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if !code.contains("unsafe {")
                    && !code.contains("unsafe fn")
                    && !code.contains("unsafe impl")
                {
                    continue;
                }
                if p != allowed {
                    problems.push(format!(
                        "{}:{}: unsafe outside crates/sandbox/src/ns.rs",
                        p.display(),
                        i + 1
                    ));
                } else if !lines[..i]
                    .iter()
                    .rev()
                    .take(6)
                    .any(|l| l.trim_start().starts_with("// SAFETY:"))
                {
                    problems.push(format!(
                        "{}:{}: unsafe block without a // SAFETY: comment",
                        p.display(),
                        i + 1
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// ARCHITECTURE.md, `web/map`: the page writes graph text as text, never as markup, runs no
/// code made from strings, and fetches nothing from another origin.
#[test]
fn the_map_page_writes_text_as_text_and_fetches_only_its_own_server() {
    let dir = root().join("web/map");
    let mut problems = Vec::new();
    for name in ["map.js", "index.html", "map.css"] {
        let text = fs::read_to_string(dir.join(name)).unwrap();
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "http://",
            "https://",
            "//cdn",
        ] {
            if text.contains(banned) {
                problems.push(format!("web/map/{name} uses {banned}"));
            }
        }
    }
    // Every request the page makes is relative to where it was served.
    let js = fs::read_to_string(dir.join("map.js")).unwrap();
    for call in js.split("fetch(").skip(1) {
        if !call.starts_with("new URL(") && !call.starts_with("url,") {
            problems.push(format!(
                "web/map/map.js fetches {}",
                &call[..call.len().min(40)]
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
