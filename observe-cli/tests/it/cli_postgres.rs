//! Every reading command on a real PostgreSQL store (the test harness's server) against
//! the same traces in a SQLite store file: the same output, byte for byte. The traces are
//! the shared fixture plus one with an error, tags and scores, copied row for row from
//! the file into PostgreSQL.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use observe_model::export::Batch;
use observe_model::model::{
    Json, Level, Observation, ObservationDetails, ObservationType, Score, ScoreValue, SpanId,
    Timestamp, TraceAttributes, TraceId, Usage,
};

use crate::common::{self, failed, ok, write_fixture};
use crate::pg_load::copy_store;
use crate::pg_support::PgServer;

/// A store file with the fixture and a failed, tagged, scored trace; and its id. Times are
/// whole milliseconds: the SQLite translation adds intervals to timestamps to the
/// millisecond (docs/CLI.md), PostgreSQL to the microsecond.
pub(crate) fn store_file(dir: &Path) -> (PathBuf, String) {
    let path = dir.join("traces.db");
    let now = write_fixture(&path);
    let at = |ms: u64| Timestamp(now.as_nanos() - 3_600 * common::SECOND + ms * 1_000_000);
    let trace_id = TraceId(0xe1e1 << 112);
    let attributes = Arc::new(TraceAttributes {
        name: Some("checkout".into()),
        session_id: Some("e1".into()),
        user_id: Some("erin".into()),
        tags: vec!["x".into(), "say \"hi\"".into()],
        metadata: [("content_type".to_owned(), Json::string("article"))].into(),
        input: Some(Json::string("buy")),
        ..TraceAttributes::default()
    });
    let observation =
        |id: u64, parent: Option<u64>, name: &'static str, kind, level, start, end, details| {
            Box::new(Observation {
                trace_id,
                id: SpanId(id),
                parent_id: parent.map(SpanId),
                name: name.into(),
                kind,
                level,
                start: at(start),
                end: at(end),
                details: Some(Box::new(details)),
                trace: attributes.clone(),
            })
        };
    let score = |name: &str, observation: Option<u64>, value: ScoreValue, ms| {
        Box::new(Score {
            id: format!("{:032x}", ms),
            trace_id,
            observation_id: observation.map(SpanId),
            name: name.into(),
            value,
            comment: Some(format!("given at {ms}")),
            timestamp: at(ms),
            session_id: Some("e1".into()),
        })
    };
    let batch = Batch {
        observations: vec![
            observation(
                0xe11,
                Some(0xe10),
                "draft",
                ObservationType::Generation,
                Level::Default,
                5,
                1_205,
                ObservationDetails {
                    model: Some("gpt-4o-mini".into()),
                    usage: Some(Usage::new(300, 40)),
                    output: Some(Json::string("a draft")),
                    ..ObservationDetails::default()
                },
            ),
            observation(
                0xe12,
                Some(0xe10),
                "charge",
                ObservationType::Tool,
                Level::Error,
                1_210,
                1_250,
                ObservationDetails {
                    status_message: Some("card declined".into()),
                    ..ObservationDetails::default()
                },
            ),
            observation(
                0xe10,
                None,
                "checkout",
                ObservationType::Span,
                Level::Default,
                0,
                1_300,
                ObservationDetails::default(),
            ),
        ],
        scores: vec![
            score("quality", Some(0xe11), 0.9.into(), 1_400),
            score("helpful", None, 1.0.into(), 1_500),
            score("verdict", None, "good".into(), 1_600),
        ],
    };
    common::record::write_batch(&path, &batch);
    (path, trace_id.to_string())
}

/// `observe --db DB args...`
fn observe(db: &str, args: &[&str]) -> std::process::Output {
    common::observe(Some(Path::new(db)), args)
}

