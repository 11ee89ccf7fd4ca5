//! The bundled example recorded into a PostgreSQL store (`OBSERVE_STORE_URL`), then read
//! back with SQL as a team would.
//!
//! The example binary must be built with the `postgres` feature first:
//! `cargo build -p observe --features postgres --example content_analysis` (a plain
//! `cargo test -p observe --features postgres` builds it too).

#[path = "../observe-store/tests/pg_support/mod.rs"]
mod pg_support;

use std::path::PathBuf;
use std::process::Command;

use pg_support::PgServer;

fn example() -> Command {
    let exe = std::env::current_exe().expect("the test binary's path");
    let path: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .join("examples")
        .join("content_analysis");
    assert!(
        path.exists(),
        "{} is missing: build it with \
         `cargo build -p observe --features postgres --example content_analysis`",
        path.display()
    );
    let mut cmd = Command::new(path);
    for (key, _) in std::env::vars() {
        if key.starts_with("LANGFUSE_")
            || key.starts_with("OTEL_")
            || key.starts_with("OBSERVE_")
            || key.starts_with("PG")
        {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn the_example_records_into_postgres_and_sql_reads_it_back() {
    let server = PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let out = example()
        .current_dir(dir.path())
        .env(
            "OBSERVE_STORE_URL",
            format!("{}?sslmode=disable", server.url()),
        )
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("not everything was exported"),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("the PostgreSQL store postgres://postgres@127.0.0.1"),
        "the start-up line names the store:\n{stderr}"
    );
    assert!(
        !dir.path().join(".observe/traces.db").exists(),
        "the URL replaces the local file"
    );
    let session = stdout
        .lines()
        .find_map(|l| l.split_whitespace().find(|w| w.starts_with("analysis_")))
        .expect("the session id in the output")
        .trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
        .to_owned();

    let mut c = server.connect();
    let row = c
        .query_one(
            "SELECT count(*), sum(observation_count)::bigint, bool_and(has_root),
                    sum(calculated_total_cost)::float8, max(user_id)
             FROM traces WHERE session_id = $1",
            &[&session],
        )
        .expect("the session's traces");
    assert_eq!(row.get::<_, i64>(0), 3, "the example's three traces");
    let observations: i64 = c
        .query_one(
            "SELECT count(*) FROM observations o JOIN traces t ON o.trace_seq = t.seq
             WHERE t.session_id = $1",
            &[&session],
        )
        .unwrap()
        .get(0);
    assert_eq!(row.get::<_, i64>(1), observations);
    assert!(observations >= 10, "{observations}");
    assert!(row.get::<_, bool>(2), "every trace has its root");
    assert!(row.get::<_, f64>(3) > 0.0, "the generations' cost");
    assert_eq!(
        row.get::<_, Option<String>>(4).as_deref(),
        Some("user_demo")
    );
    let scores: i64 = c
        .query_one(
            "SELECT count(*) FROM scores s JOIN traces t ON s.trace_id = t.id
             WHERE t.session_id = $1",
            &[&session],
        )
        .unwrap()
        .get(0);
    assert!(scores >= 1, "the quality score");
}
