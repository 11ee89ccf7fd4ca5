//! The task-local context: parent links across `.await`, `join_all`, spawned tasks and
//! threads; trace attributes stamped on every observation; updates; ends by error, panic and
//! cancellation.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::join_all;
use observe_runtime::model::{Cost, Level, Observation, ObservationType, SpanId, Usage};
use observe_runtime::{
    current_observation_id, current_trace_id, observe, score_current_observation,
    score_current_trace, update_current_observation, update_current_trace, Client, Context,
    FutureExt, ObservationUpdate, ScoreRequest, TraceUpdate,
};
use serde_json::json;

const FLUSH: Duration = Duration::from_secs(30);

#[observe]
async fn leaf(i: usize) -> usize {
    tokio::task::yield_now().await;
    i * 2
}

#[observe]
async fn middle(i: usize) -> usize {
    let a = leaf(i).await;
    tokio::task::yield_now().await;
    let b = leaf(i + 1).await;
    a + b
}

#[observe(name = "workflow")]
async fn workflow(n: usize, user: String) -> usize {
    update_current_trace(
        TraceUpdate::new()
            .user_id(user.clone())
            .session_id(format!("s-{user}"))
            .tags(["t1"])
            .metadata(json!({"n": n})),
    );
    let parts = join_all((0..n).map(middle)).await;
    update_current_trace(
        TraceUpdate::new()
            .tags(["t2"])
            .metadata(json!({"done": true})),
    );
    parts.into_iter().sum()
}

