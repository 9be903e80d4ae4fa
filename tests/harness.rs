//! Test harness: run our binaries (and the Python reference) in a sandbox
//! with its own HOME and state directory, every wait bounded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long one command may run before the test fails.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Directory holding the built binaries.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KIOKU_MESH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // target/debug/deps/e2e-<hash> -> target/debug
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target directory")
        .to_path_buf()
}

/// Path of one of our binaries; fails with the fix when it is not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo xtask test` (or `cargo build --bins` first)",
        path.display()
    );
    path
}

/// The Python reference's `kioku-mesh`, when installed by `cargo xtask test`.
/// Returns `None` (and says so) when absent, unless the run requires it.
pub fn reference_bin() -> Option<PathBuf> {
    test_tool("KIOKU_MESH_REF_BIN")
}

/// A tool `cargo xtask test` installs and names in `var`. Returns `None` (and
/// says so) when absent, unless the run requires the tools.
pub fn test_tool(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => {
            assert!(
                std::env::var_os("KIOKU_MESH_REQUIRE_REFERENCE").is_none(),
                "{var} does not point at an installed test tool; `cargo xtask test` installs it"
            );
            eprintln!("skipping: {var} is not set (run `cargo xtask test`)");
            None
        }
    }
}

/// Result of one command.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Assert success and return stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "expected success\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Assert the exit status and return stderr.
    #[track_caller]
    pub fn fails_with(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "unexpected status\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stderr
    }
}

/// A temporary HOME and state directory.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("home")).expect("home");
        let mut s = Self {
            dir,
            vars: Vec::new(),
        };
        let home = s.home().display().to_string();
        let state = s.state_dir().display().to_string();
        s.set("HOME", &home);
        s.set("KIOKU_MESH_STATE_DIR", &state);
        s.set("USER", "tester");
        s.set("KIOKU_MESH_AGENT_FAMILY", "claude");
        s.set("KIOKU_MESH_CLIENT_ID", "tester@host");
        s
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home().join(".config/kioku-mesh")
    }

    /// The local-mode database.
    pub fn local_db(&self) -> PathBuf {
        self.state_dir().join("local/raw.db")
    }

    /// Set (or replace) an environment variable for every command.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Remove a sandbox variable (the command then runs without it).
    pub fn unset(&mut self, name: &str) -> &mut Self {
        self.vars.retain(|(k, _)| k != name);
        self
    }

    /// The value of a sandbox variable.
    pub fn var(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// The sandbox's variables as a library [`mesh_core::Environment`].
    pub fn environment(&self) -> mesh_core::Environment {
        let mut env = mesh_core::Environment::empty(self.dir.path(), Some(self.home()));
        for (k, v) in &self.vars {
            env = env.with_var(k, v);
        }
        env
    }

    /// A command with a clean environment: PATH plus the sandbox's variables.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        cmd
    }

    /// `sh -c script kioku-mesh args...` with the sandbox's environment, so
    /// the script calls our binary as `"$0"` and sees `args` as `$1...`.
    pub fn shell(&self, script: &str, args: &[&std::ffi::OsStr]) -> Command {
        let mut cmd = self.command(Path::new("sh"));
        cmd.arg("-c").arg(script).arg(bin("kioku-mesh")).args(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Run `kioku-mesh` with `args`.
    pub fn km(&self, args: &[&str]) -> Run {
        run_bounded(self.command(&bin("kioku-mesh")).args(args), None)
    }

    /// Run `kioku-mesh` with `args`, feeding `input` on stdin.
    pub fn km_stdin(&self, args: &[&str], input: &str) -> Run {
        run_bounded(self.command(&bin("kioku-mesh")).args(args), Some(input))
    }

    /// Run any program in the sandbox.
    pub fn run(&self, program: &Path, args: &[&str]) -> Run {
        run_bounded(self.command(program).args(args), None)
    }

    /// Run `save c --subject s --summary m` plus `extra`, whatever the outcome.
    pub fn try_save(&self, extra: &[&str]) -> Run {
        let mut args = vec!["save", "c", "--subject", "s", "--summary", "m"];
        args.extend_from_slice(extra);
        self.km(&args)
    }

    /// Save `content` with the required metadata plus `extra`, whatever the
    /// outcome (saved, queued or refused).
    pub fn save_run(&self, content: &str, extra: &[&str]) -> Run {
        let mut args = vec![
            "save",
            content,
            "--subject",
            "subject",
            "--summary",
            "summary",
        ];
        args.extend_from_slice(extra);
        self.km(&args)
    }

    /// Save with the required metadata; returns the new id.
    #[track_caller]
    pub fn save(&self, content: &str, extra: &[&str]) -> String {
        saved_id(self.save_run(content, extra).ok())
    }

    /// Search with `--format json` and return the parsed documents.
    #[track_caller]
    pub fn search_json(&self, args: &[&str]) -> Vec<serde_json::Value> {
        let mut all = vec!["search", "--format", "json"];
        all.extend_from_slice(args);
        let out = self.km(&all);
        serde_json::from_str(out.ok().trim()).expect("search --format json prints a JSON array")
    }
}

/// The id in a `saved: <id> (visibility=...)` line.
#[track_caller]
pub fn saved_id(stdout: &str) -> String {
    let line = stdout.lines().next().unwrap_or_default();
    let id = line
        .strip_prefix("saved: ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("not a save line: {stdout:?}"));
    assert_eq!(id.len(), 32, "{line}");
    id.to_owned()
}

/// Run to completion within [`COMMAND_TIMEOUT`], killing it otherwise.
pub fn run_bounded(cmd: &mut Command, input: Option<&str>) -> Run {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {}: {e}", cmd.get_program().to_string_lossy()));
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(text.as_bytes());
    }
    wait_bounded(child, COMMAND_TIMEOUT)
}

/// Wait for `child`, killing it and failing the test after `timeout`. Its
/// pipes are drained meanwhile, so a large output cannot stall it.
pub fn wait_bounded(mut child: Child, timeout: Duration) -> Run {
    fn drain(
        pipe: Option<impl std::io::Read + Send + 'static>,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    }
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Err(e) => panic!("waiting for a child: {e}"),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "command timed out after {timeout:?}: {}",
            String::from_utf8_lossy(&stderr)
        );
    };
    Run::from_output(Output {
        status,
        stdout,
        stderr,
    })
}

