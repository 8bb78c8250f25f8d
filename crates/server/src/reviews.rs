//! The access reviews (authorization.k8s.io/v1): SelfSubjectAccessReview,
//! SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview. Each is decoded,
//! answered with the same authorizer chain that guards requests, and returned with `status`;
//! nothing is stored (`pkg/registry/authorization/*`).

use crate::State;
use api_types::{Cause, StatusError, UserInfo};
use authz::Attributes;
use registry::kinds;
use registry::ResourceDef;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

fn s(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

fn invalid(def: &ResourceDef, field: &str, value: &str, msg: &str) -> StatusError {
    StatusError::invalid(
        def.group,
        &def.qualified_kind(),
        def.kind,
        "",
        vec![Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value:?}: {msg}"),
            field: field.into(),
        }],
    )
}

/// Attributes from a review's spec (`authorizationutil.ResourceAttributesFrom` / `NonResource…`).
fn spec_attributes(
    def: &ResourceDef,
    user: UserInfo,
    spec: &Value,
) -> Result<Attributes, StatusError> {
    let ra = spec.get("resourceAttributes").filter(|v| !v.is_null());
    let nra = spec.get("nonResourceAttributes").filter(|v| !v.is_null());
    match (ra, nra) {
        (Some(r), None) => Ok(Attributes {
            user,
            verb: s(r, "verb"),
            resource_request: true,
            namespace: s(r, "namespace"),
            api_group: s(r, "group"),
            api_version: s(r, "version"),
            resource: s(r, "resource"),
            subresource: s(r, "subresource"),
            name: s(r, "name"),
            path: String::new(),
            // 1.31+: `fieldSelector.rawSelector` (the parsed requirements are not read).
            field_selector: r
                .pointer("/fieldSelector/rawSelector")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        }),
        (None, Some(n)) => Ok(Attributes {
            user,
            verb: s(n, "verb"),
            path: s(n, "path"),
            ..Default::default()
        }),
        (Some(_), Some(_)) => Err(invalid(
            def,
            "spec.nonResourceAttributes",
            "",
            "cannot be specified in combination with resourceAttributes",
        )),
        (None, None) => Err(invalid(
            def,
            "spec.resourceAttributes",
            "null",
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        )),
    }
}

/// The strings of the list at `v[k]` (none when absent or not a list).
fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn user_from_spec(spec: &Value) -> UserInfo {
    let list = |k: &str| strings(spec, k);
    let extra: BTreeMap<String, Vec<String>> = spec
        .get("extra")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_array()
                            .map(|a| {
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_string)
                                    .collect()
                            })
                            .unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    UserInfo {
        name: s(spec, "user"),
        uid: s(spec, "uid"),
        groups: list("groups"),
        extra,
    }
}

/// `authenticationv1.UserInfo` (empty fields omitted).
fn user_info(u: &UserInfo) -> Value {
    let mut v = json!({"username": u.name});
    if !u.uid.is_empty() {
        v["uid"] = u.uid.clone().into();
    }
    if !u.groups.is_empty() {
        v["groups"] = json!(u.groups);
    }
    if !u.extra.is_empty() {
        v["extra"] = json!(u.extra);
    }
    v
}

fn access_status(state: &State, a: &Attributes) -> Value {
    let d = state.authorizer.authorize(a);
    let mut st = json!({"allowed": d.allowed()});
    if matches!(d, authz::Decision::Deny(_)) {
        st["denied"] = true.into();
    }
    if !d.reason().is_empty() {
        st["reason"] = d.reason().into();
    }
    st
}

/// One review kind's answer: its `status`, from the spec (`url_namespace` is the path's).
type Answer = fn(&State, &ResourceDef, &UserInfo, &str, &Value) -> Result<Value, StatusError>;

/// The review kinds and their answers, by typed constant.
static REVIEWS: &[(&ResourceDef, Answer)] = &[
    (
        &kinds::SELF_SUBJECT_ACCESS_REVIEWS,
        self_subject_access_review,
    ),
    (&kinds::SUBJECT_ACCESS_REVIEWS, subject_access_review),
    (&kinds::LOCAL_SUBJECT_ACCESS_REVIEWS, subject_access_review),
    (
        &kinds::SELF_SUBJECT_RULES_REVIEWS,
        self_subject_rules_review,
    ),
    (&kinds::SELF_SUBJECT_REVIEWS, self_subject_review),
    (&kinds::TOKEN_REVIEWS, token_review),
    (&kinds::ACCESS_REVIEWS, access_review),
    (&kinds::WHO_CAN_REVIEWS, who_can_review),
    (&kinds::ACCESS_MATRIX_REVIEWS, access_matrix_review),
];

