//! `observe ui` in a real browser: Debian's chromium, headless, driven over WebDriver by
//! chromedriver, against the `observe` binary serving a store filled by the bundled
//! example, generated sessions and a trace full of script payloads.
//!
//! Needs `chromium` and `chromium-driver` (`.ci/run` installs them); without them the tests
//! fail and say how to install them. `OBSERVE_UI_SCREENSHOTS=docs` saves the screenshots
//! shown in docs/UI.md.

use crate::ui_support::webdriver::Browser;
use crate::ui_support::*;
use observe_model::money::format_usd;
use serde_json::{json, Value};

/// The element whose text is exactly `text` among those matching `css`, waiting for it.
fn by_text(browser: &Browser, css: &str, text: &str) -> Value {
    let find = format!(
        "return [...document.querySelectorAll({})].find(e => e.textContent.trim() === arguments[0]) || null",
        serde_json::to_string(css).unwrap()
    );
    browser.wait_until(
        &format!("`{css}` with text `{text}`"),
        &format!(
            "return (function() {{ {} }}).apply(null, {}) != null",
            find,
            json!([text])
        ),
    );
    browser.script(&find, json!([text]))
}

fn shoot(browser: &Browser, name: &str) {
    if let Some(dir) = screenshot_dir() {
        std::fs::create_dir_all(&dir).unwrap();
        browser.screenshot(&dir.join(name));
    }
}

fn no_script_ran(browser: &Browser, page: &str) {
    assert_eq!(
        browser.script("return window.__xss === undefined", json!([])),
        json!(true),
        "a payload ran on the {page} page: window.__xss = {}",
        browser.script("return String(window.__xss)", json!([]))
    );
    assert_eq!(
        browser.script(
            "return document.querySelectorAll('main img, main script, main [onerror]').length",
            json!([])
        ),
        json!(0),
        "application data became elements on the {page} page"
    );
}

