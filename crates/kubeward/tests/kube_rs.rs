//! kube-rs (the Rust client) against a real kubeward process: create, get, list, update,
//! delete and watch of service accounts and secrets; server-side apply with two managers.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests and benchmarks: a failed step fails the run, and they run on the real clock"
)]

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ListParams, ObjectMeta, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> Server {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("kubeward-kube-rs-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubeward"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubeward starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.contains("ready"), "ready line: {line:?}");
    Server { child, dir }
}

async fn client(server: &Server) -> Client {
    let kc = Kubeconfig::read_from(server.dir.join("admin.kubeconfig")).unwrap();
    let cfg = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(cfg).unwrap()
}

fn meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn kube_rs_manages_service_accounts_and_secrets() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let server = start();
    let client = client(&server).await;
    let nss: Api<Namespace> = Api::all(client.clone());
    nss.create(
        &PostParams::default(),
        &Namespace {
            metadata: meta("kube-rs"),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "kube-rs");
    let created = sas
        .create(
            &PostParams::default(),
            &ServiceAccount {
                metadata: meta("bot"),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let mut got = sas.get("bot").await.unwrap();
    assert_eq!(got.metadata.uid, created.metadata.uid);
    got.automount_service_account_token = Some(false);
    let replaced = sas
        .replace("bot", &PostParams::default(), &got)
        .await
        .unwrap();
    assert_eq!(replaced.automount_service_account_token, Some(false));
    let stale = sas
        .replace("bot", &PostParams::default(), &got)
        .await
        .unwrap_err();
    assert!(
        matches!(stale, kube::Error::Api(ref s) if s.code == 409),
        "{stale:?}"
    );
    let names: Vec<String> = sas
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .filter(|n| n != "default")
        .collect();
    // The ServiceAccount controller adds `default` to every namespace, in its own time.
    assert_eq!(names, ["bot"]);

    let secrets: Api<Secret> = Api::namespaced(client.clone(), "kube-rs");
    let rv = secrets
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = secrets
        .watch(&WatchParams::default().timeout(20), &rv)
        .await
        .unwrap()
        .boxed();
    let data = BTreeMap::from([("k".to_string(), ByteString(b"v".to_vec()))]);
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: meta("s"),
                data: Some(data),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut s = secrets.get("s").await.unwrap();
    assert_eq!(s.type_.as_deref(), Some("Opaque"));
    assert_eq!(s.data.as_ref().unwrap()["k"].0, b"v");
    s.data
        .as_mut()
        .unwrap()
        .insert("k2".into(), ByteString(b"w".to_vec()));
    let s = secrets
        .replace("s", &PostParams::default(), &s)
        .await
        .unwrap();
    assert_eq!(s.data.unwrap().len(), 2);
    secrets.delete("s", &DeleteParams::default()).await.unwrap();
    let mut seen = Vec::new();
    while let Some(ev) = stream.try_next().await.unwrap() {
        match ev {
            WatchEvent::Added(s) => seen.push(("ADDED", s.metadata.name.unwrap())),
            WatchEvent::Modified(s) => seen.push(("MODIFIED", s.metadata.name.unwrap())),
            WatchEvent::Deleted(s) => seen.push(("DELETED", s.metadata.name.unwrap())),
            other => panic!("unexpected event {other:?}"),
        }
        if seen.len() == 3 {
            break;
        }
    }
    let events: Vec<String> = seen.iter().map(|(t, n)| format!("{t} {n}")).collect();
    assert_eq!(events, ["ADDED s", "MODIFIED s", "DELETED s"]);

    // A watch from "0" starts with the current state.
    let mut sa_stream = sas
        .watch(&WatchParams::default().timeout(20), "0")
        .await
        .unwrap()
        .boxed();
    match sa_stream.try_next().await.unwrap() {
        Some(WatchEvent::Added(sa)) => assert_eq!(sa.metadata.name.as_deref(), Some("bot")),
        other => panic!("expected the current service account first, got {other:?}"),
    }

    sas.delete("bot", &DeleteParams::default()).await.unwrap();
    let gone = sas.get("bot").await.unwrap_err();
    assert!(matches!(gone, kube::Error::Api(ref s) if s.code == 404));
}

#[tokio::test]
async fn kube_rs_server_side_apply_records_owners_and_conflicts() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Patch, PatchParams};
    let server = start();
    let client = client(&server).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let cm = |owner: &str| {
        serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "owned"}, "data": {"owner": owner}})
    };
    let applied = cms
        .patch(
            "owned",
            &PatchParams::apply("alice"),
            &Patch::Apply(cm("alice")),
        )
        .await
        .unwrap();
    let owners = applied.metadata.managed_fields.unwrap();
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0].manager.as_deref(), Some("alice"));
    assert_eq!(owners[0].operation.as_deref(), Some("Apply"));

    let err = cms
        .patch(
            "owned",
            &PatchParams::apply("bob"),
            &Patch::Apply(cm("bob")),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 409);
            assert_eq!(
                status.message,
                "Apply failed with 1 conflict: conflict with \"alice\": .data.owner"
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = cms
        .patch(
            "owned",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(cm("bob")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["owner"], "bob");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["bob"], "alice owned only the field bob took");
}
