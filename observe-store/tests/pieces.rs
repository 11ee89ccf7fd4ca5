//! Records that arrive in pieces, out of order, with ids as text, end as Langfuse shows
//! them: one observation per id with the fields of every piece, the trace's attributes
//! merged, parents linked when they arrive, and the trace's totals counting each
//! observation once with its latest values. Real SQLite files throughout.

use std::sync::Arc;

use observe_model::export::{Batch, Exporter};
use observe_model::model::{
    Cost, Json, Level, Observation, ObservationType, ScoreValue, SpanId, TraceAttributes, TraceId,
    Usage,
};
use observe_model::piece::{fold_span_id, ObservationPiece, Piece, TracePiece};
use observe_model::view::TraceTree;
use observe_store::sql::{self, Value};
use observe_store::{Store, StoreExporter};

mod pieces_cases;
use pieces_cases::*;

/// One row of `sql` over the store at `path`, as SQLite holds it (read with SQLite's own
/// dialect: `observe query`'s PostgreSQL printing is not what these tests look at).
fn row(path: &std::path::Path, sql: &str) -> Vec<Value> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let columns = stmt.column_count();
    let mut rows: Vec<Vec<Value>> = stmt
        .query_map([], |r| (0..columns).map(|i| r.get::<_, Value>(i)).collect())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.remove(0)
}

/// The stored nanoseconds of `ms` after [`T0`].
fn nanos(ms: u64) -> Value {
    Value::Integer((T0 + ms * MS) as i64)
}

fn real(v: &Value) -> f64 {
    match v {
        Value::Real(x) => *x,
        Value::Integer(n) => *n as f64,
        other => panic!("not a number: {other:?}"),
    }
}

fn text(v: &Value) -> &str {
    match v {
        Value::Text(t) => t,
        other => panic!("not text: {other:?}"),
    }
}

