//! `OBSERVE_STORE_PATH` naming a file that cannot be opened: `init()` still succeeds, the
//! application runs, the store's records are counted as dropped, and one line says why.
//!
//! `init()` installs the process-wide client, so each case runs in a child process of this
//! test binary (the test re-runs itself with `STORE_CASE` set). A directory's permissions do
//! not stop root, so when the tests run as root the read-only case runs its child as the
//! unprivileged user `nobody` (uid 65534).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use observe_runtime::config::Config;
use observe_runtime::observe;

const CASE: &str = "STORE_CASE";
const PATH: &str = "STORE_CASE_PATH";
const NOBODY: u32 = 65_534;

#[observe]
fn work(n: u32) -> u32 {
    n + 1
}

/// Runs `test` in a child process with the store path `path` (as `uid` when given), and
/// returns its stderr.
fn run_child(test: &str, path: &Path, uid: Option<u32>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE, test)
        .env(PATH, path)
        .env_remove("OBSERVE_STORE_PATH")
        .env_remove("LANGFUSE_PUBLIC_KEY")
        .env_remove("LANGFUSE_SECRET_KEY")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "could not run the case as uid {uid:?}: {e}; running as root, the test needs to \
             switch to the user `nobody` (uid 65534) to meet a read-only directory"
        )
    });
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "{}\n{stderr}", out.status);
    stderr
}

/// The child's side: `init()` succeeds with the store path it was given, observed code runs,
/// and the store's record is counted as dropped.
fn child_case() {
    let path = std::env::var_os(PATH).unwrap();
    let guard = Config::new()
        .store_path(&path)
        .init()
        .expect("init() must not fail when the store cannot be opened");
    assert_eq!(work(1), 2);
    let client = guard.client().expect("a client is installed");
    let report = client.flush(Duration::from_secs(10));
    assert!(!report.timed_out);
    let store = report
        .stats
        .destination("store")
        .expect("the store is listed");
    assert_eq!(
        (store.accepted, store.exported, store.failed, store.dropped),
        (1, 0, 0, 1),
        "{store:?}"
    );
    assert!(store.balanced());
    drop(guard);
}

/// Exactly one line says the store could not be opened, naming its path.
fn assert_said_once(stderr: &str, path: &Path) {
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("could not be opened"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].contains(&path.display().to_string()), "{stderr}");
}

#[test]
fn a_store_path_under_a_regular_file_leaves_init_working() {
    let test = "a_store_path_under_a_regular_file_leaves_init_working";
    if std::env::var(CASE).is_ok_and(|v| v == test) {
        return child_case();
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let path = file.join("traces.db");
    let stderr = run_child(test, &path, None);
    assert_said_once(&stderr, &path);
}

#[test]
fn a_store_path_under_a_read_only_directory_leaves_init_working() {
    let test = "a_store_path_under_a_read_only_directory_leaves_init_working";
    if std::env::var(CASE).is_ok_and(|v| v == test) {
        return child_case();
    }
    let dir = tempfile::tempdir().unwrap();
    let read_only = dir.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    // Readable and searchable by everyone (the child may run as `nobody`), writable by none.
    for d in [dir.path(), read_only.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let probe = read_only.join("probe");
    let privileged = std::fs::write(&probe, b"").is_ok();
    let path = read_only.join("traces.db");
    let stderr = run_child(test, &path, privileged.then_some(NOBODY));
    assert_said_once(&stderr, &path);
    for d in [dir.path(), read_only.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}
