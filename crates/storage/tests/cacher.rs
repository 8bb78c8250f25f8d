//! The watch cache's own promises: one store watch per resource however many watch, lists
//! that see every write acknowledged before them (also writes made past the cache, as by
//! another replica), slow watchers ended rather than skipped, and a cache that starts over when
//! its store's watch ends.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests: a failed step fails the run, and they run on the real clock"
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use storage::{
    Cacher, KeyValue, ListOptions, ListResult, MemoryStorage, Revision, Storage, StorageError,
    Watcher,
};

fn first_segment(key: &str) -> Option<usize> {
    key.strip_prefix('/')?.find('/').map(|i| i + 2)
}

/// A memory store that counts the watches opened on it.
struct Counted {
    inner: MemoryStorage,
    watches: Arc<AtomicUsize>,
}

impl Storage for Counted {
    fn get(&self, key: &str) -> storage::Result<Option<KeyValue>> {
        self.inner.get(key)
    }
    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> storage::Result<ListResult> {
        self.inner.list(prefix, opts)
    }
    fn create(&self, key: &str, value: Vec<u8>) -> storage::Result<KeyValue> {
        self.inner.create(key, value)
    }
    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> storage::Result<KeyValue> {
        self.inner.update(key, expected, value)
    }
    fn delete(&self, key: &str, expected: Option<Revision>) -> storage::Result<KeyValue> {
        self.inner.delete(key, expected)
    }
    fn watch(&self, prefix: &str, after: Revision) -> storage::Result<Watcher> {
        self.watches.fetch_add(1, Ordering::SeqCst);
        self.inner.watch(prefix, after)
    }
    fn count(&self, prefix: &str) -> storage::Result<u64> {
        self.inner.count(prefix)
    }
    fn current_revision(&self) -> storage::Result<Revision> {
        self.inner.current_revision()
    }
    fn compacted_revision(&self) -> storage::Result<Revision> {
        self.inner.compacted_revision()
    }
    fn compact(&self, revision: Revision) -> storage::Result<()> {
        self.inner.compact(revision)
    }
}

fn counted() -> (Arc<dyn Storage>, Arc<AtomicUsize>) {
    let watches = Arc::new(AtomicUsize::new(0));
    let inner = Counted {
        inner: MemoryStorage::new(),
        watches: watches.clone(),
    };
    (Arc::new(inner), watches)
}

