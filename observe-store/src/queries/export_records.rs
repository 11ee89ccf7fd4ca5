//! The store read back as the records an exporter sends, for `observe push`: which traces a
//! selection names, each trace's observations (with its attributes) and its scores.

use rusqlite::types::Value as SqlValue;

use super::listings::Since;
use super::rows::Filter;
use crate::read::Store;
use crate::sql::TIMESTAMP_FORMAT;
use crate::StoreError;
use observe_model::model::{Observation, Score, ScoreValue, Timestamp};
use observe_model::piece::{fold_span_id, fold_trace_id};

/// Which traces [`Store::selected_trace_ids`] returns; every part given must hold, and
/// an empty selection takes every trace.
///
/// ```
/// use observe_store::queries::{Since, TimeUnit, TraceSelection};
/// let last_day = TraceSelection {
///     session: Some("analysis_abc123".into()),
///     since: Some(Since::Ago(1, TimeUnit::Days)),
///     ..TraceSelection::default()
/// };
/// assert!(last_day.trace_ids.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TraceSelection {
    /// Only this session's traces.
    pub session: Option<String>,
    /// Only this user's traces.
    pub user: Option<String>,
    /// Only traces with this tag.
    pub tag: Option<String>,
    /// Only traces started at or after this instant.
    pub since: Option<Since>,
    /// Only traces started before this instant.
    pub until: Option<Since>,
    /// Only these traces (full ids); empty for any.
    pub trace_ids: Vec<String>,
}

impl Store {
    /// The ids of the traces `selection` names, oldest first.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// use observe_store::queries::TraceSelection;
    /// let store = observe_store::Store::open(&path).unwrap();
    /// let selection = TraceSelection { user: Some("u1".into()), ..TraceSelection::default() };
    /// assert!(store.selected_trace_ids(&selection).unwrap().is_empty());
    /// ```
    pub fn selected_trace_ids(
        &self,
        selection: &TraceSelection,
    ) -> Result<Vec<String>, StoreError> {
        let (sql, args) = selection_query(selection);
        let sqlite = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self.connection().prepare(&sql).map_err(sqlite)?;
        let ids = stmt
            .query_map(rusqlite::params_from_iter(args), |row| row.get(0))
            .map_err(sqlite)?;
        ids.collect::<Result<_, _>>().map_err(sqlite)
    }

    /// Every observation of the trace `trace_id` (32 hex characters), by start time, each
    /// with the trace's attributes (its input and output included) as the store holds them.
    /// Costs the store computed from usage come back as
    /// [`computed_cost`](observe_model::model::ObservationDetails::computed_cost), which
    /// exporters leave out, as they did when the application ran.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// let none = store.export_observations("0123456789abcdef0123456789abcdef").unwrap();
    /// assert!(none.is_empty());
    /// ```
    pub fn export_observations(&self, trace_id: &str) -> Result<Vec<Observation>, StoreError> {
        self.trace_observations(trace_id)
    }

    /// Every score of the trace `trace_id`, by time, as the records it was stored from
    /// (timestamps to the microsecond, as the store keeps them). A row whose ids are not ids
    /// or whose value does not fit its data type (a hand-edited file) is left out.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let path = dir.path().join("traces.db");
    /// # drop(observe_store::StoreExporter::open(&path).unwrap());
    /// let store = observe_store::Store::open(&path).unwrap();
    /// assert!(store.export_scores("0123456789abcdef0123456789abcdef").unwrap().is_empty());
    /// ```
    pub fn export_scores(&self, trace_id: &str) -> Result<Vec<Score>, StoreError> {
        let sqlite = |e| StoreError::sqlite(self.path(), e);
        let mut stmt = self
            .connection()
            .prepare(
                "SELECT id, trace_id, observation_id, session_id, name, data_type, value,
                        string_value, comment, timestamp
                 FROM scores WHERE trace_id = ?1 ORDER BY timestamp, id",
            )
            .map_err(sqlite)?;
        let rows = stmt.query_map([trace_id], score_from_row).map_err(sqlite)?;
        let mut scores = Vec::new();
        for score in rows {
            scores.extend(score.map_err(sqlite)?);
        }
        Ok(scores)
    }
}

