//! `notification-service`: fires due reminders exactly once. Each sweep turns due reminders
//! into notifications and `reminder-due` events (see [`sweep`]).
//!
//! One .wasm, two entry points (spin.toml may run it under two component ids, one per
//! trigger, since the SpinKube shim refuses components with a cron trigger):
//! - the cron trigger (`fermyon:spin-cron@2.0.0`, world `spin-cron`, bound here with
//!   `wit-bindgen` from `wit/deps/spin-cron`): `handle-cron-event` runs a sweep;
//! - the HTTP route `POST /internal/sweeps/reminders`, for deployments without a cron trigger
//!   (the SpinKube shim; a Kubernetes CronJob calls it), served by the sweeps' shared entry
//!   point ([`spin_support::sweep::http`]: `405` for another method, then `Authorization:
//!   Bearer <sweep_token>`, `503` while it is not configured). It answers the sweep's summary.
//!
//! Either way the sweep writes one log line with its counts.

mod reminder;
mod sweep;

use spin_sdk::http::{IncomingRequest, Response};

/// The component id in log lines (the same code runs as `notification-sweep` on the route).
const COMPONENT: &str = "notification-service";
/// The sweep route (spin.toml).
const ROUTE: &str = "/internal/sweeps/reminders";

mod cron {
    wit_bindgen::generate!({
        path: "../../wit/deps/spin-cron",
        world: "fermyon:spin-cron/spin-cron",
    });

    struct Cron;

    impl Guest for Cron {
        fn handle_cron_event(metadata: Metadata) -> Result<(), Error> {
            let correlation_id = format!("reminder-sweep-cron-{}", metadata.timestamp);
            spin_support::sweep::cron(crate::COMPONENT, || {
                crate::sweep::run(&crate::sweep::SweepConfig::default(), &correlation_id)
                    .map(|summary| summary.to_json())
                    .map_err(|e| e.to_string())
            })
            .map_err(Error::Other)
        }
    }

    export!(Cron);
}

/// The sweep route. The body is never read.
#[spin_sdk::http_component]
fn handle(incoming: IncomingRequest) -> Response {
    spin_support::sweep::http(COMPONENT, ROUTE, incoming, |context| {
        let correlation_id = format!("reminder-sweep-http-{}", context.request_id);
        let summary = sweep::run(&sweep::SweepConfig::default(), &correlation_id)?;
        Ok(summary.to_json())
    })
}
