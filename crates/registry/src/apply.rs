//! The registry's side of field ownership: recording each write's manager, and server-side
//! apply (upstream's `applyPatcher` in `endpoints/handlers/patch.go` and the field manager
//! chain of `managedfields/internal`: `lastAppliedManager`, `lastAppliedUpdater`, ...).

use crate::resource::ResourceDef;
use crate::store::{
    meta, meta_mut, meta_str, name_from_url, set_managed, status_from_storage, Registry, Track,
    WriteOptions, Written,
};
use api_types::Cause;
use api_types::{format_rfc3339, StatusError, StatusReason};
use managedfields::fieldpath::path_string;
use managedfields::{self, Entry, ManagedFieldsError, Request};
use serde_json::Value;

/// The owner of an unowned object's fields at its first apply.
const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// kubectl's client-side apply annotation.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The manager kubectl's server-side apply uses; only it hands over from client-side apply
/// (upstream: "to opt out, use a different field manager").
const KUBECTL: &str = "kubectl";

/// Fields a write through `subresource` may not own (upstream's reset fields): the main
/// resource of a kind with a status leaves `status` alone, the status subresource `spec`.
fn ignored(def: &ResourceDef, subresource: Option<&str>) -> &'static [&'static str] {
    match subresource {
        None if def.strategy.has_status() => &["status"],
        Some("status") => &["spec"],
        _ => &[],
    }
}

/// The `apiVersion` a write's managed-fields entry names: the version the request was made in,
/// as upstream's field manager records it (an update at v1beta1 and one at v1 by the same
/// manager are two entries; an apply's one entry takes the latest), or the stored version for
/// writes from inside the process.
fn entry_version(def: &ResourceDef, opts: &WriteOptions) -> String {
    match def.versions.iter().find(|v| **v == opts.version) {
        Some(v) => def.api_version_for(v),
        None => def.api_version(),
    }
}