fn page_text(browser: &Browser) -> String {
    browser
        .script("return document.querySelector('main').innerText", json!([]))
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn sessions_session_trace_generation_and_query_pages_show_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_generated(&store, "generated", 60);
    let session = run_example(&store);
    let ui = UiProcess::start(&store);
    let browser = Browser::start();

    // Sessions: the example's session is listed (page 1 of the 61 sessions).
    browser.goto(&format!("{}#/sessions", ui.url));
    browser.wait_for("#sessions-table");
    let rows = browser.all("#sessions-table tbody tr");
    assert_eq!(rows.len(), 50, "one page of sessions");
    assert!(
        browser.all(".pager a").len() == 1,
        "a link to older sessions"
    );
    let link = by_text(&browser, "#sessions-table a", &session);
    shoot(&browser, "ui-sessions.png");

    // Session: its three traces, as turns, with the totals line.
    browser.click(&link);
    browser.wait_for("#turns article.turn");
    let turns = browser.all("#turns article.turn");
    assert_eq!(turns.len(), 3, "the example's session has three traces");
    let title = browser.text(&browser.wait_for("#session-title"));
    assert!(
        title.starts_with(&format!("Session: {session} (")) && title.contains('$'),
        "{title}"
    );
    let text = page_text(&browser);
    for name in ["url_fetch", "content_analysis", "content_analysis_workflow"] {
        assert!(text.contains(name), "turn {name} missing:\n{text}");
    }
    assert!(text.contains("LATENCY P95"), "{text}");
    shoot(&browser, "ui-session.png");

    // Trace: the workflow's tree with its eight agents, the failed one marked.
    let workflow = by_text(&browser, "#turns a", "content_analysis_workflow");
    browser.click(&workflow);
    browser.wait_for("#observation-tree .obs-row");
    let agents: Vec<String> = browser
        .script(
            "return [...document.querySelectorAll('#observation-tree .obs-row')]
                .filter(r => r.querySelector('.type').textContent === 'agent')
                .map(r => r.dataset.name)",
            json!([]),
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(agents.len(), 8, "{agents:?}");
    let failed: Vec<Value> = browser
        .script(
            "return [...document.querySelectorAll('#observation-tree .obs-row.level-error')]
                .map(r => [r.dataset.name, r.querySelector('.badge.error') != null,
                           getComputedStyle(r.querySelector('.bar')).backgroundColor])",
            json!([]),
        )
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0][0], "fact_checker");
    assert_eq!(
        failed[0][1], true,
        "the failed agent carries an error badge"
    );
    assert_eq!(failed[0][2], "rgb(220, 38, 38)", "its timeline bar is red");

    // A generation's detail: model, usage, cost.
    let generation = browser.script(
        "return [...document.querySelectorAll('#observation-tree .obs-row')]
            .find(r => r.querySelector('.type').textContent === 'generation')",
        json!([]),
    );
    browser.click(&generation);
    browser.wait_for("#observation-detail .obs-detail");
    let detail = browser.text(&browser.wait_for("#observation-detail"));
    assert!(
        detail.contains("Model") && detail.contains("gpt-4o"),
        "{detail}"
    );
    assert!(detail.contains("USAGE"), "{detail}");
    for key in ["input", "output", "total"] {
        assert!(detail.contains(key), "usage {key} missing: {detail}");
    }
    assert!(
        detail
            .lines()
            .any(|l| l.starts_with("Cost") && l.contains("$0.0")),
        "{detail}"
    );
    // The selection is in the URL: a reload shows the same observation.
    let url: String = browser
        .script("return location.href", json!([]))
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.contains("#/trace/") && url.contains("?obs="), "{url}");
    browser.open_fresh(&url);
    browser.wait_for("#observation-detail .obs-detail");
    assert_eq!(
        browser.text(&browser.wait_for("#observation-detail .obs-detail h2")),
        browser.text(&browser.wait_for("#observation-tree .obs-row.selected .obs-name"))
    );
    shoot(&browser, "ui-trace.png");

    // Users.
    browser.goto(&format!("{}#/users", ui.url));
    browser.wait_for("#users-table");
    assert!(page_text(&browser).contains("user_demo"));
    shoot(&browser, "ui-users.png");

    // A user links to their sessions; the filter form narrows the list (and the URL).
    browser.click(&by_text(&browser, "#users-table a", "user_demo"));
    browser.wait_until(
        "user_demo's sessions only",
        "return location.hash.includes('user=user_demo')
            && document.querySelectorAll('#sessions-table tbody tr').length === 1",
    );
    browser.goto(&format!("{}#/sessions", ui.url));
    let errors_only = browser.wait_for("#session-filters [name=errors]");
    browser.click(&errors_only);
    browser.click(&browser.wait_for("#session-filters button[type=submit]"));
    browser.wait_until(
        "the sessions with an error",
        "return location.hash.includes('errors=1')
            && document.querySelectorAll('#sessions-table tbody tr').length === 1",
    );
    assert!(page_text(&browser).contains(&session));

    // Query: a seed query, one click away.
    browser.goto(&format!("{}#/query", ui.url));
    let seed = browser.wait_for("button.seed[data-report=users]");
    browser.click(&seed);
    browser.wait_for("#query-result table");
    let result = browser.text(&browser.wait_for("#query-result"));
    assert!(result.contains("user_demo"), "{result}");
    shoot(&browser, "ui-query.png");

    // Live: a session written while the page is open appears without a reload.
    browser.goto(&format!("{}#/sessions", ui.url));
    browser.wait_for("#sessions-table");
    browser.script("window.__notReloaded = true", json!([]));
    write_generated(&store, "live", 1);
    by_text(&browser, "#sessions-table a", "live_000");
    assert_eq!(
        browser.script("return window.__notReloaded === true", json!([])),
        json!(true)
    );

    // And a query that writes is refused.
    browser.goto(&format!(
        "{}#/query?sql={}",
        ui.url, "DELETE%20FROM%20traces"
    ));
    let refused = browser.text(&browser.wait_for("#query-error"));
    assert!(refused.contains("SELECT statements only"), "{refused}");
}

#[test]
fn script_in_application_data_renders_as_text_and_never_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    let trace = write_xss(&store);
    let ui = UiProcess::start(&store);
    let browser = Browser::start();

    browser.goto(&format!("{}#/sessions", ui.url));
    browser.wait_for("#sessions-table");
    let text = page_text(&browser);
    assert!(text.contains(XSS_SESSION), "{text}");
    assert!(text.contains(XSS_USER), "{text}");
    no_script_ran(&browser, "sessions");

    browser.click(&by_text(&browser, "#sessions-table a", XSS_SESSION));
    browser.wait_for("#turns article.turn");
    let text = page_text(&browser);
    assert!(text.contains(XSS_NAME), "{text}");
    assert!(text.contains(XSS_INPUT), "{text}");
    no_script_ran(&browser, "session");

    browser.goto(&format!("{}#/trace/{trace}", ui.url));
    browser.wait_for("#observation-tree .obs-row");
    browser.click(&browser.wait_for("#observation-tree .obs-row"));
    browser.wait_for("#observation-detail .obs-detail");
    // Open the trace's own input and metadata too.
    browser.script(
        "document.querySelector('details.trace-io').open = true",
        json!([]),
    );
    let text = page_text(&browser);
    for payload in [XSS_NAME, XSS_TAG, XSS_INPUT, XSS_METADATA] {
        assert!(
            text.contains(payload),
            "`{payload}` not shown as text:\n{text}"
        );
    }
    no_script_ran(&browser, "trace");

    browser.goto(&format!("{}#/users", ui.url));
    browser.wait_for("#users-table");
    assert!(page_text(&browser).contains(XSS_USER));
    no_script_ran(&browser, "users");

    browser.goto(&format!(
        "{}#/query?sql={}",
        ui.url, "SELECT%20name%2C%20user_id%20FROM%20traces"
    ));
    browser.wait_for("#query-result table");
    assert!(page_text(&browser).contains(XSS_NAME));
    no_script_ran(&browser, "query");
}

