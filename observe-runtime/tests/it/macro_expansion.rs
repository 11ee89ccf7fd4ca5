//! What `#[observe]` records, for every function shape it accepts: each case compiles, runs
//! under an in-memory client, and is checked for name, type, input, output, level and
//! parent.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use observe_runtime::model::{Level, Observation, ObservationType};
use observe_runtime::{observe, Client};
use serde::Serialize;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// Harness

/// Runs `f` with a fresh in-memory client as destination; returns its result and every
/// observation recorded, in the order they ended.
fn record_sync<R>(f: impl FnOnce() -> R) -> (R, Vec<Observation>) {
    let (client, memory) = Client::in_memory();
    let result = client.in_scope(f);
    client.flush(Duration::from_secs(5));
    (result, memory.observations())
}

/// The same for a future, driven to completion on this thread.
fn record<F: Future>(future: F) -> (F::Output, Vec<Observation>) {
    let (client, memory) = Client::in_memory();
    let result = futures::executor::block_on(client.attach(future));
    client.flush(Duration::from_secs(5));
    (result, memory.observations())
}

#[track_caller]
fn only(observations: Vec<Observation>) -> Observation {
    assert_eq!(observations.len(), 1, "{observations:#?}");
    observations.into_iter().next().unwrap()
}

#[track_caller]
fn named<'a>(observations: &'a [Observation], name: &str) -> &'a Observation {
    observations
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no observation `{name}` in {observations:#?}"))
}

fn input(o: &Observation) -> Option<Value> {
    o.details().input.as_ref().map(|j| j.to_value())
}

fn output(o: &Observation) -> Option<Value> {
    o.details().output.as_ref().map(|j| j.to_value())
}

fn status(o: &Observation) -> Option<&str> {
    o.details().status_message.as_deref()
}

/// A successful root observation of type span, with this input and output.
#[track_caller]
fn assert_ok(o: &Observation, name: &str, input_: Option<Value>, output_: Option<Value>) {
    assert_eq!(o.name, name);
    assert_eq!(o.kind, ObservationType::Span, "{o:#?}");
    assert_eq!(o.level, Level::Default, "{o:#?}");
    assert_eq!(status(o), None, "{o:#?}");
    assert_eq!(input(o), input_, "input of {name}");
    assert_eq!(output(o), output_, "output of {name}");
}

/// A failed observation: level ERROR, this status message, no output.
#[track_caller]
fn assert_err(o: &Observation, message: &str) {
    assert_eq!(o.level, Level::Error, "{o:#?}");
    assert_eq!(status(o), Some(message), "{o:#?}");
    assert_eq!(output(o), None, "{o:#?}");
}

// ---------------------------------------------------------------------------------------
// Types with and without Serialize / Debug / Display

#[derive(Serialize, Debug, Clone, PartialEq)]
struct Page {
    url: String,
    size: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct DebugOnly(i32);

struct Neither;

#[derive(Debug, PartialEq)]
struct FetchError(String);

impl Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fetch failed: {}", self.0)
    }
}

impl std::error::Error for FetchError {}

#[derive(Debug, PartialEq)]
struct DebugError {
    code: u16,
}

// ---------------------------------------------------------------------------------------
// Plain functions and arguments

#[observe]
fn bare() {}

#[observe]
fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[test]
fn bare_sync_fn_records_its_name_and_no_input_or_output() {
    let ((), observations) = record_sync(bare);
    let o = only(observations);
    assert_ok(&o, "bare", None, None);
    assert!(o.is_root());
}

#[test]
fn input_is_an_object_keyed_by_parameter_and_output_is_the_return_value() {
    let (sum, observations) = record_sync(|| add(2, 3));
    assert_eq!(sum, 5);
    assert_ok(
        &only(observations),
        "add",
        Some(json!({"a": 2, "b": 3})),
        Some(json!(5)),
    );
}

#[observe(name = "fetch_page", as_type = "tool", skip(api_key))]
async fn fetch(url: &str, api_key: &str) -> Page {
    Page {
        url: url.to_owned(),
        size: api_key.len(),
    }
}

