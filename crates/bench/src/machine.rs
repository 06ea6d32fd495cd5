//! What the figures were measured on: cores, memory, OS, load, and the versions of the
//! pieces (nats-server, SQLite, this build). Read from `/proc`, `/etc/os-release` and
//! `nats-server --version`; a value that cannot be read is reported as unknown, never guessed.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// The machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs (`processor` entries in /proc/cpuinfo).
    pub cores: Option<usize>,
    pub cpu_model: Option<String>,
    /// MemTotal, MiB.
    pub memory_mib: Option<u64>,
    /// PRETTY_NAME from /etc/os-release.
    pub os: Option<String>,
    pub kernel: Option<String>,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let (cores, cpu_model) = parse_cpuinfo(&cpuinfo);
        Machine {
            cores,
            cpu_model,
            memory_mib: parse_mem_total_kib(&meminfo).map(|k| k / 1024),
            os: parse_os_release(&os_release),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .ok()
                .map(|s| s.trim().to_string()),
        }
    }
}

/// Versions of what was measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Versions {
    pub rosey: String,
    /// "release" or "debug" (a debug build's figures are not meaningful).
    pub build: String,
    pub nats_server: Option<String>,
    pub sqlite: String,
}

impl Versions {
    pub fn read(nats_server: Option<&Path>) -> Versions {
        Versions {
            rosey: env!("CARGO_PKG_VERSION").to_string(),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
            nats_server: nats_server.and_then(nats_server_version),
            sqlite: rusqlite::version().to_string(),
        }
    }
}

/// `nats-server --version`, e.g. `nats-server: v2.10.18` → `v2.10.18`.
fn nats_server_version(binary: &Path) -> Option<String> {
    let out = Command::new(binary).arg("--version").output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let line = text.lines().next()?.trim();
    Some(
        line.strip_prefix("nats-server:")
            .unwrap_or(line)
            .trim()
            .to_string(),
    )
}

/// The 1-minute load average (/proc/loadavg), a hint of how busy the machine was.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parse_cpuinfo(text: &str) -> (Option<usize>, Option<String>) {
    let cores = text.lines().filter(|l| l.starts_with("processor")).count();
    let model = text
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string());
    let cores = if cores > 0 {
        Some(cores)
    } else {
        std::thread::available_parallelism().ok().map(|n| n.get())
    };
    (cores, model)
}

fn parse_mem_total_kib(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn parse_os_release(text: &str) -> Option<String> {
    let value = text.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(value.trim().trim_matches('"').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_machine_files() {
        let cpu = "processor\t: 0\nmodel name\t: Test CPU @ 2GHz\n\nprocessor\t: 1\nmodel name\t: Test CPU @ 2GHz\n";
        assert_eq!(
            parse_cpuinfo(cpu),
            (Some(2), Some("Test CPU @ 2GHz".to_string()))
        );
        assert_eq!(
            parse_mem_total_kib("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            Some(24_576_000)
        );
        assert_eq!(
            parse_os_release("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n"),
            Some("Debian GNU/Linux 13 (trixie)".to_string())
        );
    }

    #[test]
    fn reads_this_machine() {
        let m = Machine::read();
        assert!(m.cores.unwrap_or(0) >= 1);
        assert!(!Versions::read(None).sqlite.is_empty());
    }
}
