//! The registry of settings: for each one its variable, its default, what it means, how its
//! text is read and how its value is shown. `from_vars`, `Debug`, [`Config::value`] and the
//! documentation's table all come from this one list (a test checks the docs against it).

use std::path::PathBuf;
use std::time::Duration;

use super::{invalid, Config, ConfigError, LangfuseApi};
use crate::vars;

/// One setting: its environment variable, its default as text, and what it means.
///
/// ```
/// use observe_runtime::config::SETTINGS;
/// let rate = SETTINGS.iter().find(|s| s.variable == "LANGFUSE_SAMPLE_RATE").unwrap();
/// assert_eq!(rate.default, "1");
/// ```
#[non_exhaustive]
pub struct Setting {
    /// The environment variable.
    pub variable: &'static str,
    /// The default, as the variable's text would spell it (empty: unset).
    pub default: &'static str,
    /// What it does.
    pub meaning: &'static str,
    read: fn(&mut Config, &str) -> Result<(), ConfigError>,
    show: fn(&Config) -> Option<String>,
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setting")
            .field("variable", &self.variable)
            .field("default", &self.default)
            .finish()
    }
}

impl Setting {
    pub(super) fn read(&self, config: &mut Config, text: &str) -> Result<(), ConfigError> {
        (self.read)(config, text)
    }

    pub(super) fn show(&self, config: &Config) -> Option<String> {
        (self.show)(config)
    }
}

const fn setting(
    variable: &'static str,
    default: &'static str,
    meaning: &'static str,
    read: fn(&mut Config, &str) -> Result<(), ConfigError>,
    show: fn(&Config) -> Option<String>,
) -> Setting {
    Setting {
        variable,
        default,
        meaning,
        read,
        show,
    }
}

