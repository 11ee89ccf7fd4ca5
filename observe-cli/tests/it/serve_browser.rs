//! The web view on `observe serve`'s own port, in a real browser (Debian's chromium through
//! chromedriver, as in ui_browser.rs): a session the OpenTelemetry Python SDK sent shows as
//! a turn, and its trace as a tree with the generation and the failed tool marked. The
//! server runs without keys, so the browser needs no credentials.

use serde_json::{json, Value};

use crate::serve_clients::{run_client, PythonClient, Served};
use crate::ui_support::webdriver::Browser;

#[test]
fn the_web_view_on_the_serve_port_renders_what_an_sdk_sent() {
    let served = Served::start_open();
    let run = run_client(PythonClient::OpenTelemetry, &served, &["browser"]);
    let (session, trace) = (&run.sessions[0], &run.traces[0]);
    let browser = Browser::start();

    browser.goto(&format!("{}/#/session/{session}", served.url));
    browser.wait_for("#turns article.turn");
    assert_eq!(browser.all("#turns article.turn").len(), 1, "one trace");
    let title = browser.text(&browser.wait_for("#session-title"));
    assert!(
        title.starts_with(&format!("Session: {session} (")) && title.contains('$'),
        "{title}"
    );

    browser.open_fresh(&format!("{}/#/trace/{trace}", served.url));
    browser.wait_for("#observation-tree .obs-row");
    let rows: Value = browser.script(
        "return [...document.querySelectorAll('#observation-tree .obs-row')]
            .map(r => [r.dataset.name, r.querySelector('.type').textContent,
                       r.classList.contains('level-error')])",
        json!([]),
    );
    let mut rows = rows.as_array().expect("rows").clone();
    rows.sort_by_key(|r| r[0].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        Value::Array(rows),
        json!([
            ["chat gpt-4o-mini", "generation", false],
            ["execute_tool search", "tool", true],
            ["otel_workflow", "span", false],
        ])
    );
    served.stop();
}
