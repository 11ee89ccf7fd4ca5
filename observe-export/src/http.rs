//! The HTTP sender the OTLP, ingestion and score exporters share: one blocking client per
//! exporter, a per-request timeout, and retries with exponential backoff and jitter inside an
//! overall deadline.
//!
//! Only failures that another try can fix are retried: `429`, `502`, `503`, `504` and
//! transport errors (connection refused or reset, DNS, a connection that timed out). A
//! `Retry-After` header (seconds, or an HTTP date) is honoured for the destination as a
//! whole: the next batches wait for it too, and a wait that would end past a batch's
//! deadline gives that batch up at once, unsent (with the spool, it waits on disk). A
//! request whose answer never came (the request timeout) is not retried: the server may
//! have taken it. A `shutdown` under way caps both the retries and each
//! request at its own deadline. A `413` is [`ExportError::TooLarge`]: the exporters split the
//! batch and send the halves. Every other status is final: a `4xx` drops the batch with
//! an error naming what to check (`401`: the keys), a `5xx` other than the three above too.
//!
//! This runs on the exporter's own thread; neither the instrumented code nor the other
//! destinations wait for it.
//!
//! ```
//! use std::time::Duration;
//! use observe_export::http::{HttpOptions, RetryPolicy};
//!
//! let options = HttpOptions {
//!     timeout: Duration::from_secs(5),
//!     retry: RetryPolicy { deadline: Duration::from_secs(10), ..RetryPolicy::default() },
//!     debug: false,
//! };
//! assert!(options.retry.initial_backoff < options.retry.max_backoff);
//! ```

use std::time::{Duration, Instant, SystemTime};

use reqwest::blocking::Client as HttpClient;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, LOCATION, RETRY_AFTER};

use observe_model::export::{ExportContext, ExportError};

/// The SDK name sent in `x-langfuse-sdk-name` (and the ingestion API's `x_langfuse_sdk_name`).
pub(crate) const SDK_NAME: &str = "rust-observe";

/// The SDK version sent with it: this crate's version.
pub(crate) const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a batch is retried.
///
/// ```
/// use observe_export::http::RetryPolicy;
/// let p = RetryPolicy::default();
/// assert_eq!(p.deadline.as_secs(), 30);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Longest time spent on one batch, all attempts and waits included.
    pub deadline: Duration,
    /// Wait before the first retry; doubled after each (with jitter).
    pub initial_backoff: Duration,
    /// Longest wait between two attempts, unless the server asks for more with `Retry-After`.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            deadline: Duration::from_secs(30),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (0-based): exponential, capped, and jittered
    /// into `[half, full]` so that many clients do not retry in step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let half = full / 2;
        let jitter_nanos = full.saturating_sub(half).as_nanos() as u64;
        half + Duration::from_nanos(fastrand::u64(0..=jitter_nanos))
    }
}

/// Transport settings every HTTP exporter takes.
///
/// ```
/// use observe_export::http::HttpOptions;
/// assert_eq!(HttpOptions::default().timeout.as_secs(), 5);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    /// Timeout of one request (`LANGFUSE_TIMEOUT`).
    pub timeout: Duration,
    /// Retries of one batch.
    pub retry: RetryPolicy,
    /// Log every request at `info` level instead of `debug` (`LANGFUSE_DEBUG`).
    pub debug: bool,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            debug: false,
        }
    }
}

/// An HTTP exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The URL does not parse, or is not `http`/`https`.
    #[error("`{url}` is not a usable http(s) URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// Why not.
        reason: String,
    },
    /// A header name or value is not valid HTTP.
    #[error("header `{name}` has an invalid name or value")]
    InvalidHeader {
        /// The header's name as given.
        name: String,
    },
}

