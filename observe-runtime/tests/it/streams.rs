//! Observed streams and iterators: `#[observe]` on functions that return one, the
//! `ObserveStreamExt` helper and the handle's `observe_stream`. Each case runs under an
//! in-memory client (or one with a small record limit) and checks what was recorded.

use std::borrow::Cow;
use std::pin::Pin;
use std::time::Duration;

use futures::stream::{self, BoxStream, Stream, StreamExt as _};
use observe_runtime::model::{Level, Observation, ObservationType, Usage};
use observe_runtime::{
    observe, update_current_observation, update_current_trace, Client, ObservationUpdate,
    ObserveIteratorExt as _, ObserveStreamExt as _, PipelineSettings, TextChunk, TraceUpdate,
};
use serde::Serialize;
use serde_json::{json, Value};

fn record<F: std::future::Future>(future: F) -> (F::Output, Vec<Observation>) {
    let (client, memory) = Client::in_memory();
    let result = futures::executor::block_on(client.attach(future));
    client.flush(Duration::from_secs(5));
    (result, memory.observations())
}

fn record_sync<R>(f: impl FnOnce() -> R) -> (R, Vec<Observation>) {
    let (client, memory) = Client::in_memory();
    let result = client.in_scope(f);
    client.flush(Duration::from_secs(5));
    (result, memory.observations())
}

#[track_caller]
fn named<'a>(observations: &'a [Observation], name: &str) -> &'a Observation {
    observations
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no observation named {name}: {observations:#?}"))
}

fn output(o: &Observation) -> Option<Value> {
    o.details().output.as_ref().map(|j| j.to_value())
}

// ---------------------------------------------------------------------------------------
// What the annotated functions return

#[observe(as_type = "generation")]
fn tokens(text: &str) -> impl Stream<Item = String> {
    let words: Vec<String> = text.split(' ').map(|w| format!("{w} ")).collect();
    stream::iter(words).then(|word| async move {
        tool_inside_the_stream(&word);
        word
    })
}

#[observe(as_type = "tool")]
fn tool_inside_the_stream(word: &str) -> usize {
    word.len()
}

#[observe]
fn numbers() -> Pin<Box<dyn Stream<Item = u32> + Send>> {
    Box::pin(stream::iter([1, 2, 3]))
}

#[observe]
fn boxed_alias() -> BoxStream<'static, Cow<'static, str>> {
    stream::iter([Cow::Borrowed("a"), Cow::Owned("b".to_owned())]).boxed()
}

#[observe(as_type = "generation")]
async fn connect_then_stream(prompt: String) -> impl Stream<Item = &'static str> {
    let _ = prompt;
    stream::iter(["Hel", "lo"])
}

#[observe]
fn lines(text: &'static str) -> impl Iterator<Item = &'static str> {
    text.lines()
}

#[derive(Debug)]
struct ChunkError(&'static str);

impl std::fmt::Display for ChunkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "upstream failed: {}", self.0)
    }
}

#[observe(as_type = "generation")]
fn failing() -> impl Stream<Item = Result<String, ChunkError>> {
    stream::iter([
        Ok("one ".to_owned()),
        Ok("two ".to_owned()),
        Err(ChunkError("reset")),
        Ok("never recorded".to_owned()),
    ])
}

#[observe(as_type = "generation")]
fn endless() -> impl Stream<Item = String> {
    stream::repeat("tick ".to_owned())
}

#[observe]
fn panicking() -> impl Iterator<Item = u8> {
    [1u8, 2, 0].into_iter().map(|d| 10 / d)
}

#[observe(as_type = "generation", capture_output = false)]
fn quiet() -> impl Stream<Item = String> {
    stream::iter(["secret".to_owned()])
}

fn count_chars(total: &mut usize, chunk: &str) {
    *total += chunk.chars().count();
}

#[observe(output = count_chars)]
fn counted() -> impl Stream<Item = String> {
    stream::iter(["ab".to_owned(), "cde".to_owned()])
}

#[observe(stream = false)]
fn not_as_a_stream() -> impl Iterator<Item = u8> {
    [1u8, 2].into_iter()
}

/// A named iterator type stays what it is: observed as a value, ended at return.
#[observe]
fn named_iterator() -> std::vec::IntoIter<u8> {
    vec![1, 2].into_iter()
}

struct Delta {
    content: String,
    #[allow(dead_code)] // what an SDK's chunk carries; the stream reads it before building one
    usage: Option<Usage>,
}

