//! Update, patch (JSON, merge, strategic merge) and the retry on conflict they share.

use super::*;

impl Registry {
    /// Storage's read-modify-write of one object, retried on a concurrent write
    /// (`GuaranteedUpdate`): `change` edits the current object; what it returns is stored
    /// as is, without the kind's update strategy — for subresources that own a transition of
    /// their own (a pod's binding). An error from `change` is returned unchanged.
    pub fn guaranteed_update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        dry_run: bool,
        change: &dyn Fn(&mut Value) -> Result<(), StatusError>,
    ) -> Result<Value, StatusError> {
        let key = Self::key(def, ns, name);
        for _ in 0..MAX_RETRIES {
            let cur = self.get_kv(def, ns, name)?;
            let mut obj = Self::decode(def, &cur)?;
            change(&mut obj)?;
            if dry_run {
                return Ok(obj);
            }
            match self
                .storage
                .update(&key, cur.mod_revision, Self::encode(&obj))
            {
                Ok(kv) => {
                    meta_mut(&mut obj)
                        .insert("resourceVersion".into(), kv.mod_revision.to_string().into());
                    return Ok(obj);
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(status_from_storage(def, "update", name, e)),
            }
        }
        Err(StatusError::conflict_modified(&def.group_resource(), name))
    }

    /// PUT (and PUT on `status` / `finalize`).
    pub fn update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut body: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Written, StatusError> {
        let mut warnings = Vec::new();
        self.admit_body(def, &mut body, opts, &mut warnings)?;
        let mut w =
            self.update_from(def, ns, name, body, subresource, opts, None, Track::Update)?;
        w.warnings.extend(warnings);
        Ok(w)
    }

    /// The update pipeline shared by PUT and PATCH. `expected` is the revision a patch was
    /// computed from (a conflict then means: recompute).
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of a write request, passed as the handlers hold them"
    )]
    pub(crate) fn update_from(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut body: Value,
        subresource: Option<&str>,
        opts: &WriteOptions,
        expected: Option<&KeyValue>,
        track: Track,
    ) -> Result<Written, StatusError> {
        Self::check_namespace(def, ns, &mut body)?;
        name_from_url(&mut body, name)?;
        // "0", like "", is no precondition: `APIObjectVersioner.ObjectResourceVersion` reads
        // both as 0, and the generic store's Update is then unconditional
        // (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go).
        let body_rv = match meta_str(&body, "resourceVersion") {
            "0" => String::new(),
            rv => rv.to_string(),
        };
        for attempt in 0.. {
            let cur = match expected {
                Some(kv) if attempt == 0 => kv.clone(),
                Some(_) => return Err(StatusError::conflict_modified(&def.group_resource(), name)),
                None => self.get_kv(def, ns, name)?,
            };
            if !body_rv.is_empty() && body_rv != cur.mod_revision.to_string() {
                return Err(StatusError::conflict_modified(&def.group_resource(), name));
            }
            let old = Self::decode(def, &cur)?;
            let mut new = self.prepare_update(def, body.clone(), &old, subresource)?;
            def.strategy.defaults(&mut new);
            if track == Track::Update {
                let entries = self.track_update(def, &old, &new, subresource, opts)?;
                set_managed(&mut new, &entries);
            }
            Self::drop_empty(&mut new);
            let mut errs = FieldErrors::default();
            Self::validate_meta(def, &new, &mut errs);
            def.strategy.validate_update(&new, &old, &mut errs);
            if !errs.is_empty() {
                return Err(Self::invalid(def, &new, errs));
            }
            if let Some(admit) = &opts.admission {
                admit(&new, Some(&old))?;
            }
            let claimed = if def.strategy.holds_addresses() && subresource.is_none() {
                Some(self.allocate_service(def, &mut new, Some(&old), opts)?)
            } else {
                None
            };
            let give_back = |claimed: Option<super::services::Claimed>| {
                if let Some(c) = claimed {
                    self.release_claimed(c);
                }
            };
            let finalized = meta(&new)
                .get("deletionTimestamp")
                .is_some_and(|t| !t.is_null())
                && meta(&new)
                    .get("finalizers")
                    .and_then(Value::as_array)
                    .is_none_or(Vec::is_empty)
                && !def.strategy.has_pending_finalizers(&new);
            if opts.dry_run {
                return Ok(Written {
                    object: new,
                    warnings: vec![],
                    created: false,
                });
            }
            let key = Self::key(def, ns, name);
            if finalized {
                // The last finalizer is gone from an object being deleted: delete it now.
                return match self.storage.delete(&key, Some(cur.mod_revision)) {
                    Ok(_) => {
                        give_back(claimed);
                        if def.strategy.holds_addresses() {
                            self.release_service(&old, None);
                        }
                        Ok(Written {
                            object: new,
                            warnings: vec![],
                            created: false,
                        })
                    }
                    Err(StorageError::Conflict { .. })
                        if body_rv.is_empty() && attempt < MAX_RETRIES =>
                    {
                        give_back(claimed);
                        continue;
                    }
                    Err(e) => Err(status_from_storage(def, "update", name, e)),
                };
            }
            let bytes = Self::encode(&new);
            if bytes == cur.value {
                // No change: no write, no new resourceVersion (upstream's GuaranteedUpdate).
                give_back(claimed);
                return Ok(Written {
                    object: old,
                    warnings: vec![],
                    created: false,
                });
            }
            match self.storage.update(&key, cur.mod_revision, bytes) {
                Ok(kv) => {
                    if def.strategy.holds_addresses() && subresource.is_none() {
                        self.release_service(&old, Some(&new));
                    }
                    let mut out = new;
                    meta_mut(&mut out)
                        .insert("resourceVersion".into(), kv.mod_revision.to_string().into());
                    return Ok(Written {
                        object: out,
                        warnings: vec![],
                        created: false,
                    });
                }
                Err(StorageError::Conflict { .. })
                    if body_rv.is_empty() && expected.is_none() && attempt < MAX_RETRIES =>
                {
                    give_back(claimed);
                    continue;
                }
                Err(e) => {
                    give_back(claimed);
                    return Err(status_from_storage(def, "update", name, e));
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// `rest.BeforeUpdate`: system fields carried over, then the kind's and the subresource's rules.
    fn prepare_update(
        &self,
        def: &ResourceDef,
        mut new: Value,
        old: &Value,
        subresource: Option<&str>,
    ) -> Result<Value, StatusError> {
        let om = meta(old).clone();
        let name = meta_str(old, "name").to_string();
        let nm = meta_mut(&mut new);
        match (
            nm.get("uid").and_then(Value::as_str),
            om.get("uid").and_then(Value::as_str),
        ) {
            (Some(n), Some(o)) if !n.is_empty() && n != o => {
                return Err(StatusError::conflict(
                    &def.group_resource(),
                    &name,
                    &format!(
                        "Precondition failed: UID in precondition: {n}, UID in object meta: {o}"
                    ),
                ));
            }
            _ => {}
        }
        for f in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "generateName",
        ] {
            match om.get(f) {
                Some(v) => {
                    nm.insert(f.into(), v.clone());
                }
                None => {
                    if f != "generateName" {
                        nm.remove(f);
                    }
                }
            }
        }
        nm.remove("selfLink");
        Ok(match subresource {
            None => {
                def.strategy.prepare_for_update(&mut new, old);
                new
            }
            Some("status") if def.strategy.has_status() => {
                // The status endpoint changes status (and labels/annotations), nothing else.
                let mut out = old.clone();
                out["status"] = new.get("status").cloned().unwrap_or(Value::Null);
                let om = meta_mut(&mut out);
                // Ownership as the write computed it (an apply to status sets its own entry).
                for f in ["labels", "annotations", "managedFields"] {
                    match meta(&new).get(f) {
                        Some(v) => om.insert(f.into(), v.clone()),
                        None => om.remove(f),
                    };
                }
                out
            }
            Some(other) => {
                if let Some(out) = (other == "finalize")
                    .then(|| def.strategy.finalize(&new, old))
                    .flatten()
                {
                    return Ok(out);
                }
                return Err(StatusError::path_not_found().with_message(format!(
                    "{} \"{name}\" has no subresource {other}",
                    def.resource
                )));
            }
        })
    }

    /// PATCH: applies the patch to the current object and updates, recomputing on conflict.
    #[allow(
        clippy::too_many_arguments,
        reason = "the parts of a write request, passed as the handlers hold them"
    )]
    pub fn patch(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        patch_type: PatchType,
        patch: &[u8],
        subresource: Option<&str>,
        opts: &WriteOptions,
    ) -> Result<Written, StatusError> {
        let patch_value: Value = serde_json::from_slice(patch)
            .map_err(|e| StatusError::bad_request(format!("error decoding patch: {e}")))?;
        if let PatchType::Apply { force } = patch_type {
            return self.apply(def, ns, name, patch_value, force, subresource, opts);
        }
        for _ in 0..MAX_RETRIES {
            let cur = self.get_kv(def, ns, name)?;
            let old = Self::decode(def, &cur)?;
            // The patch applies to the object as the request's version shapes it (upstream
            // patches the versioned object, then converts it back).
            let mut versioned = old.clone();
            def.strategy
                .convert_to_version(&opts.version, &mut versioned);
            let mut patched = crate::store::apply_patch(versioned, patch_type, &patch_value)?;
            def.strategy.convert_to_stored(&opts.version, &mut patched);
            let mut warnings = Vec::new();
            self.admit_body(def, &mut patched, opts, &mut warnings)?;
            // A resourceVersion in the patch is a precondition; otherwise the patch applies to
            // whatever is current, and a concurrent write means: apply it again.
            let pinned = meta_str(&patched, "resourceVersion") != cur.mod_revision.to_string();
            match self.update_from(
                def,
                ns,
                name,
                patched,
                subresource,
                opts,
                Some(&cur),
                Track::Update,
            ) {
                Err(e)
                    if e.code == 409
                        && e.reason == api_types::StatusReason::Conflict
                        && !pinned =>
                {
                    continue
                }
                Ok(mut w) => {
                    w.warnings.extend(warnings);
                    return Ok(w);
                }
                Err(e) => return Err(e),
            }
        }
        Err(StatusError::conflict_modified(&def.group_resource(), name))
    }
}

