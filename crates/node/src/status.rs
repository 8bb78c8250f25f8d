//! What the agent writes, as plain functions over plain data: the Node a kubelet registers
//! (`pkg/kubelet/kubelet_node_status.go` `initialNode` and the `nodestatus` setters), its
//! heartbeat Lease (`pkg/kubelet/nodelease`), and a pod's status once its containers run
//! (`pkg/kubelet/status/generate.go`, kwok's `pod-ready` stage for the fake mode).

use serde_json::{json, Value};

/// Facts about the host the Node reports (`nodeInfo`, capacity).
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    /// `uname -r`.
    pub kernel_version: String,
    /// `/etc/os-release` PRETTY_NAME.
    pub os_image: String,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot_id: String,
    /// `/sys/class/dmi/id/product_uuid` ("" when unreadable).
    pub system_uuid: String,
    /// GOARCH's name for the machine (`amd64`, `arm64`).
    pub architecture: String,
    /// CPUs.
    pub cpus: usize,
    /// Memory, in KiB (`/proc/meminfo` MemTotal).
    pub memory_kib: u64,
    /// Bytes of the file system the data directory is on.
    pub ephemeral_storage: u64,
}

impl HostFacts {
    /// Reads them from this host; what cannot be read stays empty.
    pub fn read(data_dir: &std::path::Path) -> Self {
        let file = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let os_image = file("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| "Linux".into());
        let memory_kib = file("/proc/meminfo")
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        }
        .to_string();
        HostFacts {
            kernel_version: file("/proc/sys/kernel/osrelease"),
            os_image,
            machine_id: file("/etc/machine-id"),
            boot_id: file("/proc/sys/kernel/random/boot_id"),
            system_uuid: file("/sys/class/dmi/id/product_uuid"),
            architecture,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_kib,
            ephemeral_storage: disk_bytes(data_dir),
        }
    }
}

/// The size in bytes of the file system `dir` is on (`statvfs`; 0 when unknown).
fn disk_bytes(dir: &std::path::Path) -> u64 {
    rustix::fs::statvfs(dir).map_or(0, |s| s.f_blocks.saturating_mul(s.f_frsize))
}

/// The version the Node reports as its kubelet's (the API version kubeward serves).
pub const KUBELET_VERSION: &str = "v1.33.0";

/// The node's Ready and pressure conditions, as the kubelet's setters word them.
fn node_conditions(now: &str, previous: Option<&Value>) -> Value {
    let conds = [
        (
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        (
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        (
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        (
            "Ready",
            "True",
            "KubeletReady",
            "kubelet is posting ready status",
        ),
    ];
    let list: Vec<Value> = conds
        .iter()
        .map(|(t, status, reason, message)| {
            // A condition keeps its transition time while its status stays.
            let since = previous
                .and_then(Value::as_array)
                .and_then(|l| l.iter().find(|c| c["type"] == *t))
                .filter(|c| c["status"] == *status)
                .and_then(|c| c["lastTransitionTime"].as_str())
                .unwrap_or(now);
            json!({"type": t, "status": status, "lastHeartbeatTime": now,
                   "lastTransitionTime": since, "reason": reason, "message": message})
        })
        .collect();
    Value::Array(list)
}

/// The Node object a kubelet registers: labels, and the status its setters fill.
pub fn node(name: &str, host_ip: &str, facts: &HostFacts, now: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": facts.architecture,
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": facts.architecture,
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
            },
            "annotations": {"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
        },
        "spec": {},
        "status": node_status(name, host_ip, facts, now, None),
    })
}

/// The Node's status now; `previous` keeps the conditions' transition times.
pub fn node_status(
    name: &str,
    host_ip: &str,
    facts: &HostFacts,
    now: &str,
    previous: Option<&Value>,
) -> Value {
    let capacity = json!({
        "cpu": facts.cpus.to_string(),
        "ephemeral-storage": format!("{}Ki", facts.ephemeral_storage / 1024),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format!("{}Ki", facts.memory_kib),
        "pods": "110",
    });
    json!({
        "capacity": capacity,
        "allocatable": capacity,
        "conditions": node_conditions(now, previous.and_then(|p| p.get("conditions"))),
        "addresses": [
            {"type": "InternalIP", "address": host_ip},
            {"type": "Hostname", "address": name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
        "nodeInfo": {
            "machineID": facts.machine_id,
            "systemUUID": facts.system_uuid,
            "bootID": facts.boot_id,
            "kernelVersion": facts.kernel_version,
            "osImage": facts.os_image,
            "containerRuntimeVersion": format!("kubeward://{}", env!("CARGO_PKG_VERSION")),
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": facts.architecture,
        },
    })
}

/// How long a node's Lease holds (`--node-lease-duration-seconds`' default).
pub const LEASE_DURATION_SECONDS: i64 = 40;

/// The heartbeat Lease in `kube-node-lease`, owned by the Node (`nodelease.setNodeOwnerFunc`).
pub fn lease(name: &str, node_uid: &str, now_micro: &str) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": name,
            "namespace": "kube-node-lease",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}],
        },
        "spec": {
            "holderIdentity": name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": now_micro,
        },
    })
}

