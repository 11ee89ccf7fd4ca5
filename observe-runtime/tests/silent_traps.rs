//! The ways an application can record nothing without noticing each say so, once, on stderr
//! when no `tracing` subscriber is installed; turning tracing off on purpose says nothing.
//!
//! The global client is per process, so each scenario runs in a child process of this test
//! binary (the test re-runs itself with `TRAP_SCENARIO` set) and its stderr is read back.

use std::process::Command;
use std::time::Duration;

use observe_runtime::{observe, Client, Trace};

#[observe]
fn work(n: u32) -> u32 {
    n + 1
}

const SCENARIO: &str = "TRAP_SCENARIO";

/// Runs `test` in a child process with `TRAP_SCENARIO` set (and `env`), returns its stderr.
fn stderr_of(test: &str, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, test)
        .env_remove("LANGFUSE_TRACING_ENABLED");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// True inside the child process that runs scenario `test`.
fn in_child(test: &str) -> bool {
    std::env::var(SCENARIO).is_ok_and(|v| v == test)
}

#[test]
fn no_client_installed_warns_once() {
    if in_child("no_client_installed_warns_once") {
        assert_eq!(work(1) + work(2), 5);
        return;
    }
    let stderr = stderr_of("no_client_installed_warns_once", &[]);
    assert_eq!(stderr.matches("no client installed").count(), 1, "{stderr}");
}

#[test]
fn tracing_turned_off_says_nothing() {
    if in_child("tracing_turned_off_says_nothing") {
        assert_eq!(work(1), 2);
        return;
    }
    let stderr = stderr_of(
        "tracing_turned_off_says_nothing",
        &[("LANGFUSE_TRACING_ENABLED", "false")],
    );
    assert!(!stderr.contains("observe:"), "{stderr}");
}

#[test]
fn a_dropped_guard_warns_once() {
    if in_child("a_dropped_guard_warns_once") {
        let (client, _memory) = Client::in_memory();
        let _ = client.install_global(); // the trap: the guard is dropped at once
        assert_eq!(work(1) + work(2), 5);
        return;
    }
    let stderr = stderr_of("a_dropped_guard_warns_once", &[]);
    assert_eq!(
        stderr
            .matches("after the global client was shut down")
            .count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("let _guard = init()?;"), "{stderr}");
}

#[test]
fn records_after_shutdown_warn_once_and_are_counted() {
    if in_child("records_after_shutdown_warn_once_and_are_counted") {
        let (client, _memory) = Client::in_memory();
        client.shutdown(Duration::from_secs(5));
        for _ in 0..3 {
            client.trace(Trace::new("late")).end();
        }
        assert_eq!(client.stats().dropped_after_shutdown, 3);
        return;
    }
    let stderr = stderr_of("records_after_shutdown_warn_once_and_are_counted", &[]);
    assert_eq!(
        stderr
            .matches("ended after its client was shut down")
            .count(),
        1,
        "{stderr}"
    );
}

#[test]
fn observations_still_open_at_shutdown_are_reported() {
    if in_child("observations_still_open_at_shutdown_are_reported") {
        let (client, _memory) = Client::in_memory();
        let guard = client.clone().install_global();
        let trace = client.trace(Trace::new("fire-and-forget"));
        let child = trace.span("still running");
        client.trace(Trace::new("done")).end();
        drop(guard);
        drop(child);
        trace.end();
        assert_eq!(client.stats().dropped_after_shutdown, 2);
        return;
    }
    let stderr = stderr_of("observations_still_open_at_shutdown_are_reported", &[]);
    assert!(
        stderr.contains("2 observation(s) were still open when tracing shut down"),
        "{stderr}"
    );
}
