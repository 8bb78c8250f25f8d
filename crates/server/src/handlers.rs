//! Resource handlers: one function per verb, from RequestInfo and body to registry call and
//! response, as upstream's `endpoints/handlers` (create.go, get.go, update.go, patch.go,
//! delete.go, watch.go).

use crate::admission;
use crate::body::Body;
use crate::negotiate::{self, Output};
use crate::respond::{self, Resp};
use crate::State;
use api_types::{GroupResource, StatusError};
use bytes::Bytes;
use http::HeaderMap;
use registry::kinds;
use registry::table::{self, IncludeObject};
use registry::{
    DeleteOptions, Encoding, FieldValidation, ListOptions, ListOut, PatchType, ResourceDef,
    WatchOptions, WriteOptions,
};
use request_info::RequestInfo;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Query parameters, first value wins (and the raw query, for the repeated ones).
pub(crate) struct Query(HashMap<String, String>, String);

impl Query {
    pub(crate) fn parse(q: &str) -> Self {
        let mut m = HashMap::new();
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            m.entry(k.into_owned()).or_insert_with(|| v.into_owned());
        }
        Query(m, q.to_string())
    }

    /// Every value of a repeated parameter (exec's `command`), in order.
    pub(crate) fn all(&self, k: &str) -> Vec<String> {
        form_urlencoded::parse(self.1.as_bytes())
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    pub(crate) fn get(&self, k: &str) -> &str {
        self.0.get(k).map(String::as_str).unwrap_or("")
    }

    /// Whether the parameter is given with a value (a pointer field that is not nil).
    fn has(&self, k: &str) -> bool {
        !self.get(k).is_empty()
    }

    fn list_options(&self) -> Result<ListOptions, StatusError> {
        let limit = match self.get("limit") {
            "" => 0,
            l => l
                .parse::<i64>()
                .map_err(|_| StatusError::bad_request(format!("invalid limit: {l}")))?
                .max(0) as usize,
        };
        Ok(ListOptions {
            label_selector: self.get("labelSelector").to_string(),
            field_selector: self.get("fieldSelector").to_string(),
            limit,
            continue_token: self.get("continue").to_string(),
            resource_version: self.get("resourceVersion").to_string(),
            resource_version_match: self.get("resourceVersionMatch").to_string(),
        })
    }

    fn dry_run(&self) -> Result<bool, StatusError> {
        match self.get("dryRun") {
            "" => Ok(false),
            "All" => Ok(true),
            other => Err(StatusError::bad_request(format!(
                "Invalid dry run value: {other}; supported values: All"
            ))),
        }
    }

    pub(crate) fn write_options(&self) -> Result<WriteOptions, StatusError> {
        Ok(WriteOptions {
            dry_run: self.dry_run()?,
            field_validation: FieldValidation::parse(self.get("fieldValidation"))?,
            admission: None,
            create_admission: None,
            field_manager: self.get("fieldManager").to_string(),
            before_admission: None,
            duplicate_fields: Vec::new(),
            version: String::new(),
        })
    }
}

/// Everything a resource handler needs to know about the request.
pub(crate) struct Req<'a> {
    pub info: &'a RequestInfo,
    pub def: &'static ResourceDef,
    pub user: &'a api_types::UserInfo,
    pub query: Query,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
    /// The request's extensions (an HTTP/1.1 upgrade's handle, for exec).
    pub extensions: &'a http::Extensions,
}

