//! Where `observe push` sends: Langfuse (OTLP or the ingestion API) or an OpenTelemetry
//! collector, configured by the environment variables the library reads and by flags, built
//! as observe-export's own exporters so that the wire format, the retries and the 207 and
//! 413 handling are the library's.

use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use observe_export::http::{HttpOptions, RetryPolicy};
use observe_export::ingestion::IngestionExporter;
use observe_export::otlp::{OtlpExporter, Resource};
use observe_model::export::Exporter;
use observe_model::{redact, vars};

use crate::cli_args::{PushApi, PushArgs, PushTo};

/// Langfuse's server when nothing names one (as the library's).
const DEFAULT_BASE_URL: &str = "https://cloud.langfuse.com";

/// A destination ready to send, and the names it goes by.
pub struct Destination {
    /// The exporter.
    pub exporter: Box<dyn Exporter>,
    /// Where it sends, for people: its URL without a password.
    pub description: String,
    /// What the store remembers pushed traces under: the server (and the Langfuse project's
    /// public key), never a secret. Both Langfuse APIs share it, since they fill the same
    /// project.
    pub key: String,
    /// Whether it takes scores (a collector takes spans only).
    pub sends_scores: bool,
}

/// The environment as the destination reads it; a test passes its own.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process's environment; an empty variable counts as unset, as in the library.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The destination `args` and `env` name: `--to`, else the one configured; both configured
/// without `--to` is an error that says how to choose.
pub fn from_args(args: &PushArgs, env: Env<'_>) -> Result<Destination> {
    let keys = langfuse_keys(env);
    let endpoint = collector_endpoint(args, env);
    let to = match (args.to, &keys, &endpoint) {
        (Some(to), _, _) => to,
        (None, Some(_), None) => PushTo::Langfuse,
        (None, None, Some(_)) => PushTo::Collector,
        (None, Some(_), Some(_)) => bail!(
            "both Langfuse ({}) and a collector ({}) are configured: choose one with \
             --to langfuse or --to collector",
            vars::PUBLIC_KEY,
            vars::OTLP_ENDPOINT
        ),
        (None, None, None) => bail!(
            "no destination: set {} and {} for Langfuse (and {} for your server), or {} \
             (or --endpoint) for an OpenTelemetry collector",
            vars::PUBLIC_KEY,
            vars::SECRET_KEY,
            vars::BASE_URL,
            vars::OTLP_ENDPOINT
        ),
    };
    let options = http_options(args.retry_deadline.0, env)?;
    match to {
        PushTo::Langfuse => {
            let (public_key, secret_key) = keys.ok_or_else(|| {
                anyhow!(
                    "--to langfuse needs {} and {} in the environment",
                    vars::PUBLIC_KEY,
                    vars::SECRET_KEY
                )
            })?;
            let api = match args.api {
                Some(api) => api,
                None => api_from_env(env)?,
            };
            langfuse(
                args.base_url.as_deref(),
                env,
                api,
                &public_key,
                &secret_key,
                options,
            )
        }
        PushTo::Collector => {
            let endpoint = endpoint.ok_or_else(|| {
                anyhow!(
                    "--to collector needs --endpoint or {} ({})",
                    vars::OTLP_ENDPOINT,
                    vars::OTLP_TRACES_ENDPOINT
                )
            })?;
            collector(&endpoint, env, options)
        }
    }
}

/// The destination whose spool directory is `name` (`langfuse-otlp`, `langfuse-ingestion`
/// or `otlp`, as the library names them), configured as [`from_args`] configures it: the
/// same headers, resource and retry deadline.
pub fn for_spool(name: &str, args: &PushArgs, env: Env<'_>) -> Result<Destination> {
    let options = http_options(args.retry_deadline.0, env)?;
    let api = match name {
        "langfuse-otlp" => PushApi::Otlp,
        "langfuse-ingestion" => PushApi::Ingestion,
        "otlp" => {
            let endpoint = collector_endpoint(args, env).ok_or_else(|| {
                anyhow!(
                    "set {} (or pass --endpoint) to push it",
                    vars::OTLP_ENDPOINT
                )
            })?;
            return collector(&endpoint, env, options);
        }
        other => bail!("`{other}` is not a destination observe can push to"),
    };
    let (public_key, secret_key) = langfuse_keys(env).ok_or_else(|| {
        anyhow!(
            "set {} and {} (and {} unless it is Langfuse Cloud) to push it",
            vars::PUBLIC_KEY,
            vars::SECRET_KEY,
            vars::BASE_URL
        )
    })?;
    langfuse(
        args.base_url.as_deref(),
        env,
        api,
        &public_key,
        &secret_key,
        options,
    )
}

