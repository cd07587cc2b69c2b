//! The simulator against plain HTTP calls, and its webhooks against a small receiver that checks
//! `X-Hub-Signature` with an independent HMAC (the `hmac` crate), as a Jira app's server must.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};

use super::*;

struct Client {
    base: String,
    auth: String,
    http: reqwest::Client,
}

impl Client {
    fn new(sim: &JiraSim) -> Client {
        Client::with_auth(sim, &sim.basic_auth())
    }

    fn with_auth(sim: &JiraSim, auth: &str) -> Client {
        Client {
            base: format!("{}/rest/api/3", sim.base),
            auth: auth.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// (HTTP status, JSON body or `{"raw": text}`, headers).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, HeaderMap) {
        let mut request = self.http.request(method, format!("{}/{path}", self.base));
        if !self.auth.is_empty() {
            request = request.header("authorization", &self.auth);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(json!({ "raw": text }))
        };
        (status, body, headers)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let (status, body, _) = self.call(Method::GET, path, None).await;
        (status, body)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.call(Method::POST, path, Some(body)).await;
        (status, body)
    }

    async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self.call(Method::PUT, path, Some(body)).await;
        (status, body)
    }

    async fn create(&self, summary: &str, extra: Value) -> String {
        let mut fields = json!({
            "project": { "key": "OPS" },
            "issuetype": { "name": "Task" },
            "summary": summary,
        });
        for (k, v) in extra.as_object().into_iter().flatten() {
            fields[k] = v.clone();
        }
        let (status, body) = self.post("issue", json!({ "fields": fields })).await;
        assert_eq!(status, 201, "{body}");
        body["key"].as_str().unwrap().to_string()
    }

