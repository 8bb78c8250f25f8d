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

    fn attach(&self, req: &ExecRequest) -> Result<ExecSession, String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let a = self.0.attachable(&req.uid, &req.container)?;
        let tty = req.tty && a.terminal.is_some();
        // The container's output, from now on, through a pipe per stream.
        let (out_r, mut out_w) = tokio::io::duplex(64 * 1024);
        let (err_r, mut err_w) = tokio::io::duplex(64 * 1024);
        let mut rx = a.output.subscribe();
        let mut done = a.done.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    m = rx.recv() => match m {
                        Ok((2, b)) if !tty => { let _ = err_w.write_all(&b).await; }
                        Ok((_, b)) => { if out_w.write_all(&b).await.is_err() { break } }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => break,
                    },
                    // The run ended (its one change, or its sender gone).
                    _ = done.changed() => break,
                }
            }
        });
        // What the client types goes to the container's standard input.
        let stdin = match (&a.stdin, req.stdin) {
            (Some(target), true) => {
                let (in_w, mut in_r) = tokio::io::duplex(64 * 1024);
                let (target, once) = (target.clone(), a.stdin_once);
                tokio::spawn(async move {
                    let mut b = vec![0u8; 16 * 1024];
                    loop {
                        let n = match in_r.read(&mut b).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        let mut t = target.lock().await;
                        let Some(w) = t.as_mut() else { break };
                        if w.write_all(&b[..n]).await.is_err() || w.flush().await.is_err() {
                            break;
                        }
                    }
                    // `stdinOnce`: the first attach's end is the container's end of input.
                    if once {
                        if let Some(mut w) = target.lock().await.take() {
                            let _ = w.shutdown().await;
                        }
                    }
                });
                Some(Box::pin(in_w) as _)
            }
            _ => None,
        };
        let terminal = a.terminal.clone();
        let mut done = a.done.clone();
        Ok(ExecSession {
            stdin,
            stdout: Box::pin(out_r),
            stderr: (!tty).then(|| Box::pin(err_r) as _),
            resize: Box::new(move |cols, rows| {
                if let Some(t) = &terminal {
                    node::process::resize(t, cols, rows);
                }
            }),
            exit: Box::pin(async move {
                while !*done.borrow_and_update() {
                    if done.changed().await.is_err() {
                        break;
                    }
                }
                0
            }),
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
