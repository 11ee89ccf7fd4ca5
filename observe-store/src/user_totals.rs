//! The per-user totals the users page reads (`Store::user_rows`), kept by triggers on
//! `traces`.
//!
//! Why a kept aggregate: grouping every trace by user costs time in proportion to the
//! number of traces (about 60 ms of CPU for 100,000 traces even from a covering index, a
//! third of it the temporary B-tree of `COUNT(DISTINCT session_id)`); reading one row per
//! user and project does not grow with them.
//!
//! Why triggers rather than writer code: traces reach the file by several paths (the
//! exporter's batches, `observe serve`'s pieces, merges into stored traces, a trace whose
//! user or project changes, deletions by hand or by retention), and a trigger sees every one
//! of them, including paths added later, with nothing for a writer to forget.
//!
//! - `user_totals`, one row per user and project (`project` is `''` for rows without one):
//!   traces, distinct sessions, the sums of cost, computed cost, latency and observation
//!   count, and the largest latency and start. A row whose last trace leaves is deleted.
//! - `user_sessions`, one row per user, project and session, with its number of traces; a
//!   row reaching one trace or none adds or takes one from `user_totals.sessions`, so
//!   distinct sessions is a stored count.
//!
//! A trace changing only its numbers (the common merge) takes one `UPDATE` of its user's
//! row; a new trace, two upserts (its session's row, then its user's). The largest latency and start are kept as maxima: only when the trace that held one
//! shrinks or leaves does its user's maximum get read again from `traces` (through the
//! index by user).
//!
//! A migration that rebuilds `traces` drops these triggers with the table and must create
//! them again.

/// Removes the per-user totals (tables, view and triggers), leaving the layout of the
/// version before them: for tests that make an older file from a new one (SQLite refuses
/// to drop a column a trigger reads).
///
/// ```
/// let conn = rusqlite::Connection::open_in_memory().unwrap();
/// # conn.execute_batch("CREATE TABLE user_totals (x); CREATE TABLE user_sessions (x);
/// #     CREATE VIEW user_trace_changes AS SELECT 1; CREATE TABLE traces (x);
/// #     CREATE TRIGGER traces_user_totals_insert AFTER INSERT ON traces BEGIN SELECT 1; END;
/// #     CREATE TRIGGER traces_user_totals_delete AFTER DELETE ON traces BEGIN SELECT 1; END;
/// #     CREATE TRIGGER traces_user_totals_move AFTER UPDATE ON traces BEGIN SELECT 1; END;
/// #     CREATE TRIGGER traces_user_totals_grow AFTER UPDATE ON traces BEGIN SELECT 1; END;").unwrap();
/// conn.execute_batch(observe_store::DROP_USER_TOTALS).unwrap();
/// ```
pub const DROP_USER_TOTALS: &str = "DROP TRIGGER traces_user_totals_insert;
DROP TRIGGER traces_user_totals_delete; DROP TRIGGER traces_user_totals_move;
DROP TRIGGER traces_user_totals_grow;
DROP VIEW user_trace_changes; DROP TABLE user_sessions; DROP TABLE user_totals;";

/// The tables, their backfill from the traces already stored, and the triggers. The
/// backfill runs before the triggers exist, so it is counted once.
pub(crate) const USER_TOTALS: &str = r#"
CREATE TABLE user_totals (
    user_id TEXT NOT NULL,
    project TEXT NOT NULL,
    traces INTEGER NOT NULL,
    sessions INTEGER NOT NULL DEFAULT 0,
    cost REAL NOT NULL,
    computed_cost REAL NOT NULL,
    latency_sum REAL NOT NULL,
    max_latency_ms REAL NOT NULL,
    last_seen TEXT NOT NULL,
    observations INTEGER NOT NULL,
    PRIMARY KEY (user_id, project)
) WITHOUT ROWID;