#[test]
fn every_reading_command_prints_the_same_on_postgresql_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (path, failed_trace) = store_file(dir.path());
    let server = PgServer::start();
    copy_store(&path, &mut server.connect());
    let (file, url) = (path.to_str().unwrap().to_owned(), server.url());
    let fixture_trace = common::trace_id(0);
    let commands: Vec<Vec<&str>> = vec![
        vec!["sessions"],
        vec!["--json", "sessions"],
        vec!["--jsonl", "sessions", "--limit", "3"],
        vec!["traces"],
        vec!["--json", "traces"],
        vec!["traces", "--user", "alice"],
        vec!["traces", "--session", "a1"],
        vec!["traces", "--tag", "x"],
        vec!["traces", "--name", "checkout"],
        vec!["traces", "--level", "ERROR"],
        vec!["traces", "--since", "3d"],
        vec!["traces", "--since", "2000-01-31"],
        vec!["session", "a1"],
        vec!["--json", "session", "a1"],
        vec!["session", "e1", "--io"],
        vec!["--json", "session", "e1"],
        vec!["trace", &fixture_trace],
        vec!["trace", &failed_trace[..12]],
        vec!["trace", &failed_trace],
        vec!["--json", "trace", &failed_trace],
        vec!["report", "users"],
        vec!["report", "content-types"],
        vec!["report", "slow-sessions"],
        vec!["report", "slow-users"],
        vec!["report", "by-metadata", "fixture"],
        // The reports' JSON holds the sums unrounded: compared within floating point below.
    ];
    for args in &commands {
        eprintln!("observe {}", args.join(" "));
        let on_sqlite = ok(&observe(&file, args));
        let on_postgres = ok(&observe(&url, args));
        assert_eq!(on_postgres, on_sqlite, "observe {}", args.join(" "));
        assert!(!on_sqlite.trim().is_empty(), "observe {}", args.join(" "));
    }
}

/// The seed's four queries, as a Langfuse user writes them, run unchanged on PostgreSQL
/// (natively) and on the SQLite store (translated): the same rows, in the same order,
/// numbers equal within what floating point explains: SQLite's `SUM` compensates rounding
/// errors and PostgreSQL's does not (0.6 against 0.6000000000000001), and the translation
/// subtracts times as `julianday` numbers, exact to about 50 µs (a 9,000 ms session comes
/// back as 9000.03 ms).
#[test]
fn the_seeds_queries_give_the_same_rows_on_both() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = store_file(dir.path());
    let server = PgServer::start();
    copy_store(&path, &mut server.connect());
    let (file, url) = (path.to_str().unwrap().to_owned(), server.url());
    for report in observe_cli::reports::Report::ALL {
        let sql = report.sql();
        let rows = |db: &str| -> Vec<serde_json::Value> {
            serde_json::from_str(&ok(&observe(db, &["--json", "query", &sql]))).unwrap()
        };
        let (on_sqlite, on_postgres) = (rows(&file), rows(&url));
        assert!(on_sqlite.len() >= 2, "{sql}\n{on_sqlite:?}");
        assert_eq!(
            on_postgres.len(),
            on_sqlite.len(),
            "{sql}\n{on_postgres:?}\n{on_sqlite:?}"
        );
        for (pg, lite) in on_postgres.iter().zip(&on_sqlite) {
            let (pg, lite) = (pg.as_object().unwrap(), lite.as_object().unwrap());
            assert_eq!(
                pg.keys().collect::<Vec<_>>(),
                lite.keys().collect::<Vec<_>>(),
                "{sql}"
            );
            for (column, value) in lite {
                let same = match (&pg[column], value) {
                    (serde_json::Value::Number(a), serde_json::Value::Number(b)) => {
                        let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                        // Times in ms: julianday's 50 µs; else floating-point sums.
                        let slack = if column.ends_with("_ms") { 0.1 } else { 0.0 };
                        (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0) + slack
                    }
                    (a, b) => a == b,
                };
                assert!(
                    same,
                    "{sql}\n{column}: {} on PostgreSQL, {value} on SQLite",
                    pg[column]
                );
            }
        }
    }
}