impl Req<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The namespace for storage: the path's, or "" for cluster-scoped resources.
    pub(crate) fn ns(&self) -> &str {
        if self.def.namespaced {
            &self.info.namespace
        } else {
            ""
        }
    }

    /// What admission is told about this request as `operation`.
    pub(crate) fn admission(&self, operation: admission::Operation) -> admission::Attributes<'_> {
        admission::Attributes {
            def: self.def,
            subresource: &self.info.subresource,
            namespace: self.ns(),
            name: &self.info.name,
            operation,
            user: self.user,
        }
    }

    /// Write options from the query, with the validating admission of `operation`.
    pub(crate) fn write_options(
        &self,
        state: &State,
        operation: admission::Operation,
    ) -> Result<WriteOptions, StatusError> {
        let mut opts = self.query.write_options()?;
        if opts.field_manager.is_empty() {
            opts.field_manager = manager_from_user_agent(self.header("user-agent").unwrap_or(""));
        }
        opts.admission = admission::validation(state, &self.admission(operation));
        opts.create_admission = admission::on_create(state, &self.admission(operation));
        opts.version = self.info.api_version.clone();
        Ok(opts)
    }

    pub(crate) fn output(&self) -> Result<Output, StatusError> {
        negotiate::output(self.header("accept"), true)
    }

    /// A body in the request's group-version, in the stored version's shape.
    fn stored_shape(&self, body: &mut Value) {
        self.def
            .strategy
            .convert_to_stored(&self.info.api_version, body);
    }

    /// The object in the request's group-version.
    fn versioned(&self, mut v: Value) -> Value {
        self.def
            .strategy
            .convert_to_version(&self.info.api_version, &mut v);
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "apiVersion".into(),
                self.def.api_version_for(&self.info.api_version).into(),
            );
            o.insert("kind".into(), self.def.kind.into());
        }
        v
    }
}

/// The manager of a write without `fieldManager`: the user agent's product
/// (`prefixFromUserAgent` in upstream's `handlers/rest.go`).
fn manager_from_user_agent(ua: &str) -> String {
    let mut out = String::new();
    for c in ua.split('/').next().unwrap_or("").chars() {
        if c.is_control() {
            continue;
        }
        if out.len() + c.len_utf8() > 128 {
            break;
        }
        out.push(c);
    }
    out
}