fn check_merged(path: &std::path::Path) {
    let child = row(
        path,
        &format!(
            "SELECT name, type, level, parent_observation_id, start_ns, end_ns, latency_ms,
                    model, input, output, usage_details, calculated_total_cost, metadata
             FROM observations WHERE id = '{CHILD}'"
        ),
    );
    assert_eq!(text(&child[0]), "llm");
    assert_eq!(text(&child[1]), "GENERATION");
    assert_eq!(text(&child[2]), "WARNING");
    assert_eq!(text(&child[3]), ROOT);
    assert_eq!(child[4], nanos(100));
    assert_eq!(child[5], nanos(300));
    assert_eq!(real(&child[6]), 200.0);
    assert_eq!(text(&child[7]), "house-model");
    assert_eq!(text(&child[8]), "\"2+2?\"");
    assert_eq!(text(&child[9]), "\"four\"");
    assert_eq!(
        text(&child[10]),
        r#"{"input":1000,"output":500,"total":1500}"#
    );
    assert_eq!(real(&child[11]), 0.25);
    assert_eq!(text(&child[12]), r#"{"a":1,"b":2}"#);

    let trace = row(
        path,
        &format!(
            "SELECT COUNT(*), observation_count, calculated_total_cost, latency_ms, session_id,
                    user_id, tags, name, has_root
             FROM traces WHERE id = '{TRACE}'"
        ),
    );
    assert_eq!(trace[0], Value::Integer(1));
    assert_eq!(trace[1], Value::Integer(2));
    assert_eq!(real(&trace[2]), 0.25);
    assert_eq!(real(&trace[3]), 400.0);
    assert_eq!(text(&trace[4]), "chat-1");
    assert_eq!(text(&trace[5]), "ada");
    assert_eq!(text(&trace[6]), r#"["beta"]"#);
    assert_eq!(text(&trace[7]), "agent", "the root's name names the trace");
    assert_eq!(trace[8], Value::Integer(1));
    let count = row(path, "SELECT COUNT(*) FROM observations");
    assert_eq!(count[0], Value::Integer(2), "one row per observation id");

    // The tree links the child to its parent through the folded ids, and shows it.
    let store = Store::open(path).unwrap();
    let observations = store.trace_observations(TRACE).unwrap();
    assert_eq!(observations.len(), 2);
    let trees = TraceTree::build_all(&observations);
    assert_eq!(trees.len(), 1);
    let roots = &trees[0].roots;
    assert_eq!(roots.len(), 1, "the root is the one top");
    assert_eq!(roots[0].observation.name, "agent");
    assert_eq!(roots[0].children.len(), 1);
    let llm = roots[0].children[0].observation;
    assert_eq!(llm.id, fold_span_id(CHILD));
    assert_eq!(llm.details().usage, Some(Usage::new(1_000, 500)));
}

#[test]
fn pieces_in_any_order_end_as_one_observation_per_id() {
    let all = pieces();
    // Every order of the four pieces, each piece its own request.
    let mut orders = vec![vec![0, 1, 2, 3]];
    for _ in 0..23 {
        let mut next = orders.last().unwrap().clone();
        // The next permutation, lexicographically.
        let i = (0..3).rev().find(|&i| next[i] < next[i + 1]).unwrap();
        let j = (i + 1..4).rev().find(|&j| next[i] < next[j]).unwrap();
        next.swap(i, j);
        next[i + 1..].reverse();
        orders.push(next);
    }
    for order in orders {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        let mut store = StoreExporter::open(&path).unwrap();
        for &i in &order {
            let report = store.write_pieces(None, &all[i..=i]).unwrap();
            assert_eq!(report.stored(), 1, "{order:?}");
            assert!(report.refused.is_empty());
        }
        drop(store);
        check_merged(&path);
    }
}

#[test]
fn pieces_of_one_request_merge_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut store = StoreExporter::open(&path).unwrap();
    let report = store.write_pieces(None, &pieces()).unwrap();
    assert_eq!(report.observations_created, 2);
    assert_eq!(report.observations_merged, 2);
    drop(store);
    check_merged(&path);
}

#[test]
fn usage_that_arrives_later_is_priced_and_counted_in_the_trace() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut store = StoreExporter::open(&path).unwrap();
    let create = ObservationPiece {
        name: Some("chat".into()),
        kind: Some(ObservationType::Generation),
        start: at(0),
        details: details(|d| d.model = Some("gpt-4o".into())),
        ..piece("gen-1")
    };
    store
        .write_pieces(None, &[Piece::Observation(create)])
        .unwrap();
    let before = row(&path, "SELECT calculated_total_cost FROM traces");
    assert_eq!(real(&before[0]), 0.0);
    let update = ObservationPiece {
        end: at(1_000),
        details: details(|d| d.usage = Some(Usage::new(1_000_000, 0))),
        ..piece("gen-1")
    };
    store
        .write_pieces(None, &[Piece::Observation(update)])
        .unwrap();
    drop(store);
    let o = row(
        &path,
        "SELECT calculated_total_cost, cost_computed, latency_ms FROM observations",
    );
    let cost = real(&o[0]);
    assert!(cost > 0.0, "priced from the built-in list: {o:?}");
    assert_eq!(o[1], Value::Integer(1));
    assert_eq!(real(&o[2]), 1_000.0);
    let t = row(
        &path,
        "SELECT calculated_total_cost, computed_cost, observation_count, latency_ms FROM traces",
    );
    assert_eq!((real(&t[0]), real(&t[1])), (cost, cost));
    assert_eq!(t[2], Value::Integer(1));
    assert_eq!(real(&t[3]), 1_000.0);
}

