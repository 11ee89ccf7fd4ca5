//! A load generator for `observe serve`: N connections post requests of 512 spans (OTLP
//! protobuf, OTLP/JSON, or the legacy ingestion API) as fast as the server answers, for a
//! given time, and report spans per second, the requests refused (`429`/`503`, retried as
//! the SDKs retry them) and the server's resident memory over the run.
//!
//! ```text
//! observe --db /tmp/load.db serve --port 3900 &
//! cargo run --release -p observe-cli --example ingest_load -- \
//!     --url http://127.0.0.1:3900 --connections 4 --seconds 60 --pid $!
//! ```
//!
//! The bodies are made before the clock starts: a few templates of distinct traces, each
//! request a copy of one with every trace, span and event id changed (the id bytes XORed
//! with a per-request salt, which keeps parents linked), so the server stores new rows
//! throughout while the generator spends almost nothing per request on the two cores it
//! shares with the server.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use base64::Engine as _;
use clap::{Parser, ValueEnum};
use observe_model::export::Batch;

#[path = "../benches/support/ingest_traffic.rs"]
mod ingest_traffic;

use ingest_traffic::{Traffic, SPANS_PER_REQUEST};

/// Templates per connection.
const TEMPLATES: usize = 4;

#[derive(Parser, Debug)]
struct Args {
    /// The server's base URL
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// What to post
    #[arg(long, value_enum, default_value = "otlp-protobuf")]
    api: Api,
    /// Concurrent connections (one thread each)
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// How long to post
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// The server's process id: its resident memory is sampled every second
    #[arg(long)]
    pid: Option<u32>,
    /// Basic auth `public:secret` [default: pk-lf-load:sk-lf-load]
    #[arg(long, default_value = "pk-lf-load:sk-lf-load")]
    keys: String,
    /// Gzip the bodies (as an exporter with compression on does)
    #[arg(long)]
    gzip: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    /// OTLP/HTTP protobuf to /api/public/otel/v1/traces
    OtlpProtobuf,
    /// OTLP/HTTP JSON to /api/public/otel/v1/traces
    OtlpJson,
    /// Langfuse's legacy batch API, /api/public/ingestion
    Ingestion,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::OtlpProtobuf | Api::OtlpJson => "/api/public/otel/v1/traces",
            Api::Ingestion => "/api/public/ingestion",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Api::OtlpProtobuf => "application/x-protobuf",
            Api::OtlpJson | Api::Ingestion => "application/json",
        }
    }
}

/// Where in a body an id sits, and how it is written there.
#[derive(Clone, Copy)]
enum Slot {
    /// Big-endian bytes (protobuf), 8 or 16 of them.
    Raw(usize, usize),
    /// Lowercase hex digits (JSON), 16 or 32 of them.
    Hex(usize, usize),
}

/// A request body and where its ids are.
struct Template {
    body: Vec<u8>,
    slots: Vec<Slot>,
    spans: u64,
}

impl Template {
    /// Finds every id of `batch` in `body`: as raw bytes for protobuf, as quoted hex
    /// strings (and the events' UUIDs) for JSON.
    fn new(batch: &Batch, body: Vec<u8>, raw: bool) -> Template {
        let spans: HashSet<[u8; 8]> = batch
            .observations
            .iter()
            .map(|o| o.id.0.to_be_bytes())
            .collect();
        let traces: HashSet<[u8; 16]> = batch
            .observations
            .iter()
            .map(|o| o.trace_id.0.to_be_bytes())
            .collect();
        let mut slots = Vec::new();
        let mut at = 0;
        while at < body.len() {
            let rest = &body[at..];
            if raw {
                if rest.len() >= 16
                    && traces.contains(&<[u8; 16]>::try_from(&rest[..16]).unwrap_or_default())
                {
                    slots.push(Slot::Raw(at, 16));
                    at += 16;
                    continue;
                }
                if rest.len() >= 8
                    && spans.contains(&<[u8; 8]>::try_from(&rest[..8]).unwrap_or_default())
                {
                    slots.push(Slot::Raw(at, 8));
                    at += 8;
                    continue;
                }
            } else if rest[0] == b'"' {
                let run = rest[1..]
                    .iter()
                    .take_while(|b| b.is_ascii_hexdigit() || **b == b'-')
                    .count();
                let text = &rest[1..1 + run];
                let closed = rest.get(1 + run) == Some(&b'"');
                let dashes = text.iter().filter(|b| **b == b'-').count();
                match (closed, run, dashes) {
                    (true, 16, 0) if spans.contains(&unhex::<8>(text)) => {
                        slots.push(Slot::Hex(at + 1, 16))
                    }
                    (true, 32, 0) if traces.contains(&unhex::<16>(text)) => {
                        slots.push(Slot::Hex(at + 1, 32))
                    }
                    // An event's UUID: its last 16 digits change.
                    (true, 36, 4) => slots.push(Slot::Hex(at + 1 + 19, 16)),
                    _ => {}
                }
                at += 1 + run;
                continue;
            }
            at += 1;
        }
        Template {
            body,
            slots,
            spans: batch.observations.len() as u64,
        }
    }

