//! rbac.authorization.k8s.io: roles, cluster roles and their bindings
//! (`pkg/apis/rbac/validation/validation.go`, `pkg/apis/rbac/v1/defaults.go`, printers).
//! Served as v1 (stored), v1beta1 and v1alpha1: the same schema but for v1alpha1's Subject,
//! converted as upstream converts it.

use crate::resource::{col, name_of, typed_check, Column, Strategy, AGE_COLUMN, NAME_COLUMN};
use crate::validation::{check, dns1123_subdomain, path_segment_name, FieldErrors};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use serde_json::{json, Value};

pub(crate) const GROUP: &str = "rbac.authorization.k8s.io";

const CREATED_AT: Column = Column {
    name: "Created At",
    type_: "date",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    priority: 0,
};

fn strs(v: Option<&Value>) -> Vec<&str> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn validate_rules(obj: &Value, namespaced: bool, errs: &mut FieldErrors) {
    let Some(rules) = obj.get("rules").and_then(Value::as_array) else {
        return;
    };
    for (i, rule) in rules.iter().enumerate() {
        let f = |name: &str| format!("rules[{i}].{name}");
        if strs(rule.get("verbs")).is_empty() {
            errs.required(&f("verbs"), "verbs must contain at least one value");
        }
        let urls = strs(rule.get("nonResourceURLs"));
        if !urls.is_empty() {
            // Go's %#v of a []string.
            let quoted: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
            let shown = format!("[]string{{{}}}", quoted.join(", "));
            if namespaced {
                errs.invalid_rendered(
                    &f("nonResourceURLs"),
                    &shown,
                    "namespaced rules cannot apply to non-resource URLs",
                );
            }
            let has_resource_parts = ["apiGroups", "resources", "resourceNames"]
                .iter()
                .any(|k| !strs(rule.get(*k)).is_empty());
            if has_resource_parts {
                errs.invalid_rendered(
                    &f("nonResourceURLs"),
                    &shown,
                    "rules cannot apply to both regular resources and non-resource URLs",
                );
            }
            continue;
        }
        if strs(rule.get("apiGroups")).is_empty()
            && rule
                .get("apiGroups")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
        {
            errs.required(
                &f("apiGroups"),
                "resource rules must supply at least one api group",
            );
        }
        if strs(rule.get("resources")).is_empty() {
            errs.required(
                &f("resources"),
                "resource rules must supply at least one resource",
            );
        }
    }
}

/// `SetDefaults_Subject` and `SetDefaults_RoleRef`.
fn default_binding(obj: &mut Value) {
    if let Some(rr) = obj.get_mut("roleRef").and_then(Value::as_object_mut) {
        if rr
            .get("apiGroup")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            rr.insert("apiGroup".into(), GROUP.into());
        }
    }
    if let Some(Value::Array(subjects)) = obj.get_mut("subjects") {
        for s in subjects.iter_mut().filter_map(Value::as_object_mut) {
            if s.get("apiGroup")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                match s.get("kind").and_then(Value::as_str) {
                    Some("User" | "Group") => {
                        s.insert("apiGroup".into(), GROUP.into());
                    }
                    // The empty group of a ServiceAccount subject is omitted (`omitempty`).
                    _ => {
                        s.remove("apiGroup");
                    }
                }
            }
        }
    }
}

