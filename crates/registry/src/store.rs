//! Create, get, list, update, patch and delete over [`Storage`], as upstream's generic store.

use crate::admission;
use crate::managedfields;
use crate::paging;
use crate::resource::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::validation::{self, FieldErrors};
use api_types::{format_rfc3339, StatusError};
use jiff::Timestamp;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use storage::{KeyValue, Revision, Storage, StorageError};

/// Injected time, so expiry and ages are testable without sleeping.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Injected randomness: fills a buffer (the operating system's generator unless a test gives
/// a seeded one), so generated names and uids are reproducible in tests.
pub type Random = Arc<dyn Fn(&mut [u8]) + Send + Sync>;

/// The operating system's generator.
#[allow(
    clippy::disallowed_methods,
    reason = "the one place the real generator is made"
)]
pub fn os_random() -> Random {
    Arc::new(|buf: &mut [u8]| rand::Rng::fill(&mut rand::rng(), buf))
}

/// upstream's `utilrand` alphabet for generated names: no vowels, no confusable digits.
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `fieldValidation` (`metav1.FieldValidation*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    Warn,
    #[default]
    Strict,
}

impl FieldValidation {
    /// Parses the query value; upstream's default for an absent value is Warn... but kubectl
    /// always sends one. An unknown value is a 400.
    pub fn parse(s: &str) -> Result<Self, StatusError> {
        match s {
            "Ignore" => Ok(FieldValidation::Ignore),
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(StatusError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}. Valid values are Ignore, Warn and Strict"
            ))),
        }
    }
}

/// Validating admission: called with the object about to be stored (and, on update, the
/// current one) after the registry's own validation, as upstream's validating admission runs
/// inside the store. The server supplies it; the registry never learns who is asking.
pub type Admission = Arc<dyn Fn(&Value, Option<&Value>) -> Result<(), StatusError> + Send + Sync>;

/// Options of create, update and patch.
#[derive(Clone, Default)]
pub struct WriteOptions {
    pub dry_run: bool,
    pub field_validation: FieldValidation,
    pub admission: Option<Admission>,
    /// Who writes, for `managedFields` (`fieldManager`, else the user agent's product).
    pub field_manager: String,
    /// The object as the client sent it, when mutating admission has changed the body since:
    /// ownership is computed from this, as upstream's field manager runs before admission.
    pub before_admission: Option<Value>,
    /// Keys the body repeated, by path (the decoder kept the last): reported with unknown
    /// fields as `fieldValidation` says (Strict: 400; Warn: a warning each).
    pub duplicate_fields: Vec<String>,
}

impl WriteOptions {
    /// Options of a write by an in-process component (`kube-controller-manager`, ...).
    pub fn by(field_manager: &str) -> Self {
        WriteOptions {
            field_manager: field_manager.into(),
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for WriteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteOptions")
            .field("dry_run", &self.dry_run)
            .field("field_validation", &self.field_validation)
            .field("admission", &self.admission.is_some())
            .field("field_manager", &self.field_manager)
            .field("before_admission", &self.before_admission.is_some())
            .finish()
    }
}

/// Options of list, watch and deletecollection.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    pub label_selector: String,
    pub field_selector: String,
    pub limit: usize,
    pub continue_token: String,
    pub resource_version: String,
    pub resource_version_match: String,
}

/// Options of delete (`metav1.DeleteOptions`).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
}

/// A written object with the warnings to send as `Warning` headers.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    /// True when a create stored a new object (201), false for updates (200).
    pub created: bool,
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub object: Value,
    /// False when finalizers keep the object (it now has a deletionTimestamp).
    pub finished: bool,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListOut {
    pub items: Vec<Value>,
    pub resource_version: String,
    pub continue_token: String,
}

/// Patch formats (`types.PatchType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    /// Strategic merge patch, with the list strategies of the served kinds.
    StrategicMerge,
    /// Server-side apply (`application/apply-patch+yaml`, the body already JSON); `force`
    /// takes fields from other managers.
    Apply {
        force: bool,
    },
}

/// Whether a write records its manager's changed fields (creates, updates, patches) or has
/// recorded ownership already (applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Track {
    Update,
    Done,
}