/// The write options' own validation (`ValidateCreateOptions`, `ValidateUpdateOptions`,
/// `ValidatePatchOptions`): managers short and printable; for patches, `force` only with apply
/// and a manager required for apply. Answered as upstream: 422 on `<options>.meta.k8s.io`.
fn validate_write_options(
    q: &Query,
    options: &str,
    patch: Option<(PatchType, bool)>,
) -> Result<(), StatusError> {
    let manager = q.get("fieldManager");
    let mut causes = Vec::new();
    let mut cause = |field: &str, reason: &str, message: String| {
        causes.push(api_types::Cause {
            reason: reason.into(),
            message,
            field: field.into(),
        })
    };
    match patch {
        Some((PatchType::Apply { .. }, _)) if manager.is_empty() => cause(
            "fieldManager",
            "FieldValueRequired",
            "Required value: is required for apply patch".into(),
        ),
        Some((PatchType::Apply { .. }, _)) | None => {}
        Some((_, force_given)) if force_given => cause(
            "force",
            "FieldValueForbidden",
            "Forbidden: may not be specified for non-apply patch".into(),
        ),
        Some(_) => {}
    }
    if manager.len() > 128 {
        cause(
            "fieldManager",
            "FieldValueTooLong",
            "Too long: may not be more than 128 bytes".into(),
        );
    } else if manager.chars().any(char::is_control) {
        cause(
            "fieldManager",
            "FieldValueInvalid",
            format!("Invalid value: {manager:?}: must be composed of printable characters"),
        );
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(StatusError::invalid(
        "meta.k8s.io",
        &format!("{options}.meta.k8s.io"),
        options,
        "",
        causes,
    ))
}

fn include_object(q: &Query) -> Result<IncludeObject, StatusError> {
    IncludeObject::parse(q.get("includeObject")).ok_or_else(|| {
        StatusError::bad_request(format!("invalid includeObject: {}", q.get("includeObject")))
    })
}

/// A subresource the server answers itself.
type SubresourceHandler = fn(&State, &Req<'_>) -> Result<Resp, StatusError>;

/// The subresources the server answers itself, one line each (the registry serves `status`
/// and `finalize` through the kinds' strategies). Each is declared on its kind's
/// `ResourceDef`, which discovery and routing read.
static SERVED_BY_SERVER: &[(&ResourceDef, &str, SubresourceHandler)] = &[
    (&kinds::SERVICE_ACCOUNTS, "token", token_request),
    (&kinds::PODS, "binding", crate::binding::create),
    (&kinds::PODS, "log", crate::kubelet::log),
    (&kinds::PODS, "exec", crate::exec::exec),
    (&kinds::PODS, "attach", crate::exec::exec),
];

fn served_by_server(def: &ResourceDef, subresource: &str) -> Option<SubresourceHandler> {
    SERVED_BY_SERVER
        .iter()
        .find(|(d, name, _)| def.is(d) && *name == subresource)
        .map(|(_, _, h)| *h)
}

/// `serviceaccounts/token`: TokenRequest.
fn token_request(state: &State, r: &Req<'_>) -> Result<Resp, StatusError> {
    let verb = r.info.verb.as_str();
    if verb != "create" {
        return Err(StatusError::method_not_supported(
            &GroupResource::new("authentication.k8s.io", "tokenrequests"),
            verb,
        ));
    }
    let (body, _) = negotiate::decode_body("TokenRequest", r.header("content-type"), &r.body)?;
    // NodeRestriction's part of a TokenRequest: a node's tokens are bound to its pods.
    if state.admission.is_on("NodeRestriction") {
        crate::admission::node_restriction::token_request(
            state,
            r.user,
            &r.info.namespace,
            &r.info.name,
            &body,
        )?;
    }
    let (answered, warnings) =
        crate::tokens::request(state, &r.info.namespace, &r.info.name, body)?;
    Ok(respond::object(
        201,
        &answered,
        r.output()?.without_table(),
        &warnings,
    ))
}

/// `path.IsValidPathSegmentName` (`apimachinery/pkg/api/validation/path`): a name taken from
/// the URL may not be `.` or `..` nor contain `/` or `%`, checked before anything looks it up.
fn check_path_name(name: &str) -> Result<(), StatusError> {
    let why = match name {
        "." => "may not be '.'",
        ".." => "may not be '..'",
        n if n.contains('/') => "may not contain '/'",
        n if n.contains('%') => "may not contain '%'",
        _ => return Ok(()),
    };
    Err(StatusError::bad_request(format!(
        "Name parameter invalid: {name:?}: {why}"
    )))
}

pub(crate) async fn resource(state: &State, r: Req<'_>) -> Result<Resp, StatusError> {
    let def = r.def;
    let verb = r.info.verb.as_str();
    if verb.is_empty() {
        // A method request-info has no verb for (not GET, POST, PUT, PATCH, DELETE, HEAD).
        return Err(StatusError::method_not_allowed());
    }
    check_path_name(&r.info.name)?;
    // Paths that name a namespace for a cluster-scoped kind, or an object of a namespaced
    // kind without one, have no route upstream.
    let ns_ok = if def.is(&kinds::NAMESPACES) || !def.namespaced {
        def.is(&kinds::NAMESPACES) || r.info.namespace.is_empty()
    } else {
        !r.info.namespace.is_empty() || matches!(verb, "list" | "watch")
    };
    if !ns_ok {
        return Err(StatusError::path_not_found());
    }
    if !r.info.subresource.is_empty() && def.subresource(&r.info.subresource).is_none() {
        return Err(StatusError::path_not_found());
    }
    if !def.supports(verb) {
        return Err(StatusError::method_not_supported(
            &def.group_resource(),
            verb,
        ));
    }
    let sub = (!r.info.subresource.is_empty()).then_some(r.info.subresource.as_str());
    let reg = &state.registry;
    if let Some(serve) = served_by_server(def, &r.info.subresource) {
        return serve(state, &r);
    }
    // A subresource answers the verbs it declares (`finalize`: update only).
    if def
        .subresource(&r.info.subresource)
        .is_some_and(|sub| !sub.verbs.contains(&verb))
    {
        return Err(StatusError::method_not_supported(
            &def.group_resource(),
            verb,
        ));
    }
    if def.is_review() {
        // Answered, not stored: decode and check like any body, then evaluate.
        let (mut body, duplicate_fields) =
            negotiate::decode_body(def.kind, r.header("content-type"), &r.body)?;
        let opts = WriteOptions {
            duplicate_fields,
            ..r.query.write_options()?
        };
        let warnings = reg.check_body(def, &mut body, &opts)?;
        let answered = crate::reviews::answer(state, def, r.user, &r.info.namespace, body)?;
        return Ok(respond::object(
            201,
            &r.versioned(answered),
            r.output()?.without_table(),
            &warnings,
        ));
    }
    match verb {
        "get" => {
            // GetOptions.resourceVersion: "" the newest, "0" any, N not older than N.
            let rv = r.query.get("resourceVersion");
            // "0" and "not older than N": the watch cache's copy once it has seen N, as
            // upstream's cacher answers them; "": the store's.
            let obj = match registry::parse_resource_version(rv)? {
                Some(n) => {
                    reg.not_older_than(def, "get", n)?;
                    reg.get_not_older_than(def, r.ns(), &r.info.name, n)?
                }
                None if rv == "0" => reg.get_cached(def, r.ns(), &r.info.name)?,
                None => reg.get(def, r.ns(), &r.info.name)?,
            };
            let obj = r.versioned(obj);
            single(&r, state, obj, 200, &[])
        }
        "list" => list(state, &r),
        "watch" => watch(state, &r),
        "create" => {
            if def.namespaced && r.info.namespace.is_empty() {
                return Err(StatusError::method_not_supported(
                    &def.group_resource(),
                    "create",
                ));
            }
            validate_write_options(&r.query, "CreateOptions", None)?;
            let (mut body, duplicate_fields) =
                negotiate::decode_body(def.kind, r.header("content-type"), &r.body)?;
            r.stored_shape(&mut body);
            let mut opts = r.write_options(state, admission::Operation::Create)?;
            opts.duplicate_fields = duplicate_fields;
            // Mutating admission, before the registry (kube-apiserver's `admit` step); what it
            // adds belongs to no manager.
            let attrs = r.admission(admission::Operation::Create);
            if admission::mutates(state, &attrs) {
                opts.before_admission = Some(body.clone());
                body = admission::admit(state, &attrs, body).await?;
            }
            let w = reg.create(def, r.ns(), body, &opts)?;
            let obj = r.versioned(w.object);
            single(&r, state, obj, 201, &w.warnings)
        }
        "update" => {
            validate_write_options(&r.query, "UpdateOptions", None)?;
            let (mut body, duplicate_fields) =
                negotiate::decode_body(def.kind, r.header("content-type"), &r.body)?;
            r.stored_shape(&mut body);
            let opts = WriteOptions {
                duplicate_fields,
                ..r.write_options(state, admission::Operation::Update)?
            };
            let w = reg.update(def, r.ns(), &r.info.name, body, sub, &opts)?;
            let obj = r.versioned(w.object);
            single(&r, state, obj, 200, &w.warnings)
        }
        "patch" => {
            let force = match r.query.get("force") {
                "" => None,
                "true" => Some(true),
                "false" => Some(false),
                other => return Err(StatusError::bad_request(format!("invalid force: {other}"))),
            };
            let pt = match negotiate::essence(r.header("content-type")) {
                "application/json-patch+json" => PatchType::Json,
                "application/merge-patch+json" => PatchType::Merge,
                "application/strategic-merge-patch+json" => PatchType::StrategicMerge,
                "application/apply-patch+yaml" => PatchType::Apply {
                    force: force.unwrap_or(false),
                },
                _ => {
                    return Err(StatusError::unsupported_media_type(
                        "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml",
                    ))
                }
            };
            validate_write_options(&r.query, "PatchOptions", Some((pt, force.is_some())))?;
            let mut opts = r.write_options(state, admission::Operation::Update)?;
            // The apply body is YAML (JSON being YAML too); the registry takes JSON.
            let body = match pt {
                PatchType::Apply { .. } => {
                    let (mut v, _) = negotiate::decode_object(Some(negotiate::YAML), &r.body)?;
                    // Subjects' list is atomic: the configuration converted owns what it did.
                    r.stored_shape(&mut v);
                    // An apply that creates passes the same admission as a create.
                    let attrs = r.admission(admission::Operation::Create);
                    let creates =
                        || matches!(reg.get(def, r.ns(), &r.info.name), Err(e) if e.code == 404);
                    if admission::mutates(state, &attrs) && creates() {
                        opts.admission = admission::validation(state, &attrs);
                        opts.before_admission = Some(v.clone());
                        v = admission::admit(state, &attrs, v).await?;
                    }
                    Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
                }
                _ => r.body.clone(),
            };
            let w = reg.patch(def, r.ns(), &r.info.name, pt, &body, sub, &opts)?;
            let obj = r.versioned(w.object);
            single(
                &r,
                state,
                obj,
                if w.created { 201 } else { 200 },
                &w.warnings,
            )
        }
        "delete" => {
            let opts = delete_options(&r)?;
            admission::delete(state, &r.admission(admission::Operation::Delete))?;
            let d = reg.delete(def, r.ns(), &r.info.name, &opts)?;
            if d.finished && !def.strategy.return_deleted_object() {
                let uid = d
                    .object
                    .pointer("/metadata/uid")
                    .cloned()
                    .unwrap_or_default();
                let mut details = json!({"name": r.info.name, "kind": def.resource, "uid": uid});
                if !def.group.is_empty() {
                    details["group"] = def.group.into();
                }
                let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details});
                return Ok(respond::object(200, &body, Output::Json, &[]));
            }
            let obj = r.versioned(d.object);
            single(&r, state, obj, 200, &[])
        }
        "deletecollection" => {
            let opts = delete_options(&r)?;
            admission::delete(state, &r.admission(admission::Operation::Delete))?;
            let ns = def.namespaced.then_some(r.info.namespace.as_str());
            let items =
                state
                    .registry
                    .delete_collection(def, ns, &r.query.list_options()?, &opts)?;
            let list = json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version_for(&r.info.api_version),
                              "metadata": {}, "items": strip_type_meta(items)});
            Ok(respond::object(
                200,
                &list,
                r.output()
                    .map(|o| if o == Output::Table { Output::Json } else { o })?,
                &[],
            ))
        }
        _ => Err(StatusError::method_not_supported(
            &def.group_resource(),
            verb,
        )),
    }
}

