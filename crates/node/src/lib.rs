//! The node agent: what a kubelet does through the API, as a client of it. It acts as
//! `system:node:<name>` in `system:nodes`, authorized by the Node authorizer and limited by
//! NodeRestriction like any kubelet, never as `system:masters`:
//!
//! - registers its Node (labels, addresses, capacity, conditions, `nodeInfo`) and reports its
//!   status every [`STATUS_REPORT`];
//! - renews its heartbeat Lease in `kube-node-lease` every [`LEASE_RENEW`] (a quarter of the
//!   lease's 40 s, as the kubelet);
//! - follows the pods bound to it (`spec.nodeName=<name>`, the only list the Node authorizer
//!   allows) on the controller runtime: reports their status through `pods/status`, and when
//!   one is deleted, removes it (grace 0, UID precondition) once its grace period is over.
//!
//! Beside it runs the binder, kube-scheduler's last step alone, as `system:kube-scheduler`:
//! each pod without a node and with the default scheduler is bound to this node through
//! `pods/binding`. A pod naming another node stays Pending.
//!
//! Modes: `fake` (kwok's job: pods run at once, no process starts) and `process` (each pod a
//! sandbox of Linux namespaces with its containers as processes: [`process`]).

// Every public item says what it is: these crates are read as libraries by the others.
#![warn(missing_docs)]

pub mod process;
pub mod status;

pub use status::HostFacts;

use api_types::{format_rfc3339, StatusError, UserInfo};
use controllers::manager::Connect;
use controllers::runtime::{reconcile, Action, AlwaysLeader, Controller, Key, Watch};
use registry::{kinds, Client, DeleteOptions};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// How often the heartbeat Lease is renewed.
pub const LEASE_RENEW: Duration = Duration::from_secs(10);
/// How often the Node's status is reported when nothing changed (`nodeStatusReportFrequency`).
pub const STATUS_REPORT: Duration = Duration::from_secs(300);

/// What the agent does with the pods bound to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Pods are reported running at once and no process starts (kwok's stages).
    Fake,
    /// Pods run as processes in sandboxes of their own (needs root on Linux).
    Process,
}

/// A node's user: `system:node:<name>` in `system:nodes`.
pub fn node_user(name: &str) -> UserInfo {
    UserInfo::authenticated(&format!("system:node:{name}"), &["system:nodes"])
}

/// kube-scheduler's user, which the binder acts as.
pub fn scheduler_user() -> UserInfo {
    UserInfo::authenticated("system:kube-scheduler", &[])
}

/// What the agent needs.
pub struct NodeAgent {
    /// The Node's name (`--node-name`).
    pub name: String,
    /// The mode.
    pub mode: Mode,
    /// The address pods and the Node report (the host's: pods share its network).
    pub host_ip: String,
    /// Clients by identity (the server's in-process client).
    pub connect: Connect,
    /// The time.
    pub clock: registry::Clock,
    /// What the Node reports of the host.
    pub facts: HostFacts,
    /// Where pods live (`DATA_DIR/pods`), for the process mode.
    pub pods_dir: std::path::PathBuf,
    /// The kubeward binary, whose sandbox entry points run the pods.
    pub exe: std::path::PathBuf,
    /// Where pods reach the API server.
    pub api: process::env::ApiEndpoint,
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

struct Shared {
    name: String,
    mode: Mode,
    host_ip: String,
    node: Arc<dyn Client>,
    clock: registry::Clock,
    facts: HostFacts,
    runtime: Option<Arc<process::ProcessRuntime>>,
}

impl Shared {
    fn now(&self) -> String {
        format_rfc3339((self.clock)())
    }

    /// `metav1.MicroTime`, as Leases carry it.
    fn now_micro(&self) -> String {
        api_types::format_micro_time((self.clock)())
    }

