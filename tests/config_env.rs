//! Configuration from environment variables (read from a map, never the process's
//! environment), every configuration error, the destinations each setting chooses, and the
//! one line that says where traces go.

mod export_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use export_support::*;
use observe_runtime::config::{Config, ConfigError, LangfuseApi, DEFAULT_BASE_URL};
use observe_runtime::{current_trace_url, Trace};

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_vars(vars(pairs)).expect("a valid configuration")
}

fn error(pairs: &[(&str, &str)]) -> ConfigError {
    Config::from_vars(vars(pairs)).expect_err("an invalid configuration")
}

#[test]
fn defaults_with_nothing_set() {
    let c = config(&[]);
    assert_eq!(c.public_key, None);
    assert_eq!(c.secret_key, None);
    assert_eq!(c.base_url, DEFAULT_BASE_URL);
    assert_eq!(c.langfuse_api, LangfuseApi::Otlp);
    assert_eq!(c.sample_rate, 1.0);
    assert!(c.enabled);
    assert!(c.capture_io);
    assert!(!c.debug);
    assert_eq!(c.flush_at, 512);
    assert_eq!(c.flush_interval, Duration::from_secs(1));
    assert_eq!(c.timeout, Duration::from_secs(5));
    assert_eq!(c.otlp_endpoint, None);
    assert!(c.otlp_headers.is_empty());
    assert_eq!(c.store_path, None);
    assert_eq!(c.environment, None);
    assert_eq!(c.release, None);
}

#[test]
fn every_variable_is_read() {
    let c = config(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", " sk-lf-1 "),
        ("LANGFUSE_BASE_URL", "https://us.cloud.langfuse.com/"),
        ("LANGFUSE_TRACING_ENVIRONMENT", "staging_2"),
        ("LANGFUSE_RELEASE", "v1.2.3"),
        ("LANGFUSE_SAMPLE_RATE", "0.25"),
        ("LANGFUSE_TRACING_ENABLED", "TRUE"),
        ("LANGFUSE_FLUSH_AT", "15"),
        ("LANGFUSE_FLUSH_INTERVAL", "0.5"),
        ("LANGFUSE_TIMEOUT", "2.5"),
        ("LANGFUSE_DEBUG", "yes"),
        ("LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED", "off"),
        ("OBSERVE_LANGFUSE_API", "Ingestion"),
        ("OBSERVE_STORE_PATH", "/tmp/x/traces.db"),
        ("OTEL_SERVICE_NAME", "checkout"),
    ]);
    assert_eq!(c.public_key.as_deref(), Some("pk-lf-1"));
    assert_eq!(c.secret_key.as_deref(), Some("sk-lf-1"));
    assert_eq!(c.base_url, "https://us.cloud.langfuse.com");
    assert_eq!(c.environment.as_deref(), Some("staging_2"));
    assert_eq!(c.release.as_deref(), Some("v1.2.3"));
    assert_eq!(c.sample_rate, 0.25);
    assert!(c.enabled);
    assert_eq!(c.flush_at, 15);
    assert_eq!(c.flush_interval, Duration::from_millis(500));
    assert_eq!(c.timeout, Duration::from_millis(2500));
    assert!(c.debug);
    assert!(!c.capture_io);
    assert_eq!(c.langfuse_api, LangfuseApi::Ingestion);
    assert_eq!(
        c.store_path.as_deref(),
        Some(std::path::Path::new("/tmp/x/traces.db"))
    );
    assert_eq!(c.service_name.as_deref(), Some("checkout"));
}

#[test]
fn base_url_falls_back_to_langfuse_host() {
    assert_eq!(
        config(&[("LANGFUSE_HOST", "http://localhost:3000")]).base_url,
        "http://localhost:3000"
    );
    assert_eq!(
        config(&[
            ("LANGFUSE_HOST", "http://old:3000"),
            ("LANGFUSE_BASE_URL", "http://new:3000")
        ])
        .base_url,
        "http://new:3000"
    );
    // An empty variable counts as unset.
    assert_eq!(
        config(&[("LANGFUSE_BASE_URL", ""), ("LANGFUSE_HOST", "http://h:1")]).base_url,
        "http://h:1"
    );
}

#[test]
fn otlp_endpoints_and_headers() {
    let c = config(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]);
    assert_eq!(
        c.otlp_endpoint.as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://other:9999/custom",
        ),
    ]);
    assert_eq!(c.otlp_endpoint.as_deref(), Some("http://other:9999/custom"));
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "api-key=secret%20value , x-tenant=a%2Cb,,empty=",
    )]);
    assert_eq!(
        c.otlp_headers,
        [
            ("api-key".to_owned(), "secret value".to_owned()),
            ("x-tenant".to_owned(), "a,b".to_owned()),
            ("empty".to_owned(), String::new()),
        ]
    );
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "B=3"),
    ]);
    assert_eq!(
        c.otlp_headers,
        [
            ("a".to_owned(), "1".to_owned()),
            ("B".to_owned(), "3".to_owned())
        ]
    );
}