impl Registry {
    fn request<'a>(
        &self,
        def: &ResourceDef,
        subresource: Option<&'a str>,
        opts: &'a WriteOptions,
        api_version: &'a str,
        now: &'a str,
    ) -> Option<Request<'a>> {
        let schema = crate::schema::get();
        let ty = schema.kind(def.group, def.versions[0], def.kind)?;
        Some(Request {
            schema,
            ty,
            ignored: ignored(def, subresource),
            manager: &opts.field_manager,
            api_version,
            subresource: subresource.unwrap_or(""),
            now,
        })
    }

    /// Ownership after a create, update or patch from `old` to `new` (`FieldManager.Update`):
    /// the entries the request sent when it sent any (`[{}]` clears them), else the stored
    /// ones, updated with this manager's changes. A value that does not fit the schema loses its
    /// entries rather than failing the write, as upstream's `UpdateNoErrors`.
    pub(crate) fn track_update(
        &self,
        def: &ResourceDef,
        old: &Value,
        new: &Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Vec<Entry>, StatusError> {
        let base = if subresource.is_none() && managedfields::is_reset(new) {
            Vec::new()
        } else {
            match managedfields::decode(new).filter(|e| !e.is_empty() && subresource.is_none()) {
                Some(sent) => sent,
                None => managedfields::decode(old).unwrap_or_default(),
            }
        };
        let (api_version, now) = (entry_version(def, opts), format_rfc3339(self.now()));
        let Some(req) = self.request(def, subresource, opts, &api_version, &now) else {
            return Ok(base);
        };
        Ok(req.update(old, new, base).unwrap_or_default())
    }

    /// PATCH with `application/apply-patch+yaml`: merges the configuration into the object (or
    /// creates it), owned by `opts.field_manager`; 409 when that would change fields other
    /// managers own, unless `force`.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of a write request, passed as the handlers hold them"
    )]
    pub(crate) fn apply(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut config: Value,
        force: bool,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Written, StatusError> {
        if config
            .pointer("/metadata/managedFields")
            .is_some_and(|m| !m.is_null())
        {
            return Err(StatusError::bad_request(
                "metadata.managedFields must be nil",
            ));
        }
        if config
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            return Err(StatusError::bad_request(format!(
                "Object 'Kind' is missing in '{config}'"
            )));
        }
        let mut warnings = Vec::new();
        self.admit_body(def, &mut config, opts, &mut warnings)?;
        name_from_url(&mut config, name)?;
        let (api_version, now) = (def.api_version(), format_rfc3339(self.now()));
        let entry_version = entry_version(def, opts);
        let req = self
            .request(def, subresource, opts, &entry_version, &now)
            .ok_or_else(|| {
                StatusError::unsupported_media_type(
                    "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
                )
            })?;
        let key = Self::key(def, ns, name);
        for _ in 0..crate::store::MAX_RETRIES {
            let cur = self
                .storage()
                .get(&key)
                .map_err(|e| status_from_storage(def, "update", name, e))?;
            let live = match &cur {
                Some(kv) => Self::decode(def, kv)?,
                // Only the main resource is created by an apply.
                None if subresource.is_some() => {
                    return Err(StatusError::not_found(&def.group_resource(), name))
                }
                None => managedfields::zero_value(&api_version, def.kind),
            };
            let mut entries = managedfields::decode(&live).unwrap_or_default();
            if entries.is_empty() && cur.is_some() {
                // An object nobody owns (written before ownership was tracked, or reset): its
                // fields go to `before-first-apply` first, so an apply that changes them
                // conflicts (`skipNonAppliedManager`); kubectl hands them over like CSA's.
                let before = Request {
                    manager: BEFORE_FIRST_APPLY,
                    subresource: "",
                    ..req
                };
                let zero = managedfields::zero_value(&api_version, def.kind);
                entries = before.update(&zero, &live, entries).unwrap_or_default();
            }
            // Admission changed the configuration only if this apply creates the object.
            let owned = opts.before_admission.as_ref().filter(|_| cur.is_none());
            let (mut merged, entries) =
                match req.apply(&live, &config, owned, entries.clone(), force) {
                    Ok(done) => done,
                    Err(ManagedFieldsError::Conflicts(conflicts))
                        if opts.field_manager == KUBECTL =>
                    {
                        // `lastAppliedManager`: conflicts over fields kubectl's client-side apply
                        // last applied are kubectl's own, and the apply takes them.
                        let allowed = last_applied(&live).and_then(|la| req.field_set(&la).ok());
                        let rest: Vec<_> = conflicts
                            .into_iter()
                            .filter(|(_, p)| !allowed.as_ref().is_some_and(|a| a.has(p)))
                            .collect();
                        if !rest.is_empty() {
                            return Err(status_of(
                                ManagedFieldsError::Conflicts(rest),
                                def.kind,
                                name,
                            ));
                        }
                        req.apply(&live, &config, owned, entries, true)
                            .map_err(|e| status_of(e, def.kind, name))?
                    }
                    Err(e) => return Err(status_of(e, def.kind, name)),
                };
            // `lastAppliedUpdater`: keep client-side apply's annotation in step with what
            // kubectl applied on the server, so a later client-side apply diffs correctly.
            if opts.field_manager == KUBECTL && last_applied(&live).is_some() {
                let mut applied = config.clone();
                if let Some(Value::Object(a)) = meta_mut(&mut applied).get_mut("annotations") {
                    a.remove(LAST_APPLIED);
                    if a.is_empty() {
                        meta_mut(&mut applied).remove("annotations");
                    }
                }
                let text = serde_json::to_string(&applied).unwrap_or_default();
                let m = meta_mut(&mut merged);
                let annotations = m
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Value::Object(a) = annotations {
                    a.insert(LAST_APPLIED.into(), text.into());
                }
            }
            set_managed(&mut merged, &entries);
            let result = match &cur {
                None => self.create_checked(def, ns, merged, opts, Track::Done),
                Some(kv) => self.update_from(
                    def,
                    ns,
                    name,
                    merged,
                    subresource,
                    opts,
                    Some(kv),
                    Track::Done,
                ),
            };
            match result {
                // Someone else wrote (or created) first: apply to what is there now.
                Err(e)
                    if (e.code == 409
                        && e.reason == StatusReason::Conflict
                        && meta_str(&config, "resourceVersion").is_empty())
                        || e.reason == StatusReason::AlreadyExists =>
                {
                    continue
                }
                Ok(mut w) => {
                    w.warnings.splice(0..0, warnings);
                    return Ok(w);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StatusError::conflict_modified(&def.group_resource(), name))
    }
}

/// The object kubectl's client-side apply last applied, if any.
fn last_applied(live: &Value) -> Option<Value> {
    let text = meta(live)
        .get("annotations")?
        .get(LAST_APPLIED)?
        .as_str()
        .filter(|s| !s.is_empty())?;
    serde_json::from_str(text).ok()
}

/// The error the API answers for a field-management failure (`internal.NewConflictError`, or a
/// 422 for a value that does not fit the schema).
fn status_of(e: ManagedFieldsError, kind: &str, name: &str) -> StatusError {
    let message = e.to_string();
    match e {
        ManagedFieldsError::Typed(e) => StatusError::invalid(
            "",
            kind,
            kind,
            name,
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: e.to_string(),
                field: String::new(),
            }],
        )
        .with_message(message),
        ManagedFieldsError::Conflicts(conflicts) => {
            let causes = conflicts
                .iter()
                .map(|(e, p)| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: format!("conflict with {}", e.describe()),
                    field: path_string(p),
                })
                .collect();
            StatusError::apply_conflict(message, causes)
        }
    }
}
