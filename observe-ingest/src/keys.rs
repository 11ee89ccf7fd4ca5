//! The attribute keys the decoder reads, by the convention that defines them: the list
//! observe's OTLP exporter writes from too ([`observe_model::otlp_keys`]).

pub use observe_model::otlp_keys::{langfuse, openinference, otel};
