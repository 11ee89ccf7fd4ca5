//! The per-user totals the users page reads on PostgreSQL, kept by statement-level
//! triggers on `traces`: the SQLite store's `user_totals` and `user_sessions`
//! (`observe-store/src/user_totals.rs` says why a kept aggregate, and why triggers).
//!
//! Why statement-level: the writer moves a batch's traces in a few set statements (an
//! upsert, the merges of observations into stored traces), often by `COPY` into staging
//! first. One trigger call per statement sees the statement's old and new rows as
//! transition tables and applies their difference per user in one pass, in key order, so
//! that two writers locking the same users take the row locks in the same order. Rows the
//! statement left as they were cancel out (`EXCEPT ALL`) and write nothing.
//!
//! The largest latency and start are kept as maxima: a user's maximum is read again from
//! `traces` only when the statement took away a value that was the maximum and brought no
//! value as large for the same user.

/// Undoes what [`USER_TOTALS`] makes, for tests that rebuild an older database: PostgreSQL
/// will not let go of the tables while the triggers read them.
///
/// ```no_run
/// # let mut client: postgres::Client = unimplemented!();
/// client.batch_execute(observe_store::postgres::DROP_USER_TOTALS)?;
/// # Ok::<(), postgres::Error>(())
/// ```
#[doc(hidden)]
pub const DROP_USER_TOTALS: &str = "DROP TRIGGER traces_user_totals_insert ON traces;
DROP TRIGGER traces_user_totals_update ON traces;
DROP TRIGGER traces_user_totals_delete ON traces;
DROP TRIGGER traces_user_totals_truncate ON traces;
DROP FUNCTION observe_user_totals_changed(); DROP FUNCTION observe_user_totals_emptied();
DROP FUNCTION observe_user_totals_apply(observe_user_change[]);
DROP FUNCTION observe_user_change(integer, traces); DROP TYPE observe_user_change;
DROP TABLE user_sessions; DROP TABLE user_totals;";

/// The tables, their backfill from the traces already stored (before the triggers exist,
/// so counted once), the functions and the triggers.
pub(super) const USER_TOTALS: &str = r#"
CREATE TABLE user_totals (
    user_id text NOT NULL,
    project text NOT NULL,
    traces bigint NOT NULL,
    sessions bigint NOT NULL DEFAULT 0,
    cost double precision NOT NULL,
    computed_cost double precision NOT NULL,
    latency_sum double precision NOT NULL,
    max_latency_ms double precision NOT NULL,
    last_seen timestamptz NOT NULL,
    observations bigint NOT NULL,
    PRIMARY KEY (user_id, project)
);

CREATE TABLE user_sessions (
    user_id text NOT NULL,
    project text NOT NULL,
    session_id text NOT NULL,
    traces bigint NOT NULL,
    PRIMARY KEY (user_id, project, session_id)
);

INSERT INTO user_totals (user_id, project, traces, sessions, cost, computed_cost, latency_sum,
    max_latency_ms, last_seen, observations)
SELECT user_id, COALESCE(project_id, ''), count(*), count(DISTINCT session_id),
    COALESCE(sum(calculated_total_cost), 0), COALESCE(sum(computed_cost), 0),
    COALESCE(sum(latency_ms), 0), max(latency_ms), max("timestamp"), sum(observation_count)
FROM traces WHERE user_id IS NOT NULL GROUP BY 1, 2;

INSERT INTO user_sessions (user_id, project, session_id, traces)
SELECT user_id, COALESCE(project_id, ''), session_id, count(*)
FROM traces WHERE user_id IS NOT NULL AND session_id IS NOT NULL GROUP BY 1, 2, 3;

-- One trace's share of its user's totals, coming (sign 1) or going (sign -1).
CREATE TYPE observe_user_change AS (
    sign integer,
    user_id text,
    project text,
    session_id text,
    cost double precision,
    computed_cost double precision,
    latency_ms double precision,
    "timestamp" timestamptz,
    observations bigint
);

CREATE FUNCTION observe_user_change(sign integer, t traces) RETURNS observe_user_change
LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(sign, t.user_id, COALESCE(t.project_id, ''), t.session_id,
        t.calculated_total_cost, t.computed_cost, t.latency_ms, t."timestamp",
        t.observation_count)::observe_user_change
$$;

