//! The Node authorizer as a table: upstream's cases of `node_authorizer_test.go` re-expressed
//! over kubeward's one-hop graph (pods bound to node1 and node2, their secrets, config maps,
//! claims and service accounts).

use api_types::UserInfo;
use authz::node::NodeAuthorizer;
use authz::{Attributes, Authorizer, Decision};
use serde_json::json;

fn graph() -> NodeAuthorizer {
    let g = NodeAuthorizer::new();
    let pod = |name: &str, node: &str, suffix: &str| {
        json!({"metadata": {"name": name, "namespace": "ns"},
               "spec": {"nodeName": node, "serviceAccountName": format!("sa{suffix}"),
                        "imagePullSecrets": [{"name": format!("pull{suffix}")}],
                        "containers": [{"name": "c",
                            "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": format!("env{suffix}"), "key": "k"}}}],
                            "envFrom": [{"configMapRef": {"name": format!("cmenv{suffix}")}}]}],
                        "volumes": [
                            {"name": "s", "secret": {"secretName": format!("vol{suffix}")}},
                            {"name": "p", "projected": {"sources": [{"configMap": {"name": format!("proj{suffix}")}}]}},
                            {"name": "c", "persistentVolumeClaim": {"claimName": format!("claim{suffix}")}}]}})
    };
    g.set_pod("ns", "pod1", Some(&pod("pod1", "node1", "1")));
    g.set_pod("ns", "pod2", Some(&pod("pod2", "node2", "2")));
    // Not bound: relates nothing to anyone.
    let mut unbound = pod("pod3", "", "3");
    unbound["spec"]["nodeName"] = json!("");
    g.set_pod("ns", "pod3", Some(&unbound));
    g
}

fn node(name: &str) -> UserInfo {
    UserInfo::authenticated(&format!("system:node:{name}"), &["system:nodes"])
}

struct Case {
    user: UserInfo,
    verb: &'static str,
    resource: &'static str,
    sub: &'static str,
    ns: &'static str,
    name: &'static str,
    group: &'static str,
    field_selector: &'static str,
    allowed: bool,
    reason: &'static str,
}

fn case(verb: &'static str, resource: &'static str, name: &'static str) -> Case {
    Case {
        user: node("node1"),
        verb,
        resource,
        sub: "",
        ns: "ns",
        name,
        group: "",
        field_selector: "",
        allowed: true,
        reason: "",
    }
}

impl Case {
    fn denied(mut self, reason: &'static str) -> Self {
        self.allowed = false;
        self.reason = reason;
        self
    }
    fn sub(mut self, s: &'static str) -> Self {
        self.sub = s;
        self
    }
    fn ns(mut self, s: &'static str) -> Self {
        self.ns = s;
        self
    }
    fn group(mut self, g: &'static str) -> Self {
        self.group = g;
        self
    }
    fn by(mut self, u: UserInfo) -> Self {
        self.user = u;
        self
    }
    fn selecting(mut self, s: &'static str) -> Self {
        self.field_selector = s;
        self
    }
}

