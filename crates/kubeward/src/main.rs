//! `kubeward`: a Kubernetes-compatible API server for identity and access.

mod explain;
mod kubeconfig;
mod kubelet;
mod map;
mod offline;
mod online;
mod pki;
mod suggest;

/// mimalloc (v2): more GETs and LISTs per second than glibc's allocator on the request path,
/// measured side by side in BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Args, Parser, Subcommand};
use registry::Registry;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use storage::{EtcdConfig, EtcdStorage, EtcdTls, MemoryStorage, SqliteStorage, Storage};
use tokio::signal::unix::SignalKind;

#[derive(Parser)]
#[command(
    name = "kubeward",
    version,
    about = "A Kubernetes-compatible API server for identity and access",
    long_about = "kubeward serves the Kubernetes API for identity and access: namespaces, service accounts \
and their tokens (TokenRequest, TokenReview, secret-based tokens), secrets, config maps, services, pods \
(stored), RBAC with the default policy and escalation checks, and the access reviews, so that real kubectl \
and client libraries work against it unchanged.",
    after_help = "Examples:\n  kubeward serve\n  kubeward serve --data-dir /tmp/kw --listen 127.0.0.1:0\n  KUBECONFIG=~/.kubeward/admin.kubeconfig kubectl get namespaces"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    #[command(
        after_help = "Examples:\n  kubeward serve\n  kubeward serve --data-dir ./kw --listen 127.0.0.1:6443\n  kubeward serve --storage memory://\n\nOn first start the data directory gets pki/ (ca.crt, the serving certificate, the \
service-account signing key) and admin.kubeconfig (CN=kubeward-admin, O=system:masters). \
When the server is ready it prints one line with \"ready\" and the kubeconfig path."
    )]
    Serve(Box<ServeArgs>),
    /// Why a user may or may not do something, from manifests or a server: every binding → role → rule
    /// that allows it, or the nearest misses and the smallest Role and binding that would.
    /// Exits 0 when allowed, 1 when not (as `kubectl auth can-i`), 2 on an error.
    #[command(
        after_help = "Examples:\n  kubeward explain get pods -n dev --as alice -f rbac/\n  \
kubeward explain create pods/exec -n dev --as system:serviceaccount:dev:ci -f app.yaml\n  \
kubeward explain delete deployments.apps web -n prod --as bob --as-group ops -f - < rbac.yaml\n  \
kubeward explain get /metrics --as prometheus -f monitoring.yaml -o json\n\n\
Manifests are loaded over the bootstrap policy (cluster-admin, view, edit, system:* roles) unless \
--no-defaults, and pass through kubeward's own validation and ClusterRole aggregation, as on a server. \
Without -f, the policy is the RBAC objects of the server the kubeconfig names (--kubeconfig, else \
KUBECONFIG, else ~/.kube/config; --context), which the caller must be allowed to list:\n  \
kubeward explain get secrets -n prod --as bob --context prod-admin"
    )]
    Explain(explain::ExplainArgs),
    /// Who may do something, from manifests or a server: every user, group and service account RBAC
    /// allows, each with the binding and role that grant it.
    #[command(
        after_help = "Examples:\n  kubeward who-can get secrets -n prod -f rbac/\n  \
kubeward who-can create pods/exec -n dev -f app.yaml -o json\n  \
kubeward who-can impersonate users -f cluster-rbac.yaml\n  \
kubeward who-can get /metrics -f monitoring.yaml\n  \
kubeward who-can get secrets -A                 # any namespace, from ~/.kube/config's server\n\n\
Members of system:masters may do anything (they are allowed before RBAC is asked); the first \
row says so. Manifests (or, without -f, the server) are read as for `kubeward explain`."
    )]
    WhoCan(explain::WhoCanArgs),
    /// What a user may do to every served resource, from manifests or a server: a row per resource and
    /// subresource, a column per verb (rakkess's view)
    #[command(
        after_help = "Examples:\n  kubeward access-matrix --as alice -n dev -f rbac/\n  \
kubeward access-matrix --as system:serviceaccount:dev:ci -n dev -f app.yaml -o json\n  \
kubeward access-matrix --as bob --as-group ops -f rbac/      # cluster-wide\n\n\
Manifests (or, without -f, the server) are read as for `kubeward explain`."
    )]
    AccessMatrix(explain::MatrixArgs),
    /// Permissions that amount to privilege, from manifests or a server: reading secrets, creating or
    /// exec-ing into pods, bind/escalate, impersonation, token minting, `*` on `*`, the node
    /// proxy, CSR approval, webhooks, anonymous access; and the multi-hop paths from them to
    /// cluster-admin's powers (creating pods acts as the namespace's service accounts). Each
    /// finding has an ID, a severity and its path. Exits 1 with --fail-on when one is that
    /// severe, 2 on an error.
    #[command(after_help = "Examples:\n  kubeward audit-rbac -f rbac/\n  \
