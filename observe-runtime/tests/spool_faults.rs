//! The durable spool under the faults it exists for: Langfuse down for a whole run and back
//! for the next process, an outage while the process runs, SIGKILL in spool-first mode, a
//! full spool, a file size limit (`RLIMIT_FSIZE`), a damaged segment, a directory that
//! cannot be written, two processes sharing one spool. Real child processes where a process
//! boundary is the point (runs, kills, limits, sharing). Against the loopback fault server of
//! `export_support`, with the span names the server received compared to what was accepted.
//!
//! The children are this test binary run with a filter that selects `child_*` and an
//! environment variable that gives them their work; in a normal run those do nothing.

mod export_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use export_support::{accept_all, refused_url, retry_options, Received, Reply, Server};
use observe_runtime::export::otlp::OtlpExporter;
use observe_runtime::export::spool::{replay_dir, ReplaySummary, SpoolOptions};
use observe_runtime::{
    Client, DestinationStats, FlushReport, ObservationUpdate, PipelineSettings, SpoolMode,
    SpoolSettings, Trace,
};

const PK: &str = "pk-lf-spool";
const SK: &str = "sk-lf-spool";
const NAME: &str = "langfuse-otlp";
/// Slack over a deadline: the time to count and return, on a slow, shared machine.
const MARGIN: Duration = Duration::from_secs(3);

fn otlp(url: &str, retry_deadline: Duration) -> OtlpExporter {
    OtlpExporter::langfuse(url, PK, SK, retry_options(retry_deadline)).unwrap()
}

fn settings(mode: SpoolMode, dir: &Path) -> PipelineSettings {
    let mut spool = SpoolSettings::new(mode, dir);
    spool.fsync_interval = Duration::from_millis(50);
    PipelineSettings {
        max_batch_records: 16,
        flush_interval: Duration::from_millis(20),
        spool,
        ..PipelineSettings::default()
    }
}

fn client(url: &str, settings: PipelineSettings) -> Client {
    Client::builder()
        .settings(settings)
        .exporter(otlp(url, Duration::from_millis(300)))
        .build()
}

/// `traces` traces named `{tag}-{i}`, each with a child `{tag}-{i}-c`.
fn produce(client: &Client, tag: &str, traces: usize) -> Vec<String> {
    let mut names = Vec::new();
    for i in 0..traces {
        let name = format!("{tag}-{i}");
        let trace = client.trace(Trace::new(name.clone()));
        trace.span(format!("{name}-c")).end();
        trace.end();
        names.push(format!("{name}-c"));
        names.push(name);
    }
    names
}

fn stats(report: &FlushReport) -> &DestinationStats {
    report
        .stats
        .destination(NAME)
        .unwrap_or_else(|| panic!("no {NAME}: {report:?}"))
}

/// A server that answers 503 while `down` is set and otherwise takes everything, keeping
/// the names of the spans it took (what a real Langfuse would store).
struct Langfuse {
    server: Server,
    down: Arc<AtomicBool>,
    taken: Arc<Mutex<Vec<String>>>,
}

impl Langfuse {
    fn start(down: bool) -> Langfuse {
        let flag = Arc::new(AtomicBool::new(down));
        let taken = Arc::new(Mutex::new(Vec::new()));
        let (f, t) = (flag.clone(), taken.clone());
        let server = Server::start(move |r: &Received, _| {
            if f.load(Ordering::SeqCst) {
                return Reply::status(503);
            }
            if r.path.ends_with("/v1/traces") {
                let names = r.spans().into_iter().map(|s| s.name);
                t.lock().unwrap().extend(names);
            }
            accept_all(r)
        });
        Langfuse {
            server,
            down: flag,
            taken,
        }
    }

    /// How many times the server took each name.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for name in self.taken.lock().unwrap().iter() {
            *counts.entry(name.clone()).or_insert(0) += 1;
        }
        counts
    }
}