#[test]
fn costs_follow_the_one_money_rule_computed_ones_included() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    let trace = write_priced(&store);
    let ui = UiProcess::start(&store);
    let browser = Browser::start();

    // The session's cost holds a computed part ($0.25 given + $0.0035 computed), shown as
    // the Rust rule shows it, with no `~`.
    let total = format_usd(0.25 + 0.0035).unwrap();
    browser.goto(&format!("{}#/session/priced", ui.url));
    let title = browser.text(&browser.wait_for("#session-title"));
    assert!(title.contains(&format!(", {total})")), "{title}");
    assert!(!title.contains('~'), "{title}");

    // The priced generation says so in words; the one with a cost given does not.
    browser.goto(&format!("{}#/trace/{trace}", ui.url));
    browser.wait_for("#observation-tree .obs-row");
    let facts = page_text(&browser);
    assert!(facts.contains(&format!("Cost {total}")), "{facts}");
    for (name, cost) in [
        ("summarize", "$0.0035 (computed from usage)"),
        ("review", "$0.25"),
    ] {
        let row = browser.script(
            "return [...document.querySelectorAll('#observation-tree .obs-row')]
                .find(r => r.dataset.name === arguments[0])",
            json!([name]),
        );
        browser.click(&row);
        browser.wait_until(
            &format!("{name}'s detail"),
            &format!(
                "return document.querySelector('#observation-detail .obs-detail h2')?.textContent.startsWith({})",
                json!(name)
            ),
        );
        let detail = browser.text(&browser.wait_for("#observation-detail"));
        let line = detail
            .lines()
            .find(|l| l.starts_with("Cost"))
            .unwrap_or_default();
        assert_eq!(line.trim_start_matches("Cost").trim(), cost, "{detail}");
    }
}

#[test]
fn the_pages_format_money_as_the_rust_rule_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    write_priced(&store);
    let ui = UiProcess::start(&store);
    let browser = Browser::start();
    browser.goto(&format!("{}#/sessions", ui.url));
    browser.wait_for("#main table, #main .empty");

    let amounts = [
        0.0056,
        0.0112,
        0.00012,
        0.000_505,
        3e-7,
        0.2536,
        0.5,
        0.1,
        0.99999,
        0.000_999_99,
        1.0,
        1.23,
        1520.4,
        12_345.678,
        -0.5,
        0.0,
        1e-12,
    ];
    let shown = browser.script(
        "return arguments[0].map((c) => fmtCost(c))",
        json!([amounts]),
    );
    for (i, usd) in amounts.iter().enumerate() {
        assert_eq!(
            shown[i].as_str().unwrap(),
            format_usd(*usd).unwrap_or_default(),
            "{usd}"
        );
    }
    // And where a cost is missing or not a number, nothing is shown.
    let nothing = browser.script(
        "return [fmtCost(null), fmtCost(undefined), fmtCost('x')]",
        json!([]),
    );
    assert_eq!(nothing, json!(["", "", ""]));
}

#[test]
fn a_failed_request_is_one_failed_trace_whose_failures_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("traces.db");
    let trace = crate::cli_failures::write_failed_request(&store);
    let ui = UiProcess::start(&store);
    let browser = Browser::start();

    // The sessions list: one failed trace of two, though three observations failed.
    browser.goto(&format!("{}#/sessions", ui.url));
    let row = browser.text(&browser.wait_for("#sessions-table tbody tr"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells.first(), Some(&"s-1"), "{row}");
    let badge = browser.text(&browser.wait_for("#sessions-table tbody tr .badge.error"));
    assert_eq!(badge, "1", "{row}");

    // The session's turn says how many observations failed, once.
    browser.goto(&format!("{}#/session/s-1", ui.url));
    let count = browser.text(&browser.wait_for("#turns .failed-count"));
    assert_eq!(count, "3 failed observations");
    assert_eq!(browser.all("#turns .failed-count").len(), 1);

    // The trace lists them in start order with their messages, each a link that selects it.
    browser.goto(&format!("{}#/trace/{trace}", ui.url));
    let list = browser.text(&browser.wait_for("#failed-observations"));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(
        lines,
        [
            "Failed observations (3)",
            "call_model span: provider returned 503",
            "handler span: provider returned 503",
            "response failed event: status=500",
        ],
        "{list}"
    );
    let links = browser.all("#failed-observations a");
    browser.click(&links[2]);
    browser.wait_until(
        "the failed event's detail",
        "return document.querySelector('#observation-detail .obs-detail h2')?.textContent.startsWith('response failed')",
    );
}
