//! Create, get, list, update, patch and delete over [`Storage`], as upstream's generic store:
//! the shared types and helpers here, one file per verb beside.

mod create;
mod delete;
mod read;
pub(crate) mod services;
pub use services::ServiceRanges;
mod update;

pub(crate) use crate::meta::{labels_of, meta, meta_mut, meta_str};

pub use read::parse_resource_version;
pub(crate) use update::apply_patch;

use crate::paging;
use crate::resource::ResourceDef;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::validation::{self, FieldErrors};
use api_types::{format_rfc3339, StatusError};
use jiff::Timestamp;
use serde_json::{json, Value};
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
    /// Unknown and repeated fields are dropped silently.
    Ignore,
    /// Unknown and repeated fields are dropped with a warning each.
    Warn,
    #[default]
    /// Unknown and repeated fields fail the request (400).
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
    /// `dryRun=All`: everything but the write.
    pub dry_run: bool,
    /// `fieldValidation`.
    pub field_validation: FieldValidation,
    /// Validating admission, run on the final object.
    pub admission: Option<Admission>,
    /// Admission of a create, run where upstream's mutating admission meets a create inside
    /// the store (a POST, or an apply that creates): on the object as sent, before defaults
    /// and validation, with no current object (NamespaceLifecycle).
    pub create_admission: Option<Admission>,
    /// Who writes, for `managedFields` (`fieldManager`, else the user agent's product).
    pub field_manager: String,
    /// The object as the client sent it, when mutating admission has changed the body since:
    /// ownership is computed from this, as upstream's field manager runs before admission.
    pub before_admission: Option<Value>,
    /// Keys the body repeated, by path (the decoder kept the last): reported with unknown
    /// fields as `fieldValidation` says (Strict: 400; Warn: a warning each).
    pub duplicate_fields: Vec<String>,
    /// The version the request was made in ("" for the stored one): a patch applies to the
    /// object in that version's shape ([`crate::resource::Strategy::convert_to_version`]).
    pub version: String,
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
            .field("create_admission", &self.create_admission.is_some())
            .field("field_manager", &self.field_manager)
            .field("before_admission", &self.before_admission.is_some())
            .finish()
    }
}

/// Options of list, watch and deletecollection.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `labelSelector`.
    pub label_selector: String,
    /// `fieldSelector`.
    pub field_selector: String,
    /// `limit` (0: all).
    pub limit: usize,
    /// `continue`.
    pub continue_token: String,
    /// `resourceVersion`.
    pub resource_version: String,
    /// `resourceVersionMatch`.
    pub resource_version_match: String,
}

/// Options of delete (`metav1.DeleteOptions`).
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_resource_version: Option<String>,
    /// `gracePeriodSeconds`: for kinds that delete gracefully (pods), how long the object
    /// stays with a deletionTimestamp before it goes (None: the kind's default).
    pub grace_period_seconds: Option<i64>,
}

/// A written object with the warnings to send as `Warning` headers.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object as stored (or as it would be, on a dry run).
    pub object: Value,
    /// Warnings for the response.
    pub warnings: Vec<String>,
    /// True when a create stored a new object (201), false for updates (200).
    pub created: bool,
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub struct Deleted {
    /// The object deleted, or marked for deletion.
    pub object: Value,
    /// False when finalizers keep the object (it now has a deletionTimestamp).
    pub finished: bool,
}

/// The encodings a list's items are kept in beside each object ([`Registry::list_encoded`]),
/// each a slot of the object's [`storage::Memo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Compact JSON in Go's field order.
    Json = 0,
    /// Kubernetes protobuf: the kind's message.
    Protobuf = 1,
}

/// One page of a list: of objects, or of their encodings ([`Registry::list_encoded`]).
#[derive(Debug, Clone)]
pub struct ListOut<T = Value> {
    /// The objects.
    pub items: Vec<T>,
    /// The revision the list was read at.
    pub resource_version: String,
    /// The token for the next page ("" on the last).
    pub continue_token: String,
    /// How many objects the following pages hold, when a page leaves some and the list has
    /// no selectors (upstream counts only then: the store cannot count what would match).
    pub remaining_item_count: Option<i64>,
}

