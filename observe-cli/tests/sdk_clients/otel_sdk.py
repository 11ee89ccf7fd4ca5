"""The OpenTelemetry Python SDK with its OTLP/HTTP exporter and GenAI attributes.

Run by observe-cli/tests/it/serve_sdks.rs inside the venv scripts/python_sdks.sh makes.
The exporter's endpoint and headers come from the standard variables
(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS).

    python otel_sdk.py PREFIX

runs the workflow once per session PREFIX-0 .. PREFIX-4 (sessions.py).
"""

import time

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

import sessions

provider = TracerProvider(resource=Resource.create({"service.name": "otel-python-client"}))
provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("observe-serve-acceptance")


def workflow(question, session):
    with tracer.start_as_current_span("otel_workflow") as root:
        root.set_attribute("session.id", session)
        root.set_attribute("user.id", "py_otel_user")
        with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            chat.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            chat.set_attribute("gen_ai.request.temperature", 0.2)
            chat.set_attribute("gen_ai.usage.input_tokens", 1000)
            chat.set_attribute("gen_ai.usage.output_tokens", 200)
            chat.set_attribute("gen_ai.response.finish_reasons", ["stop"])
            time.sleep(0.02)
        with tracer.start_as_current_span("execute_tool search") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "search")
            tool.set_status(Status(StatusCode.ERROR, "search backend unavailable"))
        return format(root.get_span_context().trace_id, "032x")


def flush():
    provider.force_flush()
    provider.shutdown()


if __name__ == "__main__":
    sessions.run(workflow, flush)