#[test]
fn a_trace_with_no_observation_is_listed_and_merges_like_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut store = StoreExporter::open(&path).unwrap();
    let [first, second] = trace_pieces();
    let report = store.write_pieces(None, &[first, second]).unwrap();
    assert_eq!((report.traces_created, report.traces_merged), (1, 1));
    drop(store);
    let t = row(
        &path,
        "SELECT name, session_id, tags, metadata, input, output, timestamp, observation_count
         FROM traces",
    );
    assert_eq!(text(&t[0]), "ask-renamed");
    assert_eq!(text(&t[1]), "s-9");
    assert_eq!(text(&t[2]), r#"["a","b","c"]"#);
    assert_eq!(text(&t[3]), r#"{"k1":1,"k2":2}"#);
    assert_eq!(text(&t[4]), "\"question\"");
    assert_eq!(text(&t[5]), "\"answer\"");
    assert_eq!(text(&t[6]), "2025-01-01T00:00:00.005000Z");
    assert_eq!(t[7], Value::Integer(0));

    let store = Store::open(&path).unwrap();
    let mut table = sql::Table {
        columns: vec![],
        rows: vec![],
    };
    store
        .traces_list(&Default::default(), 10, &mut table)
        .unwrap();
    assert_eq!(table.rows.len(), 1);
    assert_eq!(table.rows[0][0], Value::Text("t-9".into()));
    let mut sessions = sql::Table {
        columns: vec![],
        rows: vec![],
    };
    store.sessions_list(10, &mut sessions).unwrap();
    assert_eq!(sessions.rows[0][0], Value::Text("s-9".into()));
}

#[test]
fn scores_with_text_ids_are_stored_and_replaced_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut store = StoreExporter::open(&path).unwrap();
    store
        .write_pieces(Some("p1"), &[Piece::Score(score(ScoreValue::Numeric(0.5)))])
        .unwrap();
    store
        .write_pieces(
            Some("p1"),
            &[Piece::Score(score(ScoreValue::Boolean(true)))],
        )
        .unwrap();
    drop(store);
    let s = row(
        &path,
        "SELECT trace_id, observation_id, data_type, value, project_id FROM scores",
    );
    assert_eq!(text(&s[0]), TRACE);
    assert_eq!(text(&s[1]), CHILD);
    assert_eq!(text(&s[2]), "BOOLEAN");
    assert_eq!(real(&s[3]), 1.0);
    assert_eq!(text(&s[4]), "p1");
}

fn observation(trace_id: TraceId, id: u64, parent: Option<u64>) -> Observation {
    Observation {
        trace_id,
        id: SpanId(id),
        parent_id: parent.map(SpanId),
        name: "step".into(),
        kind: ObservationType::Span,
        level: Level::Default,
        start: at(id).unwrap(),
        end: at(id + 10).unwrap(),
        details: None,
        trace: Arc::new(TraceAttributes::default()),
    }
}

fn batch(observations: Vec<Observation>) -> Batch {
    Batch {
        observations: observations.into_iter().map(Box::new).collect(),
        scores: vec![],
    }
}

