//! The Node authorizer (`plugin/pkg/auth/authorizer/node/node_authorizer.go` and `graph.go`):
//! a kubelet, `system:node:<name>` in `system:nodes`, may read a secret, config map or
//! claim only when a pod bound to its node uses it, mint tokens only for the service
//! accounts of such pods, touch only its own Node and Lease, and list pods only with
//! `spec.nodeName=<name>` (`AuthorizeNodeWithSelectors`, on since 1.32). Everything else
//! is judged by the `system:node` rules ([`NODE_RULES`]), which the bootstrap policy also
//! publishes as the `system:node` ClusterRole that nobody is bound to.
//!
//! The graph is plain data: pods in, for each object the nodes that may read it. Upstream
//! walks a graph of vertices and edges; kubeward serves no persistent volumes, so every path
//! is one hop (object → pod → node) and a count per (object, node) is the whole graph.

use crate::rbac::{rule_allows, PolicyRule};
use crate::{Attributes, Decision};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::RwLock;

/// The `system:node` rules (`bootstrappolicy.NodeRules()` for 1.33, as its golden file
/// `testdata/cluster-roles.yaml` lists them): verbs, API groups, resources.
pub const NODE_RULES: &[(&[&str], &[&str], &[&str])] = &[
    (&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
    (
        &["create"],
        &["authorization.k8s.io"],
        &["localsubjectaccessreviews", "subjectaccessreviews"],
    ),
    (&["get", "list", "watch"], &[""], &["services"]),
    (&["create", "get", "list", "watch"], &[""], &["nodes"]),
    (&["patch", "update"], &[""], &["nodes/status"]),
    (&["patch", "update"], &[""], &["nodes"]),
    (&["create", "patch", "update"], &[""], &["events"]),
    (&["get", "list", "watch"], &[""], &["pods"]),
    (&["create", "delete"], &[""], &["pods"]),
    (&["patch", "update"], &[""], &["pods/status"]),
    (&["create"], &[""], &["pods/eviction"]),
    (&["get", "list", "watch"], &[""], &["configmaps", "secrets"]),
    (
        &["get"],
        &[""],
        &["persistentvolumeclaims", "persistentvolumes"],
    ),
    (&["get"], &[""], &["endpoints"]),
    (
        &["create", "get", "list", "watch"],
        &["certificates.k8s.io"],
        &["certificatesigningrequests"],
    ),
    (
        &["create", "delete", "get", "patch", "update"],
        &["coordination.k8s.io"],
        &["leases"],
    ),
    (&["get"], &["storage.k8s.io"], &["volumeattachments"]),
    (&["create"], &[""], &["serviceaccounts/token"]),
    (
        &["get", "patch", "update"],
        &[""],
        &["persistentvolumeclaims/status"],
    ),
    (
        &["get", "list", "watch"],
        &["storage.k8s.io"],
        &["csidrivers"],
    ),
    (
        &["create", "delete", "get", "patch", "update"],
        &["storage.k8s.io"],
        &["csinodes"],
    ),
    (
        &["get", "list", "watch"],
        &["node.k8s.io"],
        &["runtimeclasses"],
    ),
];

/// The namespace of node heartbeat leases (`api.NamespaceNodeLease`).
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// The prefix of a node's user name.
pub const NODE_USER_PREFIX: &str = "system:node:";
/// The group every node is in.
pub const NODES_GROUP: &str = "system:nodes";

/// `nodeidentifier.NodeIdentity`: Some(node name) for a node's identity (the name may be
/// "" when the user is exactly the prefix); None for anyone else. Both the name prefix and
/// the group are required.
pub fn node_identity(user: &api_types::UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    user.in_group(NODES_GROUP).then_some(name)
}

/// What a pod can make readable to its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VertexKind {
    /// The pod itself.
    Pod,
    /// A Secret it mounts, pulls images with or reads into its environment.
    Secret,
    /// A ConfigMap it mounts or reads into its environment.
    ConfigMap,
    /// Its ServiceAccount (tokens may be minted for it).
    ServiceAccount,
    /// A PersistentVolumeClaim it mounts.
    PersistentVolumeClaim,
}

