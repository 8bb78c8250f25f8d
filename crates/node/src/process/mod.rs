//! `--node-agent process`: each pod a sandbox of its own namespaces (the `sandbox` crate's
//! holder, PID 1 and enter helper, all the kubeward binary), its volumes materialised on the
//! sandbox's tmpfs by the atomic writer, its containers run as processes inside it, their
//! output in CRI log files, their lifecycle as the kubelet's (init containers in order,
//! restarts by `restartPolicy` with back-off, CrashLoopBackOff, exit codes), its projected
//! token refreshed before it expires, and deletion as SIGTERM, the grace period, SIGKILL.

pub mod env;
pub mod logs;
pub mod volumes;

use api_types::{format_rfc3339, StatusError};
use env::ApiEndpoint;
use registry::{kinds, Client};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;
use volumes::{Payload, VolumeError};

/// Where the agent's pods live and how they reach the API.
pub struct ProcessRuntime {
    /// `DATA_DIR/pods`: a directory per pod UID (its spec, logs, and the volumes' mount point).
    pub root: PathBuf,
    /// The kubeward binary (the sandbox's processes).
    pub exe: PathBuf,
    /// Where pods reach the API server.
    pub api: ApiEndpoint,
    /// The pods' (and host's) IP.
    pub host_ip: String,
    /// The node's client.
    pub client: Arc<dyn Client>,
    /// The node's name.
    pub node_name: String,
    /// The time.
    pub clock: registry::Clock,
    pods: Mutex<HashMap<String, Handle>>,
}

/// A running pod as the agent holds it.
struct Handle {
    /// Set to the grace period to stop the pod.
    stop: watch::Sender<Option<Duration>>,
    /// True once every process of the pod is gone.
    done: watch::Receiver<bool>,
    /// The sandbox's PID 1 (host PID), once known.
    sandbox: Arc<Mutex<Option<Sandbox>>>,
    /// The pod's namespace and name.
    key: (String, String),
    /// Each running container's enter helper (host PID) and run number.
    helpers: Helpers,
    /// What `kubectl attach` reaches of each running container.
    attach: Attachables,
}

type Helpers = Arc<Mutex<HashMap<String, (u32, i64)>>>;
type Attachables = Arc<Mutex<HashMap<String, Attachable>>>;

/// A container's standard input, shared by its attach sessions (None once closed).
pub type SharedStdin =
    Arc<tokio::sync::Mutex<Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>>>;

/// A running container's streams, for `kubectl attach` (and `kubectl run -it`).
#[derive(Clone)]
pub struct Attachable {
    /// Its output as it comes: (1 stdout | 2 stderr, bytes).
    pub output: tokio::sync::broadcast::Sender<(u8, bytes::Bytes)>,
    /// Its standard input, when the container has `stdin: true` (taken by `stdinOnce`).
    pub stdin: Option<SharedStdin>,
    /// Whether its standard input closes after the first attach (`stdinOnce`).
    pub stdin_once: bool,
    /// Its terminal, when it has `tty: true`.
    pub terminal: Option<Arc<std::fs::File>>,
    /// Becomes true when this run of the container ends.
    pub done: watch::Receiver<bool>,
}

/// What `exec` and `logs` need of a running pod.
#[derive(Clone)]
pub struct Sandbox {
    /// Host PID of the pod's PID 1.
    pub init_pid: u32,
    /// The pod's directory.
    pub dir: PathBuf,
    /// Each container's environment, user and working directory, as it was started.
    pub containers: HashMap<String, Launch>,
}

/// How a container's processes are started.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Environment.
    pub env: Vec<(String, String)>,
    /// `runAsUser`.
    pub uid: Option<u32>,
    /// `runAsGroup`.
    pub gid: Option<u32>,
    /// Unless `allowPrivilegeEscalation: true`.
    pub no_new_privs: bool,
    /// `workingDir`.
    pub cwd: Option<String>,
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// A container's state as the kubelet reports it.
#[derive(Clone, Debug, Default)]
struct CState {
    name: String,
    image: Value,
    restart_count: i64,
    state: Value,
    last_state: Value,
    ready: bool,
    started: bool,
}

impl CState {
    fn new(c: &Value) -> Self {
        CState {
            name: text(c, "/name").to_string(),
            image: c["image"].clone(),
            state: json!({"waiting": {"reason": "ContainerCreating"}}),
            last_state: json!({}),
            ..Default::default()
        }
    }
    fn to_json(&self, uid: &str) -> Value {
        json!({
            "containerID": format!("kubeward://{uid}/{}", self.name),
            "image": self.image,
            "imageID": "",
            "lastState": self.last_state,
            "name": self.name,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
        })
    }
}

/// What the pod's status is made from.
#[derive(Clone, Debug, Default)]
struct PState {
    init: Vec<CState>,
    containers: Vec<CState>,
    phase: &'static str,
    start_time: String,
    sandbox_ready: bool,
    initialized: bool,
    since: HashMap<&'static str, (bool, String)>,
}