CREATE FUNCTION observe_user_totals_apply(changes observe_user_change[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    latency_users text[];
    latency_projects text[];
    seen_users text[];
    seen_projects text[];
BEGIN
    -- Users whose maximum may have left: read again from `traces` at the end.
    SELECT COALESCE(array_agg(k.user_id), '{}'), COALESCE(array_agg(k.project), '{}')
    INTO latency_users, latency_projects
    FROM (SELECT user_id, project,
              max(latency_ms) FILTER (WHERE sign < 0) AS gone,
              max(latency_ms) FILTER (WHERE sign > 0) AS came
          FROM unnest(changes) GROUP BY 1, 2) k
    JOIN user_totals t USING (user_id, project)
    WHERE k.gone >= t.max_latency_ms AND (k.came IS NULL OR k.came < k.gone);
    SELECT COALESCE(array_agg(k.user_id), '{}'), COALESCE(array_agg(k.project), '{}')
    INTO seen_users, seen_projects
    FROM (SELECT user_id, project,
              max("timestamp") FILTER (WHERE sign < 0) AS gone,
              max("timestamp") FILTER (WHERE sign > 0) AS came
          FROM unnest(changes) GROUP BY 1, 2) k
    JOIN user_totals t USING (user_id, project)
    WHERE k.gone >= t.last_seen AND (k.came IS NULL OR k.came < k.gone);

    INSERT INTO user_totals AS t (user_id, project, traces, cost, computed_cost, latency_sum,
        max_latency_ms, last_seen, observations)
    SELECT user_id, project, sum(sign), sum(sign * cost), sum(sign * computed_cost),
        sum(sign * latency_ms),
        COALESCE(max(latency_ms) FILTER (WHERE sign > 0), '-Infinity'),
        COALESCE(max("timestamp") FILTER (WHERE sign > 0), '-infinity'),
        sum(sign * observations)
    FROM unnest(changes) GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (user_id, project) DO UPDATE SET
        traces = t.traces + excluded.traces,
        cost = t.cost + excluded.cost,
        computed_cost = t.computed_cost + excluded.computed_cost,
        latency_sum = t.latency_sum + excluded.latency_sum,
        observations = t.observations + excluded.observations,
        max_latency_ms = GREATEST(t.max_latency_ms, excluded.max_latency_ms),
        last_seen = GREATEST(t.last_seen, excluded.last_seen);

    -- Sessions: a row going from no trace to some opens a session of its user, the
    -- reverse closes one.
    WITH d AS (
        SELECT user_id, project, session_id, sum(sign) AS n FROM unnest(changes)
        WHERE session_id IS NOT NULL GROUP BY 1, 2, 3 HAVING sum(sign) <> 0),
    u AS (
        INSERT INTO user_sessions AS s (user_id, project, session_id, traces)
        SELECT user_id, project, session_id, n FROM d ORDER BY 1, 2, 3
        ON CONFLICT (user_id, project, session_id) DO UPDATE SET traces = s.traces + excluded.traces
        RETURNING s.user_id, s.project, s.session_id, s.traces),
    opened AS (
        SELECT u.user_id, u.project,
            sum(CASE WHEN u.traces > 0 AND u.traces - d.n <= 0 THEN 1
                     WHEN u.traces <= 0 AND u.traces - d.n > 0 THEN -1 ELSE 0 END) AS n
        FROM u JOIN d USING (user_id, project, session_id) GROUP BY 1, 2)
    UPDATE user_totals t SET sessions = t.sessions + o.n
    FROM opened o WHERE t.user_id = o.user_id AND t.project = o.project AND o.n <> 0;

    DELETE FROM user_sessions s
    USING (SELECT DISTINCT user_id, project, session_id FROM unnest(changes)
           WHERE sign < 0) g
    WHERE s.user_id = g.user_id AND s.project = g.project AND s.session_id = g.session_id
        AND s.traces <= 0;
    DELETE FROM user_totals t
    USING (SELECT DISTINCT user_id, project FROM unnest(changes) WHERE sign < 0) g
    WHERE t.user_id = g.user_id AND t.project = g.project AND t.traces <= 0;

    UPDATE user_totals t SET max_latency_ms = (
        SELECT max(latency_ms) FROM traces
        WHERE user_id = t.user_id AND COALESCE(project_id, '') = t.project)
    FROM unnest(latency_users, latency_projects) AS r(user_id, project)
    WHERE t.user_id = r.user_id AND t.project = r.project;
    UPDATE user_totals t SET last_seen = (
        SELECT max("timestamp") FROM traces
        WHERE user_id = t.user_id AND COALESCE(project_id, '') = t.project)
    FROM unnest(seen_users, seen_projects) AS r(user_id, project)
    WHERE t.user_id = r.user_id AND t.project = r.project;
END
$$;

-- Each trigger names only the transition tables its event has; the branch taken reads
-- only those.
CREATE FUNCTION observe_user_totals_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changes observe_user_change[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        changes := ARRAY(SELECT observe_user_change(1, n) FROM new_rows n
                         WHERE n.user_id IS NOT NULL);
    ELSIF TG_OP = 'DELETE' THEN
        changes := ARRAY(SELECT observe_user_change(-1, o) FROM old_rows o
                         WHERE o.user_id IS NOT NULL);
    ELSE
        changes := ARRAY(
            (SELECT observe_user_change(1, n) FROM new_rows n WHERE n.user_id IS NOT NULL
             EXCEPT ALL
             SELECT observe_user_change(1, o) FROM old_rows o WHERE o.user_id IS NOT NULL)
            UNION ALL
            (SELECT observe_user_change(-1, o) FROM old_rows o WHERE o.user_id IS NOT NULL
             EXCEPT ALL
             SELECT observe_user_change(-1, n) FROM new_rows n WHERE n.user_id IS NOT NULL));
    END IF;
    IF cardinality(changes) > 0 THEN
        PERFORM observe_user_totals_apply(changes);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER traces_user_totals_insert AFTER INSERT ON traces
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION observe_user_totals_changed();
CREATE TRIGGER traces_user_totals_update AFTER UPDATE ON traces
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION observe_user_totals_changed();
CREATE TRIGGER traces_user_totals_delete AFTER DELETE ON traces
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION observe_user_totals_changed();

CREATE FUNCTION observe_user_totals_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE user_totals, user_sessions;
    RETURN NULL;
END
$$;

CREATE TRIGGER traces_user_totals_truncate AFTER TRUNCATE ON traces
    FOR EACH STATEMENT EXECUTE FUNCTION observe_user_totals_emptied();
"#;
