//! What the `rosey` binary says about its build (`rosey --version`, `rosey status`,
//! `rosey_build_info`): the git commit it is built from and the build date.
//!
//! - `ROSEY_GIT_COMMIT`: `git rev-parse --short=12 HEAD`; the variable overrides (a source
//!   tarball, the Docker build), `unknown` outside a git checkout.
//! - `ROSEY_BUILD_DATE`: the UTC date (`YYYY-MM-DD`) the script ran, or of
//!   `SOURCE_DATE_EPOCH` when set (reproducible builds).
//!
//! It reruns only when the commit can have changed: when `.git/HEAD`, the branch it points
//! to or `packed-refs` change, or one of those variables. It names only files that exist: a
//! missing file counts as changed, and would rebuild `rosey` on every build. Nothing about
//! test tools or `CI` belongs here (tests look for their tools when they run:
//! `rosey_testkit::tools`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ROSEY_GIT_COMMIT");
    println!("cargo::rerun-if-env-changed=SOURCE_DATE_EPOCH");
    let commit = std::env::var("ROSEY_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    println!(
        "cargo::rustc-env=ROSEY_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
    for file in git_files() {
        println!("cargo::rerun-if-changed={}", file.display());
    }
    println!("cargo::rustc-env=ROSEY_BUILD_DATE={}", build_date());
}

/// `git args…`'s trimmed output, when git runs and succeeds.
fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The files whose change means another commit: HEAD, the loose ref HEAD points to and
/// `packed-refs` (work trees included: git resolves each path), those that exist.
fn git_files() -> Vec<PathBuf> {
    let mut names = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        names.push(branch);
    }
    names
        .iter()
        .filter_map(|name| git(&["rev-parse", "--path-format=absolute", "--git-path", name]))
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .collect()
}

/// Today's UTC date, or `SOURCE_DATE_EPOCH`'s.
fn build_date() -> String {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
