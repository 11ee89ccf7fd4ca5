//! The dashboard's hourly roll-up of traces (`trace_hours`), kept by triggers on `traces`.
//!
//! Why a roll-up: every widget of the default dashboard read each trace of its range (the
//! bench's 30 days hold 100,000) and grouped them, 50-300 ms of CPU per widget. One row per
//! hour and (environment, name, release, version) holds what the counts, costs and time
//! series add up, so a widget whose filter and breakdown touch only those columns reads a
//! few rows per hour of its range instead (the dashboard decides which SQL a widget runs).
//!
//! Why triggers rather than writer code: as for the users' totals
//! ([`crate::user_totals`]), traces reach the file by several paths (the exporter's
//! batches, `observe serve`'s pieces, merges, deletions by hand or by retention) and a
//! trigger sees every one of them. A new trace costs one upsert; a merge that changes its
//! numbers, one `UPDATE`; a merge that changes nothing the roll-up holds, nothing (the
//! triggers' `WHEN` clauses).
//!
//! Percentiles: `trace_hour_latencies` counts the same traces per row key and latency
//! bucket, a fixed log-like scale with two significant digits: the bucket of a latency is
//! its value in whole microseconds with every digit after the first two set to zero
//! (`123_456 µs` falls in `120_000`; below 100 µs each microsecond is its own bucket). A
//! percentile read from the cumulative counts is the lower end of the bucket holding the
//! trace at that rank: at most 10 % (one unit of the second digit) below the exact value,
//! exact for latencies of two significant digits. String operations only, so SQLite needs
//! no math functions and PostgreSQL computes the same buckets.
//!
//! A row's key is its project (`''` without one), the start of its hour (the store's
//! timestamp text truncated to the hour, as the SQL translation's `date_trunc('hour', …)`
//! prints it; `''` for a trace whose start is not known yet) and `dims`, the four columns'
//! JSON array, so a `NULL` environment and an empty one stay apart. A row whose last trace
//! leaves is deleted.
//!
//! A migration that rebuilds `traces` drops these triggers with the table and must create
//! them again.

/// The bucket of a latency in milliseconds (SQL over `x`), as SQLite computes it: the
/// PostgreSQL dialect's `CAST(GREATEST(x, 0) * 1000 AS bigint)` translates to the same
/// rounding (`CAST(round(…) AS INTEGER)`), so the range's cut hours, read from `traces`,
/// fall in the same buckets.
macro_rules! latency_bucket {
    ($x:literal) => {
        concat!(
            "(CASE WHEN round(max(",
            $x,
            ", 0) * 1000) < 100 THEN CAST(round(max(",
            $x,
            ", 0) * 1000) AS INTEGER) ELSE CAST(substr(CAST(CAST(round(max(",
            $x,
            ", 0) * 1000) AS INTEGER) AS TEXT), 1, 2) || substr('000000000000000000', 1, \
            length(CAST(CAST(round(max(",
            $x,
            ", 0) * 1000) AS INTEGER) AS TEXT)) - 2) AS INTEGER) END)"
        )
    };
}

/// Removes the roll-up (table, view and triggers), leaving the layout of the version before
/// it: for tests that make an older file from a new one.
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// # conn.execute_batch("CREATE TABLE trace_hours (x); CREATE TABLE traces (x);
/// #     CREATE VIEW trace_hour_changes AS SELECT 1;
/// #     CREATE TRIGGER traces_hours_insert AFTER INSERT ON traces BEGIN SELECT 1; END;
/// #     CREATE TRIGGER traces_hours_delete AFTER DELETE ON traces BEGIN SELECT 1; END;
/// #     CREATE TRIGGER traces_hours_move AFTER UPDATE ON traces BEGIN SELECT 1; END;
/// #     CREATE TRIGGER traces_hours_grow AFTER UPDATE ON traces BEGIN SELECT 1; END;
/// #     CREATE TRIGGER traces_hours_latency_moved AFTER UPDATE ON traces BEGIN SELECT 1; END;
/// #     CREATE TABLE trace_hour_latencies (x);").unwrap();
/// conn.execute_batch(observe_store::DROP_TRACE_HOURS).unwrap();
/// ```
pub const DROP_TRACE_HOURS: &str = "DROP TRIGGER traces_hours_insert;
DROP TRIGGER traces_hours_delete; DROP TRIGGER traces_hours_move;
DROP TRIGGER traces_hours_grow; DROP TRIGGER traces_hours_latency_moved;
DROP VIEW trace_hour_changes; DROP TABLE trace_hour_latencies; DROP TABLE trace_hours;";