kubeward audit-rbac -f rbac/ --fail-on high          # in CI\n  \
kubeward audit-rbac -f - -o json < cluster-dump.yaml\n\n\
The bootstrap policy's own grants (system:masters, the controllers' roles) are expected and \
listed only with --show-info; a bootstrap binding the manifests change is not expected. \
Checks: KW001 read-secrets, KW002 create-pods, KW003 exec-into-pods, KW004 bind-or-escalate, \
KW005 impersonate, KW006 mint-service-account-tokens, KW007 everything, KW008 node-proxy, \
KW009 approve-csrs, KW010 admission-webhooks, KW011 anonymous-access, KW100 escalation-path.")]
    AuditRbac(explain::AuditArgs),
    /// Least privilege from what really happened: the Roles, ClusterRole and bindings that
    /// cover exactly one subject's requests in an audit log (audit.k8s.io/v1 events from
    /// kubeward or any cluster), as YAML for kubectl apply, a comment on each rule saying how
    /// many requests it covers
    #[command(after_help = "Examples:\n  \
kubeward suggest-role --serviceaccount app:worker --audit-log audit.log\n  \
kubeward suggest-role --user alice --audit-log audit.log -n team-a --widen-names\n  \
kubeward suggest-role --group ci --audit-log audit.log --missing-only -f rbac/\n  \
kubeward suggest-role --serviceaccount app:worker --audit-log audit.log --missing-only   # the kubeconfig's server\n  \
kubeward suggest-role --serviceaccount app:worker --server   # the server's own audit log\n\n\
A Role is suggested for each namespace the subject acted in and a ClusterRole for cluster-scoped, \
all-namespace and non-resource requests. resourceNames are kept only for get, update, patch and \
delete, and a rule lists only the names every verb in it was used on. Refused requests count \
too, but a workload stops at its first 403: record it once with broad rights, or suggest and \
apply again until nothing is refused.")]
    SuggestRole(suggest::SuggestArgs),
    /// Rights granted and never used: every binding's rules, how many requests of an audit
    /// log each allowed its subject, and for a rule without wildcards each verb on each
    /// resource it grants that no request used (the input to shrinking roles)
    #[command(after_help = "Examples:\n  \
kubeward unused --audit-log audit.log                      # the kubeconfig's server\n  \
kubeward unused --audit-log audit.log -f rbac/ --serviceaccount app:worker\n  \
kubeward unused --audit-log audit.log -o json\n  \
kubeward unused --server --serviceaccount app:worker      # the server's own audit log\n\n\
The answer holds for the window the log covers, printed first. The bootstrap policy's own \
bindings are left out unless --all.")]
    Unused(suggest::UnusedArgs),
    /// The RBAC map as one self-contained HTML file, from manifests or a server: subjects →
    /// bindings → roles → rules, drawn around what is selected, with search, filters by
    /// namespace, resource and risk finding, and who-can and explain from a form
    #[command(after_help = "Examples:\n  \
