//! `pods/exec` and `pods/attach` (`pkg/registry/core/pod/rest/subresources.go` → the kubelet's
//! streaming server): the upgrade, then the channel protocol over it. WebSocket with
//! `v5.channel.k8s.io` (kubectl 1.30+) or `v4.channel.k8s.io`: every message binary, its
//! first byte the stream — 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 terminal
//! resizes (`{"Width":…,"Height":…}`), and in v5 255 to close a stream (`ff 00`: stdin is
//! done). The exit code comes back as upstream's Status on stream 3, then a normal close.

use crate::handlers::Req;
use crate::kubelet::{container_of, ExecRequest, ExecSession};
use crate::respond::Resp;
use crate::websocket::{self, Decoder, Opcode};
use crate::State;
use api_types::StatusError;
use hyper_util::rt::TokioIo;
use registry::kinds;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// A connection's pending upgrade, taken by the handler that switches it.
#[derive(Clone)]
pub(crate) struct Upgrade(Arc<Mutex<Option<hyper::upgrade::OnUpgrade>>>);

impl Upgrade {
    pub(crate) fn new(on: hyper::upgrade::OnUpgrade) -> Self {
        Upgrade(Arc::new(Mutex::new(Some(on))))
    }
    fn take(&self) -> Option<hyper::upgrade::OnUpgrade> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The channel protocols this server speaks over WebSocket, preferred first.
const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Upstream's Status for how the command ended (`remotecommand` `writeStatus`).
pub(crate) fn exit_status(code: i32) -> Value {
    if code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    json!({"metadata": {}, "status": "Failure",
           "message": format!("command terminated with non-zero exit code: exit status {code}"),
           "reason": "NonZeroExitCode",
           "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
}

/// `GET|POST pods/<name>/exec`.
pub(crate) fn exec(state: &State, r: &Req<'_>) -> Result<Resp, StatusError> {
    let header = |k: &str| r.header(k).unwrap_or("");
    let websocket = header("upgrade").eq_ignore_ascii_case("websocket");
    let spdy = header("upgrade").eq_ignore_ascii_case("SPDY/3.1");
    if !websocket && !spdy {
        return Err(StatusError::bad_request("Upgrade request required"));
    }
    let pod = state
        .registry
        .get(&kinds::PODS, &r.info.namespace, &r.info.name)?;
    let container = container_of(&pod, r.query.get("container"))?;
    // `streamLocation` (pkg/registry/core/pod/strategy.go): a pod no node was assigned.
    if text(&pod, "/spec/nodeName").is_empty() {
        return Err(StatusError::bad_request(format!(
            "pod {} does not have a host assigned",
            r.info.name
        )));
    }
    let attaching = r.info.subresource == "attach";
    let command = r.query.all("command");
    if command.is_empty() && !attaching {
        return Err(StatusError::bad_request(
            "you must specify at least 1 command",
        ));
    }
    let truthy = |k: &str| matches!(r.query.get(k), "true" | "1" | "True");
    let (tty, stdin) = (truthy("tty"), truthy("stdin"));
    // WebSocket offers subprotocols in one header; SPDY one `X-Stream-Protocol-Version` line
    // each, the client's preference first (v5 over SPDY is v4's framing).
    let offered: Vec<String> = if websocket {
        header("sec-websocket-protocol")
            .split(',')
            .map(|p| p.trim().to_string())
            .collect()
    } else {
        r.headers
            .get_all("x-stream-protocol-version")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_string())
            .collect()
    };
    let protocol = if websocket {
        PROTOCOLS
            .iter()
            .find(|p| offered.iter().any(|o| o == *p))
            .copied()
    } else {
        offered
            .iter()
            .find_map(|o| PROTOCOLS.iter().find(|p| *p == o).copied())
    };
    let Some(protocol) = protocol else {
        return Err(StatusError::bad_request(format!(
            "unable to upgrade connection: none of the offered protocols ({}) is supported; this server speaks {}",
            offered.join(", "),
            PROTOCOLS.join(", ")
        )));
    };
    let key = header("sec-websocket-key");
    if websocket && key.is_empty() {
        return Err(StatusError::bad_request("missing Sec-WebSocket-Key"));
    }
    let Some(kubelet) = state.kubelet.get() else {
        return Err(StatusError::bad_request(format!(
            "unable to upgrade connection: pod {:?} runs on node {:?}, which this server does not run (no --node-agent process)",
            r.info.name,
            text(&pod, "/spec/nodeName")
        )));
    };
    let upgrade = r
        .extensions
        .get::<Upgrade>()
        .and_then(Upgrade::take)
        .ok_or_else(|| StatusError::bad_request("Upgrade request required"))?;
    let req = ExecRequest {
        uid: text(&pod, "/metadata/uid").to_string(),
        container,
        command,
        tty,
        stdin,
    };
    let session = if attaching {
        kubelet.attach(&req)
    } else {
        kubelet.exec(&req)
    }
    .map_err(|e| StatusError::bad_request(format!("unable to upgrade connection: {e}")))?;
    let v5 = protocol == PROTOCOLS[0];
    let streams = Streams {
        stdin,
        stdout: truthy("stdout"),
        stderr: truthy("stderr") && !tty,
        tty,
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(io) if websocket => serve_websocket(TokioIo::new(io), session, v5).await,
            Ok(io) => serve_spdy(TokioIo::new(io), session, streams).await,
            Err(e) => tracing::debug!(error = %e, "exec: the upgrade failed"),
        }
    });
    let mut resp = http::Response::new(crate::body::Body::empty());
    *resp.status_mut() = http::StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    if spdy {
        h.insert(
            http::header::UPGRADE,
            http::HeaderValue::from_static("SPDY/3.1"),
        );
        h.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("Upgrade"),
        );
        h.insert(
            "x-stream-protocol-version",
            http::HeaderValue::from_static(protocol),
        );
        return Ok(resp);
    }
    h.insert(
        http::header::UPGRADE,
        http::HeaderValue::from_static("websocket"),
    );
    h.insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = http::HeaderValue::from_str(&websocket::accept_key(key)) {
        h.insert("sec-websocket-accept", v);
    }
    h.insert(
        "sec-websocket-protocol",
        http::HeaderValue::from_static(protocol),
    );
    Ok(resp)
}

