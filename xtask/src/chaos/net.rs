//! The chaos mesh's network: one namespace per host, joined through a
//! bridge that lives in a namespace of its own, so that nothing touches
//! the machine's interfaces. Faults are applied on the bridge side of a
//! host's veth pair. Everything made here is removed by [`Net::drop`].

use std::process::Command;

use anyhow::{Context, Result, bail};

/// Prefix of every namespace and link this harness makes.
const PREFIX: &str = "kmchaos";

/// The namespaces and veth pairs of one run.
pub struct Net {
    hosts: Vec<String>,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running ip (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `ip netns exec <ns> <program> <args>` as a command to finish.
pub fn in_ns(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

fn run_in(ns: &str, program: &str, args: &[&str]) -> Result<()> {
    let out = in_ns(ns, program)
        .args(args)
        .output()
        .with_context(|| format!("running {program} in {ns}"))?;
    if !out.status.success() {
        bail!(
            "{program} {} in {ns}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

impl Net {
    /// The namespace of `host`.
    pub fn ns(host: &str) -> String {
        format!("{PREFIX}-{host}")
    }

    fn bridge_ns() -> String {
        format!("{PREFIX}-br")
    }

    /// The bridge-side end of `host`'s link.
    fn port(host: &str) -> String {
        format!("kc-{host}")
    }

    /// The address of host number `i` (the hub is 1).
    pub fn addr(i: usize) -> String {
        format!("10.77.0.{}", i + 1)
    }

    /// Make the namespaces, the bridge and one link per host, after
    /// removing anything a killed earlier run left behind.
    pub fn create(hosts: &[&str]) -> Result<Self> {
        Self::sweep();
        let net = Self {
            hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        };
        let br = Self::bridge_ns();
        ip(&["netns", "add", &br])?;
        run_in(&br, "ip", &["link", "add", "br0", "type", "bridge"])?;
        run_in(&br, "ip", &["link", "set", "br0", "up"])?;
        for (i, host) in hosts.iter().enumerate() {
            let ns = Self::ns(host);
            let port = Self::port(host);
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link", "add", &port, "type", "veth", "peer", "name", "kc-eth",
            ])?;
            ip(&["link", "set", &port, "netns", &br])?;
            ip(&["link", "set", "kc-eth", "netns", &ns])?;
            run_in(&br, "ip", &["link", "set", &port, "master", "br0"])?;
            run_in(&br, "ip", &["link", "set", &port, "up"])?;
            run_in(
                &ns,
                "ip",
                &[
                    "addr",
                    "add",
                    &format!("{}/24", Self::addr(i)),
                    "dev",
                    "kc-eth",
                ],
            )?;
            run_in(&ns, "ip", &["link", "set", "kc-eth", "up"])?;
            run_in(&ns, "ip", &["link", "set", "lo", "up"])?;
        }
        Ok(net)
    }

    /// Cut `host` off (both directions).
    pub fn link_down(&self, host: &str) -> Result<()> {
        run_in(
            &Self::bridge_ns(),
            "ip",
            &["link", "set", &Self::port(host), "down"],
        )
    }

    /// Reconnect `host`.
    pub fn link_up(&self, host: &str) -> Result<()> {
        run_in(
            &Self::bridge_ns(),
            "ip",
            &["link", "set", &Self::port(host), "up"],
        )
    }

    /// Impair traffic towards `host` with a `tc netem` specification
    /// (`delay 200ms loss 20%`, or `loss 100%`: one-way loss).
    pub fn netem(&self, host: &str, spec: &str) -> Result<()> {
        let port = Self::port(host);
        let mut args = vec!["qdisc", "replace", "dev", port.as_str(), "root", "netem"];
        args.extend(spec.split_whitespace());
        run_in(&Self::bridge_ns(), "tc", &args)
    }

    /// Remove any impairment towards `host`.
    pub fn clear(&self, host: &str) {
        let _ = run_in(
            &Self::bridge_ns(),
            "tc",
            &["qdisc", "del", "dev", &Self::port(host), "root"],
        );
    }

    /// Heal everything: links up, impairments gone.
    pub fn heal(&self) {
        for host in &self.hosts {
            self.clear(host);
            let _ = self.link_up(host);
        }
    }

    /// Whether `tc netem` works here (the sch_netem module may be absent).
    pub fn has_netem(&self) -> bool {
        let Some(host) = self.hosts.first() else {
            return false;
        };
        let ok = self.netem(host, "delay 1ms").is_ok();
        self.clear(host);
        ok
    }

    /// Delete every namespace of this harness (links go with them).
    fn sweep() {
        let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
            return;
        };
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some(name) = line.split_whitespace().next()
                && name.starts_with(PREFIX)
            {
                let _ = ip(&["netns", "del", name]);
            }
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        Self::sweep();
    }
}
