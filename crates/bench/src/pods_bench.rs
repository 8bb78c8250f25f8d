//! The node agent's figures, each beside its baseline in the same run:
//! - pod create → Running (p50/p99 over 100 pods, one at a time) in fake and process modes,
//!   beside spawning the same command directly;
//! - `kubectl exec -- true` beside `kubectl get pod` (median of 10);
//! - the server's resident memory with 100 running pods beside none.
//!
//! Process mode needs root (namespaces and mounts).

use super::{client_config, connect, send, Kubeward};
use std::path::Path;
use std::time::{Duration, Instant};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a sample"
    )]
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn pod(name: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}}))
    .unwrap_or_default()
}

/// Creates 100 pods one at a time; for each, the time from POST to `phase: Running`.
async fn to_running(k: &Kubeward) -> Vec<Duration> {
    let admin = client_config(&k.dir, true);
    let mut s = connect(k.port, admin).await;
    let mut times = Vec::new();
    for i in 0..100 {
        let name = format!("p{i}");
        let t0 = Instant::now();
        let (code, _) = send(
            &mut s,
            "POST",
            "/api/v1/namespaces/default/pods",
            Some(pod(&name)),
        )
        .await;
        assert_eq!(code, 201, "creating {name}");
        loop {
            let (_, body) = send(
                &mut s,
                "GET",
                &format!("/api/v1/namespaces/default/pods/{name}"),
                None,
            )
            .await;
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if v.pointer("/status/phase")
                .and_then(serde_json::Value::as_str)
                == Some("Running")
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        times.push(t0.elapsed());
    }
    times.sort_unstable();
    times
}

fn kubectl(dir: &Path, args: &[&str]) -> Duration {
    let t0 = Instant::now();
    let ok = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(dir.join("admin.kubeconfig"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kubectl {args:?}");
    t0.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

pub(crate) async fn run(dir: &Path) {
    // The baseline: the same command spawned directly (fork, exec, first instruction).
    let mut direct = Vec::new();
    for _ in 0..100 {
        let t0 = Instant::now();
        let mut c = std::process::Command::new("sleep")
            .arg("3600")
            .spawn()
            .unwrap();
        direct.push(t0.elapsed());
        let _ = c.kill();
        let _ = c.wait();
    }
    direct.sort_unstable();
    println!("| what | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| spawn `sleep 3600` directly (baseline) | {:.2} ms | {:.2} ms |",
        ms(pct(&direct, 0.5)),
        ms(pct(&direct, 0.99))
    );
    let root = is_root();
    for mode in ["fake", "process"] {
        if mode == "process" && !root {
            println!("| pod create → Running, process mode | needs root | |");
            continue;
        }
        let d = dir.join(mode);
        std::fs::create_dir_all(&d).unwrap();
        let (k, _) = Kubeward::start_with(&d, 0, &["--node-agent", mode, "--node-name", "bench"]);
        let idle = k.rss_kib();
        let times = to_running(&k).await;
        println!(
            "| pod create → Running, {mode} mode (100 pods, one at a time) | {:.1} ms | {:.1} ms |",
            ms(pct(&times, 0.5)),
            ms(pct(&times, 0.99))
        );
        if mode == "process" {
            tokio::time::sleep(Duration::from_millis(500)).await;
            println!(
                "| server resident memory, 100 running pods (beside none) | {:.1} MiB | {:.1} MiB |",
                k.rss_kib() as f64 / 1024.0,
                idle as f64 / 1024.0
            );
            // Proportional set size: the binary's pages the processes share are counted once.
            let kids = descendants(k.child.id());
            let pss: u64 = kids.iter().map(|p| pss_of(*p)).sum();
            let rss: u64 = kids.iter().map(|p| rss_of(*p)).sum();
            println!(
                "| the sandboxes' own processes (holder, PID 1, enter helper: {} in all), proportional beside resident, per pod | {:.2} MiB | {:.2} MiB |",
                kids.len(),
                pss as f64 / 1024.0 / 100.0,
                rss as f64 / 1024.0 / 100.0
            );
            let get: Vec<Duration> = (0..10)
                .map(|_| kubectl(&d, &["get", "pod", "p0"]))
                .collect();
            let exec: Vec<Duration> = (0..10)
                .map(|_| kubectl(&d, &["exec", "p0", "--", "true"]))
                .collect();
            println!(
                "| `kubectl exec p0 -- true` (median of 10) beside `kubectl get pod p0` | {:.1} ms | {:.1} ms |",
                ms(median(exec)),
                ms(median(get))
            );
        }
        drop(k);
    }
}

/// Every descendant of a process except the pods' own commands (`sleep`), by /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        // Children of every thread (a child is listed under the thread that forked it).
        let kids: String = std::fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|t| std::fs::read_to_string(t.path().join("children")).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        for k in kids
            .split_whitespace()
            .filter_map(|s| s.parse::<u32>().ok())
        {
            todo.push(k);
            let comm = std::fs::read_to_string(format!("/proc/{k}/comm")).unwrap_or_default();
            if comm.trim() != "sleep" {
                out.push(k);
            }
        }
    }
    out
}

/// A process's proportional set size, in KiB (`smaps_rollup`).
fn pss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A process's resident memory, in KiB.
fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Whether this process runs as root (its effective user ID).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        .unwrap_or(false)
}