/// Langfuse at `base_url` with the keys given, speaking `api` (else the one
/// `OBSERVE_LANGFUSE_API` names, else OTLP), each batch retried until `retry_deadline`
/// (`None`: no limit): the destination `observe serve --forward-to` sends to.
#[cfg(feature = "serve")]
pub fn langfuse_at(
    base_url: &str,
    api: Option<PushApi>,
    keys: (&str, &str),
    retry_deadline: Option<Duration>,
    env: Env<'_>,
) -> Result<Destination> {
    let api = match api {
        Some(api) => api,
        None => api_from_env(env)?,
    };
    let options = http_options(retry_deadline, env)?;
    langfuse(Some(base_url), env, api, keys.0, keys.1, options)
}

/// The OpenTelemetry collector whose traces URL is `endpoint`, with the headers the
/// environment names, each batch retried until `retry_deadline` (`None`: no limit).
#[cfg(feature = "serve")]
pub fn collector_at(
    endpoint: &str,
    retry_deadline: Option<Duration>,
    env: Env<'_>,
) -> Result<Destination> {
    collector(endpoint, env, http_options(retry_deadline, env)?)
}

/// The Langfuse API `OBSERVE_LANGFUSE_API` names, OTLP when unset.
fn api_from_env(env: Env<'_>) -> Result<PushApi> {
    Ok(match env(vars::API).as_deref().map(str::trim) {
        None | Some("otlp") => PushApi::Otlp,
        Some("ingestion") => PushApi::Ingestion,
        Some(other) => bail!("{}={other}: expected otlp or ingestion", vars::API),
    })
}

/// The public and secret keys, when both are set.
pub fn langfuse_keys(env: Env<'_>) -> Option<(String, String)> {
    Some((env(vars::PUBLIC_KEY)?, env(vars::SECRET_KEY)?))
}

/// `--endpoint`, else the traces endpoint as is, else the base endpoint with `/v1/traces`.
fn collector_endpoint(args: &PushArgs, env: Env<'_>) -> Option<String> {
    args.endpoint
        .clone()
        .or_else(|| env(vars::OTLP_TRACES_ENDPOINT))
        .or_else(|| {
            env(vars::OTLP_ENDPOINT).map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })
}

/// The request timeout (`LANGFUSE_TIMEOUT`, seconds) and the retry deadline (`None`: the
/// user turned it off).
fn http_options(retry_deadline: Option<Duration>, env: Env<'_>) -> Result<HttpOptions> {
    let mut options = HttpOptions::default();
    if let Some(text) = env(vars::TIMEOUT) {
        let seconds: f64 = text
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s > 0.0)
            .ok_or_else(|| anyhow!("{}={text}: expected seconds, e.g. 5", vars::TIMEOUT))?;
        options.timeout = Duration::from_secs_f64(seconds);
    }
    options.retry = RetryPolicy {
        // `0` turns the limit off: a year stands for that (and adds to an `Instant`).
        deadline: retry_deadline.unwrap_or(Duration::from_secs(365 * 86_400)),
        ..RetryPolicy::default()
    };
    Ok(options)
}

fn langfuse(
    base_url: Option<&str>,
    env: Env<'_>,
    api: PushApi,
    public_key: &str,
    secret_key: &str,
    options: HttpOptions,
) -> Result<Destination> {
    let base_url = base_url
        .map(str::to_owned)
        .or_else(|| env(vars::BASE_URL))
        .or_else(|| env(vars::HOST))
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_owned());
    let base_url = base_url.trim_end_matches('/');
    let shown = redact::url(base_url).into_owned();
    let key = format!("langfuse {shown} {public_key}");
    let environment = env(vars::ENVIRONMENT);
    let (exporter, description): (Box<dyn Exporter>, String) = match api {
        PushApi::Otlp => (
            Box::new(
                OtlpExporter::langfuse(base_url, public_key, secret_key, options)
                    .context("Langfuse (OTLP)")?
                    .resource(resource(env))
                    .score_environment(environment),
            ),
            format!("Langfuse at {shown} (OTLP)"),
        ),
        PushApi::Ingestion => (
            Box::new(
                IngestionExporter::new(base_url, public_key, secret_key, options)
                    .context("Langfuse (ingestion API)")?
                    .score_environment(environment),
            ),
            format!("Langfuse at {shown} (ingestion API)"),
        ),
    };
    Ok(Destination {
        exporter,
        description,
        key,
        sends_scores: true,
    })
}

