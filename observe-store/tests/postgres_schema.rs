//! The PostgreSQL store's schema on a real server: the migrations apply (once, even from
//! many writers at once), readers check the version, and the seed's analytics queries, as
//! a Langfuse user writes them in PostgreSQL, run on it unchanged.

mod pg_support;

use observe_store::postgres::{self as pg, PgStoreError};
use pg_support::PgServer;

/// The seed's four questions as written in PostgreSQL (the forms in the CLI's
/// `cli_seed_queries` test and its reports), plus the tag and JSON operators.
const SEED_QUERIES: [(&str, &str); 5] = [
    (
        "performance by user, last 30 days",
        "SELECT user_id,
                COUNT(*) AS traces,
                AVG(latency_ms)::float AS avg_latency_ms,
                ROUND(SUM(calculated_total_cost)::numeric, 2) AS total_cost
         FROM traces
         WHERE timestamp >= NOW() - INTERVAL '30 days'
         GROUP BY user_id
         ORDER BY total_cost DESC NULLS LAST",
    ),
    (
        "performance by content type, last 30 days",
        "SELECT metadata->>'content_type' AS content_type, COUNT(DISTINCT id) AS traces,
                AVG(latency_ms) AS avg_latency_ms, AVG(calculated_total_cost) AS avg_cost
         FROM traces
         WHERE timestamp > CURRENT_TIMESTAMP - INTERVAL '30 days'
         GROUP BY 1
         HAVING metadata->>'content_type' IS NOT NULL
         ORDER BY traces DESC",
    ),
    (
        "slowest sessions, last 7 days",
        "SELECT session_id,
                MIN(timestamp) AS started,
                MAX(timestamp + latency_ms * INTERVAL '1 millisecond') AS ended,
                EXTRACT(EPOCH FROM MAX(timestamp + latency_ms * INTERVAL '1 millisecond') - MIN(timestamp)) * 1000 AS duration_ms,
                SUM(calculated_total_cost) AS total_cost,
                SUM(computed_cost) AS computed_cost,
                COUNT(*) AS traces
         FROM traces
         WHERE timestamp > NOW() - INTERVAL '7 days'
           AND session_id IS NOT NULL
         GROUP BY session_id
         ORDER BY duration_ms DESC
         LIMIT 10",
    ),
    (
        "slowest users with at least five sessions",
        "WITH per_session AS (
             SELECT user_id, session_id,
                    EXTRACT(EPOCH FROM (MAX(end_time) - MIN(timestamp))) * 1000 AS session_latency_ms,
                    SUM(calculated_total_cost) AS total_cost
             FROM traces
             WHERE session_id IS NOT NULL
             GROUP BY user_id, session_id
         )
         SELECT user_id, COUNT(*) AS sessions, AVG(session_latency_ms) AS avg_session_latency_ms,
                SUM(total_cost) AS total_cost
         FROM per_session
         GROUP BY user_id
         HAVING COUNT(*) >= 5
         ORDER BY avg_session_latency_ms DESC",
    ),
    (
        "tags and JSON keys",
        "SELECT COUNT(*) AS n FROM traces WHERE 'fixture' = ANY(tags) AND metadata ? 'content_type'",
    ),
];

/// Runs `sql` the way `observe query` will: in a read-only transaction.
fn read_only(client: &mut postgres::Client, sql: &str) -> Vec<postgres::Row> {
    let mut tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .expect("begin read only");
    let rows = tx.query(sql, &[]).unwrap_or_else(|e| panic!("{sql}\n{e}"));
    tx.commit().expect("commit");
    rows
}