#[test]
fn name_as_type_and_skip() {
    let (page, observations) = record(fetch("https://a.example", "secret"));
    assert_eq!(page.size, 6);
    let o = only(observations);
    assert_eq!(o.name, "fetch_page");
    assert_eq!(o.kind, ObservationType::Tool);
    assert_eq!(input(&o), Some(json!({"url": "https://a.example"})));
    assert_eq!(
        output(&o),
        Some(json!({"url": "https://a.example", "size": 6}))
    );
}

macro_rules! typed {
    ($($name:ident => $as_type:literal),* $(,)?) => {
        $(
            #[observe(as_type = $as_type)]
            fn $name() {}
        )*
        #[test]
        fn every_as_type_maps_to_its_observation_type() {
            $(
                let ((), observations) = record_sync($name);
                let o = only(observations);
                assert_eq!(o.kind.as_str(), $as_type);
                assert_eq!(o.name, stringify!($name));
            )*
        }
    };
}

typed! {
    as_span => "span",
    as_generation => "generation",
    as_event => "event",
    as_agent => "agent",
    as_tool => "tool",
    as_chain => "chain",
    as_retriever => "retriever",
    as_evaluator => "evaluator",
    as_embedding => "embedding",
    as_guardrail => "guardrail",
}

#[observe]
fn kinds(page: &Page, debug: DebugOnly, neither: Neither) -> (DebugOnly, usize) {
    let Neither = neither;
    (debug, page.size)
}

#[test]
fn values_are_captured_by_serialize_else_debug_else_type_name() {
    let page = Page {
        url: "u".into(),
        size: 1,
    };
    let (_, observations) = record_sync(|| kinds(&page, DebugOnly(7), Neither));
    let o = only(observations);
    let captured = input(&o).unwrap();
    assert_eq!(captured["page"], json!({"url": "u", "size": 1}));
    assert_eq!(captured["debug"], json!("DebugOnly(7)"));
    let neither = captured["neither"].as_str().unwrap();
    assert!(neither.contains("Neither"), "{neither}");
    // A tuple of a Debug-only type is Debug, not Serialize.
    assert_eq!(output(&o), Some(json!("(DebugOnly(7), 1)")));
}

#[observe]
fn patterns((a, b): (i32, i32), _: u8, mut c: i32, r#type: &str, _unused: bool) -> i32 {
    c += 1;
    a + b + c + r#type.len() as i32
}

#[test]
fn destructured_and_wildcard_parameters_are_left_out() {
    let (n, observations) = record_sync(|| patterns((1, 2), 3, 4, "ab", true));
    assert_eq!(n, 10);
    assert_ok(
        &only(observations),
        "patterns",
        Some(json!({"c": 4, "type": "ab", "_unused": true})),
        Some(json!(10)),
    );
}

#[observe(capture_input = false)]
fn no_input(password: &str) -> usize {
    password.len()
}

#[observe(capture_output = false)]
fn no_output(n: u32) -> Result<u32, FetchError> {
    if n == 0 {
        return Err(FetchError("zero".into()));
    }
    Ok(n)
}

#[test]
fn capture_switches_turn_input_or_output_off_but_errors_still_show() {
    let (_, observations) = record_sync(|| no_input("hunter2"));
    assert_ok(&only(observations), "no_input", None, Some(json!(7)));

    let (_, observations) = record_sync(|| no_output(3));
    assert_ok(
        &only(observations),
        "no_output",
        Some(json!({"n": 3})),
        None,
    );

    let (_, observations) = record_sync(|| no_output(0));
    assert_err(&only(observations), "fetch failed: zero");
}

#[observe(skip(token, seed))]
fn all_skipped(token: &str, seed: u64) -> u64 {
    seed + token.len() as u64
}

#[test]
fn a_function_with_nothing_to_capture_records_no_input() {
    let (_, observations) = record_sync(|| all_skipped("t", 1));
    assert_ok(&only(observations), "all_skipped", None, Some(json!(2)));
}

// ---------------------------------------------------------------------------------------
// Result, `?` and early return

