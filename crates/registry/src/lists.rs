//! How the lists of the served kinds merge, from the Go types' markers: `patchStrategy` and
//! `patchMergeKey` (strategic merge patch) and `listType` / `listMapKey` (server-side apply).
//! One table feeds both, and the OpenAPI generator writes it into the schemas as
//! `x-kubernetes-patch-strategy`, `x-kubernetes-patch-merge-key`, `x-kubernetes-list-type` and
//! `x-kubernetes-list-map-keys`, so kubectl sees what the server does.

/// How strategic merge patch treats a list (the `strategicpatch` crate's type).
pub use strategicpatch::ListStrategy as Patch;

/// How server-side apply owns a list (`+listType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    /// One value: whoever sets the list owns all of it.
    Atomic,
    /// Scalars, each owned on its own.
    Set,
    /// Objects identified by these fields, each owned on its own.
    Map(&'static [&'static str]),
}

/// The rule for the list at `path` (field names without indices, e.g. `spec.containers.env`)
/// of `kind`. Lists the table does not name are atomic and replaced, as upstream's default.
pub fn rule(kind: &str, path: &str) -> (Patch, ListType) {
    use ListType::*;
    use Patch::*;
    const NAME: &[&str] = &["name"];
    match path {
        "metadata.finalizers" => return (MergePrimitive, Set),
        "metadata.ownerReferences" => return (MergeByKey("uid"), Map(&["uid"])),
        _ => {}
    }
    match (kind, path) {
        ("ServiceAccount", "secrets") => return (MergeByKey("name"), Map(NAME)),
        ("Namespace", "status.conditions") | ("Pod", "status.conditions") => {
            return (MergeByKey("type"), Map(&["type"]))
        }
        ("Pod", "status.podIPs") => return (MergeByKey("ip"), Map(&["ip"])),
        ("Service", "spec.ports") => return (MergeByKey("port"), Map(&["port", "protocol"])),
        // `+listType=set` without a patch strategy.
        ("EndpointSlice", "endpoints.addresses") => return (Replace, Set),
        _ => {}
    }
    if kind != "Pod" {
        return (Replace, Atomic);
    }
    let containers = [
        "spec.containers",
        "spec.initContainers",
        "spec.ephemeralContainers",
    ];
    let in_container = containers.iter().find_map(|c| {
        path.strip_prefix(c)
            .map(|rest| rest.trim_start_matches('.'))
    });
    match in_container {
        Some("") | Some("env") => (MergeByKey("name"), Map(NAME)),
        Some("ports") => (
            MergeByKey("containerPort"),
            Map(&["containerPort", "protocol"]),
        ),
        Some("volumeMounts") => (MergeByKey("mountPath"), Map(&["mountPath"])),
        Some("volumeDevices") => (MergeByKey("devicePath"), Map(&["devicePath"])),
        Some(_) => (Replace, Atomic),
        None => match path {
            "spec.volumes"
            | "spec.imagePullSecrets"
            | "spec.schedulingGates"
            | "spec.resourceClaims" => (MergeByKey("name"), Map(NAME)),
            "spec.hostAliases" => (MergeByKey("ip"), Map(&["ip"])),
            "spec.topologySpreadConstraints" => (
                MergeByKey("topologyKey"),
                Map(&["topologyKey", "whenUnsatisfiable"]),
            ),
            _ => (Replace, Atomic),
        },
    }
}

/// Structs that server-side apply treats as one value (`+structType=atomic`).
pub const ATOMIC_STRUCTS: &[&str] = &[
    "io.k8s.api.rbac.v1.RoleRef",
    "io.k8s.api.core.v1.ObjectReference",
    "io.k8s.api.core.v1.LocalObjectReference",
    "io.k8s.api.core.v1.SecretKeySelector",
    "io.k8s.api.core.v1.ConfigMapKeySelector",
    "io.k8s.api.core.v1.ObjectFieldSelector",
    "io.k8s.api.core.v1.ResourceFieldSelector",
    "io.k8s.api.core.v1.NodeSelector",
    "io.k8s.api.core.v1.NodeSelectorTerm",
    "io.k8s.api.core.v1.TypedLocalObjectReference",
    "io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector",
];