fn validate_binding(obj: &Value, cluster: bool, errs: &mut FieldErrors) {
    let rr = obj.get("roleRef").cloned().unwrap_or(Value::Null);
    let group = rr.get("apiGroup").cloned().unwrap_or(Value::Null);
    if group != GROUP {
        errs.not_supported("roleRef.apiGroup", &group, &[GROUP]);
    }
    let kind = rr.get("kind").cloned().unwrap_or(Value::Null);
    let kinds: &[&str] = if cluster {
        &["ClusterRole"]
    } else {
        &["Role", "ClusterRole"]
    };
    if !kinds.iter().any(|k| kind == *k) {
        errs.not_supported("roleRef.kind", &kind, kinds);
    }
    match rr.get("name").and_then(Value::as_str).unwrap_or("") {
        "" => errs.required("roleRef.name", ""),
        n => check(errs, "roleRef.name", n, path_segment_name),
    }
    for (i, s) in obj
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let f = |name: &str| format!("subjects[{i}].{name}");
        let name = s.get("name").and_then(Value::as_str).unwrap_or("");
        if name.is_empty() {
            errs.required(&f("name"), "");
        }
        let api_group = s
            .get("apiGroup")
            .cloned()
            .unwrap_or(Value::String(String::new()));
        match s.get("kind").and_then(Value::as_str) {
            Some("ServiceAccount") => {
                if !name.is_empty() {
                    check(errs, &f("name"), name, dns1123_subdomain);
                }
                if api_group != "" {
                    errs.not_supported(&f("apiGroup"), &api_group, &[""]);
                }
                if cluster
                    && s.get("namespace")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .is_empty()
                {
                    errs.required(&f("namespace"), "");
                }
            }
            Some("User" | "Group") => {
                if api_group != GROUP {
                    errs.not_supported(&f("apiGroup"), &api_group, &[GROUP]);
                }
            }
            _ => errs.not_supported(
                &f("kind"),
                s.get("kind").unwrap_or(&Value::Null),
                &["ServiceAccount", "User", "Group"],
            ),
        }
    }
}

fn validate_role_ref_unchanged(new: &Value, old: &Value, errs: &mut FieldErrors) {
    let (n, o) = (new.get("roleRef"), old.get("roleRef"));
    if n != o {
        let r = n.cloned().unwrap_or(Value::Null);
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let shown = format!(
            "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
            s("apiGroup"),
            s("kind"),
            s("name")
        );
        errs.invalid_rendered("roleRef", &shown, "cannot change roleRef");
    }
}

fn binding_columns() -> &'static [Column] {
    const COLUMNS: &[Column] = &[
        NAME_COLUMN,
        col("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.", 0),
        AGE_COLUMN,
        col("Users", "string", "Users in the roleBinding", 1),
        col("Groups", "string", "Groups in the roleBinding", 1),
        col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", 1),
    ];
    COLUMNS
}

fn binding_cells(obj: &Value, age: &str) -> Vec<Value> {
    let rr = obj.get("roleRef").cloned().unwrap_or(json!({}));
    let role = format!(
        "{}/{}",
        rr["kind"].as_str().unwrap_or(""),
        rr["name"].as_str().unwrap_or("")
    );
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for s in obj
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = s["name"].as_str().unwrap_or("").to_string();
        match s["kind"].as_str() {
            Some("User") => users.push(name),
            Some("Group") => groups.push(name),
            Some("ServiceAccount") => {
                sas.push(format!("{}/{name}", s["namespace"].as_str().unwrap_or("")))
            }
            _ => {}
        }
    }
    vec![
        name_of(obj).into(),
        role.into(),
        age.into(),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ]
}

fn role_cells(obj: &Value) -> Vec<Value> {
    vec![
        name_of(obj).into(),
        obj.pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(Value::Null),
    ]
}

pub(crate) struct RoleStrategy;

impl Strategy for RoleStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<Role>(obj)
    }
    fn name_rule(&self) -> fn(&str) -> Vec<String> {
        path_segment_name
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        validate_rules(obj, true, errs);
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[NAME_COLUMN, CREATED_AT];
        COLUMNS
    }
    fn cells(&self, obj: &Value, _age: &str) -> Vec<Value> {
        role_cells(obj)
    }
}

pub(crate) struct ClusterRoleStrategy;

