#!/usr/bin/env python3
"""Turns criterion's results of `cargo bench --bench overhead --bench throughput` into the
Markdown tables of BENCHMARKS.md: medians, the extra over the plain function, and ratios of
our extra to each peer's, all from the same run (target/criterion/*/*/new/estimates.json).

    python3 scripts/bench_table.py [target/criterion]
"""

import json
import os
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
PEERS = ["fastrace", "tracing", "tracing_otel"]


def median(group, bench):
    path = os.path.join(ROOT, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def ns(value):
    if value is None:
        return "n/a"
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f} ms"
    if value >= 1000:
        return f"{value / 1000:.2f} µs"
    return f"{value:.1f} ns"


def ratio(a, b):
    if a is None or b is None or b <= 0:
        return "n/a"
    return f"{a / b:.2f}x"


def overhead_group(group, title, per_span=1):
    plain = median(group, "plain")
    rows = [b for b in ["observe"] + PEERS if median(group, b) is not None]
    if plain is None or not rows:
        return
    ours = median(group, "observe") - plain
    print(f"\n### {title}\n")
    print("| benchmark | median | extra over plain | extra per span | our extra / theirs |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| `{group}/plain` | {ns(plain)} | | | |")
    for bench in rows:
        value = median(group, bench)
        extra = value - plain
        mine = "" if bench == "observe" else ratio(ours, extra)
        print(
            f"| `{group}/{bench}` | {ns(value)} | {ns(extra)} | {ns(extra / per_span)} | {mine} |"
        )


def main():
    overhead_group("child_span", "One child span per call, inside an existing trace (async fn, capture off)")
    overhead_group("new_trace", "A new trace per call (async fn)")
    overhead_group("nested3", "Three nested levels inside an existing trace (async fns)", per_span=3)
    overhead_group("sync_fn", "A plain `fn`, inside an existing trace")

    off = median("child_span", "observe")
    plain = median("child_span", "plain")
    args_plain = median("child_span", "plain_args")
    cap = median("child_span", "observe_capture_args")
    cap_out = median("child_span", "observe_capture_args_and_output")
    if None not in (off, plain, args_plain, cap):
        print("\n### Capture (child span, async fn)\n")
        print("| benchmark | median | extra over plain | ratio to capture off (extra) |")
        print("| --- | --- | --- | --- |")
        print(f"| `child_span/observe` (capture off) | {ns(off)} | {ns(off - plain)} | 1.00x |")
        print(
            f"| `child_span/observe_capture_args` (input: 2 args) | {ns(cap)} | {ns(cap - args_plain)} "
            f"| {ratio(cap - args_plain, off - plain)} |"
        )
        if cap_out is not None:
            print(
                f"| `child_span/observe_capture_args_and_output` | {ns(cap_out)} | {ns(cap_out - args_plain)} "
                f"| {ratio(cap_out - args_plain, off - plain)} |"
            )

    rows = [
        ("async fn", "plain_async", "observe_async"),
        ("sync fn", "plain_sync", "observe_sync"),
    ]
    if median("disabled", "plain_async") is not None:
        print("\n### Tracing disabled (no client installed)\n")
        print("| function | plain | `#[observe]`, disabled | extra |")
        print("| --- | --- | --- | --- |")
        for label, p, o in rows:
            a, b = median("disabled", p), median("disabled", o)
            print(f"| {label} | {ns(a)} | {ns(b)} | {ns(None if None in (a, b) else b - a)} |")

    base = median("context_per_poll", "no_context")
    if base is not None:
        print("\n### Context per poll: thread-local pointer vs `tokio::task_local!`\n")
        print("| benchmark | median per poll | extra over no context |")
        print("| --- | --- | --- |")
        for bench in ["no_context", "thread_local_pointer", "tokio_task_local"]:
            v = median("context_per_poll", bench)
            print(f"| `context_per_poll/{bench}` | {ns(v)} | {ns(None if v is None else v - base)} |")

    elements = 5_000 * 8
    if median("through_worker", "otlp_protobuf") is not None:
        print("\n### Throughput through the worker (one core)\n")
        print("| destination | median per 40,000 observations | observations/s |")
        print("| --- | --- | --- |")
        for bench in ["otlp_protobuf", "ingestion_json", "sqlite_store"]:
            v = median("through_worker", bench)
            rate = "n/a" if v is None else f"{elements / (v / 1e9):,.0f}"
            print(f"| `through_worker/{bench}` | {ns(v)} | {rate} |")


if __name__ == "__main__":
    main()
