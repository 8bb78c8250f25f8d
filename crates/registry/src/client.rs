//! The API as a client sees it: the verbs of the HTTP API, over plain values, for callers
//! inside the process (controllers, informers, the apiserver's own start-up work, tests).
//!
//! The registry does not implement it: a client has an identity, and only the server knows
//! how a request by someone is authenticated, authorized and admitted. The server's
//! in-process client sends each call through its whole handler chain as that identity, so a
//! controller can do exactly what its RBAC roles allow, no more (client-go's `Interface`,
//! kube-controller-manager's `--use-service-account-credentials`).

use crate::resource::ResourceDef;
use crate::store::{DeleteOptions, ListOptions, ListOut, PatchType};
use crate::watch::WatchEvent;
use api_types::StatusError;
use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use tokio::sync::mpsc;

/// A future a client returns: boxed, so the trait can be used as `dyn Client`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a watch asks for, as the query of a watch request says it.
#[derive(Debug, Clone, Default)]
pub struct WatchRequest {
    /// `fieldSelector`.
    pub field_selector: String,
    /// `labelSelector`.
    pub label_selector: String,
    /// `resourceVersion`: the revision to watch from ("" or "0": from now, with the current
    /// objects as ADDED events first).
    pub resource_version: String,
    /// `timeoutSeconds`.
    pub timeout: Duration,
}

/// The API's verbs for one identity. Errors are the `Status` the server answered with.
pub trait Client: Send + Sync {
    /// GET one object.
    fn get<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, StatusError>>;

    /// GET one object as the watch cache holds it (`?resourceVersion=0`): what an informer's
    /// lister answers upstream, without a read of the store. Not older than any event the
    /// caller's own watch has delivered (the cache applies an event before it sends it).
    fn get_cached<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Value, StatusError>> {
        self.get(def, namespace, name)
    }

    /// LIST, in one namespace or (None) all of them.
    fn list<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: Option<&'a str>,
        opts: &'a ListOptions,
    ) -> BoxFuture<'a, Result<ListOut, StatusError>>;

    /// WATCH, with bookmarks: events until the timeout, the server's end or the receiver's
    /// drop; a failure after the start arrives as an `ERROR` event.
    fn watch<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: Option<&'a str>,
        opts: WatchRequest,
    ) -> BoxFuture<'a, Result<mpsc::Receiver<WatchEvent>, StatusError>>;

    /// POST a new object; returns it as stored.
    fn create<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        body: Value,
    ) -> BoxFuture<'a, Result<Value, StatusError>>;

    /// POST to a subresource of an object (`pods/<name>/binding`,
    /// `serviceaccounts/<name>/token`); returns what the server answered.
    fn create_subresource<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        subresource: &'a str,
        body: Value,
    ) -> BoxFuture<'a, Result<Value, StatusError>>;

    /// PUT an object, or one of its subresources (`status`, `finalize`); returns it as stored.
    fn update<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        body: Value,
        subresource: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, StatusError>>;

    /// PATCH an object or a subresource (JSON, merge, strategic merge, or server-side apply
    /// as the client's field manager); returns it as stored.
    fn patch<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        patch_type: PatchType,
        patch: Value,
        subresource: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Value, StatusError>>;

    /// DELETE one object; returns what the server answered (the object while finalizers
    /// keep it, else a success Status).
    fn delete<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        name: &'a str,
        opts: &'a DeleteOptions,
    ) -> BoxFuture<'a, Result<Value, StatusError>>;

    /// DELETE a collection in one namespace; returns the objects deleted or marked for
    /// deletion.
    fn delete_collection<'a>(
        &'a self,
        def: &'static ResourceDef,
        namespace: &'a str,
        opts: &'a ListOptions,
    ) -> BoxFuture<'a, Result<Vec<Value>, StatusError>>;
}
