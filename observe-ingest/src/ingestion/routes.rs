//! The two endpoints as plain functions: request body in; status, JSON answer and the
//! pieces to store out. The server stores the pieces (under the request's project), then
//! answers; it answers the status given only once they are committed.

use observe_model::piece::Piece;

use super::batch::{decode_ingestion, BatchError, IngestionOutcome};
use super::repair::parse_lenient;
use super::score::{score_from_value, score_response_body, ScoreError};
use super::score_list::decode_score_list;

/// What an endpoint answers, and what must be stored before it does.
#[derive(Clone, Debug, PartialEq)]
pub struct RouteAnswer {
    /// HTTP status: 207 (ingestion), 200 (a score), 400 (refused as a whole).
    pub status: u16,
    /// The answer's body, JSON (`Content-Type: application/json`).
    pub body: String,
    /// The records to store; empty when the request was refused.
    pub pieces: Vec<Piece>,
    /// How many events a 207 answer refuses (its `errors`), for the server's counts; 0 for
    /// an answer that refuses the whole request, which counts as one refused request.
    pub refused: usize,
}

/// `POST /api/public/ingestion`: 207 with per-event successes and errors (the accepted
/// events' pieces to store), or 400 for a body that is not a batch.
///
/// ```
/// use observe_ingest::ingestion::ingestion_route;
///
/// let answer = ingestion_route(br#"{"batch": [{"id": "e1", "type": "trace-create",
///     "timestamp": "2026-12-07T17:00:00Z", "body": {"id": "t1", "sessionId": "s"}}]}"#);
/// assert_eq!(answer.status, 207);
/// assert_eq!(answer.body, r#"{"errors":[],"successes":[{"id":"e1","status":201}]}"#);
/// assert_eq!((answer.pieces.len(), answer.refused), (1, 0));
/// assert_eq!(ingestion_route(b"not json").status, 400);
/// ```
pub fn ingestion_route(body: &[u8]) -> RouteAnswer {
    match decode_ingestion(body) {
        Ok(outcome) => RouteAnswer {
            status: IngestionOutcome::STATUS,
            body: outcome.response_body(),
            refused: outcome.errors.len(),
            pieces: outcome.pieces,
        },
        Err(refused) => refused_batch(&refused),
    }
}

fn refused_batch(refused: &BatchError) -> RouteAnswer {
    RouteAnswer {
        status: BatchError::STATUS,
        body: refused.response_body(),
        pieces: Vec::new(),
        refused: 0,
    }
}

/// `POST /api/public/scores`. One score object: 200 with `{"id": ...}` and the score to
/// store, or 400 with the issues. A list of them (the current SDKs batch): 202 when all
/// were accepted, else 207 with `{"accepted", "rejected", "errors"}`, the good ones stored.
///
/// ```
/// use observe_ingest::ingestion::scores_route;
///
/// let answer = scores_route(br#"{"id": "s-1", "traceId": "t1", "name": "ok", "value": 1}"#);
/// assert_eq!((answer.status, answer.body.as_str()), (200, r#"{"id":"s-1"}"#));
/// let refused = scores_route(br#"{"traceId": "t1", "value": 1}"#);
/// assert_eq!(refused.status, 400);
/// assert!(refused.body.contains(r#""path":["name"]"#));
/// assert!(refused.pieces.is_empty());
///
/// let list = scores_route(br#"[{"traceId": "t1", "name": "ok", "value": 1},
///                              {"traceId": "t1", "name": "", "value": 1}]"#);
/// assert_eq!(list.status, 207);
/// assert!(list.body.starts_with(r#"{"accepted":1,"errors":[{"message":"score 1: "#));
/// assert_eq!(list.pieces.len(), 1);
/// ```
pub fn scores_route(body: &[u8]) -> RouteAnswer {
    let one = match parse_lenient(body) {
        Ok(serde_json::Value::Array(items)) => {
            let outcome = decode_score_list(&items);
            return RouteAnswer {
                status: outcome.status(),
                body: outcome.response_body(),
                refused: outcome.errors.len(),
                pieces: outcome.scores.into_iter().map(Piece::Score).collect(),
            };
        }
        Ok(value) => score_from_value(value),
        Err(e) => Err(ScoreError::NotJson(e)),
    };
    match one {
        Ok(score) => RouteAnswer {
            status: 200,
            body: score_response_body(&score),
            pieces: vec![Piece::Score(score)],
            refused: 0,
        },
        Err(refused) => RouteAnswer {
            status: 400,
            body: refused.response_body(),
            pieces: Vec::new(),
            refused: 0,
        },
    }
}
