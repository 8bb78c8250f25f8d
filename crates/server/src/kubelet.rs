//! The apiserver's side of the kubelet's API (`pkg/kubelet/client`, `pkg/registry/core/pod/rest`):
//! `pods/log`, and the exec and attach streams, answered by the node agent that runs the pod
//! through the [`Kubelet`] plug-in the binary installs. The checks before the kubelet is asked
//! (which container, whether it has run) are upstream's, with its messages.

use crate::body::Body;
use crate::handlers::Req;
use crate::respond::Resp;
use crate::State;
use api_types::StatusError;
use bytes::Bytes;
use registry::kinds;
use serde_json::Value;
use tokio::sync::mpsc;

/// `PodLogOptions`, as the query gives them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// `follow`: keep streaming while the container runs.
    pub follow: bool,
    /// `timestamps`: each line starts with its RFC 3339 time.
    pub timestamps: bool,
    /// `tailLines`: only the last lines.
    pub tail_lines: Option<usize>,
    /// `sinceSeconds`/`sinceTime`, as a Unix time in nanoseconds: only lines from then on.
    pub since_nanos: Option<i128>,
    /// `limitBytes`: at most this many bytes.
    pub limit_bytes: Option<usize>,
}

/// A command running in a container, as exec streams it.
pub struct ExecSession {
    /// Its standard input (None unless asked for).
    pub stdin: Option<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>>,
    /// Its standard output (with a terminal: the terminal).
    pub stdout: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
    /// Its standard error (None with a terminal).
    pub stderr: Option<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
    /// Resizes the terminal (columns, rows); nothing without one.
    pub resize: Box<dyn Fn(u16, u16) + Send + Sync>,
    /// Its exit code, once it has exited.
    pub exit: std::pin::Pin<Box<dyn std::future::Future<Output = i32> + Send>>,
}

/// What exec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// The pod's UID.
    pub uid: String,
    /// The container.
    pub container: String,
    /// The command.
    pub command: Vec<String>,
    /// A terminal.
    pub tty: bool,
    /// Standard input is streamed.
    pub stdin: bool,
}

/// The node agent, as the apiserver reaches it.
pub trait Kubelet: Send + Sync {
    /// Starts a command in a running container (the kubelet's `/exec`). The error is why
    /// not, as the kubelet words it (`container not found ("c")`).
    fn exec(&self, req: &ExecRequest) -> Result<ExecSession, String>;

    /// Attaches to a running container's own streams (the kubelet's `/attach`): its output
    /// from now on, its standard input when it has one; ends when the container does.
    fn attach(&self, req: &ExecRequest) -> Result<ExecSession, String>;

    /// The log of run `run` (0 = first) of a container of the pod with `uid`, as chunks.
    fn logs(
        &self,
        uid: &str,
        container: &str,
        run: i64,
        opts: &LogOptions,
    ) -> Result<mpsc::Receiver<Bytes>, StatusError>;
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The container a request names, or the pod's only one (`podutil` `validateContainer` in
/// the pod strategy's `LogLocation`).
pub(crate) fn container_of(pod: &Value, asked: &str) -> Result<String, StatusError> {
    let name = text(pod, "/metadata/name");
    let names: Vec<&str> = ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| pod["spec"][*k].as_array().into_iter().flatten())
        .map(|c| text(c, "/name"))
        .collect();
    if asked.is_empty() {
        let regular: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| text(c, "/name"))
            .collect();
        return match regular.as_slice() {
            [only] => Ok(only.to_string()),
            _ => {
                // `kubectl.kubernetes.io/default-container` is the client's business.
                let all = names.join(" ");
                Err(StatusError::bad_request(format!(
                    "a container name must be specified for pod {name}, choose one of: [{all}]"
                )))
            }
        };
    }
    if names.contains(&asked) {
        Ok(asked.to_string())
    } else {
        Err(StatusError::bad_request(format!(
            "container {asked} is not valid for pod {name}"
        )))
    }
}

