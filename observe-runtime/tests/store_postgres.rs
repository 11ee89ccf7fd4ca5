//! The PostgreSQL store as one destination of the pipeline (`OBSERVE_STORE_URL`), beside
//! the SQLite store: a server restarted mid-run costs only its own records, each counted,
//! and the SQLite store gets everything.

#[path = "../../observe-store/tests/pg_support/mod.rs"]
mod pg_support;

use std::time::Duration;

use observe_runtime::export::store::{sql, Store};
use observe_runtime::{Client, Config, Trace};
use pg_support::PgServer;

const PER_PHASE: usize = 40;

fn record(client: &Client, phase: &str) {
    for i in 0..PER_PHASE {
        let trace = client.trace(Trace::new("job").session_id(format!("{phase}-{i}")));
        trace.span("step").end();
        trace.end();
    }
    client.flush(Duration::from_secs(30));
}

fn sqlite_count(store: &Store, query: &str) -> i64 {
    match sql::query(store, query).expect(query).rows[..] {
        [ref row] => match row[..] {
            [sql::Value::Integer(n)] => n,
            ref other => panic!("{query}: {other:?}"),
        },
        ref rows => panic!("{query}: {rows:?}"),
    }
}

#[test]
fn a_restarted_server_costs_only_its_own_records_and_sqlite_gets_all() {
    let server = PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let client = Config::new()
        .store_url(format!("{}?sslmode=disable", server.url()))
        .store_path(&db)
        .retry_deadline(Duration::from_secs(1))
        .flush_at(16)
        .quiet(true)
        .build_client()
        .expect("config")
        .expect("enabled");

    record(&client, "before");
    server.stop();
    record(&client, "during");
    server.resume();
    record(&client, "after");
    let report = client.shutdown(Duration::from_secs(30));

    let total = 3 * 2 * PER_PHASE as u64;
    let pg = report
        .stats
        .destination("postgres")
        .expect("the PostgreSQL destination");
    let sqlite = report
        .stats
        .destination("store")
        .expect("the SQLite destination");
    assert!(pg.balanced(), "{pg:?}");
    assert!(sqlite.balanced(), "{sqlite:?}");
    assert_eq!(pg.accepted, total, "{pg:?}");
    assert_eq!(sqlite.exported, total, "{sqlite:?}");
    assert_eq!(sqlite.failed + sqlite.dropped, 0, "{sqlite:?}");
    // The outage's batches were retried, then failed; the others were written.
    assert!(pg.retried > 0, "{pg:?}");
    assert!(pg.failed > 0, "{pg:?}");
    assert!(pg.exported >= 4 * PER_PHASE as u64, "{pg:?}");

    let mut c = server.connect();
    let rows: i64 = c
        .query_one("SELECT count(*) FROM observations", &[])
        .unwrap()
        .get(0);
    assert_eq!(
        rows as u64, pg.exported,
        "every record counted exported is there"
    );
    let sessions: i64 = c
        .query_one(
            "SELECT count(*) FROM traces WHERE session_id LIKE 'before-%' OR session_id LIKE 'after-%'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(sessions, 2 * PER_PHASE as i64);

    let store = Store::open(&db).unwrap();
    assert_eq!(
        sqlite_count(&store, "SELECT count(*) FROM observations"),
        total as i64
    );
}

#[test]
fn a_url_that_cannot_be_used_is_a_config_error_without_the_password() {
    let e = Config::new()
        .store_url("postgres://u:hunter2@db:port/observe")
        .build_client()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("PostgreSQL"), "{e}");
    assert!(!e.contains("hunter2"), "{e}");
}
