//! Reading the test's database directly, for what the API does not show (or must not: an
//! empty list is a zero-row query, which the tests' `SPIN_PG_ZERO_ROW_QUERY=error` host
//! refuses).

use tokio_postgres::types::ToSql;

/// The first column of the one row `sql` returns, as a count (e.g. `SELECT count(*) ...`).
pub async fn count(pg: &tokio_postgres::Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> i64 {
    pg.query_one(sql, params)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .get(0)
}
