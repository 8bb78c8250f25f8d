//! The audit log file with kube-apiserver's rotation (`--audit-log-maxsize`, `-maxbackup`,
//! `-maxage`), which it delegates to lumberjack (`gopkg.in/natefinch/lumberjack.v2`):
//!
//! - before a write would take the file past `maxsize` megabytes (0: lumberjack's default,
//!   100), the file is renamed to `<name>-<UTC time as 2006-01-02T15-04-05.000><.ext>` beside
//!   it and a new one is started;
//! - then old backups go: beyond the newest `maxbackup` (0: keep all), and older than `maxage`
//!   days (0: keep all), oldest by the time in their names;
//! - with `--audit-log-compress`, a backup is gzipped to `<backup>.gz` (and the plain one
//!   removed) on a thread of its own, as lumberjack's `compress`, before old ones are pruned;
//! - files are created mode 0600; a line is never split across two files.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The rotation flags.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rotation {
    /// `--audit-log-maxsize`: megabytes before a file is rotated; 0 is 100.
    pub max_size_mb: u64,
    /// `--audit-log-maxbackup`: rotated files kept; 0 keeps all.
    pub max_backups: usize,
    /// `--audit-log-maxage`: days a rotated file is kept; 0 keeps all.
    pub max_age_days: u64,
    /// `--audit-log-compress`: gzip rotated files.
    pub compress: bool,
}

/// lumberjack's `megabyte` and default size.
const MEGABYTE: u64 = 1024 * 1024;
const DEFAULT_MAX_MB: u64 = 100;

/// The timestamp format in backup names (Go layout `2006-01-02T15-04-05.000`).
const BACKUP_TIME: &str = "%Y-%m-%dT%H-%M-%S%.3f";

/// A log file that rotates itself.
pub(crate) struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    rotation: Rotation,
    /// Buffered: the writer thread flushes whenever it has written all it was sent.
    file: std::io::BufWriter<File>,
    size: u64,
    now: registry::Clock,
    /// The last rotation's compression and pruning, when it runs on its own thread.
    compressing: Option<std::thread::JoinHandle<()>>,
}

/// `name` and `.ext` of a log file's name.
fn name_parts(path: &Path) -> (String, String) {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = Path::new(&file)
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let stem = file[..file.len() - ext.len()].to_string();
    (stem, ext)
}

fn dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The log at `path` as files, oldest first: its backups (plain or gzipped), then itself.
pub(crate) fn log_files(path: &Path) -> Vec<PathBuf> {
    let (stem, ext) = name_parts(path);
    let mut files: Vec<PathBuf> = backups(&dir_of(path), &stem, &ext)
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .collect();
    files.push(path.to_path_buf());
    files
}

fn open_append(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl RotatingFile {
    /// Opens `path` for appending (creating it), rotating as `rotation` says, naming backups
    /// by `now`.
    pub(crate) fn open(
        path: &Path,
        rotation: Rotation,
        now: registry::Clock,
    ) -> std::io::Result<Self> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        let mb = if rotation.max_size_mb == 0 {
            DEFAULT_MAX_MB
        } else {
            rotation.max_size_mb
        };
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes: mb.saturating_mul(MEGABYTE),
            rotation,
            file: std::io::BufWriter::new(file),
            size,
            now,
            compressing: None,
        })
    }

    /// `name` and `.ext` of the log file (`audit` and `.log` for `audit.log`).
    fn name_parts(&self) -> (String, String) {
        name_parts(&self.path)
    }

    fn dir(&self) -> PathBuf {
        dir_of(&self.path)
    }

    /// Renames the file to its backup name, starts a new one, and removes what the flags no
    /// longer keep.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        let (stem, ext) = self.name_parts();
        let when = (self.now)().strftime(BACKUP_TIME).to_string();
        let backup = self.dir().join(format!("{stem}-{when}{ext}"));
        std::fs::rename(&self.path, &backup)?;
        self.file = std::io::BufWriter::new(open_append(&self.path)?);
        self.size = 0;
        if let Some(previous) = self.compressing.take() {
            let _ = previous.join();
        }
        let prune = Prune {
            dir: self.dir(),
            stem,
            ext,
            rotation: self.rotation,
            now: (self.now)(),
        };
        if self.rotation.compress {
            // Off the writer thread: gzipping 100 MB takes seconds, which would fill the
            // event buffer meanwhile.
            self.compressing = Some(std::thread::spawn(move || {
                if let Err(e) = compress(&backup) {
                    tracing::warn!(error = %e, path = %backup.display(), "compressing an audit log");
                }
                prune.remove_old();
            }));
        } else {
            prune.remove_old();
        }
        Ok(())
    }

    /// Waits for the last rotation's compression (for tests).
    #[cfg(test)]
    fn settle(&mut self) {
        if let Some(c) = self.compressing.take() {
            let _ = c.join();
        }
    }
}