fn collector(endpoint: &str, env: Env<'_>, options: HttpOptions) -> Result<Destination> {
    let mut headers = Vec::new();
    // The traces-only variable comes second, so that its value wins on a shared name.
    for variable in [vars::OTLP_HEADERS, vars::OTLP_TRACES_HEADERS] {
        if let Some(value) = env(variable) {
            for (name, value) in parse_headers(variable, &value)? {
                headers.retain(|(n, _): &(String, String)| !n.eq_ignore_ascii_case(&name));
                headers.push((name, value));
            }
        }
    }
    let exporter = OtlpExporter::collector(endpoint, &headers, options)
        .context("the OTLP collector")?
        .resource(resource(env));
    let shown = redact::url(exporter.url()).into_owned();
    Ok(Destination {
        exporter: Box::new(exporter),
        description: format!("the OTLP collector at {shown}"),
        key: format!("otlp {shown}"),
        sends_scores: false,
    })
}

/// `service.name` from `OTEL_SERVICE_NAME`, as the library sets it.
fn resource(env: Env<'_>) -> Resource {
    Resource::new(env(vars::SERVICE_NAME).unwrap_or_else(|| "observe".to_owned()))
}

/// `name=value,name2=value2` with URL-encoded values; errors name the header, never its
/// value (it may be a credential).
fn parse_headers(variable: &str, text: &str) -> Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((name, raw)) = entry.split_once('=') else {
            bail!("{variable}: expected comma-separated name=value pairs");
        };
        let name = name.trim();
        let value = percent_encoding::percent_decode_str(raw.trim())
            .decode_utf8()
            .ok()
            .filter(|v| observe_export::http::valid_header(name, v))
            .ok_or_else(|| {
                anyhow!("{variable}: header `{name}` has an invalid name or value (values are URL-encoded)")
            })?;
        headers.push((name.to_owned(), value.into_owned()));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use clap::Parser as _;

    fn push_args(extra: &[&str]) -> PushArgs {
        let cli = crate::cli_args::Cli::parse_from(["observe", "push"].iter().chain(extra));
        match cli.command {
            crate::cli_args::Command::Push(args) => args,
            other => panic!("{other:?}"),
        }
    }

    fn destination(vars: &[(&str, &str)], extra: &[&str]) -> Result<Destination> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        from_args(&push_args(extra), &|name| map.get(name).cloned())
    }

    #[test]
    fn langfuse_from_the_library_variables_without_the_secret() {
        let d = destination(
            &[
                (vars::PUBLIC_KEY, "pk-lf-1"),
                (vars::SECRET_KEY, "sk-lf-secret"),
                (vars::HOST, "http://user:pw@langfuse.local:3000/"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            d.description,
            "Langfuse at http://***@langfuse.local:3000 (OTLP)"
        );
        assert_eq!(d.key, "langfuse http://***@langfuse.local:3000 pk-lf-1");
        assert!(!d.key.contains("sk-lf") && !d.description.contains("pw"));
        let d = destination(
            &[
                (vars::PUBLIC_KEY, "pk-lf-1"),
                (vars::SECRET_KEY, "sk-lf-secret"),
                (vars::API, "ingestion"),
            ],
            &["--base-url", "http://a:3000"],
        )
        .unwrap();
        assert_eq!(d.description, "Langfuse at http://a:3000 (ingestion API)");
        assert_eq!(d.key, "langfuse http://a:3000 pk-lf-1");
    }

    #[test]
    fn collector_endpoint_and_headers() {
        let d = destination(
            &[
                (vars::OTLP_ENDPOINT, "http://c:4318/"),
                (vars::OTLP_HEADERS, "x-a=1,x-b=two%20words"),
                (vars::OTLP_TRACES_HEADERS, "X-A=2"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            d.description,
            "the OTLP collector at http://c:4318/v1/traces"
        );
        assert_eq!(d.key, "otlp http://c:4318/v1/traces");
        let headers = parse_headers("V", "x-a=1,x-b=two%20words").unwrap();
        assert_eq!(headers[1], ("x-b".to_owned(), "two words".to_owned()));
        let err = parse_headers("V", "x-a=bad\u{7f}value%0A").unwrap_err();
        assert!(err.to_string().contains("`x-a`"), "{err}");
        assert!(!err.to_string().contains("bad"), "{err}");
    }

    #[test]
    fn a_choice_is_needed_when_both_or_none_are_configured() {
        let both = [
            (vars::PUBLIC_KEY, "pk"),
            (vars::SECRET_KEY, "sk"),
            (vars::OTLP_TRACES_ENDPOINT, "http://c:4318/v1/traces"),
        ];
        let err = destination(&both, &[]).err().unwrap();
        assert!(err.to_string().contains("--to"), "{err}");
        let d = destination(&both, &["--to", "collector"]).unwrap();
        assert_eq!(d.key, "otlp http://c:4318/v1/traces");
        let err = destination(&[], &[]).err().unwrap();
        assert!(err.to_string().contains(vars::PUBLIC_KEY), "{err}");
        let err = destination(&[(vars::PUBLIC_KEY, "pk")], &["--to", "langfuse"])
            .err()
            .unwrap();
        assert!(err.to_string().contains(vars::SECRET_KEY), "{err}");
    }
}
