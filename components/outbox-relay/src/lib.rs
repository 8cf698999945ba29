//! `outbox-relay`: publishes `events` rows whose immediate publish failed, and repairs consumer
//! gaps. Two triggers run the same sweep ([`sweep::run`]):
//! - the cron trigger (`fermyon:spin-cron` world, `handle-cron-event`), every 5 s on Spin;
//! - `POST /internal/sweeps/outbox` with `Authorization: Bearer <sweep_token>`, for the
//!   SpinKube shim (no cron trigger: a Kubernetes CronJob calls it), served by the sweeps'
//!   shared entry point ([`spin_support::sweep::http`]: `405` for another method, `503` while
//!   `sweep_token` is not configured, `401` for a missing or wrong token, which sweeps
//!   nothing). The answer is a JSON summary.
//!
//! Either way the sweep writes one log line with its counts. Its timing comes from Spin
//! variables ([`sweep::Timing`]).

mod sweep;

wit_bindgen::generate!({
    path: "../../wit/deps/spin-cron",
    world: "fermyon:spin-cron/spin-cron",
});

use spin_sdk::http::{IncomingRequest, Response};
use spin_support::http::ApiError;

/// The component id in log lines (the same code runs as `outbox-sweep` on the route).
const COMPONENT: &str = "outbox-relay";
/// The sweep route (spin.toml).
const ROUTE: &str = "/internal/sweeps/outbox";

struct Cron;

impl Guest for Cron {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), Error> {
        spin_support::sweep::cron(COMPONENT, || {
            sweep::run()
                .map(|summary| summary.to_json())
                .map_err(|e| format!("{e:#}"))
        })
        .map_err(Error::Other)
    }
}

export!(Cron);

#[spin_sdk::http_component]
fn handle_sweep(incoming: IncomingRequest) -> Response {
    spin_support::sweep::http(COMPONENT, ROUTE, incoming, |_| {
        sweep::run()
            .map(|summary| summary.to_json())
            .map_err(|e| ApiError::Unavailable(format!("{e:#}")))
    })
}
