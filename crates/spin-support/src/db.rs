//! PostgreSQL through Spin's `spin:postgres/postgres@4.0.0`.
//!
//! Spin decodes `timestamptz` columns as an error (see SPIN-HOST-CONTRACT.md), so queries
//! select instants as `col AT TIME ZONE 'UTC'` and bind them as text cast with
//! `$n::text::timestamptz`. Writes are single statements (data-modifying CTEs) wherever a
//! change and its outbox rows belong together: Spin returns pooled connections without a
//! ROLLBACK, so a transaction left open by a trapped instance would poison the pool.
//!
//! Every `query` returns at least one row by construction (an aggregate, or
//! [`exactly_one_row`]): on Spin 4.0.0-4.0.2 a query without rows never returns. Rows of a
//! set come back as one JSON value built by PostgreSQL.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
pub use spin_sdk::pg4::ParameterValue;
use spin_sdk::pg4::{self, DbValue};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached (connection refused, shut down, restarting).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    #[error("check constraint violated: {0}")]
    CheckViolation(String),
    #[error("query failed: {0}")]
    Query(String),
    #[error("column {column}: {detail}")]
    Decode { column: usize, detail: String },
    #[error("configuration: {0}")]
    Config(String),
}

impl From<pg4::PgError> for DbError {
    fn from(error: pg4::PgError) -> Self {
        match error {
            pg4::PgError::ConnectionFailed(text) => DbError::Unavailable(text),
            pg4::PgError::QueryFailed(pg4::QueryError::DbError(e)) => match e.code.as_str() {
                "23505" => DbError::UniqueViolation(e.message),
                "23514" => DbError::CheckViolation(e.message),
                // connection exceptions, admin/crash shutdown, cannot connect now, too many connections
                code if code.starts_with("08") || code.starts_with("57P") || code == "53300" => {
                    DbError::Unavailable(e.message)
                }
                _ => DbError::Query(format!("{} ({})", e.message, e.code)),
            },
            pg4::PgError::QueryFailed(pg4::QueryError::Text(text)) => {
                if text_means_unavailable(&text) {
                    DbError::Unavailable(text)
                } else {
                    DbError::Query(text)
                }
            }
            pg4::PgError::BadParameter(text)
            | pg4::PgError::ValueConversionFailed(text)
            | pg4::PgError::Other(text) => DbError::Query(text),
        }
    }
}

/// Whether a text-only query failure says the connection is gone. Spin (and the local host)
/// send tokio-postgres' `Debug` form, e.g. `Error { kind: Closed, cause: None }` for a pooled
/// connection whose server was restarted, or `Error { kind: Io, cause: ... }`: those are
/// outages (503), not query bugs (500).
fn text_means_unavailable(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("connection")
        && (lower.contains("closed") || lower.contains("reset") || lower.contains("refused"))
        || lower.contains("error communicating")
        || lower.contains("timed out")
        || lower.contains("kind: closed")
        || lower.contains("kind: io")
        || lower.contains("kind: connect")
}

/// One connection for the lifetime of a request or message.
pub struct Db {
    connection: pg4::Connection,
}

impl Db {
    /// Opens the database named by the `db_url` variable.
    pub fn open() -> Result<Db, DbError> {
        let url = crate::config::required("db_url").map_err(DbError::Config)?;
        let connection = pg4::Connection::open(&url)?;
        Ok(Db { connection })
    }

    pub fn query(&self, statement: &Statement) -> Result<Vec<Row>, DbError> {
        let rows = self.connection.query(&statement.sql, &statement.params)?;
        Ok(rows.rows.into_iter().map(Row).collect())
    }

    pub fn query_one(&self, statement: &Statement) -> Result<Option<Row>, DbError> {
        Ok(self.query(statement)?.into_iter().next())
    }

    /// The one row of a statement shaped to return exactly one (an aggregate,
    /// [`exactly_one_row`], `SELECT (SELECT ...)`): no row at all is an error.
    pub fn query_row(&self, statement: &Statement) -> Result<Row, DbError> {
        self.query_one(statement)?.ok_or_else(|| {
            DbError::Query("a statement shaped to return one row returned none".into())
        })
    }

    pub fn execute(&self, statement: &Statement) -> Result<u64, DbError> {
        Ok(self.connection.execute(&statement.sql, &statement.params)?)
    }
}