#[test]
fn migrations_apply_and_the_seed_queries_run_on_the_empty_schema() {
    let server = PgServer::start();
    let mut client = server.connect();

    assert_eq!(pg::version(&mut client).unwrap(), 0);
    assert!(matches!(
        pg::check_readable(&mut client),
        Err(PgStoreError::NotAStore { missing }) if missing.len() == 3
    ));
    assert_eq!(pg::migrate(&mut client).unwrap(), 0);
    assert_eq!(pg::version(&mut client).unwrap(), pg::CURRENT_VERSION);
    assert_eq!(
        pg::check_readable(&mut client).unwrap(),
        pg::CURRENT_VERSION
    );
    // A second writer finds nothing to do.
    assert_eq!(pg::migrate(&mut client).unwrap(), pg::CURRENT_VERSION);

    for (what, sql) in SEED_QUERIES {
        let rows = read_only(&mut client, sql);
        let expected = usize::from(what == "tags and JSON keys");
        assert_eq!(rows.len(), expected, "{what}");
    }
}

#[test]
fn the_seed_queries_see_a_trace_through_the_postgres_types() {
    let server = PgServer::start();
    let mut client = server.connect();
    pg::migrate(&mut client).unwrap();
    client
        .batch_execute(
            "INSERT INTO traces (id, user_id, session_id, timestamp, start_ns, end_ns, latency_ms,
                                 calculated_total_cost, metadata, tags, updated_at, end_time)
             VALUES ('t1', 'alice', 's1', now() - interval '1 day', 0, 2000000000, 2000, 0.25,
                     '{\"content_type\": \"article\"}', ARRAY['fixture'], now(),
                     now() - interval '1 day' + interval '2 seconds')",
        )
        .unwrap();

    let rows = read_only(&mut client, SEED_QUERIES[1].1);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].get::<_, Option<String>>("content_type").as_deref(),
        Some("article")
    );
    assert_eq!(rows[0].get::<_, i64>("traces"), 1);

    let rows = read_only(&mut client, SEED_QUERIES[2].1);
    assert_eq!(rows.len(), 1);
    // EXTRACT gives `numeric`, which this client reads only through a cast.
    let wrapped = format!(
        "SELECT duration_ms::float8 FROM ({}) AS q",
        SEED_QUERIES[2].1
    );
    let duration: f64 = read_only(&mut client, &wrapped)[0].get(0);
    assert!((duration - 2000.0).abs() < 1e-6, "{duration}");

    let rows = read_only(&mut client, SEED_QUERIES[4].1);
    assert_eq!(rows[0].get::<_, i64>("n"), 1);
}

#[test]
fn a_version_3_database_gets_the_dashboard_indexes_with_its_rows_in_them() {
    let server = PgServer::start();
    let mut client = server.connect();
    pg::migrate(&mut client).unwrap();
    // Back to version 3: what migrations 4 (the indexes), 5 (the users' totals) and 6
    // (the dashboard's roll-up) make, undone.
    client
        .batch_execute(&format!(
            "{}{}
             DROP INDEX observations_generation, observations_usage, observations_flagged;
             DELETE FROM observe_schema_migrations WHERE version >= 4;
             INSERT INTO traces (id, timestamp, start_ns, end_ns, updated_at, seq)
                 VALUES ('t', now(), 0, 0, now(), 1);
             INSERT INTO observations (id, trace_id, type, name, level, start_time, end_time,
                 start_ns, end_ns, latency_ms, usage_details, trace_seq) VALUES
                 ('g', 't', 'GENERATION', 'llm', 'DEFAULT', now(), now(), 0, 0, 7,
                  '{{\"input\": 3}}', 1),
                 ('s', 't', 'SPAN', 'step', 'ERROR', now(), now(), 0, 0, 0, NULL, 1),
                 ('w', 't', 'SPAN', 'step', 'WARNING', now(), now(), 0, 0, 0, NULL, 1),
                 ('d', 't', 'SPAN', 'step', 'DEFAULT', now(), now(), 0, 0, 0, NULL, 1);",
            pg::DROP_TRACE_HOURS,
            pg::DROP_USER_TOTALS
        ))
        .unwrap();
    assert_eq!(pg::version(&mut client).unwrap(), 3);
    assert_eq!(pg::migrate(&mut client).unwrap(), 3);
    assert_eq!(pg::version(&mut client).unwrap(), pg::CURRENT_VERSION);

    // Each index holds the rows its widget keeps, stored before the migration: with
    // sequential scans off, the planner reads them through the index, or not at all.
    client
        .batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off")
        .unwrap();
    for (condition, index, ids) in [
        ("type = 'GENERATION'", "observations_generation", "g"),
        ("usage_details IS NOT NULL", "observations_usage", "g"),
        (
            "level IN ('ERROR', 'WARNING')",
            "observations_flagged",
            "s,w",
        ),
    ] {
        let sql = format!(
            "SELECT string_agg(id, ',' ORDER BY id) FROM observations
             WHERE trace_seq = 1 AND {condition}"
        );
        let plan: Vec<String> = client
            .query(&format!("EXPLAIN {sql}"), &[])
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(plan.join("\n").contains(index), "{plan:?}");
        let found: String = client.query_one(&sql, &[]).unwrap().get(0);
        assert_eq!(found, ids, "{index}");
    }
}

