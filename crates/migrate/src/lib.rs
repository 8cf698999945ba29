//! Plain, ordered, verified SQL migrations: every `NNNN_name.sql` file of a folder is applied
//! once, in file-name order, each in its own transaction together with its row in
//! `schema_migrations(version, applied_at, checksum)`. Re-running is a no-op; concurrent runs
//! serialise on an advisory lock. The Kubernetes migrations Job (deploy/) implements the same
//! protocol with psql.
//!
//! Verification (as refinery and sqlx do): the checksum is the SHA-256 of the file's bytes.
//! Before anything is applied, every recorded migration is compared with its file; a file that
//! changed after it was applied, or that is gone, stops the run with an error naming it, and
//! nothing is applied. The fix is to restore the file and put the change in a new migration.
//!
//! Databases migrated before checksums were recorded have rows without one. Nothing tells what
//! those files contained when they ran, so the first run of this version records the
//! checksums of the files as they are then (once: from then on they are verified).

use std::fmt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// Advisory lock key shared by every migrator of this schema.
const MIGRATION_LOCK: i64 = 7_272_740_001;

#[derive(Debug, Clone)]
pub struct Migration {
    /// The file name without `.sql`, e.g. `0001_init`.
    pub version: String,
    pub sql: String,
    /// SHA-256 of the file's bytes, lower-case hex (what `sha256sum` prints).
    pub checksum: String,
}

impl Migration {
    pub fn new(version: impl Into<String>, sql: impl Into<String>) -> Self {
        let sql = sql.into();
        Self {
            version: version.into(),
            checksum: hex::encode(Sha256::digest(sql.as_bytes())),
            sql,
        }
    }

    pub fn file_name(&self) -> String {
        format!("{}.sql", self.version)
    }
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
        migrations.push(Migration::new(version, sql));
    }
    migrations.sort_by(|a, b| a.version.cmp(&b.version));
    Ok(migrations)
}

/// A short stable hash of the migrations' names and contents, so a template database built
/// from one set is never reused for another.
pub fn fingerprint(migrations: &[Migration]) -> String {
    let mut hash = Sha256::new();
    for m in migrations {
        hash.update(format!("{} {}\n", m.version, m.checksum));
    }
    hex::encode(&hash.finalize()[..8])
}

/// Recorded migrations that no longer match their files: the run stops before applying
/// anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// Applied files whose content changed: (file name, recorded checksum, checksum now).
    pub changed: Vec<(String, String, String)>,
    /// Applied files that are gone.
    pub missing: Vec<String>,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "applied migrations do not match their files, so nothing was applied:"
        )?;
        for (file, recorded, now) in &self.changed {
            write!(
                f,
                "\n  {file} changed after it was applied (recorded sha256 {recorded}, the file now has {now})"
            )?;
        }
        for file in &self.missing {
            write!(f, "\n  {file} was applied but the file is gone")?;
        }
        write!(
            f,
            "\nrestore the applied files as they were, and put any change in a new migration"
        )
    }
}

impl std::error::Error for VerifyError {}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Versions applied now, in order.
    pub applied: Vec<String>,
    /// Versions applied before checksums were recorded, whose checksums were recorded now.
    pub checksums_recorded: Vec<String>,
}

/// Verifies the applied migrations against `migrations`, then applies those not yet recorded.
/// A mismatch is an error whose source is a [`VerifyError`].
pub async fn apply(client: &mut Client, migrations: &[Migration]) -> Result<Outcome> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    text PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 checksum   text
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

async fn apply_locked(client: &mut Client, migrations: &[Migration]) -> Result<Outcome> {
    client
        .batch_execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
        .await
        .context("add schema_migrations.checksum")?;
    let recorded: Vec<(String, Option<String>)> = client
        .query(
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .context("read schema_migrations")?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();

    let mut problems = VerifyError {
        changed: Vec::new(),
        missing: Vec::new(),
    };
    let mut unrecorded = Vec::new();
    for (version, checksum) in &recorded {
        let Some(file) = migrations.iter().find(|m| &m.version == version) else {
            problems.missing.push(format!("{version}.sql"));
            continue;
        };
        match checksum {
            None => unrecorded.push(file),
            Some(c) if *c == file.checksum => {}
            Some(c) => problems
                .changed
                .push((file.file_name(), c.clone(), file.checksum.clone())),
        }
    }
    if !problems.changed.is_empty() || !problems.missing.is_empty() {
        return Err(problems.into());
    }

    let mut outcome = Outcome::default();
    for file in unrecorded {
        client
            .execute(
                "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL",
                &[&file.version, &file.checksum],
            )
            .await
            .with_context(|| format!("record the checksum of {}", file.file_name()))?;
        outcome.checksums_recorded.push(file.version.clone());
    }
    for migration in migrations {
        if recorded.iter().any(|(v, _)| *v == migration.version) {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(&migration.sql)
            .await
            .with_context(|| format!("apply migration {}", migration.version))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
            &[&migration.version, &migration.checksum],
        )
        .await?;
        tx.commit().await?;
        outcome.applied.push(migration.version.clone());
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_is_the_sha256_of_the_file() {
        let m = Migration::new("0001_a", "SELECT 1;\n");
        // `printf 'SELECT 1;\n' | sha256sum`
        assert_eq!(
            m.checksum,
            "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd"
        );
        assert_eq!(m.file_name(), "0001_a.sql");
    }

    #[test]
    fn fingerprint_follows_names_and_contents() {
        let a = [Migration::new("0001_a", "SELECT 1;")];
        let renamed = [Migration::new("0001_b", "SELECT 1;")];
        let edited = [Migration::new("0001_a", "SELECT 2;")];
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
        assert_ne!(fingerprint(&a), fingerprint(&renamed));
        assert_ne!(fingerprint(&a), fingerprint(&edited));
        assert_eq!(fingerprint(&a).len(), 16);
    }

    #[test]
    fn verify_error_names_every_file() {
        let e = VerifyError {
            changed: vec![("0001_a.sql".into(), "aa".into(), "bb".into())],
            missing: vec!["0002_b.sql".into()],
        };
        let text = e.to_string();
        assert!(
            text.contains(
                "0001_a.sql changed after it was applied (recorded sha256 aa, the file now has bb)"
            ),
            "{text}"
        );
        assert!(
            text.contains("0002_b.sql was applied but the file is gone"),
            "{text}"
        );
        assert!(text.contains("put any change in a new migration"), "{text}");
    }
}
