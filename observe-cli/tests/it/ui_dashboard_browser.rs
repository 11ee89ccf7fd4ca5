//! The Dashboard page in a real browser (Chromium over WebDriver, as ui_browser.rs): it
//! renders for the bundled example's store and for generated data, and changing the time range, a tag filter and a breakdown changes the charts as
//! the same SQL run by hand on the store says; a comparison is one click; each chart shows
//! its SQL and opens it on the Query page; a dashboard file with a broken widget renders
//! the rest; stored text in chart labels stays text.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them); without them the test
//! fails and says how to install them. `OBSERVE_UI_SCREENSHOTS=docs` saves
//! docs/ui-dashboard.png.

use std::path::Path;

use crate::common::record::Recorder;
use crate::ui_dashboard::{ui_with_dashboard_file, write_dashboard_store};
use crate::ui_support::webdriver::Browser;
use crate::ui_support::*;
use observe_model::model::{Cost, ObservationDetails, TraceAttributes, Usage};
use rusqlite::Connection;
use serde_json::{json, Value};

/// The text of widget `title`'s number, once the page shows `expected` there.
fn wait_for_number(browser: &Browser, title: &str, expected: &str) {
    browser.wait_until(
        &format!("widget `{title}` showing {expected}"),
        &format!(
            "const w = [...document.querySelectorAll('.widget')]
                .find(w => w.querySelector('h2').textContent === {});
             return !!w && w.querySelector('.widget-number').textContent === {}",
            json!(title),
            json!(expected)
        ),
    );
}

