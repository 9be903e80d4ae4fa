//! The systemd user unit `init --install-systemd` writes: where it goes and
//! its text, which runs `kioku-mesh serve` (with `--config` when the daemon
//! configuration was written somewhere else with `init --out`).

use std::path::{Path, PathBuf};

/// Where the user unit goes: `<XDG config dir>/systemd/user/kioku-mesh.service`,
/// beside kioku-mesh's own configuration directory.
pub fn unit_path(config_dir: &Path) -> PathBuf {
    let base = config_dir
        .parent()
        .map_or_else(|| config_dir.to_path_buf(), Path::to_path_buf);
    base.join("systemd").join("user").join("kioku-mesh.service")
}

/// One `ExecStart` argument, quoted so that spaces survive, with systemd's
/// specifier (`%`) and variable (`$`) characters escaped.
fn quote(path: &Path) -> String {
    let text = path
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{text}\"")
}

/// The unit text. `exe` is the absolute path of `kioku-mesh`; `daemon_config`
/// is the configuration the daemon reads, passed as `--config` when
/// `explicit` (an `init --out` path, which must be absolute here).
pub fn unit(exe: &Path, daemon_config: &Path, explicit: bool) -> String {
    let exec = if explicit {
        format!("{} serve --config {}", quote(exe), quote(daemon_config))
    } else {
        format!("{} serve", quote(exe))
    };
    format!(
        "# Written by `kioku-mesh init --install-systemd`. Safe to edit; re-running
# with --force overwrites this file.
[Unit]
Description=kioku-mesh daemon (Zenoh router, storages, index keeper)
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={exec}
Restart=on-failure
RestartSec=5s
# The daemon reads {} and keeps its state in ~/.local/share/kioku-mesh.

[Install]
WantedBy=default.target
",
        daemon_config.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unit_names_an_explicit_config_quoted() {
        let text = unit(
            Path::new("/opt/km/bin/kioku-mesh"),
            Path::new("/srv/km 1/hub%.json5"),
            true,
        );
        assert!(
            text.contains(
                "ExecStart=\"/opt/km/bin/kioku-mesh\" serve --config \"/srv/km 1/hub%%.json5\"\n"
            ),
            "{text}"
        );
        let default = unit(
            Path::new("/opt/km/bin/kioku-mesh"),
            Path::new("/home/u/.config/kioku-mesh/zenohd.json5"),
            false,
        );
        assert!(
            default.contains("ExecStart=\"/opt/km/bin/kioku-mesh\" serve\n"),
            "{default}"
        );
    }

    #[test]
    fn the_unit_sits_beside_the_config_dir() {
        assert_eq!(
            unit_path(Path::new("/home/u/.config/kioku-mesh")),
            Path::new("/home/u/.config/systemd/user/kioku-mesh.service")
        );
    }
}
