#!/usr/bin/env python3
"""CPU time of each widget of a dashboard file, run by `observe query` on a store.

Renders each widget's SQL for the dashboard bench's range (a custom 30 days holding the whole
bench store, bucket `day`, no breakdown), runs it REPS times with the given `observe` binary,
and prints the median CPU time (user + system of the child process) less that of `SELECT 1`
(starting and opening the store). CPU time, not wall clock: on a shared machine it moves far
less with the load.

    python3 scripts/dashboard_widgets_cpu.py OBSERVE STORE [DASHBOARD.toml] [REPS]

A widget with a `rollup_sql` runs that (as the dashboard does with no filter but the range,
which starts and ends on the hour, so every row comes from the roll-up); ROLLUP=0 in the
environment runs every widget's SQL over the traces instead.
"""

import resource
import statistics
import subprocess
import sys
import os
import tomllib

RANGE = (
    "(traces.timestamp >= '2025-12-03T04:00:00Z'::timestamptz"
    " AND traces.timestamp < '2026-01-02T04:00:00Z'::timestamptz)"
)
# The same range as whole hours of the roll-up (what `Filter::render_rollup` writes for it).
HOURS = (
    "(SELECT hour_start, environment, name, release, version, traces, cost, computed_cost,"
    " latency_sum FROM trace_hours WHERE hour_start >= '2025-12-03T04:00:00Z'::timestamptz"
    " AND hour_start < '2026-01-02T04:00:00Z'::timestamptz) AS traces"
)


def cpu_ms(observe, store, sql):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [observe, "--db", store, "query", "--timeout", "0", sql],
        capture_output=True,
        text=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"observe query failed: {done.stderr}\n{sql}")
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return used * 1000


def main():
    observe, store = sys.argv[1], sys.argv[2]
    dashboard = sys.argv[3] if len(sys.argv) > 3 else "observe-cli/src/dashboard/default.toml"
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    with open(dashboard, "rb") as f:
        widgets = tomllib.load(f)["widget"]
    median = lambda sql: statistics.median(cpu_ms(observe, store, sql) for _ in range(reps))
    base = median("SELECT 1")
    print(f"start and open (SELECT 1): {base:.0f} ms CPU")
    total = 0.0
    for i, w in enumerate(widgets):
        rollup = w.get("rollup_sql") if os.environ.get("ROLLUP", "1") != "0" else None
        sql = (
            rollup.replace("{{hours}}", HOURS).replace("{{filter}}", "(TRUE)")
            if rollup
            else w["sql"].replace("{{filter}}", RANGE)
        )
        sql = (
            sql
            .replace("{{breakdown}}", "'all'")
            .replace("{{bucket}}", "day")
        )
        ms = median(sql) - base
        total += ms
        print(f"{i:2} {ms:7.0f} ms CPU  {w['title']}", flush=True)
    print(f"sum {total:7.0f} ms CPU")


if __name__ == "__main__":
    main()