#[observe]
fn parse_double(text: &str) -> Result<i64, std::num::ParseIntError> {
    let n: i64 = text.trim().parse()?;
    if n < 0 {
        return Ok(0);
    }
    Ok(n * 2)
}

#[observe]
async fn fetch_checked(url: &str) -> Result<Page, FetchError> {
    if url.is_empty() {
        return Err(FetchError("empty url".into()));
    }
    let size: usize = "12".parse().map_err(|_| FetchError("unreachable".into()))?;
    Ok(Page {
        url: url.to_owned(),
        size,
    })
}

#[observe]
fn boxed_error(text: &str) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    Ok(text.parse::<u8>()?)
}

#[observe]
fn debug_error(code: u16) -> Result<(), DebugError> {
    if code >= 400 {
        Err(DebugError { code })
    } else {
        Ok(())
    }
}

#[observe]
fn io_unit() -> std::io::Result<()> {
    Ok(())
}

#[observe]
fn early_return(n: i32) -> Option<i32> {
    if n > 3 {
        return None;
    }
    Some(n)
}

#[test]
fn ok_value_is_the_output_and_question_mark_propagates_as_error() {
    let (_, observations) = record_sync(|| parse_double("21"));
    assert_ok(
        &only(observations),
        "parse_double",
        Some(json!({"text": "21"})),
        Some(json!(42)),
    );

    let (_, observations) = record_sync(|| parse_double("-5"));
    assert_eq!(output(&only(observations)), Some(json!(0)));

    let (result, observations) = record_sync(|| parse_double("x"));
    assert!(result.is_err());
    assert_err(&only(observations), "invalid digit found in string");
}

#[test]
fn async_result_and_early_return() {
    let (_, observations) = record(fetch_checked("u"));
    assert_ok(
        &only(observations),
        "fetch_checked",
        Some(json!({"url": "u"})),
        Some(json!({"url": "u", "size": 12})),
    );

    let (_, observations) = record(fetch_checked(""));
    assert_err(&only(observations), "fetch failed: empty url");
}

#[test]
fn error_text_uses_display_else_debug() {
    let (_, observations) = record_sync(|| boxed_error("300"));
    assert_err(
        &only(observations),
        "number too large to fit in target type",
    );

    let (_, observations) = record_sync(|| debug_error(404));
    assert_err(&only(observations), "DebugError { code: 404 }");
}

#[test]
fn unit_and_ok_unit_record_no_output_and_option_is_a_value() {
    let (_, observations) = record_sync(|| debug_error(200));
    assert_ok(
        &only(observations),
        "debug_error",
        Some(json!({"code": 200})),
        None,
    );

    let (_, observations) = record_sync(io_unit);
    assert_ok(&only(observations), "io_unit", None, None);

    let (_, observations) = record_sync(|| early_return(9));
    assert_ok(
        &only(observations),
        "early_return",
        Some(json!({"n": 9})),
        Some(Value::Null),
    );
}

// ---------------------------------------------------------------------------------------
// Generics, lifetimes, where clauses, impl Trait

#[observe]
fn generic<T: Debug + Clone, U>(item: &T, label: U) -> T
where
    U: Display,
{
    let _ = label.to_string();
    item.clone()
}

#[observe]
fn generic_serialize<T: Serialize>(value: T) -> T {
    value
}

#[observe]
fn longest<'a, 'b: 'a>(x: &'a str, y: &'b str) -> &'a str {
    if x.len() >= y.len() {
        x
    } else {
        y
    }
}

#[observe]
fn first_mut<'a>(items: &'a mut Vec<i32>) -> &'a mut i32 {
    items.push(1);
    &mut items[0]
}

#[observe]
fn impl_trait(label: impl Display, numbers: impl IntoIterator<Item = i32>) -> impl Display {
    format!("{label}={}", numbers.into_iter().sum::<i32>())
}

#[observe]
async fn async_impl_trait(label: impl Display + Send) -> impl Display {
    format!("<{label}>")
}