#[test]
fn writers_migrating_at_once_migrate_once() {
    let server = PgServer::start();
    let url = server.url();
    let found: Vec<i32> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                s.spawn(move || {
                    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                    pg::migrate(&mut client).unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(found.iter().filter(|v| **v == 0).count(), 1, "{found:?}");
    let mut client = server.connect();
    let applied: i64 = client
        .query_one("SELECT COUNT(*) FROM observe_schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(applied, i64::from(pg::CURRENT_VERSION));
}

#[test]
fn a_database_from_a_newer_build_is_refused_by_writers_and_readers() {
    let server = PgServer::start();
    let mut client = server.connect();
    pg::migrate(&mut client).unwrap();
    client
        .execute(
            "INSERT INTO observe_schema_migrations (version) VALUES ($1)",
            &[&(pg::CURRENT_VERSION + 1)],
        )
        .unwrap();
    for result in [pg::migrate(&mut client), pg::check_readable(&mut client)] {
        match result {
            Err(PgStoreError::NewerSchema { found, supported }) => {
                assert_eq!(
                    (found, supported),
                    (pg::CURRENT_VERSION + 1, pg::CURRENT_VERSION)
                );
            }
            other => panic!("not refused: {other:?}"),
        }
    }
}

#[test]
#[should_panic(expected = "Install it with `apt-get install -y postgresql`")]
fn a_missing_server_fails_saying_how_to_install_it() {
    pg_support::bin_dir_in(std::path::Path::new("/nonexistent/postgresql"));
}

/// The columns of `table` in a new SQLite store, in order.
fn sqlite_columns(path: &std::path::Path, table: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_table_info(?1)")
        .unwrap();
    let names = stmt.query_map([table], |row| row.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

#[test]
fn the_tables_have_the_sqlite_stores_columns_in_its_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    drop(observe_store::StoreExporter::open(&path).unwrap());

    let server = PgServer::start();
    let mut client = server.connect();
    pg::migrate(&mut client).unwrap();
    for table in ["traces", "observations", "scores", "pushed"] {
        let sqlite = sqlite_columns(&path, table);
        assert!(!sqlite.is_empty(), "SQLite store has no {table}");
        assert_eq!(
            pg::table_columns(&mut client, table).unwrap(),
            sqlite,
            "{table}"
        );
    }
}

#[test]
fn a_reader_names_the_columns_a_hand_edited_database_lacks() {
    let server = PgServer::start();
    let mut client = server.connect();
    pg::migrate(&mut client).unwrap();
    client
        .batch_execute("ALTER TABLE traces DROP COLUMN session_id")
        .unwrap();
    match pg::check_readable(&mut client) {
        Err(PgStoreError::NotAStore { missing }) => {
            assert_eq!(missing, ["traces.session_id"]);
        }
        other => panic!("not refused: {other:?}"),
    }
}