fn check(g: &NodeAuthorizer, cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let a = Attributes {
            user: c.user.clone(),
            verb: c.verb.into(),
            resource_request: true,
            namespace: c.ns.into(),
            api_group: c.group.into(),
            resource: c.resource.into(),
            subresource: c.sub.into(),
            name: c.name.into(),
            field_selector: c.field_selector.into(),
            ..Default::default()
        };
        let d = g.authorize(&a);
        let ok = match &d {
            Decision::Allow(_) => c.allowed,
            Decision::NoOpinion(r) => !c.allowed && r == c.reason,
            Decision::Deny(_) => false,
        };
        if !ok {
            failures.push(format!(
                "{} {} {}/{} {}/{} by {}: got {:?}, want allowed={} reason={:?}",
                c.verb,
                c.group,
                c.resource,
                c.sub,
                c.ns,
                c.name,
                c.user.name,
                d,
                c.allowed,
                c.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const NO_REL: &str = "no relationship found between node 'node1' and this object";

#[test]
fn node_authorizer_matches_upstream() {
    let g = graph();
    check(
        &g,
        vec![
            // Secrets and config maps a bound pod uses, by every route the pod names them.
            case("get", "secrets", "pull1"),
            case("get", "secrets", "env1"),
            case("get", "secrets", "vol1"),
            case("list", "secrets", "vol1"),
            case("watch", "secrets", "vol1"),
            case("get", "configmaps", "cmenv1"),
            case("get", "configmaps", "proj1"),
            case("get", "persistentvolumeclaims", "claim1"),
            // The other node's, an unbound pod's, and unknown ones are not its to read.
            case("get", "secrets", "vol2").denied(NO_REL),
            case("get", "secrets", "vol3").denied(NO_REL),
            case("get", "secrets", "nope").denied(NO_REL),
            case("get", "configmaps", "proj2").denied(NO_REL),
            case("list", "secrets", "").denied("No Object name found"),
            case("update", "secrets", "vol1").denied("can only read resources of this type"),
            case("get", "secrets", "vol1")
                .sub("x")
                .denied("cannot read subresource"),
            case("get", "secrets", "vol1")
                .ns("")
                .denied("can only read namespaced object of this type"),
            case("list", "persistentvolumeclaims", "claim1")
                .denied("can only get individual resources of this type"),
            // Tokens only for the accounts of its own pods.
            case("create", "serviceaccounts", "sa1").sub("token"),
            case("create", "serviceaccounts", "sa2")
                .sub("token")
                .denied(NO_REL),
            case("get", "serviceaccounts", "sa1")
                .denied("can only create tokens for individual service accounts"),
            case("create", "serviceaccounts", "sa1")
                .denied("can only create token subresource of serviceaccount"),
            // Its own Node; any node may be written (NodeRestriction narrows it).
            case("get", "nodes", "node1").ns(""),
            case("get", "nodes", "node2")
                .ns("")
                .denied("node 'node1' cannot read 'node2', only its own Node object"),
            case("list", "nodes", "")
                .ns("")
                .denied("node 'node1' cannot read all nodes, only its own Node object"),
            case("create", "nodes", "").ns(""),
            case("patch", "nodes", "node1").ns("").sub("status"),
            case("delete", "nodes", "node1").ns("").denied(""),
            // Pods: its own by name, lists only for its node.
            case("get", "pods", "pod1"),
            case("get", "pods", "pod2").denied(NO_REL),
            case("list", "pods", "")
                .ns("")
                .selecting("spec.nodeName=node1"),
            case("watch", "pods", "")
                .ns("")
                .selecting("spec.nodeName==node1"),
            case("list", "pods", "")
                .ns("")
                .selecting("spec.nodeName=node2")
                .denied("can only list/watch pods with spec.nodeName field selector"),
            case("list", "pods", "")
                .ns("")
                .denied("can only list/watch pods with spec.nodeName field selector"),
            case("patch", "pods", "pod2").sub("status"),
            case("create", "pods", "pod2").sub("binding").denied(""),
            case("update", "pods", "pod1").denied(""),
            // Leases: only its own, only in kube-node-lease.
            case("update", "leases", "node1")
                .group("coordination.k8s.io")
                .ns("kube-node-lease"),
            case("create", "leases", "")
                .group("coordination.k8s.io")
                .ns("kube-node-lease"),
            case("update", "leases", "node2")
                .group("coordination.k8s.io")
                .ns("kube-node-lease")
                .denied("can only access node lease with the same name as the requesting node"),
            case("get", "leases", "node1")
                .group("coordination.k8s.io")
                .denied("can only access leases in the \"kube-node-lease\" system namespace"),
            case("list", "leases", "")
                .group("coordination.k8s.io")
                .ns("kube-node-lease")
                .denied("can only get, create, update, patch, or delete a node lease"),
            // Everything else by the system:node rules.
            case("list", "services", "").ns(""),
            case("create", "events", ""),
            case("create", "tokenreviews", "")
                .ns("")
                .group("authentication.k8s.io"),
            case("delete", "services", "x").denied(""),
            case("get", "clusterroles", "admin")
                .ns("")
                .group("rbac.authorization.k8s.io")
                .denied(""),
            // Not a node: no opinion at all; a node without a name or group is not one.
            case("get", "secrets", "vol1")
                .by(UserInfo::authenticated("alice", &[]))
                .denied(""),
            case("get", "secrets", "vol1")
                .by(UserInfo::authenticated("system:node:node1", &[]))
                .denied(""),
            case("get", "secrets", "vol1")
                .by(UserInfo::authenticated("system:node:", &["system:nodes"]))
                .denied("unknown node for user \"system:node:\""),
        ],
    );
}

#[test]
fn a_pod_deleted_or_moved_takes_its_relations_along() {
    let g = graph();
    assert!(g.related("node1", authz::node::VertexKind::Secret, "ns", "vol1"));
    // Two pods on node1 share a secret: removing one keeps it readable.
    let mut twin = json!({"metadata": {"name": "twin", "namespace": "ns"},
                          "spec": {"nodeName": "node1", "volumes": [{"name": "s", "secret": {"secretName": "vol1"}}]}});
    g.set_pod("ns", "twin", Some(&twin));
    g.set_pod("ns", "pod1", None);
    assert!(g.related("node1", authz::node::VertexKind::Secret, "ns", "vol1"));
    assert!(!g.related("node1", authz::node::VertexKind::Secret, "ns", "env1"));
    // An update that drops the volume drops the edge.
    twin["spec"]["volumes"] = json!([]);
    g.set_pod("ns", "twin", Some(&twin));
    assert!(!g.related("node1", authz::node::VertexKind::Secret, "ns", "vol1"));
    assert!(!g.related("node1", authz::node::VertexKind::Pod, "ns", "pod1"));
    assert!(g.related("node1", authz::node::VertexKind::Pod, "ns", "twin"));
}