/// Sends every slot of the destination's spool under `root`, as `observe push --spool` does.
fn replay_all(root: &Path, exporter: &mut OtlpExporter) -> ReplaySummary {
    replay_dir(
        &root.join(NAME),
        exporter,
        SpoolOptions::default(),
        &mut |_| {},
    )
}

/// Flushes until the destination has delivered what earlier runs spooled and its own
/// spool is empty, or gives up after `rounds` flushes (each bounded).
fn flush_until_drained(client: &Client, earlier: u64, rounds: usize) -> FlushReport {
    let mut report = client.flush(Duration::from_secs(2));
    for _ in 0..rounds {
        let d = stats(&report);
        if d.replayed + d.replay_failed + d.replay_dropped >= earlier && d.spooled == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        report = client.flush(Duration::from_secs(2));
    }
    report
}

#[test]
fn langfuse_down_for_a_whole_run_then_the_next_run_delivers_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let down = run_once(&refused_url(), dir.path(), "down", 300, 0);
    assert_eq!(
        (down.accepted, down.spooled, down.exported),
        (600, 600, 0),
        "{down:?}"
    );
    assert_eq!(down.dropped + down.failed, 0, "{down:?}");
    eprintln!(
        "figure: Langfuse down, on, 600 records: the process's shutdown took {:?}",
        down.took
    );
    assert!(down.took < Duration::from_secs(2) + MARGIN, "{down:?}");

    let langfuse = Langfuse::start(false);
    let next = run_once(&langfuse.server.base_url, dir.path(), "next", 10, 600);
    assert_eq!(
        (next.replayed, next.exported, next.spooled),
        (600, 20, 0),
        "{next:?}"
    );
    // Connections were refused, so nothing reached the server. Only a batch whose last
    // attempt the shutdown deadline cut short (its timeout ran out before the refusal came)
    // cannot be told apart from an unanswered request: at most one batch (16 records).
    assert!(next.resent <= 16, "{next:?}");
    let counts = langfuse.counts();
    for tag in ["down", "next"] {
        let n = if tag == "down" { 300 } else { 10 };
        for i in 0..n {
            for name in [format!("{tag}-{i}"), format!("{tag}-{i}-c")] {
                assert_eq!(
                    counts.get(&name),
                    Some(&1),
                    "{name} taken {:?} times",
                    counts.get(&name)
                );
            }
        }
    }
    assert_eq!(counts.len(), 620);
}

#[test]
fn two_processes_sharing_a_spool_take_a_slot_each_and_nothing_is_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let dead = refused_url();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|tag| {
            child(
                "child_run_once",
                &format!("{dead}|{}|{tag}|50|0", dir.path().display()),
            )
            .spawn()
            .unwrap()
        })
        .collect();
    let mut spooled = 0;
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success());
        spooled += RunCounts::parse(&String::from_utf8_lossy(&out.stdout)).spooled;
    }
    assert_eq!(spooled, 200);
    let slots = observe_runtime::export::spool::slots(&dir.path().join(NAME));
    assert_eq!(slots.len(), 2, "{slots:?}");

    let langfuse = Langfuse::start(false);
    let mut exporter = otlp(&langfuse.server.base_url, Duration::from_secs(2));
    let summary = replay_all(dir.path(), &mut exporter);
    assert_eq!(summary.delivered, 200, "{summary:?}");
    let again = replay_all(dir.path(), &mut exporter);
    assert_eq!(again.delivered, 0, "{again:?}");
    let counts = langfuse.counts();
    assert_eq!(counts.len(), 200);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

/// What a `child_run_once` process counted for its destination.
#[derive(Debug, Default)]
struct RunCounts {
    accepted: u64,
    exported: u64,
    failed: u64,
    dropped: u64,
    spooled: u64,
    replayed: u64,
    resent: u64,
    took: Duration,
}

