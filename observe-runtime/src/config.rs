//! Configuration: where traces go, read from the environment as the official Langfuse SDKs
//! read it, or set in code.
//!
//! [`init`] reads the environment, builds the client and installs it as the global default
//! for `#[observe]`; the returned [`Guard`] flushes and shuts down when dropped.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` | send to Langfuse (both or neither) | unset: no Langfuse |
//! | `LANGFUSE_BASE_URL` (older `LANGFUSE_HOST`) | the Langfuse server | `https://cloud.langfuse.com` |
//! | `OBSERVE_LANGFUSE_API` | `otlp` (Langfuse v4, Cloud) or `ingestion` (legacy API of v2/v3 servers) | `otlp` |
//! | `LANGFUSE_TRACING_ENVIRONMENT` | environment of every trace (`^(?!langfuse)[a-z0-9_-]+$`, ≤ 40 chars) | unset |
//! | `LANGFUSE_RELEASE` | release of every trace | unset |
//! | `LANGFUSE_SAMPLE_RATE` | fraction of traces kept, in [0, 1], decided from the trace id | `1` |
//! | `LANGFUSE_TRACING_ENABLED` | `false` installs nothing: `#[observe]` costs one atomic load | `true` |
//! | `LANGFUSE_FLUSH_AT` | records per batch | `512` |
//! | `LANGFUSE_FLUSH_INTERVAL` | seconds a record may wait (fractions allowed) | `1` |
//! | `LANGFUSE_TIMEOUT` | seconds per HTTP request | `5` |
//! | `LANGFUSE_DEBUG` | log every request at `info` | `false` |
//! | `LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED` | `#[observe]` records arguments and return values | `true` |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | also send to this OTLP/HTTP collector URL, as is | unset |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | the same, as a base: `/v1/traces` is appended | unset |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | `k=v,k2=v2` (values URL-decoded) for the collector | none |
//! | `OTEL_SERVICE_NAME` | `service.name` of the OTLP resource | `observe` |
//! | `OBSERVE_STORE_PATH` | the local SQLite store; set with keys, traces go to both | `.observe/traces.db` when nothing else is set |
//! | `OBSERVE_MAX_QUEUE_BYTES` | bytes of records the pipeline holds at most (one destination at most half) | `67108864` (64 MiB) |
//!
//! Booleans take `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`; an empty variable counts as
//! unset. A value that does not parse, or is out of range, is a [`ConfigError`] that names the
//! variable and the value: nothing is guessed.
//!
//! With no keys and no collector endpoint nothing goes over the network: traces go to the
//! local store, and one `info` line says so.
//!
//! ```
//! use std::time::Duration;
//! use observe_runtime::config::{Config, LangfuseApi};
//!
//! let vars = [("LANGFUSE_PUBLIC_KEY", "pk-lf-1"), ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
//!             ("LANGFUSE_HOST", "http://localhost:3000/"), ("LANGFUSE_FLUSH_INTERVAL", "0.25")];
//! let config = Config::from_vars(|name| {
//!     vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
//! }).unwrap();
//! assert_eq!(config.base_url, "http://localhost:3000");
//! assert_eq!(config.flush_interval, Duration::from_millis(250));
//! assert_eq!(config.langfuse_api, LangfuseApi::Otlp);
//!
//! let err = Config::from_vars(|name| (name == "LANGFUSE_SAMPLE_RATE").then(|| "2".into()))
//!     .unwrap_err();
//! assert!(err.to_string().contains("LANGFUSE_SAMPLE_RATE"));
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, Guard};
use crate::export::console::ConsoleExporter;
use crate::export::http::{HttpOptions, RetryPolicy};
use crate::export::ingestion::IngestionExporter;
use crate::export::otlp::{OtlpExporter, Resource};
use crate::export::store::{StoreExporter, DEFAULT_STORE_PATH};
use crate::export::Exporter;
use crate::model::{Json, TraceAttributes};
use crate::pipeline::{Mask, PipelineSettings};

