//! The session tree, from hand-made observations with known times and costs, and from the
//! in-memory exporter.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use observe_runtime::model::{
    Cost, Json, Level, Observation, ObservationDetails, ObservationType, SpanId, Timestamp,
    TraceAttributes, TraceId,
};
use observe_runtime::view::{render_all, render_session, SessionTree, ViewOptions};
use observe_runtime::{Client, ObservationUpdate, Trace};

const MS: u64 = 1_000_000;
const T0: u64 = 1_764_282_066_000_000_000;

struct O {
    trace: u128,
    id: u64,
    parent: Option<u64>,
    name: &'static str,
    kind: ObservationType,
    start_ms: u64,
    end_ms: u64,
    cost: f64,
}

fn build(list: &[O], attrs: &Arc<TraceAttributes>) -> Vec<Observation> {
    list.iter()
        .map(|o| Observation {
            trace_id: TraceId(o.trace),
            id: SpanId(o.id),
            parent_id: o.parent.map(SpanId),
            name: Cow::Borrowed(o.name),
            kind: o.kind,
            level: Level::Default,
            start: Timestamp(T0 + o.start_ms * MS),
            end: Timestamp(T0 + o.end_ms * MS),
            details: (o.cost > 0.0).then(|| {
                Box::new(ObservationDetails {
                    cost: Some(Cost::total_only(o.cost)),
                    ..ObservationDetails::default()
                })
            }),
            trace: attrs.clone(),
        })
        .collect()
}

/// The seed's session: a workflow trace of 15.2 s and a follow-up trace, $0.23 in all.
fn seed() -> Vec<Observation> {
    use ObservationType::*;
    let attrs = Arc::new(TraceAttributes {
        session_id: Some("analysis_abc123".into()),
        ..TraceAttributes::default()
    });
    let o = |trace, id, parent, name, kind, start_ms, end_ms, cost| O {
        trace,
        id,
        parent,
        name,
        kind,
        start_ms,
        end_ms,
        cost,
    };
    // Listed in the order they ended (children first), not by start.
    build(
        &[
            o(1, 12, Some(10), "sentiment_agent", Agent, 1_100, 6_100, 0.0),
            o(1, 13, Some(12), "llm_call", Generation, 1_200, 6_000, 0.05),
            o(1, 11, Some(10), "url_fetch", Tool, 0, 1_000, 0.02),
            o(1, 14, Some(10), "topic_agent", Agent, 1_050, 9_000, 0.14),
            o(
                1,
                10,
                None,
                "content_analysis_workflow",
                Span,
                0,
                14_000,
                0.0,
            ),
            o(2, 20, None, "follow_up", Span, 14_200, 15_200, 0.02),
        ],
        &attrs,
    )
}

#[test]
fn renders_the_seed_session() {
    let obs = seed();
    let text = render_session("analysis_abc123", &obs, &ViewOptions::default());
    // Session: 0 to 15 200 ms; cost 0.05 + 0.02 + 0.14 + 0.02 = 0.23.
    // The workflow's children by start: url_fetch (0), topic_agent (1050), sentiment (1100).
    assert_eq!(
        text,
        "Session: analysis_abc123 (15.2s, $0.23)\n\
         ├── content_analysis_workflow (14.0s, $0.21)\n\
         │   ├── url_fetch (1.0s, $0.02)\n\
         │   ├── topic_agent (8.0s, $0.14)\n\
         │   └── sentiment_agent (5.0s, $0.05)\n\
         │       └── llm_call (4.8s, $0.05)\n\
         └── follow_up (1.0s, $0.02)\n"
    );
    let tree = SessionTree::build("analysis_abc123", &obs);
    assert_eq!(tree.duration(), Duration::from_millis(15_200));
    assert!((tree.cost() - 0.23).abs() < 1e-12);
    assert_eq!(tree.traces.len(), 2);
}

#[test]
fn types_levels_and_io_on_request() {
    let mut obs = seed();
    let llm = obs.iter_mut().find(|o| o.name == "llm_call").unwrap();
    llm.level = Level::Error;
    llm.details_mut().status_message = Some("rate limited\nretry later".into());
    llm.details_mut().input = Some(Json::string("prompt text"));
    let text = render_session(
        "analysis_abc123",
        &obs,
        &ViewOptions::detailed().with_io(true),
    );
    assert!(
        text.contains("│       └── llm_call [generation] (4.8s, $0.05) ERROR: rate limited retry later\n│             input: prompt text\n"),
        "{text}"
    );
    assert!(
        text.contains("├── url_fetch [tool] (1.0s, $0.02)\n"),
        "{text}"
    );
    assert!(
        text.contains("└── sentiment_agent [agent] (5.0s, $0.05)\n"),
        "{text}"
    );
}