#[test]
fn generics_follow_their_bounds() {
    let (_, observations) = record_sync(|| generic(&[1, 2], 5));
    let o = only(observations);
    let captured = input(&o).unwrap();
    assert_eq!(captured["item"], json!("[1, 2]"));
    assert!(captured["label"].as_str().unwrap().contains("i32"));
    assert_eq!(output(&o), Some(json!("[1, 2]")));

    let (_, observations) = record_sync(|| generic_serialize(vec![3]));
    let o = only(observations);
    assert_eq!(input(&o), Some(json!({"value": [3]})));
    assert_eq!(output(&o), Some(json!([3])));
}

#[test]
fn lifetimes_and_returned_borrows() {
    let (s, observations) = record_sync(|| longest("abc", "de").to_owned());
    assert_eq!(s, "abc");
    assert_ok(
        &only(observations),
        "longest",
        Some(json!({"x": "abc", "y": "de"})),
        Some(json!("abc")),
    );

    let mut items = Vec::new();
    let ((), observations) = record_sync(|| *first_mut(&mut items) += 10);
    assert_eq!(items, [11]);
    // The input is taken when the call starts.
    assert_ok(
        &only(observations),
        "first_mut",
        Some(json!({"items": []})),
        Some(json!(1)),
    );
}

#[test]
fn impl_trait_in_argument_and_return_position() {
    let (s, observations) = record_sync(|| impl_trait("sum", vec![1, 2]).to_string());
    assert_eq!(s, "sum=3");
    let o = only(observations);
    // `impl Trait` arguments are generics: captured as their bounds allow, here by type
    // name only since neither bound is Serialize or Debug.
    let captured = input(&o).unwrap();
    assert!(captured["label"].as_str().unwrap().contains("&str"));
    assert!(captured["numbers"].as_str().unwrap().contains("Vec<i32>"));
    // The returned value is known inside the function: a String.
    assert_eq!(output(&o), Some(json!("sum=3")));

    let (s, observations) = record(async { async_impl_trait(4).await.to_string() });
    assert_eq!(s, "<4>");
    let o = only(observations);
    assert_eq!(output(&o), Some(json!("<4>")));
}

// ---------------------------------------------------------------------------------------
// Methods

struct Agent {
    name: String,
    steps: Vec<u32>,
}

impl Agent {
    #[observe]
    fn new(name: &str) -> Self {
        Agent {
            name: name.to_owned(),
            steps: Vec::new(),
        }
    }

    #[observe]
    fn name(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.name)
    }

    #[observe]
    fn name_ref(&self) -> &str {
        &self.name
    }

    #[observe]
    fn step(&mut self, n: u32) -> &mut u32 {
        self.steps.push(n);
        self.steps.last_mut().unwrap()
    }

    #[observe]
    fn into_name(self) -> String {
        self.name
    }

    #[observe]
    fn shared(self: Arc<Self>, n: usize) -> usize {
        self.name.len() + n
    }

    #[observe]
    async fn a_name(&self, suffix: &str) -> &str {
        let _ = suffix;
        &self.name
    }

    #[observe]
    async fn a_step(&mut self, n: u32) -> &mut u32 {
        self.steps.push(n);
        self.steps.last_mut().unwrap()
    }

    #[observe]
    async fn a_into_name(self) -> String {
        self.name
    }

    #[observe(skip(self))]
    async fn a_shared(self: Arc<Self>, n: usize) -> usize {
        self.name.len() + n
    }
}

#[test]
fn sync_methods_leave_self_out() {
    let (mut agent, observations) = record_sync(|| Agent::new("ann"));
    let o = only(observations);
    assert_eq!(input(&o), Some(json!({"name": "ann"})));

    let (_, observations) = record_sync(|| agent.name("!"));
    assert_ok(
        &only(observations),
        "name",
        Some(json!({"suffix": "!"})),
        Some(json!("ann!")),
    );

    let (_, observations) = record_sync(|| agent.name_ref().len());
    assert_ok(&only(observations), "name_ref", None, Some(json!("ann")));

    let ((), observations) = record_sync(|| *agent.step(4) += 1);
    assert_eq!(agent.steps, [5]);
    assert_ok(
        &only(observations),
        "step",
        Some(json!({"n": 4})),
        Some(json!(4)),
    );

    let (_, observations) = record_sync(|| Arc::new(Agent::new("bo")).shared(1));
    assert_ok(
        named(&observations, "shared"),
        "shared",
        Some(json!({"n": 1})),
        Some(json!(3)),
    );

    let (_, observations) = record_sync(|| agent.into_name());
    assert_ok(&only(observations), "into_name", None, Some(json!("ann")));
}

