//! Test support: real etcd members on loopback, each in a temporary data directory, stopped
//! when dropped. Tests of the etcd backend run against these, never against a mock.
//!
//! `etcd` must be on PATH (Debian's `etcd-server`); without it, starting fails with a message
//! that says so, and the test fails: it never passes or skips silently.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "test support: a failed step fails the test that runs it, on the real clock"
)]

use crate::{EtcdConfig, EtcdStorage, Storage};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One etcd cluster of real processes on loopback.
pub struct EtcdCluster {
    members: Vec<Member>,
    /// Holds the members' data directories; removed after the members stop.
    _dir: tempfile::TempDir,
}

struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data: PathBuf,
    child: Option<Child>,
}

/// A port nothing listens on now (the kernel's choice; a member that loses it to another
/// process fails to start, and [`EtcdCluster::start`] says which port).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

impl Member {
    fn spawn(&mut self, initial_cluster: &str, state: &str) {
        let client = format!("http://127.0.0.1:{}", self.client_port);
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::File::create(self.data.with_extension("log")).unwrap();
        let child = Command::new("etcd")
            .arg("--name")
            .arg(&self.name)
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", "kubeward-test"])
            // Quick elections on loopback, so a stopped member is replaced within a second.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn();
        match child {
            Ok(c) => self.child = Some(c),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "etcd is not installed: the etcd backend's tests need a real etcd on PATH \
                 (apt-get install -y etcd-server; scripts/test-all installs it)"
            ),
            Err(e) => panic!("starting etcd: {e}"),
        }
    }
}

impl EtcdCluster {
    /// Starts `n` members and waits until the cluster answers (at most 30 s).
    pub fn start(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut members: Vec<Member> = (0..n)
            .map(|i| Member {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                data: dir.path().join(format!("m{i}")),
                child: None,
            })
            .collect();
        let initial: Vec<String> = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect();
        let initial = initial.join(",");
        for m in &mut members {
            m.spawn(&initial, "new");
        }
        let cluster = EtcdCluster { members, _dir: dir };
        cluster.wait_ready();
        cluster
    }

    /// `host:port` of each member's client listener.
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.client_port))
            .collect()
    }

    /// `etcd://` URL of the whole cluster, under `prefix` (`""` or `/p`).
    pub fn url(&self, prefix: &str) -> String {
        format!("etcd://{}{prefix}", self.endpoints().join(","))
    }

    /// A client of every member, keys under `prefix`.
    pub fn storage(&self, prefix: &str) -> EtcdStorage {
        let config = EtcdConfig {
            endpoints: self.endpoints(),
            prefix: prefix.to_string(),
            tls: None,
            request_timeout: Duration::from_secs(5),
        };
        EtcdStorage::connect(&config).unwrap()
    }

    /// Stops member `i` (SIGKILL: as a crash would).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Freezes member `i` (SIGSTOP): its sockets stay open and nothing answers, as with a
    /// member that hangs or a network that drops packets.
    pub fn freeze(&self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// Lets member `i` go on after [`EtcdCluster::freeze`].
    pub fn thaw(&self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&self, i: usize, signal: &str) {
        let pid = self.members[i].child.as_ref().unwrap().id().to_string();
        let ok = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(ok.success(), "kill {signal} {pid}");
    }

    /// Starts member `i` again on its data directory, after [`EtcdCluster::kill`].
    pub fn restart(&mut self, i: usize) {
        let initial: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect();
        self.members[i].spawn(&initial.join(","), "existing");
    }

    /// Waits until a write through the whole cluster succeeds: a leader is elected.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let store = self.storage("/.ready");
        loop {
            match store.create("/probe", Vec::new()) {
                Ok(_) | Err(crate::StorageError::AlreadyExists(_)) => return,
                Err(e) if Instant::now() > deadline => {
                    let logs: Vec<String> = self
                        .members
                        .iter()
                        .map(|m| {
                            let log = std::fs::read_to_string(m.data.with_extension("log"));
                            let log = log.unwrap_or_default();
                            let tail = log.len().saturating_sub(2000);
                            format!(
                                "--- {} (client port {}):\n{}",
                                m.name,
                                m.client_port,
                                log.get(tail..).unwrap_or(&log)
                            )
                        })
                        .collect();
                    panic!("etcd did not start within 30 s: {e}\n{}", logs.join("\n"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            if self.members[i].child.is_some() {
                // A frozen member takes SIGKILL too, but thaw it so nothing is left stopped.
                let _ = Command::new("kill")
                    .args([
                        "-CONT",
                        &self.members[i].child.as_ref().unwrap().id().to_string(),
                    ])
                    .status();
            }
            self.kill(i);
        }
    }
}
