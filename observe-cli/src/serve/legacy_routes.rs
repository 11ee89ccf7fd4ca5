//! Langfuse's legacy endpoints, `POST /api/public/ingestion` and `POST
//! /api/public/scores`, as plain functions: the request body in; the reply and the pieces
//! to store before sending it out. The decoding and the answers' shapes are
//! observe-ingest's ([`observe_ingest::ingestion`]); the connection's side (keys, body
//! limits, the write queue) is the OTLP endpoint's, in `routes.rs`.

use observe_ingest::ingestion::{ingestion_route, scores_route, RouteAnswer};
use observe_model::piece::Piece;

use crate::ui::api::Reply;

/// The path of the scores endpoint; every other legacy path is the ingestion batch's.
pub(crate) const SCORES_PATH: &str = "/api/public/scores";

/// What a legacy endpoint answers, once its pieces are committed.
pub(crate) struct LegacyAnswer {
    /// 207 (ingestion), 200 (a score) or 400, with Langfuse's JSON body.
    pub(crate) reply: Reply,
    /// The records to store first; empty when nothing was accepted.
    pub(crate) pieces: Vec<Piece>,
    /// Events a 207 answer refuses (counted as invalid in the server's summary).
    pub(crate) refused: usize,
}

/// The answer to a legacy request to `path` with this (inflated) `body`.
pub(crate) fn answer(path: &str, body: &[u8]) -> LegacyAnswer {
    let RouteAnswer {
        status,
        body,
        pieces,
        refused,
    } = if path == SCORES_PATH {
        scores_route(body)
    } else {
        ingestion_route(body)
    };
    LegacyAnswer {
        reply: Reply {
            status,
            content_type: "application/json",
            body: body.into_bytes(),
        },
        pieces,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_answers_with_its_own_endpoint() {
        let score = answer(
            SCORES_PATH,
            br#"{"id": "s", "traceId": "t", "name": "n", "value": 1}"#,
        );
        assert_eq!(score.reply.status, 200);
        assert_eq!(score.reply.body, br#"{"id":"s"}"#);
        assert_eq!(score.pieces.len(), 1);
        let batch = answer(
            "/api/public/ingestion",
            br#"{"batch": [{"id": "e", "type": "nope"}]}"#,
        );
        assert_eq!((batch.reply.status, batch.refused), (207, 1));
        assert!(batch.pieces.is_empty());
        assert_eq!(batch.reply.content_type, "application/json");
    }
}
