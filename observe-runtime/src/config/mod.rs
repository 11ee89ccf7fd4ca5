//! Configuration: where traces go, read from the environment as the official Langfuse SDKs
//! read it, or set in code. [`Config`] is the one surface: a builder whose every setting has
//! one entry in [`SETTINGS`] (variable, default, meaning, how it is read and shown), which
//! [`Config::from_vars`] walks and the table below mirrors.
//!
//! [`init`] reads the environment, builds the client and installs it as the global default
//! for `#[observe]`; the returned [`Guard`] flushes and shuts down when dropped.
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY` | send to Langfuse (both or neither) | unset: no Langfuse |
//! | `LANGFUSE_BASE_URL` (older `LANGFUSE_HOST`) | the Langfuse server (no query string) | `https://cloud.langfuse.com` |
//! | `OBSERVE_LANGFUSE_API` | `otlp` (Langfuse v4, Cloud) or `ingestion` (legacy API of v2/v3 servers) | `otlp` |
//! | `LANGFUSE_TRACING_ENVIRONMENT` | environment of every trace (`^(?!langfuse)[a-z0-9_-]+$`, ≤ 40 chars) | unset |
//! | `LANGFUSE_RELEASE` | release of every trace | unset |
//! | `LANGFUSE_SAMPLE_RATE` | fraction of traces kept, in [0, 1], decided from the trace id | `1` |
//! | `LANGFUSE_TRACING_ENABLED` | `false` installs nothing: `#[observe]` costs one atomic load | `true` |
//! | `LANGFUSE_FLUSH_AT` | records per batch | `512` |
//! | `LANGFUSE_FLUSH_INTERVAL` | seconds a record may wait (fractions allowed) | `1` |
//! | `LANGFUSE_TIMEOUT` | seconds per HTTP request | `5` |
//! | `LANGFUSE_DEBUG` | log the configuration and every request at `info` | `false` |
//! | `LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED` | `#[observe]` records arguments and return values | `true` |
//! | `OBSERVE_QUIET` | `true` leaves out the line `init()` writes on stderr | `false` |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | also send to this OTLP/HTTP collector URL, as is | unset |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | the same, as a base (no query string): `/v1/traces` is appended | unset |
//! | `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` | only `http/protobuf`; anything else is an error | `http/protobuf` |
//! | `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_TRACES_HEADERS` | `k=v,k2=v2` (values URL-decoded) for the collector | none |
//! | `OTEL_SERVICE_NAME` | `service.name` of the OTLP resource | `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else `unknown_service:<executable>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | attributes of the OTLP resource, `k=v,k2=v2` (values URL-decoded) | none |
//! | `OBSERVE_GENAI_CONTENT` | write `gen_ai.input.messages`, `gen_ai.output.messages`, `gen_ai.system_instructions` for the collector | `false` |
//! | `OBSERVE_STORE_PATH` | the local SQLite store; set with keys, traces go to both | `.observe/traces.db` when nothing else is set |
//! | `OBSERVE_STORE_URL` | a team's PostgreSQL store (`postgres://...`, feature `postgres`) | unset |
//! | `OBSERVE_MAX_QUEUE_BYTES` | bytes of records the pipeline holds at most (one destination at most half) | `67108864` (64 MiB) |
//!
//! Booleans take `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`; an empty variable counts as
//! unset. A value that does not parse, or is out of range, is a [`ConfigError`] that names the
//! variable and the value: nothing is guessed. A URL's password (`http://user:pw@host`) is
//! never printed.
//!
//! With no keys and no collector endpoint nothing goes over the network: traces go to the
//! local store, and one line says so.
//!
//! ```
//! use observe_runtime::config::{vars, Config};
//!
//! let env = [("LANGFUSE_PUBLIC_KEY", "pk-lf-1"), ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
//!            ("LANGFUSE_HOST", "http://localhost:3000/"), ("LANGFUSE_FLUSH_INTERVAL", "0.25")];
//! let config = Config::from_vars(|name| {
//!     env.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
//! }).unwrap();
//! assert_eq!(config.value(vars::BASE_URL).as_deref(), Some("http://localhost:3000"));
//! assert_eq!(config.value(vars::FLUSH_INTERVAL).as_deref(), Some("0.25"));
//! assert_eq!(config.value(vars::SECRET_KEY).as_deref(), Some("<redacted>"));
//!
//! let err = Config::from_vars(|name| (name == "LANGFUSE_SAMPLE_RATE").then(|| "2".into()))
//!     .unwrap_err();
//! assert!(err.to_string().contains("LANGFUSE_SAMPLE_RATE"));
//! ```

