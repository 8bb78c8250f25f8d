//! Field ownership (`metadata.managedFields`) and server-side apply, as upstream's
//! `k8s.io/apimachinery/pkg/util/managedfields` over `sigs.k8s.io/structured-merge-diff`.
//!
//! Every write records which manager set which fields: an update gives its manager the fields
//! it changed; an apply gives its manager exactly the fields of its configuration, merges that
//! configuration into the object, removes the fields it applied before and no other applier
//! holds, and refuses (409) to change a field another manager owns unless forced.
//!
//! Architecture invariant: plain functions over JSON values and the schema; the registry calls
//! them inside its write paths, and nothing here stores or knows who is asking.

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

pub mod fieldpath;
pub mod schema;
pub mod typed;

use crate::schema::{Schema, TypeId};
use fieldpath::{Path, PathElement, Set};
use serde_json::{json, Map, Value};
use typed::TypedError;

/// Why ownership could not be tracked or an apply failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedFieldsError {
    /// The object does not fit its schema (a keyed list item without its key, ...).
    #[error("failed to create typed patch object: {0}")]
    Typed(#[from] TypedError),
    /// The apply would change fields other managers own; (manager entry, path) pairs. Its
    /// text is upstream's conflict message (`internal.NewConflictError`).
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<(Entry, Path)>),
}

/// `Apply failed with 1 conflict: conflict with "m": .data.k`, or the multi-line form with
/// the paths grouped under each manager.
fn conflict_message(conflicts: &[(Entry, Path)]) -> String {
    if let [(e, p)] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            e.describe(),
            fieldpath::path_string(p)
        );
    }
    let mut lines = Vec::new();
    let mut last: Option<String> = None;
    for (e, p) in conflicts {
        let who = e.describe();
        if last.as_ref() != Some(&who) {
            lines.push(format!("conflicts with {who}:"));
            last = Some(who);
        }
        lines.push(format!("- {}", fieldpath::path_string(p)));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}

/// `metav1.ManagedFieldsOperationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Written by server-side apply.
    Apply,
    /// Written by create, update or a non-apply patch.
    Update,
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The field manager.
    pub manager: String,
    /// Apply or Update.
    pub operation: Operation,
    /// The API version the fields were written in.
    pub api_version: String,
    /// When (RFC 3339), absent when unknown.
    pub time: Option<String>,
    /// The subresource written ("" for the object).
    pub subresource: String,
    /// The fields owned.
    pub fields: Set,
}

impl Entry {
    /// The same manager (upstream's `BuildManagerIdentifier`: an update's API version is part
    /// of it, an apply's is not).
    fn same_manager(&self, other: &Entry) -> bool {
        self.manager == other.manager
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How a conflict names the manager: `"kubectl-client-side-apply" using v1`.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), self.manager.clone().into());
        m.insert(
            "operation".into(),
            match self.operation {
                Operation::Apply => "Apply",
                Operation::Update => "Update",
            }
            .into(),
        );
        m.insert("apiVersion".into(), self.api_version.clone().into());
        if let Some(t) = &self.time {
            m.insert("time".into(), t.clone().into());
        }
        m.insert("fieldsType".into(), "FieldsV1".into());
        m.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), self.subresource.clone().into());
        }
        Value::Object(m)
    }

    fn from_json(v: &Value) -> Option<Entry> {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let operation = match s("operation").as_str() {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            _ => return None,
        };
        if s("fieldsType") != "FieldsV1" {
            return None;
        }
        Some(Entry {
            manager: s("manager"),
            operation,
            api_version: s("apiVersion"),
            time: v.get("time").and_then(Value::as_str).map(str::to_string),
            subresource: s("subresource"),
            fields: Set::from_fields_v1(v.get("fieldsV1")?)?,
        })
    }
}

/// The entries of an object, or None when they do not decode (upstream then falls back to the
/// live object's).
pub fn decode(obj: &Value) -> Option<Vec<Entry>> {
    match obj.pointer("/metadata/managedFields") {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Array(items)) => items.iter().map(Entry::from_json).collect(),
        Some(_) => None,
    }
}

/// True for `managedFields: [{}]`, the request that clears ownership (`isResetManagedFields`).
pub fn is_reset(obj: &Value) -> bool {
    matches!(obj.pointer("/metadata/managedFields"), Some(Value::Array(a))
        if a.len() == 1 && a[0].as_object().is_some_and(Map::is_empty))
}

/// Entries in upstream's order: applies first, then by time, manager, version, subresource.
pub fn encode(entries: &[Entry]) -> Value {
    let mut sorted: Vec<&Entry> = entries.iter().filter(|e| !e.fields.is_empty()).collect();
    sorted.sort_by(|a, b| {
        (
            a.operation,
            &a.time,
            &a.manager,
            &a.api_version,
            &a.subresource,
        )
            .cmp(&(
                b.operation,
                &b.time,
                &b.manager,
                &b.api_version,
                &b.subresource,
            ))
    });
    Value::Array(sorted.into_iter().map(Entry::to_json).collect())
}