/// Every setting, in the order `from_vars` reads them: an older or more general name comes
/// before the one that overrides it (`LANGFUSE_HOST` before `LANGFUSE_BASE_URL`).
///
/// ```
/// use observe_runtime::config::SETTINGS;
/// // The documentation's table, from the registry.
/// for s in SETTINGS {
///     println!("| `{}` | {} | `{}` |", s.variable, s.meaning, s.default);
/// }
/// assert!(SETTINGS.iter().any(|s| s.variable == "OBSERVE_STORE_PATH"));
/// ```
pub const SETTINGS: &[Setting] = &[
    setting(
        vars::PUBLIC_KEY,
        "",
        "Langfuse public key; both keys or neither",
        |c, v| {
            c.public_key = Some(v.to_owned());
            Ok(())
        },
        |c| c.public_key.clone(),
    ),
    setting(
        vars::SECRET_KEY,
        "",
        "Langfuse secret key (never printed)",
        |c, v| {
            c.secret_key = Some(v.to_owned());
            Ok(())
        },
        |c| c.secret_key.as_ref().map(|_| "<redacted>".to_owned()),
    ),
    setting(
        vars::HOST,
        "",
        "older name of LANGFUSE_BASE_URL",
        |c, v| {
            c.set_base_url(v, vars::HOST);
            Ok(())
        },
        |_| None,
    ),
    setting(
        vars::BASE_URL,
        super::DEFAULT_BASE_URL,
        "the Langfuse server",
        |c, v| {
            c.set_base_url(v, vars::BASE_URL);
            Ok(())
        },
        |c| Some(crate::redact::url(&c.base_url).into_owned()),
    ),
    setting(
        vars::API,
        "otlp",
        "`otlp` (Langfuse v4, Cloud) or `ingestion` (the legacy API of v2/v3 servers)",
        |c, v| {
            c.langfuse_api = v
                .parse()
                .map_err(|why: String| invalid(vars::API, v, why))?;
            Ok(())
        },
        |c| Some(c.langfuse_api.as_str().to_owned()),
    ),
    setting(
        vars::ENVIRONMENT,
        "",
        "environment of every trace (`^(?!langfuse)[a-z0-9_-]+$`, at most 40 characters)",
        |c, v| {
            c.environment = Some(v.to_owned());
            Ok(())
        },
        |c| c.environment.clone(),
    ),
    setting(
        vars::RELEASE,
        "",
        "release of every trace",
        |c, v| {
            c.release = Some(v.to_owned());
            Ok(())
        },
        |c| c.release.clone(),
    ),
    setting(
        vars::SAMPLE_RATE,
        "1",
        "fraction of traces kept, in [0, 1], decided from the trace id",
        |c, v| {
            c.sample_rate = v
                .parse()
                .map_err(|_| invalid(vars::SAMPLE_RATE, v, "expected a number between 0 and 1"))?;
            Ok(())
        },
        |c| Some(c.sample_rate.to_string()),
    ),
    setting(
        vars::TRACING_ENABLED,
        "true",
        "`false` installs nothing: `#[observe]` costs one atomic load",
        |c, v| {
            c.enabled = parse_bool(vars::TRACING_ENABLED, v)?;
            Ok(())
        },
        |c| Some(c.enabled.to_string()),
    ),
    setting(
        vars::FLUSH_AT,
        "512",
        "records per batch",
        |c, v| {
            c.flush_at = v
                .parse()
                .map_err(|_| invalid(vars::FLUSH_AT, v, "expected a positive whole number"))?;
            Ok(())
        },
        |c| Some(c.flush_at.to_string()),
    ),
    setting(
        vars::FLUSH_INTERVAL,
        "1",
        "seconds a record may wait before it is sent (fractions allowed)",
        |c, v| {
            c.flush_interval = parse_seconds(vars::FLUSH_INTERVAL, v)?;
            Ok(())
        },
        |c| Some(c.flush_interval.as_secs_f64().to_string()),
    ),
    setting(
        vars::TIMEOUT,
        "5",
        "seconds per HTTP request",
        |c, v| {
            c.timeout = parse_seconds(vars::TIMEOUT, v)?;
            Ok(())
        },
        |c| Some(c.timeout.as_secs_f64().to_string()),
    ),
    setting(
        vars::DEBUG,
        "false",
        "log the configuration and every request at `info`",
        |c, v| {
            c.debug = parse_bool(vars::DEBUG, v)?;
            Ok(())
        },
        |c| Some(c.debug.to_string()),
    ),
    setting(
        vars::IO_CAPTURE,
        "true",
        "`#[observe]` records arguments and return values",
        |c, v| {
            c.capture_io = parse_bool(vars::IO_CAPTURE, v)?;
            Ok(())
        },
        |c| Some(c.capture_io.to_string()),
    ),
    setting(
        vars::MAX_QUEUE_BYTES,
        "67108864",
        "bytes of records the pipeline holds at most, queued or being sent; one destination \
         holds at most half",
        |c, v| {
            c.max_queue_bytes = v.parse().map_err(|_| {
                invalid(
                    vars::MAX_QUEUE_BYTES,
                    v,
                    "expected a positive number of bytes",
                )
            })?;
            Ok(())
        },
        |c| Some(c.max_queue_bytes.to_string()),
    ),
    setting(
        vars::SPOOL,
        "off",
        "`on`: what Langfuse or the collector cannot take in time waits on disk and is sent \
         later; `first`: every record is written there first and shutdown returns half a second \
         after (RELIABILITY.md)",
        |c, v| {
            c.spool.mode = v.parse().map_err(|e: String| invalid(vars::SPOOL, v, &e))?;
            Ok(())
        },
        |c| Some(c.spool.mode.to_string()),
    ),
    setting(
        vars::SPOOL_DIR,
        "",
        "the spool's directory, one subdirectory per destination (unset: `spool/` beside the \
         store's file, `.observe/spool`)",
        |c, v| {
            c.spool.dir = PathBuf::from(v);
            c.spool_dir_set = true;
            Ok(())
        },
        |c| c.spool_dir_set.then(|| c.spool.dir.display().to_string()),
    ),
    setting(
        vars::SPOOL_MAX_BYTES,
        "268435456",
        "bytes one destination's spool takes at most",
        |c, v| {
            c.spool.max_bytes = v.parse().ok().filter(|b| *b > 0).ok_or_else(|| {
                invalid(
                    vars::SPOOL_MAX_BYTES,
                    v,
                    "expected a positive number of bytes",
                )
            })?;
            Ok(())
        },
        |c| Some(c.spool.max_bytes.to_string()),
    ),
    setting(
        vars::SPOOL_FULL,
        "drop-newest",
        "what a full spool drops (and counts): `drop-newest` or `drop-oldest`",
        |c, v| {
            c.spool.drop_oldest = match v.trim().to_ascii_lowercase().as_str() {
                "drop-newest" => false,
                "drop-oldest" => true,
                _ => {
                    return Err(invalid(
                        vars::SPOOL_FULL,
                        v,
                        "expected drop-newest or drop-oldest",
                    ))
                }
            };
            Ok(())
        },
        |c| {
            Some(
                if c.spool.drop_oldest {
                    "drop-oldest"
                } else {
                    "drop-newest"
                }
                .to_owned(),
            )
        },
    ),
    setting(
        vars::SPOOL_FSYNC_MS,
        "500",
        "milliseconds a spooled record waits for its `fsync` at most: what a power loss can \
         cost (a crash of the process loses nothing spooled)",
        |c, v| {
            let ms: u64 = v
                .parse()
                .map_err(|_| invalid(vars::SPOOL_FSYNC_MS, v, "expected milliseconds"))?;
            c.spool.fsync_interval = Duration::from_millis(ms);
            Ok(())
        },
        |c| Some(c.spool.fsync_interval.as_millis().to_string()),
    ),
    setting(
        vars::QUIET,
        "false",
        "`true` leaves out the line `init()` writes on stderr (the `info` line stays)",
        |c, v| {
            c.quiet = parse_bool(vars::QUIET, v)?;
            Ok(())
        },
        |c| Some(c.quiet.to_string()),
    ),
    setting(
        vars::OTLP_ENDPOINT,
        "",
        "also send to this OTLP/HTTP collector base URL; `/v1/traces` is appended",
        |c, v| {
            c.set_otlp_endpoint(
                format!("{}/v1/traces", v.trim_end_matches('/')),
                vars::OTLP_ENDPOINT,
            );
            Ok(())
        },
        |_| None,
    ),
    setting(
        vars::OTLP_TRACES_ENDPOINT,
        "",
        "also send to this OTLP/HTTP collector traces URL, as is",
        |c, v| {
            c.set_otlp_endpoint(v.to_owned(), vars::OTLP_TRACES_ENDPOINT);
            Ok(())
        },
        |c| {
            c.otlp_endpoint
                .as_deref()
                .map(|u| crate::redact::url(u).into_owned())
        },
    ),
    setting(
        vars::OTLP_PROTOCOL,
        "http/protobuf",
        "the collector's protocol: only `http/protobuf`",
        |_, v| check_protocol(vars::OTLP_PROTOCOL, v),
        |_| None,
    ),
    setting(
        vars::OTLP_TRACES_PROTOCOL,
        "http/protobuf",
        "the same, for traces only",
        |_, v| check_protocol(vars::OTLP_TRACES_PROTOCOL, v),
        |_| Some("http/protobuf".to_owned()),
    ),
    setting(
        vars::OTLP_HEADERS,
        "",
        "collector headers, `name=value,name2=value2`, values URL-encoded",
        |c, v| c.add_otlp_headers(vars::OTLP_HEADERS, v),
        |_| None,
    ),
    setting(
        vars::OTLP_TRACES_HEADERS,
        "",
        "the same, for traces only; wins on a shared name",
        |c, v| c.add_otlp_headers(vars::OTLP_TRACES_HEADERS, v),
        // Values may be credentials: names only.
        |c| {
            (!c.otlp_headers.is_empty()).then(|| {
                let names: Vec<&str> = c.otlp_headers.iter().map(|(n, _)| n.as_str()).collect();
                names.join(",")
            })
        },
    ),
    setting(
        vars::RESOURCE_ATTRIBUTES,
        "",
        "attributes of the OTLP resource, `k=v,k2=v2`, values URL-encoded",
        |c, v| {
            for (key, value) in parse_pairs(vars::RESOURCE_ATTRIBUTES, v)? {
                c.set_resource_attribute(key, value);
            }
            Ok(())
        },
        |c| {
            (!c.resource_attributes.is_empty()).then(|| {
                let pairs: Vec<String> = c
                    .resource_attributes
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                pairs.join(",")
            })
        },
    ),
    setting(
        vars::SERVICE_NAME,
        "",
        "`service.name` of the OTLP resource; unset: the `service.name` of \
         OTEL_RESOURCE_ATTRIBUTES, else `unknown_service:<executable>`",
        |c, v| {
            c.service_name = Some(v.to_owned());
            Ok(())
        },
        // Unset, the name depends on the executable: the resource shows it
        // (`unknown_service:<executable>`), the setting shows nothing.
        |c| c.given_service_name(),
    ),
    setting(
        vars::GENAI_CONTENT,
        "false",
        "write the GenAI content attributes (`gen_ai.input.messages`, \
         `gen_ai.output.messages`, `gen_ai.system_instructions`) on generations sent to the \
         OTLP collector",
        |c, v| {
            c.genai_content = parse_bool(vars::GENAI_CONTENT, v)?;
            Ok(())
        },
        |c| Some(c.genai_content.to_string()),
    ),
    setting(
        vars::STORE_PATH,
        "",
        "the local SQLite store; with keys or a collector set, traces go there too \
         (`.observe/traces.db` when nothing else is set)",
        |c, v| {
            c.store_path = Some(PathBuf::from(v));
            Ok(())
        },
        |c| c.store_path.as_ref().map(|p| p.display().to_string()),
    ),
    setting(
        vars::STORE_URL,
        "",
        "a team's PostgreSQL store, `postgres://user:password@host:port/database?sslmode=...` \
         (`postgres:` alone: libpq's `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, \
         `PGSSLMODE`); replaces the local store unless `OBSERVE_STORE_PATH` is set too",
        |c, v| {
            c.store_url = Some(v.to_owned());
            Ok(())
        },
        |c| {
            c.store_url
                .as_deref()
                .map(|u| crate::redact::url(u).into_owned())
        },
    ),
    setting(
        vars::MODEL_PRICES,
        "",
        "a model price list (Langfuse's `default-model-prices.json` format) the local store \
         prices generations that have usage and no cost with, on top of the built-in list",
        |c, v| {
            c.model_prices_file = Some(PathBuf::from(v));
            Ok(())
        },
        |c| {
            c.model_prices_file
                .as_ref()
                .map(|p| p.display().to_string())
        },
    ),
];