    async fn transitions(&self, key: &str) -> Vec<(String, String)> {
        let (status, body) = self.get(&format!("issue/{key}/transitions")).await;
        assert_eq!(status, 200, "{body}");
        body["transitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["to"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Moves the issue to `status` by the transition whose target has that name, as a connector should.
    async fn move_to(&self, key: &str, status: &str) {
        let id = self
            .transitions(key)
            .await
            .into_iter()
            .find(|(_, to)| to == status)
            .unwrap_or_else(|| panic!("no transition to {status}"))
            .0;
        let (code, body) = self
            .post(
                &format!("issue/{key}/transitions"),
                json!({ "transition": { "id": id } }),
            )
            .await;
        assert_eq!(code, 204, "{body}");
    }
}

fn issues_keys(body: &Value) -> Vec<String> {
    body["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A webhook receiver: records each request and answers the next queued status (200 when none is queued),
/// and 401 when the signature does not verify.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

fn verify(secret: &str, body: &str, header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.strip_prefix("sha256=")) else {
        return false;
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == hex
}

impl Receiver {
    async fn start(secret: &str) -> (Receiver, crate::sim_support::Served) {
        let receiver = Receiver::default();
        let r = receiver.clone();
        let secret = secret.to_string();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let r = r.clone();
            let secret = secret.clone();
            async move {
                let signed = verify(
                    &secret,
                    &body,
                    headers.get("x-hub-signature").and_then(|v| v.to_str().ok()),
                );
                r.got.lock().unwrap().push((headers, body));
                let status = if signed {
                    r.answers.lock().unwrap().pop_front().unwrap_or(200)
                } else {
                    401
                };
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        });
        let served = crate::sim_support::serve("127.0.0.1:0".parse().unwrap(), app)
            .await
            .unwrap();
        (receiver, served)
    }

    fn got(&self) -> Vec<(HeaderMap, String)> {
        self.got.lock().unwrap().clone()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[test]
fn signs_the_official_test_vector() {
    assert_eq!(
        signature("It's a Secret to Everybody", "Hello World!"),
        "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"
    );
}

#[tokio::test]
async fn authenticates_basic_and_bearer_and_checks_scopes() {
    let sim = JiraSim::start(Options {
        oauth_tokens: vec![OAuthToken {
            token: OAUTH_TOKEN.into(),
            account_id: BOT.into(),
            scopes: vec!["read:jira-work".into(), "read:jira-user".into()],
        }],
        ..Options::default()
    })
    .await
    .unwrap();
    let (status, body) = Client::with_auth(&sim, "").get("myself").await;
    assert_eq!(status, 401);
    assert_eq!(
        body["errorMessages"][0],
        "Client must be authenticated to access this resource."
    );
    let (status, _, headers) = Client::with_auth(&sim, &basic("qiao-bot@example.com", "wrong"))
        .call(Method::GET, "myself", None)
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&headers, "x-seraph-loginreason"),
        Some("AUTHENTICATED_FAILED")
    );
    let (status, me) = Client::new(&sim).get("myself").await;
    assert_eq!((status, me["accountId"].as_str()), (200, Some(BOT)));
    let (_, me) = Client::with_auth(&sim, &basic("alice@example.com", ALICE_API_TOKEN))
        .get("myself")
        .await;
    assert_eq!(me["accountId"], ALICE);
    let bearer = Client::with_auth(&sim, &format!("Bearer {OAUTH_TOKEN}"));
    let (status, me) = bearer.get("myself").await;
    assert_eq!(
        (status, me["displayName"].as_str()),
        (200, Some("Qiao Bot"))
    );
    // This token has no write scope.
    let (status, body) = bearer
        .post("issue", json!({ "fields": { "project": { "key": "OPS" }, "issuetype": { "name": "Task" }, "summary": "x" } }))
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Unauthorized; scope does not match");
    let (status, _) = Client::with_auth(&sim, "Bearer nope").get("myself").await;
    assert_eq!(status, 401);
    let calls = sim.calls();
    assert!(calls.iter().any(|c| c.auth == "bearer") && calls.iter().any(|c| c.auth == "basic"));
    assert!(calls.iter().all(|c| !c.query.contains(API_TOKEN)));
}

#[tokio::test]
async fn creates_issues_and_renders_them_as_jira_does() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let (status, body) = client
        .post(
            "issue",
            json!({ "fields": {
                "project": { "key": "OPS" },
                "issuetype": { "name": "Bug" },
                "summary": "Disk full on db-1",
                "description": adf("The /var partition is at 100%."),
                "assignee": { "accountId": ALICE },
                "labels": ["ops", "disk"],
                "duedate": "2026-12-31",
                "priority": { "name": "High" },
            }}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["key"], "OPS-1");
    let id = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["self"], format!("{}/rest/api/3/issue/{id}", sim.base));

    let (status, issue) = client.get("issue/OPS-1").await;
    assert_eq!(status, 200, "{issue}");
    let f = &issue["fields"];
    assert_eq!(issue["id"], id);
    assert_eq!(f["summary"], "Disk full on db-1");
    assert_eq!(f["description"], adf("The /var partition is at 100%."));
    assert_eq!(f["status"]["name"], "To Do");
    assert_eq!(f["status"]["statusCategory"]["key"], "new");
    assert_eq!(f["assignee"]["accountId"], ALICE);
    assert_eq!(f["reporter"]["accountId"], BOT);
    assert_eq!(f["labels"], json!(["ops", "disk"]));
    assert_eq!(f["duedate"], "2026-12-31");
    assert_eq!(f["priority"]["name"], "High");
    assert_eq!(f["issuetype"]["name"], "Bug");
    assert_eq!(f["project"]["key"], "OPS");
    assert_eq!(f["resolution"], Value::Null);
    // `2026-12-03T16:45:00.123+0800`: milliseconds and the user's offset, no colon.
    let created = f["created"].as_str().unwrap();
    assert_eq!(created.len(), 28, "{created}");
    assert!(
        created.ends_with("+0800") && created.as_bytes()[19] == b'.',
        "{created}"
    );
    // Keys are case-insensitive; numeric ids work too; `fields=` selects.
    let (status, only) = client
        .get("issue/ops-1?fields=summary,status")
        .await;
    assert_eq!(status, 200);
    assert_eq!(only["fields"].as_object().unwrap().len(), 2, "{only}");
    let (status, _) = client.get(&format!("issue/{id}")).await;
    assert_eq!(status, 200);
    let (status, body) = client.get("issue/OPS-999").await;
    assert_eq!(status, 404);
    assert_eq!(
        body["errorMessages"][0],
        "Issue does not exist or you do not have permission to see it."
    );
}

#[tokio::test]
async fn refuses_bad_fields_with_jira_errors() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let base =
        json!({ "project": { "key": "OPS" }, "issuetype": { "name": "Task" }, "summary": "x" });
    let with = |k: &str, v: Value| {
        let mut fields = base.clone();
        fields[k] = v;
        json!({ "fields": fields })
    };
    let (status, body) = client
        .post("issue", with("description", json!("plain text")))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"errorMessages":[],"errors":{"description":"Operation value must be an Atlassian Document"}})
    );
    let (status, body) = client
        .post("issue", json!({ "fields": { "summary": "" } }))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errors"]["project"],
        "Specify a valid project ID or key"
    );
    assert_eq!(body["errors"]["issuetype"], "Specify an issue type");
    assert_eq!(
        body["errors"]["summary"],
        "You must specify a summary of the issue."
    );
    let (_, body) = client
        .post("issue", with("project", json!({ "key": "NOPE" })))
        .await;
    assert_eq!(
        body["errors"]["project"],
        "Specify a valid project ID or key"
    );
    let (_, body) = client
        .post("issue", with("customfield_10010", json!(1)))
        .await;
    assert_eq!(
        body["errors"]["customfield_10010"],
        "Field 'customfield_10010' cannot be set. It is not on the appropriate screen, or unknown."
    );
    let (_, body) = client
        .post("issue", with("assignee", json!({ "accountId": CAROL })))
        .await;
    assert_eq!(
        body["errors"]["assignee"],
        "User 'Carol Wu' cannot be assigned issues."
    );
    let (_, body) = client
        .post("issue", with("duedate", json!("31/12/2026")))
        .await;
    assert_eq!(
        body["errors"]["duedate"],
        "Error parsing date string: 31/12/2026"
    );
    let (_, body) = client
        .post("issue", with("summary", json!("x".repeat(256))))
        .await;
    assert_eq!(
        body["errors"]["summary"],
        "Summary must be less than 255 characters."
    );
    let response = client
        .http
        .post(format!("{}/issue", client.base))
        .header("authorization", &client.auth)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errorMessages"][0],
        "Invalid request payload. Refer to the REST API documentation and try again."
    );
    assert!(sim.state().issues.is_empty(), "nothing was created");
}