    /// Creates the Node if it is missing, then writes its status; returns its UID.
    async fn register(&self) -> Result<String, StatusError> {
        let def = &kinds::NODES;
        let mut current = match self.node.get(def, "", &self.name).await {
            Ok(n) => n,
            Err(e) if e.code == 404 => {
                let n = status::node(&self.name, &self.host_ip, &self.facts, &self.now());
                match self.node.create(def, "", n).await {
                    Ok(n) => n,
                    Err(e) if e.code == 409 => self.node.get(def, "", &self.name).await?,
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        current["status"] = status::node_status(
            &self.name,
            &self.host_ip,
            &self.facts,
            &self.now(),
            current.get("status"),
        );
        let written = self
            .node
            .update(def, "", &self.name, current, Some("status"))
            .await?;
        Ok(text(&written, "/metadata/uid").to_string())
    }

    /// Renews the heartbeat Lease, creating it when missing.
    async fn renew_lease(&self, node_uid: &str) -> Result<(), StatusError> {
        let def = &kinds::LEASES;
        let ns = "kube-node-lease";
        match self.node.get(def, ns, &self.name).await {
            Ok(mut l) => {
                l["spec"]["renewTime"] = self.now_micro().into();
                l["spec"]["holderIdentity"] = self.name.clone().into();
                l["spec"]["leaseDurationSeconds"] = status::LEASE_DURATION_SECONDS.into();
                self.node.update(def, ns, &self.name, l, None).await?;
            }
            Err(e) if e.code == 404 => {
                let l = status::lease(&self.name, node_uid, &self.now_micro());
                self.node.create(def, ns, l).await?;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// A pod bound to this node, read as a kubelet's informer reads it: a list selecting
    /// `spec.nodeName=<node>` (always authorized for the node), so a pod the watch just
    /// delivered is readable before the Node authorizer's graph has heard of its binding.
    /// 404 when it is gone or bound elsewhere.
    async fn own_pod(&self, ns: &str, name: &str) -> Result<Value, StatusError> {
        let opts = registry::ListOptions {
            field_selector: format!("metadata.name={name},spec.nodeName={}", self.name),
            ..Default::default()
        };
        let list = self.node.list(&kinds::PODS, Some(ns), &opts).await?;
        list.items
            .into_iter()
            .next()
            .ok_or_else(|| StatusError::not_found(&kinds::PODS.group_resource(), name))
    }

    /// One pod bound to this node made right.
    async fn reconcile_pod(&self, key: &Key) -> Result<Action, StatusError> {
        let def = &kinds::PODS;
        let pod = match self.own_pod(&key.namespace, &key.name).await {
            Ok(p) => p,
            Err(e) if e.code == 404 => {
                // Gone without the agent (a forced delete): its processes go now.
                if let Some(rt) = &self.runtime {
                    if let Some(uid) = rt.uid_of(&key.namespace, &key.name) {
                        if !rt.stop(&uid, Duration::ZERO) {
                            return Ok(Action::RequeueAfter(Duration::from_millis(100)));
                        }
                        rt.forget(&uid);
                    }
                }
                return Ok(Action::Done);
            }
            Err(e) => return Err(e),
        };
        if text(&pod, "/spec/nodeName") != self.name {
            return Ok(Action::Done);
        }
        if let Some(due) = pod
            .pointer("/metadata/deletionTimestamp")
            .and_then(Value::as_str)
        {
            let left = api_types::parse_rfc3339(due)
                .map(|t| t.duration_since((self.clock)()))
                .unwrap_or_default();
            if let Some(rt) = &self.runtime {
                // SIGTERM now; SIGKILL when the grace period is over; the object goes once
                // no process of the pod is left.
                let uid = text(&pod, "/metadata/uid").to_string();
                let grace = Duration::try_from(left).unwrap_or(Duration::ZERO);
                if !rt.stop(&uid, grace) {
                    return Ok(Action::RequeueAfter(Duration::from_millis(100)));
                }
                let opts = DeleteOptions {
                    grace_period_seconds: Some(0),
                    precondition_uid: Some(uid.clone()),
                    ..Default::default()
                };
                return match self
                    .node
                    .delete(def, &key.namespace, &key.name, &opts)
                    .await
                {
                    Ok(_) => {
                        rt.forget(&uid);
                        Ok(Action::Done)
                    }
                    Err(e) if e.code == 404 || e.code == 409 => {
                        rt.forget(&uid);
                        Ok(Action::Done)
                    }
                    Err(e) => Err(e),
                };
            }
            if left.is_positive() {
                let wait = Duration::try_from(left).unwrap_or(Duration::from_secs(1));
                return Ok(Action::RequeueAfter(wait));
            }
            // The processes are gone (none ran in fake mode): the object goes.
            let opts = DeleteOptions {
                grace_period_seconds: Some(0),
                precondition_uid: Some(text(&pod, "/metadata/uid").to_string()),
                ..Default::default()
            };
            return match self
                .node
                .delete(def, &key.namespace, &key.name, &opts)
                .await
            {
                Ok(_) => Ok(Action::Done),
                Err(e) if e.code == 404 || e.code == 409 => Ok(Action::Done),
                Err(e) => Err(e),
            };
        }
        match self.mode {
            Mode::Fake => {
                if text(&pod, "/status/phase") != "Pending" {
                    return Ok(Action::Done);
                }
                let mut running = pod.clone();
                running["status"] = status::running(&pod, &self.host_ip, &self.now());
                self.node
                    .update(def, &key.namespace, &key.name, running, Some("status"))
                    .await?;
                Ok(Action::Done)
            }
            Mode::Process => {
                if let Some(rt) = &self.runtime {
                    rt.ensure_running(&pod);
                }
                Ok(Action::Done)
            }
        }
    }
}

/// The binder's reconcile: a pod without a node, for the default scheduler, bound here.
async fn bind(scheduler: &dyn Client, node: &str, key: &Key) -> Result<Action, StatusError> {
    let def = &kinds::PODS;
    let pod = match scheduler.get(def, &key.namespace, &key.name).await {
        Ok(p) => p,
        Err(e) if e.code == 404 => return Ok(Action::Done),
        Err(e) => return Err(e),
    };
    let unbound = text(&pod, "/spec/nodeName").is_empty();
    let ours = matches!(text(&pod, "/spec/schedulerName"), "" | "default-scheduler");
    let deleting = pod
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null());
    if !unbound || !ours || deleting {
        return Ok(Action::Done);
    }
    let binding = json!({
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": key.name, "namespace": key.namespace, "uid": text(&pod, "/metadata/uid")},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    });
    match scheduler
        .create_subresource(def, &key.namespace, &key.name, "binding", binding)
        .await
    {
        Ok(_) => Ok(Action::Done),
        // Bound meanwhile, gated, or being deleted: the next change wakes it again.
        Err(e) if e.code == 409 || e.code == 404 => Ok(Action::Done),
        Err(e) => Err(e),
    }
}

impl NodeAgent {
    /// Registers the Node, then starts the heartbeat, the binder and the pod worker on
    /// tasks of their own. Returns once the Node is registered, with the process runtime in
    /// process mode (what the apiserver's logs and exec reach).
    pub async fn start(self) -> Result<Option<Arc<process::ProcessRuntime>>, StatusError> {
        let node = (self.connect)(node_user(&self.name));
        let scheduler = (self.connect)(scheduler_user());
        let shared = Arc::new(Shared {
            name: self.name.clone(),
            mode: self.mode,
            host_ip: self.host_ip.clone(),
            node: node.clone(),
            runtime: (self.mode == Mode::Process).then(|| {
                Arc::new(process::ProcessRuntime::new(
                    self.pods_dir.clone(),
                    self.exe.clone(),
                    self.api.clone(),
                    self.host_ip.clone(),
                    node.clone(),
                    self.name.clone(),
                    self.clock.clone(),
                ))
            }),
            clock: self.clock,
            facts: self.facts,
        });
        if shared.runtime.is_some() {
            // What a crashed server left has died with it (the sandboxes follow the server's
            // lifeline); a holder that outlived it anyway is killed by the pod UID its spec
            // path records, and its directories go too.
            for pid in process::leftover_holders(&self.pods_dir) {
                tracing::warn!(
                    pid,
                    "node agent: killing a pod sandbox an earlier server left"
                );
                process::kill(pid);
            }
            let _ = std::fs::remove_dir_all(&self.pods_dir);
            std::fs::create_dir_all(&self.pods_dir).map_err(|e| {
                StatusError::internal(format!("creating {}: {e}", self.pods_dir.display()))
            })?;
        }
        let uid = shared.register().await?;
        shared.renew_lease(&uid).await?;
        {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut since_status = Duration::ZERO;
                loop {
                    tokio::time::sleep(LEASE_RENEW).await;
                    if let Err(e) = shared.renew_lease(&uid).await {
                        tracing::warn!(error = %e.message, "node agent: renewing the node lease");
                    }
                    since_status += LEASE_RENEW;
                    if since_status >= STATUS_REPORT {
                        since_status = Duration::ZERO;
                        if let Err(e) = shared.register().await {
                            tracing::warn!(error = %e.message, "node agent: reporting node status");
                        }
                    }
                }
            });
        }
        let elector = Arc::new(AlwaysLeader);
        let binder = {
            let (scheduler, name) = (scheduler.clone(), self.name.clone());
            Controller {
                name: "binder",
                watches: vec![Watch::objects(&kinds::PODS).selecting("spec.nodeName=")],
                reconcile: reconcile(move |k| {
                    let (scheduler, name) = (scheduler.clone(), name.clone());
                    async move { bind(scheduler.as_ref(), &name, &k).await }
                }),
            }
        };
        tokio::spawn(binder.run(scheduler, elector.clone()));
        let pods = {
            let shared = shared.clone();
            Controller {
                name: "node-agent",
                watches: vec![
                    Watch::objects(&kinds::PODS).selecting(&format!("spec.nodeName={}", self.name))
                ],
                reconcile: reconcile(move |k| {
                    let shared = shared.clone();
                    async move { shared.reconcile_pod(&k).await }
                }),
            }
        };
        tokio::spawn(pods.run(node, elector));
        Ok(shared.runtime.clone())
    }
}
