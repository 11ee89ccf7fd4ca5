//! The queries: the seed's four, and the kinds of query analysts write over the traces.

use crate::compare::Order;

/// A query both backends must answer alike.
pub struct Case {
    pub name: &'static str,
    pub sql: &'static str,
    pub order: Order,
}

/// A query the translation refuses, and the construct its error names.
pub struct Refused {
    pub name: &'static str,
    pub sql: &'static str,
    pub names: &'static str,
}

const fn fixed(name: &'static str, sql: &'static str) -> Case {
    Case {
        name,
        sql,
        order: Order::Fixed,
    }
}

const fn any(name: &'static str, sql: &'static str) -> Case {
    Case {
        name,
        sql,
        order: Order::Any,
    }
}

pub const AGREE: &[Case] = &[
    // The seed's four, as written in its README and the CLI's cli_seed_queries test.
    any(
        "seed: performance by user, last 30 days",
        "SELECT user_id, COUNT(*) AS traces, AVG(latency_ms)::float AS avg_latency_ms,
                ROUND(SUM(calculated_total_cost)::numeric, 2) AS total_cost
         FROM traces WHERE timestamp >= NOW() - INTERVAL '30 days'
         GROUP BY user_id ORDER BY total_cost DESC NULLS LAST",
    ),
    any(
        "seed: performance by content type",
        "SELECT metadata->>'content_type' AS content_type, COUNT(DISTINCT id) AS traces,
                AVG(latency_ms) AS avg_latency_ms, AVG(calculated_total_cost) AS avg_cost
         FROM traces WHERE timestamp > CURRENT_TIMESTAMP - INTERVAL '30 days'
         GROUP BY 1 HAVING metadata->>'content_type' IS NOT NULL ORDER BY traces DESC",
    ),
    fixed(
        "seed: slowest sessions, last 7 days",
        "SELECT session_id, MIN(timestamp) AS started,
                MAX(timestamp + latency_ms * INTERVAL '1 millisecond') AS ended,
                EXTRACT(EPOCH FROM MAX(timestamp + latency_ms * INTERVAL '1 millisecond') - MIN(timestamp)) * 1000 AS duration_ms,
                SUM(calculated_total_cost) AS total_cost, SUM(computed_cost) AS computed_cost,
                COUNT(*) AS traces
         FROM traces WHERE timestamp > NOW() - INTERVAL '7 days' AND session_id IS NOT NULL
         GROUP BY session_id ORDER BY duration_ms DESC, session_id LIMIT 10",
    ),
    any(
        "seed: slowest users with at least five sessions",
        "WITH per_session AS (
             SELECT user_id, session_id,
                    EXTRACT(EPOCH FROM (MAX(end_time) - MIN(timestamp))) * 1000 AS session_latency_ms,
                    SUM(calculated_total_cost) AS total_cost
             FROM traces WHERE session_id IS NOT NULL GROUP BY user_id, session_id)
         SELECT user_id, COUNT(*) AS sessions, AVG(session_latency_ms) AS avg_session_latency_ms,
                SUM(total_cost) AS total_cost
         FROM per_session GROUP BY user_id HAVING COUNT(*) >= 5
         ORDER BY avg_session_latency_ms DESC",
    ),
    // Dates and times.
    fixed(
        "traces per day (date_trunc day)",
        "SELECT date_trunc('day', timestamp) AS day, COUNT(*) AS traces
         FROM traces GROUP BY 1 ORDER BY 1",
    ),
    fixed(
        "traces per hour, last 7 days (date_trunc hour)",
        "SELECT date_trunc('hour', timestamp) AS hour, COUNT(*) AS n, SUM(latency_ms) AS ms
         FROM traces WHERE timestamp >= NOW() - INTERVAL '7 days' GROUP BY 1 ORDER BY 1",
    ),
    fixed(
        "weeks and months",
        "SELECT date_trunc('week', timestamp) AS week, date_trunc('month', timestamp) AS month,
                COUNT(*) AS n FROM traces GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    fixed(
        "CURRENT_DATE - 3",
        "SELECT COUNT(*) AS n, MIN(timestamp) AS first FROM traces WHERE timestamp >= CURRENT_DATE - 3",
    ),
    fixed(
        "a day three days ago, by ::date",
        "SELECT id, timestamp::date AS day FROM traces
         WHERE timestamp::date BETWEEN CURRENT_DATE - 10 AND CURRENT_DATE - 3 ORDER BY id",
    ),
    fixed(
        "timestamps as columns",
        "SELECT id, timestamp, end_time, updated_at IS NOT NULL AS updated FROM traces ORDER BY timestamp DESC, id LIMIT 15",
    ),
    fixed(
        "timestamp shifted by an interval",
        "SELECT id, timestamp + INTERVAL '1 hour' AS later, timestamp - INTERVAL '2 days 3 hours' AS earlier
         FROM traces ORDER BY id LIMIT 10",
    ),
    fixed(
        "hour of day and day of week (EXTRACT)",
        "SELECT EXTRACT(HOUR FROM timestamp) AS hour, EXTRACT(DOW FROM timestamp) AS dow, COUNT(*) AS n
         FROM traces GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    fixed(
        "durations from epochs",
        "SELECT id, EXTRACT(EPOCH FROM end_time - start_time) * 1000 AS ms, latency_ms
         FROM observations ORDER BY id LIMIT 25",
    ),
    fixed(
        "time between a session's first and last trace (interval column)",
        "SELECT session_id, MAX(end_time) - MIN(timestamp) AS span
         FROM traces WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY session_id",
    ),
    // JSON.
    fixed(
        "JSON text and nested paths",
        "SELECT id, metadata->>'content_type' AS ct, metadata #>> '{source,region}' AS region,
                metadata->'source'->>'region' AS region2
         FROM traces ORDER BY id LIMIT 30",
    ),
    fixed(
        "JSON values that are not strings (->>)",
        "SELECT id, metadata->>'priority' AS priority, metadata->>'cached' AS cached
         FROM traces WHERE metadata ? 'priority' ORDER BY id LIMIT 20",
    ),
    fixed(
        "JSON documents as columns",
        "SELECT id, metadata, metadata->'source' AS source FROM traces ORDER BY id LIMIT 20",
    ),
    fixed(
        "JSON key test and casts of JSON numbers",
        "SELECT (metadata->>'priority')::int AS priority, COUNT(*) AS n
         FROM traces WHERE metadata ? 'priority' GROUP BY 1 ORDER BY 1",
    ),
    any(
        "token usage by model",
        "SELECT model, SUM((usage_details->>'input')::int) AS input_tokens,
                SUM((usage_details->>'output')::numeric) AS output_tokens,
                ROUND(SUM(calculated_total_cost)::numeric, 6) AS cost
         FROM observations WHERE type = 'GENERATION' GROUP BY model ORDER BY model",
    ),
    // Casts.
    fixed(
        "casts to int, numeric, text",
        "SELECT id, latency_ms::int AS ms, ROUND(calculated_total_cost::numeric, 4) AS cost,
                observation_count::text AS count_text, timestamp::text AS ts_text
         FROM traces ORDER BY id LIMIT 20",
    ),
    // Booleans.
    fixed(
        "comparisons and flags as columns",
        "SELECT id, latency_ms > 2000 AS slow, has_root, public, user_id IS NULL AS anonymous
         FROM traces ORDER BY id LIMIT 20",
    ),
    fixed(
        "bool_or, bool_and",
        "SELECT user_id, bool_or(latency_ms > 5000) AS any_slow, bool_and(has_root) AS all_rooted
         FROM traces GROUP BY user_id ORDER BY user_id",
    ),
    fixed(
        "WHERE flag, WHERE NOT flag",
        "SELECT COUNT(*) FILTER (WHERE public) AS public, COUNT(*) FILTER (WHERE NOT public) AS private,
                COUNT(*) FILTER (WHERE has_root) AS rooted FROM traces",
    ),
    any(
        "errors per level (cost_computed flag)",
        "SELECT level, cost_computed, COUNT(*) AS n, COUNT(status_message) AS with_message
         FROM observations GROUP BY level, cost_computed",
    ),
    // NULL ordering.
    fixed(
        "NULLs last in ascending order by default",
        "SELECT session_id, COUNT(*) AS n FROM traces GROUP BY session_id ORDER BY session_id",
    ),
    fixed(
        "NULLs first in descending order by default",
        "SELECT user_id, COUNT(*) AS n FROM traces GROUP BY user_id ORDER BY user_id DESC",
    ),
    fixed(
        "NULLS FIRST and NULLS LAST written",
        "SELECT user_id, session_id FROM traces GROUP BY user_id, session_id
         ORDER BY user_id ASC NULLS FIRST, session_id DESC NULLS LAST",
    ),
    // Window functions.
    fixed(
        "row_number per user",
        "SELECT id, user_id, row_number() OVER (PARTITION BY user_id ORDER BY timestamp) AS nth
         FROM traces ORDER BY user_id, nth",
    ),
    fixed(
        "rank by cost",
        "SELECT id, rank() OVER (ORDER BY ROUND(calculated_total_cost::numeric, 3) DESC) AS r
         FROM traces ORDER BY r, id LIMIT 40",
    ),
    fixed(
        "lag: time since the session's previous trace",
        "SELECT id, session_id, lag(timestamp) OVER (PARTITION BY session_id ORDER BY timestamp) AS previous,
                EXTRACT(EPOCH FROM timestamp - lag(timestamp) OVER (PARTITION BY session_id ORDER BY timestamp)) AS gap_s
         FROM traces WHERE session_id IS NOT NULL ORDER BY session_id, timestamp",
    ),
    fixed(
        "running cost per user (sum over partition)",
        "SELECT id, user_id, SUM(calculated_total_cost) OVER (PARTITION BY user_id ORDER BY timestamp) AS running
         FROM traces ORDER BY user_id, timestamp",
    ),
    // Percentiles.
    fixed(
        "latency percentiles per model",
        "SELECT model, percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95,
                percentile_disc(0.9) WITHIN GROUP (ORDER BY latency_ms) AS p90
         FROM observations WHERE model IS NOT NULL GROUP BY model ORDER BY model",
    ),
    // CTEs, tags, strings, CASE, grouping, paging.
    fixed(
        "two CTEs",
        "WITH daily AS (SELECT date_trunc('day', timestamp) AS day, user_id, SUM(calculated_total_cost) AS cost
                        FROM traces GROUP BY 1, 2),
              ranked AS (SELECT day, user_id, cost, row_number() OVER (PARTITION BY day ORDER BY cost DESC, user_id) AS r
                         FROM daily)
         SELECT day, user_id, cost FROM ranked WHERE r = 1 ORDER BY day",
    ),
    fixed(
        "= ANY(tags)",
        "SELECT COUNT(*) FILTER (WHERE 'prod' = ANY(tags)) AS prod,
                COUNT(*) FILTER (WHERE 'needs review' = ANY(tags)) AS review,
                COUNT(*) FILTER (WHERE NOT 'beta' = ANY(tags)) AS not_beta FROM traces",
    ),
    fixed(
        "tags as a column",
        "SELECT id, tags FROM traces ORDER BY id LIMIT 25",
    ),
    fixed(
        "string functions",
        "SELECT id, upper(name) AS up, lower(name) AS low, length(name) AS len,
                substring(name from 2 for 3) AS mid, name || '/' || COALESCE(user_id, 'anonymous') AS who,
                replace(environment, 'production', 'prod') AS env, trim('  x ') AS trimmed
         FROM traces ORDER BY id LIMIT 20",
    ),
    fixed(
        "LIKE, ILIKE, IN",
        "SELECT name, COUNT(*) AS n FROM traces
         WHERE name ILIKE 'tr%' OR name LIKE 'c%' OR user_id IN ('alice', 'bob') GROUP BY name ORDER BY name",
    ),
    fixed(
        "LIKE is case-sensitive and escapes with a backslash",
        "SELECT COUNT(*) FILTER (WHERE name LIKE 't%') AS lower_t, COUNT(*) FILTER (WHERE name LIKE 'T%') AS upper_t,
                COUNT(*) FILTER (WHERE name ILIKE 'T%') AS any_t, COUNT(*) FILTER (WHERE name NOT LIKE '%a%') AS no_a,
                COUNT(*) FILTER (WHERE environment LIKE 'product_on') AS one_char,
                COUNT(*) FILTER (WHERE environment LIKE 'product\\_on') AS escaped,
                COUNT(*) FILTER (WHERE environment LIKE 'prod!%' ESCAPE '!') AS own_escape
         FROM traces",
    ),
    fixed(
        "->> compared as text, IS TRUE, dates from NOW()",
        "SELECT COUNT(*) FILTER (WHERE metadata->>'priority' = '3') AS p3,
                COUNT(*) FILTER (WHERE metadata->>'cached' = 'true') AS cached,
                COUNT(*) FILTER (WHERE public IS TRUE) AS public, COUNT(*) FILTER (WHERE public IS NOT FALSE) AS maybe,
                COUNT(*) FILTER (WHERE timestamp::date = NOW()::date) AS today FROM traces",
    ),
    fixed(
        "array length and times from epochs",
        "SELECT id, cardinality(tags) AS n_tags, array_length(tags, 1) AS len,
                to_timestamp(start_ns / 1000000000) AS started_second
         FROM traces WHERE cardinality(tags) > 0 ORDER BY id LIMIT 20",
    ),
    any(
        "spread of latency per model (stddev, variance)",
        "SELECT model, stddev(latency_ms) AS sd, stddev_pop(latency_ms) AS sd_pop,
                variance(latency_ms) AS var, var_pop(latency_ms) AS var_pop, COUNT(*) AS n
         FROM observations WHERE model IS NOT NULL GROUP BY model",
    ),
    fixed(
        "GREATEST and LEAST skip NULLs",
        "SELECT id, GREATEST(completion_start_time, start_time) AS latest, LEAST(completion_start_time, end_time) AS earliest,
                GREATEST(prompt_version, 0) AS v FROM observations ORDER BY id LIMIT 20",
    ),
    fixed(
        "CASE and COALESCE",
        "SELECT CASE WHEN latency_ms > 4000 THEN 'slow' WHEN latency_ms > 1000 THEN 'ok' ELSE 'fast' END AS speed,
                COALESCE(user_id, 'anonymous') AS who, COUNT(*) AS n
         FROM traces GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    fixed(
        "GROUP BY and HAVING",
        "SELECT user_id, COUNT(*) AS n, SUM(observation_count) AS observations FROM traces
         GROUP BY user_id HAVING COUNT(*) > 10 AND SUM(observation_count) > 20 ORDER BY n DESC, user_id",
    ),
    fixed(
        "LIMIT and OFFSET",
        "SELECT id, name FROM traces ORDER BY id LIMIT 10 OFFSET 20",
    ),
    fixed(
        "scores",
        "SELECT name, data_type, COUNT(*) AS n, AVG(value) AS mean, COUNT(comment) AS commented
         FROM scores GROUP BY name, data_type ORDER BY name, data_type",
    ),
    fixed(
        "string_agg and DISTINCT",
        "SELECT user_id, string_agg(DISTINCT name, ',' ORDER BY name) AS names, COUNT(DISTINCT session_id) AS sessions
         FROM traces GROUP BY user_id ORDER BY user_id",
    ),
    fixed(
        "unnamed columns take PostgreSQL's names",
        "SELECT COUNT(*), MAX(latency_ms), MIN(timestamp), AVG(latency_ms)::float, latency_ms > 0,
                COALESCE(user_id, '-'), CASE WHEN public THEN 1 ELSE 0 END, 1 + 1
         FROM traces GROUP BY user_id, public, latency_ms ORDER BY 2 DESC LIMIT 5",
    ),
];

/// More dates, strings, JSON and set operations.
pub const MORE: &[Case] = &[
    fixed(
        "days between dates, and a date range with BETWEEN",
        "SELECT id, CURRENT_DATE - timestamp::date AS days_ago FROM traces
         WHERE timestamp BETWEEN CURRENT_DATE - 20 AND CURRENT_DATE ORDER BY id",
    ),
    fixed(
        "epoch of a timestamp",
        "SELECT id, EXTRACT(EPOCH FROM timestamp) AS epoch, date_part('hour', timestamp) AS hour
         FROM traces ORDER BY id LIMIT 20",
    ),
    fixed(
        "to_char of timestamps and dates",
        "SELECT to_char(date_trunc('week', timestamp), 'YYYY-MM-DD') AS week, to_char(timestamp, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS at,
                to_char(timestamp::date, 'IW/DDD') AS iso, COUNT(*) OVER (PARTITION BY to_char(timestamp, 'YYYY-MM')) AS in_month
         FROM traces ORDER BY timestamp, id LIMIT 30",
    ),
    fixed(
        "more EXTRACT fields",
        "SELECT id, EXTRACT(QUARTER FROM timestamp) AS q, EXTRACT(WEEK FROM timestamp) AS w,
                EXTRACT(ISODOW FROM timestamp) AS isodow, EXTRACT(ISOYEAR FROM timestamp) AS isoyear,
                EXTRACT(MILLISECONDS FROM timestamp) AS ms, EXTRACT(SECOND FROM timestamp) AS s
         FROM traces ORDER BY id LIMIT 30",
    ),
    fixed(
        "left, right, position, strpos",
        "SELECT id, left(name, 3) AS l, right(name, 2) AS r, position('a' in name) AS p,
                strpos(name, 's') AS s, char_length(name) AS n FROM traces ORDER BY id LIMIT 20",
    ),
    fixed(
        "JSON booleans cast to boolean",
        "SELECT (metadata->>'cached')::boolean AS cached, COUNT(*) AS n FROM traces
         GROUP BY 1 ORDER BY 1",
    ),
    fixed(
        "longest sessions, ordered by an interval column",
        "SELECT session_id, MAX(end_time) - MIN(timestamp) AS span FROM traces
         WHERE session_id IS NOT NULL GROUP BY session_id ORDER BY span DESC LIMIT 6",
    ),
    fixed(
        "slowest traces, ordered by the position of an interval column",
        "SELECT id, end_time - timestamp FROM traces ORDER BY 2 DESC, 1 LIMIT 6",
    ),
    fixed(
        "average interval",
        "SELECT user_id, AVG(end_time - timestamp) AS mean FROM traces GROUP BY user_id ORDER BY user_id",
    ),
    fixed(
        "UNION ALL and EXISTS",
        "SELECT 'trace' AS kind, id FROM traces WHERE EXISTS (SELECT 1 FROM scores s WHERE s.trace_id = traces.id)
         UNION ALL
         SELECT 'error', id FROM observations WHERE level = 'ERROR'
         ORDER BY kind, id",
    ),
    fixed(
        "SELECT * over each table",
        "SELECT * FROM traces ORDER BY id LIMIT 8",
    ),
    fixed(
        "t.* with a filter",
        "SELECT o.* FROM observations o WHERE o.level = 'ERROR' ORDER BY o.id LIMIT 8",
    ),
    fixed("scores, all columns", "SELECT * FROM scores ORDER BY id"),
    fixed(
        "array_agg of tags per user",
        "SELECT user_id, array_agg(name ORDER BY timestamp, id) AS names FROM traces
         WHERE user_id IN ('bob', 'carol') GROUP BY user_id ORDER BY user_id",
    ),
];

pub const REFUSED: &[Refused] = &[
    Refused {
        name: "DISTINCT ON",
        sql:
            "SELECT DISTINCT ON (user_id) user_id, id FROM traces ORDER BY user_id, timestamp DESC",
        names: "DISTINCT ON",
    },
    Refused {
        name: "regular expressions",
        sql: "SELECT id FROM traces WHERE name ~ '^s'",
        names: "~",
    },
    Refused {
        name: "array containment",
        sql: "SELECT id FROM traces WHERE tags @> ARRAY['prod']",
        names: "@>",
    },
    Refused {
        name: "a field of an interval",
        sql: "SELECT EXTRACT(DAY FROM MAX(end_time) - MIN(timestamp)) AS d FROM traces",
        names: "EXTRACT(DAY) from an interval",
    },
    Refused {
        name: "string_agg(DISTINCT) with a separator SQLite cannot take",
        sql: "SELECT string_agg(DISTINCT name, '; ') AS names FROM traces",
        names: "string_agg(DISTINCT x, separator)",
    },
    Refused {
        name: "date_trunc to a quarter",
        sql: "SELECT date_trunc('quarter', timestamp) AS q FROM traces",
        names: "date_trunc('quarter')",
    },
    Refused {
        name: "a to_char pattern without a strftime field",
        sql: "SELECT to_char(timestamp, 'Month DD') AS m FROM traces",
        names: "to_char pattern `Month`",
    },
    Refused {
        name: "a set-returning function",
        sql: "SELECT unnest(tags) AS tag, COUNT(*) AS n FROM traces GROUP BY 1",
        names: "unnest(), a set-returning function",
    },
    Refused {
        name: "a function without a translation",
        sql: "SELECT regexp_replace(name, '[aeiou]', '', 'g') AS consonants FROM traces",
        names: "regexp_replace()",
    },
    Refused {
        name: "ANY with another operator than =",
        sql: "SELECT id FROM traces WHERE 'prod' <> ANY(tags)",
        names: "<> ANY",
    },
];
