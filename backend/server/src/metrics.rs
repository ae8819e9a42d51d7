//! Prometheus metrics: the catalogue (also printed by `contract`), the recorder, and the
//! process metrics read from /proc at scrape time.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

pub struct MetricSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
}

const fn m(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> MetricSpec {
    MetricSpec {
        name,
        kind,
        labels,
        help,
    }
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SCORE_BUCKETS: &[f64] = &[
    50.0, 100.0, 150.0, 200.0, 250.0, 300.0, 400.0, 500.0, 600.0, 800.0, 1000.0, 1250.0,
];
const GAME_SECONDS_BUCKETS: &[f64] = &[
    15.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 450.0, 600.0, 900.0,
];

/// Every metric the binary exports. Names and labels are a contract with the dashboards and alerts.
pub const CATALOGUE: &[MetricSpec] = &[
    m(
        "http_requests_total",
        Kind::Counter,
        &["method", "route", "status"],
        "HTTP requests by method, route template and status code.",
    ),
    m(
        "http_request_duration_seconds",
        Kind::Histogram,
        &["method", "route", "status"],
        "HTTP request latency by route template.",
    ),
    m(
        "http_requests_in_flight",
        Kind::Gauge,
        &[],
        "HTTP requests being served now.",
    ),
    m(
        "game_sessions_active",
        Kind::Gauge,
        &[],
        "Live games in the shared store (the same on every replica: use max()).",
    ),
    m(
        "games_started_total",
        Kind::Counter,
        &["difficulty"],
        "Games dealt.",
    ),
    m(
        "games_completed_total",
        Kind::Counter,
        &["difficulty"],
        "Games completed (every pair found), counted once when stored.",
    ),
    m(
        "games_expired_total",
        Kind::Counter,
        &["difficulty"],
        "Games that ran out of time.",
    ),
    m(
        "games_abandoned_total",
        Kind::Counter,
        &["difficulty"],
        "Games the player quit.",
    ),
    m(
        "game_flips_total",
        Kind::Counter,
        &["difficulty", "outcome"],
        "Card flips: reveal (first of an attempt), hit or miss.",
    ),
    m(
        "game_final_score",
        Kind::Histogram,
        &["difficulty"],
        "Final scores of completed games.",
    ),
    m(
        "game_completion_seconds",
        Kind::Histogram,
        &["difficulty"],
        "Playing time of completed games (pauses excluded).",
    ),
    m(
        "dependency_up",
        Kind::Gauge,
        &["dependency"],
        "1 when the dependency answered the last health probe (every 2 s).",
    ),
    m(
        "db_query_duration_seconds",
        Kind::Histogram,
        &["operation"],
        "Database operation latency.",
    ),
    m(
        "db_errors_total",
        Kind::Counter,
        &["operation"],
        "Database operations that failed.",
    ),
    m(
        "redis_command_duration_seconds",
        Kind::Histogram,
        &["operation"],
        "Redis operation latency.",
    ),
    m(
        "redis_errors_total",
        Kind::Counter,
        &["operation"],
        "Redis operations that failed.",
    ),
    m(
        "rate_limited_requests_total",
        Kind::Counter,
        &[],
        "Requests refused with 429.",
    ),
    m(
        "idempotent_replays_total",
        Kind::Counter,
        &[],
        "Retries answered from a stored response (Idempotency-Key).",
    ),
    m(
        "config_weak_secret",
        Kind::Gauge,
        &["variable"],
        "1 for each secret that is weak or a demo value.",
    ),
    m(
        "app_ready",
        Kind::Gauge,
        &[],
        "1 when this replica reports ready.",
    ),
    m(
        "build_info",
        Kind::Gauge,
        &["version", "revision"],
        "Always 1; labels identify the build.",
    ),
    m(
        "process_cpu_seconds_total",
        Kind::Counter,
        &[],
        "CPU time used by the process.",
    ),
    m(
        "process_resident_memory_bytes",
        Kind::Gauge,
        &[],
        "Resident memory.",
    ),
    m(
        "process_virtual_memory_bytes",
        Kind::Gauge,
        &[],
        "Virtual memory.",
    ),
    m(
        "process_open_fds",
        Kind::Gauge,
        &[],
        "Open file descriptors.",
    ),
    m(
        "process_max_fds",
        Kind::Gauge,
        &[],
        "File descriptor limit.",
    ),
    m(
        "process_start_time_seconds",
        Kind::Gauge,
        &[],
        "Start time of the process (Unix seconds).",
    ),
    m("process_threads", Kind::Gauge, &[], "OS threads."),
];

pub const DIFFICULTIES: [&str; 4] = ["easy", "medium", "hard", "expert"];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static START_TIME: OnceLock<f64> = OnceLock::new();

/// Installs the global recorder once and returns its handle (every app in a process shares it).
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            START_TIME.get_or_init(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0)
            });
            let mut builder = PrometheusBuilder::new();
            for spec in CATALOGUE.iter().filter(|s| s.kind == Kind::Histogram) {
                let buckets = match spec.name {
                    "game_final_score" => SCORE_BUCKETS,
                    "game_completion_seconds" => GAME_SECONDS_BUCKETS,
                    _ => LATENCY_BUCKETS,
                };
                builder = builder
                    .set_buckets_for_metric(Matcher::Full(spec.name.to_string()), buckets)
                    .unwrap_or_else(|_| unreachable!("bucket lists are not empty"));
            }
            let handle = builder
                .install_recorder()
                .unwrap_or_else(|e| panic!("installing the metrics recorder: {e}"));
            for spec in CATALOGUE.iter().filter(|s| !s.name.starts_with("process_")) {
                match spec.kind {
                    Kind::Counter => metrics::describe_counter!(spec.name, spec.help),
                    Kind::Gauge => metrics::describe_gauge!(spec.name, spec.help),
                    Kind::Histogram => metrics::describe_histogram!(spec.name, spec.help),
                }
            }
            // Series that alerts compare must exist before the first event.
            for d in DIFFICULTIES {
                for name in [
                    "games_started_total",
                    "games_completed_total",
                    "games_expired_total",
                    "games_abandoned_total",
                ] {
                    metrics::counter!(name, "difficulty" => d).increment(0);
                }
            }
            metrics::counter!("rate_limited_requests_total").increment(0);
            metrics::counter!("idempotent_replays_total").increment(0);
            metrics::gauge!(
                "build_info",
                "version" => env!("CARGO_PKG_VERSION"),
                "revision" => option_env!("HMG_REVISION").unwrap_or("unknown")
            )
            .set(1.0);
            handle
        })
        .clone()
}