#[test]
fn async_methods_leave_self_out() {
    let mut agent = Agent {
        name: "cy".into(),
        steps: vec![],
    };
    let (_, observations) = record(async { agent.a_name("?").await.len() });
    assert_ok(
        &only(observations),
        "a_name",
        Some(json!({"suffix": "?"})),
        Some(json!("cy")),
    );

    let ((), observations) = record(async { *agent.a_step(2).await += 1 });
    assert_eq!(agent.steps, [3]);
    assert_ok(
        &only(observations),
        "a_step",
        Some(json!({"n": 2})),
        Some(json!(2)),
    );

    let (_, observations) = record(
        Arc::new(Agent {
            name: "dee".into(),
            steps: vec![],
        })
        .a_shared(2),
    );
    assert_ok(
        &only(observations),
        "a_shared",
        Some(json!({"n": 2})),
        Some(json!(5)),
    );

    let (_, observations) = record(agent.a_into_name());
    assert_ok(&only(observations), "a_into_name", None, Some(json!("cy")));
}

// ---------------------------------------------------------------------------------------
// Traits: native async fn, #[async_trait], a fn returning an async block

trait Tool {
    fn call(&self, input: &str) -> impl Future<Output = Result<String, FetchError>> + Send;

    #[observe(as_type = "tool")]
    async fn describe(&self, verbose: bool) -> String {
        format!("tool verbose={verbose}")
    }
}

struct Upper;

impl Tool for Upper {
    #[observe(as_type = "tool")]
    async fn call(&self, input: &str) -> Result<String, FetchError> {
        if input.is_empty() {
            return Err(FetchError("no input".into()));
        }
        Ok(input.to_uppercase())
    }
}

#[async_trait::async_trait]
trait Step {
    async fn run(&self, n: i32, pair: (i32, i32)) -> Result<i32, FetchError>;
    async fn reset(&mut self);
    #[observe(name = "step_default")]
    async fn label(&self, prefix: &str) -> String {
        format!("{prefix}step")
    }
}

struct Doubler {
    runs: u32,
}

#[async_trait::async_trait]
impl Step for Doubler {
    #[observe(as_type = "chain")]
    async fn run(&self, n: i32, (a, b): (i32, i32)) -> Result<i32, FetchError> {
        if n < 0 {
            return Err(FetchError("negative".into()));
        }
        let parsed: i32 = "1".parse().map_err(|_| FetchError("parse".into()))?;
        Ok(add(n, n) + a + b + parsed)
    }

    #[observe]
    async fn reset(&mut self) {
        self.runs = 0;
    }
}

#[observe]
fn deferred(n: u32) -> impl Future<Output = Result<u32, FetchError>> {
    async move {
        if n == 0 {
            return Err(FetchError("zero".into()));
        }
        Ok(n + 1)
    }
}

#[observe]
fn deferred_boxed(n: u32) -> std::pin::Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move { n * 3 })
}

/// Statements before the async block run at the call; the input is taken when the future
/// first runs, so a parameter those statements move must be skipped.
#[observe(skip(items))]
fn prepared(items: Vec<u32>, scale: u32) -> impl Future<Output = u32> {
    let owned = items;
    async move { owned.iter().sum::<u32>() * scale }
}

#[test]
fn native_async_fn_in_traits() {
    let (_, observations) = record(Upper.call("hi"));
    let o = only(observations);
    assert_eq!(o.kind, ObservationType::Tool);
    assert_eq!(input(&o), Some(json!({"input": "hi"})));
    assert_eq!(output(&o), Some(json!("HI")));

    let (_, observations) = record(Upper.call(""));
    assert_err(&only(observations), "fetch failed: no input");

    let (_, observations) = record(Upper.describe(true));
    let o = only(observations);
    assert_eq!(
        (o.name.as_ref(), o.kind),
        ("describe", ObservationType::Tool)
    );
    assert_eq!(output(&o), Some(json!("tool verbose=true")));
}