impl RunCounts {
    fn parse(stdout: &str) -> RunCounts {
        let line = stdout
            .lines()
            .find_map(|l| l.split_once("run ").map(|(_, rest)| rest))
            .unwrap_or_else(|| panic!("no counts in {stdout}"));
        let n: Vec<u64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
        RunCounts {
            accepted: n[0],
            exported: n[1],
            failed: n[2],
            dropped: n[3],
            spooled: n[4],
            replayed: n[5],
            resent: n[6],
            took: Duration::from_millis(n[7]),
        }
    }
}

/// Runs one application process (`child_run_once`): `traces` traces tagged `tag`, the spool
/// on, waiting until it has replayed `replay` records of earlier runs.
fn run_once(url: &str, dir: &Path, tag: &str, traces: usize, replay: u64) -> RunCounts {
    let work = format!("{url}|{}|{tag}|{traces}|{replay}", dir.display());
    let out = child("child_run_once", &work).output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    RunCounts::parse(&String::from_utf8_lossy(&out.stdout))
}

/// Not a test of its own: one run of an application with the spool on.
#[test]
fn child_run_once() {
    let Ok(work) = std::env::var(CHILD_ENV) else {
        return;
    };
    let p: Vec<&str> = work.split('|').collect();
    let (url, dir, tag) = (p[0], Path::new(p[1]), p[2]);
    let (traces, replay): (usize, u64) = (p[3].parse().unwrap(), p[4].parse().unwrap());
    let c = client(url, settings(SpoolMode::Fallback, dir));
    produce(&c, tag, traces);
    if replay > 0 {
        let _ = flush_until_drained(&c, replay, 300);
    }
    let started = Instant::now();
    let report = c.shutdown(Duration::from_secs(2));
    let took = started.elapsed();
    let d = stats(&report);
    assert!(d.balanced() && d.pending == 0, "{d:?}");
    println!(
        "run {} {} {} {} {} {} {} {}",
        d.accepted,
        d.exported,
        d.failed,
        d.dropped,
        d.spooled,
        d.replayed,
        d.resent,
        took.as_millis()
    );
}

#[test]
fn an_outage_while_running_drains_when_the_server_returns_while_new_records_flow() {
    let dir = tempfile::tempdir().unwrap();
    let langfuse = Langfuse::start(true);
    let c = client(
        &langfuse.server.base_url,
        settings(SpoolMode::Fallback, dir.path()),
    );
    let mut names = produce(&c, "outage", 100);
    let report = c.flush(Duration::from_secs(10));
    let d = stats(&report);
    assert_eq!(
        d.dropped + d.failed,
        0,
        "nothing dropped that fits the spool: {d:?}"
    );
    assert!(d.spooled > 0, "{d:?}");
    assert!(d.balanced(), "{d:?}");

    langfuse.down.store(false, Ordering::SeqCst);
    names.extend(produce(&c, "after", 50));
    let _ = flush_until_drained(&c, 0, 300);
    let report = c.shutdown(Duration::from_secs(5));
    let d = stats(&report);
    assert_eq!(
        (d.exported, d.spooled, d.dropped, d.failed),
        (300, 0, 0, 0),
        "{d:?}"
    );
    let counts = langfuse.counts();
    for name in &names {
        assert!(counts.contains_key(name), "{name} never arrived");
    }
    let extra: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        extra as u64 <= d.resent,
        "{extra} duplicates, {} counted resent",
        d.resent
    );
}