    /// The body with every id XORed with `salt`.
    fn instance(&self, salt: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.body);
        let salt = salt.to_be_bytes();
        for slot in &self.slots {
            match *slot {
                Slot::Raw(at, len) => {
                    for (i, b) in out[at..at + len].iter_mut().enumerate() {
                        *b ^= salt[i % 8];
                    }
                }
                Slot::Hex(at, len) => {
                    // Skip a UUID's dash.
                    let digits: Vec<usize> = (at..).filter(|i| out[*i] != b'-').take(len).collect();
                    for (n, pair) in digits.chunks(2).enumerate() {
                        let byte = hex_value(out[pair[0]]) << 4 | hex_value(out[pair[1]]);
                        let byte = byte ^ salt[n % 8];
                        out[pair[0]] = HEX[usize::from(byte >> 4)];
                        out[pair[1]] = HEX[usize::from(byte & 15)];
                    }
                }
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        b'A'..=b'F' => digit - b'A' + 10,
        _ => 0,
    }
}

fn unhex<const N: usize>(text: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    for (i, pair) in text.chunks(2).take(N).enumerate() {
        out[i] = hex_value(pair[0]) << 4 | hex_value(pair[1]);
    }
    out
}

fn templates(api: Api, seed: u64) -> Vec<Template> {
    let mut traffic = Traffic::new(seed);
    let mut out = Vec::new();
    while out.len() < TEMPLATES {
        let batch = traffic.batch();
        match api {
            Api::OtlpProtobuf => out.push(Template::new(
                &batch,
                ingest_traffic::otlp_protobuf(&batch),
                true,
            )),
            Api::OtlpJson => out.push(Template::new(
                &batch,
                ingest_traffic::otlp_json(&batch),
                false,
            )),
            Api::Ingestion => {
                // One request per batch (the encoder splits only past Langfuse's size limit).
                for body in ingest_traffic::ingestion(&batch) {
                    out.push(Template::new(&batch, body, false));
                }
            }
        }
    }
    out
}

#[derive(Default)]
struct Totals {
    requests: AtomicU64,
    spans: AtomicU64,
    refused_429: AtomicU64,
    refused_503: AtomicU64,
    errors: AtomicU64,
}

fn connection(
    args: &Args,
    index: usize,
    templates: &[Template],
    stop: &AtomicBool,
    totals: &Totals,
) -> Result<()> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let url = format!("{}{}", args.url.trim_end_matches('/'), args.api.path());
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(&args.keys)
    );
    let mut body = Vec::new();
    let mut sent = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let template = &templates[(sent as usize) % templates.len()];
        // Distinct for every request of every connection; never zero.
        let salt = (index as u64 + 1) << 48 | (sent + 1);
        template.instance(salt, &mut body);
        sent += 1;
        let payload = if args.gzip {
            use std::io::Write as _;
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&body)?;
            gz.finish()?
        } else {
            body.clone()
        };
        loop {
            let mut request = client
                .post(&url)
                .header("Content-Type", args.api.content_type())
                .header("Authorization", &auth)
                .body(payload.clone());
            if args.gzip {
                request = request.header("Content-Encoding", "gzip");
            }
            totals.requests.fetch_add(1, Ordering::Relaxed);
            let response = match request.send() {
                Ok(r) => r,
                Err(e) => {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                    eprintln!("connection {index}: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                    break;
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("Retry-After")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok());
            let _ = response.bytes();
            match status {
                200..=299 => {
                    totals.spans.fetch_add(template.spans, Ordering::Relaxed);
                    break;
                }
                429 | 503 => {
                    let counter = if status == 429 {
                        &totals.refused_429
                    } else {
                        &totals.refused_503
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    // As the SDKs do: wait as asked (capped), then send it again.
                    let wait = retry_after.unwrap_or(0.1).clamp(0.01, 1.0);
                    std::thread::sleep(Duration::from_secs_f64(wait));
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                other => {
                    totals.errors.fetch_add(1, Ordering::Relaxed);
                    if totals.errors.load(Ordering::Relaxed) <= 3 {
                        eprintln!("connection {index}: the server answered {other}");
                    }
                    break;
                }
            }
        }
    }
    Ok(())
}

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// CPU time (user + system) of `pid` (`"self"` for this process) so far, in seconds:
/// what the server costs per span whatever else the machine runs.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(ticks / 100.0)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.connections == 0 {
        bail!("--connections must be at least 1");
    }
    if args.keys.split_once(':').is_none() {
        bail!("--keys is public:secret");
    }
    eprintln!(
        "ingest_load: making {} templates of {SPANS_PER_REQUEST} spans per connection",
        TEMPLATES
    );
    let templates: Vec<Arc<Vec<Template>>> = (0..args.connections)
        .map(|i| Arc::new(templates(args.api, 7 + i as u64)))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals::default());
    let args = Arc::new(args);
    let server_cpu = args.pid.and_then(|p| cpu_seconds(&p.to_string()));
    let own_cpu = cpu_seconds("self");
    let start = Instant::now();
    let threads: Vec<_> = templates
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (args, stop, totals) = (Arc::clone(&args), Arc::clone(&stop), Arc::clone(&totals));
            std::thread::spawn(move || connection(&args, i, &t, &stop, &totals))
        })
        .collect();
    let mut samples = Vec::new();
    let mut last_spans = 0;
    for second in 1..=args.seconds {
        std::thread::sleep(
            (start + Duration::from_secs(second)).saturating_duration_since(Instant::now()),
        );
        let spans = totals.spans.load(Ordering::Relaxed);
        let rss = args.pid.and_then(memory);
        samples.push((second, spans - last_spans, rss));
        last_spans = spans;
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .expect("a connection thread panicked")
            .context("connection")?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let spans = totals.spans.load(Ordering::Relaxed);
    println!(
        "api {:?}, {} connections, {:.1} s: {} spans accepted, {:.0} spans/s; {} requests, \
         {} refused 429, {} refused 503, {} errors",
        args.api,
        args.connections,
        elapsed,
        spans,
        spans as f64 / elapsed,
        totals.requests.load(Ordering::Relaxed),
        totals.refused_429.load(Ordering::Relaxed),
        totals.refused_503.load(Ordering::Relaxed),
        totals.errors.load(Ordering::Relaxed),
    );
    if let (Some(pid), Some(before)) = (args.pid, server_cpu) {
        if let Some(after) = cpu_seconds(&pid.to_string()) {
            let used = after - before;
            println!(
                "server CPU {used:.1} s over {elapsed:.1} s: {:.0} spans per CPU-second",
                spans as f64 / used.max(0.01)
            );
        }
    }
    if let (Some(before), Some(after)) = (own_cpu, cpu_seconds("self")) {
        println!("load generator CPU {:.1} s", after - before);
    }
    let mut per_second: Vec<u64> = samples.iter().map(|s| s.1).collect();
    per_second.sort_unstable();
    if !per_second.is_empty() {
        println!(
            "spans/s per one-second interval: median {}, min {}, max {}",
            per_second[per_second.len() / 2],
            per_second[0],
            per_second[per_second.len() - 1]
        );
    }
    if args.pid.is_some() {
        let step = (samples.len() / 10).max(1);
        let series: Vec<String> = samples
            .iter()
            .filter(|s| (s.0 as usize).is_multiple_of(step))
            .filter_map(|(second, _, rss)| {
                rss.map(|(now, _)| format!("{second}s {} MiB", now / 1024))
            })
            .collect();
        println!("server RSS: {}", series.join(", "));
        let first = samples.iter().find_map(|s| s.2).map(|(now, _)| now);
        if let (Some(first), Some((now, peak))) = (first, samples.last().and_then(|s| s.2)) {
            println!(
                "server RSS first {} MiB, last {} MiB, peak (VmHWM) {} MiB",
                first / 1024,
                now / 1024,
                peak / 1024
            );
        }
    }
    if spans == 0 {
        bail!("the server accepted nothing");
    }
    Ok(())
}
