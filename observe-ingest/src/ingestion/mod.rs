//! Langfuse's legacy ingestion API, decoded: `POST /api/public/ingestion` (a batch of
//! `trace-create`, `span-create`, `generation-update`, `score-create`... events, as the
//! Langfuse SDKs up to v2 and the JS SDK up to v3 send them) and `POST
//! /api/public/scores` (one score, or a list as the current SDKs send), into
//! [`Piece`](observe_model::piece::Piece)s the store merges by id.
//!
//! Each event is validated alone, with the rules of Langfuse's own schemas: a malformed
//! event is refused with status 400 in the 207 answer, naming the field, and the others
//! are kept. Values Langfuse coerces or leaves out (an environment it normalizes, a usage
//! detail that is not a count) are treated the same way; unknown fields are ignored.
//! docs/SERVE.md ("Ingestion API") lists what is kept and what is not.
//!
//! ```
//! use observe_ingest::ingestion::ingestion_route;
//! use observe_model::piece::Piece;
//!
//! let answer = ingestion_route(br#"{"batch": [
//!   {"id": "e1", "type": "generation-create", "timestamp": "2026-12-07T17:00:00.120Z",
//!    "body": {"id": "g1", "traceId": "t1", "model": "gpt-4o",
//!             "usage": {"promptTokens": 12, "completionTokens": 3}}}
//! ]}"#);
//! assert_eq!(answer.status, 207);
//! let Piece::Observation(g) = &answer.pieces[1] else { panic!() };
//! assert_eq!(g.details.as_deref().unwrap().model.as_deref(), Some("gpt-4o"));
//! assert_eq!(g.details.as_deref().unwrap().usage.as_ref().unwrap().get("input"), Some(12));
//! ```

mod batch;
mod document;
mod fields;
mod issues;
mod observation;
mod repair;
mod routes;
mod score;
mod score_list;
mod time;
mod trace;
mod usage;

pub use batch::{decode_ingestion, BatchError, EventError, EventSuccess, IngestionOutcome};
pub use issues::Issue;
pub use routes::{ingestion_route, scores_route, RouteAnswer};
pub use score::{decode_score, score_response_body, ScoreError};
pub use score_list::{decode_score_list, ScoreListOutcome};
