//! The figures of every run, over time: each run appends one [`Point`] (its headline figures
//! with the machine and version they were measured on) to a JSON-lines history file, and
//! [`report_html`] renders the whole history as one self-contained page — the dashboard's
//! own chart code ([`rosey_web::CHART_JS`]) and style sheet, the data, and a small script,
//! all inline, nothing fetched — with one trend chart per figure and the latest run's
//! targets.
//!
//! A history line that cannot be read (hand-edited, cut short) is skipped and counted; the
//! page says how many.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::report::{Durable, IngestMode, Report, TargetCheck};
use crate::stats::LatencySpread;

/// The history file's name in the report directory.
pub const HISTORY_FILE: &str = "bench-history.jsonl";
/// The page's name in the report directory.
pub const REPORT_HTML: &str = "report.html";

/// One run's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Unix seconds when the run started.
    pub run_unix: u64,
    /// Rosey's version and build (`0.1.0 release`).
    pub version: String,
    /// Cores, CPU, memory and OS, in one line.
    pub machine: String,
    /// The size preset (`full`, `quick`, `tiny`): figures of different presets differ.
    #[serde(default)]
    pub preset: String,
    /// Figure name (with its unit) → value.
    pub figures: BTreeMap<String, f64>,
}

fn latency(out: &mut BTreeMap<String, f64>, name: &str, l: &LatencySpread) {
    out.insert(format!("{name}: p95 ms"), l.p95_ms.median);
    out.insert(format!("{name}: p99 ms"), l.p99_ms.median);
}

fn ingest(out: &mut BTreeMap<String, f64>, mode: &str, m: &IngestMode) {
    for (kind, f) in [("message", &m.message), ("mixed", &m.mixed)] {
        if let Some(s) = &f.events_per_s {
            out.insert(format!("ingest {mode}, {kind}: events/s"), s.median);
        }
    }
}

impl Point {
    /// The headline figures of `r` (medians over its runs); what was not measured is absent.
    pub fn of(r: &Report) -> Point {
        let mut f = BTreeMap::new();
        ingest(&mut f, "plain", &r.ingest.plain);
        if let Durable::Measured(m) = &r.ingest.durable {
            ingest(&mut f, "durable", m);
        }
        for q in &r.query {
            latency(&mut f, &format!("query {}", q.subject), &q.latency);
        }
        latency(&mut f, "end to end", &r.end_to_end.latency);
        if let Some(s) = &r.storage_floor {
            f.insert("storage floor: events/s".into(), s.events_per_s.median);
        }
        if let Some(s) = r.mixed_media.as_ref().and_then(|m| m.events_per_s.as_ref()) {
            f.insert("ingest plain, mixed with media: events/s".into(), s.median);
        }
        for q in r.query_written.iter().flat_map(|w| &w.endpoints) {
            latency(
                &mut f,
                &format!("query {} while written", q.subject),
                &q.latency,
            );
        }
        for s in &r.scale {
            let n = s.channels;
            f.insert(format!("scale {n} channels: join ms"), s.join_ms);
            f.insert(format!("scale {n} channels: RSS MiB"), s.rss_mib);
        }
        for p in &r.resources {
            if let Some(v) = p.startup_ms {
                f.insert(format!("{}: start-up ms", p.process), v);
            }
            if let Some(v) = p.idle_rss_mib {
                f.insert(format!("{}: idle RSS MiB", p.process), v);
            }
        }
        let m = &r.machine;
        let machine = [
            m.cores.map(|c| format!("{c} cores")),
            m.cpu_model.clone(),
            m.memory_mib.map(|b| format!("{} MiB", b)),
            m.os.clone(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ");
        Point {
            run_unix: r.started_unix,
            version: format!("{} {}", r.versions.rosey, r.versions.build),
            machine,
            preset: serde_json::to_value(r.sizes.preset)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            figures: f,
        }
    }
}

/// Appends `point` as one line to the history file at `path` (created if missing).
pub fn append(path: &Path, point: &Point) -> std::io::Result<()> {
    let mut line = serde_json::to_string(point).map_err(std::io::Error::other)?;
    line.push('\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(line.as_bytes())
}

/// The history at `path`, oldest first, and how many lines could not be read. A missing
/// file is an empty history.
pub fn read(path: &Path) -> std::io::Result<(Vec<Point>, usize)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut points = Vec::new();
    let mut skipped = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Point>(line) {
            Ok(p) => points.push(p),
            Err(e) => {
                skipped += 1;
                tracing::warn!(error = %e, "Skipped an unreadable line of the benchmark history.");
            }
        }
    }
    points.sort_by_key(|p| p.run_unix);
    Ok((points, skipped))
}

/// What the page's script reads.
#[derive(Serialize)]
struct PageData<'a> {
    points: &'a [Point],
    skipped: usize,
    targets: &'a [TargetCheck],
}

