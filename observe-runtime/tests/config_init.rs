//! `Config::init`: the global client `#[observe]` uses, the guard that flushes it, and
//! tracing turned off. One test, since the global client is process-wide.

mod export_support;

use std::time::Duration;

use export_support::*;
use observe_runtime::config::Config;
use observe_runtime::{current_trace_id, current_trace_url, observe};

#[observe]
fn handle(request: &str) -> (usize, Option<String>) {
    let url = current_trace_url();
    if let Some(url) = &url {
        assert!(
            url.ends_with(&current_trace_id().unwrap().to_string()),
            "{url}"
        );
    }
    (request.len(), url)
}

#[test]
fn init_installs_the_global_client_and_the_guard_flushes_it() {
    // Disabled: nothing installed, the guard holds nothing, calls run as plain calls.
    let guard = Config::from_vars(vars(&[
        ("LANGFUSE_TRACING_ENABLED", "false"),
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-1"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-1"),
    ]))
    .unwrap()
    .init()
    .unwrap();
    assert!(guard.client().is_none());
    assert_eq!(handle("abc"), (3, None));
    assert!(observe_runtime::flush(Duration::from_secs(1)).is_none());
    drop(guard);

    // Enabled: #[observe] records into the configured destination; the URL points there.
    let server = Server::accepting();
    let guard = Config::new()
        .keys("pk-lf-1", "sk-lf-1")
        .base_url(&server.base_url)
        .init()
        .unwrap();
    assert!(guard.client().is_some());
    let (n, url) = handle("hello");
    assert_eq!(n, 5);
    let url = url.expect("a trace URL inside an observed call");
    assert!(
        url.starts_with(&format!("{}/trace/", server.base_url)),
        "{url}"
    );
    drop(guard); // flushes and shuts down
    let spans = server.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "handle");
    assert!(url.ends_with(&hex(&spans[0].trace_id)));

    // After the guard: no global client again.
    assert_eq!(handle("x"), (1, None));
    assert!(observe_runtime::flush(Duration::from_secs(1)).is_none());
}
