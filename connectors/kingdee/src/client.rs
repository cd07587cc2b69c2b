//! Calls to K3Cloud's WebAPI: `POST {server_url}/{Service}.common.kdsvc` with a JSON body, authenticated as
//! configured ([`crate::auth`]). Answers come with HTTP 200 even on failure; [`crate::errors`] reads them.

use qiao_sdk::http::Method;
use qiao_sdk::json_http;
use qiao_sdk::token;
use qiao_sdk::{Error, require_config};
use serde_json::Value;

use crate::auth;
use crate::errors::check;

const FORM_SERVICE: &str = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService";

pub fn service_url(service: &str) -> Result<String, Error> {
    let base = require_config("server_url")?;
    Ok(format!(
        "{}/{service}.common.kdsvc",
        base.trim_end_matches('/')
    ))
}

/// A `DynamicFormService` operation (`Save`, `View`, `ExecuteBillQuery`...).
pub fn form(operation: &str, body: &Value) -> Result<Value, Error> {
    let url = service_url(&format!("{FORM_SERVICE}.{operation}"))?;
    if auth::session_mode()? {
        // A lost session is `unauthorized`: log in again once and retry.
        return token::with_token(&auth::session_key()?, auth::login, |sid| {
            let cookie = format!("kdservice-sessionid={sid}");
            let headers = [("cookie", cookie.as_str()), ("kdservice-sessionid", sid)];
            check(&json_http::send(Method::Post, &url, &headers, Some(body))?)
        });
    }
    let headers = auth::signed_headers(&url)?;
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    check(&json_http::send(Method::Post, &url, &headers, Some(body))?)
}

/// `ExecuteBillQuery`: rows of values in `fields` order, as JSON objects keyed by field.
pub fn query(
    form_id: &str,
    fields: &[&str],
    filter: &str,
    order: &str,
    start: u64,
    limit: u64,
) -> Result<Vec<Value>, Error> {
    let body = serde_json::json!({ "data": {
        "FormId": form_id, "FieldKeys": fields.join(","), "FilterString": filter, "OrderString": order,
        "TopRowCount": 0, "StartRow": start, "Limit": limit,
    }});
    let rows = form("ExecuteBillQuery", &body)?;
    Ok(rows
        .as_array()
        .into_iter()
        .flatten()
        .map(|row| {
            let mut object = serde_json::Map::new();
            for (field, value) in fields.iter().zip(row.as_array().into_iter().flatten()) {
                object.insert(field.to_string(), value.clone());
            }
            Value::Object(object)
        })
        .collect())
}

/// A literal for a FilterString: quoted, quotes doubled (so a value cannot end the string early).
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A cell as text (numbers, strings; null as empty).
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
