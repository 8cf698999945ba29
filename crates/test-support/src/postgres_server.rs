use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::TestDatabase;

/// A throw-away PostgreSQL cluster of its own (initdb in a temporary directory, a free
/// loopback port, trust auth), for tests that must stop and start the server: `stop` and
/// `start_again` keep the data and the port. As root, the server runs as the system user
/// `todo-pg` (PostgreSQL refuses to run as root), as scripts/lib.sh does. Stopped and removed
/// on drop.
pub struct PostgresServer {
    dir: PathBuf,
    port: u16,
    bindir: PathBuf,
    run_as: Option<String>,
    running: bool,
}

/// Where `initdb`/`pg_ctl` live: `/usr/lib/postgresql/<version>/bin`, else `PATH`.
fn pg_bindir() -> PathBuf {
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        dirs.sort();
        if let Some(dir) = dirs.pop() {
            return dir;
        }
    }
    let output = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .expect("run sh");
    let path = String::from_utf8_lossy(&output.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "PostgreSQL server binaries (initdb) not found; scripts/test installs them"
    );
    Path::new(&path).parent().unwrap().to_path_buf()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn check(what: &str, output: std::io::Result<Output>) -> Output {
    let output = output.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl PostgresServer {
    /// initdb + start; waits until the server accepts connections.
    pub fn start() -> Self {
        let bindir = pg_bindir();
        let dir =
            std::env::temp_dir().join(format!("test-pg-server-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("create the cluster directory");
        let run_as = if is_root() {
            let exists = Command::new("id")
                .args(["-u", "todo-pg"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if !exists {
                check(
                    "useradd todo-pg",
                    Command::new("useradd")
                        .args([
                            "--system",
                            "--no-create-home",
                            "--shell",
                            "/usr/sbin/nologin",
                            "todo-pg",
                        ])
                        .output(),
                );
            }
            check(
                "chown the cluster directory",
                Command::new("chown").arg("todo-pg").arg(&dir).output(),
            );
            Some("todo-pg".to_string())
        } else {
            None
        };
        let mut server = PostgresServer {
            dir,
            port: crate::free_port(),
            bindir,
            run_as,
            running: false,
        };
        let data = server.dir.join("data");
        check(
            "initdb",
            server
                .command("initdb")
                .arg("-D")
                .arg(&data)
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ])
                .output(),
        );
        server.start_again();
        server
    }

    fn command(&self, program: &str) -> Command {
        let binary = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(binary);
                c
            }
            None => Command::new(binary),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, the form `allowed_outbound_hosts` templates want.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Starts the server (again) on the same port with the same data; waits until it accepts
    /// connections (pg_ctl -w).
    pub fn start_again(&mut self) {
        assert!(!self.running, "PostgreSQL already running");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off",
            self.port,
            self.dir.display()
        );
        check(
            "pg_ctl start",
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"])
                .output(),
        );
        self.running = true;
        // pg_ctl -w waited for readiness; make sure TCP answers too.
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL is not listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server the hard way (`-m immediate`: every backend is killed, no checkpoint,
    /// crash recovery on the next start): an outage as clients see it.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "-t", "60", "stop"])
            .output();
        self.running = false;
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// A new database on this server with every migration of `migrations/` applied.
    pub async fn migrated_database(&self) -> TestDatabase {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let (admin, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .expect("connect to the test server");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        let (mut client, connection) =
            tokio_postgres::connect(&self.url(&name), tokio_postgres::NoTls)
                .await
                .expect("connect to the new database");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let migrations = todo_migrate::load_dir(&crate::repo_root().join("migrations"))
            .expect("read migrations/");
        todo_migrate::apply(&mut client, &migrations)
            .await
            .expect("apply migrations");
        TestDatabase {
            url: self.url(&name),
            host_port: self.host_port(),
            name,
        }
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