type ObjectKey = (VertexKind, String, String);

#[derive(Default)]
struct Inner {
    /// Each bound pod: its node and what it references (itself included).
    pods: HashMap<(String, String), (String, Vec<ObjectKey>)>,
    /// Each referenced object: the nodes it reaches, with how many pods lead there.
    reach: HashMap<ObjectKey, HashMap<String, u32>>,
}

/// The Node authorizer's graph and decisions. Fed with every pod change (`set_pod`).
pub struct NodeAuthorizer {
    rules: Vec<PolicyRule>,
    graph: RwLock<Inner>,
}

impl Default for NodeAuthorizer {
    fn default() -> Self {
        Self::new()
    }
}

fn strings(xs: &[&str]) -> Vec<String> {
    xs.iter().map(|s| s.to_string()).collect()
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The objects a pod references, as `podutil.VisitPodSecretNames`,
/// `VisitPodConfigmapNames` and the graph populator's claims walk them.
pub fn references(pod: &Value) -> Vec<(VertexKind, String)> {
    let mut out = Vec::new();
    let mut add = |k: VertexKind, name: &str| {
        if !name.is_empty() && !out.iter().any(|(k2, n)| *k2 == k && n == name) {
            out.push((k, name.to_string()));
        }
    };
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    add(
        VertexKind::ServiceAccount,
        text(spec, "/serviceAccountName"),
    );
    let list = |v: &'_ Value, k: &str| -> Vec<Value> {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for s in list(spec, "imagePullSecrets") {
        add(VertexKind::Secret, text(&s, "/name"));
    }
    for group in ["initContainers", "containers", "ephemeralContainers"] {
        for c in list(spec, group) {
            for e in list(&c, "envFrom") {
                add(VertexKind::Secret, text(&e, "/secretRef/name"));
                add(VertexKind::ConfigMap, text(&e, "/configMapRef/name"));
            }
            for e in list(&c, "env") {
                add(VertexKind::Secret, text(&e, "/valueFrom/secretKeyRef/name"));
                add(
                    VertexKind::ConfigMap,
                    text(&e, "/valueFrom/configMapKeyRef/name"),
                );
            }
        }
    }
    let pod_name = text(pod, "/metadata/name");
    for v in list(spec, "volumes") {
        add(VertexKind::Secret, text(&v, "/secret/secretName"));
        add(VertexKind::ConfigMap, text(&v, "/configMap/name"));
        add(VertexKind::Secret, text(&v, "/azureFile/secretName"));
        for plugin in [
            "cephfs",
            "cinder",
            "flexVolume",
            "iscsi",
            "rbd",
            "scaleIO",
            "storageos",
        ] {
            add(
                VertexKind::Secret,
                text(&v, &format!("/{plugin}/secretRef/name")),
            );
        }
        add(
            VertexKind::Secret,
            text(&v, "/csi/nodePublishSecretRef/name"),
        );
        for src in list(v.get("projected").unwrap_or(&Value::Null), "sources") {
            add(VertexKind::Secret, text(&src, "/secret/name"));
            add(VertexKind::ConfigMap, text(&src, "/configMap/name"));
        }
        add(
            VertexKind::PersistentVolumeClaim,
            text(&v, "/persistentVolumeClaim/claimName"),
        );
        if v.get("ephemeral").is_some_and(Value::is_object) {
            // `ephemeral.VolumeClaimName`: <pod>-<volume>.
            let claim = format!("{pod_name}-{}", text(&v, "/name"));
            add(VertexKind::PersistentVolumeClaim, &claim);
        }
    }
    out
}