/// gzips `path` to `path.gz` (mode 0600), then removes `path`.
fn compress(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut gz_name = path.as_os_str().to_owned();
    gz_name.push(".gz");
    let out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&gz_name)?;
    let mut enc =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(out), flate2::Compression::default());
    std::io::copy(&mut File::open(path)?, &mut enc)?;
    enc.finish()?.flush()?;
    std::fs::remove_file(path)
}

/// The backups of a log named `stem` + `ext` in `dir` (plain or gzipped), newest first, with
/// the time in their names.
fn backups(dir: &Path, stem: &str, ext: &str) -> Vec<(jiff::Timestamp, PathBuf)> {
    let prefix = format!("{stem}-");
    let gz = format!("{ext}.gz");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(jiff::Timestamp, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let rest = name.strip_prefix(&prefix)?;
            let time = rest
                .strip_suffix(gz.as_str())
                .or_else(|| rest.strip_suffix(ext))?;
            let t = jiff::civil::DateTime::strptime(BACKUP_TIME, time).ok()?;
            let t = t.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
            Some((t, e.path()))
        })
        .collect();
    found.sort_by_key(|b| std::cmp::Reverse(b.0));
    found
}

/// What removing old backups needs: where they are, how they are named, what is kept.
struct Prune {
    dir: PathBuf,
    stem: String,
    ext: String,
    rotation: Rotation,
    now: jiff::Timestamp,
}

impl Prune {
    fn backups(&self) -> Vec<(jiff::Timestamp, PathBuf)> {
        backups(&self.dir, &self.stem, &self.ext)
    }

    fn remove_old(&self) {
        let backups = self.backups();
        let now = self.now;
        let max_age =
            i64::try_from(self.rotation.max_age_days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        for (i, (t, path)) in backups.iter().enumerate() {
            let too_many = self.rotation.max_backups > 0 && i >= self.rotation.max_backups;
            let too_old = self.rotation.max_age_days > 0
                && now.as_second().saturating_sub(t.as_second()) > max_age;
            if too_many || too_old {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(error = %e, path = %path.display(), "removing an old audit log");
                }
            }
        }
    }
}

impl Write for RotatingFile {
    /// Writes whole lines: a write that would pass the size rotates first.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let len = buf.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(buf)?;
        self.size = self.size.saturating_add(len);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Arc;

    /// A clock the test moves by hand, starting at 2026-12-02T10:00:00Z.
    fn clock() -> (Arc<AtomicI64>, registry::Clock) {
        let ms = Arc::new(AtomicI64::new(1_796_205_600_000));
        let read = ms.clone();
        let clock: registry::Clock = Arc::new(move || {
            jiff::Timestamp::from_millisecond(read.load(Ordering::SeqCst)).unwrap()
        });
        (ms, clock)
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut n: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        n.sort();
        n
    }

