//! Delete and delete-collection: preconditions, finalizers and graceful deletion.

use super::*;

/// What `rest.BeforeDelete` decided.
enum BeforeDelete {
    /// Not graceful: delete now (or wait for finalizers).
    Now,
    /// A graceful deletion is already under way and this delete does not shorten it.
    Pending,
    /// deletionTimestamp set this many seconds ahead (0: now).
    Graceful(i64),
}

impl Registry {
    /// DELETE. Objects with finalizers get a deletionTimestamp and stay until they are gone.
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, StatusError> {
        let key = Self::key(def, ns, name);
        for _ in 0..MAX_RETRIES {
            let cur = self.get_kv(def, ns, name)?;
            let mut obj = Self::decode(def, &cur)?;
            if let Some(uid) = &opts.precondition_uid {
                let have = meta_str(&obj, "uid");
                if uid != have {
                    return Err(StatusError::conflict(
                        &def.group_resource(),
                        name,
                        &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have}"),
                    ));
                }
            }
            if let Some(rv) = &opts.precondition_resource_version {
                let have = cur.mod_revision.to_string();
                if *rv != have {
                    return Err(StatusError::conflict(
                        &def.group_resource(),
                        name,
                        &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {have}"),
                    ));
                }
            }
            let pending = meta(&obj)
                .get("finalizers")
                .and_then(Value::as_array)
                .is_some_and(|f| !f.is_empty())
                || def.strategy.has_pending_finalizers(&obj);
            // `rest.BeforeDelete`: a graceful deletion sets deletionTimestamp in the future
            // and keeps the object; a later delete may only shorten it.
            let graceful = match self.before_delete(def, &mut obj, opts) {
                BeforeDelete::Pending => {
                    return Ok(Deleted {
                        object: obj,
                        finished: false,
                    })
                }
                BeforeDelete::Graceful(period) => period > 0 || pending,
                BeforeDelete::Now => false,
            };
            if graceful {
                match self.keep_deleting(def, &key, cur.mod_revision, obj, name, opts)? {
                    Some(d) => return Ok(d),
                    None => continue,
                }
            }
            if pending {
                if meta(&obj)
                    .get("deletionTimestamp")
                    .is_some_and(|t| !t.is_null())
                {
                    return Ok(Deleted {
                        object: obj,
                        finished: false,
                    });
                }
                let m = meta_mut(&mut obj);
                m.insert(
                    "deletionTimestamp".into(),
                    format_rfc3339(self.now()).into(),
                );
                m.insert("deletionGracePeriodSeconds".into(), 0.into());
                def.strategy.prepare_for_graceful_delete(&mut obj);
                match self.keep_deleting(def, &key, cur.mod_revision, obj, name, opts)? {
                    Some(d) => return Ok(d),
                    None => continue,
                }
            }
            if opts.dry_run {
                return Ok(Deleted {
                    object: obj,
                    finished: true,
                });
            }
            match self.storage.delete(&key, Some(cur.mod_revision)) {
                Ok(_) => {
                    if def.strategy.holds_addresses() {
                        self.release_service(&obj, None);
                    }
                    return Ok(Deleted {
                        object: obj,
                        finished: true,
                    });
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(status_from_storage(def, "delete", name, e)),
            }
        }
        Err(StatusError::conflict_modified(&def.group_resource(), name))
    }

    /// Writes an object that stays while it is being deleted (a grace period, finalizers):
    /// None when another writer came first (the caller retries).
    fn keep_deleting(
        &self,
        def: &ResourceDef,
        key: &str,
        revision: i64,
        mut obj: Value,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Option<Deleted>, StatusError> {
        if !opts.dry_run {
            match self.storage.update(key, revision, Self::encode(&obj)) {
                Ok(kv) => {
                    meta_mut(&mut obj)
                        .insert("resourceVersion".into(), kv.mod_revision.to_string().into());
                }
                Err(StorageError::Conflict { .. }) => return Ok(None),
                Err(e) => return Err(status_from_storage(def, "delete", name, e)),
            }
        }
        Ok(Some(Deleted {
            object: obj,
            finished: false,
        }))
    }

    /// `rest.BeforeDelete` for kinds deleted gracefully: what this delete does to `obj`'s
    /// deletionTimestamp and deletionGracePeriodSeconds.
    fn before_delete(
        &self,
        def: &ResourceDef,
        obj: &mut Value,
        opts: &DeleteOptions,
    ) -> BeforeDelete {
        let being_deleted = meta(obj)
            .get("deletionTimestamp")
            .is_some_and(|t| !t.is_null());
        if being_deleted {
            let current = meta(obj)
                .get("deletionGracePeriodSeconds")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            // A deletion already due (or one whose delete failed after its update) goes on.
            if current == 0 {
                return BeforeDelete::Now;
            }
            return match opts.grace_period_seconds {
                Some(p) if p < current => {
                    let since = meta_str(obj, "deletionTimestamp");
                    let due = api_types::parse_rfc3339(since)
                        .map(|t| t + jiff::SignedDuration::from_secs(p - current))
                        .unwrap_or_else(|| self.now());
                    let m = meta_mut(obj);
                    m.insert("deletionTimestamp".into(), format_rfc3339(due).into());
                    m.insert("deletionGracePeriodSeconds".into(), p.into());
                    BeforeDelete::Graceful(p)
                }
                _ => BeforeDelete::Pending,
            };
        }
        let Some(period) = def
            .strategy
            .graceful_delete_period(obj, opts.grace_period_seconds)
        else {
            return BeforeDelete::Now;
        };
        let due = self.now() + jiff::SignedDuration::from_secs(period);
        let m = meta_mut(obj);
        m.insert("deletionTimestamp".into(), format_rfc3339(due).into());
        m.insert("deletionGracePeriodSeconds".into(), period.into());
        BeforeDelete::Graceful(period)
    }

    /// DELETE on a collection: every matching object, each as [`Registry::delete`].
    pub fn delete_collection(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> Result<Vec<Value>, StatusError> {
        let all = self.list(
            def,
            ns,
            &ListOptions {
                limit: 0,
                continue_token: String::new(),
                ..list.clone()
            },
        )?;
        let mut out = Vec::new();
        for obj in all.items {
            let item_ns = meta_str(&obj, "namespace").to_string();
            match self.delete(def, &item_ns, meta_str(&obj, "name"), opts) {
                Ok(d) => out.push(d.object),
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