/// Langfuse Cloud (EU), the default server.
pub const DEFAULT_BASE_URL: &str = "https://cloud.langfuse.com";

/// Names of the variables [`Config::from_env`] reads.
pub mod vars {
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
    /// Bytes of records the pipeline holds at most.
    pub const MAX_QUEUE_BYTES: &str = "OBSERVE_MAX_QUEUE_BYTES";
    /// OTLP base endpoint (`/v1/traces` appended).
    pub const OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
    /// OTLP traces endpoint, as is.
    pub const OTLP_TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
    /// OTLP headers, `k=v,k2=v2`.
    pub const OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
    /// OTLP headers for traces only (win over [`OTLP_HEADERS`]).
    pub const OTLP_TRACES_HEADERS: &str = "OTEL_EXPORTER_OTLP_TRACES_HEADERS";
    /// `service.name` of the OTLP resource.
    pub const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
}

/// Which Langfuse API the Langfuse destination uses.
///
/// ```
/// use observe_runtime::config::LangfuseApi;
/// assert_eq!("ingestion".parse::<LangfuseApi>(), Ok(LangfuseApi::Ingestion));
/// assert!("grpc".parse::<LangfuseApi>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LangfuseApi {
    /// `POST /api/public/otel/v1/traces`: Langfuse v4 and Cloud (the default).
    #[default]
    Otlp,
    /// `POST /api/public/ingestion`: self-hosted Langfuse v2/v3.
    Ingestion,
}

impl std::str::FromStr for LangfuseApi {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "otlp" | "otel" => Ok(LangfuseApi::Otlp),
            "ingestion" | "legacy" => Ok(LangfuseApi::Ingestion),
            _ => Err("expected `otlp` or `ingestion`".to_owned()),
        }
    }
}

/// A setting that cannot be used. Each names the variable (also for a value set in code:
/// the variable that would set it) and the value, except secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value that does not parse or is out of range.
    #[error("{variable}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable (`LANGFUSE_SAMPLE_RATE`...).
        variable: &'static str,
        /// The value as given.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// One Langfuse key without the other.
    #[error(
        "{present} is set but {missing} is not: set both to send traces to Langfuse, or neither"
    )]
    MissingKey {
        /// The key that is set.
        present: &'static str,
        /// The key that is missing.
        missing: &'static str,
    },
    /// A destination could not be set up (the store's file, the HTTP client).
    #[error("could not set up {destination}: {source}")]
    Setup {
        /// Which destination.
        destination: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn invalid(
    variable: &'static str,
    value: impl Into<String>,
    reason: impl Into<String>,
) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.into(),
        reason: reason.into(),
    }
}