impl TextChunk for Delta {
    fn chunk_text(&self) -> &str {
        &self.content
    }
}

#[observe(as_type = "generation")]
fn openai_style() -> impl Stream<Item = Delta> {
    let deltas = [
        ("Hi", None),
        (" there", None),
        ("", Some(Usage::new(12, 2))),
    ];
    stream::iter(deltas).map(|(content, usage)| {
        if let Some(usage) = &usage {
            // The last chunk carries usage; the stream's observation is current here.
            update_current_observation(ObservationUpdate::new().usage(usage.clone()));
        }
        Delta {
            content: content.to_owned(),
            usage,
        }
    })
}

// ---------------------------------------------------------------------------------------
// Cases

#[test]
fn a_returned_stream_is_observed_until_exhausted_with_children_and_ttft() {
    #[observe]
    async fn chat() -> String {
        update_current_trace(TraceUpdate::new().session_id("chat-1"));
        let mut stream = std::pin::pin!(tokens("why is it blue"));
        let mut text = String::new();
        while let Some(word) = stream.next().await {
            // Set while consuming: on every observation that ends from now on.
            update_current_trace(TraceUpdate::new().tags(["streamed"]));
            text.push_str(&word);
        }
        text
    }
    let (collected, obs) = record(chat());
    assert_eq!(collected, "why is it blue ");
    assert!(obs
        .iter()
        .all(|o| o.trace.session_id.as_deref() == Some("chat-1")));
    for late in ["tokens", "chat"] {
        assert_eq!(named(&obs, late).trace.tags, ["streamed"]);
    }
    assert_eq!(
        named(&obs, "tokens").parent_id,
        Some(named(&obs, "chat").id)
    );
    let stream = named(&obs, "tokens");
    assert_eq!(stream.kind, ObservationType::Generation);
    assert_eq!(output(stream), Some(json!("why is it blue ")));
    assert_eq!(stream.level, Level::Default);
    let ttft = stream
        .details()
        .completion_start_time
        .expect("first item stamps completion_start_time");
    assert!(ttft >= stream.start && ttft <= stream.end);
    let tools: Vec<&Observation> = obs
        .iter()
        .filter(|o| o.name == "tool_inside_the_stream")
        .collect();
    assert_eq!(tools.len(), 4);
    assert!(tools.iter().all(|t| t.parent_id == Some(stream.id)));
    assert!(stream.end >= tools.iter().map(|t| t.end).max().unwrap());
}

#[test]
fn boxed_streams_stay_boxed_and_non_text_items_become_an_array() {
    let (sum, obs) = record(async { numbers().fold(0, |a, b| async move { a + b }).await });
    assert_eq!(sum, 6);
    assert_eq!(output(named(&obs, "numbers")), Some(json!([1, 2, 3])));

    let (text, obs) = record(async { boxed_alias().collect::<Vec<_>>().await.concat() });
    assert_eq!(text, "ab");
    assert_eq!(output(named(&obs, "boxed_alias")), Some(json!("ab")));
}

#[test]
fn an_async_fn_returning_a_stream_stays_open_until_the_stream_ends() {
    let (text, obs) = record(async {
        let stream = connect_then_stream("hi".to_owned()).await;
        stream.collect::<String>().await
    });
    assert_eq!(text, "Hello");
    let o = named(&obs, "connect_then_stream");
    assert_eq!(output(o), Some(json!("Hello")));
    assert_eq!(
        o.details().input.as_ref().unwrap().to_value(),
        json!({"prompt": "hi"})
    );
    assert!(o.details().completion_start_time.is_some());
}

#[test]
fn a_returned_iterator_is_observed_until_exhausted() {
    let (n, obs) = record_sync(|| lines("a\nb\nc").count());
    assert_eq!(n, 3);
    let o = named(&obs, "lines");
    assert_eq!(output(o), Some(json!("abc")));
    // Not a generation: no time to first token.
    assert!(o.details().completion_start_time.is_none());
}

#[test]
fn an_err_item_ends_the_observation_as_an_error() {
    let (items, obs) = record(async { failing().collect::<Vec<_>>().await });
    assert_eq!(items.len(), 4, "the stream itself is untouched");
    let o = named(&obs, "failing");
    assert_eq!(o.level, Level::Error);
    assert_eq!(
        o.details().status_message.as_deref(),
        Some("upstream failed: reset")
    );
    assert_eq!(output(o), Some(json!("one two ")));
    assert_eq!(o.details().metadata["items"].to_value(), json!(3));
}