#[test]
fn the_same_span_twice_in_batches_is_one_row_with_both_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let trace_id = TraceId(0xabc);
    let mut exporter = StoreExporter::open(&path).unwrap();
    let mut first = observation(trace_id, 2, Some(1));
    first.details_mut().cost = Some(Cost::total_only(0.5));
    first.details_mut().input = Some(Json::string("in"));
    let root = observation(trace_id, 1, None);
    exporter.export(&batch(vec![first.clone(), root])).unwrap();
    // Sent again with its output and a later end, and once more within one batch: both
    // merge, the trace counts it once.
    let mut again = observation(trace_id, 2, Some(1));
    again.end = at(50).unwrap();
    again.details_mut().output = Some(Json::string("out"));
    again.trace = Arc::new(TraceAttributes {
        session_id: Some("late".into()),
        ..TraceAttributes::default()
    });
    exporter
        .export(&batch(vec![again.clone(), again.clone()]))
        .unwrap();
    // Twice within the first batch of a new trace too.
    let other = TraceId(0xdef);
    exporter
        .export(&batch(vec![
            observation(other, 7, None),
            observation(other, 7, None),
        ]))
        .unwrap();
    exporter.shutdown().unwrap();

    let o = row(
        &path,
        "SELECT COUNT(*), input, output, calculated_total_cost, end_ns FROM observations
         WHERE trace_id = '00000000000000000000000000000abc' AND id = '0000000000000002'",
    );
    assert_eq!(o[0], Value::Integer(1));
    assert_eq!(text(&o[1]), "\"in\"");
    assert_eq!(text(&o[2]), "\"out\"");
    assert_eq!(real(&o[3]), 0.5);
    assert_eq!(o[4], nanos(50));
    let t = row(
        &path,
        "SELECT observation_count, calculated_total_cost, latency_ms, session_id FROM traces
         WHERE id = '00000000000000000000000000000abc'",
    );
    assert_eq!(t[0], Value::Integer(2));
    assert_eq!(real(&t[1]), 0.5);
    assert_eq!(real(&t[2]), 49.0, "from the root's start to the merged end");
    assert_eq!(
        text(&t[3]),
        "late",
        "the later span's trace attributes merge"
    );
    let other = row(
        &path,
        "SELECT observation_count FROM traces WHERE id = '00000000000000000000000000000def'",
    );
    assert_eq!(other[0], Value::Integer(1));
}

#[test]
fn a_retried_batch_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let trace_id = TraceId(0x77);
    let mut child = observation(trace_id, 2, Some(1));
    child.kind = ObservationType::Generation;
    child.details_mut().model = Some("gpt-4o".into());
    child.details_mut().usage = Some(Usage::new(1_000, 100));
    let b = batch(vec![child, observation(trace_id, 1, None)]);
    let mut exporter = StoreExporter::open(&path).unwrap();
    exporter.export(&b).unwrap();
    let sql = "SELECT observation_count, calculated_total_cost, computed_cost, latency_ms,
                      start_ns, end_ns FROM traces";
    drop(exporter);
    let once = row(&path, sql);
    let mut exporter = StoreExporter::open(&path).unwrap();
    exporter.export(&b).unwrap();
    drop(exporter);
    assert_eq!(row(&path, sql), once);
    assert!(real(&once[2]) > 0.0);
}

#[test]
fn pieces_of_another_projects_trace_are_refused_and_the_rest_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut store = StoreExporter::open(&path).unwrap();
    store
        .write_pieces(
            Some("a"),
            &[Piece::Observation(ObservationPiece {
                start: at(0),
                ..piece("o-1")
            })],
        )
        .unwrap();
    let report = store
        .write_pieces(
            Some("b"),
            &[
                Piece::Observation(piece("o-2")),
                Piece::Observation(ObservationPiece::new("other", "")),
                Piece::Observation(ObservationPiece::new("other", "o-3")),
            ],
        )
        .unwrap();
    assert_eq!(report.refused.len(), 2, "{report:?}");
    assert_eq!(report.refused[0].index, 0);
    assert!(
        report.refused[0].reason.contains("project `a`"),
        "{report:?}"
    );
    assert_eq!(report.refused[1].index, 1);
    assert_eq!(report.observations_created, 1);
    drop(store);
    let rows = row(
        &path,
        "SELECT group_concat(id || ':' || project_id) FROM observations",
    );
    assert_eq!(text(&rows[0]), "o-1:a,o-3:b");
    let traces = row(
        &path,
        "SELECT group_concat(id || ':' || project_id) FROM traces",
    );
    assert_eq!(text(&traces[0]), "my-trace-1:a,other:b");
}