/// The table, its backfill from the traces already stored, and the triggers. The backfill
/// runs before the triggers exist, so it is counted once.
pub(crate) const TRACE_HOURS: &str = concat!(
    r#"
CREATE TABLE trace_hours (
    project_id TEXT NOT NULL,
    hour_start TEXT NOT NULL,
    dims TEXT NOT NULL,
    environment TEXT,
    name TEXT,
    release TEXT,
    version TEXT,
    traces INTEGER NOT NULL,
    cost REAL NOT NULL,
    computed_cost REAL NOT NULL,
    latency_sum REAL NOT NULL,
    PRIMARY KEY (project_id, hour_start, dims)
) WITHOUT ROWID;

INSERT INTO trace_hours (project_id, hour_start, dims, environment, name, release, version,
    traces, cost, computed_cost, latency_sum)
SELECT IFNULL(project_id, ''),
    CASE WHEN timestamp = '' THEN '' ELSE substr(timestamp, 1, 13) || ':00:00.000000Z' END,
    json_array(environment, name, release, version), environment, name, release, version,
    COUNT(*), TOTAL(calculated_total_cost), TOTAL(computed_cost), TOTAL(latency_ms)
FROM traces GROUP BY 1, 2, 3;

CREATE TABLE trace_hour_latencies (
    project_id TEXT NOT NULL,
    hour_start TEXT NOT NULL,
    dims TEXT NOT NULL,
    environment TEXT,
    name TEXT,
    release TEXT,
    version TEXT,
    latency_floor_us INTEGER NOT NULL,
    traces INTEGER NOT NULL,
    PRIMARY KEY (project_id, hour_start, dims, latency_floor_us)
) WITHOUT ROWID;

INSERT INTO trace_hour_latencies (project_id, hour_start, dims, environment, name, release,
    version, latency_floor_us, traces)
SELECT IFNULL(project_id, ''),
    CASE WHEN timestamp = '' THEN '' ELSE substr(timestamp, 1, 13) || ':00:00.000000Z' END,
    json_array(environment, name, release, version), environment, name, release, version,
    "#,
    latency_bucket!("latency_ms"),
    r#", COUNT(*)
FROM traces GROUP BY 1, 2, 3, 8;

-- One trace coming (sign 1) or going (sign -1). A view written to only so that the
-- triggers below share this one body.
CREATE VIEW trace_hour_changes AS
SELECT 0 AS sign, project_id, timestamp, environment, name, release, version,
    calculated_total_cost AS cost, computed_cost, latency_ms
FROM traces WHERE 0;

CREATE TRIGGER trace_hour_changed INSTEAD OF INSERT ON trace_hour_changes BEGIN
    INSERT INTO trace_hours (project_id, hour_start, dims, environment, name, release,
        version, traces, cost, computed_cost, latency_sum)
    VALUES (IFNULL(new.project_id, ''),
        CASE WHEN new.timestamp = '' THEN ''
             ELSE substr(new.timestamp, 1, 13) || ':00:00.000000Z' END,
        json_array(new.environment, new.name, new.release, new.version),
        new.environment, new.name, new.release, new.version,
        new.sign, new.sign * new.cost, new.sign * new.computed_cost, new.sign * new.latency_ms)
    ON CONFLICT DO UPDATE SET
        traces = traces + excluded.traces,
        cost = cost + excluded.cost,
        computed_cost = computed_cost + excluded.computed_cost,
        latency_sum = latency_sum + excluded.latency_sum;
    DELETE FROM trace_hours
    WHERE new.sign < 0 AND project_id = IFNULL(new.project_id, '')
        AND hour_start = CASE WHEN new.timestamp = '' THEN ''
                              ELSE substr(new.timestamp, 1, 13) || ':00:00.000000Z' END
        AND dims = json_array(new.environment, new.name, new.release, new.version)
        AND traces <= 0;
    INSERT INTO trace_hour_latencies (project_id, hour_start, dims, environment, name,
        release, version, latency_floor_us, traces)
    VALUES (IFNULL(new.project_id, ''),
        CASE WHEN new.timestamp = '' THEN ''
             ELSE substr(new.timestamp, 1, 13) || ':00:00.000000Z' END,
        json_array(new.environment, new.name, new.release, new.version),
        new.environment, new.name, new.release, new.version,
        "#,
    latency_bucket!("new.latency_ms"),
    r#", new.sign)
    ON CONFLICT DO UPDATE SET traces = traces + excluded.traces;
    DELETE FROM trace_hour_latencies
    WHERE new.sign < 0 AND project_id = IFNULL(new.project_id, '')
        AND hour_start = CASE WHEN new.timestamp = '' THEN ''
                              ELSE substr(new.timestamp, 1, 13) || ':00:00.000000Z' END
        AND dims = json_array(new.environment, new.name, new.release, new.version)
        AND latency_floor_us = "#,
    latency_bucket!("new.latency_ms"),
    r#"
        AND traces <= 0;
END;

CREATE TRIGGER traces_hours_insert AFTER INSERT ON traces BEGIN
    INSERT INTO trace_hour_changes VALUES (1, new.project_id, new.timestamp,
        new.environment, new.name, new.release, new.version, new.calculated_total_cost,
        new.computed_cost, new.latency_ms);
END;

CREATE TRIGGER traces_hours_delete AFTER DELETE ON traces BEGIN
    INSERT INTO trace_hour_changes VALUES (-1, old.project_id, old.timestamp,
        old.environment, old.name, old.release, old.version, old.calculated_total_cost,
        old.computed_cost, old.latency_ms);
END;

-- A trace moving to another row: another project, hour, environment, name, release or
-- version. It leaves its old row and joins the new one with its numbers.
CREATE TRIGGER traces_hours_move AFTER UPDATE OF project_id, timestamp, environment, name,
    release, version ON traces
WHEN old.project_id IS NOT new.project_id
    OR substr(old.timestamp, 1, 13) IS NOT substr(new.timestamp, 1, 13)
    OR old.environment IS NOT new.environment OR old.name IS NOT new.name
    OR old.release IS NOT new.release OR old.version IS NOT new.version BEGIN
    INSERT INTO trace_hour_changes VALUES (-1, old.project_id, old.timestamp,
        old.environment, old.name, old.release, old.version, old.calculated_total_cost,
        old.computed_cost, old.latency_ms);
    INSERT INTO trace_hour_changes VALUES (1, new.project_id, new.timestamp,
        new.environment, new.name, new.release, new.version, new.calculated_total_cost,
        new.computed_cost, new.latency_ms);
END;

-- The common merge: the same row, grown numbers. Only the difference is written.
CREATE TRIGGER traces_hours_grow AFTER UPDATE OF calculated_total_cost, computed_cost,
    latency_ms ON traces
WHEN old.project_id IS new.project_id
    AND substr(old.timestamp, 1, 13) IS substr(new.timestamp, 1, 13)
    AND old.environment IS new.environment AND old.name IS new.name
    AND old.release IS new.release AND old.version IS new.version
    AND (old.calculated_total_cost IS NOT new.calculated_total_cost
        OR old.computed_cost IS NOT new.computed_cost
        OR old.latency_ms IS NOT new.latency_ms) BEGIN
    UPDATE trace_hours SET
        cost = cost + (new.calculated_total_cost - old.calculated_total_cost),
        computed_cost = computed_cost + (new.computed_cost - old.computed_cost),
        latency_sum = latency_sum + (new.latency_ms - old.latency_ms)
    WHERE project_id = IFNULL(new.project_id, '')
        AND hour_start = CASE WHEN new.timestamp = '' THEN ''
                              ELSE substr(new.timestamp, 1, 13) || ':00:00.000000Z' END
        AND dims = json_array(new.environment, new.name, new.release, new.version);
END;

-- The same row, a latency in another bucket: one trace moves between the row's buckets.
CREATE TRIGGER traces_hours_latency_moved AFTER UPDATE OF latency_ms ON traces
WHEN old.project_id IS new.project_id
    AND substr(old.timestamp, 1, 13) IS substr(new.timestamp, 1, 13)
    AND old.environment IS new.environment AND old.name IS new.name
    AND old.release IS new.release AND old.version IS new.version
    AND "#,
    latency_bucket!("old.latency_ms"),
    r#" <> "#,
    latency_bucket!("new.latency_ms"),
    r#" BEGIN
    INSERT INTO trace_hour_latencies (project_id, hour_start, dims, environment, name,
        release, version, latency_floor_us, traces)
    VALUES (IFNULL(new.project_id, ''),
        CASE WHEN new.timestamp = '' THEN ''
             ELSE substr(new.timestamp, 1, 13) || ':00:00.000000Z' END,
        json_array(new.environment, new.name, new.release, new.version),
        new.environment, new.name, new.release, new.version,
        "#,
    latency_bucket!("new.latency_ms"),
    r#", 1)
    ON CONFLICT DO UPDATE SET traces = traces + 1;
    UPDATE trace_hour_latencies SET traces = traces - 1
    WHERE project_id = IFNULL(old.project_id, '')
        AND hour_start = CASE WHEN old.timestamp = '' THEN ''
                              ELSE substr(old.timestamp, 1, 13) || ':00:00.000000Z' END
        AND dims = json_array(old.environment, old.name, old.release, old.version)
        AND latency_floor_us = "#,
    latency_bucket!("old.latency_ms"),
    r#";
    DELETE FROM trace_hour_latencies
    WHERE project_id = IFNULL(old.project_id, '')
        AND hour_start = CASE WHEN old.timestamp = '' THEN ''
                              ELSE substr(old.timestamp, 1, 13) || ':00:00.000000Z' END
        AND dims = json_array(old.environment, old.name, old.release, old.version)
        AND latency_floor_us = "#,
    latency_bucket!("old.latency_ms"),
    r#" AND traces <= 0;
END;
"#
);