#[test]
fn a_stream_dropped_unfinished_is_cancelled_with_the_items_seen() {
    let (first, obs) = record(async { endless().take(2).collect::<Vec<_>>().await });
    assert_eq!(first.len(), 2);
    let o = named(&obs, "endless");
    assert_eq!(o.level, Level::Warning);
    assert_eq!(o.details().status_message.as_deref(), Some("cancelled"));
    assert_eq!(o.details().metadata["items"].to_value(), json!(2));
    assert_eq!(output(o), Some(json!("tick tick ")));
}

#[test]
fn a_panic_while_polling_is_recorded_then_goes_on() {
    let (client, memory) = Client::in_memory();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        client.in_scope(|| panicking().sum::<u8>())
    }));
    assert!(caught.is_err());
    client.flush(Duration::from_secs(5));
    let obs = memory.observations();
    let o = named(&obs, "panicking");
    assert_eq!(o.level, Level::Error);
    assert!(o
        .details()
        .status_message
        .as_deref()
        .unwrap()
        .starts_with("panicked: attempt to divide by zero"));
}

#[test]
fn capture_off_buffers_nothing_and_a_reducer_replaces_the_reduction() {
    let (_, obs) = record(async { quiet().collect::<Vec<_>>().await });
    let o = named(&obs, "quiet");
    assert_eq!(output(o), None);
    assert!(o.details().completion_start_time.is_some());

    let (_, obs) = record(async { counted().collect::<Vec<_>>().await });
    assert_eq!(output(named(&obs, "counted")), Some(json!(5)));
}

#[test]
fn stream_false_and_named_types_are_observed_as_values() {
    let (n, obs) = record_sync(|| {
        let it = not_as_a_stream();
        // Ended at return, before any item was taken.
        assert!(observe_runtime::current_observation_id().is_none());
        it.count()
    });
    assert_eq!(n, 2);
    assert!(output(named(&obs, "not_as_a_stream")).is_some());

    let (v, obs) = record_sync(|| named_iterator().collect::<Vec<_>>());
    assert_eq!(v, [1, 2]);
    assert_eq!(named(&obs, "named_iterator").level, Level::Default);
}

#[test]
fn usage_from_the_last_chunk_lands_on_the_stream() {
    let (_, obs) = record(async { openai_style().collect::<Vec<_>>().await });
    let o = named(&obs, "openai_style");
    assert_eq!(output(o), Some(json!("Hi there")));
    assert_eq!(o.details().usage.as_ref().unwrap().get("total"), Some(14));
}

#[test]
fn buffered_output_is_bounded_by_the_record_limit() {
    let memory = observe_runtime::export::memory::InMemory::new();
    let client = Client::builder()
        .exporter(memory.clone())
        .settings(PipelineSettings {
            max_record_bytes: 2_000,
            ..PipelineSettings::default()
        })
        .build();
    let n =
        futures::executor::block_on(client.attach(async { endless().take(1_000).count().await }));
    assert_eq!(n, 1_000);
    client.flush(Duration::from_secs(5));
    let obs = memory.observations();
    assert_eq!(obs.len(), 1, "{:?}", client.stats());
    let out = output(named(&obs, "endless")).unwrap();
    assert_eq!(out["truncated"], json!(true), "{out}");
    assert!(out["original_bytes"].as_u64().unwrap() >= 5_000);
}

#[test]
fn any_stream_can_be_observed_as_a_child_with_a_callback_on_each_item() {
    #[observe(name = "consumer")]
    async fn consumer() -> String {
        stream::iter(["a", "b", "c"])
            .observe_with(ObservationType::Generation, "llm", |token, sink| {
                sink.text(token);
                if *token == "c" {
                    // A callback on the final item reports usage.
                    update_current_observation(ObservationUpdate::new().usage(Usage::new(3, 3)));
                }
            })
            .collect::<String>()
            .await
    }
    let (text, obs) = record(consumer());
    assert_eq!(text, "abc");
    let (parent, llm) = (named(&obs, "consumer"), named(&obs, "llm"));
    assert_eq!(llm.parent_id, Some(parent.id));
    assert_eq!(output(llm), Some(json!("abc")));
    assert_eq!(llm.details().usage.as_ref().unwrap().get("total"), Some(6));
    assert!(parent.details().usage.is_none());

    let (n, obs) = record_sync(|| {
        #[observe]
        fn outer() -> usize {
            [1, 2]
                .into_iter()
                .observe_as(ObservationType::Span, "it")
                .count()
        }
        outer()
    });
    assert_eq!(n, 2);
    assert_eq!(named(&obs, "it").parent_id, Some(named(&obs, "outer").id));
}

