//! Create: the body checked against the kind (schema, metadata, strategy), NamespaceLifecycle
//! and validating admission, field ownership, then the write.

use super::*;

impl Registry {
    /// Checks a body for a kind that is answered rather than stored (reviews): type, shape and
    /// unknown fields, as for any other write. Returns the warnings.
    pub fn check_body(
        &self,
        def: &ResourceDef,
        body: &mut Value,
        opts: &WriteOptions,
    ) -> Result<Vec<String>, StatusError> {
        let mut warnings = Vec::new();
        self.admit_body(def, body, opts, &mut warnings)?;
        Ok(warnings)
    }

    /// Checks the body's type and shape, and fills kind and apiVersion with the stored version.
    pub(crate) fn admit_body(
        &self,
        def: &ResourceDef,
        body: &mut Value,
        opts: &WriteOptions,
        warnings: &mut Vec<String>,
    ) -> Result<(), StatusError> {
        let version = def.versions[0];
        let Some(o) = body.as_object_mut() else {
            return Err(StatusError::bad_request(format!(
                "{} in version \"{version}\" cannot be handled as a {}: the body must be a JSON object",
                def.kind, def.kind
            )));
        };
        if let Some(av) = o
            .get("apiVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if !def.versions.iter().any(|v| def.api_version_for(v) == av) {
                return Err(StatusError::bad_request(format!(
                    "the API version in the data ({av}) does not match the expected API version ({})",
                    def.api_version()
                )));
            }
        }
        if let Some(k) = o
            .get("kind")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            if k != def.kind {
                return Err(StatusError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    def.kind
                )));
            }
        }
        o.insert("apiVersion".into(), def.api_version().into());
        o.insert("kind".into(), def.kind.into());
        if !o
            .get("metadata")
            .is_none_or(|m| m.is_object() || m.is_null())
        {
            return Err(StatusError::bad_request(format!(
                "{} in version \"{version}\" cannot be handled as a {}: metadata must be an object",
                def.kind, def.kind
            )));
        }
        // A refused body (as sent) is told in the words of upstream's (Go's) decoder, found
        // only then, off the path of good writes (`wire::gotype`).
        let schema = wire::schema::get();
        let id = schema.kind(&def.api_version(), def.kind);
        let go_words = |body: &Value| id.and_then(|id| wire::gotype::first_error(schema, id, body));
        let refused = |why: String| {
            StatusError::bad_request(format!(
                "{} in version \"{version}\" cannot be handled as a {}: {why}",
                def.kind, def.kind
            ))
        };
        let unknown = match def.strategy.check_schema(body) {
            Ok(unknown) => unknown,
            Err(e) => return Err(refused(go_words(body).unwrap_or(e))),
        };
        // A Quantity's decoder refuses strings the typed round trip lets through: the kinds
        // that hold one are walked on every write.
        if id.is_some_and(|id| wire::gotype::holds_quantity(schema, id)) {
            if let Some(why) = go_words(body) {
                return Err(refused(why));
            }
        }
        if !unknown.is_empty() || !opts.duplicate_fields.is_empty() {
            let texts: Vec<String> = unknown
                .iter()
                .map(|f| format!("unknown field \"{f}\""))
                .chain(
                    opts.duplicate_fields
                        .iter()
                        .map(|f| format!("duplicate field \"{f}\"")),
                )
                .collect();
            match opts.field_validation {
                FieldValidation::Strict => {
                    return Err(StatusError::bad_request(format!(
                        "strict decoding error: {}",
                        texts.join(", ")
                    )))
                }
                FieldValidation::Warn => warnings.extend(texts),
                FieldValidation::Ignore => {}
            }
        }
        meta_mut(body);
        Ok(())
    }

    /// `ValidateObjectMeta` plus the kind's rules.
    pub(super) fn validate_meta(def: &ResourceDef, obj: &Value, errs: &mut FieldErrors) {
        let name = meta_str(obj, "name");
        if name.is_empty() {
            errs.required("metadata.name", "name or generateName is required");
        } else {
            validation::check(errs, "metadata.name", name, def.strategy.name_rule());
        }
        if def.namespaced {
            let ns = meta_str(obj, "namespace");
            if ns.is_empty() {
                errs.required("metadata.namespace", "");
            } else {
                validation::check(errs, "metadata.namespace", ns, validation::dns1123_label);
            }
        }
        let m = meta(obj);
        validation::labels(errs, "metadata.labels", m.get("labels"));
        validation::annotations(errs, "metadata.annotations", m.get("annotations"));
        if let Some(Value::Array(fins)) = m.get("finalizers") {
            for (i, f) in fins.iter().enumerate() {
                let f = f.as_str().unwrap_or("");
                validation::check(
                    errs,
                    &format!("metadata.finalizers[{i}]"),
                    f,
                    validation::qualified_name,
                );
            }
        }
    }

    pub(super) fn invalid(def: &ResourceDef, obj: &Value, errs: FieldErrors) -> StatusError {
        StatusError::invalid(
            def.group,
            &def.qualified_kind(),
            def.kind,
            meta_str(obj, "name"),
            errs.0,
        )
    }

    pub(super) fn check_namespace(
        def: &ResourceDef,
        ns: &str,
        obj: &mut Value,
    ) -> Result<(), StatusError> {
        let m = meta_mut(obj);
        if def.namespaced {
            match m.get("namespace").and_then(Value::as_str).unwrap_or("") {
                "" => {
                    m.insert("namespace".into(), ns.into());
                }
                body_ns if body_ns != ns => {
                    return Err(StatusError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ))
                }
                _ => {}
            }
        } else {
            m.remove("namespace");
        }
        Ok(())
    }

    /// POST: a new object.
    pub fn create(
        &self,
        def: &ResourceDef,
        ns: &str,
        mut body: Value,
        opts: &WriteOptions,
    ) -> Result<Written, StatusError> {
        let mut warnings = Vec::new();
        self.admit_body(def, &mut body, opts, &mut warnings)?;
        // A resourceVersion on a create is most likely an object read back and sent again
        // (`kubectl create -f` of a `get -o yaml`): refused, as the etcd3 store's Create
        // refuses it (`storage.ErrResourceVersionSetOnCreate`, for a version that parses as a
        // non-zero number). Upstream answers a 500; it is the client's mistake, so 400.
        let rv = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok());
        if rv.is_some_and(|v| v != 0) {
            return Err(StatusError::bad_request(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        let mut w = self.create_checked(def, ns, body, opts, Track::Update)?;
        w.warnings.splice(0..0, warnings);
        Ok(w)
    }

    /// The create pipeline after the body's shape is checked; `track` says whether this write
    /// still has to record its manager's fields (an apply has done so already).
    pub(crate) fn create_checked(
        &self,
        def: &ResourceDef,
        ns: &str,
        mut body: Value,
        opts: &WriteOptions,
        track: Track,
    ) -> Result<Written, StatusError> {
        let warnings = Vec::new();
        Self::check_namespace(def, ns, &mut body)?;
        // Mutating-phase admission upstream (NamespaceLifecycle): it answers before validation.
        if let Some(admit) = &opts.create_admission {
            admit(&body, None)?;
        }
        let now = format_rfc3339(self.now());
        let m = meta_mut(&mut body);
        let generate = m
            .get("generateName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if m.get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
            && !generate.is_empty()
        {
            // `names.SimpleNameGenerator`: truncate the base so the name stays under 63.
            let base: String = generate.chars().take(58).collect();
            m.insert(
                "name".into(),
                format!("{base}{}", self.name_suffix()).into(),
            );
        }
        for f in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
        ] {
            m.remove(f);
        }
        m.insert("uid".into(), self.new_uid().into());
        m.insert("creationTimestamp".into(), now.into());
        def.strategy.defaults(&mut body);
        if track == Track::Update {
            let base = managedfields::zero_value(&def.api_version(), def.kind);
            let sent = opts.before_admission.as_ref().map(|b| {
                let mut b = b.clone();
                def.strategy.defaults(&mut b);
                b
            });
            let entries =
                self.track_update(def, &base, sent.as_ref().unwrap_or(&body), None, opts)?;
            set_managed(&mut body, &entries);
        }
        // Strategy and admission changes after the request's own are nobody's (upstream's
        // field manager runs before them).
        def.strategy.prepare_for_create(&mut body);
        Self::drop_empty(&mut body);
        let mut errs = FieldErrors::default();
        Self::validate_meta(def, &body, &mut errs);
        def.strategy.validate(&body, &mut errs);
        if !errs.is_empty() {
            return Err(Self::invalid(def, &body, errs));
        }
        if let Some(admit) = &opts.admission {
            admit(&body, None)?;
        }
        // A Service's addresses, claimed last, so that only a write that can land holds them.
        let claimed = if def.strategy.holds_addresses() {
            Some(self.allocate_service(def, &mut body, None, opts)?)
        } else {
            None
        };
        let name = meta_str(&body, "name").to_string();
        if opts.dry_run {
            return Ok(Written {
                object: body,
                warnings,
                created: true,
            });
        }
        let kv = match self
            .storage
            .create(&Self::key(def, ns, &name), Self::encode(&body))
        {
            Ok(kv) => kv,
            Err(e) => {
                if let Some(c) = claimed {
                    self.release_claimed(c);
                }
                return Err(status_from_storage(def, "create", &name, e));
            }
        };
        meta_mut(&mut body).insert("resourceVersion".into(), kv.mod_revision.to_string().into());
        Ok(Written {
            object: body,
            warnings,
            created: true,
        })
    }

    /// Creates the namespaces the control plane needs, if missing.
    pub fn ensure_namespaces(&self, names: &[&str]) -> Result<(), StatusError> {
        let def = &crate::kinds::NAMESPACES;
        for n in names {
            // Get first, as upstream's controller does: a restart writes nothing (and so does
            // not compute field ownership, which loads the schema).
            match self.get(def, "", n) {
                Ok(_) => continue,
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}});
            // Created by the API server itself, as upstream's system namespaces controller.
            match self.create(def, "", body, &WriteOptions::by("kube-apiserver")) {
                Ok(_) => {}
                Err(e) if e.code == 409 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
