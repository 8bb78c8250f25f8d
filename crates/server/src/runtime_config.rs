//! `--runtime-config`, as kube-apiserver reads it (`staging/src/k8s.io/apiserver/pkg/server/
//! resourceconfig/helpers.go`, `MergeAPIResourceConfigs`): which group versions are served,
//! by `api/all`, `api/ga`, `api/beta`, `api/alpha` and `group/version` keys, the broad ones
//! first; and the deprecation warnings of the old versions kubeward serves beyond a stock
//! 1.33 (`endpoints/deprecation/deprecation.go`, with the versions' prerelease-lifecycle
//! tags).

use std::collections::BTreeSet;

/// The group versions that are not served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuntimeConfig {
    off: BTreeSet<(String, String)>,
}

/// The group versions kubeward's controllers use.
const REQUIRED: [(&str, &str); 3] = [
    ("", "v1"),
    ("rbac.authorization.k8s.io", "v1"),
    ("coordination.k8s.io", "v1"),
];

/// How stable a version is, by its name.
fn stability(version: &str) -> &'static str {
    if version.contains("alpha") {
        "alpha"
    } else if version.contains("beta") {
        "beta"
    } else {
        "ga"
    }
}

impl RuntimeConfig {
    /// Reads `key[=true|false]` entries over the group versions kubeward serves (`served`:
    /// group, version); a key naming nothing kubeward serves is reported back as a notice,
    /// as a cluster's flags may name groups kubeward lacks.
    pub fn parse(
        entries: &[String],
        served: &[(&str, &str)],
    ) -> Result<(RuntimeConfig, Vec<String>), String> {
        let mut parsed = Vec::new();
        for e in entries.iter().filter(|e| !e.is_empty()) {
            let (key, value) = e.split_once('=').unwrap_or((e.as_str(), ""));
            let on = match value {
                "" | "true" => true,
                "false" => false,
                _ => return Err(format!("invalid value {key}={value}")),
            };
            parsed.push((key.to_string(), on));
        }
        let mut off = BTreeSet::new();
        let mut set = |on: bool, group: &str, version: &str| {
            let gv = (group.to_string(), version.to_string());
            if on {
                off.remove(&gv);
            } else {
                off.insert(gv);
            }
        };
        // The broad keys first, in upstream's order, then each group version.
        for broad in ["api/all", "api/ga", "api/beta", "api/alpha"] {
            for (_, on) in parsed.iter().filter(|(k, _)| k == broad) {
                for (g, v) in served {
                    if broad == "api/all" || broad == format!("api/{}", stability(v)) {
                        set(*on, g, v);
                    }
                }
            }
        }
        let mut notices = Vec::new();
        for (key, on) in parsed
            .iter()
            .filter(|(k, _)| !k.starts_with("api/") || k == "api/v1" || k == "api/legacy")
        {
            let (group, version) = match key.as_str() {
                "v1" | "api/v1" | "api/legacy" => ("", "v1"),
                k => match k.split('/').collect::<Vec<_>>().as_slice() {
                    [g, v] => (*g, *v),
                    [g, v, _resource] => {
                        notices.push(format!("--runtime-config {k}: kubeward turns whole group versions on and off, not single resources ({g}/{v})"));
                        continue;
                    }
                    _ => return Err(format!("invalid key {k}")),
                },
            };
            if !served.contains(&(group, version)) {
                notices.push(format!(
                    "--runtime-config {key}: kubeward serves no {key}; it changes nothing"
                ));
                continue;
            }
            set(*on, group, version);
        }
        // What kubeward's own controllers write through (the default policy, service
        // accounts, leases) stays: without it the server cannot start.
        for (g, v) in REQUIRED {
            if off.contains(&(g.to_string(), v.to_string())) {
                let gv = if g.is_empty() {
                    v.to_string()
                } else {
                    format!("{g}/{v}")
                };
                return Err(format!(
                    "{gv} cannot be turned off: kubeward's own controllers write through it"
                ));
            }
        }
        Ok((RuntimeConfig { off }, notices))
    }

    /// Whether `group/version` is served.
    pub fn serves(&self, group: &str, version: &str) -> bool {
        !self.off.iter().any(|(g, v)| g == group && v == version)
    }
}

