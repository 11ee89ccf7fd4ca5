#!/usr/bin/env python3
"""Turns criterion's results of
`cargo bench -p observe-benches --bench overhead --bench throughput` into the Markdown tables
of BENCHMARKS.md: medians, the extra over the plain function, ratios of our
extra to each peer's (each ratio from one run, so both sides were measured minutes apart),
and what each library delivered (`overhead_delivery.jsonl`, written by the overhead bench).

    python3 scripts/bench_table.py [CRITERION_DIR ...]

With several directories (one per full run, e.g. copies of target/criterion), every cell is
the median over the runs followed by the range, `median (min-max)`.
"""

import json
import os
import statistics
import sys

ROOTS = sys.argv[1:] or [os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")]
PEERS = ["fastrace", "tracing", "tracing_otel"]
MODES = ["drained", "sustained"]


def median_in(root, group, bench):
    path = os.path.join(root, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def per_run(fn):
    """fn(root) for every run, the runs where it is defined."""
    values = [fn(root) for root in ROOTS]
    return [v for v in values if v is not None]


def ns(value):
    if value is None:
        return "n/a"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f} ms"
    if value >= 1000:
        return f"{value / 1000:.2f} µs"
    return f"{value:.1f} ns"


def x(value):
    return "n/a" if value is None else f"{value:.2f}x"


def cell(values, fmt):
    """The median over runs, and the range when there are several."""
    if not values:
        return "n/a"
    mid = fmt(statistics.median(values))
    if len(values) == 1:
        return mid
    return f"{mid} ({fmt(min(values))}-{fmt(max(values))})"


def mid(values, fmt):
    """The median over runs alone (for the columns where the range says little)."""
    return fmt(statistics.median(values)) if values else "n/a"


def extra(root, group, bench):
    value, plain = median_in(root, group, bench), median_in(root, group, "plain")
    return None if value is None or plain is None else value - plain


def ratio(root, group, bench):
    ours, theirs = extra(root, group, "observe"), extra(root, group, bench)
    return None if ours is None or theirs is None or theirs <= 0 else ours / theirs


def deliveries():
    """(group, lib) -> list of the delivery lines, one per run."""
    found = {}
    for root in ROOTS:
        try:
            with open(os.path.join(root, "overhead_delivery.jsonl")) as f:
                for line in f:
                    d = json.loads(line)
                    found.setdefault((d["group"], d["lib"]), []).append(d)
        except OSError:
            pass
    return found


DELIVERED = deliveries()


def delivery(group, lib, key):
    return [d[key] for d in DELIVERED.get((group, lib), []) if d.get(key) is not None]


def overhead_group(case, title, per_span=1):
    for mode in MODES:
        group = f"{case}_{mode}"
        rows = [
            b
            for b in ["observe"] + PEERS + ["observe_bridge"]
            if per_run(lambda r: median_in(r, group, b))
        ]
        if not rows:
            continue
        print(f"\n### {title}: {mode}\n")
        print(
            "| library | extra per span | our extra / theirs | CPU per call, all threads "
            "| records delivered / made | dropped (said) | RSS growth: peak / end |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        plain = per_run(lambda r: median_in(r, group, "plain"))
        print(f"| plain function (median) | {cell(plain, ns)} | | | | | |")
        for bench in rows:
            value = per_run(lambda r: median_in(r, group, bench))
            spans = per_run(lambda r: (extra(r, group, bench) or 0) / per_span)
            mine = "" if bench in ("observe", "observe_bridge") else cell(per_run(lambda r: ratio(r, group, bench)), x)
            cpu = cell(delivery(group, bench, "cpu_ns_per_call"), ns) if mode == "drained" else ""
            got = delivery(group, bench, "delivered")
            want = delivery(group, bench, "expected")
            shares = [g / w for g, w in zip(got, want) if w]
            dropped = delivery(group, bench, "dropped_reported")
            peak = delivery(group, bench, "rss_peak_growth_kib")
            end = delivery(group, bench, "rss_end_growth_kib")
            mib = lambda k: f"{k / 1024:.1f} MiB"
            pct = lambda s: f"{s * 100:.2f} %"
            print(
                f"| `{bench}` | {cell(spans, ns)} | {mine} | {cpu} "
                f"| {cell(shares, pct) if mode == 'sustained' else mid(shares, pct)} "
                f"| {mid(dropped, lambda v: f'{v:,.0f}') if dropped else 'not counted'} "
                f"| {mid(peak, mib)} / {mid(end, mib)} |"
            )


def over_args(root, group, bench):
    """The median over the plain function with the same two arguments."""
    value, plain = median_in(root, group, bench), median_in(root, group, "plain_args")
    return None if value is None or plain is None else value - plain


def default_path(group):
    """The headline row of issue 21: default `#[observe]` (two arguments and the return value
    captured) against `#[tracing::instrument]` recording both arguments as fields."""
    ours = per_run(lambda r: over_args(r, group, "observe_default_capture"))
    if not ours:
        return
    print("\n### The default path: `#[observe]` with its arguments and return value captured (drained)\n")
    print(
        "| benchmark | extra over plain (caller) | ours / theirs | CPU per call, all threads "
        "| records delivered / made |"
    )
    print("| --- | --- | --- | --- | --- |")
    for bench in ["observe_default_capture", "tracing_fields"]:
        value = per_run(lambda r: over_args(r, group, bench))
        rat = per_run(
            lambda r: None
            if None in (over_args(r, group, "observe_default_capture"), over_args(r, group, bench))
            or over_args(r, group, bench) <= 0
            else over_args(r, group, "observe_default_capture") / over_args(r, group, bench)
        )
        got = delivery(group, bench, "delivered")
        want = delivery(group, bench, "expected")
        shares = [g / w for g, w in zip(got, want) if w]
        print(
            f"| `{bench}` | {cell(value, ns)} | {'' if bench.startswith('observe') else cell(rat, x)} "
            f"| {cell(delivery(group, bench, 'cpu_ns_per_call'), ns)} "
            f"| {mid(shares, lambda s: f'{s * 100:.2f} %')} |"
        )


def main():
    overhead_group("child_span", "One child span per call, inside an existing trace (async fn, capture off)")
    overhead_group("new_trace", "A new trace per call (async fn)")
    overhead_group("nested3", "Three nested levels inside an existing trace (async fns)", per_span=3)
    overhead_group("sync_fn", "A plain `fn`, inside an existing trace")

    group = "child_span_drained"
    off = per_run(lambda r: extra(r, group, "observe"))
    if off:
        print("\n### Capture (child span, async fn, drained)\n")
        print("| benchmark | extra over plain | ratio to capture off (extra) |")
        print("| --- | --- | --- |")
        print(f"| `observe` (capture off) | {cell(off, ns)} | 1.00x |")
        for bench, label in [
            ("observe_capture_args", "input: 2 args"),
            ("observe_capture_args_and_output", "input and output"),
        ]:
            cap = per_run(
                lambda r: None
                if median_in(r, group, bench) is None or median_in(r, group, "plain_args") is None
                else median_in(r, group, bench) - median_in(r, group, "plain_args")
            )
            rat = per_run(
                lambda r: None
                if median_in(r, group, bench) is None or extra(r, group, "observe") is None
                else (median_in(r, group, bench) - median_in(r, group, "plain_args"))
                / extra(r, group, "observe")
            )
            print(f"| `{bench}` ({label}) | {cell(cap, ns)} | {cell(rat, x)} |")

    default_path(group)

    if per_run(lambda r: median_in(r, "disabled", "plain_async")):
        print("\n### Tracing disabled (no client installed)\n")
        print("| function | plain | `#[observe]`, disabled | extra |")
        print("| --- | --- | --- | --- |")
        for label, p, o in [("async fn", "plain_async", "observe_async"), ("sync fn", "plain_sync", "observe_sync")]:
            a = per_run(lambda r: median_in(r, "disabled", p))
            b = per_run(lambda r: median_in(r, "disabled", o))
            d = per_run(
                lambda r: None
                if None in (median_in(r, "disabled", p), median_in(r, "disabled", o))
                else median_in(r, "disabled", o) - median_in(r, "disabled", p)
            )
            print(f"| {label} | {cell(a, ns)} | {cell(b, ns)} | {cell(d, ns)} |")

    if per_run(lambda r: median_in(r, "context_per_poll", "no_context")):
        print("\n### Context per poll: thread-local pointer vs `tokio::task_local!`\n")
        print("| benchmark | median per poll | extra over no context |")
        print("| --- | --- | --- |")
        for bench in ["no_context", "thread_local_pointer", "tokio_task_local"]:
            v = per_run(lambda r: median_in(r, "context_per_poll", bench))
            e = per_run(
                lambda r: None
                if median_in(r, "context_per_poll", bench) is None
                else median_in(r, "context_per_poll", bench) - median_in(r, "context_per_poll", "no_context")
            )
            print(f"| `context_per_poll/{bench}` | {cell(v, ns)} | {cell(e, ns)} |")

    elements = 5_000 * 8
    if per_run(lambda r: median_in(r, "through_worker", "otlp_protobuf")):
        print("\n### Throughput through the worker (one core)\n")
        print("| destination | median per 40,000 observations | observations/s |")
        print("| --- | --- | --- |")
        for bench in ["otlp_protobuf", "ingestion_json", "sqlite_store"]:
            v = per_run(lambda r: median_in(r, "through_worker", bench))
            rate = [elements / (t / 1e9) for t in v]
            print(f"| `through_worker/{bench}` | {cell(v, ns)} | {cell(rate, lambda r: f'{r:,.0f}')} |")


if __name__ == "__main__":
    main()