    #[test]
    fn rotates_before_a_line_would_pass_the_size_and_keeps_the_newest_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (ms, clock) = clock();
        let rotation = Rotation {
            max_size_mb: 1,
            max_backups: 2,
            max_age_days: 0,
            compress: false,
        };
        let mut f = RotatingFile::open(&path, rotation, clock).unwrap();
        let line = vec![b'x'; 400 * 1024 - 1]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        // Two lines fit in a megabyte, a third does not: 4 files' worth of 7 lines.
        for _ in 0..7 {
            f.write_all(&line).unwrap();
            ms.fetch_add(1_500, Ordering::SeqCst);
        }
        f.flush().unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "audit-2026-12-02T10-00-06.000.log",
                "audit-2026-12-02T10-00-09.000.log",
                "audit.log",
            ],
            "rotated before the 3rd, 5th and 7th lines; the oldest of 3 backups removed"
        );
        for name in names(dir.path()) {
            let text = std::fs::read(dir.path().join(&name)).unwrap();
            assert!(text.len() as u64 <= MEGABYTE, "{name}");
            assert!(
                text.ends_with(b"\n") && text.len().is_multiple_of(line.len()),
                "whole lines in {name}"
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn backups_older_than_max_age_go_and_other_files_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(
            dir.path().join("audit-2026-11-01T00-00-00.000.log"),
            "old\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("audit-2026-12-01T12-00-00.000.log"),
            "recent\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("audit-notatime.log"), "kept\n").unwrap();
        std::fs::write(dir.path().join("other.log"), "kept\n").unwrap();
        std::fs::write(&path, vec![b'y'; 1024 * 1024]).unwrap();
        let (_, clock) = clock();
        let rotation = Rotation {
            max_size_mb: 1,
            max_backups: 0,
            max_age_days: 7,
            compress: false,
        };
        let mut f = RotatingFile::open(&path, rotation, clock).unwrap();
        f.write_all(b"first line after a full file\n").unwrap();
        f.flush().unwrap();
        assert_eq!(
            names(dir.path()),
            [
                "audit-2026-12-01T12-00-00.000.log",
                "audit-2026-12-02T10-00-00.000.log",
                "audit-notatime.log",
                "audit.log",
                "other.log",
            ]
        );
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "first line after a full file\n"
        );
    }

    #[test]
    fn compressed_backups_are_gzip_of_what_was_written_and_count_as_backups() {
        use std::io::Read;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (ms, clock) = clock();
        let rotation = Rotation {
            max_size_mb: 1,
            max_backups: 1,
            max_age_days: 0,
            compress: true,
        };
        let mut f = RotatingFile::open(&path, rotation, clock).unwrap();
        let line = |c: u8| {
            vec![c; 600 * 1024 - 1]
                .into_iter()
                .chain([b'\n'])
                .collect::<Vec<u8>>()
        };
        // Each line fills most of a megabyte: a, b and c each end up in their own file.
        for c in [b'a', b'b', b'c'] {
            f.write_all(&line(c)).unwrap();
            f.settle();
            ms.fetch_add(1_000, Ordering::SeqCst);
        }
        f.flush().unwrap();
        assert_eq!(
            names(dir.path()),
            ["audit-2026-12-02T10-00-02.000.log.gz", "audit.log"],
            "the first backup (a) pruned as the second was made: gzipped files are backups too"
        );
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(
            File::open(dir.path().join("audit-2026-12-02T10-00-02.000.log.gz")).unwrap(),
        )
        .read_to_end(&mut text)
        .unwrap();
        assert_eq!(text, line(b'b'));
        assert_eq!(std::fs::read(&path).unwrap(), line(b'c'));
        use std::os::unix::fs::PermissionsExt;
        let gz = dir.path().join("audit-2026-12-02T10-00-02.000.log.gz");
        assert_eq!(
            std::fs::metadata(gz).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn zero_size_is_lumberjacks_hundred_megabytes() {
        let dir = tempfile::tempdir().unwrap();
        let (_, clock) = clock();
        let f = RotatingFile::open(&dir.path().join("a"), Rotation::default(), clock).unwrap();
        assert_eq!(f.max_bytes, 100 * MEGABYTE);
        assert_eq!(f.name_parts(), ("a".to_string(), String::new()));
    }
}