#[tokio::test]
async fn edits_clears_assigns_and_comments() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let key = client
        .create(
            "Rotate keys",
            json!({ "description": adf("soon"), "labels": ["sec"], "duedate": "2026-12-10" }),
        )
        .await;
    let (status, _) = client
        .put(&format!("issue/{key}"), json!({ "fields": { "description": null, "duedate": null, "summary": "Rotate all keys" } }))
        .await;
    assert_eq!(status, 204);
    let issue = sim.issue(&key).unwrap();
    assert_eq!(
        (issue.description, issue.duedate, issue.summary.as_str()),
        (None, None, "Rotate all keys")
    );
    let (status, body) = client
        .put(
            &format!("issue/{key}"),
            json!({ "fields": { "summary": null } }),
        )
        .await;
    assert_eq!(
        (status, &body["errors"]["summary"]),
        (400, &json!("You must specify a summary of the issue."))
    );
    let (status, body) = client
        .put(
            &format!("issue/{key}?returnIssue=true"),
            json!({ "update": { "labels": [{ "add": "urgent" }, { "remove": "sec" }] } }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["fields"]["labels"], json!(["urgent"]));
    let (status, _) = client
        .put(
            &format!("issue/{key}/assignee"),
            json!({ "accountId": BOB }),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(sim.issue(&key).unwrap().assignee.as_deref(), Some(BOB));
    let (status, _) = client
        .put(
            &format!("issue/{key}/assignee"),
            json!({ "accountId": null }),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(sim.issue(&key).unwrap().assignee, None);

    let (status, body) = client
        .post(&format!("issue/{key}/comment"), json!({ "body": "plain" }))
        .await;
    assert_eq!(
        (status, &body["errors"]["comment"]),
        (400, &json!("Comment body is not valid!"))
    );
    let (status, comment) = client
        .post(
            &format!("issue/{key}/comment"),
            json!({ "body": adf("Done on db-1") }),
        )
        .await;
    assert_eq!(status, 201, "{comment}");
    assert_eq!(comment["author"]["accountId"], BOT);
    let (status, list) = client.get(&format!("issue/{key}/comment")).await;
    assert_eq!((status, list["total"].as_u64()), (200, Some(1)));
    assert_eq!(list["comments"][0]["body"], adf("Done on db-1"));

    let (status, _) = client
        .post(&format!("issue/{key}/watchers"), json!(ALICE))
        .await;
    assert_eq!(status, 204);
    let (_, watchers) = client.get(&format!("issue/{key}/watchers")).await;
    assert_eq!(watchers["watchCount"], 2);
    let (_, changelog) = client.get(&format!("issue/{key}/changelog")).await;
    let fields: Vec<&str> = changelog["values"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| {
            g["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["field"].as_str().unwrap())
        })
        .collect();
    assert!(
        fields.contains(&"summary") && fields.contains(&"assignee") && fields.contains(&"labels"),
        "{fields:?}"
    );

    let (status, _, _) = client
        .call(Method::DELETE, &format!("issue/{key}"), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(client.get(&format!("issue/{key}")).await.0, 404);
}

#[tokio::test]
async fn walks_the_workflow() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let key = client.create("Ship it", json!({})).await;
    assert_eq!(
        client.transitions(&key).await,
        vec![("11".to_string(), "In Progress".to_string())]
    );
    let (status, body) = client
        .post(
            &format!("issue/{key}/transitions"),
            json!({ "transition": { "id": "31" } }),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["errorMessages"][0],
        "Transition id '31' is not valid for this issue."
    );
    client.move_to(&key, "In Progress").await;
    client.move_to(&key, "测试中").await;
    let (_, issue) = client.get(&format!("issue/{key}")).await;
    assert_eq!(issue["fields"]["status"]["name"], "测试中");
    assert_eq!(
        issue["fields"]["status"]["statusCategory"]["key"],
        "indeterminate"
    );
    client.move_to(&key, "Done").await;
    let (_, issue) = client.get(&format!("issue/{key}")).await;
    assert_eq!(issue["fields"]["status"]["statusCategory"]["key"], "done");
    assert_eq!(issue["fields"]["resolution"]["name"], "Done");
    assert!(issue["fields"]["resolutiondate"].is_string());
    assert_eq!(
        client.transitions(&key).await,
        vec![("41".to_string(), "To Do".to_string())]
    );
    client.move_to(&key, "To Do").await;
    let (_, issue) = client.get(&format!("issue/{key}?expand=changelog")).await;
    assert_eq!(issue["fields"]["resolution"], Value::Null);
    let histories = issue["changelog"]["histories"].as_array().unwrap();
    assert_eq!(histories.len(), 4);
    assert_eq!(histories[2]["items"][0]["toString"], "Done");
    assert_eq!(histories[2]["items"][1]["field"], "resolution");
}

#[tokio::test]
async fn searches_with_jql_and_pages_by_token() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    for n in 1..=7 {
        let assignee = if n % 2 == 0 { ALICE } else { BOB };
        client
            .create(&format!("Task {n}"), json!({ "assignee": { "accountId": assignee }, "description": adf(&format!("needle {n}")) }))
            .await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    client.move_to("OPS-2", "In Progress").await;
    client.move_to("OPS-2", "测试中").await;
    client.move_to("OPS-2", "Done").await;

    // Paging: 3 + 3 + 1, each page with a token for the next, the last one without.
    let mut keys = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({ "jql": "project = OPS ORDER BY created ASC", "maxResults": 3, "fields": ["summary", "status"] });
        if let Some(t) = &token {
            body["nextPageToken"] = json!(t);
        }
        let (status, page) = client.post("search/jql", body).await;
        assert_eq!(status, 200, "{page}");
        assert!(page.get("total").is_none());
        keys.extend(issues_keys(&page));
        pages += 1;
        if page["isLast"] == true {
            assert!(page.get("nextPageToken").is_none());
            break;
        }
        token = Some(page["nextPageToken"].as_str().unwrap().to_string());
    }
    assert_eq!(pages, 3);
    assert_eq!(
        keys,
        (1..=7).map(|n| format!("OPS-{n}")).collect::<Vec<_>>()
    );
    // A token is tied to its query.
    let (status, _) = client
        .post(
            "search/jql",
            json!({ "jql": "project = DEV", "nextPageToken": token.unwrap() }),
        )
        .await;
    assert_eq!(status, 400);

    // Without fields only ids come back.
    let (_, page) = client
        .get("search/jql?jql=project%20%3D%20OPS&maxResults=2")
        .await;
    assert_eq!(
        page["issues"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["id"]
    );

    async fn keys_of(client: &Client, jql: &str) -> Vec<String> {
        let body = json!({ "jql": jql, "fields": ["key"], "maxResults": 100 });
        let (status, page) = client.post("search/jql", body).await;
        assert_eq!(status, 200, "{jql}: {page}");
        let mut keys = issues_keys(&page);
        keys.sort();
        keys
    }
    assert_eq!(
        keys_of(
            &client,
            &format!("project = OPS AND assignee = \"{ALICE}\" AND statusCategory != Done")
        )
        .await,
        vec!["OPS-4", "OPS-6"]
    );
    assert_eq!(
        keys_of(&client, "statusCategory = \"Done\"").await,
        vec!["OPS-2"]
    );
    assert_eq!(
        keys_of(&client, "status = \"Done\" OR status = 'In Progress'").await,
        vec!["OPS-2"]
    );
    assert_eq!(
        keys_of(&client, "project = OPS AND text ~ \"needle 7\"").await,
        vec!["OPS-7"]
    );
    assert_eq!(
        keys_of(&client, "assignee = currentUser()").await,
        Vec::<String>::new()
    );
    assert_eq!(
        keys_of(&client, "key in (OPS-1, OPS-3)").await,
        vec!["OPS-1", "OPS-3"]
    );

    // Times: epoch ms, and "yyyy/MM/dd HH:mm" read in the user's zone (UTC+8).
    let updated = sim.issue("OPS-2").unwrap().updated;
    assert_eq!(
        keys_of(&client, &format!("project = OPS AND updated >= {updated}")).await,
        vec!["OPS-2"]
    );
    let minute_before = format_time(updated as i64 - 60_000, 480);
    let jql_time = format!(
        "{}/{}/{} {}",
        &minute_before[..4],
        &minute_before[5..7],
        &minute_before[8..10],
        &minute_before[11..16]
    );
    assert!(
        keys_of(
            &client,
            &format!("project = OPS AND updated > \"{jql_time}\"")
        )
        .await
        .contains(&"OPS-2".to_string())
    );
    let minute_after = format_time(updated as i64 + 120_000, 480);
    let later = format!(
        "{}/{}/{} {}",
        &minute_after[..4],
        &minute_after[5..7],
        &minute_after[8..10],
        &minute_after[11..16]
    );
    assert!(
        keys_of(&client, &format!("project = OPS AND updated > \"{later}\""))
            .await
            .is_empty()
    );

    // ORDER BY updated DESC puts the last changed first.
    let (_, page) = client
        .post("search/jql", json!({ "jql": "project = OPS ORDER BY updated DESC", "fields": ["updated"], "maxResults": 2 }))
        .await;
    assert_eq!(issues_keys(&page)[0], "OPS-2");

    // Errors: unbounded, unknown field, bad value, syntax, and the removed API.
    for (jql, message) in [
        (
            "ORDER BY updated DESC",
            "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
        ),
        (
            "sprint = 5",
            "Field 'sprint' does not exist or you do not have permission to view it.",
        ),
        (
            "project = NOPE",
            "The value 'NOPE' does not exist for the field 'project'.",
        ),
        (
            "project ~ OPS",
            "The operator '~' is not supported by the 'project' field.",
        ),
    ] {
        let (status, body) = client.post("search/jql", json!({ "jql": jql })).await;
        assert_eq!(status, 400, "{jql}");
        assert_eq!(body["errorMessages"][0], message, "{jql}");
    }
    let (status, body) = client
        .post("search/jql", json!({ "jql": "project = OPS assignee" }))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .starts_with("Error in the JQL Query")
    );
    let (status, body) = client.get("search?jql=project%3DOPS").await;
    assert_eq!(status, 410);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .contains("/rest/api/3/search/jql")
    );
    let (status, count) = client
        .post(
            "search/approximate-count",
            json!({ "jql": "project = OPS" }),
        )
        .await;
    assert_eq!((status, count["count"].as_u64()), (200, Some(7)));
}

#[tokio::test]
async fn looks_users_up() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let (status, user) = client.get(&format!("user?accountId={ALICE}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            user["displayName"].as_str(),
            user["emailAddress"].as_str(),
            user["active"].as_bool()
        ),
        (Some("Alice Li"), Some("alice@example.com"), Some(true))
    );
    let (status, body) = client.get("user?accountId=nobody").await;
    assert_eq!(status, 404);
    assert!(
        body["errorMessages"][0]
            .as_str()
            .unwrap()
            .starts_with("Specified user does not exist")
    );
    let (_, found) = client.get("user/search?query=alice%40example.com").await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["accountId"], ALICE);
    // Dave hides his email: not found by it, found by name, and no emailAddress.
    let (_, found) = client.get("user/search?query=dave%40example.com").await;
    assert_eq!(found, json!([]));
    let (_, found) = client.get("user/search?query=dave").await;
    assert_eq!(found[0]["accountId"], DAVE);
    assert!(found[0].get("emailAddress").is_none());
    let (_, found) = client.get("user/search?query=carol").await;
    assert_eq!(found[0]["active"], false);
}

