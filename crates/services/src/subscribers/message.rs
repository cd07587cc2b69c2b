//! What a subscriber receives for one event: the message id and the JSON body that is signed and sent.

use serde::Serialize;

use qiao_store::StoredEvent;

/// One event as a webhook message.
pub struct Message {
    /// `msg_<seq>`: the same for every attempt, so a subscriber can drop a repeat it has already handled.
    pub id: String,
    pub body: String,
}

/// The body, in this field order: `{"type", "timestamp", "data": {...}}` as Standard Webhooks suggests.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    timestamp: String,
    data: Data<'a>,
}

#[derive(Serialize)]
struct Data<'a> {
    seq: i64,
    connection: &'a str,
    id: &'a str,
    subject: &'a str,
    time_ms: Option<i64>,
    payload: &'a serde_json::Value,
}

pub fn message(event: &StoredEvent) -> Message {
    let body = Body {
        kind: &event.kind,
        timestamp: rfc3339_ms(event.received_ms),
        data: Data {
            seq: event.seq,
            connection: &event.connection,
            id: &event.id,
            subject: &event.subject,
            time_ms: event.time_ms,
            payload: &event.payload,
        },
    };
    Message {
        id: format!("msg_{}", event.seq),
        // Plain strings, numbers and a `Value`: serializing them cannot fail.
        body: serde_json::to_string(&body).expect("event serializes"),
    }
}

/// A Unix time in milliseconds as RFC 3339 in UTC with milliseconds: `2021-02-25T15:02:10.123Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let of_day = ms.rem_euclid(86_400_000);
    let (year, month, day) = qiao_calendar::civil_from_days(days);
    let (h, m, s, milli) = (
        of_day / 3_600_000,
        of_day / 60_000 % 60,
        of_day / 1000 % 60,
        of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_python_isoformat() {
        // Expected values from Python's `datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat()`.
        for (ms, expected) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (1_614_265_330_123, "2021-02-25T15:02:10.123Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_709_251_199_500, "2024-02-29T23:59:59.500Z"),
            (1_709_251_200_000, "2024-03-01T00:00:00.000Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        ] {
            assert_eq!(rfc3339_ms(ms), expected, "{ms}");
        }
    }

    #[test]
    fn message_has_a_stable_id_and_the_documented_shape() {
        let event = StoredEvent {
            seq: 7,
            connection: "main".into(),
            id: "ev-1".into(),
            kind: "approval.status_changed".into(),
            subject: "inst-1".into(),
            time_ms: Some(5),
            payload: serde_json::json!({ "status": "approved" }),
            received_ms: 1_614_265_330_123,
            echo_of: None,
            hops: 0,
        };
        let m = message(&event);
        assert_eq!(m.id, "msg_7");
        assert_eq!(
            m.body,
            r#"{"type":"approval.status_changed","timestamp":"2021-02-25T15:02:10.123Z","data":{"seq":7,"connection":"main","id":"ev-1","subject":"inst-1","time_ms":5,"payload":{"status":"approved"}}}"#
        );
    }
}
