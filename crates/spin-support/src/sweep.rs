//! The entry points of the periodic sweeps (`notification-service`, `outbox-relay`), shared so
//! that both behave the same:
//!
//! - [`http`]: `POST <route>` for deployments without a cron trigger (the SpinKube shim: a
//!   Kubernetes CronJob calls it). In this order: another method is `405` with `Allow: POST`;
//!   then `Authorization: Bearer <sweep_token>` is required (`401` without it or with a wrong
//!   one, `503` while `sweep_token` is not configured, so an unconfigured deployment is never
//!   open); then the sweep runs and its summary is the `200` JSON body. Every answer carries
//!   `X-Request-Id` and `Cache-Control: no-store`; errors are the API's (a 5xx body carries
//!   the request id, its cause goes to the log line). The body is never read.
//! - [`cron`]: one tick of the cron trigger, logged as one `sweep` line.

use serde_json::Value;
use spin_sdk::http::{IncomingRequest, Response};

use crate::http::{authorize_sweep, json_response, ApiError};
use crate::log::{Started, SweepLine};
use crate::request::Context;

/// Serves one sweep request. `run` gets the request's context (its request id makes the
/// correlation id of the events the sweep writes) and returns the sweep's summary.
pub fn http(
    component: &'static str,
    route: &'static str,
    incoming: IncomingRequest,
    run: impl FnOnce(&Context) -> Result<Value, ApiError>,
) -> Response {
    let context = Context::new(component, &incoming);
    context.set_route(route);
    let outcome = sweep_request(&context, run);
    let mut response = context.finish(outcome, None);
    response.set_header("cache-control", "no-store");
    response
}

fn sweep_request(
    context: &Context,
    run: impl FnOnce(&Context) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    if context.method != "POST" {
        return Err(ApiError::method_not_allowed("POST"));
    }
    authorize_sweep(context.authorization())?;
    let summary = run(context)?;
    context.log_field("counts", summary.clone());
    Ok(json_response(200, &summary))
}

/// Runs one cron tick's sweep and writes its line; the error text is what the trigger reports.
pub fn cron(
    component: &'static str,
    run: impl FnOnce() -> Result<Value, String>,
) -> Result<(), String> {
    let started = Started::now();
    let result = run();
    let (counts, cause) = match &result {
        Ok(counts) => (Some(counts.clone()), None),
        Err(cause) => (None, Some(cause.as_str())),
    };
    SweepLine {
        component,
        trigger: "cron",
        counts,
        cause,
    }
    .write(&started);
    result.map(|_| ())
}