/// Fields nobody owns: identity and system metadata (`stripmeta.go`).
fn strip(set: &Set) -> Set {
    static SYSTEM: std::sync::OnceLock<Set> = std::sync::OnceLock::new();
    let system = SYSTEM.get_or_init(|| {
        let mut meta = Set::default();
        let f = |s: &str| PathElement::Field(s.into());
        meta.insert(&[f("apiVersion")]);
        meta.insert(&[f("kind")]);
        meta.insert(&[f("metadata")]);
        for m in [
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
        ] {
            meta.insert(&[f("metadata"), f(m)]);
        }
        meta
    });
    set.difference(system)
}

/// What one write is: its kind's schema, the fields its endpoint may not own (`status` on the
/// main resource of kinds with a status subresource, as upstream's reset fields), and who.
pub struct Request<'a> {
    /// The served kinds' schemas.
    pub schema: &'a Schema,
    /// The written kind's type.
    pub ty: TypeId,
    /// Top-level fields this endpoint may not own.
    pub ignored: &'a [&'a str],
    /// Who writes.
    pub manager: &'a str,
    /// The API version of the request.
    pub api_version: &'a str,
    /// The subresource written ("" for the object).
    pub subresource: &'a str,
    /// The time of the write (RFC 3339).
    pub now: &'a str,
}

impl Request<'_> {
    fn filter(&self, mut set: Set) -> Set {
        for f in self.ignored {
            set.remove_subtree(&PathElement::Field((*f).into()));
        }
        strip(&set)
    }

    fn compare(&self, live: &Value, new: &Value) -> Result<typed::Comparison, TypedError> {
        let c = typed::compare(
            self.schema,
            self.ty,
            &without_managed(live),
            &without_managed(new),
        )?;
        Ok(typed::Comparison {
            added: self.filter(c.added),
            modified: self.filter(c.modified),
            removed: self.filter(c.removed),
        })
    }

    fn me(&self, operation: Operation) -> Entry {
        Entry {
            manager: self.manager.to_string(),
            operation,
            api_version: self.api_version.to_string(),
            time: Some(self.now.to_string()),
            subresource: self.subresource.to_string(),
            fields: Set::default(),
        }
    }

    /// Ownership after a create, update or patch from `live` to `new` (`Updater.Update` behind
    /// `managedFieldsUpdater`): other managers lose the fields this write changed or removed,
    /// and this manager gains the fields it changed, its time set when it gained any.
    pub fn update(
        &self,
        live: &Value,
        new: &Value,
        mut entries: Vec<Entry>,
    ) -> Result<Vec<Entry>, TypedError> {
        let c = self.compare(live, new)?;
        let changed = c.modified.union(&c.added);
        for e in &mut entries {
            e.fields = e.fields.difference(&changed).difference(&c.removed);
        }
        let me = self.me(Operation::Update);
        if !changed.is_empty() {
            match entries.iter_mut().find(|e| e.same_manager(&me)) {
                Some(e) => {
                    e.fields = e.fields.union(&changed);
                    e.time = me.time.clone();
                    e.api_version = me.api_version.clone();
                }
                None => entries.push(Entry {
                    fields: changed,
                    ..me
                }),
            }
        }
        entries.retain(|e| !e.fields.is_empty());
        Ok(cap_update_managers(entries))
    }

    /// Server-side apply of `config` to `live` (`Updater.Apply`): the merged object and the new
    /// ownership, or the conflicts with other managers when not forced.
    ///
    /// `owned` is the configuration as the client sent it when mutating admission has added to
    /// `config` since (a pod's token volume): the manager owns only what it sent.
    pub fn apply(
        &self,
        live: &Value,
        config: &Value,
        owned: Option<&Value>,
        mut entries: Vec<Entry>,
        force: bool,
    ) -> Result<(Value, Vec<Entry>), ManagedFieldsError> {
        let live = without_managed(live);
        let config = without_managed(config);
        let mut merged = typed::merge(self.schema, self.ty, &live, &config)?;
        let applied = self.field_set(owned.unwrap_or(&config))?;
        let me = self.me(Operation::Apply);
        let mine = entries.iter().position(|e| e.same_manager(&me));
        // Prune: what this manager applied (or took over) last time and no applier (itself
        // included, with this configuration) holds now goes.
        if let Some(last) = mine.map(|i| entries[i].fields.clone()) {
            let held = entries
                .iter()
                .enumerate()
                .filter(|(i, e)| Some(*i) != mine && e.operation == Operation::Apply)
                .fold(applied.clone(), |acc, (_, e)| acc.union(&e.fields));
            // Only fields the merged object sets on their own (leaves, map entries, list
            // items) are pruned: an updater's ownership of a whole map (`.`) removes nothing,
            // as upstream's add-back of owned items.
            let present = typed::to_field_set(self.schema, self.ty, &merged)?;
            let gone = last.difference(&held).intersection(&present);
            if !gone.is_empty() {
                merged = typed::remove_items(self.schema, self.ty, &merged, &gone);
            }
        }
        let c = self.compare(&live, &merged)?;
        let changed = c.modified.union(&c.added);
        let mut conflicts = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if Some(i) == mine {
                continue;
            }
            for p in e.fields.intersection(&changed).paths() {
                conflicts.push((e.clone(), p));
            }
        }
        if !conflicts.is_empty() && !force {
            conflicts.sort_by(|a, b| a.0.manager.cmp(&b.0.manager));
            return Err(ManagedFieldsError::Conflicts(conflicts));
        }
        for (i, e) in entries.iter_mut().enumerate() {
            if Some(i) != mine {
                e.fields = e.fields.difference(&changed).difference(&c.removed);
            }
        }
        let changed_object = merged != live;
        match mine {
            Some(i) => {
                let e = &mut entries[i];
                e.fields = applied;
                e.api_version = me.api_version.clone();
                if changed_object {
                    e.time = me.time.clone();
                }
            }
            None => entries.push(Entry {
                fields: applied,
                ..me
            }),
        }
        entries.retain(|e| !e.fields.is_empty());
        Ok((merged, cap_update_managers(entries)))
    }

    /// The fields of `config` this manager would own.
    pub fn field_set(&self, config: &Value) -> Result<Set, TypedError> {
        Ok(self.filter(typed::to_field_set(
            self.schema,
            self.ty,
            &without_managed(config),
        )?))
    }
}