#[test]
fn a_full_spool_counts_what_it_cannot_take_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(SpoolMode::Fallback, dir.path());
    s.spool.max_bytes = 64 * 1024;
    let c = client(&refused_url(), s);
    for i in 0..200 {
        let trace = c.trace(Trace::new(format!("big-{i}")));
        let mut span = trace.span("s");
        span.update(ObservationUpdate::new().input(&"x".repeat(2_000)));
        span.end();
        trace.end();
    }
    let report = c.shutdown(Duration::from_secs(3));
    let d = stats(&report);
    assert!(d.balanced() && d.pending == 0, "{d:?}");
    assert!(d.spooled > 0 && d.dropped > 0, "{d:?}");
    assert_eq!(d.spooled + d.dropped, 400, "{d:?}");
    let on_disk: u64 = walk(dir.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 64 * 1024 + 4096, "{on_disk} bytes on disk");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|e| e == "seg") {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_damaged_segment_is_skipped_and_counted_and_the_rest_is_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let first = client(&refused_url(), settings(SpoolMode::Fallback, dir.path()));
    produce(&first, "dmg", 100);
    let report = first.shutdown(Duration::from_secs(2));
    drop(first);
    assert_eq!(stats(&report).spooled, 200);
    let segs = walk(dir.path());
    assert_eq!(segs.len(), 1, "{segs:?}");
    let mut bytes = std::fs::read(&segs[0]).unwrap();
    bytes[40] ^= 0x55; // inside the first entry's payload
    std::fs::write(&segs[0], &bytes).unwrap();

    let langfuse = Langfuse::start(false);
    let second = client(
        &langfuse.server.base_url,
        settings(SpoolMode::Fallback, dir.path()),
    );
    let _ = flush_until_drained(&second, 200, 300);
    let report = second.shutdown(Duration::from_secs(5));
    let d = stats(&report);
    assert!(d.replay_dropped > 0, "{d:?}");
    assert_eq!(d.replayed + d.replay_dropped, 200, "{d:?}");
    assert_eq!(langfuse.counts().len() as u64, d.replayed);
}

#[test]
fn a_spool_that_cannot_be_created_falls_back_to_counted_drops() {
    let dir = tempfile::tempdir().unwrap();
    // A regular file where the spool's directory should be: as unwritable as a read-only
    // directory, for root too.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let c = client(
        &refused_url(),
        settings(SpoolMode::First, &blocker.join("spool")),
    );
    produce(&c, "ro", 50);
    let report = c.shutdown(Duration::from_secs(3));
    let d = stats(&report);
    assert!(d.balanced() && d.pending == 0, "{d:?}");
    assert_eq!(d.spooled, 0, "{d:?}");
    assert_eq!(d.failed + d.dropped, 100, "{d:?}");
}

#[test]
fn shutdown_in_spool_first_mode_returns_once_on_disk_whatever_the_network_does() {
    let dir = tempfile::tempdir().unwrap();
    let hanging = Server::start(|_, _| Reply::hang());
    let c = Client::builder()
        .settings(settings(SpoolMode::First, dir.path()))
        .exporter(otlp(&hanging.base_url, Duration::from_secs(30)))
        .build();
    produce(&c, "first", 200);
    let started = Instant::now();
    let report = c.shutdown(Duration::from_secs(10));
    let took = started.elapsed();
    let d = stats(&report);
    eprintln!("figure: spool-first against a hanging Langfuse: shutdown took {took:?}; {d:?}");
    assert!(
        took < Duration::from_secs(2),
        "{took:?} with a 10 s deadline"
    );
    assert!(d.balanced() && d.pending == 0, "{d:?}");
    assert_eq!(d.spooled + d.exported, 400, "{d:?}");
}

// ---------------------------------------------------------------------------------------
// Real processes.

const CHILD_ENV: &str = "OBSERVE_TEST_SPOOL_CHILD";

/// Not a test of its own: the body of the killed child. Spool-first, it produces rounds of
/// traces forever, flushing after each (on disk once it returns) and saying so on stdout.
#[test]
fn child_spool_first_producer() {
    let Ok(work) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = work.splitn(3, '|');
    let (url, dir, run) = (
        parts.next().unwrap().to_owned(),
        PathBuf::from(parts.next().unwrap()),
        parts.next().unwrap().to_owned(),
    );
    let c = client(&url, settings(SpoolMode::First, &dir));
    for round in 0..100_000 {
        produce(&c, &format!("k{run}-{round}"), 10);
        let _ = c.flush(Duration::from_secs(30));
        println!("durable {round}");
    }
}