#[tokio::test]
async fn delivers_signed_webhooks_for_every_change() {
    let (receiver, _served) = Receiver::start("sim-jira-webhook-secret").await;
    let sim = JiraSim::start(Options::default()).await.unwrap();
    sim.set_callback_url(&format!("http://{}/hooks/jira", _served.addr));
    let client = Client::new(&sim);
    let key = client.create("Webhook me", json!({})).await;
    client.move_to(&key, "In Progress").await;
    client
        .post(
            &format!("issue/{key}/comment"),
            json!({ "body": adf("looking") }),
        )
        .await;
    sim.transition_as(&key, "测试中", ALICE).unwrap();
    client
        .call(Method::DELETE, &format!("issue/{key}"), None)
        .await;
    // created, updated (status), comment_created + updated (issue_commented), updated (status), deleted.
    let deliveries = sim
        .wait_for_deliveries(6, Duration::from_secs(10))
        .await
        .unwrap();
    let events: Vec<&str> = deliveries.iter().map(|d| d.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "jira:issue_created",
            "jira:issue_updated",
            "comment_created",
            "jira:issue_updated",
            "jira:issue_updated",
            "jira:issue_deleted"
        ]
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d.outcome == Outcome::Delivered && d.attempts.len() == 1)
    );

    let got = receiver.got();
    assert_eq!(got.len(), 6);
    let mut identifiers = std::collections::BTreeSet::new();
    for (headers, body) in &got {
        assert!(
            verify(
                "sim-jira-webhook-secret",
                body,
                header(headers, "x-hub-signature")
            ),
            "{body}"
        );
        assert!(header(headers, "x-atlassian-webhook-retry").is_none());
        identifiers.insert(
            header(headers, "x-atlassian-webhook-identifier")
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(identifiers.len(), 6, "one identifier per delivery");

    let payload: Value = serde_json::from_str(&got[1].1).unwrap();
    assert_eq!(payload["webhookEvent"], "jira:issue_updated");
    assert_eq!(payload["issue"]["key"], key);
    assert_eq!(payload["user"]["accountId"], BOT);
    assert!(payload["timestamp"].is_u64());
    let item = &payload["changelog"]["items"][0];
    assert_eq!(
        (
            item["field"].as_str(),
            item["fromString"].as_str(),
            item["toString"].as_str()
        ),
        (Some("status"), Some("To Do"), Some("In Progress"))
    );
    assert_eq!(
        (item["from"].as_str(), item["to"].as_str()),
        (Some("10000"), Some("3"))
    );
    let comment: Value = serde_json::from_str(&got[2].1).unwrap();
    assert_eq!(comment["comment"]["body"], adf("looking"));
    assert_eq!(comment["issue"]["key"], key);
    let commented: Value = serde_json::from_str(&got[3].1).unwrap();
    assert_eq!(commented["issue_event_type_name"], "issue_commented");
    let by_alice: Value = serde_json::from_str(&got[4].1).unwrap();
    assert_eq!(by_alice["user"]["accountId"], ALICE);
    assert_eq!(by_alice["changelog"]["items"][0]["toString"], "测试中");
    let deleted: Value = serde_json::from_str(&got[5].1).unwrap();
    assert_eq!(deleted["issue"]["key"], key);
}

#[tokio::test]
async fn retries_failed_deliveries_and_sends_duplicates_and_forgeries() {
    let (receiver, served) = Receiver::start("sim-jira-webhook-secret").await;
    let sim = JiraSim::start(Options {
        callback_url: Some(format!("http://{}/hook", served.addr)),
        webhook_backoff: Duration::from_millis(10),
        ..Options::default()
    })
    .await
    .unwrap();
    receiver.answers.lock().unwrap().extend([503, 429]);
    let key = sim.create_as(ALICE, json!({ "project": { "key": "OPS" }, "issuetype": { "name": "Task" }, "summary": "retry" })).unwrap();
    let deliveries = sim
        .wait_for_deliveries(1, Duration::from_secs(10))
        .await
        .unwrap();
    let d = &deliveries[0];
    assert_eq!(d.outcome, Outcome::Delivered);
    assert_eq!(
        d.attempts.iter().map(|a| a.status).collect::<Vec<_>>(),
        vec![Some(503), Some(429), Some(200)]
    );
    let got = receiver.got();
    let ids: Vec<&str> = got
        .iter()
        .map(|(h, _)| header(h, "x-atlassian-webhook-identifier").unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == d.identifier));
    let retries: Vec<Option<&str>> = got
        .iter()
        .map(|(h, _)| header(h, "x-atlassian-webhook-retry"))
        .collect();
    assert_eq!(retries, vec![None, Some("1"), Some("2")]);

    // A 400 is final: no retry.
    receiver.answers.lock().unwrap().push_back(400);
    sim.comment_as(&key, "x", BOB).unwrap();
    let deliveries = sim
        .wait_for_deliveries(3, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(deliveries[1].outcome, Outcome::Failed);
    assert_eq!(deliveries[1].attempts.len(), 1);

    // Out of retries against a receiver that is gone.
    let sim2 = JiraSim::start(Options {
        callback_url: Some("http://127.0.0.1:9/nowhere".into()),
        webhook_backoff: Duration::from_millis(1),
        webhook_retries: 2,
        ..Options::default()
    })
    .await
    .unwrap();
    sim2.create_as(
        BOT,
        json!({ "project": { "key": "OPS" }, "issuetype": { "name": "Task" }, "summary": "lost" }),
    )
    .unwrap();
    let lost = sim2
        .wait_for_deliveries(1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        (lost[0].outcome, lost[0].attempts.len()),
        (Outcome::Failed, 3)
    );
    assert!(lost[0].attempts[0].error.is_some());

    // A duplicate is byte-identical, and verifies; a forgery does not.
    let before = receiver.got().len();
    assert_eq!(sim.redeliver(&d.identifier).await.unwrap(), 200);
    let (headers, body) = receiver.got()[before].clone();
    assert_eq!(body, d.body);
    assert_eq!(
        header(&headers, "x-atlassian-webhook-identifier"),
        Some(d.identifier.as_str())
    );
    assert_eq!(header(&headers, "x-hub-signature"), d.signature());
    assert_eq!(sim.signature(&body), d.signature().unwrap());
    let forged = json!({ "webhookEvent": "jira:issue_deleted", "issue": { "key": key } });
    assert_eq!(
        sim.send_forged(&forged, Some("not-the-secret"))
            .await
            .unwrap(),
        401
    );
    assert_eq!(sim.send_forged(&forged, None).await.unwrap(), 401);
    let kinds: Vec<DeliveryKind> = sim.deliveries().iter().map(|d| d.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == DeliveryKind::Forged).count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == DeliveryKind::Duplicate)
            .count(),
        1
    );
}