#[test]
fn async_trait_methods_observe_the_future_not_its_construction() {
    let mut doubler = Doubler { runs: 3 };
    let (result, observations) = record(doubler.run(2, (10, 20)));
    assert_eq!(result, Ok(35));
    assert_eq!(observations.len(), 2, "{observations:#?}");
    let run = named(&observations, "run");
    assert_eq!(run.kind, ObservationType::Chain);
    assert!(run.is_root());
    // The destructured pair is left out, as it is everywhere else.
    assert_eq!(input(run), Some(json!({"n": 2})));
    assert_eq!(output(run), Some(json!(35)));
    // `add` ran inside the instrumented future, so it is a child.
    let child = named(&observations, "add");
    assert_eq!(child.parent_id, Some(run.id));
    assert_eq!(child.trace_id, run.trace_id);

    let (_, observations) = record(doubler.run(-1, (0, 0)));
    assert_err(&only(observations), "fetch failed: negative");

    let ((), observations) = record(doubler.reset());
    assert_eq!(doubler.runs, 0);
    assert_ok(&only(observations), "reset", None, None);

    let (_, observations) = record(doubler.label("a-"));
    assert_ok(
        &only(observations),
        "step_default",
        Some(json!({"prefix": "a-"})),
        Some(json!("a-step")),
    );
}

#[test]
fn fn_returning_an_async_block_observes_the_block() {
    // Nothing is recorded until the future runs.
    let (future, observations) = record_sync(|| deferred(1));
    assert!(observations.is_empty(), "{observations:#?}");
    drop(future);

    let (result, observations) = record(deferred(1));
    assert_eq!(result, Ok(2));
    assert_ok(
        &only(observations),
        "deferred",
        Some(json!({"n": 1})),
        Some(json!(2)),
    );

    let (_, observations) = record(deferred(0));
    assert_err(&only(observations), "fetch failed: zero");

    let (result, observations) = record(prepared(vec![1, 2], 2));
    assert_eq!(result, 6);
    assert_ok(
        &only(observations),
        "prepared",
        Some(json!({"scale": 2})),
        Some(json!(6)),
    );

    let (result, observations) = record(deferred_boxed(2));
    assert_eq!(result, 6);
    assert_ok(
        &only(observations),
        "deferred_boxed",
        Some(json!({"n": 2})),
        Some(json!(6)),
    );
}

// ---------------------------------------------------------------------------------------
// Nesting, panics, cancellation

#[observe(as_type = "agent")]
async fn workflow(text: &str) -> usize {
    let a = add(1, 2) as usize;
    let page = fetch(text, "key").await;
    let (b, c) = futures::join!(fetch_checked("x"), async_impl_trait(1));
    a + page.size + b.map(|p| p.size).unwrap_or(0) + c.to_string().len()
}

#[test]
fn nested_calls_are_children_of_the_caller() {
    let (n, observations) = record(workflow("t"));
    assert_eq!(n, 3 + 3 + 12 + 3);
    assert_eq!(observations.len(), 5, "{observations:#?}");
    let root = named(&observations, "workflow");
    assert!(root.is_root());
    assert_eq!(root.kind, ObservationType::Agent);
    assert_eq!(input(root), Some(json!({"text": "t"})));
    assert_eq!(output(root), Some(json!(21)));
    for child in ["add", "fetch_page", "fetch_checked", "async_impl_trait"] {
        let o = named(&observations, child);
        assert_eq!(o.parent_id, Some(root.id), "{child}");
        assert_eq!(o.trace_id, root.trace_id, "{child}");
    }
    // The root ends last.
    assert_eq!(observations.last().unwrap().id, root.id);
}

#[observe]
fn outer_sync(n: i32) -> i32 {
    add(n, 1) * 2
}

#[test]
fn nested_sync_calls_are_children_of_the_caller() {
    let (_, observations) = record_sync(|| outer_sync(1));
    let root = named(&observations, "outer_sync");
    let child = named(&observations, "add");
    assert_eq!(child.parent_id, Some(root.id));
    assert_eq!(output(root), Some(json!(4)));
}