/// The setting of `variable`, if it is one.
pub(super) fn find(variable: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.variable == variable)
}

impl LangfuseApi {
    /// The spelling `OBSERVE_LANGFUSE_API` takes.
    ///
    /// ```
    /// use observe_runtime::config::LangfuseApi;
    /// assert_eq!(LangfuseApi::Ingestion.as_str().parse(), Ok(LangfuseApi::Ingestion));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            LangfuseApi::Otlp => "otlp",
            LangfuseApi::Ingestion => "ingestion",
        }
    }
}

pub(super) fn parse_bool(variable: &'static str, value: &str) -> Result<bool, ConfigError> {
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

/// Only OTLP/HTTP with protobuf bodies is spoken; `grpc` or `http/json` would be silently
/// sent as something else, so they are errors.
fn check_protocol(variable: &'static str, value: &str) -> Result<(), ConfigError> {
    if value.eq_ignore_ascii_case("http/protobuf") {
        Ok(())
    } else {
        Err(invalid(
            variable,
            value,
            "only `http/protobuf` is supported (not `grpc` or `http/json`)",
        ))
    }
}

#[cfg(feature = "otlp")]
/// Decodes `%XX` escapes (OTEL_EXPORTER_OTLP_HEADERS values are URL-encoded); `None` for a
/// malformed escape or text that is not UTF-8 once decoded.
pub(super) fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    // `percent-encoding` passes a malformed escape through as is; the spec makes it an error.
    let malformed = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && !bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode(bytes)
        .decode_utf8()
        .ok()
        .map(|text| text.into_owned())
}