// ---------------------------------------------------------------------------------------
// Issue 13, defects 15 and 18

/// A value whose serialization updates the current observation.
struct Noisy;

impl Serialize for Noisy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        update_current_observation(ObservationUpdate::new().metadata(json!({"serialized": true})));
        serializer.serialize_str("noisy")
    }
}

#[observe]
fn inner_noisy() -> Noisy {
    Noisy
}

#[observe]
async fn inner_noisy_async() -> Noisy {
    Noisy
}

#[test]
fn an_update_made_while_the_output_is_serialized_changes_that_observation_not_the_parent() {
    #[observe]
    fn parent() -> u8 {
        let _ = inner_noisy();
        1
    }
    let (_, obs) = record_sync(parent);
    let (parent, inner) = (named(&obs, "parent"), named(&obs, "inner_noisy"));
    assert!(parent.details().metadata.is_empty(), "{parent:#?}");
    assert_eq!(
        inner.details().metadata["serialized"].to_value(),
        json!(true)
    );
    assert_eq!(output(inner), Some(json!("noisy")));

    #[observe]
    async fn parent_async() -> u8 {
        let _ = inner_noisy_async().await;
        1
    }
    let (_, obs) = record(parent_async());
    let (parent, inner) = (
        named(&obs, "parent_async"),
        named(&obs, "inner_noisy_async"),
    );
    assert!(parent.details().metadata.is_empty(), "{parent:#?}");
    assert_eq!(
        inner.details().metadata["serialized"].to_value(),
        json!(true)
    );
}

#[derive(Debug)]
struct ToolError(String);

impl std::fmt::Display for ToolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tool failed: {}", self.0)
    }
}

type ToolResult<T> = Result<T, ToolError>;

#[observe(as_type = "tool")]
fn run_tool(ok: bool) -> ToolResult<u32> {
    if ok {
        Ok(7)
    } else {
        Err(ToolError("timeout".to_owned()))
    }
}

#[observe(as_type = "tool")]
async fn run_tool_async() -> ToolResult<()> {
    Err(ToolError("refused".to_owned()))
}

#[test]
fn a_result_alias_is_a_result() {
    let (_, obs) = record_sync(|| run_tool(false));
    let o = named(&obs, "run_tool");
    assert_eq!(o.level, Level::Error);
    assert_eq!(
        o.details().status_message.as_deref(),
        Some("tool failed: timeout")
    );
    assert_eq!(output(o), None);

    let (_, obs) = record_sync(|| run_tool(true));
    assert_eq!(output(named(&obs, "run_tool")), Some(json!(7)));

    let (_, obs) = record(run_tool_async());
    let o = named(&obs, "run_tool_async");
    assert_eq!(o.level, Level::Error);
    assert_eq!(
        o.details().status_message.as_deref(),
        Some("tool failed: refused")
    );
}

// ---------------------------------------------------------------------------------------
// Time to first token, downstream

#[test]
fn time_to_first_token_reaches_the_store_and_the_session_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("observe.sqlite");
    let exporter = observe_runtime::export::store::StoreExporter::open(&path).unwrap();
    let client = Client::builder().exporter(exporter).build();
    #[observe]
    async fn chat() -> String {
        update_current_trace(TraceUpdate::new().session_id("ttft"));
        tokens("a b").collect().await
    }
    let text = futures::executor::block_on(client.attach(chat()));
    assert_eq!(text, "a b ");
    client.shutdown(Duration::from_secs(5));

    let store = observe_runtime::export::store::Store::open(&path).unwrap();
    let stored = observe_runtime::export::store::sql::query(
        &store,
        "SELECT completion_start_time FROM observations WHERE name = 'tokens'",
    )
    .unwrap()
    .to_json();
    // In UTC, printed as PostgreSQL prints a timestamptz (`observe query`'s form).
    assert!(stored[0]["completion_start_time"]
        .as_str()
        .unwrap()
        .ends_with("+00"));
    let obs = store.session_observations("ttft").unwrap();
    let generation = named(&obs, "tokens");
    let first = generation.details().completion_start_time.unwrap();
    let tree = observe_runtime::view::render_session("ttft", &obs, &Default::default());
    let micros = first.as_nanos() / 1000 - generation.start.as_nanos() / 1000;
    let expected = format!(
        "ttft {})",
        observe_runtime::view::format_duration(Duration::from_micros(micros))
    );
    assert!(tree.contains(&expected), "{tree}");
    let chat_line = tree.lines().find(|l| l.contains("chat (")).unwrap();
    assert!(
        !chat_line.contains("ttft"),
        "only generations have one: {tree}"
    );
}

