//! `todo-host` as a library: Spin's rules for an application, implemented once.
//!
//! The binary (`todo-host up`) runs an application with these rules; other callers ask the
//! same code instead of re-implementing it: the end-to-end tests through this API, scripts
//! through `todo-host inspect` (the same answers as JSON).
//!
//! - [`inspect::describe`]: load and validate `spin.toml` (and a runtime config) without
//!   variable values, as an [`inspect::AppInfo`]: every component with its triggers (HTTP
//!   routes, Redis channels, cron expressions), the application variables its configuration
//!   uses, its `allowed_outbound_hosts` and key-value labels; [`inspect::AppInfo::route`]
//!   matches a path against the HTTP routes (`:name` segments and `/...` included).
//! - [`app::load`]: the same application with its variables resolved exactly as `up` resolves
//!   them (`SPIN_VARIABLE_*`, `.env`, defaults); [`app::ComponentConfig::may_connect`] says
//!   whether a component may reach an address (`postgres://host:port/db`, `redis://...`,
//!   `https://...`), as the host interfaces decide at run time.
//!
//! Everything else in this crate is the runtime the binary uses (wasmtime, triggers, host
//! interfaces); it is public for the binary only and not an API.

pub mod app;
pub mod inspect;
pub mod manifest;
pub mod outbound_hosts;
pub mod routing;
pub mod runtime_config;
pub mod variables;

#[doc(hidden)]
pub mod bindings;
#[doc(hidden)]
pub mod call_log;
#[doc(hidden)]
pub mod cron_trigger;
#[doc(hidden)]
pub mod host_variables;
#[doc(hidden)]
pub mod http_trigger;
#[doc(hidden)]
pub mod key_value;
#[doc(hidden)]
pub mod outbound_http;
#[doc(hidden)]
pub mod pg;
#[doc(hidden)]
pub mod pg_types;
#[doc(hidden)]
pub mod redis_outbound;
#[doc(hidden)]
pub mod redis_trigger;
#[doc(hidden)]
pub mod runtime;
#[doc(hidden)]
pub mod stdio;
