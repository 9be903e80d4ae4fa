//! `cargo xtask bench --tls-only`: what mutual TLS and the enforced
//! admission policy cost. Three real daemons on loopback (hub, spokes A and
//! B) enrolled by one CA, measured three ways with the same probe as the
//! mesh benchmark (a save on A until visible in B's index): plain TCP
//! links, TLS links with no policy, and TLS links with the policy enforced.
//! Then how long `tls revoke` takes to bite on the running mesh. Also the
//! messaging benchmark, on the same three hosts over plain TCP.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::Workspace;

/// Saves timed per variant.
const SAVES: usize = 500;

/// How the hosts are linked.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Links {
    /// Plain TCP.
    Tcp,
    Tls,
    Enforced,
}

impl Links {
    fn label(self) -> &'static str {
        match self {
            Self::Tcp => "plain TCP",
            Self::Tls => "mTLS, no policy",
            Self::Enforced => "mTLS, policy enforced",
        }
    }
}

/// One host: its home, plain loopback port and TLS port.
pub(crate) struct Host {
    pub(crate) home: PathBuf,
    port: u16,
    tls_port: u16,
    child: Option<Child>,
}

impl Drop for Host {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Host {
    fn new(root: &Path, name: &str) -> Result<Self> {
        let home = root.join(name);
        std::fs::create_dir_all(home.join("state"))?;
        Ok(Self {
            home,
            port: free_port()?,
            tls_port: free_port()?,
            child: None,
        })
    }

    fn km(&self, bin: &Path, args: &[&str], input: Option<&str>) -> Result<String> {
        use std::io::Write as _;
        let mut child = Command::new(bin)
            .args(args)
            .env("HOME", &self.home)
            .env("KIOKU_MESH_STATE_DIR", self.home.join("state"))
            .env("KIOKU_MESH_BACKEND", "zenoh")
            .env("ZENOH_CONNECT", self.endpoint())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.unwrap_or_default().as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "kioku-mesh {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("tcp/127.0.0.1:{}", self.port)
    }

    fn index(&self) -> String {
        self.home.join("state/mesh/index.db").display().to_string()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.home.join("serve.log")).unwrap_or_default()
    }

