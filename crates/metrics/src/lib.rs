//! Every metric Qiao exports, in one table: its name (Prometheus conventions: a unit suffix, `_total` for
//! counters), its help text, and one function per event that records it. The rest of the code calls these
//! functions, never the `metrics` macros with a name of its own, so the table is the whole vocabulary.
//!
//! Recorded through the `metrics` facade into one process-wide Prometheus recorder ([`install`]); gauges that are
//! a reading of the store (outbox depth, subscriber lag) are set by `GET /metrics` just before it renders.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Calls into connectors, by connection, operation and outcome (`ok`, `error`, `timeout`, `cpu_limit`, `trap`,
/// `busy`, `not_loaded`).
pub const CONNECTOR_CALLS: &str = "qiao_connector_calls_total";
pub const CONNECTOR_CALL_SECONDS: &str = "qiao_connector_call_duration_seconds";
/// Connections whose calls were moved off the threads that serve requests (a call held the CPU for long), by
/// connection: counted once each time a connection turns heavy.
pub const CONNECTOR_CALLS_MOVED: &str = "qiao_connector_calls_moved_total";
/// Errors the connector returned, by kind and the platform's own code.
pub const CONNECTOR_ERRORS: &str = "qiao_connector_errors_total";
pub const RATE_LIMITED: &str = "qiao_connector_rate_limited_total";
pub const CONNECTOR_LOADS: &str = "qiao_connector_loads_total";
pub const CONNECTOR_LOAD_SECONDS: &str = "qiao_connector_load_duration_seconds";
pub const WEBHOOKS: &str = "qiao_webhook_requests_total";
pub const EVENTS_RECEIVED: &str = "qiao_events_received_total";
pub const EVENTS_DUPLICATE: &str = "qiao_events_duplicate_total";
pub const OUTBOX_ATTEMPTS: &str = "qiao_outbox_attempts_total";
pub const OUTBOX_DEAD_LETTERS: &str = "qiao_outbox_dead_letters_total";
pub const OUTBOX_OPERATIONS: &str = "qiao_outbox_operations";
pub const OUTBOX_OLDEST_QUEUED_SECONDS: &str = "qiao_outbox_oldest_queued_age_seconds";
pub const SUBSCRIBER_DELIVERIES: &str = "qiao_subscriber_deliveries_total";
pub const SUBSCRIBER_LAG: &str = "qiao_subscriber_lag_events";
pub const SYNC_RUNS: &str = "qiao_directory_sync_runs";
/// What each connection's connector keeps in kv, and its quota (`limits.kv_max_bytes` / `kv_max_keys`): past the
/// quota `kv.set` fails, so `kv_keys / kv_quota_keys` is worth an alert.
pub const CONNECTOR_KV_BYTES: &str = "qiao_connector_kv_bytes";
pub const CONNECTOR_KV_KEYS: &str = "qiao_connector_kv_keys";
pub const CONNECTOR_KV_QUOTA_BYTES: &str = "qiao_connector_kv_quota_bytes";
pub const CONNECTOR_KV_QUOTA_KEYS: &str = "qiao_connector_kv_quota_keys";
pub const API_REQUESTS: &str = "qiao_http_requests_total";
pub const STREAM_CONNECTS: &str = "qiao_stream_connects_total";
pub const STREAM_FRAMES: &str = "qiao_stream_frames_total";
pub const STREAMS_OPEN: &str = "qiao_streams_open";

