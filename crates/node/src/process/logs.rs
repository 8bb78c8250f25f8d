//! Container logs in the CRI format the kubelet reads (`pkg/kubelet/kuberuntime/logs`):
//! one line per record, `<RFC 3339 nano time> <stdout|stderr> <F|P> <text>`, a line longer
//! than 16 KiB split into partial (`P`) records ending with a full (`F`) one. One file per
//! run of a container (`<restartCount>.log`), so `--previous` reads the one before.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// Longest record, as the CRI runtimes split lines.
const MAX_RECORD: usize = 16 * 1024;

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// When it was written (RFC 3339 with nanoseconds).
    pub time: String,
    /// The text, with its newline when the record ends a line.
    pub text: Vec<u8>,
}

/// Where run `restart` of a container writes.
pub fn path(pod_dir: &Path, container: &str, restart: i64) -> PathBuf {
    pod_dir
        .join("logs")
        .join(container)
        .join(format!("{restart}.log"))
}

/// The records of one line of output.
pub fn encode(time: &str, stream: &str, line: &[u8], out: &mut Vec<u8>) {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    let mut chunks = body.chunks(MAX_RECORD).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(format!("{time} {stream} F \n").as_bytes());
        return;
    }
    while let Some(c) = chunks.next() {
        let tag = if chunks.peek().is_some() { "P" } else { "F" };
        out.extend_from_slice(format!("{time} {stream} {tag} ").as_bytes());
        out.extend_from_slice(c);
        out.push(b'\n');
    }
}

/// Appends one line of output to a log file.
pub fn append(
    file: &mut std::fs::File,
    time: &str,
    stream: &str,
    line: &[u8],
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(line.len() + 48);
    encode(time, stream, line, &mut buf);
    file.write_all(&buf)
}

/// Parses one record (`parseCRILog`); None for a malformed line.
pub fn parse(line: &[u8]) -> Option<Record> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let mut parts = line.splitn(4, |b| *b == b' ');
    let time = std::str::from_utf8(parts.next()?).ok()?.to_string();
    let _stream = parts.next()?;
    let tag = parts.next()?;
    let mut text = parts.next().unwrap_or(b"").to_vec();
    if tag == b"F" {
        text.push(b'\n');
    }
    Some(Record { time, text })
}

/// Every record of a file, in order.
pub fn read(file: &Path) -> std::io::Result<Vec<Record>> {
    let f = std::fs::File::open(file)?;
    let mut out = Vec::new();
    for line in std::io::BufReader::new(f).split(b'\n') {
        if let Some(r) = parse(&line?) {
            out.push(r);
        }
    }
    Ok(out)
}

/// What a reader asks of a log (`PodLogOptions`).
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Keep reading while `alive` says the run goes on.
    pub follow: bool,
    /// Prefix each line with its time.
    pub timestamps: bool,
    /// Only the last lines.
    pub tail_lines: Option<usize>,
    /// Only records from this Unix time (nanoseconds) on.
    pub since_nanos: Option<i128>,
    /// At most this many bytes in all.
    pub limit_bytes: Option<usize>,
}

/// The bytes a reader is sent for `records`.
fn render(records: &[Record], opts: &ReadOptions) -> Vec<u8> {
    let since = |r: &Record| {
        opts.since_nanos.is_none_or(|s| {
            api_types::parse_rfc3339(&r.time).is_some_and(|t| t.as_nanosecond() >= s)
        })
    };
    let mut out = Vec::new();
    for r in records.iter().filter(|r| since(r)) {
        if opts.timestamps {
            out.extend_from_slice(r.time.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&r.text);
    }
    out
}

/// Streams a log file as `kubectl logs` asks: the records there now (the last `tail_lines`
/// of them, from `since_nanos`), then with `follow` what is appended while `alive()`.
pub fn stream(
    file: PathBuf,
    opts: ReadOptions,
    alive: Box<dyn Fn() -> bool + Send>,
) -> tokio::sync::mpsc::Receiver<bytes::Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        let mut budget = opts.limit_bytes.unwrap_or(usize::MAX);
        let mut offset = 0usize;
        let mut first = true;
        loop {
            let running = alive();
            let data = tokio::fs::read(&file).await.unwrap_or_default();
            // Only whole lines; a line being written waits for its newline.
            let end = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            if end > offset {
                let mut records: Vec<Record> = data[offset..end]
                    .split(|b| *b == b'\n')
                    .filter(|l| !l.is_empty())
                    .filter_map(parse)
                    .collect();
                if first {
                    if let Some(n) = opts.tail_lines {
                        let skip = records.len().saturating_sub(n);
                        records.drain(..skip);
                    }
                }
                offset = end;
                let mut bytes = render(&records, &opts);
                bytes.truncate(budget);
                budget -= bytes.len();
                if !bytes.is_empty() && tx.send(bytes::Bytes::from(bytes)).await.is_err() {
                    return;
                }
            }
            first = false;
            if !opts.follow || !running || budget == 0 {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                () = tx.closed() => return,
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_split_into_partial_records_and_read_back_whole() {
        let mut out = Vec::new();
        let long = vec![b'x'; MAX_RECORD + 10];
        encode("T", "stdout", &long, &mut out);
        encode("U", "stderr", b"short\n", &mut out);
        let lines: Vec<&[u8]> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with(b"T stdout P xxx"));
        assert!(lines[1].starts_with(b"T stdout F xxx"));
        assert_eq!(lines[2], b"U stderr F short");
        let recs: Vec<Record> = lines.iter().filter_map(|l| parse(l)).collect();
        let whole: Vec<u8> = recs[..2].iter().flat_map(|r| r.text.clone()).collect();
        assert_eq!(whole.len(), MAX_RECORD + 11);
        assert_eq!(
            recs[2],
            Record {
                time: "U".into(),
                text: b"short\n".to_vec()
            }
        );
    }
}