#[tokio::test]
async fn sends_plain_text_descriptions_when_asked() {
    let (receiver, served) = Receiver::start("sim-jira-webhook-secret").await;
    let sim = JiraSim::start(Options {
        callback_url: Some(format!("http://{}/hook", served.addr)),
        webhook_plain_text: true,
        ..Options::default()
    })
    .await
    .unwrap();
    sim.create_as(BOT, json!({ "project": { "key": "OPS" }, "issuetype": { "name": "Task" }, "summary": "s", "description": adf("hello") }))
        .unwrap();
    sim.wait_for_deliveries(1, Duration::from_secs(10))
        .await
        .unwrap();
    let payload: Value = serde_json::from_str(&receiver.got()[0].1).unwrap();
    assert_eq!(payload["issue"]["fields"]["description"], "hello");
}

#[tokio::test]
async fn limits_writes_per_issue_and_bursts() {
    let sim = JiraSim::start(Options {
        per_issue_writes: vec![(3, Duration::from_secs(2))],
        burst: Burst {
            get: 5,
            post: 100,
            put: 50,
            delete: 50,
        },
        ..Options::default()
    })
    .await
    .unwrap();
    let client = Client::new(&sim);
    let key = client.create("hot issue", json!({})).await;
    for n in 0..3 {
        let (status, _) = client
            .put(
                &format!("issue/{key}"),
                json!({ "fields": { "summary": format!("v{n}") } }),
            )
            .await;
        assert_eq!(status, 204);
    }
    assert_eq!(sim.issue_writes(&key), 3);
    let (status, body, headers) = client
        .call(
            Method::PUT,
            &format!("issue/{key}"),
            Some(json!({ "fields": { "summary": "v4" } })),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        header(&headers, "ratelimit-reason"),
        Some("jira-per-issue-on-write")
    );
    let retry: u64 = header(&headers, "retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    assert_eq!(header(&headers, "x-ratelimit-remaining"), Some("0"));
    assert!(
        header(&headers, "x-ratelimit-reset")
            .unwrap()
            .ends_with('Z')
    );
    // Another issue is not affected.
    let other = client.create("cold issue", json!({})).await;
    assert_eq!(
        client
            .put(
                &format!("issue/{other}"),
                json!({ "fields": { "summary": "ok" } })
            )
            .await
            .0,
        204
    );

    // Burst: 5 GETs per second on one endpoint template, whatever the issue.
    let mut statuses = Vec::new();
    for k in [&key, &other, &key, &other, &key, &other] {
        let (status, _, headers) = client.call(Method::GET, &format!("issue/{k}"), None).await;
        if status == 429 {
            assert_eq!(
                header(&headers, "ratelimit-reason"),
                Some("jira-burst-based")
            );
        }
        statuses.push(status);
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        1,
        "{statuses:?}"
    );
    let reasons: Vec<String> = sim
        .rate_limit_hits()
        .into_iter()
        .map(|h| h.reason)
        .collect();
    assert_eq!(reasons, vec!["jira-per-issue-on-write", "jira-burst-based"]);
}

#[tokio::test]
async fn charges_oauth_points_but_not_api_tokens() {
    let sim = JiraSim::start(Options {
        quota: Some(Quota {
            points: 6,
            window: Duration::from_secs(3600),
            reason: "jira-quota-global-based".into(),
        }),
        ..Options::default()
    })
    .await
    .unwrap();
    let basic = Client::new(&sim);
    let key = basic.create("quota", json!({})).await;
    for _ in 0..5 {
        assert_eq!(basic.get(&format!("issue/{key}")).await.0, 200);
    }
    assert_eq!(sim.points_used(), 0, "API tokens are not charged");
    let bearer = Client::with_auth(&sim, &format!("Bearer {OAUTH_TOKEN}"));
    // GET issue costs 2 (1 + 1 issue); after three, the quota of 6 is used up.
    for n in 0..3 {
        let (status, _, headers) = bearer
            .call(Method::GET, &format!("issue/{key}"), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            header(&headers, "x-ratelimit-remaining"),
            Some((4 - 2 * n).to_string().as_str())
        );
    }
    assert_eq!(sim.points_used(), 6);
    let (status, _, headers) = bearer.call(Method::GET, "myself", None).await;
    assert_eq!(status, 429);
    assert_eq!(
        header(&headers, "ratelimit-reason"),
        Some("jira-quota-global-based")
    );
    assert!(
        header(&headers, "beta-ratelimit-policy")
            .unwrap()
            .contains("q=6")
    );
    assert_eq!(
        basic.get("myself").await.0,
        200,
        "API-token traffic still passes"
    );
}

#[tokio::test]
async fn injects_faults() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    sim.inject("/myself", Fault::Unavailable(Some(7)), 1);
    sim.inject("/myself", Fault::Status(502), 1);
    sim.inject("/myself", Fault::RateLimit("jira-burst-based".into()), 1);
    let (status, body, headers) = client.call(Method::GET, "myself", None).await;
    assert_eq!((status, header(&headers, "retry-after")), (503, Some("7")));
    assert!(body["errorMessages"].is_array());
    let (status, body, _) = client.call(Method::GET, "myself", None).await;
    assert_eq!(status, 502);
    assert!(body["raw"].as_str().unwrap().contains("<html>"));
    let (status, _, headers) = client.call(Method::GET, "myself", None).await;
    assert_eq!(
        (status, header(&headers, "ratelimit-reason")),
        (429, Some("jira-burst-based"))
    );
    assert_eq!(client.get("myself").await.0, 200);
    assert!(
        sim.rate_limit_hits().is_empty(),
        "faults are not counted as limit hits"
    );

    // A late answer: the create happens though the caller gave up.
    sim.inject(
        "/rest/api/3/issue",
        Fault::LateAnswer(Duration::from_millis(500)),
        1,
    );
    let quick = reqwest::Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let result = quick
        .post(format!("{}/rest/api/3/issue", sim.base))
        .header("authorization", sim.basic_auth())
        .json(&json!({ "fields": { "project": { "key": "OPS" }, "issuetype": { "name": "Task" }, "summary": "late" } }))
        .send()
        .await;
    assert!(result.is_err());
    assert_eq!(sim.state().issues.len(), 1);
    assert_eq!(sim.count("/rest/api/3/myself"), 4);
}
