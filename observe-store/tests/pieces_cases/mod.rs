//! The requests both `tests/pieces.rs` (SQLite) and `tests/postgres_pieces.rs` write: a
//! generation in pieces under its parent, and observations made of a create and an update.

use std::sync::Arc;

use observe_model::model::{
    Cost, Json, Level, ObservationDetails, ObservationType, ScoreValue, Timestamp, TraceAttributes,
    Usage,
};
use observe_model::piece::{ObservationPiece, Piece, ScorePiece, TracePiece};

pub const MS: u64 = 1_000_000;
/// 2025-01-01T00:00:00Z, so times are plausible.
pub const T0: u64 = 1_735_689_600_000_000_000;

pub fn at(ms: u64) -> Option<Timestamp> {
    Some(Timestamp(T0 + ms * MS))
}

pub const TRACE: &str = "my-trace-1";
pub const ROOT: &str = "6f1d1a62-3c2e-4a7b-9d1e-0c5b8f7a2e10";
pub const CHILD: &str = "0b2c7e44-98a1-4f3d-b6c2-7d9e1f0a3b55";

pub fn piece(id: &str) -> ObservationPiece {
    ObservationPiece::new(TRACE, id)
}

pub fn details(f: impl FnOnce(&mut ObservationDetails)) -> Option<Box<ObservationDetails>> {
    let mut d = ObservationDetails::default();
    f(&mut d);
    Some(Box::new(d))
}

/// A generation in three pieces plus its parent, to be sent in any order.
pub fn pieces() -> Vec<Piece> {
    let child_update = ObservationPiece {
        end: at(300),
        level: Some(Level::Warning),
        details: details(|d| {
            d.output = Some(Json::string("four"));
            d.usage = Some(Usage::new(1_000, 500));
            d.metadata.insert("b".into(), Json::from_value(&2));
        }),
        ..piece(CHILD)
    };
    let child_create = ObservationPiece {
        parent_id: Some(ROOT.into()),
        name: Some("llm".into()),
        kind: Some(ObservationType::Generation),
        start: at(100),
        details: details(|d| {
            d.model = Some("house-model".into());
            d.input = Some(Json::string("2+2?"));
            d.metadata.insert("a".into(), Json::from_value(&1));
            d.completion_start_time = at(150);
            d.prompt_name = Some("p".into());
            d.prompt_version = Some(2);
        }),
        ..piece(CHILD)
    };
    let child_cost = ObservationPiece {
        details: details(|d| d.cost = Some(Cost::total_only(0.25))),
        ..piece(CHILD)
    };
    let root = ObservationPiece {
        name: Some("agent".into()),
        kind: Some(ObservationType::Agent),
        start: at(0),
        end: at(400),
        trace: Arc::new(TraceAttributes {
            session_id: Some("chat-1".into()),
            user_id: Some("ada".into()),
            tags: vec!["beta".into()],
            ..TraceAttributes::default()
        }),
        ..piece(ROOT)
    };
    vec![
        Piece::Observation(child_update),
        Piece::Observation(child_create),
        Piece::Observation(child_cost),
        Piece::Observation(root),
    ]
}

/// A create (name, start, input) and an update (end, output) of observation `id`.
pub fn create_update(id: &str, name: &str) -> [Piece; 2] {
    [
        Piece::Observation(ObservationPiece {
            name: Some(name.into()),
            start: at(1),
            details: details(|d| d.input = Some(Json::string("question"))),
            ..piece(id)
        }),
        Piece::Observation(ObservationPiece {
            end: at(5),
            details: details(|d| d.output = Some(Json::string("answer"))),
            ..piece(id)
        }),
    ]
}

/// Two pieces of the trace `t-9`, which has no observation: a create with its time, then
/// attributes that rename it and add to its tags and metadata.
pub fn trace_pieces() -> [Piece; 2] {
    let first = TracePiece {
        timestamp: at(5),
        attributes: TraceAttributes {
            name: Some("ask".into()),
            session_id: Some("s-9".into()),
            tags: vec!["a".into(), "b".into()],
            metadata: [("k1".to_owned(), Json::from_value(&1))].into(),
            input: Some(Json::string("question")),
            public: Some(true),
            ..TraceAttributes::default()
        },
        ..TracePiece::new("t-9")
    };
    let second = TracePiece {
        attributes: TraceAttributes {
            name: Some("ask-renamed".into()),
            tags: vec!["b".into(), "c".into()],
            metadata: [("k2".to_owned(), Json::from_value(&2))].into(),
            output: Some(Json::string("answer")),
            ..TraceAttributes::default()
        },
        ..TracePiece::new("t-9")
    };
    [Piece::Trace(first), Piece::Trace(second)]
}

/// The score `score-1` of the child observation, with `value`.
pub fn score(value: ScoreValue) -> ScorePiece {
    ScorePiece {
        id: "score-1".into(),
        trace_id: Some(TRACE.into()),
        observation_id: Some(CHILD.into()),
        session_id: None,
        name: "helpful".into(),
        value,
        comment: Some("ok".into()),
        timestamp: at(9),
    }
}