/// `k=v,k2=v2` into pairs, values URL-decoded; names and values checked as HTTP headers.
#[cfg(feature = "otlp")]
pub(super) fn parse_headers(
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
        match percent_decode(raw.trim()) {
            Some(v) if crate::export::http::valid_header(name, &v) => {
                headers.push((name.to_owned(), v))
            }
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

/// `k=v,k2=v2` with URL-encoded values (`OTEL_RESOURCE_ATTRIBUTES`), as OpenTelemetry
/// reads it; a pair without `=` or with a bad escape is an error naming the variable.
fn parse_pairs(variable: &'static str, value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut pairs = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let pair = entry
            .split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| !k.is_empty());
        let Some((key, raw)) = pair else {
            return Err(invalid(
                variable,
                entry,
                "expected comma-separated key=value pairs",
            ));
        };
        let Some(value) = decode_value(raw) else {
            return Err(invalid(
                variable,
                entry,
                "a value has a malformed %-escape (values are URL-encoded)",
            ));
        };
        pairs.push((key.to_owned(), value));
    }
    Ok(pairs)
}

#[cfg(feature = "otlp")]
fn decode_value(raw: &str) -> Option<String> {
    percent_decode(raw)
}

/// Without the OTLP destination the resource is never sent; the text is kept as written.
#[cfg(not(feature = "otlp"))]
fn decode_value(raw: &str) -> Option<String> {
    Some(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "otlp")]
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
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }

    /// The default each setting documents is what a fresh `Config` shows.
    #[test]
    fn documented_defaults_are_the_defaults() {
        let config = Config::new();
        for s in SETTINGS {
            if let Some(shown) = s.show(&config) {
                assert_eq!(shown, s.default, "{}", s.variable);
            }
        }
    }
}
