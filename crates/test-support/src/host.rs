use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The `todo-host` binary: `TODO_HOST_BIN` if set, else the debug build in `target/`.
pub fn host_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TODO_HOST_BIN") {
        return PathBuf::from(path);
    }
    let path = crate::repo_root().join("target/debug/todo-host");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build -p todo-host` (scripts/test does)",
        path.display()
    );
    path
}

/// How to start the local host: `todo-host up -f <manifest> --listen 127.0.0.1:0 ...`.
pub struct HostBuilder {
    manifest: PathBuf,
    components: Vec<String>,
    env: Vec<(String, String)>,
    runtime_config: Option<PathBuf>,
    current_dir: Option<PathBuf>,
    ready_timeout: Duration,
}

impl HostBuilder {
    pub fn new(manifest: impl Into<PathBuf>) -> Self {
        HostBuilder {
            manifest: manifest.into(),
            components: Vec::new(),
            env: Vec::new(),
            runtime_config: None,
            current_dir: None,
            ready_timeout: Duration::from_secs(180),
        }
    }

    /// Runs only this component (repeatable), like `spin up --component-id`.
    pub fn component(mut self, id: &str) -> Self {
        self.components.push(id.to_string());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Sets a Spin application variable through `SPIN_VARIABLE_<NAME>`.
    pub fn variable(self, name: &str, value: impl Into<String>) -> Self {
        let key = format!("SPIN_VARIABLE_{}", name.to_uppercase());
        self.env(&key, value)
    }

    pub fn runtime_config(mut self, path: impl Into<PathBuf>) -> Self {
        self.runtime_config = Some(path.into());
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(host_binary());
        command
            .arg("up")
            .arg("-f")
            .arg(&self.manifest)
            .args(["--listen", "127.0.0.1:0"]);
        if let Some(rc) = &self.runtime_config {
            command.arg("--runtime-config-file").arg(rc);
        }
        for id in &self.components {
            command.args(["--component-id", id]);
        }
        for (key, _) in std::env::vars() {
            if key.starts_with("SPIN_VARIABLE_") {
                command.env_remove(key);
            }
        }
        command
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        command
    }

    /// Starts the host and waits until it prints `todo-host: ready`.
    /// Panics (with everything the host printed) if it exits or is not ready in time.
    pub fn spawn(self) -> HostProcess {
        let mut process = HostProcess::start(self.command());
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if process.output().contains("todo-host: ready") {
                break;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!(
                    "todo-host exited ({status}) before it was ready:\n{}",
                    process.output()
                );
            }
            if Instant::now() > deadline {
                panic!("todo-host was not ready in time:\n{}", process.output());
            }
            process.wait_for_change(Duration::from_millis(50));
        }
        process.base_url = process
            .output()
            .lines()
            .find_map(|line| line.split("Serving ").nth(1))
            .map(|url| url.trim().trim_end_matches('/').to_string());
        process
    }

    /// Runs the host until it exits by itself (for start-up refusals) and returns its exit
    /// status and output. Panics if it is still running after `timeout`.
    pub fn run_to_exit(self, timeout: Duration) -> (ExitStatus, String) {
        let mut process = HostProcess::start(self.command());
        let status = process
            .wait_for_exit(timeout)
            .unwrap_or_else(|| panic!("todo-host did not exit:\n{}", process.output()));
        (status, process.output())
    }
}

type SharedOutput = Arc<(Mutex<String>, Condvar)>;

/// A running host. Killed (SIGKILL) on drop.
pub struct HostProcess {
    child: Child,
    output: SharedOutput,
    /// The threads copying stdout and stderr into `output`; they end at the pipes' EOF.
    readers: Vec<std::thread::JoinHandle<()>>,
    base_url: Option<String>,
}

impl HostProcess {
    fn start(mut command: Command) -> HostProcess {
        let mut child = command.spawn().expect("spawn todo-host");
        let output: SharedOutput = Arc::new((Mutex::new(String::new()), Condvar::new()));
        let echo = std::env::var_os("TEST_HOST_LOG").is_some();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("piped stdout")),
            Box::new(child.stderr.take().expect("piped stderr")),
        ];
        let mut readers = Vec::new();
        for pipe in pipes {
            let output = Arc::clone(&output);
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if echo {
                        eprintln!("[host] {line}");
                    }
                    let (text, changed) = &*output;
                    let mut text = text.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                    changed.notify_all();
                }
            }));
        }
        HostProcess {
            child,
            output,
            readers,
            base_url: None,
        }
    }

    /// `http://127.0.0.1:<port>` as printed by the host.
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .expect("the host printed no `Serving http://...` line")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the host printed so far (stdout and stderr, interleaved by line).
    pub fn output(&self) -> String {
        self.output.0.lock().unwrap().clone()
    }

    fn wait_for_change(&self, at_most: Duration) {
        let (text, changed) = &*self.output;
        let guard = text.lock().unwrap();
        let _ = changed.wait_timeout(guard, at_most).unwrap();
    }

    /// Waits until the output contains `needle`; false if it did not within `timeout`.
    pub fn wait_for_output(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return true;
            }
            self.wait_for_change(Duration::from_millis(50));
        }
        self.output().contains(needle)
    }

    /// Waits for the process to exit by itself; None if it is still running after `timeout`.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Everything the process wrote is read once its pipes reach EOF.
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