/// The one writer of a session's socket: frames in order from every sender, the socket shut
/// when the last sender is gone.
fn writer<W>(mut wr: W) -> (mpsc::Sender<Vec<u8>>, tokio::task::JoinHandle<()>)
where
    W: tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(32);
    let task = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    (tx, task)
}

/// The streams a session has, as the query asked.
#[derive(Clone, Copy)]
struct Streams {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

/// One exec session over SPDY: the client opens a stream per channel (`streamtype`: error,
/// stdin, stdout, stderr, resize), each answered with SYN_REPLY; output goes out as DATA on
/// its stream, ended by FIN; the Status is written on the error stream when the command is
/// done.
async fn serve_spdy<IO>(io: IO, mut session: ExecSession, want: Streams)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use crate::spdy::{self, Frame};
    let (mut rd, wr) = tokio::io::split(io);
    let (out_tx, writer) = writer(wr);
    let mut codec = spdy::Codec::default();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut ids: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    let expected = 1
        + usize::from(want.stdin)
        + usize::from(want.stdout)
        + usize::from(want.stderr)
        + usize::from(want.tty);
    let mut stdin = session.stdin.take();
    let mut stdout = Some(session.stdout);
    let mut stderr = session.stderr.take();
    let mut pumps = Vec::new();
    let resize = session.resize;
    let mut exit = Some(session.exit);
    let mut resize_buf = Vec::new();
    let mut finisher: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        let frame = match codec.next(&mut buf) {
            Ok(Some(f)) => f,
            Ok(None) => match rd.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    continue;
                }
            },
            Err(e) => {
                tracing::debug!(error = %e, "exec: SPDY");
                break;
            }
        };
        match frame {
            Frame::SynStream {
                stream, headers, ..
            } => {
                let kind = headers
                    .iter()
                    .find(|(k, _)| k == "streamtype")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let _ = out_tx.send(codec.syn_reply(stream, &[])).await;
                ids.insert(kind, stream);
                if ids.len() < expected {
                    continue;
                }
                // Every stream is there: output flows, and the Status follows the exit.
                for (name, reader) in [("stdout", stdout.take()), ("stderr", stderr.take())] {
                    let (Some(mut reader), Some(&id)) = (reader, ids.get(name)) else {
                        continue;
                    };
                    let tx = out_tx.clone();
                    pumps.push(tokio::spawn(async move {
                        let mut b = vec![0u8; 32 * 1024];
                        loop {
                            match reader.read(&mut b).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if tx.send(spdy::data(id, false, &b[..n])).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                        let _ = tx.send(spdy::data(id, true, &[])).await;
                    }));
                }
                if let (Some(exit), Some(&error_id)) = (exit.take(), ids.get("error")) {
                    let tx = out_tx.clone();
                    let pumps = std::mem::take(&mut pumps);
                    finisher = Some(tokio::spawn(async move {
                        let code = exit.await;
                        for p in pumps {
                            let _ = p.await;
                        }
                        let status = crate::respond::json_bytes(&exit_status(code));
                        let _ = tx.send(spdy::data(error_id, true, &status)).await;
                    }));
                }
            }
            Frame::Data { stream, fin, data } => {
                if Some(&stream) == ids.get("stdin") {
                    if let Some(w) = stdin.as_mut() {
                        if !data.is_empty()
                            && (w.write_all(&data).await.is_err() || w.flush().await.is_err())
                        {
                            stdin = None;
                        }
                    }
                    if fin {
                        if let Some(mut w) = stdin.take() {
                            let _ = w.shutdown().await;
                        }
                    }
                } else if Some(&stream) == ids.get("resize") {
                    resize_buf.extend_from_slice(&data);
                    let mut it =
                        serde_json::Deserializer::from_slice(&resize_buf).into_iter::<Value>();
                    let mut used = 0;
                    while let Some(Ok(size)) = it.next() {
                        used = it.byte_offset();
                        let dim = |k: &str| {
                            size.get(k)
                                .and_then(Value::as_u64)
                                .and_then(|v| u16::try_from(v).ok())
                                .unwrap_or(0)
                        };
                        resize(dim("Width"), dim("Height"));
                    }
                    resize_buf.drain(..used);
                }
            }
            Frame::Ping { id } => {
                let _ = out_tx.send(spdy::ping(id)).await;
            }
            Frame::GoAway => break,
            Frame::Reset { .. } | Frame::Other => {}
        }
    }
    // The client is done (or gone): a command still running goes with the session.
    if let Some(f) = finisher {
        f.abort();
    }
    drop(out_tx);
    let _ = writer.await;
}