/// One object, or a one-row Table.
fn single(
    r: &Req<'_>,
    state: &State,
    obj: Value,
    code: u16,
    warnings: &[String],
) -> Result<Resp, StatusError> {
    let out = r.output()?;
    if out == Output::Table {
        let rv = obj
            .pointer("/metadata/resourceVersion")
            .cloned()
            .unwrap_or_default();
        let row = table::row(r.def, &obj, include_object(&r.query)?, state.registry.now());
        let t = table::table(r.def, vec![row], json!({"resourceVersion": rv}), true);
        return Ok(respond::object(code, &t, out, warnings));
    }
    Ok(respond::object(code, &obj, out, warnings))
}

fn strip_type_meta(items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .map(|mut i| {
            if let Some(o) = i.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            i
        })
        .collect()
}

/// `sendInitialEvents` as `ValidateListOptions` judges it with the WatchList feature gate off
/// (its default in 1.33; staging/src/k8s.io/apimachinery/pkg/apis/meta/internalversion/
/// validation/validation.go): set at all (true or false), it is forbidden for a list, and for
/// a watch, with `resourceVersionMatch` other than NotOlderThan forbidden too. client-go falls
/// back to LIST and WATCH on this 422.
fn send_initial_events(query: &Query, watch: bool) -> Result<(), StatusError> {
    if !query.has("sendInitialEvents") {
        return Ok(());
    }
    let forbidden = |field: &str, message: &str| api_types::Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {message}"),
        field: field.into(),
    };
    let mut causes = Vec::new();
    if !watch {
        causes.push(forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    } else {
        if query.get("resourceVersionMatch") != "NotOlderThan" {
            causes.push(forbidden(
                "resourceVersionMatch",
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        causes.push(forbidden(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled",
        ));
    }
    Err(StatusError::invalid(
        "meta.k8s.io",
        "ListOptions.meta.k8s.io",
        "ListOptions",
        "",
        causes,
    ))
}

fn list(state: &State, r: &Req<'_>) -> Result<Resp, StatusError> {
    let ns =
        (r.def.namespaced && !r.info.namespace.is_empty()).then_some(r.info.namespace.as_str());
    let out = r.output()?;
    send_initial_events(&r.query, false)?;
    let opts = r.query.list_options()?;
    let envelope = |meta: Value| {
        json!({
            "kind": format!("{}List", r.def.kind),
            "apiVersion": r.def.api_version_for(&r.info.api_version),
            "metadata": meta,
            "items": [],
        })
    };
    // The stored version as JSON, or as protobuf where the kind has a protobuf form: the
    // items' bytes as the watch cache keeps them, joined.
    let stored_version = r.def.versions.first() == Some(&r.info.api_version.as_str());
    let encoding = match out {
        Output::Json => Some(Encoding::Json),
        Output::Protobuf
            if wire::schema::get()
                .kind(&r.def.api_version(), &format!("{}List", r.def.kind))
                .is_some() =>
        {
            Some(Encoding::Protobuf)
        }
        _ => None,
    };
    if let (true, Some(encoding)) = (stored_version, encoding) {
        let page = state.registry.list_encoded(r.def, ns, &opts, encoding)?;
        let envelope = envelope(list_meta(&page));
        return Ok(match encoding {
            Encoding::Json => respond::raw(
                200,
                "application/json",
                wire::json::splice_items(&envelope, &page.items),
            ),
            Encoding::Protobuf => respond::raw(
                200,
                crate::negotiate::PROTOBUF,
                wire::protobuf::splice_items(&envelope, &page.items)
                    .map_err(|e| StatusError::internal(format!("encoding a list: {e}")))?,
            ),
        });
    }
    let page = state.registry.list(r.def, ns, &opts)?;
    let meta = list_meta(&page);
    if out == Output::Table {
        let include = include_object(&r.query)?;
        let now = state.registry.now();
        let rows = page
            .items
            .into_iter()
            .map(|o| table::row(r.def, &r.versioned(o), include, now))
            .collect();
        return Ok(respond::object(
            200,
            &table::table(r.def, rows, meta, true),
            out,
            &[],
        ));
    }
    let mut list = envelope(meta);
    let mut items = strip_type_meta(page.items);
    for i in &mut items {
        r.def.strategy.convert_to_version(&r.info.api_version, i);
    }
    list["items"] = items.into();
    Ok(respond::object(200, &list, out, &[]))
}

/// A list's `metadata` (`ListMeta`).
fn list_meta<T>(page: &ListOut<T>) -> Value {
    let mut meta = json!({"resourceVersion": page.resource_version});
    if !page.continue_token.is_empty() {
        meta["continue"] = page.continue_token.clone().into();
    }
    if let Some(n) = page.remaining_item_count {
        meta["remainingItemCount"] = n.into();
    }
    meta
}

fn delete_options(r: &Req<'_>) -> Result<DeleteOptions, StatusError> {
    let mut opts = DeleteOptions {
        dry_run: r.query.dry_run()?,
        ..Default::default()
    };
    match r.query.get("gracePeriodSeconds") {
        "" => {}
        g => {
            opts.grace_period_seconds = Some(g.parse().map_err(|_| {
                StatusError::bad_request(format!(
                    "invalid value {g:?} for gracePeriodSeconds: must be an integer"
                ))
            })?)
        }
    }
    if !r.body.is_empty() {
        let (body, _) = negotiate::decode_object(r.header("content-type"), &r.body)?;
        if !body.is_object() {
            return Err(StatusError::bad_request("DeleteOptions must be an object"));
        }
        if let Some(Value::Array(d)) = body.get("dryRun") {
            opts.dry_run |= d.iter().any(|v| v == "All");
        }
        let pre = |k: &str| {
            body.pointer(&format!("/preconditions/{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match body.get("gracePeriodSeconds") {
            None | Some(Value::Null) => {}
            Some(g) => {
                opts.grace_period_seconds = Some(g.as_i64().ok_or_else(|| {
                    StatusError::bad_request("gracePeriodSeconds must be an integer")
                })?)
            }
        }
        opts.precondition_uid = pre("uid");
        opts.precondition_resource_version = pre("resourceVersion");
    }
    Ok(opts)
}

/// A watch: chunked WatchEvents until the deadline or the client leaves. JSON, one per line;
/// or, where the client asks for protobuf first and the kind has a protobuf form, protobuf
/// events in length-delimited frames (apiserver's `serveWatchHandler`: the stream serializer
/// of the negotiated media type, `;stream=watch` on its Content-Type).
fn watch(state: &State, r: &Req<'_>) -> Result<Resp, StatusError> {
    let ns =
        (r.def.namespaced && !r.info.namespace.is_empty()).then_some(r.info.namespace.as_str());
    let version = r.def.api_version_for(&r.info.api_version);
    let out = match r.output()? {
        Output::Protobuf if !wire::protobuf::has_form(&version, r.def.kind) => Output::Json,
        // YAML has no stream form upstream; a JSON stream, which kubectl reads either way.
        Output::Yaml => Output::Json,
        out => out,
    };
    send_initial_events(&r.query, true)?;
    let timeout = match r.query.get("timeoutSeconds") {
        "" => Duration::from_secs(1800 + state.registry.random_below(1800)),
        t => Duration::from_secs(
            t.parse::<u64>()
                .map_err(|_| StatusError::bad_request(format!("invalid timeoutSeconds: {t}")))?,
        ),
    };
    let mut events = state.registry.watch(
        r.def,
        ns,
        WatchOptions {
            list: r.query.list_options()?,
            allow_bookmarks: r.query.get("allowWatchBookmarks") == "true",
            timeout,
        },
    )?;
    let include = include_object(&r.query)?;
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let def = r.def;
    let request_version = r.info.api_version.clone();
    let registry = state.registry.clone();
    tokio::spawn(async move {
        let mut headers = true;
        loop {
            // The reader gone (the client left), the watch ends now, not at the next event.
            let ev = tokio::select! {
                ev = events.recv() => ev,
                () = tx.closed() => None,
            };
            let Some(ev) = ev else { break };
            let mut obj = ev.object;
            if matches!(ev.type_, "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK") {
                // In the request's version (a bookmark too: upstream encodes it as the kind).
                def.strategy.convert_to_version(&request_version, &mut obj);
                if let Some(o) = obj.as_object_mut() {
                    o.insert("apiVersion".into(), version.clone().into());
                }
            }
            if out == Output::Table && matches!(ev.type_, "ADDED" | "MODIFIED" | "DELETED") {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or_default();
                let row = table::row(def, &obj, include, registry.now());
                obj = table::table(def, vec![row], json!({"resourceVersion": rv}), headers);
                headers = false;
            }
            let chunk = if out == Output::Protobuf {
                // An object that cannot be encoded ends the stream, as upstream's encode
                // error does (the client starts a new watch).
                match wire::protobuf::encode(&obj)
                    .ok()
                    .and_then(|o| wire::protobuf::watch_event_frame(ev.type_, &o))
                {
                    Some(frame) => frame,
                    None => return,
                }
            } else {
                wire::json::watch_event(ev.type_, &obj)
            };
            if tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    let mut resp = respond::raw(
        200,
        match out {
            Output::Table => "application/json;as=Table;v=v1;g=meta.k8s.io",
            Output::Protobuf => "application/vnd.kubernetes.protobuf;stream=watch",
            _ => "application/json",
        },
        vec![],
    );
    *resp.body_mut() = Body::Stream(rx);
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::manager_from_user_agent;

    #[test]
    fn managers_from_user_agents() {
        for (ua, want) in [
            (
                "kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0",
                "kubectl".to_string(),
            ),
            (
                "OpenAPI-Generator/33.1.0/python",
                "OpenAPI-Generator".to_string(),
            ),
            ("", String::new()),
            ("a\u{7}b/1", "ab".to_string()),
            (&"é".repeat(100), "é".repeat(64)),
        ] {
            assert_eq!(manager_from_user_agent(ua), want, "{ua:?}");
        }
    }
}