#[test]
fn orphans_and_other_sessions() {
    use ObservationType::*;
    let other = Arc::new(TraceAttributes {
        session_id: Some("other".into()),
        ..TraceAttributes::default()
    });
    let mut obs = seed();
    // Parent 99 was never exported (e.g. still running): the child shows at the top of its trace.
    obs.extend(build(
        &[
            O {
                trace: 3,
                id: 30,
                parent: Some(99),
                name: "lost_child",
                kind: Span,
                start_ms: 0,
                end_ms: 500,
                cost: 0.5,
            },
            O {
                trace: 3,
                id: 31,
                parent: None,
                name: "late_root",
                kind: Span,
                start_ms: 100,
                end_ms: 700,
                cost: 0.0,
            },
        ],
        &other,
    ));
    let text = render_session("other", &obs, &ViewOptions::default());
    assert_eq!(
        text,
        "Session: other (700ms, $0.50)\n\
         └── late_root (700ms, $0.50)\n\
         \x20   ├── lost_child (500ms, $0.50)\n\
         \x20   └── late_root (600ms)\n"
    );
    let all = render_all(&obs, &ViewOptions::default());
    // Sessions in order of their first start (trace 3 and trace 1 both start at T0; the
    // shorter comes first), each once.
    assert!(all.starts_with("Session: other") && all.contains("\nSession: analysis_abc123"));
}

#[test]
fn from_the_in_memory_exporter() {
    let (client, memory) = Client::in_memory();
    let trace = client.trace(Trace::new("url_fetch").session_id("s1"));
    let mut llm = trace.generation("summarize");
    llm.update(ObservationUpdate::new().cost(Cost::total_only(0.02)));
    llm.end();
    trace.end();
    client.flush(Duration::from_secs(5));
    let text = render_session("s1", &memory.observations(), &ViewOptions::detailed());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("Session: s1 (") && lines[0].ends_with(", $0.02)"));
    assert!(lines[1].starts_with("└── url_fetch ("));
    assert!(lines[2].starts_with("    └── summarize [generation] ("));
}

#[test]
fn control_characters_are_escaped_in_the_tree() {
    let attrs = Arc::new(TraceAttributes {
        name: Some("wf\u{1b}[31m".into()),
        session_id: Some("s\u{1b}]0;x\u{7}".into()),
        ..TraceAttributes::default()
    });
    let mut observations = build(
        &[
            O {
                trace: 1,
                id: 1,
                parent: None,
                name: "root",
                kind: ObservationType::Span,
                start_ms: 0,
                end_ms: 10,
                cost: 0.0,
            },
            O {
                trace: 1,
                id: 2,
                parent: Some(1),
                name: "tool\u{202e}cba\u{8}",
                kind: ObservationType::Tool,
                start_ms: 1,
                end_ms: 2,
                cost: 0.0,
            },
        ],
        &attrs,
    );
    observations[1].level = Level::Error;
    observations[1].details = Some(Box::new(ObservationDetails {
        status_message: Some("bad\u{1b}[2Jthing".into()),
        input: Some(Json::string("in\u{1b}[1m")),
        ..ObservationDetails::default()
    }));
    let text = render_session(
        "s\u{1b}]0;x\u{7}",
        &observations,
        &ViewOptions::detailed().with_io(true),
    );
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{text:?}"
    );
    assert!(text.starts_with(r"Session: s\u{1b}]0;x\u{7} ("), "{text}");
    assert!(text.contains(r"wf\u{1b}[31m ("), "{text}");
    assert!(
        text.contains(r"tool\u{202e}cba\u{8} [tool]") && text.contains(r"ERROR: bad\u{1b}[2Jthing"),
        "{text}"
    );
    assert!(text.contains(r"input: in\u{1b}[1m"), "{text}");
}

#[test]
fn snapshot_of_what_the_in_memory_destination_recorded() {
    let (client, memory) = Client::in_memory();
    let trace = client.trace(Trace::new("support").session_id("chat-1"));
    let mut llm = trace.generation("answer");
    llm.update(ObservationUpdate::new().cost(Cost::total_only(0.5)));
    llm.end();
    trace.end();
    client.trace(Trace::new("nightly_job")).end();
    client.flush(Duration::from_secs(5));
    let first = observe_runtime::view::snapshot(&memory.observations());
    assert_eq!(
        first,
        "Session: chat-1 ($0.50)\n\
         └── support ($0.50)\n\
         \x20   └── answer [generation] ($0.50)\n\
         nightly_job\n"
    );
}
