//! Namespaces, service accounts, nodes, events, services, endpoints and leases.

use crate::resource::{
    col, name_of, object_field, typed_check, Column, Strategy, AGE_COLUMN, NAME_COLUMN,
};
use crate::validation::{dns1035_label, dns1123_label, path_segment_name, FieldErrors};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Endpoints, Event, Namespace, Node, Service, ServiceAccount};
use serde_json::{json, Value};

fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn none_if_empty(s: &str) -> Value {
    if s.is_empty() {
        "<none>".into()
    } else {
        s.into()
    }
}

/// `pkg/registry/core/namespace/strategy.go`.
pub(super) struct NamespaceStrategy;

impl Strategy for NamespaceStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Namespace>(obj)
    }
    fn name_rule(&self) -> fn(&str) -> Vec<String> {
        dns1123_label
    }
    fn defaults(&self, obj: &mut Value) {
        // `SetDefaults_Namespace`: the name label is a default, so the creator owns it.
        set_name_label(obj);
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        // Every namespace carries the `kubernetes` finalizer and starts Active.
        let fins = object_field(obj, "spec")
            .entry("finalizers")
            .or_insert_with(|| json!([]));
        if let Value::Array(f) = fins {
            if !f.iter().any(|x| x == "kubernetes") {
                f.push("kubernetes".into());
            }
        }
        obj["status"] = json!({"phase": "Active"});
        set_name_label(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        // Finalizers change only through /finalize, status only through /status.
        new["spec"] = old.get("spec").cloned().unwrap_or_else(|| json!({}));
        new["status"] = old.get("status").cloned().unwrap_or_else(|| json!({}));
        set_name_label(new);
    }
    fn has_pending_finalizers(&self, obj: &Value) -> bool {
        // `spec.finalizers` (the namespace controller's `kubernetes`) hold it too.
        obj.pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }
    fn prepare_for_graceful_delete(&self, obj: &mut Value) {
        // `namespace/storage.go` Delete: the namespace is Terminating until finalized.
        obj["status"]["phase"] = "Terminating".into();
    }
    fn finalize(&self, new: &Value, old: &Value) -> Option<Value> {
        // `FinalizeREST`: only `spec.finalizers` changes.
        let mut out = old.clone();
        out["spec"]["finalizers"] = new
            .pointer("/spec/finalizers")
            .cloned()
            .unwrap_or_else(|| json!([]));
        Some(out)
    }
    fn field_labels(&self) -> &'static [&'static str] {
        &["status.phase"]
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Status", "string", "The status of the namespace", 0),
            AGE_COLUMN,
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        vec![
            name_of(obj).into(),
            str_at(obj, "/status/phase").into(),
            age.into(),
        ]
    }
    fn has_status(&self) -> bool {
        true
    }
    fn return_deleted_object(&self) -> bool {
        true
    }
}

/// Namespaces always carry `kubernetes.io/metadata.name` (upstream since 1.21).
fn set_name_label(obj: &mut Value) {
    let name = name_of(obj).to_string();
    let labels = object_field(obj, "metadata")
        .entry("labels")
        .or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    labels["kubernetes.io/metadata.name"] = name.into();
}

/// `pkg/registry/core/serviceaccount/strategy.go`.
pub(super) struct ServiceAccountStrategy;

impl Strategy for ServiceAccountStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<ServiceAccount>(obj)
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", 0),
            AGE_COLUMN,
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let n = obj
            .get("secrets")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        vec![name_of(obj).into(), n.into(), age.into()]
    }
}

/// `pkg/registry/core/node/strategy.go`.
pub(super) struct NodeStrategy;