/// At most this many update entries are kept (`DefaultMaxUpdateManagers`).
pub const MAX_UPDATE_MANAGERS: usize = 10;

/// Folds the oldest update entries into one `ancient-changes` entry per API version until at
/// most [`MAX_UPDATE_MANAGERS`] remain (upstream's `capManagersManager`): objects written by
/// many clients keep a bounded `managedFields`.
fn cap_update_managers(mut entries: Vec<Entry>) -> Vec<Entry> {
    let mut updaters: Vec<usize> = (0..entries.len())
        .filter(|i| entries[*i].operation == Operation::Update)
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return entries;
    }
    updaters.sort_by(|a, b| {
        let (a, b) = (&entries[*a], &entries[*b]);
        (&a.time, &a.manager).cmp(&(&b.time, &b.manager))
    });
    let mut remaining = updaters.len();
    let mut first_of_version: Vec<(String, usize)> = Vec::new();
    let mut gone = vec![false; entries.len()];
    for i in updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let version = entries[i].api_version.clone();
        match first_of_version.iter().find(|(v, _)| *v == version) {
            Some((_, bucket)) => {
                let bucket = *bucket;
                let fields = entries[i].fields.clone();
                let time = entries[i].time.clone();
                let b = &mut entries[bucket];
                b.manager = "ancient-changes".into();
                b.subresource = String::new();
                b.fields = b.fields.union(&fields);
                b.time = time;
                gone[i] = true;
                remaining -= 1;
            }
            None => first_of_version.push((version, i)),
        }
    }
    let mut i = 0;
    entries.retain(|_| {
        i += 1;
        !gone[i - 1]
    });
    entries
}

fn without_managed(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    v
}

/// The Go zero value of a kind as upstream serializes it (struct fields without `omitempty`
/// appear empty): the "before" of a create, so a new pod's manager owns `f:spec` children but
/// not `f:spec` itself, exactly as upstream's `Creater.New`.
pub fn zero_value(api_version: &str, kind: &str) -> Value {
    let mut v = match kind {
        "Pod" => json!({"spec": {"containers": null}, "status": {}}),
        "Namespace" | "Node" => json!({"spec": {}, "status": {}}),
        "Service" => json!({"spec": {}, "status": {"loadBalancer": {}}}),
        "Lease" => json!({"spec": {}}),
        "Role" | "ClusterRole" => json!({"rules": null}),
        "RoleBinding" | "ClusterRoleBinding" => {
            json!({"roleRef": {"apiGroup": "", "kind": "", "name": ""}})
        }
        "Event" => json!({"involvedObject": {}, "source": {}}),
        _ => json!({}),
    };
    v["metadata"] = json!({"creationTimestamp": null});
    v["apiVersion"] = api_version.into();
    v["kind"] = kind.into();
    v
}

#[cfg(test)]
mod tests;
