//! The bundled content-analysis workflow: one session of three traces.
//!
//! 1. `url_fetch`, built by hand with the low-level client (as Langfuse's `langfuse.trace()`);
//! 2. `content_analysis`, also by hand: retrieval, three LLM generations and a quality gate;
//! 3. `content_analysis_workflow`, built by `#[observe]`: it sets the session, user, tags and
//!    metadata once with `update_current_trace`, then runs eight agents concurrently; some
//!    call an LLM (generations with model, usage and cost), one fails with a handled error.
//!    Last, the summary is streamed token by token from an observed stream: its generation
//!    stays open while the tokens arrive and shows the time to first token (`ttft`).
//!
//! The LLM calls are simulated (deterministic usage and cost, short sleeps), so it runs in a
//! few seconds with no keys. With no Langfuse keys it writes to the local store and prints the
//! session tree; with `LANGFUSE_PUBLIC_KEY`/`LANGFUSE_SECRET_KEY` it exports to Langfuse too
//! and prints the trace URL.
//!
//! ```text
//! cargo run --example content_analysis
//! ```

use std::time::Duration;

use anyhow::Context as _;
use futures::future::join_all;
use futures::{Stream, StreamExt as _};
use observe_runtime::config::Config;
use observe_runtime::export::memory::InMemory;
use observe_runtime::model::{Cost, Level, ObservationType, Usage};
use observe_runtime::view::{render_session, ViewOptions};
use observe_runtime::{
    current_trace_url, observe, score_current_trace, update_current_observation,
    update_current_trace, ObservationUpdate, ScoreRequest, SpoolMode, Trace, TraceUpdate,
};
use serde::Serialize;
use serde_json::json;

/// A simulated LLM: its price per 1K tokens, as a provider's price list would say.
struct Model {
    name: &'static str,
    input_per_1k: f64,
    output_per_1k: f64,
}

const GPT_4O: Model = Model {
    name: "gpt-4o",
    input_per_1k: 0.0025,
    output_per_1k: 0.01,
};
const GPT_4O_MINI: Model = Model {
    name: "gpt-4o-mini",
    input_per_1k: 0.00015,
    output_per_1k: 0.0006,
};

/// One agent of the workflow.
struct Agent {
    name: &'static str,
    model: Option<&'static Model>,
    /// Simulated work, in milliseconds.
    work_ms: u64,
    output_tokens: u64,
    fails: bool,
}

const AGENTS: [Agent; 8] = [
    agent("summarizer", Some(&GPT_4O_MINI), 120, 180),
    agent("sentiment_analyzer", Some(&GPT_4O_MINI), 80, 40),
    agent("entity_extractor", Some(&GPT_4O), 150, 220),
    agent("topic_classifier", None, 40, 0),
    agent("security_reviewer", Some(&GPT_4O), 200, 320),
    agent("seo_analyzer", None, 60, 0),
    Agent {
        fails: true,
        ..agent("fact_checker", Some(&GPT_4O), 90, 0)
    },
    agent("readability_scorer", None, 30, 0),
];

const fn agent(
    name: &'static str,
    model: Option<&'static Model>,
    work_ms: u64,
    output_tokens: u64,
) -> Agent {
    Agent {
        name,
        model,
        work_ms,
        output_tokens,
        fails: false,
    }
}

#[derive(Debug, Serialize)]
struct Finding {
    agent: &'static str,
    summary: String,
}

#[derive(Debug, Serialize)]
struct Report {
    analysis_id: String,
    findings: Vec<Finding>,
    failed_agents: Vec<&'static str>,
    /// The streamed summary, as the user saw it arrive.
    summary: String,
    /// Where this trace is in Langfuse, when it is sent there.
    trace_url: Option<String>,
}

#[derive(Debug)]
struct AgentError(String);

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Tokens of a text, as a tokenizer would roughly count them.
fn tokens(text: &str) -> u64 {
    (text.split_whitespace().count() as u64 * 4).div_ceil(3)
}

/// A simulated LLM call: sleeps, then reports model, usage and cost on its generation.
#[observe(name = "llm_call", as_type = "generation")]
async fn call_llm(model: &'static str, prompt: &str, output_tokens: u64, work_ms: u64) -> String {
    let price = [&GPT_4O, &GPT_4O_MINI]
        .into_iter()
        .find(|m| m.name == model)
        .expect("a known model");
    let input_tokens = tokens(prompt);
    tokio::time::sleep(Duration::from_millis(work_ms)).await;
    update_current_observation(
        ObservationUpdate::new()
            .model(model)
            .model_parameters(json!({"temperature": 0.2, "max_tokens": 512}))
            .usage(Usage::new(input_tokens, output_tokens))
            .cost(Cost::new(
                input_tokens as f64 / 1000.0 * price.input_per_1k,
                output_tokens as f64 / 1000.0 * price.output_per_1k,
            )),
    );
    format!("{model} answer in {output_tokens} tokens")
}

