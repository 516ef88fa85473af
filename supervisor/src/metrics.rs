//! Prometheus metrics, served as text on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub endpoint: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabel {
    pub endpoint: &'static str,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    pub jobs: Family<JobLabels, Counter>,
    pub latency: Family<EndpointLabel, Histogram>,
    pub queued: Gauge,
    pub running: Gauge,
    pub chrome_restarts: Counter,
    pub chrome_recycles: Counter,
    pub blocked_requests: Counter,
    pub unauthorized: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("render_supervisor");
        let jobs = Family::<JobLabels, Counter>::default();
        let latency = Family::<EndpointLabel, Histogram>::new_with_constructor(|| {
            let buckets = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0];
            Histogram::new(buckets)
        });
        let queued = Gauge::default();
        let running = Gauge::default();
        let chrome_restarts = Counter::default();
        let chrome_recycles = Counter::default();
        let blocked_requests = Counter::default();
        let unauthorized = Counter::default();
        registry.register(
            "jobs",
            "Jobs answered, by endpoint and outcome",
            jobs.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time from request to answer, by endpoint",
            latency.clone(),
        );
        registry.register("queue_depth", "Jobs waiting for a slot", queued.clone());
        registry.register("jobs_running", "Jobs rendering now", running.clone());
        registry.register(
            "chrome_restarts",
            "Chrome relaunches after a crash or hang",
            chrome_restarts.clone(),
        );
        registry.register(
            "chrome_recycles",
            "Planned Chrome relaunches after a number of jobs",
            chrome_recycles.clone(),
        );
        registry.register(
            "blocked_requests",
            "Page requests refused by the egress policy",
            blocked_requests.clone(),
        );
        registry.register(
            "unauthorized_connections",
            "Connections refused because of the peer's credentials",
            unauthorized.clone(),
        );
        Metrics {
            registry,
            jobs,
            latency,
            queued,
            running,
            chrome_restarts,
            chrome_recycles,
            blocked_requests,
            unauthorized,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