impl PState {
    /// The pod's status (`generateAPIPodStatus`): phase, the five conditions, IPs, times,
    /// container statuses.
    fn status(&mut self, pod: &Value, host_ip: &str, now: &str) -> Value {
        let uid = text(pod, "/metadata/uid");
        let ready = !self.containers.is_empty() && self.containers.iter().all(|c| c.ready);
        let unready: Vec<&str> = self
            .containers
            .iter()
            .filter(|c| !c.ready)
            .map(|c| c.name.as_str())
            .collect();
        let pending_init: Vec<&str> = self
            .init
            .iter()
            .filter(|c| c.state.pointer("/terminated/exitCode") != Some(&json!(0)))
            .map(|c| c.name.as_str())
            .collect();
        let mut cond = |kind: &'static str, ok: bool, reason: &str, message: String| {
            let since = match self.since.get(kind) {
                Some((was, t)) if *was == ok => t.clone(),
                _ => {
                    self.since.insert(kind, (ok, now.to_string()));
                    now.to_string()
                }
            };
            let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" },
                               "lastProbeTime": null, "lastTransitionTime": since});
            if !ok && !reason.is_empty() {
                c["reason"] = reason.into();
                c["message"] = message.into();
            }
            c
        };
        let terminal = matches!(self.phase, "Succeeded" | "Failed");
        let reason = if terminal {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        let conditions = vec![
            cond(
                "PodReadyToStartContainers",
                self.sandbox_ready,
                "",
                String::new(),
            ),
            cond(
                "Initialized",
                self.initialized,
                "ContainersNotInitialized",
                format!(
                    "containers with incomplete status: [{}]",
                    pending_init.join(" ")
                ),
            ),
            cond(
                "Ready",
                ready,
                reason,
                format!("containers with unready status: [{}]", unready.join(" ")),
            ),
            cond(
                "ContainersReady",
                ready,
                reason,
                format!("containers with unready status: [{}]", unready.join(" ")),
            ),
        ];
        let scheduled = pod["status"]["conditions"]
            .as_array()
            .and_then(|l| l.iter().find(|c| c["type"] == "PodScheduled"))
            .cloned()
            .unwrap_or_else(|| json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        let mut conditions = conditions;
        conditions.push(scheduled);
        let mut s = json!({
            "phase": self.phase,
            "conditions": conditions,
            "hostIP": host_ip,
            "hostIPs": [{"ip": host_ip}],
            "podIP": host_ip,
            "podIPs": [{"ip": host_ip}],
            "startTime": self.start_time,
            "containerStatuses": self.containers.iter().map(|c| c.to_json(uid)).collect::<Vec<_>>(),
        });
        if !self.init.is_empty() {
            s["initContainerStatuses"] = self.init.iter().map(|c| c.to_json(uid)).collect();
        }
        if let Some(q) = pod["status"].get("qosClass") {
            s["qosClass"] = q.clone();
        }
        s
    }
}

/// The kubelet's restart back-off: 10 s doubling to 5 minutes; the first restart is at once.
fn backoff(restarts: i64) -> Duration {
    if restarts <= 0 {
        return Duration::ZERO;
    }
    let secs = 10u64.saturating_mul(1 << (restarts - 1).min(5));
    Duration::from_secs(secs.min(300))
}

/// Whether any container waits on `CreateContainerConfigError`.
fn config_error(state: &Mutex<PState>) -> bool {
    let s = state.lock().unwrap_or_else(|e| e.into_inner());
    s.init
        .iter()
        .chain(s.containers.iter())
        .any(|c| c.state.pointer("/waiting/reason") == Some(&json!("CreateContainerConfigError")))
}

/// The wait before the `attempt`-th retry of a pod whose volumes or environment could not
/// be made: 1, 2, 4, 8 s, then the kubelet's 10 s back-off period.
fn config_retry(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(4)).min(10))
}

/// Whether a container that exited with `code` runs again under `policy`.
fn restarts(policy: &str, code: i64) -> bool {
    match policy {
        "Always" => true,
        "OnFailure" => code != 0,
        _ => false,
    }
}

impl ProcessRuntime {
    /// A runtime with no pods.
    pub fn new(
        root: PathBuf,
        exe: PathBuf,
        api: ApiEndpoint,
        host_ip: String,
        client: Arc<dyn Client>,
        node_name: String,
        clock: registry::Clock,
    ) -> Self {
        ProcessRuntime {
            root,
            exe,
            api,
            host_ip,
            client,
            node_name,
            clock,
            pods: Mutex::new(HashMap::new()),
        }
    }

    fn now(&self) -> String {
        format_rfc3339((self.clock)())
    }

    /// What a running pod's exec and logs need (None when it does not run here).
    pub fn sandbox(&self, uid: &str) -> Option<Sandbox> {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let h = pods.get(uid)?;
        let s = h.sandbox.lock().unwrap_or_else(|e| e.into_inner()).clone();
        s
    }

