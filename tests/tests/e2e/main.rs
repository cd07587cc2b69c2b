//! Every end-to-end test, in one binary: each file here was its own test binary, and each of those linked
//! wasmtime, the server and the simulators again (about 40 links of a few hundred MB on a clean `make test`).
//! One binary links once and lets the test harness run the files' tests side by side.

mod access;
mod api;
mod approval_deadlines;
mod approvals_view;
mod contract_v0_2;
mod crash;
mod dingtalk;
mod dingtalk_stream;
mod dingtalk_tasks;
mod directory;
mod directory_sync_v0_2;
mod feishu;
mod feishu_stream;
mod feishu_tasks;
mod fuzz;
mod hot_reload;
mod identity;
mod kingdee;
mod kit;
mod languages;
mod outbox;
mod sandbox;
mod secrets;
mod streams;
mod subscribers;
mod trust;
mod wecom;
mod wecom_chats;
mod jira;
mod people_in_chats;
mod ecology;
mod rules;
mod rules_scenarios;
mod rules_crash;
mod rules_ecology;
mod rules_cli;
mod inbound_limits;
mod retention;
mod fairness;
mod readiness;
mod metrics;
mod openapi;
mod console;
