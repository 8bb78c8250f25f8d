//! The standard process metrics every Go binary exports through client_golang's process
//! collector (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...), read from
//! `/proc/self` at each scrape. Off Linux, or when `/proc` is not mounted, they stay at zero.

use std::path::Path;

/// One reading of the process.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Sample {
    /// User and system CPU time, in seconds.
    pub(crate) cpu_seconds: f64,
    /// Resident set size, in bytes.
    pub(crate) resident_bytes: u64,
    /// Virtual memory size, in bytes.
    pub(crate) virtual_bytes: u64,
    /// Open file descriptors.
    pub(crate) open_fds: u64,
    /// The soft open-file limit.
    pub(crate) max_fds: u64,
    /// Start time, seconds since the Unix epoch.
    pub(crate) start_time_seconds: f64,
}

/// Linux reports times in `/proc` in USER_HZ, 100 on every architecture kubeward builds for.
const USER_HZ: f64 = 100.0;

/// Reads the process's figures from a `/proc`-shaped directory (`/proc` in use).
pub(crate) fn sample(proc_root: &Path) -> Sample {
    let me = proc_root.join("self");
    let mut s = Sample::default();
    if let Ok(stat) = std::fs::read_to_string(me.join("stat")) {
        // The command name is in parentheses and may hold spaces: fields count after it.
        if let Some((_, rest)) = stat.rsplit_once(')') {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            // After the name: state is field 3 of proc(5), so field n is f[n - 3].
            s.cpu_seconds = (num(14 - 3) + num(15 - 3)) / USER_HZ;
            let started_ticks = num(22 - 3);
            let boot = std::fs::read_to_string(proc_root.join("stat"))
                .ok()
                .and_then(|t| {
                    t.lines()
                        .find_map(|l| l.strip_prefix("btime "))
                        .and_then(|v| v.trim().parse::<f64>().ok())
                })
                .unwrap_or(0.0);
            s.start_time_seconds = boot + started_ticks / USER_HZ;
        }
    }
    if let Ok(status) = std::fs::read_to_string(me.join("status")) {
        let kib = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
                * 1024
        };
        s.resident_bytes = kib("VmRSS:");
        s.virtual_bytes = kib("VmSize:");
    }
    s.open_fds = std::fs::read_dir(me.join("fd")).map_or(0, |d| d.count() as u64);
    if let Ok(limits) = std::fs::read_to_string(me.join("limits")) {
        s.max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/proc` tree written out by hand: every figure is read from where proc(5) puts it.
    #[test]
    fn reads_proc_as_proc5_lays_it_out() {
        let dir = tempfile::tempdir().unwrap();
        let me = dir.path().join("self");
        std::fs::create_dir_all(me.join("fd")).unwrap();
        for fd in ["0", "1", "2"] {
            std::fs::write(me.join("fd").join(fd), "").unwrap();
        }
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice threads itrealvalue starttime ...
        std::fs::write(
            me.join("stat"),
            "42 (kube ward) S 1 42 42 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 4 0 12345 1000 200\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("stat"), "cpu 1 2 3\nbtime 1700000000\n").unwrap();
        std::fs::write(
            me.join("status"),
            "Name:\tkubeward\nVmSize:\t  20480 kB\nVmRSS:\t   1024 kB\n",
        )
        .unwrap();
        std::fs::write(
            me.join("limits"),
            "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n",
        )
        .unwrap();
        let s = sample(dir.path());
        assert_eq!(
            s,
            Sample {
                cpu_seconds: 3.0,
                resident_bytes: 1024 * 1024,
                virtual_bytes: 20480 * 1024,
                open_fds: 3,
                max_fds: 1024,
                start_time_seconds: 1_700_000_000.0 + 123.45,
            }
        );
    }

    #[test]
    fn no_proc_is_all_zero() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(sample(dir.path()), Sample::default());
    }
}