#[observe]
fn panics(n: i32) -> i32 {
    if n > 0 {
        panic!("boom {n}");
    }
    n
}

#[test]
fn a_panic_is_recorded_and_goes_on() {
    let (result, observations) =
        record_sync(|| std::panic::catch_unwind(|| panics(1)).map_err(|_| ()));
    assert!(result.is_err());
    let o = only(observations);
    assert_eq!(o.level, Level::Error);
    assert!(status(&o).unwrap().contains("boom 1"), "{o:#?}");
}

#[observe]
fn diverges(code: i32) -> ! {
    panic!("exit {code}")
}

#[test]
fn a_function_returning_never_is_observed_until_it_panics() {
    let (unwound, observations) = record_sync(|| std::panic::catch_unwind(|| diverges(3)).is_err());
    assert!(unwound);
    let o = only(observations);
    assert_eq!(input(&o), Some(json!({"code": 3})));
    assert_eq!(o.level, Level::Error);
    assert!(status(&o).unwrap().contains("exit 3"), "{o:#?}");
}

#[observe]
async fn never_finishes() -> u8 {
    futures::future::pending::<()>().await;
    1
}

#[test]
fn a_future_dropped_unfinished_is_cancelled() {
    let (polled, observations) = record(async {
        let mut future = Box::pin(never_finishes());
        futures::poll!(future.as_mut()).is_pending()
    });
    assert!(polled);
    let o = only(observations);
    assert_eq!(o.level, Level::Warning);
    assert_eq!(status(&o), Some("cancelled"));
}

// ---------------------------------------------------------------------------------------
// Other shapes: attributes, nested items, unsafe, macro-generated functions

/// Documented, inlined, with an inner attribute.
#[observe]
#[inline]
fn with_attributes(n: u8) -> u8 {
    #![allow(clippy::identity_op)]
    n + 0
}

#[observe]
unsafe fn read_raw(pointer: *const u32) -> u32 {
    unsafe { *pointer }
}

fn with_nested_item() -> u8 {
    #[observe]
    fn nested(n: u8) -> u8 {
        n
    }
    nested(4)
}

macro_rules! observed_identity {
    ($name:ident, $ty:ty) => {
        #[observe]
        fn $name(value: $ty) -> Result<$ty, FetchError> {
            Ok(value)
        }
    };
}

observed_identity!(identity_u8, u8);

#[test]
fn attributes_nested_items_unsafe_and_macros() {
    let (_, observations) = record_sync(|| with_attributes(1));
    assert_ok(
        &only(observations),
        "with_attributes",
        Some(json!({"n": 1})),
        Some(json!(1)),
    );

    let value = 9u32;
    let (_, observations) = record_sync(|| unsafe { read_raw(&value) });
    assert_eq!(output(&only(observations)), Some(json!(9)));

    let (_, observations) = record_sync(with_nested_item);
    assert_ok(
        &only(observations),
        "nested",
        Some(json!({"n": 4})),
        Some(json!(4)),
    );

    let (_, observations) = record_sync(|| identity_u8(3));
    assert_ok(
        &only(observations),
        "identity_u8",
        Some(json!({"value": 3})),
        Some(json!(3)),
    );
}

// ---------------------------------------------------------------------------------------
// `crate = "..."`: a crate that re-exports the runtime names it for the emitted code.

mod sdk {
    pub use observe_runtime as telemetry;
}

#[observe(crate = "crate::macro_expansion::sdk::telemetry", as_type = "tool")]
fn through_a_reexport(x: u8) -> u8 {
    x + 1
}

#[test]
fn crate_argument_reaches_the_runtime_through_a_reexport() {
    let (value, obs) = record_sync(|| through_a_reexport(1));
    assert_eq!(value, 2);
    let o = only(obs);
    assert_eq!(o.name, "through_a_reexport");
    assert_eq!(o.kind, ObservationType::Tool);
    assert_eq!(input(&o), Some(json!({"x": 1})));
}
