//! Opt-in accounting of what a component instance asks of the host: per HTTP request, Redis
//! message or cron tick, the calls it makes to each host interface and the values and bytes
//! that cross the component boundary. `TODO_HOST_CALL_LOG=<file>` turns it on and appends one
//! JSON line per instance to that file (see `crates/host/README.md` for the format). When it is
//! off, an instance carries no counters at all and every host call skips the accounting with
//! one branch.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context as _;
use serde::Serialize;

/// The environment variable naming the file to append records to.
pub const CALL_LOG_ENV: &str = "TODO_HOST_CALL_LOG";

/// Interface names, as they appear in the records.
pub const VARIABLES: &str = "variables";
pub const KEY_VALUE: &str = "key_value";
pub const PG: &str = "pg";
pub const REDIS: &str = "redis";
pub const OUTBOUND_HTTP: &str = "outbound_http";

/// What crossed the boundary through one interface during one instance's life.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct InterfaceCalls {
    /// Calls per method (`open`, `query`, `get`, ...).
    pub calls: BTreeMap<&'static str, u64>,
    /// Values the guest passed in: parameters, arguments, keys, stored values.
    pub values_in: u64,
    /// Values the host returned: rows x columns for a `query`, items of a list, one for a scalar.
    pub values_out: u64,
    /// Bytes of the text and binary values passed in (statements and keys included).
    pub bytes_in: u64,
    /// Bytes of the values returned (fixed-size values count their size).
    pub bytes_out: u64,
    /// PostgreSQL queries that returned no row (each would hang on Spin 4.0.0-4.0.2).
    #[serde(skip_serializing_if = "is_zero")]
    pub zero_row_queries: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The counters of one instance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostCalls {
    interfaces: BTreeMap<&'static str, InterfaceCalls>,
}

impl HostCalls {
    /// Counts one call of `interface.method` and returns the interface's counters, to which the
    /// caller adds the values and bytes of the call.
    pub fn call(&mut self, interface: &'static str, method: &'static str) -> &mut InterfaceCalls {
        let counts = self.interfaces.entry(interface).or_default();
        *counts.calls.entry(method).or_default() += 1;
        counts
    }

    pub fn total_calls(&self) -> u64 {
        self.interfaces
            .values()
            .flat_map(|i| i.calls.values())
            .sum()
    }
}

impl InterfaceCalls {
    pub fn values_in(&mut self, values: usize, bytes: usize) -> &mut Self {
        self.values_in += values as u64;
        self.bytes_in += bytes as u64;
        self
    }

    pub fn values_out(&mut self, values: usize, bytes: usize) -> &mut Self {
        self.values_out += values as u64;
        self.bytes_out += bytes as u64;
        self
    }
}

/// What started the instance.
#[derive(Debug, Serialize)]
#[serde(tag = "trigger", rename_all = "lowercase")]
pub enum Invocation<'a> {
    Http {
        method: &'a str,
        /// The `[[trigger.http]]` route that matched.
        route: &'a str,
        path: &'a str,
        /// The response status; 500 when the guest failed before responding.
        status: u16,
    },
    Redis {
        channel: &'a str,
        ok: bool,
    },
    Cron {
        schedule: &'a str,
        ok: bool,
    },
}

#[derive(Serialize)]
struct Record<'a> {
    component: &'a str,
    #[serde(flatten)]
    invocation: &'a Invocation<'a>,
    total_calls: u64,
    interfaces: &'a BTreeMap<&'static str, InterfaceCalls>,
}

/// The file records are appended to, shared by every component of the process.
pub struct CallLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl CallLog {
    /// Opens the file named by [`CALL_LOG_ENV`] for appending; `None` when it is not set. A file
    /// that cannot be opened is a start-up error.
    pub fn from_env() -> anyhow::Result<Option<CallLog>> {
        let Some(path) = std::env::var_os(CALL_LOG_ENV).filter(|p| !p.is_empty()) else {
            return Ok(None);
        };
        let path = PathBuf::from(path);
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("{CALL_LOG_ENV}: cannot open {}", path.display()))?;
        Ok(Some(CallLog {
            path,
            file: Mutex::new(file),
        }))
    }

    /// Appends one line. A failure to write is logged, never a failure of the request.
    pub fn write(&self, component: &str, invocation: &Invocation<'_>, calls: &HostCalls) {
        let record = Record {
            component,
            invocation,
            total_calls: calls.total_calls(),
            interfaces: &calls.interfaces,
        };
        let mut line = match serde_json::to_vec(&record) {
            Ok(line) => line,
            Err(e) => {
                tracing::warn!("cannot encode a host-call record: {e}");
                return;
            }
        };
        line.push(b'\n');
        // One write of a whole line under the lock: concurrent records never interleave.
        let written = match self.file.lock() {
            Ok(mut file) => file.write_all(&line),
            Err(_) => Err(std::io::Error::other("host-call log lock poisoned")),
        };
        if let Err(e) = written {
            tracing::warn!("cannot append to {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_calls_values_and_bytes_per_interface() {
        let mut calls = HostCalls::default();
        calls.call(PG, "open").values_in(1, 20);
        calls.call(PG, "query").values_in(2, 30).values_out(6, 48);
        calls.call(PG, "query").values_in(0, 10).values_out(1, 8);
        calls
            .call(VARIABLES, "get")
            .values_in(1, 6)
            .values_out(1, 40);
        let pg = &calls.interfaces[PG];
        assert_eq!(pg.calls, BTreeMap::from([("open", 1), ("query", 2)]));
        assert_eq!((pg.values_in, pg.bytes_in), (3, 60));
        assert_eq!((pg.values_out, pg.bytes_out), (7, 56));
        assert_eq!(calls.total_calls(), 4);
    }

    #[test]
    fn a_record_is_one_json_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("calls.jsonl");
        let log = CallLog {
            path: path.clone(),
            file: Mutex::new(File::create(&path).unwrap()),
        };
        let mut calls = HostCalls::default();
        calls
            .call(KEY_VALUE, "get")
            .values_in(1, 3)
            .values_out(1, 5);
        let http = Invocation::Http {
            method: "GET",
            route: "/api/...",
            path: "/api/u/tasks",
            status: 200,
        };
        log.write("api", &http, &calls);
        log.write(
            "worker",
            &Invocation::Redis {
                channel: "c",
                ok: false,
            },
            &HostCalls::default(),
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines[0],
            serde_json::json!({
                "component": "api", "trigger": "http", "method": "GET", "route": "/api/...",
                "path": "/api/u/tasks", "status": 200, "total_calls": 1,
                "interfaces": { "key_value": {
                    "calls": { "get": 1 }, "values_in": 1, "values_out": 1,
                    "bytes_in": 3, "bytes_out": 5
                }}
            })
        );
        assert_eq!(
            lines[1],
            serde_json::json!({
                "component": "worker", "trigger": "redis", "channel": "c", "ok": false,
                "total_calls": 0, "interfaces": {}
            })
        );
    }
}
