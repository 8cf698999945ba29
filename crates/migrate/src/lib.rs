//! Plain, ordered SQL migrations: every `NNNN_name.sql` file of a folder is applied once, in
//! file-name order, each in its own transaction together with its row in
//! `schema_migrations`. Re-running is a no-op; concurrent runs serialise on an advisory lock.
//! The Kubernetes migrations Job (deploy/) implements the same protocol with psql.

use std::path::Path;

use anyhow::{bail, Context, Result};
use tokio_postgres::Client;

/// Advisory lock key shared by every migrator of this schema.
const MIGRATION_LOCK: i64 = 7_272_740_001;

#[derive(Debug, Clone)]
pub struct Migration {
    /// The file name without `.sql`, e.g. `0001_init`.
    pub version: String,
    pub sql: String,
}

/// Reads every `*.sql` file of `dir`, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<Migration>> {
    let mut migrations = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("sql") {
            continue;
        }
        let version = path
            .file_stem()
            .and_then(|s| s.to_str())
            .context("migration file name is not UTF-8")?
            .to_string();
        if !version.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            bail!("migration {version}.sql must start with its sequence number");
        }
        let sql =
            std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        migrations.push(Migration { version, sql });
    }
    migrations.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(migrations)
}

/// A short stable hash of the migrations' names and contents (FNV-1a), so a template
/// database built from one set is never reused for another.
pub fn fingerprint(migrations: &[Migration]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for m in migrations {
        for byte in m.version.bytes().chain([0]).chain(m.sql.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Applies the migrations not yet recorded; returns the versions applied now.
pub async fn apply(client: &mut Client, migrations: &[Migration]) -> Result<Vec<String>> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    text PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .context("create schema_migrations")?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("take the migration lock")?;
    let result = apply_locked(client, migrations).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .context("release the migration lock")?;
    result
}

async fn apply_locked(client: &mut Client, migrations: &[Migration]) -> Result<Vec<String>> {
    let mut applied = Vec::new();
    for migration in migrations {
        let done = client
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[&migration.version],
            )
            .await?
            .is_some();
        if done {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(&migration.sql)
            .await
            .with_context(|| format!("apply migration {}", migration.version))?;
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&migration.version],
        )
        .await?;
        tx.commit().await?;
        applied.push(migration.version.clone());
    }
    Ok(applied)
}
