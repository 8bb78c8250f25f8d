//! The one error type that crosses the HTTP boundary, shaped like apimachinery's
//! `k8s.io/apimachinery/pkg/api/errors` so messages match kube-apiserver byte for byte.

use serde::Serialize;
use serde_json::{json, Value};
use std::fmt;

/// A resource qualified by its API group (`configmaps`, `roles.rbac.authorization.k8s.io`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupResource {
    /// The API group ("" for core).
    pub group: String,
    /// The resource (plural).
    pub resource: String,
}

impl GroupResource {
    /// The group resource `resource` of `group`.
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.into(),
            resource: resource.into(),
        }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// `metav1.StatusReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusReason {
    /// 400.
    BadRequest,
    /// 401.
    Unauthorized,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 405.
    MethodNotAllowed,
    /// 406.
    NotAcceptable,
    /// 409, the object exists.
    AlreadyExists,
    /// 409, a conflicting write.
    Conflict,
    /// 410, gone.
    Gone,
    /// 410, a resourceVersion too old (compacted).
    Expired,
    /// 413.
    RequestEntityTooLarge,
    /// 415.
    UnsupportedMediaType,
    /// 422, with field causes.
    Invalid,
    /// 504.
    Timeout,
    /// 429.
    TooManyRequests,
    /// 500.
    InternalError,
    /// 500, a transient fault of the storage: retry (`StatusReasonServerTimeout`).
    ServerTimeout,
    /// 503.
    ServiceUnavailable,
}

impl StatusReason {
    const ALL: [StatusReason; 18] = [
        StatusReason::BadRequest,
        StatusReason::Unauthorized,
        StatusReason::Forbidden,
        StatusReason::NotFound,
        StatusReason::MethodNotAllowed,
        StatusReason::NotAcceptable,
        StatusReason::AlreadyExists,
        StatusReason::Conflict,
        StatusReason::Gone,
        StatusReason::Expired,
        StatusReason::RequestEntityTooLarge,
        StatusReason::UnsupportedMediaType,
        StatusReason::Invalid,
        StatusReason::Timeout,
        StatusReason::TooManyRequests,
        StatusReason::InternalError,
        StatusReason::ServerTimeout,
        StatusReason::ServiceUnavailable,
    ];

    /// The reason a Status object names, if it is one of these.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The reason as the Status object spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusReason::BadRequest => "BadRequest",
            StatusReason::Unauthorized => "Unauthorized",
            StatusReason::Forbidden => "Forbidden",
            StatusReason::NotFound => "NotFound",
            StatusReason::MethodNotAllowed => "MethodNotAllowed",
            StatusReason::NotAcceptable => "NotAcceptable",
            StatusReason::AlreadyExists => "AlreadyExists",
            StatusReason::Conflict => "Conflict",
            StatusReason::Gone => "Gone",
            StatusReason::Expired => "Expired",
            StatusReason::RequestEntityTooLarge => "RequestEntityTooLarge",
            StatusReason::UnsupportedMediaType => "UnsupportedMediaType",
            StatusReason::Invalid => "Invalid",
            StatusReason::Timeout => "Timeout",
            StatusReason::TooManyRequests => "TooManyRequests",
            StatusReason::InternalError => "InternalError",
            StatusReason::ServerTimeout => "ServerTimeout",
            StatusReason::ServiceUnavailable => "ServiceUnavailable",
        }
    }
}

/// `metav1.StatusCause`: one field error inside an Invalid status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, ...
    #[serde(skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// What is wrong, e.g. `Required value`.
    pub message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    /// The field's path, e.g. `metadata.name` ("" when none).
    pub field: String,
}

/// `metav1.StatusDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDetails {
    /// The object's name.
    pub name: String,
    /// The API group.
    pub group: String,
    /// The resource (plural) for most errors; the Kind for Invalid, as upstream.
    pub kind: String,
    /// The object's uid, when known.
    pub uid: String,
    /// One cause per field error.
    pub causes: Vec<Cause>,
    /// When to retry (429, 504).
    pub retry_after_seconds: Option<u32>,
}

/// A Kubernetes API error: rendered as a `Status` object with the HTTP code it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    /// The HTTP status code.
    pub code: u16,
    /// The machine-readable reason.
    pub reason: StatusReason,
    /// The human-readable message, upstream's words.
    pub message: String,
    /// Boxed: errors travel through every `Result` of the request path and should stay small.
    pub details: Option<Box<StatusDetails>>,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