fn names(s: &dyn Storage, prefix: &str) -> Vec<String> {
    let l = s.list(prefix, &ListOptions::default()).unwrap();
    l.kvs.into_iter().map(|kv| kv.key).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_watchers_cost_one_store_watch() {
    let (inner, watches) = counted();
    let cache = Cacher::new(inner, first_segment).unwrap();
    let now = cache.current_revision().unwrap();
    let mut watchers: Vec<_> = (0..200)
        .map(|i| {
            let prefix = if i % 2 == 0 { "/r/" } else { "/r/ns/" };
            cache.watch(prefix, now).unwrap()
        })
        .collect();
    assert_eq!(watches.load(Ordering::SeqCst), 1, "one watch on the store");
    assert_eq!(cache.store_watches(), 1);
    let a = cache.create("/r/ns/a", b"1".to_vec()).unwrap();
    for w in &mut watchers {
        let e = tokio::time::timeout(Duration::from_secs(5), w.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(e.kv, a);
    }
    // Another resource is a second watch; a resume from before the cache began, the store's.
    let _other = cache
        .watch("/q/", cache.current_revision().unwrap())
        .unwrap();
    assert_eq!(watches.load(Ordering::SeqCst), 2);
    let mut old = cache.watch("/r/", 0).unwrap();
    assert_eq!(watches.load(Ordering::SeqCst), 3);
    // What the metrics report: per resource, one initialization; the resume is /r/'s second
    // store watch.
    let stats: Vec<_> = cache
        .cache_stats()
        .into_iter()
        .map(|s| (s.prefix, s.initializations, s.store_watches))
        .collect();
    assert_eq!(stats, [("/q/".into(), 1, 1), ("/r/".into(), 1, 2)]);
    assert_eq!(
        old.next().await.unwrap().unwrap().kv,
        a,
        "the store's history"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_see_every_write_acknowledged_before_them() {
    let memory = lists_see_every_write(Arc::new(MemoryStorage::new()));
    drop(memory);
    // On etcd the cache is fresh when etcd says nothing under the resource changed since the
    // cache's revision, or when its watch delivered the rest.
    // Behind the timing decorator, as the binary has it (which must pass the question on).
    let etcd = storage::etcd_server::EtcdCluster::start(1);
    let lists = Arc::new(AtomicUsize::new(0));
    let seen = lists.clone();
    let observed = storage::Observed::new(
        Arc::new(etcd.storage("/kw")),
        Arc::new(move |op, _, _| {
            if op == "list" {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }),
    );
    let observed: Arc<dyn Storage> = Arc::new(observed);
    let cache = lists_see_every_write(observed.clone());
    // etcd's progress is not trusted, so those lists were etcd's; one at resourceVersion=0
    // (any recent state) is the cache's.
    let before = lists.load(Ordering::SeqCst);
    let any = ListOptions {
        not_older_than: Some(0),
        ..Default::default()
    };
    assert_eq!(cache.list("/r/", &any).unwrap().kvs.len(), 200);
    assert_eq!(lists.load(Ordering::SeqCst), before, "served from memory");
}

fn lists_see_every_write(inner: Arc<dyn Storage>) -> Cacher {
    let cache = Cacher::new(inner.clone(), first_segment).unwrap();
    assert!(names(&cache, "/r/").is_empty());
    for i in 0..200 {
        // Alternately through the cache and past it (another replica's write), and between
        // them writes elsewhere, which move the store's revision but not this resource.
        let key = format!("/r/{i:03}");
        if i % 2 == 0 {
            cache.create(&key, b"v".to_vec()).unwrap();
        } else {
            inner.create(&key, b"v".to_vec()).unwrap();
        }
        inner.create(&format!("/q/{i}"), b"v".to_vec()).unwrap();
        let listed = cache.list("/r/", &ListOptions::default()).unwrap();
        assert_eq!(listed.kvs.len(), i + 1, "after write {i}");
        assert_eq!(listed.kvs.last().unwrap().key, key);
        assert!(listed.revision >= inner.current_revision().unwrap() - 1);
        // Deletions too, past the cache.
        if i % 10 == 9 {
            inner.delete(&format!("/q/{i}"), None).unwrap();
        }
    }
    // Pages from the cache: the continue position and limit as the store's.
    let page = cache
        .list(
            "/r/",
            &ListOptions {
                start_after: Some("/r/049"),
                limit: 10,
                revision: None,
                not_older_than: None,
            },
        )
        .unwrap();
    let keys: Vec<_> = page.kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys.first(), Some(&"/r/050"));
    assert_eq!((keys.len(), page.more), (10, true));
    // A later page at the first page's revision is the store's, and agrees.
    let next = cache
        .list(
            "/r/",
            &ListOptions {
                start_after: Some("/r/059"),
                limit: 0,
                revision: Some(page.revision),
                not_older_than: None,
            },
        )
        .unwrap();
    assert_eq!(next.kvs.len(), 140);
    cache
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_that_falls_behind_is_ended_not_skipped() {
    let cache = Cacher::new(Arc::new(MemoryStorage::new()), first_segment).unwrap();
    let now = cache.current_revision().unwrap();
    let mut slow = cache.watch("/r/", now).unwrap();
    // More events than a watcher may hold, none read; each batch applied by the cache before
    // the next (a list waits for that), so it is the watcher that falls behind, not the cache.
    for batch in 0..2 {
        for i in 0..1000 {
            cache
                .create(&format!("/r/{batch}-{i}"), Vec::new())
                .unwrap();
        }
        assert_eq!(names(&cache, "/r/").len(), (batch + 1) * 1000);
    }
    let mut got = 0;
    let end = loop {
        match tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
            Ok(Some(Ok(_))) => got += 1,
            Ok(other) => break other,
            Err(_) => panic!("no end after {got} events"),
        }
    };
    assert!(
        matches!(end, Some(Err(StorageError::Lagged))),
        "ended with Lagged after {got} events: {end:?}"
    );
    assert!(got < 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_starts_over_when_its_store_watch_ends() {
    let mut etcd = storage::etcd_server::EtcdCluster::start(1);
    let cache = Cacher::new(Arc::new(etcd.storage("/kw")), first_segment).unwrap();
    cache.create("/r/a", b"1".to_vec()).unwrap();
    let now = cache.current_revision().unwrap();
    let mut w = cache.watch("/r/", now).unwrap();
    etcd.kill(0);
    // The cache's watchers end (the client re-lists), within the keep-alive's time.
    let end = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match w.next().await {
                Some(Ok(_)) => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("the watch ended");
    assert!(end.is_none(), "{end:?}");
    etcd.restart(0);
    // Back: lists and watches are served again, and see what was written meanwhile.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let b = loop {
        match cache.create("/r/b", b"2".to_vec()) {
            Ok(b) => break b,
            Err(e) if std::time::Instant::now() > deadline => panic!("{e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_eq!(names(&cache, "/r/"), ["/r/a", "/r/b"]);
    let mut again = cache.watch("/r/", b.mod_revision).unwrap();
    let c = cache.create("/r/c", b"3".to_vec()).unwrap();
    assert_eq!(again.next().await.unwrap().unwrap().kv, c);
}

/// What `make` was called for, counting the calls.
fn derive(kv: &KeyValue, calls: &AtomicUsize) -> Vec<u8> {
    let _ = kv.memo.get_or_try_init(0, || {
        calls.fetch_add(1, Ordering::SeqCst);
        Ok::<_, ()>(kv.value.to_vec())
    });
    kv.memo
        .get_or_try_init(0, || Err::<Vec<u8>, _>(()))
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_revision_is_derived_once_while_the_cache_holds_it() {
    each_revision_is_derived_once(Arc::new(MemoryStorage::new()));
    // On etcd a consistent list is etcd's, and still finds the cache's memos.
    let etcd = storage::etcd_server::EtcdCluster::start(1);
    each_revision_is_derived_once(Arc::new(etcd.storage("/kw")));
}

fn each_revision_is_derived_once(inner: Arc<dyn Storage>) {
    let calls = AtomicUsize::new(0);
    // A store alone keeps nothing: each read derives again.
    inner.create("/m/a", b"1".to_vec()).unwrap();
    let kv = inner.get("/m/a").unwrap().unwrap();
    assert!(!kv.memo.is_shared());
    derive(&kv, &calls);
    derive(&inner.get("/m/a").unwrap().unwrap(), &calls);
    assert_eq!(calls.swap(0, Ordering::SeqCst), 2);

    let cache = Cacher::new(inner.clone(), first_segment).unwrap();
    let listed = cache.list("/m/", &ListOptions::default()).unwrap();
    assert_eq!(derive(&listed.kvs[0], &calls), b"1");
    let any = ListOptions {
        not_older_than: Some(0),
        ..Default::default()
    };
    let exact = ListOptions {
        revision: Some(listed.revision),
        ..Default::default()
    };
    // The current list, any recent state, a later page's exact revision, and a GET: one memo.
    for kv in [
        cache.list("/m/", &ListOptions::default()).unwrap().kvs[0].clone(),
        cache.list("/m/", &any).unwrap().kvs[0].clone(),
        cache.list("/m/", &exact).unwrap().kvs[0].clone(),
        cache.get("/m/a").unwrap().unwrap(),
    ] {
        assert!(kv.memo.is_shared());
        assert_eq!(derive(&kv, &calls), b"1");
    }
    assert_eq!(calls.swap(0, Ordering::SeqCst), 1, "derived once");
    // Each form has a slot of its own; a form past the last is made and not kept.
    let kv = cache.get("/m/a").unwrap().unwrap();
    let other = kv
        .memo
        .get_or_try_init(1, || Ok::<_, ()>(b"other".to_vec()));
    assert_eq!(other.unwrap().as_ref(), b"other");
    assert_eq!(derive(&kv, &calls), b"1");
    let past = storage::MEMO_FORMS;
    assert!(kv
        .memo
        .get_or_try_init(past, || Ok::<_, ()>(vec![]))
        .is_ok());
    assert!(
        kv.memo.get_or_try_init(past, || Err(())).is_err(),
        "not kept"
    );
    // A new revision is derived anew, once; the old revision's memo stays with it.
    let old = cache.get("/m/a").unwrap().unwrap();
    let new = cache
        .update("/m/a", old.mod_revision, b"2".to_vec())
        .unwrap();
    // Until the cache's watch brings the write (at once on memory; etcd's watch is a
    // stream), a store's read has nothing to share.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache.list("/m/", &any).unwrap().kvs[0].mod_revision != new.mod_revision {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never saw the write"
        );
        std::thread::yield_now();
    }
    for _ in 0..3 {
        assert_eq!(
            derive(
                &cache.list("/m/", &ListOptions::default()).unwrap().kvs[0],
                &calls
            ),
            b"2"
        );
    }
    assert_eq!(derive(&cache.get("/m/a").unwrap().unwrap(), &calls), b"2");
    assert_eq!(derive(&old, &calls), b"1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_not_older_than_a_seen_revision_are_answered_from_memory() {
    // On etcd, whose consistent lists stay etcd's: "not older than" a revision the cache's
    // watch brought is the cache's (upstream's cacher, after waitUntilFreshAndBlock).
    let etcd = storage::etcd_server::EtcdCluster::start(1);
    let reads = Arc::new(AtomicUsize::new(0));
    let seen = reads.clone();
    let observed: Arc<dyn Storage> = Arc::new(storage::Observed::new(
        Arc::new(etcd.storage("/kw")),
        Arc::new(move |op, _, _| {
            if op == "list" || op == "get" {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        }),
    ));
    let cache = Cacher::new(observed, first_segment).unwrap();
    assert!(names(&cache, "/n/").is_empty());
    let written = cache.create("/n/a", b"1".to_vec()).unwrap();
    // Until its watch brings the write the cache cannot answer; then it does, from memory.
    let at = |n| ListOptions {
        not_older_than: Some(n),
        ..Default::default()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache.list("/n/", &at(0)).unwrap().revision < written.mod_revision {
        assert!(
            std::time::Instant::now() < deadline,
            "the cache never saw the write"
        );
        std::thread::yield_now();
    }
    let before = reads.load(Ordering::SeqCst);
    let listed = cache.list("/n/", &at(written.mod_revision)).unwrap();
    assert_eq!(listed.kvs.len(), 1);
    assert_eq!(listed.revision, written.mod_revision);
    let got = cache
        .get_cached("/n/a", written.mod_revision)
        .unwrap()
        .unwrap();
    assert_eq!(got.value, &b"1"[..]);
    assert_eq!(reads.load(Ordering::SeqCst), before, "served from memory");
    // A revision the cache has not seen (another resource's write) is the store's, at once.
    let other = cache.create("/o/b", b"2".to_vec()).unwrap();
    let listed = cache.list("/n/", &at(other.mod_revision)).unwrap();
    assert!(listed.revision >= other.mod_revision, "the store's answer");
    assert_eq!(reads.load(Ordering::SeqCst), before + 1);
}
