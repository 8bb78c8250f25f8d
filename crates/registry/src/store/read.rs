//! Get and list: selectors, paging, and the resourceVersion semantics of reads.

use super::*;

impl Registry {
    pub(super) fn get_kv(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<KeyValue, StatusError> {
        self.storage
            .get(&Self::key(def, ns, name))
            .map_err(|e| status_from_storage(def, "get", name, e))?
            .ok_or_else(|| StatusError::not_found(&def.group_resource(), name))
    }

    /// GET one object.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, StatusError> {
        Self::decode(def, &self.get_kv(def, ns, name)?)
    }

    /// GET one object as the watch cache last saw it (may lag the store; a miss is read
    /// live): for admission's lookups, which upstream answers from informers' listers.
    pub fn get_cached(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> Result<Value, StatusError> {
        self.get_not_older_than(def, ns, name, 0)
    }

    /// GET one object at any state not older than revision `rv` (`resourceVersion=N`), from
    /// the watch cache once it has seen `rv` (upstream's cacher answers such a GET from memory
    /// after `waitUntilFreshAndBlock`), else from the store.
    pub fn get_not_older_than(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        rv: Revision,
    ) -> Result<Value, StatusError> {
        let kv = self
            .storage
            .get_cached(&Self::key(def, ns, name), rv)
            .map_err(|e| status_from_storage(def, "get", name, e))?
            .ok_or_else(|| StatusError::not_found(&def.group_resource(), name))?;
        Self::decode(def, &kv)
    }

    /// Which state a list reads, as the resource version semantics of a list say
    /// (`https://kubernetes.io/docs/reference/using-api/api-concepts/#the-resourceversion-parameter`):
    /// `(Some(n), _)` exactly revision `n`; `(None, Some(n))` any state not older than `n`
    /// (`n` = 0: any at all); `(None, None)` the current state. `resourceVersion=N` without
    /// `resourceVersionMatch` is "not older than", but exact when the list is paginated
    /// (`limit` set), as upstream keeps for old clients. A "not older than" revision the store
    /// has not reached is upstream's 504 (`waitUntilFreshAndBlock`, which gives up after 3 s;
    /// here the store is the newest state there is, so nothing would arrive by waiting).
    fn list_revision(
        &self,
        def: &ResourceDef,
        opts: &ListOptions,
    ) -> Result<(Option<Revision>, Option<Revision>), StatusError> {
        if opts.resource_version == "0" {
            return Ok((None, Some(0)));
        }
        let Some(n) = parse_resource_version(&opts.resource_version)? else {
            return Ok((None, None));
        };
        match opts.resource_version_match.as_str() {
            "Exact" => Ok((Some(n), None)),
            "" if opts.limit > 0 => Ok((Some(n), None)),
            _ => {
                self.not_older_than(def, "list", n)?;
                Ok((None, Some(n)))
            }
        }
    }

    /// Fails with upstream's 504 when `rv` is newer than the store.
    /// `operation` names the request in the error of an unreachable store.
    pub fn not_older_than(
        &self,
        def: &ResourceDef,
        operation: &str,
        rv: Revision,
    ) -> Result<(), StatusError> {
        let current = self
            .storage
            .current_revision()
            .map_err(|e| status_from_storage(def, operation, "", e))?;
        if rv > current {
            return Err(StatusError::too_large_resource_version(rv, current));
        }
        Ok(())
    }

    /// LIST, with selectors and paging. `ns` None lists every namespace.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<ListOut, StatusError> {
        let filter = Filter::new(def, opts)?;
        self.list_with(def, ns, opts, |kv| {
            let obj = Self::decode(def, kv)?;
            Ok(filter.matches(def, &obj).then_some(obj))
        })
    }

    /// LIST as [`Registry::list`], each item encoded as a list of the kind's stored version
    /// holds it ([`Registry::item_bytes`]). Each revision of an object is encoded once while
    /// the watch cache holds it (its [`storage::Memo`]); a list then joins bytes instead of
    /// decoding and encoding every item. Selectors still decode what they look at.
    pub fn list_encoded(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
        encoding: Encoding,
    ) -> Result<ListOut<Arc<[u8]>>, StatusError> {
        let filter = Filter::new(def, opts)?;
        self.list_with(def, ns, opts, |kv| {
            if !filter.is_everything() && !filter.matches(def, &Self::decode(def, kv)?) {
                return Ok(None);
            }
            Self::item_bytes(def, kv, encoding).map(Some)
        })
    }