kubeward map -f rbac/ -o rbac.html\n  \
kubeward map -o cluster.html                 # the kubeconfig's server\n\n\
The file fetches nothing: open it in any browser, offline. On a server the same page is served \
at /map/ to authenticated users, showing what each may list (through kubectl proxy: \
http://127.0.0.1:8001/map/).")]
    Map(map::MapArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Directory for pki/, the SQLite state and kubeconfigs [default: ~/.kubeward]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// HTTPS address to listen on; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:6443", value_name = "HOST:PORT")]
    listen: SocketAddr,
    /// sqlite://PATH (default DATA_DIR/state.db), memory://, or etcd://H1:2379,H2:2379[/PREFIX]
    /// (etcd's v3 API; several replicas may share one etcd cluster)
    #[arg(long, value_name = "URL")]
    storage: Option<String>,
    /// The CA of etcd's serving certificates (TLS to etcd)
    #[arg(long, value_name = "FILE")]
    etcd_cafile: Option<PathBuf>,
    /// A client certificate for etcd (with --etcd-keyfile)
    #[arg(long, value_name = "FILE", requires = "etcd_keyfile")]
    etcd_certfile: Option<PathBuf>,
    /// The key of --etcd-certfile
    #[arg(long, value_name = "FILE", requires = "etcd_certfile")]
    etcd_keyfile: Option<PathBuf>,
    /// Serve anonymous requests as system:anonymous (as kube-apiserver's default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    anonymous_auth: bool,
    /// Static bearer tokens, kube-apiserver's CSV format: token,user,uid[,"group1,group2"]
    #[arg(long, value_name = "FILE")]
    token_auth_file: Option<PathBuf>,
    /// Issuer of service-account tokens (repeatable: the first signs, all are accepted)
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://kubernetes.default.svc.cluster.local"
    )]
    service_account_issuer: Vec<String>,
    /// Audiences the API accepts in tokens [default: the issuer]
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    api_audiences: Vec<String>,
    /// EC P-256 PKCS#8 PEM key that signs service-account tokens [default: DATA_DIR/pki/sa.key]
    #[arg(long, value_name = "FILE")]
    service_account_signing_key_file: Option<PathBuf>,
    /// PEM public (or private) keys that verify service-account tokens (repeatable)
    /// [default: the signing key]
    #[arg(long, value_name = "FILE")]
    service_account_key_file: Vec<PathBuf>,
    /// Longest token a TokenRequest gets, in seconds; longer requests are shortened
    #[arg(long, value_name = "SECONDS")]
    service_account_max_token_expiration: Option<i64>,
    /// Kubernetes <= 1.23 behaviour: every service account gets an auto-created
    /// <name>-token-xxxxx Secret listed in its .secrets
    #[arg(long)]
    legacy_token_secrets: bool,
    /// At most this many non-mutating requests at once (0: no limit); with priority and
    /// fairness, this and the next are summed into one limit shared fairly by user.
    /// system:masters, watches and health checks are not counted
    #[arg(long, default_value_t = 400, value_name = "N")]
    max_requests_inflight: usize,
    /// At most this many mutating requests at once (0: no limit)
    #[arg(long, default_value_t = 200, value_name = "N")]
    max_mutating_requests_inflight: usize,
    /// Share the in-flight limit fairly by user, a request over it waiting its turn (at most a
    /// quarter of --request-timeout) in its user's queue of 50 before a 429; false: over the
    /// limit, 429 at once
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    enable_priority_and_fairness: bool,
    /// Write audit.k8s.io/v1 events to this file as JSON lines ("-": standard output); needs
    /// --audit-policy-file, as kube-apiserver
    #[arg(long, value_name = "PATH")]
    audit_log_path: Option<String>,
    /// The audit Policy (audit.k8s.io/v1, YAML or JSON): which requests are recorded, at
    /// which level
    #[arg(long, value_name = "FILE")]
    audit_policy_file: Option<String>,
    /// Megabytes an audit log file reaches before it is rotated (0: 100, as kube-apiserver)
    #[arg(long, default_value_t = 0, value_name = "MB")]
    audit_log_maxsize: u64,
    /// Rotated audit log files to keep (0: all)
    #[arg(long, default_value_t = 0, value_name = "N")]
    audit_log_maxbackup: usize,
    /// Days to keep rotated audit log files, by the time in their names (0: for ever)
    #[arg(long, default_value_t = 0, value_name = "DAYS")]
    audit_log_maxage: u64,
    /// Gzip rotated audit log files (to <name>.gz, as lumberjack)
    #[arg(long, default_value_t = false, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
    audit_log_compress: bool,
    /// How long a request may run before it is answered 504 (a Go duration: 60s, 1m30s);
    /// watches are not bounded. A request's ?timeout= may ask for less
    #[arg(long, default_value = "1m0s", value_parser = go_duration, value_name = "DURATION")]
    request_timeout: Duration,
    /// On SIGTERM, how long to keep serving with /readyz failing before new connections are
    /// refused (a Go duration), so load balancers stop sending first
    #[arg(long, default_value = "0s", value_parser = go_duration, value_name = "DURATION")]
    shutdown_delay_duration: Duration,
    /// Run pods: process (each pod's containers run as processes of the host, as root unless
    /// runAsUser says otherwise, in the pod's own mount, PID and UTS namespaces, with its
    /// volumes and service-account token mounted; needs root on Linux, so whoever may create
    /// pods runs code on this host: see the README's Security section); fake (a node agent
    /// registers a Node, binds pods to it and reports them Running at once, as kwok does; no
    /// process starts); or off (pods stay Pending). The agent is a client of the API as
    /// system:node:<name> in system:nodes [default: process where the host allows it, else
    /// off, with a notice]
    #[arg(long, value_parser = ["off", "fake", "process"], value_name = "MODE")]
    node_agent: Option<String>,
    /// The name of the node agent's Node [default: the host name]
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// A 403 says, in one more line, the nearest rule bound to the caller and what it lacks
    /// (naming the binding only when the caller may read it); for callers who may read their
    /// own rules. Not upstream: off by default
    #[arg(long)]
    explain_forbidden: bool,
    /// Admission plug-ins to run besides the defaults (NamespaceLifecycle, ServiceAccount,
    /// NodeRestriction, Priority, DefaultTolerationSeconds), by kube-apiserver's names; the
    /// order does not matter. kubeward also has AlwaysAdmit, NamespaceAutoProvision and
    /// NamespaceExists; any other name kube-apiserver 1.33 knows is accepted, with a notice
    /// that it changes nothing here
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    enable_admission_plugins: Vec<String>,
    /// Default admission plug-ins not to run (see --enable-admission-plugins)
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    disable_admission_plugins: Vec<String>,
    /// Group versions to serve or not, as kube-apiserver's: `api/all`, `api/ga`, `api/beta`,
    /// `api/alpha` and `GROUP/VERSION`, each `=true` or `=false`. Beyond a stock 1.33,
    /// kubeward serves rbac.authorization.k8s.io/v1beta1 and v1alpha1 (old manifests) and
    /// authentication.k8s.io/v1beta1 (kubectl 1.27's `auth whoami`), with upstream's
    /// deprecation warnings; `api/beta=false,api/alpha=false` serves what 1.33 serves
    #[arg(long, value_delimiter = ',', value_name = "KEY=BOOL")]
    runtime_config: Vec<String>,
    /// The IPv4 range Services' cluster IPs are given from (its first address is the
    /// `kubernetes` Service's). They are not routed: pods run on the host's network
    #[arg(long, default_value = "10.96.0.0/12", value_name = "CIDR")]
    service_cluster_ip_range: String,
    /// The ports NodePort and LoadBalancer Services are given, LOW-HIGH or BASE+SIZE
    #[arg(long, default_value = "30000-32767", value_name = "RANGE")]
    service_node_port_range: String,
    /// RBAC (system:masters, then RBAC), or AlwaysAllow
    #[arg(long, default_value = "RBAC", value_parser = ["RBAC", "AlwaysAllow"], value_name = "MODE")]
    authorization_mode: String,
    /// Run the controllers only while this replica holds the Lease
    /// kube-system/kube-controller-manager (kube-controller-manager's --leader-elect), so
    /// replicas sharing an etcd cluster never run them twice [default: true with etcd
    /// storage; a SQLite or memory store has one process, which always leads]
    #[arg(long, action = clap::ArgAction::Set, value_name = "BOOL")]
    leader_elect: Option<bool>,
    /// How long the lease holds after its last renewal, as the other replicas see it
    #[arg(long, default_value = "15s", value_parser = go_duration, value_name = "DURATION")]
    leader_elect_lease_duration: Duration,
    /// How long the leader goes on retrying a renewal before it stops its controllers
    #[arg(long, default_value = "10s", value_parser = go_duration, value_name = "DURATION")]
    leader_elect_renew_deadline: Duration,
    /// How long between tries to acquire or renew the lease
    #[arg(long, default_value = "2s", value_parser = go_duration, value_name = "DURATION")]
    leader_elect_retry_period: Duration,
}