/// A container's running state, as the kubelet reports it.
fn running_container(c: &Value, started_at: &str, pod_uid: &str) -> Value {
    let name = c["name"].as_str().unwrap_or("");
    json!({
        "containerID": format!("kubeward://{pod_uid}/{name}"),
        "image": c["image"],
        "imageID": "",
        "lastState": {},
        "name": name,
        "ready": true,
        "restartCount": 0,
        "started": true,
        "state": {"running": {"startedAt": started_at}},
    })
}

/// A pod condition True since `since`.
fn condition(kind: &str, since: &str) -> Value {
    json!({"type": kind, "status": "True", "lastProbeTime": null, "lastTransitionTime": since})
}

/// The status of a pod whose containers all run (the fake mode's at once): phase Running,
/// the kubelet's five conditions True in its order, the host's IP as the pod's (host
/// network), and each container running and ready. `qosClass` and the scheduler's
/// PodScheduled time are kept.
pub fn running(pod: &Value, host_ip: &str, now: &str) -> Value {
    let status = pod.get("status").cloned().unwrap_or_else(|| json!({}));
    let scheduled = status["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == "PodScheduled"))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now)
        .to_string();
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| running_container(c, now, uid))
        .collect();
    let mut out = json!({
        "phase": "Running",
        "conditions": [
            condition("PodReadyToStartContainers", now),
            condition("Initialized", now),
            condition("Ready", now),
            condition("ContainersReady", now),
            condition("PodScheduled", &scheduled),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": host_ip,
        "podIPs": [{"ip": host_ip}],
        "startTime": now,
        "containerStatuses": containers,
    });
    if let Some(q) = status.get("qosClass") {
        out["qosClass"] = q.clone();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_pod_has_the_kubelets_conditions_and_keeps_its_scheduling_time() {
        let pod = json!({
            "metadata": {"uid": "u1"},
            "spec": {"containers": [{"name": "a", "image": "busybox"}, {"name": "b", "image": "nginx"}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                       "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "T0"}]}});
        let s = running(&pod, "10.0.0.5", "T1");
        assert_eq!(s["phase"], "Running");
        let types: Vec<&str> = s["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "PodReadyToStartContainers",
                "Initialized",
                "Ready",
                "ContainersReady",
                "PodScheduled"
            ]
        );
        assert_eq!(s["conditions"][4]["lastTransitionTime"], "T0");
        assert_eq!(s["conditions"][2]["lastTransitionTime"], "T1");
        assert_eq!(s["podIP"], "10.0.0.5");
        assert_eq!(s["qosClass"], "BestEffort");
        assert_eq!(s["containerStatuses"][1]["name"], "b");
        assert_eq!(
            s["containerStatuses"][1]["state"]["running"]["startedAt"],
            "T1"
        );
        assert_eq!(s["containerStatuses"][0]["ready"], true);
    }

    #[test]
    fn node_conditions_keep_their_transition_while_unchanged() {
        let facts = HostFacts::default();
        let first = node_status("n", "1.2.3.4", &facts, "T0", None);
        let later = node_status("n", "1.2.3.4", &facts, "T9", Some(&first));
        let ready = |s: &Value| {
            s["conditions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["type"] == "Ready")
                .cloned()
                .unwrap()
        };
        assert_eq!(ready(&later)["lastTransitionTime"], "T0");
        assert_eq!(ready(&later)["lastHeartbeatTime"], "T9");
        assert_eq!(ready(&later)["reason"], "KubeletReady");
        assert_eq!(later["addresses"][0]["address"], "1.2.3.4");
    }
}