#[test]
fn query_on_postgresql_is_read_only_limited_and_timed() {
    let server = PgServer::start();
    observe_store::postgres::migrate(&mut server.connect()).unwrap();
    let url = server.url();

    let refused = failed(&observe(
        &url,
        &[
            "query",
            "INSERT INTO scores (id, trace_id, name, data_type, \"timestamp\") \
                    VALUES ('s', 't', 'n', 'NUMERIC', now())",
        ],
    ));
    assert!(refused.contains("read-only transaction"), "{refused}");
    let count = ok(&observe(
        &url,
        &["--json", "query", "SELECT COUNT(*) AS n FROM scores"],
    ));
    assert!(
        count.contains("\"n\": 0") || count.contains("\"n\":0"),
        "{count}"
    );

    let stopped = failed(&observe(
        &url,
        &["query", "--timeout", "300ms", "SELECT pg_sleep(30)"],
    ));
    assert!(stopped.contains("ran longer than 0.3s"), "{stopped}");

    let limited = ok(&observe(
        &url,
        &[
            "--jsonl",
            "query",
            "--limit",
            "3",
            "SELECT n FROM generate_series(1, 1000000) AS n",
        ],
    ));
    assert_eq!(
        limited.lines().collect::<Vec<_>>(),
        ["{\"n\":1}", "{\"n\":2}", "{\"n\":3}"]
    );

    // One statement only: a second one (here a way out of the read-only transaction)
    // never reaches the server's simple protocol.
    let two = failed(&observe(
        &url,
        &[
            "query",
            "SELECT 1; COMMIT; SET default_transaction_read_only = off",
        ],
    ));
    assert!(two.contains("multiple commands"), "{two}");
    // Statements with rows that no cursor takes still answer.
    let shown = ok(&observe(&url, &["--jsonl", "query", "SHOW TimeZone"]));
    assert_eq!(shown.trim(), "{\"TimeZone\":\"UTC\"}");

    // The documented forms of PostgreSQL's types: as PostgreSQL prints them.
    let typed = ok(&observe(
        &url,
        &[
            "--jsonl",
            "query",
            "SELECT TIMESTAMPTZ '2026-01-31 12:00:00.5+02' AS at, '{\"b\":1,\"a\":[true]}'::jsonb AS j, \
             1 < 2 AS yes, INTERVAL '1 day 2 hours' AS span, 2.50::numeric AS price, \
             ARRAY['a','b'] AS tags, NULL::text AS nothing",
        ],
    ));
    assert_eq!(
        typed.trim(),
        "{\"at\":\"2026-01-31 10:00:00.5+00\",\"j\":\"{\\\"a\\\": [true], \\\"b\\\": 1}\",\
         \"yes\":\"true\",\"span\":\"1 day 02:00:00\",\"price\":2.5,\"tags\":\"{a,b}\",\
         \"nothing\":null}"
    );
}

/// `--db postgres:` takes the rest from libpq's variables, as `psql` does.
#[test]
fn the_url_takes_what_it_leaves_out_from_libpq_variables() {
    let server = PgServer::start();
    let mut client = server.connect();
    observe_store::postgres::migrate(&mut client).unwrap();
    let right = server.password_user("ann", "right-pw");
    client
        .batch_execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO ann")
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_observe"))
        .args([
            "--db",
            "postgres:",
            "--json",
            "query",
            "SELECT current_user AS who",
        ])
        .env_remove("OBSERVE_STORE_PATH")
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", server.port().to_string())
        .env("PGUSER", "ann")
        .env("PGPASSWORD", "right-pw")
        .env("PGDATABASE", right.rsplit('/').next().unwrap())
        .env("PGSSLMODE", "disable")
        .output()
        .unwrap();
    assert_eq!(ok(&out).trim(), "[\n  {\"who\":\"ann\"}\n]");
}

#[test]
fn a_database_that_cannot_be_read_is_named_with_the_reason() {
    let server = PgServer::start();
    let url = server.url();

    let empty = failed(&observe(&url, &["sessions"]));
    assert!(empty.contains("has no observe store"), "{empty}");
    assert!(empty.contains("traces"), "{empty}");

    let mut client = server.connect();
    observe_store::postgres::migrate(&mut client).unwrap();
    client
        .batch_execute("INSERT INTO observe_schema_migrations (version) VALUES (99)")
        .unwrap();
    let newer = failed(&observe(&url, &["traces"]));
    assert!(newer.contains("newer than this build"), "{newer}");

    let port = url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let right = server.password_user("ann", "right-pw");
    let wrong = right.replace("right-pw", "s3cret-pw");
    let refused = failed(&observe(&wrong, &["sessions"]));
    assert!(refused.contains("refused the connection"), "{refused}");
    assert!(
        refused.contains("password authentication failed for user \"ann\""),
        "{refused}"
    );
    assert!(!refused.contains("s3cret-pw"), "{refused}");

    for files_only in [&["migrate"][..], &["prices", "--check"]] {
        let refused = failed(&observe(&wrong, files_only));
        assert!(
            refused.contains("store files only"),
            "{files_only:?}: {refused}"
        );
        assert!(!refused.contains("s3cret-pw"), "{refused}");
    }

    // The web view opens the store before it listens, and says why it cannot.
    let refused = failed(&observe(&wrong, &["ui", "--port", "0"]));
    assert!(refused.contains("refused the connection"), "{refused}");
    assert!(!refused.contains("s3cret-pw"), "{refused}");

    drop(client);
    drop(server);
    let gone = failed(&observe(
        &format!("postgres://postgres:s3cret-pw@127.0.0.1:{port}/observe_test"),
        &["sessions"],
    ));
    assert!(
        gone.contains("cannot reach PostgreSQL at postgres://postgres@127.0.0.1"),
        "{gone}"
    );
    assert!(!gone.contains("s3cret-pw"), "{gone}");
}