/// A flag's Go duration (`time.ParseDuration`, as kube-apiserver's flags take them); not
/// negative.
fn go_duration(s: &str) -> Result<Duration, String> {
    let nanos = server::deadline::parse_go_duration(s)?;
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("{s}: must not be negative"))
}

#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("listening for signals")]
    Signal(#[source] std::io::Error),
    #[error("no home directory; pass --data-dir")]
    NoHome,
    #[error("creating {0}")]
    DataDir(PathBuf, #[source] std::io::Error),
    #[error("unsupported --storage {0:?}: use sqlite://PATH, memory:// or etcd://HOST:PORT[,HOST:PORT...][/PREFIX]")]
    StorageUrl(String),
    #[error("--etcd-cafile, --etcd-certfile and --etcd-keyfile need --storage etcd://...")]
    EtcdFlagsWithoutEtcd,
    #[error("{}", .0.join("; "))]
    AdmissionPlugins(Vec<String>),
    #[error("{0}")]
    ServiceRanges(String),
    #[error("--runtime-config: {0}")]
    RuntimeConfig(String),
    #[error("--leader-elect-lease-duration ({lease:?}) must be at least 1s and longer than --leader-elect-renew-deadline ({renew:?}), and the retry period ({retry:?}) positive and shorter than the deadline")]
    LeaderElectTimings {
        lease: Duration,
        renew: Duration,
        retry: Duration,
    },
    #[error("reading {0}")]
    KeyFileRead(PathBuf, #[source] std::io::Error),
    #[error("service-account key {0}")]
    Key(PathBuf, #[source] authn::jwt::JwtError),
    #[error("reading --token-auth-file {0}")]
    TokenFileRead(PathBuf, #[source] std::io::Error),
    #[error("--token-auth-file")]
    TokenFile(
        #[from]
        #[source]
        authn::tokenfile::TokenFileError,
    ),
    #[error("opening storage")]
    Storage(
        #[from]
        #[source]
        storage::StorageError,
    ),
    #[error("preparing the PKI")]
    Pki(
        #[from]
        #[source]
        pki::PkiError,
    ),
    #[error("configuring TLS")]
    Tls(
        #[from]
        #[source]
        server::tls::TlsError,
    ),
    #[error("listening on {0}")]
    Listen(SocketAddr, #[source] std::io::Error),
    #[error("creating the default namespaces and policy: {0}")]
    Bootstrap(api_types::StatusError),
    #[error("serving")]
    Serve(#[source] std::io::Error),
    #[error("finding the kubeward binary for the node agent's sandboxes")]
    Exe(#[source] std::io::Error),
    #[error("--node-agent process needs {0}; use --node-agent fake or off")]
    NodeAgentHost(&'static str),
    #[error("starting the audit log")]
    Audit(
        #[from]
        #[source]
        server::audit::AuditError,
    ),
}

/// Creates `dir` (and missing parents) readable by its owner only (0700) from the start,
/// whatever the umask; an existing directory is left as it is.
pub(crate) fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// The data directory holds every Secret and the CA key: say loudly when other users can
/// read it or its database (a directory made by hand, or by an earlier kubeward).
fn warn_if_others_can_read(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for p in [
        dir.to_path_buf(),
        dir.join("state.db"),
        dir.join("state.db-wal"),
        dir.join("pki"),
    ] {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %p.display(),
                mode = format!("{mode:04o}"),
                "WARNING: other users can read kubeward's data (every Secret, the CA key); run: chmod -R go-rwx {}",
                dir.display()
            );
        }
    }
}

fn open_storage(
    args: &ServeArgs,
    data_dir: &std::path::Path,
) -> Result<Arc<dyn Storage>, StartError> {
    let url = args.storage.as_deref();
    let etcd = url.is_some_and(|u| u.starts_with("etcd://"));
    let tls_flags = [&args.etcd_cafile, &args.etcd_certfile, &args.etcd_keyfile];
    if !etcd && tls_flags.iter().any(|f| f.is_some()) {
        return Err(StartError::EtcdFlagsWithoutEtcd);
    }
    match url {
        None => Ok(Arc::new(SqliteStorage::open(&data_dir.join("state.db"))?)),
        Some("memory://") => Ok(Arc::new(MemoryStorage::new())),
        Some(u) if etcd => {
            let mut config =
                EtcdConfig::from_url(u).ok_or_else(|| StartError::StorageUrl(u.to_string()))?;
            let read =
                |p: &PathBuf| std::fs::read(p).map_err(|e| StartError::KeyFileRead(p.clone(), e));
            if tls_flags.iter().any(|f| f.is_some()) {
                let identity = match (&args.etcd_certfile, &args.etcd_keyfile) {
                    (Some(c), Some(k)) => Some((read(c)?, read(k)?)),
                    _ => None,
                };
                config.tls = Some(EtcdTls {
                    ca: args.etcd_cafile.as_ref().map(read).transpose()?,
                    identity,
                });
            }
            Ok(Arc::new(EtcdStorage::connect(&config)?))
        }
        Some(u) => match u.strip_prefix("sqlite://") {
            Some(path) if !path.is_empty() => {
                Ok(Arc::new(SqliteStorage::open(std::path::Path::new(path))?))
            }
            _ => Err(StartError::StorageUrl(u.to_string())),
        },
    }
}

/// Waits (at most a minute) for a store that is not up yet: etcd started beside the server, as
/// kube-apiserver waits for its etcd at start rather than failing at once.
async fn wait_for_store(storage: &dyn Storage) -> Result<(), StartError> {
    let started = std::time::Instant::now();
    let mut told = false;
    loop {
        match storage.current_revision() {
            Ok(_) => return Ok(()),
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                if !told {
                    eprintln!("kubeward: waiting for the store: {e}");
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(StartError::Storage(e)),
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), StartError> {
    let data_dir = match args.data_dir.clone() {
        Some(d) => d,
        None => std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or(StartError::NoHome)?
            .join(".kubeward"),
    };
    private_dir(&data_dir).map_err(|e| StartError::DataDir(data_dir.clone(), e))?;
    warn_if_others_can_read(&data_dir);
    let node_agent = match args.node_agent.as_deref() {
        Some("process") => {
            process_mode_preflight()?;
            "process"
        }
        Some(other) => other,
        None => match process_mode_preflight() {
            Ok(()) => {
                eprintln!("kubeward: pods run as processes of this host, as root unless they set runAsUser (--node-agent fake or off to not)");
                "process"
            }
            Err(e) => {
                eprintln!("kubeward: pods will stay Pending ({e}); --node-agent fake reports them Running without processes");
                "off"
            }
        },
    };
    let started = std::time::Instant::now();
    // Where start-up time goes (`KUBEWARD_LOG=kubeward=debug`).
    let phase = |what: &str| {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        tracing::debug!(micros, "start: {what}");
    };
    let timings = controllers::leaderelection::Timings {
        lease_duration: args.leader_elect_lease_duration,
        renew_deadline: args.leader_elect_renew_deadline,
        retry_period: args.leader_elect_retry_period,
    };
    // A lease is written in whole seconds (`leaseDurationSeconds`): under one it would be 0,
    // always expired, and every replica would lead.
    if timings.lease_duration < Duration::from_secs(1)
        || timings.renew_deadline >= timings.lease_duration
        || timings.retry_period.is_zero()
        || timings.retry_period >= timings.renew_deadline
    {
        return Err(StartError::LeaderElectTimings {
            lease: timings.lease_duration,
            renew: timings.renew_deadline,
            retry: timings.retry_period,
        });
    }
    let service_ranges = registry::ServiceRanges::parse(
        &args.service_cluster_ip_range,
        &args.service_node_port_range,
    )
    .map_err(StartError::ServiceRanges)?;
    let served: Vec<(&str, &str)> = registry::resources()
        .iter()
        .flat_map(|d| d.versions.iter().map(|v| (d.group, *v)))
        .collect();
    let (runtime_config, notices) =
        server::runtime_config::RuntimeConfig::parse(&args.runtime_config, &served)
            .map_err(StartError::RuntimeConfig)?;
    for n in notices {
        tracing::warn!("{n}");
    }
    let admission = server::AdmissionPlugins::new(
        &args.enable_admission_plugins,
        &args.disable_admission_plugins,
    )
    .map_err(StartError::AdmissionPlugins)?;
    for name in admission.without_effect() {
        tracing::warn!(
            "admission plug-in {name} is enabled, but kubeward has no {name}: it changes nothing"
        );
    }
    let storage = open_storage(&args, &data_dir)?;
    if args
        .storage
        .as_deref()
        .is_some_and(|u| u.starts_with("etcd://"))
    {
        wait_for_store(storage.as_ref()).await?;
    }
    // Keys of kubeward's earlier layout move to kube-apiserver's before anything reads them.
    let moved = registry::keys::migrate(storage.as_ref()).map_err(StartError::Storage)?;
    if moved > 0 {
        tracing::info!(moved, "storage: keys moved to kube-apiserver's layout");
    }
    phase("storage open");
    // Every storage call is timed into `etcd_request_duration_seconds`, whatever the backend.
    let metrics = Arc::new(server::metrics::Metrics::new());
    let storage: Arc<dyn storage::Storage> = {
        let metrics = metrics.clone();
        Arc::new(storage::Observed::new(
            storage,
            Arc::new(move |op, key, took| {
                let kind = registry::group_resource_of_key(key);
                metrics.storage_request(op, &kind, took.as_secs_f64());
            }),
        ))
    };
    // The watch cache in front of every backend (kube-apiserver's cacher): one store watch
    // per resource, lists at the current revision from memory once fresh.
    let storage: Arc<dyn storage::Storage> = Arc::new(
        storage::Cacher::new(storage, registry::resource_prefix_len)
            .map_err(StartError::Storage)?,
    );
    #[allow(
        clippy::disallowed_methods,
        reason = "the binary makes the one real Clock"
    )]
    let clock: registry::Clock = Arc::new(jiff::Timestamp::now);
    let registry =
        Arc::new(Registry::new(storage.clone(), clock.clone()).with_service_ranges(service_ranges));

    // RBAC: the index the authorizer reads; it is loaded (through the chain, below) before the
    // first request.
    let rbac = match args.authorization_mode.as_str() {
        "AlwaysAllow" => None,
        _ => Some(Arc::new(authz::rbac::Index::new())),
    };

    let host = args.listen.ip().to_string();
    let node_name = match &args.node_name {
        Some(n) => n.clone(),
        None => host_name(),
    };
    let pki = pki::Pki::ensure(
        &data_dir,
        &host,
        (node_agent != "off").then_some(node_name.as_str()),
    )?;
    phase("PKI ready");
    // One set of client CAs: the TLS layer names them, the x509 authenticator verifies with them.
    let client_cas = authn::x509::ClientCAs::from_pem(pki.ca_pem.as_bytes())
        .map_err(|e| StartError::Tls(e.into()))?;
    let tls = server::tls::server_config(
        pki.serving_cert_pem.as_bytes(),
        pki.serving_key_pem.as_bytes(),
        &client_cas,
    )?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| StartError::Listen(args.listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Listen(args.listen, e))?;
    let url_host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let url = format!("https://{url_host}:{}", addr.port());
    let kubeconfig = data_dir.join("admin.kubeconfig");
    pki.write_admin_kubeconfig(&kubeconfig, &url)?;
    pki.write_node_kubeconfig(&data_dir.join("kubelet.kubeconfig"), &url)?;

    let mut state = server::State::new(
        registry.clone(),
        format!("{url_host}:{}", addr.port()),
        args.anonymous_auth,
        rbac.clone(),
    );
    state.legacy_token_secrets = args.legacy_token_secrets;
    state.explain_forbidden = args.explain_forbidden && rbac.is_some();
    state.bootstrap_bindings = Arc::new(controllers::bootstrap_bindings());
    state.admission = admission;
    state.set_runtime_config(runtime_config);
    state.metrics = metrics;
    state.request_timeout = args.request_timeout;
    state.in_flight = server::inflight::InFlightLimits::new(
        args.max_requests_inflight,
        args.max_mutating_requests_inflight,
        args.enable_priority_and_fairness,
        args.request_timeout / 4,
    );
    state.audit = match (&args.audit_log_path, &args.audit_policy_file) {
        (Some(path), Some(policy)) => Some(server::audit::AuditLog::start(
            policy,
            path,
            server::audit::Rotation {
                max_size_mb: args.audit_log_maxsize,
                max_backups: args.audit_log_maxbackup,
                max_age_days: args.audit_log_maxage,
                compress: args.audit_log_compress,
            },
            clock.clone(),
            &state.metrics,
        )?),
        (Some(_), None) => {
            // As kube-apiserver: a log without a policy records nothing.
            eprintln!("kubeward: no --audit-policy-file given; no audit events will be recorded");
            None
        }
        _ => None,
    };
    state.client_cas = Some(client_cas);
    if let Some(path) = &args.token_auth_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| StartError::TokenFileRead(path.clone(), e))?;
        let tokens = authn::TokenFile::parse(&path.display().to_string(), &text)?;
        state = state.with_token_authenticator(Box::new(tokens));
    }
    // Service-account tokens: sign with one key, verify with all.
    let signing_path = args
        .service_account_signing_key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("pki/sa.key"));
    let read =
        |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| StartError::KeyFileRead(p.clone(), e));
    let signer = authn::jwt::Signer::from_pem(&read(&signing_path)?)
        .map_err(|e| StartError::Key(signing_path.clone(), e))?;
    let mut keys = Vec::new();
    for p in &args.service_account_key_file {
        keys.extend(
            authn::jwt::public_keys_from_pem(&read(p)?)
                .map_err(|e| StartError::Key(p.clone(), e))?,
        );
    }
    if keys.is_empty() {
        keys.push(signer.public.clone());
    }
    let api_audiences = if args.api_audiences.is_empty() {
        args.service_account_issuer[..1].to_vec()
    } else {
        args.api_audiences.clone()
    };
    let signer = Arc::new(signer);
    // Tokens are checked against objects kept in memory from watches, loaded before serving.
    let objects =
        server::tokens::ObjectCache::new(registry.clone(), state.token_cache.generation());
    let state = Arc::new(state.with_issuer(
        server::tokens::Issuer {
            signer: signer.clone(),
            issuers: args.service_account_issuer.clone(),
            api_audiences,
            keys,
            max_expiration: args.service_account_max_token_expiration.filter(|m| *m > 0),
        },
        objects.clone(),
    ));

    // The apiserver's own work goes through its chain as kube-apiserver's loopback identity
    // (`system:apiserver` in `system:masters`, so nothing it does waits on the RBAC index).
    let apiserver: Arc<dyn registry::Client> = Arc::new(server::InProcess::new(
        state.clone(),
        api_types::UserInfo::authenticated("system:apiserver", &["system:masters"]),
        "kube-apiserver",
    ));
    controllers::post_start(apiserver.clone(), rbac.clone())
        .await
        .map_err(StartError::Bootstrap)?;
    if rbac.is_some() {
        // The Node authorizer's graph: every pod, before the first request.
        controllers::rbac::sync_node_graph(apiserver.clone(), state.node_authorizer.clone())
            .await
            .map_err(StartError::Bootstrap)?;
    }
    let node_address = node_ip(addr.ip());
    let service_ip = service_ranges.first_ip().to_string();
    controllers::until_done("the kubernetes service", || {
        controllers::ensure_kubernetes_service(
            apiserver.as_ref(),
            &service_ip,
            &node_address,
            addr.port(),
        )
    })
    .await
    .map_err(StartError::Bootstrap)?;
    phase("bootstrap policy, aggregation, RBAC index and node graph");
    let informers = objects
        .sync(apiserver.as_ref())
        .await
        .map_err(StartError::Bootstrap)?;
    tokio::spawn(objects.run(apiserver.clone(), informers));

    // kube-controller-manager: each controller as its own identity, through the chain.
    let connect: controllers::manager::Connect = {
        let state = state.clone();
        Arc::new(move |user| {
            Arc::new(server::InProcess::new(
                state.clone(),
                user,
                "kube-controller-manager",
            )) as Arc<dyn registry::Client>
        })
    };
    let token_signer = signer.clone();
    let mut manager = controllers::ControllerManager::new(
        connect,
        pki.ca_pem.clone(),
        Arc::new(move |claims| token_signer.sign(claims)),
    );
    manager.legacy_token_secrets = args.legacy_token_secrets;
    manager.aggregation = args.authorization_mode != "AlwaysAllow";
    manager.suffix = {
        let registry = registry.clone();
        Arc::new(move || registry.name_suffix())
    };
    let etcd = args
        .storage
        .as_deref()
        .is_some_and(|u| u.starts_with("etcd://"));
    if args.leader_elect.unwrap_or(etcd) {
        // kube-controller-manager's identity: the host name and a UUID, unique per process.
        let identity = format!("{}_{}", host_name(), registry.new_uid());
        let elector = controllers::leaderelection::LeaderElector::new(
            controllers::leaderelection::CONTROLLER_MANAGER_LEASE,
            identity,
            timings,
            (manager.connect)(controllers::manager::manager_user()),
            clock.clone(),
            registry::os_random(),
        );
        tokio::spawn(elector.clone().run());
        manager.elector = elector;
    }
    phase("token object cache");
    manager.start().await.map_err(StartError::Bootstrap)?;
    phase("controllers started");
    if node_agent != "off" {
        let name = node_name.clone();
        let mode = if node_agent == "process" {
            node::Mode::Process
        } else {
            node::Mode::Fake
        };
        let agent = node::NodeAgent {
            name,
            mode,
            pods_dir: data_dir.join("pods"),
            exe: std::env::current_exe().map_err(StartError::Exe)?,
            api: node::process::env::ApiEndpoint {
                host: node_ip(addr.ip()),
                port: addr.port(),
            },
            host_ip: node_ip(addr.ip()),
            // The kubelet's user agent, so managedFields name it as on a cluster.
            connect: {
                let state = state.clone();
                Arc::new(move |user| {
                    Arc::new(server::InProcess::new(state.clone(), user, "kubelet"))
                        as Arc<dyn registry::Client>
                })
            },
            clock: clock.clone(),
            facts: node::HostFacts::read(&data_dir),
        };
        if let Some(runtime) = agent.start().await.map_err(StartError::Bootstrap)? {
            let _ = state
                .kubelet
                .set(Arc::new(kubelet::InProcessKubelet(runtime)));
        }
        phase("node agent started");
    }
    tokio::spawn(storage::run_compactor(storage, Duration::from_secs(300)));
    // SIGTERM or SIGINT: kube-apiserver's graceful shutdown (server::shutdown); a second one
    // exits at once. Listened for before "ready", so a signal sent on that line is never the
    // default (an abrupt exit).
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    state.set_ready();
    println!(
        "kubeward ready: {url} (kubeconfig: {})",
        kubeconfig.display()
    );
    let limits = server::conn::Limits {
        max_connections: server::conn::max_connections_for_fd_limit(raise_fd_limit()),
        ..Default::default()
    };
    let audit = state.audit.clone();
    let serving = server::serve(listener, tls, state.clone(), limits);
    let mut serving = std::pin::pin!(serving);
    tokio::select! {
        r = &mut serving => return r.map_err(StartError::Serve),
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    state.shutdown.enter(server::shutdown::Phase::Draining);
    tracing::info!(
        delay_ms = u64::try_from(args.shutdown_delay_duration.as_millis()).unwrap_or(u64::MAX),
        "shutting down: /readyz fails; serving until the shutdown delay has passed"
    );
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        eprintln!("kubeward: a second signal: exiting now");
        std::process::exit(1);
    });
    tokio::select! {
        r = &mut serving => return r.map_err(StartError::Serve),
        () = tokio::time::sleep(args.shutdown_delay_duration) => {}
    }
    state.shutdown.enter(server::shutdown::Phase::Stopping);
    serving.await.map_err(StartError::Serve)?;
    // The last requests' audit events are written before the process ends.
    if let Some(audit) = audit {
        let flushed = tokio::task::spawn_blocking(move || audit.flush(Duration::from_secs(10)))
            .await
            .unwrap_or(false);
        if !flushed {
            tracing::warn!("shutting down: the audit log could not be flushed");
        }
    }
    tracing::info!("shut down");
    Ok(())
}

/// What `--node-agent process` needs of the host: Linux namespaces (mount, PID, UTS) and the
/// right to make them and to mount (root).
fn process_mode_preflight() -> Result<(), StartError> {
    if !cfg!(target_os = "linux") {
        return Err(StartError::NodeAgentHost("Linux"));
    }
    for ns in ["mnt", "pid", "uts"] {
        if !std::path::Path::new(&format!("/proc/self/ns/{ns}")).exists() {
            return Err(StartError::NodeAgentHost(
                "a kernel with mount, PID and UTS namespaces",
            ));
        }
    }
    if !rustix::process::geteuid().is_root() {
        return Err(StartError::NodeAgentHost(
            "root (creating namespaces and mounting the pods' volumes)",
        ));
    }
    Ok(())
}

/// The host's name, lower-cased as the kubelet's default node name (`os.Hostname`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_lowercase())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The address the Node and its pods report: the one the server listens on, or loopback
/// when it listens on all (pods share the host's network and reach it there).
fn node_ip(listen: std::net::IpAddr) -> String {
    if listen.is_unspecified() {
        "127.0.0.1".into()
    } else {
        listen.to_string()
    }
}

/// A Unix signal stream, as a start error when it cannot be had.
fn signal(kind: SignalKind) -> Result<tokio::signal::unix::Signal, StartError> {
    tokio::signal::unix::signal(kind).map_err(StartError::Signal)
}

/// Raises the soft open-file limit to the hard one, as Go programs do on Linux since Go 1.19
/// (kube-apiserver included), and returns the limit in force.
fn raise_fd_limit() -> u64 {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum) {
        if cur < max {
            lim.current = Some(max);
            if setrlimit(Resource::Nofile, lim).is_err() {
                lim.current = Some(cur);
            }
        }
    }
    lim.current.unwrap_or(1 << 20)
}

/// An RBAC command's answer printed, and its exit code (2 on an error).
fn answer<E: std::fmt::Display>(
    command: &str,
    result: Result<(String, u8), E>,
) -> std::process::ExitCode {
    match result {
        Ok((text, code)) => {
            print!("{text}");
            std::process::ExitCode::from(code)
        }
        Err(e) => {
            eprintln!("kubeward {command}: {e}");
            std::process::ExitCode::from(2)
        }
    }
}

/// How long the runtime's last tasks may run after the server has shut down.
const RUNTIME_TEARDOWN: Duration = Duration::from_secs(2);

fn main() -> std::process::ExitCode {
    // A pod's sandbox processes (the node agent starts them): before anything starts a
    // thread, since joining or creating namespaces needs a single-threaded process.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(sandbox::SUBCOMMAND) {
        return sandbox::main(&args[2..]);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KUBEWARD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour for a terminal only: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kubeward: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Serve(args) => {
            let r = runtime.block_on(serve(*args));
            // The server has shut down gracefully by now. Tasks still running (a controller
            // listing again as its watch ends, waiting on a watch cache that no longer moves)
            // are not waited for past this: dropping the runtime would wait for them, and
            // they need not end (seen: three such lists spun until SIGKILL).
            runtime.shutdown_timeout(RUNTIME_TEARDOWN);
            r
        }
        Command::AuditRbac(args) => {
            let r = runtime.block_on(explain::audit_rbac(&args));
            return answer(
                "audit-rbac",
                r.map(|(text, failed)| (text, u8::from(failed))),
            );
        }
        Command::AccessMatrix(args) => {
            let r = runtime.block_on(explain::access_matrix(&args));
            return answer("access-matrix", r.map(|text| (text, 0)));
        }
        Command::WhoCan(args) => {
            let r = runtime.block_on(explain::who_can(&args));
            return answer("who-can", r.map(|text| (text, 0)));
        }
        Command::Map(args) => {
            let r = runtime.block_on(map::run(&args));
            return answer("map", r.map(|text| (text, 0)));
        }
        Command::Unused(args) => {
            let r = runtime.block_on(suggest::unused(&args));
            return answer("unused", r.map(|text| (text, 0)));
        }
        Command::SuggestRole(args) => {
            let r = runtime.block_on(suggest::run(&args));
            return answer("suggest-role", r.map(|text| (text, 0)));
        }
        Command::Explain(args) => {
            let r = runtime.block_on(explain::run(&args));
            return answer(
                "explain",
                r.map(|(text, allowed)| (text, u8::from(!allowed))),
            );
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("kubeward: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("{msg}");
            std::process::ExitCode::FAILURE
        }
    }
}