#[observe(as_type = "tool")]
async fn run_tool(tool: &'static str, content: &str, work_ms: u64) -> String {
    tokio::time::sleep(Duration::from_millis(work_ms)).await;
    format!(
        "{tool}: {} words checked",
        content.split_whitespace().count()
    )
}

#[observe(name = "agent", as_type = "agent", skip(agent))]
async fn execute_agent(agent: &Agent, content: &str) -> Result<Finding, AgentError> {
    update_current_observation(ObservationUpdate::new().name(agent.name));
    if agent.fails {
        tokio::time::sleep(Duration::from_millis(agent.work_ms)).await;
        return Err(AgentError(format!(
            "{}: upstream fact database timed out after {} ms",
            agent.name, agent.work_ms
        )));
    }
    let summary = match agent.model {
        Some(model) => {
            let prompt = format!("You are the {}. Analyse:\n{content}", agent.name);
            call_llm(model.name, &prompt, agent.output_tokens, agent.work_ms).await
        }
        None => run_tool(agent.name, content, agent.work_ms).await,
    };
    Ok(Finding {
        agent: agent.name,
        summary,
    })
}

/// A simulated streamed answer: the first token after a pause (the model reading the
/// prompt), then one token every few milliseconds. The observation stays open until the
/// last token; usage and cost come with it, as in an OpenAI-style stream.
#[observe(name = "summary_stream", as_type = "generation")]
fn stream_summary(findings: usize) -> impl Stream<Item = String> {
    let model = &GPT_4O_MINI;
    update_current_observation(
        ObservationUpdate::new()
            .model(model.name)
            .model_parameters(json!({"stream": true})),
    );
    let text = format!("The article was reviewed by {findings} agents; the plan holds up.");
    let words: Vec<String> = text.split_inclusive(' ').map(str::to_owned).collect();
    let last = words.len() - 1;
    futures::stream::iter(words.into_iter().enumerate()).then(move |(i, word)| async move {
        let pause = if i == 0 { 180 } else { 12 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if i == last {
            let (input, output) = (tokens(CONTENT), last as u64 + 1);
            update_current_observation(
                ObservationUpdate::new()
                    .usage(Usage::new(input, output))
                    .cost(Cost::new(
                        input as f64 / 1000.0 * model.input_per_1k,
                        output as f64 / 1000.0 * model.output_per_1k,
                    )),
            );
        }
        word
    })
}

/// The decorator workflow of the seed.
#[observe(name = "content_analysis_workflow")]
async fn run_content_analysis(analysis_id: &str, content: &str, user_id: &str) -> Report {
    update_current_trace(
        TraceUpdate::new()
            .session_id(format!("analysis_{analysis_id}"))
            .user_id(user_id)
            .metadata(json!({
                "analysis_id": analysis_id,
                "content_length": content.len(),
                "content_type": "article",
            }))
            .tags(["content-analysis", "production"]),
    );
    let results = join_all(AGENTS.iter().map(|a| execute_agent(a, content))).await;
    let mut report = Report {
        analysis_id: analysis_id.to_owned(),
        findings: Vec::new(),
        failed_agents: Vec::new(),
        summary: String::new(),
        trace_url: current_trace_url(),
    };
    for (agent, result) in AGENTS.iter().zip(results) {
        match result {
            Ok(finding) => report.findings.push(finding),
            // Handled: the workflow goes on without this agent, and says so.
            Err(_) => report.failed_agents.push(agent.name),
        }
    }
    if !report.failed_agents.is_empty() {
        update_current_observation(
            ObservationUpdate::new()
                .level(Level::Warning)
                .status_message(format!("{} agent(s) failed", report.failed_agents.len())),
        );
    }
    report.summary = stream_summary(report.findings.len()).collect().await;
    let quality = report.findings.len() as f64 / AGENTS.len() as f64;
    score_current_trace(ScoreRequest::new("completeness", quality));
    report
}

const CONTENT: &str = "Rust gives LLM applications predictable latency and memory. This \
    article compares observability options for agent workflows, from tracing spans to \
    Langfuse sessions, and proposes an implementation plan with a security review.";

/// Trace 1, by hand: fetching the article.
async fn url_fetch(client: &observe_runtime::Client, session: &str, user: &str, url: &str) {
    let trace = client.trace(
        Trace::new("url_fetch")
            .session_id(session)
            .user_id(user)
            .tags(["content-analysis", "production"])
            .metadata(json!({"content_type": "article"}))
            .input(&json!({ "url": url })),
    );
    let mut get = trace.span("http_get");
    get.update(ObservationUpdate::new().input(&json!({"method": "GET", "url": url})));
    tokio::time::sleep(Duration::from_millis(180)).await;
    trace.event(
        "robots_txt_checked",
        ObservationUpdate::new().output(&json!({"allowed": true})),
    );
    get.end_with(ObservationUpdate::new().output(&json!({"status": 200, "bytes": CONTENT.len()})));
    let mut parse = trace.span("extract_text");
    tokio::time::sleep(Duration::from_millis(40)).await;
    parse.update(
        ObservationUpdate::new().output(&json!({"words": CONTENT.split_whitespace().count()})),
    );
    parse.end();
    trace.update(TraceUpdate::new().output(&json!({"fetched": true})));
    trace.end();
}

/// Trace 2, by hand: retrieval, three generations and a quality gate.
async fn content_analysis(client: &observe_runtime::Client, session: &str, user: &str) {
    let trace = client.trace(
        Trace::new("content_analysis")
            .session_id(session)
            .user_id(user)
            .tags(["content-analysis", "production"])
            .metadata(json!({"content_type": "article"})),
    );
    let mut retrieval = trace.observation(ObservationType::Retriever, "retrieval");
    retrieval.update(
        ObservationUpdate::new().input(&json!({"query": "observability for agents", "k": 5})),
    );
    tokio::time::sleep(Duration::from_millis(90)).await;
    retrieval.end_with(ObservationUpdate::new().output(&json!({"documents": 5})));

    for (name, model, output_tokens, ms) in [
        ("security_audit", &GPT_4O, 400u64, 260u64),
        ("tech_comparison", &GPT_4O, 650, 340),
        ("implementation_plan", &GPT_4O_MINI, 900, 220),
    ] {
        let generation = trace.generation(name);
        let input_tokens = tokens(CONTENT) + 600;
        tokio::time::sleep(Duration::from_millis(ms)).await;
        generation.end_with(
            ObservationUpdate::new()
                .model(model.name)
                .input(&json!([{"role": "user", "content": format!("{name}: {CONTENT}")}]))
                .output(&format!("{name} done"))
                .usage(Usage::new(input_tokens, output_tokens))
                .cost(Cost::new(
                    input_tokens as f64 / 1000.0 * model.input_per_1k,
                    output_tokens as f64 / 1000.0 * model.output_per_1k,
                )),
        );
    }

    let gate = trace.observation(ObservationType::Evaluator, "quality_gate");
    tokio::time::sleep(Duration::from_millis(30)).await;
    gate.score(ScoreRequest::new("passed", true));
    gate.end_with(ObservationUpdate::new().output(&json!({"passed": true, "score": 0.92})));
    trace.score(ScoreRequest::new("quality", 0.92).comment("all sections present"));
    trace.end();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // The session tree at the end is drawn from what this run recorded, whatever the
    // configured destinations are.
    let recorded = InMemory::new();
    let mut config = Config::from_env().context("reading the LANGFUSE_* / OTEL_* settings")?;
    // A short-lived program: unless told otherwise, what goes to Langfuse is written to the
    // spool first, so the run ends in moments whatever the network does, and nothing is lost.
    if std::env::var_os("OBSERVE_SPOOL").is_none() {
        config = config.spool(SpoolMode::First);
    }
    let store = config.local_store_path();
    let spool_dir = config.spool_root();
    let guard = config
        .exporter(recorded.clone())
        .init()
        .context("starting observe")?;

    let analysis_id = format!("{:06x}", fastrand::u32(..0xff_ffff));
    let session = format!("analysis_{analysis_id}");
    let user = "user_demo";

    let Some(client) = guard.client().cloned() else {
        let report = run_content_analysis(&analysis_id, CONTENT, user).await;
        println!(
            "tracing is disabled (LANGFUSE_TRACING_ENABLED=false): {} findings, nothing recorded",
            report.findings.len()
        );
        return Ok(());
    };

    url_fetch(
        &client,
        &session,
        user,
        "https://example.com/rust-llm-observability",
    )
    .await;
    content_analysis(&client, &session, user).await;
    // `init` installed the client globally: `#[observe]` functions need no scope.
    let report = run_content_analysis(&analysis_id, CONTENT, user).await;

    // Spool-first, the remote destinations are done once their records are on disk (they
    // deliver what they can while the server answers); the local store is quick. Two seconds is
    // ample, and bounds the exit against a dead or hanging host. The guard's own shutdown,
    // when it drops, returns this report at once.
    let flushed = client.shutdown(Duration::from_secs(2));
    println!(
        "{} findings; failed agents (handled): {:?}\nsummary (streamed): {}\n",
        report.findings.len(),
        report.failed_agents,
        report.summary
    );
    print!(
        "{}",
        render_session(&session, &recorded.observations(), &ViewOptions::detailed())
    );
    for d in &flushed.stats.destinations {
        if d.spooled > 0 {
            println!(
                "{} records for {} wait in the spool {}: the next run sends them, or \
                 `observe push --spool`",
                d.spooled,
                d.name,
                spool_dir.display()
            );
        }
    }
    if flushed.timed_out || flushed.stats.failed > 0 || flushed.stats.dropped() > 0 {
        eprintln!(
            "warning: not everything was exported: {} failed, {} dropped, {} pending",
            flushed.stats.failed,
            flushed.stats.dropped(),
            flushed.pending
        );
    }
    if let Some(url) = &report.trace_url {
        println!("\nIn Langfuse: {url}");
    }
    if let Some(store) = store {
        println!(
            "\nStored in {store}. Look at this session again with:\n  \
             cargo run -p observe-cli -- --db {store} session {session}",
            store = store.display()
        );
    }
    Ok(())
}
