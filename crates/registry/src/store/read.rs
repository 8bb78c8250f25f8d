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
        let kv = self
            .storage
            .get_cached(&Self::key(def, ns, name))
            .map_err(|e| status_from_storage(def, "get", name, e))?
            .ok_or_else(|| StatusError::not_found(&def.group_resource(), name))?;
        Self::decode(def, &kv)
    }

    /// The revision a list or watch option names, or None for "current". A "not older than"
    /// revision the store has not reached is upstream's 504 (`waitUntilFreshAndBlock`, which
    /// gives up after 3 s; here the store is the cache, so nothing would arrive by waiting).
    fn list_revision(
        &self,
        def: &ResourceDef,
        opts: &ListOptions,
    ) -> Result<Option<Revision>, StatusError> {
        let Some(n) = parse_resource_version(&opts.resource_version)? else {
            return Ok(None);
        };
        // Only an Exact match reads the past; NotOlderThan is served from the present.
        if opts.resource_version_match == "Exact" {
            return Ok(Some(n));
        }
        self.not_older_than(def, "list", n)?;
        Ok(None)
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
        validate_list_options(opts)?;
        let filter = Filter::new(def, opts)?;
        let prefix = Self::prefix(def, ns);
        let (mut revision, mut start) = (self.list_revision(def, opts)?, None);
        // resourceVersion=0: any recent state (the watch cache's, as upstream serves it).
        let any_revision = opts.resource_version == "0" && opts.continue_token.is_empty();
        if !opts.continue_token.is_empty() {
            let (rv, after) =
                paging::decode(&opts.continue_token).map_err(StatusError::bad_request)?;
            revision = Some(rv);
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
                .list(&prefix, &storage::ListOptions { start_after: start.as_deref(), limit: batch, revision: revision.or(list_rv), any_revision })
                .map_err(|e| match e {
                    StorageError::Compacted { .. } if !opts.continue_token.is_empty() => StatusError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ),
                    e => status_from_storage(def, "list", "", e),
                })?;
            list_rv = Some(page.revision);
            let n = page.kvs.len();
            for (i, kv) in page.kvs.iter().enumerate() {
                let obj = Self::decode(def, kv)?;
                if filter.matches(def, &obj) {
                    items.push(obj);
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
