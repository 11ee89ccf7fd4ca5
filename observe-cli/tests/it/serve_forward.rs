//! `observe serve --forward-to`: the real binary takes OTLP over loopback, stores it, and
//! forwards it to loopback upstreams that speak the real protocols (Langfuse's OTLP endpoint
//! and a collector's, gzipped protobuf decoded by the upstream). An upstream that is down
//! costs the local store nothing: its records wait in the spool and reach it when it is back,
//! from the running server or from `observe push --spool`; with no spool they are counted.
//! The server is stopped with a real SIGTERM and its report read from its output.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use observe_model::export::Batch;

use crate::common;
use crate::loopback_upstream::Server;

/// How long a test waits for something that should happen well before (a bound on a
/// failure, not a measure of speed).
const PATIENCE: Duration = Duration::from_secs(90);

/// A running `observe serve`.
struct Serve {
    child: Child,
    stdout: BufReader<ChildStdout>,
    url: String,
    /// Its output up to the URL line and after.
    output: String,
}

impl Serve {
    /// Starts `observe --db <db> serve --port 0 <args>` with only `vars` of the Langfuse,
    /// OpenTelemetry and observe settings, in the store's directory: whatever it writes
    /// beside its working directory lands in the test's temporary directory, never in the
    /// source tree.
    fn start(db: &Path, vars: &[(&str, &str)], args: &[&str]) -> Serve {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_observe"));
        cmd.current_dir(db.parent().expect("the store is in a directory"));
        for (name, _) in std::env::vars() {
            if ["LANGFUSE_", "OTEL_", "OBSERVE_"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                cmd.env_remove(name);
            }
        }
        let mut child = cmd
            .envs(vars.iter().copied())
            .arg("--db")
            .arg(db)
            .args(["serve", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start observe serve");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut output = String::new();
        let url = loop {
            let mut line = String::new();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("observe serve ended before saying its URL: {output}");
            }
            output.push_str(&line);
            if let Some(rest) = line.strip_prefix("observe serve: http://") {
                let address = rest.split_whitespace().next().unwrap();
                break format!("http://{address}");
            }
        };
        Serve {
            child,
            stdout,
            url,
            output,
        }
    }

    /// Posts `batch` as OTLP protobuf to Langfuse's endpoint; the answer must be 200.
    fn post(&self, batch: &Batch) {
        let body =
            observe_export::otlp::encode_batch(batch, &observe_export::otlp::Resource::new("app"));
        let auth = base64::engine::general_purpose::STANDARD.encode("pk-lf-local:sk-lf-local");
        let response = reqwest::blocking::Client::new()
            .post(format!("{}/api/public/otel/v1/traces", self.url))
            .header("Content-Type", "application/x-protobuf")
            .header("Authorization", format!("Basic {auth}"))
            .body(body)
            .send()
            .expect("post to observe serve");
        assert_eq!(response.status().as_u16(), 200, "{:?}", response.text());
    }

    /// SIGTERM, then everything it printed; it must exit successfully.
    fn stop(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill (procps) sends the signal");
        assert!(status.success());
        self.stdout.read_to_string(&mut self.output).unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "observe serve failed: {}", self.output);
        self.output
    }
}

/// `count` traces of two observations each (indexes from `first`), as one batch.
fn traces(first: usize, count: usize) -> Batch {
    let specs = common::specs();
    let now = common::now();
    let mut batch = Batch::default();
    for i in first..first + count {
        batch
            .observations
            .extend(common::trace_observations(&specs[i % specs.len()], i, now));
    }
    batch
}

/// Observations in the local store.
fn stored(db: &Path) -> i64 {
    let connection = rusqlite::Connection::open(db).unwrap();
    connection
        .query_row("SELECT count(*) FROM observations", [], |r| r.get(0))
        .unwrap()
}