/// One `scores` row as a score; `None` when it does not make one.
fn score_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Score>> {
    let trace_id: String = row.get(1)?;
    let observation_id: Option<String> = row.get(2)?;
    let data_type: String = row.get(5)?;
    let number: Option<f64> = row.get(6)?;
    let text: Option<String> = row.get(7)?;
    let timestamp: String = row.get(9)?;
    // Ids a sender chose as text fold as the observations' do (see `read.rs`).
    let trace_id = fold_trace_id(&trace_id);
    let observation_id = observation_id.as_deref().map(fold_span_id);
    let value = match (data_type.as_str(), number, text) {
        ("CATEGORICAL", _, Some(label)) => ScoreValue::Categorical(label),
        ("BOOLEAN", Some(n), _) => ScoreValue::Boolean(n != 0.0),
        ("NUMERIC", Some(n), _) => ScoreValue::Numeric(n),
        _ => return Ok(None),
    };
    let Some(timestamp) = Timestamp::parse_rfc3339(&timestamp) else {
        return Ok(None);
    };
    Ok(Some(Score {
        id: row.get(0)?,
        trace_id,
        observation_id,
        name: row.get(4)?,
        value,
        comment: row.get(8)?,
        timestamp,
        session_id: row.get(3)?,
    }))
}