    /// The directory of a pod (its logs stay after it ends).
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.root.join(uid)
    }

    /// Starts the pod unless it runs already.
    pub fn ensure_running(self: &Arc<Self>, pod: &Value) {
        let uid = text(pod, "/metadata/uid").to_string();
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        if pods.contains_key(&uid) {
            return;
        }
        let (stop_tx, stop_rx) = watch::channel(None);
        let (done_tx, done_rx) = watch::channel(false);
        let sandbox = Arc::new(Mutex::new(None));
        let helpers: Helpers = Arc::new(Mutex::new(HashMap::new()));
        let attach: Attachables = Arc::new(Mutex::new(HashMap::new()));
        pods.insert(
            uid,
            Handle {
                stop: stop_tx,
                done: done_rx,
                sandbox: sandbox.clone(),
                key: (
                    text(pod, "/metadata/namespace").to_string(),
                    text(pod, "/metadata/name").to_string(),
                ),
                helpers: helpers.clone(),
                attach: attach.clone(),
            },
        );
        let rt = self.clone();
        let pod = pod.clone();
        tokio::spawn(async move {
            rt.run_pod(pod, stop_rx, sandbox, helpers, attach).await;
            let _ = done_tx.send(true);
        });
    }

    /// Asks a pod to stop within `grace`; true once all its processes are gone (or it never
    /// ran here).
    pub fn stop(&self, uid: &str, grace: Duration) -> bool {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = pods.get(uid) else {
            return true;
        };
        if h.stop.borrow().is_none() {
            let _ = h.stop.send(Some(grace));
        }
        let done = *h.done.borrow();
        done
    }

    /// Whether run `run` of a container of the pod `uid` is still running (a log follower
    /// stops when it is not).
    pub fn running(&self, uid: &str, container: &str, run: i64) -> bool {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        pods.get(uid).is_some_and(|h| {
            h.helpers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(container)
                .is_some_and(|(_, r)| *r == run)
        })
    }

    /// Starts a command in a running container (`kubectl exec`): inside the pod's
    /// namespaces, with the container's environment, user and working directory; on a new
    /// pseudo-terminal when `tty`. The error is the kubelet's words for why not.
    pub fn exec(
        &self,
        uid: &str,
        container: &str,
        argv: &[String],
        tty: bool,
        stdin: bool,
    ) -> Result<Exec, String> {
        let sandbox = self
            .sandbox(uid)
            .ok_or_else(|| "the pod is not running on this node".to_string())?;
        let launch = sandbox
            .containers
            .get(container)
            .ok_or_else(|| format!("container not found ({container:?})"))?;
        if !self.running_any(uid, container) {
            return Err(format!("container not found ({container:?})"));
        }
        let enter = sandbox::Enter {
            target: sandbox.init_pid,
            uid: launch.uid,
            gid: launch.gid,
            no_new_privs: launch.no_new_privs,
            cwd: launch.cwd.clone(),
            tty,
            argv: argv.to_vec(),
        };
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.args(enter.to_args())
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true);
        if tty && !launch.env.iter().any(|(k, _)| k == "TERM") {
            // As container runtimes do for a terminal.
            cmd.env("TERM", "xterm");
        }
        if tty {
            let (master, slave) = pty().map_err(|e| format!("allocating a terminal: {e}"))?;
            let dup = |f: &std::fs::File| f.try_clone().map(std::process::Stdio::from);
            let (i, o, e) = (dup(&slave), dup(&slave), dup(&slave));
            let (Ok(i), Ok(o), Ok(e)) = (i, o, e) else {
                return Err("allocating a terminal".into());
            };
            cmd.stdin(i).stdout(o).stderr(e);
            let child = cmd.spawn().map_err(|e| e.to_string())?;
            drop(slave);
            return Ok(Exec {
                child,
                terminal: Some(master),
            });
        }
        cmd.stdin(if stdin {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().map_err(|e| e.to_string())?;
        Ok(Exec {
            child,
            terminal: None,
        })
    }

    /// A running container's streams, for `kubectl attach`.
    pub fn attachable(&self, uid: &str, container: &str) -> Result<Attachable, String> {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let h = pods
            .get(uid)
            .ok_or_else(|| "the pod is not running on this node".to_string())?;
        let found = h
            .attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(container)
            .cloned();
        found.ok_or_else(|| format!("container not found ({container:?})"))
    }

    fn running_any(&self, uid: &str, container: &str) -> bool {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        pods.get(uid).is_some_and(|h| {
            h.helpers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(container)
        })
    }

    /// The UID of the pod `ns/name` that runs here, if one does.
    pub fn uid_of(&self, ns: &str, name: &str) -> Option<String> {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        pods.iter()
            .find(|(_, h)| h.key == (ns.to_string(), name.to_string()))
            .map(|(uid, _)| uid.clone())
    }

    /// Forgets a pod whose object is gone, removing its directory.
    pub fn forget(&self, uid: &str) {
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        pods.remove(uid);
        let _ = std::fs::remove_dir_all(self.root.join(uid));
    }

    /// Writes the pod's status, on the latest copy of the object.
    async fn report(&self, ns: &str, name: &str, state: &Mutex<PState>) {
        let node = &self.node_name;
        for _ in 0..5 {
            let opts = registry::ListOptions {
                field_selector: format!("metadata.name={name},spec.nodeName={node}"),
                ..Default::default()
            };
            let pod = match self.client.list(&kinds::PODS, Some(ns), &opts).await {
                Ok(l) => match l.items.into_iter().next() {
                    Some(p) => p,
                    None => return,
                },
                Err(_) => return,
            };
            let mut pod2 = pod.clone();
            let status = {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                s.status(&pod, &self.host_ip, &self.now())
            };
            pod2["status"] = status;
            match self
                .client
                .update(&kinds::PODS, ns, name, pod2, Some("status"))
                .await
            {
                Ok(_) => return,
                Err(e) if e.code == 409 => continue,
                Err(e) => {
                    tracing::warn!(pod = name, error = %e.message, "node agent: reporting pod status");
                    return;
                }
            }
        }
    }

    /// Fetches an object the node may read (None when it is missing).
    async fn object(&self, kind: &str, ns: &str, name: &str) -> Result<Option<Value>, StatusError> {
        let def = if kind == "secret" {
            &kinds::SECRETS
        } else {
            &kinds::CONFIG_MAPS
        };
        match self.client.get(def, ns, name).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// A service-account token bound to the pod (TokenRequest as the node).
    async fn token(
        &self,
        pod: &Value,
        audience: &str,
        expiration: i64,
    ) -> Result<(String, i64), StatusError> {
        let ns = text(pod, "/metadata/namespace");
        let sa = match text(pod, "/spec/serviceAccountName") {
            "" => "default",
            s => s,
        };
        let audiences: Vec<&str> = if audience.is_empty() {
            vec![]
        } else {
            vec![audience]
        };
        let req = json!({"spec": {"audiences": audiences, "expirationSeconds": expiration,
                          "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                             "name": text(pod, "/metadata/name"), "uid": text(pod, "/metadata/uid")}}});
        let answer = self
            .client
            .create_subresource(&kinds::SERVICE_ACCOUNTS, ns, sa, "token", req)
            .await?;
        let exp = api_types::parse_rfc3339(text(&answer, "/status/expirationTimestamp"))
            .map_or(0, |t| t.as_second());
        Ok((text(&answer, "/status/token").to_string(), exp))
    }

    /// A secret's or config map's keys projected into `out` (`what`: "secret" or
    /// "configmap"; `name_field`: where the source names the object).
    async fn project(
        &self,
        what: &str,
        ns: &str,
        src: &Value,
        name_field: &str,
        mode: u32,
        out: &mut Payload,
    ) -> Result<(), VolumeError> {
        let name = text(src, name_field);
        let obj = self
            .object(what, ns, name)
            .await
            .map_err(|e| VolumeError::Missing(e.message))?;
        let optional = src
            .get("optional")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        volumes::project_keys(
            what,
            name,
            obj.as_ref().map(volumes::object_data).as_ref(),
            src["items"].as_array(),
            optional,
            mode,
            out,
        )
    }

    /// A volume's payload; for projected tokens also when it should be refreshed (Unix
    /// seconds).
    async fn payload(
        &self,
        pod: &Value,
        vol: &Value,
    ) -> Result<(Payload, Option<i64>), VolumeError> {
        let ns = text(pod, "/metadata/namespace");
        let name = text(vol, "/name");
        let mode_of = |v: &Value| {
            v.get("defaultMode")
                .and_then(Value::as_u64)
                .map_or(0o644, |m| m as u32)
        };
        let missing = |e: StatusError| VolumeError::Missing(e.message);
        let mut out = Payload::new();
        let mut refresh = None;
        if let Some(s) = vol.get("secret") {
            self.project("secret", ns, s, "/secretName", mode_of(s), &mut out)
                .await?;
        } else if let Some(c) = vol.get("configMap") {
            self.project("configmap", ns, c, "/name", mode_of(c), &mut out)
                .await?;
        } else if let Some(d) = vol.get("downwardAPI") {
            for it in d["items"].as_array().into_iter().flatten() {
                let f = text(it, "/fieldRef/fieldPath");
                let v = volumes::field_ref(pod, f, &self.host_ip)?;
                let m = it
                    .get("mode")
                    .and_then(Value::as_u64)
                    .map_or(mode_of(d), |m| m as u32);
                out.insert(text(it, "/path").to_string(), (v.into_bytes(), m));
            }
        } else if let Some(p) = vol.get("projected") {
            let mode = mode_of(p);
            for src in p["sources"].as_array().into_iter().flatten() {
                if let Some(t) = src.get("serviceAccountToken") {
                    let exp = t
                        .get("expirationSeconds")
                        .and_then(Value::as_i64)
                        .unwrap_or(3600);
                    let (token, expires) = self
                        .token(pod, text(t, "/audience"), exp)
                        .await
                        .map_err(missing)?;
                    // `requiresRefresh`: after 80% of its lifetime, or 24 hours, less a jitter
                    // of up to 10 s (here the pod's own, from its UID, so pods spread out).
                    let now = (self.clock)().as_second();
                    let ttl = (expires - now).max(0);
                    let jitter = refresh_jitter(text(pod, "/metadata/uid"));
                    refresh = Some(now + ((ttl * 8 / 10).min(24 * 3600) - jitter).max(1));
                    out.insert(text(t, "/path").to_string(), (token.into_bytes(), mode));
                } else if let Some(c) = src.get("configMap") {
                    self.project("configmap", ns, c, "/name", mode, &mut out)
                        .await?;
                } else if let Some(s) = src.get("secret") {
                    self.project("secret", ns, s, "/name", mode, &mut out)
                        .await?;
                } else if let Some(d) = src.get("downwardAPI") {
                    for it in d["items"].as_array().into_iter().flatten() {
                        let v = volumes::field_ref(
                            pod,
                            text(it, "/fieldRef/fieldPath"),
                            &self.host_ip,
                        )?;
                        out.insert(text(it, "/path").to_string(), (v.into_bytes(), mode));
                    }
                }
            }
        } else if vol.get("emptyDir").is_none() {
            return Err(VolumeError::Unsupported(name.to_string()));
        }
        Ok((out, refresh))
    }

    /// The whole life of one pod, until it ends or is stopped.
    async fn run_pod(
        self: Arc<Self>,
        pod: Value,
        mut stop: watch::Receiver<Option<Duration>>,
        sandbox_slot: Arc<Mutex<Option<Sandbox>>>,
        helpers: Helpers,
        attach: Attachables,
    ) {
        let (ns, name, uid) = (
            text(&pod, "/metadata/namespace").to_string(),
            text(&pod, "/metadata/name").to_string(),
            text(&pod, "/metadata/uid").to_string(),
        );
        let dir = self.root.join(&uid);
        let state = Arc::new(Mutex::new(PState {
            init: pod["spec"]["initContainers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(CState::new)
                .collect(),
            containers: pod["spec"]["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .map(CState::new)
                .collect(),
            phase: "Pending",
            start_time: self.now(),
            ..Default::default()
        }));
        let fail_all = |reason: &str, message: String| {
            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            let s = &mut *guard;
            for c in s.init.iter_mut().chain(s.containers.iter_mut()) {
                c.state = json!({"waiting": {"reason": reason, "message": message}});
            }
        };
        // The sandbox: its spec, then the holder.
        let volumes_dir = dir.join("volumes");
        let vols: Vec<Value> = pod["spec"]["volumes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut mounts = Vec::new();
        for c in pod["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(pod["spec"]["containers"].as_array().into_iter().flatten())
        {
            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                let source = match text(m, "/subPath") {
                    "" => text(m, "/name").to_string(),
                    sub => format!("{}/{sub}", text(m, "/name")),
                };
                let mount = sandbox::Mount {
                    source,
                    path: text(m, "/mountPath").to_string(),
                    read_only: m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
                };
                if !mounts.contains(&mount) {
                    mounts.push(mount);
                }
            }
        }
        let spec = sandbox::Spec {
            hostname: name.clone(),
            volumes_dir: volumes_dir.clone(),
            volumes: vols.iter().map(|v| text(v, "/name").to_string()).collect(),
            mounts,
        };
        let started = async {
            std::fs::create_dir_all(dir.join("logs"))?;
            let spec_path = dir.join("sandbox.json");
            std::fs::write(&spec_path, serde_json::to_vec(&spec).unwrap_or_default())?;
            let mut holder = tokio::process::Command::new(&self.exe)
                .args([sandbox::SUBCOMMAND, "hold"])
                .arg(&spec_path)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let out = holder
                .stdout
                .take()
                .ok_or_else(|| std::io::Error::other("no stdout"))?;
            let mut line = String::new();
            let mut reader = tokio::io::BufReader::new(out);
            tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
                .await
                .map_err(|_| std::io::Error::other("the sandbox did not start in 10 s"))??;
            let pid = sandbox::read_ready(&line).ok_or_else(|| {
                std::io::Error::other("the sandbox did not start (see the server's log)")
            })?;
            Ok::<_, std::io::Error>((holder, pid))
        };
        let (mut holder, init_pid) = match started.await {
            Ok(x) => x,
            Err(e) => {
                fail_all(
                    "CreateContainerError",
                    format!("creating the pod sandbox: {e}"),
                );
                self.report(&ns, &name, &state).await;
                let _ = stop.wait_for(Option::is_some).await;
                return;
            }
        };
        let holder_pid = holder.id().unwrap_or(0);
        let in_sandbox = PathBuf::from(format!("/proc/{holder_pid}/root"))
            .join(volumes_dir.strip_prefix("/").unwrap_or(&volumes_dir));
        // Tokens are refreshed in place until the pod ends, once the volumes are written.
        let (refresh_tx, refresh_rx) = tokio::sync::oneshot::channel();
        let refresher = {
            let (rt, pod, in_sandbox) = (self.clone(), pod.clone(), in_sandbox.clone());
            tokio::spawn(async move {
                if let Ok(refresh) = refresh_rx.await {
                    rt.refresh_tokens(pod, in_sandbox, refresh).await;
                }
            })
        };
        let policy = match text(&pod, "/spec/restartPolicy") {
            "" => "Always".to_string(),
            p => p.to_string(),
        };
        let work = async {
            // Volumes and environments, until every secret and config map they name is
            // readable: the kubelet's pod worker retries a failed sync (a missing object, or
            // one the Node authorizer's graph does not yet link to this node) after its
            // back-off period, 10 s (`pkg/kubelet/pod_workers.go`); the first tries come
            // sooner here, because that race is usually over in milliseconds.
            let mut attempt = 0;
            let launches = loop {
                let (launches, refresh) = self.prepare(&pod, &vols, &in_sandbox, &state).await;
                *sandbox_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(Sandbox {
                    init_pid,
                    dir: dir.clone(),
                    containers: launches.clone(),
                });
                state
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .sandbox_ready = true;
                self.report(&ns, &name, &state).await;
                let total = state
                    .lock()
                    .map(|s| s.init.len() + s.containers.len())
                    .unwrap_or(0);
                if launches.len() == total && !config_error(&state) {
                    let _ = refresh_tx.send(refresh);
                    break launches;
                }
                tokio::time::sleep(config_retry(attempt)).await;
                attempt += 1;
            };
            // Init containers, in order, each to success.
            let inits: Vec<Value> = pod["spec"]["initContainers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (i, c) in inits.iter().enumerate() {
                loop {
                    let code = self
                        .run_container(
                            &pod, c, &launches, init_pid, &dir, &state, true, i, &helpers, &attach,
                        )
                        .await;
                    if code == 0 {
                        break;
                    }
                    if policy == "Never" {
                        state.lock().unwrap_or_else(|e| e.into_inner()).phase = "Failed";
                        self.report(&ns, &name, &state).await;
                        return;
                    }
                    self.wait_backoff(&pod, &state, true, i, &ns, &name).await;
                }
            }
            {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                s.initialized = true;
                s.phase = "Running";
            }
            let containers: Vec<Value> = pod["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let rt = &self;
            let runs = containers.iter().enumerate().map(|(i, c)| {
                let (launches, dir, state, helpers, policy, attach) =
                    (&launches, &dir, &state, &helpers, &policy, &attach);
                let (ns, name, pod) = (&ns, &name, &pod);
                async move {
                    loop {
                        let code = rt
                            .run_container(
                                pod, c, launches, init_pid, dir, state, false, i, helpers, attach,
                            )
                            .await;
                        if !restarts(policy, code) {
                            return code;
                        }
                        rt.wait_backoff(pod, state, false, i, ns, name).await;
                    }
                }
            });
            let codes = futures::future::join_all(runs).await;
            let phase = if codes.iter().all(|c| *c == 0) {
                "Succeeded"
            } else {
                "Failed"
            };
            state.lock().unwrap_or_else(|e| e.into_inner()).phase = phase;
            self.report(&ns, &name, &state).await;
        };
        let stopped = tokio::select! {
            () = work => None,
            r = stop.wait_for(Option::is_some) => r.ok().and_then(|g| *g),
        };
        if let Some(grace) = stopped {
            // SIGTERM to each container's process group, then the grace period.
            let pids: Vec<u32> = helpers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .values()
                .map(|(p, _)| *p)
                .collect();
            for h in &pids {
                for child in children(*h) {
                    if let Some(p) = rustix_pid(child) {
                        // Its group, or (a terminal's command shares its helper's) itself.
                        let term = rustix::process::Signal::TERM;
                        if rustix::process::kill_process_group(p, term).is_err() {
                            let _ = rustix::process::kill_process(p, term);
                        }
                    }
                }
            }
            let deadline = tokio::time::Instant::now() + grace;
            while tokio::time::Instant::now() < deadline
                && pids
                    .iter()
                    .any(|h| std::path::Path::new(&format!("/proc/{h}")).exists() && !is_zombie(*h))
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        refresher.abort();
        // Closing the holder's input kills PID 1, and with it every process of the pod.
        drop(holder.stdin.take());
        let _ = holder.wait().await;
        *sandbox_slot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if stopped.is_none() {
            // A finished pod keeps its status and logs; it waits for its deletion.
            let _ = stop.wait_for(Option::is_some).await;
        }
    }

    /// Writes the pod's volumes into its sandbox and makes each container's launch;
    /// a container whose volume or environment cannot be made is left waiting with
    /// `CreateContainerConfigError` and has no launch.
    async fn prepare(
        &self,
        pod: &Value,
        vols: &[Value],
        in_sandbox: &std::path::Path,
        state: &Mutex<PState>,
    ) -> (HashMap<String, Launch>, Vec<(Value, i64)>) {
        let set_waiting = |only: Option<&str>, reason: &str, message: String| {
            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            let s = &mut *guard;
            for cs in s.init.iter_mut().chain(s.containers.iter_mut()) {
                if only.is_none_or(|n| n == cs.name) {
                    cs.state = json!({"waiting": {"reason": reason, "message": message}});
                }
            }
        };
        // A retry starts clean: each error below is found again or is gone.
        {
            let mut guard = state.lock().unwrap_or_else(|e| e.into_inner());
            let s = &mut *guard;
            for cs in s.init.iter_mut().chain(s.containers.iter_mut()) {
                cs.state = json!({"waiting": {"reason": "ContainerCreating"}});
            }
        }
        let ns = text(pod, "/metadata/namespace");
        let name = text(pod, "/metadata/name");
        // Volumes, through the holder's view of its own tmpfs.
        let mut refresh: Vec<(Value, i64)> = Vec::new();
        for v in vols {
            match self.payload(pod, v).await {
                Ok((payload, when)) => {
                    if let Err(e) = volumes::atomic_write(
                        &in_sandbox.join(text(v, "/name")),
                        &payload,
                        &self.stamp(),
                    ) {
                        set_waiting(
                            None,
                            "CreateContainerConfigError",
                            format!("writing volume {:?}: {e}", text(v, "/name")),
                        );
                    }
                    if let Some(w) = when {
                        refresh.push((v.clone(), w));
                    }
                }
                Err(e) => set_waiting(None, "CreateContainerConfigError", e.to_string()),
            }
        }
        // Each container's launch.
        let mut launches = HashMap::new();
        let pod_sc = pod["spec"]["securityContext"].clone();
        for c in pod["spec"]["initContainers"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(pod["spec"]["containers"].as_array().into_iter().flatten())
        {
            let mut objects = env::Objects::new();
            for (kind, n) in env::referenced(c) {
                let o = self.object(&kind, ns, &n).await.unwrap_or(None);
                objects.insert((kind, n), o);
            }
            match env::environment(pod, c, &self.api, &self.host_ip, &objects) {
                Ok(mut vars) => {
                    for (k, v) in [
                        (
                            "PATH",
                            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        ),
                        ("HOSTNAME", name),
                    ] {
                        if !vars.iter().any(|(n, _)| n == k) {
                            vars.insert(0, (k.to_string(), v.to_string()));
                        }
                    }
                    let sc = &c["securityContext"];
                    let id = |k: &str| {
                        sc.get(k)
                            .or_else(|| pod_sc.get(k))
                            .and_then(Value::as_u64)
                            .and_then(|u| u32::try_from(u).ok())
                    };
                    let uid_ = id("runAsUser");
                    if !vars.iter().any(|(n, _)| n == "HOME") {
                        vars.insert(
                            0,
                            (
                                "HOME".into(),
                                if uid_.unwrap_or(0) == 0 {
                                    "/root".into()
                                } else {
                                    "/".into()
                                },
                            ),
                        );
                    }
                    launches.insert(
                        text(c, "/name").to_string(),
                        Launch {
                            env: vars,
                            uid: uid_,
                            gid: id("runAsGroup"),
                            no_new_privs: sc
                                .get("allowPrivilegeEscalation")
                                .and_then(Value::as_bool)
                                != Some(true),
                            cwd: c
                                .get("workingDir")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        },
                    );
                }
                Err(e) => set_waiting(
                    Some(text(c, "/name")),
                    "CreateContainerConfigError",
                    e.to_string(),
                ),
            }
        }
        (launches, refresh)
    }

    fn stamp(&self) -> String {
        (self.clock)().strftime("%Y_%m_%d_%H_%M_%S.%9f").to_string()
    }

    /// Sleeps out a container's back-off, showing CrashLoopBackOff meanwhile.
    async fn wait_backoff(
        &self,
        pod: &Value,
        state: &Mutex<PState>,
        init: bool,
        i: usize,
        ns: &str,
        name: &str,
    ) {
        let (wait, cname) = {
            let s = state.lock().unwrap_or_else(|e| e.into_inner());
            let c = if init { &s.init[i] } else { &s.containers[i] };
            (backoff(c.restart_count - 1), c.name.clone())
        };
        if wait > Duration::ZERO {
            {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                let c = if init {
                    &mut s.init[i]
                } else {
                    &mut s.containers[i]
                };
                c.state = json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off {}s restarting failed container={cname} pod={name}_{ns}({})", wait.as_secs(), text(pod, "/metadata/uid"))}});
            }
            self.report(ns, name, state).await;
            tokio::time::sleep(wait).await;
        }
    }

    /// One run of a container: started, output logged, waited for; returns its exit code.
    #[allow(clippy::too_many_arguments)]
    async fn run_container(
        &self,
        pod: &Value,
        c: &Value,
        launches: &HashMap<String, Launch>,
        init_pid: u32,
        dir: &std::path::Path,
        state: &Mutex<PState>,
        init: bool,
        i: usize,
        helpers: &Mutex<HashMap<String, (u32, i64)>>,
        attach: &Mutex<HashMap<String, Attachable>>,
    ) -> i64 {
        let (ns, name) = (
            text(pod, "/metadata/namespace"),
            text(pod, "/metadata/name"),
        );
        let cname = text(c, "/name").to_string();
        let Some(launch) = launches.get(&cname) else {
            return 1;
        };
        let restart = {
            let s = state.lock().unwrap_or_else(|e| e.into_inner());
            if init {
                s.init[i].restart_count
            } else {
                s.containers[i].restart_count
            }
        };
        let argv = env::command_line(c, &launch.env).unwrap_or_else(|| {
            vec![
                self.exe.display().to_string(),
                sandbox::SUBCOMMAND.into(),
                "pause".into(),
            ]
        });
        // `tty: true`: the container's stdio is a terminal of its own; `stdin: true`: its
        // standard input stays open for attach.
        let tty = c.get("tty").and_then(Value::as_bool).unwrap_or(false);
        let wants_stdin = c.get("stdin").and_then(Value::as_bool).unwrap_or(false);
        let enter = sandbox::Enter {
            target: init_pid,
            uid: launch.uid,
            gid: launch.gid,
            no_new_privs: launch.no_new_privs,
            cwd: launch.cwd.clone(),
            tty,
            argv,
        };
        let log_path = logs::path(dir, &cname, restart);
        let _ = std::fs::create_dir_all(log_path.parent().unwrap_or(dir));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path);
        let mut cmd = tokio::process::Command::new(&self.exe);
        cmd.args(enter.to_args())
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true);
        let mut terminal = None;
        if tty {
            if !launch.env.iter().any(|(k, _)| k == "TERM") {
                cmd.env("TERM", "xterm");
            }
            match pty() {
                Ok((master, slave)) => {
                    let dup = |f: &std::fs::File| f.try_clone().map(std::process::Stdio::from);
                    if let (Ok(i), Ok(o), Ok(e)) = (dup(&slave), dup(&slave), dup(&slave)) {
                        cmd.stdin(i).stdout(o).stderr(e);
                    }
                    terminal = Some(Arc::new(master));
                }
                Err(e) => tracing::warn!(error = %e, "node agent: a terminal for a container"),
            }
        } else {
            cmd.stdin(if wants_stdin {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        }
        let spawned = cmd.spawn();
        // The command holds the terminal's other side until it is dropped: the container's
        // end must be the last holder's, or the reader never sees it.
        drop(cmd);
        let (mut child, log) = match (spawned, log) {
            (Ok(ch), Ok(l)) => (ch, Arc::new(Mutex::new(l))),
            (Err(e), _) | (_, Err(e)) => {
                let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
                let cs = if init {
                    &mut s.init[i]
                } else {
                    &mut s.containers[i]
                };
                cs.state = json!({"waiting": {"reason": "CreateContainerError", "message": e.to_string()}});
                return 128;
            }
        };
        if let Some(pid) = child.id() {
            helpers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(cname.clone(), (pid, restart));
        }
        // Attachable before it is reported running: a client that sees Running may attach.
        let (output, _) = tokio::sync::broadcast::channel::<(u8, bytes::Bytes)>(256);
        let (done_tx, done_rx) = watch::channel(false);
        let mut out: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>> = None;
        let mut err: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>> = None;
        let mut stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> = None;
        if let Some(t) = &terminal {
            if let (Ok(r), Ok(w)) = (t.try_clone(), t.try_clone()) {
                out = Some(Box::new(tokio::fs::File::from_std(r)));
                if wants_stdin {
                    stdin = Some(Box::new(tokio::fs::File::from_std(w)));
                }
            }
        } else {
            out = child.stdout.take().map(|s| Box::new(s) as _);
            err = child.stderr.take().map(|s| Box::new(s) as _);
            stdin = child.stdin.take().map(|s| Box::new(s) as _);
        }
        attach.lock().unwrap_or_else(|e| e.into_inner()).insert(
            cname.clone(),
            Attachable {
                output: output.clone(),
                stdin: stdin.map(|s| Arc::new(tokio::sync::Mutex::new(Some(s)))),
                stdin_once: c.get("stdinOnce").and_then(Value::as_bool).unwrap_or(false),
                terminal: terminal.clone(),
                done: done_rx,
            },
        );
        let started_at = self.now();
        {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            let cs = if init {
                &mut s.init[i]
            } else {
                &mut s.containers[i]
            };
            cs.state = json!({"running": {"startedAt": started_at}});
            cs.started = !init;
            cs.ready = !init;
        }
        self.report(ns, name, state).await;
        // Output goes to attached readers as it comes, and to the log line by line.
        let pump = |stream: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>,
                    tag: &'static str,
                    channel: u8| {
            let (log, clock, output) = (log.clone(), self.clock.clone(), output.clone());
            async move {
                let Some(mut stream) = stream else { return };
                let mut buf = vec![0u8; 16 * 1024];
                let mut line = Vec::new();
                let stamp = || clock().strftime("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
                loop {
                    // A terminal's reader fails (EIO) once the container is gone: its end.
                    let n = match tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let _ = output.send((channel, bytes::Bytes::copy_from_slice(&buf[..n])));
                    line.extend_from_slice(&buf[..n]);
                    while let Some(end) = line.iter().position(|b| *b == b'\n') {
                        let rest = line.split_off(end + 1);
                        let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
                        let _ = logs::append(&mut f, &stamp(), tag, &line);
                        line = rest;
                    }
                }
                if !line.is_empty() {
                    let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = logs::append(&mut f, &stamp(), tag, &line);
                }
            }
        };
        let (_, _, status) =
            tokio::join!(pump(out, "stdout", 1), pump(err, "stderr", 2), child.wait());
        attach
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cname);
        let _ = done_tx.send(true);
        helpers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&cname);
        let code = status.ok().and_then(|s| s.code()).map_or(137, i64::from);
        let finished = self.now();
        {
            let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
            let cs = if init {
                &mut s.init[i]
            } else {
                &mut s.containers[i]
            };
            let terminated = json!({"terminated": {
                "exitCode": code,
                "reason": if code == 0 { "Completed" } else { "Error" },
                "startedAt": started_at,
                "finishedAt": finished,
                "containerID": format!("kubeward://{}/{cname}", text(pod, "/metadata/uid")),
            }});
            let policy = text(pod, "/spec/restartPolicy");
            let again = if init {
                code != 0 && policy != "Never"
            } else {
                restarts(if policy.is_empty() { "Always" } else { policy }, code)
            };
            cs.ready = false;
            cs.started = false;
            if again {
                cs.last_state = terminated;
                cs.restart_count += 1;
                cs.state = json!({"waiting": {"reason": "ContainerCreating"}});
            } else {
                cs.state = terminated;
            }
        }
        self.report(ns, name, state).await;
        code
    }

    /// Rewrites each projected token before it expires (the kubelet's token manager): at
    /// 80% of its lifetime, keeping the old one while a refresh fails.
    async fn refresh_tokens(
        self: Arc<Self>,
        pod: Value,
        in_sandbox: PathBuf,
        mut due: Vec<(Value, i64)>,
    ) {
        loop {
            let Some(next) = due.iter().map(|(_, t)| *t).min() else {
                return;
            };
            let now = (self.clock)().as_second();
            if next > now {
                tokio::time::sleep(Duration::from_secs(u64::try_from(next - now).unwrap_or(1)))
                    .await;
                continue;
            }
            for (vol, when) in due.iter_mut().filter(|(_, t)| *t <= now) {
                match self.payload(&pod, vol).await {
                    Ok((payload, next)) => {
                        let _ = volumes::atomic_write(
                            &in_sandbox.join(text(vol, "/name")),
                            &payload,
                            &self.stamp(),
                        );
                        *when = next.unwrap_or(now + 3600);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "node agent: refreshing a projected token; keeping the old one");
                        *when = now + 10;
                    }
                }
            }
        }
    }
}

/// The token manager's jitter (at most 10 s), drawn from the pod's UID: the same for a pod's
/// every refresh, different between pods.
fn refresh_jitter(uid: &str) -> i64 {
    // FNV-1a.
    let h = uid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    i64::try_from(h % 10).unwrap_or(0)
}

/// A command started by [`ProcessRuntime::exec`].
pub struct Exec {
    /// The enter helper (its exit code is the command's).
    pub child: tokio::process::Child,
    /// The terminal's controlling side, with `tty`.
    pub terminal: Option<std::fs::File>,
}

/// A new pseudo-terminal: its controlling side and the side the command gets.
fn pty() -> std::io::Result<(std::fs::File, std::fs::File)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty::OpenptFlags;
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
    rustix::pty::grantpt(&master)?;
    rustix::pty::unlockpt(&master)?;
    let name = rustix::pty::ptsname(&master, Vec::new())?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    Ok((std::fs::File::from(master), std::fs::File::from(slave)))
}

/// Sets a terminal's size.
pub fn resize(terminal: &std::fs::File, cols: u16, rows: u16) {
    let size = rustix::termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let _ = rustix::termios::tcsetwinsize(terminal, size);
}

/// Holders (`pod-sandbox hold <pods_dir>/<uid>/sandbox.json`) still running: an earlier
/// server's, which should have died with it.
pub fn leftover_holders(pods_dir: &std::path::Path) -> Vec<u32> {
    let prefix = format!("{}/", pods_dir.display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmd.split(|b| *b == 0).collect();
            args.len() >= 4
                && args[1] == sandbox::SUBCOMMAND.as_bytes()
                && args[2] == b"hold"
                && args[3].starts_with(prefix.as_bytes())
        })
        .collect()
}

/// SIGKILL to a host process.
pub fn kill(pid: u32) {
    if let Some(p) = rustix_pid(pid) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
    }
}

/// The children of a host process (`/proc/<pid>/task/<pid>/children`).
pub fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

fn rustix_pid(pid: u32) -> Option<rustix::process::Pid> {
    rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_and_restart_policy_as_the_kubelet() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(20));
        assert_eq!(backoff(20), Duration::from_secs(300));
        let retries: Vec<u64> = (0..7).map(|a| config_retry(a).as_secs()).collect();
        assert_eq!(retries, [1, 2, 4, 8, 10, 10, 10]);
        assert!(restarts("Always", 0) && restarts("OnFailure", 2));
        assert!(!restarts("OnFailure", 0) && !restarts("Never", 1));
        let jitters: std::collections::BTreeSet<i64> = (0..50)
            .map(|i| refresh_jitter(&format!("uid-{i}")))
            .collect();
        assert!(jitters.iter().all(|j| (0..10).contains(j)) && jitters.len() > 3);
    }
}