/// Whether `caller` may `get` the binding `v` names: what an explanation or a who-can answer
/// may show it.
fn may_get_binding(state: &State, caller: &UserInfo, v: &authz::rbac::explain::Via) -> bool {
    let (resource, namespace) = if v.binding_namespace.is_empty() {
        ("clusterrolebindings", "")
    } else {
        ("rolebindings", v.binding_namespace.as_str())
    };
    state
        .authorizer
        .authorize(&Attributes {
            user: caller.clone(),
            verb: "get".into(),
            resource_request: true,
            namespace: namespace.into(),
            api_group: "rbac.authorization.k8s.io".into(),
            resource: resource.into(),
            name: v.binding_name.clone(),
            ..Default::default()
        })
        .allowed()
}

/// kubeward's WhoCanReview: every subject RBAC allows the spec's request, from the RBAC
/// index's inverse map; subjects granted through bindings the caller may not `get` are left
/// out and counted.
fn who_can_review(
    state: &State,
    def: &ResourceDef,
    caller: &UserInfo,
    _url_namespace: &str,
    spec: &Value,
) -> Result<Value, StatusError> {
    let named = user_from_spec(spec);
    if !named.name.is_empty() || !named.groups.is_empty() {
        return Err(invalid(
            def,
            "spec.user",
            &named.name,
            "a WhoCanReview asks who may make the request: it names no user or groups",
        ));
    }
    let a = spec_attributes(def, UserInfo::default(), spec)?;
    let mut subjects = vec![authz::rbac::explain_json::masters_row()];
    let mut hidden = 0;
    let mut last: Option<(&authz::rbac::explain::Via, bool)> = None;
    let rows = state.rbac.who_can(&a);
    for w in &rows {
        // Rows of one binding come together: one decision per binding.
        let visible = match last {
            Some((v, ok))
                if v.binding_namespace == w.grant.via.binding_namespace
                    && v.binding_name == w.grant.via.binding_name =>
            {
                ok
            }
            _ => may_get_binding(state, caller, &w.grant.via),
        };
        last = Some((&w.grant.via, visible));
        if visible {
            subjects.push(authz::rbac::explain_json::allowed_json(w));
        } else {
            hidden += 1;
        }
    }
    Ok(json!({"subjects": subjects, "hiddenSubjects": hidden}))
}

/// kubeward's AccessMatrixReview: the verbs the spec's user holds on every stored resource and
/// subresource, cluster-wide or in `resourceAttributes.namespace`, from one gathering of its
/// rules (RBAC's answer; members of system:masters hold everything). It names no binding.
fn access_matrix_review(
    state: &State,
    def: &ResourceDef,
    _caller: &UserInfo,
    _url_namespace: &str,
    spec: &Value,
) -> Result<Value, StatusError> {
    let user = user_from_spec(spec);
    if user.name.is_empty() && user.groups.is_empty() {
        return Err(invalid(
            def,
            "spec.user",
            "",
            "at least one of user or group must be specified",
        ));
    }
    if spec
        .get("nonResourceAttributes")
        .is_some_and(|v| !v.is_null())
    {
        return Err(invalid(
            def,
            "spec.nonResourceAttributes",
            "",
            "an access matrix is for resources: give at most resourceAttributes.namespace",
        ));
    }
    let namespace = spec
        .pointer("/resourceAttributes/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let rows = registry::access_matrix_rows(namespace);
    let verbs = &authz::rbac::explain::MATRIX_VERBS[..];
    let cells = state.rbac.access_matrix(&user, namespace, &rows, verbs);
    Ok(json!({
        "namespace": namespace,
        "verbs": verbs,
        "resources": authz::rbac::explain_json::matrix_json(&rows, &cells, verbs),
    }))
}

/// kubeward's AccessReview: a SubjectAccessReview's answer and its explanation, from the same
/// RBAC index. Grants and misses through bindings the caller may not `get` are left out and
/// counted, so an explanation never names what its reader may not see.
fn access_review(
    state: &State,
    def: &ResourceDef,
    caller: &UserInfo,
    url_namespace: &str,
    spec: &Value,
) -> Result<Value, StatusError> {
    let mut status = subject_access_review(state, def, caller, url_namespace, spec)?;
    let a = spec_attributes(def, user_from_spec(spec), spec)?;
    let e = authz::rbac::explain::explain(&state.rbac.policy_for(&a.user), &a);
    let may_get = |v: &authz::rbac::explain::Via| may_get_binding(state, caller, v);
    let mut visible = e.clone();
    visible.grants.retain(|g| may_get(&g.via));
    visible.misses.retain(|m| may_get(&m.via));
    let mut explanation = authz::rbac::explain_json::to_json(&a, &visible);
    if let Some(o) = explanation.as_object_mut() {
        // The reviewed request and user are the spec's already.
        o.remove("request");
        o.remove("user");
        o.remove("allowed");
        o.insert(
            "hiddenGrants".into(),
            (e.grants.len() - visible.grants.len()).into(),
        );
        if !e.allowed {
            o.insert(
                "hiddenMisses".into(),
                (e.misses.len() - visible.misses.len()).into(),
            );
        }
    }
    status["explanation"] = explanation;
    Ok(status)
}

fn self_subject_access_review(
    state: &State,
    def: &ResourceDef,
    user: &UserInfo,
    _url_namespace: &str,
    spec: &Value,
) -> Result<Value, StatusError> {
    Ok(access_status(
        state,
        &spec_attributes(def, user.clone(), spec)?,
    ))
}

/// SubjectAccessReview, and LocalSubjectAccessReview (resource attributes only, in the
/// path's namespace).
fn subject_access_review(
    state: &State,
    def: &ResourceDef,
    _user: &UserInfo,
    url_namespace: &str,
    spec: &Value,
) -> Result<Value, StatusError> {
    let reviewed = user_from_spec(spec);
    if reviewed.name.is_empty() && reviewed.groups.is_empty() {
        return Err(invalid(
            def,
            "spec.user",
            "",
            "at least one of user or group must be specified",
        ));
    }
    let a = spec_attributes(def, reviewed, spec)?;
    if def.is(&kinds::LOCAL_SUBJECT_ACCESS_REVIEWS) {
        if !a.resource_request {
            return Err(invalid(
                def,
                "spec.nonResourceAttributes",
                "",
                "disallowed on this kind of request",
            ));
        }
        if a.namespace != url_namespace {
            return Err(StatusError::bad_request(format!(
                "spec.resourceAttributes.namespace must match namespace: {url_namespace}"
            )));
        }
    }
    Ok(access_status(state, &a))
}

fn self_subject_rules_review(
    state: &State,
    _def: &ResourceDef,
    user: &UserInfo,
    _url_namespace: &str,
    spec: &Value,
) -> Result<Value, StatusError> {
    let ns = s(spec, "namespace");
    if ns.is_empty() {
        return Err(StatusError::bad_request("no namespace on request"));
    }
    let (rules, errors) = state.rbac.rules_for(user, &ns);
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for r in rules {
        if !r.resources.is_empty() {
            let mut rr =
                json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
            if !r.resource_names.is_empty() {
                rr["resourceNames"] = json!(r.resource_names);
            }
            resource_rules.push(rr);
        }
        if !r.non_resource_urls.is_empty() {
            non_resource_rules
                .push(json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}));
        }
    }
    let mut st = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": !errors.is_empty()});
    if !errors.is_empty() {
        st["evaluationError"] = errors.join(", ").into();
    }
    Ok(st)
}