fn by_id(obs: &[Observation]) -> HashMap<SpanId, &Observation> {
    obs.iter().map(|o| (o.id, o)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousands_of_concurrent_workflows_keep_every_parent_link() {
    let (client, memory) = Client::in_memory();
    let workflows = 2_000;
    let handles: Vec<_> = (0..workflows)
        .map(|w| {
            let client = client.clone();
            tokio::spawn(async move { client.attach(workflow(3, format!("u{w}"))).await })
        })
        .collect();
    for h in handles {
        // middle(i) = 2i + 2(i + 1) for i in 0..3
        assert_eq!(
            h.await.unwrap(),
            (0..3).map(|i| 2 * i + 2 * (i + 1)).sum::<usize>()
        );
    }
    let report = client.flush(FLUSH);
    assert!(!report.timed_out);
    assert_eq!(report.stats.dropped(), 0);

    let obs = memory.observations();
    // per workflow: 1 root + 3 middles + 6 leaves
    assert_eq!(obs.len(), workflows * 10);
    let index = by_id(&obs);
    let mut roots = 0;
    for o in &obs {
        match o.name.as_ref() {
            "workflow" => {
                roots += 1;
                assert_eq!(o.parent_id, None);
            }
            "middle" | "leaf" => {
                let parent = index[&o.parent_id.expect("children have parents")];
                let expected = if o.name == "middle" {
                    "workflow"
                } else {
                    "middle"
                };
                assert_eq!(parent.name, expected);
                assert_eq!(parent.trace_id, o.trace_id);
                if o.name == "leaf" {
                    // a leaf's input is one of its parent's two calls
                    let i = o.details().input.as_ref().unwrap().to_value()["i"]
                        .as_u64()
                        .unwrap();
                    let pi = parent.details().input.as_ref().unwrap().to_value()["i"]
                        .as_u64()
                        .unwrap();
                    assert!(i == pi || i == pi + 1, "leaf {i} under middle {pi}");
                }
            }
            other => panic!("unexpected observation {other}"),
        }
        // Trace attributes are on every observation, and agree with the trace's user.
        let user = o.trace.user_id.as_deref().expect("user id stamped");
        assert_eq!(
            o.trace.session_id.as_deref(),
            Some(format!("s-{user}").as_str())
        );
        assert!(o.trace.tags.iter().any(|t| t == "t1"));
    }
    assert_eq!(roots, workflows);
    // The root ends last, so it carries the final merged attributes.
    for root in obs.iter().filter(|o| o.is_root()) {
        assert_eq!(root.trace.tags, ["t1", "t2"]);
        assert_eq!(root.trace.metadata["n"].as_str(), "3");
        assert_eq!(root.trace.metadata["done"].as_str(), "true");
    }
    // Distinct workflows got distinct traces.
    let traces: std::collections::HashSet<_> = obs.iter().map(|o| o.trace_id).collect();
    assert_eq!(traces.len(), workflows);
}

#[observe]
async fn child_task(tag: &'static str) -> &'static str {
    tokio::time::sleep(Duration::from_millis(1)).await;
    tag
}

#[observe]
fn child_sync(tag: &'static str) -> &'static str {
    tag
}

#[observe]
async fn spawner() {
    let spawned = observe_runtime::spawn(child_task("spawn"));
    let attached = tokio::spawn(child_task("in_current_trace").in_current_trace());
    let blocking = observe_runtime::spawn_blocking(|| child_sync("spawn_blocking"));
    let ctx = Context::current();
    let thread = std::thread::spawn(move || ctx.run(|| child_sync("thread")));
    let thread2 = observe_runtime::spawn_thread(|| child_sync("spawn_thread"));
    spawned.await.unwrap();
    attached.await.unwrap();
    blocking.await.unwrap();
    thread.join().unwrap();
    thread2.join().unwrap();
    // A task spawned without carrying the context is outside the client's scope (and there is
    // no global client here), so it records nothing.
    tokio::spawn(child_task("detached")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_tasks_blocking_closures_and_threads_are_children_when_carried() {
    let (client, memory) = Client::in_memory();
    client.attach(spawner()).await;
    client.flush(FLUSH);
    let root = memory.find("spawner").unwrap();
    let obs = memory.observations();
    let kids: HashMap<String, &Observation> = obs
        .iter()
        .filter(|o| o.name != "spawner")
        .map(|o| {
            (
                o.details().output.as_ref().unwrap().to_value().to_string(),
                o,
            )
        })
        .collect();
    for tag in [
        "spawn",
        "in_current_trace",
        "spawn_blocking",
        "thread",
        "spawn_thread",
    ] {
        let kid = kids[&format!("\"{tag}\"")];
        assert_eq!(kid.parent_id, Some(root.id), "{tag}");
        assert_eq!(kid.trace_id, root.trace_id, "{tag}");
    }
    assert!(!kids.contains_key("\"detached\""));
    assert_eq!(obs.len(), 6);
}

#[observe(as_type = "generation")]
async fn llm(prompt: &str) -> String {
    update_current_observation(
        ObservationUpdate::new()
            .model("gpt-4o")
            .model_parameters(json!({"temperature": 0.2}))
            .usage(Usage::new(100, 20))
            .cost(Cost::new(0.001, 0.002))
            .metadata(json!({"attempt": 1}))
            .prompt(("summarize", 3)),
    );
    update_current_observation(ObservationUpdate::new().metadata(json!({"cached": false})));
    score_current_observation(ScoreRequest::new("relevance", 0.8));
    format!("summary of {prompt}")
}

#[observe]
async fn scored() -> String {
    score_current_trace(ScoreRequest::new("quality", true).comment("ok"));
    llm("text").await
}

#[tokio::test]
async fn observation_updates_and_scores_land_on_the_right_records() {
    let (client, memory) = Client::in_memory();
    client.attach(scored()).await;
    client.flush(FLUSH);
    let gen = memory.find("llm").unwrap();
    let root = memory.find("scored").unwrap();
    assert_eq!(gen.kind, ObservationType::Generation);
    let d = gen.details();
    assert_eq!(d.model.as_deref(), Some("gpt-4o"));
    assert_eq!(
        d.model_parameters.as_ref().unwrap().to_value()["temperature"],
        0.2
    );
    assert_eq!(d.usage.as_ref().unwrap().get("total"), Some(120));
    assert!((d.cost.as_ref().unwrap().total() - 0.003).abs() < 1e-12);
    assert_eq!(d.metadata.len(), 2);
    assert_eq!(d.prompt_name.as_deref(), Some("summarize"));
    assert_eq!(d.prompt_version, Some(3));
    assert_eq!(
        d.output.as_ref().unwrap().to_value(),
        json!("summary of text")
    );
    let scores = memory.scores();
    assert_eq!(scores.len(), 2);
    let trace_score = scores.iter().find(|s| s.name == "quality").unwrap();
    assert_eq!(trace_score.trace_id, root.trace_id);
    assert_eq!(trace_score.observation_id, None);
    assert_eq!(trace_score.comment.as_deref(), Some("ok"));
    let obs_score = scores.iter().find(|s| s.name == "relevance").unwrap();
    assert_eq!(obs_score.observation_id, Some(gen.id));
}

#[derive(Debug)]
struct Boom;

impl std::fmt::Display for Boom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the model refused")
    }
}

#[observe]
async fn failing(fail: bool) -> Result<u32, Boom> {
    if fail {
        return Err(Boom);
    }
    Ok(7)
}

#[observe]
fn panicking() -> u32 {
    panic!("index out of range")
}

#[observe]
async fn slow() -> u32 {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    1
}

#[tokio::test]
async fn errors_panics_and_cancellation_set_the_level() {
    let (client, memory) = Client::in_memory();
    assert!(client.attach(failing(true)).await.is_err());
    assert_eq!(client.attach(failing(false)).await.unwrap(), 7);
    let caught =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.in_scope(panicking)));
    assert!(caught.is_err(), "the panic goes on");
    tokio::select! {
        _ = client.attach(slow()) => unreachable!(),
        _ = tokio::time::sleep(Duration::from_millis(10)) => {}
    }
    client.flush(FLUSH);
    let obs = memory.observations();
    let err = obs
        .iter()
        .find(|o| o.name == "failing" && o.level == Level::Error)
        .unwrap();
    assert_eq!(
        err.details().status_message.as_deref(),
        Some("the model refused")
    );
    assert!(err.details().output.is_none());
    let ok = obs
        .iter()
        .find(|o| o.name == "failing" && o.level == Level::Default)
        .unwrap();
    assert_eq!(ok.details().output.as_ref().unwrap().as_str(), "7");
    let panicked = memory.find("panicking").unwrap();
    assert_eq!(panicked.level, Level::Error);
    assert!(panicked
        .details()
        .status_message
        .as_deref()
        .unwrap()
        .contains("index out of range"));
    let cancelled = memory.find("slow").unwrap();
    assert_eq!(cancelled.level, Level::Warning);
    assert_eq!(
        cancelled.details().status_message.as_deref(),
        Some("cancelled")
    );
}

#[observe]
fn ids() -> (Option<String>, Option<String>) {
    (
        current_trace_id().map(|t| t.to_string()),
        current_observation_id().map(|s| s.to_string()),
    )
}

#[test]
fn outside_any_observation_updates_do_nothing_and_ids_are_none() {
    update_current_trace(TraceUpdate::new().user_id("nobody"));
    update_current_observation(ObservationUpdate::new().model("m"));
    score_current_trace(ScoreRequest::new("s", 1.0));
    assert_eq!(current_trace_id(), None);
    assert_eq!(current_observation_id(), None);
    // With no client in scope and no global client, observed functions just run.
    assert_eq!(ids(), (None, None));
}

#[test]
fn ids_inside_an_observation_match_the_record() {
    let (client, memory) = Client::in_memory();
    let (trace, obs) = client.in_scope(ids);
    client.flush(FLUSH);
    let rec = memory.find("ids").unwrap();
    assert_eq!(trace.unwrap(), rec.trace_id.to_string());
    assert_eq!(obs.unwrap(), rec.id.to_string());
    assert_eq!(rec.trace_id.to_string().len(), 32);
    assert_eq!(rec.id.to_string().len(), 16);
}

#[observe]
fn captured(a: u32, b: &str) -> String {
    format!("{a}{b}")
}

#[test]
fn the_capture_switch_turns_input_and_output_off() {
    let memory = observe_runtime::export::memory::InMemory::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .config(&observe_runtime::Config::new().capture_io(false))
        .build();
    client.in_scope(|| captured(1, "x"));
    client.flush(FLUSH);
    let rec = memory.find("captured").unwrap();
    assert!(rec.details().input.is_none());
    assert!(rec.details().output.is_none());

    let (client, memory) = Client::in_memory();
    client.in_scope(|| captured(1, "x"));
    client.flush(FLUSH);
    let rec = memory.find("captured").unwrap();
    assert_eq!(
        rec.details().input.as_ref().unwrap().to_value(),
        json!({"a": 1, "b": "x"})
    );
}

#[test]
fn sampled_out_traces_record_nothing_but_still_run() {
    let memory = observe_runtime::export::memory::InMemory::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .config(&observe_runtime::Config::new().sample_rate(0.0))
        .build();
    assert_eq!(client.in_scope(|| captured(2, "y")), "2y");
    client.flush(FLUSH);
    assert!(memory.observations().is_empty());
}

#[test]
fn observations_end_after_they_start_and_children_nest_in_time() {
    let (client, memory) = Client::in_memory();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(client.attach(middle(1)));
    client.flush(FLUSH);
    let obs = memory.observations();
    let parent = obs.iter().find(|o| o.name == "middle").unwrap();
    for o in &obs {
        assert!(o.end >= o.start);
        if o.name == "leaf" {
            assert!(o.start >= parent.start && o.end <= parent.end);
        }
    }
}