impl Strategy for ClusterRoleStrategy {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<ClusterRole>(obj)
    }
    fn name_rule(&self) -> fn(&str) -> Vec<String> {
        path_segment_name
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        validate_rules(obj, false, errs);
        if let Some(ar) = obj.get("aggregationRule").filter(|a| !a.is_null()) {
            if ar
                .get("clusterRoleSelectors")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty)
            {
                errs.required(
                    "aggregationRule.clusterRoleSelectors",
                    "at least one clusterRoleSelector required if aggregationRule is non-nil",
                );
            }
        }
    }
    fn columns(&self) -> &'static [Column] {
        const COLUMNS: &[Column] = &[NAME_COLUMN, CREATED_AT];
        COLUMNS
    }
    fn cells(&self, obj: &Value, _age: &str) -> Vec<Value> {
        role_cells(obj)
    }
}

/// RoleBindings and ClusterRoleBindings share every rule but the typed schema and whether
/// ServiceAccount subjects need a namespace (and roleRef may name a Role).
pub(crate) struct BindingStrategy<T> {
    cluster: bool,
    typed: std::marker::PhantomData<fn() -> T>,
}

pub(crate) const ROLE_BINDING: BindingStrategy<RoleBinding> = BindingStrategy {
    cluster: false,
    typed: std::marker::PhantomData,
};
pub(crate) const CLUSTER_ROLE_BINDING: BindingStrategy<ClusterRoleBinding> = BindingStrategy {
    cluster: true,
    typed: std::marker::PhantomData,
};

impl<T: serde::de::DeserializeOwned + serde::Serialize> Strategy for BindingStrategy<T> {
    fn check_schema(&self, obj: &mut Value) -> Result<Vec<String>, String> {
        typed_check::<T>(obj)
    }
    fn name_rule(&self) -> fn(&str) -> Vec<String> {
        path_segment_name
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        default_binding(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, _old: &Value) {
        default_binding(new);
    }
    fn validate(&self, obj: &Value, errs: &mut FieldErrors) {
        validate_binding(obj, self.cluster, errs);
    }
    fn validate_update(&self, new: &Value, old: &Value, errs: &mut FieldErrors) {
        validate_binding(new, self.cluster, errs);
        validate_role_ref_unchanged(new, old, errs);
    }
    fn columns(&self) -> &'static [Column] {
        binding_columns()
    }
    fn cells(&self, obj: &Value, age: &str) -> Vec<Value> {
        binding_cells(obj, age)
    }
    fn convert_to_version(&self, version: &str, obj: &mut Value) {
        if version == "v1alpha1" {
            for s in subjects_mut(obj) {
                subject_to_v1alpha1(s);
            }
        }
    }
    fn convert_to_stored(&self, version: &str, obj: &mut Value) {
        if version == "v1alpha1" {
            for s in subjects_mut(obj) {
                subject_from_v1alpha1(s);
            }
        }
    }
}