/// Bytes in the segment files of a spool slot.
fn spooled_bytes(slot: &Path) -> u64 {
    std::fs::read_dir(slot)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "seg"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// Waits until `upstream` received `n` observations.
fn wait_for(upstream: &Server, n: usize) {
    let until = Instant::now() + PATIENCE;
    while upstream.received().observations.len() < n {
        assert!(
            Instant::now() < until,
            "the upstream received {} of {n} observations",
            upstream.received().observations.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The counts the server printed for the upstream whose description contains `which`:
/// `(accepted, exported, failed, dropped, spooled)`.
fn report(output: &str, which: &str) -> (u64, u64, u64, u64, u64) {
    let line = output
        .lines()
        .find(|l| l.starts_with("forwarded to ") && l.contains(which))
        .unwrap_or_else(|| panic!("no report for {which} in: {output}"));
    let (before, after) = line
        .split_once(" records accepted = ")
        .expect("the accepted = exported + failed + dropped + spooled line");
    let mut numbers = std::iter::once(before.rsplit(' ').next().unwrap())
        .chain(after.split(" + ").map(|t| t.split(' ').next().unwrap()))
        .map(|t| t.parse::<u64>().expect(line));
    let mut n = |_: usize| numbers.next().expect(line);
    (n(1), n(2), n(3), n(4), n(5))
}

#[test]
fn spans_sent_to_serve_are_stored_and_reach_each_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let source_tree = Path::new(env!("CARGO_MANIFEST_DIR")).join(".observe");
    let source_tree_had_one = source_tree.exists();
    let (langfuse, collector) = (Server::start(), Server::start());
    let collector_url = format!("{}/v1/traces", collector.url);
    let serve = Serve::start(
        &db,
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-upstream"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-upstream-secret"),
        ],
        &[
            "--forward-to",
            &langfuse.url,
            "--forward-to",
            &collector_url,
        ],
    );
    serve.post(&traces(0, 5));
    serve.post(&traces(5, 3));
    wait_for(&langfuse, 16);
    wait_for(&collector, 16);
    let output = serve.stop();
    assert!(!output.contains("sk-lf-upstream-secret"), "{output}");
    assert_eq!(stored(&db), 16);
    for upstream in [&langfuse, &collector] {
        let received = upstream.received();
        let mut ids: Vec<_> = received.observations.clone();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            16,
            "each observation once: {:?}",
            received.observations
        );
        let traces = received.traces();
        assert!(traces.contains(&common::trace_id(0)) && traces.contains(&common::trace_id(7)));
    }
    assert_eq!(
        report(&output, &langfuse.url),
        (16, 16, 0, 0, 0),
        "{output}"
    );
    assert_eq!(
        report(&output, &collector_url),
        (16, 16, 0, 0, 0),
        "{output}"
    );
    assert!(
        output.contains(&format!(
            "also forwarding to Langfuse at {} (OTLP)",
            langfuse.url
        )),
        "{output}"
    );
    // Without --forward-spool nothing is spooled, in the working directory or elsewhere.
    assert!(
        !dir.path().join(".observe").exists() && !dir.path().join("spool").exists(),
        "a spool was made without --forward-spool"
    );
    assert!(
        source_tree_had_one || !source_tree.exists(),
        "observe serve wrote {} in the source tree",
        source_tree.display()
    );
}

/// A collector that answers 503 until told otherwise, and its traces URL.
fn dead_collector() -> (Server, String) {
    let upstream = Server::start();
    upstream.received().down = true;
    let url = format!("{}/v1/traces", upstream.url);
    (upstream, url)
}

#[test]
fn a_dead_upstream_costs_the_store_nothing_and_gets_the_spool_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let spool = dir.path().join("spool");
    let (upstream, url) = dead_collector();
    let serve = Serve::start(
        &db,
        &[],
        &[
            "--forward-to",
            &url,
            "--forward-retry-deadline",
            "1s",
            "--forward-spool",
            spool.to_str().unwrap(),
        ],
    );
    serve.post(&traces(0, 4));
    serve.post(&traces(4, 4));
    // Stored and acknowledged while the upstream answers 503.
    assert_eq!(stored(&db), 16);
    // The records reach the spool once the retry deadline passes.
    let until = Instant::now() + PATIENCE;
    while spooled_bytes(&spool.join("otlp").join("0")) == 0 {
        assert!(Instant::now() < until, "nothing was spooled");
        std::thread::sleep(Duration::from_millis(50));
    }
    upstream.received().down = false;
    wait_for(&upstream, 16);
    let output = serve.stop();
    assert_eq!(report(&output, &url), (16, 16, 0, 0, 0), "{output}");
    let received = upstream.received();
    let mut ids = received.observations.clone();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 16);
}

#[test]
fn records_an_upstream_did_not_take_by_shutdown_are_spooled_for_observe_push() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let spool = dir.path().join("spool");
    let (upstream, url) = dead_collector();
    let spool_arg = spool.to_str().unwrap();
    let serve = Serve::start(
        &db,
        &[],
        &[
            "--forward-to",
            &url,
            "--forward-spool",
            spool_arg,
            "--drain-timeout",
            "1",
        ],
    );
    serve.post(&traces(0, 3));
    let output = serve.stop();
    assert_eq!(stored(&db), 6);
    assert_eq!(report(&output, &url), (6, 0, 0, 0, 6), "{output}");
    assert!(output.contains("observe push --spool"), "{output}");
    assert_eq!(upstream.received().observations.len(), 0);
    // The upstream is back: `observe push --spool` sends what the server left.
    upstream.received().down = false;
    let out = Command::new(env!("CARGO_BIN_EXE_observe"))
        .env_remove("LANGFUSE_PUBLIC_KEY")
        .env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &url)
        .args(["--db", db.to_str().unwrap(), "push", "--spool", spool_arg])
        .output()
        .unwrap();
    let text = common::ok(&out);
    assert!(text.contains("otlp: 6 delivered"), "{text}");
    wait_for(&upstream, 6);
}

#[test]
fn without_a_spool_what_a_dead_upstream_missed_is_counted_not_lost_silently() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let (_upstream, url) = dead_collector();
    let serve = Serve::start(
        &db,
        &[],
        &[
            "--forward-to",
            &url,
            "--forward-retry-deadline",
            "500ms",
            "--drain-timeout",
            "1",
        ],
    );
    serve.post(&traces(0, 2));
    serve.post(&traces(2, 2));
    let output = serve.stop();
    assert_eq!(stored(&db), 8);
    let (accepted, exported, failed, dropped, spooled) = report(&output, &url);
    assert_eq!((accepted, exported, spooled), (8, 0, 0), "{output}");
    assert_eq!(failed + dropped, 8, "{output}");
}
