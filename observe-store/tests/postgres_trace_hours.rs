//! The dashboard's hourly roll-up on a real PostgreSQL says what grouping the traces says,
//! after the writes of `tests/trace_hours.rs` (batches with merges, pieces for several
//! projects, edits by hand) from several writers at once, through the writer's `COPY` and
//! set statements.

mod pg_support;
mod user_totals_cases;

use observe_store::postgres::PgStore;
use pg_support::PgServer;
use user_totals_cases::{write_all_to_postgres, Dice, HAND_EDITS};

/// Kept rows against the traces grouped by project, UTC hour and the four columns: counts
/// exactly, sums to a relative 1e-9. Returns the rows that differ.
fn differences(client: &mut postgres::Client) -> Vec<String> {
    let rows = client
        .query(
            "WITH want AS (
                SELECT COALESCE(project_id, '') AS project_id,
                    date_trunc('hour', \"timestamp\" AT TIME ZONE 'UTC') AS hour,
                    json_build_array(environment, name, release, version)::text AS dims,
                    count(*) AS traces, sum(calculated_total_cost) AS cost,
                    sum(computed_cost) AS computed_cost, sum(latency_ms) AS latency_sum
                FROM traces GROUP BY 1, 2, 3),
             kept AS (
                SELECT project_id, hour_start AT TIME ZONE 'UTC' AS hour, dims, traces, cost,
                    computed_cost, latency_sum FROM trace_hours)
             SELECT format('%s/%s/%s: want %s, kept %s', COALESCE(w.project_id, k.project_id),
                 COALESCE(w.hour, k.hour), COALESCE(w.dims, k.dims), w::text, k::text)
             FROM want w FULL JOIN kept k USING (project_id, hour, dims)
             WHERE w.traces IS NULL OR k.traces IS NULL OR w.traces <> k.traces
                OR abs(w.cost - k.cost) > 1e-9 * greatest(1, abs(w.cost))
                OR abs(w.computed_cost - k.computed_cost) > 1e-9 * greatest(1, abs(w.computed_cost))
                OR abs(w.latency_sum - k.latency_sum) > 1e-9 * greatest(1, abs(w.latency_sum))",
            &[],
        )
        .unwrap();
    let mut out: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    // The latency buckets, worked out from each trace's latency in whole microseconds
    // (cast, so rounded as the trigger rounds) with all digits but the first two zeroed.
    let buckets = client
        .query(
            "WITH t AS (
                SELECT COALESCE(project_id, '') AS project_id,
                    date_trunc('hour', \"timestamp\" AT TIME ZONE 'UTC') AS hour,
                    json_build_array(environment, name, release, version)::text AS dims,
                    CAST(greatest(latency_ms, 0) * 1000 AS bigint) AS us FROM traces),
             want AS (
                SELECT project_id, hour, dims,
                    CASE WHEN us < 100 THEN us
                         ELSE us / (10 ^ (length(us::text) - 2))::bigint
                              * (10 ^ (length(us::text) - 2))::bigint END AS latency_floor_us,
                    count(*) AS traces
                FROM t GROUP BY 1, 2, 3, 4),
             kept AS (
                SELECT project_id, hour_start AT TIME ZONE 'UTC' AS hour, dims,
                    latency_floor_us, traces FROM trace_hour_latencies)
             SELECT format('latency %s/%s/%s/%s: want %s, kept %s',
                 COALESCE(w.project_id, k.project_id), COALESCE(w.hour, k.hour),
                 COALESCE(w.dims, k.dims), COALESCE(w.latency_floor_us, k.latency_floor_us),
                 w.traces, k.traces)
             FROM want w FULL JOIN kept k USING (project_id, hour, dims, latency_floor_us)
             WHERE w.traces IS DISTINCT FROM k.traces",
            &[],
        )
        .unwrap();
    out.extend(buckets.iter().map(|r| r.get::<_, String>(0)));
    out
}

fn count(client: &mut postgres::Client, sql: &str) -> i64 {
    client.query_one(sql, &[]).unwrap().get(0)
}

#[test]
fn the_roll_up_matches_the_traces_after_concurrent_writers_and_edits() {
    let server = PgServer::start();
    let mut client = server.connect();
    // One writer first (it migrates), then three at once over the same traces and hours.
    write_all_to_postgres(&server.url(), &mut Dice(3));
    let url = server.url();
    std::thread::scope(|s| {
        for seed in [29, 31, 37] {
            let url = url.clone();
            s.spawn(move || write_all_to_postgres(&url, &mut Dice(seed)));
        }
    });
    assert!(count(&mut client, "SELECT count(*) FROM trace_hours") >= 3);
    assert_eq!(differences(&mut client), Vec::<String>::new());
    for edit in HAND_EDITS {
        client.batch_execute(edit).unwrap();
        assert_eq!(differences(&mut client), Vec::<String>::new(), "{edit}");
    }
    client
        .batch_execute(
            "UPDATE traces SET environment = 'staging', release = 'v2' WHERE seq % 4 = 1;
             UPDATE traces SET latency_ms = latency_ms * 3.7 + 0.05 WHERE seq % 3 = 2;",
        )
        .unwrap();
    assert_eq!(differences(&mut client), Vec::<String>::new());
    assert!(PgStore::connect(&url).unwrap().has_trace_hours());
    client
        .batch_execute("DELETE FROM traces WHERE seq % 2 = 0")
        .unwrap();
    assert_eq!(differences(&mut client), Vec::<String>::new());
    assert_eq!(
        count(
            &mut client,
            "SELECT count(*) FROM trace_hours WHERE traces <= 0"
        ),
        0
    );
    client.batch_execute("TRUNCATE traces").unwrap();
    assert_eq!(count(&mut client, "SELECT count(*) FROM trace_hours"), 0);
    assert_eq!(
        count(&mut client, "SELECT count(*) FROM trace_hour_latencies"),
        0
    );
}
