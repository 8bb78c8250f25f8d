//! The informer's reflector (client-go `tools/cache/reflector.go`): list, then watch from the
//! list's resourceVersion, keeping what it has seen in a local store; when the watch ends (its
//! timeout, 410 for a compacted revision, a consumer too slow), list again and tell the sink
//! what changed meanwhile, deletions included, then watch on. Every cache fed from the API
//! (the RBAC index, the token object cache, the controllers' queues) follows a resource this
//! one way.

use crate::client::{Client, WatchRequest};
use crate::resource::ResourceDef;
use crate::store::ListOptions;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What the sink is told.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change<'a> {
    /// The object was added or changed.
    Applied(&'a Value),
    /// The object is gone: the watch's last state of it, or, when a re-list found it gone,
    /// the metadata the store kept.
    Deleted(&'a Value),
}

impl<'a> Change<'a> {
    /// The object added, changed or deleted.
    pub fn object(self) -> &'a Value {
        match self {
            Change::Applied(o) | Change::Deleted(o) => o,
        }
    }
}

/// How long one watch runs before it is renewed (a watch ends at the server's timeout too).
const WATCH_FOR: Duration = Duration::from_secs(3600);
/// A failed list is retried after this long.
const RELIST_AFTER_FAILURE: Duration = Duration::from_secs(1);

type ObjectKey = (String, String);

/// Where an informer reports changes.
pub type Sink<'s> = dyn FnMut(Change<'_>) + Send + 's;

fn field<'a>(obj: &'a Value, f: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(f))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// What the store keeps of an object: its metadata without `managedFields` (client-go's
/// metadata-only store). Enough to diff a re-list (uid, resourceVersion) and to tell a sink
/// which object a re-list found deleted, at a fraction of the object's size.
fn slim(obj: &Value) -> Value {
    let mut meta = obj.get("metadata").cloned().unwrap_or(Value::Null);
    if let Some(m) = meta.as_object_mut() {
        m.remove("managedFields");
    }
    serde_json::json!({ "metadata": meta })
}

fn key_of(obj: &Value) -> ObjectKey {
    (
        field(obj, "namespace").to_string(),
        field(obj, "name").to_string(),
    )
}

/// One resource followed from the API into a local store of its objects' metadata.
pub struct Informer {
    def: &'static ResourceDef,
    field_selector: String,
    store: BTreeMap<ObjectKey, Value>,
    resource_version: String,
}

impl Informer {
    /// An informer of every object of `def` matching `field_selector` ("" for all).
    pub fn new(def: &'static ResourceDef, field_selector: impl Into<String>) -> Self {
        Informer {
            def,
            field_selector: field_selector.into(),
            store: BTreeMap::new(),
            resource_version: String::new(),
        }
    }

    /// The resource followed.
    pub fn def(&self) -> &'static ResourceDef {
        self.def
    }

    /// The objects seen so far, as metadata only (`{"metadata": ...}`).
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.store.values()
    }

    /// Lists into the store, telling the sink every change from what it held: everything at
    /// the first list; afterwards what was added, changed or deleted while not watching. An
    /// object re-created under its name (another uid) is a deletion, then an addition.
    pub async fn list(
        &mut self,
        client: &dyn Client,
        sink: &mut Sink<'_>,
    ) -> Result<(), crate::StatusError> {
        let opts = ListOptions {
            field_selector: self.field_selector.clone(),
            ..Default::default()
        };
        let list = client.list(self.def, None, &opts).await?;
        let fresh: BTreeMap<ObjectKey, Value> =
            list.items.into_iter().map(|o| (key_of(&o), o)).collect();
        // Deletions are told with the stored metadata; additions and changes with the object.
        for (k, old) in &self.store {
            match fresh.get(k) {
                None => sink(Change::Deleted(old)),
                Some(new) if field(new, "uid") != field(old, "uid") => sink(Change::Deleted(old)),
                Some(_) => {}
            }
        }
        for (k, new) in &fresh {
            let unchanged = self
                .store
                .get(k)
                .is_some_and(|old| field(old, "resourceVersion") == field(new, "resourceVersion"));
            if !unchanged {
                sink(Change::Applied(new));
            }
        }
        self.store = fresh.iter().map(|(k, o)| (k.clone(), slim(o))).collect();
        self.resource_version = list.resource_version;
        Ok(())
    }

    /// Follows the resource for ever: a watch from the last resourceVersion seen, then a
    /// re-list whenever it ends. Lists first if [`Informer::list`] has not been called.
    pub async fn run(mut self, client: Arc<dyn Client>, mut sink: impl FnMut(Change<'_>) + Send) {
        loop {
            if self.resource_version.is_empty() {
                if let Err(e) = self.list(client.as_ref(), &mut sink).await {
                    tracing::warn!(resource = self.def.resource, error = %e, "list failed; retrying");
                    tokio::time::sleep(RELIST_AFTER_FAILURE).await;
                    continue;
                }
            }
            self.watch(client.as_ref(), &mut sink).await;
            // The watch ended: what happened since comes from a fresh list.
            self.resource_version.clear();
        }
    }

    async fn watch(&mut self, client: &dyn Client, sink: &mut Sink<'_>) {
        let opts = WatchRequest {
            resource_version: self.resource_version.clone(),
            field_selector: self.field_selector.clone(),
            timeout: WATCH_FOR,
            ..Default::default()
        };
        let mut events = match client.watch(self.def, None, opts).await {
            Ok(rx) => rx,
            Err(e) => {
                tracing::warn!(resource = self.def.resource, error = %e, "watch failed; re-listing");
                // A watch that cannot start would otherwise re-list in a tight loop.
                tokio::time::sleep(RELIST_AFTER_FAILURE).await;
                return;
            }
        };
        while let Some(ev) = events.recv().await {
            if ev.type_ == "ERROR" {
                return;
            }
            let rv = field(&ev.object, "resourceVersion");
            if !rv.is_empty() {
                self.resource_version = rv.to_string();
            }
            match ev.type_ {
                "BOOKMARK" => {}
                "DELETED" => {
                    self.store.remove(&key_of(&ev.object));
                    sink(Change::Deleted(&ev.object));
                }
                _ => {
                    sink(Change::Applied(&ev.object));
                    self.store.insert(key_of(&ev.object), slim(&ev.object));
                }
            }
        }
    }
}
