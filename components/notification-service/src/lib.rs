//! `notification-service`: fires due reminders exactly once. Each sweep turns due reminders
//! into notifications and `reminder-due` events (see [`sweep`]).
//!
//! One .wasm, two entry points (spin.toml may run it under two component ids, one per
//! trigger, since the SpinKube shim refuses components with a cron trigger):
//! - the cron trigger (`fermyon:spin-cron@2.0.0`, world `spin-cron`, bound here with
//!   `wit-bindgen` from `wit/deps/spin-cron`): `handle-cron-event` runs a sweep;
//! - the HTTP route `POST /internal/sweeps/reminders`, for deployments without a cron trigger
//!   (the SpinKube shim; a Kubernetes CronJob calls it). It requires
//!   `Authorization: Bearer <sweep_token>`: `401` without it or with a wrong one (nothing is
//!   done), `503` when `sweep_token` is not configured, so an unconfigured deployment is never
//!   open. It answers the sweep's summary as JSON.

mod reminder;
mod sweep;

use serde_json::json;
use spin_sdk::http::{IncomingRequest, Method, Response};
use spin_support::http::{header, json_response, ApiError};

mod cron {
    wit_bindgen::generate!({
        path: "../../wit/deps/spin-cron",
        world: "fermyon:spin-cron/spin-cron",
    });

    struct Cron;

    impl Guest for Cron {
        fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
            let correlation_id = format!("reminder-sweep-cron-{}", metadata.timestamp);
            match crate::sweep::run(&crate::sweep::SweepConfig::default(), &correlation_id) {
                Ok(summary) => {
                    crate::log_summary(&correlation_id, &summary);
                    Ok(())
                }
                Err(e) => {
                    eprintln!("{correlation_id}: sweep failed: {e}");
                    Err(Error::Other(e.to_string()))
                }
            }
        }
    }

    export!(Cron);
}

fn log_summary(correlation_id: &str, summary: &reminder::Summary) {
    if summary.did_anything() || summary.more_due {
        println!("{correlation_id}: {}", summary.to_json());
    }
}

/// The sweep route. The body is never read.
#[spin_sdk::http_component]
fn handle(incoming: IncomingRequest) -> Response {
    let request_id = spin_support::http::request_id(header(&incoming, "x-request-id").as_deref());
    let mut response =
        route(&incoming, &request_id).unwrap_or_else(|error| error.to_response(&request_id));
    response.set_header("x-request-id", request_id);
    response.set_header("cache-control", "no-store");
    response
}

fn route(incoming: &IncomingRequest, request_id: &str) -> Result<Response, ApiError> {
    spin_support::http::authorize_sweep(header(incoming, "authorization").as_deref())?;
    if incoming.method() != Method::Post {
        let mut response = json_response(405, &json!({ "detail": "Method Not Allowed" }));
        response.set_header("allow", "POST");
        return Ok(response);
    }
    let correlation_id = format!("reminder-sweep-http-{request_id}");
    let summary = sweep::run(&sweep::SweepConfig::default(), &correlation_id)?;
    log_summary(&correlation_id, &summary);
    Ok(json_response(200, &summary.to_json()))
}