impl Strategy for NodeStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Node>(obj)
    }
    fn defaults(&self, obj: &mut Value) {
        // `SetDefaults_NodeStatus`: what may be allocated is, unless said, all there is.
        if let Some(status) = obj.get_mut("status").and_then(Value::as_object_mut) {
            if !status.contains_key("allocatable") {
                if let Some(capacity) = status.get("capacity").cloned() {
                    status.insert("allocatable".into(), capacity);
                }
            }
        }
    }
    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.unschedulable"]
    }
    fn field_value(&self, obj: &Value, field: &str) -> String {
        match field {
            "spec.unschedulable" => obj
                .pointer("/spec/unschedulable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
            _ => String::new(),
        }
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Status", "string", "The status of the node", 0),
            col("Roles", "string", "The roles of the node", 0),
            AGE_COLUMN,
            col("Version", "string", "Kubelet Version reported by the node.", 0),
            col("Internal-IP", "string", "List of addresses reachable to the node.", 1),
            col("External-IP", "string", "List of addresses reachable to the node.", 1),
            col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
            col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
            col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1),
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let ready = obj
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
            .map(|c| {
                if c["status"] == "True" {
                    "Ready"
                } else {
                    "NotReady"
                }
            })
            .unwrap_or("Unknown");
        let mut status = ready.to_string();
        if obj.pointer("/spec/unschedulable") == Some(&Value::Bool(true)) {
            status.push_str(",SchedulingDisabled");
        }
        let mut roles: Vec<&str> = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|l| {
                l.keys()
                    .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
                    .filter(|r| !r.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        roles.sort_unstable();
        let addr = |t: &str| {
            obj.pointer("/status/addresses")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|x| x["type"] == t))
                .and_then(|x| x["address"].as_str())
                .unwrap_or("<none>")
                .to_string()
        };
        vec![
            name_of(obj).into(),
            status.into(),
            if roles.is_empty() {
                "<none>".into()
            } else {
                roles.join(",").into()
            },
            age.into(),
            str_at(obj, "/status/nodeInfo/kubeletVersion").into(),
            addr("InternalIP").into(),
            addr("ExternalIP").into(),
            none_if_empty(str_at(obj, "/status/nodeInfo/osImage")),
            none_if_empty(str_at(obj, "/status/nodeInfo/kernelVersion")),
            none_if_empty(str_at(obj, "/status/nodeInfo/containerRuntimeVersion")),
        ]
    }
    fn has_status(&self) -> bool {
        true
    }
}

/// `pkg/registry/core/event/strategy.go`.
pub(super) struct EventStrategy;