/// Not a test of its own: a child whose files may grow to 100 kB (`RLIMIT_FSIZE`), with
/// `SIGXFSZ` ignored as a service would, so that a write past the limit fails with `EFBIG`.
#[test]
fn child_file_size_limited() {
    let Ok(work) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (url, dir) = work.split_once('|').unwrap();
    // SAFETY: setrlimit and signal with valid arguments; no other thread of this process
    // depends on SIGXFSZ's disposition.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: 100_000,
            rlim_max: 100_000,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let c = client(url, settings(SpoolMode::First, Path::new(dir)));
    produce(&c, "fsize", 2_000);
    let report = c.shutdown(Duration::from_secs(5));
    let d = stats(&report);
    println!(
        "counts {} {} {} {} {} {}",
        d.accepted, d.exported, d.failed, d.dropped, d.spooled, d.pending
    );
}

fn child(test: &str, work: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, work)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn sigkill_twenty_times_in_spool_first_mode_loses_nothing_that_was_on_disk() {
    const KILLS: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let langfuse = Langfuse::start(false);
    let mut durable = Vec::new();
    for run in 0..KILLS {
        let work = format!(
            "{}|{}|{run}",
            langfuse.server.base_url,
            dir.path().display()
        );
        let mut proc = child("child_spool_first_producer", &work).spawn().unwrap();
        let lines = BufReader::new(proc.stdout.take().unwrap()).lines();
        // A random moment: after a random number of rounds on disk, while it sends.
        let rounds = fastrand::usize(1..8);
        let mut last = None;
        for line in lines {
            let line = line.unwrap();
            if let Some(r) = line.strip_prefix("durable ") {
                last = Some(r.parse::<usize>().unwrap());
                if last == Some(rounds) {
                    break;
                }
            }
        }
        proc.kill().unwrap(); // SIGKILL
        let status = proc.wait().unwrap();
        assert!(!status.success(), "run {run} was not killed: {status:?}");
        let last = last.expect("the child reported its rounds");
        for round in 0..=last {
            for i in 0..10 {
                durable.push(format!("k{run}-{round}-{i}"));
                durable.push(format!("k{run}-{round}-{i}-c"));
            }
        }
    }
    // What the killed runs left: `observe push --spool` does this.
    let mut exporter = otlp(&langfuse.server.base_url, Duration::from_secs(5));
    let summary = replay_all(dir.path(), &mut exporter);
    assert_eq!(summary.remaining, 0, "{summary:?}");
    assert_eq!(summary.dropped_corrupt, 0, "{summary:?}");
    let counts = langfuse.counts();
    for name in &durable {
        assert!(
            counts.contains_key(name),
            "{name} was on disk before the kill and never arrived"
        );
    }
    // A duplicate comes only from an entry in flight at a kill: one per killed run, of at
    // most one batch (16 records here) each.
    let extra: usize = counts.values().map(|n| n - 1).sum();
    eprintln!(
        "figure: {KILLS} SIGKILLs, spool-first: {} on disk before the kills, {} taken, {extra} \
         duplicates; final push {summary:?}",
        durable.len(),
        counts.len()
    );
    assert!(extra <= KILLS * 16, "{extra} duplicates");
}

