//! K3Cloud cannot call back, so bill changes are polled: for each form in `poll_forms`, the bills modified since
//! the cursor (`FModifyDate >= last seen`, oldest first), as `approval.status_changed` events. The event id
//! names the bill, its status and its modify date, so a change re-read at the cursor's edge is stored once.

use qiao_sdk::{Error, config, types::Event};
use serde_json::{Map, Value, json};

use crate::Kingdee;
use crate::approval::status;
use crate::client::{literal, query, text};
use crate::exports::qiao::connector::approval::Status;
use crate::exports::qiao::connector::poll::{Batch, Guest};

/// Rows read per form per poll; the rest come next time.
const PAGE: u64 = 500;

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Draft => "draft",
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Canceled => "canceled",
    }
}

impl Guest for Kingdee {
    /// The cursor is a JSON object: form id → the last `FModifyDate` seen.
    fn poll(cursor: Option<String>) -> Result<Batch, Error> {
        let forms = config::get("poll_forms").filter(|v| !v.trim().is_empty()).ok_or_else(|| {
            Error::invalid_input("poll_forms is not configured: list the bill form ids to watch, e.g. ER_ExpReimbursement")
        })?;
        let mut seen: Map<String, Value> = match cursor.as_deref() {
            None | Some("") => Map::new(),
            Some(c) => serde_json::from_str(c)
                .map_err(|_| Error::invalid_input(format!("bad cursor {c:?}")))?,
        };
        let mut events = Vec::new();
        for form_id in forms.split(',').map(str::trim).filter(|f| !f.is_empty()) {
            let filter = match seen.get(form_id).and_then(|v| v.as_str()) {
                Some(since) => format!("FModifyDate >= {}", literal(since)),
                None => String::new(),
            };
            let fields = ["FID", "FBillNo", "FDocumentStatus", "FModifyDate"];
            let rows = query(
                form_id,
                &fields,
                &filter,
                "FModifyDate ASC,FID ASC",
                0,
                PAGE,
            )?;
            for row in &rows {
                let (id, modified, letter) = (
                    text(&row["FID"]),
                    text(&row["FModifyDate"]),
                    text(&row["FDocumentStatus"]),
                );
                events.push(Event {
                    id: format!("{form_id}:{id}:{letter}:{modified}"),
                    kind: "approval.status_changed".into(),
                    time_ms: None,
                    payload: json!({
                        "instance_id": id, "template": form_id, "number": text(&row["FBillNo"]),
                        "status": status_word(status(&letter)), "document_status": letter, "modified": modified,
                    })
                    .to_string(),
                    subject: id,
                });
                seen.insert(form_id.to_string(), json!(modified));
            }
        }
        Ok(Batch {
            events,
            next_cursor: Some(Value::Object(seen).to_string()),
        })
    }
}