fn self_subject_review(
    _state: &State,
    _def: &ResourceDef,
    user: &UserInfo,
    _url_namespace: &str,
    _spec: &Value,
) -> Result<Value, StatusError> {
    Ok(json!({"userInfo": user_info(user)}))
}

fn token_review(
    state: &State,
    _def: &ResourceDef,
    _user: &UserInfo,
    url_namespace: &str,
    spec: &Value,
) -> Result<Value, StatusError> {
    if !url_namespace.is_empty() {
        return Err(StatusError::bad_request(format!(
            "namespace is not allowed on this type: {url_namespace}"
        )));
    }
    let token = s(spec, "token");
    if token.is_empty() {
        return Err(StatusError::bad_request(
            "token is required for TokenReview in authentication",
        ));
    }
    // The audiences asked for, else the API's; the answer names those it matched.
    let asked: Vec<String> = Some(strings(spec, "audiences"))
        .filter(|a| !a.is_empty())
        .or_else(|| state.issuer.as_ref().map(|i| i.api_audiences.clone()))
        .unwrap_or_default();
    Ok(match state.authenticate_token_for(&token, &asked) {
        Ok(u) => {
            let mut st = json!({"authenticated": true, "user": user_info(&u)});
            if !asked.is_empty() {
                st["audiences"] = json!(asked);
            }
            st
        }
        Err(e) => json!({"user": {}, "error": e.to_string()}),
    })
}

/// Answers a create on a review resource. `body` has passed the registry's shape checks.
pub(crate) fn answer(
    state: &State,
    def: &ResourceDef,
    user: &UserInfo,
    url_namespace: &str,
    mut body: Value,
) -> Result<Value, StatusError> {
    let spec = body.get("spec").cloned().unwrap_or_else(|| json!({}));
    let Some((_, answer)) = REVIEWS.iter().find(|(k, _)| def.is(k)) else {
        return Err(StatusError::method_not_supported(
            &def.group_resource(),
            "create",
        ));
    };
    let status = answer(state, def, user, url_namespace, &spec)?;
    if def.is(&kinds::SELF_SUBJECT_REVIEWS) {
        // A self review reports its own creation time (`selfsubjectreview/rest.go`).
        body["metadata"] =
            json!({"creationTimestamp": api_types::format_rfc3339(state.registry.now())});
    }
    let o = body.as_object_mut().expect("checked to be an object");
    let meta = o
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(m) = meta.as_object_mut() {
        m.entry("creationTimestamp").or_insert(Value::Null);
    }
    o.insert("status".into(), status);
    Ok(body)
}