/// `inner` (a query returning at most one row) shaped to return exactly one row: the inner
/// row's columns, or NULLs when it found nothing. Spin 4.0.0-4.0.2 never answer a `query`
/// that returns no row (SPIN-HOST-CONTRACT.md), so every query of the components returns one.
pub fn exactly_one_row(inner: &str) -> String {
    format!(
        "SELECT found.* FROM (VALUES (1)) AS one(n) LEFT JOIN LATERAL ({inner}) AS found ON true"
    )
}

/// SQL text and its parameters, built together so placeholders always match.
#[derive(Debug, Clone, Default)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<ParameterValue>,
}

impl Statement {
    pub fn new(sql: impl Into<String>) -> Self {
        Statement {
            sql: sql.into(),
            params: Vec::new(),
        }
    }

    /// Adds a parameter and returns its placeholder (`$n`).
    pub fn bind(&mut self, value: ParameterValue) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// Adds a parameter; the builder form for fixed SQL.
    pub fn arg(mut self, value: ParameterValue) -> Self {
        self.params.push(value);
        self
    }

    pub fn push_sql(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }
}

/// Parameter constructors. Instants bind as RFC 3339 text: cast the placeholder with
/// `::text::timestamptz` (Spin's `Timestamp` parameter would drop the milliseconds).
pub mod param {
    use super::*;

    pub fn text(value: impl Into<String>) -> ParameterValue {
        ParameterValue::Str(value.into())
    }

    pub fn opt_text(value: Option<impl Into<String>>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, |v| ParameterValue::Str(v.into()))
    }

    pub fn uuid(value: Uuid) -> ParameterValue {
        ParameterValue::Uuid(value.to_string())
    }

    pub fn opt_uuid(value: Option<Uuid>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, uuid)
    }

    pub fn instant(value: DateTime<Utc>) -> ParameterValue {
        ParameterValue::Str(value.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }

    pub fn opt_instant(value: Option<DateTime<Utc>>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, instant)
    }

    pub fn int64(value: i64) -> ParameterValue {
        ParameterValue::Int64(value)
    }

    pub fn opt_int64(value: Option<i64>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, int64)
    }

    pub fn int32(value: i32) -> ParameterValue {
        ParameterValue::Int32(value)
    }

    pub fn opt_int32(value: Option<i32>) -> ParameterValue {
        value.map_or(ParameterValue::DbNull, int32)
    }

    pub fn boolean(value: bool) -> ParameterValue {
        ParameterValue::Boolean(value)
    }

    pub fn text_array(values: &[String]) -> ParameterValue {
        ParameterValue::ArrayStr(values.iter().cloned().map(Some).collect())
    }

    pub fn jsonb(value: &Value) -> ParameterValue {
        ParameterValue::Jsonb(serde_json::to_vec(value).unwrap_or_default())
    }
}

/// One result row; typed getters by column index.
pub struct Row(pub Vec<DbValue>);

impl Row {
    fn value(&self, column: usize) -> Result<&DbValue, DbError> {
        self.0.get(column).ok_or(DbError::Decode {
            column,
            detail: "no such column".into(),
        })
    }

    fn unexpected<T>(&self, column: usize, wanted: &str) -> Result<T, DbError> {
        Err(DbError::Decode {
            column,
            detail: format!("expected {wanted}, got {:?}", self.0.get(column)),
        })
    }

    pub fn is_null(&self, column: usize) -> bool {
        matches!(self.0.get(column), Some(DbValue::DbNull) | None)
    }

    pub fn text(&self, column: usize) -> Result<String, DbError> {
        match self.value(column)? {
            DbValue::Str(s) => Ok(s.clone()),
            _ => self.unexpected(column, "text"),
        }
    }

    pub fn opt_text(&self, column: usize) -> Result<Option<String>, DbError> {
        if self.is_null(column) {
            return Ok(None);
        }
        self.text(column).map(Some)
    }

    pub fn uuid(&self, column: usize) -> Result<Uuid, DbError> {
        match self.value(column)? {
            DbValue::Uuid(s) => Uuid::parse_str(s).map_err(|e| DbError::Decode {
                column,
                detail: e.to_string(),
            }),
            _ => self.unexpected(column, "uuid"),
        }
    }

