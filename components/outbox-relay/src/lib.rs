//! `outbox-relay`: publishes `events` rows whose immediate publish failed, and repairs consumer
//! gaps. Two triggers run the same sweep ([`sweep::run`]):
//! - the cron trigger (`fermyon:spin-cron` world, `handle-cron-event`), every 5 s on Spin;
//! - `POST /internal/sweeps/outbox` with `Authorization: Bearer <sweep_token>`, for the
//!   SpinKube shim (no cron trigger: a Kubernetes CronJob calls it). Without a configured
//!   `sweep_token` the route answers 503, so an unconfigured deployment is never open; a
//!   missing or wrong token is 401 and sweeps nothing. The answer is a JSON summary.

mod sweep;

wit_bindgen::generate!({
    path: "../../wit/deps/spin-cron",
    world: "fermyon:spin-cron/spin-cron",
});

use serde_json::json;
use spin_sdk::http::{Method, Request, Response};

struct Cron;

impl Guest for Cron {
    fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
        match sweep::run() {
            Ok(summary) => {
                if summary.did_work() {
                    println!(
                        "outbox-relay: cron tick {}: {}",
                        metadata.timestamp,
                        summary.to_json()
                    );
                }
                Ok(())
            }
            Err(e) => Err(Error::Other(format!("outbox-relay: sweep failed: {e}"))),
        }
    }
}

export!(Cron);

#[spin_sdk::http_component]
fn handle_sweep(request: Request) -> Response {
    if *request.method() != Method::Post {
        let mut response = respond(405, json!({ "detail": "Method Not Allowed" }));
        response.set_header("allow", "POST");
        return response;
    }
    let authorization = request
        .header("authorization")
        .and_then(|value| value.as_str());
    if let Err(refused) = spin_support::http::authorize_sweep(authorization) {
        return refused.to_response("outbox-sweep");
    }
    match sweep::run() {
        Ok(summary) => respond(200, summary.to_json()),
        Err(e) => {
            eprintln!("outbox-relay: sweep failed: {e}");
            respond(503, json!({ "detail": "Service temporarily unavailable" }))
        }
    }
}

fn respond(status: u16, body: serde_json::Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}
