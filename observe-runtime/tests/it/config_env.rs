//! Configuration from environment variables (read from a map, never the process's
//! environment), every configuration error, the destinations each setting chooses, and the
//! one line that says where traces go.

use std::time::Duration;

use crate::export_support::*;
use observe_runtime::config::{vars, Config, ConfigError, DEFAULT_BASE_URL, SETTINGS};
use observe_runtime::{current_trace_url, Trace};

fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_vars(vars(pairs)).expect("a valid configuration")
}

fn error(pairs: &[(&str, &str)]) -> ConfigError {
    Config::from_vars(vars(pairs)).expect_err("an invalid configuration")
}

/// A setting as its variable would spell it.
fn value(c: &Config, variable: &str) -> Option<String> {
    c.value(variable)
}

#[test]
fn defaults_with_nothing_set() {
    let c = config(&[]);
    assert_eq!(value(&c, vars::PUBLIC_KEY), None);
    assert_eq!(value(&c, vars::SECRET_KEY), None);
    assert_eq!(value(&c, vars::BASE_URL).as_deref(), Some(DEFAULT_BASE_URL));
    assert_eq!(value(&c, vars::API).as_deref(), Some("otlp"));
    assert_eq!(value(&c, vars::SAMPLE_RATE).as_deref(), Some("1"));
    assert_eq!(value(&c, vars::TRACING_ENABLED).as_deref(), Some("true"));
    assert_eq!(value(&c, vars::IO_CAPTURE).as_deref(), Some("true"));
    assert_eq!(value(&c, vars::DEBUG).as_deref(), Some("false"));
    assert_eq!(value(&c, vars::QUIET).as_deref(), Some("false"));
    assert_eq!(value(&c, vars::FLUSH_AT).as_deref(), Some("512"));
    assert_eq!(value(&c, vars::FLUSH_INTERVAL).as_deref(), Some("1"));
    assert_eq!(value(&c, vars::TIMEOUT).as_deref(), Some("5"));
    assert_eq!(value(&c, vars::OTLP_TRACES_ENDPOINT), None);
    assert_eq!(value(&c, vars::OTLP_TRACES_HEADERS), None);
    assert_eq!(value(&c, vars::STORE_PATH), None);
    assert_eq!(value(&c, vars::ENVIRONMENT), None);
    assert_eq!(value(&c, vars::RELEASE), None);
    assert_eq!(value(&c, "NOT_A_SETTING"), None);
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
        ("OBSERVE_QUIET", "on"),
        ("OBSERVE_LANGFUSE_API", "Ingestion"),
        ("OBSERVE_STORE_PATH", "/tmp/x/traces.db"),
        ("OTEL_SERVICE_NAME", "checkout"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ]);
    let expected = [
        (vars::PUBLIC_KEY, "pk-lf-1"),
        (vars::SECRET_KEY, "<redacted>"),
        (vars::BASE_URL, "https://us.cloud.langfuse.com"),
        (vars::ENVIRONMENT, "staging_2"),
        (vars::RELEASE, "v1.2.3"),
        (vars::SAMPLE_RATE, "0.25"),
        (vars::TRACING_ENABLED, "true"),
        (vars::FLUSH_AT, "15"),
        (vars::FLUSH_INTERVAL, "0.5"),
        (vars::TIMEOUT, "2.5"),
        (vars::DEBUG, "true"),
        (vars::IO_CAPTURE, "false"),
        (vars::QUIET, "true"),
        (vars::API, "ingestion"),
        (vars::STORE_PATH, "/tmp/x/traces.db"),
        (vars::SERVICE_NAME, "checkout"),
    ];
    for (variable, text) in expected {
        assert_eq!(value(&c, variable).as_deref(), Some(text), "{variable}");
    }
}

#[test]
fn base_url_falls_back_to_langfuse_host() {
    let base = |pairs: &[(&str, &str)]| value(&config(pairs), vars::BASE_URL).unwrap();
    assert_eq!(
        base(&[("LANGFUSE_HOST", "http://localhost:3000")]),
        "http://localhost:3000"
    );
    assert_eq!(
        base(&[
            ("LANGFUSE_HOST", "http://old:3000"),
            ("LANGFUSE_BASE_URL", "http://new:3000")
        ]),
        "http://new:3000"
    );
    // An empty variable counts as unset.
    assert_eq!(
        base(&[("LANGFUSE_BASE_URL", ""), ("LANGFUSE_HOST", "http://h:1")]),
        "http://h:1"
    );
}

#[test]
fn otlp_endpoints_and_headers() {
    let endpoint = |pairs: &[(&str, &str)]| value(&config(pairs), vars::OTLP_TRACES_ENDPOINT);
    assert_eq!(
        endpoint(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    assert_eq!(
        endpoint(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://other:9999/custom"
            ),
        ])
        .as_deref(),
        Some("http://other:9999/custom")
    );
    // Header values may be credentials: only the names are shown (the values reach the
    // collector decoded: see export_otlp.rs).
    let c = config(&[(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "api-key=secret%20value , x-tenant=a%2Cb,,empty=",
    )]);
    assert_eq!(
        value(&c, vars::OTLP_TRACES_HEADERS).as_deref(),
        Some("api-key,x-tenant,empty")
    );
    assert!(!format!("{c:?}").contains("secret value"));
    let c = config(&[
        ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,b=2"),
        ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "B=3"),
    ]);
    assert_eq!(value(&c, vars::OTLP_TRACES_HEADERS).as_deref(), Some("a,B"));
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
    assert_eq!(value(&c, vars::TRACING_ENABLED).as_deref(), Some("false"));
    assert!(c.build_client().unwrap().is_none());
}

