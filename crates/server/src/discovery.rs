//! Discovery documents: legacy (`/api`, `/apis`, `/apis/G`, `/api/v1`, `/apis/G/V`) and
//! aggregated (`apidiscovery.k8s.io` v2 and v2beta1), built once from the served resources.

use registry::ResourceDef;
use serde_json::{json, Value};

/// A version of a group and the resources it serves.
type Version = (String, Vec<&'static ResourceDef>);

/// Every served group-version with its resources, in discovery order.
pub struct Discovery {
    /// (group, versions), core first; the first version is the preferred one.
    groups: Vec<(String, Vec<Version>)>,
    server_address: String,
}

/// Subresources whose kind lives in another group (`serviceaccounts/token` is a TokenRequest).
impl Discovery {
    /// The discovery documents of `defs` in the group versions `serves` keeps, naming
    /// `server_address` as the server's address.
    pub fn new(
        defs: &'static [&'static ResourceDef],
        server_address: String,
        serves: &dyn Fn(&str, &str) -> bool,
    ) -> Self {
        let mut groups: Vec<(String, Vec<Version>)> = Vec::new();
        for def in defs {
            let gi = match groups.iter().position(|(g, _)| g == def.group) {
                Some(i) => i,
                None => {
                    groups.push((def.group.to_string(), Vec::new()));
                    groups.len() - 1
                }
            };
            for v in def.versions.iter().filter(|v| serves(def.group, v)) {
                let versions = &mut groups[gi].1;
                match versions.iter_mut().find(|(vv, _)| vv == v) {
                    Some((_, list)) => list.push(def),
                    None => versions.push((v.to_string(), vec![def])),
                }
            }
        }
        // A group none of whose versions is served is not listed.
        groups.retain(|(_, versions)| !versions.is_empty());
        Discovery {
            groups,
            server_address,
        }
    }

    /// The address the documents name.
    pub fn server_address(&self) -> &str {
        &self.server_address
    }

    fn resources(&self, group: &str, version: &str) -> Option<&[&'static ResourceDef]> {
        let (_, versions) = self.groups.iter().find(|(g, _)| g == group)?;
        versions
            .iter()
            .find(|(v, _)| v == version)
            .map(|(_, r)| r.as_slice())
    }

    /// `GET /api` (APIVersions).
    pub fn api_versions(&self) -> Value {
        json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_address}],
        })
    }

    fn group_doc(&self, group: &str, versions: &[Version]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|(v, _)| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
            .collect();
        json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
    }

    /// `GET /apis` (APIGroupList).
    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups
            .iter()
            .filter(|(g, _)| !g.is_empty())
            .map(|(g, vs)| self.group_doc(g, vs))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    /// `GET /apis/G` (APIGroup).
    pub fn api_group(&self, group: &str) -> Option<Value> {
        let (g, vs) = self
            .groups
            .iter()
            .find(|(g, _)| g == group && !g.is_empty())?;
        let mut doc = self.group_doc(g, vs);
        doc["kind"] = "APIGroup".into();
        doc["apiVersion"] = "v1".into();
        Some(doc)
    }

    /// `GET /api/v1` or `/apis/G/V` (APIResourceList).
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let defs = self.resources(group, version)?;
        let mut out = Vec::new();
        for d in defs {
            let mut r = json!({
                "name": d.resource,
                "singularName": d.singular,
                "namespaced": d.namespaced,
                "kind": d.kind,
                "verbs": d.verbs,
            });
            if !d.short_names.is_empty() {
                r["shortNames"] = json!(d.short_names);
            }
            if !d.categories.is_empty() {
                r["categories"] = json!(d.categories);
            }
            if d.verbs.contains(&"get") {
                // A stored kind's (the reviews are not stored, so have none).
                r["storageVersionHash"] = storage_version_hash(
                    d.group,
                    d.versions.first().copied().unwrap_or(""),
                    d.kind,
                )
                .into();
            }
            out.push(r);
            for sub in d.subresources {
                let mut entry = json!({
                    "name": format!("{}/{}", d.resource, sub.name),
                    "singularName": "",
                    "namespaced": d.namespaced,
                    "kind": d.kind,
                    "verbs": sub.verbs,
                });
                if let Some((g, v, k)) = sub.kind {
                    entry["group"] = g.into();
                    entry["version"] = v.into();
                    entry["kind"] = k.into();
                }
                out.push(entry);
            }
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        let mut doc = json!({"kind": "APIResourceList", "groupVersion": gv, "resources": out});
        // kube-apiserver writes the legacy group's list without an apiVersion (a kubectl -v8
        // log of 1.33 shows `{"kind":"APIResourceList","groupVersion":"v1",...`), and every
        // named group's with `"apiVersion":"v1"`.
        if !group.is_empty() {
            doc["apiVersion"] = "v1".into();
        }
        Some(doc)
    }

    fn aggregated_group(&self, group: &str, versions: &[Version]) -> Value {
        let vs: Vec<Value> = versions
            .iter()
            .map(|(v, defs)| {
                let resources: Vec<Value> = defs
                    .iter()
                    .map(|d| {
                        let kind = json!({"group": d.group, "version": v, "kind": d.kind});
                        let mut r = json!({
                            "resource": d.resource,
                            "responseKind": kind,
                            "scope": if d.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": d.singular,
                            "verbs": d.verbs,
                        });
                        if !d.short_names.is_empty() {
                            r["shortNames"] = json!(d.short_names);
                        }
                        if !d.categories.is_empty() {
                            r["categories"] = json!(d.categories);
                        }
                        if !d.subresources.is_empty() {
                            r["subresources"] = d
                                .subresources
                                .iter()
                                .map(|s| {
                                    let rk = match s.kind {
                                        Some((g, v, k)) => json!({"group": g, "version": v, "kind": k}),
                                        None => kind.clone(),
                                    };
                                    json!({"subresource": s.name, "responseKind": rk, "verbs": s.verbs})
                                })
                                .collect();
                        }
                        r
                    })
                    .collect();
                json!({"version": v, "resources": resources, "freshness": "Current"})
            })
            .collect();
        let mut meta = json!({"creationTimestamp": null});
        if !group.is_empty() {
            meta["name"] = group.into();
        }
        json!({"metadata": meta, "versions": vs})
    }

    /// Aggregated discovery for `/api` (`core`) or `/apis`, in `apidiscovery.k8s.io/<version>`.
    pub fn aggregated(&self, core: bool, version: &str) -> Value {
        let items: Vec<Value> = self
            .groups
            .iter()
            .filter(|(g, _)| g.is_empty() == core)
            .map(|(g, vs)| self.aggregated_group(g, vs))
            .collect();
        json!({
            "kind": "APIGroupDiscoveryList",
            "apiVersion": format!("apidiscovery.k8s.io/{version}"),
            "metadata": {},
            "items": items,
        })
    }
}