/// The legend of the chart of widget `title`: its series' names.
fn legend(browser: &Browser, title: &str) -> Vec<String> {
    let names = browser.script(
        "const w = [...document.querySelectorAll('.widget')]
            .find(w => w.querySelector('h2').textContent === arguments[0]);
         return [...w.querySelectorAll('svg rect + text')].map(t => t.textContent)",
        json!([title]),
    );
    let mut names: Vec<String> = names
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// Sets the filter bar's `field` to `value` and applies it.
fn apply(browser: &Browser, field: &str, value: &str) {
    browser.script(
        "const f = document.getElementById('dashboard-filters');
         f.elements[arguments[0]].value = arguments[1];
         f.querySelector('button[type=submit]').click();",
        json!([field, value]),
    );
}

/// 40 traces over the last day, from two hours ago back, one every half hour, in two
/// environments and with varied latency, tokens and cost: a day's charts to look at.
fn write_history(store: &Path) {
    let mut recorder = Recorder::new();
    for k in 0..40u64 {
        let mut trace = recorder.trace(
            "history",
            TraceAttributes {
                session_id: Some(format!("history_{k}")),
                user_id: Some(format!("history_user_{}", k % 5)),
                environment: Some(if k % 3 == 0 { "staging" } else { "production" }.to_owned()),
                tags: vec!["history".to_owned()],
                ..TraceAttributes::default()
            },
        );
        trace.generation(
            "llm",
            ObservationDetails {
                model: Some(if k % 2 == 0 { "gpt-4o" } else { "gpt-4o-mini" }.to_owned()),
                usage: Some(Usage::new(300 + 40 * (k % 9), 50 + 15 * (k % 7))),
                cost: Some(Cost::new(0.0004 * (1 + k % 6) as f64, 0.0002)),
                ..ObservationDetails::default()
            },
        );
        trace.end();
    }
    recorder.write(store);
    // Back in time, with latencies that vary.
    Connection::open(store)
        .unwrap()
        .execute_batch(
            "UPDATE traces SET
                 timestamp = strftime('%Y-%m-%dT%H:%M:%f000Z', timestamp,
                     printf('-%d minutes', 120 + 30 * CAST(substr(session_id, 9) AS INTEGER))),
                 latency_ms = 300 + (CAST(substr(session_id, 9) AS INTEGER) * 137) % 1700
             WHERE name = 'history'",
        )
        .unwrap();
}

fn count(store: &Path, sql: &str) -> String {
    let n: i64 = Connection::open(store)
        .unwrap()
        .query_row(sql, [], |r| r.get(0))
        .unwrap();
    n.to_string()
}

fn no_script_ran(browser: &Browser) {
    assert_eq!(
        browser.script("return window.__xss === undefined", json!([])),
        json!(true),
        "a payload ran on the dashboard"
    );
    assert_eq!(
        browser.script(
            "return document.querySelectorAll('main img, main script, main [onerror]').length",
            json!([])
        ),
        json!(0),
        "stored text became elements on the dashboard"
    );
}

#[test]
fn the_dashboard_follows_the_filter_bar_as_the_sql_says() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_dashboard_store(&store);
    write_xss(&store);
    write_history(&store);
    let ui = UiProcess::start(&store);
    let browser = Browser::start();

    browser.goto(&format!("{}#/dashboard", ui.url));
    browser.wait_for(".widget svg");
    let week = count(
        &store,
        "SELECT COUNT(*) FROM traces WHERE timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-7 days')",
    );
    wait_for_number(&browser, "Traces", &week);
    assert_eq!(
        browser.script(
            "return document.querySelector('nav a.active').textContent",
            json!([])
        ),
        json!("Dashboard")
    );
    assert_eq!(
        browser.script(
            "return [...document.querySelectorAll('nav a')].map(a => a.textContent)",
            json!([])
        ),
        json!(["Sessions", "Dashboard", "Users", "Query"])
    );
    no_script_ran(&browser);
    // The xss trace's name is a label of the names' chart only as text.
    let shot = |name: &str| {
        if let Some(dir) = screenshot_dir() {
            std::fs::create_dir_all(&dir).unwrap();
            browser.screenshot(&dir.join(name));
        }
    };

    // The time range.
    apply(&browser, "range", "1h");
    let hour = count(
        &store,
        "SELECT COUNT(*) FROM traces WHERE timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour')",
    );
    assert_eq!(hour, "13");
    wait_for_number(&browser, "Traces", &hour);
    assert!(browser
        .script("return location.hash", json!([]))
        .as_str()
        .unwrap()
        .contains("range=1h"));

    // A tag filter.
    apply(&browser, "tag", "beta");
    let beta = count(
        &store,
        "SELECT COUNT(*) FROM traces WHERE timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour') \
         AND EXISTS (SELECT 1 FROM json_each(tags) WHERE value = 'beta')",
    );
    assert_eq!(beta, "6");
    wait_for_number(&browser, "Traces", &beta);

    // A breakdown: one series per environment among the beta traces.
    apply(&browser, "breakdown", "environment");
    browser.wait_until(
        "the compare button",
        "return document.getElementById('compare-top') != null",
    );
    let environments: Vec<String> = {
        let conn = Connection::open(&store).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT DISTINCT environment FROM traces WHERE timestamp >= \
                 strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 hour') AND EXISTS \
                 (SELECT 1 FROM json_each(tags) WHERE value = 'beta') ORDER BY 1",
            )
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(environments, ["production", "staging"]);
    assert_eq!(legend(&browser, "Traces over time"), environments);

    // Comparing the two largest is one click.
    browser.click(&browser.wait_for("#compare-top"));
    browser.wait_until(
        "two values compared",
        "return (location.hash.match(/compare=/g) || []).length === 2
            && document.getElementById('compare-top') == null
            && document.querySelectorAll('.widget svg').length > 0",
    );
    assert_eq!(legend(&browser, "Traces over time"), environments);

    // Every chart shows its SQL, and opens it on the Query page.
    let card = browser.script(
        "return [...document.querySelectorAll('.widget')]
            .find(w => w.querySelector('h2').textContent === 'Traces over time')",
        json!([]),
    );
    let sql_shown = "return [...document.querySelectorAll('.widget')]
        .find(w => w.querySelector('h2').textContent === 'Traces over time')
        .querySelector('.widget-sql')";
    assert_eq!(
        browser.script(&format!("{sql_shown}.hidden"), json!([])),
        json!(true)
    );
    let toggle = browser.script(
        "return arguments[0].querySelector('.sql-toggle')",
        json!([card]),
    );
    browser.click(&toggle);
    let sql = browser.script(
        &format!("{sql_shown}.querySelector('pre').textContent"),
        json!([]),
    );
    let sql = sql.as_str().unwrap().to_owned();
    assert!(sql.contains("'beta' = ANY(traces.tags)"), "{sql}");
    assert!(sql.contains("traces.environment AS series"), "{sql}");
    let open = browser.script(&format!("{sql_shown}.querySelector('a')"), json!([]));
    browser.click(&open);
    browser.wait_for("#query-result");
    let area: Value = browser.script("return document.getElementById('sql').value", json!([]));
    assert_eq!(area.as_str().unwrap(), sql);
    no_script_ran(&browser);

    // The last day by environment: what docs/ui-dashboard.png shows.
    browser.goto(&format!(
        "{}#/dashboard?range=24h&breakdown=environment",
        ui.url
    ));
    let day = count(
        &store,
        "SELECT COUNT(*) FROM traces WHERE timestamp >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-1 day')",
    );
    assert_eq!(day, (13 + 40).to_string());
    wait_for_number(&browser, "Traces", &day);
    // The xss trace has no environment: its series is `(none)`.
    assert_eq!(
        legend(&browser, "Traces over time"),
        ["(none)", "production", "staging"]
    );
    shot("ui-dashboard.png");
}