#[test]
fn a_row_sqlite_refuses_leaves_out_only_the_pieces_that_make_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    drop(StoreExporter::open(&path).unwrap());
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON observations WHEN NEW.name = 'bad'
             BEGIN SELECT RAISE(ABORT, 'no bad names'); END;",
        )
        .unwrap();
    let mut store = StoreExporter::open(&path).unwrap();
    // More observations than one multi-row statement holds; the 21st is refused.
    let pieces: Vec<Piece> = (0..40)
        .flat_map(|i| create_update(&format!("o-{i}"), if i == 20 { "bad" } else { "step" }))
        .collect();
    let report = store.write_pieces(Some("p"), &pieces).unwrap();
    // Its create is refused; its update alone makes a row, as it would in a request of
    // its own.
    assert_eq!(report.refused.len(), 1, "{report:?}");
    assert_eq!(report.refused[0].index, 40);
    assert!(
        report.refused[0].reason.contains("no bad names"),
        "{report:?}"
    );
    assert_eq!(
        (report.observations_created, report.observations_merged),
        (40, 39)
    );
    drop(store);
    let counts = row(
        &path,
        "SELECT COUNT(*), SUM(output IS NOT NULL), SUM(input IS NOT NULL),
             (SELECT observation_count FROM traces)
         FROM observations",
    );
    assert_eq!(
        counts,
        [
            Value::Integer(40),
            Value::Integer(40),
            Value::Integer(39),
            Value::Integer(40)
        ]
    );
}

#[test]
fn updates_of_many_stored_observations_merge_into_each_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let mut store = StoreExporter::open(&path).unwrap();
    // More ids than one lookup statement asks for.
    let ids: Vec<String> = (0..45).map(|i| format!("o-{i}")).collect();
    let [creates, updates]: [Vec<Piece>; 2] = [0, 1].map(|half| {
        ids.iter()
            .map(|id| create_update(id, "step")[half].clone())
            .collect()
    });
    let first = store.write_pieces(Some("p"), &creates).unwrap();
    assert_eq!(first.observations_created, 45);
    let second = store.write_pieces(Some("p"), &updates).unwrap();
    assert_eq!(
        (second.observations_created, second.observations_merged),
        (0, 45),
        "{second:?}"
    );
    drop(store);
    let merged = row(
        &path,
        "SELECT COUNT(*), SUM(input IS NOT NULL AND output IS NOT NULL AND name = 'step'),
             MAX(end_ns), (SELECT observation_count FROM traces)
         FROM observations",
    );
    assert_eq!(
        merged,
        [
            Value::Integer(45),
            Value::Integer(45),
            nanos(5),
            Value::Integer(45)
        ]
    );
}

