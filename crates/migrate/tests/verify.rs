//! Applying and verifying migrations against a real PostgreSQL (a database of its own per
//! test, on the cluster of `TEST_PG_URL`, as `scripts/test` provides).

use std::path::Path;
use std::process::Command;

use todo_migrate::{apply, load_dir, Outcome, VerifyError};
use tokio_postgres::Client;

fn write(dir: &Path, file: &str, sql: &str) {
    std::fs::write(dir.join(file), sql).expect("write migration");
}

async fn run(client: &mut Client, dir: &Path) -> anyhow::Result<Outcome> {
    apply(client, &load_dir(dir)?).await
}

async fn recorded(client: &Client) -> Vec<(String, Option<String>)> {
    client
        .query(
            "SELECT version, checksum FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("read schema_migrations")
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

async fn table_exists(client: &Client, name: &str) -> bool {
    client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&name])
        .await
        .expect("to_regclass")
        .get(0)
}

/// `sha256sum`'s checksum of a file, independently of the crate.
fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("run sha256sum");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn verify_error(err: &anyhow::Error) -> &VerifyError {
    err.downcast_ref::<VerifyError>()
        .unwrap_or_else(|| panic!("not a verification error: {err:#}"))
}

#[tokio::test]
async fn applies_each_file_once_and_records_its_checksum() {
    let db = test_support::empty_database().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id int);\n");
    write(dir.path(), "0002_b.sql", "INSERT INTO a VALUES (1);\n");

    let outcome = run(&mut client, dir.path()).await.expect("applies");
    assert_eq!(outcome.applied, ["0001_a", "0002_b"]);
    assert!(outcome.checksums_recorded.is_empty());
    assert_eq!(
        recorded(&client).await,
        [
            (
                "0001_a".to_string(),
                Some(sha256sum(&dir.path().join("0001_a.sql")))
            ),
            (
                "0002_b".to_string(),
                Some(sha256sum(&dir.path().join("0002_b.sql")))
            ),
        ]
    );

    let again = run(&mut client, dir.path()).await.expect("re-runs");
    assert_eq!(again, Outcome::default());
    let rows: i64 = client
        .query_one("SELECT count(*) FROM a", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

#[tokio::test]
async fn a_changed_applied_file_stops_the_run_before_anything_is_applied() {
    let db = test_support::empty_database().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id int);\n");
    run(&mut client, dir.path()).await.expect("applies");
    let before = recorded(&client).await;

    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id bigint);\n");
    write(dir.path(), "0002_b.sql", "CREATE TABLE b (id int);\n");
    let err = run(&mut client, dir.path()).await.expect_err("refused");
    let verify = verify_error(&err);
    assert_eq!(verify.changed.len(), 1);
    let (file, was, now) = &verify.changed[0];
    assert_eq!(file, "0001_a.sql");
    assert_eq!(Some(was), before[0].1.as_ref());
    assert_eq!(now, &sha256sum(&dir.path().join("0001_a.sql")));
    assert!(verify.missing.is_empty());
    let message = err.to_string();
    assert!(
        message.contains("0001_a.sql changed after it was applied"),
        "{message}"
    );
    assert!(!table_exists(&client, "b").await, "nothing is applied");
    assert_eq!(recorded(&client).await, before);

    // Restored, the run goes on.
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id int);\n");
    let outcome = run(&mut client, dir.path()).await.expect("applies 0002");
    assert_eq!(outcome.applied, ["0002_b"]);
}

#[tokio::test]
async fn a_deleted_applied_file_stops_the_run() {
    let db = test_support::empty_database().await;
    let mut client = db.connect().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id int);\n");
    write(dir.path(), "0002_b.sql", "CREATE TABLE b (id int);\n");
    run(&mut client, dir.path()).await.expect("applies");

    std::fs::remove_file(dir.path().join("0001_a.sql")).unwrap();
    write(dir.path(), "0003_c.sql", "CREATE TABLE c (id int);\n");
    let err = run(&mut client, dir.path()).await.expect_err("refused");
    assert_eq!(verify_error(&err).missing, ["0001_a.sql"]);
    assert!(
        err.to_string()
            .contains("0001_a.sql was applied but the file is gone"),
        "{err}"
    );
    assert!(!table_exists(&client, "c").await);
}

#[tokio::test]
async fn migrations_applied_before_checksums_get_them_recorded_once() {
    let db = test_support::empty_database().await;
    let mut client = db.connect().await;
    // The table as migrators before checksums left it.
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (
                 version    text PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );
             CREATE TABLE a (id int);
             INSERT INTO schema_migrations (version) VALUES ('0001_a');",
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id int);\n");
    write(dir.path(), "0002_b.sql", "CREATE TABLE b (id int);\n");

    let outcome = run(&mut client, dir.path()).await.expect("upgrades");
    assert_eq!(outcome.checksums_recorded, ["0001_a"]);
    assert_eq!(outcome.applied, ["0002_b"]);
    let checksums: Vec<_> = recorded(&client).await.into_iter().map(|r| r.1).collect();
    assert_eq!(
        checksums,
        [
            Some(sha256sum(&dir.path().join("0001_a.sql"))),
            Some(sha256sum(&dir.path().join("0002_b.sql")))
        ]
    );

    // Recorded once: from now on a change is refused, and nothing is recorded again.
    assert_eq!(
        run(&mut client, dir.path()).await.unwrap(),
        Outcome::default()
    );
    write(
        dir.path(),
        "0001_a.sql",
        "CREATE TABLE a (id int, x int);\n",
    );
    let err = run(&mut client, dir.path()).await.expect_err("refused");
    assert_eq!(verify_error(&err).changed[0].0, "0001_a.sql");
}

#[tokio::test]
async fn the_command_names_the_changed_file_and_fails() {
    let db = test_support::empty_database().await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "0001_a.sql", "CREATE TABLE a (id int);\n");
    let migrate = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_todo-migrate"))
            .arg("--dir")
            .arg(dir)
            .arg(&db.url)
            .output()
            .expect("run todo-migrate")
    };
    let first = migrate(dir.path());
    assert!(first.status.success());
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "migrations: applied 0001_a\n"
    );

    write(
        dir.path(),
        "0001_a.sql",
        "CREATE TABLE a (id int, x int);\n",
    );
    let second = migrate(dir.path());
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("0001_a.sql changed after it was applied"),
        "{stderr}"
    );
}