#[test]
fn the_dashboard_renders_the_examples_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    run_example(&store);
    let ui = UiProcess::start(&store);
    let browser = Browser::start();
    browser.goto(&format!("{}#/dashboard", ui.url));
    browser.wait_for(".widget svg");
    let traces = count(&store, "SELECT COUNT(*) FROM traces");
    wait_for_number(&browser, "Traces", &traces);
    // Every widget of the default dashboard ran: none shows an error.
    assert_eq!(
        browser.script(
            "return document.querySelectorAll('.widget.has-error').length",
            json!([])
        ),
        json!(0),
        "{}",
        browser.script("return document.querySelector('main').innerText", json!([]))
    );
    let text = browser
        .script("return document.querySelector('main').innerText", json!([]))
        .as_str()
        .unwrap()
        .to_owned();
    // The seed's report by content type, among the widgets.
    assert!(
        text.contains("Performance by content type") && text.contains("article"),
        "{text}"
    );
    no_script_ran(&browser);
}

#[test]
fn a_dashboard_file_with_a_broken_widget_renders_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let ui = ui_with_dashboard_file(
        dir.path(),
        r#"title = "<img src=x onerror=window.__xss=1>"

[[widget]]
title = "Broken <script>window.__xss=2</script>"
chart = "line"
sql = "SELECT nonsense FROM nowhere"

[[widget]]
title = "Names"
chart = "bar"
x = "name"
y = "traces"
sql = "SELECT name, COUNT(*) AS traces FROM traces WHERE {{filter}} GROUP BY 1 ORDER BY 1"
"#,
    );
    let browser = Browser::start();
    browser.goto(&format!("{}#/dashboard", ui.url));
    browser.wait_for(".widget svg");
    let error = browser.text(&browser.wait_for(".widget.has-error .widget-error"));
    assert!(error.contains("nowhere"), "{error}");
    let titles = browser.script(
        "return [...document.querySelectorAll('.widget h2')].map(h => h.textContent)",
        json!([]),
    );
    assert_eq!(
        titles,
        json!(["Broken <script>window.__xss=2</script>", "Names"])
    );
    // The xss trace's name is a bar's label, as text.
    let labels = browser.script(
        "return [...document.querySelectorAll('.widget svg title')].map(t => t.textContent)",
        json!([]),
    );
    assert!(
        labels
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with(XSS_NAME)),
        "{labels}"
    );
    no_script_ran(&browser);
}