/// upstream's `maxJSONPatchOperations` (`endpoints/handlers/patch.go`).
pub(crate) const MAX_JSON_PATCH_OPERATIONS: usize = 10_000;
/// upstream's `JSONPatchMaxCopyBytes` (`server/config.go`), the json-patch library's
/// `AccumulatedCopySizeLimit`: what all `copy` operations of one patch may add together.
pub(crate) const JSON_PATCH_MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Why a JSON patch was refused before or while it applied.
#[derive(Debug, thiserror::Error)]
enum JsonPatchError {
    /// More operations than upstream takes (413).
    #[error(
        "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, got {0}"
    )]
    TooMany(usize),
    /// The copies would together add more than the limit (422): the CVE-2019-1002100 class,
    /// where each copy doubles the document.
    #[error("Unable to complete the copy, the accumulated size increase of copy is {0}, exceeding the limit {JSON_PATCH_MAX_COPY_BYTES}")]
    CopyTooLarge(usize),
    /// An operation failed as RFC 6902 says (a missing path, a failed test).
    #[error("{0}")]
    Operation(#[from] json_patch::PatchError),
}

/// RFC 6902 with upstream's bounds: the operation count first, then each copy's encoded
/// size counted before it is made, so no patch grows the document past the limit.
fn apply_json_patch(doc: &mut Value, p: &json_patch::Patch) -> Result<(), JsonPatchError> {
    if p.0.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(JsonPatchError::TooMany(p.0.len()));
    }
    let mut copied = 0usize;
    for op in &p.0 {
        if let json_patch::PatchOperation::Copy(c) = op {
            if let Some(v) = doc.pointer(c.from.as_str()) {
                let budget = JSON_PATCH_MAX_COPY_BYTES - copied;
                match encoded_len_within(v, budget) {
                    Some(n) => copied += n,
                    None => {
                        return Err(JsonPatchError::CopyTooLarge(
                            copied + encoded_len_within(v, usize::MAX).unwrap_or(usize::MAX),
                        ))
                    }
                }
            }
        }
        json_patch::patch(doc, std::slice::from_ref(op))?;
    }
    Ok(())
}

