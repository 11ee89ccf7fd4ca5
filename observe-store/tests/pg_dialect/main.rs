//! The SQLite store's PostgreSQL dialect against a real PostgreSQL: the same generated
//! traces in both, the queries analysts write run on both, and their results compared
//! column by column and cell by cell in the form `observe query` prints them. What the
//! translation cannot give PostgreSQL's answer for, it refuses, naming the construct.

mod compare;
mod copy_to_pg;
mod generate;
#[path = "../pg_support/mod.rs"]
mod pg_support;
mod queries;

use compare::{difference, on_postgres, on_sqlite};
use observe_store::Store;
use pg_support::PgServer;

/// Enough traces that every group the queries make has several rows.
const TRACES: usize = 240;

/// A database of its own on `server` that sorts text by bytes as SQLite does (`C`
/// collation), whatever locale the cluster was made with, with the traces at `sqlite`
/// copied in; the session prints times in UTC, as `observe query` does.
fn postgres_copy(server: &PgServer, sqlite: &std::path::Path) -> postgres::Client {
    server
        .connect()
        .batch_execute(
            "CREATE DATABASE dialect TEMPLATE template0 ENCODING 'UTF8' \
             LC_COLLATE 'C' LC_CTYPE 'C'",
        )
        .expect("create the C-collated database");
    let url = server.url();
    let url = format!("{}/dialect", &url[..url.rfind('/').unwrap()]);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    let copied = copy_to_pg::copy_store(sqlite, &mut client);
    let traces = copied[0];
    assert!(traces.0 == "traces" && traces.1 > 0, "{copied:?}");
    assert!(copied[1].1 > traces.1 && copied[2].1 > 0, "{copied:?}");
    client.batch_execute("SET TimeZone = 'UTC'").unwrap();
    client
}

#[test]
fn the_translation_gives_postgresql_results_on_the_same_traces() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    generate::write_store(&path, TRACES);
    let server = PgServer::start();
    let mut client = postgres_copy(&server, &path);
    let store = Store::open(&path).unwrap();
    let n = on_postgres(&mut client, "SELECT COUNT(*) FROM traces").unwrap();
    assert_eq!(
        n.rows,
        [[observe_store::sql::Value::Integer(TRACES as i64)]]
    );

    let cases: Vec<_> = queries::AGREE.iter().chain(queries::MORE).collect();
    assert!(cases.len() >= 30, "at least thirty queries");
    let mut failures = Vec::new();
    let mut empty = Vec::new();
    for case in &cases {
        let postgres = on_postgres(&mut client, case.sql)
            .unwrap_or_else(|e| panic!("{}: PostgreSQL refused it: {e}\n{}", case.name, case.sql));
        if postgres.rows.is_empty() {
            empty.push(case.name);
        }
        match on_sqlite(&store, case.sql) {
            Err(e) => failures.push(format!("{}: SQLite failed: {e}", case.name)),
            Ok(sqlite) => {
                if let Some(d) = difference(&sqlite, &postgres, case.order) {
                    failures.push(format!("{}: {d}\n  {}", case.name, case.sql));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} queries differ:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    // A query that finds nothing on both agrees without testing anything.
    assert!(empty.is_empty(), "queries with no rows: {empty:?}");
}

#[test]
fn what_the_translation_cannot_match_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("traces.db");
    generate::write_store(&path, 10);
    let server = PgServer::start();
    let mut client = postgres_copy(&server, &path);
    let store = Store::open(&path).unwrap();
    for case in queries::REFUSED {
        // Valid PostgreSQL, so the refusal is the translation's, not a typo's.
        on_postgres(&mut client, case.sql)
            .unwrap_or_else(|e| panic!("{}: PostgreSQL refused it: {e}", case.name));
        let err = on_sqlite(&store, case.sql)
            .err()
            .unwrap_or_else(|| panic!("{}: the translation ran it", case.name));
        assert!(
            err.contains("not supported over the local store") && err.contains(case.names),
            "{}: the error should name `{}`: {err}",
            case.name,
            case.names
        );
    }
}
