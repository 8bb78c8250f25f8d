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
