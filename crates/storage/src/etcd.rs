//! The etcd v3 backend (`--storage etcd://h1:2379,h2:2379[/prefix]`), as kube-apiserver's
//! `staging/src/k8s.io/apiserver/pkg/storage/etcd3/store.go` uses etcd:
//!
//! - a key is the registry's key under the prefix (`/registry/serviceaccounts/ns/name`), its
//!   resourceVersion the etcd mod revision;
//! - a create is a transaction on `create_revision == 0`, an update and a conditional delete
//!   one on `mod_revision == expected`, so a write never overwrites what it did not read;
//! - a list reads one revision (the first page's) with etcd's own `limit`/`more`;
//! - a watch starts at the revision after the caller's, with the previous value of each key
//!   (progress notifications are not relied on); a compacted start revision is answered 410 Gone upstream's way;
//! - compaction is coordinated through `compact_rev_key`, as kube-apiserver's `compact.go`
//!   does: every replica may run the compactor, one transaction decides which one compacts.
//!
//! The `Storage` trait is synchronous (SQLite's calls are short); etcd's client is async. The
//! client runs on a runtime of its own, one thread, and a call waits for its answer: on a
//! multi-threaded runtime inside `block_in_place`, so a slow etcd does not hold up the server's
//! other tasks. Every call is bounded by the request timeout: an unreachable etcd is an
//! [`StorageError::Unavailable`] within that time, never a hang.

use crate::background::Background;
use crate::watch::{WatchItem, Watcher};
use crate::StorageError;
use crate::{
    Bytes, Event, EventKind, KeyValue, ListOptions, ListResult, Memo, Result, Revision, Storage,
};
use etcd_client as etcd;
use std::future::Future;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::sync::mpsc;

/// The key kube-apiserver's compactor coordinates through (its value: the newest compaction).
const COMPACT_REV_KEY: &str = "compact_rev_key";

/// How far a watcher's task reads ahead of its consumer.
const WATCH_BUFFER: usize = 256;

/// Where etcd is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// `host:port` of each member.
    pub endpoints: Vec<String>,
    /// Put before every key (`""` keeps kube-apiserver's `/registry/...` at the root).
    pub prefix: String,
    /// TLS to etcd (`--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`), PEM.
    pub tls: Option<EtcdTls>,
    /// The longest one call may take.
    pub request_timeout: Duration,
}

/// TLS to etcd, as PEM bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EtcdTls {
    /// The CA that signed the members' certificates (the system roots when absent).
    pub ca: Option<Vec<u8>>,
    /// A client certificate and its key, for members that ask for one.
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
}