/// JSON that is safe inside a `<script>` element: `<` never appears raw, so no `</script>`
/// can end it early (`\u003c` is the same string to JSON).
fn script_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v)
        .unwrap_or_else(|_| "null".into())
        .replace('<', "\\u003c")
}

/// The report page: every figure's trend over `points`, and `targets` (the latest run's).
pub fn report_html(points: &[Point], skipped: usize, targets: &[TargetCheck]) -> String {
    let body = "<header class=\"top\"><h1>Rosey benchmarks</h1><span id=\"runs\" class=\"muted\"></span></header>\n\
         <main>\n<section class=\"panel span2\"><h2>Targets (latest run)</h2>\
         <table class=\"outbound\"><thead><tr><th>Figure</th><th>Target</th><th>Measured</th><th>Met</th></tr></thead>\
         <tbody id=\"targets\"></tbody></table></section>\n\
         <div id=\"figures\" class=\"figures\"></div>\n</main>";
    let data = PageData {
        points,
        skipped,
        targets,
    };
    page("Rosey benchmark report", body, REPORT_CSS, &data, REPORT_JS)
}

/// A self-contained page (no request leaves it): the dashboard's style sheet and chart code
/// (`lineChart`, `svg`, `SVG`), `css` and `body`, `data` as JSON in `<script id="data">`
/// (safe: no `</script>` can end it), and the page's own `js` (`rosey soak` uses it too).
pub fn page<T: Serialize>(title: &str, body: &str, css: &str, data: &T, js: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"dark light\">\n\
         <title>{title}</title>\n<style>\n{app_css}\n{css}\n</style>\n</head>\n<body>\n{body}\n\
         <script type=\"application/json\" id=\"data\">{data}</script>\n\
         <script>\n{chart}\n</script>\n<script>\n{js}\n</script>\n</body>\n</html>\n",
        app_css = rosey_web::APP_CSS,
        data = script_json(data),
        chart = rosey_web::CHART_JS,
    )
}

const REPORT_CSS: &str = ".figures { display: grid; gap: .8rem; grid-template-columns: repeat(auto-fill, minmax(20rem, 1fr)); }\n\
.figures h3 { margin: 0 0 .3rem; font-size: .95rem; }";

const REPORT_JS: &str = include_str!("../assets/report.js");

/// Appends this run to the history in `dir` and writes the page there; returns the page's path.
pub fn write(dir: &Path, report: &Report) -> std::io::Result<std::path::PathBuf> {
    let history = dir.join(HISTORY_FILE);
    append(&history, &Point::of(report))?;
    let (points, skipped) = read(&history)?;
    let page = dir.join(REPORT_HTML);
    std::fs::write(&page, report_html(&points, skipped, &report.targets))?;
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t: u64, v: f64, machine: &str) -> Point {
        Point {
            run_unix: t,
            version: "0.1.0 release".into(),
            machine: machine.into(),
            preset: "tiny".into(),
            figures: BTreeMap::from([("end to end: p99 ms".to_string(), v)]),
        }
    }

    #[test]
    fn the_history_appends_reads_back_and_skips_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HISTORY_FILE);
        assert_eq!(read(&path).unwrap(), (Vec::new(), 0));
        append(&path, &point(20, 2.0, "b")).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{not json\n")
            .unwrap();
        append(&path, &point(10, 1.0, "a")).unwrap();
        let (points, skipped) = read(&path).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(points, vec![point(10, 1.0, "a"), point(20, 2.0, "b")]);
    }

    #[test]
    fn the_page_is_self_contained_and_its_data_cannot_end_the_script() {
        let points = [point(10, 1.0, "</script><img src=x onerror=alert(1)>")];
        let target = TargetCheck {
            figure: "e2e".into(),
            target: "< 100 ms".into(),
            measured: "3 ms".into(),
            met: Some(true),
            judged_by_quick: true,
        };
        let html = report_html(&points, 2, &[target]);
        assert!(
            html.contains("function lineChart"),
            "the dashboard's chart code is inline"
        );
        assert!(html.contains("end to end: p99 ms"));
        assert_eq!(
            html.matches("</script>").count(),
            3,
            "only the three script elements end"
        );
        assert!(!html.contains("<img"));
        for remote in [
            "src=\"http",
            "href=\"http",
            "src=\"/",
            "href=\"/",
            "@import",
        ] {
            assert!(!html.contains(remote), "nothing is fetched: {remote}");
        }
        // The data is the JSON of the points, as the page's script parses it.
        let start = html.find("id=\"data\">").unwrap() + "id=\"data\">".len();
        let end = start + html[start..].find("</script>").unwrap();
        let data: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap();
        assert_eq!(
            data["points"][0]["machine"],
            "</script><img src=x onerror=alert(1)>"
        );
        assert_eq!(data["skipped"], 2);
    }
}
