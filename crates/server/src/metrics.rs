//! `/metrics`: kube-apiserver's request metrics by its names and labels
//! (`staging/src/k8s.io/apiserver/pkg/endpoints/metrics/metrics.go`), in the Prometheus
//! project's OpenMetrics text encoding (which appends `_total` to counters, as the names here
//! already end). Every request after authentication is counted, the in-process ones too
//! (upstream counts its loopback client's alike).

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
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// What one request was, as the metrics name it.
pub(crate) struct Route {
    labels: RouteLabels,
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
        Metrics {
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

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The route of a request: verb, group, version, resource, scope as upstream cleans them.
    /// `served` is the kind the path names, when kubeward serves it: the resource labels come
    /// only from it (and a subresource only if it declares it), so a path with made-up names
    /// cannot add series without end — upstream counts only installed routes.
    pub(crate) fn route(
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
        Route {
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
    pub(crate) fn observe(&self, r: &Route, code: u16, seconds: f64, size: Option<usize>) {
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

    /// A long-running request (a watch) began; the returned guard ends it when dropped.
    pub(crate) fn long_running(&self, r: &Route) -> LongRunning {
        let gauge = self.longrunning.get_or_create(&r.labels).clone();
        gauge.inc();
        LongRunning(gauge)
    }

    /// One authentication: `success`, or `failure` for a credential refused.
    pub(crate) fn authentication(&self, success: bool, seconds: f64) {
        self.authentication
            .get_or_create(&ResultLabels {
                result: if success { "success" } else { "failure" }.into(),
            })
            .observe(seconds);
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
pub(crate) struct LongRunning(Gauge);

impl Drop for LongRunning {
    fn drop(&mut self) {
        self.0.dec();
    }
}