/// Runs `f` with a subscriber that keeps every `info` line of this thread.
fn info_lines<R>(f: impl FnOnce() -> R) -> (R, Vec<String>) {
    let (result, lines) = logs::lines_of(tracing::Level::INFO, f);
    let info = logs::at(&lines, "INFO").into_iter().cloned().collect();
    (result, info)
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
fn a_named_store_path_is_used_besides_langfuse_and_one_that_cannot_open_counts_drops() {
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

    // A file where the store's folder should be: the named path cannot open. The client
    // starts anyway (the application must), and the store's records are counted dropped.
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"x").unwrap();
    let client = config(&[("OBSERVE_STORE_PATH", blocker.join("t.db").to_str().unwrap())])
        .build_client()
        .unwrap()
        .unwrap();
    client.trace(Trace::new("nowhere")).end();
    let report = client.shutdown(FLUSH);
    let store = report.stats.destination("store").unwrap();
    assert_eq!(
        (store.accepted, store.exported, store.failed, store.dropped),
        (1, 0, 0, 1),
        "{store:?}"
    );
    assert!(!blocker.join("t.db").exists());
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

/// Issue 13 #11: a protocol other than OTLP/HTTP protobuf was silently ignored.
#[test]
fn otlp_protocols_other_than_http_protobuf_are_errors_naming_the_variable() {
    for variable in [vars::OTLP_PROTOCOL, vars::OTLP_TRACES_PROTOCOL] {
        for value in ["grpc", "http/json", "bogus"] {
            assert_names(&error(&[(variable, value)]), variable, value);
        }
        let _accepted = config(&[(variable, "HTTP/Protobuf")]);
    }
}

/// Issue 13 #11: a base URL with a query string built a broken endpoint.
#[test]
fn a_base_url_with_a_query_string_is_refused() {
    for (variable, url) in [
        (vars::BASE_URL, "http://localhost:3000/?project=1"),
        (vars::HOST, "http://localhost:3000#top"),
        (vars::OTLP_ENDPOINT, "http://collector:4318?token=abc"),
    ] {
        let err = error(&[(variable, url)]);
        assert!(
            err.to_string().contains("query string"),
            "{variable}: {err}"
        );
        assert_names(
            &err,
            variable,
            url.split('?').next().unwrap().split('#').next().unwrap(),
        );
    }
    let err = Config::new()
        .base_url("http://localhost:3000/?a=b")
        .build_client()
        .unwrap_err();
    assert!(err.to_string().contains("LANGFUSE_BASE_URL"), "{err}");
    // The traces endpoint is used as is: its query string is kept.
    let c = config(&[(vars::OTLP_TRACES_ENDPOINT, "http://c:4318/v1/traces?t=1")]);
    assert_eq!(
        c.value(vars::OTLP_TRACES_ENDPOINT).as_deref(),
        Some("http://c:4318/v1/traces?t=1")
    );
}

/// Issue 13 #10: the password of a URL is never printed: not in `Debug`, the start-up line,
/// nor an error; the traces still go there.
#[test]
fn a_password_in_a_url_is_never_printed() {
    let server = Server::accepting();
    let with_password = server
        .base_url
        .replacen("http://", "http://admin:hunter2@", 1);
    let c = config(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
        ("LANGFUSE_BASE_URL", &with_password),
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            &format!("{with_password}/v1/traces"),
        ),
    ]);
    let debug = format!("{c:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("***@"), "{debug}");
    let (client, lines) = info_lines(|| c.build_client().unwrap().unwrap());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(!lines[0].contains("hunter2"), "{}", lines[0]);
    assert!(lines[0].contains("***@127.0.0.1"), "{}", lines[0]);
    client.trace(Trace::new("t")).end();
    client.shutdown(FLUSH);
    assert_eq!(server.spans().len(), 2, "Langfuse and the collector");

    let err = error(&[("LANGFUSE_BASE_URL", "ftp://admin:hunter2@host")]);
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert_names(&err, "LANGFUSE_BASE_URL", "ftp://***@host");
}

/// Issue 13 #10: a redirect to another origin is not followed with the batch (nor its
/// credentials); the records are counted failed.
#[test]
fn a_redirect_to_another_origin_is_not_followed() {
    let elsewhere = Server::accepting();
    let target = format!("{}/api/public/otel/v1/traces", elsewhere.base_url);
    let redirecting = Server::start(move |_, _| Reply::status(307).header("location", &target));
    let client = config(&[
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
        ("LANGFUSE_BASE_URL", &redirecting.base_url),
    ])
    .build_client()
    .unwrap()
    .unwrap();
    client.trace(Trace::new("t")).end();
    let report = client.shutdown(FLUSH);
    assert_eq!(redirecting.to("/v1/traces").len(), 1);
    assert!(
        elsewhere.received().is_empty(),
        "the batch left for another host"
    );
    assert_eq!(report.stats.exported, 0, "{report:?}");
    assert_eq!(report.stats.failed, 1, "{report:?}");
}

/// The documentation's variable table mirrors the registry: every setting is documented.
#[test]
fn every_setting_is_documented() {
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CONFIGURATION.md"),
    )
    .unwrap();
    for s in SETTINGS {
        assert!(
            docs.contains(&format!("`{}`", s.variable)),
            "docs/CONFIGURATION.md does not document {}",
            s.variable
        );
    }
}
