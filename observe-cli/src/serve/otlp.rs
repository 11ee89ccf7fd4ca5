//! The OTLP/HTTP trace endpoint's encodings: which one a request uses (its `Content-Type`)
//! and the answer an OpenTelemetry collector gives, an `ExportTraceServiceResponse` in the
//! request's encoding, with `partial_success` when spans were refused.

use observe_ingest::{Encoding, RefusedSpan};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;

use crate::ui::api::Reply;

/// How many refused spans the partial success message names (the count covers them all).
const NAMED_REFUSALS: usize = 5;

/// The encoding a `Content-Type` names; `None` for anything but OTLP's two.
pub(crate) fn encoding(content_type: Option<&str>) -> Option<Encoding> {
    let media = content_type?.split(';').next()?.trim();
    if media.eq_ignore_ascii_case("application/x-protobuf")
        || media.eq_ignore_ascii_case("application/protobuf")
    {
        Some(Encoding::Protobuf)
    } else if media.eq_ignore_ascii_case("application/json") {
        Some(Encoding::Json)
    } else {
        None
    }
}

/// The 200 answer for a request whose `refused` spans were not taken.
pub(crate) fn answer(refused: &[RefusedSpan], encoding: Encoding) -> Reply {
    let partial_success = (!refused.is_empty()).then(|| ExportTracePartialSuccess {
        rejected_spans: i64::try_from(refused.len()).unwrap_or(i64::MAX),
        error_message: refusal_message(refused),
    });
    let response = ExportTraceServiceResponse { partial_success };
    match encoding {
        Encoding::Protobuf => Reply {
            status: 200,
            content_type: "application/x-protobuf",
            body: response.encode_to_vec(),
        },
        Encoding::Json => Reply {
            status: 200,
            content_type: "application/json",
            // Serializing generated message types into a Vec cannot fail.
            body: serde_json::to_vec(&response).unwrap_or_else(|_| b"{}".to_vec()),
        },
    }
}

fn refusal_message(refused: &[RefusedSpan]) -> String {
    let mut message = format!("{} spans refused: ", refused.len());
    let named: Vec<String> = refused
        .iter()
        .take(NAMED_REFUSALS)
        .map(|r| format!("`{}`: {}", r.name, r.reason))
        .collect();
    message.push_str(&named.join("; "));
    if refused.len() > NAMED_REFUSALS {
        message.push_str("; ...");
    }
    message
}

#[cfg(test)]
mod tests {
    use observe_ingest::SpanRefusal;

    use super::*;

    #[test]
    fn content_types_pick_the_encoding() {
        assert_eq!(
            encoding(Some("application/x-protobuf")),
            Some(Encoding::Protobuf)
        );
        assert_eq!(
            encoding(Some("application/json; charset=utf-8")),
            Some(Encoding::Json)
        );
        assert_eq!(encoding(Some("text/plain")), None);
        assert_eq!(encoding(None), None);
    }

    #[test]
    fn partial_success_counts_and_names_the_refused() {
        let refused = vec![RefusedSpan {
            name: "bad".to_owned(),
            reason: SpanRefusal::SpanId(3),
        }];
        let reply = answer(&refused, Encoding::Protobuf);
        let decoded = ExportTraceServiceResponse::decode(&reply.body[..]).unwrap();
        let partial = decoded.partial_success.unwrap();
        assert_eq!(partial.rejected_spans, 1);
        assert!(
            partial.error_message.contains("`bad`"),
            "{}",
            partial.error_message
        );
        let json: serde_json::Value =
            serde_json::from_slice(&answer(&refused, Encoding::Json).body).unwrap();
        assert!(json["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("span id"));
        assert!(answer(&[], Encoding::Protobuf).body.is_empty());
    }
}