    /// One stored object as a list of its kind's stored version holds it, kept in the
    /// object's memo: the object as [`Registry::decode`] gives it, typed by the stored
    /// version's schema, without `kind` and `apiVersion` (JSON: `wire::json::item`; protobuf:
    /// the message, `wire::protobuf::item`).
    pub fn item_bytes(
        def: &ResourceDef,
        kv: &KeyValue,
        encoding: Encoding,
    ) -> Result<Arc<[u8]>, StatusError> {
        kv.memo.get_or_try_init(encoding as usize, || {
            let mut obj = Self::decode(def, kv)?;
            if let Some(o) = obj.as_object_mut() {
                o.remove("kind");
                o.remove("apiVersion");
            }
            let api_version = def.api_version();
            match encoding {
                Encoding::Json => Ok(wire::json::item(&obj, &api_version, def.kind)),
                Encoding::Protobuf => wire::protobuf::item(&obj, &api_version, def.kind)
                    .map_err(|e| StatusError::internal(format!("encoding {}: {e}", def.kind))),
            }
        })
    }

    /// The paging loop of a LIST: `item` turns each stored object into an item, or `None`
    /// when the selectors leave it out.
    fn list_with<T>(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
        mut item: impl FnMut(&KeyValue) -> Result<Option<T>, StatusError>,
    ) -> Result<ListOut<T>, StatusError> {
        validate_list_options(opts)?;
        let prefix = Self::prefix(def, ns);
        let (mut revision, mut not_older_than) = self.list_revision(def, opts)?;
        let mut start = None;
        if !opts.continue_token.is_empty() {
            let (rv, after) =
                paging::decode(&opts.continue_token).map_err(StatusError::bad_request)?;
            (revision, not_older_than) = (Some(rv), None);
            start = Some(format!("{prefix}{after}"));
        }
        let batch = if opts.limit == 0 {
            0
        } else {
            opts.limit.max(64)
        };
        let mut items = Vec::new();
        let mut list_rv = None;
        let mut token = String::new();
        let mut remaining_item_count = None;
        loop {
            let page = self
                .storage
                .list(&prefix, &storage::ListOptions { start_after: start.as_deref(), limit: batch, revision: revision.or(list_rv), not_older_than })
                .map_err(|e| match e {
                    StorageError::Compacted { .. } if !opts.continue_token.is_empty() => StatusError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ),
                    e => status_from_storage(def, "list", "", e),
                })?;
            list_rv = Some(page.revision);
            let n = page.kvs.len();
            for (i, kv) in page.kvs.iter().enumerate() {
                if let Some(it) = item(kv)? {
                    items.push(it);
                }
                if opts.limit > 0 && items.len() == opts.limit {
                    if page.more || i + 1 < n {
                        token = paging::encode(page.revision, &kv.key[prefix.len()..]);
                        // `GetList` in the etcd3 store: only an unfiltered list is counted.
                        if opts.label_selector.trim().is_empty()
                            && opts.field_selector.trim().is_empty()
                        {
                            let rest = self
                                .storage
                                .count_after(&prefix, &kv.key, page.revision)
                                .map_err(|e| status_from_storage(def, "list", "", e))?;
                            remaining_item_count = i64::try_from(rest).ok();
                        }
                    }
                    break;
                }
            }
            if !token.is_empty() || !page.more || (opts.limit > 0 && items.len() == opts.limit) {
                break;
            }
            start = page.kvs.last().map(|kv| kv.key.clone());
        }
        Ok(ListOut {
            items,
            resource_version: list_rv.unwrap_or_default().to_string(),
            continue_token: token,
            remaining_item_count,
        })
    }
}

/// A `resourceVersion` parameter: None for "" and "0" (any), else the revision; anything
/// else is a 400, on GET as on LIST.
pub fn parse_resource_version(rv: &str) -> Result<Option<Revision>, StatusError> {
    match rv {
        "" | "0" => Ok(None),
        // Unsigned, as `APIObjectVersioner.ParseResourceVersion`.
        rv => rv
            .parse::<u64>()
            .ok()
            .and_then(|n| Revision::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| StatusError::bad_request(format!("invalid resource version: {rv}"))),
    }
}

/// `ValidateListOptions` (`apimachinery/pkg/apis/meta/internalversion/validation`), for a
/// list (a watch is checked by its own rules).
fn validate_list_options(opts: &ListOptions) -> Result<(), StatusError> {
    let m = opts.resource_version_match.as_str();
    if m.is_empty() {
        return Ok(());
    }
    let mut errs = crate::validation::FieldErrors::default();
    let field = "resourceVersionMatch";
    if opts.resource_version.is_empty() {
        errs.forbidden(
            field,
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        );
    }
    if !opts.continue_token.is_empty() {
        errs.forbidden(
            field,
            "resourceVersionMatch is forbidden when continue is provided",
        );
    }
    if m != "Exact" && m != "NotOlderThan" {
        errs.not_supported(field, &Value::from(m), &["Exact", "NotOlderThan", ""]);
    }
    if m == "Exact" && opts.resource_version == "0" {
        errs.forbidden(
            field,
            "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
        );
    }
    if errs.0.is_empty() {
        return Ok(());
    }
    Err(StatusError::invalid(
        "meta.k8s.io",
        "ListOptions.meta.k8s.io",
        "ListOptions",
        "",
        errs.0,
    ))
}
