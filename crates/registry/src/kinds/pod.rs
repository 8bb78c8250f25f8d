//! Pods as stored objects (`pkg/registry/core/pod/strategy.go`, the v1 defaults in
//! `pkg/apis/core/v1/defaults.go`, and a subset of `ValidatePod`). Running them is the node
//! agent's job; until then they stay Pending.

use crate::resource::{
    col, name_of, object_field, typed_check, Column, Strategy, AGE_COLUMN, NAME_COLUMN,
};
use crate::validation::{check, dns1123_label, FieldErrors};
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Map, Value};

pub(super) struct PodStrategy;

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// The objects of the array at `key` (none when it is absent or not an array).
fn objects_mut<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

fn default_container(c: &mut Map<String, Value>) {
    c.entry("terminationMessagePath")
        .or_insert_with(|| "/dev/termination-log".into());
    c.entry("terminationMessagePolicy")
        .or_insert_with(|| "File".into());
    if !c.contains_key("imagePullPolicy") {
        // SetDefaults_Container: Always for `:latest` or no tag, else IfNotPresent.
        let image = c.get("image").and_then(Value::as_str).unwrap_or("");
        let last = image.rsplit('/').next().unwrap_or("");
        let tag = if image.contains('@') {
            Some("digest")
        } else {
            last.split_once(':').map(|(_, t)| t)
        };
        let policy = match tag {
            None | Some("latest") => "Always",
            _ => "IfNotPresent",
        };
        c.insert("imagePullPolicy".into(), policy.into());
    }
    c.entry("resources").or_insert_with(|| json!({}));
    for p in objects_mut(c, "ports") {
        p.entry("protocol").or_insert_with(|| "TCP".into());
    }
    // SetDefaults_Probe and the handlers' (SetDefaults_HTTPGetAction).
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            for (k, v) in [
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ] {
                p.entry(k).or_insert_with(|| v.into());
            }
            default_http_get(p);
        }
    }
    if let Some(l) = c.get_mut("lifecycle").and_then(Value::as_object_mut) {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = l.get_mut(hook).and_then(Value::as_object_mut) {
                default_http_get(h);
            }
        }
    }
    // SetDefaults_ObjectFieldSelector: an env var's fieldRef names its API version.
    for e in objects_mut(c, "env") {
        if let Some(f) = e
            .get_mut("valueFrom")
            .and_then(|v| v.get_mut("fieldRef"))
            .and_then(Value::as_object_mut)
        {
            f.entry("apiVersion").or_insert_with(|| "v1".into());
        }
    }
    // SetDefaults_Pod: requests default to the limits given.
    if let Some(r) = c.get_mut("resources").and_then(Value::as_object_mut) {
        if let Some(Value::Object(limits)) = r.get("limits").cloned() {
            if let Value::Object(requests) = r.entry("requests").or_insert_with(|| json!({})) {
                for (k, v) in limits {
                    requests.entry(k).or_insert(v);
                }
            }
        }
    }
}

/// `SetDefaults_HTTPGetAction`: path `/`, scheme HTTP.
fn default_http_get(handler: &mut Map<String, Value>) {
    if let Some(g) = handler.get_mut("httpGet").and_then(Value::as_object_mut) {
        g.entry("path").or_insert_with(|| "/".into());
        g.entry("scheme").or_insert_with(|| "HTTP".into());
    }
}

/// The volume sources' defaults (`SetDefaults_SecretVolumeSource`, `..._ConfigMapVolumeSource`,
/// `..._DownwardAPIVolumeSource`, `..._ProjectedVolumeSource`: mode 0644;
/// `SetDefaults_ServiceAccountTokenProjection`: an hour; `SetDefaults_HostPathVolumeSource`:
/// type ""; each downward field's API version v1).
fn default_volume(v: &mut Map<String, Value>) {
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
            s.entry("defaultMode").or_insert_with(|| 420.into());
        }
    }
    if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        h.entry("type").or_insert_with(|| "".into());
    }
    let field_refs = |downward: Option<&mut Value>| {
        for it in downward
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|d| objects_mut(d, "items"))
        {
            if let Some(f) = it.get_mut("fieldRef").and_then(Value::as_object_mut) {
                f.entry("apiVersion").or_insert_with(|| "v1".into());
            }
        }
    };
    field_refs(v.get_mut("downwardAPI"));
    let projected = v.get_mut("projected").and_then(Value::as_object_mut);
    for s in projected
        .into_iter()
        .flat_map(|p| objects_mut(p, "sources"))
    {
        if let Some(t) = s
            .get_mut("serviceAccountToken")
            .and_then(Value::as_object_mut)
        {
            t.entry("expirationSeconds").or_insert_with(|| 3600.into());
        }
        field_refs(s.get_mut("downwardAPI"));
    }
}

/// The spec fields an update may change (`ValidatePodUpdate`).
fn mutable_view(spec: &Value) -> Value {
    let mut s = spec.clone();
    if let Some(o) = s.as_object_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(Value::Array(cs)) = o.get_mut(list) {
                for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                    c.remove("image");
                }
            }
        }
        o.remove("activeDeadlineSeconds");
        o.remove("tolerations");
        o.remove("terminationGracePeriodSeconds");
    }
    s
}

