//! The pod plug-ins every cluster runs by default that fill in the spec: Priority
//! (`plugin/pkg/admission/priority/admission.go`) and DefaultTolerationSeconds
//! (`plugin/pkg/admission/defaulttolerationseconds/admission.go`).

use super::{Admitted, Attributes, Operation, Plugin};
use crate::State;
use api_types::StatusError;
use registry::kinds;
use serde_json::{json, Value};

fn pod_create(a: &Attributes<'_>) -> bool {
    a.def.is(&kinds::PODS) && a.subresource.is_empty() && a.operation == Operation::Create
}

fn forbidden(a: &Attributes<'_>, obj: &Value, why: String) -> StatusError {
    StatusError::forbidden(&a.def.group_resource(), &super::object_name(obj), &why)
}

/// The system priority classes kube-apiserver creates (`scheduling.SystemPriorityClasses`);
/// kubeward serves no PriorityClass objects, so these are the only classes there are.
const SYSTEM_CLASSES: [(&str, i64); 2] = [
    ("system-cluster-critical", 2_000_000_000),
    ("system-node-critical", 2_000_001_000),
];

/// Priority: a pod's priority and preemption policy come from its PriorityClass (with none
/// named and no default class: 0 and PreemptLowerPriority); a pod may not say otherwise.
pub(super) struct Priority;

impl Plugin for Priority {
    fn name(&self) -> &'static str {
        "Priority"
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        pod_create(a)
    }

    fn mutates(&self) -> bool {
        true
    }

    fn admit<'a>(
        &'a self,
        _state: &'a State,
        a: &'a Attributes<'a>,
        mut obj: Value,
    ) -> Admitted<'a> {
        Box::pin(async move {
            let spec = &obj["spec"];
            let class = spec["priorityClassName"].as_str().unwrap_or("");
            let priority = if class.is_empty() {
                0
            } else {
                match SYSTEM_CLASSES.iter().find(|(n, _)| *n == class) {
                    Some((_, p)) => *p,
                    None => {
                        let why = format!("no PriorityClass with name {class} was found");
                        return Err(forbidden(a, &obj, why));
                    }
                }
            };
            if let Some(given) = spec["priority"].as_i64().filter(|p| *p != priority) {
                let why = format!("the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name");
                return Err(forbidden(a, &obj, why));
            }
            let policy = "PreemptLowerPriority";
            if let Some(given) = spec["preemptionPolicy"].as_str().filter(|p| *p != policy) {
                let why = format!("the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name");
                return Err(forbidden(a, &obj, why));
            }
            if let Some(s) = obj.get_mut("spec").and_then(Value::as_object_mut) {
                s.insert("priority".into(), priority.into());
                s.insert("preemptionPolicy".into(), policy.into());
            }
            Ok(obj)
        })
    }
}

/// DefaultTolerationSeconds: a pod that does not tolerate the `not-ready` and `unreachable`
/// NoExecute taints itself tolerates each for 300 s.
pub(super) struct DefaultTolerationSeconds;

impl Plugin for DefaultTolerationSeconds {
    fn name(&self) -> &'static str {
        "DefaultTolerationSeconds"
    }

    fn handles(&self, a: &Attributes<'_>) -> bool {
        pod_create(a)
    }

    fn mutates(&self) -> bool {
        true
    }

    fn admit<'a>(
        &'a self,
        _state: &'a State,
        _a: &'a Attributes<'a>,
        mut obj: Value,
    ) -> Admitted<'a> {
        Box::pin(async move {
            let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
                return Ok(obj);
            };
            let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
            if let Value::Array(ts) = tolerations {
                for key in [
                    "node.kubernetes.io/not-ready",
                    "node.kubernetes.io/unreachable",
                ] {
                    // A toleration of every key, or of this one, for NoExecute or every effect.
                    let tolerated = ts.iter().any(|t| {
                        let k = t["key"].as_str().unwrap_or("");
                        let e = t["effect"].as_str().unwrap_or("");
                        (k.is_empty() || k == key) && (e.is_empty() || e == "NoExecute")
                    });
                    if !tolerated {
                        ts.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                    }
                }
            }
            Ok(obj)
        })
    }
}
