//! The names of the environment variables observe reads: the one definition, shared by the
//! configuration (`observe_runtime::config`), the local store and the `observe` command. Public as
//! `observe_runtime::config::vars`.

/// Langfuse public key.
pub const PUBLIC_KEY: &str = "LANGFUSE_PUBLIC_KEY";
/// Langfuse secret key.
pub const SECRET_KEY: &str = "LANGFUSE_SECRET_KEY";
/// Langfuse server.
pub const BASE_URL: &str = "LANGFUSE_BASE_URL";
/// Older name of [`BASE_URL`].
pub const HOST: &str = "LANGFUSE_HOST";
/// Environment of every trace.
pub const ENVIRONMENT: &str = "LANGFUSE_TRACING_ENVIRONMENT";
/// Release of every trace.
pub const RELEASE: &str = "LANGFUSE_RELEASE";
/// Fraction of traces kept.
pub const SAMPLE_RATE: &str = "LANGFUSE_SAMPLE_RATE";
/// `false` turns tracing off.
pub const TRACING_ENABLED: &str = "LANGFUSE_TRACING_ENABLED";
/// Records per batch.
pub const FLUSH_AT: &str = "LANGFUSE_FLUSH_AT";
/// Seconds a record may wait.
pub const FLUSH_INTERVAL: &str = "LANGFUSE_FLUSH_INTERVAL";
/// Seconds per HTTP request.
pub const TIMEOUT: &str = "LANGFUSE_TIMEOUT";
/// Log every request.
pub const DEBUG: &str = "LANGFUSE_DEBUG";
/// `#[observe]` input/output capture.
pub const IO_CAPTURE: &str = "LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED";
/// `otlp` or `ingestion`.
pub const API: &str = "OBSERVE_LANGFUSE_API";
/// The local store's file.
pub const STORE_PATH: &str = "OBSERVE_STORE_PATH";
/// A team's PostgreSQL store (`postgres://...`; `postgres:` alone takes libpq's variables).
pub const STORE_URL: &str = "OBSERVE_STORE_URL";
/// Bytes of records the pipeline holds at most.
pub const MAX_QUEUE_BYTES: &str = "OBSERVE_MAX_QUEUE_BYTES";
/// `off`, `on` or `first`: whether remote destinations spool what they cannot deliver yet.
pub const SPOOL: &str = "OBSERVE_SPOOL";
/// The spool's root directory (one subdirectory per destination).
pub const SPOOL_DIR: &str = "OBSERVE_SPOOL_DIR";
/// Bytes one destination's spool takes at most.
pub const SPOOL_MAX_BYTES: &str = "OBSERVE_SPOOL_MAX_BYTES";
/// `drop-newest` or `drop-oldest`: what a full spool drops.
pub const SPOOL_FULL: &str = "OBSERVE_SPOOL_FULL";
/// Milliseconds an appended record waits for its `fsync` at most.
pub const SPOOL_FSYNC_MS: &str = "OBSERVE_SPOOL_FSYNC_MS";
/// `true` silences the line `init()` writes on stderr.
pub const QUIET: &str = "OBSERVE_QUIET";
/// OTLP base endpoint (`/v1/traces` appended).
pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// OTLP traces endpoint, as is.
pub const OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
/// OTLP headers, `k=v,k2=v2`.
pub const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// OTLP headers for traces only (win over [`OTLP_HEADERS`]).
pub const OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
/// OTLP protocol: only `http/protobuf` is supported.
pub const OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// OTLP protocol for traces only (wins over [`OTLP_PROTOCOL`]).
pub const OTLP_TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// A model price list (Langfuse's `default-model-prices.json` format) the local store
/// prices generations with, on top of the built-in one.
pub const MODEL_PRICES: &str = "OBSERVE_MODEL_PRICES";
/// `service.name` of the OTLP resource.
pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// The `service.name` when neither [`SERVICE_NAME`] nor [`RESOURCE_ATTRIBUTES`] gives one:
/// OpenTelemetry's `unknown_service:<executable name>` (`unknown_service` when the
/// executable's name cannot be read), so that two unnamed services still differ.
///
/// ```
/// assert!(observe_model::vars::default_service_name().starts_with("unknown_service"));
/// ```
pub fn default_service_name() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| {
        p.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .filter(|s| !s.is_empty())
    });
    match exe {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

/// Attributes of the OTLP resource, `k=v,k2=v2` (values URL-encoded); its `service.name`
/// counts when [`SERVICE_NAME`] is unset.
pub const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// Write the GenAI content attributes (`gen_ai.input.messages`...) for the collector.
pub const GENAI_CONTENT: &str = "OBSERVE_GENAI_CONTENT";

/// The file [`STORE_PATH`] defaults to, relative to the working directory.
pub const DEFAULT_STORE_PATH: &str = ".observe/traces.db";