impl Strategy for EventStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Event>(obj)
    }
    fn name_rule(&self) -> fn(&str) -> Vec<String> {
        path_segment_name
    }
    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }
    fn field_value(&self, obj: &Value, field: &str) -> String {
        match field {
            "source" => str_at(obj, "/source/component").to_string(),
            f => {
                let ptr = format!("/{}", f.replace('.', "/"));
                str_at(obj, &ptr).to_string()
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            col("Last Seen", "string", "Time when this Event was last seen", 0),
            col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future.", 0),
            col("Reason", "string", "This should be a short, machine understandable string that gives the reason for this event being generated.", 0),
            col("Object", "string", "The object this Event is about.", 0),
            col("Subobject", "string", "The subobject this Event is about.", 1),
            col("Source", "string", "The component reporting this event. Should be a short machine understandable string.", 1),
            col("Message", "string", "A human-readable description of the status of this operation.", 0),
            col("First Seen", "string", "The time at which the event was first recorded.", 1),
            col("Count", "string", "The number of times this event has occurred.", 1),
            Column { name: "Name", type_: "string", format: "name", description: NAME_COLUMN.description, priority: 1 },
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let kind = str_at(obj, "/involvedObject/kind").to_lowercase();
        vec![
            age.into(),
            str_at(obj, "/type").into(),
            str_at(obj, "/reason").into(),
            format!("{kind}/{}", str_at(obj, "/involvedObject/name")).into(),
            str_at(obj, "/involvedObject/fieldPath").into(),
            str_at(obj, "/source/component").into(),
            str_at(obj, "/message").into(),
            age.into(),
            obj.get("count").cloned().unwrap_or(1.into()),
            name_of(obj).into(),
        ]
    }
}

/// `pkg/registry/core/service/strategy.go`; the addresses are `store::services`'.
pub(super) struct ServiceStrategy;

impl Strategy for ServiceStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Service>(obj)
    }
    fn name_rule(&self) -> fn(&str) -> Vec<String> {
        dns1035_label
    }
    fn defaults(&self, obj: &mut Value) {
        // `SetDefaults_Service` (pkg/apis/core/v1/defaults.go): applied on decode upstream,
        // so the writer owns them.
        let spec = object_field(obj, "spec");
        let affinity = spec
            .entry("sessionAffinity")
            .or_insert_with(|| "None".into())
            .clone();
        if affinity == "None" {
            spec.remove("sessionAffinityConfig");
        } else if affinity == "ClientIP"
            && spec
                .get("sessionAffinityConfig")
                .and_then(|c| c.pointer("/clientIP/timeoutSeconds"))
                .is_none()
        {
            spec.insert(
                "sessionAffinityConfig".into(),
                json!({"clientIP": {"timeoutSeconds": 10800}}),
            );
        }
        let kind = spec
            .entry("type")
            .or_insert_with(|| "ClusterIP".into())
            .as_str()
            .unwrap_or("")
            .to_string();
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                p.entry("protocol").or_insert_with(|| "TCP".into());
                let unset = p
                    .get("targetPort")
                    .is_none_or(|t| t == &json!(0) || t == &json!(""));
                if let (true, Some(port)) = (unset, p.get("port").cloned()) {
                    p.insert("targetPort".into(), port);
                }
            }
        }
        let external_ips = spec
            .get("externalIPs")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let externally_accessible =
            kind == "LoadBalancer" || kind == "NodePort" || (kind == "ClusterIP" && external_ips);
        if externally_accessible {
            spec.entry("externalTrafficPolicy")
                .or_insert_with(|| "Cluster".into());
        }
        if ["NodePort", "LoadBalancer", "ClusterIP"].contains(&kind.as_str()) {
            spec.entry("internalTrafficPolicy")
                .or_insert_with(|| "Cluster".into());
        }
        if kind == "LoadBalancer" {
            spec.entry("allocateLoadBalancerNodePorts")
                .or_insert(Value::Bool(true));
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        new["status"] = old.get("status").cloned().unwrap_or_else(|| json!({}));
        crate::store::services::keep_allocated(new, old);
    }
    fn validate_update(&self, new: &Value, old: &Value, errs: &mut FieldErrors) {
        self.validate(new, errs);
        crate::store::services::validate_update(new, old, errs);
    }
    fn holds_addresses(&self) -> bool {
        true
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        let t = obj.pointer("/spec/type").cloned().unwrap_or(Value::Null);
        let supported = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
        if !supported.iter().any(|s| t == *s) {
            errs.not_supported("spec.type", &t, &supported);
        }
    }
    fn field_labels(&self) -> &'static [&'static str] {
        &["spec.clusterIP", "spec.type"]
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Type", "string", "The type of service.", 0),
            col(
                "Cluster-IP",
                "string",
                "The cluster IP assigned to the service.",
                0,
            ),
            col(
                "External-IP",
                "string",
                "The external IP assigned to the service.",
                0,
            ),
            col("Port(s)", "string", "The ports exposed by the service.", 0),
            AGE_COLUMN,
            col(
                "Selector",
                "string",
                "Route service traffic to pods with label keys and values matching this selector.",
                1,
            ),
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let ports: Vec<String> = obj
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .map(|ps| {
                ps.iter()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect()
            })
            .unwrap_or_default();
        let selector: Vec<String> = obj
            .pointer("/spec/selector")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default();
        let cluster_ip = str_at(obj, "/spec/clusterIP");
        vec![
            name_of(obj).into(),
            str_at(obj, "/spec/type").into(),
            none_if_empty(cluster_ip),
            "<none>".into(),
            none_if_empty(&ports.join(",")),
            age.into(),
            none_if_empty(&selector.join(",")),
        ]
    }
    fn has_status(&self) -> bool {
        true
    }
    fn return_deleted_object(&self) -> bool {
        true
    }
}

/// `pkg/registry/coordination/lease/strategy.go`.
pub(super) struct LeaseStrategy;

impl Strategy for LeaseStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Lease>(obj)
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Holder", "string", "The holder of the lease.", 0),
            AGE_COLUMN,
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        vec![
            name_of(obj).into(),
            str_at(obj, "/spec/holderIdentity").into(),
            age.into(),
        ]
    }
}

pub(super) struct EndpointsStrategy;

impl Strategy for EndpointsStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Endpoints>(obj)
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Endpoints", "string", "Endpoints of the service", 0),
            AGE_COLUMN,
        ];
        COLUMNS
    }
    /// `formatEndpoints`: up to three address:port pairs, then `+ N more...`.
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let mut pairs = Vec::new();
        for subset in obj["subsets"].as_array().into_iter().flatten() {
            let ports: Vec<String> = subset["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| p["port"].to_string())
                .collect();
            for a in subset["addresses"].as_array().into_iter().flatten() {
                let ip = a["ip"].as_str().unwrap_or("");
                if ports.is_empty() {
                    pairs.push(ip.to_string());
                }
                for p in &ports {
                    pairs.push(format!("{ip}:{p}"));
                }
            }
        }
        let shown = if pairs.len() > 3 {
            format!("{} + {} more...", pairs[..3].join(","), pairs.len() - 3)
        } else {
            pairs.join(",")
        };
        vec![name_of(obj).into(), none_if_empty(&shown), age.into()]
    }
}
