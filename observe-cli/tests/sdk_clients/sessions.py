"""What the workflow scripts share: the sessions they run and the JSON line they print.

    python SCRIPT.py PREFIX [options]

runs the script's workflow once per session PREFIX-0 .. PREFIX-4 (the seed's query (d)
wants five sessions of one user), flushes the client, and prints
{"traces": [...], "sessions": [...]} as one JSON line for the Rust test to read.
"""

import json
import sys

SESSIONS = 5


def run(workflow, flush):
    """Calls workflow(question, session) -> trace id for each session, then flush()."""
    prefix = sys.argv[1]
    sessions = [f"{prefix}-{i}" for i in range(SESSIONS)]
    traces = [workflow(f"question {i}", session) for i, session in enumerate(sessions)]
    flush()
    print(json.dumps({"traces": traces, "sessions": sessions}))


def options():
    """The options after PREFIX."""
    return sys.argv[2:]