/// One exec session over a switched connection.
async fn serve_websocket<IO>(io: IO, mut session: ExecSession, v5: bool)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (mut rd, wr) = tokio::io::split(io);
    let (out_tx, writer) = writer(wr);
    let pump = |stream: Option<std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>>,
                channel: u8| {
        let tx = out_tx.clone();
        async move {
            let Some(mut s) = stream else { return };
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                // A terminal's reader fails (EIO) once the command is gone: that is its end.
                let n = match s.read(&mut buf[1..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf[0] = channel;
                if tx
                    .send(websocket::encode(Opcode::Binary, &buf[..=n]))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        }
    };
    let stdout = pump(Some(session.stdout), 1);
    let stderr = pump(session.stderr.take(), 2);
    // The client's messages: stdin, resizes, stream closes, pings.
    let mut stdin = session.stdin.take();
    let resize = session.resize;
    let control_tx = out_tx.clone();
    let reader = async move {
        let mut decoder = Decoder::default();
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let message = match decoder.next(&mut buf) {
                Ok(Some(m)) => m,
                Ok(None) => match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        buf.extend_from_slice(&chunk[..n]);
                        continue;
                    }
                },
                Err(e) => {
                    let _ = control_tx.send(websocket::close(e.close_code())).await;
                    return;
                }
            };
            match message.opcode {
                Opcode::Ping => {
                    let _ = control_tx
                        .send(websocket::encode(Opcode::Pong, &message.payload))
                        .await;
                }
                Opcode::Close => return,
                Opcode::Binary | Opcode::Text => {
                    let Some((&channel, data)) = message.payload.split_first() else {
                        continue;
                    };
                    match channel {
                        0 => {
                            if let Some(w) = stdin.as_mut() {
                                if w.write_all(data).await.is_err() || w.flush().await.is_err() {
                                    stdin = None;
                                }
                            }
                        }
                        4 => {
                            if let Ok(size) = serde_json::from_slice::<Value>(data) {
                                let dim = |k: &str| {
                                    size.get(k)
                                        .and_then(Value::as_u64)
                                        .and_then(|v| u16::try_from(v).ok())
                                        .unwrap_or(0)
                                };
                                resize(dim("Width"), dim("Height"));
                            }
                        }
                        // v5: a stream is closed; stdin's close is its EOF.
                        255 if v5 && data.first() == Some(&0) => {
                            if let Some(mut w) = stdin.take() {
                                let _ = w.shutdown().await;
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    };
    let mut reader = tokio::spawn(reader);
    let finished = async { tokio::join!(stdout, stderr, session.exit) };
    tokio::pin!(finished);
    tokio::select! {
        ((), (), code) = &mut finished => {
            let status = crate::respond::json_bytes(&exit_status(code));
            let mut frame = vec![3u8];
            frame.extend_from_slice(&status);
            let _ = out_tx.send(websocket::encode(Opcode::Binary, &frame)).await;
            let _ = out_tx.send(websocket::close(1000)).await;
            reader.abort();
        }
        // The client left: the command goes with the session (dropped here).
        _ = &mut reader => {}
    }
    drop(out_tx);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_statuses_as_kubectl_reads_them() {
        assert_eq!(exit_status(0), json!({"metadata": {}, "status": "Success"}));
        let s = exit_status(3);
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
    }
}