/// The aggregated discovery version the Accept header asks for first, if any.
pub(crate) fn wants_aggregated(accept: Option<&str>) -> Option<&'static str> {
    for range in accept.unwrap_or("").split(',') {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        if params.first() != Some(&"application/json") {
            continue;
        }
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some("v2");
            }
            if has("v=v2beta1") {
                return Some("v2beta1");
            }
        }
        if params.len() == 1 {
            return None;
        }
    }
    None
}

/// `discovery.StorageVersionHash` (apiserver's `endpoints/discovery/storageversionhash.go`): the
/// first 8 bytes of SHA-256 over `group/version/kind` of the version objects are stored in,
/// base64; clients compare it to notice a storage migration.
pub(crate) fn storage_version_hash(group: &str, version: &str, kind: &str) -> String {
    use base64::Engine;
    let d = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{group}/{version}/{kind}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(&d.as_ref()[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_version_hashes_are_upstreams() {
        // Upstream's own table (`test/integration/etcd/storageversionhashdata/data.go`,
        // `GVRToStorageVersionHash`), for the kinds kubeward stores; the reviews have none
        // (`NoStorageVersionHash`).
        let upstream = [
            ("v1/configmaps", "qFsyl6wFWjQ="),
            ("v1/endpoints", "fWeeMqaN/OA="),
            ("v1/events", "r2yiGXH7wu8="),
            ("v1/namespaces", "Q3oi5N2YM8M="),
            ("v1/nodes", "XwShjMxG9Fs="),
            ("v1/pods", "xPOwRZ+Yhw8="),
            ("v1/secrets", "S6u1pOWzb84="),
            ("v1/serviceaccounts", "pbx9ZvyFpBE="),
            ("v1/services", "0/CO1lhkEBI="),
            ("coordination.k8s.io/v1/leases", "gqkMMb/YqFM="),
            ("discovery.k8s.io/v1/endpointslices", "qgS0xkrxYAI="),
            (
                "rbac.authorization.k8s.io/v1/clusterrolebindings",
                "48tpQ8gZHFc=",
            ),
            ("rbac.authorization.k8s.io/v1/clusterroles", "bYE5ZWDrJ44="),
            ("rbac.authorization.k8s.io/v1/rolebindings", "eGsCzGH6b1g="),
            ("rbac.authorization.k8s.io/v1/roles", "7FuwZcIIItM="),
        ];
        let mut stored = 0;
        for d in registry::resources() {
            if !d.verbs.contains(&"get") || d.group.ends_with("kubeward.io") {
                continue;
            }
            let v = d.versions[0];
            let gvr = if d.group.is_empty() {
                format!("{v}/{}", d.resource)
            } else {
                format!("{}/{v}/{}", d.group, d.resource)
            };
            let want = upstream
                .iter()
                .find(|(k, _)| *k == gvr)
                .unwrap_or_else(|| panic!("{gvr}: not in upstream's table"))
                .1;
            assert_eq!(storage_version_hash(d.group, v, d.kind), want, "{gvr}");
            stored += 1;
        }
        assert_eq!(stored, upstream.len());
    }

    #[test]
    fn accept_versions_of_kubectl() {
        let k127 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let k133 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(wants_aggregated(Some(k127)), Some("v2beta1"));
        assert_eq!(wants_aggregated(Some(k133)), Some("v2"));
        assert_eq!(wants_aggregated(Some("application/json, */*")), None);
        assert_eq!(wants_aggregated(None), None);
    }

    #[test]
    fn documents_list_every_resource_with_response_kinds() {
        let d = Discovery::new(registry::resources(), "127.0.0.1:6443".into(), &|_, _| true);
        let core = d.resource_list("", "v1").unwrap();
        let names: Vec<&str> = core["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert!(names.contains(&"pods") && names.contains(&"namespaces/finalize"));
        let agg = d.aggregated(true, "v2");
        let res = &agg["items"][0]["versions"][0]["resources"];
        assert!(res
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["responseKind"]["kind"].is_string()));
        assert!(d.api_group_list()["groups"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "coordination.k8s.io"));
        assert!(d.resource_list("nope", "v1").is_none());
    }
}
