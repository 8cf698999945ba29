//! `spin:postgres/postgres@4.0.0` with Spin's type conversions.
//!
//! Columns are decoded with the Rust types Spin uses (tokio-postgres `FromSql`), so a mismatch
//! fails exactly as on Spin: notably TIMESTAMPTZ is decoded as `NaiveDateTime`, which
//! tokio-postgres refuses, so selecting a bare `timestamptz` column is a query error.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::types::{FromSql, ToSql, Type};
use tokio_postgres::Row;
use wasmtime::component::Resource;

use crate::bindings::imports::spin::postgres::postgres::{
    self as v4, Column, DbDataType, DbValue, ParameterValue, RowSet,
};
use crate::call_log::PG;
use crate::pg_types::{Interval, PgNull, PgRange, RawBytes};
use crate::runtime::HostState;

/// Max connections per pool (Spin's value).
const POOL_SIZE: usize = 64;

/// What a `query` that matches no row does. Spin 3.x and Spin after 4.0.2 return the empty
/// row set (the default here); Spin 4.0.0-4.0.2 never return at all (spinframework/spin#3671:
/// the host waits for a column list that only a first row would send). `error` turns such a
/// query into an immediate, loud error, so a component that must run on every Spin release can
/// prove that each of its queries returns at least one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroRowQuery {
    Return,
    Error,
}

/// The environment variable that selects [`ZeroRowQuery`] (`return` or `error`).
pub const ZERO_ROW_QUERY_ENV: &str = "SPIN_PG_ZERO_ROW_QUERY";

impl ZeroRowQuery {
    /// Reads [`ZERO_ROW_QUERY_ENV`]; an unknown value is a start-up error.
    pub fn from_env() -> Result<ZeroRowQuery, String> {
        match std::env::var(ZERO_ROW_QUERY_ENV).as_deref() {
            Err(_) | Ok("") | Ok("return") => Ok(ZeroRowQuery::Return),
            Ok("error") => Ok(ZeroRowQuery::Error),
            Ok(other) => Err(format!(
                "{ZERO_ROW_QUERY_ENV}={other:?}: expected `return` (Spin 3.x, fixed 4.x) or `error` (fail where Spin 4.0.0-4.0.2 would hang)"
            )),
        }
    }

    fn current() -> ZeroRowQuery {
        static POLICY: std::sync::OnceLock<ZeroRowQuery> = std::sync::OnceLock::new();
        *POLICY.get_or_init(|| ZeroRowQuery::from_env().unwrap_or(ZeroRowQuery::Return))
    }
}

/// The error a zero-row `query` gets under [`ZeroRowQuery::Error`].
pub fn zero_row_error(statement: &str) -> String {
    format!(
        "query returned zero rows: on Spin 4.0.0-4.0.2 this query would never return \
         (spinframework/spin#3671); shape it to return at least one row \
         ({ZERO_ROW_QUERY_ENV}=error): {statement}"
    )
}

/// One guest `connection`: holds a pooled server connection for its lifetime.
pub struct PgConnection {
    client: deadpool_postgres::Object,
}

/// Pools of one component, keyed by connection string.
#[derive(Default)]
pub struct PgPools {
    pools: Mutex<HashMap<String, deadpool_postgres::Pool>>,
}

impl PgPools {
    fn get_or_create(&self, address: &str) -> Result<deadpool_postgres::Pool, String> {
        let mut pools = self
            .pools
            .lock()
            .map_err(|_| "connection pool lock poisoned".to_string())?;
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let pool = create_pool(address)?;
        pools.insert(address.to_string(), pool.clone());
        Ok(pool)
    }
}

fn create_pool(address: &str) -> Result<deadpool_postgres::Pool, String> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e| format!("invalid connection string: {e}"))?;
    // Like Spin: recycle with a session clean-up, but no ROLLBACK of an open transaction.
    let mgr_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Clean,
    };
    let mgr = if config.get_ssl_mode() == SslMode::Disable {
        deadpool_postgres::Manager::from_config(config, tokio_postgres::NoTls, mgr_config)
    } else {
        let connector = native_tls::TlsConnector::new().map_err(|e| e.to_string())?;
        let tls = postgres_native_tls::MakeTlsConnector::new(connector);
        deadpool_postgres::Manager::from_config(config, tls, mgr_config)
    };
    deadpool_postgres::Pool::builder(mgr)
        .max_size(POOL_SIZE)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| e.to_string())
}