/// Buckets for call latencies: from a cached read (sub-millisecond) to a platform at its timeout.
const SECONDS_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// The process's recorder, installed once (several servers in one test process share it).
pub fn install() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(SECONDS_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder set first (a library user's own) keeps recording; ours then renders nothing of it.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

/// The Prometheus text exposition of everything recorded.
pub fn render() -> String {
    install().render()
}

fn describe() {
    describe_counter!(CONNECTOR_CALLS, "Calls into connectors, by connection, operation and outcome.");
    describe_counter!(
        CONNECTOR_CALLS_MOVED,
        "Times a connection's calls were moved to the call pool, off the threads that serve requests (a call held \
         the CPU for over a millisecond in one go)."
    );
    describe_histogram!(CONNECTOR_CALL_SECONDS, Unit::Seconds, "Time of a connector call, instantiation included.");
    describe_counter!(CONNECTOR_ERRORS, "Errors connectors returned, by kind and platform code.");
    describe_counter!(RATE_LIMITED, "Calls the platform refused for its rate limit.");
    describe_counter!(CONNECTOR_LOADS, "Connector files loaded, by connector and outcome.");
    describe_histogram!(CONNECTOR_LOAD_SECONDS, Unit::Seconds, "Time to load a connector file (compiling it when not cached).");
    describe_counter!(WEBHOOKS, "Requests to /v1/hooks, by connection and result (accepted, bad_signature, rate_limited, busy, failed).");
    describe_counter!(EVENTS_RECEIVED, "Events received from platforms (webhooks and polls), by connection.");
    describe_counter!(EVENTS_DUPLICATE, "Events received again and stored once (de-duplicated by id).");
    describe_counter!(OUTBOX_ATTEMPTS, "Delivery attempts of queued operations, by connection, operation and outcome.");
    describe_counter!(OUTBOX_DEAD_LETTERS, "Operations that became dead letters, by connection.");
    describe_gauge!(OUTBOX_OPERATIONS, "Operations in the outbox, by status (read when scraped).");
    describe_gauge!(OUTBOX_OLDEST_QUEUED_SECONDS, Unit::Seconds, "Age of the oldest operation waiting to be delivered.");
    describe_counter!(SUBSCRIBER_DELIVERIES, "Event deliveries to subscribers, by subscription and outcome.");
    describe_gauge!(SUBSCRIBER_LAG, "Events a subscription has yet to deliver (read when scraped).");
    describe_gauge!(SYNC_RUNS, "Directory sync runs, by state (read when scraped).");
    describe_gauge!(CONNECTOR_KV_BYTES, Unit::Bytes, "What a connection's connector keeps in kv: keys and values (read when scraped).");
    describe_gauge!(CONNECTOR_KV_KEYS, "Keys a connection's connector keeps in kv, expired ones until dropped (read when scraped).");
    describe_gauge!(CONNECTOR_KV_QUOTA_BYTES, Unit::Bytes, "A connection's kv quota in bytes (limits.kv_max_bytes).");
    describe_gauge!(CONNECTOR_KV_QUOTA_KEYS, "A connection's kv quota in keys (limits.kv_max_keys).");
    describe_counter!(API_REQUESTS, "REST API requests, by route, method and status class.");
    describe_counter!(STREAM_CONNECTS, "Event-stream connection attempts, by connection and result (open, or why not).");
    describe_counter!(STREAM_FRAMES, "Frames received on event streams, by connection and outcome (ok, error, failed).");
    describe_gauge!(STREAMS_OPEN, "Event streams open now, by connection (1 or 0).");
}

pub fn connector_call(connection: &str, operation: &str, outcome: &'static str, took: Duration) {
    let labels = [("connection", connection.to_string()), ("operation", operation.to_string())];
    counter!(CONNECTOR_CALLS, &[labels[0].clone(), labels[1].clone(), ("outcome", outcome.to_string())]).increment(1);
    histogram!(CONNECTOR_CALL_SECONDS, &labels).record(took.as_secs_f64());
}

pub fn calls_moved(connection: &str) {
    counter!(CONNECTOR_CALLS_MOVED, "connection" => connection.to_string()).increment(1);
}

pub fn connector_error(connection: &str, operation: &str, kind: &str, platform_code: Option<&str>) {
    counter!(
        CONNECTOR_ERRORS,
        "connection" => connection.to_string(),
        "operation" => operation.to_string(),
        "kind" => kind.to_string(),
        "platform_code" => platform_code.unwrap_or("").to_string()
    )
    .increment(1);
    if kind == "rate-limited" {
        counter!(RATE_LIMITED, "connection" => connection.to_string()).increment(1);
    }
}

pub fn connector_load(connector: &str, ok: bool, took: Duration) {
    let outcome = if ok { "loaded" } else { "failed" };
    counter!(CONNECTOR_LOADS, "connector" => connector.to_string(), "outcome" => outcome).increment(1);
    if ok {
        histogram!(CONNECTOR_LOAD_SECONDS, "connector" => connector.to_string()).record(took.as_secs_f64());
    }
}

pub fn webhook(connection: &str, result: &'static str) {
    counter!(WEBHOOKS, "connection" => connection.to_string(), "result" => result).increment(1);
}

pub fn stream_connect(connection: &str, result: &'static str) {
    counter!(STREAM_CONNECTS, "connection" => connection.to_string(), "result" => result).increment(1);
}

pub fn stream_frame(connection: &str, outcome: &'static str) {
    counter!(STREAM_FRAMES, "connection" => connection.to_string(), "outcome" => outcome).increment(1);
}

pub fn stream_open(connection: &str, open: bool) {
    gauge!(STREAMS_OPEN, "connection" => connection.to_string()).set(if open { 1.0 } else { 0.0 });
}

pub fn events_stored(connection: &str, received: usize, new: usize) {
    counter!(EVENTS_RECEIVED, "connection" => connection.to_string()).increment(received as u64);
    counter!(EVENTS_DUPLICATE, "connection" => connection.to_string()).increment(received.saturating_sub(new) as u64);
}

pub fn outbox_attempt(connection: &str, operation: &str, outcome: &'static str) {
    counter!(
        OUTBOX_ATTEMPTS,
        "connection" => connection.to_string(),
        "operation" => operation.to_string(),
        "outcome" => outcome
    )
    .increment(1);
}

pub fn dead_letter(connection: &str) {
    counter!(OUTBOX_DEAD_LETTERS, "connection" => connection.to_string()).increment(1);
}

pub fn subscriber_delivery(subscription: &str, ok: bool) {
    let outcome = if ok { "delivered" } else { "failed" };
    counter!(SUBSCRIBER_DELIVERIES, "subscription" => subscription.to_string(), "outcome" => outcome).increment(1);
}

pub fn api_request(route: &str, method: &str, status: u16) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    counter!(API_REQUESTS, "route" => route.to_string(), "method" => method.to_string(), "status" => class).increment(1);
}

/// Readings of the store, set just before a scrape renders.
pub fn outbox_operations(status: &str, count: u64) {
    gauge!(OUTBOX_OPERATIONS, "status" => status.to_string()).set(count as f64);
}

pub fn outbox_oldest_queued(age: Duration) {
    gauge!(OUTBOX_OLDEST_QUEUED_SECONDS).set(age.as_secs_f64());
}

pub fn subscriber_lag(subscription: &str, events: u64) {
    gauge!(SUBSCRIBER_LAG, "subscription" => subscription.to_string()).set(events as f64);
}

pub fn sync_runs(state: &str, count: u64) {
    gauge!(SYNC_RUNS, "state" => state.to_string()).set(count as f64);
}

/// A connection's kv usage against its quota: (bytes, keys) used and allowed.
pub fn connector_kv(connection: &str, used: (u64, u64), quota: (u64, u64)) {
    let connection = connection.to_string();
    gauge!(CONNECTOR_KV_BYTES, "connection" => connection.clone()).set(used.0 as f64);
    gauge!(CONNECTOR_KV_KEYS, "connection" => connection.clone()).set(used.1 as f64);
    gauge!(CONNECTOR_KV_QUOTA_BYTES, "connection" => connection.clone()).set(quota.0 as f64);
    gauge!(CONNECTOR_KV_QUOTA_KEYS, "connection" => connection).set(quota.1 as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_values_render_in_the_text_format_with_help_and_units() {
        install();
        connector_call("c1", "send", "ok", Duration::from_millis(3));
        connector_error("c1", "send", "rate-limited", Some("99991400"));
        let text = render();
        assert!(text.contains("# HELP qiao_connector_calls_total"), "{text}");
        assert!(text.contains("qiao_connector_calls_total{connection=\"c1\",operation=\"send\",outcome=\"ok\"} 1"), "{text}");
        assert!(text.contains("qiao_connector_call_duration_seconds_bucket{connection=\"c1\",operation=\"send\",le=\"0.005\"} 1"), "{text}");
        assert!(text.contains("qiao_connector_rate_limited_total{connection=\"c1\"} 1"), "{text}");
    }
}
