//! The users page's kept totals on a real PostgreSQL say what grouping the traces says,
//! after the writes of `tests/user_totals.rs` (batches with merges, pieces for several
//! projects, edits by hand), through the writer's `COPY` and set statements; a database of
//! the previous version gets them from its traces when a writer migrates it; and writers
//! sending pieces of the same users at once still finish (no deadlock on the totals).

mod pg_support;
mod user_totals_cases;

use observe_model::export::Exporter;
use observe_store::postgres::{PgExporter, PgSettings, PgStore};
use pg_support::PgServer;
use user_totals_cases::{piece_requests, write_all_to_postgres, Dice, HAND_EDITS};

fn exporter(server: &PgServer) -> PgExporter {
    let settings = PgSettings::from_url_with_env(&server.url(), |_| None).expect("settings");
    PgExporter::connect(settings).expect("connect")
}

fn write_all(server: &PgServer, dice: &mut Dice) {
    write_all_to_postgres(&server.url(), dice);
}

/// Each kept row against the same figures grouped from `traces`, per user and project:
/// counts and times exactly, sums to a relative 1e-9. Returns the rows that differ.
fn differences(client: &mut postgres::Client) -> Vec<String> {
    let rows = client
        .query(
            "WITH want AS (
                SELECT user_id, COALESCE(project_id, '') AS project, count(*) AS traces,
                    count(DISTINCT session_id) AS sessions,
                    sum(calculated_total_cost) AS cost, sum(computed_cost) AS computed_cost,
                    sum(latency_ms) AS latency_sum, max(latency_ms) AS max_latency_ms,
                    max(\"timestamp\") AS last_seen, sum(observation_count) AS observations
                FROM traces WHERE user_id IS NOT NULL GROUP BY 1, 2)
             SELECT format('%s/%s: want %s, kept %s', COALESCE(w.user_id, t.user_id),
                 COALESCE(w.project, t.project), w::text, t::text)
             FROM want w FULL JOIN user_totals t USING (user_id, project)
             WHERE w.user_id IS NULL OR t.user_id IS NULL
                OR w.traces <> t.traces OR w.sessions <> t.sessions
                OR w.observations <> t.observations OR w.last_seen <> t.last_seen
                OR w.max_latency_ms <> t.max_latency_ms
                OR abs(w.cost - t.cost) > 1e-9 * greatest(1, abs(w.cost))
                OR abs(w.computed_cost - t.computed_cost) > 1e-9 * greatest(1, abs(w.computed_cost))
                OR abs(w.latency_sum - t.latency_sum) > 1e-9 * greatest(1, abs(w.latency_sum))",
            &[],
        )
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

/// The page through the reader: one row per user, its traces as the traces say.
fn check_page(server: &PgServer, client: &mut postgres::Client) {
    let mut reader = PgStore::connect(&server.url()).unwrap();
    let page = reader.user_rows().unwrap();
    let users = count(
        client,
        "SELECT count(DISTINCT user_id) FROM traces WHERE user_id IS NOT NULL",
    );
    assert!(users >= 5, "too few users to compare: {users}");
    assert_eq!(page.len() as i64, users, "{page:#?}");
    for row in &page {
        let user = row["user_id"].as_str().unwrap();
        let traces = client
            .query_one("SELECT count(*) FROM traces WHERE user_id = $1", &[&user])
            .unwrap()
            .get::<_, i64>(0);
        assert_eq!(row["traces"].as_i64(), Some(traces), "{row}");
    }
}

#[test]
fn kept_totals_match_the_traces_after_batches_pieces_and_edits() {
    let server = PgServer::start();
    let mut client = server.connect();
    let mut dice = Dice(19);
    write_all(&server, &mut dice);
    assert_eq!(differences(&mut client), Vec::<String>::new());
    write_all(&server, &mut dice);
    assert_eq!(differences(&mut client), Vec::<String>::new());
    for edit in HAND_EDITS {
        client.batch_execute(edit).unwrap();
        assert_eq!(differences(&mut client), Vec::<String>::new(), "{edit}");
    }
    check_page(&server, &mut client);
    client
        .batch_execute("DELETE FROM traces WHERE user_id = 'user-moved'")
        .unwrap();
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM user_totals WHERE user_id = 'user-moved'"
        ),
        0
    );
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM user_sessions WHERE traces <= 0"
        ),
        0
    );
    assert_eq!(differences(&mut client), Vec::<String>::new());
    client.batch_execute("TRUNCATE traces").unwrap();
    assert_eq!(count(&mut client, "SELECT count(*) FROM user_totals"), 0);
}

#[test]
fn a_database_of_the_previous_version_gets_its_totals_when_a_writer_opens_it() {
    let server = PgServer::start();
    let mut client = server.connect();
    let mut dice = Dice(7);
    write_all(&server, &mut dice);
    let version = observe_store::postgres::CURRENT_VERSION;
    // The version before the totals (migration 5): no kept totals and no roll-up (6), its
    // traces written without them.
    let before_totals = 4;
    client
        .batch_execute(&format!(
            "{}{}
             UPDATE traces SET user_id = 'user-before' WHERE seq % 3 = 0;
             DELETE FROM observe_schema_migrations WHERE version > {before_totals};",
            observe_store::postgres::DROP_TRACE_HOURS,
            observe_store::postgres::DROP_USER_TOTALS
        ))
        .unwrap();
    // A reader groups the traces.
    let mut reader = PgStore::connect(&server.url()).unwrap();
    assert_eq!(reader.schema_version(), before_totals);
    let page = reader.user_rows().unwrap();
    assert!(page.iter().any(|u| u["user_id"] == "user-before"));
    // A writer migrates; the backfill counts what was stored, the triggers what follows.
    write_all(&server, &mut dice);
    assert_eq!(
        PgStore::connect(&server.url()).unwrap().schema_version(),
        version
    );
    assert_eq!(differences(&mut client), Vec::<String>::new());
}

#[test]
fn writers_sending_pieces_of_the_same_users_at_once_all_finish() {
    let server = PgServer::start();
    let mut client = server.connect();
    // The tables exist before the writers race to make them.
    exporter(&server).shutdown().unwrap();
    let writers: Vec<_> = (0..4u64)
        .map(|n| {
            let url = server.url();
            std::thread::spawn(move || {
                let settings = PgSettings::from_url_with_env(&url, |_| None).unwrap();
                let mut pg = PgExporter::connect(settings).unwrap();
                // The same seed for all: the same traces and users, merged four times.
                let mut dice = Dice(3 + n % 2);
                for (project, pieces) in piece_requests(&mut dice) {
                    pg.write_pieces(project, &pieces).unwrap();
                }
                pg.shutdown().unwrap();
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert!(count(&mut client, "SELECT count(*) FROM user_totals") > 0);
    assert_eq!(differences(&mut client), Vec::<String>::new());
}