/// Which run's log a request reads (`validateContainerLogStatus`): the current one, or with
/// `previous` the one before; errors as the kubelet words them.
pub(crate) fn log_run(pod: &Value, container: &str, previous: bool) -> Result<i64, StatusError> {
    let name = text(pod, "/metadata/name");
    let status = ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|k| pod["status"][*k].as_array().into_iter().flatten())
        .find(|s| s["name"] == container)
        .cloned();
    let Some(status) = status else {
        return Err(StatusError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: ContainerCreating"
        )));
    };
    let restarts = status["restartCount"].as_i64().unwrap_or(0);
    if previous {
        if status.pointer("/lastState/terminated").is_none() {
            return Err(StatusError::bad_request(format!(
                "previous terminated container {container:?} in pod {name:?} not found"
            )));
        }
        return Ok(restarts - 1);
    }
    if let Some(waiting) = status.pointer("/state/waiting") {
        // A container between runs still has the last run's log.
        if status.pointer("/lastState/terminated").is_some() {
            return Ok(restarts - 1);
        }
        let reason = text(waiting, "/reason");
        let reason = if reason.is_empty() {
            "ContainerCreating"
        } else {
            reason
        };
        return Err(StatusError::bad_request(format!(
            "container {container:?} in pod {name:?} is waiting to start: {reason}"
        )));
    }
    Ok(restarts)
}

fn number<T: std::str::FromStr>(r: &Req<'_>, k: &str) -> Result<Option<T>, StatusError> {
    match r.query.get(k) {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| StatusError::bad_request(format!("invalid value {v:?} for {k}"))),
    }
}

/// `GET pods/<name>/log`.
pub(crate) fn log(state: &State, r: &Req<'_>) -> Result<Resp, StatusError> {
    if r.info.verb != "get" {
        return Err(StatusError::method_not_supported(
            &kinds::PODS.group_resource(),
            &r.info.verb,
        ));
    }
    let pod = state
        .registry
        .get(&kinds::PODS, &r.info.namespace, &r.info.name)?;
    let container = container_of(&pod, r.query.get("container"))?;
    let truthy = |k: &str| matches!(r.query.get(k), "true" | "1" | "True");
    let since_nanos = match (number::<i64>(r, "sinceSeconds")?, r.query.get("sinceTime")) {
        (Some(s), _) => {
            let now = state.registry.now().as_nanosecond();
            Some(now - i128::from(s) * 1_000_000_000)
        }
        (None, "") => None,
        (None, t) => Some(
            api_types::parse_rfc3339(t)
                .ok_or_else(|| StatusError::bad_request(format!("invalid sinceTime {t:?}")))?
                .as_nanosecond(),
        ),
    };
    let opts = LogOptions {
        follow: truthy("follow"),
        timestamps: truthy("timestamps"),
        tail_lines: number(r, "tailLines")?,
        since_nanos,
        limit_bytes: number(r, "limitBytes")?,
    };
    // A pod no node runs has no log yet: upstream answers with an empty body.
    if text(&pod, "/spec/nodeName").is_empty() {
        return Ok(plain(Body::empty()));
    }
    let run = log_run(&pod, &container, truthy("previous"))?;
    let Some(kubelet) = state.kubelet.get() else {
        return Err(StatusError::bad_request(format!(
            "pod {:?} runs on node {:?}, which this server does not run (no --node-agent process)",
            r.info.name,
            text(&pod, "/spec/nodeName")
        )));
    };
    let rx = kubelet.logs(text(&pod, "/metadata/uid"), &container, run, &opts)?;
    Ok(plain(Body::Stream(rx)))
}

fn plain(body: Body) -> Resp {
    let mut resp = http::Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn containers_and_runs_as_upstream_words_them() {
        let pod = json!({"metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]},
            "status": {"containerStatuses": [
                {"name": "a", "restartCount": 2, "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}},
                {"name": "b", "restartCount": 0, "state": {"waiting": {"reason": "CreateContainerConfigError"}}, "lastState": {}}]}});
        assert_eq!(
            container_of(&pod, "").unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b i]"
        );
        assert_eq!(
            container_of(&pod, "z").unwrap_err().message,
            "container z is not valid for pod p"
        );
        assert_eq!(container_of(&pod, "i").unwrap(), "i");
        assert_eq!(log_run(&pod, "a", false).unwrap(), 2);
        assert_eq!(log_run(&pod, "a", true).unwrap(), 1);
        assert_eq!(
            log_run(&pod, "b", false).unwrap_err().message,
            "container \"b\" in pod \"p\" is waiting to start: CreateContainerConfigError"
        );
        assert_eq!(
            log_run(&pod, "b", true).unwrap_err().message,
            "previous terminated container \"b\" in pod \"p\" not found"
        );
    }
}