mod destinations;
mod settings;
#[cfg(feature = "store")]
mod unavailable;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::{Client, ClientBuilder, Guard};
use crate::export::Exporter;
use crate::model::{Json, TraceAttributes};
use crate::pipeline::{Mask, PipelineSettings};

/// Names of the variables [`Config::from_env`] reads (defined once, in a module the store
/// and the `observe` command share).
pub mod vars {
    pub use crate::vars::*;
}
pub use settings::{Setting, SETTINGS};

/// Langfuse Cloud (EU), the default server.
pub const DEFAULT_BASE_URL: &str = "https://cloud.langfuse.com";

pub use crate::vars::DEFAULT_STORE_PATH;

/// Which Langfuse API the Langfuse destination uses.
///
/// ```
/// use observe_runtime::config::LangfuseApi;
/// assert_eq!("ingestion".parse::<LangfuseApi>(), Ok(LangfuseApi::Ingestion));
/// assert!("grpc".parse::<LangfuseApi>().is_err());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
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
        /// The value as given (a URL without its password).
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
    /// A destination was asked for whose cargo feature this build leaves out.
    #[error(
        "{variable} asks for {destination}, but observe-runtime was built without its \
         `{feature}` feature: enable it in Cargo.toml"
    )]
    FeatureMissing {
        /// The variable that asks for it.
        variable: &'static str,
        /// The destination.
        destination: &'static str,
        /// The cargo feature that brings it.
        feature: &'static str,
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
        value: crate::redact::url(&value.into()).into_owned(),
        reason: reason.into(),
    }
}

/// Everything that decides where traces go and how they are batched: a builder, read from
/// the environment by [`Config::from_env`] or set in code; [`Config::value`] shows a
/// setting as its variable would spell it.
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
#[must_use]
pub struct Config {
    public_key: Option<String>,
    secret_key: Option<String>,
    base_url: String,
    base_url_variable: &'static str,
    langfuse_api: LangfuseApi,
    environment: Option<String>,
    release: Option<String>,
    version: Option<String>,
    sample_rate: f64,
    enabled: bool,
    flush_at: usize,
    flush_interval: Duration,
    timeout: Duration,
    debug: bool,
    capture_io: bool,
    quiet: bool,
    otlp_endpoint: Option<String>,
    otlp_endpoint_variable: &'static str,
    otlp_headers: Vec<(String, String)>,
    service_name: Option<String>,
    resource_attributes: Vec<(String, String)>,
    genai_content: bool,
    store_path: Option<PathBuf>,
    store_url: Option<String>,
    model_prices_file: Option<PathBuf>,
    #[cfg(feature = "store")]
    model_prices: Option<crate::pricing::PriceList>,
    queue_capacity: usize,
    max_queue_bytes: usize,
    retry_deadline: Duration,
    mask: Option<Mask>,
    exporters: Vec<Box<dyn Exporter>>,
    spool: crate::SpoolSettings,
    /// `spool.dir` was set (else it follows the store: `spool/` beside it).
    spool_dir_set: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Config");
        for s in SETTINGS {
            if let Some(value) = s.show(self) {
                d.field(s.variable, &value);
            }
        }
        d.field("version", &self.version)
            .field("queue_capacity", &self.queue_capacity)
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
            base_url_variable: vars::BASE_URL,
            langfuse_api: LangfuseApi::Otlp,
            environment: None,
            release: None,
            version: None,
            sample_rate: pipeline.sample_rate,
            enabled: true,
            flush_at: pipeline.max_batch_records,
            flush_interval: pipeline.flush_interval,
            timeout: Duration::from_secs(5),
            debug: false,
            capture_io: pipeline.capture_io,
            quiet: false,
            otlp_endpoint: None,
            otlp_endpoint_variable: vars::OTLP_TRACES_ENDPOINT,
            otlp_headers: Vec::new(),
            service_name: None,
            resource_attributes: Vec::new(),
            genai_content: false,
            store_path: None,
            store_url: None,
            model_prices_file: None,
            #[cfg(feature = "store")]
            model_prices: None,
            queue_capacity: pipeline.queue_capacity,
            max_queue_bytes: pipeline.max_queue_bytes,
            retry_deadline: Duration::from_secs(30),
            mask: None,
            exporters: Vec::new(),
            spool: pipeline.spool,
            spool_dir_set: false,
        }
    }
}

