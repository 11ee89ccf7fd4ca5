//! The dashboard's hourly roll-up of traces on PostgreSQL, kept by statement-level
//! triggers on `traces`: the SQLite store's `trace_hours` (`observe-store/src/trace_hours.rs`
//! says why a roll-up, and why triggers).
//!
//! As for the users' totals ([`super::user_totals`]), one trigger call per statement sees
//! its old and new rows as transition tables, cancels the rows it left as they were
//! (`EXCEPT ALL`) and applies the difference per roll-up row in key order, so two writers
//! take the row locks in the same order. `trace_hour_latencies` counts the traces per row
//! and latency bucket, as SQLite's does (the buckets are described there). Hours are UTC hours (`date_trunc('hour', …,
//! 'UTC')`), so the roll-up does not depend on a session's `TimeZone`.

/// Undoes what [`TRACE_HOURS`] makes, for tests that rebuild an older database.
///
/// ```no_run
/// # let mut client: postgres::Client = unimplemented!();
/// client.batch_execute(observe_store::postgres::DROP_TRACE_HOURS)?;
/// # Ok::<(), postgres::Error>(())
/// ```
#[doc(hidden)]
pub const DROP_TRACE_HOURS: &str = "DROP TRIGGER traces_hours_insert ON traces;
DROP TRIGGER traces_hours_update ON traces; DROP TRIGGER traces_hours_delete ON traces;
DROP TRIGGER traces_hours_truncate ON traces;
DROP FUNCTION observe_trace_hours_changed(); DROP FUNCTION observe_trace_hours_emptied();
DROP FUNCTION observe_trace_hours_apply(observe_hour_change[]);
DROP FUNCTION observe_hour_change(integer, traces); DROP TYPE observe_hour_change;
DROP FUNCTION observe_latency_floor_us(double precision);
DROP TABLE trace_hour_latencies; DROP TABLE trace_hours;";

/// The table, its backfill (before the triggers exist, so counted once), the functions
/// and the triggers.
pub(super) const TRACE_HOURS: &str = r#"
CREATE TABLE trace_hours (
    project_id text NOT NULL,
    hour_start timestamptz NOT NULL,
    dims text NOT NULL,
    environment text,
    name text,
    release text,
    version text,
    traces bigint NOT NULL,
    cost double precision NOT NULL,
    computed_cost double precision NOT NULL,
    latency_sum double precision NOT NULL,
    PRIMARY KEY (project_id, hour_start, dims)
);

INSERT INTO trace_hours (project_id, hour_start, dims, environment, name, release, version,
    traces, cost, computed_cost, latency_sum)
SELECT COALESCE(project_id, ''), date_trunc('hour', "timestamp", 'UTC'),
    json_build_array(environment, name, release, version)::text,
    environment, name, release, version, count(*),
    COALESCE(sum(calculated_total_cost), 0), COALESCE(sum(computed_cost), 0),
    COALESCE(sum(latency_ms), 0)
FROM traces GROUP BY 1, 2, 4, 5, 6, 7;

-- A latency's bucket: its whole microseconds with every digit after the first two zeroed
-- (each microsecond its own bucket below 100). The cast rounds, as the dashboard's SQL for
-- the range's cut hours does.
CREATE FUNCTION observe_latency_floor_us(latency_ms double precision) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN us < 100 THEN us
        ELSE (substr(us::text, 1, 2) || substr('000000000000000000', 1, length(us::text) - 2))::bigint
        END
    FROM (SELECT CAST(GREATEST(latency_ms, 0) * 1000 AS bigint) AS us) u
$$;

CREATE TABLE trace_hour_latencies (
    project_id text NOT NULL,
    hour_start timestamptz NOT NULL,
    dims text NOT NULL,
    environment text,
    name text,
    release text,
    version text,
    latency_floor_us bigint NOT NULL,
    traces bigint NOT NULL,
    PRIMARY KEY (project_id, hour_start, dims, latency_floor_us)
);

INSERT INTO trace_hour_latencies (project_id, hour_start, dims, environment, name, release,
    version, latency_floor_us, traces)
SELECT COALESCE(project_id, ''), date_trunc('hour', "timestamp", 'UTC'),
    json_build_array(environment, name, release, version)::text,
    environment, name, release, version, observe_latency_floor_us(latency_ms), count(*)
FROM traces GROUP BY 1, 2, 4, 5, 6, 7, 8;

