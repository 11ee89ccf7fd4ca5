//! The destinations a [`Config`] names, each behind its cargo feature, and the words that
//! tell the user where their traces go (URLs without their password).

use std::path::PathBuf;

#[cfg(feature = "store")]
use super::unavailable::Unavailable;
use super::{Config, ConfigError, LangfuseApi, DEFAULT_STORE_PATH};
use crate::export::console::ConsoleExporter;
use crate::export::Exporter;
use crate::vars;

/// A destination and how to tell the user where their traces went.
pub(super) struct Destination {
    pub(super) exporter: Box<dyn Exporter>,
    pub(super) description: String,
}

/// Every destination of `config`, in the order they are described: Langfuse, the collector,
/// the local store, then exporters added in code.
pub(super) fn build(mut config: Config) -> Result<Vec<Destination>, ConfigError> {
    let mut all = Vec::new();
    if let Some(d) = langfuse(&config)? {
        all.push(d);
    }
    if let Some(d) = collector(&config)? {
        all.push(d);
    }
    if config.local_store_path().is_some() {
        all.push(local(
            config.store_path.as_deref().map(PathBuf::from),
            &mut config,
        )?);
    }
    if let Some(url) = config.store_url.clone() {
        all.push(postgres(&url, &mut config)?);
    }
    for exporter in std::mem::take(&mut config.exporters) {
        all.push(Destination {
            description: format!("the `{}` exporter", exporter.name()),
            exporter,
        });
    }
    Ok(all)
}

#[cfg(any(feature = "otlp", feature = "ingestion"))]
fn http_options(config: &Config) -> crate::export::http::HttpOptions {
    use crate::export::http::{HttpOptions, RetryPolicy};
    HttpOptions {
        timeout: config.timeout,
        retry: RetryPolicy {
            deadline: config.retry_deadline,
            ..RetryPolicy::default()
        },
        debug: config.debug,
    }
}

#[cfg(any(feature = "otlp", feature = "ingestion"))]
fn setup_error(destination: &str) -> impl FnOnce(crate::export::http::SetupError) -> ConfigError {
    let destination = destination.to_owned();
    move |e| ConfigError::Setup {
        destination,
        source: Box::new(e),
    }
}

#[cfg(feature = "otlp")]
fn resource(config: &Config) -> crate::export::otlp::Resource {
    config.resource_attributes.iter().fold(
        crate::export::otlp::Resource::new(config.resolved_service_name()),
        |resource, (k, v)| match k.as_str() {
            "service.name" => resource,
            _ => resource.with(k, v),
        },
    )
}

fn langfuse(config: &Config) -> Result<Option<Destination>, ConfigError> {
    let Some((pk, sk)) = config.langfuse_keys() else {
        return Ok(None);
    };
    match config.langfuse_api {
        LangfuseApi::Otlp => langfuse_otlp(config, pk, sk),
        LangfuseApi::Ingestion => langfuse_ingestion(config, pk, sk),
    }
    .map(Some)
}

#[cfg(feature = "otlp")]
fn langfuse_otlp(config: &Config, pk: &str, sk: &str) -> Result<Destination, ConfigError> {
    use crate::export::otlp::OtlpExporter;
    let e = OtlpExporter::langfuse(&config.base_url, pk, sk, http_options(config))
        .map_err(setup_error("Langfuse (OTLP)"))?
        .resource(resource(config))
        .score_environment(config.environment.clone());
    Ok(Destination {
        description: format!("Langfuse at {}", crate::redact::url(e.url())),
        exporter: Box::new(e),
    })
}

#[cfg(not(feature = "otlp"))]
fn langfuse_otlp(_: &Config, _: &str, _: &str) -> Result<Destination, ConfigError> {
    Err(ConfigError::FeatureMissing {
        variable: vars::PUBLIC_KEY,
        destination: "Langfuse over OTLP",
        feature: "otlp",
    })
}

#[cfg(feature = "ingestion")]
fn langfuse_ingestion(config: &Config, pk: &str, sk: &str) -> Result<Destination, ConfigError> {
    use crate::export::ingestion::IngestionExporter;
    let e = IngestionExporter::new(&config.base_url, pk, sk, http_options(config))
        .map_err(setup_error("Langfuse (ingestion API)"))?
        .score_environment(config.environment.clone());
    Ok(Destination {
        description: format!(
            "Langfuse at {} (legacy ingestion API)",
            crate::redact::url(e.url())
        ),
        exporter: Box::new(e),
    })
}

#[cfg(not(feature = "ingestion"))]
fn langfuse_ingestion(_: &Config, _: &str, _: &str) -> Result<Destination, ConfigError> {
    Err(ConfigError::FeatureMissing {
        variable: vars::API,
        destination: "Langfuse's legacy ingestion API",
        feature: "ingestion",
    })
}