fn environment_valid(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= crate::limits::MAX_ENVIRONMENT_CHARS
        && !value.starts_with("langfuse")
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// An http(s) URL with a host. A base URL (one paths are appended to) takes no query
/// string or fragment: appending to it would build a broken endpoint.
fn check_url(variable: &'static str, url: &str, base: bool) -> Result<(), ConfigError> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid(variable, url, "expected an http(s) URL"));
    };
    if !matches!(scheme, "http" | "https") {
        return Err(invalid(
            variable,
            url,
            format!("expected an http(s) URL, the scheme is `{scheme}`"),
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid(
            variable,
            url,
            "expected an http(s) URL with a host",
        ));
    }
    if base && (rest.contains('?') || rest.contains('#')) {
        return Err(invalid(
            variable,
            url,
            "a base URL takes no query string or fragment (paths are appended to it)",
        ));
    }
    #[cfg(any(feature = "otlp", feature = "ingestion"))]
    crate::export::http::parse_url(url)
        .map_err(|e| invalid(variable, url, format!("expected an http(s) URL: {e}")))?;
    Ok(())
}

impl Config {
    /// The defaults, reading nothing from the environment.
    pub fn new() -> Config {
        Config::default()
    }

    /// Reads the variables of [`SETTINGS`] from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads the same variables from any source (tests use a map, and never touch the
    /// process environment). Values are trimmed; an empty one counts as unset.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        for setting in SETTINGS {
            let value = get(setting.variable).map(|v| v.trim().to_owned());
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                setting.read(&mut config, &value)?;
            }
        }
        config.validate()?;
        Ok(config)
    }

    /// A setting's value as its variable would spell it (secrets as `<redacted>`, URLs
    /// without their password), or `None` when it is unset or not a setting.
    ///
    /// ```
    /// use observe_runtime::config::{vars, Config};
    /// let config = Config::new().keys("pk-lf-1", "sk-lf-1").base_url("http://u:pw@h:3000/");
    /// assert_eq!(config.value(vars::PUBLIC_KEY).as_deref(), Some("pk-lf-1"));
    /// assert_eq!(config.value(vars::BASE_URL).as_deref(), Some("http://***@h:3000"));
    /// assert_eq!(config.value(vars::RELEASE), None);
    /// ```
    pub fn value(&self, variable: &str) -> Option<String> {
        settings::find(variable)?.show(self)
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
        check_url(self.base_url_variable, &self.base_url, true)?;
        if let Some(url) = &self.otlp_endpoint {
            let base = self.otlp_endpoint_variable == vars::OTLP_ENDPOINT;
            check_url(self.otlp_endpoint_variable, url, base)?;
        }
        if !(0.0..=1.0).contains(&self.sample_rate) {
            return Err(invalid(
                vars::SAMPLE_RATE,
                self.sample_rate.to_string(),
                "expected a number between 0 and 1",
            ));
        }
        if self.max_queue_bytes == 0 {
            return Err(invalid(
                vars::MAX_QUEUE_BYTES,
                "0",
                "expected a positive number of bytes",
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

    fn set_base_url(&mut self, url: &str, variable: &'static str) {
        self.base_url = url.trim_end_matches('/').to_owned();
        self.base_url_variable = variable;
    }

    fn set_otlp_endpoint(&mut self, url: String, variable: &'static str) {
        self.otlp_endpoint = Some(url);
        self.otlp_endpoint_variable = variable;
    }

    /// Merges `k=v,...` from `variable` into the collector's headers (a later name wins).
    fn add_otlp_headers(&mut self, variable: &'static str, text: &str) -> Result<(), ConfigError> {
        #[cfg(feature = "otlp")]
        for (name, value) in settings::parse_headers(variable, text)? {
            self.otlp_headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
            self.otlp_headers.push((name, value));
        }
        // Without the OTLP destination the headers have no use; another library of the
        // process may be the one they are for.
        #[cfg(not(feature = "otlp"))]
        let _ = (variable, text);
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
        self.set_base_url(&url.into(), vars::BASE_URL);
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

    /// Log the configuration and every request at `info` (`LANGFUSE_DEBUG`).
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

    /// Leaves out the line [`Config::init`] writes on stderr (`OBSERVE_QUIET`).
    pub fn quiet(mut self, on: bool) -> Config {
        self.quiet = on;
        self
    }

    /// Also send to this OTLP/HTTP collector traces URL (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`).
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Config {
        self.set_otlp_endpoint(url.into(), vars::OTLP_TRACES_ENDPOINT);
        self
    }

    /// Adds a header for the collector (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub fn otlp_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Config {
        self.otlp_headers.push((name.into(), value.into()));
        self
    }

    /// `service.name` of the OTLP resource (`OTEL_SERVICE_NAME`). Without it, the
    /// `service.name` of `OTEL_RESOURCE_ATTRIBUTES`, else OpenTelemetry's default,
    /// `unknown_service:<executable name>`.
    pub fn service_name(mut self, name: impl Into<String>) -> Config {
        self.service_name = Some(name.into());
        self
    }

    /// Adds or replaces an attribute of the OTLP resource (`OTEL_RESOURCE_ATTRIBUTES`);
    /// `service.name` here counts when [`Config::service_name`] is not set.
    ///
    /// ```
    /// use observe_runtime::config::{vars, Config};
    /// let c = Config::new().resource_attribute("service.name", "checkout");
    /// assert_eq!(c.value(vars::SERVICE_NAME).as_deref(), Some("checkout"));
    /// ```
    pub fn resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Config {
        self.set_resource_attribute(key.into(), value.into());
        self
    }

    fn set_resource_attribute(&mut self, key: String, value: String) {
        self.resource_attributes.retain(|(k, _)| *k != key);
        self.resource_attributes.push((key, value));
    }

    /// The `service.name` the OTLP resource carries: [`Config::service_name`], else the
    /// resource attributes', else `unknown_service:<executable name>`.
    #[cfg(feature = "otlp")]
    fn resolved_service_name(&self) -> String {
        self.given_service_name()
            .unwrap_or_else(vars::default_service_name)
    }

    /// The `service.name` the settings give, if any.
    fn given_service_name(&self) -> Option<String> {
        self.service_name.clone().or_else(|| {
            self.resource_attributes
                .iter()
                .find(|(k, _)| k == "service.name")
                .map(|(_, v)| v.clone())
        })
    }

    /// Writes the OpenTelemetry GenAI content attributes (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`, `gen_ai.system_instructions`: the chat input and output in
    /// the conventions' message schema) on generations sent to the OTLP collector
    /// (`OBSERVE_GENAI_CONTENT`). Off by default: they repeat the input and output, which
    /// Langfuse reads already, for backends that only read the conventions.
    ///
    /// ```
    /// use observe_runtime::config::{vars, Config};
    /// let c = Config::new().genai_content(true);
    /// assert_eq!(c.value(vars::GENAI_CONTENT).as_deref(), Some("true"));
    /// ```
    pub fn genai_content(mut self, on: bool) -> Config {
        self.genai_content = on;
        self
    }

    /// The local store's file (`OBSERVE_STORE_PATH`); with keys set, traces go to both.
    pub fn store_path(mut self, path: impl Into<PathBuf>) -> Config {
        self.store_path = Some(path.into());
        self
    }

    /// A team's PostgreSQL store (`OBSERVE_STORE_URL`): `postgres://user:password@host/db`,
    /// its missing parts from libpq's variables (`PGHOST`, `PGUSER`, `PGPASSWORD`...).
    /// Needs the `postgres` feature. Set alone, it replaces the local SQLite store; with
    /// `OBSERVE_STORE_PATH`, traces go to both.
    ///
    /// ```
    /// use observe_runtime::config::{vars, Config};
    /// let c = Config::new().store_url("postgres://observe:pw@db.internal/observe");
    /// assert_eq!(c.value(vars::STORE_URL).as_deref(), Some("postgres://***@db.internal/observe"));
    /// assert_eq!(c.local_store_path(), None);
    /// ```
    pub fn store_url(mut self, url: impl Into<String>) -> Config {
        self.store_url = Some(url.into());
        self
    }

    /// Records the queue holds before new ones are dropped and counted.
    pub fn queue_capacity(mut self, capacity: usize) -> Config {
        self.queue_capacity = capacity;
        self
    }

    /// Bytes of records the pipeline holds at most, queued or being sent; one destination
    /// holds at most half (`OBSERVE_MAX_QUEUE_BYTES`).
    pub fn max_queue_bytes(mut self, bytes: usize) -> Config {
        self.max_queue_bytes = bytes;
        self
    }

    /// Whether remote destinations spool what they cannot deliver yet (`OBSERVE_SPOOL`):
    /// [`SpoolMode::Fallback`](crate::SpoolMode) keeps on disk what would be dropped,
    /// [`SpoolMode::First`](crate::SpoolMode) writes every record there first.
    ///
    /// ```
    /// use observe_runtime::{config::Config, SpoolMode};
    /// let config = Config::new().spool(SpoolMode::First).spool_dir("/tmp/app-spool");
    /// assert_eq!(config.value("OBSERVE_SPOOL").as_deref(), Some("first"));
    /// ```
    pub fn spool(mut self, mode: crate::SpoolMode) -> Config {
        self.spool.mode = mode;
        self
    }

    /// The spool's root directory (`OBSERVE_SPOOL_DIR`; default `spool/` beside the store's
    /// file, `.observe/spool`).
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Config {
        self.spool.dir = dir.into();
        self.spool_dir_set = true;
        self
    }

    /// Bytes one destination's spool takes at most (`OBSERVE_SPOOL_MAX_BYTES`).
    pub fn spool_max_bytes(mut self, bytes: u64) -> Config {
        self.spool.max_bytes = bytes;
        self
    }

    /// Longest time spent retrying one batch before it is dropped.
    pub fn retry_deadline(mut self, deadline: Duration) -> Config {
        self.retry_deadline = deadline;
        self
    }

    /// A model price list file (Langfuse's `default-model-prices.json` format) the local
    /// store prices generations with, on top of the built-in list (`OBSERVE_MODEL_PRICES`).
    pub fn model_prices_file(mut self, path: impl Into<PathBuf>) -> Config {
        self.model_prices_file = Some(path.into());
        self
    }

    /// Model prices added in code, on top of the built-in list and the file: the local store
    /// prices generations that have usage and no cost with them.
    ///
    /// ```
    /// use observe_runtime::config::Config;
    /// use observe_runtime::pricing::{ModelPrice, PriceList};
    /// let ours = ModelPrice::new("house-llm", "(?i)^house-llm$").unwrap().price("input", 1e-6);
    /// let config = Config::new().model_prices(PriceList::new().with_model(ours));
    /// # drop(config);
    /// ```
    #[cfg(feature = "store")]
    #[cfg_attr(docsrs, doc(cfg(feature = "store")))]
    pub fn model_prices(mut self, prices: crate::pricing::PriceList) -> Config {
        self.model_prices = Some(prices);
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
        match &self.store_path {
            Some(path) => Some(path.clone()),
            None if !self.sends_over_network() => Some(PathBuf::from(DEFAULT_STORE_PATH)),
            None => None,
        }
    }

    fn langfuse_keys(&self) -> Option<(&str, &str)> {
        match (&self.public_key, &self.secret_key) {
            (Some(pk), Some(sk)) => Some((pk, sk)),
            _ => None,
        }
    }

    fn sends_over_network(&self) -> bool {
        self.langfuse_keys().is_some() || self.otlp_endpoint.is_some() || self.store_url.is_some()
    }

    /// How the pipeline batches, samples and masks, from these settings.
    /// The directory remote destinations spool to (`OBSERVE_SPOOL_DIR`, else `spool/`
    /// beside the store's file), whether or not the spool is on: where to tell the user
    /// their unsent records are.
    ///
    /// ```
    /// use observe_runtime::config::Config;
    /// let config = Config::new().store_path("/data/app/traces.db");
    /// assert_eq!(config.spool_root(), std::path::Path::new("/data/app/spool"));
    /// ```
    pub fn spool_root(&self) -> PathBuf {
        self.spool_settings().dir
    }

    /// Whether remote destinations spool, as configured.
    pub fn spool_mode(&self) -> crate::SpoolMode {
        self.spool.mode
    }

    /// The spool's settings, its directory beside the store unless one was named.
    fn spool_settings(&self) -> crate::SpoolSettings {
        let mut spool = self.spool.clone();
        if !self.spool_dir_set {
            let store = self
                .store_path
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE_PATH));
            spool.dir = store
                .parent()
                .map_or_else(|| PathBuf::from("spool"), |p| p.join("spool"));
        }
        spool
    }

    pub(crate) fn pipeline_settings(&self) -> PipelineSettings {
        PipelineSettings {
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
            spool: self.spool_settings(),
            ..PipelineSettings::default()
        }
    }

    /// Builds the client with the configured destinations without installing it globally;
    /// `None` when tracing is disabled. One `info` line says where traces go.
    pub fn build_client(self) -> Result<Option<Client>, ConfigError> {
        Ok(self.build()?.map(|(client, _)| client))
    }

    /// The client and the sentence saying where its traces go.
    fn build(self) -> Result<Option<(Client, String)>, ConfigError> {
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
        let mut builder = Client::builder().config(&self);
        if self.langfuse_keys().is_some() {
            builder = builder.trace_url_base(self.base_url.clone());
        }
        let network = self.sends_over_network();
        let mut destinations = Vec::new();
        for d in destinations::build(self)? {
            destinations.push(d.description);
            builder = builder.boxed_exporter(d.exporter);
        }
        let sentence = if network {
            format!("traces go to {}", destinations.join(" and "))
        } else {
            format!(
                "no Langfuse keys and no OTLP endpoint: nothing goes over the network; \
                 traces go to {}",
                destinations.join(" and ")
            )
        };
        tracing::info!("observe: {sentence}");
        Ok(Some((builder.build(), sentence)))
    }

    /// Builds the client and installs it as the global default for `#[observe]`. With
    /// tracing disabled, installs nothing and returns a guard that does nothing.
    ///
    /// An `info` line says where traces go; a program whose `tracing` subscriber does not
    /// take that line (or that has none) gets the sentence on stderr instead, so it is said
    /// once either way; [`Config::quiet`] (`OBSERVE_QUIET=true`) leaves the stderr line out.
    pub fn init(self) -> Result<Guard, ConfigError> {
        let on_stderr = says_on_stderr(self.quiet);
        Ok(match self.build()? {
            Some((client, sentence)) => {
                if on_stderr {
                    eprintln!("observe: {sentence}");
                }
                client.install_global()
            }
            None => Guard::disabled(),
        })
    }
}

/// Whether `init` writes its sentence on stderr: not when asked to be quiet, nor when the
/// current `tracing` subscriber takes the `info` line that says the same.
fn says_on_stderr(quiet: bool) -> bool {
    !quiet && !tracing::enabled!(tracing::Level::INFO)
}

// Defined here rather than with the builder: the configuration knows the client, the client
// does not know the configuration (it takes plain `PipelineSettings`).
impl ClientBuilder {
    /// Takes the pipeline's settings from `config`: queue, batches, flush interval, sample
    /// rate, input/output capture, mask, and the environment, release and version every
    /// trace starts with. The destinations `config` names are not added (that is
    /// [`Config::build_client`]).
    pub fn config(self, config: &Config) -> Self {
        self.settings(config.pipeline_settings())
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

// These run in the builds that leave a destination out (`.ci/run` tests the minimal set).
#[cfg(all(test, not(all(feature = "otlp", feature = "store"))))]
mod tests {
    use super::*;

    /// Built without `otlp`, Langfuse keys or a collector are an error naming the feature.
    #[test]
    #[cfg(not(feature = "otlp"))]
    fn a_destination_left_out_of_the_build_is_an_error_naming_its_feature() {
        let err = Config::new().keys("pk", "sk").build_client().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::FeatureMissing {
                    feature: "otlp",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("LANGFUSE_PUBLIC_KEY"), "{err}");
        let err = Config::new()
            .otlp_endpoint("http://collector:4318/v1/traces")
            .build_client()
            .unwrap_err();
        assert!(err.to_string().contains("`otlp` feature"), "{err}");
    }

    /// Built without `store`, nothing set means stderr; a named store path is an error.
    #[test]
    #[cfg(not(feature = "store"))]
    fn without_the_store_feature_traces_go_to_stderr() {
        let client = Config::new().build_client().unwrap().unwrap();
        client.shutdown(Duration::from_secs(1));
        let err = Config::new().store_path("x.db").build_client().unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::FeatureMissing {
                    feature: "store",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[cfg(test)]
mod stderr_line_tests {
    use tracing::Level;

    fn subscriber(level: Level) -> impl tracing::Subscriber {
        tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::sink)
            .finish()
    }

    /// With a subscriber that prints `info`, `init`'s sentence would show twice.
    #[test]
    fn the_sentence_goes_to_stderr_only_when_no_subscriber_takes_the_info_line() {
        assert!(
            super::says_on_stderr(false),
            "no subscriber: stderr says it"
        );
        assert!(!super::says_on_stderr(true), "quiet: nothing on stderr");
        tracing::subscriber::with_default(subscriber(Level::INFO), || {
            assert!(!super::says_on_stderr(false), "the subscriber prints it");
        });
        tracing::subscriber::with_default(subscriber(Level::WARN), || {
            assert!(
                super::says_on_stderr(false),
                "the subscriber drops info lines"
            );
        });
    }
}