-- One trace's share of its hour, coming (sign 1) or going (sign -1).
CREATE TYPE observe_hour_change AS (
    sign integer,
    project_id text,
    hour_start timestamptz,
    environment text,
    name text,
    release text,
    version text,
    cost double precision,
    computed_cost double precision,
    latency_ms double precision
);

CREATE FUNCTION observe_hour_change(sign integer, t traces) RETURNS observe_hour_change
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(sign, COALESCE(t.project_id, ''), date_trunc('hour', t."timestamp", 'UTC'),
        t.environment, t.name, t.release, t.version, t.calculated_total_cost,
        t.computed_cost, t.latency_ms)::observe_hour_change
$$;

CREATE FUNCTION observe_trace_hours_apply(changes observe_hour_change[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO trace_hours AS h (project_id, hour_start, dims, environment, name, release,
        version, traces, cost, computed_cost, latency_sum)
    SELECT project_id, hour_start, json_build_array(environment, name, release, version)::text,
        environment, name, release, version, sum(sign), sum(sign * cost),
        sum(sign * computed_cost), sum(sign * latency_ms)
    FROM unnest(changes) GROUP BY 1, 2, 4, 5, 6, 7 ORDER BY 1, 2, 3
    ON CONFLICT (project_id, hour_start, dims) DO UPDATE SET
        traces = h.traces + excluded.traces,
        cost = h.cost + excluded.cost,
        computed_cost = h.computed_cost + excluded.computed_cost,
        latency_sum = h.latency_sum + excluded.latency_sum;
    DELETE FROM trace_hours h
    USING (SELECT DISTINCT project_id, hour_start,
               json_build_array(environment, name, release, version)::text AS dims
           FROM unnest(changes) WHERE sign < 0) g
    WHERE h.project_id = g.project_id AND h.hour_start = g.hour_start AND h.dims = g.dims
        AND h.traces <= 0;
    INSERT INTO trace_hour_latencies AS h (project_id, hour_start, dims, environment, name,
        release, version, latency_floor_us, traces)
    SELECT project_id, hour_start, json_build_array(environment, name, release, version)::text,
        environment, name, release, version, observe_latency_floor_us(latency_ms), sum(sign)
    FROM unnest(changes) GROUP BY 1, 2, 4, 5, 6, 7, 8 HAVING sum(sign) <> 0
    ORDER BY 1, 2, 3, 8
    ON CONFLICT (project_id, hour_start, dims, latency_floor_us) DO UPDATE SET
        traces = h.traces + excluded.traces;
    DELETE FROM trace_hour_latencies h
    USING (SELECT DISTINCT project_id, hour_start,
               json_build_array(environment, name, release, version)::text AS dims,
               observe_latency_floor_us(latency_ms) AS latency_floor_us
           FROM unnest(changes) WHERE sign < 0) g
    WHERE h.project_id = g.project_id AND h.hour_start = g.hour_start AND h.dims = g.dims
        AND h.latency_floor_us = g.latency_floor_us AND h.traces <= 0;
$$;

CREATE FUNCTION observe_trace_hours_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changes observe_hour_change[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        changes := ARRAY(SELECT observe_hour_change(1, n) FROM new_rows n);
    ELSIF TG_OP = 'DELETE' THEN
        changes := ARRAY(SELECT observe_hour_change(-1, o) FROM old_rows o);
    ELSE
        changes := ARRAY(
            (SELECT observe_hour_change(1, n) FROM new_rows n
             EXCEPT ALL
             SELECT observe_hour_change(1, o) FROM old_rows o)
            UNION ALL
            (SELECT observe_hour_change(-1, o) FROM old_rows o
             EXCEPT ALL
             SELECT observe_hour_change(-1, n) FROM new_rows n));
    END IF;
    IF cardinality(changes) > 0 THEN
        PERFORM observe_trace_hours_apply(changes);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER traces_hours_insert AFTER INSERT ON traces
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION observe_trace_hours_changed();
CREATE TRIGGER traces_hours_update AFTER UPDATE ON traces
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION observe_trace_hours_changed();
CREATE TRIGGER traces_hours_delete AFTER DELETE ON traces
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION observe_trace_hours_changed();

CREATE FUNCTION observe_trace_hours_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE trace_hours, trace_hour_latencies;
    RETURN NULL;
END
$$;

CREATE TRIGGER traces_hours_truncate AFTER TRUNCATE ON traces
    FOR EACH STATEMENT EXECUTE FUNCTION observe_trace_hours_emptied();
"#;