impl NodeAuthorizer {
    /// An empty graph.
    pub fn new() -> Self {
        NodeAuthorizer {
            rules: NODE_RULES
                .iter()
                .map(|(verbs, groups, resources)| PolicyRule {
                    verbs: strings(verbs),
                    api_groups: strings(groups),
                    resources: strings(resources),
                    ..Default::default()
                })
                .collect(),
            graph: RwLock::new(Inner::default()),
        }
    }

    /// A pod added or changed (`pod` Some) or removed (None). Only a pod bound to a node
    /// (`spec.nodeName`) opens anything to it.
    pub fn set_pod(&self, namespace: &str, name: &str, pod: Option<&Value>) {
        let mut g = self.graph.write().unwrap_or_else(|e| e.into_inner());
        let key = (namespace.to_string(), name.to_string());
        if let Some((node, refs)) = g.pods.remove(&key) {
            for r in refs {
                if let Some(nodes) = g.reach.get_mut(&r) {
                    if let Some(n) = nodes.get_mut(&node) {
                        *n -= 1;
                        if *n == 0 {
                            nodes.remove(&node);
                        }
                    }
                    if nodes.is_empty() {
                        g.reach.remove(&r);
                    }
                }
            }
        }
        let Some(pod) = pod else { return };
        let node = text(pod, "/spec/nodeName");
        if node.is_empty() {
            return;
        }
        let mut refs = vec![(VertexKind::Pod, namespace.to_string(), name.to_string())];
        refs.extend(
            references(pod)
                .into_iter()
                .map(|(k, n)| (k, namespace.to_string(), n)),
        );
        for r in &refs {
            *g.reach
                .entry(r.clone())
                .or_default()
                .entry(node.to_string())
                .or_insert(0) += 1;
        }
        g.pods.insert(key, (node.to_string(), refs));
    }

    /// `hasPathFrom`: whether a pod bound to `node` leads to the object.
    pub fn related(&self, node: &str, kind: VertexKind, namespace: &str, name: &str) -> bool {
        let g = self.graph.read().unwrap_or_else(|e| e.into_inner());
        g.reach
            .get(&(kind, namespace.to_string(), name.to_string()))
            .is_some_and(|nodes| nodes.contains_key(node))
    }

    fn path(&self, node: &str, kind: VertexKind, a: &Attributes) -> Decision {
        if a.name.is_empty() {
            return Decision::NoOpinion("No Object name found".into());
        }
        if self.related(node, kind, &a.namespace, &a.name) {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(format!(
                "no relationship found between node '{node}' and this object"
            ))
        }
    }

    fn read_namespaced(&self, node: &str, kind: VertexKind, a: &Attributes) -> Decision {
        if !matches!(a.verb.as_str(), "get" | "list" | "watch") {
            return Decision::NoOpinion("can only read resources of this type".into());
        }
        if !a.subresource.is_empty() {
            return Decision::NoOpinion("cannot read subresource".into());
        }
        if a.namespace.is_empty() {
            return Decision::NoOpinion("can only read namespaced object of this type".into());
        }
        self.path(node, kind, a)
    }

    fn get_only(&self, node: &str, kind: VertexKind, a: &Attributes) -> Decision {
        if a.verb != "get" {
            return Decision::NoOpinion("can only get individual resources of this type".into());
        }
        if !a.subresource.is_empty() {
            return Decision::NoOpinion("cannot get subresource".into());
        }
        self.path(node, kind, a)
    }

    fn create_token(&self, node: &str, a: &Attributes) -> Decision {
        if a.verb != "create" || a.name.is_empty() {
            return Decision::NoOpinion(
                "can only create tokens for individual service accounts".into(),
            );
        }
        if a.subresource != "token" {
            return Decision::NoOpinion(
                "can only create token subresource of serviceaccount".into(),
            );
        }
        self.path(node, VertexKind::ServiceAccount, a)
    }

