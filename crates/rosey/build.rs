//! Records the git commit the binary is built from (`rosey_build_info{commit}`,
//! `rosey status`). Outside a git checkout it is `unknown`.

fn main() {
    println!("cargo:rerun-if-env-changed=ROSEY_GIT_COMMIT");
    let commit = std::env::var("ROSEY_GIT_COMMIT").ok().or_else(|| {
        std::process::Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_string())
    });
    println!(
        "cargo:rustc-env=ROSEY_GIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".into())
    );
}
