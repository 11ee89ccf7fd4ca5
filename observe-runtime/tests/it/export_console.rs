//! The console destination: one line per finished trace, with the tallies of observations
//! that arrived in earlier batches than their root.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use observe_runtime::export::console::ConsoleExporter;
use observe_runtime::model::{Cost, Level};
use observe_runtime::{Client, ObservationUpdate, Trace};

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn one_line_per_trace_with_count_cost_session_user_and_errors() {
    let out = Shared::default();
    let client = Client::builder()
        .exporter(ConsoleExporter::new(out.clone()))
        // children reach the exporter in batches before their root
        .config(&observe_runtime::Config::new().flush_at(1))
        .build();
    let trace = client.trace(
        Trace::new("content_analysis")
            .session_id("analysis_abc")
            .user_id("u1"),
    );
    for i in 0..3 {
        let mut g = trace.generation(format!("g{i}"));
        g.update(ObservationUpdate::new().cost(Cost::total_only(0.001)));
        g.end();
    }
    let mut failing = trace.span("fails");
    failing.update(ObservationUpdate::new().level(Level::Error));
    failing.end();
    let id = trace.id();
    trace.end();
    client.trace(Trace::new("bare")).end();
    client.flush(Duration::from_secs(30));

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with(&format!(
        "observe: trace content_analysis {id}: 5 observations, "
    )));
    assert!(lines[0].contains(", $0.003, "), "{}", lines[0]);
    assert!(lines[0].contains("session analysis_abc"), "{}", lines[0]);
    assert!(lines[0].contains("user u1"), "{}", lines[0]);
    assert!(lines[0].contains("1 error"), "{}", lines[0]);
    assert!(lines[1].starts_with("observe: trace bare "), "{}", lines[1]);
    assert!(lines[1].contains("1 observation,"), "{}", lines[1]);
    assert!(!lines[1].contains('$'));
}

#[test]
fn control_characters_in_names_and_ids_are_escaped() {
    use observe_runtime::export::{Batch, Exporter as _};
    use observe_runtime::model::{Observation, SpanId, Timestamp, TraceAttributes, TraceId};
    use std::borrow::Cow;

    let out = Shared::default();
    let mut console = ConsoleExporter::new(out.clone());
    let mut batch = Batch::default();
    batch.observations.push(Box::new(Observation {
        trace_id: TraceId(7),
        id: SpanId(1),
        parent_id: None,
        name: Cow::Borrowed("root"),
        kind: Default::default(),
        level: Level::Default,
        start: Timestamp(1),
        end: Timestamp(2),
        details: None,
        trace: Arc::new(TraceAttributes {
            name: Some("evil\u{1b}[2J\u{1b}]0;title\u{7}".into()),
            session_id: Some("s\u{9b}31m".into()),
            user_id: Some("u\u{202e}1".into()),
            ..TraceAttributes::default()
        }),
    }));
    console.export(&batch).unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        !text
            .chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}')),
        "{text:?}"
    );
    assert!(
        text.contains(r"trace evil\u{1b}[2J\u{1b}]0;title\u{7} "),
        "{text}"
    );
    assert!(text.contains(r"session s\u{9b}31m"), "{text}");
    assert!(text.contains(r"user u\u{202e}1"), "{text}");
}