/// The length of `v` encoded as compact JSON, or None as soon as it passes `limit` (so
/// measuring a huge value costs no more than the limit).
fn encoded_len_within(v: &Value, limit: usize) -> Option<usize> {
    struct Count {
        n: usize,
        limit: usize,
    }
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.n += buf.len();
            if self.n > self.limit {
                return Err(std::io::Error::other("over the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count { n: 0, limit };
    serde_json::to_writer(&mut c, v).ok().map(|()| c.n)
}

/// Applies one patch document to an object.
pub(crate) fn apply_patch(
    mut doc: Value,
    patch_type: PatchType,
    patch: &Value,
) -> Result<Value, StatusError> {
    let unprocessable = |msg: String| {
        let mut e = StatusError::bad_request(msg);
        e.code = 422;
        e.reason = api_types::StatusReason::Invalid;
        e
    };
    match patch_type {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| StatusError::bad_request(format!("error decoding patch: {e}")))?;
            apply_json_patch(&mut doc, &p).map_err(|e| match e {
                JsonPatchError::TooMany(_) => {
                    StatusError::too_large(0).with_message(format!("Request entity too large: {e}"))
                }
                other => unprocessable(other.to_string()),
            })?;
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(StatusError::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            json_patch::merge(&mut doc, patch);
        }
        PatchType::Apply { .. } => {
            return Err(StatusError::internal(
                "apply patches go through Registry::apply",
            ))
        }
        PatchType::StrategicMerge => {
            if !patch.is_object() {
                return Err(StatusError::bad_request(
                    "error decoding patch: a strategic merge patch must be a JSON object",
                ));
            }
            let kind = doc
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            strategicpatch::apply_with(&mut doc, patch, &|path| crate::lists::rule(&kind, path).0)
                .map_err(|e| StatusError::bad_request(e.to_string()))?;
        }
    }
    if !doc.is_object() {
        return Err(unprocessable("the patch did not produce an object".into()));
    }
    Ok(doc)
}
