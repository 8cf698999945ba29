//! End-to-end tests of `backend-api`: the real component on the local host, real PostgreSQL,
//! real Redis. One test binary with a module per area keeps link time low.

mod auth;
mod delete_event;
mod events;
mod http_conventions;
mod list_plans;
mod listing;
mod notifications_audit;
mod one_row_reads;
mod openapi;
mod schemathesis_findings;
mod sql_json;
mod stats_counters;
mod task_statements;
mod tasks;
mod title_order;
