//! `todo-migrate [--dir migrations] [DATABASE_URL]`: verifies the applied migrations against
//! their files, then applies the pending ones (see the library's documentation).
//! The URL comes from the argument, else `DATABASE_URL`, else `SPIN_VARIABLE_DB_URL`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut dir = PathBuf::from("migrations");
    let mut url = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().context("--dir needs a folder")?.into(),
            "-h" | "--help" => {
                println!("usage: todo-migrate [--dir migrations] [DATABASE_URL]");
                return Ok(());
            }
            other if other.starts_with('-') => bail!("unknown option {other}"),
            other => url = Some(other.to_string()),
        }
    }
    let url = url
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .or_else(|| std::env::var("SPIN_VARIABLE_DB_URL").ok())
        .context("no database URL: pass it, or set DATABASE_URL")?;

    let migrations = todo_migrate::load_dir(&dir)?;
    let (mut client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .context("connect to PostgreSQL")?;
    let connection = tokio::spawn(connection);
    let outcome = todo_migrate::apply(&mut client, &migrations).await?;
    for version in &outcome.checksums_recorded {
        println!(
            "migrations: recorded the checksum of {version} (applied before checksums were kept)"
        );
    }
    if outcome.applied.is_empty() {
        println!("migrations: up to date ({} known)", migrations.len());
    }
    for version in &outcome.applied {
        println!("migrations: applied {version}");
    }
    drop(client);
    let _ = connection.await;
    Ok(())
}