/// Poll `check` until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    check()
}

/// True when this process runs as root (permissions do not stop it).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

/// A loopback port nobody listens on right now (asked from the OS).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    listener.local_addr().expect("local address").port()
}

/// True once something accepts TCP connections on `port`.
pub fn listening(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

/// A running `kioku-mesh serve`, killed when dropped.
pub struct Daemon {
    child: Option<Child>,
    pub port: u16,
    pub log: PathBuf,
}

impl Daemon {
    /// Start `kioku-mesh serve` for `sandbox` on `port`, dialing `connect`,
    /// and wait until it listens.
    #[track_caller]
    pub fn start(sandbox: &Sandbox, port: u16, connect: &[u16]) -> Self {
        let listen = format!("tcp/127.0.0.1:{port}");
        let mut args = vec!["serve".to_owned(), "--listen".to_owned(), listen];
        for c in connect {
            args.push("--connect".to_owned());
            args.push(format!("tcp/127.0.0.1:{c}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self::spawn(sandbox, port, &args)
    }

    /// Run `kioku-mesh <args>` (a daemon-like command) and wait until
    /// something listens on `port` and the daemon says it is ready (its
    /// index is open).
    #[track_caller]
    pub fn spawn(sandbox: &Sandbox, port: u16, args: &[&str]) -> Self {
        let log = sandbox
            .dir
            .path()
            .join(format!("serve-{port}-{}.log", std::process::id()));
        let mut cmd = sandbox.command(&bin("kioku-mesh"));
        cmd.args(args);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("daemon log");
        cmd.stdout(file.try_clone().expect("log handle"))
            .stderr(file);
        let child = cmd.spawn().expect("spawning kioku-mesh serve");
        let mut daemon = Self {
            child: Some(child),
            port,
            log,
        };
        let up = eventually(Duration::from_secs(30), || {
            daemon.exited().is_none()
                && listening(port)
                && daemon.log_text().contains("kioku-mesh serve: router ")
        });
        assert!(up, "serve did not listen on {port}:\n{}", daemon.log_text());
        daemon
    }

    /// The exit status, if the daemon has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Everything the daemon printed.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The executable the daemon's process runs now (`/proc/<pid>/exe`).
    pub fn executable(&self) -> PathBuf {
        std::fs::read_link(format!("/proc/{}/exe", self.pid())).unwrap_or_default()
    }

    /// The daemon's command line as `ps` shows it (`/proc/<pid>/cmdline`).
    pub fn command_line(&self) -> Vec<String> {
        std::fs::read(format!("/proc/{}/cmdline", self.pid()))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|part| !part.is_empty())
            .map(|part| String::from_utf8_lossy(part).into_owned())
            .collect()
    }

    fn pid(&self) -> String {
        self.child
            .as_ref()
            .map(|c| c.id().to_string())
            .unwrap_or_default()
    }

    /// Stop with SIGTERM and wait (bounded) for a clean exit.
    #[track_caller]
    pub fn stop(mut self) -> i32 {
        let pid = self.pid();
        let _ = Command::new("kill").args(["-s", "TERM", &pid]).status();
        let child = self.child.take().expect("a running daemon");
        let run = wait_bounded(child, Duration::from_secs(20));
        assert!(
            !listening(self.port),
            "port {} still open after SIGTERM",
            self.port
        );
        run.code
    }

    /// Send `signal` (a name such as `STOP` or `CONT`) to the daemon.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args(["-s", signal, &self.pid()])
            .status();
        assert!(status.is_ok_and(|s| s.success()), "kill -s {signal} failed");
    }

    /// Kill with SIGKILL, no chance to clean up.
    pub fn kill9(mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `tls request` on `peer` (SAN 127.0.0.1, common name `cn`), signed on the
/// CA host `ca` with `scopes`, installed on `peer`: the copy-paste flow,
/// with the real CLI.
pub fn enroll(ca: &Sandbox, peer: &Sandbox, cn: &str, scopes: &[&str]) {
    let blob = peer
        .km(&["tls", "request", "--san", "127.0.0.1", "--cn", cn])
        .ok()
        .to_owned();
    let mut args = vec!["tls", "sign"];
    for scope in scopes {
        args.extend(["--scope", scope]);
    }
    let bundle = ca.km_stdin(&args, &blob).ok().to_owned();
    peer.km_stdin(&["tls", "install"], &bundle).ok();
}

/// Run the CLI in `s` as the agent `agent` (its client id), with `input` on
/// standard input.
pub fn as_agent(s: &Sandbox, agent: &str, args: &[&str], input: Option<&str>) -> Run {
    let mut cmd = s.command(&bin("kioku-mesh"));
    cmd.env("KIOKU_MESH_CLIENT_ID", agent).args(args);
    run_bounded(&mut cmd, input)
}