impl EtcdConfig {
    /// Parses `etcd://h1:2379,h2:2379[/prefix]`; `None` when the URL is not of that form.
    pub fn from_url(url: &str) -> Option<Self> {
        let rest = url.strip_prefix("etcd://")?;
        let (hosts, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let endpoints: Vec<String> = hosts.split(',').map(str::to_string).collect();
        let valid = |h: &str| {
            h.rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        };
        if !endpoints.iter().all(|h| valid(h)) {
            return None;
        }
        Some(EtcdConfig {
            endpoints,
            prefix: prefix.to_string(),
            tls: None,
            request_timeout: Duration::from_secs(5),
        })
    }
}

/// What a transaction answered.
struct Txned {
    /// Whether the comparison held (the write happened).
    ok: bool,
    /// etcd's revision after it.
    revision: Revision,
    /// The operations' answers (the write's, or the read of the key).
    ops: Vec<etcd::TxnOpResponse>,
    /// How many tries it took.
    tries: u32,
}

/// The etcd backend.
pub struct EtcdStorage {
    /// The client's own runtime (`handle` is its handle).
    _background: Background,
    handle: Handle,
    client: etcd::Client,
    prefix: String,
    timeout: Duration,
}

/// The pause between tries of a call that met an unreachable or leaderless etcd.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Runs `call` on `handle` from synchronous code on any thread, and waits for its answer: at
/// most `timeout` in all. With `retry`, a try that fails because etcd is unreachable or has no
/// leader is made again after a pause while time is left (what clientv3's retry interceptor
/// does for kube-apiserver), so a member going down is not an error; the answer says how many
/// tries were made (a write tried twice may have landed the first time).
fn run_on<T, F, Fut>(handle: &Handle, timeout: Duration, retry: bool, call: F) -> Result<(T, u32)>
where
    T: Send + 'static,
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, etcd::Error>> + Send,
{
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle.spawn(async move {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tries = 0;
        let answer = loop {
            tries += 1;
            match tokio::time::timeout_at(deadline, call()).await {
                Err(_) => {
                    break Err(StorageError::Unavailable(format!(
                        "etcd did not answer within {}s",
                        timeout.as_secs_f64()
                    )))
                }
                Ok(Ok(v)) => break Ok((v, tries)),
                Ok(Err(e)) => match from_etcd(e) {
                    StorageError::Unavailable(_)
                        if retry && tokio::time::Instant::now() + RETRY_PAUSE < deadline =>
                    {
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                    e => break Err(e),
                },
            }
        };
        let _ = tx.send(answer);
    });
    let wait = move || {
        rx.recv()
            .map_err(|_| StorageError::Unavailable("the etcd client stopped".into()))?
    };
    crate::background::blocking(wait)
}

/// What a failed call means: unreachable members are `Unavailable`; the rest is etcd's word.
fn from_etcd(e: etcd::Error) -> StorageError {
    match e {
        etcd::Error::TransportError(t) => {
            StorageError::Unavailable(format!("etcd is unreachable: {t}"))
        }
        etcd::Error::GRpcStatus(s)
            if matches!(
                s.code(),
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded
            ) =>
        {
            StorageError::Unavailable(format!("etcd is unavailable: {}", s.message()))
        }
        etcd::Error::GRpcStatus(s) if broken_connection(&s) => {
            StorageError::Unavailable(format!("etcd is unreachable: {}", s.message()))
        }
        etcd::Error::GRpcStatus(s) => StorageError::Etcd(s.message().to_string()),
        other => StorageError::Etcd(other.to_string()),
    }
}

/// A call whose connection broke under it (a member killed mid-call): tonic reports its own
/// transport error as an `Unknown` status, "transport error", not as `Unavailable`
/// (`Status::from_error` recognizes only hyper's timeouts and h2's codes).
fn broken_connection(s: &tonic::Status) -> bool {
    s.code() == tonic::Code::Unknown
        && std::iter::successors(std::error::Error::source(s), |e| e.source())
            .any(|e| e.is::<tonic::transport::Error>())
}

/// The smallest key greater than every key starting with `prefix` (etcd's `GetPrefixRangeEnd`).
fn bytes_prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xff: the range runs to the end of the keyspace.
    vec![0]
}

/// etcd's answers to a read at a revision it no longer has, or does not have yet.
fn is_compacted(e: &StorageError) -> bool {
    matches!(e, StorageError::Etcd(m) if m.contains("required revision has been compacted"))
}

fn is_future(e: &StorageError) -> bool {
    matches!(e, StorageError::Etcd(m) if m.contains("required revision is a future revision"))
}

impl EtcdStorage {
    /// A client for the members in `config`. Connections are made as calls need them: a call
    /// while etcd is down fails as `Unavailable` within the timeout, and the client reconnects
    /// when etcd returns.
    pub fn connect(config: &EtcdConfig) -> Result<Self> {
        let background = Background::start("etcd-client")?;
        let handle = background.handle.clone();
        let mut options = etcd::ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            // A member that dies without closing its connection is noticed, and its watches
            // end, within seconds rather than at the kernel's TCP timeout.
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(3))
            .with_keep_alive_while_idle(true);
        let scheme = match &config.tls {
            Some(tls) => {
                let mut t = etcd::TlsOptions::new();
                if let Some(ca) = &tls.ca {
                    t = t.ca_certificate(etcd::Certificate::from_pem(ca));
                }
                if let Some((cert, key)) = &tls.identity {
                    t = t.identity(etcd::Identity::from_pem(cert, key));
                }
                options = options.with_tls(t);
                "https"
            }
            None => "http",
        };
        let endpoints: Vec<String> = config
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        let (client, _) = run_on(&handle, config.request_timeout, false, move || {
            etcd::Client::connect(endpoints.clone(), Some(options.clone()))
        })?;
        Ok(EtcdStorage {
            _background: background,
            handle,
            client,
            prefix: config.prefix.clone(),
            timeout: config.request_timeout,
        })
    }

