//! What a served resource is: its names (for discovery, paths and errors) and its strategy
//! (defaults, validation, table columns, field labels), as upstream's `RESTCreateStrategy`,
//! `RESTUpdateStrategy` and `TableConvertor` per kind.

use crate::validation::{dns1123_subdomain, FieldErrors};
use api_types::GroupResource;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// One column of a server-side table.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The column's header.
    pub name: &'static str,
    /// Its type (`string`, `integer`, `date`).
    pub type_: &'static str,
    /// Its format (`name`, or "").
    pub format: &'static str,
    /// Upstream's description of it.
    pub description: &'static str,
    /// 0 prints by default; 1 only with `-o wide`.
    pub priority: u8,
}

/// The `NAME` column every kind starts with.
pub const NAME_COLUMN: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    priority: 0,
};

/// The `AGE` column.
pub const AGE_COLUMN: Column = Column {
    name: "Age",
    type_: "string",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    priority: 0,
};

/// Builds a plain column.
pub const fn col(
    name: &'static str,
    type_: &'static str,
    description: &'static str,
    priority: u8,
) -> Column {
    Column {
        name,
        type_,
        format: "",
        description,
        priority,
    }
}

/// Per-kind behaviour. Every method has upstream's generic default.
pub trait Strategy: Send + Sync {
    /// Decodes the object into its typed form, drops the fields the type does not know and
    /// returns their paths (for `fieldValidation`), or the decode error.
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String>;

    /// The rule `metadata.name` must follow.
    fn name_rule(&self) -> fn(&str) -> Vec<String> {
        dns1123_subdomain
    }

    /// API defaults (`SetDefaults_*`), applied to every written object before its fields are
    /// attributed to a manager, as upstream defaults on decode: a field pruned by an apply comes
    /// back with its default.
    fn defaults(&self, _obj: &mut Value) {}

    /// Defaults and clears fields on create (`PrepareForCreate` and admission defaults).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Defaults and carries fields over on update (`PrepareForUpdate`).
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Kind-specific validation on create.
    fn validate(&self, _obj: &Value, _errs: &mut FieldErrors) {}

    /// Kind-specific validation on update; by default the create rules.
    fn validate_update(&self, new: &Value, _old: &Value, errs: &mut FieldErrors) {
        self.validate(new, errs)
    }

    /// Field selector labels besides `metadata.name` and `metadata.namespace`.
    fn field_labels(&self) -> &'static [&'static str] {
        &[]
    }

    /// The value of a field label for this object (dotted JSON path by default).
    fn field_value(&self, obj: &Value, field: &str) -> String {
        let mut v = obj;
        for part in field.split('.') {
            match v.get(part) {
                Some(x) => v = x,
                None => return String::new(),
            }
        }
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// Table columns, as upstream's printers (`pkg/printers/internalversion/printers.go`).
    fn columns(&self) -> &'static [Column] {
        &[NAME_COLUMN, AGE_COLUMN]
    }

    /// Table cells, one per column of `columns`. `age` is the object's age as printed.
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        vec![name_of(obj).into(), age.into()]
    }

    /// Whether objects hold addresses given out by the registry (a Service's cluster IP and
    /// node ports: `store::services`), claimed before they are stored and released with them.
    fn holds_addresses(&self) -> bool {
        false
    }

    /// True for kinds with a `status` subresource: the main resource ignores status writes and
    /// the subresource ignores everything else.
    fn has_status(&self) -> bool {
        false
    }

    /// True when DELETE answers with the object rather than a Success Status.
    fn return_deleted_object(&self) -> bool {
        false
    }

    /// Finalizers the kind keeps outside `metadata.finalizers` that still hold the object
    /// after its deletion began (a namespace's `spec.finalizers`).
    fn has_pending_finalizers(&self, _obj: &Value) -> bool {
        false
    }

    /// `CheckGracefulDelete`: for a kind deleted gracefully, the grace period a delete of
    /// `obj` gets when `requested` was asked for (0: at once); None for other kinds.
    fn graceful_delete_period(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }

    /// What a deletion that must wait for finalizers sets beside `deletionTimestamp` (a
    /// namespace becomes `Terminating`; `BeforeDelete`'s graceful part upstream).
    fn prepare_for_graceful_delete(&self, _obj: &mut Value) {}

    /// The `finalize` subresource's update: the object `old` becomes when `new` is written
    /// there, or None when the kind has no such subresource.
    fn finalize(&self, _new: &Value, _old: &Value) -> Option<Value> {
        None
    }

    /// The stored object in served `version`'s shape, where that version's types differ
    /// (upstream's generated conversions: rbac v1alpha1's Subject). The same by default.
    fn convert_to_version(&self, _version: &str, _obj: &mut Value) {}

    /// An object in served `version`'s shape, in the stored version's: the inverse of
    /// [`Strategy::convert_to_version`].
    fn convert_to_stored(&self, _version: &str, _obj: &mut Value) {}
}

pub use crate::meta::object_field;

/// `metadata.name`, or "".
pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A resource as served: names, scope, and the strategy.
pub struct ResourceDef {
    /// The API group ("" for core).
    pub group: &'static str,
    /// Served versions, preferred (and stored) first.
    pub versions: &'static [&'static str],
    /// The resource (plural), as in URLs.
    pub resource: &'static str,
    /// The singular name, for discovery.
    pub singular: &'static str,
    /// The Kind.
    pub kind: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`sa`, `cm`), for discovery.
    pub short_names: &'static [&'static str],
    /// Categories (`all`), for discovery.
    pub categories: &'static [&'static str],
    /// The verbs served.
    pub verbs: &'static [&'static str],
    /// The subresources served under the kind (discovery and routing read them here).
    pub subresources: &'static [Subresource],
    /// The kind's rules.
    pub strategy: &'static dyn Strategy,
}