/// Every host of the connection string must be allowed (scheme `postgres`); Unix sockets never.
pub fn check_allowed(
    address: &str,
    allowed: &crate::outbound_hosts::AllowedHosts,
) -> Result<(), String> {
    let config: tokio_postgres::Config = address
        .parse()
        .map_err(|e| format!("invalid connection string: {e}"))?;
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return Err("connection string has no host".to_string());
    }
    let ports = config.get_ports();
    for (i, host) in hosts.iter().enumerate() {
        let port = match ports.len() {
            0 => 5432,
            1 => ports[0],
            _ => *ports.get(i).unwrap_or(&5432),
        };
        match host {
            Host::Tcp(h) => {
                if !allowed.allows("postgres", h, port) {
                    return Err(format!(
                        "address postgres://{h}:{port} is not permitted by allowed_outbound_hosts"
                    ));
                }
            }
            #[cfg(unix)]
            Host::Unix(p) => {
                return Err(format!("Unix socket {} is not permitted", p.display()));
            }
        }
    }
    Ok(())
}

impl v4::Host for HostState {}

impl v4::HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Resource<PgConnection>, v4::Error> {
        self.count_call(PG, "open", || ((1, address.len()), (0, 0)));
        let component = self.component.clone();
        if let Err(reason) = check_allowed(&address, &component.config.allowed_hosts) {
            tracing::error!(
                "component '{}': PostgreSQL connection refused: {reason}",
                component.config.id
            );
            return Err(v4::Error::ConnectionFailed(reason));
        }
        let pool = component
            .pg_pools
            .get_or_create(&address)
            .map_err(v4::Error::ConnectionFailed)?;
        let client = pool
            .get()
            .await
            .map_err(|e| v4::Error::ConnectionFailed(format!("{e:?}")))?;
        self.table
            .push(PgConnection { client })
            .map_err(|e| v4::Error::Other(e.to_string()))
    }

    async fn query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, v4::Error> {
        let result = self.run_query(conn, &statement, &params).await;
        let zero_rows = matches!(&result, Ok(rows) if rows.rows.is_empty());
        if let Some(calls) = self.calls.as_mut() {
            let counts = calls.call(PG, "query");
            counts.values_in(params.len(), statement.len() + params_bytes(&params));
            if let Ok(rows) = &result {
                let values = rows.rows.iter().map(Vec::len).sum();
                let bytes = rows.rows.iter().flatten().map(db_value_bytes).sum();
                counts.values_out(values, bytes);
            }
            if zero_rows {
                counts.zero_row_queries += 1;
            }
        }
        if zero_rows && ZeroRowQuery::current() == ZeroRowQuery::Error {
            let message = zero_row_error(&statement);
            tracing::error!("component '{}': {message}", self.component.config.id);
            return Err(v4::Error::QueryFailed(v4::QueryError::Text(message)));
        }
        result
    }

    async fn execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, v4::Error> {
        let result = self.run_execute(conn, &statement, &params).await;
        self.count_call(PG, "execute", || {
            let out = if result.is_ok() { (1, 8) } else { (0, 0) };
            ((params.len(), statement.len() + params_bytes(&params)), out)
        });
        result
    }

    async fn drop(&mut self, conn: Resource<PgConnection>) -> wasmtime::Result<()> {
        // Dropping the deadpool object returns the server connection to the pool, as is.
        self.table.delete(conn)?;
        Ok(())
    }
}

impl HostState {
    #[allow(clippy::result_large_err)] // the WIT interface's own error type, as the pg4 methods return
    async fn run_execute(
        &mut self,
        conn: Resource<PgConnection>,
        statement: &str,
        params: &[ParameterValue],
    ) -> Result<u64, v4::Error> {
        // Spin reports parameter conversion errors of `execute` as ValueConversionFailed.
        let params = convert_params(params, v4::Error::ValueConversionFailed)?;
        let refs = param_refs(&params);
        self.client(&conn)?
            .execute(statement, &refs)
            .await
            .map_err(query_failed)
    }

    #[allow(clippy::result_large_err)] // the WIT interface's own error type, as the pg4 methods return
    async fn run_query(
        &mut self,
        conn: Resource<PgConnection>,
        statement: &str,
        params: &[ParameterValue],
    ) -> Result<RowSet, v4::Error> {
        let params = convert_params(params, v4::Error::BadParameter)?;
        let refs = param_refs(&params);
        let rows = self
            .client(&conn)?
            .query(statement, &refs)
            .await
            .map_err(query_failed)?;
        if rows.is_empty() {
            return Ok(RowSet {
                columns: vec![],
                rows: vec![],
            });
        }
        let columns = rows[0]
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_string(),
                data_type: convert_data_type(c.type_()),
            })
            .collect();
        let rows = rows
            .iter()
            .map(convert_row)
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(|e| v4::Error::QueryFailed(v4::QueryError::Text(format!("{e:?}"))))?;
        Ok(RowSet { columns, rows })
    }
}