    /// One call, retried while etcd is unreachable (see [`run_on`]): for reads, and writes
    /// whose callers tell a repeated success from a refusal.
    fn call<T, F, Fut>(&self, f: F) -> Result<(T, u32)>
    where
        T: Send + 'static,
        F: Fn(etcd::Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, etcd::Error>> + Send,
    {
        let client = self.client.clone();
        run_on(&self.handle, self.timeout, true, move || f(client.clone()))
    }

    /// A read, retried while etcd is unreachable.
    fn read<T, F, Fut>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: Fn(etcd::Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, etcd::Error>> + Send,
    {
        self.call(f).map(|(v, _)| v)
    }

    fn full(&self, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(self.prefix.as_bytes());
        k.extend_from_slice(key.as_bytes());
        k
    }

    fn kv(&self, kv: &etcd::KeyValue) -> KeyValue {
        to_kv(self.prefix.len(), kv)
    }

    /// The compaction record: (the newest compacted revision, the record's own mod revision).
    fn compaction_record(&self) -> Result<(Revision, Revision)> {
        let key = self.full(COMPACT_REV_KEY);
        let resp = self.read(move |mut c| {
            let key = key.clone();
            async move { c.get(key, None).await }
        })?;
        Ok(resp.kvs().first().map_or((0, 0), |kv| {
            let rev = std::str::from_utf8(kv.value())
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            (rev, kv.mod_revision())
        }))
    }

    /// The error for a read at `requested` that etcd refused, in this trait's terms.
    fn revision_error(&self, requested: Revision, e: StorageError) -> StorageError {
        if is_compacted(&e) {
            let compacted = self.compacted_revision().unwrap_or(requested);
            return StorageError::Compacted {
                requested,
                compacted: compacted.max(requested),
            };
        }
        if is_future(&e) {
            return match self.current_revision() {
                Ok(current) => StorageError::FutureRevision { requested, current },
                Err(e) => e,
            };
        }
        e
    }

    /// A transaction on one key: `then` when `compare` holds, else a read of the key. With
    /// `retry`, tried again while etcd is unreachable: the caller then tells its own earlier
    /// success from a refusal (`Txned::tries`).
    fn txn(
        &self,
        key: &str,
        compare: impl Into<Vec<etcd::Compare>>,
        then: etcd::TxnOp,
        retry: bool,
    ) -> Result<Txned> {
        let k = self.full(key);
        let txn = etcd::Txn::new()
            .when(compare)
            .and_then([then])
            .or_else([etcd::TxnOp::get(k, None)]);
        let client = self.client.clone();
        let (resp, tries) = run_on(&self.handle, self.timeout, retry, move || {
            let (mut c, txn) = (client.clone(), txn.clone());
            async move { c.txn(txn).await }
        })?;
        Ok(Txned {
            ok: resp.succeeded(),
            revision: resp.header().map_or(0, |h| h.revision()),
            ops: resp.op_responses(),
            tries,
        })
    }

    /// After a write tried more than once was refused: the key as it is, when it holds exactly
    /// `value` at a revision after `after` — the earlier try landed (values carry a fresh uid
    /// or resourceVersion-dependent fields, so another writer's equal bytes are not expected).
    fn landed_earlier(&self, key: &str, value: &[u8], after: Revision) -> Option<KeyValue> {
        self.get(key)
            .ok()
            .flatten()
            .filter(|kv| kv.value == value && kv.mod_revision > after)
    }

    /// Why a conditional write on `key` did not happen, from the read in its `else` branch.
    fn refusal(key: &str, expected: Option<Revision>, ops: &[etcd::TxnOpResponse]) -> StorageError {
        let current = ops.iter().find_map(|op| match op {
            etcd::TxnOpResponse::Get(g) => g.kvs().first().map(etcd::KeyValue::mod_revision),
            _ => None,
        });
        match (current, expected) {
            (None, _) => StorageError::NotFound(key.to_string()),
            (Some(current), Some(expected)) => StorageError::Conflict {
                key: key.to_string(),
                expected,
                current,
            },
            (Some(_), None) => StorageError::AlreadyExists(key.to_string()),
        }
    }
}

/// An etcd event in this trait's terms (the key without the prefix of `prefix_len` bytes).
fn to_event(prefix_len: usize, e: &etcd::Event) -> Option<Event> {
    let kv = e.kv()?;
    let prev = e.prev_kv();
    let mut out = to_kv(prefix_len, kv);
    let kind = match e.event_type() {
        etcd::EventType::Delete => {
            // etcd's deletion carries no value: the last one is the previous key's.
            out.value = prev
                .map(|p| Bytes::copy_from_slice(p.value()))
                .unwrap_or_default();
            out.create_revision = prev.map_or(0, etcd::KeyValue::create_revision);
            EventKind::Deleted
        }
        etcd::EventType::Put if kv.create_revision() == kv.mod_revision() => EventKind::Created,
        etcd::EventType::Put => EventKind::Modified,
    };
    let prev_value = match kind {
        EventKind::Created => None,
        _ => prev.map(|p| p.value().to_vec()),
    };
    Some(Event {
        kind,
        kv: out,
        prev_value,
    })
}

/// An etcd key-value in this trait's terms.
fn to_kv(prefix_len: usize, kv: &etcd::KeyValue) -> KeyValue {
    let key = kv.key().get(prefix_len..).unwrap_or_default();
    KeyValue {
        memo: Memo::default(),
        key: String::from_utf8_lossy(key).into_owned(),
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    }
}

impl Storage for EtcdStorage {
    fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let k = self.full(key);
        let resp = self.read(move |mut c| {
            let k = k.clone();
            async move { c.get(k, None).await }
        })?;
        Ok(resp.kvs().first().map(|kv| self.kv(kv)))
    }

    fn list(&self, prefix: &str, opts: &ListOptions<'_>) -> Result<ListResult> {
        let start = match opts.start_after {
            Some(s) if s >= prefix => {
                let mut k = self.full(s);
                k.push(0);
                k
            }
            _ => self.full(prefix),
        };
        let mut get = etcd::GetOptions::new().with_range(bytes_prefix_end(&self.full(prefix)));
        if opts.limit > 0 {
            get = get.with_limit(i64::try_from(opts.limit).unwrap_or(i64::MAX));
        }
        if let Some(rev) = opts.revision {
            get = get.with_revision(rev);
        }
        let resp = self
            .read(move |mut c| {
                let (start, get) = (start.clone(), get.clone());
                async move { c.get(start, Some(get)).await }
            })
            .map_err(|e| match opts.revision {
                Some(rev) => self.revision_error(rev, e),
                None => e,
            })?;
        let revision = opts
            .revision
            .unwrap_or_else(|| resp.header().map_or(0, |h| h.revision()));
        Ok(ListResult {
            kvs: resp.kvs().iter().map(|kv| self.kv(kv)).collect(),
            revision,
            more: resp.more(),
        })
    }

    fn create(&self, key: &str, value: Vec<u8>) -> Result<KeyValue> {
        let k = self.full(key);
        let cmp = etcd::Compare::create_revision(k.clone(), etcd::CompareOp::Equal, 0);
        let put = etcd::TxnOp::put(k, value.clone(), None);
        let t = self.txn(key, [cmp], put, true)?;
        if !t.ok {
            if t.tries > 1 {
                if let Some(kv) = self.landed_earlier(key, &value, 0) {
                    return Ok(kv);
                }
            }
            return Err(Self::refusal(key, None, &t.ops));
        }
        Ok(KeyValue {
            memo: Memo::default(),
            key: key.to_string(),
            value: Bytes::from(value),
            create_revision: t.revision,
            mod_revision: t.revision,
        })
    }

    fn update(&self, key: &str, expected: Revision, value: Vec<u8>) -> Result<KeyValue> {
        let k = self.full(key);
        // A missing key's mod revision compares as 0: the key must also exist.
        let cmp = [
            etcd::Compare::mod_revision(k.clone(), etcd::CompareOp::Equal, expected),
            etcd::Compare::create_revision(k.clone(), etcd::CompareOp::Greater, 0),
        ];
        let put = etcd::TxnOp::put(
            k,
            value.clone(),
            Some(etcd::PutOptions::new().with_prev_key()),
        );
        let t = self.txn(key, cmp, put, true)?;
        if !t.ok {
            if t.tries > 1 {
                if let Some(kv) = self.landed_earlier(key, &value, expected) {
                    return Ok(kv);
                }
            }
            return Err(Self::refusal(key, Some(expected), &t.ops));
        }
        let (rev, ops) = (t.revision, t.ops);
        let create_revision = ops
            .iter()
            .find_map(|op| match op {
                etcd::TxnOpResponse::Put(p) => p.prev_key().map(etcd::KeyValue::create_revision),
                _ => None,
            })
            .unwrap_or(rev);
        Ok(KeyValue {
            memo: Memo::default(),
            key: key.to_string(),
            value: Bytes::from(value),
            create_revision,
            mod_revision: rev,
        })
    }

    fn delete(&self, key: &str, expected: Option<Revision>) -> Result<KeyValue> {
        let k = self.full(key);
        // Without an expected revision: any revision of a key that exists.
        let cmp = match expected {
            Some(e) => etcd::Compare::mod_revision(k.clone(), etcd::CompareOp::Equal, e),
            None => etcd::Compare::create_revision(k.clone(), etcd::CompareOp::Greater, 0),
        };
        let del = etcd::TxnOp::delete(k, Some(etcd::DeleteOptions::new().with_prev_key()));
        // Not retried: a deletion that landed leaves nothing to recognise it by, so a failed
        // try is the caller's to repeat.
        let Txned {
            ok,
            revision: rev,
            ops,
            ..
        } = self.txn(key, [cmp], del, false)?;
        let last = ops.iter().find_map(|op| match op {
            etcd::TxnOpResponse::Delete(d) => d.prev_kvs().first().cloned(),
            _ => None,
        });
        match (ok, last) {
            (true, Some(last)) => Ok(KeyValue {
                memo: Memo::default(),
                key: key.to_string(),
                value: Bytes::copy_from_slice(last.value()),
                create_revision: last.create_revision(),
                mod_revision: rev,
            }),
            (true, None) => Err(StorageError::NotFound(key.to_string())),
            (false, _) => Err(Self::refusal(key, expected.or(Some(0)), &ops)),
        }
    }

    fn watch(&self, prefix: &str, after: Revision) -> Result<Watcher> {
        // etcd answers a watch from a compacted revision on the stream, after the watch is
        // made; a read at that revision says so before, as the trait's callers expect.
        if after > 0 {
            let at = etcd::GetOptions::new()
                .with_prefix()
                .with_count_only()
                .with_revision(after);
            let k = self.full(prefix);
            self.read(move |mut c| {
                let (k, at) = (k.clone(), at.clone());
                async move { c.get(k, Some(at)).await }
            })
            .map_err(|e| self.revision_error(after, e))?;
        }
        let (tx, rx) = mpsc::channel(WATCH_BUFFER);
        let mut client = self.client.clone();
        let key = self.full(prefix);
        let prefix_len = self.prefix.len();
        self.handle.spawn(async move {
            let options = etcd::WatchOptions::new()
                .with_prefix()
                .with_start_revision(after + 1)
                .with_prev_key();
            let mut stream = match client.watch(key, Some(options)).await {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx.send(Err(from_etcd(e))).await;
                    return;
                }
            };
            loop {
                let message = tokio::select! {
                    () = tx.closed() => return,
                    m = stream.message() => m,
                };
                let resp = match message {
                    Ok(Some(resp)) => resp,
                    Ok(None) => {
                        let gone = StorageError::Unavailable("etcd closed the watch".into());
                        let _ = tx.send(Err(gone)).await;
                        return;
                    }
                    Err(e) => {
                        let _ = tx.send(Err(from_etcd(e))).await;
                        return;
                    }
                };
                if resp.canceled() {
                    let why = if resp.compact_revision() > 0 {
                        StorageError::Compacted {
                            requested: after,
                            compacted: resp.compact_revision() - 1,
                        }
                    } else {
                        StorageError::Unavailable(format!(
                            "etcd cancelled the watch: {}",
                            resp.cancel_reason()
                        ))
                    };
                    let _ = tx.send(Err(why)).await;
                    return;
                }
                // Progress notifications are not passed on: etcd before 3.4.31 and 3.5.13 may
                // send one before events it covers (etcd-io/etcd#15220; kube-apiserver checks
                // the version before it relies on them). See `reports_progress`.
                for e in resp.events() {
                    if let Some(event) = to_event(prefix_len, e) {
                        if tx.send(Ok(WatchItem::Event(event))).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Watcher::remote(rx))
    }

    fn reports_progress(&self) -> bool {
        false
    }

    fn count_after(&self, prefix: &str, after: &str, revision: Revision) -> Result<u64> {
        let mut start = self.full(after);
        start.push(0);
        let opts = etcd::GetOptions::new()
            .with_range(bytes_prefix_end(&self.full(prefix)))
            .with_revision(revision)
            .with_count_only();
        let resp = self
            .read(move |mut c| {
                let (start, opts) = (start.clone(), opts.clone());
                async move { c.get(start, Some(opts)).await }
            })
            .map_err(|e| self.revision_error(revision, e))?;
        Ok(u64::try_from(resp.count()).unwrap_or(0))
    }

    fn count(&self, prefix: &str) -> Result<u64> {
        let k = self.full(prefix);
        let opts = etcd::GetOptions::new().with_prefix().with_count_only();
        let resp = self.read(move |mut c| {
            let (k, opts) = (k.clone(), opts.clone());
            async move { c.get(k, Some(opts)).await }
        })?;
        Ok(u64::try_from(resp.count()).unwrap_or(0))
    }

    fn current_revision(&self) -> Result<Revision> {
        let k = self.full(COMPACT_REV_KEY);
        let opts = etcd::GetOptions::new().with_count_only();
        let resp = self.read(move |mut c| {
            let (k, opts) = (k.clone(), opts.clone());
            async move { c.get(k, Some(opts)).await }
        })?;
        Ok(resp.header().map_or(0, |h| h.revision()))
    }

    fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.compaction_record()?.0)
    }

    fn compact(&self, revision: Revision) -> Result<()> {
        let revision = revision.min(self.current_revision()?);
        let (done, record_rev) = self.compaction_record()?;
        if revision <= done {
            return Ok(());
        }
        // Whoever moves the record compacts; a replica that loses the race leaves it.
        let k = self.full(COMPACT_REV_KEY);
        let cmp = etcd::Compare::mod_revision(k.clone(), etcd::CompareOp::Equal, record_rev);
        let put = etcd::TxnOp::put(k, revision.to_string(), None);
        // Not retried: a record moved by an earlier try would read as lost, and the next
        // round of the compactor compacts.
        if !self.txn(COMPACT_REV_KEY, [cmp], put, false)?.ok {
            return Ok(());
        }
        match self.read(move |mut c| async move { c.compact(revision, None).await }) {
            Ok(_) => Ok(()),
            // Already compacted past it (another cluster user): nothing is lost.
            Err(e) if is_compacted(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let c = EtcdConfig::from_url("etcd://a:2379,b:2380/kw/").unwrap();
        assert_eq!(c.endpoints, ["a:2379", "b:2380"]);
        assert_eq!(c.prefix, "/kw");
        let c = EtcdConfig::from_url("etcd://127.0.0.1:2379").unwrap();
        assert_eq!((c.endpoints.len(), c.prefix.as_str()), (1, ""));
        for bad in [
            "etcd://",
            "etcd://a",
            "etcd://a:x",
            "etcd://:1",
            "sqlite://x",
            "etcd://a:1,",
        ] {
            assert!(EtcdConfig::from_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tonics_own_transport_error_is_unavailable() {
        // tonic wraps a transport error it cannot map (a connection that broke mid-call, as CI
        // once met when a member was killed) as an Unknown status with it as the source. Any
        // such error is made the same way; an invalid URI is one the test can make.
        let transport = tonic::transport::Endpoint::from_shared("http://a b")
            .expect_err("a space is not a URI");
        let status = tonic::Status::from_error(Box::new(transport));
        assert_eq!(status.code(), tonic::Code::Unknown);
        assert!(matches!(
            from_etcd(etcd::Error::GRpcStatus(status)),
            StorageError::Unavailable(m) if m.starts_with("etcd is unreachable: ")
        ));
        // An Unknown status of etcd's own stays etcd's word.
        let own = tonic::Status::unknown("mvcc: something");
        assert!(matches!(
            from_etcd(etcd::Error::GRpcStatus(own)),
            StorageError::Etcd(m) if m == "mvcc: something"
        ));
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(bytes_prefix_end(b"/r/"), b"/r0");
        assert_eq!(bytes_prefix_end(b"a\xff"), b"b");
        assert_eq!(bytes_prefix_end(b"\xff"), b"\0");
    }
}
