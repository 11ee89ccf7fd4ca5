//! What the decoder refuses: a whole request (not OTLP at all) or one span of it.

use thiserror::Error;

/// A request body that is not an OTLP `ExportTraceServiceRequest` in the encoding it claims.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The body is not a protobuf `ExportTraceServiceRequest`.
    #[error("not an OTLP protobuf trace request: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The body is not an OTLP/JSON trace request.
    #[error("not an OTLP/JSON trace request: {0}")]
    Json(#[from] serde_json::Error),
}

/// Why one span of an otherwise valid request was not turned into an observation.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpanRefusal {
    /// The trace id is not 16 bytes, or is all zeros (OTLP calls that invalid).
    #[error("trace id is {0} bytes or all zeros; OTLP wants 16 non-zero bytes")]
    TraceId(usize),
    /// The span id is not 8 bytes, or is all zeros.
    #[error("span id is {0} bytes or all zeros; OTLP wants 8 non-zero bytes")]
    SpanId(usize),
    /// The parent span id is neither empty nor 8 bytes.
    #[error("parent span id is {0} bytes; OTLP wants none or 8")]
    ParentId(usize),
}

/// A refused span: where it was in the request and why, so a server can answer with OTLP's
/// partial success and the rest of the request is still stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedSpan {
    /// The span's name as sent.
    pub name: String,
    /// Why it was refused.
    pub reason: SpanRefusal,
}
