//! The counters, gauges and histograms, and their labels.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::fmt::Write as _;

/// Latency buckets from 100 µs to about 26 s, doubling: local SQLite calls and lock round
/// trips sit at the low end, long appends at the high end.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(super) struct RequestLabels {
    method: &'static str,
    status: StatusLabel,
}

/// An HTTP status code as a label value.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct StatusLabel(u16);

impl EncodeLabelValue for StatusLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        write!(encoder, "{}", self.0)
    }
}

/// A storage operation, as the `op` label.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Info,
    Append,
    SetLength,
    Concatenate,
    FinalsWaitingFor,
    Read,
    Remove,
    Expired,
    RemoveLeftovers,
    Health,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Info => "info",
            Self::Append => "append",
            Self::SetLength => "set_length",
            Self::Concatenate => "concatenate",
            Self::FinalsWaitingFor => "finals_waiting_for",
            Self::Read => "read",
            Self::Remove => "remove",
            Self::Expired => "expired",
            Self::RemoveLeftovers => "remove_leftovers",
            Self::Health => "health",
        }
    }
}

impl EncodeLabelValue for Op {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> std::fmt::Result {
        encoder.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct OpLabels {
    op: Op,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HookLabels {
    hook: &'static str,
}

/// Every metric of one [`TusMetrics`](super::TusMetrics).
pub(crate) struct Instruments {
    requests: Family<RequestLabels, Counter>,
    pub(crate) bytes_received: Counter,
    pub(crate) uploads_created: Counter,
    pub(crate) uploads_finished: Counter,
    pub(crate) uploads_terminated: Counter,
    pub(crate) uploads_expired: Counter,
    pub(crate) uploads_in_progress: Gauge,
    pub(crate) lock_wait: Histogram,
    pub(crate) lock_timeouts: Counter,
    pub(crate) lock_unavailable: Counter,
    pub(crate) lock_lost: Counter,
    storage_latency: LatencyFamily<OpLabels>,
    storage_errors: Family<OpLabels, Counter>,
    hook_invocations: Family<HookLabels, Counter>,
    hook_rejections: Family<HookLabels, Counter>,
    hook_failures: Family<HookLabels, Counter>,
}

impl Instruments {
    /// Creates the metrics and registers them in `registry` under the prefix `tus`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let this = Self {
            requests: Family::default(),
            bytes_received: Counter::default(),
            uploads_created: Counter::default(),
            uploads_finished: Counter::default(),
            uploads_terminated: Counter::default(),
            uploads_expired: Counter::default(),
            uploads_in_progress: Gauge::default(),
            lock_wait: latency_histogram(),
            lock_timeouts: Counter::default(),
            lock_unavailable: Counter::default(),
            lock_lost: Counter::default(),
            storage_latency: Family::new_with_constructor(latency_histogram),
            storage_errors: Family::default(),
            hook_invocations: Family::default(),
            hook_rejections: Family::default(),
            hook_failures: Family::default(),
        };
        let r = registry.sub_registry_with_prefix("tus");
        r.register("requests", "tus requests answered, by method and status", this.requests.clone());
        r.register("bytes_received", "Upload bytes stored", this.bytes_received.clone());
        r.register("uploads_created", "Uploads created", this.uploads_created.clone());
        r.register(
            "uploads_finished",
            "Uploads completed (not counting partial uploads)",
            this.uploads_finished.clone(),
        );
        r.register("uploads_terminated", "Uploads removed by DELETE", this.uploads_terminated.clone());
        r.register("uploads_expired", "Expired uploads removed by the janitor", this.uploads_expired.clone());
        r.register("uploads_in_progress", "Appends streaming into storage right now", this.uploads_in_progress.clone());
        r.register("lock_wait_seconds", "Time taken to acquire an upload lock, or to give up", this.lock_wait.clone());
        r.register("lock_timeouts", "Lock waits that timed out (answered 423)", this.lock_timeouts.clone());
        r.register(
            "lock_unavailable",
            "Lock attempts the lock backend could not answer",
            this.lock_unavailable.clone(),
        );
        r.register("lock_lost", "Requests stopped because their lock lease was lost", this.lock_lost.clone());
        r.register("storage_operation_seconds", "Latency of storage calls, by operation", this.storage_latency.clone());
        r.register("storage_errors", "Storage calls that failed, by operation", this.storage_errors.clone());
        r.register("hook_invocations", "Hook calls, by hook", this.hook_invocations.clone());
        r.register("hook_rejections", "Blocking hooks that refused with a 4xx status", this.hook_rejections.clone());
        r.register(
            "hook_failures",
            "Blocking hooks that failed (refused with a 5xx status)",
            this.hook_failures.clone(),
        );
        this
    }

    pub(crate) fn request(&self, method: &http::Method, status: http::StatusCode) {
        // Only the methods tus answers get their own label, so clients cannot grow the set.
        let method = match *method {
            http::Method::OPTIONS => "OPTIONS",
            http::Method::POST => "POST",
            http::Method::HEAD => "HEAD",
            http::Method::PATCH => "PATCH",
            http::Method::GET => "GET",
            http::Method::DELETE => "DELETE",
            _ => "OTHER",
        };
        self.requests.get_or_create(&RequestLabels { method, status: StatusLabel(status.as_u16()) }).inc();
    }

    pub(crate) fn storage_call(&self, op: Op, seconds: f64, failed: bool) {
        let labels = OpLabels { op };
        self.storage_latency.get_or_create(&labels).observe(seconds);
        if failed {
            self.storage_errors.get_or_create(&labels).inc();
        }
    }

    pub(crate) fn hook_called(&self, hook: &'static str) {
        self.hook_invocations.get_or_create(&HookLabels { hook }).inc();
    }

    pub(crate) fn hook_refused(&self, hook: &'static str, status: http::StatusCode) {
        let labels = HookLabels { hook };
        if status.is_server_error() {
            self.hook_failures.get_or_create(&labels).inc();
        } else {
            self.hook_rejections.get_or_create(&labels).inc();
        }
    }
}