/// Parses an http(s) URL with a host; the error names the URL without its password.
///
/// ```
/// use observe_export::http::parse_url;
/// assert!(parse_url("https://cloud.langfuse.com").is_ok());
/// assert!(parse_url("ftp://host/").is_err());
/// ```
pub fn parse_url(url: &str) -> Result<reqwest::Url, SetupError> {
    let invalid = |reason: String| SetupError::InvalidUrl {
        url: observe_model::redact::url(url).into_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "the scheme is `{}`, expected http or https",
            parsed.scheme()
        )));
    }
    if !matches!(parsed.host_str(), Some(host) if !host.is_empty()) {
        return Err(invalid("no host".to_owned()));
    }
    Ok(parsed)
}

/// One destination URL with its fixed headers, and what a `401` means there.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// Name for logs and errors (`Langfuse OTLP`, `OTLP collector`...).
    pub(crate) destination: String,
    pub(crate) url: reqwest::Url,
    pub(crate) headers: HeaderMap,
    /// Appended to a `401`/`403` error: what to check.
    pub(crate) auth_hint: &'static str,
}

impl Target {
    /// The URL as printed: without its password.
    pub(crate) fn shown_url(&self) -> std::borrow::Cow<'_, str> {
        observe_model::redact::url(self.url.as_str())
    }
}

/// Follows a redirect only within the origin it started at: the body and the credentials
/// of a batch never go to another host, scheme or port.
pub(crate) fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if !same_origin {
            attempt.stop()
        } else if attempt.previous().len() > 5 {
            attempt.error("more than 5 redirects")
        } else {
            attempt.follow()
        }
    })
}

/// A successful response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// A blocking client with the retry rules above, and a count of the retries it made.
///
/// The client is built on first use, on the worker thread: reqwest's blocking client cannot
/// be built (nor dropped) inside an async runtime, and `init()` is often called from
/// `#[tokio::main]`.
pub(crate) struct Sender {
    client: Option<HttpClient>,
    options: HttpOptions,
    retries: u64,
    context: ExportContext,
    /// Set by a failure that is retried, cleared by a success: the first failure of an
    /// outage is logged when it happens, the rest of it at debug level.
    in_outage: bool,
    /// The smallest request refused as too large (`413`) in this episode: the episode's
    /// first `413` is a warning, the halves refused after it are not. A request at least
    /// that large taken ends it (the server's limit changed).
    too_large: Option<usize>,
    /// A `429`/`503` asked the whole destination to wait until then: no request goes out
    /// before, for this batch or the next ones.
    blocked_until: Option<Instant>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("options", &self.options)
            .field("retries", &self.retries)
            .finish()
    }
}

/// What one attempt came to.
enum Attempt {
    Done(Response),
    Retry { wait: Option<Duration>, why: String },
    Final(ExportError),
}

impl Sender {
    pub(crate) fn new(options: HttpOptions) -> Sender {
        Sender {
            client: None,
            options,
            retries: 0,
            context: ExportContext::default(),
            in_outage: false,
            too_large: None,
            blocked_until: None,
        }
    }

    /// Counts retries in the pipeline's counters and stops at its shutdown deadline.
    pub(crate) fn attach(&mut self, context: ExportContext) {
        self.context = context;
    }

    /// Logs the first `413` of an episode as a warning: the caller splits the batch, and
    /// each half refused after it would say the same again.
    fn note_too_large(&mut self, target: &Target, bytes: usize) {
        if let Some(smallest) = &mut self.too_large {
            *smallest = (*smallest).min(bytes);
            tracing::debug!(
                destination = %target.destination,
                "observe: {} answered 413 to {bytes} bytes",
                target.shown_url()
            );
            return;
        }
        self.too_large = Some(bytes);
        tracing::warn!(
            destination = %target.destination,
            "observe: {} answered 413 (request too large) to {bytes} bytes: batches are split \
             in halves; a record too large on its own is counted \
             failed (later 413s of this episode are logged at debug level)",
            target.shown_url()
        );
    }