CREATE TABLE user_sessions (
    user_id TEXT NOT NULL,
    project TEXT NOT NULL,
    session_id TEXT NOT NULL,
    traces INTEGER NOT NULL,
    PRIMARY KEY (user_id, project, session_id)
) WITHOUT ROWID;

INSERT INTO user_totals (user_id, project, traces, sessions, cost, computed_cost, latency_sum,
    max_latency_ms, last_seen, observations)
SELECT user_id, IFNULL(project_id, ''), COUNT(*), COUNT(DISTINCT session_id),
    TOTAL(calculated_total_cost), TOTAL(computed_cost), TOTAL(latency_ms), MAX(latency_ms),
    MAX(timestamp), SUM(observation_count)
FROM traces WHERE user_id IS NOT NULL GROUP BY user_id, IFNULL(project_id, '');

INSERT INTO user_sessions (user_id, project, session_id, traces)
SELECT user_id, IFNULL(project_id, ''), session_id, COUNT(*)
FROM traces WHERE user_id IS NOT NULL AND session_id IS NOT NULL
GROUP BY user_id, IFNULL(project_id, ''), session_id;

-- One trace's share of its user's totals coming (sign 1) or going (sign -1). A view
-- written to only so that the triggers below share this one body.
CREATE VIEW user_trace_changes AS
SELECT 0 AS sign, user_id, project_id AS project, session_id,
    calculated_total_cost AS cost, computed_cost, latency_ms, timestamp,
    observation_count AS observations
FROM traces WHERE 0;

-- The session's count first: its user gains a session when it reaches one trace and loses
-- one when it reaches none.
CREATE TRIGGER user_trace_changed INSTEAD OF INSERT ON user_trace_changes
WHEN new.user_id IS NOT NULL BEGIN
    INSERT INTO user_sessions (user_id, project, session_id, traces)
    SELECT new.user_id, IFNULL(new.project, ''), new.session_id, new.sign
    WHERE new.session_id IS NOT NULL
    ON CONFLICT DO UPDATE SET traces = traces + excluded.traces;
    INSERT INTO user_totals (user_id, project, traces, sessions, cost, computed_cost,
        latency_sum, max_latency_ms, last_seen, observations)
    VALUES (new.user_id, IFNULL(new.project, ''), new.sign,
        IFNULL((SELECT CASE WHEN new.sign > 0 AND s.traces = 1 THEN 1
                            WHEN new.sign < 0 AND s.traces = 0 THEN -1 ELSE 0 END
                FROM user_sessions s WHERE s.user_id = new.user_id
                    AND s.project = IFNULL(new.project, '') AND s.session_id = new.session_id),
               0),
        new.sign * new.cost, new.sign * new.computed_cost, new.sign * new.latency_ms,
        new.latency_ms, new.timestamp, new.sign * new.observations)
    ON CONFLICT DO UPDATE SET
        traces = traces + excluded.traces,
        sessions = sessions + excluded.sessions,
        cost = cost + excluded.cost,
        computed_cost = computed_cost + excluded.computed_cost,
        latency_sum = latency_sum + excluded.latency_sum,
        observations = observations + excluded.observations,
        max_latency_ms = CASE
            WHEN excluded.traces > 0 THEN max(max_latency_ms, excluded.max_latency_ms)
            WHEN excluded.max_latency_ms < max_latency_ms THEN max_latency_ms
            ELSE IFNULL((SELECT MAX(t.latency_ms) FROM traces t
                WHERE t.user_id = excluded.user_id
                    AND IFNULL(t.project_id, '') = excluded.project), 0) END,
        last_seen = CASE
            WHEN excluded.traces > 0 THEN max(last_seen, excluded.last_seen)
            WHEN excluded.last_seen < last_seen THEN last_seen
            ELSE IFNULL((SELECT MAX(t.timestamp) FROM traces t
                WHERE t.user_id = excluded.user_id
                    AND IFNULL(t.project_id, '') = excluded.project), '') END;
    DELETE FROM user_sessions
    WHERE new.sign < 0 AND user_id = new.user_id AND project = IFNULL(new.project, '')
        AND session_id = new.session_id AND traces <= 0;
    DELETE FROM user_totals
    WHERE new.sign < 0 AND user_id = new.user_id AND project = IFNULL(new.project, '')
        AND traces <= 0;