fn subjects_mut(obj: &mut Value) -> impl Iterator<Item = &mut serde_json::Map<String, Value>> {
    obj.get_mut("subjects")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

/// `Convert_rbac_Subject_To_v1alpha1_Subject` (`pkg/apis/rbac/v1alpha1/conversion.go`):
/// v1alpha1 names a subject's `apiVersion`, not its `apiGroup`. Service accounts are `v1`,
/// users and groups of this group `rbac.authorization.k8s.io/v1alpha1`, anything else its
/// group with no version (Go's `GroupVersion.String()`: `group/`, or "" for none).
fn subject_to_v1alpha1(s: &mut serde_json::Map<String, Value>) {
    let group = s
        .remove("apiGroup")
        .and_then(|g| g.as_str().map(str::to_string))
        .unwrap_or_default();
    let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = match (kind, group.as_str()) {
        ("ServiceAccount", "") => "v1".to_string(),
        ("User" | "Group", GROUP) => format!("{GROUP}/v1alpha1"),
        (_, "") => String::new(),
        (_, g) => format!("{g}/"),
    };
    if !api_version.is_empty() {
        s.insert("apiVersion".into(), api_version.into());
    }
}

/// `Convert_v1alpha1_Subject_To_rbac_Subject`: the group of the three kinds v1alpha1 knows,
/// else the group part of `apiVersion` when it parses as a group version.
fn subject_from_v1alpha1(s: &mut serde_json::Map<String, Value>) {
    let api_version = s
        .remove("apiVersion")
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
    let group = match kind {
        "ServiceAccount" => String::new(),
        "User" | "Group" => GROUP.to_string(),
        // `schema.ParseGroupVersion`: "", "v", "g/v"; more slashes do not parse.
        _ => match api_version.split('/').collect::<Vec<_>>()[..] {
            [g, _] => g.to_string(),
            _ => String::new(),
        },
    };
    if group.is_empty() {
        s.remove("apiGroup");
    } else {
        s.insert("apiGroup".into(), group.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (stored v1 subject, its v1alpha1 form, back from that form): upstream's
    /// `pkg/apis/rbac/v1alpha1/conversion.go` both ways.
    #[test]
    fn v1alpha1_subjects_convert_as_upstreams() {
        let rbac = "rbac.authorization.k8s.io";
        for (v1, alpha, back) in [
            (
                json!({"kind": "User", "apiGroup": rbac, "name": "a"}),
                json!({"kind": "User", "apiVersion": "rbac.authorization.k8s.io/v1alpha1", "name": "a"}),
                None,
            ),
            (
                json!({"kind": "Group", "apiGroup": rbac, "name": "g"}),
                json!({"kind": "Group", "apiVersion": "rbac.authorization.k8s.io/v1alpha1", "name": "g"}),
                None,
            ),
            (
                json!({"kind": "ServiceAccount", "name": "s", "namespace": "n"}),
                json!({"kind": "ServiceAccount", "apiVersion": "v1", "name": "s", "namespace": "n"}),
                None,
            ),
            // Anything else: its group, no version, as Go's GroupVersion.String() writes it.
            (
                json!({"kind": "Robot", "apiGroup": "example.com", "name": "r"}),
                json!({"kind": "Robot", "apiVersion": "example.com/", "name": "r"}),
                None,
            ),
            (
                json!({"kind": "Robot", "name": "r"}),
                json!({"kind": "Robot", "name": "r"}),
                None,
            ),
            // A user's group is this group, whatever apiVersion said.
            (
                json!({"kind": "User", "apiGroup": "other.io", "name": "a"}),
                json!({"kind": "User", "apiVersion": "other.io/", "name": "a"}),
                Some(json!({"kind": "User", "apiGroup": rbac, "name": "a"})),
            ),
        ] {
            let strategy = &ROLE_BINDING;
            let mut obj = json!({"subjects": [v1.clone()]});
            strategy.convert_to_version("v1alpha1", &mut obj);
            assert_eq!(obj["subjects"][0], alpha, "{v1}");
            strategy.convert_to_stored("v1alpha1", &mut obj);
            assert_eq!(obj["subjects"][0], back.unwrap_or(v1.clone()), "{alpha}");
            // Other versions keep v1's shape.
            let mut same = json!({"subjects": [v1.clone()]});
            strategy.convert_to_version("v1beta1", &mut same);
            assert_eq!(same["subjects"][0], v1);
        }
        // A group version that does not parse gives no group; "g/v" its group.
        for (api_version, group) in [
            ("a/b/c", None),
            ("example.com/v2", Some("example.com")),
            ("v1", None),
        ] {
            let mut s =
                json!({"subjects": [{"kind": "Robot", "apiVersion": api_version, "name": "r"}]});
            CLUSTER_ROLE_BINDING.convert_to_stored("v1alpha1", &mut s);
            assert_eq!(
                s["subjects"][0].get("apiGroup").and_then(Value::as_str),
                group
            );
            assert!(s["subjects"][0].get("apiVersion").is_none());
        }
    }
}
