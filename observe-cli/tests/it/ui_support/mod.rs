//! Support for the browser tests: a store filled by the bundled example and by the
//! runtime's own writer, the `observe ui` process, and a WebDriver client.

// Each test module uses a part of this module.
#![allow(dead_code)]

pub mod webdriver;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use observe_model::model::{Cost, Level, Usage};
use observe_runtime::{Client, ObservationUpdate, ScoreRequest, Trace};
use observe_store::StoreExporter;
use serde_json::json;

/// Payloads that run script if a page ever parses application data as HTML: each sets
/// `window.__xss`, which the tests check stays undefined.
pub const XSS_NAME: &str = "<img src=x onerror=\"window.__xss='name'\">";
pub const XSS_USER: &str = "<script>window.__xss='user'</script>";
pub const XSS_TAG: &str = "<img src=x onerror=\"window.__xss='tag'\">";
pub const XSS_INPUT: &str =
    "<script>window.__xss='input'</script><img src=x onerror=\"window.__xss='input-img'\">";
pub const XSS_METADATA: &str = "<img src=x onerror=\"window.__xss='metadata'\">";
pub const XSS_SESSION: &str = "xss_<b>session</b>";

/// The example binary (`cargo run --example content_analysis`), built if it is not there.
pub fn example_binary() -> PathBuf {
    let observe = PathBuf::from(env!("CARGO_BIN_EXE_observe"));
    let profile_dir = observe.parent().expect("the binary's folder");
    let example = profile_dir
        .join("examples")
        .join(format!("content_analysis{}", std::env::consts::EXE_SUFFIX));
    if !example.is_file() {
        // `cargo test --workspace` builds it; a narrower run builds it here.
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "--quiet",
                "-p",
                "observe",
                "--example",
                "content_analysis",
            ])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("running cargo build --example content_analysis");
        assert!(status.success(), "building the example failed");
    }
    example
}

/// Runs the bundled example against `store` and returns its session id.
pub fn run_example(store: &Path) -> String {
    let out = Command::new(example_binary())
        .env("OBSERVE_STORE_PATH", store)
        .env_remove("LANGFUSE_PUBLIC_KEY")
        .env_remove("LANGFUSE_SECRET_KEY")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .expect("running the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the example failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no session line in the example's output:\n{stdout}"))
        .to_owned()
}

/// Writes `n` small generated sessions (`{prefix}_000`...) through the runtime's store
/// writer.
pub fn write_generated(store: &Path, prefix: &str, n: usize) {
    let client = Client::builder()
        .exporter(StoreExporter::open(store).expect("opening the store"))
        .build();
    for i in 0..n {
        let trace = client.trace(
            Trace::new("generated_chat")
                .session_id(format!("{prefix}_{i:03}"))
                .user_id(format!("user_{}", i % 7))
                .tags(["generated"])
                .input(&json!({"question": format!("question {i}")})),
        );
        let llm = trace.generation("answer");
        llm.end_with(
            ObservationUpdate::new()
                .model("gpt-4o-mini")
                .usage(Usage::new(100 + i as u64, 20))
                .cost(Cost::new(0.0001, 0.0002)),
        );
        trace.end();
    }
    client.shutdown(Duration::from_secs(30));
}

/// Writes one trace whose name, user, session, tag, metadata, input and output carry
/// script payloads; returns its trace id.
pub fn write_xss(store: &Path) -> String {
    let client = Client::builder()
        .exporter(StoreExporter::open(store).expect("opening the store"))
        .build();
    let trace = client.trace(
        Trace::new(XSS_NAME)
            .session_id(XSS_SESSION)
            .user_id(XSS_USER)
            .tags([XSS_TAG])
            .metadata(json!({ "note": XSS_METADATA }))
            .input(&json!([{"role": "user", "content": XSS_INPUT}])),
    );
    let id = trace.id().to_string();
    let mut step = trace.generation(XSS_NAME);
    step.update(
        ObservationUpdate::new()
            .input(&json!([{"role": "user", "content": XSS_INPUT}]))
            .output(&XSS_INPUT)
            .metadata(json!({ XSS_METADATA: XSS_METADATA }))
            .level(Level::Error)
            .status_message(XSS_INPUT),
    );
    step.score(ScoreRequest::new(XSS_NAME, 1.0).comment(XSS_INPUT));
    step.end();
    trace.end();
    client.shutdown(Duration::from_secs(30));
    id
}

/// Writes session `priced` (user `payer`) of one trace: generation `summarize` with usage
/// and no cost, which the store prices (gpt-4o: 1000 in, 100 out, $0.0035), and `review`
/// with a cost given ($0.25); returns the trace id.
pub fn write_priced(store: &Path) -> String {
    let client = Client::builder()
        .exporter(StoreExporter::open(store).expect("opening the store"))
        .build();
    let trace = client.trace(
        Trace::new("priced_chat")
            .session_id("priced")
            .user_id("payer"),
    );
    let id = trace.id().to_string();
    trace.generation("summarize").end_with(
        ObservationUpdate::new()
            .model("gpt-4o")
            .usage(Usage::new(1000, 100)),
    );
    trace.generation("review").end_with(
        ObservationUpdate::new()
            .model("gpt-4o")
            .usage(Usage::new(10, 10))
            .cost(Cost::total_only(0.25)),
    );
    trace.end();
    client.shutdown(Duration::from_secs(30));
    id
}

/// `observe --db STORE ui --port 0`, ended on drop.
pub struct UiProcess {
    child: Child,
    /// The URL it printed.
    pub url: String,
}

impl UiProcess {
    pub fn start(store: &Path) -> UiProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_observe"))
            .arg("--db")
            .arg(store)
            .args(["ui", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting observe ui");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading observe ui's first line");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in `{line}`"))
            .to_owned();
        UiProcess { child, url }
    }
}

impl Drop for UiProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where to save screenshots: `OBSERVE_UI_SCREENSHOTS` when set (docs/ keeps the ones
/// made with it), else nowhere.
pub fn screenshot_dir() -> Option<PathBuf> {
    std::env::var_os("OBSERVE_UI_SCREENSHOTS").map(PathBuf::from)
}
