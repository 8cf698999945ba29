use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process on a free loopback port, killed on drop.
/// `stop` and `start` keep the port, so a test can simulate an outage and a recovery.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// Why a start did not give us a server of our own.
#[derive(Debug)]
enum NotStarted {
    /// The port was taken between choosing it and binding it (any process's outgoing
    /// connection can use a port that was free a moment before).
    PortTaken(String),
}

impl RedisServer {
    /// Starts a server on a free port; if the port was taken meanwhile, on another one.
    pub fn start() -> Self {
        let mut failures = Vec::new();
        for _ in 0..10 {
            let mut server = RedisServer {
                port: crate::free_port(),
                child: None,
            };
            match server.try_start() {
                Ok(()) => return server,
                Err(NotStarted::PortTaken(why)) => failures.push(why),
            }
        }
        panic!("redis-server could not start on a free port: {failures:?}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, the form `allowed_outbound_hosts` templates want.
    pub fn host_port(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server again on the same port and waits until it accepts connections. The
    /// port may be in use for a moment by someone else's connection: retried for a while.
    pub fn start_again(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.try_start() {
                Ok(()) => return,
                Err(NotStarted::PortTaken(why)) if Instant::now() < deadline => {
                    eprintln!("redis-server could not restart yet: {why}");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(NotStarted::PortTaken(why)) => panic!("{why}"),
            }
        }
    }

    fn try_start(&mut self) -> Result<(), NotStarted> {
        assert!(self.child.is_none(), "redis-server already running");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start redis-server (is it installed? scripts/test installs it)");
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        // Wait until *our* server answers on the port: after a stop, another test's
        // redis-server could have taken it, and talking to that one would be silently wrong.
        loop {
            match server_pid(self.port) {
                Some(answering) if answering == pid => return Ok(()),
                Some(other) => {
                    self.stop();
                    return Err(NotStarted::PortTaken(format!(
                        "port {} is served by another redis-server (pid {other}), not ours (pid {pid})",
                        self.port
                    )));
                }
                None => {}
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(NotStarted::PortTaken(format!(
                        "redis-server on port {} exited at start: {status}",
                        self.port
                    )));
                }
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the server (an outage, as far as clients can tell).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `process_id` of the redis-server answering on `port`, if one answers.
fn server_pid(port: u16) -> Option<u32> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut reply = Vec::new();
    let mut buffer = [0u8; 4096];
    while !String::from_utf8_lossy(&reply).contains("process_id:") || !reply.ends_with(b"\r\n") {
        let n = stream.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        reply.extend_from_slice(&buffer[..n]);
    }
    String::from_utf8_lossy(&reply)
        .lines()
        .find_map(|line| line.strip_prefix("process_id:"))
        .and_then(|pid| pid.trim().parse().ok())
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