/// Everything that decides where traces go and how they are batched. Fields are public to
/// read; set them with the builder methods of the same names.
///
/// ```no_run
/// use std::time::Duration;
/// use observe_runtime::config::Config;
///
/// # fn main() -> Result<(), observe_runtime::config::ConfigError> {
/// let _guard = Config::from_env()?
///     .environment("staging")
///     .flush_interval(Duration::from_millis(500))
///     .mask(|json| json)
///     .init()?;
/// # Ok(()) }
/// ```
#[non_exhaustive]
pub struct Config {
    /// `LANGFUSE_PUBLIC_KEY`.
    pub public_key: Option<String>,
    /// `LANGFUSE_SECRET_KEY` (never printed).
    pub secret_key: Option<String>,
    /// `LANGFUSE_BASE_URL` / `LANGFUSE_HOST`, without a trailing slash.
    pub base_url: String,
    /// `OBSERVE_LANGFUSE_API`.
    pub langfuse_api: LangfuseApi,
    /// `LANGFUSE_TRACING_ENVIRONMENT`.
    pub environment: Option<String>,
    /// `LANGFUSE_RELEASE`.
    pub release: Option<String>,
    /// Version every trace starts with (code only).
    pub version: Option<String>,
    /// `LANGFUSE_SAMPLE_RATE`.
    pub sample_rate: f64,
    /// `LANGFUSE_TRACING_ENABLED`.
    pub enabled: bool,
    /// `LANGFUSE_FLUSH_AT`.
    pub flush_at: usize,
    /// `LANGFUSE_FLUSH_INTERVAL`.
    pub flush_interval: Duration,
    /// `LANGFUSE_TIMEOUT`.
    pub timeout: Duration,
    /// `LANGFUSE_DEBUG`.
    pub debug: bool,
    /// `LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED`.
    pub capture_io: bool,
    /// The collector URL from `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, decoded.
    pub otlp_headers: Vec<(String, String)>,
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
    /// `OBSERVE_STORE_PATH`.
    pub store_path: Option<PathBuf>,
    /// Records the queue holds before new ones are dropped and counted (code only).
    pub queue_capacity: usize,
    /// `OBSERVE_MAX_QUEUE_BYTES`.
    pub max_queue_bytes: usize,
    /// Longest time spent retrying one batch (code only).
    pub retry_deadline: Duration,
    base_url_variable: &'static str,
    otlp_endpoint_variable: &'static str,
    mask: Option<Mask>,
    exporters: Vec<Box<dyn Exporter>>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("public_key", &self.public_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("base_url", &self.base_url)
            .field("langfuse_api", &self.langfuse_api)
            .field("environment", &self.environment)
            .field("release", &self.release)
            .field("version", &self.version)
            .field("sample_rate", &self.sample_rate)
            .field("enabled", &self.enabled)
            .field("flush_at", &self.flush_at)
            .field("flush_interval", &self.flush_interval)
            .field("timeout", &self.timeout)
            .field("debug", &self.debug)
            .field("capture_io", &self.capture_io)
            .field("otlp_endpoint", &self.otlp_endpoint)
            .field(
                "otlp_headers",
                &self.otlp_headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("service_name", &self.service_name)
            .field("store_path", &self.store_path)
            .field("queue_capacity", &self.queue_capacity)
            .field("max_queue_bytes", &self.max_queue_bytes)
            .field("retry_deadline", &self.retry_deadline)
            .field("mask", &self.mask.as_ref().map(|_| "<fn>"))
            .field(
                "exporters",
                &self.exporters.iter().map(|e| e.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Default for Config {
    fn default() -> Self {
        let pipeline = PipelineSettings::default();
        Config {
            public_key: None,
            secret_key: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            langfuse_api: LangfuseApi::Otlp,
            environment: None,
            release: None,
            version: None,
            sample_rate: 1.0,
            enabled: true,
            flush_at: pipeline.max_batch_records,
            flush_interval: pipeline.flush_interval,
            timeout: HttpOptions::default().timeout,
            debug: false,
            capture_io: true,
            otlp_endpoint: None,
            otlp_headers: Vec::new(),
            service_name: None,
            store_path: None,
            queue_capacity: pipeline.queue_capacity,
            max_queue_bytes: pipeline.max_queue_bytes,
            retry_deadline: RetryPolicy::default().deadline,
            base_url_variable: vars::BASE_URL,
            otlp_endpoint_variable: vars::OTLP_TRACES_ENDPOINT,
            mask: None,
            exporters: Vec::new(),
        }
    }
}

fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(invalid(variable, value, "expected true or false")),
    }
}

fn parse_seconds(variable: &'static str, value: &str) -> Result<Duration, ConfigError> {
    match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s < 1e9 => Ok(Duration::from_secs_f64(s)),
        _ => Err(invalid(
            variable,
            value,
            "expected a positive number of seconds",
        )),
    }
}

/// Decodes `%XX` escapes (as OTEL_EXPORTER_OTLP_HEADERS values are URL-encoded).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `k=v,k2=v2` into pairs, values URL-decoded; names and values checked as HTTP headers.
fn parse_headers(
    variable: &'static str,
    value: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut headers = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, raw)) = entry.split_once('=') else {
            let name = entry.chars().take(40).collect::<String>();
            return Err(invalid(
                variable,
                format!("{name}…"),
                "expected comma-separated name=value pairs",
            ));
        };
        let name = name.trim();
        let decoded = percent_decode(raw.trim());
        let ok = !name.is_empty()
            && reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && decoded
                .as_deref()
                .is_some_and(|v| reqwest::header::HeaderValue::from_str(v).is_ok());
        match decoded {
            Some(v) if ok => headers.push((name.to_owned(), v)),
            // The value may be a credential: name the header, not its value.
            _ => {
                return Err(invalid(
                    variable,
                    format!("{name}=<redacted>"),
                    format!(
                        "header `{name}` has an invalid name or value (values are URL-encoded)"
                    ),
                ))
            }
        }
    }
    Ok(headers)
}