#[test]
fn a_file_size_limit_falls_back_to_counted_drops_and_the_process_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let work = format!("{}|{}", refused_url(), dir.path().display());
    let out = child("child_file_size_limited", &work).output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("counts ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no counts in {stdout}"));
    let n: Vec<u64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
    let (accepted, exported, failed, dropped, spooled, pending) =
        (n[0], n[1], n[2], n[3], n[4], n[5]);
    assert_eq!(accepted, 4_000);
    assert_eq!(
        exported + failed + dropped + spooled + pending,
        accepted,
        "{line}"
    );
    assert_eq!(pending, 0);
    assert!(spooled > 0 && dropped > 0, "{line}");
    let on_disk: u64 = walk(dir.path())
        .iter()
        .map(|p| p.metadata().unwrap().len())
        .sum();
    assert!(on_disk <= 100_000 * 2, "{on_disk}");
    // A write the limit cut short was cut back off: the next reader finds every record
    // counted spooled, and no damaged tail to count dropped a second time.
    let langfuse = Langfuse::start(false);
    let mut exporter = otlp(&langfuse.server.base_url, Duration::from_secs(5));
    let summary = replay_all(dir.path(), &mut exporter);
    assert_eq!(
        (
            summary.delivered,
            summary.dropped_corrupt,
            summary.remaining
        ),
        (spooled, 0, 0),
        "{summary:?}"
    );
}

/// A `429` asking to wait past the retry deadline holds the destination as a whole: the next
/// batches are not sent at once, and with
/// the spool they wait on disk rather than fail.
#[test]
fn a_retry_after_past_the_deadline_holds_the_whole_destination_and_the_batches_wait_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(export_support::faults::throttling_first(1, 60));
    let c = client(&server.base_url, settings(SpoolMode::Fallback, dir.path()));
    produce(&c, "throttled", 50);
    let report = c.flush(Duration::from_secs(5));
    let d = stats(&report);
    assert_eq!(
        server.to("/v1/traces").len(),
        1,
        "later batches went out at once"
    );
    assert_eq!(
        (d.spooled, d.exported, d.failed, d.dropped),
        (100, 0, 0, 0),
        "{d:?}"
    );
    let report = c.shutdown(Duration::from_secs(2));
    assert!(stats(&report).balanced(), "{report:?}");
    assert_eq!(server.to("/v1/traces").len(), 1);
}

/// A server slower than the request timeout takes the batch, but the answer never comes: the
/// request is not retried blindly; with the spool the batch
/// waits on disk marked as maybe sent, goes once more when the server is quick again, and
/// that copy is counted as `resent`.
#[test]
fn a_request_whose_answer_never_came_is_resent_once_through_the_spool_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let slow = Arc::new(AtomicBool::new(true));
    let taken = Arc::new(Mutex::new(Vec::<String>::new()));
    let (s, t) = (slow.clone(), taken.clone());
    let server = Server::start(move |r: &Received, _| {
        if r.path.ends_with("/v1/traces") {
            let names = r.spans().into_iter().map(|s| s.name);
            t.lock().unwrap().extend(names);
        }
        let reply = accept_all(r);
        if s.load(Ordering::SeqCst) {
            reply.delay(Duration::from_secs(2))
        } else {
            reply
        }
    });
    let mut options = retry_options(Duration::from_secs(5));
    options.timeout = Duration::from_millis(300);
    let c = Client::builder()
        .settings(settings(SpoolMode::Fallback, dir.path()))
        .exporter(OtlpExporter::langfuse(&server.base_url, PK, SK, options).unwrap())
        .build();
    produce(&c, "slow", 8);
    let report = c.flush(Duration::from_secs(10));
    let d = stats(&report);
    assert_eq!((d.spooled, d.exported), (16, 0), "{d:?}");
    // Each batch went out once: a retry after no answer would repeat its spans.
    let first: Vec<String> = taken.lock().unwrap().clone();
    let unique: std::collections::BTreeSet<&String> = first.iter().collect();
    assert_eq!(
        unique.len(),
        first.len(),
        "a batch was sent again blindly: {first:?}"
    );

    slow.store(false, Ordering::SeqCst);
    let _ = flush_until_drained(&c, 0, 300);
    let report = c.shutdown(Duration::from_secs(5));
    let d = stats(&report);
    assert_eq!((d.exported, d.spooled, d.resent), (16, 0, 16), "{d:?}");
    let names = taken.lock().unwrap().clone();
    let extra = names.len() - 16;
    assert!(
        extra as u64 <= d.resent,
        "{extra} copies beyond one, {} counted resent",
        d.resent
    );
}
