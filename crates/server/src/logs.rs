//! `GET /logs/audit`: this server's own audit log, for `kubeward suggest-role --server` and
//! `kubeward unused --server`. A non-resource path, as kube-apiserver's `/logs/` (which serves
//! its log files): authorized by RBAC as `get` on the path, so only who may read everything
//! (cluster-admin's `*`) or holds a rule naming `/logs/audit` reads it — the events carry
//! request bodies at the policy's RequestResponse level.
//!
//! The body is the log's lines, oldest first: the rotated backups (gzipped ones unpacked),
//! then the file written now, up to its last whole line when the request came. It is read
//! a chunk at a time on a thread of its own and streamed, never held whole.

use crate::body::Body;
use crate::respond::Resp;
use crate::State;
use api_types::StatusError;
use bytes::Bytes;
use std::io::Read;
use std::path::PathBuf;

/// The path.
pub(crate) const AUDIT: &str = "/logs/audit";

const CHUNK: usize = 64 * 1024;

/// Serves the audit log, or 404 with what to do when the server keeps none.
pub(crate) fn audit(state: &State) -> Result<Resp, StatusError> {
    let files = state
        .audit
        .as_ref()
        .and_then(|a| a.files())
        .ok_or_else(|| {
            let mut e = StatusError::path_not_found();
            e.message = "this server keeps no audit log file: start it with --audit-log-path FILE \
                     (not -) and --audit-policy-file"
                .into();
            e
        })?;
    // The file written now, as long as it is at this moment: what is appended later is not
    // sent, and a line being written is not cut.
    let current = files.last().cloned().unwrap_or_default();
    let until = std::fs::metadata(&current).map(|m| m.len()).unwrap_or(0);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    std::thread::Builder::new()
        .name("audit-log-read".into())
        .spawn(move || {
            if let Err(e) = send_files(files, until, &tx) {
                tracing::warn!(error = %e, "reading the audit log for /logs/audit");
            }
        })
        .map_err(StatusError::internal)?;
    let mut r = http::Response::new(Body::Stream(rx));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(r)
}

/// Sends each file's bytes; the last one only up to `until` and its last newline before it.
/// Stops when the reader has gone.
fn send_files(
    files: Vec<PathBuf>,
    until: u64,
    tx: &tokio::sync::mpsc::Sender<Bytes>,
) -> std::io::Result<()> {
    let last = files.len().saturating_sub(1);
    for (i, path) in files.into_iter().enumerate() {
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            // A backup removed by rotation since it was listed: its lines are gone.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let gz = path.extension().is_some_and(|x| x == "gz");
        let mut reader: Box<dyn Read> = match (gz, i == last) {
            (true, _) => Box::new(flate2::read::GzDecoder::new(file)),
            (false, true) => Box::new(file.take(until)),
            (false, false) => Box::new(file),
        };
        let mut held = Vec::new();
        loop {
            let mut buf = vec![0; CHUNK];
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            buf.truncate(n);
            held.extend_from_slice(&buf);
            // Whole lines only: what follows the last newline waits for the next chunk.
            let Some(end) = held.iter().rposition(|&b| b == b'\n') else {
                continue;
            };
            let rest = held.split_off(end + 1);
            if tx
                .blocking_send(Bytes::from(std::mem::replace(&mut held, rest)))
                .is_err()
            {
                return Ok(());
            }
        }
        // A backup's last line without its newline is still a line; the current file's
        // is being written.
        if !held.is_empty() && i != last {
            held.push(b'\n');
            if tx.blocking_send(Bytes::from(held)).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(files: Vec<PathBuf>, until: u64) -> String {
        let (tx, mut rx) = tokio::sync::mpsc::channel(64);
        send_files(files, until, &tx).unwrap();
        drop(tx);
        let mut out = String::new();
        while let Ok(b) = rx.try_recv() {
            out.push_str(std::str::from_utf8(&b).unwrap());
        }
        out
    }

    #[test]
    fn backups_first_unpacked_then_the_current_file_to_its_last_whole_line() {
        let dir = tempfile_dir();
        let old = dir.join("audit-2026-01-01T00-00-00.000.log.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&old).unwrap(),
            flate2::Compression::default(),
        );
        std::io::Write::write_all(&mut gz, b"{\"n\":1}\n{\"n\":2}").unwrap();
        gz.finish().unwrap();
        let mid = dir.join("audit-2026-01-02T00-00-00.000.log");
        std::fs::write(&mid, "{\"n\":3}\n").unwrap();
        let current = dir.join("audit.log");
        let big = format!("{{\"n\":\"{}\"}}\n", "x".repeat(CHUNK * 2));
        std::fs::write(&current, format!("{big}{{\"n\":5}}\n{{\"n\":6, half")).unwrap();
        let files = crate::audit::file::log_files(&current);
        assert_eq!(files, [old, mid, current.clone()]);
        let len = std::fs::metadata(&current).unwrap().len();
        let out = read_all(files.clone(), len);
        assert_eq!(
            out,
            format!("{{\"n\":1}}\n{{\"n\":2}}\n{{\"n\":3}}\n{big}{{\"n\":5}}\n")
        );
        // What was appended after the request is not sent.
        assert_eq!(
            read_all(files, big.len() as u64),
            format!("{{\"n\":1}}\n{{\"n\":2}}\n{{\"n\":3}}\n{big}")
        );
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "kubeward-logs-test-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