impl Strategy for PodStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Pod>(obj)
    }
    fn defaults(&self, obj: &mut Value) {
        let s = object_field(obj, "spec");
        s.entry("restartPolicy").or_insert_with(|| "Always".into());
        s.entry("dnsPolicy")
            .or_insert_with(|| "ClusterFirst".into());
        s.entry("terminationGracePeriodSeconds")
            .or_insert_with(|| 30.into());
        s.entry("securityContext").or_insert_with(|| json!({}));
        s.entry("schedulerName")
            .or_insert_with(|| "default-scheduler".into());
        s.entry("enableServiceLinks").or_insert(Value::Bool(true));
        let host_network = s.get("hostNetwork") == Some(&Value::Bool(true));
        for list in CONTAINER_LISTS {
            for c in objects_mut(s, list) {
                default_container(c);
                if !host_network {
                    continue;
                }
                // defaultHostNetworkPorts: on the host's network a port is its own.
                for p in objects_mut(c, "ports") {
                    if p.get("hostPort").is_none_or(|h| h == &json!(0)) {
                        if let Some(cp) = p.get("containerPort").cloned() {
                            p.insert("hostPort".into(), cp);
                        }
                    }
                }
            }
        }
        for v in objects_mut(s, "volumes") {
            default_volume(v);
        }
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        // Priority and tolerations are admission's (server::admission::pod_defaults), as
        // upstream's Priority and DefaultTolerationSeconds plug-ins, switchable by flags.
        mirror_service_account(obj);
        let qos = qos_class(obj);
        obj["status"] = json!({"phase": "Pending", "qosClass": qos});
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        new["status"] = old.get("status").cloned().unwrap_or_else(|| json!({}));
        mirror_service_account(new);
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        let spec = obj.get("spec").cloned().unwrap_or_else(|| json!({}));
        let containers = spec.get("containers").and_then(Value::as_array);
        if containers.is_none_or(Vec::is_empty) {
            errs.required("spec.containers", "");
        }
        let mut names = Vec::new();
        for list in ["initContainers", "containers"] {
            for (i, c) in spec
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let field = format!("spec.{list}[{i}]");
                match c.get("name").and_then(Value::as_str).unwrap_or("") {
                    "" => errs.required(&format!("{field}.name"), ""),
                    n => {
                        check(errs, &format!("{field}.name"), n, dns1123_label);
                        if names.contains(&n) {
                            errs.duplicate(&format!("{field}.name"), &Value::String(n.into()));
                        }
                        names.push(n);
                    }
                }
                if c.get("image")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim()
                    .is_empty()
                {
                    errs.required(&format!("{field}.image"), "");
                }
            }
        }
        let rp = spec.get("restartPolicy").cloned().unwrap_or(Value::Null);
        let supported = ["Always", "OnFailure", "Never"];
        if !supported.iter().any(|s| rp == *s) {
            errs.not_supported("spec.restartPolicy", &rp, &supported);
        }
        let dp = spec.get("dnsPolicy").cloned().unwrap_or(Value::Null);
        let supported = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
        if !supported.iter().any(|s| dp == *s) {
            errs.not_supported("spec.dnsPolicy", &dp, &supported);
        }
    }
    fn validate_update(&self, new: &Value, old: &Value, errs: &mut FieldErrors) {
        self.validate(new, errs);
        // The stored pod as read back, defaults applied (upstream defaults on decode): one
        // stored before a default existed is not changed by gaining it.
        let mut old = old.clone();
        self.defaults(&mut old);
        let (ns, os) = (
            new.get("spec").unwrap_or(&Value::Null),
            old.get("spec").unwrap_or(&Value::Null),
        );
        if mutable_view(ns) != mutable_view(os) {
            errs.forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            );
        }
    }
    fn field_labels(&self) -> &'static [&'static str] {
        &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ]
    }
    fn field_value(&self, obj: &Value, field: &str) -> String {
        let ptr = format!("/{}", field.replace('.', "/"));
        match obj.pointer(&ptr) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Bool(b)) => b.to_string(),
            None if field == "spec.hostNetwork" => "false".into(),
            _ => String::new(),
        }
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[
            NAME_COLUMN,
            col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", 0),
            col("Status", "string", "The aggregate status of the containers in this pod.", 0),
            col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
            AGE_COLUMN,
            col("IP", "string", "The IP address assigned to the pod", 1),
            col("Node", "string", "The name of the node where the pod is scheduled", 1),
            col("Nominated Node", "string", "The name of the node where the pod is nominated to be scheduled", 1),
            col("Readiness Gates", "string", "The readiness gates of the pod", 1),
        ];
        COLUMNS
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        let total = obj
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let statuses = obj
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let ready = statuses.iter().filter(|s| s["ready"] == true).count();
        let restarts: i64 = statuses
            .iter()
            .map(|s| s["restartCount"].as_i64().unwrap_or(0))
            .sum();
        let mut reason = obj
            .pointer("/status/reason")
            .or_else(|| obj.pointer("/status/phase"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        for s in &statuses {
            if let Some(r) = s.pointer("/state/waiting/reason").and_then(Value::as_str) {
                reason = r.to_string();
            } else if let Some(r) = s
                .pointer("/state/terminated/reason")
                .and_then(Value::as_str)
            {
                reason = r.to_string();
            }
        }
        if obj
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
        {
            reason = if reason == "NodeLost" {
                "Unknown".into()
            } else {
                "Terminating".into()
            };
        }
        let gates = obj
            .pointer("/spec/readinessGates")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let field = |p: &str| {
            obj.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .unwrap_or("<none>")
                .to_string()
        };
        vec![
            name_of(obj).into(),
            format!("{ready}/{total}").into(),
            reason.into(),
            restarts.to_string().into(),
            age.into(),
            field("/status/podIP").into(),
            field("/spec/nodeName").into(),
            field("/status/nominatedNodeName").into(),
            if gates == 0 {
                "<none>".into()
            } else {
                format!("0/{gates}").into()
            },
        ]
    }
    fn has_status(&self) -> bool {
        true
    }
    /// `podStrategy.CheckGracefulDelete`: the asked period, else the pod's
    /// `terminationGracePeriodSeconds`; 0 for a pod not yet bound to a node or already
    /// finished (nothing runs to stop); a negative period becomes 1.
    fn graceful_delete_period(&self, pod: &Value, requested: Option<i64>) -> Option<i64> {
        let mut period = requested.unwrap_or_else(|| {
            pod.pointer("/spec/terminationGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        });
        let unbound = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        if unbound || matches!(phase, Some("Succeeded" | "Failed")) {
            period = 0;
        }
        Some(if period < 0 { 1 } else { period })
    }
    fn return_deleted_object(&self) -> bool {
        true
    }
}

/// The deprecated `spec.serviceAccount` always mirrors `serviceAccountName` in v1 (and fills
/// it when only the old field was given), as the v1 conversion does.
fn mirror_service_account(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let name = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let name = name.or_else(|| {
        spec.get("serviceAccount")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    });
    if let Some(n) = name {
        spec.insert("serviceAccountName".into(), n.clone().into());
        spec.insert("serviceAccount".into(), n.into());
    }
}

/// `GetPodQOS`, reduced to what the stored spec shows: no requests or limits → BestEffort;
/// every container with equal cpu and memory requests and limits → Guaranteed; else Burstable.
fn qos_class(pod: &Value) -> &'static str {
    let cs: Vec<&Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let has_any = cs.iter().any(|c| {
        ["requests", "limits"].iter().any(|k| {
            c.pointer(&format!("/resources/{k}"))
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
        })
    });
    if !has_any {
        return "BestEffort";
    }
    let guaranteed = cs.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let lim = c.pointer(&format!("/resources/limits/{r}"));
            lim.is_some()
                && c.pointer(&format!("/resources/requests/{r}"))
                    .is_none_or(|q| Some(q) == lim)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// A pod bound to `node` (`BindingREST`'s `setPodNodeAndMetadata`): the node name set, the
/// binding's annotations added, and the `PodScheduled` condition True since `now`. The
/// error is why it cannot be, as upstream words it (answered as a Conflict on pods/binding).
pub fn bind(
    pod: &mut Value,
    node: &str,
    annotations: &Map<String, Value>,
    now: &str,
) -> Result<(), String> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Err(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        ));
    }
    let assigned = pod
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !assigned.is_empty() {
        return Err(format!(
            "pod {name} is already assigned to node {assigned:?}"
        ));
    }
    if pod
        .pointer("/spec/schedulingGates")
        .and_then(Value::as_array)
        .is_some_and(|g| !g.is_empty())
    {
        return Err(format!("pod {name} has non-empty .spec.schedulingGates"));
    }
    pod["spec"]["nodeName"] = node.into();
    if !annotations.is_empty() {
        let meta = &mut pod["metadata"];
        if !meta.get("annotations").is_some_and(Value::is_object) {
            meta["annotations"] = json!({});
        }
        for (k, v) in annotations {
            meta["annotations"][k] = v.clone();
        }
    }
    // `UpdatePodCondition`: a new or changed condition takes the transition time.
    if !pod["status"].is_object() {
        pod["status"] = json!({});
    }
    let conditions = pod["status"]
        .as_object_mut()
        .map(|s| s.entry("conditions").or_insert_with(|| json!([])));
    if let Some(Value::Array(list)) = conditions {
        match list.iter_mut().find(|c| c["type"] == "PodScheduled") {
            Some(c) if c["status"] == "True" => {}
            Some(c) => {
                c["status"] = "True".into();
                c["lastTransitionTime"] = now.into();
                if let Some(o) = c.as_object_mut() {
                    o.remove("reason");
                    o.remove("message");
                }
            }
            None => list.push(json!({"type": "PodScheduled", "status": "True",
                                     "lastProbeTime": null, "lastTransitionTime": now})),
        }
    }
    Ok(())
}
