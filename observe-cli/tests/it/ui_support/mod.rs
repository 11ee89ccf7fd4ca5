//! Support for the browser tests: a store filled by the bundled example and by records
//! written as the runtime's client writes them, the `observe ui` process, and a WebDriver
//! client.

// Each test module uses a part of this module.
#![allow(dead_code)]

pub mod webdriver;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};

use crate::common::priced::write_priced_trace;
use crate::common::record::Recorder;
use observe_model::model::{
    Cost, Json, Level, ObservationDetails, ObservationType, TraceAttributes, Usage,
};
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

/// Writes `n` small generated sessions (`{prefix}_000`...) as the runtime's client would.
pub fn write_generated(store: &Path, prefix: &str, n: usize) {
    let mut recorder = Recorder::new();
    for i in 0..n {
        let mut trace = recorder.trace(
            "generated_chat",
            TraceAttributes {
                session_id: Some(format!("{prefix}_{i:03}")),
                user_id: Some(format!("user_{}", i % 7)),
                tags: vec!["generated".to_owned()],
                input: Some(Json::from_value(
                    &json!({"question": format!("question {i}")}),
                )),
                ..TraceAttributes::default()
            },
        );
        trace.generation(
            "answer",
            ObservationDetails {
                model: Some("gpt-4o-mini".to_owned()),
                usage: Some(Usage::new(100 + i as u64, 20)),
                cost: Some(Cost::new(0.0001, 0.0002)),
                ..ObservationDetails::default()
            },
        );
        trace.end();
    }
    recorder.write(store);
}

/// Writes one trace whose name, user, session, tag, metadata, input and output carry
/// script payloads; returns its trace id.
pub fn write_xss(store: &Path) -> String {
    let input = Json::from_value(&json!([{"role": "user", "content": XSS_INPUT}]));
    let mut recorder = Recorder::new();
    let mut trace = recorder.trace(
        XSS_NAME,
        TraceAttributes {
            session_id: Some(XSS_SESSION.to_owned()),
            user_id: Some(XSS_USER.to_owned()),
            tags: vec![XSS_TAG.to_owned()],
            metadata: [("note".to_owned(), Json::string(XSS_METADATA))].into(),
            input: Some(input.clone()),
            ..TraceAttributes::default()
        },
    );
    let id = trace.id().to_string();
    let step = trace.start(ObservationType::Generation, XSS_NAME);
    trace.score(Some(step.id), XSS_NAME, 1.0, Some(XSS_INPUT));
    trace.finish(
        step,
        Level::Error,
        ObservationDetails {
            input: Some(input),
            output: Some(Json::string(XSS_INPUT)),
            metadata: [(XSS_METADATA.to_owned(), Json::string(XSS_METADATA))].into(),
            status_message: Some(XSS_INPUT.to_owned()),
            ..ObservationDetails::default()
        },
    );
    trace.end();
    recorder.write(store);
    id
}

/// Writes session `priced` (user `payer`) of one trace: generation `summarize` with usage
/// and no cost, which the store prices (gpt-4o: 1000 in, 100 out, $0.0035), and `review`
/// with a cost given ($0.25); returns the trace id.
pub fn write_priced(store: &Path) -> String {
    let payer = TraceAttributes {
        session_id: Some("priced".to_owned()),
        user_id: Some("payer".to_owned()),
        ..TraceAttributes::default()
    };
    write_priced_trace(store, "priced_chat", payer, None)
}

/// `observe --db STORE ui --port 0`, ended on drop.
pub struct UiProcess {
    child: Child,
    /// The URL it printed.
    pub url: String,
}

impl UiProcess {
    pub fn start(store: &Path) -> UiProcess {
        UiProcess::spawn(store, Stdio::inherit(), &[])
    }

    /// Started with more arguments after `ui` (e.g. `--dashboard FILE`).
    pub fn start_with_args(store: &Path, args: &[&std::ffi::OsStr]) -> UiProcess {
        UiProcess::spawn(store, Stdio::inherit(), args)
    }

    /// Started with its stderr kept, to read what it reports.
    pub fn start_with_stderr(store: &Path) -> (UiProcess, BufReader<ChildStderr>) {
        let mut ui = UiProcess::spawn(store, Stdio::piped(), &[]);
        let stderr = ui.child.stderr.take().expect("stderr");
        (ui, BufReader::new(stderr))
    }

    fn spawn(store: &Path, stderr: Stdio, args: &[&std::ffi::OsStr]) -> UiProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_observe"))
            .arg("--db")
            .arg(store)
            .args(["ui", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
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
