//! A whole `ExportTraceServiceRequest`, protobuf or JSON, to observations.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use crate::attributes::Attributes;
use crate::error::{DecodeError, RefusedSpan};
use crate::span::{self, TraceCache};

/// How the request body is encoded (the HTTP `Content-Type`: `application/x-protobuf` or
/// `application/json`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf.
    Protobuf,
    /// OTLP/JSON: ids in hex, field names in lowerCamelCase.
    Json,
}

/// What one request gave: the observations, in request order, and the spans refused (each
/// logged once); the two together count every span of the request.
#[derive(Debug, Default)]
pub struct Decoded {
    /// One observation per accepted span.
    pub observations: Vec<observe_model::model::Observation>,
    /// The spans that could not be read, with why.
    pub refused: Vec<RefusedSpan>,
}

/// Decodes a request body (already decompressed).
///
/// ```
/// use observe_ingest::{decode_request, DecodeError, Encoding};
///
/// assert!(matches!(
///     decode_request(b"not json", Encoding::Json),
///     Err(DecodeError::Json(_))
/// ));
/// ```
pub fn decode_request(body: &[u8], encoding: Encoding) -> Result<Decoded, DecodeError> {
    let request = match encoding {
        Encoding::Protobuf => ExportTraceServiceRequest::decode(body)?,
        Encoding::Json => serde_json::from_slice(body)?,
    };
    Ok(decode_trace_request(request))
}

/// Maps an already decoded request.
///
/// ```
/// use observe_ingest::decode_trace_request;
/// use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
///
/// let decoded = decode_trace_request(ExportTraceServiceRequest::default());
/// assert!(decoded.observations.is_empty());
/// ```
pub fn decode_trace_request(request: ExportTraceServiceRequest) -> Decoded {
    let mut out = Decoded::default();
    let mut traces = TraceCache::default();
    for resource_spans in request.resource_spans {
        let resource = Attributes::new(
            resource_spans
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        traces.new_resource();
        for scope_spans in resource_spans.scope_spans {
            out.observations.reserve(scope_spans.spans.len());
            for s in scope_spans.spans {
                match span::observation(s, &resource, &mut traces) {
                    Ok(obs) => out.observations.push(obs),
                    Err(refused) => {
                        tracing::warn!("span `{}` refused: {}", refused.name, refused.reason);
                        out.refused.push(refused);
                    }
                }
            }
        }
    }
    out
}
