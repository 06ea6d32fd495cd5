//! Every command takes its configuration file the same way — positionally, like
//! `rosey run CONFIG`, or as `--config CONFIG` — and the one-shot clients name the NATS
//! address they tried when nothing answers there.

use std::process::Command;

fn rosey() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.env_remove("NATS_URL");
    cmd
}

/// Every command that reads a configuration, with the arguments before it.
const COMMANDS: &[&[&str]] = &[
    &["run"],
    &["bot"],
    &["db-service"],
    &["web"],
    &["plugins"],
    &["plugins", "list"],
    &["moderator"],
    &["moderation", "log"],
    &["moderation", "state"],
    &["stats"],
    &["status"],
    &["db", "check"],
    &["db", "backup", "copy.db"],
    &["token", "list"],
];

#[test]
fn every_command_takes_the_config_positionally_and_as_a_flag() {
    for command in COMMANDS {
        for how in [&["rosey.json"][..], &["--config", "rosey.json"][..]] {
            let out = rosey()
                .arg("--check-args")
                .args(*command)
                .args(how)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "rosey {} {}: {}",
                command.join(" "),
                how.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Both at once is a usage error, not a silent choice.
        let both = rosey()
            .arg("--check-args")
            .args(*command)
            .args(["a.json", "--config", "b.json"])
            .output()
            .unwrap();
        assert_eq!(both.status.code(), Some(2), "rosey {}", command.join(" "));
    }
    // `rosey say` takes a message positionally, and the config as a flag.
    let say = rosey()
        .args(["--check-args", "say", "--config", "rosey.json", "hello"])
        .output()
        .unwrap();
    assert!(say.status.success());
}

#[test]
fn status_and_stats_name_the_nats_address_when_nothing_answers() {
    let nats = rosey_testkit::NatsServer::start();
    let url = nats.url();
    let status = rosey()
        .args(["status", "--wait", "0.2", "--nats-url", &url])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(1));
    let said = String::from_utf8_lossy(&status.stdout);
    assert!(
        said.contains(&format!("No Rosey process answered on the bus at {url}"))
            && said.contains("rosey demo"),
        "{said}"
    );
    let stats = rosey()
        .args(["stats", "--nats-url", &url])
        .output()
        .unwrap();
    assert_eq!(stats.status.code(), Some(1));
    let said = String::from_utf8_lossy(&stats.stderr);
    assert!(
        said.contains(&format!("NATS at {url}")) && said.contains("not running"),
        "{said}"
    );
}
