//! The Dashboard page's endpoints over loopback against the binary: each widget's numbers
//! against the same figures worked out by the test with plain SQL on the store file, under
//! time ranges, tag, environment and metadata filters, breakdowns and a comparison; a
//! dashboard file with a broken widget; stored text in chart labels; and
//! `observe report --timeseries`.

use std::collections::BTreeMap;
use std::path::Path;

use crate::common::record::Recorder;
use crate::common::{observe, ok, write_fixture};
use crate::ui_endpoints::get;
use crate::ui_support::*;
use observe_model::model::{
    Cost, Level, ObservationDetails, ObservationType, TraceAttributes, Usage,
};
use rusqlite::Connection;
use serde_json::Value;

/// Widget `title` of the dashboard served at `api`, run under `filter`.
fn widget(api: &str, title: &str, filter: &str) -> Value {
    let (status, outline) = get(&format!("{api}/dashboard?{filter}"));
    assert_eq!(status, 200, "{outline}");
    let index = outline["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["title"] == title)
        .unwrap_or_else(|| panic!("no widget `{title}` in {outline}"))["index"]
        .clone();
    let (status, answer) = get(&format!("{api}/dashboard/widget/{index}?{filter}"));
    assert_eq!(status, 200, "{answer}");
    assert!(answer["error"].is_null(), "{title}: {}", answer["error"]);
    answer
}

/// The first row's first value of a number widget.
fn number(answer: &Value) -> f64 {
    answer["rows"][0][0].as_f64().unwrap_or(0.0)
}

/// A widget's rows summed per value of `key` column, for column `value`.
fn per(answer: &Value, key: &str, value: &str) -> BTreeMap<String, f64> {
    let columns: Vec<&str> = answer["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let (k, v) = (
        columns.iter().position(|c| *c == key).unwrap(),
        columns.iter().position(|c| *c == value).unwrap(),
    );
    let mut out = BTreeMap::new();
    for row in answer["rows"].as_array().unwrap() {
        let name = row[k].as_str().map_or("(null)".to_owned(), str::to_owned);
        *out.entry(name).or_default() += row[v].as_f64().unwrap_or(0.0);
    }
    out
}

/// Plain SQL on the store file: one number.
fn by_hand(store: &Path, sql: &str) -> f64 {
    let conn = Connection::open(store).unwrap();
    conn.query_row(sql, [], |r| r.get::<_, Option<f64>>(0))
        .unwrap()
        .unwrap_or(0.0)
}

/// Plain SQL on the store file: a name and a number per row.
fn by_hand_map(store: &Path, sql: &str) -> BTreeMap<String, f64> {
    let conn = Connection::open(store).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, Option<String>>(0)?
                    .unwrap_or_else(|| "(null)".into()),
                r.get::<_, f64>(1)?,
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The store: the CLI fixture (traces 1 to 40 days old) and, in the last minutes, 12
/// traces over two environments, three tags and two models, every third with an error.
pub fn write_dashboard_store(store: &Path) {
    write_fixture(store);
    let mut recorder = Recorder::new();
    for i in 0..12 {
        let mut tags = vec!["live".to_owned()];
        if i % 2 == 0 {
            tags.push("beta".to_owned());
        }
        if i % 3 == 0 {
            tags.push("vip".to_owned());
        }
        let mut trace = recorder.trace(
            "answer",
            TraceAttributes {
                session_id: Some(format!("live_{}", i / 2)),
                user_id: Some(format!("live_user_{}", i % 3)),
                environment: Some(if i < 7 { "production" } else { "staging" }.to_owned()),
                release: Some(format!("v{}", 1 + i % 2)),
                tags,
                metadata: [(
                    "content_type".to_owned(),
                    observe_model::model::Json::string(if i % 4 == 0 { "video" } else { "text" }),
                )]
                .into(),
                ..TraceAttributes::default()
            },
        );
        trace.generation(
            "llm",
            ObservationDetails {
                model: Some(if i % 2 == 0 { "gpt-4o" } else { "gpt-4o-mini" }.to_owned()),
                usage: Some(Usage::new(100 * (i + 1), 10 * (i + 1))),
                cost: Some(Cost::new(0.001 * (i + 1) as f64, 0.0005)),
                ..ObservationDetails::default()
            },
        );
        if i % 3 == 0 {
            let step = trace.start(ObservationType::Tool, "lookup");
            trace.finish(step, Level::Error, ObservationDetails::default());
        }
        trace.end();
    }
    recorder.write(store);
}

const SINCE_HOUR: &str = "timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')";
const SINCE_7_DAYS: &str = "timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')";

#[test]
fn widgets_answer_what_the_same_sql_by_hand_says() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_dashboard_store(&store);
    let ui = UiProcess::start(&store);
    let api = format!("{}api", ui.url);

    // The time range changes the counts as the store's timestamps say.
    for (range, since) in [("1h", SINCE_HOUR), ("7d", SINCE_7_DAYS)] {
        let filter = format!("range={range}");
        let traces = by_hand(
            &store,
            &format!("SELECT COUNT(*) FROM traces WHERE {since}"),
        );
        assert_eq!(number(&widget(&api, "Traces", &filter)), traces, "{range}");
        let cost = by_hand(
            &store,
            &format!("SELECT SUM(calculated_total_cost) FROM traces WHERE {since}"),
        );
        assert!((number(&widget(&api, "Total cost", &filter)) - cost).abs() < 1e-9);
        let users = by_hand(
            &store,
            &format!("SELECT COUNT(DISTINCT user_id) FROM traces WHERE {since}"),
        );
        assert_eq!(number(&widget(&api, "Users", &filter)), users);
    }
    assert_eq!(number(&widget(&api, "Traces", "range=1h")), 12.0);
    assert_eq!(number(&widget(&api, "Traces", "range=7d")), 17.0);
    let month = number(&widget(&api, "Traces", "range=30d"));
    assert_eq!(
        month,
        12.0 + 5.0 + 1.0 + 5.0 + 6.0,
        "all but the 40-day-old trace"
    );

    // Tags to include and exclude, environment, metadata.
    let tagged = |include: &str, exclude: Option<&str>| {
        let mut sql = format!(
            "SELECT COUNT(*) FROM traces WHERE {SINCE_7_DAYS} AND EXISTS \
             (SELECT 1 FROM json_each(tags) WHERE value = '{include}')"
        );
        if let Some(x) = exclude {
            sql += &format!(" AND NOT EXISTS (SELECT 1 FROM json_each(tags) WHERE value = '{x}')");
        }
        by_hand(&store, &sql)
    };
    assert_eq!(
        number(&widget(&api, "Traces", "tag=beta")),
        tagged("beta", None)
    );
    assert_eq!(number(&widget(&api, "Traces", "tag=beta")), 6.0);
    assert_eq!(
        number(&widget(&api, "Traces", "tag=beta&exclude_tag=vip")),
        tagged("beta", Some("vip"))
    );
    assert_eq!(
        number(&widget(&api, "Traces", "tag=beta&exclude_tag=vip")),
        4.0
    );
    let staging = by_hand(
        &store,
        &format!("SELECT COUNT(*) FROM traces WHERE {SINCE_7_DAYS} AND environment = 'staging'"),
    );
    assert_eq!(staging, 5.0);
    assert_eq!(
        number(&widget(&api, "Traces", "environment=staging")),
        staging
    );
    let videos = by_hand(
        &store,
        &format!(
            "SELECT COUNT(*) FROM traces WHERE {SINCE_7_DAYS} \
             AND json_extract(metadata, '$.content_type') = 'video'"
        ),
    );
    assert_eq!(
        number(&widget(
            &api,
            "Traces",
            "meta_key=content_type&meta_value=video"
        )),
        videos
    );
    assert_eq!(
        number(&widget(&api, "Traces", "user=alice&range=30d")),
        by_hand(
            &store,
            "SELECT COUNT(*) FROM traces WHERE user_id = 'alice' AND \
             timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days')"
        )
    );

    // A breakdown splits the series as GROUP BY does.
    let over_time = widget(&api, "Traces over time", "breakdown=environment");
    assert_eq!(
        per(&over_time, "series", "traces"),
        by_hand_map(
            &store,
            &format!("SELECT environment, COUNT(*) FROM traces WHERE {SINCE_7_DAYS} GROUP BY 1")
        )
    );
    assert!(over_time["svg"].as_str().unwrap().contains(">production<"));
    let by_model = widget(&api, "Cost by breakdown", "breakdown=model&range=1h");
    let expected = by_hand_map(
        &store,
        &format!(
            "SELECT (SELECT MIN(model) FROM observations o WHERE o.trace_seq = traces.seq \
             AND o.model IS NOT NULL), SUM(calculated_total_cost - computed_cost) FROM traces \
             WHERE {SINCE_HOUR} GROUP BY 1"
        ),
    );
    let got = per(&by_model, "series", "given_cost");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (model, cost) in &expected {
        assert!(
            (got[model] - cost).abs() < 1e-9,
            "{model}: {} vs {cost}",
            got[model]
        );
    }
    // By tag: the most used tags, a trace under the first of them it has.
    let by_tag = per(
        &widget(&api, "Traces over time", "breakdown=tag&range=1h"),
        "series",
        "traces",
    );
    assert_eq!(by_tag.values().sum::<f64>(), 12.0);
    assert_eq!(by_tag["live"], 12.0, "{by_tag:?}");
    // By a metadata key.
    let by_type = widget(
        &api,
        "By breakdown: traces, cost, latency",
        "breakdown=metadata&breakdown_key=content_type&range=1h",
    );
    assert_eq!(
        per(&by_type, "series", "traces"),
        by_hand_map(
            &store,
            &format!(
                "SELECT json_extract(metadata, '$.content_type'), COUNT(*) FROM traces \
                 WHERE {SINCE_HOUR} GROUP BY 1"
            )
        )
    );

    // Comparing two values keeps those two series.
    let compared = widget(
        &api,
        "Traces over time",
        "breakdown=release&compare=v1&compare=v2&range=1h",
    );
    assert_eq!(
        per(&compared, "series", "traces"),
        BTreeMap::from([("v1".to_owned(), 6.0), ("v2".to_owned(), 6.0)])
    );
    let one = widget(&api, "Traces", "breakdown=release&compare=v1&range=1h");
    assert_eq!(number(&one), 6.0);

    // Observation-level widgets: tokens and errors.
    let tokens = widget(&api, "Tokens over time", "range=1h");
    let input = by_hand(
        &store,
        &format!(
            "SELECT SUM(json_extract(o.usage_details, '$.input')) FROM observations o \
             JOIN traces t ON t.seq = o.trace_seq WHERE t.{SINCE_HOUR}"
        ),
    );
    assert_eq!(input, 100.0 * (1..=12).sum::<u64>() as f64);
    assert_eq!(
        per(&tokens, "time", "input_tokens").values().sum::<f64>(),
        input
    );
    let errors = widget(&api, "Errors and warnings (traces with one)", "range=7d");
    assert_eq!(
        per(&errors, "time", "errors").values().sum::<f64>(),
        by_hand(
            &store,
            &format!(
                "SELECT COUNT(DISTINCT t.seq) FROM traces t JOIN observations o \
                 ON o.trace_seq = t.seq WHERE t.{SINCE_7_DAYS} AND o.level = 'ERROR'"
            )
        )
    );

    // A session's duration, from its traces' integer times, is the span of their stored
    // start and end texts (`julianday` keeps milliseconds: within 1 ms at each end).
    let slowest = widget(&api, "Slowest sessions", "range=custom&from=2000-01-01");
    let durations = per(&slowest, "session_id", "duration_ms");
    let expected = by_hand_map(
        &store,
        "SELECT session_id, \
             (julianday(MAX(end_time)) - julianday(MIN(timestamp))) * 86400000.0 \
         FROM traces WHERE session_id IS NOT NULL GROUP BY session_id",
    );
    assert!(!durations.is_empty());
    for (session, ms) in &durations {
        let by_hand = expected[session];
        assert!((ms - by_hand).abs() < 2.0, "{session}: {ms} != {by_hand}");
    }

    // Each widget's SQL is what the Query page runs: the same rows.
    let answer = widget(&api, "Performance by user", "range=30d");
    let sql: String = answer["sql"].as_str().unwrap().into();
    assert!(!sql.contains("{{"), "placeholders filled: {sql}");
    let encoded = form_urlencoded::Serializer::new(String::new())
        .append_pair("sql", &sql)
        .finish();
    let (status, queried) = get(&format!("{api}/query?{encoded}"));
    assert_eq!(status, 200, "{queried}");
    assert_eq!(queried["rows"], answer["rows"]);
    assert_eq!(queried["columns"], answer["columns"]);

    // Every widget of the default dashboard runs on this store.
    let (_, outline) = get(&format!("{api}/dashboard?breakdown=user"));
    for w in outline["widgets"].as_array().unwrap() {
        let (status, answer) = get(&format!(
            "{api}/dashboard/widget/{}?breakdown=user",
            w["index"]
        ));
        assert_eq!(status, 200);
        assert!(
            answer["error"].is_null(),
            "{}: {}",
            w["title"],
            answer["error"]
        );
    }

    // Bad filters are a 400 that says why; a widget past the last is a 404.
    let (status, bad) = get(&format!("{api}/dashboard?range=2w"));
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("2w"), "{bad}");
    let (status, _) = get(&format!("{api}/dashboard/widget/999"));
    assert_eq!(status, 404);
}