fn check_url(variable: &'static str, url: &str) -> Result<(), ConfigError> {
    crate::export::http::parse_url(url)
        .map(drop)
        .map_err(|e| match e {
            crate::export::http::SetupError::InvalidUrl { reason, .. } => {
                invalid(variable, url, format!("expected an http(s) URL: {reason}"))
            }
            other => invalid(variable, url, other.to_string()),
        })
}

fn environment_valid(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= crate::update::MAX_ENVIRONMENT_CHARS
        && !value.starts_with("langfuse")
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Config {
    /// The defaults, reading nothing from the environment.
    pub fn new() -> Config {
        Config::default()
    }

    /// Reads the variables in the [module table](self) from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the same variables from any source (tests use a map, and never touch the
    /// process environment).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut c = Config {
            public_key: var(vars::PUBLIC_KEY),
            secret_key: var(vars::SECRET_KEY),
            ..Config::default()
        };
        if let Some(url) = var(vars::BASE_URL) {
            c.base_url_variable = vars::BASE_URL;
            c.base_url = url;
        } else if let Some(url) = var(vars::HOST) {
            c.base_url_variable = vars::HOST;
            c.base_url = url;
        }
        c.base_url = c.base_url.trim_end_matches('/').to_owned();
        if let Some(v) = var(vars::API) {
            c.langfuse_api = v
                .parse()
                .map_err(|why: String| invalid(vars::API, &v, why))?;
        }
        c.environment = var(vars::ENVIRONMENT);
        c.release = var(vars::RELEASE);
        if let Some(v) = var(vars::SAMPLE_RATE) {
            c.sample_rate = v
                .parse::<f64>()
                .map_err(|_| invalid(vars::SAMPLE_RATE, &v, "expected a number between 0 and 1"))?;
        }
        if let Some(v) = var(vars::TRACING_ENABLED) {
            c.enabled = parse_bool(vars::TRACING_ENABLED, &v)?;
        }
        if let Some(v) = var(vars::FLUSH_AT) {
            c.flush_at = v
                .parse::<usize>()
                .map_err(|_| invalid(vars::FLUSH_AT, &v, "expected a positive whole number"))?;
        }
        if let Some(v) = var(vars::FLUSH_INTERVAL) {
            c.flush_interval = parse_seconds(vars::FLUSH_INTERVAL, &v)?;
        }
        if let Some(v) = var(vars::TIMEOUT) {
            c.timeout = parse_seconds(vars::TIMEOUT, &v)?;
        }
        if let Some(v) = var(vars::DEBUG) {
            c.debug = parse_bool(vars::DEBUG, &v)?;
        }
        if let Some(v) = var(vars::IO_CAPTURE) {
            c.capture_io = parse_bool(vars::IO_CAPTURE, &v)?;
        }
        if let Some(v) = var(vars::OTLP_TRACES_ENDPOINT) {
            c.otlp_endpoint_variable = vars::OTLP_TRACES_ENDPOINT;
            c.otlp_endpoint = Some(v);
        } else if let Some(v) = var(vars::OTLP_ENDPOINT) {
            c.otlp_endpoint_variable = vars::OTLP_ENDPOINT;
            c.otlp_endpoint = Some(format!("{}/v1/traces", v.trim_end_matches('/')));
        }
        for variable in [vars::OTLP_HEADERS, vars::OTLP_TRACES_HEADERS] {
            if let Some(v) = var(variable) {
                for (name, value) in parse_headers(variable, &v)? {
                    c.otlp_headers
                        .retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                    c.otlp_headers.push((name, value));
                }
            }
        }
        c.service_name = var(vars::SERVICE_NAME);
        c.store_path = var(vars::STORE_PATH).map(PathBuf::from);
        // (pipeline) the queue's byte budget.
        if let Some(v) = var(vars::MAX_QUEUE_BYTES) {
            c.max_queue_bytes = v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    vars::MAX_QUEUE_BYTES,
                    &v,
                    "expected a positive number of bytes",
                )
            })?;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks every value; [`Config::init`] and [`Config::build_client`] call it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match (&self.public_key, &self.secret_key) {
            (Some(_), None) => {
                return Err(ConfigError::MissingKey {
                    present: vars::PUBLIC_KEY,
                    missing: vars::SECRET_KEY,
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::MissingKey {
                    present: vars::SECRET_KEY,
                    missing: vars::PUBLIC_KEY,
                })
            }
            _ => {}
        }
        check_url(self.base_url_variable, &self.base_url)?;
        if let Some(url) = &self.otlp_endpoint {
            check_url(self.otlp_endpoint_variable, url)?;
        }
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(invalid(
                vars::SAMPLE_RATE,
                self.sample_rate.to_string(),
                "expected a number between 0 and 1",
            ));
        }
        if self.flush_at == 0 {
            return Err(invalid(
                vars::FLUSH_AT,
                "0",
                "expected a positive whole number",
            ));
        }
        for (variable, d) in [
            (vars::FLUSH_INTERVAL, self.flush_interval),
            (vars::TIMEOUT, self.timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(
                    variable,
                    "0",
                    "expected a positive number of seconds",
                ));
            }
        }
        if let Some(env) = &self.environment {
            if !environment_valid(env) {
                return Err(invalid(
                    vars::ENVIRONMENT,
                    env,
                    "expected lowercase letters, digits, `_` and `-`, at most 40 characters, \
                     not starting with `langfuse`",
                ));
            }
        }
        Ok(())
    }

    /// Both Langfuse keys.
    pub fn keys(mut self, public_key: impl Into<String>, secret_key: impl Into<String>) -> Config {
        self.public_key = Some(public_key.into());
        self.secret_key = Some(secret_key.into());
        self
    }

    /// The Langfuse server (`LANGFUSE_BASE_URL`).
    pub fn base_url(mut self, url: impl Into<String>) -> Config {
        self.base_url = url.into().trim_end_matches('/').to_owned();
        self.base_url_variable = vars::BASE_URL;
        self
    }

    /// OTLP (default) or the legacy ingestion API (`OBSERVE_LANGFUSE_API`).
    pub fn langfuse_api(mut self, api: LangfuseApi) -> Config {
        self.langfuse_api = api;
        self
    }

    /// Environment of every trace (`LANGFUSE_TRACING_ENVIRONMENT`).
    pub fn environment(mut self, environment: impl Into<String>) -> Config {
        self.environment = Some(environment.into());
        self
    }

    /// Release of every trace (`LANGFUSE_RELEASE`).
    pub fn release(mut self, release: impl Into<String>) -> Config {
        self.release = Some(release.into());
        self
    }

    /// Version every trace starts with.
    pub fn version(mut self, version: impl Into<String>) -> Config {
        self.version = Some(version.into());
        self
    }

    /// Fraction of traces kept, in [0, 1] (`LANGFUSE_SAMPLE_RATE`).
    pub fn sample_rate(mut self, rate: f64) -> Config {
        self.sample_rate = rate;
        self
    }

    /// `false` installs nothing (`LANGFUSE_TRACING_ENABLED`).
    pub fn enabled(mut self, on: bool) -> Config {
        self.enabled = on;
        self
    }

    /// Records per batch (`LANGFUSE_FLUSH_AT`).
    pub fn flush_at(mut self, records: usize) -> Config {
        self.flush_at = records;
        self
    }

    /// Longest a record waits before it is sent (`LANGFUSE_FLUSH_INTERVAL`).
    pub fn flush_interval(mut self, interval: Duration) -> Config {
        self.flush_interval = interval;
        self
    }

    /// Timeout of one HTTP request (`LANGFUSE_TIMEOUT`).
    pub fn timeout(mut self, timeout: Duration) -> Config {
        self.timeout = timeout;
        self
    }

    /// Log every request at `info` (`LANGFUSE_DEBUG`).
    pub fn debug(mut self, on: bool) -> Config {
        self.debug = on;
        self
    }

    /// `#[observe]` records arguments and return values
    /// (`LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED`).
    pub fn capture_io(mut self, on: bool) -> Config {
        self.capture_io = on;
        self
    }

    /// Also send to this OTLP/HTTP collector traces URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Config {
        self.otlp_endpoint = Some(url.into());
        self.otlp_endpoint_variable = vars::OTLP_TRACES_ENDPOINT;
        self
    }

    /// Adds a header for the collector (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Config {
        self.otlp_headers.push((name.into(), value.into()));
        self
    }

    /// `service.name` of the OTLP resource (`OTEL_SERVICE_NAME`).
    pub fn service_name(mut self, name: impl Into<String>) -> Config {
        self.service_name = Some(name.into());
        self
    }

    /// The local store's file (`OBSERVE_STORE_PATH`); with keys set, traces go to both.
    pub fn store_path(mut self, path: impl Into<PathBuf>) -> Config {
        self.store_path = Some(path.into());
        self
    }

    /// Records the queue holds before new ones are dropped and counted.
    pub fn queue_capacity(mut self, capacity: usize) -> Config {
        self.queue_capacity = capacity;
        self
    }

    /// Bytes of records the pipeline holds at most (`OBSERVE_MAX_QUEUE_BYTES`).
    pub fn max_queue_bytes(mut self, bytes: usize) -> Config {
        self.max_queue_bytes = bytes;
        self
    }

    /// Longest time spent retrying one batch before it is dropped.
    pub fn retry_deadline(mut self, deadline: Duration) -> Config {
        self.retry_deadline = deadline;
        self
    }

    /// A function applied to every input, output and metadata value before it leaves the
    /// process.
    pub fn mask(mut self, mask: impl Fn(Json) -> Json + Send + Sync + 'static) -> Config {
        self.mask = Some(Arc::new(mask));
        self
    }

    /// Adds a destination of your own; it gets every batch, besides the configured ones.
    pub fn exporter(mut self, exporter: impl Exporter) -> Config {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// Builds the client with the configured destinations without installing it globally;
    /// The local store's file when the store is one of the destinations: when nothing is
    /// configured to leave the process (no Langfuse keys, no collector endpoint), or when
    /// `OBSERVE_STORE_PATH` names it. Exporters added in code come in addition and do not
    /// change this, so a first run always leaves something to look at.
    ///
    /// ```
    /// use observe_runtime::config::Config;
    /// let local = Config::from_vars(|_| None).unwrap();
    /// assert_eq!(local.local_store_path().unwrap(), std::path::Path::new(".observe/traces.db"));
    /// let cloud = Config::new().keys("pk-lf-1", "sk-lf-1");
    /// assert_eq!(cloud.local_store_path(), None);
    /// ```
    pub fn local_store_path(&self) -> Option<PathBuf> {
        let network =
            self.public_key.is_some() && self.secret_key.is_some() || self.otlp_endpoint.is_some();
        match &self.store_path {
            Some(path) => Some(path.clone()),
            None if !network => Some(PathBuf::from(DEFAULT_STORE_PATH)),
            None => None,
        }
    }

    /// `None` when tracing is disabled.
    pub fn build_client(self) -> Result<Option<Client>, ConfigError> {
        self.validate()?;
        if !self.enabled {
            tracing::info!(
                "observe: tracing disabled ({}=false); nothing is recorded",
                vars::TRACING_ENABLED
            );
            return Ok(None);
        }
        if self.debug {
            tracing::info!("observe: configuration {self:?}");
        }
        let options = HttpOptions {
            timeout: self.timeout,
            retry: RetryPolicy {
                deadline: self.retry_deadline,
                ..RetryPolicy::default()
            },
            debug: self.debug,
        };
        let resource = Resource::new(self.service_name.as_deref().unwrap_or("observe"));
        let setup = |destination: &str| {
            let destination = destination.to_owned();
            move |e: crate::export::http::SetupError| ConfigError::Setup {
                destination,
                source: Box::new(e),
            }
        };

        let mut exporters: Vec<Box<dyn Exporter>> = Vec::new();
        let mut destinations: Vec<String> = Vec::new();
        let langfuse = match (&self.public_key, &self.secret_key) {
            (Some(pk), Some(sk)) => Some((pk.as_str(), sk.as_str())),
            _ => None,
        };
        if let Some((pk, sk)) = langfuse {
            match self.langfuse_api {
                LangfuseApi::Otlp => {
                    let e = OtlpExporter::langfuse(&self.base_url, pk, sk, options)
                        .map_err(setup("Langfuse (OTLP)"))?
                        .resource(resource.clone())
                        .score_environment(self.environment.clone());
                    destinations.push(format!("Langfuse at {}", e.url()));
                    exporters.push(Box::new(e));
                }
                LangfuseApi::Ingestion => {
                    let e = IngestionExporter::new(&self.base_url, pk, sk, options)
                        .map_err(setup("Langfuse (ingestion API)"))?
                        .score_environment(self.environment.clone());
                    destinations.push(format!("Langfuse at {} (legacy ingestion API)", e.url()));
                    exporters.push(Box::new(e));
                }
            }
        }
        if let Some(endpoint) = &self.otlp_endpoint {
            let e = OtlpExporter::collector(endpoint, &self.otlp_headers, options)
                .map_err(setup("the OTLP collector"))?
                .resource(resource.clone());
            destinations.push(format!("the OTLP collector at {}", e.url()));
            exporters.push(Box::new(e));
        }
        if self.local_store_path().is_some() {
            let local = default_destination(self.store_path.as_deref())?;
            destinations.push(local.description);
            exporters.push(local.exporter);
        }
        for e in &self.exporters {
            destinations.push(format!("the `{}` exporter", e.name()));
        }
        exporters.extend(self.exporters);

        if langfuse.is_none() && self.otlp_endpoint.is_none() {
            tracing::info!(
                "observe: no Langfuse keys and no OTLP endpoint: nothing goes over the network; \
                 traces go to {}",
                destinations.join(" and ")
            );
        } else {
            tracing::info!("observe: traces go to {}", destinations.join(" and "));
        }

        let settings = PipelineSettings {
            queue_capacity: self.queue_capacity,
            max_batch_records: self.flush_at,
            flush_interval: self.flush_interval,
            sample_rate: self.sample_rate,
            capture_io: self.capture_io,
            base_attributes: TraceAttributes {
                environment: self.environment.clone(),
                release: self.release.clone(),
                version: self.version.clone(),
                ..TraceAttributes::default()
            },
            mask: self.mask.clone(),
            max_queue_bytes: self.max_queue_bytes,
            ..PipelineSettings::default()
        };
        let mut builder = Client::builder().settings(settings);
        if langfuse.is_some() {
            builder = builder.trace_url_base(self.base_url.clone());
        }
        for e in exporters {
            builder = builder.boxed_exporter(e);
        }
        Ok(Some(builder.build()))
    }

    /// Builds the client and installs it as the global default for `#[observe]`. With
    /// tracing disabled, installs nothing and returns a guard that does nothing.
    pub fn init(self) -> Result<Guard, ConfigError> {
        Ok(match self.build_client()? {
            Some(client) => client.install_global(),
            None => Guard::disabled(),
        })
    }
}