fn details(gr: &GroupResource, name: &str) -> Option<Box<StatusDetails>> {
    Some(Box::new(StatusDetails {
        name: name.into(),
        group: gr.group.clone(),
        kind: gr.resource.clone(),
        ..Default::default()
    }))
}

impl StatusError {
    fn new(code: u16, reason: StatusReason, message: impl Into<String>) -> Self {
        StatusError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    /// 404 `configmaps "x" not found`.
    pub fn not_found(gr: &GroupResource, name: &str) -> Self {
        StatusError {
            details: details(gr, name),
            ..Self::new(
                404,
                StatusReason::NotFound,
                format!("{gr} \"{name}\" not found"),
            )
        }
    }

    /// 404 for a path that names nothing the server serves.
    pub fn path_not_found() -> Self {
        StatusError {
            details: Some(Box::default()),
            ..Self::new(
                404,
                StatusReason::NotFound,
                "the server could not find the requested resource",
            )
        }
    }

    /// 409 `namespaces "a" already exists`.
    pub fn already_exists(gr: &GroupResource, name: &str) -> Self {
        StatusError {
            details: details(gr, name),
            ..Self::new(
                409,
                StatusReason::AlreadyExists,
                format!("{gr} \"{name}\" already exists"),
            )
        }
    }

    /// 409 `Operation cannot be fulfilled on ...`.
    pub fn conflict(gr: &GroupResource, name: &str, why: &str) -> Self {
        StatusError {
            details: details(gr, name),
            ..Self::new(
                409,
                StatusReason::Conflict,
                format!("Operation cannot be fulfilled on {gr} \"{name}\": {why}"),
            )
        }
    }

    /// 409 for a server-side apply that would take fields from other managers
    /// (`errors.NewApplyConflict`): one `FieldManagerConflict` cause per field.
    pub fn apply_conflict(message: impl Into<String>, causes: Vec<Cause>) -> Self {
        StatusError {
            details: Some(Box::new(StatusDetails {
                causes,
                ..Default::default()
            })),
            ..Self::new(409, StatusReason::Conflict, message)
        }
    }

    /// The optimistic-concurrency conflict upstream's registry returns.
    pub fn conflict_modified(gr: &GroupResource, name: &str) -> Self {
        Self::conflict(
            gr,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 403, with upstream's message shapes (`forbidden.go` / `errors.NewForbidden`).
    pub fn forbidden(gr: &GroupResource, name: &str, why: &str) -> Self {
        let message = if gr.resource.is_empty() && name.is_empty() {
            format!("forbidden: {why}")
        } else if name.is_empty() {
            format!("{gr} is forbidden: {why}")
        } else {
            format!("{gr} \"{name}\" is forbidden: {why}")
        };
        StatusError {
            details: details(gr, name),
            ..Self::new(403, StatusReason::Forbidden, message)
        }
    }

    /// 422 `Kind "name" is invalid: ...` with one cause per field error.
    /// `qualified_kind` is `Kind` or `Kind.group`.
    pub fn invalid(
        group: &str,
        qualified_kind: &str,
        kind: &str,
        name: &str,
        causes: Vec<Cause>,
    ) -> Self {
        // errors.NewInvalid: the aggregate prints one error bare, several as "[a, b]".
        let texts: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = match texts.len() {
            1 => texts[0].clone(),
            _ => format!("[{}]", texts.join(", ")),
        };
        StatusError {
            details: Some(Box::new(StatusDetails {
                name: name.into(),
                group: group.into(),
                kind: kind.into(),
                causes,
                ..Default::default()
            })),
            ..Self::new(
                422,
                StatusReason::Invalid,
                format!("{qualified_kind} \"{name}\" is invalid: {joined}"),
            )
        }
    }

    /// 400 with a free-form message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, StatusReason::BadRequest, message)
    }

    /// 401, never revealing why.
    pub fn unauthorized() -> Self {
        Self::new(401, StatusReason::Unauthorized, "Unauthorized")
    }

    /// 405 `create is not supported on resources of kind "x"`.
    pub fn method_not_supported(gr: &GroupResource, action: &str) -> Self {
        StatusError {
            details: details(gr, ""),
            ..Self::new(
                405,
                StatusReason::MethodNotAllowed,
                format!("{action} is not supported on resources of kind \"{gr}\""),
            )
        }
    }

    /// 405 for an HTTP method the API has no route for (go-restful's answer, through
    /// `NewGenericServerResponse`).
    pub fn method_not_allowed() -> Self {
        StatusError {
            details: Some(Box::default()),
            ..Self::new(
                405,
                StatusReason::MethodNotAllowed,
                "the server does not allow this method on the requested resource",
            )
        }
    }

    /// 406 when no offered media type can be produced.
    pub fn not_acceptable(accepted: &str) -> Self {
        Self::new(
            406,
            StatusReason::NotAcceptable,
            format!("only the following media types are accepted: {accepted}"),
        )
    }

    /// 410 Expired, as the watch cache says for a compacted revision.
    pub fn expired(message: impl Into<String>) -> Self {
        Self::new(410, StatusReason::Expired, message)
    }

    /// 413 `Request entity too large: limit is 3145728`.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            StatusReason::RequestEntityTooLarge,
            format!("Request entity too large: limit is {limit}"),
        )
    }