/// The SQL of [`Store::selected_trace_ids`] with this selection, and its arguments.
fn selection_query(s: &TraceSelection) -> (String, Vec<SqlValue>) {
    let mut filter = Filter::default();
    if let Some(session) = &s.session {
        filter.add("session_id = ?", &[session]);
    }
    if let Some(user) = &s.user {
        filter.add("user_id = ?", &[user]);
    }
    if let Some(tag) = &s.tag {
        filter.add("observe_array_contains(tags, ?)", &[tag]);
    }
    for (bound, op) in [(&s.since, ">="), (&s.until, "<")] {
        if let Some(at) = bound {
            let (base, modifier) = at.modifiers();
            filter.add(
                &format!("timestamp {op} strftime('{TIMESTAMP_FORMAT}', ?, ?)"),
                &[&base, &modifier],
            );
        }
    }
    if !s.trace_ids.is_empty() {
        let marks = vec!["?"; s.trace_ids.len()].join(", ");
        let ids: Vec<&str> = s.trace_ids.iter().map(String::as_str).collect();
        filter.add(&format!("id IN ({marks})"), &ids);
    }
    let sql = format!(
        "SELECT id FROM traces {} ORDER BY start_ns, seq",
        filter.where_clause()
    );
    (sql, filter.args)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::StoreExporter;
    use observe_model::export::{Batch, Exporter};
    use observe_model::model::{
        Cost, Json, Level, ObservationDetails, ObservationType, TraceAttributes, Usage,
    };
    use observe_model::model::{SpanId, TraceId};

    /// A time the store keeps exactly: whole microseconds.
    fn micros(t: u64) -> Timestamp {
        Timestamp(t / 1_000 * 1_000)
    }

    fn trace_attributes() -> Arc<TraceAttributes> {
        let mut metadata = BTreeMap::new();
        metadata.insert("team".to_owned(), Json::string("search"));
        metadata.insert("depth".to_owned(), Json::from_value(&3));
        Arc::new(TraceAttributes {
            name: Some("answer".into()),
            session_id: Some("s-1".into()),
            user_id: Some("u-1".into()),
            tags: vec!["eval".into(), "nightly".into()],
            metadata,
            version: Some("v2".into()),
            release: Some("r9".into()),
            environment: Some("staging".into()),
            public: Some(true),
            input: Some(Json::string("question")),
            output: Some(Json::from_value(&serde_json::json!({"answer": 42}))),
        })
    }

    /// Records written by the store's writer come back from the export reads field by field.
    #[test]
    fn records_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        let trace = trace_attributes();
        let trace_id = TraceId(0x0af7651916cd43dd8448eb211c80319c);
        let start = micros(Timestamp::now().as_nanos());
        let root = Observation {
            trace_id,
            id: SpanId(0x1111),
            parent_id: None,
            name: "answer".into(),
            kind: ObservationType::Agent,
            level: Level::Warning,
            start,
            end: Timestamp(start.as_nanos() + 5_000_000),
            details: Some(Box::new(ObservationDetails {
                status_message: Some("slow".into()),
                version: Some("v2".into()),
                input: Some(Json::string("question")),
                ..ObservationDetails::default()
            })),
            trace: Arc::clone(&trace),
        };
        let mut metadata = BTreeMap::new();
        metadata.insert("k".to_owned(), Json::from_value(&[1, 2]));
        let generation = Observation {
            trace_id,
            id: SpanId(0x2222),
            parent_id: Some(SpanId(0x1111)),
            name: "llm".into(),
            kind: ObservationType::Generation,
            level: Level::Default,
            start: Timestamp(start.as_nanos() + 1_000_000),
            end: Timestamp(start.as_nanos() + 4_000_123),
            details: Some(Box::new(ObservationDetails {
                input: Some(Json::from_value(&serde_json::json!([{"role": "user"}]))),
                output: Some(Json::string("42")),
                metadata,
                status_message: None,
                model: Some("gpt-4o".into()),
                model_parameters: Some(Json::from_value(&serde_json::json!({"t": 0.2}))),
                usage: Some(Usage::new(10, 5)),
                cost: Some(Cost::new(0.01, 0.02)),
                computed_cost: None,
                completion_start_time: Some(micros(start.as_nanos() + 2_000_000)),
                prompt_name: Some("qa".into()),
                prompt_version: Some(3),
                version: None,
                gen_ai: None,
            })),
            trace: Arc::clone(&trace),
        };
        let scores = vec![
            Score {
                id: "score-1".into(),
                trace_id,
                observation_id: Some(SpanId(0x2222)),
                name: "accuracy".into(),
                value: ScoreValue::Numeric(0.75),
                comment: Some("close".into()),
                timestamp: micros(start.as_nanos() + 6_000_000),
                session_id: None,
            },
            Score {
                id: "score-2".into(),
                trace_id,
                observation_id: None,
                name: "label".into(),
                value: ScoreValue::Categorical("good".into()),
                comment: None,
                timestamp: micros(start.as_nanos() + 7_000_000),
                session_id: Some("s-1".into()),
            },
            Score {
                id: "score-3".into(),
                trace_id,
                observation_id: None,
                name: "ok".into(),
                value: ScoreValue::Boolean(true),
                comment: None,
                timestamp: micros(start.as_nanos() + 8_000_000),
                session_id: None,
            },
        ];
        let mut exporter = StoreExporter::open(&path).unwrap();
        let batch = Batch {
            observations: vec![Box::new(generation.clone()), Box::new(root.clone())],
            scores: scores.iter().cloned().map(Box::new).collect(),
        };
        exporter.export(&batch).unwrap();
        exporter.shutdown().unwrap();

        let store = Store::open(&path).unwrap();
        let id = trace_id.to_string();
        let back = store.export_observations(&id).unwrap();
        assert_eq!(back.len(), 2);
        for (read, written) in back.iter().zip([&root, &generation]) {
            assert_eq!(read.trace_id, written.trace_id);
            assert_eq!(read.id, written.id);
            assert_eq!(read.parent_id, written.parent_id);
            assert_eq!(read.name, written.name);
            assert_eq!(read.kind, written.kind);
            assert_eq!(read.level, written.level);
            assert_eq!(read.start, written.start);
            assert_eq!(read.end, written.end);
            assert_eq!(read.details, written.details, "{}", written.name);
            assert_eq!(*read.trace, *written.trace, "{}", written.name);
        }
        assert_eq!(store.export_scores(&id).unwrap(), scores);
    }

    /// A cost the store computed from usage stays apart from a given one, so exporters leave
    /// it out as they did when the application ran.
    #[test]
    fn computed_costs_come_back_as_computed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        let start = micros(Timestamp::now().as_nanos());
        let generation = Observation {
            trace_id: TraceId(5),
            id: SpanId(6),
            parent_id: None,
            name: "llm".into(),
            kind: ObservationType::Generation,
            level: Level::Default,
            start,
            end: start,
            details: Some(Box::new(ObservationDetails {
                model: Some("gpt-4o-mini".into()),
                usage: Some(Usage::new(1_000, 1_000)),
                ..ObservationDetails::default()
            })),
            trace: Arc::new(TraceAttributes::default()),
        };
        let mut exporter = StoreExporter::open(&path).unwrap();
        exporter
            .write(&Batch {
                observations: vec![Box::new(generation)],
                scores: vec![],
            })
            .unwrap();
        drop(exporter);
        let store = Store::open(&path).unwrap();
        let back = store.export_observations(&TraceId(5).to_string()).unwrap();
        let details = back[0].details();
        assert_eq!(details.cost, None);
        assert!(details.computed_cost.as_ref().unwrap().total() > 0.0);
    }

    #[test]
    fn every_part_of_a_selection_is_bound_in_order() {
        let (sql, args) = selection_query(&TraceSelection {
            session: Some("s".into()),
            tag: Some("t".into()),
            since: Some(Since::Date("2026-01-01".into())),
            until: Some(Since::Date("2026-02-01".into())),
            trace_ids: vec!["a".into(), "b".into()],
            ..TraceSelection::default()
        });
        assert!(
            sql.contains("WHERE session_id = ?1 AND observe_array_contains(tags, ?2)"),
            "{sql}"
        );
        assert!(sql.contains("timestamp >= strftime("), "{sql}");
        assert!(sql.contains("?3, ?4) AND timestamp < strftime("), "{sql}");
        assert!(sql.contains("id IN (?7, ?8)"), "{sql}");
        assert_eq!(args.len(), 8);
        assert_eq!(args[4], SqlValue::Text("2026-02-01".into()));
        assert_eq!(args[6], SqlValue::Text("a".into()));
    }
}