fn query_failed(e: tokio_postgres::Error) -> v4::Error {
    let flattened = format!("{e:?}");
    let query_error = match e.as_db_error() {
        None => v4::QueryError::Text(flattened),
        Some(dbe) => {
            let mut extras = Vec::new();
            let mut extra = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    extras.push((k.to_string(), v));
                }
            };
            extra("column", dbe.column().map(str::to_string));
            extra("constraint", dbe.constraint().map(str::to_string));
            extra("routine", dbe.routine().map(str::to_string));
            extra("hint", dbe.hint().map(str::to_string));
            extra("table", dbe.table().map(str::to_string));
            extra("datatype", dbe.datatype().map(str::to_string));
            extra("schema", dbe.schema().map(str::to_string));
            extra("file", dbe.file().map(str::to_string));
            extra("line", dbe.line().map(|l| l.to_string()));
            extra("where_", dbe.where_().map(str::to_string));
            v4::QueryError::DbError(v4::DbError {
                as_text: flattened,
                severity: dbe.severity().to_string(),
                code: dbe.code().code().to_string(),
                message: dbe.message().to_string(),
                detail: dbe.detail().map(str::to_string),
                extras,
            })
        }
    };
    v4::Error::QueryFailed(query_error)
}

pub fn convert_data_type(t: &Type) -> DbDataType {
    match *t {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(t.name().to_string()),
    }
}

fn convert_row(row: &Row) -> anyhow::Result<Vec<DbValue>> {
    (0..row.len()).map(|i| convert_entry(row, i)).collect()
}

fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    f: impl FnOnce(T) -> anyhow::Result<DbValue>,
) -> anyhow::Result<DbValue> {
    let value: Option<T> = row.try_get(index)?;
    match value {
        Some(v) => f(v),
        None => Ok(DbValue::DbNull),
    }
}

fn convert_entry(row: &Row, index: usize) -> anyhow::Result<DbValue> {
    use chrono::{Datelike, Timelike};
    let t = row.columns()[index].type_().clone();
    match t {
        Type::BOOL => get(row, index, |v: bool| Ok(DbValue::Boolean(v))),
        Type::BYTEA => get(row, index, |v: Vec<u8>| Ok(DbValue::Binary(v))),
        Type::FLOAT4 => get(row, index, |v: f32| Ok(DbValue::Floating32(v))),
        Type::FLOAT8 => get(row, index, |v: f64| Ok(DbValue::Floating64(v))),
        Type::INT2 => get(row, index, |v: i16| Ok(DbValue::Int16(v))),
        Type::INT4 => get(row, index, |v: i32| Ok(DbValue::Int32(v))),
        Type::INT8 => get(row, index, |v: i64| Ok(DbValue::Int64(v))),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => {
            get(row, index, |v: String| Ok(DbValue::Str(v)))
        }
        // Both decoded as NaiveDateTime, which tokio-postgres accepts only for TIMESTAMP.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => get(row, index, |v: chrono::NaiveDateTime| {
            Ok(DbValue::Datetime((
                v.year(),
                u8::try_from(v.month())?,
                u8::try_from(v.day())?,
                u8::try_from(v.hour())?,
                u8::try_from(v.minute())?,
                u8::try_from(v.second())?,
                v.nanosecond(),
            )))
        }),
        Type::DATE => get(row, index, |v: chrono::NaiveDate| {
            Ok(DbValue::Date((
                v.year(),
                u8::try_from(v.month())?,
                u8::try_from(v.day())?,
            )))
        }),
        Type::TIME => get(row, index, |v: chrono::NaiveTime| {
            Ok(DbValue::Time((
                u8::try_from(v.hour())?,
                u8::try_from(v.minute())?,
                u8::try_from(v.second())?,
                v.nanosecond(),
            )))
        }),
        Type::UUID => get(row, index, |v: uuid::Uuid| Ok(DbValue::Uuid(v.to_string()))),
        Type::JSONB => get(row, index, |v: serde_json::Value| {
            Ok(DbValue::Jsonb(serde_json::to_vec(&v)?))
        }),
        Type::NUMERIC => get(row, index, |v: rust_decimal::Decimal| {
            Ok(DbValue::Decimal(v.to_string()))
        }),
        Type::INT4_ARRAY => get(row, index, |v: Vec<Option<i32>>| Ok(DbValue::ArrayInt32(v))),
        Type::INT8_ARRAY => get(row, index, |v: Vec<Option<i64>>| Ok(DbValue::ArrayInt64(v))),
        Type::NUMERIC_ARRAY => get(row, index, |v: Vec<Option<rust_decimal::Decimal>>| {
            Ok(DbValue::ArrayDecimal(
                v.into_iter().map(|d| d.map(|d| d.to_string())).collect(),
            ))
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => {
            get(row, index, |v: Vec<Option<String>>| {
                Ok(DbValue::ArrayStr(v))
            })
        }
        Type::INTERVAL => get(row, index, |v: Interval| {
            Ok(DbValue::Interval(v4::Interval {
                micros: v.micros,
                days: v.days,
                months: v.months,
            }))
        }),
        Type::INT4_RANGE => get(row, index, |v: PgRange<i32>| {
            Ok(DbValue::RangeInt32(v.bounds()))
        }),
        Type::INT8_RANGE => get(row, index, |v: PgRange<i64>| {
            Ok(DbValue::RangeInt64(v.bounds()))
        }),
        Type::NUM_RANGE => get(row, index, |v: PgRange<rust_decimal::Decimal>| {
            let (lo, hi) = v.bounds();
            let s = |b: Option<(rust_decimal::Decimal, v4::RangeBoundKind)>| {
                b.map(|(d, k)| (d.to_string(), k))
            };
            Ok(DbValue::RangeDecimal((s(lo), s(hi))))
        }),
        // Every other type: the raw wire bytes.
        _ => get(row, index, |v: RawBytes| Ok(DbValue::Unsupported(v.0))),
    }
}