    /// 429 (`NewTooManyRequests`): over a limit; retry after `retry_after` seconds (sent as
    /// `Retry-After` too).
    pub fn too_many_requests(message: impl Into<String>, retry_after: u32) -> Self {
        StatusError {
            details: Some(Box::new(StatusDetails {
                retry_after_seconds: Some(retry_after),
                ..Default::default()
            })),
            ..Self::new(429, StatusReason::TooManyRequests, message)
        }
    }

    /// 504 `Timeout: Too large resource version: N, current: M` (`NewTooLargeResourceVersionError`):
    /// a read asked for a revision the store has not reached; retry in a second.
    pub fn too_large_resource_version(requested: i64, current: i64) -> Self {
        StatusError {
            details: Some(Box::new(StatusDetails {
                causes: vec![Cause {
                    reason: "ResourceVersionTooLarge".into(),
                    message: "Too large resource version".into(),
                    field: String::new(),
                }],
                retry_after_seconds: Some(1),
                ..Default::default()
            })),
            ..Self::new(
                504,
                StatusReason::Timeout,
                format!("Timeout: Too large resource version: {requested}, current: {current}"),
            )
        }
    }

    /// 504 when a request did not complete in time (`NewTimeoutError` as the timeout filter
    /// sends it).
    pub fn timeout() -> Self {
        Self::new(
            504,
            StatusReason::Timeout,
            "Timeout: request did not complete within the allotted timeout",
        )
    }

    /// 415 for a body in a media type the endpoint does not take.
    pub fn unsupported_media_type(accepted: &str) -> Self {
        Self::new(
            415,
            StatusReason::UnsupportedMediaType,
            format!(
                "the body of the request was in an unknown format - accepted media types include: {accepted}"
            ),
        )
    }