/// `observe ui --dashboard FILE` over the dashboard store with its XSS traces, in `dir`;
/// FILE holds `dashboard` (TOML).
pub(crate) fn ui_with_dashboard_file(dir: &Path, dashboard: &str) -> UiProcess {
    ui_with_dashboard_named(dir, "mine.toml", dashboard)
}

/// [`ui_with_dashboard_file`] with the file named `name` (its extension picks the language).
pub(crate) fn ui_with_dashboard_named(dir: &Path, name: &str, dashboard: &str) -> UiProcess {
    let store = dir.join("traces.db");
    write_dashboard_store(&store);
    write_xss(&store);
    let file = dir.join(name);
    std::fs::write(&file, dashboard).unwrap();
    UiProcess::start_with_args(
        &store,
        &[std::ffi::OsStr::new("--dashboard"), file.as_os_str()],
    )
}

#[test]
fn a_broken_widget_answers_its_error_and_labels_stay_text() {
    let dir = tempfile::tempdir().unwrap();
    let (store, file) = (dir.path().join("traces.db"), dir.path().join("mine.toml"));
    let ui = ui_with_dashboard_file(
        dir.path(),
        r#"title = "Mine <b>bold</b>"

[[widget]]
title = "Broken"
chart = "line"
sql = "SELECT nonsense FROM nowhere WHERE {{filter}}"

[[widget]]
title = "Names"
chart = "bar"
x = "name"
y = "traces"
sql = "SELECT name, COUNT(*) AS traces FROM traces WHERE {{filter}} GROUP BY 1 ORDER BY 1"

[[widget]]
title = "Writes"
chart = "table"
sql = "DELETE FROM traces"
"#,
    );
    let api = format!("{}api", ui.url);
    let (_, outline) = get(&format!("{api}/dashboard"));
    assert_eq!(outline["title"], "Mine <b>bold</b>");
    assert_eq!(outline["widgets"].as_array().unwrap().len(), 3);

    let (status, broken) = get(&format!("{api}/dashboard/widget/0"));
    assert_eq!(status, 200);
    assert!(
        broken["error"].as_str().unwrap().contains("nowhere"),
        "{broken}"
    );
    assert!(broken["rows"].is_null());
    let (_, names) = get(&format!("{api}/dashboard/widget/1"));
    assert!(names["error"].is_null(), "{names}");
    let svg = names["svg"].as_str().unwrap();
    assert!(!svg.contains("<img"), "{svg}");
    assert!(!svg.contains("<script"), "{svg}");
    assert!(svg.contains("&lt;img src=x onerror="), "{svg}");
    // The Query page's guard: nothing writes.
    let (_, writes) = get(&format!("{api}/dashboard/widget/2"));
    assert!(writes["error"].as_str().is_some(), "{writes}");
    assert_eq!(
        by_hand(&store, "SELECT COUNT(*) FROM traces"),
        12.0 + 18.0 + 1.0,
        "the store is as it was"
    );

    // A file that is not a dashboard is refused before anything listens.
    std::fs::write(&file, "[[widget]]\ntitle = 1").unwrap();
    let out = observe(
        Some(&store),
        &["ui", "--port", "0", "--dashboard", file.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the dashboard is not valid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_timeseries_prints_buckets_with_bars_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_dashboard_store(&store);
    let out = observe(
        Some(&store),
        &["--json", "report", "--timeseries", "--range", "30d"],
    );
    let rows: Vec<Value> = serde_json::from_str(&ok(&out)).unwrap();
    // Day buckets over 30 days; the traces of each bucket as GROUP BY says.
    let expected = by_hand_map(
        &store,
        "SELECT strftime('%Y-%m-%d', timestamp), COUNT(*) FROM traces WHERE \
         timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-30 days') GROUP BY 1",
    );
    let got: BTreeMap<String, f64> = rows
        .iter()
        .map(|r| {
            (
                r["bucket"].as_str().unwrap()[..10].to_owned(),
                r["traces"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        rows.iter()
            .map(|r| r["errors"].as_f64().unwrap())
            .sum::<f64>(),
        4.0
    );

    let table = ok(&observe(
        Some(&store),
        &[
            "report",
            "--timeseries",
            "--range",
            "1h",
            "--bucket",
            "hour",
            "--tag",
            "beta",
        ],
    ));
    assert!(
        table.contains("Traces per hour over the last 1h"),
        "{table}"
    );
    assert!(table.contains('█'), "a bar per row: {table}");
    let sql = ok(&observe(
        Some(&store),
        &[
            "report",
            "--timeseries",
            "--environment",
            "staging",
            "--show-sql",
        ],
    ));
    assert!(sql.contains("traces.environment = 'staging'"), "{sql}");
    let bad = observe(
        Some(&store),
        &["report", "--timeseries", "--bucket", "year"],
    );
    assert!(!bad.status.success());
}
