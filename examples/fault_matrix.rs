//! The fault matrix of RELIABILITY.md: each scenario runs in a child process of its own (so
//! its peak RSS is its own) against a loopback server that misbehaves as the scenario says,
//! and prints one Markdown table row: records accepted; exported/failed/dropped per
//! destination; records lost silently (accepted but counted nowhere: must be 0); the time
//! `shutdown` took against its deadline; the peak RSS.
//!
//! ```text
//! cargo run --example fault_matrix
//! ```

#[path = "../observe-runtime/tests/export_support/mod.rs"]
mod export_support;

use std::process::Command;
use std::time::{Duration, Instant};

use export_support::faults::*;
use export_support::{accept_all, produce_inputs, refused_url, Reply, Server};
use observe_runtime::export::http::{HttpOptions, RetryPolicy};
use observe_runtime::export::ingestion::IngestionExporter;
use observe_runtime::export::otlp::OtlpExporter;
use observe_runtime::export::store::StoreExporter;
use observe_runtime::export::Exporter;
use observe_runtime::{Client, ObservationUpdate, PipelineSettings, Trace};

const TRACES: usize = 1_000;
const DEADLINE: Duration = Duration::from_secs(2);

/// (name, what the server does)
const SCENARIOS: &[&str] = &[
    "Langfuse up, store up",
    "Langfuse down (nothing listening), store up",
    "Langfuse hangs, store up",
    "Langfuse 503 for 3 requests, store up",
    "Langfuse 429 with Retry-After: 1, store up",
    "Langfuse closes the connection mid-request (first 2), store up",
    "Langfuse 401 (bad keys), store up",
    "Langfuse 413 above 50 kB (one 200 kB record)",
    "ingestion API 207 refusing 1 in 4",
    "overload: 20 kB inputs x 20,000, Langfuse hangs (64 MiB budget)",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--scenario") {
        let index: usize = args[i + 1].parse()?;
        return run(index);
    }
    println!(
        "| scenario | accepted | exported / failed / dropped per destination | lost silently \
         | shutdown took (deadline {}s) | peak RSS |",
        DEADLINE.as_secs()
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let me = std::env::current_exe()?;
    for (index, scenario) in SCENARIOS.iter().enumerate() {
        let out = Command::new(&me)
            .args(["--scenario", &index.to_string()])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.lines().find(|l| l.starts_with('|')) {
            Some(row) => println!("{row}"),
            None => println!(
                "| {} | scenario failed: {} |",
                scenario,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }
    Ok(())
}

fn options() -> HttpOptions {
    HttpOptions {
        timeout: Duration::from_secs(10),
        retry: RetryPolicy {
            deadline: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        },
        debug: false,
    }
}

fn otlp(url: &str) -> Box<dyn Exporter> {
    Box::new(
        OtlpExporter::langfuse(url, "pk-lf-matrix", "sk-lf-matrix", options())
            .unwrap()
            .gzip(false),
    )
}

fn run(index: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = || -> Box<dyn Exporter> {
        Box::new(StoreExporter::open(dir.path().join("traces.db")).unwrap())
    };
    let server = match index {
        0 | 7 => Server::start(if index == 0 {
            Box::new(|r: &_, _| accept_all(r)) as Box<dyn Fn(&_, usize) -> Reply + Send + Sync>
        } else {
            Box::new(too_large_above(50_000))
        }),
        2 | 9 => Server::start(|_, _| Reply::hang()),
        3 => Server::start(failing_first(3, 503)),
        4 => Server::start(throttling_first(1, 1)),
        5 => Server::start(closing_first(2)),
        6 => Server::start(|_, _| Reply::status(401)),
        8 => Server::start(refusing_named("refused")),
        _ => Server::accepting(),
    };
    let langfuse_url = if index == 1 {
        refused_url()
    } else {
        server.base_url.clone()
    };
    let mut builder = Client::builder().settings(PipelineSettings {
        flush_interval: Duration::from_millis(100),
        ..PipelineSettings::default()
    });
    builder = match index {
        8 => builder.exporter(
            IngestionExporter::new(&langfuse_url, "pk-lf-matrix", "sk-lf-matrix", options())
                .unwrap(),
        ),
        7 => builder.boxed_exporter(otlp(&langfuse_url)),
        _ => builder
            .boxed_exporter(otlp(&langfuse_url))
            .boxed_exporter(store()),
    };
    let client = builder.build();
    match index {
        7 => {
            let trace = client.trace(Trace::new("t"));
            for i in 0..9 {
                trace.span(format!("small{i}")).end();
            }
            let mut s = trace.span("huge");
            s.update(ObservationUpdate::new().input(&"x".repeat(200_000)));
            s.end();
            trace.end();
        }
        9 => produce_inputs(&client, 20_000, 20_000),
        _ => {
            for i in 0..TRACES {
                let trace = client.trace(Trace::new(format!("t{i}")));
                let name = if index == 8 && i % 4 == 0 {
                    "refused"
                } else {
                    "child"
                };
                trace.span(name).end();
                trace.end();
            }
        }
    }
    let started = Instant::now();
    let report = client.shutdown(DEADLINE);
    let took = started.elapsed();
    let per_destination: Vec<String> = report
        .stats
        .destinations
        .iter()
        .map(|d| format!("{}: {} / {} / {}", d.name, d.exported, d.failed, d.dropped))
        .collect();
    let accepted = report.stats.destinations.first().map_or(0, |d| d.accepted);
    let lost: u64 = report
        .stats
        .destinations
        .iter()
        .map(|d| d.accepted - (d.exported + d.failed + d.dropped))
        .max()
        .unwrap_or(0);
    println!(
        "| {} | {} | {} | {} | {:.2}s | {} MB |",
        SCENARIOS[index],
        accepted,
        per_destination.join("; "),
        lost,
        took.as_secs_f64(),
        peak_rss_kb() / 1024
    );
    Ok(())
}

/// The process's peak resident set (`VmHWM`), in kB; 0 where /proc is not there.
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