/// Every column of every trace and observation row, ordered by id; metadata and tags
/// parsed (the two ways of merging them may space or order the text differently), `seq`
/// and `updated_at` left out (they depend on when and in which request a row was made).
fn all_rows(path: &std::path::Path) -> Vec<Vec<String>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut out = Vec::new();
    for (table, skip) in [
        ("traces", &["seq", "updated_at"][..]),
        ("observations", &["trace_seq"][..]),
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY id"))
            .unwrap();
        let names: Vec<String> = stmt.column_names().map(|n| n.to_string()).collect();
        let rows = stmt
            .query_map([], |r| {
                let mut cells = Vec::new();
                for (i, name) in names.iter().enumerate() {
                    if skip.contains(&name.as_str()) {
                        continue;
                    }
                    let v: rusqlite::types::Value = r.get(i)?;
                    let cell = match (&v, name.as_str()) {
                        (rusqlite::types::Value::Text(t), "metadata" | "tags") => {
                            serde_json::from_str::<serde_json::Value>(t.as_str())
                                .unwrap()
                                .to_string()
                        }
                        _ => format!("{v:?}"),
                    };
                    cells.push(format!("{table}.{name}={cell}"));
                }
                Ok(cells)
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

/// Pieces of three traces: attributes spread over several spans (metadata keys replaced,
/// tags overlapping), a trace piece naming its time for a trace with no observation, a
/// trace piece between spans, a generation priced from its usage, a span that gives only
/// its end, roots that give the trace its name, input and output.
fn spread_pieces() -> Vec<Piece> {
    let attrs = |f: fn(&mut TraceAttributes)| {
        let mut a = TraceAttributes::default();
        f(&mut a);
        Arc::new(a)
    };
    let shared = attrs(|a| {
        a.session_id = Some("s-1".into());
        a.tags = vec!["x".into(), "y".into()];
        a.metadata.insert("k".into(), Json::from_value(&1));
    });
    let obs = |trace: &str, id: &str, parent: Option<&str>, start: u64, end: Option<u64>| {
        ObservationPiece {
            parent_id: parent.map(Into::into),
            name: Some(format!("step-{id}")),
            start: (start != u64::MAX).then(|| at(start).unwrap()),
            end: end.and_then(at),
            ..ObservationPiece::new(trace, id)
        }
    };
    vec![
        Piece::Observation(ObservationPiece {
            trace: shared.clone(),
            ..obs("t-a", "a-1", Some("a-root"), 10, Some(20))
        }),
        Piece::Observation(ObservationPiece {
            trace: shared.clone(),
            kind: Some(ObservationType::Generation),
            details: details(|d| {
                d.model = Some("gpt-4o".into());
                d.usage = Some(Usage::new(1_000, 200));
            }),
            ..obs("t-a", "a-2", Some("a-root"), 12, Some(30))
        }),
        Piece::Trace(TracePiece {
            attributes: TraceAttributes {
                user_id: Some("u-1".into()),
                tags: vec!["y".into(), "z".into()],
                ..TraceAttributes::default()
            },
            ..TracePiece::new("t-a")
        }),
        Piece::Observation(ObservationPiece {
            trace: attrs(|a| {
                a.metadata.insert("k".into(), Json::from_value(&2));
                a.metadata.insert("j".into(), Json::string("v"));
                a.release = Some("r-9".into());
            }),
            details: details(|d| {
                d.input = Some(Json::string("question"));
                d.output = Some(Json::string("answer"));
                d.cost = Some(Cost::total_only(0.5));
            }),
            ..obs("t-a", "a-root", None, 5, Some(40))
        }),
        Piece::Trace(TracePiece {
            timestamp: at(100),
            attributes: TraceAttributes {
                name: Some("only-a-trace".into()),
                ..TraceAttributes::default()
            },
            ..TracePiece::new("t-b")
        }),
        Piece::Trace(TracePiece {
            timestamp: at(150),
            ..TracePiece::new("t-b")
        }),
        Piece::Observation(obs("t-c", "c-1", None, u64::MAX, Some(70))),
        Piece::Observation(ObservationPiece {
            trace: shared,
            ..obs("t-c", "c-2", Some("c-1"), 60, None)
        }),
    ]
}

#[test]
fn new_traces_in_one_request_end_as_when_their_pieces_come_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let together = dir.path().join("together.db");
    let apart = dir.path().join("apart.db");
    let pieces = spread_pieces();
    let mut store = StoreExporter::open(&together).unwrap();
    let report = store.write_pieces(Some("p"), &pieces).unwrap();
    assert_eq!(report.refused, Vec::new());
    assert_eq!((report.traces_created, report.traces_merged), (1, 2));
    drop(store);
    let mut store = StoreExporter::open(&apart).unwrap();
    for piece in &pieces {
        let report = store
            .write_pieces(Some("p"), std::slice::from_ref(piece))
            .unwrap();
        assert_eq!(report.refused, Vec::new());
    }
    drop(store);
    let (together, apart) = (all_rows(&together), all_rows(&apart));
    assert_eq!(together.len(), 3 + 5, "{together:#?}");
    assert_eq!(together, apart);
    // The generation was priced, and its cost is in its trace's total.
    let computed = together[0]
        .iter()
        .find(|c| c.starts_with("traces.computed_cost="))
        .unwrap();
    assert_ne!(
        computed, "traces.computed_cost=Real(0.0)",
        "{:?}",
        together[0]
    );
}