    fn serve(&mut self, bin: &Path, args: &[&str]) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.home.join("serve.log"))?;
        let child = Command::new(bin)
            .arg("serve")
            .args(args)
            .env("HOME", &self.home)
            .env("KIOKU_MESH_STATE_DIR", self.home.join("state"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting kioku-mesh serve")?;
        self.child = Some(child);
        self.wait_for(|h| h.log().contains("listening on"), "listen")
    }

    fn wait_for(&self, ready: impl Fn(&Self) -> bool, what: &str) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(self) {
            if Instant::now() > deadline {
                bail!("{} did not {what}:\n{}", self.home.display(), self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

/// Enroll `peer` with the CA on `ca` under `cn`.
fn enroll(bin: &Path, ca: &Host, peer: &Host, cn: &str) -> Result<()> {
    let blob = peer.km(
        bin,
        &["tls", "request", "--san", "127.0.0.1", "--cn", cn],
        None,
    )?;
    let bundle = ca.km(bin, &["tls", "sign"], Some(&blob))?;
    peer.km(bin, &["tls", "install"], Some(&bundle))?;
    Ok(())
}

/// Start hub and spokes linked as `links`; returns them running.
pub(crate) fn start(bin: &Path, root: &Path, links: Links) -> Result<[Host; 3]> {
    let _ = std::fs::remove_dir_all(root);
    let mut hub = Host::new(root, "hub")?;
    let mut a = Host::new(root, "a")?;
    let mut b = Host::new(root, "b")?;
    if links == Links::Tcp {
        hub.serve(bin, &["--listen", &hub.endpoint()])?;
        let connect = hub.endpoint();
        a.serve(bin, &["--listen", &a.endpoint(), "--connect", &connect])?;
        b.serve(bin, &["--listen", &b.endpoint(), "--connect", &connect])?;
        return Ok([hub, a, b]);
    }
    hub.km(bin, &["tls", "init-ca"], None)?;
    for (host, cn) in [(&hub, "hub"), (&a, "a"), (&b, "b")] {
        enroll(bin, &hub, host, cn)?;
    }
    let hub_tls = format!("tls/127.0.0.1:{}", hub.tls_port);
    let plain = hub.endpoint();
    hub.km(
        bin,
        &[
            "init", "--mode", "hub", "--tls", "--listen", &plain, "--listen", &hub_tls,
        ],
        None,
    )?;
    for spoke in [&a, &b] {
        let plain = spoke.endpoint();
        spoke.km(
            bin,
            &[
                "init",
                "--mode",
                "spoke",
                "--tls",
                "--listen",
                &plain,
                "--connect",
                &hub_tls,
            ],
            None,
        )?;
    }
    if links == Links::Tls {
        let _ = std::fs::remove_file(hub.home.join(".config/kioku-mesh/tls/policy.json"));
    }
    for host in [&mut hub, &mut a, &mut b] {
        host.serve(bin, &[])?;
    }
    if links == Links::Enforced {
        // Spokes fetch the hub's policy and restart to enforce it.
        for spoke in [&a, &b] {
            spoke.wait_for(|h| h.log().contains("access control: policy"), "enforce")?;
        }
    }
    Ok([hub, a, b])
}

/// The TLS benchmark; prints a section for docs/BENCHMARKS.md.
pub fn tls_bench(ws: &Workspace, release: &Path) -> Result<()> {
    let bin = release.join("kioku-mesh");
    let probe = release.join("examples/mesh_probe");
    let root = ws.target.join("bench-tls");
    println!("\n## mesh links: TLS and the admission policy (hub, spokes A and B)\n");
    for links in [Links::Tcp, Links::Tls, Links::Enforced] {
        let [hub, a, b] = start(&bin, &root, links)?;
        // Give the links a moment to settle after the spokes' restarts.
        std::thread::sleep(Duration::from_secs(2));
        let out = Command::new(&probe)
            .args(["latency", &a.endpoint(), &b.index(), &SAVES.to_string()])
            .stderr(Stdio::inherit())
            .output()
            .context("running mesh_probe")?;
        if !out.status.success() {
            bail!("mesh_probe failed over {}", links.label());
        }
        println!("### {}\n", links.label());
        println!("{}\n", String::from_utf8_lossy(&out.stdout).trim());
        if links == Links::Enforced {
            let started = Instant::now();
            hub.km(&bin, &["tls", "revoke", "b"], None)?;
            hub.wait_for(
                |h| h.log().matches("access control: policy").count() >= 2,
                "apply the revocation",
            )?;
            let on_hub = started.elapsed();
            a.wait_for(
                |h| h.log().matches("access control: policy").count() >= 2,
                "apply the revocation",
            )?;
            println!(
                "revocation: `tls revoke b` to the hub enforcing it {:.2} s; to spoke A enforcing it {:.2} s",
                on_hub.as_secs_f64(),
                started.elapsed().as_secs_f64()
            );
        }
        drop((hub, a, b));
    }
    Ok(())
}

/// Messaging across daemons: `msg_probe` sends 1,000 messages from agent
/// bob@a through spoke A to agent alice@b on spoke B (via the hub), timing
/// each until B's inbox lists it.
pub fn msg_bench(ws: &Workspace, release: &Path) -> Result<()> {
    let bin = release.join("kioku-mesh");
    let probe = release.join("examples/msg_probe");
    let root = ws.target.join("bench-msg");
    let [hub, a, b] = start(&bin, &root, Links::Tcp)?;
    std::thread::sleep(Duration::from_secs(2));
    let out = Command::new(&probe)
        .arg(a.endpoint())
        .arg(&a.home)
        .arg(b.endpoint())
        .arg(&b.home)
        .arg("1000")
        .stderr(Stdio::inherit())
        .output()
        .context("running msg_probe")?;
    if !out.status.success() {
        bail!("msg_probe failed");
    }
    println!("\n## messages (hub, spokes A and B, plain TCP)\n");
    println!("{}", String::from_utf8_lossy(&out.stdout).trim());
    drop((hub, a, b));
    Ok(())
}