    pub fn opt_uuid(&self, column: usize) -> Result<Option<Uuid>, DbError> {
        if self.is_null(column) {
            return Ok(None);
        }
        self.uuid(column).map(Some)
    }

    pub fn boolean(&self, column: usize) -> Result<bool, DbError> {
        match self.value(column)? {
            DbValue::Boolean(b) => Ok(*b),
            _ => self.unexpected(column, "bool"),
        }
    }

    /// Any integer column, widened.
    pub fn int(&self, column: usize) -> Result<i64, DbError> {
        match self.value(column)? {
            DbValue::Int8(v) => Ok(i64::from(*v)),
            DbValue::Int16(v) => Ok(i64::from(*v)),
            DbValue::Int32(v) => Ok(i64::from(*v)),
            DbValue::Int64(v) => Ok(*v),
            _ => self.unexpected(column, "integer"),
        }
    }

    /// A `timestamp` column (select timestamptz as `col AT TIME ZONE 'UTC'`), read as UTC.
    pub fn instant(&self, column: usize) -> Result<DateTime<Utc>, DbError> {
        match self.value(column)? {
            DbValue::Datetime((y, mo, d, h, mi, s, ns)) => {
                NaiveDate::from_ymd_opt(*y, (*mo).into(), (*d).into())
                    .and_then(|date| {
                        date.and_hms_nano_opt((*h).into(), (*mi).into(), (*s).into(), *ns)
                    })
                    .map(|naive| naive.and_utc())
                    .ok_or(DbError::Decode {
                        column,
                        detail: "invalid date-time".into(),
                    })
            }
            _ => self.unexpected(column, "timestamp"),
        }
    }

    pub fn opt_instant(&self, column: usize) -> Result<Option<DateTime<Utc>>, DbError> {
        if self.is_null(column) {
            return Ok(None);
        }
        self.instant(column).map(Some)
    }

    pub fn text_array(&self, column: usize) -> Result<Vec<String>, DbError> {
        match self.value(column)? {
            DbValue::ArrayStr(items) => Ok(items.iter().flatten().cloned().collect()),
            DbValue::DbNull => Ok(Vec::new()),
            _ => self.unexpected(column, "text[]"),
        }
    }

    /// A JSON value built by PostgreSQL (selected as `text`, `json` or `jsonb`), decoded into
    /// `T` by serde.
    pub fn decode_json<T: serde::de::DeserializeOwned>(&self, column: usize) -> Result<T, DbError> {
        let decoded = match self.value(column)? {
            DbValue::Str(text) => serde_json::from_str(text),
            DbValue::Jsonb(bytes) | DbValue::Unsupported(bytes) => serde_json::from_slice(bytes),
            _ => return self.unexpected(column, "JSON"),
        };
        decoded.map_err(|e| DbError::Decode {
            column,
            detail: e.to_string(),
        })
    }

    pub fn json(&self, column: usize) -> Result<Value, DbError> {
        match self.value(column)? {
            DbValue::Jsonb(bytes) | DbValue::Unsupported(bytes) => serde_json::from_slice(bytes)
                .map_err(|e| DbError::Decode {
                    column,
                    detail: e.to_string(),
                }),
            _ => self.unexpected(column, "jsonb"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by tests/e2e/tests/faults.rs: after a PostgreSQL restart, a pooled connection's
    /// query failed with `Error { kind: Closed, cause: None }` and the API answered 500.
    #[test]
    fn closed_and_io_failures_are_unavailable() {
        for text in [
            "Error { kind: Closed, cause: None }",
            "Error { kind: Io, cause: Some(Os { code: 104, kind: ConnectionReset, message: \"Connection reset by peer\" }) }",
            "Error { kind: Connect, cause: Some(Os { code: 111, kind: ConnectionRefused }) }",
            "connection closed",
        ] {
            assert!(
                matches!(
                    DbError::from(pg4::PgError::QueryFailed(pg4::QueryError::Text(text.into()))),
                    DbError::Unavailable(_)
                ),
                "{text}"
            );
        }
        assert!(matches!(
            DbError::from(pg4::PgError::QueryFailed(pg4::QueryError::Text(
                "Error { kind: ToSql(0), cause: None }".into()
            ))),
            DbError::Query(_)
        ));
    }
}