    /// Logs the first failure of an outage as a warning, when it happens. Only failures
    /// that are retried: a final refusal is counted and logged by the pipeline.
    fn note_failure(&mut self, target: &Target, why: &str) {
        if self.in_outage {
            return;
        }
        self.in_outage = true;
        tracing::warn!(
            destination = %target.destination,
            "observe: {why}; retrying for up to {:.1}s (retries and failures are counted in stats)",
            self.options.retry.deadline.as_secs_f64()
        );
    }

    fn client(&mut self) -> Result<HttpClient, reqwest::Error> {
        if let Some(client) = &self.client {
            return Ok(client.clone());
        }
        let client = HttpClient::builder()
            .timeout(self.options.timeout)
            .connect_timeout(self.options.timeout)
            .user_agent(concat!("rust-observe/", env!("CARGO_PKG_VERSION")))
            .redirect(same_origin_redirects())
            .build()?;
        self.client = Some(client.clone());
        Ok(client)
    }

    /// Retries made so far.
    pub(crate) fn retries(&self) -> u64 {
        self.retries
    }

    /// POSTs `body` to the target with `extra` headers, retrying as the module says.
    pub(crate) fn post(
        &mut self,
        target: &Target,
        extra: &[(HeaderName, HeaderValue)],
        body: &[u8],
    ) -> Result<Response, ExportError> {
        let client = self.client().map_err(|e| ExportError::Unavailable {
            destination: target.destination.clone(),
            message: format!("could not build the HTTP client: {}", error_chain(&e)),
        })?;
        let started = Instant::now();
        let mut deadline = started + self.options.retry.deadline;
        if let Some(shutdown) = self.context.deadline() {
            deadline = deadline.min(shutdown);
        }
        let mut attempt: u32 = 0;
        if let Some(until) = self.blocked_until {
            // The server's `Retry-After` holds for the destination, not for one batch.
            let now = Instant::now();
            if until > deadline {
                return Err(ExportError::Unavailable {
                    destination: target.destination.clone(),
                    message: format!(
                        "the server asked to wait {:.1}s more, past this batch's deadline; \
                         not sent",
                        until.saturating_duration_since(now).as_secs_f64()
                    ),
                });
            }
            std::thread::sleep(until.saturating_duration_since(now));
            self.blocked_until = None;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ExportError::Unavailable {
                    destination: target.destination.clone(),
                    message: format!("the deadline passed ({attempt} retries made)"),
                });
            }
            let timeout = self.options.timeout.min(left);
            self.context.note_request(true);
            let outcome = Self::attempt(&client, target, extra, body, timeout);
            self.context.note_request(false);
            if matches!(outcome, Attempt::Final(ExportError::Unavailable { .. })) {
                // Only a request with no answer ends that way (see `attempt`).
                self.context.note_unanswered();
            }
            let (wait, why) = match outcome {
                Attempt::Done(response) => {
                    if self.in_outage {
                        self.in_outage = false;
                        tracing::info!(destination = %target.destination, "observe: sending again");
                    }
                    if self.too_large.is_some_and(|refused| body.len() >= refused) {
                        self.too_large = None;
                    }
                    self.log_sent(target, body.len(), response.status, attempt);
                    return Ok(response);
                }
                Attempt::Final(err) => {
                    if matches!(err, ExportError::TooLarge { .. }) {
                        self.note_too_large(target, body.len());
                    }
                    return Err(err);
                }
                Attempt::Retry { wait, why } => (wait, why),
            };
            self.note_failure(target, &why);
            let server_asked = wait.is_some();
            let wait = wait.unwrap_or_else(|| self.options.retry.backoff(attempt));
            let now = Instant::now();
            if server_asked {
                self.blocked_until = Some(now + wait);
            }
            if now + wait > deadline {
                let message = if server_asked {
                    format!(
                        "{why}; the server asked to retry after {:.1}s, past the {:.1}s deadline \
                         ({attempt} retries made)",
                        wait.as_secs_f64(),
                        self.options.retry.deadline.as_secs_f64()
                    )
                } else {
                    format!(
                        "{why}; gave up after {attempt} retries in {:.1}s",
                        now.duration_since(started).as_secs_f64()
                    )
                };
                return Err(ExportError::Unavailable {
                    destination: target.destination.clone(),
                    message,
                });
            }
            tracing::debug!(
                destination = %target.destination,
                "observe: {why}; retrying in {:.2}s",
                wait.as_secs_f64()
            );
            std::thread::sleep(wait);
            self.retries += 1;
            self.context.count_retry();
            attempt += 1;
        }
    }

    fn attempt(
        client: &HttpClient,
        target: &Target,
        extra: &[(HeaderName, HeaderValue)],
        body: &[u8],
        timeout: Duration,
    ) -> Attempt {
        let mut request = client
            .post(target.url.clone())
            .timeout(timeout)
            .headers(target.headers.clone());
        for (name, value) in extra {
            request = request.header(name.clone(), value.clone());
        }
        let response = match request.body(body.to_vec()).send() {
            Ok(response) => response,
            Err(err) if err.is_timeout() && !err.is_connect() => {
                // The request went out and no answer came: the server may have taken it, and
                // Langfuse keeps every copy. Not resent here; with the spool it waits on disk
                // and is resent once, counted as `resent`.
                let err = err.without_url();
                return Attempt::Final(ExportError::Unavailable {
                    destination: target.destination.clone(),
                    message: format!(
                        "no answer from {} within {:.1}s ({}); the server may have taken the \
                         batch, so it is not sent again blindly",
                        target.shown_url(),
                        timeout.as_secs_f64(),
                        error_chain(&err)
                    ),
                });
            }
            Err(err) => {
                // reqwest's text names the URL, password included.
                let err = err.without_url();
                return Attempt::Retry {
                    wait: None,
                    why: format!(
                        "request to {} failed: {}",
                        target.shown_url(),
                        error_chain(&err)
                    ),
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let location = response
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| observe_model::redact::url(v).into_owned());
        let body = response.bytes().map(|b| b.to_vec()).unwrap_or_default();
        match status {
            200..=299 => Attempt::Done(Response { status, body }),
            429 | 502 | 503 | 504 => Attempt::Retry {
                wait: retry_after,
                why: format!("{} answered {status}", target.shown_url()),
            },
            413 => Attempt::Final(ExportError::TooLarge {
                destination: target.destination.clone(),
                message: format!("{} answered 413", target.shown_url()),
            }),
            _ => Attempt::Final(rejection(target, status, &body, location.as_deref())),
        }
    }

    fn log_sent(&self, target: &Target, bytes: usize, status: u16, retries: u32) {
        if self.options.debug {
            tracing::info!(
                destination = %target.destination,
                "observe: sent {bytes} bytes to {}: {status} ({retries} retries)",
                target.shown_url()
            );
        } else {
            tracing::debug!(
                destination = %target.destination,
                "observe: sent {bytes} bytes to {}: {status} ({retries} retries)",
                target.shown_url()
            );
        }
    }
}

/// The error for a final, non-retried status, with what to check; `location` is where a
/// redirect pointed.
fn rejection(target: &Target, status: u16, body: &[u8], location: Option<&str>) -> ExportError {
    let said = String::from_utf8_lossy(&body[..body.len().min(300)])
        .trim()
        .to_owned();
    let said = if said.is_empty() {
        String::new()
    } else {
        format!(" (server said: {said})")
    };
    let redirect;
    let hint = match status {
        300..=399 => {
            redirect = format!(
                "a redirect to {}, not followed: redirects are followed only within the \
                 configured origin, so that keys and data never go to another host; set the \
                 base URL to where the server is; not retried, the batch is counted failed",
                location.unwrap_or("an address not given")
            );
            redirect.as_str()
        }
        401 | 403 => target.auth_hint,
        404 => {
            "check the base URL / endpoint; a Langfuse server older than v3.x has no OTLP \
                endpoint: set OBSERVE_LANGFUSE_API=ingestion for it"
        }
        400..=499 => "the server refused the data; not retried, the batch is counted failed",
        _ => "server error; not retried, the batch is counted failed",
    };
    ExportError::Rejected {
        destination: target.destination.clone(),
        message: format!("{} answered {status}: {hint}{said}", target.shown_url()),
    }
}

/// The error and its sources on one line (reqwest's own text is terse).
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// Parses `Retry-After`: delay seconds (`120`, also `1.5`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, read by `httpdate`), relative to `now`. A date in the
/// past is no wait.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (0.0..1e9)
            .contains(&secs)
            .then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `Authorization: Basic base64(public_key:secret_key)`.
pub(crate) fn basic_auth(public_key: &str, secret_key: &str) -> Option<HeaderValue> {
    use base64::Engine as _;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("{public_key}:{secret_key}"));
    let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

/// How the SDK's identification headers are spelled: `x-langfuse-sdk-name` (OTLP, scores),
/// or `x_langfuse_sdk_name` on the legacy ingestion API, as the v2 SDK sends them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderStyle {
    Hyphens,
    Underscores,
}

