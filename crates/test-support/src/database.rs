use std::sync::OnceLock;

use anyhow::{Context, Result};
use tokio_postgres::{Client, Config, NoTls};

/// A database of its own for one test, on the throw-away cluster named by `TEST_PG_URL`.
pub struct TestDatabase {
    pub name: String,
    /// `postgres://user[:password]@host:port/name`
    pub url: String,
    /// `host:port`, the form `allowed_outbound_hosts` templates want.
    pub host_port: String,
}

impl TestDatabase {
    pub async fn connect(&self) -> Client {
        connect(&self.url)
            .await
            .expect("connect to the test database")
    }
}

struct Cluster {
    user: String,
    password: Option<String>,
    host: String,
    port: u16,
    admin_url: String,
}

impl Cluster {
    fn url(&self, database: &str) -> String {
        let credentials = match &self.password {
            Some(password) => format!("{}:{}", self.user, password),
            None => self.user.clone(),
        };
        format!(
            "postgres://{credentials}@{}:{}/{database}",
            self.host, self.port
        )
    }
}

fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let admin_url = std::env::var("TEST_PG_URL").expect(
            "TEST_PG_URL is not set: run the tests with scripts/test, which starts a throw-away PostgreSQL",
        );
        let config: Config = admin_url.parse().expect("TEST_PG_URL is a postgres URL");
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => panic!("TEST_PG_URL must name a TCP host"),
        };
        Cluster {
            user: config.get_user().unwrap_or("postgres").to_string(),
            password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            admin_url,
        }
    })
}

async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("connect to {url}"))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A new, empty database with every migration of `migrations/` applied (cloned from a
/// template database that is migrated once per distinct set of migration files).
pub async fn fresh_database() -> TestDatabase {
    let cluster = cluster();
    let migrations =
        todo_migrate::load_dir(&crate::repo_root().join("migrations")).expect("read migrations/");
    let template = format!("tmpl_{}", todo_migrate::fingerprint(&migrations));
    let admin = connect(&cluster.admin_url)
        .await
        .expect("connect TEST_PG_URL");

    // Serialise template creation across concurrently running test binaries.
    admin
        .execute("SELECT pg_advisory_lock(727274)", &[])
        .await
        .expect("advisory lock");
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await
        .expect("look up template")
        .is_some();
    if !exists {
        let building = format!("{template}_building");
        // Left over by a run that died half-way; separate statements, since DROP/CREATE
        // DATABASE cannot run inside the implicit transaction of a multi-statement string.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {building}"))
            .await
            .expect("drop a stale template database");
        admin
            .batch_execute(&format!("CREATE DATABASE {building}"))
            .await
            .expect("create template database");
        {
            let mut client = connect(&cluster.url(&building))
                .await
                .expect("connect template");
            todo_migrate::apply(&mut client, &migrations)
                .await
                .expect("apply migrations to the template");
        }
        admin
            .batch_execute(&format!("ALTER DATABASE {building} RENAME TO {template}"))
            .await
            .expect("publish template");
    }
    admin
        .execute("SELECT pg_advisory_unlock(727274)", &[])
        .await
        .expect("advisory unlock");

    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    create_database(&admin, &name, Some(&template)).await;
    database(cluster, name)
}

/// A new database with nothing in it (for tests of the migrations themselves, or of the host).
pub async fn empty_database() -> TestDatabase {
    let cluster = cluster();
    let admin = connect(&cluster.admin_url)
        .await
        .expect("connect TEST_PG_URL");
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    create_database(&admin, &name, None).await;
    database(cluster, name)
}

fn database(cluster: &Cluster, name: String) -> TestDatabase {
    TestDatabase {
        url: cluster.url(&name),
        host_port: format!("{}:{}", cluster.host, cluster.port),
        name,
    }
}

async fn create_database(admin: &Client, name: &str, template: Option<&str>) {
    let sql = match template {
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
        None => format!("CREATE DATABASE {name}"),
    };
    // Cloning fails while another session is still connected to the template: retry (for up
    // to a minute, however slow the machine).
    let mut attempts = 0;
    loop {
        match admin.batch_execute(&sql).await {
            Ok(()) => return,
            Err(e) if attempts < 600 => {
                attempts += 1;
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("{sql}: {e}"),
        }
    }
}