/// Per route template: (method, status) and their handles.
type Series = Vec<(&'static str, u16, metrics::Counter, metrics::Histogram)>;

/// Per-request HTTP metrics with cached handles: a request costs a read-locked hash lookup
/// instead of building label sets and searching the registry.
pub struct HttpMetrics {
    in_flight: metrics::Gauge,
    series: std::sync::RwLock<std::collections::HashMap<String, Series>>,
}

/// The method label: standard methods by name, anything else as OTHER (no unbounded labels).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

impl HttpMetrics {
    pub fn get() -> &'static HttpMetrics {
        static HTTP: OnceLock<HttpMetrics> = OnceLock::new();
        HTTP.get_or_init(|| HttpMetrics {
            in_flight: metrics::gauge!("http_requests_in_flight"),
            series: Default::default(),
        })
    }

    pub fn started(&self) {
        self.in_flight.increment(1.0);
    }

    pub fn finished(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        self.in_flight.decrement(1.0);
        if let Ok(map) = self.series.read() {
            let found = map
                .get(route)
                .and_then(|v| v.iter().find(|(m, s, _, _)| *m == method && *s == status));
            if let Some((_, _, c, h)) = found {
                c.increment(1);
                h.record(seconds);
                return;
            }
        }
        let labels = [
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        let counter = metrics::counter!("http_requests_total", &labels);
        let histogram = metrics::histogram!("http_request_duration_seconds", &labels);
        counter.increment(1);
        histogram.record(seconds);
        if let Ok(mut map) = self.series.write() {
            map.entry(route.to_string())
                .or_default()
                .push((method, status, counter, histogram));
        }
    }
}

/// The exposition text: the recorder's metrics followed by the process metrics.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut out = handle.render();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    process_metrics(&mut out);
    out
}

fn help(name: &str) -> &'static str {
    CATALOGUE
        .iter()
        .find(|s| s.name == name)
        .map_or("", |s| s.help)
}

fn push_metric(out: &mut String, name: &str, kind: &str, value: f64) {
    use std::fmt::Write;
    let _ = write!(
        out,
        "# HELP {name} {}\n# TYPE {name} {kind}\n{name} {value}\n",
        help(name)
    );
}

/// Process metrics in the standard names, read from /proc at scrape time (the metrics facade
/// has no float counters, so these are written directly).
fn process_metrics(out: &mut String) {
    push_metric(
        out,
        "process_start_time_seconds",
        "gauge",
        START_TIME.get().copied().unwrap_or(0.0),
    );
    #[cfg(target_os = "linux")]
    {
        let clk_tck = 100.0; // USER_HZ is 100 on every Linux ABI we build for.
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the command name (which may contain spaces) start after the last ')'.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                // utime and stime are fields 14 and 15 of the line; 11 and 12 after the name.
                push_metric(
                    out,
                    "process_cpu_seconds_total",
                    "counter",
                    (ticks(11) + ticks(12)) / clk_tck,
                );
            }
        }
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            let value = |key: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(key))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            push_metric(
                out,
                "process_resident_memory_bytes",
                "gauge",
                value("VmRSS:") * 1024.0,
            );
            push_metric(
                out,
                "process_virtual_memory_bytes",
                "gauge",
                value("VmSize:") * 1024.0,
            );
            push_metric(out, "process_threads", "gauge", value("Threads:"));
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            push_metric(out, "process_open_fds", "gauge", dir.count() as f64);
        }
        if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
            if let Some(soft) = limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<f64>().ok())
            {
                push_metric(out, "process_max_fds", "gauge", soft);
            }
        }
    }
}