    /// 500: only for faults of the server itself, never of the client.
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::new(
            500,
            StatusReason::InternalError,
            format!("Internal error occurred: {message}"),
        )
    }

    /// 500 `ServerTimeout` (`NewServerTimeout`, as `storage/errors/storage.go` answers an
    /// unreachable storage): `operation` on `resource` did not happen; retry in 2 s (sent as
    /// `Retry-After` too). `cause` says why, after upstream's sentence.
    pub fn server_timeout(resource: &GroupResource, operation: &str, cause: &str) -> Self {
        StatusError {
            details: Some(Box::new(StatusDetails {
                name: operation.to_string(),
                group: resource.group.clone(),
                kind: resource.resource.clone(),
                retry_after_seconds: Some(2),
                ..Default::default()
            })),
            ..Self::new(
                500,
                StatusReason::ServerTimeout,
                format!(
                    "The {operation} operation against {resource} could not be completed at this \
                     time, please try again. ({cause})"
                ),
            )
        }
    }

    /// 503 while the server is not ready.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new(503, StatusReason::ServiceUnavailable, message)
    }

    /// The same error with another message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The error a `Status` object describes (what a client reads back from a failed
    /// response; the inverse of [`StatusError::to_status`]). A reason this enum lacks is read
    /// as the one its code implies.
    pub fn from_status(code: u16, status: &Value) -> Self {
        let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let reason = status
            .get("reason")
            .and_then(Value::as_str)
            .and_then(StatusReason::parse)
            .unwrap_or(match code {
                400 => StatusReason::BadRequest,
                401 => StatusReason::Unauthorized,
                403 => StatusReason::Forbidden,
                404 => StatusReason::NotFound,
                405 => StatusReason::MethodNotAllowed,
                409 => StatusReason::Conflict,
                410 => StatusReason::Gone,
                413 => StatusReason::RequestEntityTooLarge,
                415 => StatusReason::UnsupportedMediaType,
                422 => StatusReason::Invalid,
                429 => StatusReason::TooManyRequests,
                503 => StatusReason::ServiceUnavailable,
                504 => StatusReason::Timeout,
                _ => StatusReason::InternalError,
            });
        let details = status.get("details").map(|d| {
            Box::new(StatusDetails {
                name: text(d, "name"),
                group: text(d, "group"),
                kind: text(d, "kind"),
                uid: text(d, "uid"),
                causes: d
                    .get("causes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|c| Cause {
                        reason: text(c, "reason"),
                        message: text(c, "message"),
                        field: text(c, "field"),
                    })
                    .collect(),
                retry_after_seconds: d
                    .get("retryAfterSeconds")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok()),
            })
        });
        StatusError {
            code,
            reason,
            message: text(status, "message"),
            details,
        }
    }

    /// The `Status` object as JSON.
    pub fn to_status(&self) -> Value {
        let mut v = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.code,
        });
        if let Some(d) = &self.details {
            let mut dv = serde_json::Map::new();
            if !d.name.is_empty() {
                dv.insert("name".into(), d.name.clone().into());
            }
            if !d.group.is_empty() {
                dv.insert("group".into(), d.group.clone().into());
            }
            if !d.kind.is_empty() {
                dv.insert("kind".into(), d.kind.clone().into());
            }
            if !d.uid.is_empty() {
                dv.insert("uid".into(), d.uid.clone().into());
            }
            if !d.causes.is_empty() {
                dv.insert(
                    "causes".into(),
                    serde_json::to_value(&d.causes).unwrap_or_default(),
                );
            }
            if let Some(r) = d.retry_after_seconds {
                dv.insert("retryAfterSeconds".into(), r.into());
            }
            v["details"] = Value::Object(dv);
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_back_as_the_error_it_renders() {
        let errors = [
            StatusError::not_found(&GroupResource::new("", "configmaps"), "x"),
            StatusError::invalid(
                "",
                "ConfigMap",
                "ConfigMap",
                "x",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: "metadata.name".into(),
                }],
            ),
            StatusError::timeout(),
            StatusError::unauthorized(),
        ];
        for e in errors {
            assert_eq!(StatusError::from_status(e.code, &e.to_status()), e);
        }
        let odd = StatusError::from_status(418, &json!({"reason": "Teapot", "message": "m"}));
        assert_eq!(
            (odd.reason, odd.message.as_str()),
            (StatusReason::InternalError, "m")
        );
    }

    #[test]
    fn messages_match_apimachinery() {
        let cm = GroupResource::new("", "configmaps");
        let role = GroupResource::new("rbac.authorization.k8s.io", "roles");
        let check = |e: StatusError, code: u16, msg: &str| {
            assert_eq!(e.code, code);
            assert_eq!(e.message, msg);
        };
        check(
            StatusError::not_found(&cm, "x"),
            404,
            r#"configmaps "x" not found"#,
        );
        check(
            StatusError::already_exists(&role, "r"),
            409,
            r#"roles.rbac.authorization.k8s.io "r" already exists"#,
        );
        check(
            StatusError::conflict_modified(&cm, "x"),
            409,
            r#"Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again"#,
        );
        check(
            StatusError::forbidden(
                &GroupResource::default(),
                "",
                "User \"u\" cannot get path \"/x\"",
            ),
            403,
            r#"forbidden: User "u" cannot get path "/x""#,
        );
        let one = vec![Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: "metadata.name".into(),
        }];
        check(
            StatusError::invalid("", "ConfigMap", "ConfigMap", "", one.clone()),
            422,
            r#"ConfigMap "" is invalid: metadata.name: Required value"#,
        );
        let two = vec![
            one[0].clone(),
            Cause {
                reason: "FieldValueInvalid".into(),
                message: "bad".into(),
                field: "data".into(),
            },
        ];
        check(
            StatusError::invalid("", "ConfigMap", "ConfigMap", "n", two),
            422,
            r#"ConfigMap "n" is invalid: [metadata.name: Required value, data: bad]"#,
        );
    }

    #[test]
    fn status_body_has_upstream_shape() {
        let v = StatusError::not_found(&GroupResource::new("", "configmaps"), "gone").to_status();
        assert_eq!(
            v,
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"configmaps \"gone\" not found","reason":"NotFound",
                   "details":{"name":"gone","kind":"configmaps"},"code":404})
        );
    }
}
