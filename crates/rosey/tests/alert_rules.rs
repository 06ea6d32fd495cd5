//! The alerting rules in `deploy/prometheus/alerts.yml`: every alert is unit-tested by
//! `promtool test rules` (`alerts.test.yml`: it fires on the situation it names and not on
//! its healthy neighbour), names only metrics Rosey exports, and is wired into both
//! Prometheus configurations, the compose file and the Kubernetes manifests.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use rosey_testkit::{read_repo_file as read, repo_root as repo};
use serde::Deserialize;
use serde_json::Value;

fn yaml(text: &str) -> Value {
    Value::deserialize(serde_norway::Deserializer::from_str(text)).expect("YAML")
}

/// The alerts an operator needs (issue 30), by name.
const ALERTS: &[&str] = &[
    "RoseyChannelDisconnected",
    "RoseyChannelWithoutBot",
    "RoseyDbServiceDown",
    "RoseyDbServiceNotReady",
    "RoseyIngestStalled",
    "RoseyJetStreamBacklogGrowing",
    "RoseyDbBreakerOpen",
    "RoseyDiskNearlyFull",
    "RoseyPluginUnavailable",
];

fn rules() -> Vec<Value> {
    let file = yaml(&read("deploy/prometheus/alerts.yml"));
    file["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn the_rules_pass_promtool_and_every_alert_has_its_unit_test() {
    if !rosey_testkit::tools::promtool() {
        return;
    }
    let dir = repo().join("deploy/prometheus");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["test", "rules", "alerts.test.yml"],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn every_alert_is_there_and_tested_firing() {
    let names: BTreeSet<String> = rules()
        .iter()
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect();
    let wanted: BTreeSet<String> = ALERTS.iter().map(|s| s.to_string()).collect();
    assert_eq!(names, wanted);
    let tests = yaml(&read("deploy/prometheus/alerts.test.yml"));
    let fired: BTreeSet<&str> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().cloned().unwrap_or_default())
        .filter(|c| c["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .filter_map(|c| {
            let name = c["alertname"].as_str()?;
            ALERTS.iter().copied().find(|a| *a == name)
        })
        .collect();
    let untested: Vec<_> = ALERTS.iter().filter(|a| !fired.contains(*a)).collect();
    assert!(untested.is_empty(), "no firing test for {untested:?}");
}

/// Every `rosey_*` metric an alert reads is one the code registers (a renamed metric would
/// leave an alert that can never fire).
#[test]
fn alerts_read_only_metrics_rosey_exports() {
    let mut registered = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("crates")).unwrap() {
        collect_names(&entry.unwrap().path().join("src"), &mut registered);
    }
    assert!(registered.contains("rosey_bot_connected"), "{registered:?}");
    for rule in rules() {
        let expr = rule["expr"].as_str().unwrap();
        for token in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !token.starts_with("rosey_") {
                continue;
            }
            let family = token.strip_suffix("_total").unwrap_or(token);
            assert!(
                registered.contains(family),
                "{}: {token} is not a metric Rosey exports",
                rule["alert"]
            );
        }
    }
}

/// Quoted `"rosey_…"` strings in the Rust sources under `dir`.
fn collect_names(dir: &Path, out: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_names(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split('"').skip(1).step_by(2) {
                if piece.starts_with("rosey_")
                    && piece.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    out.insert(piece.to_string());
                }
            }
        }
    }
}

#[test]
fn the_rules_are_wired_into_prometheus_compose_and_kubernetes() {
    for config in ["prometheus.yml", "prometheus-compose.yml"] {
        let v = yaml(&read(&format!("deploy/prometheus/{config}")));
        assert_eq!(
            v["rule_files"],
            serde_json::json!(["alerts.yml"]),
            "{config}"
        );
    }
    let compose = yaml(&read("compose.yaml"));
    let volumes = compose["services"]["prometheus"]["volumes"].to_string();
    assert!(
        volumes.contains("./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml"),
        "compose.yaml mounts the rules beside prometheus.yml: {volumes}"
    );
    let kustomization = yaml(&read("deploy/kubernetes/kustomization.yaml"));
    assert!(
        kustomization["resources"]
            .as_array()
            .unwrap()
            .contains(&Value::from("prometheus-rules.yaml"))
    );
    let cm = yaml(&read("deploy/kubernetes/prometheus-rules.yaml"));
    assert_eq!(cm["kind"], "ConfigMap");
    assert_eq!(
        cm["data"]["rosey-alerts.yml"].as_str(),
        Some(read("deploy/prometheus/alerts.yml").as_str()),
        "deploy/kubernetes/prometheus-rules.yaml must carry deploy/prometheus/alerts.yml"
    );
}