/// A destination and how to tell the user where their traces went.
pub(crate) struct Destination {
    pub(crate) exporter: Box<dyn Exporter>,
    pub(crate) description: String,
}

/// The destination when neither Langfuse keys nor a collector endpoint are set, and the
/// extra one when `OBSERVE_STORE_PATH` is: the local store. When the default file cannot be
/// opened (a read-only directory), traces go to stderr instead, with a warning; a path the
/// user named must open, or it is an error.
pub(crate) fn default_destination(store_path: Option<&Path>) -> Result<Destination, ConfigError> {
    let path = store_path.map_or_else(|| PathBuf::from(DEFAULT_STORE_PATH), Path::to_owned);
    match StoreExporter::open(&path) {
        Ok(store) => Ok(Destination {
            exporter: Box::new(store),
            description: format!(
                "the local store {} (query it with the `observe` command)",
                path.display()
            ),
        }),
        Err(err) if store_path.is_none() => {
            tracing::warn!(
                "observe: could not open the local store {}: {err}; traces go to stderr instead",
                path.display()
            );
            Ok(Destination {
                exporter: Box::new(ConsoleExporter::stderr()),
                description: "stderr (one line per trace)".to_owned(),
            })
        }
        Err(err) => Err(ConfigError::Setup {
            destination: format!("the local store {} ({})", path.display(), vars::STORE_PATH),
            source: Box::new(err),
        }),
    }
}

