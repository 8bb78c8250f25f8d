//! The handler chain, top to bottom in request order, as kube-apiserver's
//! `DefaultBuildHandlerChain` (which is written bottom-up; this reads the way a request
//! travels). Each step says why it sits where it does.

use crate::authn::{self, Authenticated};
use crate::authorization;
use crate::handlers::{self, Query, Req};
use crate::respond::{self, Resp};
use crate::{nonresource, State};
use api_types::{StatusError, UserInfo};
use authz::Decision;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::Request;
use std::sync::Arc;

/// kube-apiserver's `--max-request-body-bytes` default (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// One request through every layer. Never panics outward: the caller runs it in a task and
/// answers 500 if it does.
pub async fn handle(
    state: Arc<State>,
    cert_user: Option<Arc<UserInfo>>,
    req: Request<Incoming>,
) -> Resp {
    match run(&state, cert_user.as_deref(), req).await {
        Ok(r) => r,
        Err(e) => respond::status(&e),
    }
}

async fn run(
    state: &State,
    cert_user: Option<&UserInfo>,
    req: Request<Incoming>,
) -> Result<Resp, StatusError> {
    let (parts, body) = req.into_parts();
    let query = parts.uri.query().unwrap_or("");

    // 1. Request info: classify once; authorization and routing read the same value.
    let info = request_info::parse(parts.method.as_str(), parts.uri.path(), query)
        .map_err(|e| StatusError::bad_request(e.to_string()))?;

    // 2. Authentication: x509, then bearer, then anonymous. A refused credential is a 401 and
    //    never becomes anonymous. It precedes everything that needs to know who is asking.
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    let user = match authn::authenticate(cert_user, authorization, state.anonymous) {
        Authenticated::User(u) => u,
        Authenticated::Unauthorized => return Err(StatusError::unauthorized()),
    };

    // 3. Audit: arrives with its issue; it sits here so it records every authenticated request.

    // 4. Impersonation: must run before authorization so the impersonated user is the one
    //    authorized. Until the authentication issue implements it, refuse it rather than
    //    silently acting as the caller.
    let attrs = authorization::attributes(&user, &info);
    if parts
        .headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"))
    {
        return Err(authorization::forbidden(
            &attrs,
            "impersonation is not supported by this server yet",
        ));
    }

    // 5. Authorization: before any body is read or any handler runs.
    match state.authorizer.authorize(&attrs) {
        Decision::Allow(_) => {}
        Decision::Deny(reason) | Decision::NoOpinion(reason) => {
            return Err(authorization::forbidden(&attrs, &reason))
        }
    }

    // 6. Body: read whole, bounded, only for requests allowed to send one.
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(StatusError::too_large(MAX_BODY_BYTES))
        }
        Err(_) => return Err(StatusError::bad_request("error reading the request body")),
    };

    // 7. Route: objects to the resource handlers, everything else to the non-resource ones.
    if !info.is_resource_request {
        return nonresource::handle(state, &info, &parts.headers);
    }
    let def = state
        .resolve(&info.api_group, &info.api_version, &info.resource)
        .ok_or_else(StatusError::path_not_found)?;
    handlers::resource(
        state,
        Req {
            info: &info,
            def,
            user: &user,
            query: Query::parse(query),
            headers: &parts.headers,
            body,
        },
    )
    .await
}