#[cfg(feature = "otlp")]
fn collector(config: &Config) -> Result<Option<Destination>, ConfigError> {
    use crate::export::otlp::OtlpExporter;
    let Some(endpoint) = &config.otlp_endpoint else {
        return Ok(None);
    };
    let e = OtlpExporter::collector(endpoint, &config.otlp_headers, http_options(config))
        .map_err(setup_error("the OTLP collector"))?
        .resource(resource(config))
        .genai_content(config.genai_content);
    Ok(Some(Destination {
        description: format!("the OTLP collector at {}", crate::redact::url(e.url())),
        exporter: Box::new(e),
    }))
}

#[cfg(not(feature = "otlp"))]
fn collector(config: &Config) -> Result<Option<Destination>, ConfigError> {
    match config.otlp_endpoint {
        None => Ok(None),
        Some(_) => Err(ConfigError::FeatureMissing {
            variable: config.otlp_endpoint_variable,
            destination: "an OTLP collector",
            feature: "otlp",
        }),
    }
}

/// Traces to stderr, one line each: where they go when the local store cannot be used.
fn stderr() -> Destination {
    Destination {
        exporter: Box::new(ConsoleExporter::stderr()),
        description: "stderr (one line per trace)".to_owned(),
    }
}

/// The local store: `named` when `OBSERVE_STORE_PATH` names it, else the default file. When
/// the default file cannot be opened (a read-only directory), traces go to stderr instead,
/// with a warning. When the file the user named cannot be opened, the application starts
/// anyway: one warning, and the store's records are counted as dropped (`Stats`).
#[cfg(feature = "store")]
fn local(named: Option<PathBuf>, config: &mut Config) -> Result<Destination, ConfigError> {
    use crate::export::store::StoreExporter;
    let path = named
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE_PATH));
    match StoreExporter::open(&path) {
        Ok(store) => Ok(Destination {
            exporter: Box::new(store.with_prices(prices(config))),
            description: format!(
                "the local store {} (query it with the `observe` command)",
                path.display()
            ),
        }),
        Err(err) if named.is_none() => {
            tracing::warn!(
                "observe: could not open the local store {}: {err}; traces go to stderr instead",
                path.display()
            );
            Ok(stderr())
        }
        Err(err) => {
            let description = format!(
                "the local store {} ({}), which could not be opened ({err}): its records \
                 are dropped and counted in stats",
                path.display(),
                vars::STORE_PATH
            );
            tracing::warn!("observe: {description}");
            Ok(Destination {
                exporter: Box::new(Unavailable::new("store", err.to_string())),
                description,
            })
        }
    }
}

/// The prices the configuration adds to the store's default list: its price file (unless it
/// is the `OBSERVE_MODEL_PRICES` file of the process, which the default list holds already),
/// then the prices added in code.
#[cfg(feature = "store")]
fn prices(config: &mut Config) -> crate::pricing::PriceList {
    use crate::pricing::PriceList;
    let mut list = PriceList::new();
    if let Some(file) = &config.model_prices_file {
        let in_default = std::env::var_os(vars::MODEL_PRICES).is_some_and(|p| *file == p);
        if !in_default {
            list = list.overriding_file(file);
        }
    }
    // Cloned, not taken: the SQLite and the PostgreSQL store both price with it.
    match &config.model_prices {
        Some(code) => list.overriding(code.clone()),
        None => list,
    }
}

/// The PostgreSQL store of `OBSERVE_STORE_URL`. It connects on its first batch, so a
/// server down at start delays only its own records (retried, then dropped or spooled and
/// counted like any remote destination's); a URL that cannot be used is an error now.
#[cfg(feature = "postgres")]
fn postgres(url: &str, config: &mut Config) -> Result<Destination, ConfigError> {
    use observe_store::postgres::{PgExporter, PgRetry, PgSettings};
    let settings = PgSettings::from_url(url).map_err(|e| ConfigError::Setup {
        destination: "the PostgreSQL store".to_owned(),
        source: Box::new(e),
    })?;
    let exporter = PgExporter::new(settings)
        .with_prices(prices(config))
        .with_retry(PgRetry {
            deadline: config.retry_deadline,
            ..PgRetry::default()
        });
    Ok(Destination {
        description: format!("the PostgreSQL store {}", exporter.settings()),
        exporter: Box::new(exporter),
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres(_: &str, _: &mut Config) -> Result<Destination, ConfigError> {
    Err(ConfigError::FeatureMissing {
        variable: vars::STORE_URL,
        destination: "the PostgreSQL store",
        feature: "postgres",
    })
}

#[cfg(not(feature = "store"))]
fn local(named: Option<PathBuf>, _config: &mut Config) -> Result<Destination, ConfigError> {
    if named.is_some() {
        return Err(ConfigError::FeatureMissing {
            variable: vars::STORE_PATH,
            destination: "the local store",
            feature: "store",
        });
    }
    tracing::warn!(
        "observe: built without the `store` feature, so there is no local store at {}; \
         traces go to stderr instead",
        DEFAULT_STORE_PATH
    );
    Ok(stderr())
}