/// Reads the environment, builds the client and installs it as the global default for
/// `#[observe]`; see the [module docs](self). Keep the guard alive for the life of the
/// program: dropping it flushes and shuts down.
///
/// ```no_run
/// # fn main() -> Result<(), observe_runtime::config::ConfigError> {
/// let _guard = observe_runtime::init()?;
/// // ... #[observe] functions record into the configured destinations ...
/// # Ok(()) }
/// ```
pub fn init() -> Result<Guard, ConfigError> {
    Config::from_env()?.init()
}

/// The Langfuse URL of the current trace (`{base_url}/trace/{trace_id}`, which Langfuse
/// redirects to the project's page), when inside a sampled trace whose client sends to
/// Langfuse.
///
/// ```
/// use observe_runtime::{get_trace_url, Client, Trace};
/// use observe_runtime::export::memory::InMemory;
///
/// assert_eq!(get_trace_url(), None); // outside any trace
/// let client = Client::builder()
///     .exporter(InMemory::new())
///     .trace_url_base("https://cloud.langfuse.com")
///     .build();
/// let trace = client.trace(Trace::new("t"));
/// let url = trace.in_scope_sync(get_trace_url).unwrap();
/// assert_eq!(url, format!("https://cloud.langfuse.com/trace/{}", trace.id()));
/// ```
pub fn get_trace_url() -> Option<String> {
    crate::context::with_current(|frame| {
        let trace = frame?.trace.as_ref()?;
        if !trace.sampled {
            return None;
        }
        let base = trace.pipeline.trace_url_base.as_deref()?;
        Some(format!("{}/trace/{}", base.trim_end_matches('/'), trace.id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(
            percent_decode("Basic%20abc%3D%3D").as_deref(),
            Some("Basic abc==")
        );
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("bad%2"), None);
        assert_eq!(percent_decode("bad%zz"), None);
        assert_eq!(percent_decode("%"), None);
    }
}
