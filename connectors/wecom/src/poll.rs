//! Approvals submitted in a time range (`oa/getapprovalinfo`), as `approval.submitted` events: run on a
//! schedule (`POST /v1/connections/{c}/poll`), it lists what was filed without relying on callbacks, e.g. to
//! reconcile after the callback URL was down. The cursor is the end of the last window, in Unix seconds.

use qiao_sdk::{Error, types::Event};
use serde_json::json;

use crate::WeCom;
use crate::client::{id_text, post};
use crate::exports::qiao::connector::poll::{Batch, Guest};

/// The first poll looks back a day.
const FIRST_LOOKBACK_S: u64 = 86_400;
/// WeCom refuses windows over 31 days.
const MAX_WINDOW_S: u64 = 31 * 86_400;
/// Pages per poll; the rest waits for the next poll (the window's end then stays where it was).
const MAX_PAGES: usize = 20;

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Guest for WeCom {
    fn poll(cursor: Option<String>) -> Result<Batch, Error> {
        let now = now_s();
        let start = match cursor.as_deref() {
            None | Some("") => now.saturating_sub(FIRST_LOOKBACK_S),
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid_input(format!("bad cursor {c:?} (Unix seconds)")))?,
        };
        let end = now.min(start + MAX_WINDOW_S);
        if end <= start {
            return Ok(Batch {
                events: vec![],
                next_cursor: Some(start.to_string()),
            });
        }
        let mut events = Vec::new();
        let mut page_cursor = String::new();
        for _ in 0..MAX_PAGES {
            let answer = post(
                "oa/getapprovalinfo",
                &json!({ "starttime": start, "endtime": end, "new_cursor": page_cursor, "size": 100, "filters": [] }),
            )?;
            for sp_no in answer["sp_no_list"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(id_text)
            {
                events.push(Event {
                    id: format!("submitted:{sp_no}"),
                    kind: "approval.submitted".into(),
                    time_ms: None,
                    payload: json!({ "instance_id": sp_no, "window": [start, end] }).to_string(),
                    subject: sp_no,
                });
            }
            match answer["new_next_cursor"].as_str().filter(|c| !c.is_empty()) {
                Some(next) => page_cursor = next.to_string(),
                None => {
                    return Ok(Batch {
                        events,
                        next_cursor: Some(end.to_string()),
                    });
                }
            }
        }
        // Not done with this window: keep its start, so the next poll reads it again (ids de-duplicate).
        Ok(Batch {
            events,
            next_cursor: Some(start.to_string()),
        })
    }
}