END;

CREATE TRIGGER traces_user_totals_insert AFTER INSERT ON traces
WHEN new.user_id IS NOT NULL BEGIN
    INSERT INTO user_trace_changes VALUES (1, new.user_id, new.project_id, new.session_id,
        new.calculated_total_cost, new.computed_cost, new.latency_ms, new.timestamp,
        new.observation_count);
END;

CREATE TRIGGER traces_user_totals_delete AFTER DELETE ON traces
WHEN old.user_id IS NOT NULL BEGIN
    INSERT INTO user_trace_changes VALUES (-1, old.user_id, old.project_id, old.session_id,
        old.calculated_total_cost, old.computed_cost, old.latency_ms, old.timestamp,
        old.observation_count);
END;

-- A trace moving to another user or project (or gaining or losing its user), or for the
-- same user and project to another session, leaves one row and joins another with its
-- totals (within one user, what it takes away and brings cancels out but the sessions').
CREATE TRIGGER traces_user_totals_move AFTER UPDATE OF user_id, project_id, session_id ON traces
WHEN old.user_id IS NOT new.user_id OR old.project_id IS NOT new.project_id
    OR (new.user_id IS NOT NULL AND old.session_id IS NOT new.session_id) BEGIN
    INSERT INTO user_trace_changes VALUES (-1, old.user_id, old.project_id, old.session_id,
        old.calculated_total_cost, old.computed_cost, old.latency_ms, old.timestamp,
        old.observation_count);
    INSERT INTO user_trace_changes VALUES (1, new.user_id, new.project_id, new.session_id,
        new.calculated_total_cost, new.computed_cost, new.latency_ms, new.timestamp,
        new.observation_count);
END;

-- The common merge: the same user and project, grown totals. Only what changed is
-- written; a maximum is read again from `traces` only when the trace that held it shrank.
CREATE TRIGGER traces_user_totals_grow AFTER UPDATE OF session_id, calculated_total_cost,
    computed_cost, latency_ms, timestamp, observation_count ON traces
WHEN new.user_id IS NOT NULL AND old.user_id = new.user_id
    AND old.project_id IS new.project_id AND old.session_id IS new.session_id
    AND (old.calculated_total_cost IS NOT new.calculated_total_cost
        OR old.computed_cost IS NOT new.computed_cost
        OR old.latency_ms IS NOT new.latency_ms OR old.timestamp IS NOT new.timestamp
        OR old.observation_count IS NOT new.observation_count) BEGIN
    UPDATE user_totals SET
        cost = cost + (new.calculated_total_cost - old.calculated_total_cost),
        computed_cost = computed_cost + (new.computed_cost - old.computed_cost),
        latency_sum = latency_sum + (new.latency_ms - old.latency_ms),
        observations = observations + (new.observation_count - old.observation_count),
        max_latency_ms = CASE
            WHEN new.latency_ms >= max_latency_ms THEN new.latency_ms
            WHEN old.latency_ms < max_latency_ms THEN max_latency_ms
            ELSE (SELECT MAX(t.latency_ms) FROM traces t WHERE t.user_id = new.user_id
                AND t.project_id IS new.project_id) END,
        last_seen = CASE
            WHEN new.timestamp >= last_seen THEN new.timestamp
            WHEN old.timestamp < last_seen THEN last_seen
            ELSE (SELECT MAX(t.timestamp) FROM traces t WHERE t.user_id = new.user_id
                AND t.project_id IS new.project_id) END
    WHERE user_id = new.user_id AND project = IFNULL(new.project_id, '');
END;

"#;