/// Every verb a stored kind serves.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// One subresource: its name, the verbs it answers, and the kind it takes and returns when
/// that is not the parent's (TokenRequest for `serviceaccounts/token`).
#[derive(Debug)]
pub struct Subresource {
    /// The name (`status`).
    pub name: &'static str,
    /// The verbs it answers.
    pub verbs: &'static [&'static str],
    /// The (group, version, kind) it takes and returns, when not the parent's.
    pub kind: Option<(&'static str, &'static str, &'static str)>,
}

impl Subresource {
    /// `status`: the object's status, read and written apart from the rest.
    pub const STATUS: Subresource = Subresource {
        name: "status",
        verbs: &["get", "patch", "update"],
        kind: None,
    };
    /// `finalize`: a namespace's `spec.finalizers`, written by the namespace controller.
    pub const FINALIZE: Subresource = Subresource {
        name: "finalize",
        verbs: &["update"],
        kind: None,
    };
    /// `binding`: a pod's assignment to a node (`pods/binding`, a `Binding`), answered by the
    /// server.
    pub const BINDING: Subresource = Subresource {
        name: "binding",
        verbs: &["create"],
        kind: Some(("", "v1", "Binding")),
    };
    /// `log`: a container's log (`pods/log`), answered by the server from the node agent.
    pub const LOG: Subresource = Subresource {
        name: "log",
        verbs: &["get"],
        kind: None,
    };
    /// `exec`: a command in a container (`pods/exec`), an upgraded stream the server relays
    /// to the node agent; GET for WebSocket, POST for SPDY.
    pub const EXEC: Subresource = Subresource {
        name: "exec",
        verbs: &["create", "get"],
        kind: Some(("", "v1", "PodExecOptions")),
    };
    /// `attach`: a running container's own streams (`pods/attach`), relayed like exec.
    pub const ATTACH: Subresource = Subresource {
        name: "attach",
        verbs: &["create", "get"],
        kind: Some(("", "v1", "PodAttachOptions")),
    };
    /// `token`: TokenRequest, answered by the server (`serviceaccounts/token`).
    pub const TOKEN: Subresource = Subresource {
        name: "token",
        verbs: &["create"],
        kind: Some(("authentication.k8s.io", "v1", "TokenRequest")),
    };
}

impl ResourceDef {
    /// The subresource `name`, when the kind serves it.
    pub fn subresource(&self, name: &str) -> Option<&'static Subresource> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// Whether this is the kind `other` names (`def.is(&kinds::PODS)`): kinds are compared by
    /// identity, never by their names' strings.
    pub fn is(&self, other: &ResourceDef) -> bool {
        std::ptr::eq(self, other)
    }

    /// The group and resource, for error messages.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(self.group, self.resource)
    }

    /// `v1` for core, `group/version` otherwise, for the preferred version.
    pub fn api_version(&self) -> String {
        self.api_version_for(self.versions[0])
    }

    /// The `apiVersion` for `version`: `v1` for core, `group/version` otherwise.
    pub fn api_version_for(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    /// `Kind` or `Kind.group`, as Invalid errors qualify kinds.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// True for kinds that are answered rather than stored (access, token and self reviews,
    /// and kubeward's access.kubeward.io reviews).
    pub fn is_review(&self) -> bool {
        matches!(
            self.group,
            "authorization.k8s.io" | "authentication.k8s.io" | "access.kubeward.io"
        )
    }

    /// Whether the kind serves `verb`.
    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

/// The typed round trip behind [`Strategy::check_schema`]: decode into the k8s-openapi type,
/// encode again, and report every input field that did not survive (those the type lacks).
pub fn typed_check<T: DeserializeOwned + Serialize>(
    obj: &mut Value,
) -> Result<Vec<String>, String> {
    let typed: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut unknown = Vec::new();
    prune_unknown(obj, &back, "", &mut unknown);
    Ok(unknown)
}

fn prune_unknown(input: &mut Value, known: &Value, path: &str, out: &mut Vec<String>) {
    match (input, known) {
        (Value::Object(a), Value::Object(b)) => {
            a.retain(|k, v| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match b.get(k) {
                    Some(kv) => {
                        prune_unknown(v, kv, &p, out);
                        true
                    }
                    None if v.is_null() => true,
                    None => {
                        out.push(p);
                        false
                    }
                }
            });
        }
        (Value::Array(a), Value::Array(b)) => {
            for (i, (x, y)) in a.iter_mut().zip(b).enumerate() {
                prune_unknown(x, y, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    #[test]
    fn typed_check_finds_unknown_fields_at_any_depth() {
        let mut pod = json!({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","bogus":1,"creationTimestamp":null},
            "spec":{"containers":[{"name":"c","image":"i","imagePullPolicyy":"x"}]},"extra":{}});
        let unknown = typed_check::<Pod>(&mut pod).unwrap();
        assert_eq!(
            unknown,
            [
                "extra",
                "metadata.bogus",
                "spec.containers[0].imagePullPolicyy"
            ]
        );
        assert!(
            pod.get("extra").is_none() && pod.pointer("/metadata/bogus").is_none(),
            "unknown fields are dropped"
        );
        assert_eq!(pod.pointer("/metadata/name").unwrap(), "p");
        assert!(typed_check::<Pod>(&mut json!({"spec":{"containers":"nope"}})).is_err());
    }
}