/// Basic auth and the SDK's identification headers, for any Langfuse endpoint.
pub(crate) fn langfuse_headers(
    public_key: &str,
    secret_key: &str,
    style: HeaderStyle,
) -> Result<HeaderMap, SetupError> {
    let mut headers = HeaderMap::new();
    let auth = basic_auth(public_key, secret_key).ok_or(SetupError::InvalidHeader {
        name: "authorization".to_owned(),
    })?;
    headers.insert(reqwest::header::AUTHORIZATION, auth);
    for (name, value) in [
        ("x-langfuse-sdk-name", SDK_NAME),
        ("x-langfuse-sdk-version", SDK_VERSION),
        ("x-langfuse-public-key", public_key),
    ] {
        match style {
            HeaderStyle::Hyphens => insert(&mut headers, name, value)?,
            HeaderStyle::Underscores => insert(&mut headers, &name.replace('-', "_"), value)?,
        }
    }
    Ok(headers)
}

/// Inserts a header, refusing an invalid name or value.
/// Whether `name: value` is a valid HTTP header, as a destination would send it.
///
/// ```
/// assert!(observe_export::http::valid_header("x-tenant", "acme"));
/// assert!(!observe_export::http::valid_header("bad name", "v"));
/// ```
pub fn valid_header(name: &str, value: &str) -> bool {
    HeaderName::from_bytes(name.as_bytes()).is_ok() && HeaderValue::from_str(value).is_ok()
}

pub(crate) fn insert(headers: &mut HeaderMap, name: &str, value: &str) -> Result<(), SetupError> {
    let invalid = || SetupError::InvalidHeader {
        name: name.to_owned(),
    };
    let n = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| invalid())?;
    let v = HeaderValue::from_str(value.trim()).map_err(|_| invalid())?;
    headers.append(n, v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            deadline: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for _ in 0..100 {
            let b0 = p.backoff(0);
            assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100));
            let b3 = p.backoff(3);
            assert!(b3 >= Duration::from_millis(400) && b3 <= Duration::from_millis(800));
            let b30 = p.backoff(30);
            assert!(b30 >= Duration::from_millis(500) && b30 <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        let oct_2015 = UNIX_EPOCH + Duration::from_secs(1_445_412_470);
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", oct_2015),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 99 Nov 1994 08:49:37 GMT", now),
            None
        );
    }

    #[test]
    fn basic_auth_is_base64_of_pk_colon_sk() {
        let v = basic_auth("pk-lf-1", "sk-lf-2").unwrap();
        assert_eq!(v.to_str().unwrap(), "Basic cGstbGYtMTpzay1sZi0y");
        assert!(v.is_sensitive());
    }
}