// ---------------------------------------------------------------------------------------
// A stream inside a `Result` or an `Option`: validate, then stream

#[derive(Debug)]
struct Rejected(&'static str);

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rejected: {}", self.0)
    }
}

#[observe(as_type = "generation")]
fn validated(prompt: &str) -> Result<impl Stream<Item = String> + Send + use<>, Rejected> {
    if prompt.is_empty() {
        return Err(Rejected("empty prompt"));
    }
    let words: Vec<String> = prompt.split(' ').map(|w| format!("{w} ")).collect();
    Ok(stream::iter(words).then(|word| async move {
        tool_inside_the_stream(&word);
        word
    }))
}

#[observe(as_type = "generation")]
async fn connect_validated(prompt: String) -> Result<impl Stream<Item = &'static str>, Rejected> {
    if prompt.is_empty() {
        Err(Rejected("nothing to say"))
    } else {
        Ok(stream::iter(["Hel", "lo"]))
    }
}

#[observe]
fn maybe_lines(on: bool) -> Option<impl Stream<Item = &'static str>> {
    on.then(|| stream::iter(["a", "b"]))
}

#[test]
fn an_ok_stream_is_observed_until_it_ends() {
    let (text, obs) = record(async {
        let stream = validated("why is it blue").expect("a valid prompt");
        // Nothing ends at return: the stream has not run yet.
        stream.collect::<String>().await
    });
    assert_eq!(text, "why is it blue ");
    let o = named(&obs, "validated");
    assert_eq!(o.kind, ObservationType::Generation);
    assert_eq!(output(o), Some(json!("why is it blue ")));
    assert_eq!(o.level, Level::Default);
    assert!(o.details().completion_start_time.is_some());
    let tools: Vec<&Observation> = obs
        .iter()
        .filter(|t| t.name == "tool_inside_the_stream")
        .collect();
    assert_eq!(tools.len(), 4);
    assert!(tools.iter().all(|t| t.parent_id == Some(o.id)));
    assert!(o.end >= tools.iter().map(|t| t.end).max().unwrap());
}

#[test]
fn an_err_instead_of_a_stream_ends_the_observation_as_an_error() {
    let (result, obs) = record(async { validated("").map(|_| ()) });
    assert!(result.is_err());
    let o = named(&obs, "validated");
    assert_eq!(o.level, Level::Error);
    assert_eq!(
        o.details().status_message.as_deref(),
        Some("rejected: empty prompt")
    );
    assert_eq!(output(o), None);
}

#[test]
fn an_async_fn_returning_an_ok_stream_stays_open_until_the_stream_ends() {
    let (text, obs) = record(async {
        let stream = connect_validated("hi".to_owned()).await.unwrap();
        stream.collect::<String>().await
    });
    assert_eq!(text, "Hello");
    assert_eq!(
        output(named(&obs, "connect_validated")),
        Some(json!("Hello"))
    );

    let (failed, obs) = record(async { connect_validated(String::new()).await.is_err() });
    assert!(failed);
    let o = named(&obs, "connect_validated");
    assert_eq!(o.level, Level::Error);
    assert_eq!(
        o.details().status_message.as_deref(),
        Some("rejected: nothing to say")
    );
}

#[test]
fn a_some_stream_is_observed_and_none_ends_without_output() {
    let (text, obs) = record(async { maybe_lines(true).unwrap().collect::<String>().await });
    assert_eq!(text, "ab");
    assert_eq!(output(named(&obs, "maybe_lines")), Some(json!("ab")));

    let (none, obs) = record(async { maybe_lines(false).is_none() });
    assert!(none);
    let o = named(&obs, "maybe_lines");
    assert_eq!(output(o), None);
    assert_eq!(o.level, Level::Default);
}
