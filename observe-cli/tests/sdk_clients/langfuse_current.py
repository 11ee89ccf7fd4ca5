"""The current Langfuse Python SDK (OTLP), as an application uses it.

Run by observe-cli/tests/it/serve_sdks.rs inside the venv scripts/python_sdks.sh makes.
Connection from the environment: LANGFUSE_BASE_URL, LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY.

    python langfuse_current.py PREFIX [--no-score]

runs the workflow once per session PREFIX-0 .. PREFIX-4 (sessions.py). With --no-score the
traces are not scored (no POST /api/public/scores).
"""

import time

from langfuse import get_client, observe, propagate_attributes

import sessions

langfuse = get_client()


@observe(name="retrieve")
def retrieve(question):
    time.sleep(0.01)
    return ["doc-1", "doc-2"]


@observe(name="answer", as_type="generation")
def answer(question, documents):
    time.sleep(0.02)
    # No cost: the server computes it from its price list, as Langfuse does.
    langfuse.update_current_generation(
        model="gpt-4o-mini",
        model_parameters={"temperature": 0.2},
        usage_details={"input": 1000, "output": 200},
    )
    return f"an answer to {question} from {len(documents)} documents"


@observe(name="fact_check")
def fact_check(text):
    raise ValueError("fact check failed: no source for the claim")


@observe(name="sdk_workflow")
def workflow(question, session, score):
    with propagate_attributes(
        session_id=session,
        user_id="py_current_user",
        tags=["sdk", "langfuse-current"],
        metadata={"content_type": "podcast"},
    ):
        documents = retrieve(question)
        text = answer(question, documents)
        try:
            fact_check(text)
        except ValueError:
            pass
        if score:
            langfuse.score_current_trace(name="quality", value=0.9, comment="checked by hand")
        return {"trace": langfuse.get_current_trace_id(), "answer": text}


def flush():
    langfuse.flush()
    langfuse.shutdown()


if __name__ == "__main__":
    score = "--no-score" not in sessions.options()
    sessions.run(lambda question, session: workflow(question, session, score)["trace"], flush)