/// The object's name is the URL's: filled in when absent, a 400 when different.
pub(crate) fn name_from_url(body: &mut Value, name: &str) -> Result<(), StatusError> {
    match meta_str(body, "name") {
        "" => {
            meta_mut(body).insert("name".into(), name.into());
            Ok(())
        }
        n if n != name => Err(StatusError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        ))),
        _ => Ok(()),
    }
}

/// Stores ownership entries in the object (none: no `managedFields`).
pub(crate) fn set_managed(obj: &mut Value, entries: &[crate::managedfields::Entry]) {
    let m = meta_mut(obj);
    if entries.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert(
            "managedFields".into(),
            crate::managedfields::encode(entries),
        );
    }
}

/// The registry over one store.
pub struct Registry {
    storage: Arc<dyn Storage>,
    clock: Clock,
    random: Random,
}

const MAX_RETRIES: usize = 16;

pub(crate) fn status_from_storage(def: &ResourceDef, name: &str, e: StorageError) -> StatusError {
    match e {
        StorageError::AlreadyExists(_) => StatusError::already_exists(&def.group_resource(), name),
        StorageError::NotFound(_) => StatusError::not_found(&def.group_resource(), name),
        StorageError::Conflict { .. } => {
            StatusError::conflict_modified(&def.group_resource(), name)
        }
        StorageError::Compacted {
            requested,
            compacted,
        } => StatusError::expired(format!(
            "too old resource version: {requested} ({})",
            compacted + 1
        )),
        StorageError::FutureRevision { requested, current } => {
            StatusError::too_large_resource_version(requested, current)
        }
        other => StatusError::internal(other),
    }
}

pub(crate) fn meta(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    obj.get("metadata")
        .and_then(Value::as_object)
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    meta(obj).get(field).and_then(Value::as_str).unwrap_or("")
}

pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    let o = obj.as_object_mut().expect("objects are JSON objects");
    let m = o.entry("metadata").or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut().expect("just made an object")
}