/// Patch formats (`types.PatchType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 JSON patch.
    Json,
    /// RFC 7386 JSON merge patch.
    Merge,
    /// Strategic merge patch, with the list strategies of the served kinds.
    StrategicMerge,
    /// Server-side apply (`application/apply-patch+yaml`, the body already JSON); `force`
    /// takes fields from other managers.
    Apply {
        /// `force=true`.
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
pub(crate) fn set_managed(obj: &mut Value, entries: &[managedfields::Entry]) {
    let m = meta_mut(obj);
    if entries.is_empty() {
        m.remove("managedFields");
    } else {
        m.insert("managedFields".into(), managedfields::encode(entries));
    }
}

/// The registry over one store.
pub struct Registry {
    storage: Arc<dyn Storage>,
    clock: Clock,
    random: Random,
    service_ranges: ServiceRanges,
}

/// How often a write is recomputed after losing a compare-and-swap race (PUT without a
/// resourceVersion, PATCH, apply) before the conflict is the client's.
pub(crate) const MAX_RETRIES: usize = 16;

/// A storage error as the API answers it (`storage/errors/storage.go`'s `Interpret*Error`);
/// `operation` names the verb in the message of a transient fault.
pub(crate) fn status_from_storage(
    def: &ResourceDef,
    operation: &str,
    name: &str,
    e: StorageError,
) -> StatusError {
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
        StorageError::Unavailable(why) => {
            StatusError::server_timeout(&def.group_resource(), operation, &why)
        }
        other => StatusError::internal(other),
    }
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

    /// True when the filter lets every object through.
    pub(crate) fn is_everything(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
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
    /// A registry over `storage`, reading time from `clock`.
    pub fn new(storage: Arc<dyn Storage>, clock: Clock) -> Self {
        Registry {
            storage,
            clock,
            random: os_random(),
            service_ranges: ServiceRanges::default(),
        }
    }

    /// The same registry giving Services addresses from `ranges`.
    pub fn with_service_ranges(mut self, ranges: ServiceRanges) -> Self {
        self.service_ranges = ranges;
        self
    }

    /// The ranges Services take addresses from.
    pub fn service_ranges(&self) -> ServiceRanges {
        self.service_ranges
    }

    /// The same registry with another source of randomness.
    pub fn with_random(mut self, random: Random) -> Self {
        self.random = random;
        self
    }

    /// The current time, from the injected clock.
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

    /// A v4 UUID from the injected generator (an object's uid; no getrandom syscall each).
    pub fn new_uid(&self) -> String {
        uuid::Builder::from_random_bytes(self.random_bytes())
            .into_uuid()
            .to_string()
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

    /// The storage underneath (for the compactor and benchmarks).
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// How many objects of each stored kind there are, by group-resource (`secrets`,
    /// `roles.rbac.authorization.k8s.io`), as `apiserver_storage_objects` reports them. A kind
    /// the store cannot count now is left out.
    pub fn stored_counts(&self) -> Vec<(String, u64)> {
        crate::resources()
            .iter()
            .filter(|d| d.verbs.contains(&"get"))
            .filter_map(|d| {
                let n = self.storage.count(&Self::prefix(d, None)).ok()?;
                Some((crate::keys::group_resource(d.group, d.resource), n))
            })
            .collect()
    }

    /// The watch cache's work per group-resource, as `stored_counts` names them:
    /// (group-resource, initializations, store watches opened).
    pub fn watch_cache_stats(&self) -> Vec<(String, u64, u64)> {
        self.storage
            .cache_stats()
            .into_iter()
            .map(|c| {
                let resource = crate::keys::group_resource_of_key(&c.prefix);
                (resource, c.initializations, c.store_watches)
            })
            .collect()
    }

    /// The prefix of a kind's keys ([`crate::keys::prefix`]).
    pub(crate) fn prefix(def: &ResourceDef, ns: Option<&str>) -> String {
        crate::keys::prefix(def, ns)
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
}
