//! The reads the `observe` command and its web view make, as typed functions on
//! [`Store`](crate::Store): the SQL over the store's tables lives here, beside the schema,
//! so the tables can change without their readers changing.
//!
//! | read | for |
//! | --- | --- |
//! | [`Store::sessions_list`](crate::Store::sessions_list), [`Store::traces_list`](crate::Store::traces_list) (with a [`TraceFilter`]) | `observe sessions`, `observe traces`: rows streamed to a [`RowSink`](crate::sql::RowSink) |
//! | [`Store::trace_ids_with_prefix`](crate::Store::trace_ids_with_prefix), [`Store::trace_scores`](crate::Store::trace_scores) | `observe trace` |
//! | [`Store::session_ids`](crate::Store::session_ids) (with a [`SessionFilter`]), [`Store::session_summaries`](crate::Store::session_summaries), [`Store::session_turns`](crate::Store::session_turns) | the view's sessions list and session page |
//! | [`Store::trace_rows_with_prefix`](crate::Store::trace_rows_with_prefix), [`Store::trace_observation_rows`](crate::Store::trace_observation_rows), [`Store::observation_row`](crate::Store::observation_row), [`Store::score_rows`](crate::Store::score_rows) | the view's trace page |
//! | [`Store::user_rows`](crate::Store::user_rows), [`Store::newest_trace`](crate::Store::newest_trace) | the view's users page and change token |
//! | [`Store::selected_trace_ids`](crate::Store::selected_trace_ids) (with a [`TraceSelection`]), [`Store::export_observations`](crate::Store::export_observations), [`Store::export_scores`](crate::Store::export_scores), [`Store::pushed_trace_ids`](crate::Store::pushed_trace_ids) | `observe push`: the records as exporters take them, and what was pushed where |
//! | [`Store::model_counts`](crate::Store::model_counts) | `observe prices --check` (reads every observation) |
//!
//! The view's reads return rows as JSON objects keyed by column name, with the columns
//! that hold JSON text (metadata, tags, input, output, usage...) parsed. Every one of them
//! finds its rows through an index (the tests check the plans), but the model check, which
//! a person runs now and then.
//!
//! Queries a person writes go through [`sql`](crate::sql) instead.

mod export_records;
mod listings;
pub(crate) mod lookups;
mod models;
mod newest_sessions;
pub(crate) mod rows;
pub(crate) mod sessions;
mod traces;
mod users;

pub use export_records::TraceSelection;
pub use listings::{Since, TimeUnit, TraceFilter};
pub use models::ModelCount;
pub use sessions::{SessionFilter, TURN_TEXT_LIMIT};

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::read::Store;
    use crate::StoreExporter;
    use observe_model::export::{Batch, Exporter};
    use observe_model::model::{
        Level, Observation, ObservationType, SpanId, Timestamp, TraceAttributes, TraceId,
    };

    #[test]
    fn every_view_read_goes_through_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("traces.db");
        let trace = Arc::new(TraceAttributes {
            session_id: Some("s".into()),
            user_id: Some("u".into()),
            tags: vec!["a".into()],
            ..TraceAttributes::default()
        });
        let trace_id = TraceId::random();
        let observation = |id: SpanId, parent: Option<SpanId>, name: &'static str| Observation {
            trace_id,
            id,
            parent_id: parent,
            name: name.into(),
            kind: ObservationType::Span,
            level: Level::Default,
            start: Timestamp::now(),
            end: Timestamp::now(),
            details: None,
            trace: Arc::clone(&trace),
        };
        let (root, step) = (SpanId::random(), SpanId::random());
        let mut exporter = StoreExporter::open(&path).unwrap();
        let batch = Batch {
            observations: vec![
                Box::new(observation(step, Some(root), "step")),
                Box::new(observation(root, None, "t")),
            ],
            scores: vec![],
        };
        exporter.export(&batch).unwrap();
        exporter.shutdown().unwrap();

        let store = Store::open(&path).unwrap();
        let id = trace_id.to_string();
        let all = SessionFilter {
            user: Some("u".into()),
            tag: Some("a".into()),
            from: Some("2000-01-01".into()),
            to: Some("2999-01-01".into()),
            search: Some("s".into()),
            errors: true,
        };
        rows::RAN.with(|ran| ran.take());
        assert_eq!(
            store.session_ids(&SessionFilter::default(), 51).unwrap(),
            ["s"]
        );
        assert!(store.session_ids(&all, 51).unwrap().is_empty());
        let summaries = store.session_summaries(&["s".into()]).unwrap();
        assert_eq!(summaries[0]["observations"], 2);
        assert_eq!(summaries[0]["users"], serde_json::json!(["u"]));
        let turns = store.session_turns("s").unwrap();
        assert_eq!(turns[0]["tags"], serde_json::json!(["a"]));
        let rows = store.trace_rows_with_prefix(&id[..6]).unwrap();
        assert_eq!(rows[0]["id"], id.as_str());
        let observations = store.trace_observation_rows(&rows[0]).unwrap();
        assert_eq!(observations.len(), 2);
        let found = store.observation_row(&rows[0], &step.to_string()).unwrap();
        assert_eq!(found.unwrap()["parent_id"], root.to_string());
        assert!(store.score_rows(&id).unwrap().is_empty());
        assert_eq!(store.user_rows().unwrap()[0]["traces"], 1);
        assert_ne!(store.newest_trace().unwrap(), (0, 0));

        let ran = rows::RAN.with(|ran| ran.take());
        assert!(ran.len() >= 12, "{ran:#?}");
        for sql in ran {
            let steps = rows::plan(&store, &sql, &[]);
            // A full pass over a table is allowed only in index order with an early stop
            // (the sessions walk) or backwards over the integer key with LIMIT 1 (the
            // newest trace).
            for step in &steps {
                let full_scan =
                    step.starts_with("SCAN") && !step.contains("USING INDEX traces_timestamp");
                let newest_trace = sql.contains("ORDER BY seq DESC LIMIT 1");
                // The users page reads its kept totals whole: one row per user and project.
                let user_totals = sql.contains("FROM user_totals");
                assert!(
                    !full_scan || newest_trace || user_totals,
                    "{sql}\nplans {steps:#?}"
                );
            }
        }
    }
}
