//! `rosey bench` as a process, at the hidden `tiny` preset: it starts its own nats-server,
//! db-service, echo responder, devserver and bots, and writes a report whose every section is
//! there with sane figures (nothing lost, rates and latencies positive, processes stopped
//! cleanly), JSON and Markdown alike, and the HTML page with the history of runs. No
//! progress bar when stdout is not a terminal.

use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

fn num(v: &Value, path: &str) -> f64 {
    let mut cur = v;
    for key in path.split('.') {
        cur = match key.parse::<usize>() {
            Ok(i) => &cur[i],
            Err(_) => &cur[key],
        };
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path} is not a number: {cur}"))
}

#[test]
fn bench_tiny_writes_a_complete_report() {
    let out = tempfile::tempdir().unwrap();
    // An earlier run in the history (and a line cut short), for the trend.
    let earlier = r#"{"run_unix":1000,"version":"0.0.9 release","machine":"elsewhere","figures":{"end to end: p99 ms":7.5}}"#;
    std::fs::write(
        out.path().join("bench-history.jsonl"),
        format!("{earlier}\n{{\"run_unix\":\n"),
    )
    .unwrap();
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["bench", "--preset", "tiny", "--out"])
        .arg(out.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "rosey bench failed ({}):\n{stdout}\n{stderr}",
        run.status
    );
    assert!(
        started.elapsed().as_secs() < 60,
        "the tiny preset took {:?}",
        started.elapsed()
    );
    assert!(
        !stdout.contains('\u{1b}') && !stdout.contains('\r'),
        "no progress bar when stdout is not a terminal:\n{stdout}"
    );
    assert!(stdout.contains("### Targets"), "{stdout}");

    let json = std::fs::read_to_string(out.path().join("bench-report.json")).unwrap();
    let r: Value = serde_json::from_str(&json).unwrap();
    let md = std::fs::read_to_string(out.path().join("bench-report.md")).unwrap();
    for section in [
        "### Targets",
        "### Ingest",
        "### Query latency",
        "### End to end",
        "### Scale",
        "### Resources",
    ] {
        assert!(md.contains(section), "{section} missing from:\n{md}");
    }

    // Machine and versions.
    assert!(num(&r, "machine.cores") >= 1.0);
    assert!(num(&r, "machine.memory_mib") > 0.0);
    assert!(r["versions"]["nats_server"].as_str().unwrap().contains('.'));
    assert!(r["versions"]["sqlite"].as_str().unwrap().starts_with('3'));

    // Ingest, plain: every run completed, nothing lost or doubled, every mixed effect right.
    for kind in ["message", "mixed"] {
        let f = &r["ingest"]["plain"][kind];
        assert_eq!(f["completed_runs"], f["runs"], "{kind}: {f}");
        assert_eq!(f["lost"], 0, "{kind}: {f}");
        assert_eq!(f["duplicated"], 0, "{kind}: {f}");
        assert!(f["effects_error"].is_null(), "{kind}: {f}");
        assert!(num(f, "events_per_s.median") > 0.0, "{kind}: {f}");
    }
    // Durable: either figures or an explicit reason, never silence.
    let durable = &r["ingest"]["durable"];
    match durable["status"].as_str().unwrap() {
        "measured" => {
            assert_eq!(durable["message"]["lost"], 0, "{durable}");
            assert!(num(durable, "message.events_per_s.median") > 0.0);
        }
        "not_measured" => assert!(!durable["reason"].as_str().unwrap().is_empty()),
        other => panic!("durable status {other}"),
    }

    // Query latency: three endpoints, each with its echo floor.
    let q = r["query"].as_array().unwrap();
    assert_eq!(q.len(), 3, "{q:?}");
    for e in q {
        assert!(num(e, "latency.p99_ms.median") > 0.0, "{e}");
        assert!(num(e, "latency.p99_ms.median") >= num(e, "latency.p50_ms.median"));
        assert!(num(e, "echo.p50_ms.median") > 0.0, "{e}");
        assert!(num(e, "p99_over_echo.median") > 0.0, "{e}");
    }

    // End to end: every line arrived once, with a latency.
    let e = &r["end_to_end"];
    assert_eq!(e["lost"], 0, "{e}");
    assert_eq!(e["duplicated"], 0, "{e}");
    assert_eq!(e["cooldowns"], 0, "{e}");
    assert!(num(e, "latency.samples_per_run") > 0.0, "{e}");
    assert!(num(e, "latency.p50_ms.median") > 0.0, "{e}");
    assert!(num(e, "achieved_rate.median") > 0.0, "{e}");

    // Issue 31: the storage floor, the mixed burst with media (every play and its end), the
    // queries while chat is written, and each run's slowest line.
    assert!(num(&r, "storage_floor.events_per_s.median") > 0.0, "{r}");
    let m = &r["mixed_media"];
    assert_eq!(m["completed_runs"], m["runs"], "{m}");
    assert_eq!(
        (m["lost"].as_u64(), m["duplicated"].as_u64()),
        (Some(0), Some(0)),
        "{m}"
    );
    assert!(m["effects_error"].is_null(), "{m}");
    let w = &r["query_written"];
    assert_eq!(w["endpoints"].as_array().unwrap().len(), 3, "{w}");
    assert!(
        num(w, "lines") > 0.0 && num(w, "achieved_rate") > 0.0,
        "{w}"
    );
    assert_eq!(e["slowest"].as_array().unwrap().len(), 1, "{e}");
    assert!(
        md.contains("Storage floor") && md.contains("(written)"),
        "{md}"
    );

    // Scale: one point per channel count, each process measured and stopped cleanly.
    let s = r["scale"].as_array().unwrap();
    assert_eq!(s.len(), 2, "{s:?}");
    for p in s {
        assert!(num(p, "rss_mib") > 1.0, "{p}");
        assert!(num(p, "join_ms") > 0.0, "{p}");
        assert!(p["stop"].as_str().unwrap().starts_with("exit 0"), "{p}");
    }

    // Resources: the database service's start-up, idle and peak memory and a clean stop.
    let db = r["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["process"] == "rosey db-service")
        .expect("db-service resources");
    assert!(num(db, "startup_ms") > 0.0, "{db}");
    assert!(num(db, "idle_rss_mib") > 1.0, "{db}");
    assert!(num(db, "peak_rss_mib") >= num(db, "idle_rss_mib"), "{db}");
    assert!(db["stop"].as_str().unwrap().starts_with("exit 0"), "{db}");

    // The page: self-contained, with this run appended to the history and both runs of a
    // figure in its trend; the unreadable line counted.
    let history = std::fs::read_to_string(out.path().join("bench-history.jsonl")).unwrap();
    let this_run: Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(num(&this_run, "run_unix"), num(&r, "started_unix"));
    assert!(
        num(&this_run, "figures.end to end: p99 ms") > 0.0,
        "{this_run}"
    );
    assert!(this_run["machine"].as_str().unwrap().contains("cores"));
    assert_eq!(this_run["preset"], "tiny");
    let html = std::fs::read_to_string(out.path().join("report.html")).unwrap();
    assert!(html.contains("function lineChart") && !html.contains("src=\"http"));
    let start = html.find("id=\"data\">").unwrap() + "id=\"data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&html[start..end]).unwrap();
    assert_eq!(data["skipped"], 1);
    let points = data["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["machine"], "elsewhere");
    assert_eq!(points[1], this_run);
    assert_eq!(data["targets"], r["targets"]);
    assert!(stdout.contains("report.html"), "{stdout}");

    // Targets: every one is checked or says why not.
    let t = r["targets"].as_array().unwrap();
    assert!(t.len() >= 9, "{t:?}");
    for c in t {
        assert!(
            c["met"].is_boolean() || c["measured"].as_str().unwrap().starts_with("not measured"),
            "{c}"
        );
    }
}

/// `rosey bench --moderation` at the tiny preset: the rule-evaluation table, then chat line →
/// row with `rosey moderator` off and on in the same run: every line stored once in both,
/// the moderator judged the lines while on, and the ratio is printed.
#[test]
fn bench_moderation_measures_the_latency_with_the_moderator_off_and_on() {
    let run = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["bench", "--moderation", "--preset", "tiny"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(text.contains("## Moderation rules"), "{text}");
    assert!(
        text.contains("## Moderation: added end-to-end latency"),
        "{text}"
    );
    assert!(
        text.contains("| off | ") && text.contains("| on | "),
        "{text}"
    );
    assert!(text.contains("Ratio on ÷ off: p50 **"), "{text}");
    assert!(text.contains("Lost 0, duplicated 0."), "{text}");
    let judged: u64 = text
        .split("`rosey moderator` judged ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("lines judged: {text}"));
    assert!(
        judged >= 40,
        "the moderator judged the measured lines: {text}"
    );
}