/// Asserts that the error names the variable and shows the value.
fn assert_names(err: &ConfigError, variable: &str, value: &str) {
    let text = err.to_string();
    assert!(text.contains(variable), "`{text}` does not name {variable}");
    assert!(text.contains(value), "`{text}` does not show `{value}`");
    match err {
        ConfigError::Invalid { variable: v, .. } => assert_eq!(*v, variable),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn every_bad_value_is_an_error_naming_the_variable_and_the_value() {
    let cases: &[(&str, &str)] = &[
        ("LANGFUSE_SAMPLE_RATE", "abc"),
        ("LANGFUSE_SAMPLE_RATE", "1.5"),
        ("LANGFUSE_SAMPLE_RATE", "-0.1"),
        ("LANGFUSE_SAMPLE_RATE", "NaN"),
        ("LANGFUSE_TRACING_ENABLED", "maybe"),
        ("LANGFUSE_DEBUG", "2"),
        ("LANGFUSE_OBSERVE_DECORATOR_IO_CAPTURE_ENABLED", "nah"),
        ("LANGFUSE_FLUSH_AT", "ten"),
        ("LANGFUSE_FLUSH_AT", "0"),
        ("LANGFUSE_FLUSH_AT", "-5"),
        ("LANGFUSE_FLUSH_INTERVAL", "soon"),
        ("LANGFUSE_FLUSH_INTERVAL", "0"),
        ("LANGFUSE_FLUSH_INTERVAL", "-1"),
        ("LANGFUSE_FLUSH_INTERVAL", "inf"),
        ("LANGFUSE_TIMEOUT", "5s"),
        ("LANGFUSE_TIMEOUT", "0"),
        ("OBSERVE_LANGFUSE_API", "grpc"),
        ("LANGFUSE_BASE_URL", "not a url"),
        ("LANGFUSE_BASE_URL", "ftp://files.example.com"),
        ("LANGFUSE_HOST", "localhost:3000"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "::nope"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector"),
        ("LANGFUSE_TRACING_ENVIRONMENT", "Production"),
        ("LANGFUSE_TRACING_ENVIRONMENT", "langfuse-internal"),
        ("LANGFUSE_TRACING_ENVIRONMENT", "has space"),
    ];
    for (variable, value) in cases {
        let err = error(&[(variable, value)]);
        let shown = if *variable == "OTEL_EXPORTER_OTLP_ENDPOINT" {
            // The endpoint is shown as the traces URL built from it.
            "collector"
        } else {
            value
        };
        assert_names(&err, variable, shown);
    }
    let long = "e".repeat(41);
    assert_names(
        &error(&[("LANGFUSE_TRACING_ENVIRONMENT", &long)]),
        "LANGFUSE_TRACING_ENVIRONMENT",
        &long,
    );
}

#[test]
fn bad_otlp_headers_are_errors_that_do_not_print_the_value() {
    for headers in ["novalue", "bad name=v", "k=line%0Abreak", "k=%zz", "=v"] {
        let err = error(&[("OTEL_EXPORTER_OTLP_HEADERS", headers)]);
        let text = err.to_string();
        assert!(text.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{text}");
        assert!(
            !text.contains("line%0Abreak") && !text.contains("%zz"),
            "{text}"
        );
    }
    let err = error(&[(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "authorization=Bearer%0Asecret",
    )]);
    assert!(err
        .to_string()
        .contains("OTEL_EXPORTER_OTLP_TRACES_HEADERS"));
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn one_key_without_the_other_is_an_error() {
    match error(&[("LANGFUSE_PUBLIC_KEY", "pk-lf-1")]) {
        ConfigError::MissingKey { present, missing } => {
            assert_eq!(present, "LANGFUSE_PUBLIC_KEY");
            assert_eq!(missing, "LANGFUSE_SECRET_KEY");
        }
        other => panic!("{other:?}"),
    }
    let err = error(&[("LANGFUSE_SECRET_KEY", "sk-lf-very-secret")]);
    assert!(err.to_string().contains("LANGFUSE_PUBLIC_KEY"), "{err}");
    assert!(!err.to_string().contains("sk-lf-very-secret"), "{err}");
}

#[test]
fn values_set_in_code_are_checked_too() {
    let cases: Vec<(Config, &str)> = vec![
        (Config::new().sample_rate(2.0), "LANGFUSE_SAMPLE_RATE"),
        (Config::new().sample_rate(f64::NAN), "LANGFUSE_SAMPLE_RATE"),
        (Config::new().flush_at(0), "LANGFUSE_FLUSH_AT"),
        (
            Config::new().flush_interval(Duration::ZERO),
            "LANGFUSE_FLUSH_INTERVAL",
        ),
        (Config::new().timeout(Duration::ZERO), "LANGFUSE_TIMEOUT"),
        (Config::new().base_url("nope"), "LANGFUSE_BASE_URL"),
        (
            Config::new().otlp_endpoint("nope"),
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ),
        (
            Config::new().environment("UPPER"),
            "LANGFUSE_TRACING_ENVIRONMENT",
        ),
    ];
    for (config, variable) in cases {
        let err = config.build_client().expect_err(variable);
        assert!(err.to_string().contains(variable), "{err}");
    }
    let mut keyless = Config::new();
    keyless.public_key = Some("pk".into());
    assert!(matches!(
        keyless.init(),
        Err(ConfigError::MissingKey { .. })
    ));
}

#[test]
fn the_secret_key_is_never_printed() {
    let c = config(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-do-not-print"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20do-not-print-either",
        ),
    ]);
    let debug = format!("{c:?}");
    assert!(!debug.contains("sk-lf-do-not-print"), "{debug}");
    assert!(!debug.contains("do-not-print-either"), "{debug}");
    assert!(debug.contains("pk-lf-1"));
}

#[test]
fn tracing_disabled_builds_nothing() {
    let c = config(&[
        ("LANGFUSE_TRACING_ENABLED", "false"),
        ("LANGFUSE_PUBLIC_KEY", "pk"),
        ("LANGFUSE_SECRET_KEY", "sk"),
    ]);
    assert!(!c.enabled);
    assert!(c.build_client().unwrap().is_none());
}

/// Runs `f` with a subscriber that keeps every `info` line of this thread.
fn info_lines<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    (
        result,
        text.lines()
            .filter(|l| l.contains("INFO"))
            .map(str::to_owned)
            .collect(),
    )
}

#[test]
fn without_keys_or_endpoint_traces_go_to_the_local_store_and_one_line_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    let (client, lines) = info_lines(|| {
        config(&[("OBSERVE_STORE_PATH", path.to_str().unwrap())])
            .build_client()
            .unwrap()
            .unwrap()
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("nothing goes over the network"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains(path.to_str().unwrap()), "{}", lines[0]);

    let trace = client.trace(Trace::new("local").session_id("s-local"));
    assert_eq!(
        trace.in_scope(current_trace_url),
        None,
        "no Langfuse, no URL"
    );
    trace.span("child").end();
    trace.end();
    let report = client.shutdown(FLUSH);
    assert_eq!(report.stats.exported, 2, "{report:?}");
    let store = observe_runtime::export::store::Store::open(&path).unwrap();
    let observations = store.session_observations("s-local").unwrap();
    assert_eq!(observations.len(), 2);
}

#[test]
fn with_keys_one_line_names_the_endpoint_and_trace_urls_point_to_langfuse() {
    let server = Server::accepting();
    let (client, lines) = info_lines(|| {
        config(&[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
            ("LANGFUSE_BASE_URL", &format!("{}/", server.base_url)),
        ])
        .build_client()
        .unwrap()
        .unwrap()
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let endpoint = format!("{}/api/public/otel/v1/traces", server.base_url);
    assert!(lines[0].contains(&endpoint), "{}", lines[0]);
    assert!(!lines[0].contains("sk-lf-1"));

    let trace = client.trace(Trace::new("t"));
    let url = trace.in_scope(current_trace_url).unwrap();
    assert_eq!(url, format!("{}/trace/{}", server.base_url, trace.id()));
    trace.end();
    client.flush(FLUSH);
    assert_eq!(server.spans().len(), 1);
    assert_eq!(current_trace_url(), None, "outside any trace");
}

#[test]
fn a_named_store_path_is_used_besides_langfuse_and_must_open() {
    let server = Server::accepting();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/both.db");
    let client = config(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
        ("LANGFUSE_BASE_URL", &server.base_url),
        ("OBSERVE_STORE_PATH", path.to_str().unwrap()),
    ])
    .build_client()
    .unwrap()
    .unwrap();
    client.trace(Trace::new("both").session_id("s-both")).end();
    client.shutdown(FLUSH);
    assert_eq!(server.spans().len(), 1);
    let store = observe_runtime::export::store::Store::open(&path).unwrap();
    assert_eq!(store.session_observations("s-both").unwrap().len(), 1);

    // A file where the store's folder should be: the named path cannot open.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let err = config(&[("OBSERVE_STORE_PATH", blocker.join("t.db").to_str().unwrap())])
        .build_client()
        .unwrap_err();
    assert!(matches!(err, ConfigError::Setup { .. }), "{err:?}");
    assert!(err.to_string().contains("OBSERVE_STORE_PATH"), "{err}");
}

#[test]
fn environment_and_release_reach_every_span() {
    let server = Server::accepting();
    let client = config(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
        ("LANGFUSE_BASE_URL", &server.base_url),
        ("LANGFUSE_TRACING_ENVIRONMENT", "qa"),
        ("LANGFUSE_RELEASE", "rel-7"),
        ("LANGFUSE_FLUSH_AT", "1"),
    ])
    .build_client()
    .unwrap()
    .unwrap();
    let trace = client.trace(Trace::new("t"));
    trace.span("a").end();
    trace.span("b").end();
    trace.end();
    client.flush(FLUSH);
    let spans = server.spans();
    assert_eq!(spans.len(), 3);
    assert_eq!(
        server.to("/v1/traces").len(),
        3,
        "LANGFUSE_FLUSH_AT=1: one span per request"
    );
    for s in &spans {
        assert_eq!(attr_str(s, "langfuse.environment").as_deref(), Some("qa"));
        assert_eq!(attr_str(s, "langfuse.release").as_deref(), Some("rel-7"));
    }
}
