"""The Langfuse Python SDK 2.x (the legacy ingestion API), as the seed's code uses it.

Run by observe-cli/tests/it/serve_sdks.rs inside the venv scripts/python_sdks.sh makes.
Connection from the environment: LANGFUSE_HOST, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY.

    python langfuse_v2.py PREFIX

runs the workflow once per session PREFIX-0 .. PREFIX-4 (sessions.py).
"""

import time

from langfuse import Langfuse

import sessions

langfuse = Langfuse()


def workflow(question, session):
    trace = langfuse.trace(
        name="v2_workflow",
        session_id=session,
        user_id="py_v2_user",
        tags=["sdk", "langfuse-v2"],
        metadata={"content_type": "newsletter"},
        input={"question": question},
    )
    retrieve = trace.span(name="retrieve", input={"question": question})
    time.sleep(0.01)
    retrieve.end(output=["doc-1", "doc-2"])

    generation = trace.generation(
        name="answer",
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.2},
        input=[{"role": "user", "content": question}],
    )
    time.sleep(0.02)
    # No cost: the server computes it from its price list, as Langfuse does.
    generation.end(
        output="an answer",
        usage={"input": 1000, "output": 200, "unit": "TOKENS"},
    )
    trace.event(name="cache_miss", input={"key": question})

    check = trace.span(name="fact_check")
    check.end(level="ERROR", status_message="fact check failed: no source for the claim")

    trace.score(name="quality", value=0.8, comment="checked by hand")
    trace.update(output={"answer": "an answer"})
    return trace.id


def flush():
    langfuse.flush()
    langfuse.shutdown()


if __name__ == "__main__":
    sessions.run(workflow, flush)