    fn lease(node: &str, a: &Attributes) -> Decision {
        if !matches!(
            a.verb.as_str(),
            "get" | "create" | "update" | "patch" | "delete"
        ) {
            return Decision::NoOpinion(
                "can only get, create, update, patch, or delete a node lease".into(),
            );
        }
        if a.namespace != NODE_LEASE_NAMESPACE {
            return Decision::NoOpinion(format!(
                "can only access leases in the {NODE_LEASE_NAMESPACE:?} system namespace"
            ));
        }
        // A create names no object yet; NodeRestriction checks it.
        if a.verb != "create" && a.name != node {
            return Decision::NoOpinion(
                "can only access node lease with the same name as the requesting node".into(),
            );
        }
        Decision::Allow(String::new())
    }

    fn node_object(node: &str, a: &Attributes) -> Decision {
        match (a.subresource.as_str(), a.verb.as_str()) {
            // NodeRestriction limits writes to the node's own object.
            ("", "create" | "update" | "patch") | ("status", "update" | "patch") => {
                Decision::Allow(String::new())
            }
            ("", "get" | "list" | "watch") => match a.name.as_str() {
                n if n == node => Decision::Allow(String::new()),
                "" => Decision::NoOpinion(format!(
                    "node '{node}' cannot read all nodes, only its own Node object"
                )),
                other => Decision::NoOpinion(format!(
                    "node '{node}' cannot read '{other}', only its own Node object"
                )),
            },
            _ => Decision::NoOpinion(String::new()),
        }
    }

    fn pod(&self, node: &str, a: &Attributes) -> Decision {
        match (a.subresource.as_str(), a.verb.as_str()) {
            ("", "get") => self.get_only(node, VertexKind::Pod, a),
            ("", "list" | "watch") => {
                if request_info::exact_match(&a.field_selector, "spec.nodeName") == Some(node) {
                    return Decision::Allow(String::new());
                }
                if !a.name.is_empty() {
                    return self.path(node, VertexKind::Pod, a);
                }
                Decision::NoOpinion(
                    "can only list/watch pods with spec.nodeName field selector".into(),
                )
            }
            // Mirror pods, status and evictions: NodeRestriction limits them to the node's
            // own pods.
            ("", "create" | "delete") | ("status", "update" | "patch") | ("eviction", "create") => {
                Decision::Allow(String::new())
            }
            _ => Decision::NoOpinion(String::new()),
        }
    }
}

impl crate::Authorizer for NodeAuthorizer {
    fn authorize(&self, a: &Attributes) -> Decision {
        let Some(node) = node_identity(&a.user) else {
            return Decision::NoOpinion(String::new());
        };
        if node.is_empty() {
            return Decision::NoOpinion(format!("unknown node for user {:?}", a.user.name));
        }
        if a.resource_request {
            let decided = match (a.api_group.as_str(), a.resource.as_str()) {
                ("", "secrets") => Some(self.read_namespaced(node, VertexKind::Secret, a)),
                ("", "configmaps") => Some(self.read_namespaced(node, VertexKind::ConfigMap, a)),
                ("", "persistentvolumeclaims") if a.subresource == "status" => {
                    Some(match a.verb.as_str() {
                        "update" | "patch" => self.path(node, VertexKind::PersistentVolumeClaim, a),
                        _ => Decision::NoOpinion("can only get/update/patch this type".into()),
                    })
                }
                ("", "persistentvolumeclaims") => {
                    Some(self.get_only(node, VertexKind::PersistentVolumeClaim, a))
                }
                ("", "serviceaccounts") => Some(self.create_token(node, a)),
                ("coordination.k8s.io", "leases") => Some(Self::lease(node, a)),
                ("", "nodes") => Some(Self::node_object(node, a)),
                ("", "pods") => Some(self.pod(node, a)),
                _ => None,
            };
            if let Some(d) = decided {
                return d;
            }
        }
        if self.rules.iter().any(|r| rule_allows(a, r)) {
            Decision::Allow(String::new())
        } else {
            Decision::NoOpinion(String::new())
        }
    }
}