/// The `Warning` a request to a deprecated version gets (`deprecation.WarningMessage`), for
/// the versions kubeward serves that a stock 1.33 no longer does.
pub(crate) fn deprecation(group: &str, version: &str, kind: &str) -> Option<String> {
    let ((dmaj, dmin), (rmaj, rmin), replacement) = match (group, version) {
        ("rbac.authorization.k8s.io", "v1beta1" | "v1alpha1") => ((1, 17), (1, 22), Some("v1")),
        ("authentication.k8s.io", "v1beta1") if kind == "SelfSubjectReview" => {
            ((1, 30), (1, 33), None)
        }
        _ => return None,
    };
    let mut w = format!(
        "{group}/{version} {kind} is deprecated in v{dmaj}.{dmin}+, unavailable in v{rmaj}.{rmin}+"
    );
    if let Some(v) = replacement {
        w.push_str(&format!("; use {group}/{v} {kind}"));
    }
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVED: &[(&str, &str)] = &[
        ("", "v1"),
        ("rbac.authorization.k8s.io", "v1"),
        ("rbac.authorization.k8s.io", "v1beta1"),
        ("rbac.authorization.k8s.io", "v1alpha1"),
        ("authentication.k8s.io", "v1"),
        ("authentication.k8s.io", "v1beta1"),
    ];

    fn off(entries: &[&str]) -> Result<Vec<String>, String> {
        let entries: Vec<String> = entries.iter().map(|s| s.to_string()).collect();
        let (rc, _) = RuntimeConfig::parse(&entries, SERVED)?;
        Ok(SERVED
            .iter()
            .filter(|(g, v)| !rc.serves(g, v))
            .map(|(g, v)| format!("{g}/{v}"))
            .collect())
    }

    #[test]
    fn runtime_config_as_kube_apiserver_merges_it() {
        assert_eq!(off(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(
            off(&["api/beta=false", "api/alpha=false"]).unwrap(),
            [
                "rbac.authorization.k8s.io/v1beta1",
                "rbac.authorization.k8s.io/v1alpha1",
                "authentication.k8s.io/v1beta1"
            ]
        );
        // A group version wins over the broad keys, whatever the order.
        assert_eq!(
            off(&["rbac.authorization.k8s.io/v1beta1=true", "api/beta=false"]).unwrap(),
            ["authentication.k8s.io/v1beta1"]
        );
        assert_eq!(
            off(&[
                "api/all=false",
                "api/v1=true",
                "rbac.authorization.k8s.io/v1"
            ])
            .unwrap(),
            [
                "rbac.authorization.k8s.io/v1beta1",
                "rbac.authorization.k8s.io/v1alpha1",
                "authentication.k8s.io/v1",
                "authentication.k8s.io/v1beta1"
            ]
        );
        assert_eq!(off(&["a/b=maybe"]).unwrap_err(), "invalid value a/b=maybe");
        assert_eq!(
            off(&["api/all=false"]).unwrap_err(),
            "v1 cannot be turned off: kubeward's own controllers write through it"
        );
        assert!(off(&["rbac.authorization.k8s.io/v1=false"])
            .unwrap_err()
            .starts_with("rbac.authorization.k8s.io/v1 cannot"));
        let (_, notices) = RuntimeConfig::parse(&["apps/v1=false".to_string()], SERVED).unwrap();
        assert_eq!(
            notices,
            ["--runtime-config apps/v1: kubeward serves no apps/v1; it changes nothing"]
        );
    }

    #[test]
    fn deprecation_warnings_as_upstream_words_them() {
        assert_eq!(
            deprecation("rbac.authorization.k8s.io", "v1beta1", "ClusterRole").unwrap(),
            "rbac.authorization.k8s.io/v1beta1 ClusterRole is deprecated in v1.17+, unavailable in v1.22+; use rbac.authorization.k8s.io/v1 ClusterRole"
        );
        assert_eq!(
            deprecation("authentication.k8s.io", "v1beta1", "SelfSubjectReview").unwrap(),
            "authentication.k8s.io/v1beta1 SelfSubjectReview is deprecated in v1.30+, unavailable in v1.33+"
        );
        assert_eq!(deprecation("rbac.authorization.k8s.io", "v1", "Role"), None);
    }
}