type BoxedParam = Box<dyn ToSql + Send + Sync>;

/// Converts guest parameters; a failure becomes the error variant Spin uses for the operation
/// (`BadParameter` for `query`, `ValueConversionFailed` for `execute`).
#[allow(clippy::result_large_err)] // the WIT interface's own error type, as the pg4 methods return
fn convert_params(
    params: &[ParameterValue],
    error: fn(String) -> v4::Error,
) -> Result<Vec<BoxedParam>, v4::Error> {
    params
        .iter()
        .map(to_sql_parameter)
        .collect::<anyhow::Result<Vec<_>>>()
        .map_err(|e| error(format!("{e:?}")))
}

fn param_refs(params: &[BoxedParam]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|b| b.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl HostState {
    #[allow(clippy::result_large_err)] // the WIT interface's own error type, as the pg4 methods return
    fn client(
        &self,
        conn: &Resource<PgConnection>,
    ) -> Result<&deadpool_postgres::Object, v4::Error> {
        self.table
            .get(conn)
            .map(|c| &c.client)
            .map_err(|e| v4::Error::Other(e.to_string()))
    }
}

fn to_sql_parameter(value: &ParameterValue) -> anyhow::Result<BoxedParam> {
    use anyhow::{anyhow, Context as _};
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date((y, m, d)) => Box::new(
            chrono::NaiveDate::from_ymd_opt(*y, (*m).into(), (*d).into())
                .ok_or_else(|| anyhow!("invalid date y={y}, m={m}, d={d}"))?,
        ),
        ParameterValue::Time((h, mi, s, ns)) => Box::new(
            chrono::NaiveTime::from_hms_nano_opt((*h).into(), (*mi).into(), (*s).into(), *ns)
                .ok_or_else(|| anyhow!("invalid time {h}:{mi}:{s}:{ns}"))?,
        ),
        ParameterValue::Datetime((y, mo, d, h, mi, s, ns)) => {
            let date = chrono::NaiveDate::from_ymd_opt(*y, (*mo).into(), (*d).into())
                .ok_or_else(|| anyhow!("invalid date y={y}, m={mo}, d={d}"))?;
            let time =
                chrono::NaiveTime::from_hms_nano_opt((*h).into(), (*mi).into(), (*s).into(), *ns)
                    .ok_or_else(|| anyhow!("invalid time {h}:{mi}:{s}:{ns}"))?;
            Box::new(chrono::NaiveDateTime::new(date, time))
        }
        ParameterValue::Timestamp(v) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(*v, 0)
                .ok_or_else(|| anyhow!("invalid epoch timestamp {v}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).with_context(|| format!("invalid UUID {v}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .with_context(|| format!("invalid JSON {}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(
            rust_decimal::Decimal::from_str_exact(v)
                .with_context(|| format!("invalid decimal {v}"))?,
        ),
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| {
                    d.as_deref()
                        .map(|d| {
                            rust_decimal::Decimal::from_str_exact(d)
                                .with_context(|| format!("invalid decimal {d}"))
                        })
                        .transpose()
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(v) => Box::new(Interval {
            micros: v.micros,
            days: v.days,
            months: v.months,
        }),
        ParameterValue::DbNull => Box::new(PgNull),
        ParameterValue::RangeInt32((lo, hi)) => Box::new(PgRange::from_bounds(*lo, *hi)),
        ParameterValue::RangeInt64((lo, hi)) => Box::new(PgRange::from_bounds(*lo, *hi)),
        ParameterValue::RangeDecimal((lo, hi)) => {
            let d = |b: &Option<(String, v4::RangeBoundKind)>| -> anyhow::Result<_> {
                b.as_ref()
                    .map(|(v, k)| {
                        rust_decimal::Decimal::from_str_exact(v)
                            .with_context(|| format!("invalid decimal {v}"))
                            .map(|d| (d, *k))
                    })
                    .transpose()
            };
            Box::new(PgRange::from_bounds(d(lo)?, d(hi)?))
        }
    })
}

/// Bytes of one value crossing the boundary, for the host-call log: the length of text and
/// binary payloads, the WIT width of fixed-size values.
macro_rules! value_bytes {
    ($value:expr, $ty:ident $(, $extra:pat => $extra_bytes:expr)*) => {{
        use $ty as V;
        let text = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        match $value {
            V::Boolean(_) | V::Int8(_) => 1,
            V::Int16(_) => 2,
            V::Int32(_) | V::Floating32(_) => 4,
            V::Int64(_) | V::Floating64(_) | V::Timestamp(_) => 8,
            V::Str(s) | V::Uuid(s) | V::Decimal(s) => s.len(),
            V::Binary(b) | V::Jsonb(b) => b.len(),
            V::Date(_) => 6,
            V::Time(_) => 7,
            V::Datetime(_) => 13,
            V::Interval(_) => 16,
            V::RangeInt32(_) => 10,
            V::RangeInt64(_) => 18,
            V::RangeDecimal((lo, hi)) => {
                lo.as_ref().map_or(0, |(d, _)| d.len() + 1) + hi.as_ref().map_or(0, |(d, _)| d.len() + 1)
            }
            V::ArrayInt32(a) => 4 * a.len(),
            V::ArrayInt64(a) => 8 * a.len(),
            V::ArrayDecimal(a) | V::ArrayStr(a) => a.iter().map(text).sum(),
            V::DbNull => 0,
            $($extra => $extra_bytes,)*
        }
    }};
}

fn db_value_bytes(value: &DbValue) -> usize {
    value_bytes!(value, DbValue, DbValue::Unsupported(raw) => raw.len())
}

fn params_bytes(params: &[ParameterValue]) -> usize {
    params.iter().map(|p| value_bytes!(p, ParameterValue)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound_hosts::AllowedHosts;
    use bytes::BytesMut;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn every_host_must_be_allowed() {
        let a = allowed(&["postgres://db1:5432", "postgres://db2:6000"]);
        assert!(check_allowed("postgres://u@db1/x", &a).is_ok());
        assert!(check_allowed("postgres://u@db1:5433/x", &a).is_err());
        assert!(check_allowed("host=db1,db2 port=5432,6000 user=u", &a).is_ok());
        assert!(check_allowed("host=db1,db3 port=5432,6000 user=u", &a).is_err());
        assert!(check_allowed("host=/tmp user=u", &allowed(&["postgres://*:*"])).is_err());
        assert!(check_allowed("not a url ===", &a).is_err());
    }

    #[test]
    fn timestamp_binds_whole_seconds_utc() {
        let p = to_sql_parameter(&ParameterValue::Timestamp(1_800_000_000)).unwrap();
        assert!(p.accepts_dyn(&Type::TIMESTAMPTZ));
        assert!(!p.accepts_dyn(&Type::TIMESTAMP));
        let s = to_sql_parameter(&ParameterValue::Str("x".into())).unwrap();
        assert!(!s.accepts_dyn(&Type::TIMESTAMPTZ));
        assert!(to_sql_parameter(&ParameterValue::Uuid("nope".into())).is_err());
        assert!(to_sql_parameter(&ParameterValue::Date((2027, 2, 30))).is_err());
    }

    trait AcceptsDyn {
        fn accepts_dyn(&self, t: &Type) -> bool;
    }

    impl AcceptsDyn for BoxedParam {
        fn accepts_dyn(&self, t: &Type) -> bool {
            let mut buf = BytesMut::new();
            self.to_sql_checked(t, &mut buf).is_ok()
        }
    }
}