/// `metadata.labels` as a map, for selectors.
pub(crate) fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    meta(obj)
        .get("labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Parsed selectors of a list or watch.
pub(crate) struct Filter {
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    pub(crate) fn new(def: &ResourceDef, opts: &ListOptions) -> Result<Self, StatusError> {
        let labels = LabelSelector::parse(&opts.label_selector)
            .map_err(|e| StatusError::bad_request(e.to_string()))?;
        let mut known = vec!["metadata.name"];
        if def.namespaced {
            known.push("metadata.namespace");
        }
        known.extend_from_slice(def.strategy.field_labels());
        let fields = FieldSelector::parse(&opts.field_selector, &known)
            .map_err(|e| StatusError::bad_request(e.to_string()))?;
        Ok(Filter { labels, fields })
    }

    pub(crate) fn matches(&self, def: &ResourceDef, obj: &Value) -> bool {
        (self.labels.is_empty() || self.labels.matches(&labels_of(obj)))
            && (self.fields.is_empty()
                || self.fields.matches(&|f: &str| match f {
                    "metadata.name" => meta_str(obj, "name").to_string(),
                    "metadata.namespace" => meta_str(obj, "namespace").to_string(),
                    other => def.strategy.field_value(obj, other),
                }))
    }
}

impl Registry {
    pub fn new(storage: Arc<dyn Storage>, clock: Clock) -> Self {
        Registry {
            storage,
            clock,
            random: os_random(),
        }
    }

    /// The same registry with another source of randomness.
    pub fn with_random(mut self, random: Random) -> Self {
        self.random = random;
        self
    }

    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }

    /// Random bytes from the injected generator.
    pub fn random_bytes<const N: usize>(&self) -> [u8; N] {
        let mut b = [0u8; N];
        (self.random)(&mut b);
        b
    }

    /// A number in `0..n` from the injected generator (n > 0; the bias of taking a 64-bit
    /// value modulo a small n is negligible for names and jitter).
    pub fn random_below(&self, n: u64) -> u64 {
        u64::from_le_bytes(self.random_bytes()) % n.max(1)
    }

    /// The 5 characters `generateName` and generated Secret names end with
    /// (`names.SimpleNameGenerator`, `utilrand.String(5)`).
    pub fn name_suffix(&self) -> String {
        (0..5)
            .map(|_| {
                let i = self.random_below(NAME_ALPHABET.len() as u64);
                char::from(NAME_ALPHABET[usize::try_from(i).unwrap_or(0)])
            })
            .collect()
    }

    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// `/registry/<group>/<resource>/` (core resources have no group segment).
    pub(crate) fn prefix(def: &ResourceDef, ns: Option<&str>) -> String {
        let mut p = String::from("/registry/");
        if !def.group.is_empty() {
            p.push_str(def.group);
            p.push('/');
        }
        p.push_str(def.resource);
        p.push('/');
        if let (true, Some(ns)) = (def.namespaced, ns) {
            p.push_str(ns);
            p.push('/');
        }
        p
    }

    pub(crate) fn key(def: &ResourceDef, ns: &str, name: &str) -> String {
        format!("{}{name}", Self::prefix(def, Some(ns)))
    }

    pub(crate) fn decode(def: &ResourceDef, kv: &KeyValue) -> Result<Value, StatusError> {
        let mut obj: Value = serde_json::from_slice(&kv.value).map_err(|e| {
            StatusError::internal(format!(
                "stored {} {} is not JSON: {e}",
                def.resource, kv.key
            ))
        })?;
        meta_mut(&mut obj).insert("resourceVersion".into(), kv.mod_revision.to_string().into());
        Ok(obj)
    }

    /// Go's `omitempty`: the empty maps and lists a patch can leave behind (`labels: {}` after
    /// the last label is removed) are not part of the object upstream serves.
    fn drop_empty(obj: &mut Value) {
        let empty = |v: &Value| {
            v.as_object().is_some_and(|m| m.is_empty())
                || v.as_array().is_some_and(|a| a.is_empty())
                || v.is_null()
        };
        let m = meta_mut(obj);
        for f in [
            "labels",
            "annotations",
            "finalizers",
            "ownerReferences",
            "managedFields",
        ] {
            if m.get(f).is_some_and(empty) {
                m.remove(f);
            }
        }
        if let Some(o) = obj.as_object_mut() {
            for f in ["data", "binaryData", "stringData"] {
                if o.get(f).is_some_and(empty) {
                    o.remove(f);
                }
            }
        }
    }

    fn encode(obj: &Value) -> Vec<u8> {
        let mut stored = obj.clone();
        meta_mut(&mut stored).remove("resourceVersion");
        serde_json::to_vec(&stored).expect("JSON values always serialize")
    }

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
        let unknown = def.strategy.check_schema(body).map_err(|e| {
            StatusError::bad_request(format!(
                "{} in version \"{version}\" cannot be handled as a {}: {e}",
                def.kind, def.kind
            ))
        })?;
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
    fn validate_meta(def: &ResourceDef, obj: &Value, errs: &mut FieldErrors) {
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

    fn invalid(def: &ResourceDef, obj: &Value, errs: FieldErrors) -> StatusError {
        StatusError::invalid(
            def.group,
            &def.qualified_kind(),
            def.kind,
            meta_str(obj, "name"),
            errs.0,
        )
    }

    fn check_namespace(def: &ResourceDef, ns: &str, obj: &mut Value) -> Result<(), StatusError> {
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
        // NamespaceLifecycle is mutating-phase admission upstream: it answers before validation.
        if def.namespaced {
            let ns_obj = self.get_namespace(ns)?;
            admission::namespace_allows_create(def, meta_str(&body, "name"), ns, ns_obj.as_ref())?;
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
        // A v4 UUID from the thread-local generator: no getrandom syscall per object.
        let uid = uuid::Builder::from_random_bytes(self.random_bytes()).into_uuid();
        m.insert("uid".into(), uid.to_string().into());
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
        let name = meta_str(&body, "name").to_string();
        if opts.dry_run {
            return Ok(Written {
                object: body,
                warnings,
                created: true,
            });
        }
        let kv = self
            .storage
            .create(&Self::key(def, ns, &name), Self::encode(&body))
            .map_err(|e| status_from_storage(def, &name, e))?;
        meta_mut(&mut body).insert("resourceVersion".into(), kv.mod_revision.to_string().into());
        Ok(Written {
            object: body,
            warnings,
            created: true,
        })
    }

    pub(crate) fn get_namespace(&self, ns: &str) -> Result<Option<Value>, StatusError> {
        let def = &crate::kinds::NAMESPACES;
        match self
            .storage
            .get(&Self::key(def, "", ns))
            .map_err(|e| status_from_storage(def, ns, e))?
        {
            Some(kv) => Ok(Some(Self::decode(def, &kv)?)),
            None => Ok(None),
        }
    }

    fn get_kv(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<KeyValue, StatusError> {
        self.storage
            .get(&Self::key(def, ns, name))
            .map_err(|e| status_from_storage(def, name, e))?
            .ok_or_else(|| StatusError::not_found(&def.group_resource(), name))
    }

    /// GET one object.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Value, StatusError> {
        Self::decode(def, &self.get_kv(def, ns, name)?)
    }

    /// The revision a list or watch option names, or None for "current". A "not older than"
    /// revision the store has not reached is upstream's 504 (`waitUntilFreshAndBlock`, which
    /// gives up after 3 s; here the store is the cache, so nothing would arrive by waiting).
    fn list_revision(&self, opts: &ListOptions) -> Result<Option<Revision>, StatusError> {
        let Some(n) = parse_resource_version(&opts.resource_version)? else {
            return Ok(None);
        };
        // Only an Exact match reads the past; NotOlderThan is served from the present.
        if opts.resource_version_match == "Exact" {
            return Ok(Some(n));
        }
        self.not_older_than(n)?;
        Ok(None)
    }

    /// Fails with upstream's 504 when `rv` is newer than the store.
    pub fn not_older_than(&self, rv: Revision) -> Result<(), StatusError> {
        let current = self
            .storage
            .current_revision()
            .map_err(StatusError::internal)?;
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
        let (mut revision, mut start) = (self.list_revision(opts)?, None);
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
        loop {
            let page = self
                .storage
                .list(&prefix, &storage::ListOptions { start_after: start.as_deref(), limit: batch, revision: revision.or(list_rv) })
                .map_err(|e| match e {
                    StorageError::Compacted { .. } if !opts.continue_token.is_empty() => StatusError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.",
                    ),
                    e => status_from_storage(def, "", e),
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
        })
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
        let body_rv = meta_str(&body, "resourceVersion").to_string();
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
                    Ok(_) => Ok(Written {
                        object: new,
                        warnings: vec![],
                        created: false,
                    }),
                    Err(StorageError::Conflict { .. })
                        if body_rv.is_empty() && attempt < MAX_RETRIES =>
                    {
                        continue
                    }
                    Err(e) => Err(status_from_storage(def, name, e)),
                };
            }
            let bytes = Self::encode(&new);
            if bytes == cur.value {
                // No change: no write, no new resourceVersion (upstream's GuaranteedUpdate).
                return Ok(Written {
                    object: old,
                    warnings: vec![],
                    created: false,
                });
            }
            match self.storage.update(&key, cur.mod_revision, bytes) {
                Ok(kv) => {
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
                    continue
                }
                Err(e) => return Err(status_from_storage(def, name, e)),
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
            let mut patched = crate::store::apply_patch(old.clone(), patch_type, &patch_value)?;
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

    /// DELETE. Objects with finalizers get a deletionTimestamp and stay until they are gone.
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, StatusError> {
        admission::namespace_allows_delete(def, name)?;
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
                if opts.dry_run {
                    return Ok(Deleted {
                        object: obj,
                        finished: false,
                    });
                }
                match self
                    .storage
                    .update(&key, cur.mod_revision, Self::encode(&obj))
                {
                    Ok(kv) => {
                        meta_mut(&mut obj)
                            .insert("resourceVersion".into(), kv.mod_revision.to_string().into());
                        return Ok(Deleted {
                            object: obj,
                            finished: false,
                        });
                    }
                    Err(StorageError::Conflict { .. }) => continue,
                    Err(e) => return Err(status_from_storage(def, name, e)),
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
                    return Ok(Deleted {
                        object: obj,
                        finished: true,
                    })
                }
                Err(StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(status_from_storage(def, name, e)),
            }
        }
        Err(StatusError::conflict_modified(&def.group_resource(), name))
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

    /// Creates the namespaces the control plane needs, if missing.
    pub fn ensure_namespaces(&self, names: &[&str]) -> Result<(), StatusError> {
        let def = &crate::kinds::NAMESPACES;
        for n in names {
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
            crate::smp::apply(&mut doc, patch, &kind)
                .map_err(|e| StatusError::bad_request(e.to_string()))?;
        }
    }
    if !doc.is_object() {
        return Err(unprocessable("the patch did not produce an object".into()));
    }
    Ok(doc)
}
