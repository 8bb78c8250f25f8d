//! The apiserver's kubelet connection, in process: `server::kubelet::Kubelet` answered by the
//! node agent's process runtime (upstream, an HTTPS call to the kubelet's port).

use api_types::StatusError;
use node::process::{logs, ProcessRuntime};
use server::kubelet::{ExecRequest, ExecSession, Kubelet, LogOptions};
use std::sync::Arc;

/// The node agent's runtime as the apiserver's kubelet client.
pub(crate) struct InProcessKubelet(pub(crate) Arc<ProcessRuntime>);

impl Kubelet for InProcessKubelet {
    fn exec(&self, req: &ExecRequest) -> Result<ExecSession, String> {
        let node::process::Exec {
            mut child,
            terminal,
        } = self
            .0
            .exec(&req.uid, &req.container, &req.command, req.tty, req.stdin)?;
        let (stdin, stdout, stderr) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take());
        let exit = Box::pin(async move {
            match child.wait().await {
                Ok(s) => s.code().unwrap_or(137),
                Err(_) => 137,
            }
        });
        if let Some(master) = terminal {
            let dup = |f: &std::fs::File| {
                f.try_clone()
                    .map(tokio::fs::File::from_std)
                    .map_err(|e| format!("the terminal: {e}"))
            };
            let (reader, writer) = (dup(&master)?, dup(&master)?);
            return Ok(ExecSession {
                stdin: req.stdin.then(|| Box::pin(writer) as _),
                stdout: Box::pin(reader),
                stderr: None,
                resize: Box::new(move |cols, rows| node::process::resize(&master, cols, rows)),
                exit,
            });
        }
        let stdout = stdout.ok_or("the command's output")?;
        Ok(ExecSession {
            stdin: stdin.map(|w| Box::pin(w) as _),
            stdout: Box::pin(stdout),
            stderr: stderr.map(|e| Box::pin(e) as _),
            resize: Box::new(|_, _| {}),
            exit,
        })
    }

    fn logs(
        &self,
        uid: &str,
        container: &str,
        run: i64,
        opts: &LogOptions,
    ) -> Result<tokio::sync::mpsc::Receiver<bytes::Bytes>, StatusError> {
        let file = logs::path(&self.0.pod_dir(uid), container, run);
        if !file.exists() {
            return Err(StatusError::bad_request(format!(
                "container {container:?} has no log for run {run}"
            )));
        }
        let (rt, uid, name) = (self.0.clone(), uid.to_string(), container.to_string());
        let read = logs::ReadOptions {
            follow: opts.follow,
            timestamps: opts.timestamps,
            tail_lines: opts.tail_lines,
            since_nanos: opts.since_nanos,
            limit_bytes: opts.limit_bytes,
        };
        Ok(logs::stream(
            file,
            read,
            Box::new(move || rt.running(&uid, &name, run)),
        ))
    }
}
