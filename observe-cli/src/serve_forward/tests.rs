use std::collections::HashMap;

use clap::Parser as _;

use super::*;

#[derive(clap::Parser)]
struct Flags {
    #[command(flatten)]
    forward: ForwardArgs,
}

fn args(flags: &[&str]) -> ForwardArgs {
    Flags::parse_from(["serve"].iter().chain(flags)).forward
}

fn destination(url: &str, vars: &[(&str, &str)], flags: &[&str]) -> Result<Destination> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    upstream(url, &args(flags), &|name| map.get(name).cloned())
}

#[test]
fn a_traces_url_is_a_collector_and_anything_else_langfuse() {
    let d = destination("http://otel:4318/v1/traces", &[], &[]).unwrap();
    assert_eq!(
        d.description,
        "the OTLP collector at http://otel:4318/v1/traces"
    );
    assert_eq!(d.exporter.name(), "otlp");
    let keys = [
        (vars::PUBLIC_KEY, "pk-lf-1"),
        (vars::SECRET_KEY, "sk-lf-secret"),
    ];
    let d = destination("https://lf.example.com/", &keys, &[]).unwrap();
    assert_eq!(d.description, "Langfuse at https://lf.example.com (OTLP)");
    assert_eq!(d.exporter.name(), "langfuse-otlp");
    // Langfuse's OTLP endpoint given whole is Langfuse, not a collector (scores go to its
    // scores API).
    let d = destination(
        "https://lf.example.com/api/public/otel/v1/traces",
        &keys,
        &[],
    )
    .unwrap();
    assert_eq!(d.description, "Langfuse at https://lf.example.com (OTLP)");
    let d = destination(
        "http://lf:3000",
        &[],
        &[
            "--forward-api",
            "ingestion",
            "--forward-public-key",
            "pk-flag",
            "--forward-secret-key",
            "sk-flag",
        ],
    )
    .unwrap();
    assert_eq!(d.description, "Langfuse at http://lf:3000 (ingestion API)");
    assert_eq!(d.key, "langfuse http://lf:3000 pk-flag");
}

#[test]
fn a_langfuse_upstream_without_keys_says_what_to_set() {
    let err = destination("http://lf:3000", &[(vars::PUBLIC_KEY, "pk")], &[])
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(text.contains(vars::SECRET_KEY), "{text}");
    assert!(text.contains("/v1/traces"), "{text}");
    let err = destination(
        "not a url",
        &[(vars::PUBLIC_KEY, "pk"), (vars::SECRET_KEY, "sk")],
        &[],
    )
    .err()
    .unwrap();
    assert!(format!("{err:#}").contains("not a url"), "{err:#}");
}

#[test]
fn spooling_two_upstreams_of_one_kind_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = args(&[
        "--forward-to",
        "http://a:4318/v1/traces",
        "--forward-to",
        "http://b:4318/v1/traces",
        "--forward-spool",
    ]);
    let err = Forwarder::start(&a, &dir.path().join("traces.db"), &|_| None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("`otlp`"), "{err}");
    // Without the spool both run, each on its own.
    let a = args(&[
        "--forward-to",
        "http://a:4318/v1/traces",
        "--forward-to",
        "http://b:4318/v1/traces",
    ]);
    let forwarder = Forwarder::start(&a, &dir.path().join("traces.db"), &|_| None)
        .unwrap()
        .unwrap();
    assert_eq!(forwarder.descriptions().len(), 2);
    let report = forwarder.shutdown(Instant::now());
    assert!(report
        .lanes
        .iter()
        .all(|l| l.counts == LaneCounts::default()));
    assert!(!dir.path().join("spool").exists());
}
