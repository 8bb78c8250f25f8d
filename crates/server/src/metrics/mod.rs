//! `/metrics`: kube-apiserver's request metrics by its names and labels
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/metrics/metrics.go`), in the Prometheus
//! project's OpenMetrics text encoding (which appends `_total` to counters, as the names here
//! already end). Every request after authentication is counted, the in-process ones too
//! (upstream counts its loopback client's alike).

mod process;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use request_info::RequestInfo;

/// The duration's and size's labels: what the request was.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    verb: String,
    dry_run: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
    component: String,
}

/// `apiserver_request_total`'s labels: the route and the answer's code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    #[prometheus(flatten)]
    route: RouteLabels,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    decision: String,
    name: String,
}

/// `apiserver_registered_watchers`' labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    group: String,
    version: String,
    kind: String,
}

/// The label of `apiserver_storage_objects` and the watch cache's counters: `secrets`,
/// `roles.rbac.authorization.k8s.io`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResourceLabels {
    resource: String,
}

/// `etcd_request_duration_seconds`' labels: the operation and the group-resource.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StorageLabels {
    operation: String,
    r#type: String,
}

/// `apiserver_flowcontrol_rejected_requests_total`'s labels: every limited request is in
/// upstream's default schema and level.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectionLabels {
    flow_schema: String,
    priority_level: String,
    reason: String,
}

type Histograms = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// `apiserver_request_duration_seconds`' buckets (1.33).
const DURATION_BUCKETS: [f64; 23] = [
    0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0,
    10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// `apiserver_response_sizes`: 1 kB to 1 GB by tens.
fn size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1000.0, 10.0, 7))
}

/// `authentication_duration_seconds`: 1 ms doubling, 15 buckets.
fn authentication_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Histograms,
    sizes: Histograms,
    decisions: Family<DecisionLabels, Counter>,
    longrunning: Family<RouteLabels, Gauge>,
    authentication: Family<ResultLabels, Histogram, fn() -> Histogram>,
    pub(crate) audit_events: Counter,
    pub(crate) audit_errors: Counter,
    terminations: Family<RequestLabels, Counter>,
    authentication_attempts: Family<ResultLabels, Counter>,
    watchers: Family<KindLabels, Gauge>,
    storage_objects: Family<ResourceLabels, Gauge>,
    cache_initializations: Family<ResourceLabels, Counter>,
    cache_store_watches: Family<ResourceLabels, Counter>,
    storage_durations: Family<StorageLabels, Histogram, fn() -> Histogram>,
    rejected: Family<RejectionLabels, Counter>,
    process: Process,
}

/// The process collector's metrics.
#[derive(Default)]
struct Process {
    cpu_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    resident: Gauge,
    virtual_memory: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    start_time: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What one request was, as the metrics name it.
pub struct Route {
    labels: RouteLabels,
    /// For a watch of a served kind, `apiserver_registered_watchers`' labels.
    watched: Option<KindLabels>,
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "apiserver_request",
            "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.",
            requests.clone(),
        );
        let durations: Histograms = Family::new_with_constructor(duration_histogram);
        registry.register(
            "apiserver_request_duration_seconds",
            "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.",
            durations.clone(),
        );
        let sizes: Histograms = Family::new_with_constructor(size_histogram);
        registry.register(
            "apiserver_response_sizes",
            "Response size distribution in bytes for each group, version, verb, resource, subresource, scope and component.",
            sizes.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "apiserver_authorization_decisions",
            "Total number of terminal decisions made by an authorizer split by authorizer type, name, and decision.",
            decisions.clone(),
        );
        let longrunning = Family::<RouteLabels, Gauge>::default();
        registry.register(
            "apiserver_longrunning_requests",
            "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.",
            longrunning.clone(),
        );
        let authentication: Family<ResultLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(authentication_histogram);
        registry.register(
            "authentication_duration_seconds",
            "Authentication duration in seconds broken out by result.",
            authentication.clone(),
        );
        let audit_events = Counter::default();
        registry.register(
            "apiserver_audit_event",
            "Counter of audit events generated and sent to the audit backend.",
            audit_events.clone(),
        );
        let audit_errors = Counter::default();
        registry.register(
            "apiserver_audit_error",
            "Counter of audit events that failed to be audited properly (the log backend's buffer was full).",
            audit_errors.clone(),
        );
        let terminations = Family::<RequestLabels, Counter>::default();
        registry.register(
            "apiserver_request_terminations",
            "Number of requests which apiserver terminated in self-defense.",
            terminations.clone(),
        );
        let authentication_attempts = Family::<ResultLabels, Counter>::default();
        registry.register(
            "authentication_attempts",
            "Counter of authenticated attempts.",
            authentication_attempts.clone(),
        );
        let watchers = Family::<KindLabels, Gauge>::default();
        registry.register(
            "apiserver_registered_watchers",
            "Number of currently registered watchers for a given resources",
            watchers.clone(),
        );
        let storage_objects = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "apiserver_storage_objects",
            "Number of stored objects at the time of last check split by kind.",
            storage_objects.clone(),
        );
        let cache_initializations = Family::<ResourceLabels, Counter>::default();
        registry.register(
            "apiserver_watch_cache_initializations",
            "Counter of watch cache initializations broken by resource type.",
            cache_initializations.clone(),
        );
        // Not upstream's: what one watch cache costs the store, however many clients watch.
        let cache_store_watches = Family::<ResourceLabels, Counter>::default();
        registry.register(
            "kubeward_watch_cache_store_watches",
            "Watches the watch cache opened on the store (its own and those it passed on), by resource.",
            cache_store_watches.clone(),
        );
        let storage_durations: Family<StorageLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(duration_histogram);
        registry.register(
            "etcd_request_duration_seconds",
            "Etcd request latency in seconds for each operation and object type.",
            storage_durations.clone(),
        );
        let rejected = Family::<RejectionLabels, Counter>::default();
        registry.register(
            "apiserver_flowcontrol_rejected_requests",
            "Number of requests rejected by API Priority and Fairness subsystem",
            rejected.clone(),
        );
        let process = Process::default();
        registry.register(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds.",
            process.cpu_seconds.clone(),
        );
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            process.resident.clone(),
        );
        registry.register(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            process.virtual_memory.clone(),
        );
        registry.register(
            "process_open_fds",
            "Number of open file descriptors.",
            process.open_fds.clone(),
        );
        registry.register(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            process.max_fds.clone(),
        );
        registry.register(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            process.start_time.clone(),
        );
        Metrics {
            rejected,
            terminations,
            authentication_attempts,
            watchers,
            storage_objects,
            cache_initializations,
            cache_store_watches,
            storage_durations,
            process,
            registry,
            audit_errors,
            requests,
            durations,
            sizes,
            decisions,
            longrunning,
            authentication,
            audit_events,
        }
    }

    /// The exposition text, with the process's figures read now, `stored` (objects per
    /// group-resource) as `apiserver_storage_objects`, and the watch cache's work per
    /// group-resource (`Registry::watch_cache_stats`).
    pub fn render(&self, stored: &[(String, u64)], caches: &[(String, u64, u64)]) -> String {
        for (resource, inits, watches) in caches {
            let labels = ResourceLabels {
                resource: resource.clone(),
            };
            for (family, now) in [
                (&self.cache_initializations, *inits),
                (&self.cache_store_watches, *watches),
            ] {
                let counter = family.get_or_create(&labels);
                counter.inc_by(now.saturating_sub(counter.get()));
            }
        }
        for (resource, n) in stored {
            self.storage_objects
                .get_or_create(&ResourceLabels {
                    resource: resource.clone(),
                })
                .set(i64::try_from(*n).unwrap_or(i64::MAX));
        }
        let p = process::sample(std::path::Path::new("/proc"));
        let cpu = &self.process.cpu_seconds;
        let delta = p.cpu_seconds - cpu.get();
        if delta > 0.0 {
            cpu.inc_by(delta);
        }
        let gauge = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.process.resident, p.resident_bytes);
        gauge(&self.process.virtual_memory, p.virtual_bytes);
        gauge(&self.process.open_fds, p.open_fds);
        gauge(&self.process.max_fds, p.max_fds);
        self.process.start_time.set(p.start_time_seconds);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The route of a request: verb, group, version, resource, scope as upstream cleans them.
    /// `served` is the kind the path names, when kubeward serves it: the resource labels come
    /// only from it (and a subresource only if it declares it), so a path with made-up names
    /// cannot add series without end — upstream counts only installed routes.
    pub fn route(
        info: &RequestInfo,
        served: Option<&registry::ResourceDef>,
        method: &str,
        content_type: Option<&str>,
        dry_run: bool,
    ) -> Route {
        let verb = if info.is_resource_request {
            match info.verb.as_str() {
                "list" => "LIST",
                "watch" => "WATCH",
                "get" => "GET",
                "create" => "POST",
                "update" => "PUT",
                "patch"
                    if content_type.is_some_and(|c| c.starts_with("application/apply-patch")) =>
                {
                    "APPLY"
                }
                "patch" => "PATCH",
                "delete" | "deletecollection" => "DELETE",
                _ => "other",
            }
            .to_string()
        } else {
            match method {
                "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
                _ => "other",
            }
            .to_string()
        };
        // `CleanScope`.
        let scope = if !info.name.is_empty() || info.verb == "create" {
            "resource"
        } else if !info.namespace.is_empty() {
            "namespace"
        } else if info.is_resource_request {
            "cluster"
        } else {
            ""
        };
        let (group, version, resource, subresource) = match served {
            Some(def) => (
                def.group.to_string(),
                info.api_version.clone(),
                def.resource.to_string(),
                def.subresource(&info.subresource)
                    .map(|s| s.name.to_string())
                    .unwrap_or_default(),
            ),
            None => Default::default(),
        };
        let watched = served.filter(|_| verb == "WATCH").map(|def| KindLabels {
            group: def.group.to_string(),
            version: info.api_version.clone(),
            kind: def.kind.to_string(),
        });
        Route {
            watched,
            labels: RouteLabels {
                verb,
                dry_run: if dry_run { "All".into() } else { String::new() },
                group,
                version,
                resource,
                subresource,
                scope: scope.into(),
                component: "apiserver".into(),
            },
        }
    }

    /// One request done: its code, how long it took to answer, and the body's size (None for
    /// a stream).
    pub fn observe(&self, r: &Route, code: u16, seconds: f64, size: Option<usize>) {
        let l = &r.labels;
        self.requests
            .get_or_create(&RequestLabels {
                route: l.clone(),
                code: code.to_string(),
            })
            .inc();
        self.durations.get_or_create(l).observe(seconds);
        if let Some(n) = size {
            #[allow(clippy::cast_precision_loss, reason = "a histogram of sizes")]
            self.sizes.get_or_create(l).observe(n as f64);
        }
    }

    /// A request cut short by the server itself (at its deadline: 504).
    pub(crate) fn terminated(&self, r: &Route, code: u16) {
        self.terminations
            .get_or_create(&RequestLabels {
                route: r.labels.clone(),
                code: code.to_string(),
            })
            .inc();
    }

    /// A long-running request (a watch) began; the returned guard ends it when dropped. A
    /// watch of a served kind is a registered watcher of its kind meanwhile.
    pub(crate) fn long_running(&self, r: &Route) -> LongRunning {
        let mut gauges = vec![self.longrunning.get_or_create(&r.labels).clone()];
        if let Some(kind) = &r.watched {
            gauges.push(self.watchers.get_or_create(kind).clone());
        }
        for g in &gauges {
            g.inc();
        }
        LongRunning(gauges)
    }

    /// One authentication: `success`, or `failure` for a credential refused
    /// (`authentication_attempts` and `authentication_duration_seconds`).
    pub(crate) fn authentication(&self, success: bool, seconds: f64) {
        let result = ResultLabels {
            result: if success { "success" } else { "failure" }.into(),
        };
        self.authentication_attempts.get_or_create(&result).inc();
        self.authentication.get_or_create(&result).observe(seconds);
    }

    /// One storage call: its operation (`get`, `list`, ...), the group-resource it was for,
    /// and how long it took.
    pub fn storage_request(&self, operation: &'static str, group_resource: &str, seconds: f64) {
        self.storage_durations
            .get_or_create(&StorageLabels {
                operation: operation.to_string(),
                r#type: group_resource.to_string(),
            })
            .observe(seconds);
    }

    /// A request refused by priority and fairness, or by the in-flight limit.
    pub(crate) fn rejected(&self, reason: &'static str) {
        self.rejected
            .get_or_create(&RejectionLabels {
                flow_schema: "global-default".into(),
                priority_level: "global-default".into(),
                reason: reason.into(),
            })
            .inc();
    }

    /// The authorizer's terminal decision (`allowed` or `denied`; RBAC as upstream names it).
    pub(crate) fn decision(&self, allowed: bool) {
        self.decisions
            .get_or_create(&DecisionLabels {
                decision: if allowed { "allowed" } else { "denied" }.into(),
                name: "RBAC".into(),
            })
            .inc();
    }
}

/// Holds a long-running request in `apiserver_longrunning_requests`.
pub(crate) struct LongRunning(Vec<Gauge>);

impl Drop for LongRunning {
    fn drop(&mut self) {
        for g in &self.0 {
            g.dec();
        }
    }
}
